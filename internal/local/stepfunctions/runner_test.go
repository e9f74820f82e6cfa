package stepfunctions

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"reflect"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/sfn"
	sfntypes "github.com/aws/aws-sdk-go-v2/service/sfn/types"
)

func TestPassChoiceTask(t *testing.T) {
	var calls []TaskCall
	var mu sync.Mutex
	r := newRunner(t, func(ctx context.Context, call TaskCall) (json.RawMessage, error) {
		mu.Lock()
		calls = append(calls, call)
		mu.Unlock()
		var in struct {
			Payload struct{ Name, Greeting string }
		}
		if err := json.Unmarshal(call.Input, &in); err != nil {
			return nil, err
		}
		return json.Marshal(map[string]string{"message": in.Payload.Greeting + ", " + in.Payload.Name})
	})
	def := readDef(t, "pass_choice_task.asl.json")

	tests := []struct {
		name       string
		input      string
		wantStatus string
		wantStates []string
		wantError  string
		wantCalls  int
	}{
		{"invoke", `{"kind":"invoke","name":"snaplake"}`, StatusSucceeded, []string{"Prepare", "Route", "Invoke", "Done"}, "", 1},
		{"rejected", `{"kind":"other","name":"x"}`, StatusFailed, []string{"Prepare", "Route", "Rejected"}, "Rejected", 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			mu.Lock()
			calls = nil
			mu.Unlock()
			res := run(t, r, "pass-choice-"+tt.name, def, tt.input)
			if res.Status != tt.wantStatus || res.Error != tt.wantError {
				t.Fatalf("result %+v, want status %s error %q", res, tt.wantStatus, tt.wantError)
			}
			if !reflect.DeepEqual(res.States, tt.wantStates) {
				t.Fatalf("states %v, want %v", res.States, tt.wantStates)
			}
			if len(calls) != tt.wantCalls {
				t.Fatalf("%d task calls, want %d", len(calls), tt.wantCalls)
			}
			if tt.wantCalls == 0 {
				return
			}
			c := calls[0]
			if c.State != "Invoke" || c.Resource != "arn:aws:states:::lambda:invoke" || c.Token != "" || !strings.HasSuffix(c.Execution, ":execution:snaplake-export:pass-choice-invoke") {
				t.Fatalf("call %+v", c)
			}
			// The handler sees the input after Parameters, FunctionName included.
			if got := jsonField(t, c.Input, "FunctionName"); got != "arn:aws:lambda:us-east-1:000000000000:function:echo" {
				t.Fatalf("FunctionName %v", got)
			}
			// ResultSelector could only find these if the result was wrapped like the integration does.
			if got := jsonField(t, res.Output, "result", "message"); got != "hello, snaplake" {
				t.Fatalf("result.message %v in %s", got, res.Output)
			}
			if got := jsonField(t, res.Output, "result", "status"); got != float64(200) {
				t.Fatalf("result.status %v in %s", got, res.Output)
			}
		})
	}
}

type ExportNotReadyError struct{}

func (*ExportNotReadyError) Error() string { return "export not ready" }

func TestCatch(t *testing.T) {
	tests := []struct {
		name      string
		err       error
		wantError string
		wantCause string
	}{
		{"task error", &TaskError{Name: "Glue.EntityNotFoundException", Cause: "no such crawler"}, "Glue.EntityNotFoundException", "no such crawler"},
		{"go lambda error", &ExportNotReadyError{}, "ExportNotReadyError", `{"errorMessage":"export not ready","errorType":"ExportNotReadyError"}`},
		{"plain error", errors.New("boom"), "errorString", `{"errorMessage":"boom","errorType":"errorString"}`},
	}
	def := readDef(t, "catch.asl.json")
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := newRunner(t, func(ctx context.Context, call TaskCall) (json.RawMessage, error) { return nil, tt.err })
			res := run(t, r, "catch", def, `{"n":1}`)
			if res.Status != StatusSucceeded {
				t.Fatalf("status %s (%s: %s), want SUCCEEDED", res.Status, res.Error, res.Cause)
			}
			if !reflect.DeepEqual(res.States, []string{"Work", "Handled"}) {
				t.Fatalf("states %v", res.States)
			}
			if got := jsonField(t, res.Output, "error", "Error"); got != tt.wantError {
				t.Fatalf("Error %v, want %s", got, tt.wantError)
			}
			if got := jsonField(t, res.Output, "error", "Cause"); got != tt.wantCause {
				t.Fatalf("Cause %v, want %s", got, tt.wantCause)
			}
			if got := jsonField(t, res.Output, "n"); got != float64(1) {
				t.Fatalf("input lost: %s", res.Output)
			}
		})
	}
}

