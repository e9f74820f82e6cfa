package run

import (
	"bytes"
	"context"
	"database/sql"
	"errors"
	"flag"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/glue"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/parquet-go/parquet-go"

	"github.com/snaplake/snaplake/internal/config"
	"github.com/snaplake/snaplake/internal/deploy"
	"github.com/snaplake/snaplake/internal/ingest"
	"github.com/snaplake/snaplake/internal/ingest/watermark"
	gluelocal "github.com/snaplake/snaplake/internal/local/glue"
	"github.com/snaplake/snaplake/internal/local/mariadb"
	"github.com/snaplake/snaplake/internal/local/mariadb/mariadbtest"
	"github.com/snaplake/snaplake/internal/local/s3server"
	"github.com/snaplake/snaplake/internal/local/testenv"
)

var update = flag.Bool("update", false, "rewrite the golden files")

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

// env is one test's world: a database of its own on the shared MariaDB, an S3
// server with the lake bucket, and the Glue stand-in's catalog and crawlers.
type env struct {
	t      *testing.T
	db     *sql.DB
	name   string
	s3     *s3.Client
	srv    *s3server.Server
	glue   *gluelocal.Service
	bucket string
	log    *slog.Logger
	now    time.Time
}

func newEnv(t *testing.T, tables map[string]string) *env {
	t.Helper()
	testenv.NeedsServers(t)
	source.once.Do(func() { source.srv, source.stop, source.err = mariadbtest.StartForMain("snaplake-ingestrun") })
	if source.err != nil {
		t.Fatalf("start mariadb: %v", source.err)
	}
	name := "shop_" + strings.ToLower(strings.NewReplacer("/", "_", "-", "_").Replace(t.Name()))
	if len(name) > 60 {
		name = name[:60]
	}
	root, err := source.srv.DB("")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { root.Close() })
	for _, q := range []string{"DROP DATABASE IF EXISTS `" + name + "`", "CREATE DATABASE `" + name + "`"} {
		if _, err := root.Exec(q); err != nil {
			t.Fatal(err)
		}
	}
	db, err := source.srv.DB(name)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	for tbl, def := range tables {
		if _, err := db.Exec("CREATE TABLE `" + tbl + "` (" + def + ")"); err != nil {
			t.Fatalf("create %s: %v", tbl, err)
		}
	}
	srv, err := s3server.StartFake()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(srv.Stop)
	ctx := context.Background()
	if err := srv.CreateBucket(ctx, "lake"); err != nil {
		t.Fatal(err)
	}
	client := srv.Client()
	cat, err := gluelocal.OpenCatalog(filepath.Join(t.TempDir(), "catalog.json"))
	if err != nil {
		t.Fatal(err)
	}
	for _, d := range []string{ingest.CatalogDatabase(name), deploy.IngestCurrentCatalogDatabase(name)} {
		if err := cat.CreateDatabase(d); err != nil {
			t.Fatal(err)
		}
	}
	g := &gluelocal.Service{S3: client, Catalog: cat, Log: slog.New(slog.DiscardHandler)}
	for _, set := range []string{ingest.SetDaily, ingest.SetFrequent} {
		g.Crawlers = append(g.Crawlers, gluelocal.Crawler{Name: "snaplake-ingest-" + set, Role: "arn:aws:iam::000000000000:role/crawler",
			Database: ingest.CatalogDatabase(name), Targets: []string{"s3://lake/raw/" + name + "/"}})
	}
	return &env{t: t, db: db, name: name, s3: client, srv: srv, glue: g, bucket: "lake",
		log: slog.New(slog.NewTextHandler(io.Discard, nil)), now: time.Date(2026, 3, 30, 2, 0, 0, 0, time.UTC)}
}

func (e *env) exec(q string, args ...any) {
	e.t.Helper()
	if _, err := e.db.Exec(q, args...); err != nil {
		e.t.Fatalf("%s: %v", q, err)
	}
}

// putConfig uploads the config to config/snaplake.yaml, as an operator does.
func (e *env) putConfig(yaml string) {
	e.t.Helper()
	if _, err := e.s3.PutObject(context.Background(), &s3.PutObjectInput{Bucket: aws.String(e.bucket), Key: aws.String(config.S3Key), Body: strings.NewReader(yaml)}); err != nil {
		e.t.Fatal(err)
	}
}

