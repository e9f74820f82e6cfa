package redshift

import (
	"context"
	"errors"
	"fmt"
	neturl "net/url"
	"regexp"
	"strconv"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/redshiftdata"
	"github.com/aws/aws-sdk-go-v2/service/s3"

	"github.com/snaplake/snaplake/internal/aws/awsconfig"
)

// Deps are what Open builds a warehouse's clients from.
type Deps struct {
	// AWS configures the Data API client and, when S3 is nil, the S3 client.
	AWS aws.Config
	// S3 carries the files and manifests; nil: awsconfig.NewS3(AWS).
	S3 *s3.Client
	// DataAPI replaces the Redshift Data API client built from AWS (tests).
	DataAPI DataAPIClient
	// KMSKeyID is the lake's key (ARN or id): what UNLOAD writes is SSE-KMS with it,
	// as everything else in the lake is. Empty: UNLOAD's default, SSE-S3.
	KMSKeyID string
	// BucketRegion is the lake bucket's Region: UNLOAD and COPY name it (REGION), so
	// that a warehouse in another Region reaches the bucket. A redshift:// warehouse
	// needs it to Unload and Copy; the PostgreSQL stand-in without it runs them as a
	// statement without REGION (WithRegionParameter).
	BucketRegion string
	// Postgres are more options of the PostgreSQL stand-in (offline runs and tests:
	// where it and the buckets are, WithWarehouseRegion and WithBucketRegion).
	Postgres []PostgresOption
}

// URLError says a warehouse URL cannot be used. URL has its password removed.
type URLError struct {
	URL    string
	Reason string
}

func (e *URLError) Error() string { return "warehouse URL " + e.URL + ": " + e.Reason }

// DefaultRoleError refuses iam_role=default: UNLOAD and COPY would then run as the
// cluster's (or namespace's) default IAM role, which is the operator's, not the
// stack's: it has no access to federator/ nor to the lake's KMS key, and every UNLOAD
// and COPY would fail with an S3 access error far from its cause.
type DefaultRoleError struct{ URL string }

func (e *DefaultRoleError) Error() string {
	return "warehouse URL " + e.URL + ": iam_role=default names the warehouse's default IAM role, which cannot reach the lake's federator/ prefix: " +
		"leave iam_role out (the Federator's functions add the stack's FederateWarehouseRoleArn) or give that role's ARN"
}

// Open opens the warehouse a URL names:
//
//	postgres://user:password@host:port/database?...   the PostgreSQL stand-in (OpenPostgres)
//	redshift://<workgroup-or-cluster>/<database>?...   Redshift through the Data API
//
// A redshift:// URL's host is a Redshift Serverless workgroup name, or with cluster=true
// a provisioned cluster identifier; its path is the database. Its query parameters:
//
//	cluster=true|false   the host is a provisioned cluster (default false: a workgroup)
//	secret_arn=ARN       sign in with this Secrets Manager secret (name or ARN)
//	db_user=NAME         sign in as this user with temporary credentials (clusters only)
//	                     neither: as the caller's IAM identity
//	iam_role=ARN         the role Redshift assumes for UNLOAD and COPY (the stack's
//	                     FederateWarehouseRoleArn); needed by Unload and Copy only.
//	                     "default" (the cluster's default role) is refused: a
//	                     *DefaultRoleError
//	region=REGION        the Data API's Region, if not the AWS configuration's
//	poll=DURATION        longest pause between status checks (Go duration, default 1s)
//	timeout=DURATION     longest wait for one statement (default 1h)
//
// Any other parameter is an error, so that a misspelt one is not silently ignored.
func Open(ctx context.Context, url string, deps Deps) (Warehouse, error) {
	scheme, _, ok := strings.Cut(url, "://")
	if !ok {
		return nil, &URLError{URL: redact(url), Reason: "no scheme: want postgres://... or redshift://<workgroup-or-cluster>/<database>"}
	}
	switch strings.ToLower(scheme) {
	case "postgres", "postgresql":
		if _, err := neturl.Parse(url); err != nil {
			return nil, &URLError{URL: redact(url), Reason: "not a URL: " + urlProblem(err)}
		}
		if deps.S3 == nil {
			deps.S3 = awsconfig.NewS3(deps.AWS)
		}
		// Not returned directly: a nil *Postgres would become a non-nil Warehouse.
		opts := append([]PostgresOption{WithKMSKey(deps.KMSKeyID), WithRegionParameter(deps.BucketRegion)}, deps.Postgres...)
		p, err := OpenPostgres(ctx, url, deps.S3, opts...)
		if err != nil {
			return nil, err
		}
		return p, nil
	case "redshift":
		cfg, region, err := ParseDataAPIURL(url)
		if err != nil {
			return nil, err
		}
		if deps.S3 == nil {
			deps.S3 = awsconfig.NewS3(deps.AWS)
		}
		cfg.S3 = deps.S3
		cfg.KMSKeyID = deps.KMSKeyID
		cfg.BucketRegion = deps.BucketRegion
		cfg.Client = deps.DataAPI
		if cfg.Client == nil {
			cfg.Client = redshiftdata.NewFromConfig(deps.AWS, func(o *redshiftdata.Options) {
				if region != "" {
					o.Region = region
				}
			})
		}
		d, err := OpenDataAPI(cfg)
		if err != nil {
			return nil, &URLError{URL: redact(url), Reason: err.Error()}
		}
		return d, nil
	default:
		return nil, &URLError{URL: redact(url), Reason: fmt.Sprintf("unknown scheme %q: want postgres or redshift", scheme)}
	}
}

