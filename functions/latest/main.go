// Command latest is the Lambda that, after the night's crawls, points each
// <snapshot database>_latest table at its snapshot table's newest snapshot_date
// folder (internal/export/latest does the work, internal/export/run builds it).
package main

import (
	"context"
	"log/slog"
	"os"

	"github.com/aws/aws-sdk-go-v2/service/glue"

	"github.com/snaplake/snaplake/internal/aws/awsconfig"
	"github.com/snaplake/snaplake/internal/aws/lambdamain"
	"github.com/snaplake/snaplake/internal/deploy"
	exportrun "github.com/snaplake/snaplake/internal/export/run"
)

func main() {
	lambdamain.Start(deploy.FnLatest, func(ctx context.Context, log *slog.Logger) (lambdamain.Func, error) {
		cfg, err := awsconfig.Load(ctx)
		if err != nil {
			return nil, err
		}
		return exportrun.NewLatest(os.Getenv, exportrun.LatestClients{Glue: glue.NewFromConfig(cfg)}, log)
	})
}
