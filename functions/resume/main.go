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
	ctx := context.Background()
	bucket := os.Getenv("BUCKET")
	if bucket == "" {
		log.Error("cannot start", "error", "environment variable BUCKET is not set")
		os.Exit(1)
	}
	cfg, err := awsconfig.Load(ctx)
	if err != nil {
		log.Error("cannot start", "error", err)
		os.Exit(1)
	}
	prefix := os.Getenv("CALLBACK_PREFIX")
	if prefix == "" {
		prefix = "callbacks/"
	}
	h := callback.ResumeHandler{
		Store: callback.Store{S3: awsconfig.NewS3(cfg), Bucket: bucket, Prefix: prefix},
		SFN:   sfn.NewFromConfig(cfg),
		Log:   log,
	}
	lambda.Start(h.Handle)
}
