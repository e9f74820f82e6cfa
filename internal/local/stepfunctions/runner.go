// Package stepfunctions runs snaplake's real Step Functions definitions on one machine: the
// aws-local-stepfunctions interpreter (Node) executes the ASL and every Task state calls Go.
package stepfunctions

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/sha256"
	_ "embed"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/aws/aws-sdk-go-v2/aws"
	sfntypes "github.com/aws/aws-sdk-go-v2/service/sfn/types"
)

//go:embed runner.cjs
var runnerScript []byte

const (
	region      = "us-east-1"
	account     = "000000000000"
	machineName = "snaplake-export"
	libraryName = "aws-local-stepfunctions"
	installHint = "run `npm ci --prefix tools` (or `make tools`), or set SNAPLAKE_NODE_MODULES"
)

// Execution statuses, as DescribeExecution reports them.
const (
	StatusSucceeded = "SUCCEEDED"
	StatusFailed    = "FAILED"
	StatusTimedOut  = "TIMED_OUT"
	StatusAborted   = "ABORTED"
)

// TaskCall is one Task state invocation.
type TaskCall struct {
	Execution string          // execution ARN
	State     string          // state name
	Resource  string          // e.g. arn:aws:states:::lambda:invoke, arn:aws:states:::aws-sdk:glue:startCrawler, ...waitForTaskToken
	Input     json.RawMessage // the effective input after Parameters
	Token     string          // non-empty for .waitForTaskToken resources: a fresh unique token for THIS invocation
}

// TaskFunc handles every Task state. For lambda:invoke resources return the function's result;
// the runner wraps it in {"Payload": ...} like the service integration does. Return a *TaskError
// to fail with a given Error/Cause; other errors of Lambda resources go through LambdaError, the
// rest fail the state with States.TaskFailed.
type TaskFunc func(ctx context.Context, call TaskCall) (json.RawMessage, error)

// Runner executes state machine definitions locally. Its fields must not change once Start has
// been called.
type Runner struct {
	NodeModules   string        // dir containing aws-local-stepfunctions; default: env SNAPLAKE_NODE_MODULES, else tools/node_modules found walking up from the working dir
	Node          string        // node binary, default "node" from PATH
	Tasks         TaskFunc      // handles every Task state
	Tokens        *Tokens       // where .waitForTaskToken invocations wait for their callback; set by Start when nil
	RetryInterval time.Duration // if > 0, every Retry interval of every state is this (tests, demo); 0 = as defined
	// StateMachineArn names the machine the executions belong to ($$.StateMachine.Id,
	// and the prefix of execution ARNs); empty: an offline default.
	StateMachineArn string
	Log             *slog.Logger // default slog.Default()

	mu         sync.Mutex
	executions map[string]*Execution // by name: names are unique per state machine, as in AWS
	validated  map[[32]byte]bool     // definitions asl-validator accepted: validating costs ~0.3 s
}

// Result is how an execution ended.
type Result struct {
	Status string // SUCCEEDED | FAILED | TIMED_OUT | ABORTED
	Output json.RawMessage
	Error  string
	Cause  string
	States []string // names of the states entered, in order (Map iterations included)
}

// Execution is one running or finished execution.
type Execution struct {
	runner *Runner
	name   string
	arn    string
	input  []byte
	log    *slog.Logger

	ctx    context.Context // tasks' context: ends with the execution
	cancel context.CancelFunc

	mu          sync.Mutex
	invocations map[string]*invocation
	nextID      int
	tokens      []string

	pid int // node's, for tests

	startedAt time.Time // $$.Execution.StartTime

	done   chan struct{}
	result Result
	err    error
}

// StartedAt is when the execution started ($$.Execution.StartTime).
func (e *Execution) StartedAt() time.Time { return e.startedAt }

// ARN returns the execution's ARN.
func (e *Execution) ARN() string { return e.arn }

// Wait blocks until the execution ends. The error reports infrastructure failures only (node
// crashed, invalid definition); a FAILED execution is a Result.
func (e *Execution) Wait() (Result, error) {
	<-e.done
	return e.result, e.err
}

// MachineArn is the state machine's ARN: StateMachineArn, or a default offline one.
func (r *Runner) MachineArn() string {
	if r.StateMachineArn != "" {
		return r.StateMachineArn
	}
	return fmt.Sprintf("arn:aws:states:%s:%s:stateMachine:%s", region, account, machineName)
}

