// Command startexport is the Lambda that starts the RDS snapshot export for a
// snapshot-created event (see internal/export).
package main

import (
	"context"
	"log/slog"
	"os"
	// The provided.al2023 runtime promises no zoneinfo: embed it, so that
	// SNAPSHOT_TIME_ZONE can name any IANA zone.
	_ "time/tzdata"

	"github.com/aws/aws-sdk-go-v2/service/rds"

	"github.com/snaplake/snaplake/internal/awsconfig"
	"github.com/snaplake/snaplake/internal/deploy"
	"github.com/snaplake/snaplake/internal/export"
	"github.com/snaplake/snaplake/internal/lambdamain"
)

func main() {
	lambdamain.Start(deploy.FnStartExport, func(ctx context.Context, log *slog.Logger) (any, error) {
		cfg, err := export.ConfigFromEnv(os.Getenv)
		if err != nil {
			return nil, err
		}
		awsCfg, err := awsconfig.Load(ctx)
		if err != nil {
			return nil, err
		}
		h := export.Handler{RDS: rds.NewFromConfig(awsCfg), Config: cfg, Log: log}
		return h.Handle, nil
	})
}
