package demo

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"math"
	neturl "net/url"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"text/tabwriter"
	"time"

	"github.com/aws/aws-sdk-go-v2/service/s3"

	"github.com/snaplake/snaplake/internal/config"
	"github.com/snaplake/snaplake/internal/deploy"
	"github.com/snaplake/snaplake/internal/federate"
	"github.com/snaplake/snaplake/internal/federate/redshift"
	"github.com/snaplake/snaplake/internal/local/postgres"
	"github.com/snaplake/snaplake/internal/local/s3server"
)

// FederateConfigFile is the demo's Federator config in the home: a snaplake.yaml with
// the federate section, written on the first run. Edit it and run the demo again.
const FederateConfigFile = "federate.yaml"

// The PostgreSQL databases standing in for the transform warehouse and the two
// reporting warehouses.
const (
	TransformDatabase = "transform"
	ReportingEU       = "reporting_eu"
	ReportingUS       = "reporting_us"
)

// The demo's tables in the transform warehouse.
const (
	FactTable = "sales.fact_orders"  // insert-only, with insert and update times: append versions
	DimTable  = "sales.dim_customer" // changed in place, no timestamps: only its count tells
)

// The transform's first rows, and what each run adds.
const (
	firstOrders    = 4000
	firstCustomers = 200
	ordersPerRun   = 250
)

// demoFederateConfig is the config the demo starts with; %s are the warehouses' URLs.
const demoFederateConfig = `# The demo's Federator (snaplake demo federate): the transform warehouse publishes
# these tables to s3://<lake bucket>/federator/ and the reporting warehouses subscribe.
# Edit and run again. The demo's PostgreSQL listens on a new port each run: URLs to
# 127.0.0.1 are pointed at it; the same file works with snaplake federate and
# redshift:// URLs.
federate:
  publisher: %s
  keepVersions: 3
  tables:
    - table: sales.fact_orders
      inserted: inserted_at
      updated: updated_at
      append: true          # insert-only: each version holds the rows since the last
    - table: sales.dim_customer   # no timestamps: a change shows when the count does
  subscribers:
    - name: reporting-eu
      redshift: %s
    - name: reporting-us
      redshift: %s
      tables: [sales.fact_orders]   # takes only these; without a list, every table
`

// transformTables creates the demo's tables and their first rows: the same rows on
// every machine. updated_at stays NULL until a row changes, so that insert-only
// growth is told apart from updates.
var transformTables = []string{
	"CREATE SCHEMA IF NOT EXISTS sales",
	"CREATE TABLE sales.fact_orders (id BIGINT NOT NULL, customer_id INTEGER NOT NULL, amount NUMERIC(12,2) NOT NULL, channel VARCHAR(20) NOT NULL, inserted_at TIMESTAMP NOT NULL, updated_at TIMESTAMP)",
	"CREATE TABLE sales.dim_customer (id INTEGER NOT NULL, name VARCHAR(100) NOT NULL, country CHAR(2) NOT NULL, segment VARCHAR(20) NOT NULL)",
	fmt.Sprintf(`INSERT INTO sales.fact_orders
SELECT g, 1 + (g * 7919) %% %[2]d, ((g * 104729) %% 100000) / 100.0, (ARRAY['web', 'store', 'phone'])[1 + g %% 3],
       TIMESTAMP '2026-01-05 08:00:00' + g * INTERVAL '20 seconds', NULL
FROM generate_series(1, %[1]d) g`, firstOrders, firstCustomers),
	fmt.Sprintf(`INSERT INTO sales.dim_customer
SELECT g, 'customer ' || g, (ARRAY['DE', 'FR', 'US', 'CA', 'NL'])[1 + g %% 5], (ARRAY['retail', 'wholesale', 'online'])[1 + g %% 3]
FROM generate_series(1, %d) g`, firstCustomers),
}

