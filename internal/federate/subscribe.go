package federate

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"

	"github.com/snaplake/snaplake/internal/aws/lease"
	"github.com/snaplake/snaplake/internal/deploy"
	"github.com/snaplake/snaplake/internal/federate/redshift"
)

// The control table a subscriber keeps: which version of each table it holds.
const (
	ControlSchema = "snaplake_federator"
	ControlTable  = "loaded"
)

// SubscriberRun brings one subscriber's tables up to the newest complete versions.
type SubscriberRun struct {
	Name      string
	Warehouse redshift.Warehouse
	Store     Store
	// Lease is how long its loading marker keeps the versions it loads from being
	// pruned (default 2 h).
	Lease time.Duration
	Now   func() time.Time
	Log   *slog.Logger
	// Run names this run in the subscriber's lease (default: the host and a random
	// suffix).
	Run string
	// Limits bound the wait for a COPY (Config.Limits; zero: the defaults).
	Limits Limits
	// OnDefinitionChange is the subscriber's setting (rebuild or refuse; see
	// Subscriber.OnDefinitionChange); SubscribeAll reads it from the config when
	// this is empty.
	OnDefinitionChange string
	// Unreachable, when set, is why the subscriber's warehouse could not be opened:
	// each table is reported failed with it (an *UnreachableError naming the
	// subscriber), and the other subscribers go on.
	Unreachable error

	// Started is when this table's item began: the item execution's
	// $$.Execution.StartTime, passed by its workflow. While another run holds the
	// subscriber's lease, such an item waits for it (a Wait of kind WaitLease, the
	// workflow's own wait-and-poll loop) until Limits.Timeout after Started, then
	// reports the table skipped; see leaseWait. Zero (the command line, SubscribeAll):
	// the table is reported skipped at once, as an operator's command does not queue
	// behind a run.
	Started time.Time

	// configPolicy is the onDefinitionChange SubscribeAll read from the config.
	configPolicy string

	control sync.Once
	ctlErr  error
	runOnce sync.Once
}

func (s *SubscriberRun) run() string {
	s.runOnce.Do(func() {
		if s.Run == "" {
			s.Run = newRunID()
		}
	})
	return s.Run
}

func (s *SubscriberRun) now() time.Time {
	if s.Now != nil {
		return s.Now().UTC()
	}
	return time.Now().UTC()
}

func (s *SubscriberRun) log() *slog.Logger {
	if s.Log != nil {
		return s.Log.With("subscriber", s.Name)
	}
	return slog.Default().With("subscriber", s.Name)
}

// SubscribeAll subscribes the tables the subscriber takes (every table when the
// config lists none for it, or does not name it), one after another; a table's
// failure is its result and the next goes on.
func (s *SubscriberRun) SubscribeAll(ctx context.Context, c Config) []Result {
	policy := s.OnDefinitionChange
	tables := c.Tables
	if sub, ok := c.Subscriber(s.Name); ok {
		if policy == "" {
			policy = sub.OnDefinitionChange
		}
		tables = c.TablesOf(sub)
	}
	// Kept for this call: the COPY's poll (prepareSwap) reads it too.
	s.configPolicy = policy
	out := make([]Result, len(tables))
	for i, t := range tables {
		out[i] = s.subscribe(ctx, t, policy)
	}
	return out
}

// DriftError says the subscriber's table is not the published one: that table is
// refused, with what differs.
type DriftError struct {
	Subscriber, Table, Version string
	Differences                []string
}

func (e *DriftError) Error() string {
	return fmt.Sprintf("subscriber %s: table %s differs from version %s: %s (onDefinitionChange is %s, so the table is not rebuilt: change it to the published definition, or drop it: the next run creates it; or set onDefinitionChange: %s on the table and the subscriber)",
		e.Subscriber, e.Table, e.Version, strings.Join(e.Differences, "; "), Refuse, Rebuild)
}

// Diff lists what differs between a subscriber's columns and the published ones.
func Diff(here, published []redshift.Column) []string {
	var out []string
	find := func(cols []redshift.Column, name string) (redshift.Column, int) {
		for i, c := range cols {
			if strings.EqualFold(c.Name, name) {
				return c, i
			}
		}
		return redshift.Column{}, -1
	}
	for i, p := range published {
		h, j := find(here, p.Name)
		switch {
		case j < 0:
			out = append(out, fmt.Sprintf("column %s %s is missing here", p.Name, p.Type))
		case h.Type != p.Type:
			out = append(out, fmt.Sprintf("column %s is %s here, %s published", p.Name, h.Type, p.Type))
		case j != i:
			out = append(out, fmt.Sprintf("column %s is column %d here, %d published", p.Name, j+1, i+1))
		case h.Nullable != p.Nullable:
			out = append(out, fmt.Sprintf("column %s is %s here, %s published", p.Name, nullability(h.Nullable), nullability(p.Nullable)))
		}
	}
	for _, h := range here {
		if _, j := find(published, h.Name); j < 0 {
			out = append(out, fmt.Sprintf("column %s %s is not published", h.Name, h.Type))
		}
	}
	return out
}

