package federate

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/snaplake/snaplake/internal/deploy"
	"github.com/snaplake/snaplake/internal/federate/redshift"
)

// overlap runs n copies of f together, as overlapping scheduled executions do.
func overlap[T any](n int, f func(i int) T) []T {
	out := make([]T, n)
	var wg sync.WaitGroup
	start := make(chan struct{})
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			<-start
			out[i] = f(i)
		}()
	}
	close(start)
	wg.Wait()
	return out
}

// controlRows is the control table of a subscriber, table by table.
func (w *world) controlRows(name string) map[string][]string {
	w.t.Helper()
	rows, err := w.reporting[name].Warehouse.Query(context.Background(),
		"SELECT schema_name || '.' || table_name, version FROM snaplake_federator.loaded ORDER BY 1, 2")
	if err != nil {
		w.t.Fatal(err)
	}
	out := map[string][]string{}
	for _, r := range rows {
		out[*r[0]] = append(out[*r[0]], *r[1])
	}
	return out
}

// checkSubscriber asserts that the subscriber holds exactly the transform's rows (no
// duplicate, none missing) and that its control table names, once per table, the
// newest complete version.
func (w *world) checkSubscriber(name, round string) {
	w.t.Helper()
	w.converged(name)
	for _, table := range []string{"sales.fact_orders", "sales.dim_customer"} {
		dup, err := w.reporting[name].Warehouse.Query(context.Background(), "SELECT count(*) - count(DISTINCT id) FROM "+table)
		if err != nil {
			w.t.Fatal(err)
		}
		if *dup[0][0] != "0" {
			w.t.Errorf("%s: subscriber %s has %s duplicated rows in %s", round, name, *dup[0][0], table)
		}
		vs, err := w.store.Versions(context.Background(), table)
		if err != nil {
			w.t.Fatal(err)
		}
		newest, _ := Newest(vs)
		if got := w.controlRows(name)[table]; len(got) != 1 || got[0] != newest.Name {
			w.t.Errorf("%s: subscriber %s's control table says %v for %s, want exactly [%s]", round, name, got, table, newest.Name)
		}
	}
}

// TestOverlappingSubscribes starts three subscribes of one subscriber together, right
// after each publish (a full version of 50,000 rows, an append version of 20,000, a
// full version again), against the real PostgreSQL stand-in: no row may be loaded
// twice or lost, no table left empty, and the control table must name the newest
// version once. Without a lease and a conditional swap, runs loaded an append version
// twice and swapped in a staging table another run had dropped and re-created empty.
func TestOverlappingSubscribes(t *testing.T) {
	w := newWorld(t)
	w.exec(w.transform, "INSERT INTO sales.fact_orders SELECT g, g, 'bulk', TIMESTAMP '2026-12-02 00:00:00' + g * INTERVAL '1 millisecond', NULL FROM generate_series(501, 50000) g")
	round := func(label string) {
		t.Helper()
		results := overlap(3, func(int) []Result {
			s := &SubscriberRun{Name: "a", Warehouse: w.reporting["a"], Store: w.store, Now: func() time.Time { return w.now }, Log: w.log}
			return s.SubscribeAll(context.Background(), w.cfg)
		})
		loaded := map[string]int{}
		for i, rs := range results {
			for _, r := range rs {
				switch r.Action {
				case ActionFailed:
					t.Errorf("%s: run %d: %s failed: %s", label, i, r.Table, r.Error)
				case ActionLoaded:
					loaded[r.Table]++
				}
			}
		}
		for table, n := range loaded {
			if n > 1 {
				t.Errorf("%s: %s was loaded by %d runs", label, table, n)
			}
		}
		w.checkSubscriber("a", label)
	}

	if r := w.publish(); r["sales.fact_orders"].Rows != 50000 {
		t.Fatalf("first publish: %+v", r)
	}
	round("full version")

	w.exec(w.transform, "INSERT INTO sales.fact_orders SELECT g, g, 'more', TIMESTAMP '2026-12-03 09:00:00' + g * INTERVAL '1 millisecond', NULL FROM generate_series(50001, 70000) g")
	if r := w.publish(); r["sales.fact_orders"].Kind != KindAppend || r["sales.fact_orders"].Rows != 20000 {
		t.Fatalf("append publish: %+v", r["sales.fact_orders"])
	}
	round("append version")

	w.exec(w.transform, "UPDATE sales.fact_orders SET amount = amount + 1, updated_at = TIMESTAMP '2026-12-03 09:30:00' WHERE id % 3 = 0",
		"INSERT INTO sales.dim_customer VALUES (21, 'new')")
	if r := w.publish(); r["sales.fact_orders"].Kind != KindFull {
		t.Fatalf("full publish: %+v", r["sales.fact_orders"])
	}
	round("full version again")
}

