package relocate_test

import (
	"bytes"
	"encoding/json"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"testing"

	"github.com/snaplake/snaplake/internal/export/relocate"
)

// buildSnaplake builds cmd/snaplake once into a temporary directory.
func buildSnaplake(t *testing.T) string {
	t.Helper()
	_, here, _, _ := runtime.Caller(0)
	root := filepath.Join(filepath.Dir(here), "..", "..", "..")
	bin := filepath.Join(t.TempDir(), "snaplake")
	cmd := exec.Command("go", "build", "-o", bin, "./cmd/snaplake")
	cmd.Dir = root
	cmd.Env = append(os.Environ(), "GOFLAGS=-mod=mod")
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("go build ./cmd/snaplake: %v\n%s", err, out)
	}
	return bin
}

func TestCLIRelocatePrintsSummaryLine(t *testing.T) {
	s := startFake(t)
	e := makeExport("db-cli", standardTables[2:])
	seed(t, s, e)
	bin := buildSnaplake(t)

	run := func(args ...string) (stdout, stderr string, code int) {
		cmd := exec.Command(bin, append([]string{"relocate"}, args...)...)
		// Only the server's variables: no profile or real credentials can leak in.
		cmd.Env = append(s.Env(), "HOME="+t.TempDir(), "AWS_EC2_METADATA_DISABLED=true")
		var out, errOut bytes.Buffer
		cmd.Stdout, cmd.Stderr = &out, &errOut
		err := cmd.Run()
		var exit *exec.ExitError
		if errors.As(err, &exit) {
			code = exit.ExitCode()
		} else if err != nil {
			t.Fatalf("run snaplake: %v", err)
		}
		return out.String(), errOut.String(), code
	}

	stdout, stderr, code := run("--bucket", bucket, "--export-id", e.id, "--snapshot-date", "2026-06-01", "--concurrency", "16")
	if code != 0 {
		t.Fatalf("exit %d, stderr:\n%s", code, stderr)
	}
	lines := strings.Split(strings.TrimSpace(stdout), "\n")
	if len(lines) != 1 {
		t.Fatalf("stdout has %d lines, want one JSON line:\n%s", len(lines), stdout)
	}
	var sum relocate.Summary
	if err := json.Unmarshal([]byte(lines[0]), &sum); err != nil {
		t.Fatalf("stdout is not a JSON summary: %v\n%s", err, stdout)
	}
	if sum.Moved != 570 || sum.Skipped != 9 || sum.Tables != 3 || !slices.Equal(sum.Databases, []string{"crm", "shop"}) || sum.Bytes <= 0 {
		t.Fatalf("summary %s, want 570 moved, 9 skipped, 3 tables of [crm shop]", lines[0])
	}
	if len(sum.Crawl) != 2 || sum.Crawl[1].Database != "shop" || !slices.Equal(sum.Crawl[1].Tables, []string{"orders"}) {
		t.Errorf("crawl targets %+v, want crm and shop with [orders]", sum.Crawl)
	}
	for _, field := range []string{`"moved":`, `"skipped":`, `"bytes":`, `"seconds":`, `"databases":`, `"tables":`, `"prunedPartitions":`, `"replaced":`,
		`"crawl":[{"database":"crm","folder":"crm","tables":["contacts","notes"]}`, `"problems":[]`} {
		if !strings.Contains(lines[0], field) {
			t.Errorf("summary line lacks %s: %s", field, lines[0])
		}
	}
	if !strings.Contains(stderr, "msg=\"relocate done\"") {
		t.Errorf("stderr lacks the slog text line of the finished run:\n%s", stderr)
	}
	assertRelocated(t, s.Client(), e, "data/", e.expectedDest("2026-06-01"))

	tests := []struct {
		name     string
		args     []string
		wantCode int
		wantErr  string
	}{
		{"missing flags", []string{"--bucket", bucket}, 2, "missing [--export-id --snapshot-date]"},
		{"unknown flag", []string{"--bukket", bucket}, 2, "flag provided but not defined"},
		{"zero concurrency", []string{"--bucket", bucket, "--export-id", e.id, "--snapshot-date", "2026-06-01", "--concurrency", "0"}, 2, "--concurrency must be at least 1"},
		{"bad date", []string{"--bucket", bucket, "--export-id", e.id, "--snapshot-date", "01/06/2026"}, 1, "invalid option SnapshotDate"},
		{"unknown export", []string{"--bucket", bucket, "--export-id", "nope", "--snapshot-date", "2026-06-01"}, 1, "export not found"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			stdout, stderr, code := run(tt.args...)
			if code != tt.wantCode || !strings.Contains(stderr, tt.wantErr) || stdout != "" {
				t.Fatalf("exit %d, stdout %q, stderr:\n%s\nwant exit %d and %q", code, stdout, stderr, tt.wantCode, tt.wantErr)
			}
		})
	}
}
