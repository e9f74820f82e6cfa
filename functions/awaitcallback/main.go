// Command awaitcallback is the Lambda a waitForTaskToken state calls to park its task
// token under the snapshot or crawler it waits for, then start the crawl or check the
// export (see internal/callback).
package main

import (
	"context"
	"log/slog"
	"os"

	"github.com/aws/aws-sdk-go-v2/service/glue"
	"github.com/aws/aws-sdk-go-v2/service/rds"
	"github.com/aws/aws-sdk-go-v2/service/sfn"

	"github.com/snaplake/snaplake/internal/awsconfig"
	"github.com/snaplake/snaplake/internal/callback"
	"github.com/snaplake/snaplake/internal/deploy"
	"github.com/snaplake/snaplake/internal/lambdamain"
)

func main() {
	lambdamain.Start(deploy.FnAwaitCallback, func(ctx context.Context, log *slog.Logger) (any, error) {
		cfg, err := awsconfig.Load(ctx)
		if err != nil {
			return nil, err
		}
		store, err := callback.StoreFromEnv(os.Getenv, awsconfig.NewS3(cfg))
		if err != nil {
			return nil, err
		}
		h := callback.AwaitHandler{
			Store:      store,
			SFN:        sfn.NewFromConfig(cfg),
			RDS:        rds.NewFromConfig(cfg),
			Glue:       glue.NewFromConfig(cfg),
			DataPrefix: callback.DataPrefixFromEnv(os.Getenv),
			Log:        log,
		}
		return h.Handle, nil
	})
}
