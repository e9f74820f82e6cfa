package main

import (
	"fmt"
	"maps"
	"slices"
	"strings"

	"github.com/aws/aws-cdk-go/awscdk/v2"
	"github.com/aws/aws-cdk-go/awscdk/v2/awscloudwatch"
	"github.com/aws/aws-cdk-go/awscdk/v2/awsglue"
	"github.com/aws/aws-cdk-go/awscdk/v2/awsiam"
	"github.com/aws/aws-cdk-go/awscdk/v2/awslakeformation"
	"github.com/aws/aws-cdk-go/awscdk/v2/awslogs"
	"github.com/aws/aws-cdk-go/awscdk/v2/awsstepfunctions"
	"github.com/aws/jsii-runtime-go"

	"github.com/snaplake/snaplake/internal/deploy"
)

// Export is the nightly export: the RDS export role, the functions
// (export_functions.go), the export workflow and its EventBridge rules
// (export_workflow.go), one Glue database and crawler per source database
// (export_catalog.go), the Athena workgroup and the analysts' policy
// (export_analyst.go), and the alarms on all of it. Its settings are the top-level
// context keys (config.go).
type Export struct {
	*Base
	cfg          Config
	exportRole   awsiam.Role
	stateMachine awsstepfunctions.StateMachine
	// governed: the config's access rules govern the snapshot databases through
	// Lake Formation (the grants function is deployed); else IAM does.
	governed bool
	// Snapshots are the snapshot databases and their companions (Glue name ->
	// database), for the grants function's Lake Formation permissions.
	Snapshots map[string]awsglue.CfnDatabase
	// SnapshotPrincipals are the stack's roles that hold Lake Formation
	// permissions on the snapshot databases (never the config's to revoke).
	SnapshotPrincipals []string
	// dataLocation is data/ registered with Lake Formation (when governed).
	dataLocation awslakeformation.CfnResource
	// analyst is the policy analysts query the lake with (export_analyst.go).
	analyst awsiam.ManagedPolicy
}

// ExportProps configures the export.
type ExportProps struct {
	Config Config
	// LakeDatabases are other capabilities' Glue databases whose tables lie in a
	// location registered with Lake Formation; the analysts' policy lets them query
	// those too (export_analyst.go).
	LakeDatabases []string
	// Governed puts the snapshot databases under Lake Formation, governed by the
	// config's access rules through the grants function (which the ingestion
	// deploys); without it IAM governs them, as the analyst policy grants.
	Governed bool
}

// NewExport adds the nightly export to base's stack.
func NewExport(base *Base, props *ExportProps) *Export {
	x := &Export{Base: base, cfg: props.Config, governed: props.Governed, Snapshots: map[string]awsglue.CfnDatabase{}}
	for _, n := range ruleNames {
		if r := x.ruleName(n); len(r) > 64 {
			panic(fmt.Sprintf("stack name %q is too long: EventBridge rule name %q exceeds 64 characters", x.name, r))
		}
	}
	x.addExportRole()
	x.addFunctions()
	x.addLatestFunction()
	x.addStateMachine()
	x.addRules()
	dbNames := x.addCatalog()
	workgroup := x.addAthena()
	x.analyst = x.addAnalystPolicy(workgroup, slices.Sorted(maps.Keys(x.Snapshots)), props.LakeDatabases)
	x.addAlarms()

	x.output(deploy.OutputStateMachineArn, *x.stateMachine.StateMachineArn(), "The nightly export workflow")
	x.output(deploy.OutputWorkGroupName, workgroup, "Athena workgroup to query the lake with")
	x.output(deploy.OutputGlueDatabases, strings.Join(dbNames, ","), "Glue databases, one per source database")
	x.output(deploy.OutputAnalystPolicyArn, *x.analyst.ManagedPolicyArn(), "Attach to analysts' roles or groups: query the lake with Athena in the snaplake workgroup")
	x.output(deploy.OutputRoleArns, x.roleArns(deploy.Functions, deploy.ServiceRoles), "JSON: the role of each function and service, for snaplake doctor")
	x.output(deploy.OutputFunctionArns, x.functionArns(deploy.Functions), "JSON: each function's ARN, for snaplake doctor")
	// An output's value cannot be empty: each source list is an output only when set.
	if len(x.cfg.DBInstanceIDs) > 0 {
		x.output(deploy.OutputDBInstanceIDs, strings.Join(x.cfg.DBInstanceIDs, ","), "RDS instances whose snapshots are exported")
	}
	if len(x.cfg.DBClusterIDs) > 0 {
		x.output(deploy.OutputDBClusterIDs, strings.Join(x.cfg.DBClusterIDs, ","), "Aurora DB clusters whose automated cluster snapshots are exported")
	}
	x.output(deploy.OutputSourceDatabases, strings.Join(x.cfg.Databases, ","), "Source MySQL databases exported, as configured")
	return x
}

