package opscli

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/service/cloudwatch"
	"github.com/aws/aws-sdk-go-v2/service/glue"
	"github.com/spf13/cobra"

	"github.com/snaplake/snaplake/internal/archive"
	"github.com/snaplake/snaplake/internal/aws/awsconfig"
	"github.com/snaplake/snaplake/internal/aws/lease"
	"github.com/snaplake/snaplake/internal/aws/mysqlparquet"
	"github.com/snaplake/snaplake/internal/config"
	"github.com/snaplake/snaplake/internal/deploy"
)

const archiveRunUsage = `Usage: snaplake archive run --config FILE --mysql-dsn DSN --bucket B [--table DB.TABLE] [--dry-run] [--kms-key-id K] [--catalog] [--budget D]

Archives the tables of the config's archive section (or --table only), one after the
other, with the code the archive's Lambda runs: each table's rows older than its
cutoff (the start of the UTC day its retention ago) are read in batches by primary
key, written as Parquet to s3://B/archive/<database>/<table>/cutoff=<date>/, read
back and checked (row count and a checksum of the keys), and only then deleted, a
few keys per statement, pausing between statements and while the replica lags or
the source is busy. Every table is first checked against the source (the table, its
column, its primary key, the user's SELECT and DELETE): if one fails, nothing runs.

A run stopped at any point (Ctrl-C, --budget spent, a crash) resumes from its
manifest in s3://B/state/archive-runs/ when started again, with the cutoff it began
with: no row is lost, archived twice, or deleted unverified.

--dry-run prints what would move (per table: cutoff, rows, estimated bytes) and
changes nothing. Each table's progress goes to stderr, a line per batch; its summary
to stdout, one JSON line per table. With --catalog the archive's Glue table
(<database>_archive.<table>, partitioned by cutoff) is created or updated, through
AWS_ENDPOINT_URL_GLUE when set. S3 is reached through AWS_ENDPOINT_URL(_S3).

--mysql-dsn (or ` + MySQLDSNEnv + `) uses go-sql-driver/mysql syntax; a replica named
by the config's replica.host is reached with the same user and password, and
replica.instance's lag is read from CloudWatch (AWS_ENDPOINT_URL_CLOUDWATCH).
`

// archiveRunOptions are the flags of `snaplake archive run`.
type archiveRunOptions struct {
	configPath, dsn, bucket, table, kmsKey, glueDBPrefix string
	dryRun, catalog                                      bool
	budget                                               time.Duration
}

func newArchiveRunCommand() *cobra.Command {
	var o archiveRunOptions
	c := &cobra.Command{
		Use:   "run --config FILE --mysql-dsn DSN --bucket B [--table DB.TABLE] [--dry-run]",
		Short: "archive the configured tables: to S3, verified, then deleted gently",
		Long:  archiveRunUsage,
		Args:  NoArgs,
		RunE:  func(c *cobra.Command, _ []string) error { return o.run(c) },
	}
	fs := c.Flags()
	fs.StringVar(&o.configPath, "config", "", "snaplake.yaml with the archive section (required)")
	fs.StringVar(&o.dsn, "mysql-dsn", "", "the source database, go-sql-driver/mysql DSN (default $"+MySQLDSNEnv+")")
	fs.StringVar(&o.bucket, "bucket", "", "the lake bucket (required)")
	fs.StringVar(&o.table, "table", "", "archive this configured table only (database.table)")
	fs.StringVar(&o.kmsKey, "kms-key-id", "", "SSE-KMS key of the archive's objects (default: the bucket's encryption)")
	fs.BoolVar(&o.dryRun, "dry-run", false, "print what would move and change nothing")
	fs.BoolVar(&o.catalog, "catalog", false, "also create or update the archive's Glue table and partition")
	fs.StringVar(&o.glueDBPrefix, "glue-database-prefix", "", "the stack's snaplake:glueDatabasePrefix (names <prefix><database>_archive)")
	fs.DurationVar(&o.budget, "budget", 0, "stop cleanly after this long (the next run resumes); 0: no limit")
	return c
}

