package archive_test

import (
	"context"
	"database/sql"
	"errors"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/go-sql-driver/mysql"

	"github.com/snaplake/snaplake/internal/archive"
	"github.com/snaplake/snaplake/internal/deploy"
	"github.com/snaplake/snaplake/internal/local/mariadb"
	"github.com/snaplake/snaplake/internal/local/mariadb/mariadbtest"
)

// rootDB starts a MariaDB for the test (the engine's tests share another, started by
// their TestMain) and connects as root.
func rootDB(t *testing.T) (*mariadb.Server, *sql.DB) {
	t.Helper()
	srv := mariadbtest.Start(t)
	db, err := srv.DB("")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	return srv, db
}

func exec(t *testing.T, db *sql.DB, stmts ...string) {
	t.Helper()
	for _, s := range stmts {
		if _, err := db.Exec(s); err != nil {
			t.Fatalf("%s: %v", s, err)
		}
	}
}

// userDB connects as user (password "pw").
func userDB(t *testing.T, srv *mariadb.Server, user string) *sql.DB {
	t.Helper()
	cfg, err := mysql.ParseDSN(srv.DSN(""))
	if err != nil {
		t.Fatal(err)
	}
	cfg.User, cfg.Passwd = user, "pw"
	db, err := sql.Open("mysql", cfg.FormatDSN())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	return db
}

// snapshot is CHECKSUM TABLE of every base table of schema, to show that preflight
// changed nothing.
func snapshot(t *testing.T, db *sql.DB, schema string) map[string]int64 {
	t.Helper()
	rows, err := db.Query("SELECT TABLE_NAME FROM information_schema.TABLES WHERE TABLE_SCHEMA = ? AND TABLE_TYPE = 'BASE TABLE'", schema)
	if err != nil {
		t.Fatal(err)
	}
	var tables []string
	for rows.Next() {
		var n string
		if err := rows.Scan(&n); err != nil {
			t.Fatal(err)
		}
		tables = append(tables, n)
	}
	rows.Close()
	out := map[string]int64{}
	for _, tb := range tables {
		var name string
		var sum int64
		if err := db.QueryRow("CHECKSUM TABLE `"+schema+"`.`"+tb+"`").Scan(&name, &sum); err != nil {
			t.Fatal(err)
		}
		out[tb] = sum
	}
	return out
}

const shopConfig = `archive:
  defaults:
    batchRows: 5000
  tables:
    pf.events:
      retention: 730d
      column: occurred_at
    pf.order_lines:
      retention: 6mo
      column: shipped_on
      deleteRows: 200
    pf.gone:
      retention: 1y
      column: created_at
    pf.notes:
      retention: 1y
      column: created_at
    pf.labels:
      retention: 1y
      column: label
    pf.heap:
      retention: 1y
      column: created_at
    pf.audit_log:
      retention: 1y
      column: occurred_at
    pf.recent:
      retention: 1y
      column: created_at
    pf.customers:
      retention: 1y
      column: created_at
`

func createShop(t *testing.T, db *sql.DB) {
	t.Helper()
	exec(t, db,
		"DROP DATABASE IF EXISTS pf", "CREATE DATABASE pf",
		"CREATE TABLE pf.events (id BIGINT AUTO_INCREMENT PRIMARY KEY, occurred_at DATETIME NOT NULL, what TEXT)",
		// The key declared in another order than the columns: Job.Key is the index's order.
		"CREATE TABLE pf.order_lines (order_id BIGINT NOT NULL, line INT NOT NULL, shipped_on DATE, PRIMARY KEY (line, order_id))",
		"CREATE TABLE pf.Audit_Log (id INT PRIMARY KEY, occurred_at DATETIME)",
		"CREATE TABLE pf.notes (id INT PRIMARY KEY, body TEXT)",
		"CREATE TABLE pf.labels (id INT PRIMARY KEY, label VARCHAR(20))",
		"CREATE TABLE pf.heap (created_at TIMESTAMP NULL, msg TEXT, UNIQUE KEY (msg(20)))",
		"CREATE VIEW pf.recent AS SELECT id, occurred_at AS created_at FROM pf.events",
		"CREATE TABLE pf.customers (id INT PRIMARY KEY, created_at DATETIME) ENGINE=InnoDB",
		"CREATE TABLE pf.invoices (id INT PRIMARY KEY, customer_id INT, FOREIGN KEY fk_customer (customer_id) REFERENCES pf.customers (id) ON DELETE CASCADE) ENGINE=InnoDB",
		"INSERT INTO pf.events (occurred_at, what) VALUES ('2020-01-01', 'old'), ('2026-12-01', 'new')",
		"INSERT INTO pf.order_lines VALUES (1, 1, '2020-01-01'), (1, 2, NULL)",
		"INSERT INTO pf.customers VALUES (1, '2020-01-01')",
		"INSERT INTO pf.invoices VALUES (10, 1)",
	)
}