// executionARN is arn:aws:states:R:A:execution:<machine name>:<name>, as AWS names
// an execution of the machine arn:aws:states:R:A:stateMachine:<machine name>.
func (r *Runner) executionARN(name string) string {
	return strings.Replace(r.MachineArn(), ":stateMachine:", ":execution:", 1) + ":" + name
}

func (r *Runner) machineName() string {
	arn := r.MachineArn()
	return arn[strings.LastIndex(arn, ":")+1:]
}

// validateName applies StartExecution's rules for execution names.
func validateName(name string) error {
	invalid := func(why string) error {
		return &sfntypes.InvalidName{Message: aws.String(fmt.Sprintf("Invalid Name: %q: %s", name, why))}
	}
	if !utf8.ValidString(name) {
		return invalid("not valid UTF-8")
	}
	if n := utf8.RuneCountInString(name); n < 1 || n > 80 {
		return invalid(fmt.Sprintf("%d characters, want 1 to 80", n))
	}
	for _, c := range name {
		switch {
		case unicode.IsSpace(c):
			return invalid("contains whitespace")
		case c <= 0x1f || c >= 0x7f && c <= 0x9f:
			return invalid("contains a control character")
		case strings.ContainsRune("<>{}[]?*\"#%\\^|~`$&,;:/", c):
			return invalid(fmt.Sprintf("contains %q", c))
		}
	}
	return nil
}

// Start launches one execution named name of definition with input (empty means {}). Like
// StartExecution, a name already used gets ExecutionAlreadyExists, unless that execution is
// still running with the same input: then it is returned again.
func (r *Runner) Start(ctx context.Context, name string, definition, input []byte) (*Execution, error) {
	return r.StartAt(ctx, name, definition, input, time.Now())
}

// StartAt is Start with the execution's $$.Execution.StartTime set to at: a
// schedule's firing time when the offline run plays the scheduler's clock.
func (r *Runner) StartAt(ctx context.Context, name string, definition, input []byte, at time.Time) (*Execution, error) {
	if err := validateName(name); err != nil {
		return nil, err
	}
	if len(bytes.TrimSpace(input)) == 0 {
		input = []byte("{}")
	}
	var compact bytes.Buffer
	if err := json.Compact(&compact, input); err != nil {
		return nil, &sfntypes.InvalidExecutionInput{Message: aws.String(fmt.Sprintf("execution %s: input is not JSON: %v", name, err))}
	}
	var def map[string]json.RawMessage
	if err := json.Unmarshal(definition, &def); err != nil {
		return nil, &sfntypes.InvalidDefinition{Message: aws.String(fmt.Sprintf("execution %s: definition is not a JSON object: %v", name, err))}
	}
	node, err := r.nodeBinary()
	if err != nil {
		return nil, err
	}
	modules, err := r.nodeModules()
	if err != nil {
		return nil, err
	}

	r.mu.Lock()
	if prev, ok := r.executions[name]; ok {
		r.mu.Unlock()
		select {
		case <-prev.done:
		default:
			if bytes.Equal(prev.input, compact.Bytes()) {
				return prev, nil
			}
		}
		return nil, &sfntypes.ExecutionAlreadyExists{Message: aws.String("Execution Already Exists: '" + r.executionARN(name) + "'")}
	}
	if r.executions == nil {
		r.executions = map[string]*Execution{}
		r.validated = map[[32]byte]bool{}
	}
	defHash := sha256.Sum256(definition)
	validate := !r.validated[defHash]
	if r.Tokens == nil {
		r.Tokens = NewTokens()
	}
	if r.Log == nil {
		r.Log = slog.Default()
	}
	arn := r.executionARN(name)
	e := &Execution{
		runner:      r,
		name:        name,
		arn:         arn,
		input:       compact.Bytes(),
		log:         r.Log.With("execution", arn),
		invocations: map[string]*invocation{},
		done:        make(chan struct{}),
		startedAt:   at.UTC(),
	}
	r.executions[name] = e
	r.mu.Unlock()

	if err := e.launch(ctx, node, modules, definition, defHash, validate); err != nil {
		r.mu.Lock()
		delete(r.executions, name)
		r.mu.Unlock()
		return nil, err
	}
	return e, nil
}

func (r *Runner) nodeBinary() (string, error) {
	node := r.Node
	if node == "" {
		node = "node"
	}
	path, err := exec.LookPath(node)
	if err != nil {
		return "", &MissingToolError{Tool: "node", Hint: "install Node.js 20 or later (CI: actions/setup-node)", Err: err}
	}
	return path, nil
}

