package offline

import (
	"context"
	"crypto/sha256"
	"database/sql"
	"encoding/hex"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	_ "github.com/duckdb/duckdb-go/v2"

	"github.com/snaplake/snaplake/internal/local/stepfunctions"
)

const currentTestConfig = `ingest:
  source:
    instance: snaplake-demo
    database: warehouse
  timeZone: UTC
  sets:
    frequent:
      tables: [current_probe, log_probe]
  tables:
    current_probe:
      mode: incremental
      column: updated_at
      softDelete: {column: deleted_at}
      keyCheck: 24h
    log_probe: {mode: incremental, column: seq}
  defaults:
    mode: full
  access:
    - role: analytics
      tables: ["*"]
`

// TestCurrentTablesFollowTheSource runs the ingest workflow (the state machine, the
// real handlers, every call authorized as its role) over a table that gets inserts,
// updates, soft deletes and hard deletes between runs, and checks after every run
// that its current table (raw_warehouse_current.current_probe) holds exactly the
// source's live rows: the same count and the same checksum of every column, with
// DuckDB reading the files the catalog entry points at, as an analyst's query does.
// A table without a primary key keeps only its log, is reported, and the other
// table is unaffected.
func TestCurrentTablesFollowTheSource(t *testing.T) {
	ctx := context.Background()
	db := ingestSource(t)
	w := newIngestWorld(t, db, nil)
	exec := func(q string, args ...any) {
		t.Helper()
		if _, err := w.pool.Exec(q, args...); err != nil {
			t.Fatalf("%s: %v", q, err)
		}
	}
	exec(`CREATE TABLE warehouse.current_probe (id BIGINT PRIMARY KEY, name VARCHAR(40), qty INT, amount DECIMAL(10,2),
		updated_at DATETIME NOT NULL, deleted_at DATETIME NULL)`)
	exec(`CREATE TABLE warehouse.log_probe (seq BIGINT AUTO_INCREMENT, note VARCHAR(20), KEY (seq))`)
	w.putConfig(currentTestConfig)

	start := time.Date(2026, 12, 7, 0, 0, 0, 0, time.UTC)
	stamp := func(run int, i int) string {
		return start.Add(time.Duration(run)*12*time.Hour - time.Hour + time.Duration(i)*time.Second).Format("2006-01-02 15:04:05")
	}
	// What happens in the source before each run (run 0 is the first).
	changes := []func(run int){
		func(run int) {
			for i := 1; i <= 40; i++ {
				exec("INSERT INTO warehouse.current_probe VALUES (?, ?, ?, ?, ?, NULL)", i, fmt.Sprintf("item %d", i), i, fmt.Sprintf("%d.25", i), stamp(run, i%3))
			}
			exec("INSERT INTO warehouse.log_probe (note) VALUES ('a'), ('b')")
		},
		func(run int) { // updates (one row twice), inserts, soft deletes
			for i := 1; i <= 5; i++ {
				exec("UPDATE warehouse.current_probe SET name = ?, qty = qty + 100, updated_at = ? WHERE id = ?", fmt.Sprintf("renamed %d", i), stamp(run, 1), i)
			}
			exec("UPDATE warehouse.current_probe SET amount = 99.99, updated_at = ? WHERE id = 3", stamp(run, 2))
			for i := 41; i <= 45; i++ {
				exec("INSERT INTO warehouse.current_probe VALUES (?, ?, NULL, ?, ?, NULL)", i, fmt.Sprintf("new %d", i), "1.00", stamp(run, 3))
			}
			exec("UPDATE warehouse.current_probe SET deleted_at = ?, updated_at = ? WHERE id IN (10, 11, 42)", stamp(run, 4), stamp(run, 4))
			exec("INSERT INTO warehouse.log_probe (note) VALUES ('c')")
		},
		func(run int) { // hard deletes: the key check of this run (24 h after the first) drops them
			exec("DELETE FROM warehouse.current_probe WHERE id IN (20, 21, 44)")
			exec("UPDATE warehouse.current_probe SET qty = 7, updated_at = ? WHERE id = 30", stamp(run, 1))
		},
		func(run int) {}, // nothing changes: the generation stays
		func(run int) { // a soft-deleted row comes back, and more hard deletes (key check again)
			exec("UPDATE warehouse.current_probe SET deleted_at = NULL, updated_at = ? WHERE id = 10", stamp(run, 1))
			exec("DELETE FROM warehouse.current_probe WHERE id = 1")
			exec("INSERT INTO warehouse.current_probe VALUES (46, 'late', 1, 2.50, ?, NULL)", stamp(run, 2))
		},
	}
	var generations []string
	for run, change := range changes {
		change(run)
		at := start.Add(time.Duration(run) * 12 * time.Hour)
		res := w.wait(w.ing.RunSet(ctx, "frequent", at, true))
		if res.Status != stepfunctions.StatusSucceeded {
			t.Fatalf("run %d: %s %s %s %v", run, res.Status, res.Error, res.Cause, res.States)
		}
		out := string(res.Output)
		if !strings.Contains(out, `"source":"log_probe"`) || !strings.Contains(out, `"current":"none: no primary key`) {
			t.Errorf("run %d: the summary does not report log_probe's missing current table: %s", run, out)
		}
		tbl, err := w.cat.Table("raw_warehouse_current", "current_probe")
		if err != nil {
			t.Fatalf("run %d: %v", run, err)
		}
		generations = append(generations, tbl.Location)
		wantN, wantSum := sourceChecksum(t, w.pool)
		gotN, gotSum := lakeChecksum(t, w, tbl.Location)
		if gotN != wantN || gotSum != wantSum {
			t.Errorf("run %d: current table has %d rows (checksum %s), the source %d live rows (%s)", run, gotN, gotSum[:12], wantN, wantSum[:12])
		}
		if _, err := w.cat.Table("raw_warehouse_current", "log_probe"); err == nil {
			t.Errorf("run %d: log_probe, without a primary key, has a current table", run)
		}
	}
	if generations[3] != generations[2] {
		t.Errorf("a run without changes or a key check rewrote the generation: %s -> %s", generations[2], generations[3])
	}
	if generations[4] == generations[3] || !strings.Contains(generations[4], "/current/warehouse/current_probe/gen=") {
		t.Errorf("generations %v", generations)
	}
	// A current table that cannot be built (its generation's files are gone) fails
	// that table alone: the iteration's error is caught, the finish fails the table
	// and keeps its watermark, the run ends TablesFailed and notifies it.
	for _, k := range keys(t, w.admin, w.c.Bucket, strings.TrimPrefix(generations[4], "s3://"+w.c.Bucket+"/")) {
		if _, err := w.admin.DeleteObject(ctx, &s3.DeleteObjectInput{Bucket: aws.String(w.c.Bucket), Key: aws.String(k)}); err != nil {
			t.Fatal(err)
		}
	}
	exec("INSERT INTO warehouse.current_probe VALUES (47, 'lost', 1, 1.00, ?, NULL)", stamp(len(changes), 1))
	exec("INSERT INTO warehouse.log_probe (note) VALUES ('d')")
	res := w.wait(w.ing.RunSet(ctx, "frequent", start.Add(time.Duration(len(changes))*12*time.Hour), true))
	if res.Status != stepfunctions.StatusFailed || res.Error != "TablesFailed" || !slices.Contains(res.States, "CurrentTableFailed") {
		t.Fatalf("run with a lost generation: %s %s %v", res.Status, res.Error, res.States)
	}
	ns := w.ing.Notifications()
	if len(ns) == 0 || !strings.Contains(ns[len(ns)-1].Message, `"source":"current_probe","lake":"current_probe","mode":"incremental","status":"failed"`) ||
		!strings.Contains(ns[len(ns)-1].Message, `"source":"log_probe","lake":"log_probe","mode":"incremental","status":"loaded","rows":1`) {
		t.Errorf("notification: %+v", ns)
	}
	// The log keeps every version; the fully reloaded tables are current too.
	if tbl, err := w.cat.Table("raw_warehouse", "log_probe"); err != nil || len(tbl.Partitions) == 0 {
		t.Errorf("log_probe's log: %+v %v", tbl, err)
	}
	if d := w.acct.IAM.Denied(); len(d) > 0 {
		t.Errorf("denied: %+v", d)
	}
}

