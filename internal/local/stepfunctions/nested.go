package stepfunctions

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"sync"
	"time"

	sfntypes "github.com/aws/aws-sdk-go-v2/service/sfn/types"
)

// ResourceStartExecutionSync2 is the Task resource that starts a nested execution
// and waits for it, its output as JSON: Step Functions' own "Run a Job (.sync)"
// integration (https://docs.aws.amazon.com/step-functions/latest/dg/connect-stepfunctions.html).
// aws-local-stepfunctions has no handler for it: Nested is that handler.
const ResourceStartExecutionSync2 = "arn:aws:states:::states:startExecution.sync:2"

// ManagedRuleName is the EventBridge rule Step Functions manages to learn that a
// nested execution ended; a .sync parent's role needs events:PutTargets, PutRule and
// DescribeRule on it (Step Functions DG, "IAM policies for AWS Step Functions").
const ManagedRuleName = "StepFunctionsGetEventsForStepFunctionsExecutionRule"

// Nested runs the executions startExecution.sync:2 Task states start, as Step
// Functions does: each state machine's executions on a Runner of their own (so its
// ARN names them and each has its own history), the parent's Task waiting for the
// child; a child that does not succeed fails the Task with States.TaskFailed and the
// DescribeExecution response as the cause; a parent Task that ends first (its
// execution stopped, failed or timed out) stops the child.
type Nested struct {
	// Authorize, when set, is asked before each call Step Functions makes as the
	// parent's role: states:StartExecution on the state machine, the managed rule's
	// events:PutRule, events:PutTargets and events:DescribeRule,
	// states:DescribeExecution on the execution, and states:StopExecution when the
	// parent stops it. A denial fails the Task.
	Authorize func(ctx context.Context, action, resource string) error

	mu       sync.Mutex
	machines map[string]nestedMachine // by state machine ARN
	started  []*Execution
}

// Executions are the nested executions started so far, in order.
func (n *Nested) Executions() []*Execution {
	n.mu.Lock()
	defer n.mu.Unlock()
	return append([]*Execution(nil), n.started...)
}

type nestedMachine struct {
	runner     *Runner
	definition []byte
}

// Add registers a state machine that Task states may start: its ARN, its definition
// (placeholders substituted) and the Runner its executions run on, whose
// StateMachineArn Add sets to arn.
func (n *Nested) Add(arn string, definition []byte, runner *Runner) {
	n.mu.Lock()
	defer n.mu.Unlock()
	if n.machines == nil {
		n.machines = map[string]nestedMachine{}
	}
	runner.StateMachineArn = arn
	n.machines[arn] = nestedMachine{runner: runner, definition: definition}
}

// startParameters are the Task's Parameters: StartExecution's request.
type startParameters struct {
	StateMachineArn string          `json:"StateMachineArn"`
	Input           json.RawMessage `json:"Input"`
	Name            string          `json:"Name"`
}

// describeOutput is DescribeExecution's response as a .sync:2 Task returns it:
// Input and Output as JSON, dates in epoch milliseconds.
type describeOutput struct {
	ExecutionArn    string          `json:"ExecutionArn"`
	Input           json.RawMessage `json:"Input"`
	InputDetails    dataDetails     `json:"InputDetails"`
	Name            string          `json:"Name"`
	Output          json.RawMessage `json:"Output,omitempty"`
	OutputDetails   *dataDetails    `json:"OutputDetails,omitempty"`
	StartDate       int64           `json:"StartDate"`
	StateMachineArn string          `json:"StateMachineArn"`
	Status          string          `json:"Status"`
	StopDate        int64           `json:"StopDate"`
	Error           string          `json:"Error,omitempty"`
	Cause           string          `json:"Cause,omitempty"`
}

type dataDetails struct {
	Included bool `json:"Included"`
}