// UnreachableError says a warehouse could not be reached; What names it
// ("subscriber reporting", "the publisher").
type UnreachableError struct {
	What string
	Err  error
}

func (e *UnreachableError) Error() string { return e.What + " is unreachable: " + e.Err.Error() }
func (e *UnreachableError) Unwrap() error { return e.Err }

// SwapConflictError says a version's swap was refused because the subscriber's
// control table no longer held the version the run started from: another run
// swapped first (this run's lease had expired). Nothing was changed by this run.
type SwapConflictError struct {
	Subscriber, Table, Version string
	Started                    string // the version the run started from ("" for none)
	Found                      string // the version the control table holds now
}

func (e *SwapConflictError) Error() string {
	return fmt.Sprintf("subscriber %s: version %s of %s not swapped in: the run started from version %q, and the control table now holds %q (another run loaded it meanwhile; nothing was changed by this run)",
		e.Subscriber, e.Version, e.Table, e.Started, e.Found)
}

// Subscribe brings one table to its newest complete version: nothing when the
// control table already names it; else the versions from the newest full one (or,
// for append versions, from the version it holds) loaded in order, each through a
// staging table and swapped in within one transaction that also records it. A run
// killed anywhere leaves the table at a version it recorded.
//
// The run holds the subscriber's lease meanwhile: an overlapping run reports the
// table skipped. Should the lease have expired under a run that is still going, each
// swap is conditional on the version the run started from (SwapSQL).
//
// It waits for each COPY in this process (the command line); the workflow runs
// Start and Poll as separate steps instead.
func (s *SubscriberRun) Subscribe(ctx context.Context, t Table) Result {
	return s.subscribe(ctx, t, s.OnDefinitionChange)
}

// subscribe is Subscribe with the subscriber's onDefinitionChange setting.
func (s *SubscriberRun) subscribe(ctx context.Context, t Table, policy string) Result {
	return waitFor(ctx, func() Result { return s.start(ctx, t, policy) }, func() Result { return s.Poll(ctx, t) }, func() Result {
		res := Result{Table: t.Table, Subscriber: s.Name}
		err := s.Store.interrupt(ctx, s.Warehouse, s.statementKey(t), s.now())
		s.unmark(ctx, t)
		s.release(ctx)
		if err == nil {
			err = ctx.Err()
		}
		end(ctx, s.log(), "table not subscribed", &res, time.Now(), err)
		return res
	})
}

func (s *SubscriberRun) statementKey(t Table) string {
	return deploy.FederateSubscribeStatementKey(t.Table, s.Name)
}

func (s *SubscriberRun) finisher(ctx context.Context, t Table, res *Result, start time.Time) func(error) Result {
	return func(err error) Result {
		end(ctx, s.log(), "table not subscribed", res, start, err)
		if res.Wait == nil {
			res.LagSeconds = s.lag(ctx, t, *res)
		}
		return *res
	}
}

// lag is how long the subscriber has been behind on t after its final result res
// (the lag alarm's metric), failed or not: since the first complete version newer
// than the one it holds was published. A subscriber that cannot be read holds
// nothing as far as the alarm knows.
func (s *SubscriberRun) lag(ctx context.Context, t Table, res Result) float64 {
	vs, err := s.Store.Versions(context.WithoutCancel(ctx), t.Table)
	if err != nil {
		return 0
	}
	holds := res.Version
	if res.Action != ActionLoaded && res.Action != ActionUnchanged {
		holds = ""
		if s.Unreachable == nil {
			holds, _ = s.Loaded(context.WithoutCancel(ctx), t.Table)
		}
	}
	seconds, _ := Lag(vs, holds, s.now())
	return seconds
}

// Start is the first step of bringing one table up to date: it decides, and submits
// the first version's COPY when the table is behind. A result with Wait set asks to
// call Poll after Wait.Seconds. A COPY already running for the table (a retried step,
// a run after a crash) is resumed, never submitted twice.
func (s *SubscriberRun) Start(ctx context.Context, t Table) Result {
	return s.start(ctx, t, s.OnDefinitionChange)
}

