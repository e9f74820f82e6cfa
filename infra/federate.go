package main

import (
	"fmt"

	"github.com/aws/aws-cdk-go/awscdk/v2"
	"github.com/aws/aws-cdk-go/awscdk/v2/awscloudwatch"
	"github.com/aws/aws-cdk-go/awscdk/v2/awsevents"
	"github.com/aws/aws-cdk-go/awscdk/v2/awseventstargets"
	"github.com/aws/aws-cdk-go/awscdk/v2/awsiam"
	"github.com/aws/aws-cdk-go/awscdk/v2/awslambda"
	"github.com/aws/aws-cdk-go/awscdk/v2/awss3"
	"github.com/aws/aws-cdk-go/awscdk/v2/awsstepfunctions"
	"github.com/aws/jsii-runtime-go"
	"github.com/snaplake/snaplake/events"
	"github.com/snaplake/snaplake/internal/deploy"
	"github.com/snaplake/snaplake/statemachines"
)

// Names of the Federator's resources that are not shared with the functions (those
// are in internal/deploy).
const (
	// FederateScheduleGroup is the Federator's own group: the ingestion's group
	// exists only with snaplake:ingest.
	FederateScheduleGroup = "snaplake-federate"
	federateAlarm         = "federate-executions-failed"
	federateLagAlarm      = "federate-subscriber-lag"
)

// FederateScheduleName is the schedule of one workflow (publish, subscribe).
func FederateScheduleName(workflow string) string { return "snaplake-federate-" + workflow }

// Federate is the Federator: the role Redshift's UNLOAD and COPY assume, the publish
// and subscribe functions, their workflows, schedules and alarm. Its settings are
// the snaplake:federate context section (federate_config.go).
type Federate struct {
	*Base
	fc            FederateConfig
	warehouseRole awsiam.Role
	machineRole   awsiam.Role
	itemRole      awsiam.Role
	schedRole     awsiam.Role
	machines      map[string]awsstepfunctions.StateMachine // by function name: publish, subscribe
	items         map[string]awsstepfunctions.StateMachine // the federate-item workflow of each function
}

// FederateProps configures the Federator.
type FederateProps struct {
	Config FederateConfig
}

// NewFederate adds the Federator to base's stack.
func NewFederate(base *Base, props *FederateProps) *Federate {
	x := &Federate{Base: base, fc: props.Config, machines: map[string]awsstepfunctions.StateMachine{}, items: map[string]awsstepfunctions.StateMachine{}}
	x.addWarehouseRole()
	x.addFunctions()
	x.addStateMachines()
	x.addSchedules()
	x.addEventRules()
	x.addAlarm()
	x.addLagAlarm()

	x.output(deploy.OutputFederatePublishStateMachineArn, *x.machines[deploy.FnPublish].StateMachineArn(), "The Federator's publish workflow (the transform warehouse's tables to federator/)")
	x.output(deploy.OutputFederateSubscribeStateMachineArn, *x.machines[deploy.FnSubscribe].StateMachineArn(), "The Federator's subscribe workflow (federator/ into each reporting warehouse)")
	x.output(deploy.OutputFederateWarehouseRoleArn, *x.warehouseRole.RoleArn(), "Associate this role with every Federator cluster, and with the namespace of every Federator Redshift Serverless workgroup (Serverless roles belong to the namespace): UNLOAD and COPY assume it (federator/ only)")
	x.output(deploy.OutputFederateRoleArns, x.roleArns(deploy.FederateFunctions, deploy.FederateServiceRoles), "JSON: the role of each Federator function and service, for snaplake doctor")
	// The database user each function is when it signs in as its IAM identity (no
	// secretArn, no dbUser): what the operator grants to (GRANT ... TO "IAMR:<role>").
	x.output(deploy.OutputFederateDatabaseUsers, jsonObject(deploy.FederateFunctions, func(name string) string {
		return deploy.IAMRoleDatabaseUser(*x.fns[name].Role().RoleName())
	}), "JSON: the Redshift database user of each Federator function when it signs in as its IAM identity; grant it the privileges the README lists")
	x.output(deploy.OutputFederateFunctionArns, x.functionArns(deploy.FederateFunctions), "JSON: each Federator function's ARN, for snaplake doctor")
	x.output(deploy.OutputFederateItemStateMachineArns, jsonObject(deploy.FederateFunctions, func(name string) string { return *x.items[name].StateMachineArn() }),
		"JSON: the federate-item workflow of each Federator function (each item of a run is an execution of it), for snaplake doctor")
	return x
}

