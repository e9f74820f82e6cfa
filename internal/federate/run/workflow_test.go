package run

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"

	"github.com/snaplake/snaplake/internal/config"
	"github.com/snaplake/snaplake/internal/federate/redshift"
	"github.com/snaplake/snaplake/internal/local/postgres/postgrestest"
	"github.com/snaplake/snaplake/internal/local/s3server"
	"github.com/snaplake/snaplake/internal/local/stepfunctions"
	"github.com/snaplake/snaplake/internal/local/testenv"
	"github.com/snaplake/snaplake/statemachines"
)

const (
	publishArn   = "arn:aws:lambda:us-east-1:000000000000:function:publish"
	subscribeArn = "arn:aws:lambda:us-east-1:000000000000:function:subscribe"
	topicArn     = "arn:aws:sns:us-east-1:000000000000:notifications"
)

// TestWorkflows runs the Federator's two state machines in aws-local-stepfunctions
// with the real handlers, a real PostgreSQL per warehouse and a real S3: the tables
// publish, and of four subscribers two converge while one is unreachable and one's
// function crashes; the run fails with a notification naming them, and the others
// are not held back.
func TestWorkflows(t *testing.T) {
	testenv.NeedsNode(t)
	ctx := context.Background()
	pg := postgrestest.Start(t)
	srv, err := s3server.StartFake()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(srv.Stop)
	if err := srv.CreateBucket(ctx, "lake"); err != nil {
		t.Fatal(err)
	}
	client := srv.Client()
	for _, db := range []string{"transform", "report_a", "report_c", "report_crash"} {
		if err := pg.CreateDatabase(db); err != nil {
			t.Fatal(err)
		}
	}
	// One stand-in "service" holds the statements across invocations, as Redshift does.
	statements := redshift.NewStatements()
	// sales.fact's UNLOAD and COPYs are reported running for their first 1.5 s, longer
	// than the step that submits them watches them (statementPoll, 1s): the workflow
	// waits for them. sales.dim's end within the step that submits them.
	slow := &lingering{since: map[string]time.Time{}, table: "fact", d: 1500 * time.Millisecond}
	open := func(ctx context.Context, url string) (redshift.Warehouse, error) {
		wh, err := redshift.Open(ctx, url, redshift.Deps{S3: client, Postgres: []redshift.PostgresOption{redshift.WithStatements(statements)}})
		if err != nil {
			return nil, err
		}
		return lingeringWarehouse{Warehouse: wh, l: slow}, nil
	}
	transform, err := open(ctx, pg.DSN("transform"))
	if err != nil {
		t.Fatal(err)
	}
	defer transform.Close()
	if err := transform.Exec(ctx,
		"CREATE SCHEMA sales",
		"CREATE TABLE sales.fact (id BIGINT NOT NULL, amount NUMERIC(10,2), inserted_at TIMESTAMP NOT NULL)",
		"INSERT INTO sales.fact SELECT g, g / 4.0, TIMESTAMP '2026-12-01' + g * INTERVAL '1 minute' FROM generate_series(1, 300) g",
		"CREATE TABLE sales.dim (id INTEGER NOT NULL, name VARCHAR(40))",
		"INSERT INTO sales.dim SELECT g, 'name ' || g FROM generate_series(1, 10) g",
	); err != nil {
		t.Fatal(err)
	}
	put := func(body string) {
		if _, err := client.PutObject(ctx, &s3.PutObjectInput{Bucket: aws.String("lake"), Key: aws.String(config.S3Key), Body: strings.NewReader(body)}); err != nil {
			t.Fatal(err)
		}
	}
	put(fmt.Sprintf(`federate:
  publisher: %s
  statementPoll: 1s
  tables:
    - {table: sales.fact, inserted: inserted_at, append: true}
    - {table: sales.dim}
  subscribers:
    - {name: a, redshift: "%s"}
    - {name: down, redshift: "postgres://postgres@127.0.0.1:1/none?sslmode=disable&connect_timeout=2"}
    - {name: c, redshift: "%s"}
    - {name: crash, redshift: "%s"}
`, pg.DSN("transform"), pg.DSN("report_a"), pg.DSN("report_c"), pg.DSN("report_crash")))

	h := &Handler{S3: client, Bucket: "lake", Open: open, Log: slog.New(slog.NewTextHandler(io.Discard, nil))}
	var mu sync.Mutex
	var notes []string
	runner := &stepfunctions.Runner{RetryInterval: 50 * time.Millisecond, Tasks: func(ctx context.Context, call stepfunctions.TaskCall) (json.RawMessage, error) {
		switch call.Resource {
		case "arn:aws:states:::lambda:invoke":
			var in struct {
				FunctionName string
				Payload      Request
			}
			if err := json.Unmarshal(call.Input, &in); err != nil {
				return nil, err
			}
			if in.Payload.Subscriber == "crash" {
				return nil, stepfunctions.LambdaError(errors.New("the function ran out of memory"))
			}
			var out any
			var err error
			switch in.FunctionName {
			case publishArn:
				out, err = h.Publish(ctx, in.Payload)
			case subscribeArn:
				out, err = h.Subscribe(ctx, in.Payload)
			default:
				return nil, &stepfunctions.TaskError{Name: "Lambda.ResourceNotFoundException", Cause: in.FunctionName}
			}
			if err != nil {
				return nil, stepfunctions.LambdaError(err)
			}
			return json.Marshal(out)
		case "arn:aws:states:::sns:publish":
			var in struct{ Subject, Message string }
			_ = json.Unmarshal(call.Input, &in)
			mu.Lock()
			notes = append(notes, in.Subject+": "+in.Message)
			mu.Unlock()
			return json.RawMessage(`{"MessageId":"1"}`), nil
		}
		return nil, &stepfunctions.TaskError{Name: "States.TaskFailed", Cause: "no stand-in for " + call.Resource}
	}}
	subs := map[string]string{statemachines.PublishFunctionArn: publishArn, statemachines.SubscribeFunctionArn: subscribeArn, statemachines.NotificationTopicArn: topicArn}
	run := func(def []byte, name string) stepfunctions.Result {
		t.Helper()
		rendered, err := statemachines.Render(def, subs)
		if err != nil {
			t.Fatal(err)
		}
		e, err := runner.Start(ctx, name, rendered, []byte(`{}`))
		if err != nil {
			t.Fatal(err)
		}
		res, err := e.Wait()
		if err != nil {
			t.Fatal(err)
		}
		return res
	}
	visited := map[string]map[string]bool{"publish": {}, "subscribe": {}}
	record := func(kind string, res stepfunctions.Result) {
		for _, s := range res.States {
			visited[kind][s] = true
		}
	}

	pub := run(statemachines.FederatePublish, "publish-1")
	record("publish", pub)
	if pub.Status != stepfunctions.StatusSucceeded {
		t.Fatalf("publish: %s %s %s", pub.Status, pub.Error, pub.Cause)
	}
	sub := run(statemachines.FederateSubscribe, "subscribe-1")
	record("subscribe", sub)
	if sub.Status != stepfunctions.StatusFailed || sub.Error != "TablesFailed" {
		t.Fatalf("subscribe with a subscriber down: %s %s %s", sub.Status, sub.Error, sub.Cause)
	}
	if len(notes) != 1 || !strings.Contains(notes[0], `"subscriber":"down"`) || !strings.Contains(notes[0], "unreachable") || !strings.Contains(notes[0], `"subscriber":"crash"`) {
		t.Fatalf("notifications %q", notes)
	}
	for _, db := range []string{"report_a", "report_c"} {
		wh, err := open(ctx, pg.DSN(db))
		if err != nil {
			t.Fatal(err)
		}
		for _, table := range []string{"sales.fact", "sales.dim"} {
			if got, want := checksum(t, wh, table), checksum(t, transform, table); got != want {
				t.Errorf("%s %s: %s, the transform's %s", db, table, got, want)
			}
		}
		wh.Close()
	}

	// A config that does not parse fails the run at its start, notified.
	put("federate: [")
	bad := run(statemachines.FederatePublish, "publish-2")
	record("publish", bad)
	if bad.Status != stepfunctions.StatusFailed || bad.Error != "RefusedError" {
		t.Fatalf("publish with a broken config: %s %s", bad.Status, bad.Error)
	}

	for kind, def := range map[string][]byte{"publish": statemachines.FederatePublish, "subscribe": statemachines.FederateSubscribe} {
		var d struct {
			States map[string]struct {
				ItemProcessor struct{ States map[string]json.RawMessage }
			}
		}
		if err := json.Unmarshal(def, &d); err != nil {
			t.Fatal(err)
		}
		var names []string
		for name, s := range d.States {
			names = append(names, name)
			for inner := range s.ItemProcessor.States {
				names = append(names, inner)
			}
		}
		for _, name := range names {
			if !visited[kind][name] && !(kind == "publish" && slices.Contains([]string{"ItemFailed", "NotifyItemFailures", "ItemsFailed"}, name)) &&
				!(kind == "subscribe" && slices.Contains([]string{"Done", "NotifyFailure", "Failed"}, name)) {
				t.Errorf("%s: state %s was never executed", kind, name)
			}
		}
	}
}

