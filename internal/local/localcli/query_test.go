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

	"github.com/snaplake/snaplake/internal/deploy"
	"github.com/snaplake/snaplake/internal/local/contract"
	"github.com/snaplake/snaplake/internal/local/glue"
	"github.com/snaplake/snaplake/internal/local/lake"
	"github.com/snaplake/snaplake/internal/opscli"
)

type queryTestRow struct {
	ID    int64  `parquet:"id"`
	Agent string `parquet:"agent"`
}

// queryTestHome lays out a home as `snaplake demo` and `snaplake demo ingest` leave
// it, in the bucket of the offline contract: catalog.json and the local S3 server's
// files under s3/. The same files are an ingested table of raw_warehouse, under raw/
// (registered with Lake Formation), and a nightly snapshot table of warehouse, under
// data/ (governed by IAM alone).
func queryTestHome(t *testing.T) string {
	t.Helper()
	home := t.TempDir()
	cat, err := glue.OpenCatalog(filepath.Join(home, "catalog.json"))
	if err != nil {
		t.Fatal(err)
	}
	bucket := contract.MustLoad().Bucket
	for db, base := range map[string]string{"raw_warehouse": "raw/warehouse/file_downloads/", "warehouse": "data/warehouse/file_downloads/"} {
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
			path := lake.ObjectPath(filepath.Join(home, "s3"), bucket, base+"snapshot_date="+date+"/1/part-00000.gz.parquet")
			if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
				t.Fatal(err)
			}
			if err := os.WriteFile(path, buf.Bytes(), 0o644); err != nil {
				t.Fatal(err)
			}
		}
		err = cat.Put(glue.Table{
			Database: db, Name: "file_downloads", Location: "s3://" + bucket + "/" + base,
			Columns:       []glue.Column{{Name: "id", Type: "bigint"}, {Name: "agent", Type: "string"}},
			PartitionKeys: []glue.Column{{Name: "snapshot_date", Type: "string"}},
			Partitions:    []string{"2026-11-19", "2026-11-20"},
		})
		if err != nil {
			t.Fatal(err)
		}
	}
	// The snapshot's latest table, as the night's latest step leaves it: the newest
	// folder, unpartitioned.
	err = cat.Put(glue.Table{
		Database: deploy.LatestDatabaseName("warehouse"), Name: "file_downloads",
		Location: "s3://" + bucket + "/data/warehouse/file_downloads/snapshot_date=2026-11-20/",
		Columns:  []glue.Column{{Name: "id", Type: "bigint"}, {Name: "agent", Type: "string"}},
	})
	if err != nil {
		t.Fatal(err)
	}
	return home
}

const latestCount = `SELECT count(*) AS n FROM raw_warehouse.file_downloads
  WHERE snapshot_date = (SELECT max(snapshot_date) FROM "raw_warehouse"."file_downloads$partitions")`

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
			args:   []string{"--format", "csv", "SELECT snapshot_date, count(*) AS n FROM raw_warehouse.file_downloads GROUP BY 1 ORDER BY 1"},
			stdout: "snapshot_date,n\n2026-11-19,2\n2026-11-20,3\n"},
		{name: "json, SQL in several arguments", args: []string{"-home=" + home, "-format=json", "SELECT", "*", `FROM "raw_warehouse"."file_downloads$partitions" ORDER BY 1`},
			stdout: "[\n  {\"snapshot_date\": \"2026-11-19\"},\n  {\"snapshot_date\": \"2026-11-20\"}\n]\n"},
		{name: "no lake yet", args: []string{"--home", empty, "SELECT 1"},
			errHas: "no local lake in " + empty + ": run `snaplake demo` (or `make demo`) first"},
		{name: "unknown table", args: []string{"--home", home, "SELECT * FROM raw_warehouse.downloads"},
			errHas: "table raw_warehouse.downloads does not exist; tables: raw_warehouse.file_downloads, warehouse.file_downloads"},
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

