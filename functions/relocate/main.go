// Command relocate is the Lambda that moves a finished RDS snapshot export into the
// lake's per-table snapshot_date partitions (internal/relocate does the work).
package main

import (
	"context"
	"fmt"
	"log/slog"
	"os"

	"github.com/aws/aws-sdk-go-v2/config"

	"github.com/snaplake/snaplake/internal/awsconfig"
	"github.com/snaplake/snaplake/internal/deploy"
	"github.com/snaplake/snaplake/internal/lambdamain"
	"github.com/snaplake/snaplake/internal/relocate"
)

func main() {
	lambdamain.Start(deploy.FnRelocate, func(ctx context.Context, log *slog.Logger) (any, error) {
		defaults, err := relocate.OptionsFromEnv(os.Getenv)
		if err != nil {
			return nil, fmt.Errorf("read relocate configuration: %w", err)
		}
		conc := defaults.Concurrency
		if conc == 0 {
			conc = relocate.DefaultConcurrency
		}
		cfg, err := awsconfig.Load(ctx, config.WithHTTPClient(relocate.NewHTTPClient(conc)))
		if err != nil {
			return nil, err
		}
		relocate.TuneGC(relocate.DefaultMemoryLimit)
		h := relocate.Handler{API: awsconfig.NewS3(cfg), Defaults: defaults, Log: log}
		return h.Handle, nil
	})
}
