package opscli

import (
	"database/sql"
	"encoding/json"
	"fmt"
	"log/slog"
	"os"
	"time"

	"github.com/aws/aws-sdk-go-v2/service/glue"
	"github.com/spf13/cobra"

	"github.com/snaplake/snaplake/internal/aws/awsconfig"
	"github.com/snaplake/snaplake/internal/ingest"
	ingestrun "github.com/snaplake/snaplake/internal/ingest/run"
)

const ingestRunUsage = `Usage: snaplake ingest run --config FILE --set daily|frequent --mysql-dsn DSN --bucket B [--catalog]

Runs one run of a table set by hand, with the Go loader in place of the Glue job and
the same semantics: the tables' leases (a table another run is loading is skipped),
one watermark per table whatever the set, incremental loads appended as
raw/<database>/<table>/load=<run>/, full reloads written as gen=<run>/ and switched
to whole. It runs whether or not the set is due, and prints the run's summary as
JSON. S3 is reached through AWS_ENDPOINT_URL(_S3) when set.

With --catalog the Glue Data Catalog entries of fully reloaded tables are switched
to their new generation (AWS_ENDPOINT_URL_GLUE is honoured) and the crawler named
` + "`snaplake-ingest-<set>`" + ` is pointed at the run's incremental tables (start it afterwards).
`

// ingestRunOptions are the flags of `snaplake ingest run`.
type ingestRunOptions struct {
	configPath, set, dsn, bucket, kmsKey string
	catalog                              bool
}

func newIngestRunCommand() *cobra.Command {
	var o ingestRunOptions
	c := &cobra.Command{
		Use:   "run --config FILE --set daily|frequent --mysql-dsn DSN --bucket B [--catalog]",
		Short: "run a table set by hand with the Go loader",
		Long:  ingestRunUsage,
		Args:  NoArgs,
		RunE: func(c *cobra.Command, _ []string) error {
			return o.run(c)
		},
	}
	fs := c.Flags()
	fs.StringVar(&o.configPath, "config", "", "snaplake.yaml with the ingest section (required)")
	fs.StringVar(&o.set, "set", "", "the table set: daily or frequent (required)")
	fs.StringVar(&o.dsn, "mysql-dsn", "", "the source database, go-sql-driver/mysql DSN (default $"+MySQLDSNEnv+")")
	fs.StringVar(&o.bucket, "bucket", "", "the lake bucket (required)")
	fs.StringVar(&o.kmsKey, "kms-key-id", "", "SSE-KMS key for what the run writes (default: the bucket's encryption)")
	fs.BoolVar(&o.catalog, "catalog", false, "also write the Glue Data Catalog and point the set's crawler")
	return c
}

func (o ingestRunOptions) run(cmd *cobra.Command) error {
	ctx, stdout, stderr := cmd.Context(), cmd.OutOrStdout(), cmd.ErrOrStderr()
	configPath, set, dsn, bucket, kmsKey, catalog := o.configPath, o.set, o.dsn, o.bucket, o.kmsKey, o.catalog
	if dsn == "" {
		dsn = os.Getenv(MySQLDSNEnv)
	}
	switch {
	case configPath == "":
		return UsageError(cmd, "missing --config")
	case set != ingest.SetDaily && set != ingest.SetFrequent:
		return UsageError(cmd, "--set must be %s or %s, got %q", ingest.SetDaily, ingest.SetFrequent, set)
	case dsn == "":
		return UsageError(cmd, "missing --mysql-dsn (or %s)", MySQLDSNEnv)
	case bucket == "":
		return UsageError(cmd, "missing --bucket")
	}
	c, err := loadIngest(configPath)
	if err != nil {
		return err
	}
	db, err := sql.Open("mysql", dsn)
	if err != nil {
		return fmt.Errorf("--mysql-dsn: %w", err)
	}
	defer db.Close()
	cfg, err := awsconfig.Load(ctx)
	if err != nil {
		return err
	}
	api := awsconfig.NewS3(cfg)
	log := slog.New(slog.NewTextHandler(stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))
	clients := ingestrun.LocalClients{S3: api, DB: db}
	if catalog {
		clients.Glue = glue.NewFromConfig(cfg)
	}
	r := ingestrun.NewLocal(ingestrun.LocalOptions{Bucket: bucket, KMSKeyID: kmsKey, Config: c}, clients, log)
	sum, err := r.Run(ctx, ingestrun.RunRequest{Set: set, Force: true}, time.Now())
	if sum.Run != "" {
		out, jerr := json.MarshalIndent(sum, "", "  ")
		if jerr != nil {
			return jerr
		}
		fmt.Fprintf(stdout, "%s\n", out)
	}
	if err != nil {
		return err
	}
	if sum.Failed > 0 {
		return fmt.Errorf("%s", sum.Message)
	}
	return nil
}
