package ingest

import (
	"context"
	"database/sql"
	"encoding/json"
	"fmt"
	"maps"
	"os"
	"regexp"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	_ "github.com/go-sql-driver/mysql"

	"github.com/snaplake/snaplake/internal/local/mariadb"
	"github.com/snaplake/snaplake/internal/local/mariadb/mariadbtest"
	"github.com/snaplake/snaplake/internal/local/testenv"
)

// One MariaDB for the package's tests and benchmark, started by the first that needs it.
var source struct {
	once sync.Once
	srv  *mariadb.Server
	stop func()
	err  error
}

func TestMain(m *testing.M) {
	code := m.Run()
	if source.stop != nil {
		source.stop()
	}
	os.Exit(code)
}

func server(t testing.TB) *mariadb.Server {
	t.Helper()
	testenv.NeedsServers(t)
	source.once.Do(func() {
		source.srv, source.stop, source.err = mariadbtest.StartForMain("snaplake-ingest")
	})
	if source.err != nil {
		t.Fatalf("start mariadb: %v", source.err)
	}
	return source.srv
}

// specialTables are the names and shapes discovery and normalization must survive.
var specialTables = map[string]string{
	"customer":         "id BIGINT AUTO_INCREMENT PRIMARY KEY, name VARCHAR(100), updated_at DATETIME",
	"customer_address": "id BIGINT AUTO_INCREMENT PRIMARY KEY, customer_id BIGINT NOT NULL",
	"customer-address": "id INT PRIMARY KEY, line VARCHAR(100)",
	"Customer":         "id INT AUTO_INCREMENT PRIMARY KEY",
	"order":            "id BIGINT AUTO_INCREMENT PRIMARY KEY, total DECIMAL(12,2)",
	"select":           "`from` INT, `where` VARCHAR(10)",
	"group":            "tenant INT NOT NULL, seq INT NOT NULL AUTO_INCREMENT, PRIMARY KEY (tenant, seq), KEY (seq)",
	"order-items":      "order_id BIGINT NOT NULL, line INT NOT NULL, PRIMARY KEY (order_id, line)",
	"Order_Items":      "id INT AUTO_INCREMENT PRIMARY KEY",
	"2024_sales":       "id INT AUTO_INCREMENT PRIMARY KEY",
	"_staging":         "x INT",
	"café":             "id INT AUTO_INCREMENT PRIMARY KEY",
	"Café":             "id INT",
	"Größe":            "id INT",
	"заказы":           "id BIGINT AUTO_INCREMENT PRIMARY KEY, сумма DECIMAL(10,2)",
	"顧客":               "id INT AUTO_INCREMENT PRIMARY KEY, 名前 VARCHAR(50)",
	"data.v2":          "id INT",
	"with space":       "id INT",
	"touched":          "code VARCHAR(20) PRIMARY KEY, updated_at TIMESTAMP NULL",
}

const sourceTables = 300

var createSource struct {
	once sync.Once
	err  error
}

// source300 is database shop300 with 300 base tables (and a view, which is not one).
func source300(t testing.TB) *sql.DB {
	t.Helper()
	srv := server(t)
	createSource.once.Do(func() { createSource.err = create300(srv) })
	if createSource.err != nil {
		t.Fatalf("create the 300 tables: %v", createSource.err)
	}
	db, err := srv.DB("")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	return db
}

func quote(name string) string { return "`" + strings.ReplaceAll(name, "`", "``") + "`" }

func create300(srv *mariadb.Server) error {
	db, err := srv.DB("")
	if err != nil {
		return err
	}
	defer db.Close()
	stmts := []string{"CREATE DATABASE shop300"}
	for _, name := range slices.Sorted(maps.Keys(specialTables)) {
		stmts = append(stmts, fmt.Sprintf("CREATE TABLE shop300.%s (%s)", quote(name), specialTables[name]))
	}
	for i := 0; len(stmts)-1 < sourceTables; i++ {
		key := "id BIGINT AUTO_INCREMENT PRIMARY KEY"
		if i%5 == 0 {
			key = "id BIGINT NOT NULL" // some tables have no identity column
		}
		stmts = append(stmts, fmt.Sprintf("CREATE TABLE shop300.table_%03d (%s, name VARCHAR(50), amount DECIMAL(10,2), created_at DATETIME, updated_at DATETIME)", i, key))
	}
	stmts = append(stmts, "CREATE VIEW shop300.customer_view AS SELECT id, name FROM shop300.customer")
	for _, s := range stmts[:1] {
		if _, err := db.Exec(s); err != nil {
			return fmt.Errorf("%s: %w", s, err)
		}
	}
	// Four connections at once: table creation is the slow part of the fixture.
	var wg sync.WaitGroup
	errs := make(chan error, 4)
	work := make(chan string)
	for range 4 {
		wg.Go(func() {
			for s := range work {
				if _, err := db.Exec(s); err != nil {
					errs <- fmt.Errorf("%s: %w", s, err)
					return
				}
			}
		})
	}
	for _, s := range stmts[1 : len(stmts)-1] {
		work <- s
	}
	close(work)
	wg.Wait()
	close(errs)
	if err := <-errs; err != nil {
		return err
	}
	_, err = db.Exec(stmts[len(stmts)-1])
	return err
}

