package run

import (
	"context"
	"errors"
	"time"

	"github.com/snaplake/snaplake/internal/ingest"
)

// Local runs a whole run in this process, as the workflow does in AWS: start, load
// with the Go loader in place of the Glue job, finish. `snaplake ingest run` and the
// tests use it.
type Local struct {
	Starter  *Starter
	Loader   *Loader
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
	return l.Finisher.Finish(ctx, in)
}
