package glue

import (
	"context"
	"errors"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/glue"
	gluetypes "github.com/aws/aws-sdk-go-v2/service/glue/types"
)

func TestJobs(t *testing.T) {
	ctx := context.Background()
	release := make(chan struct{})
	var seen map[string]string
	j := NewJobs(Job{Name: "load", Role: "r", DefaultArguments: map[string]string{"--job-language": "python"}, Run: func(_ context.Context, args map[string]string) error {
		seen = args
		<-release
		if args["--fail"] != "" {
			return errors.New(args["--fail"])
		}
		return nil
	}})
	var notFound *gluetypes.EntityNotFoundException
	if _, err := j.StartJobRun(ctx, &glue.StartJobRunInput{JobName: aws.String("nope")}); !errors.As(err, &notFound) {
		t.Errorf("unknown job: %v", err)
	}
	var invalid *gluetypes.InvalidInputException
	if _, err := j.StartJobRun(ctx, &glue.StartJobRunInput{JobName: aws.String("load"), Arguments: map[string]string{"run_id": "x"}}); !errors.As(err, &invalid) {
		t.Errorf("argument without --: %v", err)
	}
	first, err := j.StartJobRun(ctx, &glue.StartJobRunInput{JobName: aws.String("load"), Arguments: map[string]string{"--run_id": "r1"}})
	if err != nil {
		t.Fatal(err)
	}
	var exceeded *gluetypes.ConcurrentRunsExceededException
	if _, err := j.StartJobRun(ctx, &glue.StartJobRunInput{JobName: aws.String("load")}); !errors.As(err, &exceeded) {
		t.Errorf("a second run of a job with MaxConcurrentRuns 1: %v", err)
	}
	close(release)
	j.Wait()
	out, err := j.GetJobRun(ctx, &glue.GetJobRunInput{JobName: aws.String("load"), RunId: first.JobRunId})
	if err != nil || out.JobRun.JobRunState != gluetypes.JobRunStateSucceeded || seen["--run_id"] != "r1" || seen["--job-language"] != "python" {
		t.Fatalf("run: %+v %v, args %v", out, err, seen)
	}
	failed, err := j.RunSync(ctx, &glue.StartJobRunInput{JobName: aws.String("load"), Arguments: map[string]string{"--fail": "2 of 5 tables failed"}})
	if err != nil || failed.JobRunState != gluetypes.JobRunStateFailed || aws.ToString(failed.ErrorMessage) != "2 of 5 tables failed" {
		t.Fatalf("failing run: %+v %v", failed, err)
	}
}
