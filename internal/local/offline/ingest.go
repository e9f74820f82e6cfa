package offline

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"net"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/glue"
	gluetypes "github.com/aws/aws-sdk-go-v2/service/glue/types"
	"github.com/aws/aws-sdk-go-v2/service/lakeformation"
	lftypes "github.com/aws/aws-sdk-go-v2/service/lakeformation/types"
	schedtypes "github.com/aws/aws-sdk-go-v2/service/scheduler/types"
	"github.com/aws/smithy-go"

	"github.com/snaplake/snaplake/internal/deploy"
	"github.com/snaplake/snaplake/internal/ingest"
	ingestrun "github.com/snaplake/snaplake/internal/ingest/run"
	"github.com/snaplake/snaplake/internal/local/contract"
	gluelocal "github.com/snaplake/snaplake/internal/local/glue"
	"github.com/snaplake/snaplake/internal/local/iam"
	lflocal "github.com/snaplake/snaplake/internal/local/lakeformation"
	schedlocal "github.com/snaplake/snaplake/internal/local/scheduler"
	"github.com/snaplake/snaplake/internal/local/stepfunctions"
	"github.com/snaplake/snaplake/statemachines"
)

// IngestConfig describes the offline ingestion: the contract's ingest part, bound
// to stand-ins through the account's IAM.
type IngestConfig struct {
	Account *Account
	// Catalog is the Glue Data Catalog, shared with the nightly export's crawlers.
	Catalog *gluelocal.Catalog
	// LakeFormation holds the grants (its file is what `snaplake query --as` reads).
	LakeFormation *lflocal.Service
	// MySQLEndpoint (host:port) replaces the deployed MYSQL_ENDPOINT and the job's
	// JDBC host; Secret is the source's credentials secret.
	MySQLEndpoint string
	Secret        Secret
	NodeModules   string
	RetryInterval time.Duration
	// CrawlPoll and CrawlTimeout replace the deployed pace and bound of the wait for
	// the crawl (zero: the contract's), which no test or demo can sit through.
	CrawlPoll, CrawlTimeout time.Duration
	Log                     *slog.Logger
	Observe                 func(Observation)
}

// Ingest is the offline ingestion: the ingest state machine run by the local
// interpreter with the real handlers, the Glue job played by the Go loader as the
// job's role, the crawlers, the Scheduler and Lake Formation stand-ins.
type Ingest struct {
	cfg        IngestConfig
	c          *contract.Ingest
	definition []byte
	Runner     *stepfunctions.Runner
	Glue       *gluelocal.Service // the ingest crawlers, crawling as their role
	Jobs       *gluelocal.Jobs
	Scheduler  *schedlocal.Service
	// workflow holds the handlers and the notifications.
	workflow
}

