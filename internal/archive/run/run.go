package run

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/snaplake/snaplake/internal/archive"
	"github.com/snaplake/snaplake/internal/aws/awserr"
	"github.com/snaplake/snaplake/internal/aws/lambdamain"
	"github.com/snaplake/snaplake/internal/aws/lease"
	"github.com/snaplake/snaplake/internal/aws/mysqlparquet"
	"github.com/snaplake/snaplake/internal/aws/mysqlsecret"
	"github.com/snaplake/snaplake/internal/config"
	"github.com/snaplake/snaplake/internal/deploy"
)

// Env is the deployed environment of the archive's functions.
type Env struct {
	Bucket, KMSKeyID string
	// MySQLEndpoint (host:port) and SecretArn reach the source as the archiving
	// user, who may SELECT and DELETE the configured tables.
	MySQLEndpoint, SecretArn string
	// Databases are the source databases the stack archives: each has its archive
	// Glue database (deploy.ArchiveDatabaseName).
	Databases []string
	// GlueDatabasePrefix names a source database's snapshot Glue database.
	GlueDatabasePrefix string
	// BudgetMargin is what an invocation keeps before the Lambda's deadline.
	BudgetMargin time.Duration
}

// EnvFromGetenv reads the environment the stack sets; a missing or bad variable
// is a *deploy.EnvError.
func EnvFromGetenv(getenv func(string) string) (Env, error) {
	e := Env{
		Bucket: getenv(deploy.EnvBucket), KMSKeyID: getenv(deploy.EnvKMSKeyID),
		MySQLEndpoint: getenv(deploy.EnvMySQLEndpoint), SecretArn: getenv(deploy.EnvSecretArn),
		Databases: deploy.SplitList(getenv(deploy.EnvArchiveDatabases)), GlueDatabasePrefix: getenv(deploy.EnvGlueDatabasePrefix),
		BudgetMargin: time.Minute,
	}
	if err := deploy.Require(getenv, deploy.EnvBucket, deploy.EnvMySQLEndpoint, deploy.EnvSecretArn, deploy.EnvArchiveDatabases); err != nil {
		return e, err
	}
	if v := getenv(deploy.EnvArchiveBudgetMargin); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n <= 0 {
			return e, &deploy.EnvError{Var: deploy.EnvArchiveBudgetMargin, Problem: fmt.Sprintf("%q is not a positive number of seconds", v)}
		}
		e.BudgetMargin = time.Duration(n) * time.Second
	}
	return e, nil
}

// Clients are what the archive's functions call. The S3 client serves the config
// (s3get) and the archive (archive.S3API).
type Clients struct {
	S3 interface {
		archive.S3API
		lease.API
	}
	Secrets mysqlsecret.SecretsAPI
	// Glue catalogs a completed table's archive (the table function only).
	Glue archive.CatalogAPI
	// CloudWatch reads an RDS replica's ReplicaLag (the config's replica.instance);
	// replica.host is reached with the archiving user's secret.
	CloudWatch archive.CloudWatchAPI
}

// DatabaseNotArchivedError says the config names a table of a database the stack
// does not archive: it has no archive Glue database (snaplake:archive's databases).
type DatabaseNotArchivedError struct {
	Table     string
	Databases []string
}

func (e *DatabaseNotArchivedError) Error() string {
	return fmt.Sprintf("table %s: its database is not one the stack archives (%s): add it to the snaplake:archive context and deploy", e.Table, strings.Join(e.Databases, ", "))
}

// RunInProgressError says another archive run holds the run lease
// (deploy.ArchiveRunLeaseKey): this one changes nothing, so that two runs never
// delete on production at once.
type RunInProgressError struct{ Held *lease.HeldError }

func (e *RunInProgressError) Error() string {
	return "another archive run is in progress: " + e.Held.Error()
}
func (e *RunInProgressError) Unwrap() error { return e.Held }

// PlanRefusedError says a table of the run cannot be archived as configured (the
// preflight's errors, each naming its table and config line): nothing was changed.
type PlanRefusedError struct{ Err error }

func (e *PlanRefusedError) Error() string { return "the archive run is refused: " + e.Err.Error() }
func (e *PlanRefusedError) Unwrap() error { return e.Err }

type handler struct {
	env  Env
	c    Clients
	open mysqlsecret.Opener
	log  *slog.Logger
	now  func() time.Time
}

