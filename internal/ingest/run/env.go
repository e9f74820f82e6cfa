package run

import (
	"context"
	"database/sql"
	"fmt"
	"net"
	"strconv"
	"strings"
	"time"

	"github.com/snaplake/snaplake/internal/aws/mysqlsecret"
	"github.com/snaplake/snaplake/internal/config"
	"github.com/snaplake/snaplake/internal/deploy"
	"github.com/snaplake/snaplake/internal/ingest"
)

// Env is the deployed environment of the ingest functions.
type Env struct {
	Bucket, KMSKeyID string
	// Database is the source database the stack ingests: the config must name it.
	Database      string
	MySQLEndpoint string // host:port
	SecretArn     string
	// AccountID and Partition are the stack's, for the principals of grants.
	AccountID, Partition string
	LeaseTTL             time.Duration
	Grace                time.Duration
	// CrawlPoll and CrawlTimeout pace and bound the workflow's wait for its crawl.
	CrawlPoll, CrawlTimeout time.Duration
}

// EnvFromGetenv reads the environment the stack sets. need lists the variables the
// function cannot do without.
func EnvFromGetenv(getenv func(string) string, need ...string) (Env, error) {
	e := Env{
		Bucket: getenv(deploy.EnvBucket), KMSKeyID: getenv(deploy.EnvKMSKeyID), Database: getenv(deploy.EnvIngestDatabase),
		MySQLEndpoint: getenv(deploy.EnvMySQLEndpoint), SecretArn: getenv(deploy.EnvSecretArn),
		AccountID: getenv(deploy.EnvAccountID), Partition: getenv(deploy.EnvPartition),
		LeaseTTL: deploy.DefaultLeaseTTL, Grace: deploy.DefaultGrace,
		CrawlPoll: deploy.DefaultIngestCrawlPoll, CrawlTimeout: deploy.DefaultIngestCrawlTimeout,
	}
	for _, n := range append([]string{deploy.EnvBucket}, need...) {
		if strings.TrimSpace(getenv(n)) == "" {
			return e, &deploy.EnvError{Var: n, Problem: "is not set"}
		}
	}
	for _, d := range []struct {
		name string
		to   *time.Duration
	}{{deploy.EnvLeaseTTLSeconds, &e.LeaseTTL}, {deploy.EnvGraceSeconds, &e.Grace},
		{deploy.EnvCrawlPollSeconds, &e.CrawlPoll}, {deploy.EnvCrawlTimeoutSeconds, &e.CrawlTimeout}} {
		if v := getenv(d.name); v != "" {
			n, err := strconv.Atoi(v)
			if err != nil || n <= 0 {
				return e, &deploy.EnvError{Var: d.name, Problem: fmt.Sprintf("%q is not a positive number of seconds", v)}
			}
			*d.to = time.Duration(n) * time.Second
		}
	}
	if e.MySQLEndpoint != "" {
		if _, _, err := net.SplitHostPort(e.MySQLEndpoint); err != nil {
			return e, &deploy.EnvError{Var: deploy.EnvMySQLEndpoint, Problem: fmt.Sprintf("%q is not host:port", e.MySQLEndpoint)}
		}
	}
	return e, nil
}

// JDBCURL is the job's connection URL of the source database.
func (e Env) JDBCURL() string {
	return "jdbc:mysql://" + e.MySQLEndpoint + "/" + e.Database
}

// SecretsAPI reads the source's credentials.
type SecretsAPI = mysqlsecret.SecretsAPI

// MySQLFromSecret opens the source database with the credentials of the secret
// (mysqlsecret.Open).
func MySQLFromSecret(api SecretsAPI, secretArn, endpoint string) func(ctx context.Context) (*sql.DB, error) {
	return mysqlsecret.Open(api, secretArn, endpoint)
}

// CheckSource refuses a config whose source is not the database the stack was
// deployed for (its IAM, catalog database and grants are that database's).
func CheckSource(c *ingest.Config, database string) error {
	if database != "" && c.Source.Database != database {
		return &config.RefusedError{Err: c.ErrorAt([]string{"source", "database"}, "%q is not %q, the database this stack ingests (context snaplake:ingest)", c.Source.Database, database)}
	}
	return nil
}