func (r *Runner) nodeModules() (string, error) {
	dir := r.NodeModules
	if dir == "" {
		dir = os.Getenv("SNAPLAKE_NODE_MODULES")
	}
	if dir == "" {
		wd, err := os.Getwd()
		if err != nil {
			return "", &MissingToolError{Tool: libraryName, Hint: installHint, Err: err}
		}
		for d := wd; ; d = filepath.Dir(d) {
			candidate := filepath.Join(d, "tools", "node_modules")
			if hasLibrary(candidate) {
				dir = candidate
				break
			}
			if filepath.Dir(d) == d {
				return "", &MissingToolError{Tool: libraryName, Hint: installHint + fmt.Sprintf(" (no tools/node_modules above %s)", wd)}
			}
		}
	}
	if !hasLibrary(dir) {
		return "", &MissingToolError{Tool: libraryName, Hint: installHint + fmt.Sprintf(" (looked in %s)", dir)}
	}
	return filepath.Abs(dir)
}

func hasLibrary(nodeModules string) bool {
	_, err := os.Stat(filepath.Join(nodeModules, libraryName, "package.json"))
	return err == nil
}

// runnerConfig is what runner.cjs reads.
type runnerConfig struct {
	NodeModules      string          `json:"nodeModules"`
	Definition       json.RawMessage `json:"definition"`
	Input            json.RawMessage `json:"input"`
	Context          any             `json:"context"`
	Bridge           string          `json:"bridge"`
	TokenPlaceholder string          `json:"tokenPlaceholder"`
	RetryIntervalMs  float64         `json:"retryIntervalMs"`
	Validate         bool            `json:"validate"`
}

// runnerOutput is runner.cjs's one line on stdout.
type runnerOutput struct {
	Status string          `json:"status"`
	Output json.RawMessage `json:"output"`
	Error  string          `json:"error"`
	Cause  string          `json:"cause"`
	States []string        `json:"states"`
}

func randomHex(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}

func (e *Execution) launch(ctx context.Context, node, modules string, definition []byte, defHash [32]byte, validate bool) error {
	dir, err := os.MkdirTemp("", "snaplake-sfn-")
	if err != nil {
		return fmt.Errorf("start execution %s: %w", e.name, err)
	}
	cleanup := []func(){func() { os.RemoveAll(dir) }}
	fail := func(err error) error {
		for i := len(cleanup) - 1; i >= 0; i-- {
			cleanup[i]()
		}
		return fmt.Errorf("start execution %s: %w", e.name, err)
	}

	// Tasks keep the caller's values but end with the execution, not with ctx: ctx ends node,
	// and the execution's end then cancels them.
	e.ctx, e.cancel = context.WithCancel(context.WithoutCancel(ctx))
	cleanup = append(cleanup, e.cancel)

	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return fail(fmt.Errorf("listen for the task bridge: %w", err))
	}
	secret := randomHex(16)
	srv := &http.Server{Handler: e.bridgeHandler("/" + secret), ReadHeaderTimeout: 10 * time.Second}
	go srv.Serve(ln) //nolint:errcheck // ends with Close
	cleanup = append(cleanup, func() { srv.Close() })

	cfg := runnerConfig{
		NodeModules: modules,
		Definition:  definition,
		Input:       e.input,
		Context: map[string]any{
			"Execution":    map[string]any{"Id": e.arn, "Name": e.name, "StartTime": e.startedAt.Format(time.RFC3339Nano)},
			"StateMachine": map[string]any{"Id": e.runner.MachineArn(), "Name": e.runner.machineName()},
			"Task":         map[string]any{"Token": tokenPlaceholder},
		},
		Bridge:           "http://" + ln.Addr().String() + "/" + secret,
		TokenPlaceholder: tokenPlaceholder,
		RetryIntervalMs:  float64(e.runner.RetryInterval) / float64(time.Millisecond),
		Validate:         validate,
	}
	cfgJSON, err := json.Marshal(cfg)
	if err != nil {
		return fail(fmt.Errorf("encode runner config: %w", err))
	}
	script := filepath.Join(dir, "runner.cjs")
	cfgPath := filepath.Join(dir, "config.json")
	if err := os.WriteFile(script, runnerScript, 0o600); err != nil {
		return fail(err)
	}
	if err := os.WriteFile(cfgPath, cfgJSON, 0o600); err != nil {
		return fail(err)
	}

	var stdout bytes.Buffer
	stderr := &lineLogger{log: e.log}
	cmd := exec.CommandContext(ctx, node, script, cfgPath)
	cmd.Stdout = &stdout
	cmd.Stderr = stderr
	cmd.SysProcAttr = nodeSysProcAttr()
	cmd.Cancel = func() error { return killGroup(cmd) }
	cmd.WaitDelay = 5 * time.Second
	if err := cmd.Start(); err != nil {
		return fail(fmt.Errorf("start %s: %w", node, err))
	}
	e.pid = cmd.Process.Pid
	e.log.Info("execution started", "name", e.name, "pid", e.pid)

	go func() {
		waitErr := cmd.Wait()
		stderr.flush()
		e.result, e.err = e.outcome(ctx, waitErr, stdout.Bytes(), stderr.tail())
		if validate && e.err == nil && e.result.Status != StatusAborted {
			e.runner.mu.Lock()
			e.runner.validated[defHash] = true
			e.runner.mu.Unlock()
		}
		e.dropTokens()
		for i := len(cleanup) - 1; i >= 0; i-- {
			cleanup[i]()
		}
		e.log.Info("execution ended", "status", e.result.Status, "error", e.result.Error, "states", len(e.result.States))
		close(e.done)
	}()
	return nil
}

