package federate

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"

	"github.com/snaplake/snaplake/internal/federate/redshift"
	"github.com/snaplake/snaplake/internal/local/postgres"
	"github.com/snaplake/snaplake/internal/local/postgres/postgrestest"
	"github.com/snaplake/snaplake/internal/local/s3server"
)

// counting is a warehouse that counts what it is asked and can fail one kind of
// call once: the kills of the tests.
type counting struct {
	redshift.Warehouse
	unloads, copies, queries atomic.Int64
	failSwap                 atomic.Bool
}

func (c *counting) SubmitUnload(ctx context.Context, token, q, prefix string) (string, error) {
	c.unloads.Add(1)
	return c.Warehouse.SubmitUnload(ctx, token, q, prefix)
}

func (c *counting) SubmitCopy(ctx context.Context, token, schema, table string, files []redshift.File) (string, error) {
	c.copies.Add(1)
	return c.Warehouse.SubmitCopy(ctx, token, schema, table, files)
}

func (c *counting) SubmitExec(ctx context.Context, token string, stmts ...string) (string, error) {
	if len(stmts) > 0 && strings.HasPrefix(stmts[len(stmts)-1], "INSERT INTO \"snaplake_federator\"") && c.failSwap.CompareAndSwap(true, false) {
		return "", errors.New("killed between COPY and the swap")
	}
	return c.Warehouse.SubmitExec(ctx, token, stmts...)
}

func (c *counting) Exec(ctx context.Context, stmts ...string) error {
	if len(stmts) > 0 && strings.HasPrefix(stmts[len(stmts)-1], "INSERT INTO \"snaplake_federator\"") && c.failSwap.CompareAndSwap(true, false) {
		return errors.New("killed between COPY and the swap")
	}
	return c.Warehouse.Exec(ctx, stmts...)
}

// failingS3 fails the next manifest write: a publish killed between UNLOAD and its
// manifest.
type failingS3 struct {
	*s3.Client
	failManifest atomic.Bool
	puts         atomic.Int64
}

func (f *failingS3) PutObject(ctx context.Context, in *s3.PutObjectInput, optFns ...func(*s3.Options)) (*s3.PutObjectOutput, error) {
	if strings.HasSuffix(aws.ToString(in.Key), "/manifest.json") && f.failManifest.CompareAndSwap(true, false) {
		return nil, errors.New("killed before the manifest")
	}
	if !strings.Contains(aws.ToString(in.Key), "/_loading/") {
		f.puts.Add(1)
	}
	return f.Client.PutObject(ctx, in, optFns...)
}

type world struct {
	t          *testing.T
	pg         *postgres.Server
	s3         *failingS3
	store      Store
	transform  *counting
	reporting  map[string]*counting
	cfg        Config
	now        time.Time
	log        *slog.Logger
	subscriber map[string]*SubscriberRun
}

const federateConfig = `sales.fact_orders inserted_at updated_at append
sales.dim_customer - -`

