// Command startexport is the Lambda that starts the RDS snapshot export for a
// snapshot-created event (see internal/export and internal/export/run).
package main

import (
	"context"
	"log/slog"
	"os"
	// The provided.al2023 runtime promises no zoneinfo: embed it, so that
	// SNAPSHOT_TIME_ZONE can name any IANA zone.
	_ "time/tzdata"

	"github.com/aws/aws-sdk-go-v2/service/rds"
	"github.com/aws/aws-sdk-go-v2/service/s3"

	"github.com/snaplake/snaplake/internal/aws/awsconfig"
	"github.com/snaplake/snaplake/internal/aws/lambdamain"
	"github.com/snaplake/snaplake/internal/deploy"
	exportrun "github.com/snaplake/snaplake/internal/export/run"
)

func main() {
	lambdamain.Start(deploy.FnStartExport, func(ctx context.Context, log *slog.Logger) (lambdamain.Func, error) {
		cfg, err := awsconfig.Load(ctx)
		if err != nil {
			return nil, err
		}
		return exportrun.NewStartExport(os.Getenv, exportrun.StartExportClients{RDS: rds.NewFromConfig(cfg), S3: s3.NewFromConfig(cfg)}, log)
	})
}
