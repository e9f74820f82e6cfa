package run

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"strings"
	"sync"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/snaplake/snaplake/internal/deploy"
	"github.com/snaplake/snaplake/internal/federate"
	"github.com/snaplake/snaplake/internal/local/stepfunctions"
	"github.com/snaplake/snaplake/internal/local/testenv"
	"github.com/snaplake/snaplake/statemachines"
)

// historyLimit is a standard execution's hard limit: "Maximum execution history size
// | 25,000 events in a single state machine execution history. If the execution
// history reaches this quota, the execution will fail." (Step Functions quotas,
// https://docs.aws.amazon.com/step-functions/latest/dg/service-quotas.html)
const historyLimit = 25000

// stateInfo is what decides how many history events entering a state adds.
type stateInfo struct {
	Type, Resource, StartAt string
}

// statesOf indexes a definition's states by name, Map iterations' included (the
// Federator's definitions use each name once).
func statesOf(t *testing.T, def []byte) map[string]stateInfo {
	t.Helper()
	type machine struct {
		StartAt string
		States  map[string]json.RawMessage
	}
	out := map[string]stateInfo{}
	var walk func(m machine)
	walk = func(m machine) {
		for name, raw := range m.States {
			var s struct {
				Type, Resource string
				ItemProcessor  machine
			}
			if err := json.Unmarshal(raw, &s); err != nil {
				t.Fatal(err)
			}
			if _, dup := out[name]; dup {
				t.Fatalf("state %s is named twice: the count below needs unique names", name)
			}
			out[name] = stateInfo{Type: s.Type, Resource: s.Resource, StartAt: s.ItemProcessor.StartAt}
			if s.Type == "Map" {
				walk(s.ItemProcessor)
			}
		}
	}
	var m machine
	if err := json.Unmarshal(def, &m); err != nil {
		t.Fatal(err)
	}
	walk(m)
	return out
}

// historyEvents counts the events an execution that entered these states, in this
// order, writes to its history, by the event types Step Functions records
// (HistoryEvent types, Step Functions API reference): ExecutionStarted and its end;
// a Task state's TaskStateEntered, TaskScheduled, TaskStarted, TaskSucceeded and
// TaskStateExited, plus TaskSubmitted for a .sync one; Entered and Exited for a
// Pass, Choice, Wait or Succeed state (Fail: Entered); a Map's MapStateEntered,
// MapStateStarted, MapStateSucceeded, MapStateExited and, per iteration,
// MapIterationStarted and MapIterationSucceeded (an inline Map's iterations are the
// parent's history: "Step Functions adds the execution history of these iterations
// to the parent workflow's execution history", state-map-inline).
func historyEvents(t *testing.T, def []byte, entered []string) int {
	t.Helper()
	states := statesOf(t, def)
	iterStart := map[string]bool{}
	for _, s := range states {
		if s.Type == "Map" {
			iterStart[s.StartAt] = true
		}
	}
	n := 2
	for _, name := range entered {
		s, ok := states[name]
		if !ok {
			t.Fatalf("entered state %s is not in the definition", name)
		}
		switch s.Type {
		case "Task":
			n += 5
			if strings.HasSuffix(s.Resource, ".sync:2") || strings.HasSuffix(s.Resource, ".sync") {
				n++
			}
		case "Map":
			n += 4
		case "Fail":
			n++
		default:
			n += 2
		}
		if iterStart[name] {
			n += 2
		}
	}
	return n
}

// stubRun runs def with tasks in aws-local-stepfunctions and returns the history
// events it wrote.
func stubRun(t *testing.T, name string, def []byte, subs map[string]string, input string, tasks stepfunctions.TaskFunc) int {
	t.Helper()
	rendered, err := statemachines.Render(def, subs)
	if err != nil {
		t.Fatal(err)
	}
	r := &stepfunctions.Runner{Tasks: tasks, Log: slog.New(slog.NewTextHandler(io.Discard, nil))}
	e, err := r.Start(context.Background(), name, rendered, []byte(input))
	if err != nil {
		t.Fatal(err)
	}
	res, err := e.Wait()
	if err != nil {
		t.Fatal(err)
	}
	if res.Status != stepfunctions.StatusSucceeded {
		t.Fatalf("%s: %s %s %s", name, res.Status, res.Error, res.Cause)
	}
	return historyEvents(t, def, res.States)
}

