package stepfunctions

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"time"
)

// longPoll bounds one /wait request: waits last minutes offline, and Node's fetch gives up on
// a response whose headers take more than 300 s.
var longPoll = 20 * time.Second

// invocation is one Task state invocation seen by the bridge.
type invocation struct {
	done     chan struct{}
	output   json.RawMessage
	failure  *TaskError
	timedOut bool
}

type invokeRequest struct {
	State          string          `json:"state"`
	Resource       string          `json:"resource"`
	Input          json.RawMessage `json:"input"`
	Token          string          `json:"token"`
	TimeoutSeconds float64         `json:"timeoutSeconds"`
}

type waitResponse struct {
	Done     bool            `json:"done"`
	OK       bool            `json:"ok,omitempty"`
	Output   json.RawMessage `json:"output,omitempty"`
	Error    string          `json:"error,omitempty"`
	Cause    string          `json:"cause,omitempty"`
	TimedOut bool            `json:"timedOut,omitempty"`
}

// bridgeHandler serves runner.cjs: POST prefix/invoke registers a Task invocation and starts it,
// POST prefix/wait long-polls for its end.
func (e *Execution) bridgeHandler(prefix string) http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("POST "+prefix+"/invoke", e.serveInvoke)
	mux.HandleFunc("POST "+prefix+"/wait", e.serveWait)
	return mux
}

func (e *Execution) serveInvoke(w http.ResponseWriter, req *http.Request) {
	var in invokeRequest
	if err := json.NewDecoder(req.Body).Decode(&in); err != nil {
		http.Error(w, "decode invoke request: "+err.Error(), http.StatusBadRequest)
		return
	}
	waits := strings.HasSuffix(in.Resource, ".waitForTaskToken")
	if waits != (in.Token != "") {
		http.Error(w, fmt.Sprintf("invoke %s: token %q does not fit resource %s", in.State, in.Token, in.Resource), http.StatusBadRequest)
		return
	}
	call := TaskCall{Execution: e.arn, State: in.State, Resource: in.Resource, Input: in.Input, Token: in.Token}
	var waiting *waitingTask
	if waits {
		wt, err := e.runner.Tokens.register(in.Token, e.arn, in.State)
		if err != nil {
			http.Error(w, err.Error(), http.StatusConflict)
			return
		}
		waiting = wt
		e.mu.Lock()
		e.tokens = append(e.tokens, in.Token)
		e.mu.Unlock()
	}
	inv := &invocation{done: make(chan struct{})}
	e.mu.Lock()
	e.nextID++
	id := strconv.Itoa(e.nextID)
	e.invocations[id] = inv
	e.mu.Unlock()

	timeout := time.Duration(in.TimeoutSeconds * float64(time.Second))
	go e.run(call, waiting, timeout, inv)
	writeJSON(w, map[string]string{"id": id})
}

func (e *Execution) serveWait(w http.ResponseWriter, req *http.Request) {
	var in struct {
		ID string `json:"id"`
	}
	if err := json.NewDecoder(req.Body).Decode(&in); err != nil {
		http.Error(w, "decode wait request: "+err.Error(), http.StatusBadRequest)
		return
	}
	e.mu.Lock()
	inv, ok := e.invocations[in.ID]
	e.mu.Unlock()
	if !ok {
		http.Error(w, "wait: no invocation "+in.ID, http.StatusNotFound)
		return
	}
	timer := time.NewTimer(longPoll)
	defer timer.Stop()
	select {
	case <-inv.done:
	case <-timer.C:
		writeJSON(w, waitResponse{})
		return
	case <-req.Context().Done():
		return
	}
	e.mu.Lock()
	delete(e.invocations, in.ID)
	e.mu.Unlock()
	resp := waitResponse{Done: true, OK: inv.failure == nil, Output: inv.output, TimedOut: inv.timedOut}
	if inv.failure != nil {
		resp.Error, resp.Cause = inv.failure.Name, inv.failure.Cause
	}
	writeJSON(w, resp)
}