func TestDiscover300(t *testing.T) {
	db := source300(t)
	ctx := context.Background()
	q := &CountingQueryer{Q: db}
	tables, err := Discover(ctx, q, "shop300")
	if err != nil {
		t.Fatal(err)
	}
	if q.Queries() != DiscoveryQueries {
		t.Errorf("Discover made %d queries, want %d whatever the number of tables", q.Queries(), DiscoveryQueries)
	}
	if len(tables) != sourceTables {
		t.Fatalf("found %d tables, want %d", len(tables), sourceTables)
	}
	byName := map[string]Table{}
	for _, tb := range tables {
		byName[tb.Name] = tb
	}
	for name := range specialTables {
		if _, ok := byName[name]; !ok {
			t.Errorf("table %q not found", name)
		}
	}
	if _, ok := byName["customer_view"]; ok {
		t.Error("the view was discovered as a table")
	}
	check := func(name string, pk []string, ai string, cols ...string) {
		t.Helper()
		tb := byName[name]
		if !slices.Equal(tb.PrimaryKey, pk) || tb.AutoIncrement != ai || !slices.Equal(tb.columnNames(), cols) {
			t.Errorf("%s: primary key %v, auto-increment %q, columns %v; want %v, %q, %v", name, tb.PrimaryKey, tb.AutoIncrement, tb.columnNames(), pk, ai, cols)
		}
	}
	check("group", []string{"tenant", "seq"}, "seq", "tenant", "seq")
	check("order-items", []string{"order_id", "line"}, "", "order_id", "line")
	check("select", nil, "", "from", "where")
	check("заказы", []string{"id"}, "id", "id", "сумма")
	check("顧客", []string{"id"}, "id", "id", "名前")
	check("table_000", nil, "", "id", "name", "amount", "created_at", "updated_at")
	check("table_001", []string{"id"}, "id", "id", "name", "amount", "created_at", "updated_at")
	if c := byName["customer"].Column("UPDATED_AT"); c == nil || c.DataType != "datetime" || !c.Nullable || c.Ordinal != 3 {
		t.Errorf("customer.updated_at: %+v", c)
	}
	if c := byName["customer_address"].Column("customer_id"); c == nil || c.DataType != "bigint" || c.Nullable || c.ColumnType != "bigint(20)" {
		t.Errorf("customer_address.customer_id: %+v", c)
	}

	// Lake names: valid for Glue and Athena, unique, and the same on every run.
	c := Config{Source: Source{Instance: "local", Database: "shop300"}}
	p, err := PlanRun(c, SetDaily, time.Now(), tables, State{})
	if err != nil {
		t.Fatal(err)
	}
	valid := regexp.MustCompile(`^[a-z][a-z0-9_]{0,254}$`)
	seen := map[string]string{}
	for _, pt := range p.Tables {
		if !valid.MatchString(pt.Lake) {
			t.Errorf("%q -> %q: not a Glue/Athena name", pt.Source, pt.Lake)
		}
		if prev, dup := seen[pt.Lake]; dup {
			t.Errorf("%q and %q both -> %q", prev, pt.Source, pt.Lake)
		}
		seen[pt.Lake] = pt.Source
	}
	if len(p.Tables) != sourceTables {
		t.Errorf("daily plans %d tables, want %d", len(p.Tables), sourceTables)
	}
	again, err := Discover(ctx, db, "shop300")
	if err != nil {
		t.Fatal(err)
	}
	slices.Reverse(again)
	p2, err := PlanRun(c, SetDaily, time.Now(), again, State{})
	if err != nil {
		t.Fatal(err)
	}
	// As JSON: a table's Current is a pointer, which fmt prints as an address.
	t1, _ := json.Marshal(p.Tables)
	t2, _ := json.Marshal(p2.Tables)
	if fmt.Sprint(p2.Renamed) != fmt.Sprint(p.Renamed) || string(t1) != string(t2) {
		t.Errorf("a second discovery plans differently:\n%v\n%v", p.Renamed, p2.Renamed)
	}
	for source, want := range map[string]string{
		"select": "select", "order": "order", "customer": "customer", "customer_address": "customer_address",
		"customer-address": "customer_address_" + nameHash("customer-address", 8), "Customer": "customer_" + nameHash("Customer", 8),
		"2024_sales": "t_2024_sales", "_staging": "t__staging", "data.v2": "data_v2", "with space": "with_space",
		"заказы": "t_" + strings.Repeat("_", 6), "Größe": "gr__e",
	} {
		if got := planned(p)[source].Lake; got != want {
			t.Errorf("%q -> %q, want %q", source, got, want)
		}
	}
	t.Logf("renamed: %v", p.Renamed)
}

