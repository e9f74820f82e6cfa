// Package mysqlsecret opens a MySQL/MariaDB database with the credentials of a
// Secrets Manager secret: how every Lambda that reaches a source database connects
// (the ingestion's, the archive's).
package mysqlsecret

import (
	"context"
	"database/sql"
	"encoding/json"
	"fmt"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/secretsmanager"
	"github.com/go-sql-driver/mysql"

	"github.com/snaplake/snaplake/internal/aws/awserr"
)

// SecretsAPI reads a secret.
type SecretsAPI interface {
	GetSecretValue(ctx context.Context, in *secretsmanager.GetSecretValueInput, optFns ...func(*secretsmanager.Options)) (*secretsmanager.GetSecretValueOutput, error)
}

// Opener opens the database once and returns it on every later call.
type Opener func(ctx context.Context) (*sql.DB, error)

// Open opens the database at endpoint (host:port) with the credentials of the
// secret (the RDS-managed master secret or any with "username" and "password"),
// over TLS when the server offers it. The secret is read at the first call.
func Open(api SecretsAPI, secretArn, endpoint string) Opener {
	var db *sql.DB
	return func(ctx context.Context) (*sql.DB, error) {
		if db != nil {
			return db, nil
		}
		out, err := api.GetSecretValue(ctx, &secretsmanager.GetSecretValueInput{SecretId: aws.String(secretArn)})
		if err != nil {
			return nil, fmt.Errorf("read the source's secret %s: %w", secretArn, awserr.Surface(err))
		}
		var creds struct {
			Username string `json:"username"`
			Password string `json:"password"`
		}
		if err := json.Unmarshal([]byte(aws.ToString(out.SecretString)), &creds); err != nil || creds.Username == "" {
			return nil, fmt.Errorf("secret %s has no JSON \"username\" and \"password\"", secretArn)
		}
		c := mysql.NewConfig()
		c.User, c.Passwd, c.Net, c.Addr = creds.Username, creds.Password, "tcp", endpoint
		c.TLSConfig = "preferred"
		c.ParseTime = false
		db, err = sql.Open("mysql", c.FormatDSN())
		if err != nil {
			return nil, err
		}
		db.SetMaxOpenConns(4)
		return db, nil
	}
}