// checksumColumns renders a row the same way in MariaDB and DuckDB.
const (
	mysqlRow  = "CONCAT_WS('|', id, COALESCE(name, '-'), COALESCE(qty, '-'), COALESCE(CAST(amount AS CHAR), '-'), DATE_FORMAT(updated_at, '%Y-%m-%d %H:%i:%s'))"
	duckdbRow = "concat_ws('|', id, coalesce(name, '-'), coalesce(CAST(qty AS VARCHAR), '-'), coalesce(CAST(amount AS VARCHAR), '-'), strftime(updated_at, '%Y-%m-%d %H:%M:%S'))"
)

func sourceChecksum(t *testing.T, db *sql.DB) (int, string) {
	t.Helper()
	return checksum(t, db, "SELECT "+mysqlRow+" FROM warehouse.current_probe WHERE deleted_at IS NULL ORDER BY id")
}

// lakeChecksum reads the current table's files (the location its catalog entry
// names) with DuckDB.
func lakeChecksum(t *testing.T, w *ingestWorld, location string) (int, string) {
	t.Helper()
	prefix := strings.TrimPrefix(location, "s3://"+w.c.Bucket+"/")
	dir := t.TempDir()
	n := 0
	for _, k := range keys(t, w.admin, w.c.Bucket, prefix) {
		out, err := w.admin.GetObject(context.Background(), &s3.GetObjectInput{Bucket: aws.String(w.c.Bucket), Key: aws.String(k)})
		if err != nil {
			t.Fatal(err)
		}
		f, err := os.Create(filepath.Join(dir, filepath.Base(k)))
		if err != nil {
			t.Fatal(err)
		}
		_, err = io.Copy(f, out.Body)
		out.Body.Close()
		f.Close()
		if err != nil {
			t.Fatal(err)
		}
		n++
	}
	if n == 0 {
		t.Fatalf("no files under %s", location)
	}
	duck, err := sql.Open("duckdb", "")
	if err != nil {
		t.Fatal(err)
	}
	defer duck.Close()
	duck.SetMaxOpenConns(1)
	if _, err := duck.Exec("SET TimeZone = 'UTC'"); err != nil {
		t.Fatal(err)
	}
	return checksum(t, duck, "SELECT "+duckdbRow+" FROM read_parquet('"+filepath.Join(dir, "*.parquet")+"') ORDER BY id")
}

func checksum(t *testing.T, db *sql.DB, query string) (int, string) {
	t.Helper()
	rows, err := db.Query(query)
	if err != nil {
		t.Fatalf("%s: %v", query, err)
	}
	defer rows.Close()
	h := sha256.New()
	n := 0
	for rows.Next() {
		var s string
		if err := rows.Scan(&s); err != nil {
			t.Fatal(err)
		}
		fmt.Fprintln(h, s)
		n++
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	return n, hex.EncodeToString(h.Sum(nil))
}
