package offline

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	neturl "net/url"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/snaplake/snaplake/internal/aws/lambdamain"
	"github.com/snaplake/snaplake/internal/deploy"
	"github.com/snaplake/snaplake/internal/federate"
	"github.com/snaplake/snaplake/internal/federate/redshift"
	federaterun "github.com/snaplake/snaplake/internal/federate/run"
	"github.com/snaplake/snaplake/internal/local/contract"
	"github.com/snaplake/snaplake/internal/local/iam"
	"github.com/snaplake/snaplake/internal/local/stepfunctions"
	"github.com/snaplake/snaplake/statemachines"
)

// FederateConfig describes the offline Federator: the contract's functions and
// workflows, with PostgreSQL databases standing in for the deployed warehouses.
type FederateConfig struct {
	Account *Account
	// Warehouses maps each warehouse URL the config names (postgres://...) to the
	// deployed warehouse's ARN it stands in for: the functions' Data API calls are
	// authorized on it.
	Warehouses map[string]string
	// SignInAsRole are the warehouse URLs whose deployed warehouse the functions sign
	// into as their IAM identity (no secret, no db user): there each function is the
	// database user IAMR:<its role name> (the stack's FederateDatabaseUsers output),
	// created at its first sign-in without privileges, as Redshift does; it holds
	// only what was granted to it.
	SignInAsRole  map[string]bool
	NodeModules   string
	RetryInterval time.Duration
	// FunctionTimeout is each invocation's deadline, as Lambda's timeout (default the
	// deployed 15 minutes): a handler still running then fails its Task state with
	// Lambda.Unknown, as Step Functions reports a timed-out function.
	FunctionTimeout time.Duration
	// EventRules routes the stack's event rules on the account's bus: a transform's
	// event (PutEvents) starts publish, a published manifest subscribe. Off, only Run
	// (the schedules) starts the workflows.
	EventRules bool
	Log        *slog.Logger
}

// Federate is the offline Federator: both workflows run by the local interpreter
// with the real handlers, each function as its role, the warehouses' UNLOAD and COPY
// reaching S3 as the warehouse role.
type Federate struct {
	cfg       FederateConfig
	c         *contract.Federate
	publish   []byte
	subscribe []byte
	Runner    *stepfunctions.Runner
	// Statements are the warehouses' UNLOADs and COPYs: the stand-in holds them
	// across invocations, as Redshift holds a Data API statement.
	Statements *redshift.Statements
	owners     sync.Map
	// workflow holds the handlers and the notifications.
	workflow
	// items run the federate-item executions the workflows start for each item
	// (startExecution.sync:2), as the item workflows' role, with the same handlers.
	items  *workflow
	nested *stepfunctions.Nested
	// events are the executions the event rules started.
	events eventRuns
}

// NewFederate wires the contract's Federator.
func NewFederate(cfg FederateConfig) (*Federate, error) {
	acct := cfg.Account
	if acct == nil || acct.Contract.Federate == nil {
		return nil, errors.New("offline federate: the contract deploys no Federator (context snaplake:federate)")
	}
	if cfg.Log == nil {
		cfg.Log = slog.Default()
	}
	c := acct.Contract.Federate
	f := &Federate{cfg: cfg, c: c, workflow: newWorkflow(acct, deploy.RoleFederateMachine, cfg.Log), Statements: redshift.NewStatements()}
	var err error
	if f.publish, err = statemachines.Render(statemachines.FederatePublish, c.PublishSubstitutions); err != nil {
		return nil, err
	}
	if f.subscribe, err = statemachines.Render(statemachines.FederateSubscribe, c.SubscribeSubstitutions); err != nil {
		return nil, err
	}
	// Each handler is built by its function's constructor, as its main builds it: from
	// its deployed environment (WAREHOUSE_ROLE_ARN included), calling AWS as its role.
	for _, name := range deploy.FederateFunctions {
		fn := acct.Contract.Functions[name]
		build := federaterun.NewPublish
		if name == deploy.FnSubscribe {
			build = federaterun.NewSubscribe
		}
		h, err := build(fn.Getenv, federaterun.PublishClients{S3: acct.S3(name), Warehouses: f.opener(name), Identity: f.identity(name)}, cfg.Log.With("function", name))
		if err != nil {
			return nil, fmt.Errorf("%s's deployed environment: %w", name, err)
		}
		f.handlers[fn.Arn] = withTimeout(h, cfg.FunctionTimeout)
	}
	f.Runner = &stepfunctions.Runner{NodeModules: cfg.NodeModules, Tasks: f.task, RetryInterval: cfg.RetryInterval, Log: cfg.Log.With("component", "stepfunctions")}
	// Each item runs as an execution of a federate-item state machine of its own
	// (one per function), as its role; Step Functions makes the nested executions'
	// calls as the workflows' role.
	items := newWorkflow(acct, deploy.RoleFederateItemMachine, cfg.Log)
	items.handlers = f.handlers
	f.items = &items
	f.nested = &stepfunctions.Nested{Authorize: func(ctx context.Context, action, resource string) error {
		service, op, _ := strings.Cut(action, ":")
		return f.acct.authorize(deploy.RoleFederateMachine, service, op, iam.Request{Action: action, Resource: resource})
	}}
	if len(c.ItemStateMachines) == 0 {
		return nil, errors.New("offline federate: the contract has no federate-item state machines (regenerate it: make contract)")
	}
	for arn, subs := range c.ItemStateMachines {
		def, err := statemachines.Render(statemachines.FederateItem, subs)
		if err != nil {
			return nil, fmt.Errorf("item state machine %s: %w", arn, err)
		}
		f.nested.Add(arn, def, &stepfunctions.Runner{NodeModules: cfg.NodeModules, Tasks: f.itemTask, RetryInterval: cfg.RetryInterval, Log: cfg.Log.With("component", "stepfunctions", "machine", arn)})
	}
	if cfg.EventRules {
		if err := f.addRules(); err != nil {
			return nil, fmt.Errorf("offline federate: the stack's event rules: %w", err)
		}
	}
	return f, nil
}