// addExportRole is the role RDS assumes to write an export into exports/.
func (x *Export) addExportRole() {
	x.exportRole = x.serviceRole("ExportRole", "RDS snapshot export writes Parquet into the lake bucket's exports/", "export.rds.amazonaws.com")
	x.tagRole(x.exportRole, deploy.RoleExport)
	// The action wildcards are the ones the RDS documentation lists for the export role.
	x.exportRole.AddToPolicy(statement([]string{"s3:PutObject*", "s3:GetObject*", "s3:DeleteObject*"}, x.objects(deploy.ExportPrefix+"*")))
	// Bucket-level actions: RDS checks the bucket before it writes; AWS documents no
	// s3:prefix it lists with, so no prefix condition that could fail the export.
	x.exportRole.AddToPolicy(statement([]string{"s3:ListBucket", "s3:GetBucketLocation"}, *x.bucket.BucketArn()))
	x.exportRole.AddToPolicy(statement([]string{"kms:Encrypt", "kms:Decrypt", "kms:GenerateDataKey", "kms:DescribeKey"}, *x.key.KeyArn()))
	x.suppress(x.exportRole,
		wildcards("The RDS export role needs the s3:*Object* action families the RDS documentation lists, on exports/ only.",
			"Action::s3:PutObject*", "Action::s3:GetObject*", "Action::s3:DeleteObject*", objectsUnder(deploy.ExportPrefix)))
}

// AddExportQuotaAlarm tells the topic when a snapshot first meets RDS's quota of
// concurrent exports: the start function logs every refusal with its errorCode, a
// metric filter counts those lines, and the alarm fires on the first one (1 of
// 72 five-minute periods). The 72 periods (6 h) span the workflow's whole wait,
// whose retries come at most 30 minutes apart, so the alarm stays in ALARM while
// a snapshot waits: one notification per wait, not one per retry. The
// workflow keeps retrying; if it gives up, ExportQuotaError is notified too. The
// stack adds it after every other alarm, so that the key policy's list of alarms
// keeps the order deployed stacks have.
func (x *Export) AddExportQuotaAlarm() {
	period := awscdk.Duration_Minutes(jsii.Number(5))
	filter := awslogs.NewMetricFilter(x.stack, jsii.String("ExportQuotaWaitsFilter"), &awslogs.MetricFilterProps{
		LogGroup:        x.fns[deploy.FnStartExport].LogGroup(),
		FilterPattern:   awslogs.FilterPattern_StringValue(jsii.String("$."+deploy.LogKeyErrorCode), jsii.String("="), jsii.String(deploy.ExportQuotaErrorCode)),
		MetricNamespace: jsii.String(deploy.ExportMetricsNamespace),
		MetricName:      jsii.String(deploy.ExportQuotaWaitsMetric),
		MetricValue:     jsii.String("1"),
	})
	x.newAlarm("ExportQuotaWaitAlarm", "export-quota-wait", &awscloudwatch.AlarmProps{
		AlarmDescription:   jsii.String("A snapshot met RDS's quota of 5 concurrent exports and waits for a slot: the export workflow retries for up to about 6 hours. Check running exports with `aws rds describe-export-tasks`."),
		Metric:             filter.Metric(&awscloudwatch.MetricOptions{Statistic: jsii.String("Sum"), Period: period}),
		Threshold:          jsii.Number(1),
		ComparisonOperator: awscloudwatch.ComparisonOperator_GREATER_THAN_OR_EQUAL_TO_THRESHOLD,
		EvaluationPeriods:  jsii.Number(72),
		DatapointsToAlarm:  jsii.Number(1),
		TreatMissingData:   awscloudwatch.TreatMissingData_NOT_BREACHING,
	})
}

// addAlarms makes silence and failures reach the topic even when no state of the
// workflow runs to notify: a lost snapshot event starts nothing, and a
// States.Runtime error cannot be caught by the definition.
func (x *Export) addAlarms() {
	// Snapshots are daily: 13 periods of 2 hours with no execution started is 26
	// hours without a night (CloudWatch allows up to 7 days of evaluation for periods
	// of an hour or more). Missing data is breaching: a metric with no data at all is
	// exactly the silence this alarm is for.
	x.newAlarm("NoExportStartedAlarm", "no-export-started", &awscloudwatch.AlarmProps{
		AlarmDescription:   jsii.String("No snaplake export execution started in 26 hours: a snapshot event was lost, or automated backups stopped. Check the instances' snapshots and run `snaplake doctor`."),
		Metric:             executionMetric(x.stateMachine, "ExecutionsStarted", awscdk.Duration_Hours(jsii.Number(2))),
		Threshold:          jsii.Number(1),
		ComparisonOperator: awscloudwatch.ComparisonOperator_LESS_THAN_THRESHOLD,
		EvaluationPeriods:  jsii.Number(13),
		DatapointsToAlarm:  jsii.Number(13),
		TreatMissingData:   awscloudwatch.TreatMissingData_BREACHING,
	})
	x.executionsFailedAlarm("ExecutionsFailedAlarm", "executions-failed",
		"A snaplake export execution failed, timed out or was aborted (this also covers failures the workflow cannot catch, such as States.Runtime). Open the execution in the Step Functions console.",
		watched{machine: x.stateMachine})
}
