package testenv

import (
	"context"
	"log/slog"
	"os"
	"testing"
)

// A Server is a local server a test starts in a directory of its own (MariaDB,
// PostgreSQL): start is its package's Start.
type Server interface{ Stop() error }

// StartServer starts name in t.TempDir() and stops it when the test ends, logging its
// warnings to the test. Under -short it skips t: the fast tier starts no server.
func StartServer[S Server](t testing.TB, name string, start func(context.Context, string, *slog.Logger) (S, error)) S {
	t.Helper()
	NeedsServers(t)
	log := slog.New(slog.NewTextHandler(testWriter{t}, &slog.HandlerOptions{Level: slog.LevelWarn}))
	s, err := start(context.Background(), t.TempDir(), log)
	if err != nil {
		t.Fatalf("start %s: %v", name, err)
	}
	t.Cleanup(func() {
		if err := s.Stop(); err != nil {
			t.Errorf("stop %s: %v", name, err)
		}
	})
	return s
}

// StartServerForMain starts one server for a whole test binary, from TestMain, in a
// new temporary directory; stop shuts it down and removes the directory. A TestMain
// under -short should not call it: see SkipPackage.
func StartServerForMain[S Server](name string, start func(context.Context, string, *slog.Logger) (S, error)) (s S, stop func(), err error) {
	dir, err := os.MkdirTemp("", name+"-")
	if err != nil {
		return s, nil, err
	}
	s, err = start(context.Background(), dir, slog.New(slog.DiscardHandler))
	if err != nil {
		os.RemoveAll(dir)
		return s, nil, err
	}
	return s, func() {
		s.Stop()
		os.RemoveAll(dir)
	}, nil
}

type testWriter struct{ t testing.TB }

func (w testWriter) Write(p []byte) (int, error) {
	w.t.Log(string(p))
	return len(p), nil
}
