// Command finishingest is the Lambda that ends a run of an ingest set: it commits
// the watermarks of the tables the job loaded, switches fully reloaded tables to
// their new generation, removes what failed, releases the leases and reports the
// run (see internal/ingestrun).
package main

import (
	"context"
	"log/slog"
	"os"

	"github.com/aws/aws-sdk-go-v2/service/glue"

	"github.com/snaplake/snaplake/internal/awsconfig"
	"github.com/snaplake/snaplake/internal/deploy"
	"github.com/snaplake/snaplake/internal/ingestrun"
	"github.com/snaplake/snaplake/internal/lambdamain"
)

func main() {
	lambdamain.Start(deploy.FnFinishIngest, func(ctx context.Context, log *slog.Logger) (any, error) {
		env, err := ingestrun.EnvFromGetenv(os.Getenv)
		if err != nil {
			return nil, err
		}
		cfg, err := awsconfig.Load(ctx)
		if err != nil {
			return nil, err
		}
		f := &ingestrun.Finisher{S3: awsconfig.NewS3(cfg), Bucket: env.Bucket, KMSKeyID: env.KMSKeyID,
			Glue: glue.NewFromConfig(cfg), Grace: env.Grace, Log: log}
		return f.Handle, nil
	})
}
