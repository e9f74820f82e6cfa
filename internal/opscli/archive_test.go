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

	"github.com/snaplake/snaplake/internal/local/mariadb/mariadbtest"
)

func TestArchiveUsage(t *testing.T) {
	tests := []struct {
		name      string
		args      []string
		env       string
		wantUsage bool
		stderrHas string
	}{
		{name: "help", args: []string{"-h"}, stderrHas: "Usage: snaplake archive sizes --mysql-dsn DSN"},
		{name: "sizes help", args: []string{"sizes", "-h"}, stderrHas: "OPTIMIZE TABLE"},
		{name: "no subcommand", args: nil, wantUsage: true, stderrHas: "Usage: snaplake archive sizes"},
		{name: "unknown subcommand", args: []string{"size"}, wantUsage: true, stderrHas: `unknown subcommand "size" (did you mean sizes?)`},
		{name: "no dsn", args: []string{"sizes"}, wantUsage: true, stderrHas: "missing --mysql-dsn (or SNAPLAKE_MYSQL_DSN)"},
		{name: "bad top", args: []string{"sizes", "--top", "0"}, env: "root@tcp(127.0.0.1:1)/", wantUsage: true, stderrHas: "--top must be at least 1, got 0"},
		{name: "bad format", args: []string{"sizes", "--format", "yaml"}, env: "root@tcp(127.0.0.1:1)/", wantUsage: true, stderrHas: `--format must be text or json, got "yaml"`},
		{name: "bad at", args: []string{"sizes", "--at", "now"}, env: "root@tcp(127.0.0.1:1)/", wantUsage: true, stderrHas: `--at "now" is not an RFC 3339 time`},
		{name: "argument", args: []string{"sizes", "shop"}, wantUsage: true, stderrHas: `unexpected argument "shop"`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Setenv(MySQLDSNEnv, tt.env)
			var stdout, stderr bytes.Buffer
			err := Archive(context.Background(), tt.args, &stdout, &stderr)
			if got := errors.Is(err, ErrUsage); got != tt.wantUsage || !tt.wantUsage && err != nil {
				t.Errorf("err = %v, want usage error %v", err, tt.wantUsage)
			}
			if !strings.Contains(stderr.String(), tt.stderrHas) {
				t.Errorf("stderr %q, want it to contain %q", stderr.String(), tt.stderrHas)
			}
		})
	}
}