func TestRetry(t *testing.T) {
	tests := []struct {
		name       string
		failures   int
		wantStatus string
		wantCalls  int32
	}{
		{"succeeds on third attempt", 2, StatusSucceeded, 3},
		{"gives up after MaxAttempts", 10, StatusFailed, 4},
	}
	def := readDef(t, "retry.asl.json")
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var calls atomic.Int32
			r := newRunner(t, func(ctx context.Context, call TaskCall) (json.RawMessage, error) {
				if int(calls.Add(1)) <= tt.failures {
					return nil, &TaskError{Name: "Glue.ThrottlingException", Cause: "slow down"}
				}
				return nil, nil
			})
			start := time.Now()
			res := run(t, r, "retry", def, `{}`)
			if res.Status != tt.wantStatus || calls.Load() != tt.wantCalls {
				t.Fatalf("status %s after %d calls, want %s after %d", res.Status, calls.Load(), tt.wantStatus, tt.wantCalls)
			}
			if tt.wantStatus == StatusFailed && res.Error != "Glue.ThrottlingException" {
				t.Fatalf("error %q", res.Error)
			}
			// IntervalSeconds 60 with backoff would take minutes without RetryInterval.
			if d := time.Since(start); d > 20*time.Second {
				t.Fatalf("took %s: retry intervals not overridden", d)
			}
		})
	}
}

func TestWaitTimeout(t *testing.T) {
	tests := []struct {
		name, def, input string
	}{
		{"TimeoutSeconds", "wait_timeout.asl.json", `{}`},
		{"TimeoutSecondsPath on the state input", "wait_timeout_path.asl.json", `{"limits":{"seconds":1}}`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var token atomic.Value
			r := newRunner(t, func(ctx context.Context, call TaskCall) (json.RawMessage, error) {
				token.Store(call.Token)
				if got := jsonField(t, call.Input, "Payload", "token"); got != call.Token {
					t.Errorf("Payload.token %v, want the call's token %s", got, call.Token)
				}
				if strings.Contains(string(call.Input), "__snaplake") {
					t.Errorf("internal keys leak into the input: %s", call.Input)
				}
				return json.RawMessage(`{}`), nil
			})
			start := time.Now()
			res := run(t, r, "timeout", readDef(t, tt.def), tt.input)
			if res.Status != StatusFailed || res.Error != "States.Timeout" {
				t.Fatalf("result %+v, want FAILED with States.Timeout", res)
			}
			if d := time.Since(start); d < time.Second {
				t.Fatalf("timed out after %s, before the 1 s timeout", d)
			}
			tok, _ := token.Load().(string)
			if tok == "" {
				t.Fatal("task never ran")
			}
			_, err := r.Tokens.SendTaskSuccess(context.Background(), &sfn.SendTaskSuccessInput{TaskToken: aws.String(tok), Output: aws.String(`{}`)})
			var late *sfntypes.TaskTimedOut
			if !errors.As(err, &late) {
				t.Fatalf("late SendTaskSuccess: %v, want TaskTimedOut", err)
			}
			if w := r.Tokens.Waiting(); len(w) != 0 {
				t.Fatalf("tokens still waited on: %v", w)
			}
		})
	}
}