func (s *SubscriberRun) start(ctx context.Context, t Table, policy string) Result {
	start := time.Now()
	res := Result{Table: t.Table, Subscriber: s.Name}
	finish := s.finisher(ctx, t, &res, start)
	if s.Unreachable != nil {
		return finish(&UnreachableError{What: "subscriber " + s.Name, Err: s.Unreachable})
	}
	rec, found, err := s.Store.statement(ctx, s.statementKey(t))
	if err != nil {
		return finish(err)
	}
	if found && rec.State == StatementRunning {
		return s.Poll(ctx, t)
	}
	schema, name := t.Split()
	// Deciding reads only: an up-to-date table costs no write, not even the lease's.
	loaded, err := s.Loaded(ctx, t.Table)
	if err != nil {
		return finish(err)
	}
	vs, err := s.Store.Versions(ctx, t.Table)
	if err != nil {
		return finish(err)
	}
	newest, ok := Newest(vs)
	if !ok {
		res.Action = ActionUnchanged
		return finish(nil)
	}
	res.Version, res.Kind = newest.Name, newest.Version.Kind
	if loaded == newest.Name {
		res.Action, res.Rows = ActionUnchanged, newest.Version.Rows
		return finish(nil)
	}
	if skipped, err := s.acquire(ctx, t, &res); skipped || err != nil {
		return finish(err)
	}
	waiting := false
	defer func() {
		if !waiting {
			s.release(ctx)
		}
	}()
	if err := s.ensureControl(ctx); err != nil {
		return finish(err)
	}
	// Read again under the lease: the run that held it may just have loaded it.
	if loaded, err = s.Loaded(ctx, t.Table); err != nil {
		return finish(err)
	}
	if loaded == newest.Name {
		res.Action, res.Rows = ActionUnchanged, newest.Version.Rows
		return finish(nil)
	}
	chain, err := s.chain(ctx, t.Table, newest.Name, loaded)
	if err != nil {
		return finish(err)
	}
	// The table's definition against the first version to load: unchanged, changed
	// in place (plan), rebuilt from the newest full version, or refused.
	first := chain[0]
	var plan *DefinitionPlan
	cols, err := s.Warehouse.Columns(ctx, schema, name)
	var missing *redshift.TableNotFoundError
	switch {
	case errors.As(err, &missing):
		// Created empty below: it needs every row, from the newest full version, even
		// if the control table names a version (the table was dropped by hand).
		if first.Kind != KindFull {
			if chain, err = s.chain(ctx, t.Table, newest.Name, ""); err != nil {
				return finish(err)
			}
			first = chain[0]
		}
	case err != nil:
		return finish(err)
	default:
		p := PlanDefinition(cols, first.Columns)
		switch {
		case !p.Changed():
		case p.InPlace():
			plan = &p
		case OnDefinitionChange(t.OnDefinitionChange, policy) == Refuse:
			return finish(&DriftError{Subscriber: s.Name, Table: t.Table, Version: first.Version, Differences: Diff(cols, first.Columns)})
		default:
			s.log().WarnContext(ctx, "the table's definition changed in a way it cannot take in place: rebuilding it from the newest full version",
				"table", t.Table, "differences", strings.Join(p.Other, "; "))
			if first.Kind != KindFull {
				if chain, err = s.chain(ctx, t.Table, newest.Name, ""); err != nil {
					return finish(err)
				}
				first = chain[0]
			}
			plan = &DefinitionPlan{Other: p.Other}
		}
	}
	names := make([]string, len(chain))
	for i, m := range chain {
		names[i] = m.Version
	}
	if err := s.mark(ctx, t, names); err != nil {
		return finish(err)
	}
	if missing != nil {
		// Created by the swap: the staging table, made of the version's definition,
		// takes the table's name (plan.Create). Its schema is needed now.
		if err := s.Warehouse.Exec(ctx, CreateSchemaSQL(schema)); err != nil {
			s.unmark(ctx, t)
			return finish(fmt.Errorf("create the schema of %s: %w", t.Table, err))
		}
		plan = &DefinitionPlan{Create: true}
	}
	out := s.submit(ctx, t, StatementRecord{Kind: StatementCopy, Table: t.Table, Subscriber: s.Name, Chain: names, Index: 0, From: loaded, Plan: plan}, chain[0], start)
	if out.Wait == nil {
		return out
	}
	waiting = true // the lease is the wait's now: kept while it waits, released by Poll
	return s.settled(ctx, t, out)
}

// settled finishes out's COPY or swap in this step (Poll: the swap, the next
// version) when it ends within the first pause (Limits.settle), else returns out,
// asking the workflow to wait.
func (s *SubscriberRun) settled(ctx context.Context, t Table, out Result) Result {
	if out.Wait != nil && s.Limits.settle(ctx, s.Warehouse, out.Wait.Statement) {
		return s.Poll(ctx, t)
	}
	return out
}

// mark writes the loading marker: the publisher does not prune these versions.
func (s *SubscriberRun) mark(ctx context.Context, t Table, versions []string) error {
	until := s.now().Add(max(s.lease(), s.Limits.orDefault().Timeout+leaseMargin))
	return s.Store.putJSON(ctx, loadingKey(t.Table, s.Name), Loading{Subscriber: s.Name, Versions: versions, Until: until}, false)
}

