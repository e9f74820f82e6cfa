package opscli

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"

	"github.com/aws/aws-sdk-go-v2/config"

	"github.com/spf13/cobra"

	"github.com/snaplake/snaplake/internal/aws/awsconfig"
	"github.com/snaplake/snaplake/internal/export/relocate"
)

const relocateUsage = `Usage: snaplake relocate --bucket B --export-id ID --snapshot-date YYYY-MM-DD [flags]

Moves the table files of s3://B/<source-prefix><export-id>/ into
<dest-prefix><database>/<table>/snapshot_date=YYYY-MM-DD/, verifies the copies, deletes
the sources, and prints one line of JSON summary. Safe to run again after a failure.
AWS_ENDPOINT_URL_S3 (or AWS_ENDPOINT_URL) points it at a local S3 server.
`

// Relocate is `snaplake relocate`: the relocate Lambda's code, run by hand.
func Relocate(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	return run(ctx, NewRelocateCommand(), args, stdout, stderr)
}

// NewRelocateCommand is `snaplake relocate`.
func NewRelocateCommand() *cobra.Command {
	var o relocate.Options
	c := &cobra.Command{
		Use:   "relocate --bucket B --export-id ID --snapshot-date YYYY-MM-DD [flags]",
		Short: "move an export into the lake by hand (the relocate Lambda's code)",
		Long:  relocateUsage,
		Args:  NoArgs,
		RunE: func(c *cobra.Command, _ []string) error {
			var missing []string
			for _, f := range []struct{ name, value string }{{"--bucket", o.Bucket}, {"--export-id", o.ExportID}, {"--snapshot-date", o.SnapshotDate}} {
				if f.value == "" {
					missing = append(missing, f.name)
				}
			}
			switch {
			case len(missing) > 0:
				return UsageError(c, "missing %v", missing)
			case o.Concurrency < 1:
				return UsageError(c, "--concurrency must be at least 1, got %d", o.Concurrency)
			}
			return runRelocate(c.Context(), o, c.OutOrStdout(), c.ErrOrStderr())
		},
	}
	fs := c.Flags()
	fs.StringVar(&o.Bucket, "bucket", "", "bucket holding the export and the lake (required)")
	fs.StringVar(&o.ExportID, "export-id", "", "export task identifier: the folder below --source-prefix (required)")
	fs.StringVar(&o.SnapshotDate, "snapshot-date", "", "snapshot date YYYY-MM-DD of the partition to write (required)")
	fs.StringVar(&o.SourcePrefix, "source-prefix", relocate.DefaultSourcePrefix, "key prefix where exports land")
	fs.StringVar(&o.DestPrefix, "dest-prefix", relocate.DefaultDestPrefix, "key prefix of the crawled lake")
	fs.IntVar(&o.Concurrency, "concurrency", relocate.DefaultConcurrency, "S3 requests in flight")
	fs.Int64Var(&o.MultipartThreshold, "multipart-threshold", relocate.DefaultMultipartThreshold, "objects larger than this many bytes are copied in parts")
	fs.Int64Var(&o.PartSize, "part-size", relocate.DefaultPartSize, "bytes per part of a multipart copy")
	fs.StringVar(&o.KMSKeyID, "kms-key-id", "", "KMS key for SSE-KMS on every copy (empty: bucket default encryption)")
	fs.IntVar(&o.Retention, "retention", relocate.DefaultRetention, "snapshot_date partitions to keep per table (0 keeps all)")
	return c
}

func runRelocate(ctx context.Context, o relocate.Options, stdout, stderr io.Writer) error {
	log := slog.New(slog.NewTextHandler(stderr, nil))
	relocate.TuneGC(relocate.DefaultMemoryLimit)
	cfg, err := awsconfig.Load(ctx, config.WithHTTPClient(relocate.NewHTTPClient(o.Concurrency)))
	if err != nil {
		return err
	}
	client := awsconfig.NewS3(cfg)
	sum, err := relocate.Run(ctx, client, o, log)
	if err != nil {
		return err
	}
	line, err := json.Marshal(sum)
	if err != nil {
		return fmt.Errorf("encode relocate summary: %w", err)
	}
	_, err = fmt.Fprintf(stdout, "%s\n", line)
	return err
}