// turnsFor is how many polls a statement that runs until the timeout takes: the
// pauses the functions ask for (Limits.Pause), from the first to the deadline.
func turnsFor(l federate.Limits) int {
	turns := 0
	for elapsed := time.Duration(0); elapsed < l.Timeout; turns++ {
		elapsed += l.Pause(elapsed, l.Timeout-elapsed)
	}
	return turns
}

// TestHistoryBounded holds F1: no execution of the Federator's workflows can reach
// the 25,000-event history limit at the seed's scale. The events per poll, per item
// and per subscriber are measured from runs of the real definitions in
// aws-local-stepfunctions (the functions stubbed: the history depends on the states
// entered, not on what a function does), then extrapolated to the worst case: 70
// tables into 3 subscribers, each item a chain of keepVersions COPYs that each run
// to a 12-hour statementTimeout. Each item runs as a nested execution
// (federate-item), so its polls are in its own history; the run's history grows by
// a constant per item. The same worst case in one execution (the inline Maps before)
// is computed too, and must exceed the limit, or this test would prove nothing.
func TestHistoryBounded(t *testing.T) {
	testenv.NeedsNode(t)
	const tables, subscribers = 70, 3
	limits := federate.Limits{Timeout: 12 * time.Hour, Poll: deploy.FederateStatementPoll}
	turns := turnsFor(limits)
	chain := federate.DefaultKeepVersions

	// One item whose statement is polled k times before it finishes.
	item := func(k int) int {
		var mu sync.Mutex
		polls := 0
		return stubRun(t, fmt.Sprintf("item-%d", k), statemachines.FederateItem, map[string]string{statemachines.ItemFunctionArn: subscribeArn},
			`{"table":"sales.fact","subscriber":"a","run":"r"}`,
			func(ctx context.Context, call stepfunctions.TaskCall) (json.RawMessage, error) {
				mu.Lock()
				defer mu.Unlock()
				res := federate.Result{Table: "sales.fact", Subscriber: "a", Action: federate.ActionLoaded}
				if polls < k {
					polls++
					res.Wait = &federate.Wait{Seconds: 0, Statement: "s", Kind: "COPY"}
				}
				return json.Marshal(res)
			})
	}
	one, four := item(1), item(4)
	perTurn := (four - one) / 3
	itemFixed := one - perTurn
	if perTurn < 9 || itemFixed < 4 {
		t.Fatalf("measured %d events per poll and %d per item: the count is off (want a Choice, a Wait and a Task per poll)", perTurn, itemFixed)
	}
	worstItem := itemFixed + chain*turns*perTurn

	// The subscribe run: s subscribers of n tables, each item a nested execution.
	parent := func(s, n int) int {
		var items []map[string]any
		for i := range s {
			var ts []string
			for j := range n {
				ts = append(ts, fmt.Sprintf("s%d.t%d", i, j))
			}
			items = append(items, map[string]any{"subscriber": fmt.Sprintf("sub%d", i), "tables": ts})
		}
		list, _ := json.Marshal(map[string]any{"items": items})
		return stubRun(t, fmt.Sprintf("subscribe-%d-%d", s, n), statemachines.FederateSubscribe,
			map[string]string{statemachines.SubscribeFunctionArn: subscribeArn, statemachines.NotificationTopicArn: topicArn, statemachines.ItemStateMachineArn: "arn:aws:states:us-east-1:000000000000:stateMachine:item"},
			`{}`, func(ctx context.Context, call stepfunctions.TaskCall) (json.RawMessage, error) {
				if call.Resource == stepfunctions.ResourceStartExecutionSync2 {
					return json.RawMessage(`{"Output":{"table":"t","action":"unchanged"},"Status":"SUCCEEDED"}`), nil
				}
				var in struct{ Payload Request }
				_ = json.Unmarshal(call.Input, &in)
				if in.Payload.Mode == "list" {
					return list, nil
				}
				return json.Marshal(Summary{})
			})
	}
	base, moreTables, moreSubs := parent(1, 1), parent(1, 3), parent(3, 1)
	perItem := (moreTables - base) / 2
	perSubscriber := (moreSubs-base)/2 - perItem
	run := base - perSubscriber - perItem
	worstRun := run + subscribers*perSubscriber + subscribers*tables*perItem

	inline := run + subscribers*perSubscriber + subscribers*tables*(worstItem-2) // before: every item's polls in the run's history
	t.Logf("per poll %d events, per item %d + %d polls x %d statements of 12 h -> %d; per subscriber %d, per table %d, per run %d -> %d for %d x %d; inline: %d",
		perTurn, itemFixed, turns, chain, worstItem, perSubscriber, perItem, run, worstRun, subscribers, tables, inline)
	if worstItem >= historyLimit {
		t.Errorf("an item's execution can write %d events, over the %d limit", worstItem, historyLimit)
	}
	if worstRun >= historyLimit {
		t.Errorf("a subscribe run of %d subscribers x %d tables writes %d events, over the %d limit", subscribers, tables, worstRun, historyLimit)
	}
	if inline < historyLimit {
		t.Errorf("the same worst case in one execution is only %d events: the test does not reach the case it guards", inline)
	}
}