// NewIngest wires the contract's ingestion.
func NewIngest(cfg IngestConfig) (*Ingest, error) {
	acct := cfg.Account
	if acct == nil || acct.Contract.Ingest == nil {
		return nil, errors.New("offline ingest: the contract deploys no ingestion (context snaplake:ingest)")
	}
	if cfg.Log == nil {
		cfg.Log = slog.Default()
	}
	c := acct.Contract.Ingest
	def, err := statemachines.Render(statemachines.Ingest, c.DefinitionSubstitutions)
	if err != nil {
		return nil, err
	}
	p := &Ingest{cfg: cfg, c: c, definition: def, workflow: newWorkflow(acct, deploy.RoleIngestMachine, cfg.Log)}

	// What the stack creates: the Glue database, the crawlers, the schedules and the
	// Lake Formation permissions of its own roles.
	for _, db := range []string{c.Database, c.Database + deploy.IngestCurrentSuffix} {
		if err := cfg.Catalog.CreateDatabase(db); err != nil {
			return nil, err
		}
	}
	// Lake Formation grants on what the account's catalog holds, and on nothing else.
	cfg.LakeFormation.SetCatalog(cfg.Catalog)
	p.Glue = &gluelocal.Service{S3: acct.S3(deploy.RoleIngestCrawler), Catalog: cfg.Catalog, Log: cfg.Log.With("component", "glue-ingest"),
		Account: acct.Contract.Account, Region: acct.Contract.Region}
	for _, cr := range c.Crawlers {
		lc := gluelocal.Crawler{Name: cr.Name, Role: cr.RoleArn, Database: cr.Database, Configuration: cr.Configuration,
			SchemaChangePolicy: gluelocal.SchemaChangePolicyOf(cr.DeleteBehavior, cr.UpdateBehavior)}
		for _, t := range cr.Targets {
			lc.Targets = append(lc.Targets, t.Path)
		}
		p.Glue.Crawlers = append(p.Glue.Crawlers, lc)
	}
	var defs []schedlocal.Schedule
	for _, s := range c.Schedules {
		defs = append(defs, schedlocal.Schedule{Name: s.Name, Group: s.Group, Expression: s.Expression, TimeZone: s.TimeZone,
			State: schedtypes.ScheduleState(s.State), FlexibleTimeWindow: schedtypes.FlexibleTimeWindowModeOff,
			Target: schedlocal.Target{Arn: s.TargetArn, RoleArn: s.RoleArn, Input: s.Input}})
	}
	if p.Scheduler, err = schedlocal.New(defs...); err != nil {
		return nil, fmt.Errorf("the contract's schedules: %w", err)
	}
	if err := p.grantStackPermissions(context.Background()); err != nil {
		return nil, err
	}

	fn := func(name string) contract.Function { return acct.Contract.Functions[name] }
	// A function's deployed environment, with the test's source endpoint and crawl
	// pace in the variables the function reads them from.
	envOf := func(name string) func(string) string {
		env := maps.Clone(fn(name).Environment)
		if _, ok := env[deploy.EnvMySQLEndpoint]; ok && cfg.MySQLEndpoint != "" {
			env[deploy.EnvMySQLEndpoint] = cfg.MySQLEndpoint
		}
		if name == deploy.FnReconfigure {
			setSeconds(env, deploy.EnvCrawlPollSeconds, cfg.CrawlPoll)
			setSeconds(env, deploy.EnvCrawlTimeoutSeconds, cfg.CrawlTimeout)
		}
		return func(k string) string { return env[k] }
	}
	logFor := func(name string) *slog.Logger { return cfg.Log.With("function", name) }

	// Each handler is built by its function's constructor, as its main builds it.
	reconfigure, err := ingestrun.NewReconfigure(envOf(deploy.FnReconfigure), ingestrun.ReconfigureClients{
		S3: acct.S3(deploy.FnReconfigure), Glue: acct.Glue(deploy.FnReconfigure, p.Glue),
		Secrets: acct.Secrets(deploy.FnReconfigure, cfg.Secret), Scheduler: acct.Scheduler(deploy.FnReconfigure, p.Scheduler),
	}, logFor(deploy.FnReconfigure))
	if err != nil {
		return nil, fmt.Errorf("reconfigure's deployed environment: %w", err)
	}
	finish, err := ingestrun.NewFinishIngest(envOf(deploy.FnFinishIngest), ingestrun.FinishIngestClients{
		S3: acct.S3(deploy.FnFinishIngest), Glue: acct.Catalog(deploy.FnFinishIngest, p.Glue),
	}, logFor(deploy.FnFinishIngest))
	if err != nil {
		return nil, fmt.Errorf("finishingest's deployed environment: %w", err)
	}
	applyGrants, err := ingestrun.NewApplyGrants(envOf(deploy.FnApplyGrants), ingestrun.ApplyGrantsClients{
		S3: acct.S3(deploy.FnApplyGrants), LF: acct.LakeFormation(deploy.FnApplyGrants, cfg.LakeFormation),
		Glue: acct.LatestCatalog(deploy.FnApplyGrants, p.Glue),
	}, logFor(deploy.FnApplyGrants))
	if err != nil {
		return nil, fmt.Errorf("applygrants' deployed environment: %w", err)
	}
	current, err := ingestrun.NewCurrent(envOf(deploy.FnIngestCurrent), ingestrun.IngestCurrentClients{
		S3: acct.S3(deploy.FnIngestCurrent), Glue: acct.Catalog(deploy.FnIngestCurrent, p.Glue),
		Secrets: acct.Secrets(deploy.FnIngestCurrent, cfg.Secret),
	}, logFor(deploy.FnIngestCurrent))
	if err != nil {
		return nil, fmt.Errorf("ingestcurrent's deployed environment: %w", err)
	}
	p.handlers[fn(deploy.FnIngestCurrent).Arn] = current
	p.handlers[fn(deploy.FnReconfigure).Arn] = reconfigure
	p.handlers[fn(deploy.FnFinishIngest).Arn] = finish
	p.handlers[fn(deploy.FnApplyGrants).Arn] = applyGrants

	// The Glue job, played by the Go loader with the script's semantics, as the job's
	// role: it reads its plan, the secret and the source, and writes raw/.
	jobS3 := acct.S3(deploy.RoleIngestJob)
	p.Jobs = gluelocal.NewJobs(gluelocal.Job{Name: c.Job.Name, Role: c.Job.RoleArn, MaxConcurrentRuns: c.Job.MaxConcurrentRuns,
		DefaultArguments: c.Job.DefaultArguments,
		Run: func(ctx context.Context, args map[string]string) error {
			for _, name := range ingest.JobArgumentNames() {
				if args["--"+name] == "" {
					return fmt.Errorf("the job's argument --%s is missing", name)
				}
			}
			host, err := jdbcHost(args[ingest.ArgJDBCURL])
			if err != nil {
				return err
			}
			db, err := ingestrun.MySQLFromSecret(acct.Secrets(deploy.RoleIngestJob, cfg.Secret), args[ingest.ArgSecretID], host)(ctx)
			if err != nil {
				return err
			}
			plan, err := ingestrun.ReadJobPlan(ctx, jobS3, args[ingest.ArgPlan])
			if err != nil {
				return err
			}
			if plan.Run != args[ingest.ArgRunID] {
				return fmt.Errorf("plan %s is of run %s, not %s", args[ingest.ArgPlan], plan.Run, args[ingest.ArgRunID])
			}
			l := &ingestrun.Loader{S3: jobS3, DB: db, Log: cfg.Log.With("component", "glue-job", "job", c.Job.Name)}
			return l.Load(ctx, plan)
		}})

	p.Runner = &stepfunctions.Runner{NodeModules: cfg.NodeModules, Tasks: p.task, RetryInterval: cfg.RetryInterval,
		StateMachineArn: c.StateMachineArn, Log: cfg.Log.With("component", "stepfunctions")}
	return p, nil
}

