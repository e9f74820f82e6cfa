// Command awaitcallback is the Lambda a waitForTaskToken state calls to park its task
// token under the snapshot or crawler it waits for (see internal/callback).
package main

import (
	"context"
	"log/slog"
	"os"

	"github.com/aws/aws-lambda-go/lambda"

	"github.com/snaplake/snaplake/internal/awsconfig"
	"github.com/snaplake/snaplake/internal/callback"
)

func main() {
	log := slog.New(slog.NewJSONHandler(os.Stdout, nil)).With("function", "awaitcallback")
	store, err := storeFromEnv(context.Background())
	if err != nil {
		log.Error("cannot start", "error", err)
		os.Exit(1)
	}
	h := callback.AwaitHandler{Store: store, Log: log}
	lambda.Start(h.Handle)
}

func storeFromEnv(ctx context.Context) (callback.Store, error) {
	bucket := os.Getenv("BUCKET")
	if bucket == "" {
		return callback.Store{}, &callback.InvalidWaitError{Field: "BUCKET", Reason: "environment variable is not set"}
	}
	cfg, err := awsconfig.Load(ctx)
	if err != nil {
		return callback.Store{}, err
	}
	prefix := os.Getenv("CALLBACK_PREFIX")
	if prefix == "" {
		prefix = "callbacks/"
	}
	return callback.Store{S3: awsconfig.NewS3(cfg), Bucket: bucket, Prefix: prefix, KMSKeyID: os.Getenv("KMS_KEY_ID")}, nil
}