// opener opens a warehouse for a function: its Data API calls are authorized as the
// function on the warehouse it stands in for, and its UNLOAD and COPY reach S3 as
// the warehouse role.
func (f *Federate) opener(principal string) federaterun.Opener {
	return func(ctx context.Context, url string, deps redshift.Deps) (redshift.Warehouse, error) {
		arn, ok := f.cfg.Warehouses[url]
		if !ok {
			return nil, fmt.Errorf("warehouse %s is not one the stack deploys (snaplake:federate warehouses)", url)
		}
		if f.cfg.SignInAsRole[url] {
			var err error
			if url, err = f.signInAsRole(ctx, url, principal); err != nil {
				return nil, err
			}
		}
		// deps carry the function's key and bucket Region, as its constructor passes
		// them from its environment. The stand-in is in its warehouse's Region (its
		// ARN's), the lake bucket in the stack's: a warehouse of another Region reaches
		// the bucket only with REGION, as in AWS. Its UNLOAD and COPY reach S3 as the
		// warehouse role.
		deps.S3 = f.acct.S3(deploy.RoleFederateWarehouse)
		// The statements outlive the invocation that submits them: the stand-in
		// "service" (f.Statements) holds them, as Redshift does.
		deps.Postgres = []redshift.PostgresOption{redshift.WithWarehouseRegion(arnRegion(arn)), redshift.WithBucketRegion(f.acct.Contract.Region),
			redshift.WithStatements(f.Statements)}
		wh, err := redshift.Open(ctx, url, deps)
		if err != nil {
			return nil, err
		}
		return guardedWarehouse{Warehouse: wh, a: f.acct, principal: principal, arn: arn, owners: &f.owners}, nil
	}
}

// arnRegion is the Region field of an ARN (arn:partition:service:region:...), "" when
// it has none.
func arnRegion(arn string) string {
	if parts := strings.SplitN(arn, ":", 5); len(parts) == 5 && parts[0] == "arn" {
		return parts[3]
	}
	return ""
}

// signInAsRole returns url signed in as the function's IAM database user, which it
// creates (without privileges) at the first sign-in, as Redshift creates the user of
// an IAM identity.
func (f *Federate) signInAsRole(ctx context.Context, url, function string) (string, error) {
	var users map[string]string
	if err := json.Unmarshal([]byte(f.acct.Contract.Outputs[deploy.OutputFederateDatabaseUsers]), &users); err != nil || users[function] == "" {
		return "", fmt.Errorf("the contract's %s output names no database user for %s (%v)", deploy.OutputFederateDatabaseUsers, function, err)
	}
	user := users[function]
	admin, err := redshift.Open(ctx, url, redshift.Deps{S3: f.acct.S3(deploy.RoleFederateWarehouse)})
	if err != nil {
		return "", err
	}
	defer admin.Close()
	quoted := `"` + strings.ReplaceAll(user, `"`, `""`) + `"`
	if err := admin.Exec(ctx, "DO $$ BEGIN CREATE ROLE "+quoted+" LOGIN; EXCEPTION WHEN duplicate_object OR unique_violation THEN NULL; END $$"); err != nil {
		return "", fmt.Errorf("create the database user %s of %s's IAM sign-in: %w", user, function, err)
	}
	u, err := neturl.Parse(url)
	if err != nil {
		return "", err
	}
	u.User = neturl.User(user)
	return u.String(), nil
}

