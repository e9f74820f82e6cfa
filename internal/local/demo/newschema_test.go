package demo

import (
	"bytes"
	"context"
	"database/sql"
	"fmt"
	"maps"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/snaplake/snaplake/internal/deploy"
	"github.com/snaplake/snaplake/internal/export/relocate"
	"github.com/snaplake/snaplake/internal/local/contract"
	"github.com/snaplake/snaplake/internal/local/glue"
	"github.com/snaplake/snaplake/internal/local/iam"
	"github.com/snaplake/snaplake/internal/local/stepfunctions"
)

// newSchemaConfig exports every database of the snapshot: no databases list, so a
// database created between two nights is exported the night after, with no
// redeploy and no config change. (A list naming it before it exists would fail the
// first night: RDS refuses an ExportOnly entry the snapshot does not have.)
const newSchemaConfig = "export: {}\n"

// newSchemaDDL creates hr, the schema that appears between the first two nights:
// a table of a few hundred rows and a small one.
var newSchemaDDL = []string{
	"CREATE DATABASE hr CHARACTER SET utf8mb4 COLLATE utf8mb4_unicode_ci",
	`CREATE TABLE hr.customer (id INT PRIMARY KEY, name VARCHAR(100) NOT NULL, email VARCHAR(200),
		balance DECIMAL(10,2), created_at DATETIME(3) NOT NULL)`,
	`INSERT INTO hr.customer SELECT seq, CONCAT('Customer ', seq, IF(seq % 7 = 0, ' Ødegaard', '')),
		IF(seq % 5 = 0, NULL, CONCAT('c', seq, '@example.com')), (seq * 7919 % 100000) / 100,
		TIMESTAMP('2025-01-01') + INTERVAL seq HOUR FROM hr.seq_1_to_347`,
	`CREATE TABLE hr.customer_address (customer_id INT NOT NULL, city VARCHAR(100) NOT NULL, PRIMARY KEY (customer_id, city))`,
	`INSERT INTO hr.customer_address VALUES (1, 'Berlin'), (2, 'Lyon'), (2, 'Paris'), (5, 'Kraków'), (8, 'Porto')`,
}

