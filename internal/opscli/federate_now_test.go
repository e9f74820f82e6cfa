package opscli

import (
	"context"
	"errors"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/cloudformation"
	cftypes "github.com/aws/aws-sdk-go-v2/service/cloudformation/types"
	"github.com/aws/aws-sdk-go-v2/service/sfn"

	"github.com/snaplake/snaplake/internal/deploy"
)

type nowFake struct {
	outputs map[string]string
	started []*sfn.StartExecutionInput
}

func (f *nowFake) DescribeStacks(_ context.Context, in *cloudformation.DescribeStacksInput, _ ...func(*cloudformation.Options)) (*cloudformation.DescribeStacksOutput, error) {
	var outs []cftypes.Output
	for k, v := range f.outputs {
		outs = append(outs, cftypes.Output{OutputKey: aws.String(k), OutputValue: aws.String(v)})
	}
	return &cloudformation.DescribeStacksOutput{Stacks: []cftypes.Stack{{StackName: in.StackName, Outputs: outs}}}, nil
}

func (f *nowFake) StartExecution(_ context.Context, in *sfn.StartExecutionInput, _ ...func(*sfn.Options)) (*sfn.StartExecutionOutput, error) {
	f.started = append(f.started, in)
	return &sfn.StartExecutionOutput{ExecutionArn: aws.String("arn:aws:states:us-east-1:000000000000:execution:publish:x")}, nil
}

// --now starts the stack's publish workflow with the input a transform's event gives
// it: the tables named, or {} for every table.
func TestPublishNowStartsTheDeployedWorkflow(t *testing.T) {
	machine := "arn:aws:states:us-east-1:000000000000:stateMachine:Snaplake-FederatePublish"
	for _, tc := range []struct {
		tables []string
		input  string
	}{{nil, `{}`}, {[]string{"sales.dim", "sales.fact"}, `{"tables":["sales.dim","sales.fact"]}`}} {
		f := &nowFake{outputs: map[string]string{deploy.OutputFederatePublishStateMachineArn: machine}}
		arn, err := startPublish(context.Background(), f, "Snaplake", tc.tables)
		if err != nil || arn == "" {
			t.Fatalf("startPublish: %q %v", arn, err)
		}
		if len(f.started) != 1 || aws.ToString(f.started[0].StateMachineArn) != machine || aws.ToString(f.started[0].Input) != tc.input {
			t.Errorf("started %+v, want %s with %s", f.started, machine, tc.input)
		}
	}
	var none *NoPublishWorkflowError
	if _, err := startPublish(context.Background(), &nowFake{}, "Snaplake", nil); !errors.As(err, &none) {
		t.Errorf("a stack without the Federator: %v, want *NoPublishWorkflowError", err)
	}
}