func (e *env) config(extra string) string {
	return "ingest:\n  source:\n    instance: shop-db\n    database: " + e.name + "\n" + extra
}

func (e *env) local() Local {
	db := e.db
	return Local{
		Starter: &Starter{S3: e.s3, Bucket: e.bucket, Glue: e.glue, Crawler: func(set string) string { return "snaplake-ingest-" + set },
			MySQL: func(context.Context) (*sql.DB, error) { return db, nil }, JDBCURL: "jdbc:mysql://db:3306/" + e.name, SecretID: "arn:secret",
			LeaseTTL: time.Hour, Log: e.log},
		Loader: &Loader{S3: e.s3, DB: db, TempDir: e.t.TempDir(), Log: e.log},
		Current: &CurrentBuilder{S3: e.s3, Bucket: e.bucket, Glue: e.glue, MySQL: func(context.Context) (*sql.DB, error) { return db, nil },
			TempDir: e.t.TempDir(), Now: func() time.Time { return e.now }, Log: e.log},
		Finisher: &Finisher{S3: e.s3, Bucket: e.bucket, Glue: e.glue, Log: e.log, Now: func() time.Time { return e.now }},
	}
}

func (e *env) run(set string) Summary {
	e.t.Helper()
	sum, err := e.local().Run(context.Background(), RunRequest{Set: set, Force: true}, e.now)
	if err != nil {
		e.t.Fatalf("run %s: %v", set, err)
	}
	return sum
}

// keys lists the bucket's keys under prefix.
func (e *env) keys(prefix string) []string {
	e.t.Helper()
	var out []string
	p := s3.NewListObjectsV2Paginator(e.s3, &s3.ListObjectsV2Input{Bucket: aws.String(e.bucket), Prefix: aws.String(prefix)})
	for p.HasMorePages() {
		page, err := p.NextPage(context.Background())
		if err != nil {
			e.t.Fatal(err)
		}
		for _, o := range page.Contents {
			out = append(out, aws.ToString(o.Key))
		}
	}
	return out
}

// lakeIDs reads column id of every Parquet file under prefix: what the lake holds.
func (e *env) lakeIDs(prefix string) []int64 {
	e.t.Helper()
	var ids []int64
	for _, k := range e.keys(prefix) {
		if !strings.HasSuffix(k, ".parquet") {
			continue
		}
		out, err := e.s3.GetObject(context.Background(), &s3.GetObjectInput{Bucket: aws.String(e.bucket), Key: aws.String(k)})
		if err != nil {
			e.t.Fatal(err)
		}
		data, _ := io.ReadAll(out.Body)
		out.Body.Close()
		f, err := parquet.OpenFile(bytes.NewReader(data), int64(len(data)))
		if err != nil {
			e.t.Fatalf("%s: %v", k, err)
		}
		col, ok := f.Schema().Lookup("id")
		if !ok {
			e.t.Fatalf("%s has no id column", k)
		}
		for _, rg := range f.RowGroups() {
			pages := rg.ColumnChunks()[col.ColumnIndex].Pages()
			for {
				pg, err := pages.ReadPage()
				if err == io.EOF {
					break
				}
				if err != nil {
					e.t.Fatal(err)
				}
				vals := make([]parquet.Value, pg.NumValues())
				n, _ := pg.Values().ReadValues(vals)
				for _, v := range vals[:n] {
					ids = append(ids, v.Int64())
				}
			}
			pages.Close()
		}
	}
	slices.Sort(ids)
	return ids
}

func (e *env) sourceIDs(table string) []int64 {
	e.t.Helper()
	rows, err := e.db.Query("SELECT id FROM `" + table + "` ORDER BY id")
	if err != nil {
		e.t.Fatal(err)
	}
	defer rows.Close()
	var ids []int64
	for rows.Next() {
		var id int64
		if err := rows.Scan(&id); err != nil {
			e.t.Fatal(err)
		}
		ids = append(ids, id)
	}
	return ids
}

