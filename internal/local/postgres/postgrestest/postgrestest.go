// Package postgrestest starts a local PostgreSQL for tests. It lives apart from package postgres so
// that only tests link "testing"; the operator binary imports postgres alone.
package postgrestest

import (
	"context"
	"log/slog"
	"os"
	"testing"

	"github.com/snaplake/snaplake/internal/local/postgres"
	"github.com/snaplake/snaplake/internal/local/testenv"
)

// Start starts a server in t.TempDir() and stops it when the test ends. Under -short
// it skips t instead: the fast tier starts no server.
func Start(t testing.TB) *postgres.Server {
	t.Helper()
	testenv.NeedsServers(t)
	log := slog.New(slog.NewTextHandler(testWriter{t}, &slog.HandlerOptions{Level: slog.LevelWarn}))
	s, err := postgres.Start(context.Background(), t.TempDir(), log)
	if err != nil {
		t.Fatalf("start postgres: %v", err)
	}
	t.Cleanup(func() {
		if err := s.Stop(); err != nil {
			t.Errorf("stop postgres: %v", err)
		}
	})
	return s
}

type testWriter struct{ t testing.TB }

func (w testWriter) Write(p []byte) (int, error) {
	w.t.Log(string(p))
	return len(p), nil
}

// StartForMain starts one server for a whole test binary, from TestMain, in a new
// temporary directory; stop shuts it down and removes the directory.
// A TestMain that calls it under -short should not: see testenv.SkipPackage.
func StartForMain(name string) (s *postgres.Server, stop func(), err error) {
	dir, err := os.MkdirTemp("", name+"-")
	if err != nil {
		return nil, nil, err
	}
	s, err = postgres.Start(context.Background(), dir, slog.New(slog.DiscardHandler))
	if err != nil {
		os.RemoveAll(dir)
		return nil, nil, err
	}
	return s, func() {
		s.Stop()
		os.RemoveAll(dir)
	}, nil
}