// setSeconds sets a seconds variable to d, rounded up to whole seconds (the unit
// the function reads), when d is set.
func setSeconds(env map[string]string, name string, d time.Duration) {
	if d > 0 {
		env[name] = strconv.Itoa(int((d + time.Second - 1) / time.Second))
	}
}

// jdbcHost is the host:port of a jdbc:mysql:// URL; as in the real job, where the
// JDBC URL names the source, the stand-in connects where it points.
func jdbcHost(jdbc string) (string, error) {
	u, err := url.Parse(strings.TrimPrefix(jdbc, "jdbc:"))
	if err != nil || u.Scheme != "mysql" || u.Host == "" {
		return "", fmt.Errorf("--jdbc_url %q is not jdbc:mysql://host:port/database", jdbc)
	}
	if _, _, err := net.SplitHostPort(u.Host); err != nil {
		return u.Host + ":3306", nil
	}
	return u.Host, nil
}

// grantStackPermissions gives the stack's roles the Lake Formation permissions its
// principal-permission resources give.
func (p *Ingest) grantStackPermissions(ctx context.Context) error {
	// The snapshot databases' permissions too (the grants function's grant options
	// there), for those the offline catalog holds: a deploy creates them with the
	// databases (CreateDatabases), which an ingest-only test does not.
	dbs, err := p.cfg.Catalog.Databases()
	if err != nil {
		return err
	}
	perms := slices.Clone(p.c.LakePermissions)
	for _, g := range p.cfg.Account.Contract.LakePermissions {
		if g.Location == "" && slices.Contains(dbs, g.Database) && g.Principal != deploy.IAMAllowedPrincipals {
			perms = append(perms, g)
		}
	}
	for _, g := range perms {
		res := &lftypes.Resource{}
		switch {
		case g.Location != "":
			// Data location permissions govern creating tables in the location; the
			// offline catalog does not check Lake Formation (see the README's "What
			// offline cannot prove").
			continue
		case g.Table == "*":
			res.Table = &lftypes.TableResource{DatabaseName: aws.String(g.Database), TableWildcard: &lftypes.TableWildcard{}}
		case g.Table != "":
			res.Table = &lftypes.TableResource{DatabaseName: aws.String(g.Database), Name: aws.String(g.Table)}
		default:
			res.Database = &lftypes.DatabaseResource{Name: aws.String(g.Database)}
		}
		in := &lakeformation.GrantPermissionsInput{Principal: &lftypes.DataLakePrincipal{DataLakePrincipalIdentifier: aws.String(g.Principal)}, Resource: res}
		for _, perm := range g.Permissions {
			in.Permissions = append(in.Permissions, lftypes.Permission(perm))
		}
		for _, perm := range g.Grantable {
			in.PermissionsWithGrantOption = append(in.PermissionsWithGrantOption, lftypes.Permission(perm))
		}
		if _, err := p.cfg.LakeFormation.GrantPermissions(ctx, in); err != nil {
			return fmt.Errorf("the stack's Lake Formation permission for %s: %w", g.Principal, err)
		}
	}
	return nil
}

