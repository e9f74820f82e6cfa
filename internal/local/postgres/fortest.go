package postgres

import (
	"context"
	"log/slog"
	"os"
	"testing"
)

// StartForTest starts a server in t.TempDir() and stops it when the test ends.
func StartForTest(t testing.TB) *Server {
	t.Helper()
	log := slog.New(slog.NewTextHandler(testWriter{t}, &slog.HandlerOptions{Level: slog.LevelWarn}))
	s, err := Start(context.Background(), t.TempDir(), log)
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
func StartForMain(name string) (s *Server, stop func(), err error) {
	dir, err := os.MkdirTemp("", name+"-")
	if err != nil {
		return nil, nil, err
	}
	s, err = Start(context.Background(), dir, slog.New(slog.DiscardHandler))
	if err != nil {
		os.RemoveAll(dir)
		return nil, nil, err
	}
	return s, func() {
		s.Stop()
		os.RemoveAll(dir)
	}, nil
}