func newHandler(getenv func(string) string, c Clients, log *slog.Logger) (*handler, error) {
	env, err := EnvFromGetenv(getenv)
	if err != nil {
		return nil, err
	}
	if c.S3 == nil || c.Secrets == nil {
		return nil, fmt.Errorf("the archive needs an S3 and a Secrets Manager client")
	}
	if log == nil {
		log = slog.Default()
	}
	return &handler{env: env, c: c, open: mysqlsecret.Open(c.Secrets, env.SecretArn, env.MySQLEndpoint), log: log, now: time.Now}, nil
}

// NewArchivePlan builds the plan function (deploy.FnArchivePlan): it reads the
// archive section, checks every table of the run against MySQL (archive.Preflight)
// and returns them, or refuses the run whole, changing nothing.
func NewArchivePlan(getenv func(string) string, c Clients, log *slog.Logger) (lambdamain.Func, error) {
	h, err := newHandler(getenv, c, log)
	if err != nil {
		return nil, err
	}
	return lambdamain.Handler(h.plan), nil
}

// NewArchiveTable builds the table function (deploy.FnArchiveTable): one bounded
// invocation of one table's run, resumed from its manifest, and the table's
// catalog entry for the rows archived so far.
func NewArchiveTable(getenv func(string) string, c Clients, log *slog.Logger) (lambdamain.Func, error) {
	if c.Glue == nil {
		return nil, fmt.Errorf("the archive's table function needs a Glue client")
	}
	h, err := newHandler(getenv, c, log)
	if err != nil {
		return nil, err
	}
	return lambdamain.Handler(h.table), nil
}

// jobs reads the config and checks the tables (one, or all) against MySQL.
func (h *handler) jobs(ctx context.Context, table string, budget time.Duration) (*archive.Config, *sql.DB, []archive.Job, error) {
	cfg, err := config.SectionFromS3[archive.Config](ctx, h.c.S3, h.env.Bucket, deploy.SectionArchive)
	if err != nil {
		return nil, nil, nil, awserr.Surface(err)
	}
	for name := range cfg.Tables {
		if table != "" && !strings.EqualFold(name, table) {
			continue
		}
		schema, _, err := archive.SplitTable(name)
		if err == nil && !slices.ContainsFunc(h.env.Databases, func(d string) bool { return strings.EqualFold(d, schema) }) {
			return nil, nil, nil, &PlanRefusedError{Err: &DatabaseNotArchivedError{Table: name, Databases: h.env.Databases}}
		}
	}
	db, err := h.open(ctx)
	if err != nil {
		return nil, nil, nil, err
	}
	rs := archive.RunSettings{Now: h.now(), Bucket: h.env.Bucket, KMSKeyID: h.env.KMSKeyID, Budget: budget}
	if table != "" {
		rs.Tables = []string{table}
	}
	jobs, err := archive.Preflight(ctx, db, cfg, rs)
	if err != nil {
		return nil, nil, nil, &PlanRefusedError{Err: err}
	}
	return cfg, db, jobs, nil
}

// holdRun takes or renews the run lease for the execution run.
func (h *handler) holdRun(ctx context.Context, run string) error {
	st := lease.Store{S3: h.c.S3, Bucket: h.env.Bucket, KMSKeyID: h.env.KMSKeyID}
	err := st.Renew(ctx, deploy.ArchiveRunLeaseKey, "the archive run", run, deploy.ArchiveRunLeaseTTL)
	var held *lease.HeldError
	if errors.As(err, &held) {
		return &RunInProgressError{Held: held}
	}
	return awserr.Surface(err)
}

func (h *handler) plan(ctx context.Context, req PlanRequest) (PlanResult, error) {
	log := h.log.With("execution", req.Execution)
	if req.Release {
		st := lease.Store{S3: h.c.S3, Bucket: h.env.Bucket, KMSKeyID: h.env.KMSKeyID}
		if err := st.Release(ctx, deploy.ArchiveRunLeaseKey, "the archive run", req.Execution); err != nil {
			return PlanResult{}, awserr.Surface(err)
		}
		log.InfoContext(ctx, "archive run ended: lease released")
		return PlanResult{Tables: []string{}}, nil
	}
	_, _, jobs, err := h.jobs(ctx, req.Table, 0)
	if err != nil {
		log.ErrorContext(ctx, "archive run refused", "table", req.Table, "error", err)
		return PlanResult{}, err
	}
	if err := h.holdRun(ctx, req.Execution); err != nil {
		log.ErrorContext(ctx, "archive run not started", "error", err)
		return PlanResult{}, err
	}
	out := PlanResult{Tables: []string{}}
	for _, j := range jobs {
		out.Tables = append(out.Tables, j.Schema+"."+j.Table)
	}
	log.InfoContext(ctx, "archive run planned", "tables", out.Tables)
	return out, nil
}

