package main

import (
	"fmt"
	"maps"
	"slices"

	"github.com/aws/aws-cdk-go/awscdk/v2"
	"github.com/aws/aws-cdk-go/awscdk/v2/awsevents"
	"github.com/aws/aws-cdk-go/awscdk/v2/awseventstargets"
	"github.com/aws/aws-cdk-go/awscdk/v2/awsiam"
	"github.com/aws/aws-cdk-go/awscdk/v2/awsstepfunctions"
	"github.com/aws/jsii-runtime-go"

	"github.com/snaplake/snaplake/events"
	"github.com/snaplake/snaplake/internal/deploy"
	"github.com/snaplake/snaplake/statemachines"
)

// ruleNames are the EventBridge rules, one per embedded pattern.
var ruleNames = events.PatternNames()

// ruleName is a rule's physical name, fixed (not generated) so that an operator and
// snaplake doctor find the rules by the stack's name.
func (s *snaplake) ruleName(pattern string) string { return s.name + "-" + pattern }

// Substitutions returns the values of the export workflow's placeholders.
func (s *snaplake) substitutions() map[string]*string {
	return map[string]*string{
		statemachines.StartExportFunctionArn:   s.fns[deploy.FnStartExport].FunctionArn(),
		statemachines.AwaitCallbackFunctionArn: s.fns[deploy.FnAwaitCallback].FunctionArn(),
		statemachines.RelocateFunctionArn:      s.fns[deploy.FnRelocate].FunctionArn(),
		statemachines.CrawlerNamePrefix:        jsii.String(deploy.CrawlerNamePrefix),
		statemachines.NotificationTopicArn:     s.topic.TopicArn(),
	}
}

func (s *snaplake) addStateMachine() {
	subs := s.substitutions()
	role := s.serviceRole("StateMachineRole", "snaplake export workflow", "states.amazonaws.com")
	s.tagRole(role, deploy.RoleStateMachine)
	var fnArns []string
	for _, name := range []string{deploy.FnStartExport, deploy.FnAwaitCallback, deploy.FnRelocate} {
		arn := *s.fns[name].FunctionArn()
		// ARN:* covers qualified invocations (versions, aliases), which lambda:invoke
		// may use; the statement names the three functions and nothing else.
		fnArns = append(fnArns, arn, arn+":*")
	}
	role.AddToPolicy(statement([]string{"lambda:InvokeFunction"}, fnArns...))
	role.AddToPolicy(statement([]string{"sns:Publish"}, *s.topic.TopicArn()))
	// Publishing to a KMS-encrypted topic needs the publisher to use the key.
	role.AddToPolicy(statement([]string{"kms:Decrypt", "kms:GenerateDataKey"}, *s.key.KeyArn()))

	s.stateMachine = s.newStateMachine("ExportStateMachine", "StateMachineLogs", "export",
		"snaplake nightly export: RDS snapshot to Parquet in S3, relocated, crawled, queried with Athena", statemachines.Export, subs, role)
	// The resume function answers this state machine's task tokens. The IAM Service
	// Authorization Reference lists no resource type for SendTask*, but Step Functions
	// authorizes them against the state machine that issued the token (its
	// AccessDenied names the stateMachine ARN, and CDK's grantTaskResponse scopes them
	// so), which keeps the function from completing any other workflow's tasks.
	s.fns[deploy.FnResume].AddToRolePolicy(statement([]string{"states:SendTaskSuccess", "states:SendTaskFailure"}, *s.stateMachine.StateMachineArn()))
	// The await function resumes a wait itself when the export already ended. A policy
	// of its own, not the role's default one: the function must not depend on the state
	// machine that invokes it (a dependency cycle).
	awsiam.NewPolicy(s.stack, jsii.String("AwaitCallbackTaskResponse"), &awsiam.PolicyProps{
		Roles:      &[]awsiam.IRole{s.fns[deploy.FnAwaitCallback].Role()},
		Statements: &[]awsiam.PolicyStatement{statement([]string{"states:SendTaskSuccess", "states:SendTaskFailure"}, *s.stateMachine.StateMachineArn())},
	})
	s.suppress(role,
		wildcards("Log delivery (logs:CreateLogDelivery, GetLogDelivery, UpdateLogDelivery, DeleteLogDelivery, ListLogDeliveries, PutResourcePolicy, DescribeResourcePolicies, DescribeLogGroups) and X-Ray (PutTraceSegments, PutTelemetryRecords, GetSamplingRules, GetSamplingTargets) support only Resource \"*\"; CDK adds them for logging level ALL and tracing.",
			"Resource::*"),
		wildcards("lambda:InvokeFunction on the qualified ARNs (ARN:*) of the three workflow functions only.",
			`regex:/^Resource::<(StartExport|AwaitCallback|Relocate)[A-Za-z0-9]+\.Arn>:\*$/g`))
}