func newWorld(t *testing.T) *world {
	t.Helper()
	ctx := context.Background()
	pg := postgrestest.Start(t)
	srv, err := s3server.StartFake()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(srv.Stop)
	if err := srv.CreateBucket(ctx, "lake"); err != nil {
		t.Fatal(err)
	}
	w := &world{t: t, pg: pg, s3: &failingS3{Client: srv.Client()}, reporting: map[string]*counting{}, subscriber: map[string]*SubscriberRun{},
		now: time.Date(2026, 12, 3, 10, 0, 0, 0, time.UTC), log: slog.New(slog.NewTextHandler(io.Discard, nil))}
	w.store = Store{S3: w.s3, Bucket: "lake"}
	w.cfg = Config{KeepVersions: 2, Tables: []Table{
		{Table: "sales.fact_orders", Inserted: "inserted_at", Updated: "updated_at", Append: true},
		{Table: "sales.dim_customer"},
	}}
	for _, db := range []string{"transform", "report_a", "report_b", "report_c"} {
		if err := pg.CreateDatabase(db); err != nil {
			t.Fatal(err)
		}
		wh, err := redshift.Open(ctx, pg.DSN(db), redshift.Deps{S3: srv.Client()})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { wh.Close() })
		c := &counting{Warehouse: wh}
		if db == "transform" {
			w.transform = c
			continue
		}
		name := strings.ReplaceAll(strings.TrimPrefix(db, "report_"), "_", "-")
		w.reporting[name] = c
		w.cfg.Subscribers = append(w.cfg.Subscribers, Subscriber{Name: name})
	}
	w.exec(w.transform,
		"CREATE SCHEMA sales",
		"CREATE TABLE sales.fact_orders (id BIGINT NOT NULL, amount NUMERIC(12,2), note VARCHAR(200), inserted_at TIMESTAMP NOT NULL, updated_at TIMESTAMP)",
		"CREATE TABLE sales.dim_customer (id INTEGER NOT NULL, name VARCHAR(100))",
		"INSERT INTO sales.fact_orders SELECT g, g * 1.25, CASE WHEN g % 7 = 0 THEN NULL ELSE 'note, \"quoted\" ' || g END, TIMESTAMP '2026-12-01 00:00:00' + g * INTERVAL '1 second', NULL FROM generate_series(1, 500) g",
		"INSERT INTO sales.dim_customer SELECT g, 'customer ' || g FROM generate_series(1, 20) g",
	)
	return w
}

func (w *world) exec(c *counting, stmts ...string) {
	w.t.Helper()
	if err := c.Warehouse.Exec(context.Background(), stmts...); err != nil {
		w.t.Fatal(err)
	}
}

func (w *world) publish() map[string]Result {
	w.t.Helper()
	w.now = w.now.Add(time.Minute)
	p := &Publisher{Warehouse: w.transform, Store: w.store, Now: func() time.Time { return w.now }, Log: w.log}
	out := map[string]Result{}
	for _, r := range p.PublishAll(context.Background(), w.cfg) {
		out[r.Table] = r
	}
	return out
}

func (w *world) subscribe(name string) map[string]Result {
	w.t.Helper()
	s := w.subscriber[name]
	if s == nil {
		s = &SubscriberRun{Name: name, Warehouse: w.reporting[name], Store: w.store, Now: func() time.Time { return w.now }, Log: w.log}
		w.subscriber[name] = s
	}
	out := map[string]Result{}
	for _, r := range s.SubscribeAll(context.Background(), w.cfg) {
		out[r.Table] = r
	}
	return out
}

// checksum is a table's content, in a form two databases can compare.
func (w *world) checksum(c *counting, table string) string {
	w.t.Helper()
	rows, err := c.Warehouse.Query(context.Background(), "SELECT count(*) || ':' || coalesce(md5(string_agg(t::text, '|' ORDER BY id)), '') FROM "+table+" t")
	if err != nil {
		w.t.Fatalf("checksum of %s: %v", table, err)
	}
	return *rows[0][0]
}

func (w *world) converged(names ...string) {
	w.t.Helper()
	for _, table := range []string{"sales.fact_orders", "sales.dim_customer"} {
		want := w.checksum(w.transform, table)
		for _, n := range names {
			if got := w.checksum(w.reporting[n], table); got != want {
				w.t.Errorf("subscriber %s: %s is %s, the transform's %s", n, table, got, want)
			}
		}
	}
}

func actions(rs map[string]Result) string {
	return rs["sales.fact_orders"].Action + "/" + rs["sales.dim_customer"].Action
}