const accessConfig = `ingest:
  source:
    instance: shop-db
    database: Warehouse
  access:
    - role: support
      tables: [Users]
      columns:
        Users: [id, name]
    - role: arn:aws:iam::111122223333:role/analytics
      tables: ["*", "snapshots:warehouse.*"]
    - role: downloads
      tables: [file_downloads]
    - role: snapshots-support
      tables: ["snapshots:warehouse.file_downloads"]
      columns:
        "snapshots:warehouse.file_downloads": [id, snapshot_date]
`

func TestQueryAs(t *testing.T) {
	home := queryTestHome(t)
	cat, err := glue.OpenCatalog(filepath.Join(home, "catalog.json"))
	if err != nil {
		t.Fatal(err)
	}
	// Catalogued with no files: an empty table, which needs no Parquet here.
	err = cat.Put(glue.Table{
		Database: "raw_warehouse", Name: "users", Location: "s3://" + contract.MustLoad().Bucket + "/raw/warehouse/users/",
		Columns:       []glue.Column{{Name: "id", Type: "bigint"}, {Name: "name", Type: "string"}, {Name: "email", Type: "string"}},
		PartitionKeys: []glue.Column{{Name: "snapshot_date", Type: "string"}},
	})
	if err != nil {
		t.Fatal(err)
	}
	cfg := filepath.Join(t.TempDir(), "snaplake.yaml")
	if err := os.WriteFile(cfg, []byte(accessConfig), 0o644); err != nil {
		t.Fatal(err)
	}
	// The analyst policy with access to raw_warehouse, as issue 12 has the stack publish
	// it: these cases are about the grants (TestQueryAsAnalystPolicy is about the policy).
	policy := writePolicy(t, withRaw(analystPolicy(t)))
	as := func(role string, sql ...string) []string {
		return append([]string{"--home", home, "--format", "csv", "--as", role, "--config", cfg, "--policy", policy}, sql...)
	}
	tests := []struct {
		name      string
		args      []string
		wantErr   error
		errIs     string // the whole error message
		errHas    string
		stdout    string
		stderrHas string
	}{
		{name: "granted columns only, SELECT *", args: as("support", "SELECT * FROM raw_warehouse.users"),
			stdout: "id,name\n"},
		{name: "role as the ARN of the offline account", args: as("arn:aws:iam::000000000000:role/support", "SELECT id, name FROM users"),
			stdout: "id,name\n"},
		{name: "ungranted column", args: as("support", "SELECT id, email FROM raw_warehouse.users"),
			errIs: "column raw_warehouse.users.email is not granted to role support (Lake Formation)"},
		{name: "ungranted table", args: as("support", latestCount),
			errIs: "table raw_warehouse.file_downloads is not granted to role support (Lake Formation)"},
		{name: "table grant", args: as("downloads", latestCount), stdout: "n\n3\n"},
		{name: "table grant does not give other tables", args: as("downloads", "SELECT count(*) FROM raw_warehouse.users"),
			errIs: "table raw_warehouse.users is not granted to role downloads (Lake Formation)"},
		{name: "wildcard, role by name matching a rule's ARN", args: as("analytics",
			"SELECT (SELECT count(*) FROM raw_warehouse.users) AS u, (SELECT count(*) FROM raw_warehouse.file_downloads) AS d"),
			stdout: "u,d\n0,5\n"},
		{name: "unknown table lists the granted ones", args: as("support", "SELECT * FROM raw_warehouse.nope"),
			errIs: "table raw_warehouse.nope does not exist; tables: raw_warehouse.users"},
		// The same rules govern the nightly snapshots and their _latest tables.
		{name: "snapshot table, granted columns only", args: as("snapshots-support", "SELECT * FROM warehouse.file_downloads ORDER BY snapshot_date, id LIMIT 3"),
			stdout: "id,snapshot_date\n1,2026-11-19\n2,2026-11-19\n1,2026-11-20\n"},
		{name: "latest table, granted columns only (no snapshot_date there)", args: as("snapshots-support", "SELECT * FROM warehouse_latest.file_downloads ORDER BY id"),
			stdout: "id\n1\n2\n3\n"},
		{name: "latest table, ungranted column", args: as("snapshots-support", "SELECT agent FROM warehouse_latest.file_downloads"),
			errIs: "column warehouse_latest.file_downloads.agent is not granted to role snapshots-support (Lake Formation)"},
		{name: "snapshot table, ungranted column", args: as("snapshots-support", "SELECT agent FROM warehouse.file_downloads"),
			errIs: "column warehouse.file_downloads.agent is not granted to role snapshots-support (Lake Formation)"},
		{name: "snapshot table, no grant", args: as("support", "SELECT count(*) FROM warehouse.file_downloads"),
			errIs: "table warehouse.file_downloads is not granted to role support (Lake Formation)"},
		{name: "latest table, no grant", args: as("downloads", "SELECT count(*) FROM warehouse_latest.file_downloads"),
			errIs: "table warehouse_latest.file_downloads is not granted to role downloads (Lake Formation)"},
		{name: "snapshot wildcard: every night, and the latest one", args: as("analytics",
			"SELECT (SELECT count(*) FROM warehouse.file_downloads) AS every, (SELECT count(*) FROM warehouse_latest.file_downloads) AS latest"),
			stdout: "every,latest\n5,3\n"},
		{name: "unknown role", args: as("nobody", "SELECT 1"),
			errIs: "role nobody has no access rule in " + cfg + "; roles: arn:aws:iam::111122223333:role/analytics, downloads, snapshots-support, support"},
		{name: "missing policy", args: []string{"--home", home, "--as", "support", "--config", cfg, "--policy", policy + ".nope", "SELECT 1"},
			errHas: "read --policy: open " + policy + ".nope"},
		{name: "missing config", args: []string{"--home", home, "--as", "support", "--config", cfg + ".nope", "SELECT 1"},
			errHas: cfg + ".nope"},
		{name: "--as without --config and no grants applied in the home", args: []string{"--home", home, "--as", "support", "SELECT 1"},
			errIs: "no Lake Formation grants in " + home + ": run `snaplake demo ingest` first, or give --config"},
		{name: "--config without --as", args: []string{"--home", home, "--config", cfg, "SELECT 1"},
			wantErr: opscli.ErrUsage, stderrHas: "--config and --policy are only used with --as"},
		{name: "--policy without --as", args: []string{"--home", home, "--policy", policy, "SELECT 1"},
			wantErr: opscli.ErrUsage, stderrHas: "--config and --policy are only used with --as"},
		{name: "without --as every table and column", args: []string{"--home", home, "--format", "csv",
			"SELECT email FROM raw_warehouse.users UNION ALL SELECT agent FROM sales_nothing.x"},
			errHas: "table sales_nothing.x does not exist; tables: raw_warehouse.file_downloads, raw_warehouse.users, warehouse.file_downloads, warehouse_latest.file_downloads"},
		{name: "without --as nothing changes", args: []string{"--home", home, "--format", "csv", "SELECT * FROM raw_warehouse.users"},
			stdout: "id,name,email,snapshot_date\n"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var stdout, stderr bytes.Buffer
			err := Query(context.Background(), tt.args, &stdout, &stderr)
			switch {
			case tt.wantErr != nil:
				if !errors.Is(err, tt.wantErr) {
					t.Errorf("error = %v, want %v", err, tt.wantErr)
				}
			case tt.errIs != "":
				if err == nil || err.Error() != tt.errIs {
					t.Errorf("error = %v (stdout %q), want %q", err, stdout.String(), tt.errIs)
				}
			case tt.errHas != "":
				if err == nil || !strings.Contains(err.Error(), tt.errHas) {
					t.Errorf("error = %v, want it to contain %q", err, tt.errHas)
				}
			case err != nil:
				t.Fatalf("error = %v (stderr %s)", err, stderr.String())
			}
			if stdout.String() != tt.stdout {
				t.Errorf("stdout = %q, want %q", stdout.String(), tt.stdout)
			}
			if !strings.Contains(stderr.String(), tt.stderrHas) {
				t.Errorf("stderr = %q, want it to contain %q", stderr.String(), tt.stderrHas)
			}
		})
	}
}