// Patterns of IAM5 findings on the Federator's resources.
var (
	findingFederatorObjects = objectsUnder(deploy.FederatePrefix)
	findingClusterDatabases = `regex:/^Resource::arn:aws[a-z-]*:redshift:[a-z0-9-]+:[0-9]{12}:dbname:[a-z][a-z0-9-]*\/\*$/g`
)

// addWarehouseRole creates the role UNLOAD and COPY name (IAM_ROLE): Redshift assumes
// it to write the published versions and to read them into the subscribers.
func (x *Federate) addWarehouseRole() {
	// Provisioned clusters assume roles as redshift.amazonaws.com; Redshift Serverless
	// needs both principals in the trust policy (Redshift MG, "Granting permissions to
	// Amazon Redshift Serverless").
	x.warehouseRole = x.serviceRole("FederateWarehouseRole", "snaplake Federator: Redshift UNLOADs to and COPYs from federator/ with this role",
		"redshift.amazonaws.com", "redshift-serverless.amazonaws.com")
	x.tagRole(x.warehouseRole, deploy.RoleFederateWarehouse)
	r := x.warehouseRole
	// UNLOAD lists its target prefix (it refuses to overwrite) and writes the files and
	// the manifest; COPY reads the manifest the function wrote and the files it lists.
	r.AddToPolicy(statement([]string{"s3:GetObject", "s3:PutObject"}, x.objects(deploy.FederatePrefix+"*")))
	r.AddToPolicy(x.listMatching(deploy.FederatePrefix + "*"))
	// The lake bucket encrypts with the key: writes need GenerateDataKey, reads and
	// multipart uploads Decrypt.
	r.AddToPolicy(statement([]string{"kms:Decrypt", "kms:GenerateDataKey"}, *x.key.KeyArn()))
	x.suppress(r, wildcards("Redshift writes and reads the published versions under federator/<schema>/<table>/<version>/ (files named by UNLOAD), and nothing else in the lake.",
		findingFederatorObjects))
}

// warehouseArns are the configured clusters and workgroups.
func (x *Federate) warehouseArns() []string {
	var out []string
	for _, w := range x.fc.Warehouses {
		out = append(out, w.Arn)
	}
	return out
}

// addFunctions creates publish and subscribe. Both get every configured warehouse:
// config/snaplake.yaml decides at run time which one publishes and which subscribe,
// and a config change must not need a deployment.
func (x *Federate) addFunctions() {
	keyArn := *x.key.KeyArn()
	env := map[string]string{
		deploy.EnvBucket:           *x.bucket.BucketName(),
		deploy.EnvKMSKeyID:         keyArn,
		deploy.EnvWarehouseRoleArn: *x.warehouseRole.RoleArn(),
		// The bucket is the stack's, so in its Region: UNLOAD and COPY name it
		// (REGION), for warehouses of other Regions.
		deploy.EnvBucketRegion: *awscdk.Aws_REGION(),
	}
	specs := []functionSpec{
		{
			name: deploy.FnPublish, id: "Publish",
			description: "Federator publish: lists the config's tables, publishes one (a metadata query, an UNLOAD when it changed), or sums a run up",
		},
		{
			name: deploy.FnSubscribe, id: "Subscribe",
			description: "Federator subscribe: lists the (subscriber, table) pairs, brings one up to date (COPY and swap when its version is behind), or sums a run up",
		},
	}
	var secrets []secretRef
	var workgroups, clusterDatabases, dbUsers []string
	for _, w := range x.fc.Warehouses {
		switch {
		case w.SecretArn != "":
			secrets = append(secrets, secretRef{w.SecretArn, w.SecretKMSKeyArn})
		case w.Serverless():
			workgroups = append(workgroups, w.Arn)
		case w.DbUser != "":
			dbUsers = append(dbUsers, w.DbUserArn(), w.DatabasesArn())
		default:
			clusterDatabases = append(clusterDatabases, w.DatabasesArn())
		}
	}
	for _, spec := range specs {
		spec.timeout = awscdk.Duration_Minutes(jsii.Number(15))
		spec.memoryMB = 512
		spec.env = env
		fn := x.newFunction(spec, nil)
		x.grantFunction(fn, secrets, workgroups, clusterDatabases, dbUsers)
	}
}

