package stepfunctions

import (
	"context"
	"encoding/json"
	"fmt"
	"regexp"
	"sort"
	"sync"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/sfn"
	sfntypes "github.com/aws/aws-sdk-go-v2/service/sfn/types"
)

// tokenRE accepts what a Step Functions task token can look like (base64, up to the API's 2048
// characters) so that garbage gets InvalidToken and a well-formed stranger TaskDoesNotExist.
var tokenRE = regexp.MustCompile(`^[A-Za-z0-9+/=_-]+$`)

func wellFormedToken(token string) bool {
	return len(token) >= 16 && len(token) <= 2048 && tokenRE.MatchString(token)
}

// maxOutputBytes is Step Functions' payload limit.
const maxOutputBytes = 256 * 1024

// Tokens is the local stand-in for the Step Functions task-token API. It satisfies the narrow
// interface production code uses (SendTaskSuccess / SendTaskFailure with the SDK's signatures).
type Tokens struct {
	mu      sync.Mutex
	pending map[string]*waitingTask
	// closed remembers finished tokens, so a late callback gets TaskTimedOut like in AWS
	// rather than TaskDoesNotExist.
	closed map[string]string
}

type waitingTask struct {
	execution, state string
	done             chan struct{}
	output           json.RawMessage
	failure          *TaskError
}

// NewTokens returns an empty token store.
func NewTokens() *Tokens {
	return &Tokens{pending: map[string]*waitingTask{}, closed: map[string]string{}}
}

func (t *Tokens) init() {
	if t.pending == nil {
		t.pending = map[string]*waitingTask{}
		t.closed = map[string]string{}
	}
}

// register stores token before the task that publishes it runs, so that its callback, however
// fast, finds it.
func (t *Tokens) register(token, execution, state string) (*waitingTask, error) {
	if !wellFormedToken(token) {
		return nil, fmt.Errorf("register task token for %s: malformed token %q", state, token)
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	t.init()
	if _, ok := t.pending[token]; ok {
		return nil, fmt.Errorf("register task token for %s: token already waited on", state)
	}
	if _, ok := t.closed[token]; ok {
		return nil, fmt.Errorf("register task token for %s: token already used", state)
	}
	w := &waitingTask{execution: execution, state: state, done: make(chan struct{})}
	t.pending[token] = w
	return w, nil
}

// drop ends the wait on token without a result (timed out, task failed, execution ended).
func (t *Tokens) drop(token, why string) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.init()
	if _, ok := t.pending[token]; ok {
		delete(t.pending, token)
		t.closed[token] = why
	}
}

func (t *Tokens) resolve(token string, output json.RawMessage, failure *TaskError) error {
	if !wellFormedToken(token) {
		return &sfntypes.InvalidToken{Message: aws.String("Invalid token")}
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	t.init()
	w, ok := t.pending[token]
	if !ok {
		if why, ok := t.closed[token]; ok {
			return &sfntypes.TaskTimedOut{Message: aws.String("Task Timed Out: 'Provided task does not exist anymore' (" + why + ")")}
		}
		return &sfntypes.TaskDoesNotExist{Message: aws.String("Task does not exist")}
	}
	delete(t.pending, token)
	t.closed[token] = "already completed"
	w.output, w.failure = output, failure
	close(w.done)
	return nil
}

// SendTaskSuccess resumes the task waiting on in.TaskToken with in.Output as its result.
func (t *Tokens) SendTaskSuccess(ctx context.Context, in *sfn.SendTaskSuccessInput, optFns ...func(*sfn.Options)) (*sfn.SendTaskSuccessOutput, error) {
	out := aws.ToString(in.Output)
	if len(out) > maxOutputBytes {
		return nil, &sfntypes.InvalidOutput{Message: aws.String(fmt.Sprintf("Output is %d bytes, more than %d", len(out), maxOutputBytes))}
	}
	if !json.Valid([]byte(out)) {
		return nil, &sfntypes.InvalidOutput{Message: aws.String("Invalid State Machine Output: output is not valid JSON")}
	}
	if err := t.resolve(aws.ToString(in.TaskToken), json.RawMessage(out), nil); err != nil {
		return nil, err
	}
	return &sfn.SendTaskSuccessOutput{}, nil
}

// SendTaskFailure fails the task waiting on in.TaskToken with in.Error and in.Cause.
func (t *Tokens) SendTaskFailure(ctx context.Context, in *sfn.SendTaskFailureInput, optFns ...func(*sfn.Options)) (*sfn.SendTaskFailureOutput, error) {
	failure := &TaskError{Name: aws.ToString(in.Error), Cause: aws.ToString(in.Cause)}
	if err := t.resolve(aws.ToString(in.TaskToken), nil, failure); err != nil {
		return nil, err
	}
	return &sfn.SendTaskFailureOutput{}, nil
}

// Waiting returns the tokens currently waited on, sorted.
func (t *Tokens) Waiting() []string {
	t.mu.Lock()
	defer t.mu.Unlock()
	tokens := make([]string, 0, len(t.pending))
	for tok := range t.pending {
		tokens = append(tokens, tok)
	}
	sort.Strings(tokens)
	return tokens
}

// Execution returns the ARN of the execution whose task waits on token (pending only):
// Step Functions authorizes SendTask* against the state machine that issued the token.
func (t *Tokens) Execution(token string) (string, bool) {
	t.mu.Lock()
	defer t.mu.Unlock()
	w, ok := t.pending[token]
	if !ok {
		return "", false
	}
	return w.execution, true
}
