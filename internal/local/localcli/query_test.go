package localcli

import (
	"bytes"
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/parquet-go/parquet-go"

	"github.com/snaplake/snaplake/internal/local/glue"
	"github.com/snaplake/snaplake/internal/local/lake"
	"github.com/snaplake/snaplake/internal/opscli"
)

type queryTestRow struct {
	ID    int64  `parquet:"id"`
	Agent string `parquet:"agent"`
}

// queryTestHome lays out a home as `snaplake demo` leaves it: catalog.json and the
// local S3 server's files under s3/.
func queryTestHome(t *testing.T) string {
	t.Helper()
	home := t.TempDir()
	cat, err := glue.OpenCatalog(filepath.Join(home, "catalog.json"))
	if err != nil {
		t.Fatal(err)
	}
	base := "data/warehouse/file_downloads/"
	counts := map[string]int{"2026-11-19": 2, "2026-11-20": 3}
	for date, n := range counts {
		var buf bytes.Buffer
		w := parquet.NewGenericWriter[queryTestRow](&buf, parquet.Compression(&parquet.Gzip))
		rows := make([]queryTestRow, n)
		for i := range rows {
			rows[i] = queryTestRow{ID: int64(i + 1), Agent: "curl"}
		}
		if _, err := w.Write(rows); err != nil {
			t.Fatal(err)
		}
		if err := w.Close(); err != nil {
			t.Fatal(err)
		}
		path := lake.ObjectPath(filepath.Join(home, "s3"), "snaplake-lake", base+"snapshot_date="+date+"/1/part-00000.gz.parquet")
		if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(path, buf.Bytes(), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	err = cat.Put(glue.Table{
		Database: "warehouse", Name: "file_downloads", Location: "s3://snaplake-lake/" + base,
		Columns:       []glue.Column{{Name: "id", Type: "bigint"}, {Name: "agent", Type: "string"}},
		PartitionKeys: []glue.Column{{Name: "snapshot_date", Type: "string"}},
		Partitions:    []string{"2026-11-19", "2026-11-20"},
	})
	if err != nil {
		t.Fatal(err)
	}
	return home
}

const latestCount = `SELECT count(*) AS n FROM warehouse.file_downloads
  WHERE snapshot_date = (SELECT max(snapshot_date) FROM "warehouse"."file_downloads$partitions")`

func TestQuery(t *testing.T) {
	home := queryTestHome(t)
	empty := t.TempDir()
	tests := []struct {
		name      string
		env       string // SNAPLAKE_HOME
		args      []string
		wantErr   error  // errors.Is target, when the error is a sentinel
		errHas    string // substring of the error, when one is expected
		stdout    string
		stderrHas string
	}{
		{name: "table", args: []string{"--home", home, latestCount},
			stdout: " n\n---\n 3\n(1 row)\n"},
		{name: "home from SNAPLAKE_HOME, csv", env: home,
			args:   []string{"--format", "csv", "SELECT snapshot_date, count(*) AS n FROM warehouse.file_downloads GROUP BY 1 ORDER BY 1"},
			stdout: "snapshot_date,n\n2026-11-19,2\n2026-11-20,3\n"},
		{name: "json, SQL in several arguments", args: []string{"-home=" + home, "-format=json", "SELECT", "*", `FROM "warehouse"."file_downloads$partitions" ORDER BY 1`},
			stdout: "[\n  {\"snapshot_date\": \"2026-11-19\"},\n  {\"snapshot_date\": \"2026-11-20\"}\n]\n"},
		{name: "no lake yet", args: []string{"--home", empty, "SELECT 1"},
			errHas: "no local lake in " + empty + ": run `snaplake demo` (or `make demo`) first"},
		{name: "unknown table", args: []string{"--home", home, "SELECT * FROM warehouse.downloads"},
			errHas: "table warehouse.downloads does not exist; tables: warehouse.file_downloads"},
		{name: "bad SQL", args: []string{"--home", home, "SELEC 1"},
			errHas: "syntax error"},
		{name: "unknown flag", args: []string{"--hom", home, "SELECT 1"},
			wantErr: opscli.ErrUsage, stderrHas: "Usage: snaplake query"},
		{name: "unknown format", args: []string{"--home", home, "--format", "xml", "SELECT 1"},
			wantErr: opscli.ErrUsage, stderrHas: `unknown format "xml"`},
		{name: "no SQL", args: []string{"--home", home},
			wantErr: opscli.ErrUsage, stderrHas: "no SQL given"},
		{name: "help", args: []string{"-h"}, stderrHas: "Usage: snaplake query"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Setenv("SNAPLAKE_HOME", tt.env)
			var stdout, stderr bytes.Buffer
			err := Query(context.Background(), tt.args, &stdout, &stderr)
			switch {
			case tt.wantErr != nil:
				if !errors.Is(err, tt.wantErr) {
					t.Errorf("error = %v, want %v", err, tt.wantErr)
				}
			case tt.errHas != "":
				if err == nil || !strings.Contains(err.Error(), tt.errHas) {
					t.Errorf("error = %v, want it to contain %q", err, tt.errHas)
				}
			case err != nil:
				t.Fatalf("error = %v (stderr %s)", err, stderr.String())
			}
			if tt.stdout != "" && stdout.String() != tt.stdout {
				t.Errorf("stdout = %q, want %q", stdout.String(), tt.stdout)
			}
			if !strings.Contains(stderr.String(), tt.stderrHas) {
				t.Errorf("stderr = %q, want it to contain %q", stderr.String(), tt.stderrHas)
			}
		})
	}
}

func TestQueryHomeDefault(t *testing.T) {
	t.Setenv("SNAPLAKE_HOME", "")
	if got := resolveHome(""); got != ".snaplake" {
		t.Errorf("resolveHome() = %q, want .snaplake", got)
	}
	t.Setenv("SNAPLAKE_HOME", "/srv/lake")
	if got := resolveHome(""); got != "/srv/lake" {
		t.Errorf("resolveHome() with SNAPLAKE_HOME = %q, want /srv/lake", got)
	}
	if got := resolveHome("/x"); got != "/x" {
		t.Errorf("resolveHome(/x) = %q, want /x", got)
	}
}