// Run serves one startExecution.sync:2 Task invocation: it starts the child and
// returns its DescribeExecution response once it has succeeded.
func (n *Nested) Run(ctx context.Context, call TaskCall) (json.RawMessage, error) {
	var p startParameters
	if err := json.Unmarshal(call.Input, &p); err != nil {
		return nil, &TaskError{Name: "States.Runtime", Cause: fmt.Sprintf("state %s: decode StartExecution parameters: %v", call.State, err)}
	}
	n.mu.Lock()
	m, ok := n.machines[p.StateMachineArn]
	n.mu.Unlock()
	if !ok {
		return nil, &TaskError{Name: "StepFunctions.StateMachineDoesNotExistException", Cause: "State Machine Does Not Exist: '" + p.StateMachineArn + "'"}
	}
	// StartExecution's input is a string of JSON; the integration takes a JSON value
	// for it too and sends its text.
	input := []byte(p.Input)
	var text string
	if json.Unmarshal(p.Input, &text) == nil {
		input = []byte(text)
	}
	if len(input) == 0 {
		input = []byte("{}")
	}
	if !json.Valid(input) {
		return nil, &TaskError{Name: "StepFunctions.InvalidExecutionInputException", Cause: "Invalid State Machine Execution Input: not JSON"}
	}
	name := p.Name
	if name == "" {
		name = uuid()
	}
	if err := n.authorize(ctx, "states:StartExecution", p.StateMachineArn); err != nil {
		return nil, err
	}
	// Step Functions learns of the child's end from the managed rule it keeps up to date.
	rule := managedRuleArn(p.StateMachineArn)
	for _, action := range []string{"events:PutTargets", "events:PutRule", "events:DescribeRule"} {
		if err := n.authorize(ctx, action, rule); err != nil {
			return nil, err
		}
	}
	// The child outlives neither its parent's Task nor its stop: childCtx ends it.
	childCtx, stop := context.WithCancel(context.WithoutCancel(ctx))
	defer stop()
	e, err := m.runner.Start(childCtx, name, m.definition, input)
	if err != nil {
		return nil, startError(err)
	}
	n.mu.Lock()
	n.started = append(n.started, e)
	n.mu.Unlock()
	select {
	case <-e.Done():
	case <-ctx.Done():
		// Step Functions stops the child of a Task that ends (best effort: a denied
		// StopExecution leaves it running).
		if n.authorize(context.WithoutCancel(ctx), "states:StopExecution", e.ARN()) == nil {
			stop()
			<-e.Done()
		}
		return nil, ctx.Err()
	}
	res, err := e.Wait()
	if err != nil {
		return nil, &TaskError{Name: "States.TaskFailed", Cause: err.Error()}
	}
	if err := n.authorize(ctx, "states:DescribeExecution", e.ARN()); err != nil {
		return nil, err
	}
	out := describeOutput{
		ExecutionArn: e.ARN(), Input: json.RawMessage(e.input), InputDetails: dataDetails{Included: true}, Name: name,
		StartDate: e.StartedAt().UnixMilli(), StateMachineArn: p.StateMachineArn, Status: res.Status, StopDate: time.Now().UnixMilli(),
	}
	if res.Status != StatusSucceeded {
		out.Error, out.Cause = res.Error, res.Cause
		cause, _ := json.Marshal(out)
		return nil, &TaskError{Name: "States.TaskFailed", Cause: string(cause)}
	}
	out.Output, out.OutputDetails = res.Output, &dataDetails{Included: true}
	if len(out.Output) == 0 {
		out.Output = json.RawMessage("null")
	}
	return json.Marshal(out)
}

func (n *Nested) authorize(ctx context.Context, action, resource string) error {
	if n.Authorize == nil {
		return nil
	}
	if err := n.Authorize(ctx, action, resource); err != nil {
		service := "StepFunctions"
		if strings.HasPrefix(action, "events:") {
			service = "EventBridge"
		}
		return &TaskError{Name: "States.TaskFailed", Cause: fmt.Sprintf("%s %s on %s: %v", service, action, resource, err)}
	}
	return nil
}

// startError names StartExecution's errors as the integration does
// (StepFunctions.<Exception>).
func startError(err error) error {
	var name string
	switch err.(type) {
	case *sfntypes.ExecutionAlreadyExists:
		name = "ExecutionAlreadyExistsException"
	case *sfntypes.InvalidName:
		name = "InvalidNameException"
	case *sfntypes.InvalidExecutionInput:
		name = "InvalidExecutionInputException"
	case *sfntypes.InvalidDefinition:
		name = "InvalidDefinitionException"
	default:
		return &TaskError{Name: "States.TaskFailed", Cause: err.Error()}
	}
	return &TaskError{Name: "StepFunctions." + name, Cause: err.Error()}
}

// managedRuleArn is the managed rule in the state machine's Region and account.
func managedRuleArn(machineArn string) string {
	parts := strings.SplitN(machineArn, ":", 6)
	if len(parts) < 6 {
		return "arn:aws:events:::rule/" + ManagedRuleName
	}
	return fmt.Sprintf("arn:%s:events:%s:%s:rule/%s", parts[1], parts[3], parts[4], ManagedRuleName)
}

// uuid is a random version 4 UUID, the name StartExecution gives an execution
// started without one.
func uuid() string {
	h := randomHex(16)
	b := []byte(h)
	b[12] = '4'
	b[16] = "89ab"[int(b[16])%4]
	return string(b[0:8]) + "-" + string(b[8:12]) + "-" + string(b[12:16]) + "-" + string(b[16:20]) + "-" + string(b[20:32])
}
