package run

import (
	"context"
	"database/sql"
	"errors"
	"log/slog"
	"time"

	"github.com/snaplake/snaplake/internal/deploy"
	"github.com/snaplake/snaplake/internal/ingest"
)

// LocalClients are what a run in this process reaches: the lake bucket, the source
// database and, optionally, Glue (nil: no catalog writes and no crawler pointing).
type LocalClients struct {
	S3   S3API
	Glue interface {
		CrawlerAPI
		CatalogAPI
	}
	DB *sql.DB
}

// LocalOptions are a run by hand's settings: the config is given, not read from the
// bucket, and the run loads with the Go loader in place of the Glue job.
type LocalOptions struct {
	Bucket, KMSKeyID string
	Config           *ingest.Config
}

// NewLocal builds the run `snaplake ingest run` makes: the same Starter, Loader,
// CurrentBuilder and Finisher the workflow's Lambdas and job use, pointed at the clients given. It is the
// only place besides the Lambda constructors that assembles them.
func NewLocal(o LocalOptions, c LocalClients, log *slog.Logger) Local {
	cfg := o.Config
	l := Local{
		Starter: &Starter{
			S3: c.S3, Bucket: o.Bucket, KMSKeyID: o.KMSKeyID,
			Config:  func(context.Context) (*ingest.Config, error) { return cfg, nil },
			Crawler: deploy.IngestCrawlerName,
			MySQL:   func(context.Context) (*sql.DB, error) { return c.DB, nil },
			Log:     log,
		},
		Loader: &Loader{S3: c.S3, KMSKeyID: o.KMSKeyID, DB: c.DB, Log: log},
		Current: &CurrentBuilder{S3: c.S3, Bucket: o.Bucket, KMSKeyID: o.KMSKeyID,
			MySQL: func(context.Context) (*sql.DB, error) { return c.DB, nil }, Log: log},
		Finisher: &Finisher{S3: c.S3, Bucket: o.Bucket, KMSKeyID: o.KMSKeyID, Log: log},
	}
	if c.Glue != nil {
		l.Starter.Glue, l.Finisher.Glue, l.Current.Glue = c.Glue, c.Glue, c.Glue
	}
	return l
}

// Local runs a whole run in this process, as the workflow does in AWS: start, load
// with the Go loader in place of the Glue job, finish. `snaplake ingest run` and the
// tests use it.
type Local struct {
	Starter  *Starter
	Loader   *Loader
	Current  *CurrentBuilder
	Finisher *Finisher
}

// Run runs req at time at. A run that loads nothing returns its summary with the
// reason as its message.
func (l Local) Run(ctx context.Context, req RunRequest, at time.Time) (Summary, error) {
	started, err := l.Starter.Start(ctx, StartInput{Event: req, Time: at})
	if err != nil {
		return Summary{}, err
	}
	if !started.Load {
		return Summary{Run: started.Run, Set: started.Set, Skipped: len(started.Skipped), Tables: []TableSummary{}, Message: started.Reason}, nil
	}
	in := FinishInput{Run: started}
	plan, err := ReadJobPlan(ctx, l.Starter.S3, started.Arguments[ingest.ArgPlan])
	if err == nil {
		err = l.Loader.Load(ctx, plan)
	}
	var failed *JobFailedError
	if err != nil && !errors.As(err, &failed) {
		// The job did not run at all: finish still releases the leases.
		in.LoadError = &LoadError{Error: "States.TaskFailed", Cause: err.Error()}
	} else if failed != nil {
		in.LoadError = &LoadError{Error: "States.TaskFailed", Cause: failed.Error()}
	}
	l.BuildCurrent(ctx, started)
	return l.Finisher.Finish(ctx, in)
}

// BuildCurrent builds the run's current tables, one after another, as the
// workflow's Map does between the load and the finish. A table that fails is
// recorded, and failed by the finish; the others go on.
func (l Local) BuildCurrent(ctx context.Context, started Started) {
	for _, ct := range started.Current {
		if _, err := l.Current.Build(ctx, ct); err != nil {
			l.Current.log().ErrorContext(ctx, "current table not built", "table", ct.Table, "error", err)
		}
	}
}
