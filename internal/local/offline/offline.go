// Package offline wires the real pipeline - the state machine file, the event
// patterns and the Lambda handlers - to local stand-ins of the AWS services they call.
package offline

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"time"

	"github.com/aws/aws-sdk-go-v2/service/s3"
	sfntypes "github.com/aws/aws-sdk-go-v2/service/sfn/types"

	"github.com/snaplake/snaplake/events"
	"github.com/snaplake/snaplake/internal/callback"
	"github.com/snaplake/snaplake/internal/export"
	"github.com/snaplake/snaplake/internal/local/eventbus"
	"github.com/snaplake/snaplake/internal/local/stepfunctions"
	"github.com/snaplake/snaplake/internal/relocate"
	"github.com/snaplake/snaplake/statemachines"
)

// Names the offline account uses, as a deployment would.
const (
	Account       = "000000000000"
	Region        = "us-east-1"
	CrawlerPrefix = "snaplake-"
	TopicArn      = "arn:aws:sns:" + Region + ":" + Account + ":snaplake-notifications"
)

// Function names as deployed; the state machine invokes them by ARN.
const (
	FnStartExport   = "snaplake-startexport"
	FnAwaitCallback = "snaplake-awaitcallback"
	FnRelocate      = "snaplake-relocate"
)

func functionArn(name string) string {
	return "arn:aws:lambda:" + Region + ":" + Account + ":function:" + name
}

// S3 is what the Lambda handlers need of S3; *s3.Client satisfies it.
type S3 interface {
	callback.S3API
	relocate.API
}

// Config describes one offline deployment.
type Config struct {
	S3            S3
	Bucket        string
	RDS           export.RDS              // the export stand-in
	Glue          callback.CrawlerStarter // the crawler stand-in
	DBInstanceIDs []string
	Databases     []string // source databases exported and crawled
	Retention     int      // snapshot_date partitions kept per table
	ExportTimeout time.Duration
	CrawlTimeout  time.Duration
	NodeModules   string        // aws-local-stepfunctions; empty: found by the runner
	RetryInterval time.Duration // shortens every Retry interval offline
	Log           *slog.Logger
	// Observe, if set, hears of every task and resume as it happens (progress display).
	Observe func(Observation)
}

// Observation is one thing that happened in the pipeline.
type Observation struct {
	Kind      string // "task-start", "task-end", "resumed", "execution-started", "execution-ended"
	State     string
	Execution string
	Duration  time.Duration
	Output    json.RawMessage
	Err       error
	Resume    callback.ResumeResult
	Result    *stepfunctions.Result
}

// Notification is one message published to the SNS topic.
type Notification struct {
	TopicArn string    `json:"topicArn"`
	Subject  string    `json:"subject"`
	Message  string    `json:"message"`
	At       time.Time `json:"at"`
}

// Pipeline is a running offline deployment.
type Pipeline struct {
	cfg        Config
	log        *slog.Logger
	definition []byte
	Bus        *eventbus.Bus
	Tokens     *stepfunctions.Tokens
	Runner     *stepfunctions.Runner

	startExport export.Handler
	await       callback.AwaitHandler
	resume      callback.ResumeHandler
	relocate    relocate.Handler

	mu            sync.Mutex
	executions    []*stepfunctions.Execution
	notifications []Notification
	execWG        sync.WaitGroup
}