func checksum(t *testing.T, wh redshift.Warehouse, table string) string {
	t.Helper()
	rows, err := wh.Query(context.Background(), "SELECT count(*) || ':' || coalesce(md5(string_agg(x::text, '|' ORDER BY id)), '') FROM "+table+" x")
	if err != nil {
		t.Fatal(err)
	}
	return *rows[0][0]
}

// lingering makes the statements on one table last at least d: each is reported
// running until d after it was submitted, as a larger table's would be.
type lingering struct {
	mu    sync.Mutex
	since map[string]time.Time // statement id -> submitted
	table string
	d     time.Duration
}

type lingeringWarehouse struct {
	redshift.Warehouse
	l *lingering
}

func (w lingeringWarehouse) note(id, name string, err error) (string, error) {
	if err == nil && strings.Contains(name, w.l.table) {
		w.l.mu.Lock()
		if _, ok := w.l.since[id]; !ok {
			w.l.since[id] = time.Now()
		}
		w.l.mu.Unlock()
	}
	return id, err
}

func (w lingeringWarehouse) SubmitUnload(ctx context.Context, token, query, prefix string) (string, error) {
	id, err := w.Warehouse.SubmitUnload(ctx, token, query, prefix)
	return w.note(id, prefix, err)
}

func (w lingeringWarehouse) SubmitCopy(ctx context.Context, token, schema, table string, files []redshift.File) (string, error) {
	id, err := w.Warehouse.SubmitCopy(ctx, token, schema, table, files)
	return w.note(id, table, err)
}

func (w lingeringWarehouse) Describe(ctx context.Context, id string) (redshift.Statement, error) {
	st, err := w.Warehouse.Describe(ctx, id)
	w.l.mu.Lock()
	since, ok := w.l.since[id]
	w.l.mu.Unlock()
	if err == nil && ok && time.Since(since) < w.l.d {
		st.Status = redshift.StatusStarted
	}
	return st, err
}
