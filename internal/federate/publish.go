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
	"github.com/snaplake/snaplake/internal/aws/s3obj"
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
	// ActionWaiting: an UNLOAD or COPY is running; the result's Wait says when to
	// look again (Poll). Never a final result.
	ActionWaiting = "waiting"
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
	// Wait, set while a statement runs, asks the workflow to call again (mode poll)
	// after Wait.Seconds.
	Wait *Wait `json:"wait,omitempty"`
	// Definition (subscribe results) says how the load changed the subscriber's
	// table's definition: created, columns added or widened in place, or rebuilt.
	Definition []string `json:"definition,omitempty"`
	// Cancelled is the id of the statement cancelled past federate.statementTimeout
	// (the result is failed, its error says so).
	Cancelled string `json:"cancelled,omitempty"`
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
	// Limits bound the wait for an UNLOAD (Config.Limits; zero: the defaults).
	Limits Limits
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
// those a subscriber is loading. It waits for the UNLOAD in this process (the
// command line); the workflow runs Start and Poll as separate steps instead.
func (p *Publisher) Publish(ctx context.Context, t Table, keep int) Result {
	return waitFor(ctx, func() Result { return p.Start(ctx, t, keep) }, func() Result { return p.Poll(ctx, t, keep) }, func() Result {
		res := Result{Table: t.Table}
		err := p.Store.interrupt(ctx, p.Warehouse, deploy.FederatePublishStatementKey(t.Table), p.now())
		p.release(ctx, t)
		if err == nil {
			err = ctx.Err()
		}
		end(ctx, p.log(), "table not published", &res, time.Now(), err)
		return res
	})
}