// grantFunction gives a Federator function the lake's config and federator/, and the
// Data API on the configured warehouses.
func (x *Federate) grantFunction(fn awslambda.Function, secrets []secretRef, workgroups, clusterDatabases, dbUsers []string) {
	fn.AddToRolePolicy(statement([]string{"s3:GetObject"}, x.objects(deploy.ConfigKey)))
	// The exact config key too: a missing config is told from a denied one by
	// listing it (internal/aws/s3get). federator/: the versions, their manifests, the
	// subscribers' loads.
	fn.AddToRolePolicy(x.listMatching(deploy.ConfigKey, deploy.FederatePrefix+"*"))
	// Versions and subscriber state are written, read back, and pruned (DeleteObjects
	// authorizes as s3:DeleteObject); the UNLOAD manifest is read, the COPY manifest written.
	fn.AddToRolePolicy(statement([]string{"s3:GetObject", "s3:PutObject", "s3:DeleteObject"}, x.objects(deploy.FederatePrefix+"*")))
	fn.AddToRolePolicy(statement([]string{"kms:Decrypt", "kms:GenerateDataKey"}, *x.key.KeyArn()))
	// The IAM Service Authorization Reference scopes (Batch)ExecuteStatement to the
	// cluster or workgroup; Describe, GetStatementResult and Cancel take no resource
	// type, so "*", limited to the statements this role submitted, in any session:
	// an assumed role's aws:userid is "<role id>:<session name>" (IAM User Guide,
	// policy variables), and the session is not one the Federator chooses (Lambda's),
	// so the condition matches the role's unique id and any session, as the Data
	// API's own default does ("users with the same IAM role ... can act on the same
	// statement"). ${aws:userid} alone would tie a statement to one session.
	fn.AddToRolePolicy(statement([]string{"redshift-data:ExecuteStatement", "redshift-data:BatchExecuteStatement"}, x.warehouseArns()...))
	roleID := fn.Role().Node().DefaultChild().(awsiam.CfnRole).AttrRoleId()
	fn.AddToRolePolicy(awsiam.NewPolicyStatement(&awsiam.PolicyStatementProps{
		Actions:    jsii.Strings("redshift-data:DescribeStatement", "redshift-data:GetStatementResult", "redshift-data:CancelStatement"),
		Resources:  jsii.Strings("*"),
		Conditions: &map[string]any{"StringLike": map[string]any{"redshift-data:statement-owner-iam-userid": awscdk.Fn_Join(jsii.String(""), &[]*string{roleID, jsii.String(":*")})}},
	}))
	// How the Data API signs in (the ExecuteStatement API reference): with a secret,
	// GetSecretValue on it; as the caller's IAM identity, GetCredentials on a
	// workgroup and GetClusterCredentialsWithIAM on a cluster's databases.
	readSecrets(func(st awsiam.PolicyStatement) { fn.AddToRolePolicy(st) }, secrets...)
	if len(workgroups) > 0 {
		fn.AddToRolePolicy(statement([]string{"redshift-serverless:GetCredentials"}, workgroups...))
	}
	reasons := "The Federator functions read and write the published versions and the subscribers' state under federator/; redshift-data DescribeStatement, GetStatementResult and CancelStatement have no resource type (only \"*\"), limited by redshift-data:statement-owner-iam-userid to the statements of the function's own role."
	findings := []string{findingFederatorObjects, findingStarResource}
	if len(clusterDatabases) > 0 {
		// The database is the config's URL's to name: every database of the cluster.
		fn.AddToRolePolicy(statement([]string{"redshift:GetClusterCredentialsWithIAM"}, clusterDatabases...))
		reasons += " redshift:GetClusterCredentialsWithIAM is on every database of each configured cluster signed into as the function's IAM identity: config/snaplake.yaml names the database."
		findings = append(findings, findingClusterDatabases)
	}
	if len(dbUsers) > 0 {
		// db_user= (GetClusterCredentials API reference: the dbuser resource is
		// required; "If the DbName parameter is specified, the IAM policy must allow
		// access to the resource dbname"): the configured user only, on any database
		// of its cluster.
		fn.AddToRolePolicy(statement([]string{"redshift:GetClusterCredentials"}, dbUsers...))
		if len(clusterDatabases) == 0 {
			reasons += " redshift:GetClusterCredentials is for the configured database user only, on every database of its cluster: config/snaplake.yaml names the database."
			findings = append(findings, findingClusterDatabases)
		}
	}
	x.suppress(fn.Role(), wildcards(reasons, findings...))
}