// New builds the pipeline: the rendered state machine, the bus with the project's
// rules, and the Lambda handlers bound to the stand-ins.
func New(cfg Config) (*Pipeline, error) {
	if cfg.Log == nil {
		cfg.Log = slog.Default()
	}
	if cfg.ExportTimeout == 0 {
		cfg.ExportTimeout = 30 * time.Minute
	}
	if cfg.CrawlTimeout == 0 {
		cfg.CrawlTimeout = 10 * time.Minute
	}
	def, err := statemachines.Render(statemachines.Export, map[string]string{
		statemachines.StartExportFunctionArn:   functionArn(FnStartExport),
		statemachines.AwaitCallbackFunctionArn: functionArn(FnAwaitCallback),
		statemachines.RelocateFunctionArn:      functionArn(FnRelocate),
		statemachines.CrawlerNamePrefix:        CrawlerPrefix,
		statemachines.NotificationTopicArn:     TopicArn,
	})
	if err != nil {
		return nil, err
	}
	bus, err := eventbus.New(cfg.Log.With("component", "eventbus"))
	if err != nil {
		return nil, err
	}
	store := callback.Store{S3: cfg.S3, Bucket: cfg.Bucket, Prefix: "callbacks/"}
	p := &Pipeline{
		cfg:        cfg,
		log:        cfg.Log,
		definition: def,
		Bus:        bus,
		Tokens:     stepfunctions.NewTokens(),
	}
	p.startExport = export.Handler{RDS: cfg.RDS, Log: cfg.Log.With("function", FnStartExport), Config: export.Config{
		Bucket: cfg.Bucket, Prefix: "exports/",
		RoleArn:       "arn:aws:iam::" + Account + ":role/snaplake-rds-export",
		KMSKeyID:      "arn:aws:kms:" + Region + ":" + Account + ":key/offline",
		DBInstanceIDs: cfg.DBInstanceIDs, Databases: cfg.Databases,
		ExportTimeout: cfg.ExportTimeout, CrawlTimeout: cfg.CrawlTimeout,
	}}
	p.await = callback.AwaitHandler{Store: store, SFN: p.Tokens, RDS: cfg.RDS, Glue: cfg.Glue, Log: cfg.Log.With("function", FnAwaitCallback)}
	p.resume = callback.ResumeHandler{Store: store, SFN: p.Tokens, Log: cfg.Log.With("function", "snaplake-resume")}
	p.relocate = relocate.Handler{API: cfg.S3, Log: cfg.Log.With("function", FnRelocate), Defaults: relocate.Options{
		Bucket: cfg.Bucket, SourcePrefix: "exports/", DestPrefix: "data/", Retention: cfg.Retention,
	}}
	p.Runner = &stepfunctions.Runner{
		NodeModules:   cfg.NodeModules,
		Tasks:         p.task,
		Tokens:        p.Tokens,
		RetryInterval: cfg.RetryInterval,
		Log:           cfg.Log.With("component", "stepfunctions"),
	}
	var crawlers []string
	for _, db := range cfg.Databases {
		crawlers = append(crawlers, CrawlerPrefix+strings.ToLower(db))
	}
	vars := events.Params{DBInstanceIDs: cfg.DBInstanceIDs, CrawlerNames: crawlers}.Vars()
	rules := []struct {
		pattern string
		target  eventbus.Target
	}{
		{events.SnapshotCreated, p.startExecution},
		{events.ExportFinished, p.resumeTarget},
		{events.CrawlerFinished, p.resumeTarget},
	}
	for _, r := range rules {
		pat, err := events.PatternJSON(r.pattern, vars)
		if err != nil {
			return nil, err
		}
		if err := bus.AddRule(r.pattern, pat, r.target); err != nil {
			return nil, err
		}
	}
	return p, nil
}

// Definition returns the state machine as the runner executes it.
func (p *Pipeline) Definition() []byte { return p.definition }

// Publish puts an event on the bus, as an AWS service would.
func (p *Pipeline) Publish(ctx context.Context, event []byte) ([]string, error) {
	return p.Bus.Publish(ctx, event)
}

func (p *Pipeline) observe(o Observation) {
	if p.cfg.Observe != nil {
		p.cfg.Observe(o)
	}
}

// startExecution is the snapshot-created rule's target. Like EventBridge it names the
// execution after the event id, so a re-delivered event (same id) starts nothing new.
func (p *Pipeline) startExecution(ctx context.Context, event []byte) error {
	env, err := events.ParseEnvelope(event)
	if err != nil {
		return err
	}
	name := env.ID + "_snapshot-created"
	if len(name) > 80 {
		name = name[:80]
	}
	exec, err := p.Runner.Start(ctx, name, p.definition, event)
	if err != nil {
		var dup *sfntypes.ExecutionAlreadyExists
		if errors.As(err, &dup) {
			p.log.InfoContext(ctx, "execution for this event exists; not starting another", "execution", name)
			return nil
		}
		return fmt.Errorf("start execution %s: %w", name, err)
	}
	p.mu.Lock()
	for _, e := range p.executions {
		if e == exec { // StartExecution with the same name and input is idempotent
			p.mu.Unlock()
			p.log.InfoContext(ctx, "execution for this event is running; not starting another", "execution", name)
			return nil
		}
	}
	p.executions = append(p.executions, exec)
	p.mu.Unlock()
	p.observe(Observation{Kind: "execution-started", Execution: exec.ARN()})
	p.execWG.Add(1)
	go func() {
		defer p.execWG.Done()
		res, err := exec.Wait()
		p.observe(Observation{Kind: "execution-ended", Execution: exec.ARN(), Result: &res, Err: err})
	}()
	return nil
}