func (o archiveRunOptions) run(cmd *cobra.Command) error {
	ctx, stdout, stderr := cmd.Context(), cmd.OutOrStdout(), cmd.ErrOrStderr()
	if o.dsn == "" {
		o.dsn = os.Getenv(MySQLDSNEnv)
	}
	switch {
	case o.configPath == "":
		return UsageError(cmd, "missing --config")
	case o.dsn == "":
		return UsageError(cmd, "missing --mysql-dsn (or %s)", MySQLDSNEnv)
	case o.bucket == "":
		return UsageError(cmd, "missing --bucket")
	case o.budget < 0:
		return UsageError(cmd, "--budget must not be negative")
	}
	c, err := config.LoadSection[archive.Config](o.configPath, deploy.SectionArchive)
	if err != nil {
		return err
	}
	db, err := sql.Open("mysql", o.dsn)
	if err != nil {
		return fmt.Errorf("--mysql-dsn: %w", err)
	}
	defer db.Close()
	now := time.Now()
	rs := archive.RunSettings{Now: now, Bucket: o.bucket, KMSKeyID: o.kmsKey, Budget: o.budget}
	if o.table != "" {
		rs.Tables = []string{o.table}
	}
	// Every table is checked before any runs: one that cannot work stops them all.
	jobs, err := archive.Preflight(ctx, db, c, rs)
	if err != nil {
		return err
	}
	if o.dryRun {
		return printDryRun(ctx, stdout, db, c, jobs, now)
	}
	awscfg, err := awsconfig.Load(ctx)
	if err != nil {
		return err
	}
	// One run at a time deletes on production, the deployed archive's included: the
	// run lease (deploy.ArchiveRunLeaseKey), held for the whole run and released at
	// its end (a run that dies frees it after the lease's time).
	s3c := awsconfig.NewS3(awscfg)
	host, _ := os.Hostname()
	runID := fmt.Sprintf("snaplake archive run on %s, pid %d, %s", host, os.Getpid(), now.UTC().Format(time.RFC3339))
	leases := lease.Store{S3: s3c, Bucket: o.bucket, KMSKeyID: o.kmsKey}
	ttl := 24 * time.Hour
	if o.budget > 0 {
		ttl = o.budget + deploy.ArchiveRunLeaseTTL
	}
	if _, err := leases.Acquire(ctx, deploy.ArchiveRunLeaseKey, "the archive run", runID, ttl); err != nil {
		var names []string
		for _, j := range jobs {
			names = append(names, j.Schema+"."+j.Table)
		}
		return fmt.Errorf("archive run of %s: nothing was archived or deleted: %w", strings.Join(names, ", "), err)
	}
	defer func() {
		if err := leases.Release(context.WithoutCancel(ctx), deploy.ArchiveRunLeaseKey, "the archive run", runID); err != nil {
			fmt.Fprintf(stderr, "release the run lease s3://%s/%s: %v\n", o.bucket, deploy.ArchiveRunLeaseKey, err)
		}
	}()
	deps := archive.Deps{DB: db, S3: s3c, Log: slog.New(slog.NewTextHandler(stderr, &slog.HandlerOptions{Level: slog.LevelWarn})),
		Progress: func(p archive.Progress) { printProgress(stderr, p) }}
	openReplica := func(ctx context.Context, addr string) (*sql.DB, error) {
		dsn, err := archive.ReplicaDSN(o.dsn, addr)
		if err != nil {
			return nil, err
		}
		return sql.Open("mysql", dsn)
	}
	probe, closeProbe, err := archive.LagProbeFor(ctx, c.Replica, openReplica, cloudwatch.NewFromConfig(awscfg))
	if err != nil {
		return err
	}
	defer closeProbe()
	deps.Lag = probe
	var gl *glue.Client
	if o.catalog {
		gl = glue.NewFromConfig(awscfg)
	}
	var failed []string
	for _, job := range jobs {
		sum, err := archive.Run(ctx, job, deps)
		line, jerr := json.Marshal(sum)
		if jerr != nil {
			return jerr
		}
		fmt.Fprintf(stdout, "%s\n", line)
		if err == nil && sum.Rows > 0 && gl != nil {
			err = catalogArchive(ctx, gl, db, o, job, sum)
		}
		if err != nil {
			fmt.Fprintf(stderr, "%s.%s: %v\n", job.Schema, job.Table, err)
			failed = append(failed, job.Schema+"."+job.Table)
			if errors.Is(err, context.Canceled) {
				break
			}
		}
	}
	if len(failed) > 0 {
		return fmt.Errorf("archive run: %d of %d tables failed: %s", len(failed), len(jobs), strings.Join(failed, ", "))
	}
	return nil
}

// printProgress writes one line per batch as it is deleted, and a line for each
// other state change, for someone watching.
func printProgress(w io.Writer, p archive.Progress) {
	fmt.Fprintf(w, "%s.%s batch %d %s: %s rows, %s; %s deleted, %s changed after read\n",
		p.Schema, p.Table, p.Batch, p.State, thousands(p.Rows), iecBytes(p.Bytes), thousands(p.Deleted), thousands(p.Changed))
}

// printDryRun says, per table of the run, what would move: the exact rows older
// than the cutoff and the bytes they hold (estimated), as `archive sizes` counts them.
func printDryRun(ctx context.Context, w io.Writer, db *sql.DB, c *archive.Config, jobs []archive.Job, now time.Time) error {
	sizes, err := archive.Sizes(ctx, db, c, now, 1)
	if err != nil {
		return err
	}
	for _, j := range jobs {
		name := j.Schema + "." + j.Table
		for _, s := range sizes {
			if s.Archive == nil || !strings.EqualFold(s.Table, name) {
				continue
			}
			fmt.Fprintf(w, "%s: would archive %s rows (about %s) older than %s to archive/%s/%s/cutoff=%s/, then delete them; nothing was changed\n",
				name, thousands(s.Archive.Rows), iecBytes(s.Archive.Bytes), j.Cutoff.UTC().Format(time.RFC3339), j.Schema, j.Table, j.Cutoff.UTC().Format("2006-01-02"))
		}
	}
	return nil
}

// catalogArchive creates or updates the archive's Glue table and the run's partition.
func catalogArchive(ctx context.Context, gl archive.CatalogAPI, db *sql.DB, o archiveRunOptions, job archive.Job, sum archive.Summary) error {
	cols, err := mysqlparquet.Columns(ctx, db, job.Schema, job.Table)
	if err != nil {
		return err
	}
	return archive.Catalog(ctx, gl, archive.CatalogEntry{
		Database: deploy.ArchiveDatabaseName(deploy.GlueDatabaseName(o.glueDBPrefix, job.Schema)),
		Table:    strings.ToLower(job.Table),
		Location: "s3://" + o.bucket + "/" + deploy.ArchivePrefix + job.Schema + "/" + job.Table + "/",
		Columns:  cols, Cutoff: sum.Cutoff,
	})
}