// transformChanges is a working day of the transform: new orders after the newest
// one, a customer changed and one added (the count changes).
var transformChanges = []string{
	fmt.Sprintf(`INSERT INTO sales.fact_orders
SELECT m.id + g, 1 + ((m.id + g) * 7919) %% %[2]d, (((m.id + g) * 104729) %% 100000) / 100.0, (ARRAY['web', 'store', 'phone'])[1 + (m.id + g) %% 3],
       m.at + g * INTERVAL '20 seconds', NULL
FROM (SELECT max(id) AS id, max(inserted_at) AS at FROM sales.fact_orders) m, generate_series(1, %[1]d) g`, ordersPerRun, firstCustomers),
	`UPDATE sales.dim_customer SET segment = CASE segment WHEN 'online' THEN 'retail' ELSE 'online' END
WHERE id = (SELECT 1 + (count(*) * 37) % 200 FROM sales.dim_customer)`,
	`INSERT INTO sales.dim_customer
SELECT max(id) + 1, 'customer ' || (max(id) + 1), 'DE', 'online' FROM sales.dim_customer`,
}

// FederateReport says what a demo federate did.
type FederateReport struct {
	// Created says this run created the transform's tables.
	Created bool
	// Rounds are the publish-and-subscribe rounds: before the transform changed, and
	// after.
	Rounds []FederateRound
	// Checksums compare each subscriber's copy of each table with the transform's,
	// after the last round.
	Checksums []Checksum
	Status    []federate.TableStatus
	Stages    []Stage
}

// FederateRound is one publish and the subscribes that followed it.
type FederateRound struct {
	Published  []federate.Result
	Subscribed map[string][]federate.Result // by subscriber
	// Statements counts the UNLOADs and COPYs the round submitted and the
	// DescribeStatement calls that followed them: each is submitted and polled, as
	// on the Data API, never waited for on a connection.
	Statements Statements
}

// Statements counts asynchronous statements and their polls.
type Statements struct {
	Unloads   int64 `json:"unloads"`
	Copies    int64 `json:"copies"`
	Describes int64 `json:"describes"`
}

// Checksum is one subscriber's copy of a table against the transform's.
type Checksum struct {
	Table, Subscriber string
	Transform, Copy   TableSum
	Converged         bool
}

// TableSum is a table's content in a form two databases can compare: its row count
// and the md5 of its rows' text, ordered by the key.
type TableSum struct {
	Rows int64
	MD5  string
}

// Converged says every subscriber holds every table as the transform does.
func (r FederateReport) Converged() bool {
	for _, c := range r.Checksums {
		if !c.Converged {
			return false
		}
	}
	return len(r.Checksums) > 0
}

// NotConvergedError says a subscriber's table differs from the transform's after
// its subscribe succeeded.
type NotConvergedError struct{ Checksums []Checksum }

func (e *NotConvergedError) Error() string {
	var out []string
	for _, c := range e.Checksums {
		out = append(out, fmt.Sprintf("%s holds %s as %d rows (md5 %s), the transform %d rows (md5 %s)",
			c.Subscriber, c.Table, c.Copy.Rows, c.Copy.MD5, c.Transform.Rows, c.Transform.MD5))
	}
	return "subscribers did not converge: " + strings.Join(out, "; ")
}

