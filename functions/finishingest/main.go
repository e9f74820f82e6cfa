package main

import (
	"context"
	"log/slog"
	"os"

	"github.com/aws/aws-sdk-go-v2/service/glue"

	"github.com/snaplake/snaplake/internal/awsconfig"
	"github.com/snaplake/snaplake/internal/deploy"
	"github.com/snaplake/snaplake/internal/ingestrun"
	"github.com/snaplake/snaplake/internal/lambdamain"
)

func main() {
	lambdamain.Start(deploy.FnFinishIngest, func(ctx context.Context, log *slog.Logger) (lambdamain.Func, error) {
		cfg, err := awsconfig.Load(ctx)
		if err != nil {
			return nil, err
		}
		return ingestrun.NewFinishIngest(os.Getenv, ingestrun.FinishIngestClients{S3: awsconfig.NewS3(cfg), Glue: glue.NewFromConfig(cfg)}, log)
	})
}
