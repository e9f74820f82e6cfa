// Command resume is the Lambda EventBridge invokes on export and crawler events; it
// resumes the one execution waiting for that snapshot or crawl (see internal/callback).
package main

import (
	"context"
	"log/slog"
	"os"

	"github.com/aws/aws-lambda-go/lambda"
	"github.com/aws/aws-sdk-go-v2/service/sfn"

	"github.com/snaplake/snaplake/internal/awsconfig"
	"github.com/snaplake/snaplake/internal/callback"
)

func main() {
	log := slog.New(slog.NewJSONHandler(os.Stdout, nil)).With("function", "resume")
	cfg, err := awsconfig.Load(context.Background())
	if err != nil {
		log.Error("cannot start", "error", err)
		os.Exit(1)
	}
	store, err := callback.StoreFromEnv(os.Getenv, awsconfig.NewS3(cfg))
	if err != nil {
		log.Error("cannot start", "error", err)
		os.Exit(1)
	}
	h := callback.ResumeHandler{Store: store, SFN: sfn.NewFromConfig(cfg), Log: log}
	lambda.Start(h.Handle)
}