// TestDiscoverFollowsTheSource: a table created after the last run is in the next
// daily plan, a dropped one is not, and neither needs a config change.
func TestDiscoverFollowsTheSource(t *testing.T) {
	db, err := server(t).DB("")
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	exec := func(q string) {
		t.Helper()
		if _, err := db.Exec(q); err != nil {
			t.Fatalf("%s: %v", q, err)
		}
	}
	exec("CREATE DATABASE changing")
	exec("CREATE TABLE changing.a (id INT AUTO_INCREMENT PRIMARY KEY)")
	exec("CREATE TABLE changing.b (id INT)")
	c := Config{Source: Source{Instance: "local", Database: "changing"}}
	run := func() []string {
		t.Helper()
		tables, err := Discover(context.Background(), db, "changing")
		if err != nil {
			t.Fatal(err)
		}
		return sources(plan(t, c, SetDaily, "2026-03-30T02:00:00Z", tables, State{}))
	}
	if got := run(); !slices.Equal(got, []string{"a", "b"}) {
		t.Fatalf("first run loads %v", got)
	}
	exec("CREATE TABLE changing.c (id BIGINT AUTO_INCREMENT PRIMARY KEY)")
	exec("DROP TABLE changing.b")
	if got := run(); !slices.Equal(got, []string{"a", "c"}) {
		t.Errorf("after adding c and dropping b the daily run loads %v, want [a c]", got)
	}

	empty, err := Discover(context.Background(), db, "nothing_here")
	if err == nil || !strings.Contains(err.Error(), `database "nothing_here" not found`) {
		t.Errorf("missing database: %v, %v", empty, err)
	}
	exec("CREATE DATABASE empty_db")
	if tables, err := Discover(context.Background(), db, "empty_db"); err != nil || len(tables) != 0 {
		t.Errorf("empty database: %v, %v", tables, err)
	}
}

// BenchmarkPlan300 discovers and plans the 300 tables, as the reconfigure Lambda does
// on each run, and prints last the figure make bench reports. The baseline, measured
// in the same run, is discovery with one query per table.
func BenchmarkPlan300(b *testing.B) {
	db := source300(b)
	ctx := context.Background()
	c := Config{Source: Source{Instance: "local", Database: "shop300"}, TimeZone: "Europe/Berlin",
		Sets: map[string]Set{SetFrequent: {Tables: []string{"customer", "order", "order-items"}}}}
	at := time.Date(2026, 3, 30, 2, 0, 0, 0, time.UTC)

	// Both are timed warm: the first read of information_schema after the tables were
	// created opens every table definition.
	if _, err := Discover(ctx, db, "shop300"); err != nil {
		b.Fatal(err)
	}
	const baseRuns = 3
	var baseQueries int
	start := time.Now()
	for range baseRuns {
		n, err := discoverPerTable(ctx, db, "shop300")
		if err != nil {
			b.Fatal(err)
		}
		baseQueries = n
	}
	baseline := time.Since(start) / baseRuns

	var queries, tables int
	b.ResetTimer()
	start = time.Now()
	for b.Loop() {
		q := &CountingQueryer{Q: db}
		found, err := Discover(ctx, q, "shop300")
		if err != nil {
			b.Fatal(err)
		}
		p, err := PlanRun(c, SetDaily, at, found, State{})
		if err != nil {
			b.Fatal(err)
		}
		queries, tables = q.Queries(), len(p.Tables)
	}
	per := time.Since(start) / time.Duration(b.N)
	ms := float64(per.Microseconds()) / 1000
	b.ReportMetric(float64(queries), "queries/op")
	fmt.Printf("ingest plan baseline: one query per table, %d queries, %.1f ms (%.1fx the planner's time)\n",
		baseQueries, float64(baseline.Microseconds())/1000, float64(baseline)/float64(per))
	fmt.Printf("ingest plan: %d tables, %.1f ms, %d metadata queries\n", tables, ms, queries)
}

// discoverPerTable is the naive discovery the benchmark compares with: the tables,
// then each table's columns and keys on their own.
func discoverPerTable(ctx context.Context, db *sql.DB, database string) (int, error) {
	n := 1
	rows, err := db.QueryContext(ctx, "SELECT TABLE_NAME FROM information_schema.TABLES WHERE TABLE_SCHEMA = ? AND TABLE_TYPE = 'BASE TABLE'", database)
	if err != nil {
		return n, err
	}
	var names []string
	for rows.Next() {
		var name string
		if err := rows.Scan(&name); err != nil {
			return n, err
		}
		names = append(names, name)
	}
	rows.Close()
	for _, name := range names {
		for _, q := range []string{
			"SELECT COLUMN_NAME, DATA_TYPE, COLUMN_TYPE, IS_NULLABLE, ORDINAL_POSITION, EXTRA FROM information_schema.COLUMNS WHERE TABLE_SCHEMA = ? AND TABLE_NAME = ?",
			"SELECT COLUMN_NAME, ORDINAL_POSITION FROM information_schema.KEY_COLUMN_USAGE WHERE TABLE_SCHEMA = ? AND TABLE_NAME = ? AND CONSTRAINT_NAME = 'PRIMARY'",
		} {
			n++
			rows, err := db.QueryContext(ctx, q, database, name)
			if err != nil {
				return n, err
			}
			for rows.Next() {
			}
			rows.Close()
		}
	}
	return n, nil
}
