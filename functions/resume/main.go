// Command resume is the Lambda EventBridge invokes on export and crawler events; it
// resumes the one execution waiting for that snapshot or crawl (see internal/callback
// and internal/exportrun).
package main

import (
	"context"
	"log/slog"
	"os"

	"github.com/aws/aws-sdk-go-v2/service/rds"
	"github.com/aws/aws-sdk-go-v2/service/sfn"

	"github.com/snaplake/snaplake/internal/awsconfig"
	"github.com/snaplake/snaplake/internal/deploy"
	"github.com/snaplake/snaplake/internal/exportrun"
	"github.com/snaplake/snaplake/internal/lambdamain"
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