// Definition is the ingest state machine as the runner executes it.
func (p *Ingest) Definition() []byte { return p.definition }

// Fire plays the Scheduler's clock from from to to: each schedule firing in (from,
// to] starts an execution as the scheduler's role, with the schedule's input and the
// firing time as its start time. It returns the executions, in firing order.
func (p *Ingest) Fire(ctx context.Context, from, to time.Time) ([]*stepfunctions.Execution, error) {
	var out []*stepfunctions.Execution
	for _, f := range p.Scheduler.Due(from, to) {
		e, err := p.start(ctx, f.Schedule, f.TargetArn, f.Input, f.At)
		if err != nil {
			return out, err
		}
		out = append(out, e)
	}
	return out, nil
}

// RunSet starts one execution of set at at, as its schedule would.
func (p *Ingest) RunSet(ctx context.Context, set string, at time.Time, force bool) (*stepfunctions.Execution, error) {
	for _, s := range p.c.Schedules {
		if s.Name == deploy.IngestScheduleName(set) {
			input := strings.ReplaceAll(s.Input, "<aws.scheduler.scheduled-time>", at.UTC().Format(time.RFC3339))
			if force {
				input = fmt.Sprintf(`{"set":%q,"force":true,"scheduledTime":%q}`, set, at.UTC().Format(time.RFC3339))
			}
			return p.start(ctx, s.Name, s.TargetArn, input, at)
		}
	}
	return nil, fmt.Errorf("the contract has no schedule for set %q", set)
}

func (p *Ingest) start(ctx context.Context, schedule, target, input string, at time.Time) (*stepfunctions.Execution, error) {
	// Scheduler starts the execution as the schedule's role.
	if err := p.acct.authorize(deploy.RoleIngestScheduler, "SFN", "StartExecution", iam.Request{Action: "states:StartExecution", Resource: target}); err != nil {
		return nil, err
	}
	if target != p.c.StateMachineArn {
		return nil, fmt.Errorf("schedule %s targets %s, not the ingest state machine", schedule, target)
	}
	name := schedule + "-" + at.UTC().Format("20060102T150405Z")
	e, err := p.Runner.StartAt(ctx, name, p.definition, []byte(input), at)
	if err != nil {
		return nil, err
	}
	p.observe(Observation{Kind: "execution-started", Execution: e.ARN()})
	return e, nil
}

