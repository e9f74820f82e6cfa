// Command applygrants is the Lambda that makes the Lake Formation grants on the
// ingested tables what the config's access rules say: it revokes what the config no
// longer grants, then grants what it does (see internal/ingestrun and internal/grants).
package main

import (
	"context"
	"log/slog"
	"os"

	"github.com/aws/aws-sdk-go-v2/service/lakeformation"

	"github.com/snaplake/snaplake/internal/awsconfig"
	"github.com/snaplake/snaplake/internal/deploy"
	"github.com/snaplake/snaplake/internal/ingestrun"
	"github.com/snaplake/snaplake/internal/lambdamain"
)

func main() {
	lambdamain.Start(deploy.FnApplyGrants, func(ctx context.Context, log *slog.Logger) (any, error) {
		env, err := ingestrun.EnvFromGetenv(os.Getenv, deploy.EnvIngestDatabase, deploy.EnvAccountID, deploy.EnvPartition)
		if err != nil {
			return nil, err
		}
		cfg, err := awsconfig.Load(ctx)
		if err != nil {
			return nil, err
		}
		a := &ingestrun.GrantsApplier{
			S3: awsconfig.NewS3(cfg), Bucket: env.Bucket, LF: lakeformation.NewFromConfig(cfg),
			Account: os.Getenv(deploy.EnvAccountID), Partition: os.Getenv(deploy.EnvPartition),
			Database: env.Database, Keep: deploy.SplitList(os.Getenv(deploy.EnvKeepPrincipals)), Log: log,
		}
		return a.Handle, nil
	})
}