// TestOverlappingPublishes starts two publishes of the same tables together: one
// UNLOAD per changed table, no failure, and a subscriber then holds exactly the
// transform's rows.
func TestOverlappingPublishes(t *testing.T) {
	w := newWorld(t)
	for round, change := range []string{
		"", // the first versions
		"INSERT INTO sales.fact_orders SELECT g, g, 'more', TIMESTAMP '2026-12-03 09:00:00' + g * INTERVAL '1 second', NULL FROM generate_series(501, 900) g",
		"UPDATE sales.dim_customer SET name = 'x' WHERE id = 2; INSERT INTO sales.dim_customer VALUES (21, 'new')",
	} {
		label := fmt.Sprintf("round %d", round)
		if change != "" {
			w.exec(w.transform, change)
		}
		before := w.transform.unloads.Load()
		results := overlap(2, func(int) []Result {
			// Each run its own clock: two executions never share a microsecond.
			p := &Publisher{Warehouse: w.transform, Store: w.store, Log: w.log}
			return p.PublishAll(context.Background(), w.cfg)
		})
		published := 0
		for i, rs := range results {
			for _, r := range rs {
				switch r.Action {
				case ActionFailed:
					t.Errorf("%s: run %d: %s failed: %s", label, i, r.Table, r.Error)
				case ActionPublished:
					published++
				}
			}
		}
		if got := w.transform.unloads.Load() - before; got != int64(published) || published > 2 {
			t.Errorf("%s: %d UNLOADs for %d published tables", label, got, published)
		}
		if want := map[int]int{0: 2, 1: 1, 2: 1}[round]; published != want {
			t.Errorf("%s: %d tables published, want %d (one run per table)", label, published, want)
		}
		w.subscribe("a")
		w.checkSubscriber("a", label)
	}
}

// racing is a subscriber's warehouse on which something happens right after each
// COPY into a staging table: what an overlapping run would do there.
type racing struct {
	redshift.Warehouse
	afterCopy func()
}

// Describe calls afterCopy once the COPY has finished, before the run sees it so.
func (r racing) Describe(ctx context.Context, id string) (redshift.Statement, error) {
	st, err := r.Warehouse.Describe(ctx, id)
	if err == nil && !st.Running() {
		r.afterCopy()
	}
	return st, err
}

// TestSwapIsConditional proves the swap's own checks, for a run whose lease expired
// while it was still going: with the staging table re-created empty by another run
// after this run's COPY, the swap is refused and the table keeps its rows; with the
// control table moved on by another run, an append version is not applied twice.
func TestSwapIsConditional(t *testing.T) {
	ctx := context.Background()
	w := newWorld(t)
	w.publish()
	w.subscribe("a")
	w.checkSubscriber("a", "first load")

	// A full version; another run drops and re-creates the staging table after COPY.
	w.exec(w.transform, "UPDATE sales.dim_customer SET name = 'x' WHERE id = 2", "INSERT INTO sales.dim_customer VALUES (21, 'new')")
	w.publish()
	before := w.checksum(w.reporting["a"], "sales.dim_customer")
	ctl := w.controlRows("a")["sales.dim_customer"]
	s := &SubscriberRun{Name: "a", Store: w.store, Now: func() time.Time { return w.now }, Log: w.log,
		Warehouse: racing{Warehouse: w.reporting["a"], afterCopy: func() {
			w.exec(w.reporting["a"], StagingSQL("sales", "dim_customer")...)
		}}}
	r := s.Subscribe(ctx, Table{Table: "sales.dim_customer"})
	if r.Action != ActionFailed || !strings.Contains(r.Error, "staging table 21 rows") {
		t.Fatalf("swap from a re-created staging table: %+v", r)
	}
	if got := w.checksum(w.reporting["a"], "sales.dim_customer"); got != before {
		t.Errorf("the refused swap changed the table: %s, was %s", got, before)
	}
	if got := w.controlRows("a")["sales.dim_customer"]; !slices.Equal(got, ctl) {
		t.Errorf("the refused swap changed the control table: %v, was %v", got, ctl)
	}
	w.subscribe("a")
	w.checkSubscriber("a", "after the refused full swap")

	// An append version, loaded meanwhile by another run: this run started from the
	// version before it, and its swap must not add the rows a second time.
	w.exec(w.transform, "INSERT INTO sales.fact_orders SELECT g, g, 'more', TIMESTAMP '2026-12-03 09:00:00' + g * INTERVAL '1 second', NULL FROM generate_series(501, 700) g")
	started := w.controlRows("a")["sales.fact_orders"][0]
	if r := w.publish(); r["sales.fact_orders"].Kind != KindAppend {
		t.Fatalf("append publish: %+v", r["sales.fact_orders"])
	}
	w.subscribe("a") // the other run
	vs, _ := w.store.Versions(ctx, "sales.fact_orders")
	newest, _ := Newest(vs)
	m, err := w.store.Manifest(ctx, "sales.fact_orders", newest.Name)
	if err != nil {
		t.Fatal(err)
	}
	late := &SubscriberRun{Name: "a", Warehouse: w.reporting["a"], Store: w.store, Now: func() time.Time { return w.now }, Log: w.log}
	err = func() error { // stage, COPY and swap, as a run that started from `started` would
		if err := late.Warehouse.Exec(ctx, StagingSQL("sales", "fact_orders")...); err != nil {
			return err
		}
		id, err := late.Warehouse.SubmitCopy(ctx, redshift.NewToken(), "sales", "fact_orders"+stagingSuffix, m.Files)
		if err != nil {
			return err
		}
		st, err := redshift.Wait(ctx, late.Warehouse, id, time.Millisecond)
		if err != nil {
			return err
		}
		sqls, err := late.prepareSwap(ctx, Table{Table: "sales.fact_orders"}, m, started, st, nil)
		if err != nil {
			return err
		}
		if id, err = late.Warehouse.SubmitExec(ctx, redshift.NewToken(), sqls...); err != nil {
			return err
		}
		st, _ = redshift.Wait(ctx, late.Warehouse, id, time.Millisecond)
		return late.swapped(ctx, "sales.fact_orders", m, started, st)
	}()
	var conflict *SwapConflictError
	if !errors.As(err, &conflict) || conflict.Started != started || conflict.Found != newest.Name {
		t.Fatalf("late swap of an append version already applied: %v", err)
	}
	w.checkSubscriber("a", "after the refused append swap")
}