func (p *Ingest) observe(o Observation) {
	if p.cfg.Observe != nil {
		p.cfg.Observe(o)
	}
}

// task routes one Task state of the ingest workflow.
func (p *Ingest) task(ctx context.Context, call stepfunctions.TaskCall) (out json.RawMessage, err error) {
	start := time.Now()
	p.observe(Observation{Kind: "task-start", State: call.State, Execution: call.Execution})
	defer func() {
		p.observe(Observation{Kind: "task-end", State: call.State, Execution: call.Execution, Duration: time.Since(start), Output: out, Err: err})
	}()
	if out, handled, err := p.commonTask(ctx, call); handled {
		return out, err
	}
	role := p.role
	switch call.Resource {
	case "arn:aws:states:::glue:startJobRun.sync":
		var in glue.StartJobRunInput
		if err := json.Unmarshal(call.Input, &in); err != nil {
			return nil, fmt.Errorf("state %s: decode glue:startJobRun parameters: %w", call.State, err)
		}
		job := p.acct.arn("glue", "job/"+aws.ToString(in.JobName))
		// The .sync integration starts the run, then polls it.
		if err := p.acct.authorize(role, "Glue", "StartJobRun", iam.Request{Action: "glue:StartJobRun", Resource: job}, iam.Request{Action: "glue:GetJobRun", Resource: job}); err != nil {
			return nil, &stepfunctions.TaskError{Name: "Glue.AccessDeniedException", Cause: err.Error()}
		}
		run, err := p.Jobs.RunSync(ctx, &in)
		if err != nil {
			return nil, glueTaskError(err)
		}
		b, err := json.Marshal(run)
		if err != nil {
			return nil, err
		}
		if run.JobRunState != gluetypes.JobRunStateSucceeded {
			return nil, &stepfunctions.TaskError{Name: "States.TaskFailed", Cause: string(b)}
		}
		return b, nil
	case "arn:aws:states:::aws-sdk:glue:startCrawler":
		var in glue.StartCrawlerInput
		if err := json.Unmarshal(call.Input, &in); err != nil {
			return nil, fmt.Errorf("state %s: decode glue:startCrawler parameters: %w", call.State, err)
		}
		if err := p.acct.authorize(role, "Glue", "StartCrawler", iam.Request{Action: "glue:StartCrawler", Resource: p.acct.arn("glue", "crawler/"+aws.ToString(in.Name))}); err != nil {
			return nil, &stepfunctions.TaskError{Name: "Glue.AccessDeniedException", Cause: err.Error()}
		}
		if _, err := p.Glue.StartCrawler(ctx, &in); err != nil {
			return nil, glueTaskError(err)
		}
		return json.RawMessage(`{}`), nil
	case "arn:aws:states:::aws-sdk:glue:getCrawler":
		var in glue.GetCrawlerInput
		if err := json.Unmarshal(call.Input, &in); err != nil {
			return nil, fmt.Errorf("state %s: decode glue:getCrawler parameters: %w", call.State, err)
		}
		if err := p.acct.authorize(role, "Glue", "GetCrawler", iam.Request{Action: "glue:GetCrawler", Resource: p.acct.arn("glue", "crawler/"+aws.ToString(in.Name))}); err != nil {
			return nil, &stepfunctions.TaskError{Name: "Glue.AccessDeniedException", Cause: err.Error()}
		}
		out, err := p.Glue.GetCrawler(ctx, &in)
		if err != nil {
			return nil, glueTaskError(err)
		}
		// The aws-sdk integration returns the API's response: {"Crawler": {...}}.
		return json.Marshal(struct{ Crawler any }{out.Crawler})
	default:
		return nil, noStandIn(call)
	}
}

// glueTaskError names a Glue error as the aws-sdk integration does: Glue.<code>.
func glueTaskError(err error) error {
	var ae smithy.APIError
	if errors.As(err, &ae) {
		return &stepfunctions.TaskError{Name: "Glue." + ae.ErrorCode(), Cause: ae.ErrorMessage()}
	}
	return err
}
