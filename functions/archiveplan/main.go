// Command archiveplan is the Lambda that starts an archive run: it checks every
// configured table against MySQL and lists those the run archives (see
// internal/archive and internal/archive/run).
package main

import (
	"context"
	"log/slog"
	"os"

	"github.com/aws/aws-sdk-go-v2/service/secretsmanager"

	archiverun "github.com/snaplake/snaplake/internal/archive/run"
	"github.com/snaplake/snaplake/internal/aws/awsconfig"
	"github.com/snaplake/snaplake/internal/aws/lambdamain"
	"github.com/snaplake/snaplake/internal/deploy"
)

func main() {
	lambdamain.Start(deploy.FnArchivePlan, func(ctx context.Context, log *slog.Logger) (lambdamain.Func, error) {
		cfg, err := awsconfig.Load(ctx)
		if err != nil {
			return nil, err
		}
		return archiverun.NewArchivePlan(os.Getenv, archiverun.Clients{S3: awsconfig.NewS3(cfg), Secrets: secretsmanager.NewFromConfig(cfg)}, log)
	})
}