func (s *SubscriberRun) unmark(ctx context.Context, t Table) {
	s.Store.S3.DeleteObject(context.WithoutCancel(ctx), &s3.DeleteObjectInput{Bucket: aws.String(s.Store.Bucket), Key: aws.String(loadingKey(t.Table, s.Name))})
}

// submit stages m and records and submits its COPY, and asks to wait for it.
func (s *SubscriberRun) submit(ctx context.Context, t Table, rec StatementRecord, m Manifest, start time.Time) Result {
	res := Result{Table: t.Table, Subscriber: s.Name, Version: rec.Chain[len(rec.Chain)-1]}
	finish := s.finisher(ctx, t, &res, start)
	schema, name := t.Split()
	stage := StagingSQL(schema, name)
	if rec.Index == 0 && rec.Plan != nil {
		// The first version of a definition change: staged with the version's
		// definition (apply's plan, see swap).
		stage = StagingDefinedSQL(schema, name, m.Columns)
	}
	if err := s.Warehouse.Exec(ctx, stage...); err != nil {
		s.unmark(ctx, t)
		return finish(fmt.Errorf("stage %s.%s: %w", schema, name, err))
	}
	now := s.now()
	rec.Version = m.Version
	rec.Token, rec.ID, rec.Run, rec.State, rec.Owner = redshift.NewToken(), "", s.run(), StatementRunning, s.Store.Identity
	rec.Submitted, rec.Deadline, rec.Cancelled, rec.CancelError = now, now.Add(s.Limits.orDefault().Timeout), nil, ""
	if err := s.Store.putStatement(ctx, s.statementKey(t), rec); err != nil {
		s.unmark(ctx, t)
		return finish(err)
	}
	return s.resubmit(ctx, t, rec, m, start)
}

// resubmit submits rec's COPY with its token (idempotent) and records its id.
func (s *SubscriberRun) resubmit(ctx context.Context, t Table, rec StatementRecord, m Manifest, start time.Time) Result {
	res := Result{Table: t.Table, Subscriber: s.Name, Version: rec.Chain[len(rec.Chain)-1]}
	finish := s.finisher(ctx, t, &res, start)
	schema, name := t.Split()
	id, err := s.Warehouse.SubmitCopy(ctx, rec.Token, schema, name+stagingSuffix, m.Files)
	if err != nil {
		s.done(ctx, t)
		return finish(fmt.Errorf("copy version %s of %s.%s: %w", m.Version, schema, name, err))
	}
	rec.ID = id
	if err := s.Store.putStatement(ctx, s.statementKey(t), rec); err != nil {
		return finish(err)
	}
	s.log().InfoContext(ctx, "COPY submitted", "table", t.Table, "version", m.Version, "statement", id)
	return s.waiting(ctx, rec, &res, finish)
}

func (s *SubscriberRun) waiting(ctx context.Context, rec StatementRecord, res *Result, finish func(error) Result) Result {
	w := s.Limits.orDefault().wait(rec, s.now())
	if err := s.Store.leases(s.now).Renew(ctx, deploy.FederateSubscriberLeaseKey(s.Name), "subscriber "+s.Name, s.run(),
		time.Duration(w.Seconds)*time.Second+leaseMargin); err != nil {
		return finish(fmt.Errorf("subscriber %s: %w", s.Name, err))
	}
	res.Action, res.Wait = ActionWaiting, w
	return finish(nil)
}

// done ends a table's wait: its record, its marker and the lease go.
func (s *SubscriberRun) done(ctx context.Context, t Table) {
	_ = s.Store.deleteStatement(context.WithoutCancel(ctx), s.statementKey(t))
	s.unmark(ctx, t)
	s.release(ctx)
}

