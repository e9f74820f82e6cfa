// Command resume is the Lambda EventBridge invokes on export and crawler events; it
// resumes the one execution waiting for that snapshot or crawl (see internal/export/callback
// and internal/export/run).
package main

import (
	"context"
	"log/slog"
	"os"

	"github.com/aws/aws-sdk-go-v2/service/rds"
	"github.com/aws/aws-sdk-go-v2/service/sfn"

	"github.com/snaplake/snaplake/internal/aws/awsconfig"
	"github.com/snaplake/snaplake/internal/aws/lambdamain"
	"github.com/snaplake/snaplake/internal/deploy"
	exportrun "github.com/snaplake/snaplake/internal/export/run"
)

func main() {
	lambdamain.Start(deploy.FnResume, func(ctx context.Context, log *slog.Logger) (lambdamain.Func, error) {
		cfg, err := awsconfig.Load(ctx)
		if err != nil {
			return nil, err
		}
		return exportrun.NewResume(os.Getenv, exportrun.ResumeClients{
			S3: awsconfig.NewS3(cfg), SFN: sfn.NewFromConfig(cfg), RDS: rds.NewFromConfig(cfg),
		}, log)
	})
}
