package federate

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"time"

	"github.com/snaplake/snaplake/internal/aws/lease"
	"github.com/snaplake/snaplake/internal/deploy"
	"github.com/snaplake/snaplake/internal/federate/redshift"
)

// Actions a table's run reports.
const (
	ActionUnchanged = "unchanged"
	ActionPublished = "published"
	ActionLoaded    = "loaded"
	ActionFailed    = "failed"
	// ActionSkipped: another run holds the lease (of the subscriber, or of the
	// published table) and is doing this work now; not a failure.
	ActionSkipped = "skipped"
)

// Result is one table's outcome: one JSON line of the commands' output.
type Result struct {
	Table   string  `json:"table"`
	Action  string  `json:"action"`
	Version string  `json:"version,omitempty"`
	Kind    string  `json:"kind,omitempty"`
	Rows    int64   `json:"rows"`
	Seconds float64 `json:"seconds"`
	Error   string  `json:"error,omitempty"`
	// Reason says why a table was skipped.
	Reason string `json:"reason,omitempty"`
	// Subscriber names the subscriber of a subscribe result.
	Subscriber string `json:"subscriber,omitempty"`
	// LagSeconds (subscribe results) is how long a newer version than the one the
	// subscriber holds after the run has been published; 0 when it holds the newest.
	LagSeconds float64 `json:"lagSeconds,omitempty"`
}

// Publisher publishes the transform warehouse's tables.
type Publisher struct {
	Warehouse redshift.Warehouse
	Store     Store
	// Concurrency bounds the tables checked, and UNLOADs run, at once (default 4).
	Concurrency int
	Now         func() time.Time
	Log         *slog.Logger
	// Run names this run in the tables' leases (default: the host and a random
	// suffix); Lease bounds a lease when the context has no deadline (default 2 h).
	Run   string
	Lease time.Duration
	// Unreachable, when set, is why the transform warehouse could not be opened:
	// each table is reported failed with it.
	Unreachable error

	runOnce sync.Once
}

func (p *Publisher) run() string {
	p.runOnce.Do(func() {
		if p.Run == "" {
			p.Run = newRunID()
		}
	})
	return p.Run
}

func (p *Publisher) now() time.Time {
	if p.Now != nil {
		return p.Now().UTC()
	}
	return time.Now().UTC()
}

// PublishAll publishes every table, Concurrency at a time; one table's failure is
// its result, and the others go on.
func (p *Publisher) PublishAll(ctx context.Context, c Config) []Result {
	out := make([]Result, len(c.Tables))
	n := p.Concurrency
	if n <= 0 {
		n = 4
	}
	sem := make(chan struct{}, n)
	var wg sync.WaitGroup
	for i, t := range c.Tables {
		wg.Add(1)
		sem <- struct{}{}
		go func() {
			defer wg.Done()
			defer func() { <-sem }()
			out[i] = p.Publish(ctx, t, c.Keep())
		}()
	}
	wg.Wait()
	p.CleanupAfter(ctx, c)
	return out
}

// CleanupAfter runs the cleanup of abandoned version folders after a run's tables,
// with the config's grace; it only logs: a folder left is deleted by a later run.
func (p *Publisher) CleanupAfter(ctx context.Context, c Config) CleanupResult {
	res, err := p.Cleanup(ctx, c.Abandoned())
	if err != nil {
		p.log().ErrorContext(ctx, "abandoned version folders not all cleaned up", "error", err)
	}
	p.log().InfoContext(ctx, "cleanup of abandoned version folders", "deleted", res.Deleted(), "kept", len(res.Abandoned)-res.Deleted(), "young", res.Young, "grace", c.Abandoned().String())
	return res
}