// federateSubstitutions returns the values of a Federator workflow's placeholders.
func (x *Federate) federateSubstitutions(fnName string) map[string]*string {
	placeholder := map[string]string{deploy.FnPublish: statemachines.PublishFunctionArn, deploy.FnSubscribe: statemachines.SubscribeFunctionArn}[fnName]
	return map[string]*string{
		placeholder:                        x.fns[fnName].FunctionArn(),
		statemachines.NotificationTopicArn: x.topic.TopicArn(),
		statemachines.ItemStateMachineArn:  x.items[fnName].StateMachineArn(),
	}
}

// federateItemName is the name of the federate-item workflow of a function: named,
// so that the workflows' role can be granted its executions
// (arn:...:execution:<name>:*) without a token in the ARN.
func (x *Federate) federateItemName(fnName string) string {
	return x.name + "-federate-" + fnName + "-item"
}

// addStateMachines creates the two workflows, run by one role, and the
// federate-item workflow each of their items runs as (one per function), run by a
// role of its own.
//
// Each item is an execution of its own (startExecution.sync:2) because its polls of
// a statement that runs for hours fill an execution's history: inline Map iterations
// count toward the parent's 25,000 events, and 70 tables into several subscribers
// pass that. A nested execution has its own history.
func (x *Federate) addStateMachines() {
	x.itemRole = x.workflowRole("FederateItemStateMachineRole", "snaplake Federator item workflows (one table, or one subscriber's table, each)", deploy.RoleFederateItemMachine,
		deploy.FederateFunctions, "the publish and subscribe functions")
	for _, fn := range deploy.FederateFunctions {
		id := map[string]string{deploy.FnPublish: "FederatePublishItemStateMachine", deploy.FnSubscribe: "FederateSubscribeItemStateMachine"}[fn]
		m := x.newStateMachine(id, id+"Logs", "federate-"+fn+"-item", "snaplake Federator "+fn+": one item (polls its statements in an execution of its own)",
			statemachines.FederateItem, map[string]*string{statemachines.ItemFunctionArn: x.fns[fn].FunctionArn()}, x.itemRole)
		name := x.federateItemName(fn)
		if len(name) > 80 {
			panic(fmt.Sprintf("stack name %q is too long: state machine name %q exceeds 80 characters", x.name, name))
		}
		m.Node().DefaultChild().(awsstepfunctions.CfnStateMachine).AddPropertyOverride(jsii.String("StateMachineName"), name)
		x.items[fn] = m
	}

	x.machineRole = x.workflowRole("FederateStateMachineRole", "snaplake Federator workflows (publish, subscribe)", deploy.RoleFederateMachine,
		deploy.FederateFunctions, "the publish and subscribe functions")
	x.allowNotify(x.machineRole)
	x.allowNestedItems()

	for _, m := range []struct {
		fn, id, workflow, comment string
		def                       []byte
	}{
		{deploy.FnPublish, "FederatePublishStateMachine", "federate-publish", "snaplake Federator publish: each configured table, unloaded when it changed", statemachines.FederatePublish},
		{deploy.FnSubscribe, "FederateSubscribeStateMachine", "federate-subscribe", "snaplake Federator subscribe: each subscriber and table, loaded when behind", statemachines.FederateSubscribe},
	} {
		x.machines[m.fn] = x.newStateMachine(m.id, m.id+"Logs", m.workflow, m.comment, m.def, x.federateSubstitutions(m.fn), x.machineRole)
	}
}

