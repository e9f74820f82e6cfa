package opscli

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/snaplake/snaplake/internal/local/mariadb/mariadbtest"
	"github.com/snaplake/snaplake/internal/local/s3server"
)

func TestIngestUsage(t *testing.T) {
	tests := []struct {
		name      string
		args      []string
		env       string
		wantUsage bool
		stderrHas string
	}{
		{name: "help", args: []string{"-h"}, stderrHas: "Usage: snaplake ingest plan --config FILE --set daily|frequent"},
		{name: "plan help", args: []string{"plan", "-h"}, stderrHas: "-mysql-dsn"},
		{name: "no subcommand", args: nil, wantUsage: true, stderrHas: "Usage: snaplake ingest plan"},
		{name: "unknown subcommand", args: []string{"plna"}, wantUsage: true, stderrHas: `unknown subcommand "plna"`},
		{name: "no config", args: []string{"plan", "--set", "daily", "--mysql-dsn", "x"}, wantUsage: true, stderrHas: "missing --config"},
		{name: "bad set", args: []string{"plan", "--config", "c", "--set", "hourly", "--mysql-dsn", "x"}, wantUsage: true, stderrHas: `--set must be daily or frequent, got "hourly"`},
		{name: "no dsn", args: []string{"plan", "--config", "c", "--set", "daily"}, wantUsage: true, stderrHas: "missing --mysql-dsn (or SNAPLAKE_MYSQL_DSN)"},
		{name: "bad at", args: []string{"plan", "--config", "c", "--set", "daily", "--at", "tomorrow"}, env: "root@tcp(127.0.0.1:1)/", wantUsage: true, stderrHas: `--at "tomorrow" is not an RFC 3339 time`},
		{name: "argument", args: []string{"plan", "--config", "c", "--set", "daily", "now"}, wantUsage: true, stderrHas: `unexpected argument "now"`},
		{name: "reset help", args: []string{"reset", "-h"}, stderrHas: "--dry-run"},
		{name: "reset without table", args: []string{"reset", "--bucket", "lake"}, wantUsage: true, stderrHas: "missing --table"},
		{name: "reset of a table without its database", args: []string{"reset", "--table", "orders", "--bucket", "lake"}, wantUsage: true,
			stderrHas: `--table: table "orders" is not <database>.<table>`},
		{name: "reset of an empty table name", args: []string{"reset", "--table", "shop.", "--bucket", "lake"}, wantUsage: true, stderrHas: `table "shop." is not <database>.<table>`},
		{name: "reset without bucket", args: []string{"reset", "--table", "shop.orders"}, wantUsage: true, stderrHas: "missing --bucket"},
		{name: "reset format", args: []string{"reset", "--table", "shop.orders", "--bucket", "lake", "--format", "yaml"}, wantUsage: true, stderrHas: `--format must be text or json, got "yaml"`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Setenv(MySQLDSNEnv, tt.env)
			var stdout, stderr bytes.Buffer
			err := Ingest(context.Background(), tt.args, &stdout, &stderr)
			if got := errors.Is(err, ErrUsage); got != tt.wantUsage || !tt.wantUsage && err != nil {
				t.Errorf("err = %v, want usage error %v", err, tt.wantUsage)
			}
			if !strings.Contains(stderr.String(), tt.stderrHas) {
				t.Errorf("stderr %q, want it to contain %q", stderr.String(), tt.stderrHas)
			}
		})
	}
}

const ingestConfig = `ingest:
  source:
    instance: shop-db
    database: shop
  timeZone: Europe/Berlin
  sets:
    frequent:
      tables: [orders, customer]
  tables:
    audit:
      mode: full
`