// Publish publishes one table if it changed since its newest complete version: one
// metadata query, one listing, and when the state matches, a catalog query and the
// newest manifest's GET (a definition change alone is a change); an UNLOAD only when
// the table changed. The
// manifest is written last; then versions beyond the newest keep are pruned, except
// those a subscriber is loading.
func (p *Publisher) Publish(ctx context.Context, t Table, keep int) Result {
	start := time.Now()
	res := Result{Table: t.Table}
	finish := func(err error) Result {
		res.Seconds = time.Since(start).Seconds()
		if err != nil {
			res.Action, res.Error = ActionFailed, err.Error()
			p.log().ErrorContext(ctx, "table not published", "table", t.Table, "error", err)
		}
		return res
	}
	if p.Unreachable != nil {
		return finish(&UnreachableError{What: "the publisher", Err: p.Unreachable})
	}
	schema, name := t.Split()
	stats, err := p.Warehouse.Stats(ctx, schema, name, t.Inserted, t.Updated)
	if err != nil {
		return finish(fmt.Errorf("read the state of %s: %w", t.Table, err))
	}
	versions, err := p.Store.Versions(ctx, t.Table)
	if err != nil {
		return finish(err)
	}
	newest, has := Newest(versions)
	cols, unchanged, err := p.unchanged(ctx, t, stats, newest, has)
	if err != nil {
		return finish(err)
	}
	if unchanged {
		res.Action, res.Version, res.Kind, res.Rows = ActionUnchanged, newest.Name, newest.Version.Kind, newest.Version.Rows
		return finish(nil)
	}
	// Changed: one run publishes it, an overlapping one skips it. An unchanged table
	// (above) costs no write, not even the lease's.
	leases := p.Store.leases(p.now)
	key, what := deploy.FederatePublishLeaseKey(t.Table), "the publishing of "+t.Table
	ttl := p.Lease
	if ttl <= 0 {
		ttl = 2 * time.Hour
	}
	expired, err := leases.Acquire(ctx, key, what, p.run(), leaseTTL(ctx, p.now(), ttl))
	var held *lease.HeldError
	switch {
	case errors.As(err, &held):
		res.Action, res.Reason = ActionSkipped, held.Error()+": that run publishes it"
		p.log().WarnContext(ctx, "table skipped: another run is publishing it", "table", t.Table, "run", held.Lease.Run, "since", held.Lease.Since)
		return finish(nil)
	case err != nil:
		return finish(err)
	case expired != nil:
		p.log().WarnContext(ctx, "took over the lease of a run that died", "table", t.Table, "run", expired.Run, "since", expired.Since)
	}
	defer func() {
		if err := leases.Release(context.WithoutCancel(ctx), key, what, p.run()); err != nil {
			p.log().WarnContext(ctx, "lease not released (it expires by itself)", "table", t.Table, "error", err)
		}
	}()
	// The run that held the lease may just have published this state.
	if versions, err = p.Store.Versions(ctx, t.Table); err != nil {
		return finish(err)
	}
	newest, has = Newest(versions)
	if cols, unchanged, err = p.unchanged(ctx, t, stats, newest, has); err != nil {
		return finish(err)
	}
	if unchanged {
		res.Action, res.Version, res.Kind, res.Rows = ActionUnchanged, newest.Name, newest.Version.Kind, newest.Version.Rows
		return finish(nil)
	}
	if cols == nil {
		if cols, err = p.Warehouse.Columns(ctx, schema, name); err != nil {
			return finish(err)
		}
	}
	v := Version{Published: p.now(), Kind: KindFull, Rows: stats.Rows, Inserted: stats.MaxInserted, Updated: stats.MaxUpdated}
	query := "SELECT * FROM " + quoteIdent(schema) + "." + quoteIdent(name)
	var after string
	if t.Append && has && appendable(newest.Version, stats) {
		prev, err := p.Store.Manifest(ctx, t.Table, newest.Name)
		if err == nil && sameDefinition(prev.Columns, cols) {
			v.Kind, after = KindAppend, newest.Name
			query += " WHERE " + quoteIdent(t.Inserted) + " > " + timestampLiteral(*newest.Version.Inserted) +
				" AND " + quoteIdent(t.Inserted) + " <= " + timestampLiteral(*stats.MaxInserted)
		}
	}
	m, err := p.unload(ctx, t, v, query, cols, after)
	if err != nil && v.Kind == KindAppend {
		// The new rows do not add up (a row inserted late, a delete): a full version.
		p.log().WarnContext(ctx, "append version refused; publishing the whole table", "table", t.Table, "reason", err)
		v.Kind, after = KindFull, ""
		v.Published = p.now().Add(time.Microsecond)
		m, err = p.unload(ctx, t, v, "SELECT * FROM "+quoteIdent(schema)+"."+quoteIdent(name), cols, "")
	}
	if err != nil {
		return finish(err)
	}
	res.Action, res.Version, res.Kind, res.Rows = ActionPublished, m.Version, m.Kind, m.Rows
	p.log().InfoContext(ctx, "table published", "table", t.Table, "version", m.Version, "kind", m.Kind, "rows", m.Rows, "files", len(m.Files))
	if err := p.prune(ctx, t.Table, keep); err != nil {
		p.log().WarnContext(ctx, "old versions not pruned", "table", t.Table, "error", err)
	}
	return finish(nil)
}