// TestRunResultsFitAState holds F10: a subscribe run of 70 tables into 4
// subscribers whose every item failed with a 32 KB cause (the most Step Functions
// keeps) stays under the 262,144 bytes a state may hold ("Maximum input or output
// size for a task, state, or execution", Step Functions quotas; past it
// States.DataLimitExceeded fails the run and no Catch can catch it), and its
// notification under SNS's 256 KB. The real subscribe definition runs in
// aws-local-stepfunctions; each item's execution is what federate-item outputs for a
// function that failed: the function's "failed" answer to the caught error.
func TestRunResultsFitAState(t *testing.T) {
	testenv.NeedsNode(t)
	const tables, subscribers, stateLimit, snsLimit = 70, 4, 262144, 262144
	cfg := &federate.Config{}
	var items []map[string]any
	for i := range subscribers {
		name := fmt.Sprintf("reporting-cluster-%02d", i)
		cfg.Subscribers = append(cfg.Subscribers, federate.Subscriber{Name: name})
		var ts []string
		for j := range tables {
			ts = append(ts, fmt.Sprintf("warehouse_schema_%02d.fact_table_with_a_long_name_%03d", j%7, j))
		}
		items = append(items, map[string]any{"subscriber": name, "tables": ts})
	}
	list, _ := json.Marshal(map[string]any{"items": items})
	h := &Handler{Config: func(context.Context) (*federate.Config, error) { return cfg, nil }, Log: slog.New(slog.NewTextHandler(io.Discard, nil))}
	cause, _ := json.Marshal(map[string]string{"errorType": "Runtime.ExitError", "errorMessage": strings.Repeat("a wrapped error with a stack trace; ", 32768/36)})

	var mu sync.Mutex
	var summaryInput, message int
	var summary Summary
	def, subs := statemachines.FederateSubscribe, map[string]string{statemachines.SubscribeFunctionArn: subscribeArn, statemachines.NotificationTopicArn: topicArn, statemachines.ItemStateMachineArn: "arn:aws:states:us-east-1:000000000000:stateMachine:item"}
	rendered, err := statemachines.Render(def, subs)
	if err != nil {
		t.Fatal(err)
	}
	r := &stepfunctions.Runner{Log: slog.New(slog.NewTextHandler(io.Discard, nil)), Tasks: func(ctx context.Context, call stepfunctions.TaskCall) (json.RawMessage, error) {
		switch call.Resource {
		case stepfunctions.ResourceStartExecutionSync2:
			var p struct{ Input Request }
			if err := json.Unmarshal(call.Input, &p); err != nil {
				return nil, err
			}
			out, err := h.Subscribe(ctx, Request{Mode: "failed", Table: p.Input.Table, Subscriber: p.Input.Subscriber, Error: &StepError{Error: "Lambda.Unknown", Cause: string(cause[:min(len(cause), 32768)])}})
			if err != nil {
				return nil, err
			}
			return json.Marshal(map[string]any{"Output": out, "Status": "SUCCEEDED"})
		case "arn:aws:states:::sns:publish":
			var in struct{ Message string }
			_ = json.Unmarshal(call.Input, &in)
			mu.Lock()
			message = len(in.Message)
			mu.Unlock()
			return json.RawMessage(`{"MessageId":"1"}`), nil
		}
		var in struct{ Payload Request }
		if err := json.Unmarshal(call.Input, &in); err != nil {
			return nil, err
		}
		if in.Payload.Mode == "list" {
			return list, nil
		}
		mu.Lock()
		summaryInput = len(call.Input)
		mu.Unlock()
		out, err := h.Subscribe(ctx, in.Payload)
		if err != nil {
			return nil, err
		}
		summary = out.(Summary)
		return json.Marshal(out)
	}}
	e, err := r.Start(context.Background(), "big", rendered, []byte(`{}`))
	if err != nil {
		t.Fatal(err)
	}
	res, err := e.Wait()
	if err != nil {
		t.Fatal(err)
	}
	if res.Status != stepfunctions.StatusFailed || res.Error != "TablesFailed" {
		t.Fatalf("run: %s %s %s", res.Status, res.Error, res.Cause)
	}
	t.Logf("summary input %d bytes, notification %d bytes, %d failed", summaryInput, message, summary.Failed)
	if summary.Failed != tables*subscribers {
		t.Errorf("the summary counted %d failed, want %d", summary.Failed, tables*subscribers)
	}
	if summaryInput >= stateLimit {
		t.Errorf("the summary's input (every item's result) is %d bytes, over the %d a state holds", summaryInput, stateLimit)
	}
	if message == 0 || message >= snsLimit {
		t.Errorf("the notification is %d bytes (SNS takes fewer than %d)", message, snsLimit)
	}
}

