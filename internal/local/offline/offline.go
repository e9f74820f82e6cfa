// Package offline wires the real pipeline - the state machine file, the event
// patterns and the Lambda handlers - to local stand-ins of the AWS services they call.
package offline

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/lakeformation"
	lftypes "github.com/aws/aws-sdk-go-v2/service/lakeformation/types"
	sfntypes "github.com/aws/aws-sdk-go-v2/service/sfn/types"

	"github.com/snaplake/snaplake/events"
	"github.com/snaplake/snaplake/internal/aws/lambdamain"
	"github.com/snaplake/snaplake/internal/deploy"
	"github.com/snaplake/snaplake/internal/export"
	"github.com/snaplake/snaplake/internal/export/callback"
	"github.com/snaplake/snaplake/internal/export/latest"
	"github.com/snaplake/snaplake/internal/export/relocate"
	exportrun "github.com/snaplake/snaplake/internal/export/run"
	"github.com/snaplake/snaplake/internal/local/contract"
	"github.com/snaplake/snaplake/internal/local/eventbus"
	"github.com/snaplake/snaplake/internal/local/iam"
	lflocal "github.com/snaplake/snaplake/internal/local/lakeformation"
	"github.com/snaplake/snaplake/internal/local/stepfunctions"
	"github.com/snaplake/snaplake/statemachines"
)

// Config describes one offline deployment: the contract's functions, bound to
// stand-ins through the account's IAM.
type Config struct {
	// Account holds the contract (each function's environment and policies, read
	// from the synthesized template), the IAM authority and the authorizing S3
	// endpoint every handler and service role reaches S3 through.
	Account *Account
	RDS     export.RDS // the export stand-in
	// Glue is the crawler stand-in. If it is also a callback.CatalogCreator, the
	// crawl wait of a stack that catalogs new databases at runtime creates with it.
	Glue callback.Crawlers
	// Catalog is the Data Catalog stand-in the latest function reads and writes; its
	// databases are the contract's (CreateDatabases).
	Catalog latest.Catalog
	// LakeFormation, when set, is the account's Lake Formation: the contract's
	// administrators are added to it (ApplyLakeAdmins), and the crawl wait of a
	// governed stack that catalogs at runtime grants with it.
	LakeFormation *lflocal.Service
	// Timing replaces the deployed timeouts, which no test or demo can sit through.
	// Zero fields keep the contract's values.
	Timing        Timing
	NodeModules   string        // aws-local-stepfunctions; empty: found by the runner
	RetryInterval time.Duration // shortens every Retry interval offline
	Log           *slog.Logger
	// Observe, if set, hears of every task and resume as it happens (progress display).
	Observe func(Observation)
}

// Timing is the deployed environment's timing variables, overridable offline.
type Timing struct {
	ExportTimeout time.Duration // EXPORT_TIMEOUT_SECONDS
	ExportRecheck time.Duration // EXPORT_RECHECK_SECONDS
	CrawlTimeout  time.Duration // CRAWL_TIMEOUT_SECONDS
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
	definition []byte
	Bus        *eventbus.Bus
	Tokens     *stepfunctions.Tokens
	Runner     *stepfunctions.Runner

	// workflow holds the handlers by deployed function ARN, as the state machine
	// invokes them, and the notifications.
	workflow

	// The export's Lambdas, built by internal/export/run.
	startExport, await, resume, relocate, latest lambdamain.Func

	mu         sync.Mutex
	executions []*stepfunctions.Execution
	execWG     sync.WaitGroup
}

// env returns a function's deployed environment with the timing overrides applied.
func (cfg Config) env(fn contract.Function) func(string) string {
	env := maps.Clone(fn.Environment)
	set := func(name string, d time.Duration) {
		if _, deployed := env[name]; deployed && d > 0 {
			env[name] = strconv.Itoa(int(d / time.Second))
		}
	}
	set(deploy.EnvExportTimeoutSeconds, cfg.Timing.ExportTimeout)
	set(deploy.EnvExportRecheckSeconds, cfg.Timing.ExportRecheck)
	set(deploy.EnvCrawlTimeoutSeconds, cfg.Timing.CrawlTimeout)
	return func(k string) string { return env[k] }
}