func shopTables() map[string]string {
	return map[string]string{
		"orders":           "id BIGINT AUTO_INCREMENT PRIMARY KEY, total DECIMAL(12,2), placed DATETIME",
		"customer":         "id BIGINT AUTO_INCREMENT PRIMARY KEY, name VARCHAR(50)",
		"customer_address": "id BIGINT AUTO_INCREMENT PRIMARY KEY, customer_id BIGINT",
		"audit_log":        "id BIGINT NOT NULL, note VARCHAR(50)",
		"order-items":      "id BIGINT AUTO_INCREMENT PRIMARY KEY, qty INT",
	}
}

const shopSets = `  sets:
    frequent:
      tables: [orders]
`

func TestRunLoadsIncrementalAndFullTables(t *testing.T) {
	e := newEnv(t, shopTables())
	for i := 1; i <= 5; i++ {
		e.exec("INSERT INTO orders (total, placed) VALUES (?, ?)", 10*i, "2026-03-29 10:00:00")
		e.exec("INSERT INTO audit_log VALUES (?, ?)", i, "created")
	}
	e.exec("INSERT INTO customer (name) VALUES ('ada'), ('bob')")
	e.exec("INSERT INTO customer_address (customer_id) VALUES (1)")
	e.putConfig(e.config(shopSets))

	first := e.run(ingest.SetDaily)
	if first.Planned != 5 || first.Loaded != 5 || first.Failed != 0 || first.Rows != 13 || !first.Crawl {
		t.Fatalf("first daily run: %+v", first)
	}
	run1 := first.Run
	// Incremental tables append load=<run>/, full reloads write gen=<run>/, and the
	// dash in order-items becomes the documented normalized name.
	for _, want := range []string{
		"raw/" + e.name + "/orders/load=" + run1 + "/part-00000.gz.parquet",
		"raw/" + e.name + "/audit_log/gen=" + run1 + "/part-00000.gz.parquet",
	} {
		if !slices.Contains(e.keys("raw/"), want) {
			t.Errorf("missing %s in %v", want, e.keys("raw/"))
		}
	}
	// The crawler's include paths are exactly the incremental tables' folders: customer
	// does not catch customer_address, and the fully reloaded audit_log is not crawled.
	cr, err := e.glue.GetCrawler(context.Background(), &glue.GetCrawlerInput{Name: aws.String("snaplake-ingest-daily")})
	if err != nil {
		t.Fatal(err)
	}
	var targets []string
	for _, tg := range cr.Crawler.Targets.S3Targets {
		targets = append(targets, strings.ReplaceAll(aws.ToString(tg.Path), e.name, "<db>"))
	}
	golden(t, "testdata/crawler_targets.golden", strings.Join(targets, "\n")+"\n")

	// The full table's catalog entry points at its generation.
	tbl, err := e.glue.Catalog.Table(ingest.CatalogDatabase(e.name), "audit_log")
	if err != nil || tbl.Location != "s3://lake/raw/"+e.name+"/audit_log/gen="+run1+"/" || len(tbl.Columns) != 2 || tbl.Columns[0].Type != "bigint" {
		t.Fatalf("audit_log in the catalog: %+v, %v", tbl, err)
	}
	st, err := watermark.Store{S3: e.s3, Bucket: e.bucket}.Load(context.Background(), e.name)
	if err != nil {
		t.Fatal(err)
	}
	if w := st.Tables["orders"].Watermark; w == nil || *w != "5" {
		t.Errorf("orders watermark %v, want 5", w)
	}
	if ts := st.Tables["order-items"]; ts.LakeName == "order-items" || ts.LoadingBy != "" {
		t.Errorf("order-items state %+v: want a normalized lake name and no lease", ts)
	}

	// New rows; the frequent set loads orders from its watermark only.
	e.exec("INSERT INTO orders (total, placed) VALUES (60, '2026-03-30 08:00:00'), (70, '2026-03-30 08:01:00')")
	e.now = e.now.Add(6 * time.Hour)
	freq := e.run(ingest.SetFrequent)
	if freq.Loaded != 1 || freq.Rows != 2 {
		t.Fatalf("frequent run: %+v", freq)
	}
	// Nothing new: a run reads the bound and writes no files.
	e.now = e.now.Add(15 * time.Minute)
	idle := e.run(ingest.SetFrequent)
	if idle.Loaded != 1 || idle.Rows != 0 || slices.ContainsFunc(e.keys("raw/"), func(k string) bool { return strings.Contains(k, idle.Run) }) {
		t.Fatalf("idle frequent run: %+v, keys %v", idle, e.keys("raw/"))
	}
	if got, want := e.lakeIDs("raw/"+e.name+"/orders/"), e.sourceIDs("orders"); !slices.Equal(got, want) {
		t.Errorf("orders in the lake %v, in the source %v", got, want)
	}

	// A second daily run replaces audit_log whole: a new generation, the catalog
	// switched in one update, the old generation kept for the grace period.
	e.exec("UPDATE audit_log SET note = 'changed'")
	e.exec("INSERT INTO audit_log VALUES (6, 'new')")
	e.now = e.now.Add(18 * time.Hour)
	second := e.run(ingest.SetDaily)
	tbl, _ = e.glue.Catalog.Table(ingest.CatalogDatabase(e.name), "audit_log")
	if !strings.HasSuffix(tbl.Location, "/gen="+second.Run+"/") {
		t.Errorf("audit_log location %s after the second daily run %s", tbl.Location, second.Run)
	}
	if len(e.keys("raw/"+e.name+"/audit_log/gen="+run1+"/")) == 0 {
		t.Errorf("the replaced generation was deleted before its grace period")
	}
	if got := e.lakeIDs("raw/" + e.name + "/audit_log/gen=" + second.Run + "/"); len(got) != 6 {
		t.Errorf("the new generation holds %d rows, want 6", len(got))
	}
	e.now = e.now.Add(deploy.DefaultGrace + time.Hour)
	e.run(ingest.SetDaily)
	if k := e.keys("raw/" + e.name + "/audit_log/gen=" + run1 + "/"); len(k) != 0 {
		t.Errorf("the generation replaced more than the grace ago is still there: %v", k)
	}
}