func writeJSON(w http.ResponseWriter, v any) {
	w.Header().Set("Content-Type", "application/json")
	_ = json.NewEncoder(w).Encode(v)
}

// run performs one invocation: the TaskFunc, then for a .waitForTaskToken resource the callback,
// all within the state's timeout.
func (e *Execution) run(call TaskCall, waiting *waitingTask, timeout time.Duration, inv *invocation) {
	defer close(inv.done)
	log := e.log.With("state", call.State, "resource", call.Resource)
	ctx, cancel := e.ctx, context.CancelFunc(func() {})
	if timeout > 0 {
		ctx, cancel = context.WithTimeout(e.ctx, timeout)
	}
	defer cancel()

	type taskResult struct {
		out json.RawMessage
		err error
	}
	taskDone := make(chan taskResult, 1)
	go func() {
		if e.runner.Tasks == nil {
			taskDone <- taskResult{err: &TaskError{Name: "States.Runtime", Cause: "no TaskFunc configured for " + call.State}}
			return
		}
		out, err := e.runner.Tasks(ctx, call)
		taskDone <- taskResult{out, err}
	}()
	var tokenDone <-chan struct{}
	if waiting != nil {
		tokenDone = waiting.done
	}
	log.Debug("run task", "token", call.Token != "")
	for {
		select {
		case res := <-taskDone:
			taskDone = nil
			if res.err != nil {
				if waiting != nil {
					e.runner.Tokens.drop(call.Token, "task failed")
				}
				inv.failure = taskErrorFor(call.Resource, res.err)
				log.Warn("task failed", "error", inv.failure.Name, "cause", inv.failure.Cause)
				return
			}
			if waiting == nil {
				inv.output, inv.failure = taskOutput(call.Resource, res.out)
				return
			}
		case <-tokenDone:
			inv.output, inv.failure = waiting.output, waiting.failure
			if inv.failure != nil {
				log.Info("task callback: failure", "error", inv.failure.Name)
			} else {
				log.Info("task callback: success")
			}
			return
		case <-ctx.Done():
			why := "execution ended"
			if errors.Is(ctx.Err(), context.DeadlineExceeded) && e.ctx.Err() == nil {
				why = "timed out"
				inv.timedOut = true
			}
			if waiting != nil {
				e.runner.Tokens.drop(call.Token, why)
			}
			inv.failure = &TaskError{Name: "States.Timeout", Cause: fmt.Sprintf("%s: %s after %s", call.State, why, timeout)}
			log.Warn("task abandoned", "why", why)
			return
		}
	}
}

// taskOutput is what the state receives from a TaskFunc's result: the Lambda integration's
// envelope for lambda:invoke, the result itself otherwise.
func taskOutput(resource string, out json.RawMessage) (json.RawMessage, *TaskError) {
	if len(out) > 0 && !json.Valid(out) {
		return nil, &TaskError{Name: "States.Runtime", Cause: fmt.Sprintf("task result is not JSON: %.200q", out)}
	}
	if strings.HasPrefix(resource, "arn:aws:states:") && strings.HasSuffix(resource, ":lambda:invoke") {
		payload := out
		if len(payload) == 0 {
			payload = json.RawMessage("null")
		}
		env, err := json.Marshal(struct {
			ExecutedVersion string          `json:"ExecutedVersion"`
			Payload         json.RawMessage `json:"Payload"`
			StatusCode      int             `json:"StatusCode"`
		}{"$LATEST", payload, 200})
		if err != nil {
			return nil, &TaskError{Name: "States.Runtime", Cause: err.Error()}
		}
		return env, nil
	}
	if len(out) == 0 {
		if isLambda(resource) {
			return json.RawMessage("null"), nil
		}
		return json.RawMessage("{}"), nil
	}
	return out, nil
}
