// Command startexport is the Lambda that starts the RDS snapshot export for a
// snapshot-created event (see internal/export).
package main

import (
	"context"
	"log/slog"
	"os"

	"github.com/aws/aws-sdk-go-v2/service/rds"

	"github.com/snaplake/snaplake/internal/awsconfig"
	"github.com/snaplake/snaplake/internal/export"
	"github.com/snaplake/snaplake/internal/lambdamain"
)

func main() {
	lambdamain.Start("startexport", func(ctx context.Context, log *slog.Logger) (any, error) {
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
