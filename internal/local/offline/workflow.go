package offline

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"slices"
	"sync"

	"github.com/snaplake/snaplake/internal/local/stepfunctions"
)

// workflow is what every offline workflow has: its Lambda handlers by deployed
// function ARN, invoked as the state machine's role, and the SNS messages it
// published as that role.
type workflow struct {
	acct     *Account
	role     string // the state machine's
	log      *slog.Logger
	handlers map[string]func(ctx context.Context, payload json.RawMessage) (any, error)

	mu            sync.Mutex
	notifications []Notification
}

func newWorkflow(acct *Account, role string, log *slog.Logger) workflow {
	return workflow{acct: acct, role: role, log: log, handlers: map[string]func(context.Context, json.RawMessage) (any, error){}}
}

// commonTask serves the Task resources every workflow has, lambda:invoke and
// sns:publish; handled is false for any other resource.
func (w *workflow) commonTask(ctx context.Context, call stepfunctions.TaskCall) (out json.RawMessage, handled bool, err error) {
	switch call.Resource {
	case "arn:aws:states:::lambda:invoke":
		var in struct {
			FunctionName string          `json:"FunctionName"`
			Payload      json.RawMessage `json:"Payload"`
		}
		if err := json.Unmarshal(call.Input, &in); err != nil {
			return nil, true, fmt.Errorf("state %s: decode lambda:invoke parameters: %w", call.State, err)
		}
		out, err := w.acct.invoke(ctx, w.role, w.handlers, in.FunctionName, in.Payload)
		return out, true, err
	case "arn:aws:states:::sns:publish":
		n, out, err := w.acct.publish(ctx, w.log, w.role, call)
		if err != nil {
			return nil, true, err
		}
		w.mu.Lock()
		w.notifications = append(w.notifications, n)
		w.mu.Unlock()
		return out, true, nil
	}
	return nil, false, nil
}

// noStandIn is the failure of a Task resource no stand-in serves.
func noStandIn(call stepfunctions.TaskCall) error {
	return &stepfunctions.TaskError{Name: "States.TaskFailed", Cause: "no offline stand-in for resource " + call.Resource}
}

// Notifications returns what was published to the topic.
func (w *workflow) Notifications() []Notification {
	w.mu.Lock()
	defer w.mu.Unlock()
	return slices.Clone(w.notifications)
}