// TestArchiveSizesRejectsABadConfig: the section's problems, at their lines, before
// any connection.
func TestArchiveSizesRejectsABadConfig(t *testing.T) {
	path := filepath.Join(t.TempDir(), "snaplake.yaml")
	if err := os.WriteFile(path, []byte("archive:\n  tables:\n    shop.`logs`: {retention: 0d, column: created_at}\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	var stdout, stderr bytes.Buffer
	err := Archive(context.Background(), []string{"sizes", "--mysql-dsn", "root@tcp(127.0.0.1:1)/", "--config", path}, &stdout, &stderr)
	if err == nil || !strings.Contains(err.Error(), path+":3:5: archive.tables[\"shop.`logs`\"]: \"shop.`logs`\" is not database.table") {
		t.Errorf("err %v: want the bad name at line 3", err)
	}
}

const sizesConfig = `archive:
  tables:
    az.logs:
      retention: 2y
      column: created_at
    az.sessions:
      retention: 1y
      column: seen
    az.ghost:
      retention: 1y
      column: created_at
`

// TestArchiveSizesAgainstMariaDB: the largest tables, largest first, and for every
// configured table (among the largest or not) the rows older than its cutoff.
func TestArchiveSizesAgainstMariaDB(t *testing.T) {
	srv := mariadbtest.Start(t)
	db, err := srv.DB("")
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	for _, q := range []string{
		"CREATE DATABASE az",
		"CREATE TABLE az.logs (id BIGINT AUTO_INCREMENT PRIMARY KEY, created_at DATETIME NOT NULL, payload VARCHAR(200))",
		// 3,000 rows before the 2y cutoff (2024-12-08), 1,000 after.
		`INSERT INTO az.logs (created_at, payload)
		 WITH d AS (SELECT 0 AS n UNION ALL SELECT 1 UNION ALL SELECT 2 UNION ALL SELECT 3 UNION ALL SELECT 4
		            UNION ALL SELECT 5 UNION ALL SELECT 6 UNION ALL SELECT 7 UNION ALL SELECT 8 UNION ALL SELECT 9),
		      seq AS (SELECT a.n * 1000 + b.n * 100 + c.n * 10 + e.n AS n FROM d a, d b, d c, d e)
		 SELECT IF(n < 3000, '2024-12-07 23:59:59', '2024-12-08 00:00:00'), REPEAT('x', 150) FROM seq WHERE n < 4000`,
		"CREATE TABLE az.sessions (id INT PRIMARY KEY, seen TIMESTAMP NULL)",
		"CREATE TABLE az.small (id INT PRIMARY KEY)",
		"INSERT INTO az.small VALUES (1)",
		"ANALYZE TABLE az.logs, az.sessions, az.small",
		// The server's zone is not UTC: the TIMESTAMPs below are written in it, and
		// the cutoff (00:00 UTC) must be compared in UTC all the same.
		"SET GLOBAL time_zone = '+05:00'",
	} {
		if _, err := db.Exec(q); err != nil {
			t.Fatalf("%s: %v", q, err)
		}
	}
	conn, err := db.Conn(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	for _, q := range []string{
		"SET time_zone = '+05:00'",
		// 2025-12-07 22:00 UTC: before the 1y cutoff, 2025-12-08 00:00 UTC.
		"INSERT INTO az.sessions VALUES (1, '2025-12-08 03:00:00')",
		// 2025-12-08 01:00 UTC: kept.
		"INSERT INTO az.sessions VALUES (2, '2025-12-08 06:00:00')",
		"INSERT INTO az.sessions VALUES (3, '2020-01-01 00:00:00')",
		"INSERT INTO az.sessions VALUES (4, NULL)",
	} {
		if _, err := conn.ExecContext(context.Background(), q); err != nil {
			t.Fatalf("%s: %v", q, err)
		}
	}
	conn.Close()
	path := filepath.Join(t.TempDir(), "snaplake.yaml")
	if err := os.WriteFile(path, []byte(sizesConfig), 0o644); err != nil {
		t.Fatal(err)
	}
	t.Setenv(MySQLDSNEnv, srv.DSN(""))
	args := []string{"sizes", "--config", path, "--top", "1", "--at", "2026-12-08T10:00:00Z"}

	var stdout, stderr bytes.Buffer
	err = Archive(context.Background(), append(args, "--format", "json"), &stdout, &stderr)
	if err == nil || err.Error() != path+": 1 configured tables cannot be counted (see their lines)" {
		t.Errorf("err %v: want the ghost table reported", err)
	}
	var rep struct {
		Tables []struct {
			Table                                   string
			Rows, DataBytes, IndexBytes, TotalBytes int64
			Archive                                 *struct {
				Retention, Column, Cutoff, Error string
				Rows, Bytes                      int64
			}
		}
		ReclaimRows, ReclaimBytes int64
	}
	if err := json.Unmarshal(stdout.Bytes(), &rep); err != nil {
		t.Fatalf("%v\n%s", err, stdout.String())
	}
	var names []string
	for _, tb := range rep.Tables {
		names = append(names, tb.Table)
	}
	// --top 1 is az.logs; the configured tables follow by size; az.small is neither.
	if strings.Join(names, ",") != "az.logs,az.sessions,az.ghost" {
		t.Fatalf("tables %v, want az.logs, az.sessions, az.ghost\n%s", names, stdout.String())
	}
	logs, sessions, ghost := rep.Tables[0], rep.Tables[1], rep.Tables[2]
	switch {
	case logs.Rows < 3000 || logs.TotalBytes != logs.DataBytes+logs.IndexBytes || logs.TotalBytes < 4000*150:
		t.Errorf("az.logs size %+v", logs)
	case logs.Archive == nil || logs.Archive.Rows != 3000 || logs.Archive.Cutoff != "2024-12-08" || logs.Archive.Error != "":
		t.Errorf("az.logs archive %+v, want 3000 rows before 2024-12-08", logs.Archive)
	case logs.Archive.Bytes <= logs.TotalBytes/2 || logs.Archive.Bytes > logs.TotalBytes:
		t.Errorf("az.logs reclaim %d bytes of %d, want about 3/4", logs.Archive.Bytes, logs.TotalBytes)
	case sessions.Archive == nil || sessions.Archive.Rows != 2 || sessions.Archive.Cutoff != "2025-12-08":
		t.Errorf("az.sessions archive %+v, want 2 rows before 2025-12-08 00:00 UTC", sessions.Archive)
	case ghost.Archive == nil || ghost.Archive.Error != "no such table, or the user has no privilege on it" || ghost.Archive.Rows != 0:
		t.Errorf("az.ghost %+v", ghost.Archive)
	case rep.ReclaimRows != 3002 || rep.ReclaimBytes != logs.Archive.Bytes+sessions.Archive.Bytes:
		t.Errorf("reclaim %d rows, %d bytes", rep.ReclaimRows, rep.ReclaimBytes)
	}

	// The same as text, without the config: the largest tables only.
	stdout.Reset()
	if err := Archive(context.Background(), []string{"sizes", "--top", "2"}, &stdout, &stderr); err != nil {
		t.Fatalf("sizes: %v\n%s", err, stderr.String())
	}
	lines := strings.Split(strings.TrimSpace(stdout.String()), "\n")
	if len(lines) != 3 || !strings.HasPrefix(lines[0], "TABLE") || !strings.HasPrefix(lines[1], "az.logs ") || strings.Contains(stdout.String(), "RETENTION") {
		t.Errorf("text without config:\n%s", stdout.String())
	}
	stdout.Reset()
	Archive(context.Background(), args, &stdout, &stderr)
	for _, want := range []string{"RECLAIM (EST.)", "2y", "2024-12-08", "3,000",
		"az.ghost: cannot be archived: no such table, or the user has no privilege on it",
		"the archive section would move 3,002 rows"} {
		if !strings.Contains(stdout.String(), want) {
			t.Errorf("text output lacks %q:\n%s", want, stdout.String())
		}
	}
}
