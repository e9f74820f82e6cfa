package opscli

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/go-sql-driver/mysql"

	"github.com/snaplake/snaplake/internal/local/mariadb/mariadbtest"
)

// snapshotAccessConfig names ingested tables and nightly snapshot tables, with
// column lists for both.
const snapshotAccessConfig = `ingest:
  source:
    instance: shop-db
    database: shop
  access:
    - role: analyst
      tables: [orders, "snapshots:shop.customers", "snapshots:shop.orders"]
      columns:
        orders: [id]
        "snapshots:shop.customers": [id, Email, snapshot_date]
    - role: support
      tables: ["snapshots:hr.staff", "snapshots:shop.*"]
`

// TestIngestPlanChecksSnapshotColumns: `snaplake ingest plan` checks the columns the
// access rules list for snapshot tables against the source tables, as it checks the
// ingested tables', and reports each problem in the plan's refused list and in its
// error, with the file and line of the rule.
func TestIngestPlanChecksSnapshotColumns(t *testing.T) {
	srv := mariadbtest.Start(t)
	db, err := srv.DB("")
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	for _, q := range []string{
		"CREATE DATABASE shop",
		"CREATE TABLE shop.customers (id BIGINT AUTO_INCREMENT PRIMARY KEY, Email VARCHAR(100), ssn CHAR(11))",
		"CREATE TABLE shop.orders (id BIGINT AUTO_INCREMENT PRIMARY KEY, updated_at DATETIME)",
		// The RDS export skips a table with a space in a column name: its snapshot never exists.
		"CREATE TABLE shop.notes (id BIGINT AUTO_INCREMENT PRIMARY KEY, `Full Name` VARCHAR(50))",
		"CREATE DATABASE hr",
		"CREATE TABLE hr.staff (id INT PRIMARY KEY, salary INT)",
		// A user that sees shop alone: hr is another schema it has no rights on.
		"CREATE USER planner@'127.0.0.1' IDENTIFIED BY 'planner-pw'",
		"GRANT SELECT ON shop.* TO planner@'127.0.0.1'",
	} {
		if _, err := db.Exec(q); err != nil {
			t.Fatalf("%s: %v", q, err)
		}
	}
	cfg, err := mysql.ParseDSN(srv.DSN(""))
	if err != nil {
		t.Fatal(err)
	}
	cfg.User, cfg.Passwd = "planner", "planner-pw"
	plannerDSN := cfg.FormatDSN()

	dir := t.TempDir()
	type refused struct{ Source, Lake, Config, Reason string }
	type result struct {
		plan struct {
			Tables    []struct{ Source string }
			Refused   []refused
			Unchecked []struct{ Source, Config, Reason string }
		}
		stderr string
		err    error
	}
	plan := func(t *testing.T, name, config, dsn string) (string, result) {
		t.Helper()
		path := filepath.Join(dir, name)
		if err := os.WriteFile(path, []byte(config), 0o644); err != nil {
			t.Fatal(err)
		}
		var stdout, stderr bytes.Buffer
		var r result
		r.err = Ingest(context.Background(), []string{"plan", "--config", path, "--set", "daily",
			"--at", "2026-03-30T02:00:00Z", "--mysql-dsn", dsn}, &stdout, &stderr)
		r.stderr = stderr.String()
		// A config refused whole prints no plan.
		if err := json.Unmarshal(stdout.Bytes(), &r.plan); err != nil && stdout.Len() > 0 {
			t.Fatalf("plan JSON: %v\n%s\n%s", err, stdout.String(), r.stderr)
		}
		return path, r
	}
	// lineOf is the 1-based line of the first line of config containing s.
	lineOf := func(config, s string) int {
		t.Helper()
		for i, l := range strings.Split(config, "\n") {
			if strings.Contains(l, s) {
				return i + 1
			}
		}
		t.Fatalf("config has no line with %q", s)
		return 0
	}
	edit := func(old, new string) string {
		t.Helper()
		if !strings.Contains(snapshotAccessConfig, old) {
			t.Fatalf("config lacks %q", old)
		}
		return strings.Replace(snapshotAccessConfig, old, new, 1)
	}

	t.Run("a good column list passes", func(t *testing.T) {
		// Email is written as the source has it, snapshot_date is the partition column.
		_, r := plan(t, "good.yaml", snapshotAccessConfig, srv.DSN(""))
		if r.err != nil || len(r.plan.Refused) != 0 || len(r.plan.Unchecked) != 0 || len(r.plan.Tables) != 3 {
			t.Fatalf("plan: %v, refused %+v, unchecked %+v, tables %+v\n%s", r.err, r.plan.Refused, r.plan.Unchecked, r.plan.Tables, r.stderr)
		}
		// One query more than discovery, whatever the number of snapshot databases.
		if !strings.Contains(r.stderr, "metadata_queries=4") {
			t.Errorf("stderr %q, want metadata_queries=4", r.stderr)
		}
	})

	t.Run("a misspelled column is reported with its line", func(t *testing.T) {
		config := edit("[id, Email, snapshot_date]", "[id, emial, snapshot_date]")
		path, r := plan(t, "column.yaml", config, srv.DSN(""))
		line := lineOf(config, "emial")
		want := fmt.Sprintf(`%s:%d:`, path, line)
		field := `ingest.access[0].columns["snapshots:shop.customers"][1]: unknown column "emial": table shop.customers has columns id, Email, ssn, and the snapshot adds snapshot_date`
		if r.err == nil || !strings.Contains(r.err.Error(), want) || !strings.Contains(r.err.Error(), field) ||
			!strings.Contains(r.err.Error(), path+": the grants on 1 snapshot tables would fail, as the config names what the source does not have: ") {
			t.Errorf("err = %v\nwant %s ... %s", r.err, want, field)
		}
		if len(r.plan.Refused) != 1 || r.plan.Refused[0].Source != "snapshots:shop.customers" ||
			r.plan.Refused[0].Config != fmt.Sprintf("%s:%d", path, line) || !strings.HasPrefix(r.plan.Refused[0].Reason, want) || !strings.HasSuffix(r.plan.Refused[0].Reason, field) {
			t.Errorf("refused %+v", r.plan.Refused)
		}
		// The ingested tables still load: a snapshot grant is no load.
		if len(r.plan.Tables) != 3 {
			t.Errorf("tables %+v, want customers, notes and orders", r.plan.Tables)
		}
	})

	t.Run("a missing snapshot table is reported", func(t *testing.T) {
		config := edit(`"snapshots:shop.orders"]`, `"snapshots:shop.ordres"]`)
		path, r := plan(t, "table.yaml", config, srv.DSN(""))
		line := lineOf(config, "ordres")
		want := fmt.Sprintf(`%s:%d:`, path, line)
		field := `ingest.access[0].tables[2]: unknown table "snapshots:shop.ordres": database "shop" has no base table "ordres", so its nightly snapshot has none`
		if r.err == nil || !strings.Contains(r.err.Error(), want) || !strings.Contains(r.err.Error(), field) {
			t.Errorf("err = %v\nwant %s ... %s", r.err, want, field)
		}
		if len(r.plan.Refused) != 1 || r.plan.Refused[0].Source != "snapshots:shop.ordres" || r.plan.Refused[0].Config != fmt.Sprintf("%s:%d", path, line) {
			t.Errorf("refused %+v", r.plan.Refused)
		}
		// A table the source has but the snapshot export skips.
		config = edit(`"snapshots:shop.orders"]`, `"snapshots:shop.notes"]`)
		_, r = plan(t, "skipped.yaml", config, srv.DSN(""))
		if r.err == nil || !strings.Contains(r.err.Error(), `ingest.access[0].tables[2]: table "snapshots:shop.notes" is not in the nightly snapshot: the RDS snapshot export skips table "notes", as its column "Full Name" has a character it does not support`) {
			t.Errorf("a table the export skips: %v", r.err)
		}
		// A column list of a table the source lacks, not listed under tables either.
		config = edit(`"snapshots:shop.customers": [id`, `"snapshots:shop.customer": [id`)
		_, r = plan(t, "table2.yaml", config, srv.DSN(""))
		if r.err == nil || !strings.Contains(r.err.Error(), `ingest.access[0].columns["snapshots:shop.customer"]: columns for "snapshots:shop.customer", which is not among the role's tables`) {
			// Validate refuses it whole, before any query: the rules' form is its.
			t.Errorf("columns of an unlisted snapshot table: %v", r.err)
		}
	})

	t.Run("columns under snapshots:<db>.* are refused as the grants run refuses them", func(t *testing.T) {
		config := edit(`tables: ["snapshots:hr.staff", "snapshots:shop.*"]`,
			`tables: ["snapshots:hr.staff", "snapshots:shop.*"]
      columns:
        "snapshots:shop.*": [id]`)
		path, r := plan(t, "wildcard.yaml", config, srv.DSN(""))
		line := lineOf(config, `"snapshots:shop.*": [id]`)
		field := fmt.Sprintf(`%s:%d:9:`, path, line) + ` ingest.access[1].columns["snapshots:shop.*"]: role "support", table "snapshots:shop.*": columns have no effect on a role that reads every table ("*")`
		if r.err == nil || !strings.Contains(r.err.Error(), field) {
			t.Errorf("err = %v\nwant %s", r.err, field)
		}
		if len(r.plan.Refused) != 1 || r.plan.Refused[0].Source != "snapshots:shop.*" || r.plan.Refused[0].Config != fmt.Sprintf("%s:%d", path, line) {
			t.Errorf("refused %+v", r.plan.Refused)
		}
		// A named table beside its database's "*": its columns would widen nothing.
		config = edit(`tables: ["snapshots:hr.staff", "snapshots:shop.*"]`,
			`tables: ["snapshots:shop.orders", "snapshots:shop.*"]
      columns:
        "snapshots:shop.orders": [id]`)
		_, r = plan(t, "wildcard2.yaml", config, srv.DSN(""))
		if r.err == nil || !strings.Contains(r.err.Error(), `ingest.access[1].columns["snapshots:shop.orders"]: role "support", table "snapshots:shop.orders": columns have no effect`) {
			t.Errorf("columns of a table beside its wildcard: %v", r.err)
		}
		// config validate has no database, and no more to say than before.
		var stdout, stderr bytes.Buffer
		if err := Config(context.Background(), []string{"validate", path}, &stdout, &stderr); err != nil || !strings.Contains(stdout.String(), ": valid") {
			t.Errorf("config validate: %v\n%s%s", err, stdout.String(), stderr.String())
		}
	})

	t.Run("a database the user cannot see is reported, not checked", func(t *testing.T) {
		config := edit("[id, Email, snapshot_date]", "[id, emial, snapshot_date]")
		path, r := plan(t, "hidden.yaml", config, plannerDSN)
		// shop is checked as before; hr is named as not checked, and fails nothing.
		if r.err == nil || !strings.Contains(r.err.Error(), `unknown column "emial"`) || strings.Contains(r.err.Error(), "hr") {
			t.Errorf("err = %v, want the emial problem alone", r.err)
		}
		line := lineOf(config, "snapshots:hr.staff")
		if len(r.plan.Unchecked) != 1 || r.plan.Unchecked[0].Source != "snapshots:hr.staff" || r.plan.Unchecked[0].Config != fmt.Sprintf("%s:%d", path, line) ||
			!strings.Contains(r.plan.Unchecked[0].Reason, `ingest.access[1].tables[0]: not checked: the source user sees no database "hr" (it does not exist, or the user has no privilege on it)`) {
			t.Errorf("unchecked %+v", r.plan.Unchecked)
		}
		if !strings.Contains(r.stderr, `level=WARN msg="snapshot table not checked" table=snapshots:hr.staff`) || !strings.Contains(r.stderr, "unchecked=1") {
			t.Errorf("stderr %q, want a warning naming snapshots:hr.staff", r.stderr)
		}
		// With the column fixed the plan succeeds: what cannot be seen is said, not failed.
		_, r = plan(t, "hidden-good.yaml", snapshotAccessConfig, plannerDSN)
		if r.err != nil || len(r.plan.Unchecked) != 1 || len(r.plan.Refused) != 0 {
			t.Errorf("plan: %v, unchecked %+v, refused %+v", r.err, r.plan.Unchecked, r.plan.Refused)
		}
	})

	t.Run("the ingested tables' checks are unchanged", func(t *testing.T) {
		config := edit("orders: [id]", "orders: [idd]")
		path, r := plan(t, "ingested.yaml", config, srv.DSN(""))
		want := fmt.Sprintf(`%s: 1 tables of set daily would fail, as the config names what the source does not have: %s:%d:18: ingest.access[0].columns.orders[0]: unknown column "idd": table "orders" has columns id, updated_at`,
			path, path, lineOf(config, "[idd]"))
		if r.err == nil || r.err.Error() != want {
			t.Errorf("err = %v\nwant %s", r.err, want)
		}
		if len(r.plan.Refused) != 1 || r.plan.Refused[0].Source != "orders" || r.plan.Refused[0].Lake != "orders" || len(r.plan.Tables) != 2 {
			t.Errorf("refused %+v, tables %+v", r.plan.Refused, r.plan.Tables)
		}
	})
}
