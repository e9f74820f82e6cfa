package stepfunctions

import (
	"context"
	"encoding/json"
	"strings"
	"sync"
	"testing"

	"github.com/snaplake/snaplake/internal/local/testenv"
)

const childArn = "arn:aws:states:us-east-1:000000000000:stateMachine:child"

// parentDef starts the child (.sync:2) and keeps its output, or its failure.
const parentDef = `{"StartAt":"Child","States":{
 "Child":{"Type":"Task","Resource":"arn:aws:states:::states:startExecution.sync:2","TimeoutSeconds":TIMEOUT,
   "Parameters":{"StateMachineArn":"` + childArn + `","Input":{"n.$":"$.n","AWS_STEP_FUNCTIONS_STARTED_BY_EXECUTION_ID.$":"$$.Execution.Id"}},
   "ResultSelector":{"output.$":"$.Output","status.$":"$.Status","arn.$":"$.ExecutionArn"},
   "Catch":[{"ErrorEquals":["States.ALL"],"ResultPath":"$.error","Next":"Failed"}],"End":true},
 "Failed":{"Type":"Pass","End":true}}}`

// childDef doubles n, fails on n = 0, waits on n < 0.
const childDef = `{"StartAt":"Which","States":{
 "Which":{"Type":"Choice","Choices":[{"Variable":"$.n","NumericEquals":0,"Next":"Boom"},{"Variable":"$.n","NumericLessThan":0,"Next":"Long"}],"Default":"Double"},
 "Double":{"Type":"Pass","Parameters":{"doubled.$":"States.MathAdd($.n, $.n)"},"End":true},
 "Long":{"Type":"Wait","Seconds":60,"Next":"Double"},
 "Boom":{"Type":"Fail","Error":"ChildBroke","Cause":"n was 0"}}}`

// TestNestedSync2: a .sync:2 Task gets the child's output as JSON in the
// DescribeExecution response; a failed child fails the Task with States.TaskFailed
// and the response (the child's Error and Cause) as its cause; a Task that times out
// stops its child; every call is authorized as the parent's role.
func TestNestedSync2(t *testing.T) {
	testenv.NeedsNode(t)
	var mu sync.Mutex
	var calls []string
	nested := &Nested{Authorize: func(_ context.Context, action, resource string) error {
		mu.Lock()
		defer mu.Unlock()
		calls = append(calls, action+" "+resource)
		return nil
	}}
	tasks := func(ctx context.Context, call TaskCall) (json.RawMessage, error) { return nested.Run(ctx, call) }
	nested.Add(childArn, []byte(childDef), newRunner(t, tasks))
	parent := newRunner(t, tasks)
	def := func(timeout string) []byte { return []byte(strings.Replace(parentDef, "TIMEOUT", timeout, 1)) }

	ok := run(t, parent, "ok", def("60"), `{"n":21}`)
	var out struct {
		Output struct{ Doubled int }
		Status string
		Arn    string
	}
	if err := json.Unmarshal(ok.Output, &out); ok.Status != StatusSucceeded || err != nil || out.Output.Doubled != 42 || out.Status != StatusSucceeded ||
		!strings.HasPrefix(out.Arn, "arn:aws:states:us-east-1:000000000000:execution:child:") {
		t.Fatalf("child succeeded: %s %s, output %s", ok.Status, ok.Cause, ok.Output)
	}

	failed := run(t, parent, "failed", def("60"), `{"n":0}`)
	var caught struct{ Error struct{ Error, Cause string } }
	_ = json.Unmarshal(failed.Output, &caught)
	var cause struct{ Status, Error, Cause string }
	if err := json.Unmarshal([]byte(caught.Error.Cause), &cause); err != nil || caught.Error.Error != "States.TaskFailed" || cause.Status != StatusFailed || cause.Error != "ChildBroke" || cause.Cause != "n was 0" {
		t.Fatalf("child failed: caught %+v (%v)", caught, err)
	}

	timedOut := run(t, parent, "timed-out", def("2"), `{"n":-1}`)
	if !strings.Contains(string(timedOut.Output), "States.Timeout") {
		t.Fatalf("parent task timed out: %s %s", timedOut.Status, timedOut.Output)
	}
	execs := nested.Executions()
	if len(execs) != 3 {
		t.Fatalf("%d child executions, want 3", len(execs))
	}
	res, err := execs[2].Wait()
	if err != nil || res.Status != StatusAborted {
		t.Errorf("the timed-out task's child: %s (%v), want ABORTED", res.Status, err)
	}
	mu.Lock()
	defer mu.Unlock()
	joined := strings.Join(calls, "\n")
	for _, want := range []string{"states:StartExecution " + childArn, "events:PutRule arn:aws:events:us-east-1:000000000000:rule/" + ManagedRuleName,
		"states:DescribeExecution arn:aws:states:us-east-1:000000000000:execution:child:", "states:StopExecution arn:aws:states:us-east-1:000000000000:execution:child:"} {
		if !strings.Contains(joined, want) {
			t.Errorf("calls lack %q:\n%s", want, joined)
		}
	}
}
