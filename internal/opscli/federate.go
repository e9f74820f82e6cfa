package opscli

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"strings"
	"time"

	"github.com/snaplake/snaplake/internal/awsconfig"
	"github.com/snaplake/snaplake/internal/config"
	"github.com/snaplake/snaplake/internal/federate"
	"github.com/snaplake/snaplake/internal/redshift"
)

const federateUsage = `Usage: snaplake federate publish   --config FILE --bucket B [--redshift URL]
       snaplake federate subscribe --config FILE --bucket B --subscriber NAME [--redshift URL]
       snaplake federate status    --config FILE --bucket B [--subscriber NAME [--redshift URL]]...

The Federator: a transform warehouse publishes the federate section's tables to
s3://B/federator/<schema>/<table>/<version>/ once, and reporting warehouses subscribe.
Each command prints one JSON line per table: table, action, version, rows, seconds.

  publish    per table, one metadata query (count, greatest insert and update times),
             compared with the newest complete version's name; an UNLOAD only when the
             table changed; the manifest last; old versions pruned.
  subscribe  per table, the version the subscriber's control table names, compared with
             the newest complete version; when they differ, COPY into a staging table
             and swap it in within one transaction. A table that differs from the
             published definition is refused with the difference; the others go on.
  status     per table, the newest version and each subscriber's version and lag
             (every subscriber of the config unless --subscriber names some).

A warehouse that cannot be reached fails its own lines, naming it; every table is
still reported, and the command exits 1 only after printing them all.

--redshift is postgres://user@host:port/db (the PostgreSQL stand-in, through the S3 of
AWS_ENDPOINT_URL) or redshift://<workgroup-or-cluster>/<database>?iam_role=...&secret_arn=...
(the Data API); without it, the config's publisher or subscriber URL. UNLOAD and COPY
name the bucket's Region (--bucket-region, else AWS_REGION's), so a warehouse of any
Region reaches it.

Flags:
`

// repeated is a flag that may be given several times.
type repeated []string

func (r *repeated) String() string     { return strings.Join(*r, ",") }
func (r *repeated) Set(v string) error { *r = append(*r, v); return nil }

