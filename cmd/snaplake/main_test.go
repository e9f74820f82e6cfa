package main

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestRunExitStatus checks the dispatcher's exit statuses: 0 done, 1 failed, 2 a
// command-line mistake (opscli.ErrUsage from any command), 130 interrupted.
func TestRunExitStatus(t *testing.T) {
	empty := t.TempDir()
	invalidConfig := filepath.Join(empty, "snaplake.yaml")
	if err := os.WriteFile(invalidConfig, []byte("federate: {}\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	canceled, cancel := context.WithCancel(context.Background())
	cancel()
	tests := []struct {
		name      string
		ctx       context.Context // nil: not canceled
		args      []string
		want      int
		stderrHas string
	}{
		{name: "no command", want: 2, stderrHas: "Usage:"},
		{name: "help", args: []string{"help"}, want: 0},
		{name: "unknown command", args: []string{"relocat"}, want: 2, stderrHas: `unknown command "relocat"`},
		{name: "relocate help", args: []string{"relocate", "-h"}, want: 0, stderrHas: "Usage: snaplake relocate"},
		{name: "relocate missing flags", args: []string{"relocate", "--bucket", "b"}, want: 2, stderrHas: "missing [--export-id --snapshot-date]"},
		{name: "doctor help", args: []string{"doctor", "-h"}, want: 0, stderrHas: "Usage: snaplake doctor"},
		{name: "doctor unexpected argument", args: []string{"doctor", "Snaplake"}, want: 2, stderrHas: `unexpected argument "Snaplake"`},
		{name: "config no subcommand", args: []string{"config"}, want: 2, stderrHas: "snaplake config validate FILE"},
		{name: "config validate no file", args: []string{"config", "validate"}, want: 2, stderrHas: "want one FILE"},
		{name: "config validate invalid", args: []string{"config", "validate", invalidConfig}, want: 1, stderrHas: "snaplake config: " + invalidConfig + ": 1 problem"},
		{name: "config schema", args: []string{"config", "schema"}, want: 0},
		{name: "demo unexpected argument", args: []string{"demo", "now"}, want: 2, stderrHas: "Usage: snaplake demo"},
		{name: "demo no rows", args: []string{"demo", "--rows", "0"}, want: 2, stderrHas: "Usage: snaplake demo"},
		{name: "query help", args: []string{"query", "-h"}, want: 0, stderrHas: "Usage: snaplake query"},
		{name: "query unknown flag", args: []string{"query", "--hom", empty, "SELECT 1"}, want: 2, stderrHas: "Usage: snaplake query"},
		{name: "query unknown format", args: []string{"query", "--home", empty, "--format", "xml", "SELECT 1"}, want: 2, stderrHas: `unknown format "xml"`},
		{name: "query no SQL", args: []string{"query", "--home", empty}, want: 2, stderrHas: "no SQL given"},
		{name: "query fails", args: []string{"query", "--home", empty, "SELECT 1"}, want: 1, stderrHas: "snaplake query: no local lake in " + empty},
		{name: "interrupted", ctx: canceled, args: []string{"query", "--home", empty, "SELECT 1"}, want: 130, stderrHas: "snaplake query: interrupted"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Setenv("SNAPLAKE_HOME", "")
			ctx := tt.ctx
			if ctx == nil {
				ctx = context.Background()
			}
			var stdout, stderr bytes.Buffer
			if got := run(ctx, tt.args, &stdout, &stderr); got != tt.want {
				t.Errorf("exit status = %d, want %d (stderr %q)", got, tt.want, stderr.String())
			}
			if !strings.Contains(stderr.String(), tt.stderrHas) {
				t.Errorf("stderr = %q, want it to contain %q", stderr.String(), tt.stderrHas)
			}
		})
	}
}
