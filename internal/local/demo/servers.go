package demo

import (
	"bytes"
	"context"
	"database/sql"
	"errors"
	"fmt"
	"log/slog"
	"path/filepath"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	s3types "github.com/aws/aws-sdk-go-v2/service/s3/types"

	"github.com/snaplake/snaplake/internal/config"
	"github.com/snaplake/snaplake/internal/local/mariadb"
	"github.com/snaplake/snaplake/internal/local/s3server"
)

// servers are the processes a night runs against: MariaDB and versitygw, with the
// bucket created and a connection pool open.
type servers struct {
	db     *mariadb.Server
	s3     *s3server.Server
	client *s3.Client
	pool   *sql.DB
}

// startServers starts MariaDB, then versitygw with the lake's bucket. On error it stops
// whatever it started.
func startServers(ctx context.Context, home, bucket string, log *slog.Logger, p *printer) (_ *servers, err error) {
	srv := &servers{}
	defer func() {
		if err != nil {
			srv.stop()
		}
	}()
	t := time.Now()
	if srv.db, err = mariadb.Start(ctx, filepath.Join(home, "mysql"), log.With("component", "mariadb")); err != nil {
		return nil, fmt.Errorf("start MariaDB: %w", err)
	}
	p.stage("MariaDB", fmt.Sprintf("127.0.0.1:%d", srv.db.Port), time.Since(t))
	t = time.Now()
	if srv.s3, err = s3server.StartVersityGW(ctx, filepath.Join(home, "s3"), log.With("component", "versitygw")); err != nil {
		return nil, fmt.Errorf("start the S3 server: %w", err)
	}
	srv.client = srv.s3.Client()
	if err := ensureBucket(ctx, srv.client, bucket); err != nil {
		return nil, err
	}
	p.stage("S3 server (versitygw)", srv.s3.Endpoint+", bucket "+bucket, time.Since(t))
	if srv.pool, err = srv.db.DB(""); err != nil {
		return nil, err
	}
	return srv, nil
}

// stop closes the pool and stops versitygw, then MariaDB; it skips what never started.
func (s *servers) stop() {
	if s.pool != nil {
		s.pool.Close()
	}
	if s.s3 != nil {
		s.s3.Stop()
	}
	if s.db != nil {
		s.db.Stop()
	}
}

func ensureBucket(ctx context.Context, client *s3.Client, bucket string) error {
	_, err := client.CreateBucket(ctx, &s3.CreateBucketInput{Bucket: aws.String(bucket)})
	var owned *s3types.BucketAlreadyOwnedByYou
	var exists *s3types.BucketAlreadyExists
	if err == nil || errors.As(err, &owned) || errors.As(err, &exists) {
		return nil
	}
	if _, herr := client.HeadBucket(ctx, &s3.HeadBucketInput{Bucket: aws.String(bucket)}); herr == nil {
		return nil
	}
	return fmt.Errorf("create bucket %s: %w", bucket, err)
}

// startWarehouse starts the servers and makes sure the sample warehouse exists:
// how every demo after the night begins, against the night's home.
func startWarehouse(ctx context.Context, home string, rows int, log *slog.Logger, p *printer) (*servers, error) {
	srv, err := startServers(ctx, home, lakeBucket(), log, p)
	if err != nil {
		return nil, err
	}
	if _, err := ensureWarehouse(ctx, srv.pool, rows, p); err != nil {
		srv.stop()
		return nil, err
	}
	return srv, nil
}

// uploadConfig puts the operator's snaplake.yaml where the functions read it.
func (s *servers) uploadConfig(ctx context.Context, data []byte) error {
	if _, err := s.client.PutObject(ctx, &s3.PutObjectInput{Bucket: aws.String(lakeBucket()), Key: aws.String(config.S3Key), Body: bytes.NewReader(data)}); err != nil {
		return fmt.Errorf("upload the config: %w", err)
	}
	return nil
}