func TestPublishSubscribeConverge(t *testing.T) {
	w := newWorld(t)
	if got := actions(w.publish()); got != "published/published" {
		t.Fatalf("first publish: %s", got)
	}
	// Publishing again reads no table data and writes no object.
	unloads, puts := w.transform.unloads.Load(), w.s3.puts.Load()
	if got := actions(w.publish()); got != "unchanged/unchanged" {
		t.Fatalf("second publish: %s", got)
	}
	if w.transform.unloads.Load() != unloads || w.s3.puts.Load() != puts {
		t.Errorf("an unchanged publish unloaded %d times and wrote %d objects", w.transform.unloads.Load()-unloads, w.s3.puts.Load()-puts)
	}
	for _, n := range []string{"a", "b"} {
		if got := actions(w.subscribe(n)); got != "loaded/loaded" {
			t.Fatalf("subscriber %s: %s", n, got)
		}
	}
	w.converged("a", "b")
	if got := actions(w.subscribe("a")); got != "unchanged/unchanged" {
		t.Errorf("subscribing again: %s", got)
	}

	// Rows change: an update makes a full version; both subscribers converge.
	w.exec(w.transform, "UPDATE sales.fact_orders SET amount = amount + 1, updated_at = TIMESTAMP '2026-12-03 09:00:00' WHERE id % 50 = 0",
		// dim_customer is count-only: a change shows when the count does.
		"UPDATE sales.dim_customer SET name = 'renamed' WHERE id = 3", "INSERT INTO sales.dim_customer VALUES (21, 'new')")
	if r := w.publish(); actions(r) != "published/published" || r["sales.fact_orders"].Kind != KindFull {
		t.Fatalf("publish after updates: %+v", r)
	}
	w.subscribe("a")
	w.subscribe("b")
	w.converged("a", "b")

	// Insert-only growth of the fact table: an append version, applied on top.
	w.exec(w.transform, "INSERT INTO sales.fact_orders SELECT g, g, 'late', TIMESTAMP '2026-12-03 09:30:00' + g * INTERVAL '1 second', TIMESTAMP '2026-12-03 09:00:00' FROM generate_series(501, 600) g")
	if r := w.publish(); r["sales.fact_orders"].Kind != KindAppend || r["sales.fact_orders"].Rows != 100 {
		t.Fatalf("publish after inserts: %+v", r["sales.fact_orders"])
	}
	if r := w.subscribe("a"); r["sales.fact_orders"].Action != ActionLoaded || r["sales.fact_orders"].Rows != 100 {
		t.Fatalf("subscriber a applying the append version: %+v", r["sales.fact_orders"])
	}
	w.converged("a")

	// b was down during two publishes (another append, then an update): it catches up
	// to the newest in one run.
	w.exec(w.transform, "INSERT INTO sales.fact_orders SELECT g, g, 'later', TIMESTAMP '2026-12-03 09:40:00' + g * INTERVAL '1 second', TIMESTAMP '2026-12-03 09:00:00' FROM generate_series(601, 650) g")
	w.publish()
	w.exec(w.transform, "DELETE FROM sales.dim_customer WHERE id = 4")
	w.publish()
	w.subscribe("b")
	w.converged("b")
	w.subscribe("a")
	w.converged("a")

	// A new, empty subscriber creates the tables and catches up in one run.
	if got := actions(w.subscribe("c")); got != "loaded/loaded" {
		t.Fatalf("new subscriber: %s", got)
	}
	w.converged("a", "b", "c")
}