// TestOverlappingRunsLoadEachRowOnce runs the two sets at once, again and again,
// while rows arrive: orders is in both sets, and the lake must hold each of its rows
// exactly once.
func TestOverlappingRunsLoadEachRowOnce(t *testing.T) {
	e := newEnv(t, shopTables())
	e.putConfig(e.config(shopSets))
	ctx := context.Background()
	stop := make(chan struct{})
	var inserted sync.WaitGroup
	inserted.Add(1)
	go func() {
		defer inserted.Done()
		for i := 0; ; i++ {
			select {
			case <-stop:
				return
			default:
			}
			if _, err := e.db.Exec("INSERT INTO orders (total, placed) VALUES (?, NOW())", i); err != nil {
				t.Error(err)
				return
			}
			time.Sleep(2 * time.Millisecond)
		}
	}()
	var skipped, loaded int
	var mu sync.Mutex
	for round := 0; round < 6; round++ {
		at := e.now.Add(time.Duration(round) * time.Minute)
		var wg sync.WaitGroup
		for _, set := range []string{ingest.SetDaily, ingest.SetFrequent} {
			wg.Add(1)
			go func() {
				defer wg.Done()
				sum, err := e.local().Run(ctx, RunRequest{Set: set, Force: true}, at)
				if err != nil {
					t.Errorf("round %d %s: %v", round, set, err)
					return
				}
				mu.Lock()
				defer mu.Unlock()
				for _, ts := range sum.Tables {
					if ts.Source != "orders" {
						continue
					}
					switch ts.Status {
					case "skipped":
						skipped++
					case "loaded":
						loaded++
					}
				}
			}()
		}
		wg.Wait()
	}
	close(stop)
	inserted.Wait()
	// A last run after the inserts stopped catches up.
	e.now = e.now.Add(time.Hour)
	e.run(ingest.SetFrequent)
	got, want := e.lakeIDs("raw/"+e.name+"/orders/"), e.sourceIDs("orders")
	if len(want) < 50 {
		t.Fatalf("only %d rows were inserted: the test proves nothing", len(want))
	}
	if !slices.Equal(got, want) {
		dups := 0
		for i := 1; i < len(got); i++ {
			if got[i] == got[i-1] {
				dups++
			}
		}
		t.Fatalf("the lake holds %d order rows (%d duplicates), the source %d", len(got), dups, len(want))
	}
	t.Logf("orders: %d rows once each; %d loads, %d skips of a table another run held", len(got), loaded, skipped)
	if skipped == 0 {
		t.Logf("no round overlapped on orders this time")
	}
}