// RunFederate runs the Federator against the home of the nightly demo: PostgreSQL
// (in <home>/postgres) stands in for a transform warehouse and two reporting
// warehouses, versitygw for S3. It publishes and subscribes; changes the transform's
// rows; publishes (an append version for the insert-only fact table) and subscribes
// again; and shows that both subscribers hold what the transform holds.
func RunFederate(ctx context.Context, opts Options) (rep FederateReport, err error) {
	s, err := openSession(&opts, "snaplake demo federate", &Report{})
	if err != nil {
		return rep, err
	}
	defer s.close()
	home, log, p, total := s.home, s.log, s.p, s.start
	defer func() { rep.Stages = p.rep.Stages }()

	srv, err := startFederateServers(ctx, home, log, p)
	if err != nil {
		return rep, err
	}
	defer srv.stop()
	f, cfgPath, err := srv.federation(ctx, home, log.With("component", "federate"), p)
	if f != nil {
		f.format = opts.Format
	}
	if err != nil {
		return rep, err
	}
	defer f.close()
	if rep.Created, err = f.ensureTransform(ctx, p); err != nil {
		return rep, err
	}

	var names []string
	for _, s := range f.subs {
		names = append(names, s.Name)
	}
	for i := range 2 {
		if i == 0 {
			p.line("→ publish (per table one metadata query; an UNLOAD only when it changed), then subscribe %s", strings.Join(names, " and "))
		} else {
			t := time.Now()
			change, err := f.changeDefinition(ctx)
			if err != nil {
				return rep, err
			}
			if err := f.transform.Exec(ctx, transformChanges...); err != nil {
				return rep, fmt.Errorf("change the transform's rows: %w", err)
			}
			p.stage("the transform changes", fmt.Sprintf("%d orders inserted into %s; in %s a customer updated and one added, and %s", ordersPerRun, FactTable, DimTable, change), time.Since(t))
			p.line("→ publish again (rows only inserted: an append version; a count or the definition changed: a full one), then subscribe %s (a new column or a longer VARCHAR is applied in place)", strings.Join(names, " and "))
		}
		r, err := f.round(ctx, p)
		rep.Rounds = append(rep.Rounds, r)
		if err != nil {
			return rep, err
		}
	}

	p.line("→ convergence: each table's row count and the md5 of its rows in key order, each subscriber's against the transform's")
	if rep.Checksums, err = f.converge(ctx, p); err != nil {
		return rep, err
	}
	rep.Status = federate.Status(ctx, f.store, f.cfg, f.subs, time.Now())
	printStatus(p, rep.Status, f.subs)
	if !rep.Converged() {
		var differ []Checksum
		for _, c := range rep.Checksums {
			if !c.Converged {
				differ = append(differ, c)
			}
		}
		return rep, &NotConvergedError{Checksums: differ}
	}
	p.line("done in %.1fs. Edit %s or run `snaplake demo federate` again: the transform changes again and the subscribers follow.", time.Since(total).Seconds(), cfgPath)
	return rep, nil
}

// federateServers are what the Federator demo runs against: PostgreSQL for the
// warehouses, versitygw with the lake's bucket.
type federateServers struct {
	pg     *postgres.Server
	s3     *s3server.Server
	client *s3.Client
}

// startFederateServers starts PostgreSQL on <home>/postgres, kept between runs as
// MariaDB's <home>/mysql is, and versitygw on <home>/s3. On error it stops whatever
// it started.
func startFederateServers(ctx context.Context, home string, log *slog.Logger, p *printer) (_ *federateServers, err error) {
	srv := &federateServers{}
	defer func() {
		if err != nil {
			srv.stop()
		}
	}()
	t := time.Now()
	if srv.pg, err = postgres.Start(ctx, filepath.Join(home, "postgres"), log.With("component", "postgres")); err != nil {
		return nil, fmt.Errorf("start PostgreSQL (the stand-in of Redshift): %w", err)
	}
	created, err := ensureDatabases(ctx, srv.pg, TransformDatabase, ReportingEU, ReportingUS)
	if err != nil {
		return nil, err
	}
	detail := fmt.Sprintf("127.0.0.1:%d, databases %s, %s, %s", srv.pg.Port, TransformDatabase, ReportingEU, ReportingUS)
	if len(created) > 0 {
		detail += " (created " + strings.Join(created, ", ") + ")"
	}
	p.stage("PostgreSQL (stands in for Redshift)", detail, time.Since(t))
	t = time.Now()
	if srv.s3, err = s3server.StartVersityGW(ctx, filepath.Join(home, "s3"), log.With("component", "versitygw")); err != nil {
		return nil, fmt.Errorf("start the S3 server: %w", err)
	}
	srv.client = srv.s3.Client()
	if err := ensureBucket(ctx, srv.client, lakeBucket()); err != nil {
		return nil, err
	}
	p.stage("S3 server (versitygw)", srv.s3.Endpoint+", bucket "+lakeBucket(), time.Since(t))
	return srv, nil
}

// stop stops versitygw, then PostgreSQL; it skips what never started.
func (s *federateServers) stop() {
	if s.s3 != nil {
		s.s3.Stop()
	}
	if s.pg != nil {
		s.pg.Stop()
	}
}