// New builds the pipeline from the contract: the state machine rendered with the
// template's substitutions, the bus with the project's rules for the deployed
// instances and crawlers, and each Lambda handler built from its deployed
// environment by the same code its main runs, calling AWS as its own role.
func New(cfg Config) (*Pipeline, error) {
	if cfg.Account == nil {
		return nil, errors.New("offline pipeline: no Account")
	}
	if cfg.Log == nil {
		cfg.Log = slog.Default()
	}
	acct := cfg.Account
	c := acct.Contract
	def, err := statemachines.Render(statemachines.Export, c.DefinitionSubstitutions)
	if err != nil {
		return nil, err
	}
	bus, err := eventbus.New(cfg.Log.With("component", "eventbus"))
	if err != nil {
		return nil, err
	}
	p := &Pipeline{
		cfg:        cfg,
		definition: def,
		Bus:        bus,
		Tokens:     stepfunctions.NewTokens(),
		workflow:   newWorkflow(acct, deploy.RoleStateMachine, cfg.Log),
	}
	fn := func(name string) contract.Function { return c.Functions[name] }
	logFor := func(name string) *slog.Logger { return cfg.Log.With("function", name) }

	// Each handler is built by its function's constructor, as its main builds it,
	// from its deployed environment and calling AWS as its own role.
	startEnv := cfg.env(fn(deploy.FnStartExport))
	if p.startExport, err = exportrun.NewStartExport(startEnv, exportrun.StartExportClients{
		RDS: acct.RDS(deploy.FnStartExport, cfg.RDS), S3: acct.S3(deploy.FnStartExport)},
		logFor(deploy.FnStartExport)); err != nil {
		return nil, fmt.Errorf("startexport's deployed environment: %w", err)
	}
	// The bus's rules are the stack's, for the instances the function exports.
	exportCfg, err := export.ConfigFromEnv(startEnv)
	if err != nil {
		return nil, fmt.Errorf("startexport's deployed environment: %w", err)
	}
	// A crawler stand-in that can also create databases and crawlers serves the
	// stack that catalogs new databases at runtime.
	var catalogs callback.CatalogCreator
	if cc, ok := cfg.Glue.(callback.CatalogCreator); ok {
		catalogs = acct.GlueCatalogs(deploy.FnAwaitCallback, cc)
	}
	var lake callback.LakeGranter
	if cfg.LakeFormation != nil {
		if err := ApplyLakeAdmins(context.Background(), acct.Contract, cfg.LakeFormation); err != nil {
			return nil, err
		}
		lake = acct.LakeGrants(deploy.FnAwaitCallback, cfg.LakeFormation)
	}
	if p.await, err = exportrun.NewAwaitCallback(cfg.env(fn(deploy.FnAwaitCallback)), exportrun.AwaitCallbackClients{
		S3: acct.S3(deploy.FnAwaitCallback), SFN: acct.SFN(deploy.FnAwaitCallback, p.Tokens),
		RDS: acct.RDS(deploy.FnAwaitCallback, cfg.RDS), Glue: acct.Glue(deploy.FnAwaitCallback, cfg.Glue), Catalogs: catalogs,
		Lake: lake,
	}, logFor(deploy.FnAwaitCallback)); err != nil {
		return nil, fmt.Errorf("awaitcallback's deployed environment: %w", err)
	}
	if p.resume, err = exportrun.NewResume(cfg.env(fn(deploy.FnResume)), exportrun.ResumeClients{
		S3: acct.S3(deploy.FnResume), SFN: acct.SFN(deploy.FnResume, p.Tokens), RDS: acct.RDS(deploy.FnResume, cfg.RDS),
	}, logFor(deploy.FnResume)); err != nil {
		return nil, fmt.Errorf("resume's deployed environment: %w", err)
	}
	if p.relocate, err = exportrun.NewRelocate(cfg.env(fn(deploy.FnRelocate)), exportrun.RelocateClients{
		S3: func(int) (relocate.API, error) { return acct.S3(deploy.FnRelocate), nil },
	}, logFor(deploy.FnRelocate)); err != nil {
		return nil, fmt.Errorf("relocate's deployed environment: %w", err)
	}
	if cfg.Catalog == nil {
		return nil, errors.New("offline pipeline: no Data Catalog (Config.Catalog)")
	}
	if p.latest, err = exportrun.NewLatest(cfg.env(fn(deploy.FnLatest)), exportrun.LatestClients{
		Glue: acct.LatestCatalog(deploy.FnLatest, cfg.Catalog),
	}, logFor(deploy.FnLatest)); err != nil {
		return nil, fmt.Errorf("latest's deployed environment: %w", err)
	}
	p.handlers[fn(deploy.FnLatest).Arn] = p.latest
	p.handlers[fn(deploy.FnStartExport).Arn] = p.startExport
	p.handlers[fn(deploy.FnAwaitCallback).Arn] = p.await
	p.handlers[fn(deploy.FnRelocate).Arn] = p.relocate

	p.Runner = &stepfunctions.Runner{
		NodeModules:     cfg.NodeModules,
		Tasks:           p.task,
		Tokens:          p.Tokens,
		RetryInterval:   cfg.RetryInterval,
		StateMachineArn: c.StateMachineArn,
		Log:             cfg.Log.With("component", "stepfunctions"),
	}
	var crawlers []string
	for _, cr := range c.Crawlers {
		crawlers = append(crawlers, cr.Name)
	}
	if fn(deploy.FnAwaitCallback).Getenv(deploy.EnvCrawlerRoleArn) != "" {
		// The stack catalogs new databases at runtime: its rule matches every
		// crawler of the prefix (infra's crawlerEventNames).
		crawlers = []string{deploy.CrawlerNamePrefix}
	}
	params := events.Params{DBInstanceIDs: exportCfg.DBInstanceIDs, DBClusterIDs: exportCfg.DBClusterIDs, CrawlerNames: crawlers,
		IncludeManualSnapshots: exportCfg.IncludeManualSnapshots}
	vars := params.Vars()
	// The stack's rules: an instance's or a cluster's snapshot starts the workflow,
	// an export's or a crawl's end resumes it.
	targets := map[string]eventbus.Target{
		events.SnapshotCreated:        p.startExecution,
		events.ClusterSnapshotCreated: p.startExecution,
		events.ExportFinished:         p.resumeTarget,
		events.ClusterExportFinished:  p.resumeTarget,
		events.CrawlerFinished:        p.resumeTarget,
	}
	for _, name := range params.Routed() {
		pat, err := events.PatternJSON(name, vars)
		if err != nil {
			return nil, err
		}
		if err := bus.AddRule(name, pat, targets[name]); err != nil {
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
	// The rule's target starts the execution as the events role.
	if err := p.acct.authorize(deploy.RoleEvents, "SFN", "StartExecution",
		iam.Request{Action: "states:StartExecution", Resource: p.acct.Contract.StateMachineArn}); err != nil {
		return err
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
	out, err := p.resume(ctx, event)
	res, _ := out.(callback.ResumeResult)
	p.observe(Observation{Kind: "resumed", Resume: res, Err: err})
	return err
}

// Executions returns the executions started so far.
func (p *Pipeline) Executions() []*stepfunctions.Execution {
	p.mu.Lock()
	defer p.mu.Unlock()
	return append([]*stepfunctions.Execution(nil), p.executions...)
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
	if out, handled, err := p.commonTask(ctx, stepfunctions.TaskCall{Execution: call.Execution, State: call.State,
		Resource: strings.TrimSuffix(call.Resource, ".waitForTaskToken"), Input: call.Input, Token: call.Token}); handled {
		return out, err
	}
	return nil, noStandIn(call)
}

// invoke runs a Lambda handler in-process with the payload the state machine sent,
// encoding its result as the Lambda runtime would. The state machine's role must be
// allowed to invoke the function.
func (a *Account) invoke(ctx context.Context, role string, handlers map[string]func(context.Context, json.RawMessage) (any, error), fn string, payload json.RawMessage) (json.RawMessage, error) {
	h, ok := handlers[fn]
	if !ok {
		return nil, &stepfunctions.TaskError{Name: "Lambda.ResourceNotFoundException", Cause: "Function not found: " + fn}
	}
	if err := a.IAM.Authorize(role, iam.Request{Action: "lambda:InvokeFunction", Resource: fn}); err != nil {
		return nil, &stepfunctions.TaskError{Name: "Lambda.AWSLambdaException", Cause: err.Error()}
	}
	result, err := h(ctx, payload)
	if err != nil {
		return nil, stepfunctions.LambdaError(err)
	}
	return json.Marshal(result)
}

// publish is the sns:publish integration as role: the message, and the output
// Step Functions returns.
func (a *Account) publish(ctx context.Context, log *slog.Logger, role string, call stepfunctions.TaskCall) (Notification, json.RawMessage, error) {
	var in struct {
		TopicArn, Subject, Message string
	}
	if err := json.Unmarshal(call.Input, &in); err != nil {
		return Notification{}, nil, fmt.Errorf("state %s: decode sns:publish parameters: %w", call.State, err)
	}
	if in.TopicArn != a.Contract.TopicArn {
		return Notification{}, nil, &stepfunctions.TaskError{Name: "SNS.NotFoundException", Cause: "Topic does not exist: " + in.TopicArn}
	}
	// The state machine's role publishes to the KMS-encrypted topic.
	if err := a.authorize(role, "SNS", "Publish",
		iam.Request{Action: "sns:Publish", Resource: in.TopicArn},
		iam.Request{Action: "kms:GenerateDataKey", Resource: a.Contract.KMSKeyArn},
	); err != nil {
		return Notification{}, nil, &stepfunctions.TaskError{Name: "SNS.AuthorizationErrorException", Cause: err.Error()}
	}
	log.WarnContext(ctx, "notification published", "topic", in.TopicArn, "subject", in.Subject)
	a.published.Add(1)
	out, err := json.Marshal(map[string]string{"MessageId": fmt.Sprintf("offline-%d", a.published.Load())})
	return Notification{TopicArn: in.TopicArn, Subject: in.Subject, Message: in.Message, At: time.Now().UTC()}, out, err
}

// ApplyLakeAdmins adds the contract's data lake administrators to lf's, keeping the
// account's own, as the stack's DataLakeSettings (MutationType APPEND) does.
func ApplyLakeAdmins(ctx context.Context, c *contract.Contract, lf *lflocal.Service) error {
	if len(c.LakeAdmins) == 0 {
		return nil
	}
	cur, err := lf.GetDataLakeSettings(ctx, &lakeformation.GetDataLakeSettingsInput{})
	if err != nil {
		return err
	}
	s := cur.DataLakeSettings
	for _, a := range c.LakeAdmins {
		if !slices.ContainsFunc(s.DataLakeAdmins, func(p lftypes.DataLakePrincipal) bool { return aws.ToString(p.DataLakePrincipalIdentifier) == a }) {
			s.DataLakeAdmins = append(s.DataLakeAdmins, lftypes.DataLakePrincipal{DataLakePrincipalIdentifier: aws.String(a)})
		}
	}
	if _, err := lf.PutDataLakeSettings(ctx, &lakeformation.PutDataLakeSettingsInput{DataLakeSettings: s}); err != nil {
		return fmt.Errorf("add the stack's data lake administrators %v: %w", c.LakeAdmins, err)
	}
	return nil
}
