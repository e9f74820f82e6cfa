package opscli

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/service/cloudformation"
	"github.com/aws/aws-sdk-go-v2/service/sfn"
	"github.com/aws/aws-sdk-go-v2/service/sts"
	"github.com/spf13/cobra"
	"github.com/spf13/pflag"

	"github.com/snaplake/snaplake/internal/aws/awsconfig"
	"github.com/snaplake/snaplake/internal/config"
	"github.com/snaplake/snaplake/internal/deploy"
	"github.com/snaplake/snaplake/internal/federate"
	"github.com/snaplake/snaplake/internal/federate/redshift"
	federaterun "github.com/snaplake/snaplake/internal/federate/run"
)

const federateUsage = `Usage: snaplake federate publish   --config FILE --bucket B [--redshift URL]
       snaplake federate publish   --now [--stack NAME] [--table SCHEMA.TABLE]...
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
             and swap it in within one transaction. A table whose definition differs
             from the published one gets new nullable columns and longer VARCHARs in
             place, and is rebuilt from the newest full version for any other change
             (or, with onDefinitionChange: refuse, fails alone with the difference).
             A statement still running when the command's step ends is followed
             until it ends (the workflows wait and poll instead).
  status     per table, the newest version and each subscriber's state (current,
             behind, or not subscribed: a table its tables list leaves out), version
             and lag (every subscriber of the config unless --subscriber names some).

  publish --now  starts the deployed publish workflow now (StartExecution on the
             stack's FederatePublishStateMachineArn output), for the --table tables or
             every table, and prints its execution ARN. What it publishes starts the
             subscribers that take those tables, as a transform's event would. A run
             already under way is not doubled: each table's lease makes the second
             run skip it. The caller needs cloudformation:DescribeStacks and
             states:StartExecution on the workflow.

A subscriber takes the tables its "tables" list names, or every table without one.
publish also deletes, after the tables, version folders without a manifest older
than abandonAfter (default 26h): UNLOADs whose run died.

A warehouse that cannot be reached fails its own lines, naming it; every table is
still reported, and the command exits 1 only after printing them all.

--redshift is postgres://user@host:port/db (the PostgreSQL stand-in, through the S3 of
AWS_ENDPOINT_URL) or redshift://<workgroup-or-cluster>/<database>?iam_role=...&secret_arn=...
(the Data API); without it, the config's publisher or subscriber URL. UNLOAD and COPY
name the bucket's Region (--bucket-region, else AWS_REGION's), so a warehouse of any
Region reaches it.
`

// Federate is `snaplake federate publish|subscribe|status`.
func Federate(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	return run(ctx, NewFederateCommand(), args, stdout, stderr)
}

// NewFederateCommand is `snaplake federate publish|subscribe|status`.
func NewFederateCommand() *cobra.Command {
	return NewGroup("federate", "publish Redshift tables to S3 once; subscribe warehouses", federateUsage,
		newFederatePublishCommand(), newFederateSubscribeCommand(), newFederateStatusCommand())
}

// federateOptions are the flags every federate command has.
type federateOptions struct {
	configPath, bucket, kmsKey, bucketRegion string
	redshift                                 []string
}

func (o *federateOptions) addFlags(fs *pflag.FlagSet, redshiftUsage string) {
	fs.StringVar(&o.configPath, "config", "", "snaplake.yaml with the federate section (required)")
	fs.StringVar(&o.bucket, "bucket", "", "the bucket the versions are kept in (required)")
	fs.StringVar(&o.kmsKey, "kms-key-id", "", "SSE-KMS key (ARN) of the versions: the manifests and UNLOAD's files (default: the manifests get the bucket's encryption, UNLOAD's files SSE-S3)")
	fs.StringVar(&o.bucketRegion, "bucket-region", "", "the bucket's Region, which UNLOAD and COPY name (REGION) so that a warehouse of another Region reaches it (default: the AWS configuration's Region, AWS_REGION)")
	fs.StringArrayVar(&o.redshift, "redshift", nil, redshiftUsage)
}

// check reports the flags every federate command needs.
func (o *federateOptions) check(c *cobra.Command) error {
	switch {
	case o.configPath == "":
		return UsageError(c, "missing --config")
	case o.bucket == "":
		return UsageError(c, "missing --bucket")
	}
	return nil
}