// allowNestedItems lets the workflows' role run the item workflows as nested
// executions that it waits for (.sync): StartExecution on them, DescribeExecution
// and StopExecution on their executions, and the rule Step Functions manages to hear
// of their ends (Step Functions DG, "IAM policies for AWS Step Functions",
// Synchronous).
func (x *Federate) allowNestedItems() {
	var machines, executions []string
	var findings []string
	for _, fn := range deploy.FederateFunctions {
		machines = append(machines, *x.items[fn].StateMachineArn())
		exec := x.federateItemName(fn) + ":*"
		executions = append(executions, *x.stack.FormatArn(&awscdk.ArnComponents{
			Service: jsii.String("states"), Resource: jsii.String("execution"), ResourceName: jsii.String(exec),
			ArnFormat: awscdk.ArnFormat_COLON_RESOURCE_NAME,
		}))
		findings = append(findings, literalFinding("states", "execution:"+exec))
	}
	x.machineRole.AddToPolicy(statement([]string{"states:StartExecution"}, machines...))
	x.machineRole.AddToPolicy(statement([]string{"states:DescribeExecution", "states:StopExecution"}, executions...))
	x.machineRole.AddToPolicy(statement([]string{"events:PutTargets", "events:PutRule", "events:DescribeRule"},
		*x.stack.FormatArn(&awscdk.ArnComponents{Service: jsii.String("events"), Resource: jsii.String("rule"), ResourceName: jsii.String(federateManagedRule)})))
	x.suppress(x.machineRole, wildcards("DescribeExecution and StopExecution on the executions of the Federator's own federate-item workflows only (execution:<name>:*): the workflows start one per item and wait for it (startExecution.sync:2), and execution names are Step Functions' own.",
		findings...))
}

// federateManagedRule is the EventBridge rule Step Functions manages for .sync
// nested executions (StepFunctionsGetEventsForStepFunctionsExecutionRule).
const federateManagedRule = "StepFunctionsGetEventsForStepFunctionsExecutionRule"

// addSchedules starts each workflow on its schedule, in a group of the Federator's own.
func (x *Federate) addSchedules() {
	x.schedRole = x.serviceRole("FederateSchedulerRole", "snaplake: EventBridge Scheduler starts the Federator workflows", "scheduler.amazonaws.com")
	x.tagRole(x.schedRole, deploy.RoleFederateScheduler)
	x.schedRole.AddToPolicy(statement([]string{"states:StartExecution"},
		*x.machines[deploy.FnPublish].StateMachineArn(), *x.machines[deploy.FnSubscribe].StateMachineArn()))
	// An undeliverable start goes to the stack's dead-letter queue, encrypted with the
	// key: Scheduler sends it as this role, the queue's producer.
	x.schedRole.AddToPolicy(statement([]string{"sqs:SendMessage"}, *x.dlq.QueueArn()))
	x.schedRole.AddToPolicy(statement([]string{"kms:Decrypt", "kms:GenerateDataKey"}, *x.key.KeyArn()))

	group := x.scheduleGroup("FederateScheduleGroup", FederateScheduleGroup)
	for _, w := range []struct{ fn, expr string }{
		{deploy.FnPublish, x.fc.PublishSchedule},
		{deploy.FnSubscribe, x.fc.SubscribeSchedule},
	} {
		x.schedule(group, scheduleSpec{
			id: "FederateSchedule-" + w.fn, name: FederateScheduleName(w.fn),
			description: "snaplake: starts the Federator's " + w.fn + " workflow (context " + KeyFederate + ")",
			expression:  w.expr, timeZone: "UTC",
			machine: x.machines[w.fn], role: x.schedRole,
			// Written literally: json.Marshal would escape < and >, and Scheduler
			// would not see the keyword.
			input: `{"scheduledTime":"<aws.scheduler.scheduled-time>"}`,
		})
	}
}