// TestPreflightRefusesWhatCannotWork: each table that cannot be archived is refused
// with a typed error naming it at its line of the file, the others get their Job,
// and nothing in the database changes.
func TestPreflightRefusesWhatCannotWork(t *testing.T) {
	_, db := rootDB(t)
	createShop(t, db)
	before := snapshot(t, db, "pf")

	c, err := parse(shopConfig)
	if err != nil {
		t.Fatal(err)
	}
	now := time.Date(2026, 12, 8, 1, 41, 33, 0, time.UTC)
	jobs, err := archive.Preflight(context.Background(), db, c, archive.RunSettings{Now: now, Bucket: "lake", KMSKeyID: "key-1", Budget: 14 * time.Minute})

	type refusal struct {
		table    string
		sentinel error
		message  string
	}
	want := []refusal{
		{"pf.audit_log", archive.ErrNoTable, `snaplake.yaml:24:5: archive.tables["pf.audit_log"]: table pf.audit_log: no such table, or the user has no privilege on it (information_schema lists only the tables a user may use) (did you mean pf.Audit_Log? table names are case-sensitive on this server)`},
		{"pf.customers", archive.ErrCascade, `snaplake.yaml:30:5: archive.tables["pf.customers"]: table pf.customers: deleting its rows would change rows of other tables that are not archived: pf.invoices (foreign key fk_customer, ON DELETE CASCADE) (archive those tables first, or change their foreign keys to ON DELETE RESTRICT)`},
		{"pf.gone", archive.ErrNoTable, `snaplake.yaml:12:5: archive.tables["pf.gone"]: table pf.gone: no such table, or the user has no privilege on it (information_schema lists only the tables a user may use)`},
		{"pf.heap", archive.ErrNoKey, `snaplake.yaml:21:5: archive.tables["pf.heap"]: table pf.heap: has no PRIMARY KEY: a run reads and deletes rows by their key, in key order, so that a row is deleted exactly when its copy is verified in S3 (add one, e.g. ALTER TABLE ... ADD PRIMARY KEY)`},
		{"pf.labels", archive.ErrNotTemporal, `snaplake.yaml:20:7: archive.tables["pf.labels"].column: table pf.labels: column label is varchar(20), not DATETIME, TIMESTAMP or DATE: rows are archived by a date, compared with the cutoff; its DATETIME, TIMESTAMP and DATE columns: none`},
		{"pf.notes", archive.ErrNoColumn, `snaplake.yaml:17:7: archive.tables["pf.notes"].column: table pf.notes: no column created_at, or the user cannot see it; its DATETIME, TIMESTAMP and DATE columns: none`},
		{"pf.recent", archive.ErrNoTable, `snaplake.yaml:27:5: archive.tables["pf.recent"]: table pf.recent: is a view, not a base table: rows are archived from the table they are stored in`},
	}
	parts := []error{}
	if j, ok := err.(interface{ Unwrap() []error }); ok {
		parts = j.Unwrap()
	} else if err != nil {
		parts = []error{err}
	}
	var got []refusal
	for _, p := range parts {
		var fe *archive.FieldError
		if !errors.As(p, &fe) {
			t.Errorf("%T %v is not a *archive.FieldError", p, p)
			continue
		}
		r := refusal{table: fe.Table, message: fe.Error()}
		for _, s := range []error{archive.ErrNoTable, archive.ErrNoColumn, archive.ErrNotTemporal, archive.ErrNoKey, archive.ErrCascade, archive.ErrPrivilege} {
			if errors.Is(p, s) {
				r.sentinel = s
			}
		}
		got = append(got, r)
	}
	if !slices.Equal(got, want) {
		var g, w []string
		for _, r := range got {
			g = append(g, r.table+" "+errString(r.sentinel)+" "+r.message)
		}
		for _, r := range want {
			w = append(w, r.table+" "+errString(r.sentinel)+" "+r.message)
		}
		t.Errorf("refusals:\n%s\nwant:\n%s", strings.Join(g, "\n"), strings.Join(w, "\n"))
	}

	wantJobs := []archive.Job{
		{Schema: "pf", Table: "events", Column: "occurred_at", Cutoff: time.Date(2024, 12, 8, 0, 0, 0, 0, time.UTC), Key: []string{"id"},
			Bucket: "lake", Prefix: deploy.ArchivePrefix, KMSKeyID: "key-1",
			Limits: archive.Limits{BatchRows: 5000, DeleteRows: 1000, Pause: deploy.DefaultArchivePause, MaxThreadsRunning: deploy.DefaultArchiveMaxThreadsRunning, Budget: 14 * time.Minute}},
		{Schema: "pf", Table: "order_lines", Column: "shipped_on", Cutoff: time.Date(2026, 6, 8, 0, 0, 0, 0, time.UTC), Key: []string{"line", "order_id"},
			Bucket: "lake", Prefix: deploy.ArchivePrefix, KMSKeyID: "key-1",
			Limits: archive.Limits{BatchRows: 5000, DeleteRows: 200, Pause: deploy.DefaultArchivePause, MaxThreadsRunning: deploy.DefaultArchiveMaxThreadsRunning, Budget: 14 * time.Minute}},
	}
	if !reflect.DeepEqual(jobs, wantJobs) {
		t.Errorf("jobs:\n%+v\nwant:\n%+v", jobs, wantJobs)
	}
	if after := snapshot(t, db, "pf"); !reflect.DeepEqual(after, before) {
		t.Errorf("preflight changed the database:\nbefore %v\nafter  %v", before, after)
	}

	// --table limits the run; a table the section does not configure is refused.
	jobs, err = archive.Preflight(context.Background(), db, c, archive.RunSettings{Now: now, Tables: []string{"pf.order_lines"}})
	if err != nil || len(jobs) != 1 || jobs[0].Table != "order_lines" {
		t.Errorf("--table pf.order_lines: %v, %+v", err, jobs)
	}
	var nc *archive.NotConfiguredError
	if _, err := archive.Preflight(context.Background(), db, c, archive.RunSettings{Tables: []string{"pf.invoices"}}); !errors.As(err, &nc) || nc.Table != "pf.invoices" {
		t.Errorf("an unconfigured table: %v", err)
	}
}