// Poll is the next step of bringing one table up to date: it describes the running
// COPY and waits again; or swaps the loaded version in and submits the next
// version's COPY, or ends; or cancels the COPY past the limit. With no COPY running
// it is Start.
func (s *SubscriberRun) Poll(ctx context.Context, t Table) Result {
	start := time.Now()
	res := Result{Table: t.Table, Subscriber: s.Name}
	finish := s.finisher(ctx, t, &res, start)
	if s.Unreachable != nil {
		return finish(&UnreachableError{What: "subscriber " + s.Name, Err: s.Unreachable})
	}
	key := s.statementKey(t)
	rec, found, err := s.Store.statement(ctx, key)
	if err != nil {
		return finish(err)
	}
	if !found || rec.State != StatementRunning {
		return s.Start(ctx, t)
	}
	res.Version = rec.Chain[len(rec.Chain)-1]
	if skipped, err := s.acquire(ctx, t, &res); skipped || err != nil {
		return finish(err)
	}
	rec.Run = s.run()
	m, err := s.Store.Manifest(ctx, t.Table, rec.Chain[rec.Index])
	if err != nil {
		s.done(ctx, t)
		return finish(err)
	}
	if rec.ID == "" {
		if s.now().Sub(rec.Submitted) >= redshift.ClientTokenLifetime {
			// The token may have expired: submitting with it again could start a
			// second statement beside one that may have run. The outcome of the first
			// is unknown; the record goes, and the next run starts afresh (its checks
			// hold: a COPY goes to a staging table made again, a swap checks the
			// control table).
			s.done(ctx, t)
			return finish(&TokenExpiredError{Kind: rec.Kind, Table: t.Table, Subscriber: s.Name, Submitted: rec.Submitted})
		}
		if rec.Kind == StatementSwap {
			return s.settled(ctx, t, s.resubmitSwap(ctx, t, rec, start))
		}
		return s.settled(ctx, t, s.resubmit(ctx, t, rec, m, start))
	}
	got, err := s.Store.check(ctx, s.Warehouse, key, &rec, s.Limits, s.now())
	switch {
	case err != nil:
		return finish(err)
	case got.timedOut != nil:
		s.unmark(ctx, t)
		s.release(ctx)
		return finish(got.timedOut)
	case got.running:
		if err := s.Store.putStatement(ctx, key, rec); err != nil {
			return finish(err)
		}
		return s.waiting(ctx, rec, &res, finish)
	}
	if rec.Kind == StatementSwap {
		if err := s.swapped(ctx, t.Table, m, rec.From, got.st); err != nil {
			s.done(ctx, t)
			return finish(err)
		}
		if rec.Index == 0 && rec.Plan != nil && rec.Plan.Create {
			s.log().InfoContext(ctx, "created the table from the published definition", "table", t.Table, "version", m.Version)
		}
		rec.Rows += m.Rows
		rec.From = m.Version
		if rec.Index++; rec.Index < len(rec.Chain) {
			next, err := s.Store.Manifest(ctx, t.Table, rec.Chain[rec.Index])
			if err != nil {
				s.done(ctx, t)
				return finish(err)
			}
			rec.Kind, rec.SQL = StatementCopy, nil
			return s.settled(ctx, t, s.submit(ctx, t, rec, next, start))
		}
		s.done(ctx, t)
		res.Action, res.Rows, res.Kind = ActionLoaded, rec.Rows, m.Kind
		if rec.Plan != nil {
			res.Definition = rec.Plan.Words()
		}
		s.log().InfoContext(ctx, "table subscribed", "table", t.Table, "version", m.Version, "versions", len(rec.Chain), "rows", rec.Rows)
		return finish(nil)
	}
	var plan *DefinitionPlan
	if rec.Index == 0 {
		plan = rec.Plan
	}
	sqls, err := s.prepareSwap(ctx, t, m, rec.From, got.st, plan)
	if err != nil {
		s.done(ctx, t)
		return finish(err)
	}
	return s.settled(ctx, t, s.submitSwap(ctx, t, rec, sqls, start))
}

// submitSwap records and submits the swap of rec's version (sqls, one transaction),
// and asks to wait for it: a full version's swap moves every row, and may run as long
// as its COPY, so no Lambda holds it either.
func (s *SubscriberRun) submitSwap(ctx context.Context, t Table, rec StatementRecord, sqls []string, start time.Time) Result {
	res := Result{Table: t.Table, Subscriber: s.Name, Version: rec.Chain[len(rec.Chain)-1]}
	finish := s.finisher(ctx, t, &res, start)
	now := s.now()
	rec.Kind, rec.SQL = StatementSwap, sqls
	rec.Token, rec.ID, rec.Run, rec.State, rec.Owner = redshift.NewToken(), "", s.run(), StatementRunning, s.Store.Identity
	rec.Submitted, rec.Deadline, rec.Cancelled, rec.CancelError = now, now.Add(s.Limits.orDefault().Timeout), nil, ""
	if err := s.Store.putStatement(ctx, s.statementKey(t), rec); err != nil {
		s.done(ctx, t)
		return finish(err)
	}
	return s.resubmitSwap(ctx, t, rec, start)
}

// resubmitSwap submits rec's swap with its token (idempotent) and records its id.
func (s *SubscriberRun) resubmitSwap(ctx context.Context, t Table, rec StatementRecord, start time.Time) Result {
	res := Result{Table: t.Table, Subscriber: s.Name, Version: rec.Chain[len(rec.Chain)-1]}
	finish := s.finisher(ctx, t, &res, start)
	id, err := s.Warehouse.SubmitExec(ctx, rec.Token, rec.SQL...)
	if err != nil {
		s.done(ctx, t)
		return finish(fmt.Errorf("swap in version %s of %s: %w", rec.Version, t.Table, err))
	}
	rec.ID = id
	if err := s.Store.putStatement(ctx, s.statementKey(t), rec); err != nil {
		return finish(err)
	}
	s.log().InfoContext(ctx, "swap submitted", "table", t.Table, "version", rec.Version, "statement", id)
	return s.waiting(ctx, rec, &res, finish)
}

