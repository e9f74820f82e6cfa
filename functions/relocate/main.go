// Command relocate is the Lambda that moves a finished RDS snapshot export into the
// lake's per-table snapshot_date partitions (internal/export/relocate does the work,
// internal/export/run builds it).
package main

import (
	"context"
	"log/slog"
	"os"

	"github.com/aws/aws-sdk-go-v2/config"

	"github.com/snaplake/snaplake/internal/aws/awsconfig"
	"github.com/snaplake/snaplake/internal/aws/lambdamain"
	"github.com/snaplake/snaplake/internal/deploy"
	"github.com/snaplake/snaplake/internal/export/relocate"
	exportrun "github.com/snaplake/snaplake/internal/export/run"
)

func main() {
	lambdamain.Start(deploy.FnRelocate, func(ctx context.Context, log *slog.Logger) (lambdamain.Func, error) {
		relocate.TuneGC(relocate.DefaultMemoryLimit)
		return exportrun.NewRelocate(os.Getenv, exportrun.RelocateClients{S3: func(concurrency int) (relocate.API, error) {
			// The HTTP connection pool is sized to the copies the function runs at once.
			cfg, err := awsconfig.Load(ctx, config.WithHTTPClient(relocate.NewHTTPClient(concurrency)))
			if err != nil {
				return nil, err
			}
			return awsconfig.NewS3(cfg), nil
		}}, log)
	})
}