// Start is the first step of publishing one table: it decides, and submits the
// UNLOAD when the table changed. A result with Wait set asks to call Poll after
// Wait.Seconds. An UNLOAD already running for the table (a retried step, a run after
// a crash) is resumed, never submitted twice.
func (p *Publisher) Start(ctx context.Context, t Table, keep int) Result {
	start := time.Now()
	res := Result{Table: t.Table}
	finish := p.finisher(ctx, t, &res, start)
	if p.Unreachable != nil {
		return finish(&UnreachableError{What: "the publisher", Err: p.Unreachable})
	}
	// Looked up first: a running UNLOAD is resumed whatever the table's state now.
	rec, found, err := p.Store.statement(ctx, deploy.FederatePublishStatementKey(t.Table))
	if err != nil {
		return finish(err)
	}
	if found && rec.State == StatementRunning {
		return p.Poll(ctx, t, keep)
	}
	failures := 0
	if found && rec.RetryAfter != nil {
		failures = rec.Failures
		if p.now().Before(*rec.RetryAfter) {
			// The table's last UNLOAD failed or ran past its limit: submitting it again
			// at once would load the transform warehouse for as long again, to the
			// same end. Not a new failure: it was reported when it happened.
			b := &BackoffError{Kind: rec.Kind, Table: t.Table, Failures: rec.Failures, RetryAfter: *rec.RetryAfter, Last: rec.Error}
			res.Action, res.Reason = ActionSkipped, b.Error()
			p.log().WarnContext(ctx, "table skipped: backing off after its failed UNLOAD", "table", t.Table, "failures", rec.Failures, "retryAfter", rec.RetryAfter)
			return finish(nil)
		}
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
	if skipped, err := p.acquire(ctx, t, &res); skipped || err != nil {
		return finish(err)
	}
	done := false
	defer func() {
		if !done {
			p.release(ctx, t)
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
	rec = StatementRecord{Kind: StatementUnload, Table: t.Table, Version: v.Name(), Query: query, After: after, Columns: cols, Failures: failures}
	out := p.submit(ctx, t, keep, rec, start)
	if out.Wait == nil {
		return out
	}
	done = true // the lease is the wait's now: kept while it waits, released by Poll
	return p.settled(ctx, t, keep, out)
}

// settled finishes out's statement in this step (Poll) when it ends within the
// first pause (Limits.settle), else returns out, asking the workflow to wait.
func (p *Publisher) settled(ctx context.Context, t Table, keep int, out Result) Result {
	if out.Wait != nil && p.Limits.settle(ctx, p.Warehouse, out.Wait.Statement) {
		return p.Poll(ctx, t, keep)
	}
	return out
}

// submit records and submits the UNLOAD of rec, and asks to wait for it.
func (p *Publisher) submit(ctx context.Context, t Table, keep int, rec StatementRecord, start time.Time) Result {
	res := Result{Table: t.Table, Version: rec.Version}
	finish := p.finisher(ctx, t, &res, start)
	key := deploy.FederatePublishStatementKey(t.Table)
	now := p.now()
	limits := p.Limits.orDefault()
	rec.Token, rec.ID, rec.Run, rec.State, rec.Owner = redshift.NewToken(), "", p.run(), StatementRunning, p.Store.Identity
	rec.Submitted, rec.Deadline, rec.Cancelled, rec.CancelError = now, now.Add(limits.Timeout), nil, ""
	// The token is recorded before the submission: a step killed in between submits
	// again with it and gets the same statement.
	if err := p.Store.putStatement(ctx, key, rec); err != nil {
		return finish(err)
	}
	return p.resubmit(ctx, t, keep, rec, start)
}

// resubmit submits rec's UNLOAD with its token (idempotent) and records its id.
func (p *Publisher) resubmit(ctx context.Context, t Table, keep int, rec StatementRecord, start time.Time) Result {
	res := Result{Table: t.Table, Version: rec.Version}
	finish := p.finisher(ctx, t, &res, start)
	key := deploy.FederatePublishStatementKey(t.Table)
	id, err := p.Warehouse.SubmitUnload(ctx, rec.Token, rec.Query, "s3://"+p.Store.Bucket+"/"+VersionDir(t.Table, rec.Version))
	if err != nil {
		_ = p.Store.deleteStatement(context.WithoutCancel(ctx), key)
		p.release(ctx, t)
		return finish(fmt.Errorf("unload %s: %w", t.Table, err))
	}
	rec.ID = id
	if err := p.Store.putStatement(ctx, key, rec); err != nil {
		return finish(err)
	}
	p.log().InfoContext(ctx, "UNLOAD submitted", "table", t.Table, "version", rec.Version, "statement", id)
	return p.waiting(ctx, t, rec, &res, finish)
}

// waiting renews the lease past the next pause and asks to wait.
func (p *Publisher) waiting(ctx context.Context, t Table, rec StatementRecord, res *Result, finish func(error) Result) Result {
	w := p.Limits.orDefault().wait(rec, p.now())
	if err := p.Store.leases(p.now).Renew(ctx, deploy.FederatePublishLeaseKey(t.Table), "the publishing of "+t.Table, p.run(),
		time.Duration(w.Seconds)*time.Second+leaseMargin); err != nil {
		return finish(err)
	}
	res.Action, res.Wait = ActionWaiting, w
	return finish(nil)
}

// Poll is the next step of publishing one table: it describes the running UNLOAD and
// waits again, finishes the version (files, checks, manifest, pruning), or cancels
// the UNLOAD past the limit. With no UNLOAD running it is Start.
func (p *Publisher) Poll(ctx context.Context, t Table, keep int) Result {
	start := time.Now()
	res := Result{Table: t.Table}
	finish := p.finisher(ctx, t, &res, start)
	if p.Unreachable != nil {
		return finish(&UnreachableError{What: "the publisher", Err: p.Unreachable})
	}
	key := deploy.FederatePublishStatementKey(t.Table)
	rec, found, err := p.Store.statement(ctx, key)
	if err != nil {
		return finish(err)
	}
	if !found || rec.State != StatementRunning {
		return p.Start(ctx, t, keep)
	}
	res.Version = rec.Version
	if skipped, err := p.acquire(ctx, t, &res); skipped || err != nil {
		return finish(err)
	}
	if rec.Run != p.run() {
		rec.Run = p.run() // a run after a crash takes the wait over
	}
	if rec.ID == "" {
		if p.now().Sub(rec.Submitted) >= redshift.ClientTokenLifetime {
			// The token may have expired: the same token could start a second UNLOAD
			// beside one that may be writing the folder. The record goes; the next run
			// publishes a new version (a new folder), and the cleanup deletes this one
			// after federate.abandonAfter, longer than any statement.
			_ = p.Store.deleteStatement(context.WithoutCancel(ctx), key)
			p.release(ctx, t)
			return finish(&TokenExpiredError{Kind: rec.Kind, Table: t.Table, Submitted: rec.Submitted})
		}
		// Killed between recording the token and the id: the same token gets the same
		// statement.
		return p.settled(ctx, t, keep, p.resubmit(ctx, t, keep, rec, start))
	}
	got, err := p.Store.check(ctx, p.Warehouse, key, &rec, p.Limits, p.now())
	switch {
	case err != nil:
		return finish(err)
	case got.timedOut != nil:
		err := got.timedOut
		if ferr := p.Store.failed(ctx, key, rec, StatementCancelled, got.timedOut, p.now()); ferr != nil {
			err = errors.Join(err, ferr)
		}
		p.release(ctx, t)
		return finish(err)
	case got.running:
		if err := p.Store.putStatement(ctx, key, rec); err != nil {
			return finish(err)
		}
		return p.waiting(ctx, t, rec, &res, finish)
	}
	v, _ := ParseVersion(t.Table, rec.Version)
	var m Manifest
	if err = got.st.Err(); err == nil {
		m, err = p.manifest(ctx, t, rec, v)
	}
	if err != nil && v.Kind == KindAppend {
		// The new rows do not add up (a row inserted late, a delete), or the UNLOAD
		// failed: a full version.
		p.log().WarnContext(ctx, "append version refused; publishing the whole table", "table", t.Table, "reason", err)
		_ = p.Store.deletePrefix(context.WithoutCancel(ctx), VersionDir(t.Table, rec.Version))
		full := v
		full.Kind = KindFull
		full.Published = p.now().Add(time.Microsecond)
		schema, name := t.Split()
		return p.settled(ctx, t, keep, p.submit(ctx, t, keep, StatementRecord{Kind: StatementUnload, Table: t.Table, Version: full.Name(), Columns: rec.Columns, Failures: rec.Failures,
			Query: "SELECT * FROM " + quoteIdent(schema) + "." + quoteIdent(name)}, start))
	}
	defer p.release(ctx, t)
	if serr := got.st.Err(); serr != nil {
		// The UNLOAD itself failed or was aborted (a WLM or query monitoring rule, the
		// warehouse's statement_timeout): back off before the next one.
		err = fmt.Errorf("unload %s: %w", t.Table, serr)
		if ferr := p.Store.failed(ctx, key, rec, StatementFailed, err, p.now()); ferr != nil {
			err = errors.Join(err, ferr)
		}
		return finish(err)
	}
	_ = p.Store.deleteStatement(context.WithoutCancel(ctx), key)
	if err != nil {
		return finish(fmt.Errorf("unload %s: %w", t.Table, err))
	}
	res.Action, res.Version, res.Kind, res.Rows = ActionPublished, m.Version, m.Kind, m.Rows
	p.log().InfoContext(ctx, "table published", "table", t.Table, "version", m.Version, "kind", m.Kind, "rows", m.Rows, "files", len(m.Files))
	if err := p.prune(ctx, t.Table, keep); err != nil {
		p.log().WarnContext(ctx, "old versions not pruned", "table", t.Table, "error", err)
	}
	return finish(nil)
}

// acquire takes the table's publish lease for this run; skipped says another run
// holds it (res says so).
func (p *Publisher) acquire(ctx context.Context, t Table, res *Result) (skipped bool, err error) {
	ttl := p.Lease
	if ttl <= 0 {
		ttl = 2 * time.Hour
	}
	expired, err := p.Store.leases(p.now).Acquire(ctx, deploy.FederatePublishLeaseKey(t.Table), "the publishing of "+t.Table, p.run(), leaseTTL(ctx, p.now(), ttl))
	var held *lease.HeldError
	switch {
	case errors.As(err, &held):
		res.Action, res.Reason = ActionSkipped, held.Error()+": that run publishes it"
		p.log().WarnContext(ctx, "table skipped: another run is publishing it", "table", t.Table, "run", held.Lease.Run, "since", held.Lease.Since)
		return true, nil
	case err != nil:
		return false, err
	case expired != nil:
		p.log().WarnContext(ctx, "took over the lease of a run that died", "table", t.Table, "run", expired.Run, "since", expired.Since)
	}
	return false, nil
}

func (p *Publisher) release(ctx context.Context, t Table) {
	if err := p.Store.leases(p.now).Release(context.WithoutCancel(ctx), deploy.FederatePublishLeaseKey(t.Table), "the publishing of "+t.Table, p.run()); err != nil {
		p.log().WarnContext(ctx, "lease not released (it expires by itself)", "table", t.Table, "error", err)
	}
}

func (p *Publisher) finisher(ctx context.Context, t Table, res *Result, start time.Time) func(error) Result {
	return func(err error) Result {
		end(ctx, p.log(), "table not published", res, start, err)
		return *res
	}
}

// end completes a table's result, publish or subscribe: how long the step took and,
// for an error, the failure (with the id of a statement cancelled past its limit),
// logged as failed (what says what was not done).
func end(ctx context.Context, log *slog.Logger, failed string, res *Result, start time.Time, err error) {
	res.Seconds = time.Since(start).Seconds()
	if err == nil {
		return
	}
	res.Action, res.Error, res.Wait = ActionFailed, err.Error(), nil
	var c *StatementCancelledError
	if errors.As(err, &c) {
		res.Cancelled = c.ID
	}
	log.ErrorContext(ctx, failed, "table", res.Table, "error", err)
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

// manifest collects a finished UNLOAD's files, checks them and writes the version's
// manifest, last.
func (p *Publisher) manifest(ctx context.Context, t Table, rec StatementRecord, v Version) (Manifest, error) {
	dir := VersionDir(t.Table, rec.Version)
	files, err := p.Warehouse.UnloadedFiles(ctx, rec.ID, "s3://"+p.Store.Bucket+"/"+dir)
	if err != nil {
		return Manifest{}, fmt.Errorf("unload %s: %w", t.Table, err)
	}
	m := Manifest{Table: t.Table, Version: rec.Version, Kind: v.Kind, After: rec.After, Columns: rec.Columns, Files: files}
	for _, f := range files {
		m.Rows += f.Rows
	}
	if v.Kind == KindAppend {
		prev, _ := ParseVersion(t.Table, rec.After)
		if want := v.Rows - prev.Rows; m.Rows != want {
			return Manifest{}, fmt.Errorf("the rows inserted since %s are %d, and the table grew by %d", rec.After, m.Rows, want)
		}
	}
	if err := p.Store.putJSON(ctx, ManifestKey(t.Table, rec.Version), m, true); err != nil {
		if s3obj.PreconditionFailed(err) {
			return m, nil // another step of this wait wrote it first
		}
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
