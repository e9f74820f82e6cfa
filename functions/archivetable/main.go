// Command archivetable is the Lambda that archives one table for at most one
// invocation: rows older than the cutoff to Parquet in S3, verified, then deleted
// gently; the workflow invokes it again until the table is complete (see
// internal/archive and internal/archive/run).
package main

import (
	"context"
	"log/slog"
	"os"

	"github.com/aws/aws-sdk-go-v2/service/glue"
	"github.com/aws/aws-sdk-go-v2/service/secretsmanager"

	archiverun "github.com/snaplake/snaplake/internal/archive/run"
	"github.com/snaplake/snaplake/internal/aws/awsconfig"
	"github.com/snaplake/snaplake/internal/aws/lambdamain"
	"github.com/snaplake/snaplake/internal/deploy"
)

func main() {
	lambdamain.Start(deploy.FnArchiveTable, func(ctx context.Context, log *slog.Logger) (lambdamain.Func, error) {
		cfg, err := awsconfig.Load(ctx)
		if err != nil {
			return nil, err
		}
		return archiverun.NewArchiveTable(os.Getenv, archiverun.Clients{
			S3: awsconfig.NewS3(cfg), Secrets: secretsmanager.NewFromConfig(cfg), Glue: glue.NewFromConfig(cfg),
		}, log)
	})
}