// addEventRules starts the workflows when there is something to do, between their
// schedules: publish when the transform says it finished (its "Transform Finished"
// event, detail {"tables": [...]} or {}), subscribe when a version's manifest.json is
// created in the lake bucket (S3 sends the bucket's events to EventBridge). Each rule
// starts its workflow as a role of its own that may start that workflow only. A start
// while a run is under way is harmless: each table's and each subscriber's lease makes
// the second run skip what the first holds, and the schedules remain the fallback for
// an event lost or dead-lettered.
func (x *Federate) addEventRules() {
	// The L1 property, not the L2's EventBridgeEnabled: the L2 sets it through a
	// custom resource and its Lambda (another function and role); CloudFormation
	// updates this property without interruption (AWS::S3::Bucket
	// EventBridgeConfiguration).
	x.bucket.Node().DefaultChild().(awss3.CfnBucket).AddPropertyOverride(
		jsii.String("NotificationConfiguration.EventBridgeConfiguration.EventBridgeEnabled"), true)
	vars := events.Params{LakeBucket: *x.bucket.BucketName()}.Vars()
	for _, r := range []struct {
		pattern, role, roleID, fn, description string
		input                                  awsevents.RuleTargetInput
	}{
		{
			pattern: events.TransformFinished, role: deploy.RoleFederatePublishEvents, roleID: "FederatePublishEventsRole", fn: deploy.FnPublish,
			description: "Starts the Federator's publish workflow when the transform reports it finished (source " + events.SourceTransform + ", detail-type " + events.DetailTypeTransformFinished + ")",
			// The detail is the workflow's input: {"tables": [...]} or {} for every table.
			input: awsevents.RuleTargetInput_FromEventPath(jsii.String("$.detail")),
		},
		{
			pattern: events.FederateManifestCreated, role: deploy.RoleFederateSubscribeEvents, roleID: "FederateSubscribeEventsRole", fn: deploy.FnSubscribe,
			description: "Starts the Federator's subscribe workflow for a table when a version of it is published (its manifest.json is created under " + deploy.FederatePrefix + ")",
			input: awsevents.RuleTargetInput_FromObject(map[string]any{"manifest": map[string]any{
				"bucket": awsevents.EventField_FromPath(jsii.String("$.detail.bucket.name")),
				"key":    awsevents.EventField_FromPath(jsii.String("$.detail.object.key")),
			}}),
		},
	} {
		pattern, err := events.Pattern(r.pattern, vars)
		if err != nil {
			panic(fmt.Sprintf("event rule %s: %v", r.pattern, err))
		}
		name := x.name + "-" + r.pattern
		if len(name) > 64 {
			panic(fmt.Sprintf("stack name %q is too long: EventBridge rule name %q exceeds 64 characters", x.name, name))
		}
		role := x.serviceRole(r.roleID, "snaplake: EventBridge starts the Federator's "+r.fn+" workflow", "events.amazonaws.com")
		x.tagRole(role, r.role)
		// The target grants the role states:StartExecution on this machine only.
		machine := x.machines[r.fn]
		rule := awsevents.NewRule(x.stack, jsii.String(ruleID(r.pattern)), &awsevents.RuleProps{
			RuleName:    jsii.String(name),
			Description: jsii.String(r.description),
			// Placeholder so the L2 construct validates; the embedded pattern replaces
			// it verbatim below.
			EventPattern: &awsevents.EventPattern{Source: jsii.Strings(events.SourceTransform)},
		})
		rule.Node().DefaultChild().(awsevents.CfnRule).AddPropertyOverride(jsii.String("EventPattern"), pattern)
		// EventBridge retries a start for up to a day, then dead-letters it: the
		// schedule's next run does the work anyway.
		rule.AddTarget(awseventstargets.NewSfnStateMachine(machine, &awseventstargets.SfnStateMachineProps{
			DeadLetterQueue: x.dlq, MaxEventAge: awscdk.Duration_Hours(jsii.Number(24)), RetryAttempts: jsii.Number(185),
			Role: role, Input: r.input,
		}))
	}
}

