package offline

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"path/filepath"
	"slices"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"

	"github.com/snaplake/snaplake/internal/aws/lambdamain"
	"github.com/snaplake/snaplake/internal/config"
	"github.com/snaplake/snaplake/internal/deploy"
	"github.com/snaplake/snaplake/internal/federate"
	"github.com/snaplake/snaplake/internal/federate/redshift"
	"github.com/snaplake/snaplake/internal/local/contract"
	"github.com/snaplake/snaplake/internal/local/s3server"
	"github.com/snaplake/snaplake/internal/local/stepfunctions"
)

// longWorld is the deployed Federator offline with a published table whose UNLOAD
// takes as long as the test wants: sales.slow is a view whose rows each sleep, while
// its row count (the publish's metadata query) does not evaluate them.
type longWorld struct {
	t        *testing.T
	ctx      context.Context
	c        *contract.Contract
	srv      *s3server.Server
	dsn      func(db string) string
	warehous map[string]string
}

func newLongWorld(t *testing.T, napSeconds float64, extra string) *longWorld {
	t.Helper()
	ctx := context.Background()
	pg, c, srv := startFederatorServers(t, "transform", "reporting")
	seed, err := redshift.Open(ctx, pg.DSN("transform"), redshift.Deps{S3: srv.Client()})
	if err != nil {
		t.Fatal(err)
	}
	defer seed.Close()
	if err := seed.Exec(ctx, "CREATE SCHEMA sales",
		"CREATE TABLE sales.base (id INTEGER NOT NULL, name TEXT)",
		"INSERT INTO sales.base SELECT g, 'n' || g FROM generate_series(1, 40) g",
		// nap sleeps once, on the first row: the UNLOAD (SELECT *) takes napSeconds,
		// COUNT(*) does not call it (a STABLE function in an unused column is not evaluated).
		fmt.Sprintf("CREATE FUNCTION sales.nap(i INTEGER) RETURNS INTEGER STABLE LANGUAGE sql AS $$ SELECT CASE WHEN i = 1 THEN (SELECT i FROM pg_sleep(%g)) ELSE i END $$", napSeconds),
		"CREATE VIEW sales.slow AS SELECT sales.nap(id) AS id, name FROM sales.base",
	); err != nil {
		t.Fatal(err)
	}
	cfg := fmt.Sprintf("federate:\n  publisher: %s\n  statementPoll: 1s\n%s  tables:\n    - {table: sales.slow}\n  subscribers:\n    - {name: reporting, redshift: %q}\n",
		pg.DSN("transform"), extra, pg.DSN("reporting"))
	if _, err := srv.Client().PutObject(ctx, &s3.PutObjectInput{Bucket: aws.String(c.Bucket), Key: aws.String(config.S3Key), Body: strings.NewReader(cfg)}); err != nil {
		t.Fatal(err)
	}
	w := &longWorld{t: t, ctx: ctx, c: c, srv: srv, dsn: pg.DSN, warehous: map[string]string{
		pg.DSN("transform"): "arn:aws:redshift-serverless:us-east-1:000000000000:workgroup/00000000-0000-4000-8000-000000000001",
		pg.DSN("reporting"): "arn:aws:redshift:eu-west-1:000000000000:cluster:reporting",
	}}
	return w
}

// federate builds the offline Federator with each invocation cut at timeout.
func (w *longWorld) federate(timeout time.Duration) (*Federate, *Account) {
	w.t.Helper()
	acct, err := NewAccount(w.srv, AccountOptions{Contract: w.c, Log: slog.New(slog.NewTextHandler(io.Discard, nil))})
	if err != nil {
		w.t.Fatal(err)
	}
	w.t.Cleanup(acct.Close)
	f, err := NewFederate(FederateConfig{Account: acct, Warehouses: w.warehous, RetryInterval: 50 * time.Millisecond, FunctionTimeout: timeout,
		Log: slog.New(slog.NewTextHandler(io.Discard, nil))})
	if err != nil {
		w.t.Fatal(err)
	}
	return f, acct
}

func (w *longWorld) run(f *Federate, workflow string, at time.Time) stepfunctions.Result {
	w.t.Helper()
	res, err := f.Run(w.ctx, workflow, at)
	if err != nil {
		w.t.Fatal(err)
	}
	return res
}