func errString(err error) string {
	if err == nil {
		return "<nil>"
	}
	return err.Error()
}

// TestPreflightAsksTheServerForPrivileges: the user's SELECT and DELETE are checked by
// the server, however they were granted, and a refusal says the GRANT to run.
func TestPreflightAsksTheServerForPrivileges(t *testing.T) {
	srv, db := rootDB(t)
	exec(t, db,
		"DROP DATABASE IF EXISTS pv", "CREATE DATABASE pv",
		"CREATE TABLE pv.events (id BIGINT PRIMARY KEY, occurred_at DATETIME, secret TEXT)",
		"INSERT INTO pv.events VALUES (1, '2020-01-01', 'x')",
	)
	for _, u := range []string{"pv_select", "pv_archiver", "pv_schema", "pv_columns", "pv_delete", "pv_role"} {
		exec(t, db, "DROP USER IF EXISTS "+u, "CREATE USER "+u+" IDENTIFIED BY 'pw'")
	}
	exec(t, db,
		"GRANT SELECT ON pv.events TO pv_select",
		// The README's grant: SELECT and DELETE on the configured table only.
		"GRANT SELECT, DELETE ON pv.events TO pv_archiver",
		"GRANT SELECT, DELETE ON pv.* TO pv_schema",
		"GRANT SELECT (id, occurred_at), DELETE ON pv.events TO pv_columns",
		"GRANT DELETE ON pv.events TO pv_delete",
		// A role, which SHOW GRANTS parsing would have to follow: the server does.
		"DROP ROLE IF EXISTS pv_archiving", "CREATE ROLE pv_archiving",
		"GRANT SELECT, DELETE ON pv.events TO pv_archiving",
		"GRANT pv_archiving TO pv_role", "SET DEFAULT ROLE pv_archiving FOR pv_role",
	)
	c, err := parse("archive:\n  tables:\n    pv.events:\n      retention: 1y\n      column: occurred_at\n")
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		user, want string
	}{
		{"pv_archiver", ""},
		{"pv_schema", ""},
		{"pv_role", ""},
		{"pv_select", `snaplake.yaml:3:5: archive.tables["pv.events"]: table pv.events: the user 'pv_select'@'%' may not SELECT and DELETE its rows (DELETE command denied to user 'pv_select'@'127.0.0.1' for table ` + "`pv`.`events`" + `): a DBA runs GRANT SELECT, DELETE ON ` + "`pv`.`events`" + ` TO 'pv_select'@'%'`},
		// SELECT * reads every column, as the run's reads do.
		{"pv_columns", `snaplake.yaml:3:5: archive.tables["pv.events"]: table pv.events: the user 'pv_columns'@'%' may not SELECT and DELETE its rows (SELECT command denied to user 'pv_columns'@'127.0.0.1' for table ` + "`pv`.`events`" + `): a DBA runs GRANT SELECT, DELETE ON ` + "`pv`.`events`" + ` TO 'pv_columns'@'%'`},
		{"pv_delete", `snaplake.yaml:3:5: archive.tables["pv.events"]: table pv.events: the user 'pv_delete'@'%' may not SELECT and DELETE its rows (SELECT command denied to user 'pv_delete'@'127.0.0.1' for table ` + "`pv`.`events`" + `): a DBA runs GRANT SELECT, DELETE ON ` + "`pv`.`events`" + ` TO 'pv_delete'@'%'`},
	}
	for _, tt := range tests {
		t.Run(tt.user, func(t *testing.T) {
			jobs, err := archive.Preflight(context.Background(), userDB(t, srv, tt.user), c, archive.RunSettings{})
			if tt.want == "" {
				if err != nil || len(jobs) != 1 {
					t.Fatalf("preflight: %v, %d jobs; want the table's job", err, len(jobs))
				}
				return
			}
			if err == nil || err.Error() != tt.want || !errors.Is(err, archive.ErrPrivilege) || len(jobs) != 0 {
				t.Errorf("preflight: %d jobs, err\n%v\nwant ErrPrivilege:\n%s", len(jobs), err, tt.want)
			}
		})
	}
	var n int
	if err := db.QueryRow("SELECT COUNT(*) FROM pv.events").Scan(&n); err != nil || n != 1 {
		t.Errorf("rows after preflight: %d, %v; want 1", n, err)
	}
}

