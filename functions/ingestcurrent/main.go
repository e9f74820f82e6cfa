package main

import (
	"context"
	"log/slog"
	"os"

	"github.com/aws/aws-sdk-go-v2/service/glue"
	"github.com/aws/aws-sdk-go-v2/service/secretsmanager"

	"github.com/snaplake/snaplake/internal/aws/awsconfig"
	"github.com/snaplake/snaplake/internal/aws/lambdamain"
	"github.com/snaplake/snaplake/internal/deploy"
	ingestrun "github.com/snaplake/snaplake/internal/ingest/run"
)

func main() {
	lambdamain.Start(deploy.FnIngestCurrent, func(ctx context.Context, log *slog.Logger) (lambdamain.Func, error) {
		cfg, err := awsconfig.Load(ctx)
		if err != nil {
			return nil, err
		}
		return ingestrun.NewCurrent(os.Getenv, ingestrun.IngestCurrentClients{
			S3: awsconfig.NewS3(cfg), Glue: glue.NewFromConfig(cfg), Secrets: secretsmanager.NewFromConfig(cfg),
		}, log)
	})
}