// ensureDatabases creates the databases that do not exist yet and names them.
func ensureDatabases(ctx context.Context, pg *postgres.Server, names ...string) (created []string, err error) {
	conn, err := pg.Connect(ctx, "")
	if err != nil {
		return nil, err
	}
	defer conn.Close(context.WithoutCancel(ctx))
	have := map[string]bool{}
	rows, err := conn.Query(ctx, "SELECT datname FROM pg_database")
	if err != nil {
		return nil, fmt.Errorf("list the PostgreSQL databases: %w", err)
	}
	for rows.Next() {
		var name string
		if err := rows.Scan(&name); err != nil {
			rows.Close()
			return nil, fmt.Errorf("list the PostgreSQL databases: %w", err)
		}
		have[name] = true
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("list the PostgreSQL databases: %w", err)
	}
	for _, name := range names {
		if !have[name] {
			if err := pg.CreateDatabase(name); err != nil {
				return created, err
			}
			created = append(created, name)
		}
	}
	return created, nil
}

// federation is the Federator wired to the demo's servers.
type federation struct {
	// counted counts every warehouse's statements (Statements).
	counted   statementCounter
	cfg       federate.Config
	store     federate.Store
	transform redshift.Warehouse
	publisher *federate.Publisher
	subs      []*federate.SubscriberRun
	opened    []redshift.Warehouse
	format    string // Options.Format
}

// federation reads <home>/federate.yaml, writing it on the first run, and opens the
// warehouses it names.
func (s *federateServers) federation(ctx context.Context, home string, log *slog.Logger, p *printer) (_ *federation, path string, err error) {
	t := time.Now()
	path = filepath.Join(home, FederateConfigFile)
	if _, err := os.Stat(path); errors.Is(err, os.ErrNotExist) {
		text := fmt.Sprintf(demoFederateConfig, s.pg.DSN(TransformDatabase), s.pg.DSN(ReportingEU), s.pg.DSN(ReportingUS))
		if err := os.WriteFile(path, []byte(text), 0o644); err != nil {
			return nil, path, fmt.Errorf("write %s: %w", path, err)
		}
	}
	fc, err := config.LoadSection[federate.Config](path, deploy.SectionFederate)
	if err != nil {
		return nil, path, err // names the line, or says there is no federate section
	}
	f := &federation{cfg: *fc, store: federate.Store{S3: s.client, Bucket: lakeBucket()}}
	defer func() {
		if err != nil {
			f.close()
		}
	}()
	open := func(url, what string) (redshift.Warehouse, error) {
		if url == "" {
			return nil, fmt.Errorf("%s: no URL for %s", path, what)
		}
		wh, err := redshift.Open(ctx, s.local(url), redshift.Deps{S3: s.client})
		if err != nil {
			return nil, fmt.Errorf("open %s: %w", what, err)
		}
		f.opened = append(f.opened, wh)
		return counting{Warehouse: wh, c: &f.counted}, nil
	}
	if f.transform, err = open(f.cfg.Publisher, "the publisher"); err != nil {
		return nil, path, err
	}
	f.publisher = &federate.Publisher{Warehouse: f.transform, Store: f.store, Log: log}
	var names []string
	for _, sub := range f.cfg.Subscribers {
		wh, err := open(sub.Redshift, "subscriber "+sub.Name)
		if err != nil {
			return nil, path, err
		}
		f.subs = append(f.subs, &federate.SubscriberRun{Name: sub.Name, Warehouse: wh, Store: f.store, Log: log})
		names = append(names, sub.Name)
	}
	p.stage("config", fmt.Sprintf("%s: %d tables, subscribers %s → s3://%s/%s", path, len(f.cfg.Tables), strings.Join(names, ", "), lakeBucket(), federate.Prefix), time.Since(t))
	return f, path, nil
}

// local points a postgres:// URL on the loopback address at this run's PostgreSQL,
// whose port changes from run to run; any other URL is left as it is.
func (s *federateServers) local(raw string) string {
	u, err := neturl.Parse(raw)
	if err != nil || (u.Scheme != "postgres" && u.Scheme != "postgresql") {
		return raw
	}
	if h := u.Hostname(); h != "127.0.0.1" && h != "localhost" {
		return raw
	}
	u.Host = "127.0.0.1:" + strconv.Itoa(s.pg.Port)
	return u.String()
}

func (f *federation) close() {
	for _, wh := range f.opened {
		wh.Close()
	}
}

