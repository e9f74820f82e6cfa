// Command startexport is the Lambda that starts the RDS snapshot export for a
// snapshot-created event (see internal/export).
package main

import (
	"context"
	"log/slog"
	"os"

	"github.com/aws/aws-lambda-go/lambda"
	"github.com/aws/aws-sdk-go-v2/service/rds"

	"github.com/snaplake/snaplake/internal/awsconfig"
	"github.com/snaplake/snaplake/internal/export"
)

func main() {
	log := slog.New(slog.NewJSONHandler(os.Stdout, nil)).With("function", "startexport")
	cfg, err := export.ConfigFromEnv(os.Getenv)
	if err != nil {
		log.Error("cannot start", "error", err)
		os.Exit(1)
	}
	awsCfg, err := awsconfig.Load(context.Background())
	if err != nil {
		log.Error("cannot start", "error", err)
		os.Exit(1)
	}
	h := export.Handler{RDS: rds.NewFromConfig(awsCfg), Config: cfg, Log: log}
	lambda.Start(h.Handle)
}