// TestDeadRunIsTakenOver: a run that died after writing some files never committed
// them; the next run past its lease removes them and loads the rows once.
func TestDeadRunIsTakenOver(t *testing.T) {
	e := newEnv(t, shopTables())
	e.exec("INSERT INTO orders (total) VALUES (1), (2), (3)")
	e.putConfig(e.config(shopSets))
	l := e.local()
	clock := time.Now()
	l.Starter.LeaseTTL, l.Starter.Now = time.Minute, func() time.Time { return clock }
	ctx := context.Background()
	started, err := l.Starter.Start(ctx, StartInput{Event: RunRequest{Set: ingest.SetFrequent, Force: true}, Time: e.now})
	if err != nil || !started.Load {
		t.Fatalf("start: %+v %v", started, err)
	}
	plan, err := ReadJobPlan(ctx, e.s3, started.Arguments[ingest.ArgPlan])
	if err != nil {
		t.Fatal(err)
	}
	if err := l.Loader.Load(ctx, plan); err != nil {
		t.Fatal(err)
	}
	// ...and the run dies here: no finish. Its files are not visible (no crawl), and
	// its lease holds the table until it expires.
	busy, err := l.Run(ctx, RunRequest{Set: ingest.SetDaily, Force: true}, e.now.Add(time.Second))
	if err != nil {
		t.Fatal(err)
	}
	if !slices.ContainsFunc(busy.Tables, func(ts TableSummary) bool { return ts.Source == "orders" && ts.Status == "skipped" }) {
		t.Fatalf("a run during the lease loaded orders: %+v", busy.Tables)
	}
	clock = clock.Add(2 * time.Minute) // the dead run's lease has expired
	e.now = e.now.Add(time.Minute)
	again, err := l.Run(ctx, RunRequest{Set: ingest.SetFrequent, Force: true}, e.now)
	if err != nil {
		t.Fatal(err)
	}
	if again.Loaded != 1 {
		t.Fatalf("after the lease expired: %+v", again)
	}
	if k := e.keys("raw/" + e.name + "/orders/load=" + started.Run + "/"); len(k) != 0 {
		t.Errorf("the dead run's files are still there: %v", k)
	}
	if got := e.lakeIDs("raw/" + e.name + "/orders/"); !slices.Equal(got, []int64{1, 2, 3}) {
		t.Errorf("orders in the lake: %v", got)
	}
}

// TestFailedTableIsRolledBack: a table whose load fails keeps its watermark, leaves no
// files, and the run's other tables are committed.
func TestFailedTableIsRolledBack(t *testing.T) {
	e := newEnv(t, shopTables())
	e.exec("INSERT INTO orders (total) VALUES (1), (2)")
	e.exec("INSERT INTO customer (name) VALUES ('ada')")
	e.putConfig(e.config(shopSets))
	l := e.local()
	ctx := context.Background()
	started, err := l.Starter.Start(ctx, StartInput{Event: RunRequest{Set: ingest.SetDaily, Force: true}, Time: e.now})
	if err != nil {
		t.Fatal(err)
	}
	plan, _ := ReadJobPlan(ctx, e.s3, started.Arguments[ingest.ArgPlan])
	e.exec("DROP TABLE customer") // between the plan and the load
	err = l.Loader.Load(ctx, plan)
	var failed *JobFailedError
	if !errors.As(err, &failed) || len(failed.Failed) != 1 || failed.Failed["customer"] == nil {
		t.Fatalf("load: %v", err)
	}
	l.BuildCurrent(ctx, started)
	sum, err := l.Finisher.Finish(ctx, FinishInput{Run: started, LoadError: &LoadError{Error: "States.TaskFailed", Cause: err.Error()}})
	if err != nil {
		t.Fatal(err)
	}
	if sum.Failed != 1 || sum.Loaded != 4 || !strings.Contains(sum.Message, "1 failed") {
		t.Fatalf("summary %+v", sum)
	}
	i := slices.IndexFunc(sum.Tables, func(ts TableSummary) bool { return ts.Source == "customer" })
	if i < 0 || sum.Tables[i].Status != "failed" || !strings.Contains(sum.Tables[i].Reason, "customer") {
		t.Errorf("customer in the summary: %+v", sum.Tables)
	}
	if k := e.keys("raw/" + e.name + "/customer/"); len(k) != 0 {
		t.Errorf("the failed table left %v", k)
	}
	st, _ := watermark.Store{S3: e.s3, Bucket: e.bucket}.Load(ctx, e.name)
	if ts := st.Tables["customer"]; ts.Watermark != nil || ts.LoadingBy != "" {
		t.Errorf("customer's state after the failure: %+v", ts)
	}
	if w := st.Tables["orders"].Watermark; w == nil || *w != "2" {
		t.Errorf("orders was not committed: %v", w)
	}
	if k := e.keys("state/ingest-sets/"); len(k) != 0 {
		t.Errorf("the set's lease was not released: %v", k)
	}
}

