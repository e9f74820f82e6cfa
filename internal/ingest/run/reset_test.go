package run

import (
	"context"
	"errors"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/service/scheduler"

	"github.com/snaplake/snaplake/internal/ingest"
	"github.com/snaplake/snaplake/internal/ingest/watermark"
)

// TestResetReloadsTheTable (issue 15, item 8): after a reset of one table, the next
// run loads every row of it again into a new load, and the lake holds each row
// once; the other tables go on from their watermarks. The earlier loads stay until
// the reload is committed. A dry run changes nothing.
func TestResetReloadsTheTable(t *testing.T) {
	e := newEnv(t, shopTables())
	e.exec("INSERT INTO orders (total) VALUES (1), (2), (3)")
	e.exec("INSERT INTO customer (name) VALUES ('ada')")
	e.putConfig(e.config(""))
	first := e.run(ingest.SetDaily)
	e.exec("INSERT INTO orders (total) VALUES (4)")
	e.now = e.now.Add(24 * time.Hour)
	second := e.run(ingest.SetDaily)
	if first.Failed+second.Failed != 0 {
		t.Fatalf("runs before the reset: %+v %+v", first, second)
	}
	orders := "raw/" + e.name + "/orders/"
	loads := func() []string {
		var out []string
		for _, k := range e.keys(orders) {
			folder, _, _ := strings.Cut(strings.TrimPrefix(k, orders), "/")
			if !slices.Contains(out, folder) {
				out = append(out, folder)
			}
		}
		return out
	}
	if got := loads(); len(got) != 2 {
		t.Fatalf("orders' loads before the reset: %v", got)
	}

	r := &Resetter{S3: e.s3, Bucket: e.bucket, Now: func() time.Time { return e.now.Add(time.Hour) }, Log: e.log}
	state := e.keys("state/")
	dry, err := r.Reset(context.Background(), e.name+".orders", true)
	if err != nil || !dry.DryRun || dry.Before.Value == nil || *dry.Before.Value != "4" || dry.After.Value != nil || len(dry.Changes) == 0 {
		t.Fatalf("dry run: %+v, %v", dry, err)
	}
	if m, _, _ := (watermark.Store{S3: e.s3, Bucket: e.bucket}).Mark(context.Background(), e.name, "orders"); m.Value == nil || *m.Value != "4" || !slices.Equal(e.keys("state/"), state) {
		t.Fatalf("the dry run changed the watermark: %+v", m)
	}
	res, err := r.Reset(context.Background(), e.name+".orders", false)
	if err != nil {
		t.Fatal(err)
	}
	m, found, err := (watermark.Store{S3: e.s3, Bucket: e.bucket}).Mark(context.Background(), e.name, "orders")
	if err != nil || !found || m.Value != nil || m.Column != "" || m.LakeName != "orders" || m.Reset == nil || *m.Reset.Value != "4" || m.Reset.By != res.By {
		t.Fatalf("orders' record after the reset: %+v %v", m, err)
	}
	if k := e.keys("state/ingest/" + e.name + "/orders/lease.json"); len(k) != 0 {
		t.Errorf("the reset kept the lease: %v", k)
	}
	if got := loads(); len(got) != 2 {
		t.Errorf("the reset deleted loads before the reload: %v", got)
	}

	e.exec("INSERT INTO orders (total) VALUES (5)")
	e.now = e.now.Add(24 * time.Hour)
	third := e.run(ingest.SetDaily)
	var ordersRows, customerRows int64 = -1, -1
	for _, ts := range third.Tables {
		switch ts.Source {
		case "orders":
			ordersRows = ts.Rows
		case "customer":
			customerRows = ts.Rows
		}
	}
	if ordersRows != 5 || customerRows != 0 {
		t.Fatalf("the run after the reset loaded %d rows of orders (want all 5) and %d of customer (want 0): %+v", ordersRows, customerRows, third)
	}
	if got := loads(); !slices.Equal(got, []string{ingest.LoadKey + "=" + third.Run}) {
		t.Errorf("orders' loads after the reload: %v, want only %s", got, third.Run)
	}
	if got, want := e.lakeIDs(orders), e.sourceIDs("orders"); !slices.Equal(got, want) {
		t.Errorf("orders in the lake %v, in the source %v", got, want)
	}
}