func TestMapParallelTokens(t *testing.T) {
	type seen struct{ item, token string }
	calls := make(chan seen, 10)
	r := newRunner(t, func(ctx context.Context, call TaskCall) (json.RawMessage, error) {
		item, _ := jsonField(t, call.Input, "MessageBody", "item").(string)
		if got := jsonField(t, call.Input, "MessageBody", "token"); got != call.Token {
			t.Errorf("MessageBody.token %v, want %s", got, call.Token)
		}
		calls <- seen{item, call.Token}
		return json.RawMessage(`{"MessageId":"m"}`), nil
	})
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	e, err := r.Start(ctx, "map", readDef(t, "map_wait.asl.json"), []byte(`{"items":["a","b","c"]}`))
	if err != nil {
		t.Fatal(err)
	}
	// All three must wait at the same time before any is resumed.
	byItem := map[string]string{}
	for len(byItem) < 3 {
		select {
		case c := <-calls:
			byItem[c.item] = c.token
		case <-ctx.Done():
			t.Fatalf("only %d of 3 iterations started", len(byItem))
		}
	}
	waitFor(t, "3 waiting tokens", func() bool { return len(r.Tokens.Waiting()) == 3 })
	distinct := map[string]bool{}
	for _, tok := range byItem {
		distinct[tok] = true
	}
	if len(distinct) != 3 {
		t.Fatalf("tokens not distinct: %v", byItem)
	}
	// Resume in reverse order; each result must land at its own item's index.
	for _, item := range []string{"c", "b", "a"} {
		out := fmt.Sprintf(`{"done":%q}`, item)
		if _, err := r.Tokens.SendTaskSuccess(ctx, &sfn.SendTaskSuccessInput{TaskToken: aws.String(byItem[item]), Output: aws.String(out)}); err != nil {
			t.Fatalf("resume %s: %v", item, err)
		}
	}
	res, err := e.Wait()
	if err != nil {
		t.Fatal(err)
	}
	if res.Status != StatusSucceeded {
		t.Fatalf("result %+v", res)
	}
	var out struct{ Results []struct{ Done string } }
	if err := json.Unmarshal(res.Output, &out); err != nil {
		t.Fatal(err)
	}
	if len(out.Results) != 3 || out.Results[0].Done != "a" || out.Results[1].Done != "b" || out.Results[2].Done != "c" {
		t.Fatalf("results %s", res.Output)
	}
	states := append([]string(nil), res.States...)
	sort.Strings(states)
	if !reflect.DeepEqual(states, []string{"AwaitItem", "AwaitItem", "AwaitItem", "Fan"}) {
		t.Fatalf("states %v", res.States)
	}
}

func TestConcurrentExecutionsOwnTokens(t *testing.T) {
	var mu sync.Mutex
	tokens := map[string]string{} // execution ARN -> token
	r := newRunner(t, func(ctx context.Context, call TaskCall) (json.RawMessage, error) {
		if got := jsonField(t, call.Input, "Payload", "execution"); got != call.Execution {
			t.Errorf("Payload.execution %v, want %s", got, call.Execution)
		}
		mu.Lock()
		tokens[call.Execution] = call.Token
		mu.Unlock()
		return json.RawMessage(`{}`), nil
	})
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	def := readDef(t, "wait.asl.json")
	a, err := r.Start(ctx, "exec-a", def, []byte(`{"who":"a"}`))
	if err != nil {
		t.Fatal(err)
	}
	b, err := r.Start(ctx, "exec-b", def, []byte(`{"who":"b"}`))
	if err != nil {
		t.Fatal(err)
	}
	// A token is registered before its Task's handler runs (as in Step Functions, where the
	// token exists before the Lambda is invoked), so wait for both handlers too.
	var tokA, tokB string
	waitFor(t, "both executions waiting and both handlers called", func() bool {
		mu.Lock()
		tokA, tokB = tokens[a.ARN()], tokens[b.ARN()]
		mu.Unlock()
		return len(r.Tokens.Waiting()) == 2 && tokA != "" && tokB != ""
	})
	if tokA == "" || tokB == "" || tokA == tokB {
		t.Fatalf("tokens a=%q b=%q", tokA, tokB)
	}

	if _, err := r.Tokens.SendTaskSuccess(ctx, &sfn.SendTaskSuccessInput{TaskToken: aws.String(tokB), Output: aws.String(`{"for":"b"}`)}); err != nil {
		t.Fatal(err)
	}
	resB, err := b.Wait()
	if err != nil {
		t.Fatal(err)
	}
	select {
	case <-a.done:
		t.Fatal("execution a ended on b's token")
	default:
	}
	if got := r.Tokens.Waiting(); len(got) != 1 || got[0] != tokA {
		t.Fatalf("waiting %v, want only a's token", got)
	}
	if _, err := r.Tokens.SendTaskFailure(ctx, &sfn.SendTaskFailureInput{TaskToken: aws.String(tokA), Error: aws.String("ExportFailed"), Cause: aws.String("for a")}); err != nil {
		t.Fatal(err)
	}
	resA, err := a.Wait()
	if err != nil {
		t.Fatal(err)
	}
	if resB.Status != StatusSucceeded || jsonField(t, resB.Output, "callback", "for") != "b" || jsonField(t, resB.Output, "who") != "b" {
		t.Fatalf("b: %+v %s", resB, resB.Output)
	}
	if resA.Status != StatusFailed || resA.Error != "ExportFailed" || resA.Cause != "for a" {
		t.Fatalf("a: %+v", resA)
	}
}

