package main

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/spf13/cobra"
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

// commandPaths is every command of the tree below root, as the words that run it.
func commandPaths(c *cobra.Command, prefix []string) [][]string {
	var out [][]string
	for _, s := range c.Commands() {
		if !s.IsAvailableCommand() && s.Name() != "help" {
			continue
		}
		p := append(append([]string(nil), prefix...), s.Name())
		out = append(out, p)
		out = append(out, commandPaths(s, p)...)
	}
	return out
}

// TestHelpEveryCommand runs every command and subcommand with --help, -h and as
// `help <command>`: each exits 0 and prints a usage that names the command.
func TestHelpEveryCommand(t *testing.T) {
	root := newRoot()
	root.InitDefaultHelpCmd()
	root.InitDefaultCompletionCmd()
	paths := commandPaths(root, nil)
	if len(paths) < 20 {
		t.Fatalf("only %d commands found: %v", len(paths), paths)
	}
	for _, p := range paths {
		name := "snaplake " + strings.Join(p, " ")
		for _, args := range [][]string{append(p, "--help"), append(p, "-h"), append([]string{"help"}, p...)} {
			t.Run(strings.Join(args, " "), func(t *testing.T) {
				var stdout, stderr bytes.Buffer
				if got := run(context.Background(), args, &stdout, &stderr); got != 0 {
					t.Fatalf("exit status = %d, want 0 (stderr %q)", got, stderr.String())
				}
				usage := stdout.String() + stderr.String()
				if !strings.Contains(usage, name) {
					t.Errorf("usage does not name %q:\n%s", name, usage)
				}
			})
		}
	}
}

// TestRootUsageListsEveryCommand checks that `snaplake --help` and `snaplake` alone
// name every command and subcommand, demo ingest and demo federate included.
func TestRootUsageListsEveryCommand(t *testing.T) {
	root := newRoot()
	root.InitDefaultHelpCmd()
	root.InitDefaultCompletionCmd()
	for _, args := range [][]string{{"--help"}, nil} {
		var stdout, stderr bytes.Buffer
		run(context.Background(), args, &stdout, &stderr)
		for _, p := range commandPaths(root, nil) {
			if p[0] == "completion" && len(p) > 1 {
				p = []string{"completion bash|zsh|fish|powershell"}
			}
			name := "  snaplake " + strings.Join(p, " ") + " "
			if !strings.Contains(stderr.String(), name) {
				t.Errorf("snaplake %v: usage does not list %q:\n%s", args, name, stderr.String())
			}
		}
		for _, want := range []string{"snaplake demo ingest", "snaplake demo federate", "snaplake completion"} {
			if !strings.Contains(stderr.String(), want) {
				t.Errorf("usage lacks %q", want)
			}
		}
	}
}

// TestSingleDashFlags checks that the Go flag package's -flag spelling still works.
func TestSingleDashFlags(t *testing.T) {
	var stdout, stderr bytes.Buffer
	if got := run(context.Background(), []string{"relocate", "-bucket", "b", "-export-id=x"}, &stdout, &stderr); got != 2 || !strings.Contains(stderr.String(), "missing [--snapshot-date]") {
		t.Errorf("exit %d, stderr %q: want 2 and only --snapshot-date missing", got, stderr.String())
	}
	stderr.Reset()
	if got := run(context.Background(), []string{"doctor", "-help"}, &stdout, &stderr); got != 0 || !strings.Contains(stderr.String(), "Usage: snaplake doctor") {
		t.Errorf("doctor -help: exit %d, stderr %q", got, stderr.String())
	}
}

// TestCompletion checks that cobra's completion scripts are there.
func TestCompletion(t *testing.T) {
	for _, shell := range []string{"bash", "zsh", "fish", "powershell"} {
		var stdout, stderr bytes.Buffer
		if got := run(context.Background(), []string{"completion", shell}, &stdout, &stderr); got != 0 || !strings.Contains(stdout.String(), "snaplake") {
			t.Errorf("completion %s: exit %d, %d bytes, stderr %q", shell, got, stdout.Len(), stderr.String())
		}
	}
}
