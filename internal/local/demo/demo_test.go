package demo

import (
	"bytes"
	"context"
	"errors"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/snaplake/snaplake/internal/deploy"
	"github.com/snaplake/snaplake/internal/local/glue"
	"github.com/snaplake/snaplake/internal/local/iam"
	"github.com/snaplake/snaplake/internal/local/lake"
	"github.com/snaplake/snaplake/internal/local/offline"
	"github.com/snaplake/snaplake/internal/local/sampledb"
	"github.com/snaplake/snaplake/internal/local/stepfunctions"
)

// TestNightsEndToEnd runs the offline pipeline night after night at a small size
// against a real MariaDB, a real S3 server (versitygw) and the real state machine,
// and checks what an analyst would see.
func TestNightsEndToEnd(t *testing.T) {
	ctx := context.Background()
	home := t.TempDir()
	var allowed []iam.Grant
	run := func(opts Options) (Report, string, error) {
		t.Helper()
		var out bytes.Buffer
		opts.Home, opts.Rows, opts.Out = home, 20_000, &out
		rep, err := Run(ctx, opts)
		allowed = append(allowed, rep.Allowed...)
		if testing.Verbose() {
			t.Logf("demo output:\n%s", out.String())
		}
		return rep, out.String(), err
	}
	lk := func() *lake.Lake { t.Helper(); return openLake(t, home) }
	query := func(sql string) [][]string { t.Helper(); return queryRows(t, home, sql) }
	one := func(sql string) string { t.Helper(); return queryOne(t, home, sql) }

	// Night 1.
	first, out, err := run(Options{})
	if err != nil {
		t.Fatalf("first night: %v\n%s", err, out)
	}
	if len(first.Executions) != 1 || first.Executions[0].Status != stepfunctions.StatusSucceeded {
		t.Fatalf("executions = %+v", first.Executions)
	}
	for _, want := range []string{"MariaDB", "snapshot rds:snaplake-demo-", "export", "relocate", "crawl snaplake-warehouse", "Analyst query", "(5 rows)"} {
		if !strings.Contains(out, want) {
			t.Errorf("output lacks %q", want)
		}
	}
	if got := sum(first.SourceCounts); got < 19_000 || got > 21_000 {
		t.Errorf("source rows = %d, want about 20,000", got)
	}
	// Every source table's row count equals the lake's for that snapshot.
	for table, n := range first.SourceCounts {
		got := one(fmt.Sprintf("SELECT count(*) FROM warehouse.%s WHERE snapshot_date = '%s'", table, first.SnapshotDate))
		if got != fmt.Sprint(n) {
			t.Errorf("%s: lake has %s rows for %s, the snapshot %d", table, got, first.SnapshotDate, n)
		}
	}
	// Exactly the source tables are tables: no metadata file became one.
	cat, _ := glue.OpenCatalog(filepath.Join(home, "catalog.json"))
	tables, err := cat.Tables(sampledb.Database)
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, tb := range tables {
		names = append(names, tb.Name)
		if len(tb.PartitionKeys) != 1 || tb.PartitionKeys[0].Name != "snapshot_date" {
			t.Errorf("table %s partition keys %v", tb.Name, tb.PartitionKeys)
		}
	}
	slices.Sort(names)
	want := slices.Clone(sampledb.Tables)
	slices.Sort(want)
	if !slices.Equal(names, want) {
		t.Errorf("catalog tables %v, want exactly %v", names, want)
	}
	// The stack's databases, as deployed; the crawler added none.
	if dbs, _ := cat.Databases(); !slices.Equal(dbs, deployed().GlueDatabases) {
		t.Errorf("catalog databases %v, want the stack's %v", dbs, deployed().GlueDatabases)
	}
	// Each snapshot table has its latest table, at this night's folder.
	latestDB := deploy.LatestDatabaseName(sampledb.Database)
	for table, n := range first.SourceCounts {
		if got := one(fmt.Sprintf("SELECT count(*) FROM %s.%s", latestDB, table)); got != fmt.Sprint(n) {
			t.Errorf("%s.%s has %s rows after the first night, the snapshot %d", latestDB, table, got, n)
		}
	}

	// Types survive: compare values with MariaDB's own rendering of the snapshot.
	d := first.SnapshotDate
	checks := []struct{ lakeSQL, want string }{
		{fmt.Sprintf("SELECT typeof(storage_quota_gb) FROM warehouse.projects WHERE snapshot_date='%s' LIMIT 1", d), "DECIMAL(12,2)"},
		{fmt.Sprintf("SELECT CAST(storage_quota_gb AS VARCHAR) FROM warehouse.projects WHERE id = 1 AND snapshot_date='%s'", d), "1047.29"},
		{fmt.Sprintf("SELECT count(*) FROM warehouse.projects WHERE storage_quota_gb IS NULL AND snapshot_date='%s'", d), fmt.Sprint(first.SourceCounts["projects"] / 7)},
		{fmt.Sprintf("SELECT typeof(created_on) FROM warehouse.files WHERE snapshot_date='%s' LIMIT 1", d), "TIMESTAMP"},
		{fmt.Sprintf("SELECT strftime(created_on, '%%Y-%%m-%%d %%H:%%M:%%S.%%g') FROM warehouse.files WHERE id = 1 AND snapshot_date='%s'", d), "2024-02-11 00:00:07.919"},
		{fmt.Sprintf("SELECT display_name FROM warehouse.users WHERE id = 47 AND snapshot_date='%s'", d), "Łukasz 🚀 Launch"},
		{fmt.Sprintf("SELECT CAST(content_size AS VARCHAR) FROM warehouse.files WHERE id = 4999 AND snapshot_date='%s'", d), fmt.Sprint(uint64(4999*1000003) % 5000000000)},
		// '0000-00-00 00:00:00' in MySQL becomes NULL, as RDS export writes it; NULL stays NULL.
		{fmt.Sprintf("SELECT CAST(last_login IS NULL AS VARCHAR) FROM warehouse.users WHERE id = 13 AND snapshot_date='%s'", d), "true"},
		{fmt.Sprintf("SELECT CAST(last_login IS NULL AS VARCHAR) FROM warehouse.users WHERE id = 11 AND snapshot_date='%s'", d), "true"},
		{fmt.Sprintf("SELECT CAST(last_login IS NULL AS VARCHAR) FROM warehouse.users WHERE id = 12 AND snapshot_date='%s'", d), "false"},
		{fmt.Sprintf("SELECT count(*) FROM warehouse.projects WHERE description IS NULL AND snapshot_date='%s'", d), fmt.Sprint(first.SourceCounts["projects"] / 5)},
		{fmt.Sprintf("SELECT client FROM warehouse.file_downloads WHERE id = 2 AND snapshot_date='%s'", d), "cli"},
	}
	for _, c := range checks {
		if got := one(c.lakeSQL); got != c.want {
			t.Errorf("%s\n  = %q, want %q", c.lakeSQL, got, c.want)
		}
	}

	// Night 2: a new partition, and the "latest" query moves to it.
	second, out, err := run(Options{})
	if err != nil {
		t.Fatalf("second night: %v\n%s", err, out)
	}
	if second.SnapshotDate <= first.SnapshotDate {
		t.Fatalf("second night %s is not after %s", second.SnapshotDate, first.SnapshotDate)
	}
	parts := query(`SELECT snapshot_date FROM "warehouse"."file_downloads$partitions" ORDER BY 1`)
	if len(parts) != 2 || parts[0][0] != first.SnapshotDate || parts[1][0] != second.SnapshotDate {
		t.Errorf("partitions = %v, want %s and %s", parts, first.SnapshotDate, second.SnapshotDate)
	}
	latest := one(`SELECT count(*) FROM warehouse.file_downloads WHERE snapshot_date = (SELECT max(snapshot_date) FROM "warehouse"."file_downloads$partitions")`)
	if latest != fmt.Sprint(second.SourceCounts["file_downloads"]) || second.SourceCounts["file_downloads"] <= first.SourceCounts["file_downloads"] {
		t.Errorf("latest count %s; snapshot counts %d then %d", latest, first.SourceCounts["file_downloads"], second.SourceCounts["file_downloads"])
	}
	if got := one(fmt.Sprintf("SELECT count(*) FROM warehouse.file_downloads WHERE snapshot_date = '%s'", first.SnapshotDate)); got != fmt.Sprint(first.SourceCounts["file_downloads"]) {
		t.Errorf("first night's partition changed: %s rows", got)
	}
	// The latest table counts only the second night; the partitioned one both.
	for table, n := range second.SourceCounts {
		if got := one(fmt.Sprintf("SELECT count(*) FROM %s.%s", latestDB, table)); got != fmt.Sprint(n) {
			t.Errorf("%s.%s has %s rows after the second night, its snapshot %d", latestDB, table, got, n)
		}
		both := fmt.Sprint(n + first.SourceCounts[table])
		if got := one(fmt.Sprintf("SELECT count(*) FROM warehouse.%s", table)); got != both {
			t.Errorf("warehouse.%s has %s rows over both nights, want %s", table, got, both)
		}
	}
	// Its columns are the snapshot table's, without snapshot_date.
	if rows := query(fmt.Sprintf("SELECT * FROM %s.projects LIMIT 0", latestDB)); rows != nil {
		t.Errorf("rows %v", rows)
	}
	res, err := lk().Query(ctx, fmt.Sprintf("SELECT * FROM %s.projects LIMIT 1", latestDB))
	if err != nil || slices.Contains(res.Columns, "snapshot_date") || !slices.Contains(res.Columns, "storage_quota_gb") {
		t.Errorf("latest projects columns %v (%v)", res.Columns, err)
	}

	// A run killed midway leaves its night pending and partial files behind: the next
	// run removes them and runs that night again.
	st, err := loadState(home)
	if err != nil {
		t.Fatal(err)
	}
	st.Pending = "2030-01-01"
	if err := saveState(home, st); err != nil {
		t.Fatal(err)
	}
	junk := filepath.Join(home, "s3", lakeBucket(), "data", "warehouse", "projects", "snapshot_date=2030-01-01", "1", "part-00000-partial.gz.parquet")
	if err := os.MkdirAll(filepath.Dir(junk), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(junk, []byte("half a parquet file"), 0o644); err != nil {
		t.Fatal(err)
	}
	recovered, out, err := run(Options{})
	if err != nil {
		t.Fatalf("recovering night: %v\n%s", err, out)
	}
	if recovered.SnapshotDate != "2030-01-01" || !strings.Contains(out, "recover unfinished night 2030-01-01") {
		t.Errorf("recovered night %s; output:\n%s", recovered.SnapshotDate, out)
	}
	if _, err := os.Stat(junk); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("partial file still there: %v", err)
	}
	if got := one("SELECT count(*) FROM warehouse.projects WHERE snapshot_date = '2030-01-01'"); got != fmt.Sprint(recovered.SourceCounts["projects"]) {
		t.Errorf("recovered night has %s projects, the snapshot %d", got, recovered.SourceCounts["projects"])
	}
	if st, _ := loadState(home); st.Pending != "" || st.LastNight != "2030-01-01" {
		t.Errorf("state after recovery = %+v", st)
	}

	// Night 3: the export fails (RDS-EVENT-0159): the execution fails promptly and
	// a notification is recorded; the lake is untouched.
	failed, out, err := run(Options{FailExport: "The export failed: simulated S3 write error"})
	var ef *ExecutionFailedError
	if !errors.As(err, &ef) || ef.Name != "ExportFailed" || !strings.Contains(ef.Cause, "simulated S3 write error") {
		t.Fatalf("failing night: err = %v\n%s", err, out)
	}
	if len(failed.Notifications) != 1 || !strings.Contains(failed.Notifications[0].Message, "ExportFailed") {
		t.Errorf("notifications = %+v", failed.Notifications)
	}
	saved, err := os.ReadFile(filepath.Join(home, "notifications.jsonl"))
	if err != nil || !strings.Contains(string(saved), failed.SnapshotID) {
		t.Errorf("notifications.jsonl: %v %q", err, saved)
	}
	if parts := query(`SELECT snapshot_date FROM "warehouse"."file_downloads$partitions"`); len(parts) != 3 {
		t.Errorf("a failed night changed the partitions: %v", parts)
	}

	// Night 4: the same snapshot event delivered twice yields one export.
	dup, out, err := run(Options{DeliverTwice: true})
	if err != nil {
		t.Fatalf("duplicate night: %v\n%s", err, out)
	}
	if dup.ExportsRun != 1 || len(dup.Executions) != 2 {
		t.Fatalf("exports run %d, executions %d; want 1 and 2", dup.ExportsRun, len(dup.Executions))
	}
	// The second execution finds the export running and waits for it too, and the
	// older one ends as Superseded; or, when the export was faster than the second
	// execution's start, it finds it complete and relocates and crawls again, which
	// must change nothing. Either way one execution at least ends Done.
	var done, superseded int
	for _, r := range dup.Executions {
		if r.Status != stepfunctions.StatusSucceeded {
			t.Errorf("execution %s: %s %s", r.Status, r.Error, r.Cause)
		}
		switch {
		case slices.Contains(r.States, "Done"):
			done++
		case slices.Contains(r.States, "Superseded"):
			superseded++
		}
	}
	if done < 1 || done+superseded != 2 {
		t.Errorf("%d executions ended Done, %d Superseded; want both to end one of those, at least one Done", done, superseded)
	}
	if got := one(fmt.Sprintf("SELECT count(*) FROM warehouse.file_downloads WHERE snapshot_date = '%s'", dup.SnapshotDate)); got != fmt.Sprint(dup.SourceCounts["file_downloads"]) {
		t.Errorf("duplicate delivery: lake has %s rows, the snapshot %d (double counted?)", got, dup.SourceCounts["file_downloads"])
	}

	checkPermissions(t, allowed)
}