func TestStartNames(t *testing.T) {
	r := newRunner(t, func(ctx context.Context, call TaskCall) (json.RawMessage, error) { return json.RawMessage(`{}`), nil })
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	def := readDef(t, "wait.asl.json")

	if _, err := r.Start(ctx, "bad name", def, nil); !errors.As(err, new(*sfntypes.InvalidName)) {
		t.Fatalf("bad name: %v, want InvalidName", err)
	}
	first, err := r.Start(ctx, "dup", def, []byte(`{"who": "x"}`))
	if err != nil {
		t.Fatal(err)
	}
	// Same name and input while running: the same execution, as StartExecution is idempotent.
	again, err := r.Start(ctx, "dup", def, []byte(`{"who":"x"}`))
	if err != nil || again != first {
		t.Fatalf("same name and input: %v, %v", again, err)
	}
	if _, err := r.Start(ctx, "dup", def, []byte(`{"who":"y"}`)); !errors.As(err, new(*sfntypes.ExecutionAlreadyExists)) {
		t.Fatalf("same name, other input: %v, want ExecutionAlreadyExists", err)
	}
	waitFor(t, "the token", func() bool { return len(r.Tokens.Waiting()) == 1 })
	if _, err := r.Tokens.SendTaskSuccess(ctx, &sfn.SendTaskSuccessInput{TaskToken: aws.String(r.Tokens.Waiting()[0]), Output: aws.String(`{}`)}); err != nil {
		t.Fatal(err)
	}
	if _, err := first.Wait(); err != nil {
		t.Fatal(err)
	}
	if _, err := r.Start(ctx, "dup", def, []byte(`{"who":"x"}`)); !errors.As(err, new(*sfntypes.ExecutionAlreadyExists)) {
		t.Fatalf("same name after it ended: %v, want ExecutionAlreadyExists", err)
	}
}

func TestMissingTools(t *testing.T) {
	tests := []struct {
		name     string
		runner   *Runner
		wantTool string
	}{
		{"no node", &Runner{Node: "/nonexistent/node"}, "node"},
		{"no node_modules", &Runner{NodeModules: t.TempDir()}, libraryName},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := tt.runner.Start(context.Background(), "x", []byte(`{"StartAt":"A","States":{"A":{"Type":"Succeed"}}}`), nil)
			var missing *MissingToolError
			if !errors.As(err, &missing) || missing.Tool != tt.wantTool {
				t.Fatalf("error %v, want MissingToolError for %s", err, tt.wantTool)
			}
			if tt.wantTool == libraryName && !strings.Contains(err.Error(), "npm ci --prefix tools") {
				t.Fatalf("error %q does not say what to run", err)
			}
		})
	}
}

func TestInvalidDefinition(t *testing.T) {
	r := newRunner(t, nil)
	e, err := r.Start(context.Background(), "invalid", []byte(`{"StartAt":"Nowhere","States":{"A":{"Type":"Succeed"}}}`), nil)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := e.Wait(); !errors.As(err, new(*sfntypes.InvalidDefinition)) {
		t.Fatalf("error %v, want InvalidDefinition", err)
	}
}