// guardedWarehouse authorizes each statement as the Data API would: one statement is
// ExecuteStatement, several in one transaction BatchExecuteStatement, on the
// warehouse's ARN.
type guardedWarehouse struct {
	redshift.Warehouse
	a         *Account
	principal string
	arn       string
	owners    *sync.Map // statement id -> the aws:userid that submitted it
}

func (g guardedWarehouse) authorize(action string) error {
	return g.a.authorize(g.principal, "Redshift Data", action[len("redshift-data:"):], iam.Request{Action: action, Resource: g.arn})
}

// readResult authorizes the GetStatementResult the Data API implementation makes to
// read a query's rows (every query it runs has a result set, "The result set can be
// empty", API DescribeStatement): on "*", the statement the caller's own.
func (g guardedWarehouse) readResult() error {
	req := iam.Request{Action: "redshift-data:GetStatementResult", Resource: "*", Context: map[string][]string{
		"aws:userid": {g.userid()}, "redshift-data:statement-owner-iam-userid": {g.userid()}}}
	return g.a.authorize(g.principal, "Redshift Data", "GetStatementResult", req)
}

func (g guardedWarehouse) Columns(ctx context.Context, schema, table string) ([]redshift.Column, error) {
	if err := g.authorize("redshift-data:ExecuteStatement"); err != nil {
		return nil, err
	}
	cols, err := g.Warehouse.Columns(ctx, schema, table)
	if err == nil {
		err = g.readResult()
	}
	return cols, err
}

func (g guardedWarehouse) Stats(ctx context.Context, schema, table, ins, upd string) (redshift.Stats, error) {
	if err := g.authorize("redshift-data:ExecuteStatement"); err != nil {
		return redshift.Stats{}, err
	}
	st, err := g.Warehouse.Stats(ctx, schema, table, ins, upd)
	if err == nil {
		err = g.readResult()
	}
	return st, err
}

func (g guardedWarehouse) SubmitUnload(ctx context.Context, token, query, prefix string) (string, error) {
	if err := g.authorize("redshift-data:ExecuteStatement"); err != nil {
		return "", err
	}
	id, err := g.Warehouse.SubmitUnload(ctx, token, query, prefix)
	g.owners.Store(id, g.userid())
	return id, err
}

func (g guardedWarehouse) SubmitCopy(ctx context.Context, token, schema, table string, files []redshift.File) (string, error) {
	if err := g.authorize("redshift-data:ExecuteStatement"); err != nil {
		return "", err
	}
	id, err := g.Warehouse.SubmitCopy(ctx, token, schema, table, files)
	g.owners.Store(id, g.userid())
	return id, err
}

// SubmitExec is ExecuteStatement for one statement, BatchExecuteStatement for
// several, on the warehouse's ARN; the statement is the caller's.
func (g guardedWarehouse) SubmitExec(ctx context.Context, token string, stmts ...string) (string, error) {
	action := "redshift-data:ExecuteStatement"
	if len(stmts) > 1 {
		action = "redshift-data:BatchExecuteStatement"
	}
	if err := g.authorize(action); err != nil {
		return "", err
	}
	id, err := g.Warehouse.SubmitExec(ctx, token, stmts...)
	g.owners.Store(id, g.userid())
	return id, err
}

// userid is the function's aws:userid: its role's unique id and the session name,
// which Lambda sets to the function's name. The stack's policy lets any session of
// the role act on the role's statements (StringLike "<role id>:*"), so the session
// name does not matter; SessionUserID makes another one.
func (g guardedWarehouse) userid() string {
	return functionUserID(g.a, g.principal)
}

func functionUserID(a *Account, function string) string {
	return a.Contract.Functions[function].Role.ID + ":" + function
}

// identity is what STS GetCallerIdentity answers the function: its aws:userid and
// its assumed role's ARN (GetCallerIdentity needs no permission).
func (f *Federate) identity(function string) func(context.Context) (federate.Identity, error) {
	return func(context.Context) (federate.Identity, error) {
		fn := f.acct.Contract.Functions[function]
		return federate.Identity{UserID: functionUserID(f.acct, function),
			Arn: "arn:aws:sts::" + f.acct.Contract.Account + ":assumed-role/" + fn.Role.Name + "/" + fn.Name}, nil
	}
}

// OwnStatement records id as submitted by userid, as the Data API keeps a
// statement's owner (a test makes a statement of another identity with it).
func (f *Federate) OwnStatement(id, userid string) { f.owners.Store(id, userid) }

