package redshift

import (
	"context"
	"errors"
	"testing"
	"time"
)

// testAsynchronous: the stand-in runs an UNLOAD or COPY as the Data API does. Submit
// answers at once; the statement outlives the warehouse that submitted it (a Lambda
// invocation that ended) and is described by another that shares its Statements;
// the same client token returns the same statement; Cancel stops a running one,
// which ends ABORTED, and refuses one that ended.
func (env *pgEnv) testAsynchronous(t *testing.T) {
	ctx := context.Background()
	stmts := NewStatements()
	open := func() *Postgres {
		t.Helper()
		p, err := OpenPostgres(ctx, env.server.DSN("source"), env.s3, WithStatements(stmts))
		if err != nil {
			t.Fatal(err)
		}
		return p
	}
	first := open()
	const slow = "SELECT g AS id FROM generate_series(1, 3) g, LATERAL (SELECT pg_sleep(0.4)) z"
	start := time.Now()
	id, err := first.SubmitUnload(ctx, "token-1", slow, "s3://"+testBucket+"/async/v1/")
	if err != nil {
		t.Fatal(err)
	}
	if d := time.Since(start); d > 300*time.Millisecond {
		t.Fatalf("SubmitUnload took %s: it must answer at once", d)
	}
	first.Close() // the invocation that submitted it ends
	again, err := open().SubmitUnload(ctx, "token-1", slow, "s3://"+testBucket+"/async/v1/")
	if err != nil || again != id || stmts.Submitted() != 1 {
		t.Fatalf("submitted again with the same token: %q, %v (%d statements), want %q and one statement", again, err, stmts.Submitted(), id)
	}
	second := open()
	defer second.Close()
	st, err := second.Describe(ctx, id)
	if err != nil || !st.Running() {
		t.Fatalf("right after submitting: %+v, %v; want SUBMITTED or STARTED", st, err)
	}
	st, err = Wait(ctx, second, id, 20*time.Millisecond)
	if err != nil || st.Status != StatusFinished || st.ResultRows != 3 {
		t.Fatalf("waited: %+v, %v; want FINISHED with 3 rows", st, err)
	}
	files, err := second.UnloadedFiles(ctx, id, "s3://"+testBucket+"/async/v1/")
	if err != nil || len(files) != 1 || files[0].Rows != 3 {
		t.Fatalf("files %+v, %v", files, err)
	}
	if err := second.Cancel(ctx, id); !errors.As(err, new(*NotRunningError)) {
		t.Errorf("cancel of a FINISHED statement: %v, want a *NotRunningError", err)
	}

	// A long one, cancelled: ABORTED, and its query stopped on the server.
	long, err := second.SubmitUnload(ctx, NewToken(), "SELECT 1 AS id FROM (SELECT pg_sleep(30)) z", "s3://"+testBucket+"/async/v2/")
	if err != nil {
		t.Fatal(err)
	}
	for st, _ = second.Describe(ctx, long); st.Status != StatusStarted; st, _ = second.Describe(ctx, long) {
		time.Sleep(10 * time.Millisecond)
	}
	if err := second.Cancel(ctx, long); err != nil {
		t.Fatal(err)
	}
	start = time.Now()
	st, err = Wait(ctx, second, long, 20*time.Millisecond)
	if st.Status != StatusAborted || err == nil || time.Since(start) > 5*time.Second {
		t.Fatalf("cancelled: %+v, %v after %s; want ABORTED at once", st, err, time.Since(start))
	}
	if _, err := second.Describe(ctx, "no-such-id"); !errors.As(err, new(*StatementNotFoundError)) {
		t.Errorf("describe of an unknown id: %v, want a *StatementNotFoundError", err)
	}
	if stmts.Running() != 0 {
		t.Errorf("%d statements still running", stmts.Running())
	}
}