// federation is what a federate command works with: the config's federate section,
// the versions' store, and how to open a warehouse.
type federation struct {
	cfg   federate.Config
	store federate.Store
	log   *slog.Logger
	open  func(url, what string) (redshift.Warehouse, error)
}

func (o *federateOptions) load(ctx context.Context, stderr io.Writer) (*federation, error) {
	fc, err := config.LoadSection[federate.Config](o.configPath, deploy.SectionFederate)
	if err != nil {
		return nil, err
	}
	cfg, err := awsconfig.Load(ctx)
	if err != nil {
		return nil, err
	}
	bucketRegion := o.bucketRegion
	if bucketRegion == "" {
		bucketRegion = cfg.Region
	}
	s3c := awsconfig.NewS3(cfg)
	store := federate.Store{S3: s3c, Bucket: o.bucket, KMSKeyID: o.kmsKey}
	log := slog.New(slog.NewTextHandler(stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))
	if o.usesDataAPI(fc) {
		// The statements this command submits are recorded with its identity: a
		// scheduled run that meets one says whose it is (the Data API lets only the
		// owner's role follow it). Only the Data API has owners; a local endpoint
		// has no STS.
		ictx, stop := context.WithTimeout(ctx, 10*time.Second)
		id, err := federaterun.STSIdentity(sts.NewFromConfig(cfg))(ictx)
		stop()
		if err != nil {
			log.Warn("who am I (sts:GetCallerIdentity) failed: statements are recorded without their owner", "error", err)
		} else {
			store.Identity = &id
		}
	}
	return &federation{
		cfg:   *fc,
		store: store,
		log:   log,
		open: func(url, what string) (redshift.Warehouse, error) {
			if url == "" {
				return nil, fmt.Errorf("no warehouse for %s: give --redshift, or its URL in %s", what, o.configPath)
			}
			return redshift.Open(ctx, url, redshift.Deps{AWS: cfg, S3: s3c, KMSKeyID: o.kmsKey, BucketRegion: bucketRegion})
		},
	}, nil
}

// usesDataAPI says a warehouse this command may open is reached through the Data API.
func (o *federateOptions) usesDataAPI(c *federate.Config) bool {
	urls := append([]string{c.Publisher}, o.redshift...)
	for _, s := range c.Subscribers {
		urls = append(urls, s.Redshift)
	}
	for _, u := range urls {
		if strings.HasPrefix(u, "redshift://") {
			return true
		}
	}
	return false
}

// subscriberRun is a subscriber's run, with its warehouse open unless it cannot be
// reached (then every table reports that); close releases the warehouse.
func (f *federation) subscriberRun(name, url string) (run *federate.SubscriberRun, close func()) {
	run = &federate.SubscriberRun{Name: name, Store: f.store, Log: f.log}
	wh, err := f.open(url, "subscriber "+name)
	if err != nil {
		run.Unreachable = err
		return run, func() {}
	}
	run.Warehouse = wh
	return run, func() { wh.Close() }
}

func newFederatePublishCommand() *cobra.Command {
	var o federateOptions
	var now bool
	var stack string
	var tables []string
	c := &cobra.Command{
		Use:   "publish --config FILE --bucket B [--redshift URL] | --now [--stack NAME] [--table T]...",
		Short: "publish the federate section's tables to S3, each only when it changed",
		Long:  federateUsage,
		Args:  NoArgs,
		RunE: func(c *cobra.Command, _ []string) error {
			if now {
				if o.configPath != "" || o.bucket != "" || len(o.redshift) > 0 {
					return UsageError(c, "--now starts the deployed workflow: it takes --stack and --table, not --config, --bucket or --redshift")
				}
				cfg, err := awsconfig.Load(c.Context())
				if err != nil {
					return err
				}
				arn, err := startPublish(c.Context(), nowClients{cloudformation.NewFromConfig(cfg), sfn.NewFromConfig(cfg)}, stack, tables)
				if err != nil {
					return err
				}
				return json.NewEncoder(c.OutOrStdout()).Encode(map[string]any{"execution": arn, "tables": tables})
			}
			if len(tables) > 0 {
				return UsageError(c, "--table goes with --now")
			}
			if err := o.check(c); err != nil {
				return err
			}
			if len(o.redshift) > 1 {
				return UsageError(c, "give --redshift once")
			}
			f, err := o.load(c.Context(), c.ErrOrStderr())
			if err != nil {
				return err
			}
			url := f.cfg.Publisher
			if len(o.redshift) == 1 {
				url = o.redshift[0]
			}
			p := &federate.Publisher{Store: f.store, Log: f.log}
			if wh, err := f.open(url, "the publisher"); err != nil {
				p.Unreachable = err
			} else {
				defer wh.Close()
				p.Warehouse = wh
			}
			return report(json.NewEncoder(c.OutOrStdout()), p.PublishAll(c.Context(), f.cfg))
		},
	}
	o.addFlags(c.Flags(), "the publisher: postgres://... or redshift://... (default: the config's)")
	c.Flags().BoolVar(&now, "now", false, "start the deployed publish workflow now instead of publishing from here")
	c.Flags().StringVar(&stack, "stack", deploy.StackName, "with --now: the CloudFormation stack of the deployment")
	c.Flags().StringArrayVar(&tables, "table", nil, "with --now: a table (schema.table) to publish (default: every table)")
	return c
}