// ensureTransform creates and fills the demo's tables on the first run.
func (f *federation) ensureTransform(ctx context.Context, p *printer) (created bool, err error) {
	t := time.Now()
	schema, name := federate.Table{Table: FactTable}.Split()
	_, err = f.transform.Columns(ctx, schema, name)
	var missing *redshift.TableNotFoundError
	switch {
	case err == nil:
		return false, nil
	case !errors.As(err, &missing):
		return false, err
	}
	if err := f.transform.Exec(ctx, transformTables...); err != nil {
		return false, fmt.Errorf("create the transform's tables: %w", err)
	}
	p.stage("transform tables", fmt.Sprintf("%s: %s orders; %s: %d customers", FactTable, thousands(firstOrders), DimTable, firstCustomers), time.Since(t))
	return true, nil
}

// round publishes, then subscribes every subscriber at once, and prints each
// table's result as the commands print it. A failed table fails the round, after
// every result is shown.
func (f *federation) round(ctx context.Context, p *printer) (FederateRound, error) {
	before := f.counted.snapshot()
	r := FederateRound{Published: f.publisher.PublishAll(ctx, f.cfg), Subscribed: map[string][]federate.Result{}}
	failed := printResults(p, "publish", r.Published, f.format)
	if failed != nil {
		return r, fmt.Errorf("publish: %w", failed)
	}
	results := make([][]federate.Result, len(f.subs))
	var wg sync.WaitGroup
	for i, s := range f.subs {
		wg.Go(func() { results[i] = s.SubscribeAll(ctx, f.cfg) })
	}
	wg.Wait()
	var errs []error
	for i, s := range f.subs {
		r.Subscribed[s.Name] = results[i]
		if err := printResults(p, "subscribe "+s.Name, results[i], f.format); err != nil {
			errs = append(errs, fmt.Errorf("subscriber %s: %w", s.Name, err))
		}
	}
	now := f.counted.snapshot()
	r.Statements = Statements{Unloads: now.Unloads - before.Unloads, Copies: now.Copies - before.Copies, Describes: now.Describes - before.Describes}
	if n := r.Statements; n.Unloads+n.Copies == 0 {
		p.line("  statements: none submitted (nothing changed)")
	} else {
		p.line("  statements: %d UNLOAD and %d COPY submitted, then polled (%d DescribeStatement calls), as on the Data API; in AWS one still running after statementPoll (%s) is left to the workflow's Wait and Poll",
			n.Unloads, n.Copies, n.Describes, deploy.FederateStatementPoll)
	}
	return r, errors.Join(errs...)
}

// statementCounter counts statements across the warehouses and goroutines.
type statementCounter struct {
	mu sync.Mutex
	n  Statements
}

func (c *statementCounter) snapshot() Statements {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.n
}

func (c *statementCounter) add(f func(*Statements)) {
	c.mu.Lock()
	f(&c.n)
	c.mu.Unlock()
}

// counting is a warehouse whose UNLOADs, COPYs and DescribeStatement calls are
// counted.
type counting struct {
	redshift.Warehouse
	c *statementCounter
}

func (w counting) SubmitUnload(ctx context.Context, token, query, prefix string) (string, error) {
	w.c.add(func(n *Statements) { n.Unloads++ })
	return w.Warehouse.SubmitUnload(ctx, token, query, prefix)
}

func (w counting) SubmitCopy(ctx context.Context, token, schema, table string, files []redshift.File) (string, error) {
	w.c.add(func(n *Statements) { n.Copies++ })
	return w.Warehouse.SubmitCopy(ctx, token, schema, table, files)
}

func (w counting) Describe(ctx context.Context, id string) (redshift.Statement, error) {
	w.c.add(func(n *Statements) { n.Describes++ })
	return w.Warehouse.Describe(ctx, id)
}

// loyaltyColumn is the column the demo's definition change adds to DimTable and
// then lengthens, one step each run.
const loyaltyColumn = "loyalty"