func (s *snaplake) addRules() {
	params := events.Params{
		DBInstanceIDs:          s.cfg.DBInstanceIDs,
		CrawlerNames:           s.cfg.CrawlerNames(),
		IncludeManualSnapshots: s.cfg.IncludeManualSnapshots,
	}
	vars := params.Vars()
	// EventBridge retries delivery for up to a day; what still fails lands in the
	// dead-letter queue rather than vanishing (a lost snapshot event is a lost night).
	retry := func() (awscdk.Duration, *float64) { return awscdk.Duration_Hours(jsii.Number(24)), jsii.Number(185) }

	targets := map[string]awsevents.IRuleTarget{}
	age, attempts := retry()
	// EventBridge starts the workflow as this role (CDK would make one too; naming it
	// lets the offline run authorize the start and snaplake doctor check it).
	eventsRole := s.serviceRole("EventsRole", "snaplake: EventBridge starts the export workflow", "events.amazonaws.com")
	s.tagRole(eventsRole, deploy.RoleEvents)
	targets[events.SnapshotCreated] = awseventstargets.NewSfnStateMachine(s.stateMachine, &awseventstargets.SfnStateMachineProps{
		DeadLetterQueue: s.dlq, MaxEventAge: age, RetryAttempts: attempts, Role: eventsRole,
	})
	for _, name := range []string{events.ExportFinished, events.CrawlerFinished} {
		targets[name] = awseventstargets.NewLambdaFunction(s.fns[deploy.FnResume], &awseventstargets.LambdaFunctionProps{
			DeadLetterQueue: s.dlq, MaxEventAge: age, RetryAttempts: attempts,
		})
	}
	descriptions := map[string]string{
		events.SnapshotCreated: "Starts the export workflow when a configured instance's snapshot is created",
		events.ExportFinished:  "Resumes the execution waiting for a snapshot export that finished",
		events.CrawlerFinished: "Resumes the execution waiting for a snaplake crawler run that finished",
	}
	for _, name := range ruleNames {
		pattern, err := events.Pattern(name, vars)
		if err != nil {
			panic(fmt.Sprintf("event rule %s: %v", name, err))
		}
		rule := awsevents.NewRule(s.stack, jsii.String(ruleID(name)), &awsevents.RuleProps{
			RuleName:    jsii.String(s.ruleName(name)),
			Description: jsii.String(descriptions[name]),
			// Placeholder so the L2 construct validates; the embedded pattern replaces
			// it verbatim below, so what deploys is exactly events.Pattern's output.
			EventPattern: &awsevents.EventPattern{Source: jsii.Strings("aws.rds")},
		})
		rule.Node().DefaultChild().(awsevents.CfnRule).AddPropertyOverride(jsii.String("EventPattern"), pattern)
		rule.AddTarget(targets[name])
	}
}

// ruleID turns "snapshot-created" into the construct id "SnapshotCreatedRule".
func ruleID(pattern string) string {
	out := []rune{}
	up := true
	for _, r := range pattern {
		if r == '-' {
			up = true
			continue
		}
		if up && r >= 'a' && r <= 'z' {
			r -= 'a' - 'A'
		}
		up = false
		out = append(out, r)
	}
	return string(out) + "Rule"
}

// newStateMachine is how the stack deploys every workflow: the embedded definition
// with its substitutions (a placeholder without a value, or a value without a
// placeholder, fails the synth: it would deploy as a literal "${Name}" or go stale),
// standard, traced, and logging every execution with its data to an encrypted log
// group of its own (logID, /aws/vendedlogs/.../<workflow>).
func (s *snaplake) newStateMachine(id, logID, workflow, comment string, def []byte, subs map[string]*string, role awsiam.IRole) awsstepfunctions.StateMachine {
	if got, want := slices.Sorted(maps.Keys(subs)), statemachines.Placeholders(def); !slices.Equal(got, want) {
		panic(fmt.Sprintf("%s state machine placeholders are %v, the stack substitutes %v", workflow, want, got))
	}
	return awsstepfunctions.NewStateMachine(s.stack, jsii.String(id), &awsstepfunctions.StateMachineProps{
		Comment:                 jsii.String(comment),
		DefinitionBody:          awsstepfunctions.DefinitionBody_FromString(jsii.String(string(def))),
		DefinitionSubstitutions: &subs,
		StateMachineType:        awsstepfunctions.StateMachineType_STANDARD,
		Role:                    role,
		TracingEnabled:          jsii.Bool(true),
		Logs: &awsstepfunctions.LogOptions{
			Destination:          s.logGroup(logID, s.stateLogGroupPrefix()+workflow),
			Level:                awsstepfunctions.LogLevel_ALL,
			IncludeExecutionData: jsii.Bool(true),
		},
	})
}