func newFederateSubscribeCommand() *cobra.Command {
	var o federateOptions
	var subscribers []string
	c := &cobra.Command{
		Use:   "subscribe --config FILE --bucket B --subscriber NAME [--redshift URL]",
		Short: "load the newest versions into a subscriber warehouse",
		Long:  federateUsage,
		Args:  NoArgs,
		RunE: func(c *cobra.Command, _ []string) error {
			if err := o.check(c); err != nil {
				return err
			}
			switch {
			case len(o.redshift) > 1:
				return UsageError(c, "give --redshift once")
			case len(subscribers) != 1:
				return UsageError(c, "subscribe needs one --subscriber")
			}
			f, err := o.load(c.Context(), c.ErrOrStderr())
			if err != nil {
				return err
			}
			sub, ok := f.cfg.Subscriber(subscribers[0])
			if !ok {
				return UsageError(c, "subscriber %q is not in %s", subscribers[0], o.configPath)
			}
			if len(o.redshift) == 1 {
				sub.Redshift = o.redshift[0]
			}
			run, closeWarehouse := f.subscriberRun(sub.Name, sub.Redshift)
			defer closeWarehouse()
			return report(json.NewEncoder(c.OutOrStdout()), run.SubscribeAll(c.Context(), f.cfg))
		},
	}
	o.addFlags(c.Flags(), "the subscriber's warehouse: postgres://... or redshift://... (default: the config's)")
	c.Flags().StringArrayVar(&subscribers, "subscriber", nil, "the subscriber of the config to load (required)")
	return c
}

func newFederateStatusCommand() *cobra.Command {
	var o federateOptions
	var subscribers []string
	c := &cobra.Command{
		Use:   "status --config FILE --bucket B [--subscriber NAME [--redshift URL]]...",
		Short: "each table's newest version, and each subscriber's version and lag",
		Long:  federateUsage,
		Args:  NoArgs,
		RunE: func(c *cobra.Command, _ []string) error {
			if err := o.check(c); err != nil {
				return err
			}
			if len(o.redshift) > 0 && len(o.redshift) != len(subscribers) {
				return UsageError(c, "status needs one --redshift per --subscriber (or none, to use the config's)")
			}
			f, err := o.load(c.Context(), c.ErrOrStderr())
			if err != nil {
				return err
			}
			if len(subscribers) == 0 {
				for _, s := range f.cfg.Subscribers {
					subscribers = append(subscribers, s.Name)
				}
			}
			var runs []*federate.SubscriberRun
			for i, name := range subscribers {
				sub, ok := f.cfg.Subscriber(name)
				if !ok {
					return UsageError(c, "subscriber %q is not in %s", name, o.configPath)
				}
				if len(o.redshift) > 0 {
					sub.Redshift = o.redshift[i]
				}
				run, closeWarehouse := f.subscriberRun(name, sub.Redshift)
				defer closeWarehouse()
				runs = append(runs, run)
			}
			return printStatus(json.NewEncoder(c.OutOrStdout()), federate.Status(c.Context(), f.store, f.cfg, runs, time.Now()))
		},
	}
	o.addFlags(c.Flags(), "a subscriber's warehouse: postgres://... or redshift://... (one per --subscriber)")
	c.Flags().StringArrayVar(&subscribers, "subscriber", nil, "a subscriber of the config to report (default: each)")
	return c
}

// printStatus prints one JSON line per table; then fails if any table or subscriber
// could not be read.
func printStatus(enc *json.Encoder, sts []federate.TableStatus) error {
	var problems []string
	for _, st := range sts {
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
