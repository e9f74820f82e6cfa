package run

import (
	"log/slog"

	"github.com/snaplake/snaplake/internal/aws/lambdamain"
	"github.com/snaplake/snaplake/internal/deploy"
	"github.com/snaplake/snaplake/internal/ingest/grants"
	"github.com/snaplake/snaplake/internal/ingest/schedules"
)

// The ingestion's Lambdas: one constructor per function, New<Fn>(getenv, clients,
// log). The function's main calls it with os.Getenv and SDK clients; the offline run
// calls it with the deployed environment from the contract and its authorized
// stand-ins. Nothing else builds these handlers.

// ReconfigureClients are what the reconfigure function calls.
type ReconfigureClients struct {
	S3        S3API
	Glue      CrawlerAPI
	Secrets   SecretsAPI
	Scheduler schedules.API
}

// NewReconfigure builds the reconfigure function (deploy.FnReconfigure), which
// starts a run of an ingest set.
func NewReconfigure(getenv func(string) string, c ReconfigureClients, log *slog.Logger) (lambdamain.Func, error) {
	env, err := EnvFromGetenv(getenv, deploy.EnvIngestDatabase, deploy.EnvMySQLEndpoint, deploy.EnvSecretArn)
	if err != nil {
		return nil, err
	}
	s := &Starter{
		S3: c.S3, Bucket: env.Bucket, KMSKeyID: env.KMSKeyID,
		Glue: c.Glue, Crawler: deploy.IngestCrawlerName,
		MySQL:   MySQLFromSecret(c.Secrets, env.SecretArn, env.MySQLEndpoint),
		JDBCURL: env.JDBCURL(), SecretID: env.SecretArn, LeaseTTL: env.LeaseTTL, Database: env.Database, Log: log,
		CrawlPoll: env.CrawlPoll, CrawlTimeout: env.CrawlTimeout,
		Schedules: c.Scheduler, ScheduleGroup: getenv(deploy.EnvScheduleGroup),
	}
	return lambdamain.Handler(s.Handle), nil
}

// FinishIngestClients are what the finish-ingest function calls.
type FinishIngestClients struct {
	S3   S3API
	Glue CatalogAPI
}

// NewFinishIngest builds the finish-ingest function (deploy.FnFinishIngest), which
// ends a run of an ingest set.
func NewFinishIngest(getenv func(string) string, c FinishIngestClients, log *slog.Logger) (lambdamain.Func, error) {
	env, err := EnvFromGetenv(getenv)
	if err != nil {
		return nil, err
	}
	f := &Finisher{S3: c.S3, Bucket: env.Bucket, KMSKeyID: env.KMSKeyID, Glue: c.Glue, Grace: env.Grace, Log: log}
	return lambdamain.Handler(f.Handle), nil
}

// ApplyGrantsClients are what the apply-grants function calls.
type ApplyGrantsClients struct {
	S3 S3API
	LF grants.LakeFormation
	// Glue lists the governed snapshot databases' tables (a rule may name one
	// before its first night).
	Glue TableLister
}

// NewApplyGrants builds the apply-grants function (deploy.FnApplyGrants), which
// makes the Lake Formation grants what the config's access rules say.
func NewApplyGrants(getenv func(string) string, c ApplyGrantsClients, log *slog.Logger) (lambdamain.Func, error) {
	env, err := EnvFromGetenv(getenv, deploy.EnvIngestDatabase, deploy.EnvAccountID, deploy.EnvPartition)
	if err != nil {
		return nil, err
	}
	a := &GrantsApplier{
		S3: c.S3, Bucket: env.Bucket, LF: c.LF, Account: env.AccountID, Partition: env.Partition,
		Database: env.Database, Keep: deploy.SplitList(getenv(deploy.EnvKeepPrincipals)), Log: log,
		SnapshotDatabases: deploy.SplitList(getenv(deploy.EnvSnapshotDatabases)), SnapshotPrefix: getenv(deploy.EnvGlueDatabasePrefix),
		Glue: c.Glue,
	}
	return lambdamain.Handler(a.Handle), nil
}

// IngestCurrentClients are what the ingestcurrent function calls.
type IngestCurrentClients struct {
	S3      S3API
	Glue    CatalogAPI
	Secrets SecretsAPI
}

// NewCurrent builds the ingestcurrent function (deploy.FnIngestCurrent), which
// builds one incremental table's current generation after the load.
func NewCurrent(getenv func(string) string, c IngestCurrentClients, log *slog.Logger) (lambdamain.Func, error) {
	env, err := EnvFromGetenv(getenv, deploy.EnvIngestDatabase, deploy.EnvMySQLEndpoint, deploy.EnvSecretArn)
	if err != nil {
		return nil, err
	}
	b := &CurrentBuilder{
		S3: c.S3, Bucket: env.Bucket, KMSKeyID: env.KMSKeyID, Glue: c.Glue,
		MySQL: MySQLFromSecret(c.Secrets, env.SecretArn, env.MySQLEndpoint), Log: log,
	}
	return lambdamain.Handler(b.Handle), nil
}