// acquire takes the subscriber's lease for this run; skipped says another run holds
// it (res says so).
func (s *SubscriberRun) acquire(ctx context.Context, t Table, res *Result) (skipped bool, err error) {
	expired, err := s.Store.leases(s.now).Acquire(ctx, deploy.FederateSubscriberLeaseKey(s.Name), "subscriber "+s.Name, s.run(), leaseTTL(ctx, s.now(), s.lease()))
	var held *lease.HeldError
	switch {
	case errors.As(err, &held):
		if w := s.leaseWait(); w != nil {
			res.Action, res.Wait, res.Reason = ActionWaiting, w, held.Error()+": waiting for it"
			s.log().InfoContext(ctx, "table waits: another run holds the subscriber", "table", t.Table, "run", held.Lease.Run, "since", held.Lease.Since, "seconds", w.Seconds)
			return true, nil
		}
		res.Action, res.Reason = ActionSkipped, held.Error()+": that run is bringing it up to date"
		if !s.Started.IsZero() {
			res.Reason += fmt.Sprintf(" (waited for it since %s, federate.statementTimeout %s: the next run loads it)", s.Started.UTC().Format(time.RFC3339), s.Limits.orDefault().Timeout)
		}
		s.log().WarnContext(ctx, "table skipped: another run holds the subscriber", "table", t.Table, "run", held.Lease.Run, "since", held.Lease.Since)
		return true, nil
	case err != nil:
		return false, fmt.Errorf("subscriber %s: %w", s.Name, err)
	case expired != nil:
		s.log().WarnContext(ctx, "took over the lease of a run that died", "run", expired.Run, "since", expired.Since)
	}
	return false, nil
}

// WaitLease is the Wait.Kind of an item waiting for its subscriber's lease.
const WaitLease = "LEASE"

// leaseWait is the Wait of an item whose subscriber's lease another run holds, nil
// when it does not wait (no Started: the command line; or past the bound).
//
// Why wait: every new manifest starts a subscribe run for its one table, and a
// subscriber's lease covers all its tables for as long as one table's COPY and swap
// run (hours, maybe). Skipped, the other tables of one publish would wait for the next
// schedule run that finds the lease free. Waiting, each is loaded as soon as the
// holder releases the lease (or it expires: a run that died), and the load itself
// goes through Start as always: under the lease, after reading the control table
// again, so a table the holder or another run loaded meanwhile is not loaded twice.
//
// The pauses are a statement's (Limits.Pause: from Poll, a quarter of the time waited,
// at most Timeout/48), so the wait adds under 70 turns, about 630 events, to the
// item's execution history, against the 25,000 of a standard execution. The bound is
// Limits.Timeout (federate.statementTimeout) after Started: no single statement of
// the holder runs longer, and a holder loading a long chain, or a queue of other
// items taking the lease in turn, must not keep an execution open for ever; past it
// the table is skipped, as before, and the next run loads it.
func (s *SubscriberRun) leaseWait() *Wait {
	if s.Started.IsZero() {
		return nil
	}
	l := s.Limits.orDefault()
	now := s.now()
	left := s.Started.Add(l.Timeout).Sub(now)
	if left <= 0 {
		return nil
	}
	p := l.Pause(max(now.Sub(s.Started), 0), left)
	return &Wait{Seconds: int(p / time.Second), Kind: WaitLease}
}

func (s *SubscriberRun) release(ctx context.Context) {
	if err := s.Store.leases(s.now).Release(context.WithoutCancel(ctx), deploy.FederateSubscriberLeaseKey(s.Name), "subscriber "+s.Name, s.run()); err != nil {
		s.log().WarnContext(ctx, "lease not released (it expires by itself)", "error", err)
	}
}

// chain is the manifests to load, in order, to go from loaded to newest: the append
// versions after loaded when newest extends it, else the newest full version and the
// append versions after it.
func (s *SubscriberRun) chain(ctx context.Context, table, newest, loaded string) ([]Manifest, error) {
	var chain []Manifest
	for name := newest; ; {
		m, err := s.Store.Manifest(ctx, table, name)
		if err != nil {
			return nil, err
		}
		chain = append([]Manifest{m}, chain...)
		if m.Kind == KindFull {
			return chain, nil
		}
		if m.After == loaded {
			return chain, nil
		}
		if m.After == "" {
			return nil, fmt.Errorf("version %s of %s is an append version that follows no version", name, table)
		}
		name = m.After
	}
}