// TestFederatorLongStatement: an UNLOAD that runs 5 s, longer than the functions'
// 2 s timeout, is submitted by one invocation and followed by the workflow's waits
// and polls; the publish and then the subscribe complete through the real state
// machines, every call authorized as deployed, with one UNLOAD and one COPY
// submitted in all.
func TestFederatorLongStatement(t *testing.T) {
	t.Parallel() // its own PostgreSQL and S3 servers; it mostly waits on statements
	w := newLongWorld(t, 5, "")
	f, acct := w.federate(2 * time.Second)
	at := time.Date(2026, 12, 3, 10, 0, 0, 0, time.UTC)
	start := time.Now()
	pub := w.run(f, deploy.FnPublish, at)
	if pub.Status != stepfunctions.StatusSucceeded {
		t.Fatalf("publish: %s %s %s (notified %+v)", pub.Status, pub.Error, pub.Cause, f.Notifications())
	}
	if d := time.Since(start); d < 5*time.Second {
		t.Fatalf("publish took %s: the UNLOAD did not run its 5 s", d)
	}
	// The table's waits and polls are in its own execution (federate-item).
	var itemStates []string
	for _, e := range f.ItemExecutions() {
		res, err := e.Wait()
		if err != nil {
			t.Fatal(err)
		}
		itemStates = append(itemStates, res.States...)
	}
	if !slices.Contains(itemStates, "WaitForStatement") || !slices.Contains(itemStates, "Poll") || slices.Contains(pub.States, "Poll") {
		t.Errorf("publish states %v, its item's %v: want the wait and the poll in the item's execution", pub.States, itemStates)
	}
	sub := w.run(f, deploy.FnSubscribe, at.Add(time.Minute))
	if sub.Status != stepfunctions.StatusSucceeded {
		t.Fatalf("subscribe: %s %s %s (notified %+v)", sub.Status, sub.Error, sub.Cause, f.Notifications())
	}
	if n := f.Statements.Submitted(); n != 3 {
		t.Errorf("%d statements submitted, want one UNLOAD, one COPY and its swap", n)
	}
	rep, err := redshift.Open(w.ctx, w.dsn("reporting"), redshift.Deps{S3: w.srv.Client()})
	if err != nil {
		t.Fatal(err)
	}
	defer rep.Close()
	rows, err := rep.Query(w.ctx, "SELECT COUNT(*) FROM sales.slow")
	if err != nil || *rows[0][0] != "40" {
		t.Fatalf("the subscriber holds %v rows (%v), want 40", rows, err)
	}
	if d := acct.IAM.Denied(); len(d) > 0 {
		t.Errorf("denied: %+v", d)
	}
	allowed := map[string]bool{}
	for _, g := range acct.IAM.Allowed() {
		allowed[g.Principal+" "+g.Action] = true
	}
	for _, want := range []string{"publish redshift-data:DescribeStatement", "subscribe redshift-data:DescribeStatement"} {
		if !allowed[want] {
			t.Errorf("no %s was made and allowed", want)
		}
	}
}

// TestFederatorStatementTimeout: an UNLOAD still running past
// federate.statementTimeout is cancelled (it ends ABORTED in the warehouse), the
// table's result says so, and status shows the cancelled statement.
func TestFederatorStatementTimeout(t *testing.T) {
	t.Parallel() // its own PostgreSQL and S3 servers; it mostly waits on statements
	w := newLongWorld(t, 60, "  statementTimeout: 3s\n")
	f, acct := w.federate(10 * time.Second)
	at := time.Date(2026, 12, 3, 10, 0, 0, 0, time.UTC)
	pub := w.run(f, deploy.FnPublish, at)
	if pub.Status == stepfunctions.StatusSucceeded {
		t.Fatalf("publish of a statement past its limit succeeded")
	}
	notes := f.Notifications()
	if len(notes) != 1 || !strings.Contains(notes[0].Message, "past federate.statementTimeout (3s): cancelled") || !strings.Contains(notes[0].Message, `"cancelled":`) {
		t.Fatalf("notified %+v, want the table failed with its UNLOAD cancelled", notes)
	}
	deadline := time.Now().Add(10 * time.Second)
	for f.Statements.Running() > 0 && time.Now().Before(deadline) {
		time.Sleep(50 * time.Millisecond)
	}
	if n := f.Statements.Running(); n != 0 {
		t.Errorf("%d statements still running after the cancel", n)
	}
	st := federate.Status(w.ctx, federate.Store{S3: w.srv.Client(), Bucket: w.c.Bucket}, federate.Config{Tables: []federate.Table{{Table: "sales.slow"}}}, nil, time.Now())
	if len(st) != 1 || len(st[0].Statements) != 1 || st[0].Statements[0].State != federate.StatementCancelled || st[0].Statements[0].Kind != "UNLOAD" {
		b, _ := json.Marshal(st)
		t.Errorf("status %s: want the cancelled UNLOAD", b)
	}
	allowed := map[string]bool{}
	for _, g := range acct.IAM.Allowed() {
		allowed[g.Principal+" "+g.Action] = true
	}
	if !allowed["publish redshift-data:CancelStatement"] {
		t.Errorf("no CancelStatement was made and allowed")
	}
	// The cancel is in the reviewed list that snaplake doctor simulates.
	added, _, err := ComparePermissions(w.c, acct.IAM.Allowed(), filepath.Join("..", "..", "..", PermissionsFile), *updatePermissions)
	if err != nil {
		t.Fatal(err)
	}
	if len(added) > 0 {
		t.Errorf("calls missing from %s (review them, then `make permissions`):\n  %s", PermissionsFile, strings.Join(added, "\n  "))
	}
	if d := acct.IAM.Denied(); len(d) > 0 {
		t.Errorf("denied: %+v", d)
	}
}

