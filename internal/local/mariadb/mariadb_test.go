package mariadb

import (
	"context"
	"errors"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/snaplake/snaplake/internal/local/testenv"
)

func TestStartQueryStopRestart(t *testing.T) {
	testenv.NeedsServers(t)
	dir := t.TempDir()
	ctx := context.Background()
	s, err := Start(ctx, dir, slog.Default())
	if err != nil {
		t.Fatalf("start: %v", err)
	}
	t.Cleanup(func() { _ = s.Stop() })

	db, err := s.DB("")
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	var mode, charset string
	if err := db.QueryRow("SELECT @@GLOBAL.sql_mode, @@character_set_server").Scan(&mode, &charset); err != nil {
		t.Fatal(err)
	}
	if mode != SQLMode || charset != "utf8mb4" {
		t.Fatalf("sql_mode=%q charset=%q, want %q utf8mb4", mode, charset, SQLMode)
	}
	for _, q := range []string{
		"CREATE DATABASE shop",
		"CREATE TABLE shop.t (d DATETIME NULL)",
		"INSERT INTO shop.t VALUES ('0000-00-00 00:00:00')",
	} {
		if _, err := db.Exec(q); err != nil {
			t.Fatalf("%s: %v", q, err)
		}
	}
	// A second server on the same datadir must be refused with a clear error.
	_, err = Start(ctx, dir, slog.Default())
	var inUse *DatadirInUseError
	if !errors.As(err, &inUse) || inUse.PID != s.proc.PID() {
		t.Fatalf("second start on same dir: got %v, want DatadirInUseError naming pid %d", err, s.proc.PID())
	}
	db.Close()
	if err := s.Stop(); err != nil {
		t.Fatalf("stop: %v", err)
	}
	if c, err := net.Dial("tcp", net.JoinHostPort("127.0.0.1", strconv.Itoa(s.Port))); err == nil {
		c.Close()
		t.Fatalf("port %d still accepts connections after Stop", s.Port)
	}

	// Restart reuses the datadir: the table and its zero date survive.
	s2, err := Start(ctx, dir, slog.Default())
	if err != nil {
		t.Fatalf("restart: %v", err)
	}
	t.Cleanup(func() { _ = s2.Stop() })
	db2, err := s2.DB("shop")
	if err != nil {
		t.Fatal(err)
	}
	defer db2.Close()
	var d string
	if err := db2.QueryRow("SELECT d FROM t").Scan(&d); err != nil {
		t.Fatal(err)
	}
	if d != "0000-00-00 00:00:00" {
		t.Fatalf("zero datetime read back as %q", d)
	}
}

func TestStartErrors(t *testing.T) {
	testenv.NeedsServers(t)
	tests := []struct {
		name  string
		setup func(t *testing.T, dir string)
		check func(t *testing.T, err error)
	}{
		{
			name: "stale pid file of a dead process is ignored",
			setup: func(t *testing.T, dir string) {
				if err := os.WriteFile(filepath.Join(dir, "mariadbd.pid"), []byte("999999999\n"), 0o644); err != nil {
					t.Fatal(err)
				}
			},
			check: func(t *testing.T, err error) {
				if err != nil {
					t.Fatalf("start with stale pid file: %v", err)
				}
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := t.TempDir()
			tt.setup(t, dir)
			s, err := Start(context.Background(), dir, nil)
			if s != nil {
				t.Cleanup(func() { _ = s.Stop() })
			}
			tt.check(t, err)
		})
	}
}

func TestLookBinary(t *testing.T) {
	tests := []struct {
		name    string
		missing bool
	}{
		{"mariadbd", false},
		{"mariadb-install-db", false},
		{"mariadbd-not-installed", true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := lookBinary(tt.name)
			var missing *MissingBinaryError
			if got := errors.As(err, &missing); got != tt.missing {
				t.Fatalf("lookBinary(%q) = %v, want missing=%v", tt.name, err, tt.missing)
			}
			if tt.missing && !strings.Contains(err.Error(), "apt-get install -y mariadb-server") {
				t.Fatalf("error does not say how to install: %v", err)
			}
		})
	}
}