// prepareSwap checks a finished COPY of version m into the staging table and returns
// the swap transaction, which holds only if the control table still holds from. A
// plan changes the table's definition to the version's on the way (see
// definition.go):
//
//   - in place: the staging table was made of the version's definition; after the
//     COPY, each VARCHAR to widen is altered by a statement of its own (Redshift
//     refuses ALTER COLUMN ... TYPE inside a transaction block), then the new columns
//     are added in one short transaction, and the swap moves the rows. A run that
//     dies between these leaves the table at the version it recorded, its rows
//     intact, with a longer VARCHAR or new NULL columns at the end: every value it
//     held still fits, readers see no difference, and the next run plans only what
//     is left (a widening is not repeated: the column already has its published
//     type). A widening Redshift refuses turns into a rebuild when the config allows
//     it and the version is full.
//   - rebuild (plan.Other): the staging table, of the version's definition, takes
//     the table's place in the swap transaction (DROP TABLE, RENAME); a run that dies
//     before leaves the old table as it was. Views bound to the table refuse it
//     first (DependentViewsError).
//
// The swap itself is submitted (submitSwap) and followed like the COPY: a full
// version's DELETE and INSERT ... SELECT moves every row. A rename swap (the staging
// table renamed in place for every full version) would move none, but it would drop
// the table readers' views are bound to, and its grants and owner: the DELETE and
// INSERT keep the table, so readers see the same object before and after.
func (s *SubscriberRun) prepareSwap(ctx context.Context, t Table, m Manifest, from string, st redshift.Statement, plan *DefinitionPlan) ([]string, error) {
	table := t.Table
	schema, name := t.Split()
	if err := st.Err(); err != nil {
		return nil, fmt.Errorf("copy version %s of %s.%s: %w", m.Version, schema, name, err)
	}
	if rows := redshift.CopiedRows(st, m.Files); rows != m.Rows {
		return nil, fmt.Errorf("version %s of %s.%s: copied %d rows, its manifest says %d", m.Version, schema, name, rows, m.Rows)
	}
	var change Change
	if plan != nil {
		if plan.Create {
			change.Create = true
		} else if !plan.InPlace() {
			change.Rebuild = true
		} else {
			for _, c := range plan.Widen {
				// Alone: one statement is its own transaction (ExecuteStatement), never
				// a block.
				err := s.Warehouse.Exec(ctx, WidenSQL(schema, name, c))
				if err == nil {
					s.log().InfoContext(ctx, "column widened", "table", table, "column", c.Name, "type", c.Type)
					continue
				}
				werr := &WidenRefusedError{Subscriber: s.Name, Table: table, Column: c.Name, Type: c.Type, Version: m.Version, Err: err}
				policy := s.OnDefinitionChange
				if policy == "" {
					policy = s.configPolicy
				}
				if OnDefinitionChange(t.OnDefinitionChange, policy) == Refuse || m.Kind != KindFull {
					return nil, werr
				}
				// Redshift refuses some widenings the plan cannot foresee (a column
				// encoded BYTEDICT, RUNLENGTH, TEXT255 or TEXT32K, one with a default
				// or a constraint): the staging table already has the version's
				// definition and every row of this full version, so it takes the
				// table's place instead, as a rebuild does.
				s.log().WarnContext(ctx, "Redshift refused the widening: rebuilding the table from this full version instead", "table", table, "error", werr)
				change = Change{Rebuild: true}
				break
			}
			if !change.Rebuild && len(plan.Add) > 0 {
				// The new columns in a short transaction of their own, before the
				// swap: ALTER TABLE "locks the table for read and write operations until
				// the transaction enclosing the ALTER TABLE operation completes"
				// (Redshift DG "ALTER TABLE"), so inside the swap it would lock readers
				// out for the whole reload. A run that stops between the two leaves the
				// table at the version it recorded with new NULL columns at the end,
				// which readers naming their columns do not see; the next run finds
				// them there and plans no change.
				adds := make([]string, len(plan.Add))
				for i, c := range plan.Add {
					adds[i] = AddColumnSQL(schema, name, c)
				}
				if err := s.Warehouse.Exec(ctx, adds...); err != nil {
					return nil, fmt.Errorf("add %d columns to %s.%s for version %s: %w", len(adds), schema, name, m.Version, err)
				}
				s.log().InfoContext(ctx, "columns added", "table", table, "columns", len(adds))
			}
		}
	}
	if change.Rebuild {
		if err := s.dependents(ctx, table); err != nil {
			return nil, err
		}
	}
	return SwapChangeSQL(schema, name, m.Kind, m.Version, from, m.Rows, s.now(), change), nil
}

// DependentViewsError says a table is to be rebuilt (DROP TABLE, the staging table
// renamed in its place), and views are bound to it: Redshift would refuse the DROP.
type DependentViewsError struct {
	Subscriber, Table string
	Views             []string
}