// identifier is a workgroup name or cluster identifier: letters, digits, hyphens.
var identifier = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9-]{0,63}$`)

// ParseDataAPIURL reads a redshift:// URL (see Open) into a DataAPIConfig without its
// clients, and the Region asked for ("" when none).
func ParseDataAPIURL(raw string) (cfg DataAPIConfig, region string, err error) {
	bad := func(format string, a ...any) (DataAPIConfig, string, error) {
		return DataAPIConfig{}, "", &URLError{URL: redact(raw), Reason: fmt.Sprintf(format, a...)}
	}
	u, err := neturl.Parse(raw)
	if err != nil {
		return bad("not a URL: %s", urlProblem(err))
	}
	if u.Scheme != "redshift" {
		return bad("scheme %q is not redshift", u.Scheme)
	}
	if u.User != nil {
		return bad("no user or password in a redshift:// URL: sign in with secret_arn=, db_user= or the IAM identity")
	}
	if u.Port() != "" {
		return bad("no port in a redshift:// URL: the host is a workgroup or cluster name, not an address")
	}
	host := u.Hostname()
	if !identifier.MatchString(host) {
		return bad("host %q is not a workgroup name or cluster identifier (letters, digits, hyphens)", host)
	}
	db := strings.TrimPrefix(u.Path, "/")
	if db == "" || strings.Contains(db, "/") {
		return bad("path %q: want exactly one database name, as in redshift://%s/dev", u.Path, host)
	}
	if u.Fragment != "" {
		return bad("unexpected fragment #%s", u.Fragment)
	}
	q, err := neturl.ParseQuery(u.RawQuery)
	if err != nil {
		return bad("query: %v", err)
	}
	cluster := false
	for name, vals := range q {
		if len(vals) != 1 {
			return bad("parameter %s given %d times", name, len(vals))
		}
		v := vals[0]
		switch name {
		case "cluster":
			if cluster, err = strconv.ParseBool(v); err != nil {
				return bad("cluster=%q: want true or false", v)
			}
		case "secret_arn":
			cfg.SecretArn = v
		case "db_user":
			cfg.DbUser = v
		case "iam_role":
			if v == "default" {
				return DataAPIConfig{}, "", &DefaultRoleError{URL: redact(raw)}
			}
			cfg.IAMRole = v
		case "region":
			region = v
		case "poll", "timeout":
			dur, err := time.ParseDuration(v)
			if err != nil || dur <= 0 {
				return bad("%s=%q: want a positive duration such as 500ms or 2h", name, v)
			}
			if name == "poll" {
				cfg.PollInterval = dur
			} else {
				cfg.Timeout = dur
			}
		default:
			return bad("unknown parameter %q (known: cluster, secret_arn, db_user, iam_role, region, poll, timeout)", name)
		}
	}
	if cfg.SecretArn != "" && cfg.DbUser != "" {
		return bad("secret_arn and db_user are two ways to sign in; give one")
	}
	if cfg.DbUser != "" && !cluster {
		return bad("db_user (temporary credentials) works only with a provisioned cluster: add cluster=true")
	}
	if cluster {
		cfg.ClusterIdentifier = host
	} else {
		cfg.WorkgroupName = host
	}
	cfg.Database = db
	return cfg, region, nil
}

// urlProblem is what url.Parse found wrong, without the URL it quotes (and its
// password).
func urlProblem(err error) string {
	var ue *neturl.Error
	if errors.As(err, &ue) {
		return ue.Err.Error()
	}
	return err.Error()
}

// redact removes a URL's password for messages.
func redact(raw string) string {
	if u, err := neturl.Parse(raw); err == nil {
		return u.Redacted()
	}
	// Unparsable: drop whatever sits between the scheme and an @.
	if scheme, rest, ok := strings.Cut(raw, "://"); ok {
		if i := strings.LastIndex(rest, "@"); i >= 0 {
			return scheme + "://xxxxx@" + rest[i+1:]
		}
	}
	return raw
}