// TestFederatorRetryResumes: the publish function runs past its timeout right after
// submitting and recording its UNLOAD; Step Functions reports that as Lambda.Unknown
// (the offline Lambda's timeout raises what AWS raises) and retries the step, which
// finds the statement and resumes it: no second UNLOAD is submitted.
func TestFederatorRetryResumes(t *testing.T) {
	t.Parallel() // its own PostgreSQL and S3 servers; it mostly waits on statements
	w := newLongWorld(t, 2, "")
	f, _ := w.federate(10 * time.Second)
	arn := w.c.Functions[deploy.FnPublish].Arn
	h := f.handlers[arn]
	var crashed atomic.Bool
	// The first "table" step outlives a 2-second function timeout after it has
	// submitted and recorded the UNLOAD: the offline Lambda's own deadline ends it.
	f.handlers[arn] = withTimeout(func(ctx context.Context, payload json.RawMessage) (any, error) {
		out, err := lambdamain.Func(h)(ctx, payload)
		if strings.Contains(string(payload), `"mode":"table"`) && crashed.CompareAndSwap(false, true) {
			<-ctx.Done()
		}
		return out, err
	}, 2*time.Second)
	pub := w.run(f, deploy.FnPublish, time.Date(2026, 12, 3, 10, 0, 0, 0, time.UTC))
	if pub.Status != stepfunctions.StatusSucceeded {
		t.Fatalf("publish: %s %s %s (notified %+v)", pub.Status, pub.Error, pub.Cause, f.Notifications())
	}
	if !crashed.Load() {
		t.Fatal("the function never crashed")
	}
	if n := f.Statements.Submitted(); n != 1 {
		t.Errorf("%d UNLOADs submitted, want 1: the retried step must resume the running one", n)
	}
}

// TestFederatorLongSwap: the swap of a full version (DELETE and INSERT ... SELECT of
// every row, in one transaction) may run as long as its COPY. Here it runs 5 s, longer
// than the functions' 2 s timeout (a statement-level trigger on the subscriber's
// table sleeps): it is submitted as a statement of its own, recorded and polled by
// the workflow like the COPY, and the subscribe completes, with one UNLOAD, one COPY
// and one swap submitted, every call authorized as deployed.
func TestFederatorLongSwap(t *testing.T) {
	t.Parallel() // its own PostgreSQL and S3 servers; it mostly waits on statements
	w := newLongWorld(t, 0, "")
	rep, err := redshift.Open(w.ctx, w.dsn("reporting"), redshift.Deps{S3: w.srv.Client()})
	if err != nil {
		t.Fatal(err)
	}
	defer rep.Close()
	if err := rep.Exec(w.ctx, "CREATE SCHEMA sales", "CREATE TABLE sales.slow (id INTEGER, name TEXT)",
		"CREATE FUNCTION sales.nap() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN PERFORM pg_sleep(5); RETURN NULL; END $$",
		"CREATE TRIGGER slow_insert AFTER INSERT ON sales.slow FOR EACH STATEMENT EXECUTE FUNCTION sales.nap()",
	); err != nil {
		t.Fatal(err)
	}
	f, acct := w.federate(2 * time.Second)
	at := time.Date(2026, 12, 3, 10, 0, 0, 0, time.UTC)
	if pub := w.run(f, deploy.FnPublish, at); pub.Status != stepfunctions.StatusSucceeded {
		t.Fatalf("publish: %s %s %s (notified %+v)", pub.Status, pub.Error, pub.Cause, f.Notifications())
	}
	start := time.Now()
	sub := w.run(f, deploy.FnSubscribe, at.Add(time.Minute))
	if sub.Status != stepfunctions.StatusSucceeded || len(f.Notifications()) > 0 {
		t.Fatalf("subscribe: %s %s %s (notified %+v)", sub.Status, sub.Error, sub.Cause, f.Notifications())
	}
	if d := time.Since(start); d < 5*time.Second {
		t.Fatalf("subscribe took %s: the swap did not run its 5 s", d)
	}
	if n := f.Statements.Submitted(); n != 3 {
		t.Errorf("%d statements submitted, want one UNLOAD, one COPY and one swap", n)
	}
	rows, err := rep.Query(w.ctx, "SELECT COUNT(*) FROM sales.slow")
	if err != nil || *rows[0][0] != "40" {
		t.Fatalf("the subscriber holds %v rows (%v), want 40", rows, err)
	}
	if d := acct.IAM.Denied(); len(d) > 0 {
		t.Errorf("denied: %+v", d)
	}
	allowed := map[string]bool{}
	for _, g := range acct.IAM.Allowed() {
		allowed[g.Principal+" "+g.Action] = true
	}
	if !allowed["subscribe redshift-data:BatchExecuteStatement"] {
		t.Errorf("the swap was not a BatchExecuteStatement made and allowed")
	}
}

