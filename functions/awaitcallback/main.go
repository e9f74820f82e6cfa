// Command awaitcallback is the Lambda a waitForTaskToken state calls to park its task
// token under the snapshot or crawler it waits for, then start the crawl or check the
// export (see internal/callback).
package main

import (
	"context"
	"log/slog"
	"os"

	"github.com/aws/aws-lambda-go/lambda"
	"github.com/aws/aws-sdk-go-v2/service/glue"
	"github.com/aws/aws-sdk-go-v2/service/rds"
	"github.com/aws/aws-sdk-go-v2/service/sfn"

	"github.com/snaplake/snaplake/internal/awsconfig"
	"github.com/snaplake/snaplake/internal/callback"
)

func main() {
	log := slog.New(slog.NewJSONHandler(os.Stdout, nil)).With("function", "awaitcallback")
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
	h := callback.AwaitHandler{
		Store: store,
		SFN:   sfn.NewFromConfig(cfg),
		RDS:   rds.NewFromConfig(cfg),
		Glue:  glue.NewFromConfig(cfg),
		Log:   log,
	}
	lambda.Start(h.Handle)
}