// Federate is `snaplake federate publish|subscribe|status`.
func Federate(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	verb := ""
	if len(args) > 0 {
		verb, args = args[0], args[1:]
	}
	if verb != "publish" && verb != "subscribe" && verb != "status" {
		if verb != "" && verb != "-h" && verb != "--help" && verb != "help" {
			fmt.Fprintf(stderr, "snaplake federate: unknown subcommand %q\n", verb)
		}
		fmt.Fprint(stderr, federateUsage)
		if verb == "-h" || verb == "--help" || verb == "help" {
			return nil
		}
		return ErrUsage
	}
	fs := flag.NewFlagSet("federate "+verb, flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() {
		fmt.Fprint(stderr, federateUsage)
		fs.PrintDefaults()
	}
	var configPath, bucket, kmsKey, bucketRegion string
	var subscribers, urls repeated
	fs.StringVar(&configPath, "config", "", "snaplake.yaml with the federate section (required)")
	fs.StringVar(&bucket, "bucket", "", "the bucket the versions are kept in (required)")
	fs.StringVar(&kmsKey, "kms-key-id", "", "SSE-KMS key (ARN) of the versions: the manifests and UNLOAD's files (default: the manifests get the bucket's encryption, UNLOAD's files SSE-S3)")
	fs.StringVar(&bucketRegion, "bucket-region", "", "the bucket's Region, which UNLOAD and COPY name (REGION) so that a warehouse of another Region reaches it (default: the AWS configuration's Region, AWS_REGION)")
	fs.Var(&subscribers, "subscriber", "a subscriber of the config (subscribe: one; status: each, with its --redshift)")
	fs.Var(&urls, "redshift", "the warehouse: postgres://... or redshift://... (status: one per --subscriber)")
	if done, err := parseFlags(fs, args); done {
		return err
	}
	switch {
	case fs.NArg() > 0:
		return usageError(fs, "unexpected argument %q", fs.Arg(0))
	case configPath == "":
		return usageError(fs, "missing --config")
	case bucket == "":
		return usageError(fs, "missing --bucket")
	case verb == "publish" && len(subscribers) > 0:
		return usageError(fs, "publish takes no --subscriber")
	case verb == "publish" && len(urls) > 1, verb == "subscribe" && len(urls) > 1:
		return usageError(fs, "give --redshift once")
	case verb == "subscribe" && len(subscribers) != 1:
		return usageError(fs, "subscribe needs one --subscriber")
	case verb == "status" && len(urls) > 0 && len(urls) != len(subscribers):
		return usageError(fs, "status needs one --redshift per --subscriber (or none, to use the config's)")
	}
	f, err := config.Load(configPath)
	if err != nil {
		return err
	}
	if f.Federate == nil {
		return fmt.Errorf("%s: no federate section", configPath)
	}
	c := *f.Federate
	cfg, err := awsconfig.Load(ctx)
	if err != nil {
		return err
	}
	if bucketRegion == "" {
		bucketRegion = cfg.Region
	}
	s3c := awsconfig.NewS3(cfg)
	store := federate.Store{S3: s3c, Bucket: bucket, KMSKeyID: kmsKey}
	log := slog.New(slog.NewTextHandler(stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))
	open := func(url, what string) (redshift.Warehouse, error) {
		if url == "" {
			return nil, fmt.Errorf("no warehouse for %s: give --redshift, or its URL in %s", what, configPath)
		}
		return redshift.Open(ctx, url, redshift.Deps{AWS: cfg, S3: s3c, KMSKeyID: kmsKey, BucketRegion: bucketRegion})
	}
	enc := json.NewEncoder(stdout)
	switch verb {
	case "publish":
		url := c.Publisher
		if len(urls) == 1 {
			url = urls[0]
		}
		p := &federate.Publisher{Store: store, Log: log}
		if wh, err := open(url, "the publisher"); err != nil {
			p.Unreachable = err
		} else {
			defer wh.Close()
			p.Warehouse = wh
		}
		return report(enc, p.PublishAll(ctx, c))
	case "subscribe":
		sub, ok := c.Subscriber(subscribers[0])
		if !ok {
			return usageError(fs, "subscriber %q is not in %s", subscribers[0], configPath)
		}
		if len(urls) == 1 {
			sub.Redshift = urls[0]
		}
		s := &federate.SubscriberRun{Name: sub.Name, Store: store, Log: log}
		if wh, err := open(sub.Redshift, "subscriber "+sub.Name); err != nil {
			s.Unreachable = err
		} else {
			defer wh.Close()
			s.Warehouse = wh
		}
		return report(enc, s.SubscribeAll(ctx, c))
	default:
		if len(subscribers) == 0 {
			for _, s := range c.Subscribers {
				subscribers = append(subscribers, s.Name)
			}
		}
		var runs []*federate.SubscriberRun
		for i, name := range subscribers {
			sub, ok := c.Subscriber(name)
			if !ok {
				return usageError(fs, "subscriber %q is not in %s", name, configPath)
			}
			if len(urls) > 0 {
				sub.Redshift = urls[i]
			}
			run := &federate.SubscriberRun{Name: name, Store: store, Log: log}
			if wh, err := open(sub.Redshift, "subscriber "+name); err != nil {
				run.Unreachable = err
			} else {
				defer wh.Close()
				run.Warehouse = wh
			}
			runs = append(runs, run)
		}
		// Every line first; then fail if any table or subscriber could not be read.
		var problems []string
		for _, st := range federate.Status(ctx, store, c, runs, time.Now()) {
			if err := enc.Encode(st); err != nil {
				return err
			}
			if st.Error != "" && st.Error != federate.NothingPublished {
				problems = append(problems, st.Table)
			}
			for _, ss := range st.Subscribers {
				if ss.Error != "" {
					problems = append(problems, st.Table+" of subscriber "+ss.Subscriber)
				}
			}
		}
		if len(problems) > 0 {
			return fmt.Errorf("status could not read %d items: %s", len(problems), strings.Join(problems, ", "))
		}
		return nil
	}
}

// report prints one JSON line per table; failed tables make the command fail after
// every table was tried.
func report(enc *json.Encoder, results []federate.Result) error {
	failed := 0
	for _, r := range results {
		if err := enc.Encode(r); err != nil {
			return err
		}
		if r.Action == federate.ActionFailed {
			failed++
		}
	}
	if failed > 0 {
		return fmt.Errorf("%d of %d tables failed", failed, len(results))
	}
	return nil
}