// TestSubscribeWaitsForTheLease: a workflow's item (Started set) whose subscriber's
// lease another run holds asks to wait for it (a LEASE wait, with the statement's
// growing pauses) rather than skipping the table; past federate.statementTimeout
// after the item started it gives up and reports the table skipped; the command line
// (no Started) skips at once. Once the lease is free, the same item loads the table.
func TestSubscribeWaitsForTheLease(t *testing.T) {
	w := newWorld(t)
	w.publish()
	ctx := context.Background()
	key := deploy.FederateSubscriberLeaseKey("a")
	if _, err := w.store.leases(func() time.Time { return w.now }).Acquire(ctx, key, "subscriber a", "holder", time.Hour); err != nil {
		t.Fatal(err)
	}
	table := Table{Table: "sales.dim_customer"}
	run := func(started time.Time) Result {
		s := &SubscriberRun{Name: "a", Warehouse: w.reporting["a"], Store: w.store, Now: func() time.Time { return w.now }, Log: w.log, Run: "waiter", Started: started}
		return s.Start(ctx, table)
	}
	limits := Limits{}.orDefault()
	res := run(w.now.Add(-4 * time.Minute))
	if res.Action != ActionWaiting || res.Wait == nil || res.Wait.Kind != WaitLease || res.Wait.Seconds != 60 {
		t.Errorf("an item 4 minutes into its wait: %+v (wait %+v); want a LEASE wait of 60 s (a quarter of the time waited)", res, res.Wait)
	}
	if res := run(w.now.Add(-limits.Timeout)); res.Action != ActionSkipped || res.Wait != nil || !strings.Contains(res.Reason, "waited for it since") {
		t.Errorf("an item past federate.statementTimeout: %+v; want it skipped, saying it waited", res)
	}
	if res := run(time.Time{}); res.Action != ActionSkipped || res.Wait != nil {
		t.Errorf("the command line: %+v; want the table skipped at once", res)
	}
	if err := w.store.leases(func() time.Time { return w.now }).Release(ctx, key, "subscriber a", "holder"); err != nil {
		t.Fatal(err)
	}
	res = run(w.now.Add(-5 * time.Minute))
	for i := 0; res.Wait != nil && i < 100; i++ {
		time.Sleep(20 * time.Millisecond)
		s := &SubscriberRun{Name: "a", Warehouse: w.reporting["a"], Store: w.store, Now: func() time.Time { return w.now }, Log: w.log, Run: "waiter", Started: w.now.Add(-5 * time.Minute)}
		res = s.Poll(ctx, table)
	}
	if res.Action != ActionLoaded {
		t.Errorf("the item once the lease is free: %+v; want the table loaded", res)
	}
}
