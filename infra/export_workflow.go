package main

import (
	"fmt"

	"github.com/aws/aws-cdk-go/awscdk/v2"
	"github.com/aws/aws-cdk-go/awscdk/v2/awsevents"
	"github.com/aws/aws-cdk-go/awscdk/v2/awseventstargets"
	"github.com/aws/aws-cdk-go/awscdk/v2/awsiam"
	"github.com/aws/jsii-runtime-go"

	"github.com/snaplake/snaplake/events"
	"github.com/snaplake/snaplake/internal/deploy"
	"github.com/snaplake/snaplake/statemachines"
)

// ruleNames are the EventBridge rules a stack can have, one per embedded pattern
// (a stack has those its sources route: events.Params.Routed).
var ruleNames = events.PatternNames()

// ruleName is a rule's physical name, fixed (not generated) so that an operator and
// snaplake doctor find the rules by the stack's name.
func (x *Export) ruleName(pattern string) string { return x.name + "-" + pattern }

// Substitutions returns the values of the export workflow's placeholders.
func (x *Export) substitutions() map[string]*string {
	return map[string]*string{
		statemachines.StartExportFunctionArn:   x.fns[deploy.FnStartExport].FunctionArn(),
		statemachines.AwaitCallbackFunctionArn: x.fns[deploy.FnAwaitCallback].FunctionArn(),
		statemachines.RelocateFunctionArn:      x.fns[deploy.FnRelocate].FunctionArn(),
		statemachines.LatestFunctionArn:        x.fns[deploy.FnLatest].FunctionArn(),
		statemachines.CrawlerNamePrefix:        jsii.String(deploy.CrawlerNamePrefix),
		statemachines.NotificationTopicArn:     x.topic.TopicArn(),
	}
}

func (x *Export) addStateMachine() {
	subs := x.substitutions()
	role := x.workflowRole("StateMachineRole", "snaplake export workflow", deploy.RoleStateMachine,
		[]string{deploy.FnStartExport, deploy.FnAwaitCallback, deploy.FnRelocate, deploy.FnLatest}, "the four workflow functions")
	x.allowNotify(role)

	x.stateMachine = x.newStateMachine("ExportStateMachine", "StateMachineLogs", "export",
		"snaplake nightly export: RDS snapshot to Parquet in S3, relocated, crawled, queried with Athena", statemachines.Export, subs, role)
	// The resume function answers this state machine's task tokens. The IAM Service
	// Authorization Reference lists no resource type for SendTask*, but Step Functions
	// authorizes them against the state machine that issued the token (its
	// AccessDenied names the stateMachine ARN, and CDK's grantTaskResponse scopes them
	// so), which keeps the function from completing any other workflow's tasks.
	x.fns[deploy.FnResume].AddToRolePolicy(statement([]string{"states:SendTaskSuccess", "states:SendTaskFailure"}, *x.stateMachine.StateMachineArn()))
	// The await function resumes a wait itself when the export already ended. A policy
	// of its own, not the role's default one: the function must not depend on the state
	// machine that invokes it (a dependency cycle).
	awsiam.NewPolicy(x.stack, jsii.String("AwaitCallbackTaskResponse"), &awsiam.PolicyProps{
		Roles:      &[]awsiam.IRole{x.fns[deploy.FnAwaitCallback].Role()},
		Statements: &[]awsiam.PolicyStatement{statement([]string{"states:SendTaskSuccess", "states:SendTaskFailure"}, *x.stateMachine.StateMachineArn())},
	})
}

func (x *Export) addRules() {
	params := events.Params{
		DBInstanceIDs:          x.cfg.DBInstanceIDs,
		DBClusterIDs:           x.cfg.DBClusterIDs,
		CrawlerNames:           x.crawlerEventNames(),
		IncludeManualSnapshots: x.cfg.IncludeManualSnapshots,
	}
	vars := params.Vars()
	// EventBridge retries delivery for up to a day; what still fails lands in the
	// dead-letter queue rather than vanishing (a lost snapshot event is a lost night).
	retry := func() (awscdk.Duration, *float64) { return awscdk.Duration_Hours(jsii.Number(24)), jsii.Number(185) }

	targets := map[string]awsevents.IRuleTarget{}
	age, attempts := retry()
	// EventBridge starts the workflow as this role (CDK would make one too; naming it
	// lets the offline run authorize the start and snaplake doctor check it).
	eventsRole := x.serviceRole("EventsRole", "snaplake: EventBridge starts the export workflow", "events.amazonaws.com")
	x.tagRole(eventsRole, deploy.RoleEvents)
	// An instance's and a cluster's snapshot start the same workflow, through one
	// rule each (EventBridge matches one pattern per rule).
	for _, name := range []string{events.SnapshotCreated, events.ClusterSnapshotCreated} {
		targets[name] = awseventstargets.NewSfnStateMachine(x.stateMachine, &awseventstargets.SfnStateMachineProps{
			DeadLetterQueue: x.dlq, MaxEventAge: age, RetryAttempts: attempts, Role: eventsRole,
		})
	}
	for _, name := range []string{events.ExportFinished, events.ClusterExportFinished, events.CrawlerFinished} {
		targets[name] = awseventstargets.NewLambdaFunction(x.fns[deploy.FnResume], &awseventstargets.LambdaFunctionProps{
			DeadLetterQueue: x.dlq, MaxEventAge: age, RetryAttempts: attempts,
		})
	}
	descriptions := map[string]string{
		events.SnapshotCreated:        "Starts the export workflow when a configured instance's snapshot is created",
		events.ExportFinished:         "Resumes the execution waiting for a snapshot export that finished",
		events.CrawlerFinished:        "Resumes the execution waiting for a snaplake crawler run that finished",
		events.ClusterSnapshotCreated: "Starts the export workflow when a configured Aurora cluster's automated cluster snapshot is created",
		events.ClusterExportFinished:  "Resumes the execution waiting for a cluster snapshot export that finished",
	}
	for _, name := range params.Routed() {
		pattern, err := events.Pattern(name, vars)
		if err != nil {
			panic(fmt.Sprintf("event rule %s: %v", name, err))
		}
		rule := awsevents.NewRule(x.stack, jsii.String(ruleID(name)), &awsevents.RuleProps{
			RuleName:    jsii.String(x.ruleName(name)),
			Description: jsii.String(descriptions[name]),
			// Placeholder so the L2 construct validates; the embedded pattern replaces
			// it verbatim below, so what deploys is exactly events.Pattern's output.
			EventPattern: &awsevents.EventPattern{Source: jsii.Strings("aws.rds")},
		})
		rule.Node().DefaultChild().(awsevents.CfnRule).AddPropertyOverride(jsii.String("EventPattern"), pattern)
		rule.AddTarget(targets[name])
	}
}

// crawlerEventNames are the crawler name prefixes whose finished runs resume the
// workflow: every crawler of the stack's prefix when the crawl wait creates
// crawlers at runtime (their names are not known at deploy), else the deployed ones.
func (x *Export) crawlerEventNames() []string {
	if x.catalogsAtRuntime() {
		return []string{deploy.CrawlerNamePrefix}
	}
	return x.cfg.CrawlerNames()
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