func (e *DependentViewsError) Error() string {
	return fmt.Sprintf("subscriber %s: table %s must be rebuilt for its new definition, and views are bound to it: %s (DROP TABLE refuses to drop a table other objects depend on: re-create them WITH NO SCHEMA BINDING, drop them, or set onDefinitionChange: %s and change the table by hand)",
		e.Subscriber, e.Table, strings.Join(e.Views, ", "), Refuse)
}

// dependents refuses a rebuild of table when views are bound to it, naming them. The
// catalog query is a diagnosis: when it fails, the DROP in the swap says what it says.
func (s *SubscriberRun) dependents(ctx context.Context, table string) error {
	schema, name := Table{Table: table}.Split()
	rows, err := s.Warehouse.Query(ctx, DependentViewsSQL(schema, name))
	if err != nil {
		s.log().WarnContext(ctx, "could not list the views bound to the table before its rebuild", "table", table, "error", err)
		return nil
	}
	var views []string
	for _, r := range rows {
		if len(r) == 2 && r[0] != nil && r[1] != nil {
			views = append(views, *r[0]+"."+*r[1])
		}
	}
	if len(views) > 0 {
		return &DependentViewsError{Subscriber: s.Name, Table: table, Views: views}
	}
	return nil
}

// swapped reports a swap's outcome: a FAILED one says which check refused it (the
// control table is read again).
func (s *SubscriberRun) swapped(ctx context.Context, table string, m Manifest, from string, st redshift.Statement) error {
	err := st.Err()
	if err == nil {
		return nil
	}
	schema, name := Table{Table: table}.Split()
	if now, rerr := s.Loaded(context.WithoutCancel(ctx), table); rerr == nil && now != from {
		return &SwapConflictError{Subscriber: s.Name, Table: table, Version: m.Version, Started: from, Found: now}
	}
	return fmt.Errorf("swap in version %s of %s.%s (checked: the control table holds %q, the staging table %d rows): %w", m.Version, schema, name, from, m.Rows, err)
}

// WidenRefusedError says the warehouse refused to lengthen a VARCHAR column of a
// subscriber's table, and the table was not rebuilt instead (the config says refuse,
// or the version is an append version, which cannot replace the table).
type WidenRefusedError struct {
	Subscriber, Table, Column, Type, Version string
	Err                                      error
}

func (e *WidenRefusedError) Error() string {
	return fmt.Sprintf("subscriber %s: widen column %s of %s to %s for version %s: %v (Redshift cannot alter a column encoded BYTEDICT, RUNLENGTH, TEXT255 or TEXT32K, with a default, or with a UNIQUE, PRIMARY KEY or FOREIGN KEY constraint; with onDefinitionChange: %s the table is rebuilt from a full version instead)",
		e.Subscriber, e.Column, e.Table, e.Type, e.Version, e.Err, Rebuild)
}

func (e *WidenRefusedError) Unwrap() error { return e.Err }

// TokenExpiredError says a statement's submission was recorded without its id, and
// its client token is older than the Data API keeps one: it is not submitted again
// (that could start a second statement); the next run starts the table afresh.
type TokenExpiredError struct {
	Kind, Table, Subscriber string
	Submitted               time.Time
}

func (e *TokenExpiredError) Error() string {
	who := "publishing " + e.Table
	if e.Subscriber != "" {
		who = "subscriber " + e.Subscriber + " loading " + e.Table
	}
	return fmt.Sprintf("%s: the %s submitted at %s was never recorded as accepted, and its client token is past the Data API's %s: not submitted again; the next run starts afresh",
		who, e.Kind, e.Submitted.Format(time.RFC3339), redshift.ClientTokenLifetime)
}

func (s *SubscriberRun) lease() time.Duration {
	if s.Lease > 0 {
		return s.Lease
	}
	return 2 * time.Hour
}

func (s *SubscriberRun) ensureControl(ctx context.Context) error {
	s.control.Do(func() { s.ctlErr = s.Warehouse.Exec(ctx, ControlSQL()...) })
	if s.ctlErr != nil {
		return fmt.Errorf("subscriber %s: create the control table %s.%s: %w", s.Name, ControlSchema, ControlTable, s.ctlErr)
	}
	return nil
}

// Loaded is the version of table the subscriber holds ("" for none).
func (s *SubscriberRun) Loaded(ctx context.Context, table string) (string, error) {
	if s.Unreachable != nil {
		return "", &UnreachableError{What: "subscriber " + s.Name, Err: s.Unreachable}
	}
	schema, name := Table{Table: table}.Split()
	rows, err := s.Warehouse.Query(ctx, LoadedSQL(schema, name))
	if err != nil {
		var missing *redshift.TableNotFoundError
		if errors.As(err, &missing) {
			return "", nil
		}
		return "", fmt.Errorf("subscriber %s: read the control table: %w", s.Name, err)
	}
	if len(rows) == 0 || len(rows[0]) == 0 || rows[0][0] == nil {
		return "", nil
	}
	return *rows[0][0], nil
}
