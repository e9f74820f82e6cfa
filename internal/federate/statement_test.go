package federate

import (
	"context"
	"errors"
	"sync/atomic"
	"testing"
	"time"

	"github.com/snaplake/snaplake/internal/federate/redshift"
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

// stillRunning reports every statement running while hold is set, as a warehouse
// whose COPY takes longer does.
type stillRunning struct {
	redshift.Warehouse
	hold *atomic.Bool
}

func (s stillRunning) Describe(ctx context.Context, id string) (redshift.Statement, error) {
	st, err := s.Warehouse.Describe(ctx, id)
	if err == nil && s.hold.Load() {
		st.Status = redshift.StatusStarted
	}
	return st, err
}

// TestNewSubscriberTableAppearsWhole: a subscriber that does not have a table loads
// the full version into a staging table of the version's definition, which the swap
// renames into place. While its COPY runs, readers find no table (not an empty one,
// which no version is); after the swap they find every row. The rows are written
// once: no copy from the staging table into the table.
func TestNewSubscriberTableAppearsWhole(t *testing.T) {
	w := newWorld(t)
	ctx := context.Background()
	w.publish()
	var hold atomic.Bool
	hold.Store(true)
	wh := w.reporting["a"]
	s := &SubscriberRun{Name: "a", Warehouse: stillRunning{Warehouse: wh, hold: &hold}, Store: w.store, Now: func() time.Time { return w.now }, Log: w.log,
		Limits: Limits{Poll: time.Second}}
	table := w.cfg.Tables[1]
	r := s.Start(ctx, table)
	if r.Wait == nil {
		t.Fatalf("subscribe Start: %+v, want it waiting for its COPY", r)
	}
	var missing *redshift.TableNotFoundError
	if _, err := wh.Columns(ctx, "sales", "dim_customer"); !errors.As(err, &missing) {
		t.Errorf("while its COPY runs, the new subscriber's table exists (%v): readers would see it empty", err)
	}
	hold.Store(false)
	if r := s.Poll(ctx, table); r.Action != ActionLoaded || r.Rows != 20 {
		t.Fatalf("subscribe Poll after the COPY: %+v", r)
	}
	if got, want := w.checksum(wh, table.Table), w.checksum(w.transform, table.Table); got != want {
		t.Errorf("subscriber a holds %s, the transform %s", got, want)
	}
	if cols, err := wh.Columns(ctx, "sales", "dim_customer__snaplake_staging"); !errors.As(err, &missing) {
		t.Errorf("the staging table is still there after the swap: %v %v", cols, err)
	}
}