// TestIngestPlanAgainstMariaDB runs the command end to end: a config file, a real
// MariaDB with tables whose names share a prefix or need normalizing, the JSON out.
func TestIngestPlanAgainstMariaDB(t *testing.T) {
	srv := mariadbtest.Start(t)
	db, err := srv.DB("")
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	for _, q := range []string{
		"CREATE DATABASE shop",
		"CREATE TABLE shop.customer (id BIGINT AUTO_INCREMENT PRIMARY KEY, `Full Name` VARCHAR(50))",
		"CREATE TABLE shop.customer_address (id BIGINT AUTO_INCREMENT PRIMARY KEY, customer_id BIGINT)",
		"CREATE TABLE shop.orders (id BIGINT AUTO_INCREMENT PRIMARY KEY, updated_at DATETIME)",
		"CREATE TABLE shop.`Order-Items` (order_id BIGINT, line INT, PRIMARY KEY (order_id, line))",
		"CREATE TABLE shop.audit (id BIGINT AUTO_INCREMENT PRIMARY KEY, what TEXT)",
	} {
		if _, err := db.Exec(q); err != nil {
			t.Fatalf("%s: %v", q, err)
		}
	}
	dir := t.TempDir()
	configPath := filepath.Join(dir, "snaplake.yaml")
	if err := os.WriteFile(configPath, []byte(ingestConfig), 0o644); err != nil {
		t.Fatal(err)
	}
	t.Setenv(MySQLDSNEnv, srv.DSN(""))

	var stdout, stderr bytes.Buffer
	err = Ingest(context.Background(), []string{"plan", "--config", configPath, "--set", "frequent",
		"--at", "2026-03-30T08:00:00+02:00", "--bucket", "lake"}, &stdout, &stderr)
	if err != nil {
		t.Fatalf("ingest plan: %v\n%s", err, stderr.String())
	}
	var plan struct {
		Set, At, TimeZone, NextRun, LakeDatabase, Bucket string
		Due                                              bool
		CatalogDatabase                                  string
		CurrentDatabase                                  string
		Source                                           struct{ Instance, Database string }
		Schedule                                         struct {
			Every, At, Between, Expression string
			Days                           []string
		}
		Tables []struct {
			Source, Lake, Mode, Column, Reason, Destination, CrawlerTarget string
			From                                                           *string
			Replace                                                        bool
			Columns                                                        []struct{ Source, Lake string }
			Split, RangeColumn                                             string
			Ranges                                                         []struct{ From, To *string }
			Current                                                        *struct {
				Key             []struct{ Source, Lake string }
				Order           string
				SoftDelete      *struct{ Source, Lake string }
				KeyCheckSeconds int64
				Destination     string
			}
			NoCurrent string
		}
		Skipped        []any
		CrawlerTargets []string
		Renamed        map[string]string
		Dropped        []string
	}
	dec := json.NewDecoder(&stdout)
	dec.DisallowUnknownFields()
	if err := dec.Decode(&plan); err != nil {
		t.Fatalf("plan JSON: %v\n%s", err, stdout.String())
	}
	if plan.Set != "frequent" || !plan.Due || plan.TimeZone != "Europe/Berlin" || plan.LakeDatabase != "shop" || plan.CatalogDatabase != "raw_shop" || plan.CurrentDatabase != "raw_shop_current" || plan.Bucket != "lake" ||
		plan.At != "2026-03-30T08:00:00+02:00" || plan.NextRun != "2026-03-30T08:15:00+02:00" || plan.Source.Database != "shop" ||
		plan.Schedule.Expression != "cron(0/15 8-17 ? * MON-FRI *)" || len(plan.Skipped) != 0 {
		t.Errorf("plan: %+v", plan)
	}
	if len(plan.Tables) != 2 {
		t.Fatalf("frequent plans %d tables, want customer and orders: %+v", len(plan.Tables), plan.Tables)
	}
	c := plan.Tables[0]
	if c.Source != "customer" || c.Lake != "customer" || c.Mode != "incremental" || c.Column != "id" || c.From != nil || !c.Replace ||
		c.Destination != "raw/shop/customer/" || c.CrawlerTarget != "s3://lake/raw/shop/customer/" {
		t.Errorf("customer: %+v", c)
	}
	// The plan shows each column's lake name: the same normalization as tables.
	if len(c.Columns) != 2 || c.Columns[0].Lake != "id" || c.Columns[1].Source != "Full Name" || c.Columns[1].Lake != "full_name" {
		t.Errorf("customer's columns %+v, want id and Full Name -> full_name", c.Columns)
	}
	// Small tables are read in one range, and the plan says why.
	if !strings.HasPrefix(c.Split, "one range: about ") || len(c.Ranges) != 0 {
		t.Errorf("customer's split %q, ranges %v", c.Split, c.Ranges)
	}
	// customer's include path is exactly its folder: customer_address is not crawled.
	if want := []string{"s3://lake/raw/shop/customer/", "s3://lake/raw/shop/orders/"}; !slices.Equal(plan.CrawlerTargets, want) {
		t.Errorf("crawler targets %v, want %v", plan.CrawlerTargets, want)
	}
	if plan.Renamed["Order-Items"] != "order_items" || len(plan.Renamed) != 1 {
		t.Errorf("renamed %v, want Order-Items -> order_items", plan.Renamed)
	}
	if !strings.Contains(stderr.String(), "metadata_queries=3") {
		t.Errorf("stderr %q, want the metadata query count", stderr.String())
	}

	// The daily set loads every table; audit is a full reload, as configured.
	stdout.Reset()
	if err := Ingest(context.Background(), []string{"plan", "--config", configPath, "--set", "daily",
		"--at", "2026-03-30T02:00:00+02:00", "--mysql-dsn", srv.DSN("")}, &stdout, &stderr); err != nil {
		t.Fatalf("ingest plan daily: %v", err)
	}
	out := stdout.String()
	for _, want := range []string{`"due": true`, `"source": "Order-Items"`, `"lake": "customer_address"`,
		`"mode": "full"`, `"reason": "mode full set in ingest.tables.audit.mode"`, `"from": null`} {
		if !strings.Contains(out, want) {
			t.Errorf("daily plan lacks %s:\n%s", want, out)
		}
	}
	if strings.Contains(out, "crawlerTarget") {
		t.Errorf("without --bucket the plan has crawler targets:\n%s", out)
	}

	// A config naming a table the database lacks is refused, naming it and its field.
	bad := filepath.Join(dir, "bad.yaml")
	if err := os.WriteFile(bad, []byte(strings.Replace(ingestConfig, "[orders, customer]", "[orders, custmer]", 1)), 0o644); err != nil {
		t.Fatal(err)
	}
	err = Ingest(context.Background(), []string{"plan", "--config", bad, "--set", "frequent"}, &stdout, &stderr)
	if err == nil || !strings.Contains(err.Error(), bad+": ") ||
		!strings.Contains(err.Error(), `ingest.sets.frequent.tables[1]: unknown table "custmer": database "shop" has no base table of that name`) {
		t.Errorf("unknown table: %v", err)
	}

	// A config that does not validate is refused with its line, before any query.
	if err := os.WriteFile(bad, []byte(strings.Replace(ingestConfig, "tables: [orders, customer]", "every: 15x", 1)), 0o644); err != nil {
		t.Fatal(err)
	}
	err = Ingest(context.Background(), []string{"plan", "--config", bad, "--set", "frequent"}, &stdout, &stderr)
	if err == nil || !strings.Contains(err.Error(), bad+":8:") || !strings.Contains(err.Error(), `ingest.sets.frequent.every: "15x" is not a duration`) {
		t.Errorf("invalid config: %v", err)
	}
}

