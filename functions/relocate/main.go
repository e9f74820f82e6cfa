// Command relocate is the Lambda that moves a finished RDS snapshot export into the
// lake's per-table snapshot_date partitions (internal/relocate does the work).
package main

import (
	"context"
	"fmt"
	"log/slog"
	"os"

	"github.com/aws/aws-lambda-go/lambda"
	"github.com/aws/aws-sdk-go-v2/config"

	"github.com/snaplake/snaplake/internal/awsconfig"
	"github.com/snaplake/snaplake/internal/relocate"
)

func main() {
	log := slog.New(slog.NewJSONHandler(os.Stdout, nil))
	h, err := newHandler(context.Background(), log)
	if err != nil {
		log.Error("relocate lambda cannot start", slog.Any("error", err))
		os.Exit(1)
	}
	relocate.TuneGC(relocate.DefaultMemoryLimit)
	lambda.Start(h.Handle)
}

func newHandler(ctx context.Context, log *slog.Logger) (relocate.Handler, error) {
	defaults, err := relocate.OptionsFromEnv(os.Getenv)
	if err != nil {
		return relocate.Handler{}, fmt.Errorf("read relocate configuration: %w", err)
	}
	conc := defaults.Concurrency
	if conc == 0 {
		conc = relocate.DefaultConcurrency
	}
	cfg, err := awsconfig.Load(ctx, config.WithHTTPClient(relocate.NewHTTPClient(conc)))
	if err != nil {
		return relocate.Handler{}, err
	}
	return relocate.Handler{API: awsconfig.NewS3(cfg), Defaults: defaults, Log: log}, nil
}