// addAlarm notifies the topic of executions of either workflow that failed, timed
// out or were aborted (executionsFailedAlarm).
func (x *Federate) addAlarm() {
	var machines []watched
	for _, fn := range deploy.FederateFunctions {
		machines = append(machines, watched{suffix: fn, machine: x.machines[fn]})
	}
	x.executionsFailedAlarm("FederateExecutionsFailedAlarm", federateAlarm,
		"A snaplake Federator execution (publish or subscribe) failed, timed out or was aborted (this also covers failures the workflows cannot catch, such as States.Runtime). Open the execution in the Step Functions console; the run's notification names the tables that failed.",
		machines...)
}

// federateLagQuery is the lag alarm's Metrics Insights query: one time series per
// subscriber, each a contributor the alarm evaluates on its own.
var federateLagQuery = fmt.Sprintf(`SELECT MAX(%s) FROM SCHEMA("%s", %s) GROUP BY %s`,
	deploy.FederateMetricLagOverMaxLag, deploy.FederateMetricsNamespace, deploy.FederateDimensionSubscriber, deploy.FederateDimensionSubscriber)

// addLagAlarm notifies the topic when a subscriber has been behind longer than its
// maxLag. The subscribers and their maxLag are config/snaplake.yaml's, which the stack
// never reads: the subscribe summary writes each subscriber's lag minus its maxLag
// (deploy.FederateMetricLagOverMaxLag), and one multi time series alarm on a Metrics
// Insights query grouped by subscriber fires above 0 for each subscriber separately,
// including subscribers added to the config after the deploy.
func (x *Federate) addLagAlarm() {
	x.newAlarm("FederateSubscriberLagAlarm", federateLagAlarm, &awscloudwatch.AlarmProps{
		AlarmDescription: jsii.String("A snaplake Federator subscriber has been behind a published version for longer than its maxLag (federate.subscribers[].maxLag in config/snaplake.yaml). " +
			"The alarm's contributor names the subscriber; `snaplake federate status` shows its tables, and the subscribe runs' logs say why it is behind."),
		Metric: awscloudwatch.NewMathExpression(&awscloudwatch.MathExpressionProps{
			Expression:   jsii.String(federateLagQuery),
			UsingMetrics: &map[string]awscloudwatch.IMetric{},
			// An hour: at least one subscribe run per period on the default schedule
			// (every 15 minutes) and on any hourly one; Metrics Insights alarms read
			// the last three hours only.
			Period: awscdk.Duration_Hours(jsii.Number(1)),
		}),
		Threshold:          jsii.Number(0),
		ComparisonOperator: awscloudwatch.ComparisonOperator_GREATER_THAN_THRESHOLD,
		EvaluationPeriods:  jsii.Number(1),
		// No point: no subscribe run summed up in the period (a failed or missing run
		// is the executions alarm's), or a subscriber left the config.
		TreatMissingData: awscloudwatch.TreatMissingData_NOT_BREACHING,
	})
}