// TestANewSchemaIsQueryableTheNightAfterItAppears plays, against a real MariaDB,
// what the offline TestANewDatabaseIsCatalogedTheNightItAppears scripts: a stack
// that catalogs at runtime (contract.LoadRuntimeCatalog: Glue database prefix
// snap_, no ingestion) is deployed with the sample database warehouse; hr is
// created in the source between two nights. The next night exports it (the RDS
// export stand-in reads the snapshot from MariaDB), the crawl wait creates
// snap_hr, snap_hr_latest and hr's crawler, the crawler stand-in infers hr's
// tables and partitions from the Parquet files, the latest function points
// snap_hr_latest at the night's folder, every call made as its role under the
// synthesized policies, and an analyst's DuckDB query of the new tables counts
// exactly MariaDB's rows. The night after reuses hr's crawler.
func TestANewSchemaIsQueryableTheNightAfterItAppears(t *testing.T) {
	ctx := context.Background()
	home := t.TempDir()
	c, err := contract.LoadRuntimeCatalog()
	if err != nil {
		t.Fatal(err)
	}
	prefix := c.Functions[deploy.FnAwaitCallback].Environment[deploy.EnvGlueDatabasePrefix]
	hrDB := deploy.GlueDatabaseName(prefix, "hr")
	hrLatest := deploy.LatestDatabaseName(hrDB)
	tables := []string{"customer", "customer_address"}

	night := func(n int, change func(context.Context, *sql.DB) error) Report {
		t.Helper()
		var out bytes.Buffer
		rep, err := Run(ctx, Options{Home: home, Rows: 5_000, Out: &out, Contract: c, Config: newSchemaConfig, BeforeSnapshot: change})
		if testing.Verbose() {
			t.Logf("night %d:\n%s", n, out.String())
		}
		if err != nil {
			t.Fatalf("night %d: %v\n%s", n, err, out.String())
		}
		if len(rep.Executions) != 1 || rep.Executions[0].Status != stepfunctions.StatusSucceeded {
			t.Fatalf("night %d: executions %+v", n, rep.Executions)
		}
		for _, m := range rep.Notifications {
			if strings.Contains(m.Message, relocate.StatusNotCataloged) {
				t.Errorf("night %d notified %q: every exported database is cataloged", n, m.Subject+": "+m.Message)
			}
		}
		for _, d := range rep.Denied {
			t.Errorf("night %d: %s was denied %s on %s", n, d.Principal, d.Action, d.Resource)
		}
		return rep
	}
	exec := func(stmts ...string) func(context.Context, *sql.DB) error {
		return func(ctx context.Context, db *sql.DB) error {
			for _, q := range stmts {
				if _, err := db.ExecContext(ctx, q); err != nil {
					return fmt.Errorf("%s: %w", q, err)
				}
			}
			return nil
		}
	}
	catalog := func() *glue.Catalog {
		t.Helper()
		cat, err := glue.OpenCatalog(filepath.Join(home, "catalog.json"))
		if err != nil {
			t.Fatal(err)
		}
		return cat
	}
	// checkHR checks hr's tables in the catalog and an analyst's counts of them
	// after night rep, the nights before it counting past rows.
	checkHR := func(rep Report, past map[string]int64) {
		t.Helper()
		cat := catalog()
		dbs, err := cat.Databases()
		if err != nil {
			t.Fatal(err)
		}
		for _, want := range []string{hrDB, hrLatest} {
			if !slices.Contains(dbs, want) {
				t.Fatalf("catalog databases %v lack %s", dbs, want)
			}
		}
		for _, table := range tables {
			want := rep.Databases["hr"][table]
			if want == 0 {
				t.Fatalf("the snapshot has no rows of hr.%s: %v", table, rep.Databases)
			}
			tb, err := cat.Table(hrDB, table)
			if err != nil {
				t.Fatalf("%s.%s: %v", hrDB, table, err)
			}
			if len(tb.PartitionKeys) != 1 || tb.PartitionKeys[0].Name != glue.PartitionKey || tb.Partitions[len(tb.Partitions)-1] != rep.SnapshotDate {
				t.Errorf("%s.%s: partition keys %v, partitions %v; want snapshot_date, newest %s", hrDB, table, tb.PartitionKeys, tb.Partitions, rep.SnapshotDate)
			}
			latest, err := cat.Table(hrLatest, table)
			if err != nil {
				t.Fatalf("%s.%s: %v", hrLatest, table, err)
			}
			if !strings.HasSuffix(latest.Location, "/"+glue.PartitionKey+"="+rep.SnapshotDate+"/") || len(latest.PartitionKeys) != 0 {
				t.Errorf("%s.%s at %s (partition keys %v), want night %s's folder", hrLatest, table, latest.Location, latest.PartitionKeys, rep.SnapshotDate)
			}
			// An analyst's queries, through the catalog as snaplake query reads it.
			if got := queryOne(t, home, fmt.Sprintf("SELECT count(*) FROM %s.%s", hrLatest, table)); got != fmt.Sprint(want) {
				t.Errorf("%s.%s counts %s rows, MariaDB's snapshot %d", hrLatest, table, got, want)
			}
			if got := queryOne(t, home, fmt.Sprintf("SELECT count(*) FROM %s.%s", hrDB, table)); got != fmt.Sprint(past[table]+want) {
				t.Errorf("%s.%s counts %s rows over every night, want %d", hrDB, table, got, past[table]+want)
			}
			if got := queryOne(t, home, fmt.Sprintf("SELECT count(*) FROM %s.%s WHERE snapshot_date = '%s'", hrDB, table, rep.SnapshotDate)); got != fmt.Sprint(want) {
				t.Errorf("%s.%s counts %s rows on %s, MariaDB's snapshot %d", hrDB, table, got, rep.SnapshotDate, want)
			}
		}
		// The values survive the trip, not only the counts.
		if got := queryOne(t, home, fmt.Sprintf("SELECT name || ' ' || CAST(balance AS VARCHAR) || ' ' || strftime(created_at, '%%Y-%%m-%%d %%H') FROM %s.customer WHERE id = 7", hrLatest)); got != "Customer 7 Ødegaard 554.33 2025-01-01 07" {
			t.Errorf("%s.customer id 7 = %q", hrLatest, got)
		}
	}

	// Night 1: warehouse only; the config's export section names no databases.
	first := night(1, nil)
	if got := slices.Sorted(maps.Keys(first.Databases)); !slices.Equal(got, []string{"warehouse"}) {
		t.Fatalf("night 1 snapshot holds %v, want warehouse alone", got)
	}
	if len(first.CreatedCrawlers) != 0 {
		t.Errorf("night 1 created crawlers %v; warehouse's is deployed", first.CreatedCrawlers)
	}
	if dbs, _ := catalog().Databases(); slices.Contains(dbs, hrDB) {
		t.Fatalf("%s is cataloged before hr exists: %v", hrDB, dbs)
	}

	// During the next day hr is created; night 2 catalogs it.
	second := night(2, exec(newSchemaDDL...))
	if want := []string{deploy.CrawlerName("hr")}; !slices.Equal(second.CreatedCrawlers, want) {
		t.Errorf("night 2 created crawlers %v, want %v", second.CreatedCrawlers, want)
	}
	if n := allowedAction(second.Allowed, "glue:CreateCrawler"); n != 1 {
		t.Errorf("night 2: glue:CreateCrawler allowed %d times, want once", n)
	}
	checkHR(second, nil)
	// warehouse, as before, in its prefixed database.
	whDB := deploy.GlueDatabaseName(prefix, "warehouse")
	if got := queryOne(t, home, fmt.Sprintf("SELECT count(*) FROM %s.projects", deploy.LatestDatabaseName(whDB))); got != fmt.Sprint(second.SourceCounts["projects"]) {
		t.Errorf("%s_latest.projects counts %s, the snapshot %d", whDB, got, second.SourceCounts["projects"])
	}

	// Night 3: hr gets rows; its crawler is reused, nothing is created.
	third := night(3, exec(`INSERT INTO hr.customer SELECT 1000 + seq, CONCAT('New ', seq), NULL, 1, TIMESTAMP('2025-06-01') FROM hr.seq_1_to_12`))
	if len(third.CreatedCrawlers) != 0 {
		t.Errorf("night 3 created crawlers %v; hr's exists since night 2", third.CreatedCrawlers)
	}
	for _, action := range []string{"glue:CreateCrawler", "glue:CreateDatabase"} {
		if n := allowedAction(third.Allowed, action); n != 0 {
			t.Errorf("night 3: %s allowed %d times, want none", action, n)
		}
	}
	if third.Databases["hr"]["customer"] != second.Databases["hr"]["customer"]+12 {
		t.Fatalf("hr.customer: %d rows on night 3, %d on night 2", third.Databases["hr"]["customer"], second.Databases["hr"]["customer"])
	}
	checkHR(third, second.Databases["hr"])
}

// allowedAction counts the calls of action among allowed.
func allowedAction(allowed []iam.Grant, action string) int {
	n := 0
	for _, g := range allowed {
		if g.Action == action {
			n++
		}
	}
	return n
}