// TestPreflightRefusesBadNamesBeforeAnyQuery: a name with quotes or backticks never
// reaches a statement; the section's own problems come back as the loader's do.
func TestPreflightRefusesBadNamesBeforeAnyQuery(t *testing.T) {
	c := &archive.Config{Tables: map[string]archive.TableConfig{
		"shop.`orders`":  {Retention: "1y", Column: "created_at"},
		"shop.o'rders":   {Retention: "1y", Column: "created_at"},
		"shop.orders":    {Retention: "0d", Column: "created_at"},
		"shop.customers": {Retention: "1y", Column: "created`at"},
	}}
	jobs, err := archive.Preflight(context.Background(), failingQuerier{t}, c, archive.RunSettings{})
	want := []string{
		"archive.tables[\"shop.`orders`\"]: \"shop.`orders`\" is not database.table: two names of 1 to 64 characters joined by one dot, without quotes, backticks, backslashes or whitespace",
		"archive.tables[\"shop.customers\"].column: table shop.customers: \"created`at\" is not a column name (1 to 64 characters, without quotes, backticks, dots or whitespace): name its DATETIME, TIMESTAMP or DATE column",
		`archive.tables["shop.o'rders"]: "shop.o'rders" is not database.table: two names of 1 to 64 characters joined by one dot, without quotes, backticks, backslashes or whitespace`,
		`archive.tables["shop.orders"].retention: table shop.orders: retention "0d" is zero: every row would be archived and deleted; write days (730d), months (6mo) or years (2y)`,
	}
	if got := problems(err); !slices.Equal(got, want) || jobs != nil {
		t.Errorf("jobs %v, problems:\n%s\nwant:\n%s", jobs, strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
}

// failingQuerier fails the test on any query.
type failingQuerier struct{ t *testing.T }

func (f failingQuerier) QueryContext(_ context.Context, q string, _ ...any) (*sql.Rows, error) {
	f.t.Errorf("unexpected query %s", q)
	return nil, errors.New("no queries expected")
}