// TestFederatorForeignStatement: an operator's `snaplake federate publish` submitted
// the table's UNLOAD as the operator's identity and left its record; the deployed
// policy lets the publish function describe only its own role's statements (any
// session), so the scheduled run is denied, and the table fails naming the owner,
// rather than with a bare AccessDenied. Statements of the function's own role in
// another session (a later invocation) stay allowed.
func TestFederatorForeignStatement(t *testing.T) {
	t.Parallel() // its own PostgreSQL and S3 servers; it mostly waits on statements
	w := newLongWorld(t, 60, "")
	f, acct := w.federate(10 * time.Second)
	operator := federate.Identity{UserID: "AIDAOPERATOR00000000", Arn: "arn:aws:iam::000000000000:user/alice"}
	tr, err := redshift.Open(w.ctx, w.dsn("transform"), redshift.Deps{S3: w.srv.Client(), Postgres: []redshift.PostgresOption{redshift.WithStatements(f.Statements)}})
	if err != nil {
		t.Fatal(err)
	}
	defer tr.Close()
	// The operator's command line, as its Publisher writes it: the record, then the
	// statement (submitted to the same warehouse "service" the functions reach).
	cli := &federate.Publisher{Warehouse: operatorWarehouse{Warehouse: tr, f: f, userid: operator.UserID},
		Store: federate.Store{S3: w.srv.Client(), Bucket: w.c.Bucket, Identity: &operator}}
	if r := cli.Start(w.ctx, federate.Table{Table: "sales.slow"}, 3); r.Wait == nil {
		t.Fatalf("the operator's UNLOAD: %+v", r)
	}
	// Its lease has expired (the command line was interrupted hours ago).
	if _, err := w.srv.Client().DeleteObject(w.ctx, &s3.DeleteObjectInput{Bucket: aws.String(w.c.Bucket), Key: aws.String(deploy.FederatePublishLeaseKey("sales.slow"))}); err != nil {
		t.Fatal(err)
	}
	defer func() {
		recs, _ := (federate.Store{S3: w.srv.Client(), Bucket: w.c.Bucket}).Statements(w.ctx, "sales.slow")
		for _, r := range recs {
			_ = tr.Cancel(w.ctx, r.ID)
		}
	}()
	pub := w.run(f, deploy.FnPublish, time.Date(2026, 12, 3, 10, 0, 0, 0, time.UTC))
	notes := f.Notifications()
	if pub.Status == stepfunctions.StatusSucceeded || len(notes) != 1 || !strings.Contains(notes[0].Message, "was submitted by "+operator.Arn) {
		t.Fatalf("publish meeting the operator's statement: %s, notified %+v", pub.Status, notes)
	}
	denied := false
	for _, d := range acct.IAM.Denied() {
		denied = denied || (d.Principal == deploy.FnPublish && d.Action == "redshift-data:DescribeStatement")
	}
	if !denied {
		t.Errorf("the function's DescribeStatement of the operator's statement was not denied: %+v", acct.IAM.Denied())
	}
	// Another session of the function's own role may describe the role's statements.
	own := guardedWarehouse{Warehouse: tr, a: acct, principal: deploy.FnPublish, owners: &f.owners}
	id, err := tr.SubmitExec(w.ctx, "", "SELECT 1")
	if err != nil {
		t.Fatal(err)
	}
	f.OwnStatement(id, acct.Contract.Functions[deploy.FnPublish].Role.ID+":another-session")
	if _, err := own.Describe(w.ctx, id); err != nil {
		t.Errorf("another session of the role: %v", err)
	}
}

// operatorWarehouse submits as an identity outside the stack (the operator), as the
// Data API records a statement's owner.
type operatorWarehouse struct {
	redshift.Warehouse
	f      *Federate
	userid string
}

func (o operatorWarehouse) SubmitUnload(ctx context.Context, token, query, prefix string) (string, error) {
	id, err := o.Warehouse.SubmitUnload(ctx, token, query, prefix)
	o.f.OwnStatement(id, o.userid)
	return id, err
}