// TestBadConfigChangesNothing: each bad config refuses the run, names the line, and
// writes nothing at all.
func TestBadConfigChangesNothing(t *testing.T) {
	e := newEnv(t, shopTables())
	cases := []struct{ name, config, want string }{
		{"syntax error", e.config("  sets: [daily\n"), "snaplake.yaml:5"},
		{"role with no tables", e.config("  access:\n    - role: support\n"), "snaplake.yaml:6:7: ingest.access[0].tables"},
		{"schedule that does not parse", e.config("  sets:\n    daily:\n      at: \"25:00\"\n"), "snaplake.yaml:7"},
		{"another database than the stack's", strings.Replace(e.config(""), "database: "+e.name, "database: billing", 1),
			`s3://` + e.bucket + `/config/snaplake.yaml:4:5: ingest.source.database: "billing" is not "` + e.name + `", the database this stack ingests`},
		{"no ingest section", "federate:\n  tables: [{table: t}]\n", "s3://" + e.bucket + "/config/snaplake.yaml: no ingest section"},
		{"a typo at the top", e.config("ingset: {}\n"), "snaplake.yaml:5:1: ingset: unknown section (known: export, ingest, federate, archive)"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			e.putConfig(c.config)
			l := e.local()
			l.Starter.Database = e.name
			_, err := l.Starter.Start(context.Background(), StartInput{Event: RunRequest{Set: ingest.SetDaily, Force: true}, Time: e.now})
			var ce *config.RefusedError
			if !errors.As(err, &ce) || !strings.Contains(err.Error(), c.want) {
				t.Fatalf("error %v, want a *config.RefusedError naming %q", err, c.want)
			}
			if k := append(e.keys("state/"), e.keys("raw/")...); len(k) != 0 {
				t.Errorf("a refused run wrote %v", k)
			}
		})
	}
}

