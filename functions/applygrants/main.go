package main

import (
	"context"
	"log/slog"
	"os"

	"github.com/aws/aws-sdk-go-v2/service/glue"
	"github.com/aws/aws-sdk-go-v2/service/lakeformation"

	"github.com/snaplake/snaplake/internal/aws/awsconfig"
	"github.com/snaplake/snaplake/internal/aws/lambdamain"
	"github.com/snaplake/snaplake/internal/deploy"
	ingestrun "github.com/snaplake/snaplake/internal/ingest/run"
)

func main() {
	lambdamain.Start(deploy.FnApplyGrants, func(ctx context.Context, log *slog.Logger) (lambdamain.Func, error) {
		cfg, err := awsconfig.Load(ctx)
		if err != nil {
			return nil, err
		}
		return ingestrun.NewApplyGrants(os.Getenv, ingestrun.ApplyGrantsClients{S3: awsconfig.NewS3(cfg), LF: lakeformation.NewFromConfig(cfg), Glue: glue.NewFromConfig(cfg)}, log)
	})
}
