package offline

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/glue"

	archiverun "github.com/snaplake/snaplake/internal/archive/run"
	"github.com/snaplake/snaplake/internal/deploy"
	"github.com/snaplake/snaplake/internal/local/contract"
	gluelocal "github.com/snaplake/snaplake/internal/local/glue"
	"github.com/snaplake/snaplake/internal/local/iam"
	"github.com/snaplake/snaplake/internal/local/stepfunctions"
	"github.com/snaplake/snaplake/statemachines"
)

// ArchiveConfig describes the offline retention archiving: the contract's archive
// part, bound to stand-ins through the account's IAM.
type ArchiveConfig struct {
	Account *Account
	// Catalog is the Glue Data Catalog, shared with the nightly export's.
	Catalog *gluelocal.Catalog
	// MySQLEndpoint (host:port) replaces the deployed MYSQL_ENDPOINT; Secret is the
	// archiving user's secret.
	MySQLEndpoint string
	Secret        Secret
	// InvocationTimeout is each table invocation's deadline, as Lambda's timeout
	// gives it (zero: none, so a table completes in one invocation);
	// BudgetMargin replaces the deployed margin before it (zero: the contract's).
	InvocationTimeout, BudgetMargin time.Duration
	NodeModules                     string
	RetryInterval                   time.Duration
	Log                             *slog.Logger
	Observe                         func(Observation)
}

// Archive is the offline retention archiving: the archive state machine run by the
// local interpreter with the real handlers, each as its deployed role.
type Archive struct {
	cfg        ArchiveConfig
	c          *contract.Archive
	definition []byte
	Runner     *stepfunctions.Runner
	workflow
}

// NewArchive wires the contract's archive.
func NewArchive(cfg ArchiveConfig) (*Archive, error) {
	acct := cfg.Account
	if acct == nil || acct.Contract.Archive == nil {
		return nil, errors.New("offline archive: the contract deploys no archive (context snaplake:archive)")
	}
	if cfg.Log == nil {
		cfg.Log = slog.Default()
	}
	c := acct.Contract.Archive
	def, err := statemachines.Render(statemachines.Archive, c.DefinitionSubstitutions)
	if err != nil {
		return nil, err
	}
	p := &Archive{cfg: cfg, c: c, definition: def, workflow: newWorkflow(acct, deploy.RoleArchiveMachine, cfg.Log)}
	// What the stack creates: the archive databases.
	for _, db := range c.Databases {
		if err := cfg.Catalog.CreateDatabase(db); err != nil {
			return nil, err
		}
	}
	fn := func(name string) contract.Function { return acct.Contract.Functions[name] }
	envOf := func(name string) func(string) string {
		env := maps.Clone(fn(name).Environment)
		if cfg.MySQLEndpoint != "" {
			env[deploy.EnvMySQLEndpoint] = cfg.MySQLEndpoint
		}
		if cfg.BudgetMargin > 0 {
			env[deploy.EnvArchiveBudgetMargin] = fmt.Sprint(int((cfg.BudgetMargin + time.Second - 1) / time.Second))
		}
		return func(k string) string { return env[k] }
	}
	logFor := func(name string) *slog.Logger { return cfg.Log.With("function", name) }
	glueSvc := &gluelocal.Service{Catalog: cfg.Catalog, Account: acct.Contract.Account, Region: acct.Contract.Region}
	plan, err := archiverun.NewArchivePlan(envOf(deploy.FnArchivePlan), archiverun.Clients{
		S3: acct.S3(deploy.FnArchivePlan), Secrets: acct.Secrets(deploy.FnArchivePlan, cfg.Secret),
	}, logFor(deploy.FnArchivePlan))
	if err != nil {
		return nil, fmt.Errorf("archiveplan's deployed environment: %w", err)
	}
	table, err := archiverun.NewArchiveTable(envOf(deploy.FnArchiveTable), archiverun.Clients{
		S3: acct.S3(deploy.FnArchiveTable), Secrets: acct.Secrets(deploy.FnArchiveTable, cfg.Secret),
		Glue: guardedArchiveCatalog{a: acct, principal: deploy.FnArchiveTable, next: glueSvc},
	}, logFor(deploy.FnArchiveTable))
	if err != nil {
		return nil, fmt.Errorf("archivetable's deployed environment: %w", err)
	}
	p.handlers[fn(deploy.FnArchivePlan).Arn] = plan
	p.handlers[fn(deploy.FnArchiveTable).Arn] = func(ctx context.Context, payload json.RawMessage) (any, error) {
		// Lambda gives each invocation its timeout as the context's deadline.
		if cfg.InvocationTimeout > 0 {
			var cancel context.CancelFunc
			ctx, cancel = context.WithTimeout(ctx, cfg.InvocationTimeout)
			defer cancel()
		}
		return table(ctx, payload)
	}
	p.Runner = &stepfunctions.Runner{NodeModules: cfg.NodeModules, Tasks: p.task, RetryInterval: cfg.RetryInterval,
		StateMachineArn: c.StateMachineArn, Log: cfg.Log.With("component", "stepfunctions")}
	return p, nil
}