// changeDefinition changes DimTable's definition on the transform, as a transform
// job would: the first time it adds a nullable column, later it makes the column's
// VARCHAR longer (Redshift's one type change, each alone, outside a transaction
// block). Both are additive: the subscribers apply them in place. It says what it did.
func (f *federation) changeDefinition(ctx context.Context) (string, error) {
	schema, name := federate.Table{Table: DimTable}.Split()
	cols, err := f.transform.Columns(ctx, schema, name)
	if err != nil {
		return "", err
	}
	length := 0
	for _, c := range cols {
		if c.Name == loyaltyColumn {
			if _, err := fmt.Sscanf(c.Type, "character varying(%d)", &length); err != nil {
				return "", fmt.Errorf("%s.%s is %s, not a VARCHAR: drop it on the transform to start over", DimTable, loyaltyColumn, c.Type)
			}
		}
	}
	var stmt, said string
	if length == 0 {
		stmt = fmt.Sprintf("ALTER TABLE %s ADD COLUMN %s VARCHAR(10)", DimTable, loyaltyColumn)
		said = fmt.Sprintf("column %s VARCHAR(10) added (nullable)", loyaltyColumn)
	} else {
		stmt = fmt.Sprintf("ALTER TABLE %s ALTER COLUMN %s TYPE VARCHAR(%d)", DimTable, loyaltyColumn, length+10)
		said = fmt.Sprintf("column %s made longer: VARCHAR(%d) to VARCHAR(%d)", loyaltyColumn, length, length+10)
	}
	if err := f.transform.Exec(ctx, stmt); err != nil {
		return "", fmt.Errorf("change the definition of %s: %w", DimTable, err)
	}
	if err := f.transform.Exec(ctx, fmt.Sprintf("UPDATE %s SET %s = CASE WHEN id %% 3 = 0 THEN 'gold' ELSE 'silver' END WHERE id %% 7 = 0", DimTable, loyaltyColumn)); err != nil {
		return "", fmt.Errorf("fill %s.%s: %w", DimTable, loyaltyColumn, err)
	}
	return said, nil
}

// printResults prints one stage line per table, saying what was done (or its JSON
// line, with FormatJSON), and returns the first failure.
func printResults(p *printer, what string, rs []federate.Result, format string) error {
	var first error
	for _, r := range rs {
		detail := resultText(r)
		if format == FormatJSON {
			shown := r
			shown.Seconds = math.Round(r.Seconds*1000) / 1000
			line, _ := json.Marshal(shown)
			detail = string(line)
		}
		d := time.Duration(r.Seconds * float64(time.Second))
		name := what + " " + r.Table
		if r.Action == federate.ActionFailed {
			p.line("✗ %-44s %7.2fs  %s", name, d.Seconds(), detail)
			if first == nil {
				first = fmt.Errorf("table %s: %s", r.Table, r.Error)
			}
			continue
		}
		p.stage(name, detail, d)
	}
	return first
}

// resultText says in words what publish or subscribe did with a table.
func resultText(r federate.Result) string {
	version := shortVersion(r.Version) // names the kind: _full or _append
	switch r.Action {
	case federate.ActionPublished:
		return fmt.Sprintf("published %s rows as %s", thousands(r.Rows), version)
	case federate.ActionLoaded:
		text := fmt.Sprintf("loaded %s, %s rows", version, thousands(r.Rows))
		if len(r.Definition) > 0 {
			text += "; definition: " + strings.Join(r.Definition, ", ")
		}
		return text
	case federate.ActionUnchanged:
		return fmt.Sprintf("unchanged: holds %s, %s rows", version, thousands(r.Rows))
	case federate.ActionSkipped:
		return "skipped: " + r.Reason
	case federate.ActionFailed:
		return "failed: " + r.Error
	}
	return r.Action
}