// TestIngestRunByHand runs `snaplake ingest run` against a real MariaDB and an S3
// server reached through AWS_ENDPOINT_URL_S3: the first run loads every row, the
// second only the new ones, and each prints its summary.
func TestIngestRunByHand(t *testing.T) {
	srv := mariadbtest.Start(t)
	db, err := srv.DB("")
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	for _, q := range []string{
		"CREATE DATABASE shop",
		"CREATE TABLE shop.orders (id BIGINT AUTO_INCREMENT PRIMARY KEY, total INT)",
		"CREATE TABLE shop.`Order-Items` (order_id BIGINT, line INT, PRIMARY KEY (order_id, line))",
		"INSERT INTO shop.orders (total) VALUES (1), (2), (3)",
		"INSERT INTO shop.`Order-Items` VALUES (1, 1), (1, 2)",
	} {
		if _, err := db.Exec(q); err != nil {
			t.Fatalf("%s: %v", q, err)
		}
	}
	s3srv, err := s3server.StartFake()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(s3srv.Stop)
	if err := s3srv.CreateBucket(context.Background(), "lake"); err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	for _, kv := range append(s3srv.Env(), "AWS_CONFIG_FILE="+filepath.Join(dir, "config"), "AWS_SHARED_CREDENTIALS_FILE="+filepath.Join(dir, "credentials"),
		"AWS_PROFILE=", "AWS_SESSION_TOKEN=", "AWS_EC2_METADATA_DISABLED=true", "AWS_ENDPOINT_URL=") {
		k, v, _ := strings.Cut(kv, "=")
		t.Setenv(k, v)
	}
	configPath := filepath.Join(dir, "snaplake.yaml")
	if err := os.WriteFile(configPath, []byte("ingest:\n  source: {instance: local, database: shop}\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	run := func() (summary struct {
		Loaded  int
		Rows    int64
		Renamed map[string]string
	}) {
		t.Helper()
		var stdout, stderr bytes.Buffer
		if err := Ingest(context.Background(), []string{"run", "--config", configPath, "--set", "daily", "--mysql-dsn", srv.DSN(""), "--bucket", "lake"}, &stdout, &stderr); err != nil {
			t.Fatalf("ingest run: %v\n%s", err, stderr.String())
		}
		if err := json.Unmarshal(stdout.Bytes(), &summary); err != nil {
			t.Fatalf("summary: %v\n%s", err, stdout.String())
		}
		return summary
	}
	first := run()
	if first.Loaded != 2 || first.Rows != 5 || first.Renamed["Order-Items"] == "" {
		t.Fatalf("first run: %+v", first)
	}
	if _, err := db.Exec("INSERT INTO shop.orders (total) VALUES (4)"); err != nil {
		t.Fatal(err)
	}
	time.Sleep(1100 * time.Millisecond) // a run ID is a set and a second
	// orders loads its new row; Order-Items (no AUTO_INCREMENT column) is reloaded whole.
	if second := run(); second.Loaded != 2 || second.Rows != 1+2 {
		t.Fatalf("second run: %+v", second)
	}

	// snaplake ingest reset: a dry run prints what would change and changes nothing;
	// the reset makes the next run load every row of orders again.
	reset := func(args ...string) (string, error) {
		t.Helper()
		var stdout, stderr bytes.Buffer
		err := Ingest(context.Background(), append([]string{"reset", "--bucket", "lake"}, args...), &stdout, &stderr)
		return stdout.String() + stderr.String(), err
	}
	out, err := reset("--table", "shop.orders", "--dry-run", "--format", "json")
	var dry struct {
		DryRun bool
		Before struct{ Value *string }
		After  struct{ Value *string }
	}
	if err != nil || json.Unmarshal([]byte(out), &dry) != nil || !dry.DryRun || dry.Before.Value == nil || *dry.Before.Value != "4" || dry.After.Value != nil {
		t.Fatalf("reset --dry-run --format json: %v\n%s", err, out)
	}
	time.Sleep(1100 * time.Millisecond)
	if third := run(); third.Rows != 0+2 {
		t.Fatalf("the run after a dry run: %+v, want orders untouched", third)
	}
	if out, err := reset("--table", "shop.nope"); err == nil || !strings.Contains(err.Error(), "table shop.nope has no watermark record") {
		t.Fatalf("reset of an unknown table: %v\n%s", err, out)
	}
	if out, err := reset("--table", "shop.orders"); err != nil || !strings.Contains(out, "reset shop.orders") || !strings.Contains(out, "clear the watermark id = 4") {
		t.Fatalf("reset: %v\n%s", err, out)
	}
	time.Sleep(1100 * time.Millisecond)
	if fourth := run(); fourth.Rows != 4+2 {
		t.Fatalf("the run after the reset: %+v, want the 4 rows of orders again (and Order-Items' 2)", fourth)
	}
}