// Definition is the archive state machine as the runner executes it.
func (p *Archive) Definition() []byte { return p.definition }

// Run starts one execution as the archive's schedule would (input {} archives
// every configured table; {"table": "db.t"} one), and waits for its end.
func (p *Archive) Run(ctx context.Context, input string, at time.Time) (stepfunctions.Result, error) {
	s := p.c.Schedule
	// Scheduler starts the execution as the schedule's role.
	if err := p.acct.authorize(deploy.RoleArchiveScheduler, "SFN", "StartExecution", iam.Request{Action: "states:StartExecution", Resource: s.TargetArn}); err != nil {
		return stepfunctions.Result{}, err
	}
	if s.TargetArn != p.c.StateMachineArn {
		return stepfunctions.Result{}, fmt.Errorf("schedule %s targets %s, not the archive state machine", s.Name, s.TargetArn)
	}
	e, err := p.Runner.StartAt(ctx, s.Name+"-"+at.UTC().Format("20060102T150405Z"), p.definition, []byte(input), at)
	if err != nil {
		return stepfunctions.Result{}, err
	}
	p.observe(Observation{Kind: "execution-started", Execution: e.ARN()})
	res, err := e.Wait()
	p.observe(Observation{Kind: "execution-ended", Execution: e.ARN(), Result: &res, Err: err})
	return res, err
}

func (p *Archive) observe(o Observation) {
	if p.cfg.Observe != nil {
		p.cfg.Observe(o)
	}
}

// task routes one Task state of the archive workflow: its functions and the topic.
func (p *Archive) task(ctx context.Context, call stepfunctions.TaskCall) (out json.RawMessage, err error) {
	start := time.Now()
	p.observe(Observation{Kind: "task-start", State: call.State, Execution: call.Execution})
	defer func() {
		p.observe(Observation{Kind: "task-end", State: call.State, Execution: call.Execution, Duration: time.Since(start), Output: out, Err: err})
	}()
	if out, handled, err := p.commonTask(ctx, call); handled {
		return out, err
	}
	return nil, noStandIn(call)
}

// guardedArchiveCatalog is the Glue catalog as the table function calls it: Glue
// authorizes a table call on the catalog, the database and the table.
type guardedArchiveCatalog struct {
	a         *Account
	principal string
	next      *gluelocal.Service
}

func (g guardedArchiveCatalog) reqs(action, db, table string) []iam.Request {
	return []iam.Request{
		{Action: action, Resource: g.a.arn("glue", "catalog")},
		{Action: action, Resource: g.a.arn("glue", "database/"+db)},
		{Action: action, Resource: g.a.arn("glue", "table/"+db+"/"+table)},
	}
}

func (g guardedArchiveCatalog) GetTable(ctx context.Context, in *glue.GetTableInput, optFns ...func(*glue.Options)) (*glue.GetTableOutput, error) {
	if err := g.a.authorize(g.principal, "Glue", "GetTable", g.reqs("glue:GetTable", aws.ToString(in.DatabaseName), aws.ToString(in.Name))...); err != nil {
		return nil, err
	}
	return g.next.GetTable(ctx, in, optFns...)
}

func (g guardedArchiveCatalog) CreateTable(ctx context.Context, in *glue.CreateTableInput, optFns ...func(*glue.Options)) (*glue.CreateTableOutput, error) {
	if err := g.a.authorize(g.principal, "Glue", "CreateTable", g.reqs("glue:CreateTable", aws.ToString(in.DatabaseName), aws.ToString(in.TableInput.Name))...); err != nil {
		return nil, err
	}
	return g.next.CreateTable(ctx, in, optFns...)
}

func (g guardedArchiveCatalog) UpdateTable(ctx context.Context, in *glue.UpdateTableInput, optFns ...func(*glue.Options)) (*glue.UpdateTableOutput, error) {
	if err := g.a.authorize(g.principal, "Glue", "UpdateTable", g.reqs("glue:UpdateTable", aws.ToString(in.DatabaseName), aws.ToString(in.TableInput.Name))...); err != nil {
		return nil, err
	}
	return g.next.UpdateTable(ctx, in, optFns...)
}

func (g guardedArchiveCatalog) BatchCreatePartition(ctx context.Context, in *glue.BatchCreatePartitionInput, optFns ...func(*glue.Options)) (*glue.BatchCreatePartitionOutput, error) {
	if err := g.a.authorize(g.principal, "Glue", "BatchCreatePartition", g.reqs("glue:BatchCreatePartition", aws.ToString(in.DatabaseName), aws.ToString(in.TableName))...); err != nil {
		return nil, err
	}
	return g.next.BatchCreatePartition(ctx, in, optFns...)
}
