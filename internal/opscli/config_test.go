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
)

func TestConfigCommand(t *testing.T) {
	dir := t.TempDir()
	write := func(name, content string) string {
		path := filepath.Join(dir, name)
		if err := os.WriteFile(path, []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
		return path
	}
	valid := write("valid.yaml", "ingest:\n  source: {instance: shop-db, database: shop}\n")
	empty := write("empty.yaml", "# nothing configured yet\n")
	invalid := write("invalid.yaml", "ingest:\n  source:\n    instance: [shop-db]\n  timezone: UTC\n")
	syntax := write("syntax.yaml", "ingest:\n  source: [\n")

	tests := []struct {
		name      string
		args      []string
		wantErr   string // "" none; "usage" ErrUsage; else the error's text
		stdout    string // exact; "*" skips the check
		stderrHas []string
	}{
		{name: "valid", args: []string{"validate", valid}, stdout: valid + ": valid (sections: ingest)\n"},
		{name: "the README's example", args: []string{"validate", "testdata/snaplake.yaml"}, stdout: "testdata/snaplake.yaml: valid (sections: ingest)\n"},
		{name: "no sections", args: []string{"validate", empty}, stdout: empty + ": valid (sections: none)\n"},
		{
			name: "problems, one a line", args: []string{"validate", invalid},
			wantErr: invalid + ": 3 problems",
			stderrHas: []string{
				invalid + ":2:3: ingest.source.database: is required but missing\n" +
					invalid + ":3:15: ingest.source.instance: expected a string, got a list\n" +
					invalid + ":4:3: ingest.timezone: unknown field (known: source, timeZone, sets, tables, defaults, access)\n",
			},
		},
		{name: "a syntax error", args: []string{"validate", syntax}, wantErr: syntax + ": 1 problem", stderrHas: []string{syntax + ":2: did not find expected node content\n"}},
		{name: "missing file", args: []string{"validate", filepath.Join(dir, "absent.yaml")}, wantErr: "open " + filepath.Join(dir, "absent.yaml") + ": no such file or directory"},
		{name: "schema", args: []string{"schema"}, stdout: "*"},
		{name: "help", args: []string{"-h"}, stderrHas: []string{"snaplake config validate FILE", "config/snaplake.yaml"}},
		{name: "no subcommand", args: nil, wantErr: "usage", stderrHas: []string{"Usage:"}},
		{name: "unknown subcommand", args: []string{"check", valid}, wantErr: "usage", stderrHas: []string{`unknown subcommand "check"`}},
		{name: "validate without a file", args: []string{"validate"}, wantErr: "usage", stderrHas: []string{"want one FILE"}},
		{name: "validate two files", args: []string{"validate", valid, empty}, wantErr: "usage", stderrHas: []string{"want one FILE"}},
		{name: "validate a flag", args: []string{"validate", "--strict"}, wantErr: "usage", stderrHas: []string{"want one FILE"}},
		{name: "schema with an argument", args: []string{"schema", "json"}, wantErr: "usage", stderrHas: []string{`unexpected argument "json"`}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var stdout, stderr bytes.Buffer
			err := Config(context.Background(), tt.args, &stdout, &stderr)
			switch {
			case tt.wantErr == "" && err != nil:
				t.Errorf("err = %v, want none", err)
			case tt.wantErr == "usage" && !errors.Is(err, ErrUsage):
				t.Errorf("err = %v, want ErrUsage", err)
			case tt.wantErr != "" && tt.wantErr != "usage" && (err == nil || err.Error() != tt.wantErr):
				t.Errorf("err = %v, want %q", err, tt.wantErr)
			}
			if tt.stdout != "*" && stdout.String() != tt.stdout {
				t.Errorf("stdout = %q, want %q", stdout.String(), tt.stdout)
			}
			for _, s := range tt.stderrHas {
				if !strings.Contains(stderr.String(), s) {
					t.Errorf("stderr = %q, want it to contain %q", stderr.String(), s)
				}
			}
		})
	}
}

func TestConfigSchemaPrintsTheSchema(t *testing.T) {
	var stdout bytes.Buffer
	if err := Config(context.Background(), []string{"schema"}, &stdout, new(bytes.Buffer)); err != nil {
		t.Fatal(err)
	}
	var s struct {
		Schema     string         `json:"$schema"`
		Properties map[string]any `json:"properties"`
	}
	if err := json.Unmarshal(stdout.Bytes(), &s); err != nil {
		t.Fatalf("stdout is not JSON: %v", err)
	}
	if s.Schema != "https://json-schema.org/draft/2020-12/schema" || s.Properties["ingest"] == nil {
		t.Errorf("printed $schema %q, properties %v; want draft 2020-12 with ingest", s.Schema, s.Properties)
	}
}
