// Command publish is the Federator's publish Lambda: its workflow calls it to list the
// items, to publish one, and to sum a run up (see internal/federate/run).
package main

import (
	"context"
	"log/slog"
	"os"

	"github.com/aws/aws-sdk-go-v2/service/sts"

	"github.com/snaplake/snaplake/internal/aws/awsconfig"
	"github.com/snaplake/snaplake/internal/aws/lambdamain"
	"github.com/snaplake/snaplake/internal/deploy"
	federaterun "github.com/snaplake/snaplake/internal/federate/run"
)

func main() {
	lambdamain.Start(deploy.FnPublish, func(ctx context.Context, log *slog.Logger) (lambdamain.Func, error) {
		cfg, err := awsconfig.Load(ctx)
		if err != nil {
			return nil, err
		}
		s3c := awsconfig.NewS3(cfg)
		return federaterun.NewPublish(os.Getenv, federaterun.PublishClients{S3: s3c, Warehouses: federaterun.AWSWarehouses(cfg, s3c),
			Identity: federaterun.STSIdentity(sts.NewFromConfig(cfg))}, log)
	})
}
