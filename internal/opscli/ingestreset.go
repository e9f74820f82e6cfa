package opscli

import (
	"encoding/json"
	"fmt"
	"log/slog"

	"github.com/spf13/cobra"

	"github.com/snaplake/snaplake/internal/aws/awsconfig"
	ingestrun "github.com/snaplake/snaplake/internal/ingest/run"
)

const ingestResetUsage = `Usage: snaplake ingest reset --table DATABASE.TABLE --bucket B [--dry-run] [--format text|json]

Makes the next run of any set that has the table load it from the beginning, into a
new load (incremental tables) or generation (full reloads), as if it had never been
loaded. Safe while runs go on: the reset takes the table's lease, the one the runs
take. A run loading the table now makes the reset fail, naming the run (reset it
after that run has finished); a run starting while the reset holds the lease skips
the table for that run.

The table's watermark record (state/ingest/<database>/<table>/watermark.json) is
cleared: the watermark and everything other steps keep there (a current table's
merge state starts over too). Its lake name is kept, so that its folder never moves.
Nothing is deleted: the earlier loads (load=<run>/) stay readable until the reload
from the beginning is committed; that run's finish then deletes them and drops their
partitions. A fully reloaded table keeps its generation until the next reload
replaces it.

--dry-run prints what would change, and which run holds the table now, and changes
nothing. S3 is reached through AWS_ENDPOINT_URL(_S3) when set.
`

// ingestResetOptions are the flags of `snaplake ingest reset`.
type ingestResetOptions struct {
	table, bucket, kmsKey, format string
	dryRun                        bool
}

func newIngestResetCommand() *cobra.Command {
	var o ingestResetOptions
	c := &cobra.Command{
		Use:   "reset --table DATABASE.TABLE --bucket B [--dry-run] [--format text|json]",
		Short: "reload one table from the beginning at its next run",
		Long:  ingestResetUsage,
		Args:  NoArgs,
		RunE: func(c *cobra.Command, _ []string) error {
			return o.run(c)
		},
	}
	fs := c.Flags()
	fs.StringVar(&o.table, "table", "", "the source table, DATABASE.TABLE as in the config (required)")
	fs.StringVar(&o.bucket, "bucket", "", "the lake bucket (required)")
	fs.StringVar(&o.kmsKey, "kms-key-id", "", "SSE-KMS key for the state the reset writes (default: the bucket's encryption)")
	fs.BoolVar(&o.dryRun, "dry-run", false, "print what would change, change nothing")
	fs.StringVar(&o.format, "format", "text", "output: text or json")
	return c
}

func (o ingestResetOptions) run(cmd *cobra.Command) error {
	ctx, stdout, stderr := cmd.Context(), cmd.OutOrStdout(), cmd.ErrOrStderr()
	switch {
	case o.table == "":
		return UsageError(cmd, "missing --table")
	case o.bucket == "":
		return UsageError(cmd, "missing --bucket")
	case o.format != "text" && o.format != "json":
		return UsageError(cmd, "--format must be text or json, got %q", o.format)
	}
	if _, _, err := ingestrun.ParseTable(o.table); err != nil {
		return UsageError(cmd, "--table: %v", err)
	}
	cfg, err := awsconfig.Load(ctx)
	if err != nil {
		return err
	}
	r := &ingestrun.Resetter{S3: awsconfig.NewS3(cfg), Bucket: o.bucket, KMSKeyID: o.kmsKey,
		Log: slog.New(slog.NewTextHandler(stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))}
	res, err := r.Reset(ctx, o.table, o.dryRun)
	if err != nil {
		return err // typed: *TableBusyError, *UnknownTableError...; nothing was changed
	}
	if o.format == "json" {
		out, err := json.MarshalIndent(res, "", "  ")
		if err != nil {
			return err
		}
		_, err = fmt.Fprintf(stdout, "%s\n", out)
		return err
	}
	verb := "reset"
	if o.dryRun {
		verb = "would reset (dry run, nothing changed)"
	}
	fmt.Fprintf(stdout, "%s %s.%s (%s)\n", verb, res.Database, res.Table, res.Watermark)
	for _, c := range res.Changes {
		fmt.Fprintf(stdout, "  - %s\n", c)
	}
	if res.HeldBy != nil {
		fmt.Fprintf(stdout, "  ! run %s holds the table now (since %s): a reset would fail until it has finished\n", res.HeldBy.Run, res.HeldBy.Since.Format("2006-01-02T15:04:05Z07:00"))
	}
	return nil
}
