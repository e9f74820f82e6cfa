package stepfunctions

import (
	"encoding/json"
	"errors"
	"fmt"
	"reflect"
	"strings"
	"time"

	"github.com/aws/aws-lambda-go/lambda/messages"
)

// TaskError fails a Task state with the given Error and Cause, as a service integration would.
type TaskError struct {
	Name, Cause string
}

func (e *TaskError) Error() string {
	if e.Cause == "" {
		return e.Name
	}
	return e.Name + ": " + e.Cause
}

// LambdaError maps a Go Lambda handler's error the way Lambda + Step Functions do: Error = the
// error's Go type name without package and pointer (aws-lambda-go's errorType, e.g.
// "InvalidEventError", "errorString"), Cause = JSON {"errorMessage":..., "errorType":...}.
func LambdaError(err error) *TaskError {
	if err == nil {
		return nil
	}
	// A failure already named as Step Functions names it (LambdaTimeout) stays so.
	var named *TaskError
	if errors.As(err, &named) {
		return named
	}
	// aws-lambda-go passes its own error payload through unchanged.
	resp, ok := err.(messages.InvokeResponse_Error)
	if !ok {
		resp = messages.InvokeResponse_Error{Message: err.Error(), Type: goTypeName(err)}
	}
	cause, mErr := json.Marshal(struct {
		Message string `json:"errorMessage"`
		Type    string `json:"errorType"`
	}{resp.Message, resp.Type})
	if mErr != nil {
		cause = []byte(resp.Message)
	}
	return &TaskError{Name: resp.Type, Cause: string(cause)}
}

// LambdaTimeout is how a lambda:invoke Task state fails when the function runs past
// its timeout: Step Functions does not pass the function's errorType
// (Sandbox.Timedout) on as the error name. "Unhandled errors in Lambda are reported
// as Lambda.Unknown in the error output. These include out-of-memory errors and
// function timeouts." (Step Functions DG, "Handle Lambda service exceptions",
// https://docs.aws.amazon.com/step-functions/latest/dg/bp-lambda-serviceexception.html).
// The cause carries the function's own error payload, as the integration's cause
// does for a payload without an error type it recognises.
func LambdaTimeout(timeout time.Duration, requestID string) *TaskError {
	payload, _ := json.Marshal(struct {
		Type    string `json:"errorType"`
		Message string `json:"errorMessage"`
	}{"Sandbox.Timedout", fmt.Sprintf("RequestId: %s Error: Task timed out after %.2f seconds", requestID, timeout.Seconds())})
	return &TaskError{Name: "Lambda.Unknown", Cause: "The cause could not be determined because Lambda did not return an error type. Returned payload: " + string(payload)}
}

func goTypeName(v any) string {
	t := reflect.TypeOf(v)
	if t.Kind() == reflect.Pointer {
		return t.Elem().Name()
	}
	return t.Name()
}

// taskErrorFor decides how a TaskFunc's error fails its state: a *TaskError as given, a Lambda
// integration's error as Lambda reports a Go handler's error, anything else as States.TaskFailed.
func taskErrorFor(resource string, err error) *TaskError {
	var te *TaskError
	if errors.As(err, &te) {
		return te
	}
	if isLambda(resource) {
		return LambdaError(err)
	}
	return &TaskError{Name: "States.TaskFailed", Cause: err.Error()}
}

func isLambda(resource string) bool {
	return strings.HasPrefix(resource, "arn:aws:lambda:") ||
		strings.HasPrefix(resource, "arn:aws:states:") && strings.Contains(resource, ":lambda:invoke")
}

// MissingToolError says that node or aws-local-stepfunctions is not installed, and how to install it.
type MissingToolError struct {
	Tool string // "node" or "aws-local-stepfunctions"
	Hint string // what to run
	Err  error
}

func (e *MissingToolError) Error() string {
	msg := fmt.Sprintf("run state machine locally: %s not found: %s", e.Tool, e.Hint)
	if e.Err != nil {
		msg += ": " + e.Err.Error()
	}
	return msg
}

func (e *MissingToolError) Unwrap() error { return e.Err }