func TestCancelKillsNode(t *testing.T) {
	var token atomic.Value
	r := newRunner(t, func(ctx context.Context, call TaskCall) (json.RawMessage, error) {
		token.Store(call.Token)
		return json.RawMessage(`{}`), nil
	})
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	e, err := r.Start(ctx, "cancelled", readDef(t, "wait.asl.json"), []byte(`{"who":"c"}`))
	if err != nil {
		t.Fatal(err)
	}
	waitFor(t, "the token", func() bool { return len(r.Tokens.Waiting()) == 1 })
	pid := e.pid
	cancel()
	res, err := e.Wait()
	if err != nil {
		t.Fatal(err)
	}
	if res.Status != StatusAborted {
		t.Fatalf("status %s, want ABORTED", res.Status)
	}
	// Nothing is left in node's process group.
	if err := syscall.Kill(-pid, 0); !errors.Is(err, syscall.ESRCH) {
		t.Fatalf("process group %d still exists: %v", pid, err)
	}
	if _, err := os.Stat(fmt.Sprintf("/proc/%d", pid)); err == nil {
		t.Fatalf("process %d still exists", pid)
	}
	tok, _ := token.Load().(string)
	_, err = r.Tokens.SendTaskSuccess(context.Background(), &sfn.SendTaskSuccessInput{TaskToken: aws.String(tok), Output: aws.String(`{}`)})
	if !errors.As(err, new(*sfntypes.TaskTimedOut)) {
		t.Fatalf("SendTaskSuccess after abort: %v, want TaskTimedOut", err)
	}
}

func BenchmarkExecution(b *testing.B) {
	r := newRunner(b, func(ctx context.Context, call TaskCall) (json.RawMessage, error) {
		return json.RawMessage(`{"message":"hi"}`), nil
	})
	def := readDef(b, "pass_choice_task.asl.json")
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		res := run(b, r, fmt.Sprintf("bench-%d", i), def, `{"kind":"invoke","name":"b"}`)
		if res.Status != StatusSucceeded {
			b.Fatalf("result %+v", res)
		}
	}
}

func TestExecutionTimeout(t *testing.T) {
	r := newRunner(t, func(ctx context.Context, call TaskCall) (json.RawMessage, error) { return json.RawMessage(`{}`), nil })
	res := run(t, r, "execution-timeout", readDef(t, "execution_timeout.asl.json"), `{}`)
	if res.Status != StatusTimedOut || res.Error != "States.Timeout" {
		t.Fatalf("result %+v, want TIMED_OUT", res)
	}
	if w := r.Tokens.Waiting(); len(w) != 0 {
		t.Fatalf("tokens still waited on after the execution ended: %v", w)
	}
}

// TestLongWaitPolls resumes a task only after several long-poll slices have ended empty, as every
// wait longer than one slice (20 s) does.
func TestLongWaitPolls(t *testing.T) {
	saved := longPoll
	longPoll = 50 * time.Millisecond
	t.Cleanup(func() { longPoll = saved })
	r := newRunner(t, func(ctx context.Context, call TaskCall) (json.RawMessage, error) { return json.RawMessage(`{}`), nil })
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	e, err := r.Start(ctx, "long-wait", readDef(t, "wait.asl.json"), []byte(`{"who":"patient"}`))
	if err != nil {
		t.Fatal(err)
	}
	waitFor(t, "the token", func() bool { return len(r.Tokens.Waiting()) == 1 })
	time.Sleep(8 * longPoll)
	if _, err := r.Tokens.SendTaskSuccess(ctx, &sfn.SendTaskSuccessInput{TaskToken: aws.String(r.Tokens.Waiting()[0]), Output: aws.String(`{"after":"a while"}`)}); err != nil {
		t.Fatal(err)
	}
	res, err := e.Wait()
	if err != nil {
		t.Fatal(err)
	}
	if res.Status != StatusSucceeded || jsonField(t, res.Output, "callback", "after") != "a while" {
		t.Fatalf("result %+v %s", res, res.Output)
	}
}