func TestKilledRunsConverge(t *testing.T) {
	w := newWorld(t)
	w.publish()
	w.subscribe("a")
	w.converged("a")

	// A publish killed between UNLOAD and the manifest: the version does not exist
	// for subscribers; the next publish makes a complete one.
	w.exec(w.transform, "INSERT INTO sales.dim_customer VALUES (100, 'changed')")
	w.s3.failManifest.Store(true)
	if r := w.publish(); r["sales.dim_customer"].Action != ActionFailed {
		t.Fatalf("killed publish: %+v", r["sales.dim_customer"])
	}
	if got := actions(w.subscribe("a")); got != "unchanged/unchanged" {
		t.Fatalf("a subscriber saw a version without its manifest: %s", got)
	}
	before := w.checksum(w.reporting["a"], "sales.dim_customer")

	// A subscribe killed between COPY and the swap: the table stays at the version it
	// recorded, and the next run converges.
	if r := w.publish(); r["sales.dim_customer"].Action != ActionPublished {
		t.Fatalf("publish after the kill: %+v", r["sales.dim_customer"])
	}
	w.reporting["a"].failSwap.Store(true)
	if r := w.subscribe("a"); r["sales.dim_customer"].Action != ActionFailed {
		t.Fatalf("killed subscribe: %+v", r)
	}
	if got := w.checksum(w.reporting["a"], "sales.dim_customer"); got != before {
		t.Errorf("a killed subscribe changed the table: %s, was %s", got, before)
	}
	if got := actions(w.subscribe("a")); !strings.Contains(got, "loaded") {
		t.Fatalf("after the kill: %s", got)
	}
	w.converged("a")
}

func TestBadInputStaysWithItsTable(t *testing.T) {
	w := newWorld(t)
	// A table without its configured timestamp column fails alone.
	w.cfg.Tables = append(w.cfg.Tables, Table{Table: "sales.dim_customer_copy", Inserted: "created_at"})
	w.exec(w.transform, "CREATE TABLE sales.dim_customer_copy (id INTEGER NOT NULL)")
	r := w.publish()
	if r["sales.dim_customer_copy"].Action != ActionFailed || !strings.Contains(r["sales.dim_customer_copy"].Error, "created_at") || actions(r) != "published/published" {
		t.Fatalf("missing column: %+v", r)
	}
	w.cfg.Tables = w.cfg.Tables[:2]

	// A version name written by hand: that table is refused, the other goes on.
	if _, err := w.s3.Client.PutObject(context.Background(), &s3.PutObjectInput{Bucket: aws.String("lake"),
		Key: aws.String(TableDir("sales.dim_customer") + "latest/manifest.json"), Body: strings.NewReader("{}")}); err != nil {
		t.Fatal(err)
	}
	r = w.subscribe("a")
	if r["sales.dim_customer"].Action != ActionFailed || !strings.Contains(r["sales.dim_customer"].Error, `"latest"`) || r["sales.fact_orders"].Action != ActionLoaded {
		t.Fatalf("hand-written version name: %+v", r)
	}

	// A subscriber whose table differs, and that refuses rebuilds, fails that table
	// with the difference.
	w.cfg.Subscribers[1].OnDefinitionChange = Refuse
	w.exec(w.reporting["b"], "CREATE SCHEMA sales", "CREATE TABLE sales.fact_orders (id BIGINT NOT NULL, amount NUMERIC(14,2), note VARCHAR(200), inserted_at TIMESTAMP NOT NULL, updated_at TIMESTAMP)")
	r = w.subscribe("b")
	if r["sales.fact_orders"].Action != ActionFailed || !strings.Contains(r["sales.fact_orders"].Error, "column amount is numeric(14,2) here, numeric(12,2) published") {
		t.Fatalf("drift: %+v", r["sales.fact_orders"])
	}

	// An unreachable subscriber fails its tables; the others are not affected.
	down, err := redshift.Open(context.Background(), "postgres://postgres@127.0.0.1:1/none?connect_timeout=2", redshift.Deps{S3: w.s3.Client})
	if err == nil {
		s := &SubscriberRun{Name: "down", Warehouse: down, Store: w.store, Log: w.log}
		for _, res := range s.SubscribeAll(context.Background(), w.cfg) {
			if res.Action != ActionFailed {
				t.Errorf("unreachable subscriber: %+v", res)
			}
		}
	}
	if got := actions(w.subscribe("c")); got != "loaded/failed" {
		t.Errorf("subscriber c after the others failed: %s", got)
	}
}
