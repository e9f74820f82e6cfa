package federate

import (
	"context"
	"errors"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/snaplake/snaplake/internal/deploy"
	"github.com/snaplake/snaplake/internal/federate/redshift"
)

// owned is a warehouse as one identity reaches it through the Data API under the
// stack's policy: it may describe and cancel only the statements its own role
// submitted (redshift-data:statement-owner-iam-userid like "<role id>:*").
type owned struct {
	redshift.Warehouse
	me     Identity
	owners *sync.Map // statement id -> Identity
}

func (o owned) SubmitUnload(ctx context.Context, token, q, prefix string) (string, error) {
	id, err := o.Warehouse.SubmitUnload(ctx, token, q, prefix)
	o.owners.LoadOrStore(id, o.me)
	return id, err
}

func (o owned) allowed(id string) error {
	owner, ok := o.owners.Load(id)
	if !ok {
		return nil
	}
	if own := owner.(Identity); ok && !own.Same(&o.me) {
		return errors.New("AccessDeniedException: User: " + o.me.Arn + " is not authorized to perform: redshift-data:DescribeStatement")
	}
	return nil
}

func (o owned) Describe(ctx context.Context, id string) (redshift.Statement, error) {
	if err := o.allowed(id); err != nil {
		return redshift.Statement{}, err
	}
	return o.Warehouse.Describe(ctx, id)
}

func (o owned) Cancel(ctx context.Context, id string) error {
	if err := o.allowed(id); err != nil {
		return err
	}
	return o.Warehouse.Cancel(ctx, id)
}

// slowTable adds sales.slow to the transform warehouse: a view whose UNLOAD sleeps
// seconds (on its first row), while its row count does not.
func (w *world) slowTable(seconds string) Table {
	w.exec(w.transform,
		"CREATE FUNCTION sales.nap(i INTEGER) RETURNS INTEGER STABLE LANGUAGE sql AS $$ SELECT CASE WHEN i = 1 THEN (SELECT i FROM pg_sleep("+seconds+")) ELSE i END $$",
		"CREATE VIEW sales.slow AS SELECT sales.nap(id) AS id, name FROM sales.dim_customer")
	return Table{Table: "sales.slow"}
}

// TestInterruptedCommandCancelsItsStatement: the command line waits for its UNLOAD
// in-process; interrupted (Ctrl-C ends its context), it cancels the statement (nobody
// else could follow it) and marks the record cancelled, instead of leaving a running
// statement and a record that scheduled runs cannot describe.
func TestInterruptedCommandCancelsItsStatement(t *testing.T) {
	w := newWorld(t)
	table := w.slowTable("60")
	ctx, cancel := context.WithTimeout(context.Background(), 500*time.Millisecond)
	defer cancel()
	p := &Publisher{Warehouse: w.transform, Store: w.store, Now: func() time.Time { return w.now }, Log: w.log}
	res := p.Publish(ctx, table, 2)
	if res.Action != ActionFailed || !strings.Contains(res.Error, "interrupted") {
		t.Fatalf("interrupted publish: %+v", res)
	}
	rec, found, err := w.store.statement(context.Background(), deploy.FederatePublishStatementKey(table.Table))
	if err != nil || !found || rec.State != StatementCancelled || !strings.Contains(rec.Error, "interrupted") {
		t.Fatalf("record %+v (found %v, %v): want it cancelled", rec, found, err)
	}
	deadline := time.Now().Add(10 * time.Second)
	for {
		st, err := w.transform.Describe(context.Background(), rec.ID)
		if err != nil {
			t.Fatal(err)
		}
		if st.Status == redshift.StatusAborted {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the UNLOAD is %s after the interruption, want ABORTED", st.Status)
		}
		time.Sleep(50 * time.Millisecond)
	}
	// The next run starts afresh: a cancelled record is not resumed.
	w.exec(w.transform, "CREATE OR REPLACE FUNCTION sales.nap(i INTEGER) RETURNS INTEGER STABLE LANGUAGE sql AS $$ SELECT i $$")
	if r := p.Publish(context.Background(), table, 2); r.Action != ActionPublished {
		t.Fatalf("the next publish: %+v", r)
	}
}

// TestForeignStatementNamesItsOwner: a record whose statement another identity
// submitted (an operator's command line, then the scheduled function) cannot be
// described by this one: the table fails with a *StatementOwnerError naming the
// owner, not with a bare AccessDenied on every run; once the statement cannot be
// running any more (the Data API's 24 hours), the record is dropped and the table
// starts afresh.
func TestForeignStatementNamesItsOwner(t *testing.T) {
	w := newWorld(t)
	table := w.slowTable("60")
	owners := &sync.Map{}
	operator := Identity{UserID: "AROAOPERATOR0000000:alice", Arn: "arn:aws:sts::123456789012:assumed-role/Admin/alice"}
	function := Identity{UserID: "AROAFUNCTION0000000:snaplake-publish", Arn: "arn:aws:sts::123456789012:assumed-role/PublishRole/snaplake-publish"}
	cli := &Publisher{Warehouse: owned{Warehouse: w.transform, me: operator, owners: owners}, Store: withIdentity(w.store, operator),
		Now: func() time.Time { return w.now }, Log: w.log}
	if r := cli.Start(context.Background(), table, 2); r.Wait == nil {
		t.Fatalf("the operator's UNLOAD: %+v", r)
	}
	fn := &Publisher{Warehouse: owned{Warehouse: w.transform, me: function, owners: owners}, Store: withIdentity(w.store, function),
		Now: func() time.Time { return w.now.Add(3 * time.Hour) }, Log: w.log, Lease: time.Minute}
	r := fn.Start(context.Background(), table, 2)
	if r.Action != ActionFailed || !strings.Contains(r.Error, operator.Arn) || !strings.Contains(r.Error, "was submitted by") {
		t.Fatalf("the function meeting the operator's statement: %+v", r)
	}
	key := deploy.FederatePublishStatementKey(table.Table)
	rec, found, _ := w.store.statement(context.Background(), key)
	if !found || rec.Owner == nil || rec.Owner.UserID != operator.UserID {
		t.Fatalf("record %+v: want it kept, owned by the operator", rec)
	}
	// A day later the Data API has ended it: the record goes, and the next run can
	// start afresh.
	fn.Now = func() time.Time { return rec.Submitted.Add(redshift.MaxStatementDuration + time.Minute) }
	r = fn.Poll(context.Background(), table, 2)
	if r.Action != ActionFailed || !strings.Contains(r.Error, "dropped") {
		t.Fatalf("a day later: %+v", r)
	}
	if _, found, _ := w.store.statement(context.Background(), key); found {
		t.Errorf("the foreign record is still there after the Data API's limit")
	}
	_ = w.transform.Cancel(context.Background(), rec.ID)
}

func withIdentity(s Store, id Identity) Store {
	s.Identity = &id
	return s
}
