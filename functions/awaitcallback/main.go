// Command awaitcallback is the Lambda a waitForTaskToken state calls to park its task
// token under the snapshot or crawler it waits for, then start the crawl or check the
// export (see internal/export/callback and internal/export/run).
package main

import (
	"context"
	"log/slog"
	"os"

	"github.com/aws/aws-sdk-go-v2/service/glue"
	"github.com/aws/aws-sdk-go-v2/service/lakeformation"
	"github.com/aws/aws-sdk-go-v2/service/rds"
	"github.com/aws/aws-sdk-go-v2/service/sfn"

	"github.com/snaplake/snaplake/internal/aws/awsconfig"
	"github.com/snaplake/snaplake/internal/aws/lambdamain"
	"github.com/snaplake/snaplake/internal/deploy"
	exportrun "github.com/snaplake/snaplake/internal/export/run"
)

func main() {
	lambdamain.Start(deploy.FnAwaitCallback, func(ctx context.Context, log *slog.Logger) (lambdamain.Func, error) {
		cfg, err := awsconfig.Load(ctx)
		if err != nil {
			return nil, err
		}
		gl := glue.NewFromConfig(cfg)
		return exportrun.NewAwaitCallback(os.Getenv, exportrun.AwaitCallbackClients{
			S3: awsconfig.NewS3(cfg), SFN: sfn.NewFromConfig(cfg), RDS: rds.NewFromConfig(cfg), Glue: gl, Catalogs: gl,
			Lake: lakeformation.NewFromConfig(cfg),
		}, log)
	})
}
