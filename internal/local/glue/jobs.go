package glue

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/glue"
	gluetypes "github.com/aws/aws-sdk-go-v2/service/glue/types"
)

// Job is a Glue job as the stand-in runs it: its name, the role it runs as and, in
// place of the script, the Go code with the script's semantics.
type Job struct {
	Name              string
	Role              string
	MaxConcurrentRuns int // default 1, as Glue's ExecutionProperty
	// Run is the job's work, given the run's arguments (default arguments merged
	// under them). Its error fails the run with the error's text as ErrorMessage.
	Run func(ctx context.Context, args map[string]string) error
	// DefaultArguments are the job's own arguments.
	DefaultArguments map[string]string
}

// Jobs runs Glue jobs the way StartJobRun and GetJobRun report them.
type Jobs struct {
	mu   sync.Mutex
	jobs map[string]Job
	runs map[string]*gluetypes.JobRun
	live map[string]int
	n    int
	wg   sync.WaitGroup
}

// NewJobs serves the given jobs.
func NewJobs(jobs ...Job) *Jobs {
	j := &Jobs{jobs: map[string]Job{}, runs: map[string]*gluetypes.JobRun{}, live: map[string]int{}}
	for _, job := range jobs {
		j.jobs[job.Name] = job
	}
	return j
}

// StartJobRun has the signature of (*glue.Client).StartJobRun. Like Glue it refuses
// an unknown job (EntityNotFoundException), an argument whose name does not start
// with "--" (InvalidInputException: getResolvedOptions would never see it) and a
// run beyond the job's MaxConcurrentRuns (ConcurrentRunsExceededException).
func (j *Jobs) StartJobRun(ctx context.Context, in *glue.StartJobRunInput, _ ...func(*glue.Options)) (*glue.StartJobRunOutput, error) {
	run, err := j.start(ctx, in)
	if err != nil {
		return nil, err
	}
	return &glue.StartJobRunOutput{JobRunId: run.Id}, nil
}

// GetJobRun has the signature of (*glue.Client).GetJobRun.
func (j *Jobs) GetJobRun(_ context.Context, in *glue.GetJobRunInput, _ ...func(*glue.Options)) (*glue.GetJobRunOutput, error) {
	j.mu.Lock()
	defer j.mu.Unlock()
	r, ok := j.runs[aws.ToString(in.RunId)]
	if !ok || aws.ToString(r.JobName) != aws.ToString(in.JobName) {
		return nil, &gluetypes.EntityNotFoundException{Message: aws.String("Job run " + aws.ToString(in.RunId) + " not found")}
	}
	c := *r
	return &glue.GetJobRunOutput{JobRun: &c}, nil
}

// RunSync starts a run and waits for it to end, as Step Functions'
// glue:startJobRun.sync integration does; the run as GetJobRun reports it.
func (j *Jobs) RunSync(ctx context.Context, in *glue.StartJobRunInput) (*gluetypes.JobRun, error) {
	run, err := j.start(ctx, in)
	if err != nil {
		return nil, err
	}
	for {
		out, err := j.GetJobRun(ctx, &glue.GetJobRunInput{JobName: in.JobName, RunId: run.Id})
		if err != nil {
			return nil, err
		}
		switch out.JobRun.JobRunState {
		case gluetypes.JobRunStateSucceeded, gluetypes.JobRunStateFailed, gluetypes.JobRunStateError, gluetypes.JobRunStateStopped, gluetypes.JobRunStateTimeout:
			return out.JobRun, nil
		}
		select {
		case <-ctx.Done():
			return nil, ctx.Err()
		case <-time.After(20 * time.Millisecond):
		}
	}
}

// Wait waits for every run started so far.
func (j *Jobs) Wait() { j.wg.Wait() }

func (j *Jobs) start(ctx context.Context, in *glue.StartJobRunInput) (*gluetypes.JobRun, error) {
	name := aws.ToString(in.JobName)
	j.mu.Lock()
	defer j.mu.Unlock()
	job, ok := j.jobs[name]
	if !ok {
		return nil, &gluetypes.EntityNotFoundException{Message: aws.String("Failed to start job run due to missing metadata")}
	}
	args := map[string]string{}
	for k, v := range job.DefaultArguments {
		args[k] = v
	}
	for k, v := range in.Arguments {
		if !strings.HasPrefix(k, "--") {
			return nil, &gluetypes.InvalidInputException{Message: aws.String(fmt.Sprintf("argument %q of job %s does not start with --", k, name))}
		}
		args[k] = v
	}
	limit := max(job.MaxConcurrentRuns, 1)
	if j.live[name] >= limit {
		return nil, &gluetypes.ConcurrentRunsExceededException{Message: aws.String(fmt.Sprintf("Concurrent runs exceeded for %s", name))}
	}
	j.n++
	id := fmt.Sprintf("jr_offline%06d", j.n)
	now := time.Now().UTC()
	r := &gluetypes.JobRun{Id: aws.String(id), JobName: aws.String(name), Arguments: args, JobRunState: gluetypes.JobRunStateRunning, StartedOn: aws.Time(now)}
	j.runs[id] = r
	j.live[name]++
	j.wg.Add(1)
	go func() {
		defer j.wg.Done()
		err := job.Run(context.WithoutCancel(ctx), args)
		j.mu.Lock()
		defer j.mu.Unlock()
		j.live[name]--
		end := time.Now().UTC()
		r.CompletedOn, r.ExecutionTime = aws.Time(end), int32(end.Sub(now).Seconds())
		r.JobRunState = gluetypes.JobRunStateSucceeded
		if err != nil {
			r.JobRunState, r.ErrorMessage = gluetypes.JobRunStateFailed, aws.String(err.Error())
		}
	}()
	c := *r
	return &c, nil
}