// TestResetRefusesATableBeingLoaded: a run holding the table's lease makes the
// reset fail with a *TableBusyError naming the table and the run, and nothing
// changes; bad names are clear errors that change nothing.
func TestResetRefusesATableBeingLoaded(t *testing.T) {
	e := newEnv(t, shopTables())
	e.exec("INSERT INTO orders (total) VALUES (1)")
	e.putConfig(e.config(""))
	e.run(ingest.SetDaily)
	st := watermark.Store{S3: e.s3, Bucket: e.bucket, Now: func() time.Time { return e.now }}
	holder := ingest.RunID(ingest.SetFrequent, e.now)
	if _, err := st.Acquire(context.Background(), e.name, "orders", holder, time.Hour); err != nil {
		t.Fatal(err)
	}
	before := e.keys("")
	r := &Resetter{S3: e.s3, Bucket: e.bucket, Now: func() time.Time { return e.now.Add(time.Minute) }, Log: e.log}
	_, err := r.Reset(context.Background(), e.name+".orders", false)
	var busy *TableBusyError
	if !errors.As(err, &busy) || busy.Table != e.name+".orders" || busy.Holder.Run != holder ||
		!strings.Contains(err.Error(), "table "+e.name+".orders is being loaded by run "+holder) {
		t.Fatalf("reset of a table being loaded: %v", err)
	}
	// A dry run says who holds it.
	if dry, err := r.Reset(context.Background(), e.name+".orders", true); err != nil || dry.HeldBy == nil || dry.HeldBy.Run != holder {
		t.Errorf("dry run of a table being loaded: %+v %v", dry, err)
	}
	for _, bad := range []struct{ name, want string }{
		{"orders", `table "orders" is not <database>.<table>`},
		{e.name + ".", "is not <database>.<table>"},
		{".orders", "is not <database>.<table>"},
		{e.name + ".nope", "table " + e.name + ".nope has no watermark record"},
		{strings.ToUpper(e.name) + ".orders", "has no watermark record"},
	} {
		_, err := r.Reset(context.Background(), bad.name, false)
		var nameErr *TableNameError
		var unknown *UnknownTableError
		if err == nil || !strings.Contains(err.Error(), bad.want) || !errors.As(err, &nameErr) && !errors.As(err, &unknown) {
			t.Errorf("reset %q: %v, want %q", bad.name, err, bad.want)
		}
	}
	if after := e.keys(""); !slices.Equal(after, before) {
		t.Errorf("refused resets changed the bucket:\n%v\n%v", before, after)
	}
	m, _, _ := st.Mark(context.Background(), e.name, "orders")
	if m.Value == nil || *m.Value != "1" || m.Reset != nil {
		t.Errorf("orders' record after the refused reset: %+v", m)
	}
}

// betweenPlanAndLeases runs hook at the start's first schedule call, which comes
// after the state is read and the plan is made, and before the tables' leases are
// taken.
type betweenPlanAndLeases struct {
	hook func()
}

func (b *betweenPlanAndLeases) GetSchedule(ctx context.Context, in *scheduler.GetScheduleInput, _ ...func(*scheduler.Options)) (*scheduler.GetScheduleOutput, error) {
	if b.hook != nil {
		b.hook()
		b.hook = nil
	}
	return &scheduler.GetScheduleOutput{Name: in.Name, GroupName: in.GroupName}, nil
}

func (b *betweenPlanAndLeases) UpdateSchedule(context.Context, *scheduler.UpdateScheduleInput, ...func(*scheduler.Options)) (*scheduler.UpdateScheduleOutput, error) {
	return &scheduler.UpdateScheduleOutput{}, nil
}

// TestResetDuringAStartIsNotLost: a reset that lands after a run read the state and
// before it took the table's lease. Before the fix the run loaded orders from the
// watermark the reset had cleared and committed it again, so the reset was lost
// (the next run went on incrementally). Now the run skips the table, and the next
// run reloads it whole.
func TestResetDuringAStartIsNotLost(t *testing.T) {
	e := newEnv(t, shopTables())
	e.exec("INSERT INTO orders (total) VALUES (1), (2)")
	e.putConfig(e.config(""))
	e.run(ingest.SetDaily)
	e.exec("INSERT INTO orders (total) VALUES (3)")

	r := &Resetter{S3: e.s3, Bucket: e.bucket, Now: func() time.Time { return e.now.Add(time.Hour) }, Log: e.log}
	l := e.local()
	l.Starter.Schedules = &betweenPlanAndLeases{hook: func() {
		if _, err := r.Reset(context.Background(), e.name+".orders", false); err != nil {
			t.Error(err)
		}
	}}
	e.now = e.now.Add(24 * time.Hour)
	sum, err := l.Run(context.Background(), RunRequest{Set: ingest.SetDaily, Force: true}, e.now)
	if err != nil {
		t.Fatal(err)
	}
	i := slices.IndexFunc(sum.Tables, func(ts TableSummary) bool { return ts.Source == "orders" })
	if i < 0 || sum.Tables[i].Status != "skipped" || !strings.Contains(sum.Tables[i].Reason, "watermark changed") {
		t.Fatalf("orders in the run during the reset: %+v", sum.Tables)
	}
	e.now = e.now.Add(24 * time.Hour)
	next := e.run(ingest.SetDaily)
	i = slices.IndexFunc(next.Tables, func(ts TableSummary) bool { return ts.Source == "orders" })
	if i < 0 || next.Tables[i].Rows != 3 {
		t.Fatalf("the run after the reset: %+v, want all 3 rows of orders", next.Tables)
	}
	if got, want := e.lakeIDs("raw/"+e.name+"/orders/"), e.sourceIDs("orders"); !slices.Equal(got, want) {
		t.Errorf("orders in the lake %v, in the source %v", got, want)
	}
}