// tokenPlaceholder stands for $$.Task.Token in the context: the interpreter can only resolve a
// fixed token, which runner.cjs replaces with a fresh one for each invocation.
const tokenPlaceholder = "SNAPLAKE-LOCAL-TASK-TOKEN-PLACEHOLDER"

func (e *Execution) outcome(ctx context.Context, waitErr error, stdout []byte, stderrTail string) (Result, error) {
	line := lastLine(stdout)
	if ctx.Err() != nil && (waitErr != nil || len(line) == 0) {
		return Result{Status: StatusAborted, Error: "States.Aborted", Cause: ctx.Err().Error()}, nil
	}
	if waitErr != nil || len(line) == 0 {
		return Result{}, fmt.Errorf("run execution %s: node ended without a result (%v): %s", e.name, waitErr, stderrTail)
	}
	var out runnerOutput
	if err := json.Unmarshal(line, &out); err != nil {
		return Result{}, fmt.Errorf("run execution %s: decode node's result %q: %w", e.name, line, err)
	}
	if out.Status == "INVALID" {
		return Result{}, &sfntypes.InvalidDefinition{Message: aws.String(out.Cause)}
	}
	res := Result{Status: out.Status, Error: out.Error, Cause: out.Cause, States: out.States}
	if out.Status == StatusSucceeded {
		res.Output = out.Output
	}
	return res, nil
}

func lastLine(b []byte) []byte {
	lines := bytes.Split(bytes.TrimSpace(b), []byte("\n"))
	return bytes.TrimSpace(lines[len(lines)-1])
}

// dropTokens ends the waits of an execution that is over, so that a late callback gets
// TaskTimedOut as in AWS.
func (e *Execution) dropTokens() {
	e.mu.Lock()
	tokens := e.tokens
	e.tokens = nil
	e.mu.Unlock()
	for _, tok := range tokens {
		e.runner.Tokens.drop(tok, "execution ended")
	}
}

// lineLogger logs node's stderr line by line and keeps the last lines for error messages.
type lineLogger struct {
	log     *slog.Logger
	mu      sync.Mutex
	partial []byte
	last    []string
}

func (l *lineLogger) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.partial = append(l.partial, p...)
	for {
		i := bytes.IndexByte(l.partial, '\n')
		if i < 0 {
			break
		}
		l.line(string(l.partial[:i]))
		l.partial = l.partial[i+1:]
	}
	return len(p), nil
}

func (l *lineLogger) line(s string) {
	if strings.TrimSpace(s) == "" {
		return
	}
	l.log.Warn("node stderr", "line", s)
	l.last = append(l.last, s)
	if len(l.last) > 20 {
		l.last = l.last[1:]
	}
}

func (l *lineLogger) flush() {
	l.mu.Lock()
	defer l.mu.Unlock()
	if len(l.partial) > 0 {
		l.line(string(l.partial))
		l.partial = nil
	}
}

func (l *lineLogger) tail() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	if len(l.last) == 0 {
		return "no output on stderr"
	}
	return strings.Join(l.last, "\n")
}

// Done is closed when the execution has ended.
func (e *Execution) Done() <-chan struct{} { return e.done }
