package opscli

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/snaplake/snaplake/internal/archive"
	"github.com/snaplake/snaplake/internal/local/mariadb/mariadbtest"
	"github.com/snaplake/snaplake/internal/local/s3server"
)

func TestArchiveRunUsage(t *testing.T) {
	for _, tt := range []struct {
		name      string
		args      []string
		stderrHas string
	}{
		{"help", []string{"run", "-h"}, "resumes from its"},
		{"no config", []string{"run", "--mysql-dsn", "root@tcp(127.0.0.1:1)/", "--bucket", "b"}, "missing --config"},
		{"no bucket", []string{"run", "--config", "x.yaml", "--mysql-dsn", "root@tcp(127.0.0.1:1)/"}, "missing --bucket"},
		{"no dsn", []string{"run", "--config", "x.yaml", "--bucket", "b"}, "missing --mysql-dsn"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			t.Setenv(MySQLDSNEnv, "")
			var stdout, stderr bytes.Buffer
			err := Archive(context.Background(), tt.args, &stdout, &stderr)
			if tt.name != "help" && !errors.Is(err, ErrUsage) || tt.name == "help" && err != nil {
				t.Errorf("err = %v", err)
			}
			if !strings.Contains(stderr.String(), tt.stderrHas) {
				t.Errorf("stderr %q, want %q", stderr.String(), tt.stderrHas)
			}
		})
	}
}

// TestArchiveRunByHand runs `snaplake archive run` against a real MariaDB and an S3
// server reached through AWS_ENDPOINT_URL: --dry-run says what would move and
// changes nothing; the run archives the old rows, prints a progress line per batch
// and a JSON summary per table, and leaves the new rows; a table the config does
// not name is refused before anything runs.
func TestArchiveRunByHand(t *testing.T) {
	srv := mariadbtest.Start(t)
	db, err := srv.DB("")
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	for _, q := range []string{
		"CREATE DATABASE shop",
		"CREATE TABLE shop.events (tenant INT, id INT, at DATE NOT NULL, body TEXT, PRIMARY KEY (tenant, id))",
		"INSERT INTO shop.events SELECT seq % 7, seq, IF(seq <= 2500, CURDATE() - INTERVAL 3 YEAR, CURDATE()), REPEAT('x', 50) FROM shop.seq_1_to_3000",
	} {
		if _, err := db.Exec(q); err != nil {
			t.Fatalf("%s: %v", q, err)
		}
	}
	dir := t.TempDir()
	s3srv, err := s3server.StartVersityGW(context.Background(), filepath.Join(dir, "s3"), nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(s3srv.Stop)
	if err := s3srv.CreateBucket(context.Background(), "lake"); err != nil {
		t.Fatal(err)
	}
	for _, kv := range append(s3srv.Env(), "AWS_CONFIG_FILE="+filepath.Join(dir, "config"), "AWS_SHARED_CREDENTIALS_FILE="+filepath.Join(dir, "credentials"),
		"AWS_PROFILE=", "AWS_SESSION_TOKEN=", "AWS_EC2_METADATA_DISABLED=true", "AWS_ENDPOINT_URL=") {
		k, v, _ := strings.Cut(kv, "=")
		t.Setenv(k, v)
	}
	configPath := filepath.Join(dir, "snaplake.yaml")
	if err := os.WriteFile(configPath, []byte("archive:\n  tables:\n    shop.events:\n      retention: 2y\n      column: at\n      batchRows: 1000\n      pause: 1ms\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	count := func() (n int) {
		t.Helper()
		if err := db.QueryRow("SELECT COUNT(*) FROM shop.events").Scan(&n); err != nil {
			t.Fatal(err)
		}
		return n
	}
	archiveCmd := func(args ...string) (string, string, error) {
		var stdout, stderr bytes.Buffer
		err := Archive(context.Background(), append([]string{"run", "--config", configPath, "--mysql-dsn", srv.DSN(""), "--bucket", "lake"}, args...), &stdout, &stderr)
		return stdout.String(), stderr.String(), err
	}

	out, errOut, err := archiveCmd("--dry-run")
	if err != nil || !strings.Contains(out, "shop.events: would archive 2,500 rows") || count() != 3000 {
		t.Fatalf("dry run: %v, stdout %q, stderr %q, rows %d; want 2,500 rows announced and 3,000 left", err, out, errOut, count())
	}
	var notConfigured *archive.NotConfiguredError
	if _, _, err := archiveCmd("--table", "shop.orders"); !errors.As(err, &notConfigured) || count() != 3000 {
		t.Fatalf("a table not configured: %v, want *archive.NotConfiguredError and nothing changed", err)
	}

	// An unreachable bucket: the table fails, named, and nothing is deleted.
	var stdout, stderr bytes.Buffer
	err = Archive(context.Background(), []string{"run", "--config", configPath, "--mysql-dsn", srv.DSN(""), "--bucket", "no-such-bucket"}, &stdout, &stderr)
	if err == nil || !strings.Contains(err.Error(), "shop.events") || !strings.Contains(err.Error(), "no-such-bucket") || count() != 3000 {
		t.Fatalf("unreachable bucket: %v, stderr %q, rows %d; want the table named and 3,000 rows left", err, stderr.String(), count())
	}

	out, errOut, err = archiveCmd()
	if err != nil {
		t.Fatalf("archive run: %v\n%s", err, errOut)
	}
	var sum archive.Summary
	if err := json.Unmarshal([]byte(strings.TrimSpace(out)), &sum); err != nil {
		t.Fatalf("stdout %q is not one JSON summary: %v", out, err)
	}
	if !sum.Complete || sum.Rows != 2500 || sum.RowsDeleted != 2500 || sum.Batches != 3 {
		t.Errorf("summary = %+v, want 2,500 rows in 3 batches, archived and deleted", sum)
	}
	if n := strings.Count(errOut, "shop.events batch "); n < 3 {
		t.Errorf("stderr has %d progress lines, want at least one per batch:\n%s", n, errOut)
	}
	if n := count(); n != 500 {
		t.Errorf("%d rows left, want the 500 newer than the cutoff", n)
	}
}