// TestItemExecutionFails: an item whose execution cannot start or fails (here its
// state machine does not exist) is a failed result of bounded size that names the
// error, and the run goes on to its summary and notification.
func TestItemExecutionFails(t *testing.T) {
	testenv.NeedsNode(t)
	nested := &stepfunctions.Nested{}
	var got []federate.Result
	var notified bool
	rendered, err := statemachines.Render(statemachines.FederatePublish, map[string]string{statemachines.PublishFunctionArn: publishArn, statemachines.NotificationTopicArn: topicArn, statemachines.ItemStateMachineArn: "arn:aws:states:us-east-1:000000000000:stateMachine:missing"})
	if err != nil {
		t.Fatal(err)
	}
	r := &stepfunctions.Runner{Log: slog.New(slog.NewTextHandler(io.Discard, nil)), Tasks: func(ctx context.Context, call stepfunctions.TaskCall) (json.RawMessage, error) {
		switch call.Resource {
		case stepfunctions.ResourceStartExecutionSync2:
			return nested.Run(ctx, call)
		case "arn:aws:states:::sns:publish":
			notified = true
			return json.RawMessage(`{"MessageId":"1"}`), nil
		}
		var in struct{ Payload Request }
		if err := json.Unmarshal(call.Input, &in); err != nil {
			return nil, err
		}
		if in.Payload.Mode == "list" {
			return json.RawMessage(`{"items":[{"table":"sales.fact"}]}`), nil
		}
		got = in.Payload.Results
		return json.Marshal(Summary{Failed: 1, Notification: "failed"})
	}}
	e, err := r.Start(context.Background(), "missing-item", rendered, []byte(`{}`))
	if err != nil {
		t.Fatal(err)
	}
	res, err := e.Wait()
	if err != nil {
		t.Fatal(err)
	}
	if res.Status != stepfunctions.StatusFailed || res.Error != "TablesFailed" || !notified {
		t.Fatalf("run: %s %s %s, notified %v", res.Status, res.Error, res.Cause, notified)
	}
	if len(got) != 1 || got[0].Action != federate.ActionFailed || got[0].Table != "sales.fact" || !strings.Contains(got[0].Error, "StepFunctions.StateMachineDoesNotExistException") {
		t.Errorf("results %+v: want sales.fact failed, naming the error", got)
	}
}

func TestTruncated(t *testing.T) {
	long := "copy version v of sales.dim: " + strings.Repeat("é", 300) + ": S3ServiceException: The bucket you are attempting to access must be addressed using the specified endpoint."
	got := truncated(long, MaxResultText)
	if len(got) > MaxResultText || !utf8.ValidString(got) || !strings.HasPrefix(got, "copy version v of sales.dim: ") || !strings.HasSuffix(got, "must be addressed using the specified endpoint.") || !strings.Contains(got, "[...]") {
		t.Errorf("truncated = %q (%d bytes)", got, len(got))
	}
	if got := truncated("short", MaxResultText); got != "short" {
		t.Errorf("truncated(short) = %q", got)
	}
}