// ownerRequest is a request on a statement: "*", with the statement's owner (the
// aws:userid that submitted it) and the caller's aws:userid.
func (g guardedWarehouse) ownerRequest(action, id string) iam.Request {
	ctx := map[string][]string{"aws:userid": {g.userid()}}
	if owner, ok := g.owners.Load(id); ok {
		ctx["redshift-data:statement-owner-iam-userid"] = []string{owner.(string)}
	}
	return iam.Request{Action: action, Resource: "*", Context: ctx}
}

// Describe and Cancel have no resource type: IAM authorizes them on "*", limited by
// redshift-data:statement-owner-iam-userid (Service Authorization Reference, Amazon
// Redshift Data API).
func (g guardedWarehouse) Describe(ctx context.Context, id string) (redshift.Statement, error) {
	if err := g.a.authorize(g.principal, "Redshift Data", "DescribeStatement", g.ownerRequest("redshift-data:DescribeStatement", id)); err != nil {
		return redshift.Statement{}, err
	}
	return g.Warehouse.Describe(ctx, id)
}

func (g guardedWarehouse) Cancel(ctx context.Context, id string) error {
	if err := g.a.authorize(g.principal, "Redshift Data", "CancelStatement", g.ownerRequest("redshift-data:CancelStatement", id)); err != nil {
		return err
	}
	return g.Warehouse.Cancel(ctx, id)
}

func (g guardedWarehouse) Exec(ctx context.Context, stmts ...string) error {
	action := "redshift-data:ExecuteStatement"
	if len(stmts) > 1 {
		action = "redshift-data:BatchExecuteStatement"
	}
	if err := g.authorize(action); err != nil {
		return err
	}
	return g.Warehouse.Exec(ctx, stmts...)
}

func (g guardedWarehouse) Query(ctx context.Context, stmt string) ([][]*string, error) {
	if err := g.authorize("redshift-data:ExecuteStatement"); err != nil {
		return nil, err
	}
	rows, err := g.Warehouse.Query(ctx, stmt)
	if err == nil {
		err = g.readResult()
	}
	return rows, err
}

// Run starts one execution of the publish or subscribe workflow as its schedule
// would (as the scheduler's role) and waits for it.
func (f *Federate) Run(ctx context.Context, workflow string, at time.Time) (stepfunctions.Result, error) {
	def, arn := f.publish, f.c.PublishStateMachineArn
	if workflow == deploy.FnSubscribe {
		def, arn = f.subscribe, f.c.SubscribeStateMachineArn
	}
	if err := f.acct.authorize(deploy.RoleFederateScheduler, "SFN", "StartExecution", iam.Request{Action: "states:StartExecution", Resource: arn}); err != nil {
		return stepfunctions.Result{}, err
	}
	input, _ := json.Marshal(map[string]string{"scheduledTime": at.UTC().Format(time.RFC3339)})
	e, err := f.Runner.StartAt(ctx, workflow+"-"+at.UTC().Format("20060102T150405Z"), def, input, at)
	if err != nil {
		return stepfunctions.Result{}, err
	}
	return e.Wait()
}

func (f *Federate) task(ctx context.Context, call stepfunctions.TaskCall) (json.RawMessage, error) {
	if call.Resource == stepfunctions.ResourceStartExecutionSync2 {
		return f.nested.Run(ctx, call)
	}
	if out, handled, err := f.commonTask(ctx, call); handled {
		return out, err
	}
	return nil, noStandIn(call)
}

// ItemExecutions are the federate-item executions the workflows started, in order.
func (f *Federate) ItemExecutions() []*stepfunctions.Execution { return f.nested.Executions() }

// itemTask serves the federate-item executions' Task states, as their role.
func (f *Federate) itemTask(ctx context.Context, call stepfunctions.TaskCall) (json.RawMessage, error) {
	if out, handled, err := f.items.commonTask(ctx, call); handled {
		return out, err
	}
	return nil, noStandIn(call)
}

// withTimeout gives each invocation of h Lambda's deadline: its context ends at
// timeout, and a handler still running then fails the Task state as Step Functions
// reports a timed-out function: Lambda.Unknown, not the function's errorType
// Sandbox.Timedout (stepfunctions.LambdaTimeout).
func withTimeout(h lambdamain.Func, timeout time.Duration) lambdamain.Func {
	if timeout <= 0 {
		timeout = 15 * time.Minute
	}
	var invocations atomic.Int64
	return func(ctx context.Context, payload json.RawMessage) (any, error) {
		ctx, cancel := context.WithTimeout(ctx, timeout)
		defer cancel()
		out, err := h(ctx, payload)
		if errors.Is(ctx.Err(), context.DeadlineExceeded) {
			return nil, stepfunctions.LambdaTimeout(timeout, fmt.Sprintf("offline-%d", invocations.Add(1)))
		}
		return out, err
	}
}
