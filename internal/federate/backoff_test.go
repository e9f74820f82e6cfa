package federate

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/snaplake/snaplake/internal/deploy"
)

// TestCancelledUnloadBacksOff: an UNLOAD cancelled at federate.statementTimeout is not
// submitted again by the next scheduled run (15 minutes later, against the transform
// warehouse, for as long again): the table waits its back-off (the statement's run
// time, at least 15 minutes, doubled for each failure in a row, at most a day),
// status shows it, and after it the table is tried again.
func TestCancelledUnloadBacksOff(t *testing.T) {
	w := newWorld(t)
	table := w.slowTable("60")
	ctx := context.Background()
	clock := w.now
	p := &Publisher{Warehouse: w.transform, Store: w.store, Now: func() time.Time { return clock }, Log: w.log,
		Limits: Limits{Timeout: time.Minute, Poll: time.Second}}
	defer func() {
		recs, _ := w.store.Statements(ctx, table.Table)
		for _, r := range recs {
			_ = w.transform.Cancel(ctx, r.ID)
		}
	}()
	cancelled := func(label string) StatementRecord {
		t.Helper()
		if r := p.Start(ctx, table, 2); r.Wait == nil {
			t.Fatalf("%s: the UNLOAD was not submitted: %+v", label, r)
		}
		clock = clock.Add(2 * time.Minute)
		if r := p.Poll(ctx, table, 2); r.Action != ActionFailed || r.Cancelled == "" {
			t.Fatalf("%s: past the limit: %+v", label, r)
		}
		rec, _, err := w.store.statement(ctx, deploy.FederatePublishStatementKey(table.Table))
		if err != nil {
			t.Fatal(err)
		}
		return rec
	}
	rec := cancelled("first")
	if rec.Failures != 1 || rec.RetryAfter == nil || !rec.RetryAfter.Equal(clock.Add(deploy.FederateBackoffMin)) {
		t.Fatalf("after the first cancel: failures %d, retry after %v (now %v)", rec.Failures, rec.RetryAfter, clock)
	}
	unloads := w.transform.unloads.Load()
	clock = clock.Add(5 * time.Minute) // the next schedule
	r := p.Start(ctx, table, 2)
	if r.Action != ActionSkipped || !strings.Contains(r.Reason, "back-off") {
		t.Fatalf("within the back-off: %+v", r)
	}
	if n := w.transform.unloads.Load(); n != unloads {
		t.Fatalf("%d UNLOADs submitted within the back-off", n-unloads)
	}
	st := Status(ctx, w.store, Config{Tables: []Table{table}}, nil, clock)
	if len(st[0].Statements) != 1 || st[0].Statements[0].Failures != 1 || st[0].Statements[0].RetryAfter == nil {
		t.Errorf("status %+v: want the back-off shown", st[0].Statements)
	}
	clock = rec.RetryAfter.Add(time.Second)
	rec = cancelled("after the back-off")
	if rec.Failures != 2 || !rec.RetryAfter.Equal(clock.Add(2*deploy.FederateBackoffMin)) {
		t.Errorf("after the second cancel: failures %d, retry after %v (now %v): want the back-off doubled", rec.Failures, rec.RetryAfter, clock)
	}
}

func TestBackoffIsBounded(t *testing.T) {
	for _, c := range []struct {
		ran      time.Duration
		failures int
		want     time.Duration
	}{
		{time.Minute, 1, deploy.FederateBackoffMin},
		{12 * time.Hour, 1, 12 * time.Hour},
		{12 * time.Hour, 2, deploy.FederateBackoffMax},
		{time.Hour, 3, 4 * time.Hour},
		{time.Hour, 60, deploy.FederateBackoffMax},
	} {
		if got := Backoff(c.ran, c.failures); got != c.want {
			t.Errorf("Backoff(%s, %d) = %s, want %s", c.ran, c.failures, got, c.want)
		}
	}
}