func (p *Pipeline) resumeTarget(ctx context.Context, event []byte) error {
	res, err := p.resume.Handle(ctx, event)
	p.observe(Observation{Kind: "resumed", Resume: res, Err: err})
	return err
}

// Executions returns the executions started so far.
func (p *Pipeline) Executions() []*stepfunctions.Execution {
	p.mu.Lock()
	defer p.mu.Unlock()
	return append([]*stepfunctions.Execution(nil), p.executions...)
}

// Notifications returns what was published to the topic.
func (p *Pipeline) Notifications() []Notification {
	p.mu.Lock()
	defer p.mu.Unlock()
	return append([]Notification(nil), p.notifications...)
}

// Wait waits for every execution started so far and for the bus's deliveries. The
// rule targets that start executions run on the bus's goroutines, so the bus is
// drained first (every execution is then counted), then the executions, then the
// deliveries they caused (resumes).
func (p *Pipeline) Wait() []error {
	p.Bus.Wait()
	p.execWG.Wait()
	return p.Bus.Wait() // every target error so far
}

// task routes one Task state to the Lambda handler or the stand-in behind its resource.
func (p *Pipeline) task(ctx context.Context, call stepfunctions.TaskCall) (out json.RawMessage, err error) {
	start := time.Now()
	p.observe(Observation{Kind: "task-start", State: call.State, Execution: call.Execution})
	defer func() {
		p.observe(Observation{Kind: "task-end", State: call.State, Execution: call.Execution, Duration: time.Since(start), Output: out, Err: err})
	}()
	resource := strings.TrimSuffix(call.Resource, ".waitForTaskToken")
	switch resource {
	case "arn:aws:states:::lambda:invoke":
		var in struct {
			FunctionName string          `json:"FunctionName"`
			Payload      json.RawMessage `json:"Payload"`
		}
		if err := json.Unmarshal(call.Input, &in); err != nil {
			return nil, fmt.Errorf("state %s: decode lambda:invoke parameters: %w", call.State, err)
		}
		return p.invoke(ctx, in.FunctionName, in.Payload)
	case "arn:aws:states:::sns:publish":
		var in struct {
			TopicArn, Subject, Message string
		}
		if err := json.Unmarshal(call.Input, &in); err != nil {
			return nil, fmt.Errorf("state %s: decode sns:publish parameters: %w", call.State, err)
		}
		if in.TopicArn != TopicArn {
			return nil, &stepfunctions.TaskError{Name: "SNS.NotFoundException", Cause: "Topic does not exist: " + in.TopicArn}
		}
		p.mu.Lock()
		p.notifications = append(p.notifications, Notification{TopicArn: in.TopicArn, Subject: in.Subject, Message: in.Message, At: time.Now().UTC()})
		n := len(p.notifications)
		p.mu.Unlock()
		p.log.WarnContext(ctx, "notification published", "topic", in.TopicArn, "subject", in.Subject)
		return json.Marshal(map[string]string{"MessageId": fmt.Sprintf("offline-%d", n)})
	default:
		return nil, &stepfunctions.TaskError{Name: "States.TaskFailed", Cause: "no offline stand-in for resource " + call.Resource}
	}
}

// invoke runs a Lambda handler in-process with the payload the state machine sent,
// encoding its result as the Lambda runtime would.
func (p *Pipeline) invoke(ctx context.Context, fn string, payload json.RawMessage) (json.RawMessage, error) {
	name := fn[strings.LastIndex(fn, ":")+1:]
	var (
		result any
		err    error
	)
	switch name {
	case FnStartExport:
		result, err = p.startExport.Handle(ctx, payload)
	case FnAwaitCallback:
		var req callback.AwaitRequest
		if err = json.Unmarshal(payload, &req); err == nil {
			result, err = p.await.Handle(ctx, req)
		}
	case FnRelocate:
		var req relocate.Request
		if err = json.Unmarshal(payload, &req); err == nil {
			result, err = p.relocate.Handle(ctx, req)
		}
	default:
		return nil, &stepfunctions.TaskError{Name: "Lambda.ResourceNotFoundException", Cause: "Function not found: " + fn}
	}
	if err != nil {
		return nil, stepfunctions.LambdaError(err)
	}
	return json.Marshal(result)
}

var _ S3 = (*s3.Client)(nil)
