package main

import (
	"fmt"
	"maps"
	"path/filepath"
	"slices"

	"github.com/aws/aws-cdk-go/awscdk/v2"
	"github.com/aws/aws-cdk-go/awscdk/v2/awsiam"
	"github.com/aws/aws-cdk-go/awscdk/v2/awslambda"
	"github.com/aws/aws-cdk-go/awscdk/v2/awslogs"
	"github.com/aws/aws-cdk-go/awscdk/v2/awsstepfunctions"
	"github.com/aws/jsii-runtime-go"

	"github.com/snaplake/snaplake/internal/deploy"
	"github.com/snaplake/snaplake/statemachines"
)

// functionSpec is what differs between the functions.
type functionSpec struct {
	name        string // one of deploy.Functions, IngestFunctions, FederateFunctions
	id          string
	description string
	timeout     awscdk.Duration
	memoryMB    float64
	env         map[string]string
}

// newFunction creates a function with its own role (no managed policy: it may write
// to its own log group and nothing else until granted), its own encrypted log group,
// JSON logs and active X-Ray tracing. Function and role carry the tag
// snaplake:function=<name>, by which the offline contract and `snaplake doctor` find them.
func (b *Base) newFunction(spec functionSpec, extra func(*awslambda.FunctionProps)) awslambda.Function {
	role := awsiam.NewRole(b.stack, jsii.String(spec.id+"Role"), &awsiam.RoleProps{
		Description: jsii.String("snaplake " + spec.name + " function"),
		AssumedBy:   awsiam.NewServicePrincipal(jsii.String("lambda.amazonaws.com"), nil),
	})
	awscdk.Tags_Of(role).Add(jsii.String(deploy.TagFunction), jsii.String(spec.name), nil)
	lg := b.logGroup(spec.id+"Logs", b.logGroupPrefix()+"lambda/"+spec.name)
	role.AddToPolicy(statement([]string{"logs:CreateLogStream", "logs:PutLogEvents"}, *lg.LogGroupArn()))

	env := map[string]*string{deploy.EnvLogLevel: jsii.String(deploy.DefaultLogLevel)}
	for k, v := range spec.env {
		env[k] = jsii.String(v)
	}
	props := &awslambda.FunctionProps{
		Description:           jsii.String(spec.description),
		Runtime:               awslambda.Runtime_PROVIDED_AL2023(),
		Architecture:          awslambda.Architecture_ARM_64(),
		Handler:               jsii.String("bootstrap"),
		Code:                  awslambda.Code_FromAsset(jsii.String(filepath.Join(b.props.LambdaAssetDir, spec.name)), nil),
		Role:                  role,
		Timeout:               spec.timeout,
		MemorySize:            jsii.Number(spec.memoryMB),
		Environment:           &env,
		Tracing:               awslambda.Tracing_ACTIVE,
		LoggingFormat:         awslambda.LoggingFormat_JSON,
		ApplicationLogLevelV2: awslambda.ApplicationLogLevel(deploy.DefaultLogLevel),
		SystemLogLevelV2:      awslambda.SystemLogLevel_INFO,
		LogGroup:              lg,
	}
	if extra != nil {
		extra(props)
	}
	fn := awslambda.NewFunction(b.stack, jsii.String(spec.id), props)
	awscdk.Tags_Of(fn).Add(jsii.String(deploy.TagFunction), jsii.String(spec.name), nil)
	// Active tracing makes CDK add xray:PutTraceSegments and xray:PutTelemetryRecords:
	// X-Ray has no resource-level permissions for them.
	// Only what every function is granted is said here: a function granted other
	// actions on "*" says so in its own suppression (merged into this one).
	b.suppress(role, wildcards("X-Ray PutTraceSegments/PutTelemetryRecords (added by CDK for active tracing) have no resource type in the IAM Service Authorization Reference: only Resource \"*\" authorizes them.", findingStarResource))
	b.fns[spec.name] = fn
	return fn
}

// logGroup creates a log group encrypted with the key, kept as configured.
func (b *Base) logGroup(id, name string) awslogs.LogGroup {
	return awslogs.NewLogGroup(b.stack, jsii.String(id), &awslogs.LogGroupProps{
		LogGroupName:  jsii.String(name),
		Retention:     awslogs.RetentionDays(logRetention[b.props.LogRetentionDays]),
		EncryptionKey: b.key,
	})
}

// workflowRole creates the role Step Functions runs a capability's workflows as,
// allowed to invoke the functions: ARN:* covers qualified invocations (versions,
// aliases), which lambda:invoke may use; the statement names these functions and
// nothing else. whose completes the reason of that suppression ("the three
// workflow functions"). The caller adds what else its workflows do, then
// allowNotify.
func (b *Base) workflowRole(id, description, tag string, functions []string, whose string) awsiam.Role {
	role := b.serviceRole(id, description, "states.amazonaws.com")
	b.tagRole(role, tag)
	var fnArns, ids []string
	for _, name := range functions {
		arn := *b.fns[name].FunctionArn()
		fnArns = append(fnArns, arn, arn+":*")
		ids = append(ids, *b.fns[name].Node().Id())
	}
	role.AddToPolicy(statement([]string{"lambda:InvokeFunction"}, fnArns...))
	b.suppress(role, workflowLogsAndTracing(),
		invokesQualified("lambda:InvokeFunction on the qualified ARNs (ARN:*) of "+whose+" only.", ids...))
	return role
}

// allowNotify lets a workflow's role publish to the topic: publishing to a
// KMS-encrypted topic needs the publisher to use the key.
func (b *Base) allowNotify(role awsiam.Role) {
	role.AddToPolicy(statement([]string{"sns:Publish"}, *b.topic.TopicArn()))
	role.AddToPolicy(statement([]string{"kms:Decrypt", "kms:GenerateDataKey"}, *b.key.KeyArn()))
}

// newStateMachine is how the stack deploys every workflow: the embedded definition
// with its substitutions (a placeholder without a value, or a value without a
// placeholder, fails the synth: it would deploy as a literal "${Name}" or go stale),
// standard, traced, and logging every execution with its data to an encrypted log
// group of its own (logID, /aws/vendedlogs/.../<workflow>).
func (b *Base) newStateMachine(id, logID, workflow, comment string, def []byte, subs map[string]*string, role awsiam.IRole) awsstepfunctions.StateMachine {
	if got, want := slices.Sorted(maps.Keys(subs)), statemachines.Placeholders(def); !slices.Equal(got, want) {
		panic(fmt.Sprintf("%s state machine placeholders are %v, the stack substitutes %v", workflow, want, got))
	}
	return awsstepfunctions.NewStateMachine(b.stack, jsii.String(id), &awsstepfunctions.StateMachineProps{
		Comment:                 jsii.String(comment),
		DefinitionBody:          awsstepfunctions.DefinitionBody_FromString(jsii.String(string(def))),
		DefinitionSubstitutions: &subs,
		StateMachineType:        awsstepfunctions.StateMachineType_STANDARD,
		Role:                    role,
		TracingEnabled:          jsii.Bool(true),
		Logs: &awsstepfunctions.LogOptions{
			Destination:          b.logGroup(logID, b.stateLogGroupPrefix()+workflow),
			Level:                awsstepfunctions.LogLevel_ALL,
			IncludeExecutionData: jsii.Bool(true),
		},
	})
}