// unchanged says the table is the one newest was published from: the same state
// (row count, greatest insert and update times) and the same definition. A
// definition change alone (a column added, a VARCHAR widened, no row changed) is a
// change: it publishes a new full version, which carries the new definition to the
// subscribers. The definition costs a catalog query and the manifest's GET, only
// when the state matches; cols are the table's columns when they were read.
func (p *Publisher) unchanged(ctx context.Context, t Table, stats redshift.Stats, newest Published, has bool) (cols []redshift.Column, unchanged bool, err error) {
	if !has || !newest.Version.Matches(stats) {
		return nil, false, nil
	}
	schema, name := t.Split()
	if cols, err = p.Warehouse.Columns(ctx, schema, name); err != nil {
		return nil, false, err
	}
	m, err := p.Store.Manifest(ctx, t.Table, newest.Name)
	if err != nil {
		return nil, false, err
	}
	if !sameDefinition(m.Columns, cols) {
		p.log().InfoContext(ctx, "the table's definition changed: publishing a full version", "table", t.Table, "version", newest.Name,
			"published", columnsText(m.Columns), "now", columnsText(cols))
		return cols, false, nil
	}
	return cols, true, nil
}

// appendable says the table only grew since v: more rows, a later insert time, and
// no update since.
func appendable(v Version, s redshift.Stats) bool {
	return v.Inserted != nil && s.MaxInserted != nil && s.Rows > v.Rows && s.MaxInserted.After(*v.Inserted) && sameTime(v.Updated, s.MaxUpdated)
}

// unload writes a version's files, checks them and writes its manifest, last.
func (p *Publisher) unload(ctx context.Context, t Table, v Version, query string, cols []redshift.Column, after string) (Manifest, error) {
	name := v.Name()
	dir := VersionDir(t.Table, name)
	files, err := p.Warehouse.Unload(ctx, query, "s3://"+p.Store.Bucket+"/"+dir)
	if err != nil {
		return Manifest{}, fmt.Errorf("unload %s: %w", t.Table, err)
	}
	m := Manifest{Table: t.Table, Version: name, Kind: v.Kind, After: after, Columns: cols, Files: files}
	for _, f := range files {
		m.Rows += f.Rows
	}
	if v.Kind == KindAppend {
		prev, _ := ParseVersion(t.Table, after)
		if want := v.Rows - prev.Rows; m.Rows != want {
			_ = p.Store.deletePrefix(context.WithoutCancel(ctx), dir)
			return Manifest{}, fmt.Errorf("the rows inserted since %s are %d, and the table grew by %d", after, m.Rows, want)
		}
	}
	if err := p.Store.putJSON(ctx, ManifestKey(t.Table, name), m, true); err != nil {
		return Manifest{}, err
	}
	return m, nil
}

// prune deletes the complete versions older than the newest keep ones, keeping the
// full version the kept append versions build on and every version a subscriber is
// loading. Incomplete versions (an UNLOAD that died, or one whose statement still runs
// in the warehouse after its function was stopped) are the cleanup's, after their
// grace (Cleanup).
func (p *Publisher) prune(ctx context.Context, table string, keep int) error {
	vs, err := p.Store.Versions(ctx, table)
	if err != nil {
		return err
	}
	held, err := p.Store.loadings(ctx, table, p.now())
	if err != nil {
		return err
	}
	// Keep the newest `keep` complete versions, and further back to the full version
	// the oldest kept append version builds on.
	kept := map[string]bool{}
	haveFull, n := false, 0
	for i := len(vs) - 1; i >= 0 && (n < keep || !haveFull); i-- {
		if !vs[i].Complete {
			continue
		}
		kept[vs[i].Name] = true
		haveFull = haveFull || vs[i].Version.Kind == KindFull
		n++
	}
	var errs []error
	for _, v := range vs {
		switch {
		case kept[v.Name], held[v.Name], !v.Complete:
		default:
			if err := p.Store.deletePrefix(ctx, VersionDir(table, v.Name)); err != nil {
				errs = append(errs, err)
			} else {
				p.log().InfoContext(ctx, "version pruned", "table", table, "version", v.Name)
			}
		}
	}
	return errors.Join(errs...)
}

func (p *Publisher) log() *slog.Logger {
	if p.Log != nil {
		return p.Log
	}
	return slog.Default()
}

func quoteIdent(s string) string { return `"` + strings.ReplaceAll(s, `"`, `""`) + `"` }

func timestampLiteral(t time.Time) string {
	return "TIMESTAMP '" + t.UTC().Format("2006-01-02 15:04:05.000000") + "'"
}

// columnsText is a definition in a log line: id bigint NOT NULL, note character varying(200).
func columnsText(cols []redshift.Column) string {
	out := make([]string, len(cols))
	for i, c := range cols {
		out[i] = c.Name + " " + c.Type
		if !c.Nullable {
			out[i] += " NOT NULL"
		}
	}
	return strings.Join(out, ", ")
}
