package opscli

import (
	"context"
	"encoding/json"
	"fmt"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/cloudformation"
	"github.com/aws/aws-sdk-go-v2/service/sfn"

	"github.com/snaplake/snaplake/internal/deploy"
)

// publishNow is `snaplake federate publish --now`: it starts the deployed publish
// workflow (the stack's FederatePublishStateMachineArn output) with the input a
// transform's event gives it, {"tables": [...]} or every table. The workflow's run is
// the scheduled one's: its leases make a run already under way skip what it holds.

// nowAPI is what --now calls.
type nowAPI interface {
	DescribeStacks(ctx context.Context, in *cloudformation.DescribeStacksInput, optFns ...func(*cloudformation.Options)) (*cloudformation.DescribeStacksOutput, error)
	StartExecution(ctx context.Context, in *sfn.StartExecutionInput, optFns ...func(*sfn.Options)) (*sfn.StartExecutionOutput, error)
}

type nowClients struct {
	cfn *cloudformation.Client
	sfn *sfn.Client
}

func (c nowClients) DescribeStacks(ctx context.Context, in *cloudformation.DescribeStacksInput, optFns ...func(*cloudformation.Options)) (*cloudformation.DescribeStacksOutput, error) {
	return c.cfn.DescribeStacks(ctx, in, optFns...)
}

func (c nowClients) StartExecution(ctx context.Context, in *sfn.StartExecutionInput, optFns ...func(*sfn.Options)) (*sfn.StartExecutionOutput, error) {
	return c.sfn.StartExecution(ctx, in, optFns...)
}

// NoPublishWorkflowError says the stack deploys no Federator.
type NoPublishWorkflowError struct{ Stack string }

func (e *NoPublishWorkflowError) Error() string {
	return fmt.Sprintf("stack %s has no %s output: it deploys no Federator (context snaplake:federate)", e.Stack, deploy.OutputFederatePublishStateMachineArn)
}

// startPublish starts the stack's publish workflow for tables (none: every table) and
// returns the execution's ARN.
func startPublish(ctx context.Context, api nowAPI, stack string, tables []string) (string, error) {
	out, err := api.DescribeStacks(ctx, &cloudformation.DescribeStacksInput{StackName: aws.String(stack)})
	if err != nil {
		return "", fmt.Errorf("describe stack %s: %w", stack, err)
	}
	var machine string
	for _, s := range out.Stacks {
		for _, o := range s.Outputs {
			if aws.ToString(o.OutputKey) == deploy.OutputFederatePublishStateMachineArn {
				machine = aws.ToString(o.OutputValue)
			}
		}
	}
	if machine == "" {
		return "", &NoPublishWorkflowError{Stack: stack}
	}
	input, err := json.Marshal(map[string][]string{"tables": tables})
	if err != nil {
		return "", err
	}
	if len(tables) == 0 {
		input = []byte("{}")
	}
	exec, err := api.StartExecution(ctx, &sfn.StartExecutionInput{StateMachineArn: aws.String(machine), Input: aws.String(string(input))})
	if err != nil {
		return "", fmt.Errorf("start the publish workflow %s: %w", machine, err)
	}
	return aws.ToString(exec.ExecutionArn), nil
}