// openLake is the lake of the demo's home as snaplake query reads it: the catalog
// and the S3 server's files, queried with DuckDB.
func openLake(t *testing.T, home string) *lake.Lake {
	t.Helper()
	cat, err := glue.OpenCatalog(filepath.Join(home, "catalog.json"))
	if err != nil {
		t.Fatal(err)
	}
	return &lake.Lake{Catalog: cat, Root: filepath.Join(home, "s3")}
}

// queryRows runs sql over the lake of home, every value printed.
func queryRows(t *testing.T, home, sql string) [][]string {
	t.Helper()
	res, err := openLake(t, home).Query(context.Background(), sql)
	if err != nil {
		t.Fatalf("%s: %v", sql, err)
	}
	var rows [][]string
	for _, r := range res.Rows {
		var row []string
		for _, v := range r {
			row = append(row, fmt.Sprint(v))
		}
		rows = append(rows, row)
	}
	return rows
}

// queryOne runs sql, which must answer one value, over the lake of home.
func queryOne(t *testing.T, home, sql string) string {
	t.Helper()
	rows := queryRows(t, home, sql)
	if len(rows) != 1 || len(rows[0]) != 1 {
		t.Fatalf("%s: got %v, want one value", sql, rows)
	}
	return rows[0][0]
}

var updatePermissions = flag.Bool("update-permissions", false, "rewrite internal/doctor/permissions.txt from the nights' allowed calls")

// checkPermissions compares every call the nights' roles were allowed with the
// reviewed list snaplake doctor checks in a real account: a new permission shows up
// in review as a change of that file.
func checkPermissions(t *testing.T, allowed []iam.Grant) {
	t.Helper()
	if n := len(offline.PermissionLines(deployed(), allowed)); n < 30 {
		t.Fatalf("only %d distinct allowed calls recorded: the nights did not run as their roles", n)
	}
	added, unused, err := offline.ComparePermissions(deployed(), allowed, filepath.Join("..", "..", "..", offline.PermissionsFile), *updatePermissions)
	if err != nil {
		t.Fatal(err)
	}
	if len(added) > 0 {
		t.Errorf("calls allowed by the deployed policies but missing from %s (review them, then `make permissions`):\n  %s", offline.PermissionsFile, strings.Join(added, "\n  "))
	}
	if len(unused) > 0 {
		t.Logf("listed calls these nights did not make (other runs do, or remove them by hand):\n  %s", strings.Join(unused, "\n  "))
	}
}
