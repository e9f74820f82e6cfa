// Command resume is the Lambda EventBridge invokes on export and crawler events; it
// resumes the one execution waiting for that snapshot or crawl (see internal/callback).
package main

import (
	"context"
	"log/slog"
	"os"

	"github.com/aws/aws-sdk-go-v2/service/rds"
	"github.com/aws/aws-sdk-go-v2/service/sfn"

	"github.com/snaplake/snaplake/internal/awsconfig"
	"github.com/snaplake/snaplake/internal/callback"
	"github.com/snaplake/snaplake/internal/deploy"
	"github.com/snaplake/snaplake/internal/lambdamain"
)

func main() {
	lambdamain.Start(deploy.FnResume, func(ctx context.Context, log *slog.Logger) (any, error) {
		cfg, err := awsconfig.Load(ctx)
		if err != nil {
			return nil, err
		}
		store, err := callback.StoreFromEnv(os.Getenv, awsconfig.NewS3(cfg))
		if err != nil {
			return nil, err
		}
		h := callback.ResumeHandler{Store: store, SFN: sfn.NewFromConfig(cfg), RDS: rds.NewFromConfig(cfg), Log: log}
		return h.Handle, nil
	})
}
