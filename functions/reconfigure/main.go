// Command reconfigure is the Lambda that starts a run of an ingest set: it reads
// config/snaplake.yaml, discovers the source tables, plans the run, takes the
// tables' leases and points the set's crawler at exactly the run's tables (see
// internal/ingestrun).
package main

import (
	"context"
	"log/slog"
	"os"
	// The provided.al2023 runtime promises no zoneinfo; the config names any zone.
	_ "time/tzdata"

	"github.com/aws/aws-sdk-go-v2/service/glue"
	"github.com/aws/aws-sdk-go-v2/service/scheduler"
	"github.com/aws/aws-sdk-go-v2/service/secretsmanager"

	"github.com/snaplake/snaplake/internal/awsconfig"
	"github.com/snaplake/snaplake/internal/deploy"
	"github.com/snaplake/snaplake/internal/ingestrun"
	"github.com/snaplake/snaplake/internal/lambdamain"
)

func main() {
	lambdamain.Start(deploy.FnReconfigure, func(ctx context.Context, log *slog.Logger) (any, error) {
		env, err := ingestrun.EnvFromGetenv(os.Getenv, deploy.EnvIngestDatabase, deploy.EnvMySQLEndpoint, deploy.EnvSecretArn)
		if err != nil {
			return nil, err
		}
		cfg, err := awsconfig.Load(ctx)
		if err != nil {
			return nil, err
		}
		s := &ingestrun.Starter{
			S3: awsconfig.NewS3(cfg), Bucket: env.Bucket, KMSKeyID: env.KMSKeyID,
			Glue: glue.NewFromConfig(cfg), Crawler: deploy.IngestCrawlerName,
			MySQL:   ingestrun.MySQLFromSecret(secretsmanager.NewFromConfig(cfg), env.SecretArn, env.MySQLEndpoint),
			JDBCURL: env.JDBCURL(), SecretID: env.SecretArn, LeaseTTL: env.LeaseTTL, Database: env.Database, Log: log,
			CrawlPoll: env.CrawlPoll, CrawlTimeout: env.CrawlTimeout,
			Schedules: scheduler.NewFromConfig(cfg), ScheduleGroup: os.Getenv(deploy.EnvScheduleGroup),
		}
		return s.Handle, nil
	})
}
