package run

import (
	"errors"
	"log/slog"
	"testing"

	"github.com/snaplake/snaplake/internal/aws/lambdamain"
	"github.com/snaplake/snaplake/internal/deploy"
	"github.com/snaplake/snaplake/internal/export/relocate"
)

// Each constructor refuses an environment without the bucket with the one
// environment error, naming the variable.
func TestConstructorsNameTheMissingVariable(t *testing.T) {
	none := func(string) string { return "" }
	log := slog.Default()
	for name, build := range map[string]func() (lambdamain.Func, error){
		deploy.FnStartExport:   func() (lambdamain.Func, error) { return NewStartExport(none, StartExportClients{}, log) },
		deploy.FnAwaitCallback: func() (lambdamain.Func, error) { return NewAwaitCallback(none, AwaitCallbackClients{}, log) },
		deploy.FnResume:        func() (lambdamain.Func, error) { return NewResume(none, ResumeClients{}, log) },
		deploy.FnRelocate: func() (lambdamain.Func, error) {
			return NewRelocate(none, RelocateClients{S3: func(int) (relocate.API, error) { return nil, nil }}, log)
		},
	} {
		h, err := build()
		var ee *deploy.EnvError
		if h != nil || !errors.As(err, &ee) || ee.Var != deploy.EnvBucket {
			t.Errorf("%s without %s: %v, want a *deploy.EnvError naming it", name, deploy.EnvBucket, err)
		}
	}
}

// The relocate function sizes its S3 client to the concurrency it is deployed with.
func TestNewRelocateSizesItsClient(t *testing.T) {
	env := map[string]string{deploy.EnvBucket: "lake", deploy.EnvConcurrency: "8"}
	var got int
	h, err := NewRelocate(func(k string) string { return env[k] }, RelocateClients{S3: func(c int) (relocate.API, error) { got = c; return nil, nil }}, slog.Default())
	if err != nil || h == nil || got != 8 {
		t.Fatalf("NewRelocate: handler %v, err %v, client for concurrency %d; want 8", h != nil, err, got)
	}
}
