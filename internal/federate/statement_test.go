package federate

import (
	"context"
	"testing"
	"time"
)

// TestShortStatementFinishedByItsStep: an UNLOAD or COPY that ends within the first
// pause (statementPoll) is finished by the step that submitted it: Start answers
// published or loaded, with no Wait, so the workflow sleeps no Wait state for it (a
// subscriber's tables load one after another: each such pause would add up).
func TestShortStatementFinishedByItsStep(t *testing.T) {
	w := newWorld(t)
	ctx := context.Background()
	limits := Limits{Poll: 30 * time.Second}
	p := &Publisher{Warehouse: w.transform, Store: w.store, Now: func() time.Time { return w.now }, Log: w.log, Limits: limits}
	table := w.cfg.Tables[1]
	start := time.Now()
	if r := p.Start(ctx, table, 2); r.Action != ActionPublished || r.Wait != nil {
		t.Fatalf("publish Start of a 20-row table: %s (wait %+v), want it published by the step", r.Action, r.Wait)
	}
	s := &SubscriberRun{Name: "a", Warehouse: w.reporting["a"], Store: w.store, Now: func() time.Time { return w.now }, Log: w.log, Limits: limits}
	if r := s.Start(ctx, table); r.Action != ActionLoaded || r.Rows != 20 || r.Wait != nil {
		t.Fatalf("subscribe Start of a 20-row table: %s %d rows (wait %+v), want it loaded by the step", r.Action, r.Rows, r.Wait)
	}
	// Each step watched its statement only until it ended, not for the whole pause.
	if d := time.Since(start); d > 10*time.Second {
		t.Errorf("publish and subscribe of 20 rows took %s", d)
	}
	if got, want := w.checksum(w.reporting["a"], table.Table), w.checksum(w.transform, table.Table); got != want {
		t.Errorf("subscriber a holds %s, the transform %s", got, want)
	}

}