func (h *handler) table(ctx context.Context, req TableRequest) (TableResult, error) {
	log := h.log.With("execution", req.Execution, "table", req.Table)
	if req.Table == "" {
		return TableResult{}, &PlanRefusedError{Err: fmt.Errorf("no table given")}
	}
	// The run stops cleanly BudgetMargin before the invocation's deadline; the
	// workflow invokes it again and the manifest says where to resume.
	var budget time.Duration
	if d, ok := ctx.Deadline(); ok {
		if budget = time.Until(d) - h.env.BudgetMargin; budget <= 0 {
			budget = time.Second
		}
	}
	cfg, db, jobs, err := h.jobs(ctx, req.Table, budget)
	if err != nil {
		log.ErrorContext(ctx, "archive of the table refused", "error", err)
		return TableResult{}, err
	}
	// The run's lease, renewed before and after the invocation's work (which ends
	// within its 15 minutes, half the lease's time).
	if err := h.holdRun(ctx, req.Execution); err != nil {
		log.ErrorContext(ctx, "archive of the table not started", "error", err)
		return TableResult{}, err
	}
	defer func() {
		if err := h.holdRun(context.WithoutCancel(ctx), req.Execution); err != nil {
			log.WarnContext(ctx, "the run lease was not renewed", "error", err)
		}
	}()
	if len(jobs) != 1 {
		return TableResult{}, &PlanRefusedError{Err: fmt.Errorf("table %s: the preflight returned %d jobs", req.Table, len(jobs))}
	}
	job := jobs[0]
	deps := archive.Deps{DB: db, S3: h.c.S3, Log: log}
	// The replica shares the source's users: the archiving user's secret reaches it.
	openReplica := func(ctx context.Context, addr string) (*sql.DB, error) {
		return mysqlsecret.Open(h.c.Secrets, h.env.SecretArn, addr)(ctx)
	}
	probe, closeProbe, err := archive.LagProbeFor(ctx, cfg.Replica, openReplica, h.c.CloudWatch)
	if err != nil {
		return TableResult{}, &PlanRefusedError{Err: err}
	}
	defer closeProbe()
	deps.Lag = probe
	sum, err := archive.Run(ctx, job, deps)
	res := TableResult{Summary: sum}
	if err != nil {
		log.ErrorContext(ctx, "archive run failed", "error", err, "rows", sum.Rows, "deleted", sum.RowsDeleted)
		return res, awserr.Surface(err)
	}
	log.InfoContext(ctx, "archive invocation ended", "complete", sum.Complete, "stopped", sum.Stopped, "rows", sum.Rows,
		"deleted", sum.RowsDeleted, "changed_after_read", sum.ChangedAfterRead, "batches", sum.Batches, "pauses", sum.Pauses)
	// The rows archived so far are queryable at once, not only when the table's run
	// completes: each invocation that archived rows makes sure the table and the
	// run's partition exist (both idempotent).
	if sum.Rows == 0 {
		return res, nil
	}
	cols, err := mysqlparquet.Columns(ctx, db, job.Schema, job.Table)
	if err != nil {
		return res, &archive.CatalogError{Database: job.Schema, Table: job.Table, Err: err}
	}
	entry := archive.CatalogEntry{
		Database: deploy.ArchiveDatabaseName(deploy.GlueDatabaseName(h.env.GlueDatabasePrefix, job.Schema)),
		Table:    strings.ToLower(job.Table),
		Location: "s3://" + h.env.Bucket + "/" + deploy.ArchivePrefix + job.Schema + "/" + job.Table + "/",
		Columns:  cols, Cutoff: sum.Cutoff,
	}
	if err := archive.Catalog(ctx, h.c.Glue, entry); err != nil {
		log.ErrorContext(ctx, "archive not cataloged", "error", err)
		return res, awserr.Surface(err)
	}
	res.Catalog = entry.Database + "." + entry.Table
	log.InfoContext(ctx, "archive cataloged", "catalog", res.Catalog, "cutoff", sum.Cutoff.Format("2006-01-02"))
	return res, nil
}