// converge compares every subscriber's copy of every table with the transform's.
func (f *federation) converge(ctx context.Context, p *printer) ([]Checksum, error) {
	var out []Checksum
	for _, t := range f.cfg.Tables {
		start := time.Now()
		want, err := tableSum(ctx, f.transform, t.Table)
		if err != nil {
			return out, err
		}
		for _, s := range f.subs {
			if sub, ok := f.cfg.Subscriber(s.Name); ok && !sub.Takes(t.Table) {
				continue // not subscribed: status says so
			}
			got, err := tableSum(ctx, s.Warehouse, t.Table)
			if err != nil {
				return out, fmt.Errorf("subscriber %s: %w", s.Name, err)
			}
			c := Checksum{Table: t.Table, Subscriber: s.Name, Transform: want, Copy: got, Converged: got == want}
			out = append(out, c)
			name := fmt.Sprintf("%s = transform: %s", s.Name, t.Table)
			detail := fmt.Sprintf("%s rows, md5 %s", thousands(got.Rows), got.MD5)
			if !c.Converged {
				p.line("✗ %-44s %7.2fs  %s; the transform: %s rows, md5 %s", name, time.Since(start).Seconds(), detail, thousands(want.Rows), want.MD5)
			} else {
				p.stage(name, detail, time.Since(start))
			}
			start = time.Now()
		}
	}
	return out, nil
}

// tableSum is a table's row count and the md5 of its rows' text ordered by the key
// (the first column: id in the demo's tables), the whole row breaking ties.
func tableSum(ctx context.Context, wh redshift.Warehouse, table string) (TableSum, error) {
	schema, name := federate.Table{Table: table}.Split()
	cols, err := wh.Columns(ctx, schema, name)
	if err != nil {
		return TableSum{}, err
	}
	q := fmt.Sprintf(`SELECT count(*), coalesce(md5(string_agg(t::text, '|' ORDER BY t.%[1]s, t::text)), '') FROM %[2]s.%[3]s t`,
		quoteIdent(cols[0].Name), quoteIdent(schema), quoteIdent(name))
	rows, err := wh.Query(ctx, q)
	if err != nil {
		return TableSum{}, fmt.Errorf("checksum %s in %s: %w", table, wh.Name(), err)
	}
	if len(rows) != 1 || len(rows[0]) != 2 || rows[0][0] == nil || rows[0][1] == nil {
		return TableSum{}, fmt.Errorf("checksum %s in %s: unexpected result %v", table, wh.Name(), rows)
	}
	n, err := strconv.ParseInt(*rows[0][0], 10, 64)
	if err != nil {
		return TableSum{}, fmt.Errorf("checksum %s in %s: count %q: %w", table, wh.Name(), *rows[0][0], err)
	}
	return TableSum{Rows: n, MD5: *rows[0][1]}, nil
}

func quoteIdent(s string) string { return `"` + strings.ReplaceAll(s, `"`, `""`) + `"` }

// printStatus prints `snaplake federate status` as a table: each table's newest
// version, and each subscriber's version and lag.
func printStatus(p *printer, sts []federate.TableStatus, subs []*federate.SubscriberRun) {
	var b bytes.Buffer
	w := tabwriter.NewWriter(&b, 0, 0, 2, ' ', 0)
	fmt.Fprint(w, "table\tnewest version\trows")
	for _, s := range subs {
		fmt.Fprint(w, "\t"+s.Name)
	}
	fmt.Fprintln(w)
	for _, st := range sts {
		if st.Error != "" {
			fmt.Fprintf(w, "%s\t%s\t\n", st.Table, st.Error)
			continue
		}
		fmt.Fprintf(w, "%s\t%s\t%s", st.Table, shortVersion(st.Version), thousands(st.Rows))
		for _, ss := range st.Subscribers {
			var cell string
			switch {
			case ss.Error != "":
				cell = "error: " + ss.Error
			case ss.State == federate.StateNotSubscribed:
				cell = "not subscribed"
			case ss.Version == st.Version:
				cell = "newest, lag 0s"
			case ss.Version == "":
				cell = fmt.Sprintf("none, lag %.0fs, %s rows", ss.LagSeconds, thousands(ss.LagRows))
			default:
				cell = fmt.Sprintf("%s, lag %.0fs, %s rows", shortVersion(ss.Version), ss.LagSeconds, thousands(ss.LagRows))
			}
			fmt.Fprint(w, "\t"+cell)
		}
		fmt.Fprintln(w)
	}
	w.Flush()
	p.line("\n$ snaplake federate status\n%s", strings.TrimRight(b.String(), "\n"))
}

// shortVersion is a version's publication time and kind: the rest of its name is in
// the rows column and the metadata the publisher compares.
func shortVersion(name string) string {
	if i := strings.Index(name, "_rows="); i > 0 {
		return name[:i]
	}
	return name
}