// TestDroppedColumnIsolatesItsTable (issue 15, item 4): a column the config names is
// dropped from the source. The next run fails that table alone, naming the config
// entry's file:line and why, and loads every other table; the table's watermark and
// lease are as the last good run left them. Before, the whole run was refused and no
// table loaded.
func TestDroppedColumnIsolatesItsTable(t *testing.T) {
	e := newEnv(t, shopTables())
	e.exec("INSERT INTO orders (total, placed) VALUES (1, '2026-03-29 10:00:00'), (2, '2026-03-29 11:00:00')")
	e.exec("INSERT INTO customer (name) VALUES ('ada')")
	e.putConfig(e.config("  tables:\n    orders:\n      column: placed\n"))
	if first := e.run(ingest.SetDaily); first.Loaded != 5 || first.Failed != 0 {
		t.Fatalf("first run: %+v", first)
	}
	store := watermark.Store{S3: e.s3, Bucket: e.bucket}
	before, _, err := store.Mark(context.Background(), e.name, "orders")
	if err != nil || before.Value == nil {
		t.Fatalf("orders' watermark after the first run: %+v %v", before, err)
	}

	e.exec("ALTER TABLE orders DROP COLUMN placed")
	e.exec("INSERT INTO customer (name) VALUES ('bob')")
	e.now = e.now.Add(24 * time.Hour)
	sum := e.run(ingest.SetDaily)
	if sum.Loaded != 4 || sum.Failed != 1 || sum.Rows != 1 {
		t.Fatalf("run after the column was dropped: %+v", sum)
	}
	i := slices.IndexFunc(sum.Tables, func(ts TableSummary) bool { return ts.Source == "orders" })
	if i < 0 {
		t.Fatalf("orders is not in the summary: %+v", sum.Tables)
	}
	// config/snaplake.yaml: line 7 is "      column: placed".
	where := "s3://" + e.bucket + "/config/snaplake.yaml:7"
	if got := sum.Tables[i]; got.Status != "failed" || got.Config != where ||
		!strings.Contains(got.Reason, where+":7: ingest.tables.orders.column: unknown column \"placed\"") {
		t.Errorf("orders in the summary: %+v, want failed at %s", got, where)
	}
	for _, ts := range sum.Tables {
		if ts.Source != "orders" && ts.Status != "loaded" {
			t.Errorf("%s: %+v, want loaded", ts.Source, ts)
		}
	}
	if got, want := e.lakeIDs("raw/"+e.name+"/customer/"), e.sourceIDs("customer"); !slices.Equal(got, want) {
		t.Errorf("customer in the lake %v, in the source %v", got, want)
	}
	after, _, err := store.Mark(context.Background(), e.name, "orders")
	if err != nil || after.Run != before.Run || *after.Value != *before.Value {
		t.Errorf("orders' watermark changed: %+v, was %+v (%v)", after, before, err)
	}
	if k := e.keys("state/ingest/" + e.name + "/orders/lease.json"); len(k) != 0 {
		t.Errorf("orders' lease is held: %v", k)
	}

	// A set with no other table to load fails the run, so that it is notified, and
	// changes nothing.
	e.putConfig(e.config("  sets:\n    frequent:\n      tables: [ordres]\n"))
	stateBefore := e.keys("state/")
	_, err = e.local().Run(context.Background(), RunRequest{Set: ingest.SetFrequent, Force: true}, e.now.Add(time.Hour))
	var refused *TablesRefusedError
	if !errors.As(err, &refused) || len(refused.Tables) != 1 || refused.Tables[0].Source != "ordres" ||
		!strings.Contains(err.Error(), "config/snaplake.yaml:7:16: ingest.sets.frequent.tables[0]: unknown table \"ordres\"") {
		t.Errorf("a set whose only table is unknown: %v", err)
	}
	if got := e.keys("state/"); !slices.Equal(got, stateBefore) {
		t.Errorf("the refused run changed the state:\n%v\n%v", stateBefore, got)
	}
}

// TestAnotherCapabilitysMistakeDoesNotStopTheRun: the run reads its own section
// only; a federate section that does not validate is the Federator's problem, and
// `snaplake config validate` reports it.
func TestAnotherCapabilitysMistakeDoesNotStopTheRun(t *testing.T) {
	e := newEnv(t, shopTables())
	e.exec("INSERT INTO orders (total) VALUES (1)")
	e.putConfig(e.config(shopSets) + "federate:\n  tables: nope\n  keepVersions: many\n")
	sum := e.run(ingest.SetDaily)
	if sum.Failed != 0 || sum.Loaded == 0 {
		t.Errorf("summary %+v, want the tables loaded", sum)
	}
}

func golden(t *testing.T, path, got string) {
	t.Helper()
	if *update {
		if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(path, []byte(got), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run go test -update)", err)
	}
	if string(want) != got {
		t.Errorf("%s differs:\n--- want\n%s--- got\n%s", path, want, got)
	}
}

// TestARunIDRunsOnce: a second run of a set in the same second is refused before it
// writes anything, since its folders are the first run's.
func TestARunIDRunsOnce(t *testing.T) {
	e := newEnv(t, shopTables())
	e.exec("INSERT INTO orders (total) VALUES (1)")
	e.putConfig(e.config(shopSets))
	first := e.run(ingest.SetFrequent)
	_, err := e.local().Run(context.Background(), RunRequest{Set: ingest.SetFrequent, Force: true}, e.now)
	var in *InputError
	if !errors.As(err, &in) || !strings.Contains(err.Error(), first.Run) {
		t.Fatalf("second run in the same second: %v", err)
	}
	if got := e.lakeIDs("raw/" + e.name + "/orders/"); !slices.Equal(got, []int64{1}) {
		t.Errorf("orders in the lake: %v", got)
	}
	if k := e.keys("state/ingest-sets/"); len(k) != 0 {
		t.Errorf("the refused run left its set lease: %v", k)
	}
}
