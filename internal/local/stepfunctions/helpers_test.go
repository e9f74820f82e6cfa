package stepfunctions

import (
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"testing"
	"time"
)

// testLogger is quiet unless SNAPLAKE_TEST_LOG is set: expected failures would drown the output.
func testLogger() *slog.Logger {
	if os.Getenv("SNAPLAKE_TEST_LOG") != "" {
		return slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelDebug}))
	}
	return slog.New(slog.NewTextHandler(io.Discard, nil))
}

func newRunner(t testing.TB, tasks TaskFunc) *Runner {
	t.Helper()
	return &Runner{Tasks: tasks, Tokens: NewTokens(), RetryInterval: 10 * time.Millisecond, Log: testLogger()}
}

func readDef(t testing.TB, name string) []byte {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("testdata", name))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// run starts one execution and waits for it, failing the test on infrastructure errors.
func run(t testing.TB, r *Runner, name string, def []byte, input string) Result {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	t.Cleanup(cancel)
	e, err := r.Start(ctx, name, def, []byte(input))
	if err != nil {
		t.Fatalf("start %s: %v", name, err)
	}
	res, err := e.Wait()
	if err != nil {
		t.Fatalf("wait %s: %v", name, err)
	}
	return res
}

// waitFor polls cond until it holds or 10 s have passed.
func waitFor(t testing.TB, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

func jsonField(t testing.TB, raw json.RawMessage, path ...string) any {
	t.Helper()
	var v any
	if err := json.Unmarshal(raw, &v); err != nil {
		t.Fatalf("decode %s: %v", raw, err)
	}
	for _, p := range path {
		m, ok := v.(map[string]any)
		if !ok {
			t.Fatalf("%s: no object at %s", raw, p)
		}
		v = m[p]
	}
	return v
}
