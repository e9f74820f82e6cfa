package main

import (
	"fmt"
	"math"
	"time"

	"github.com/aws/aws-cdk-go/awscdk/v2"
	"github.com/aws/aws-cdk-go/awscdk/v2/awscloudwatch"
	"github.com/aws/jsii-runtime-go"

	"github.com/snaplake/snaplake/internal/deploy"
	"github.com/snaplake/snaplake/internal/ingest"
	"github.com/snaplake/snaplake/statemachines"
)

// ingestSubstitutions returns the values of the ingest workflow's placeholders.
func (x *Ingest) ingestSubstitutions() map[string]*string {
	return map[string]*string{
		statemachines.ReconfigureFunctionArn:   x.fns[deploy.FnReconfigure].FunctionArn(),
		statemachines.FinishIngestFunctionArn:  x.fns[deploy.FnFinishIngest].FunctionArn(),
		statemachines.ApplyGrantsFunctionArn:   x.fns[deploy.FnApplyGrants].FunctionArn(),
		statemachines.IngestCurrentFunctionArn: x.fns[deploy.FnIngestCurrent].FunctionArn(),
		statemachines.IngestJobName:            x.job.Ref(),
		statemachines.NotificationTopicArn:     x.topic.TopicArn(),
	}
}

func (x *Ingest) addStateMachine() {
	subs := x.ingestSubstitutions()
	role := x.workflowRole("IngestStateMachineRole", "snaplake ingest workflow", deploy.RoleIngestMachine,
		deploy.IngestFunctions, "the four ingest functions")
	// glue:startJobRun.sync starts the run, polls it, and stops it when the
	// execution stops (Step Functions developer guide, "IAM policies for calling
	// AWS Glue"); the job is the one resource.
	role.AddToPolicy(statement([]string{"glue:StartJobRun", "glue:GetJobRun", "glue:GetJobRuns", "glue:BatchStopJobRun"}, x.arn("glue", "job/"+deploy.IngestJobName)))
	// The workflow starts the crawl, then polls the crawler until the crawl ended.
	role.AddToPolicy(statement([]string{"glue:StartCrawler", "glue:GetCrawler"}, x.crawlerArns()...))
	x.allowNotify(role)
	x.machine = x.newStateMachine("IngestStateMachine", "IngestStateMachineLogs", "ingest",
		"snaplake config-driven ingestion: one run of a set, MySQL to raw/, crawled, granted", statemachines.Ingest, subs, role)
}

// addSchedules starts a run of each set on the set's default schedule in the
// context's time zone; the reconfigure function brings them in line with the
// config's sets afterwards.
func (x *Ingest) addSchedules() {
	x.schedRole.AddToPolicy(statement([]string{"states:StartExecution"}, *x.machine.StateMachineArn()))
	group := x.snaplakeScheduleGroup()
	loc := x.in.Location()
	for _, set := range deploy.IngestSets {
		expr, err := ingest.DefaultSets()[set].ScheduleExpression(loc)
		if err != nil {
			panic(fmt.Sprintf("default ingest set %s: %v", set, err))
		}
		x.schedule(group, scheduleSpec{
			id: "IngestSchedule-" + set, name: deploy.IngestScheduleName(set),
			description: "snaplake: starts a run of the " + set + " ingest set (the reconfigure function keeps the expression in line with config/snaplake.yaml)",
			expression:  expr, timeZone: x.in.TimeZone,
			machine: x.machine, role: x.schedRole,
			// Scheduler fills in the scheduled time: the run is planned for the time the
			// schedule meant, even when a retry or the service's delay starts it later.
			// (Literally: json.Marshal would escape < and >, and Scheduler would not see the keyword.)
			input: fmt.Sprintf(`{"set":%q,"scheduledTime":"<aws.scheduler.scheduled-time>"}`, set),
		})
	}
}

// addAlarm notifies the topic of failed executions (executionsFailedAlarm).
func (x *Ingest) addAlarm() {
	x.executionsFailedAlarm("IngestExecutionsFailedAlarm", ingestAlarm,
		"A snaplake ingest execution failed, timed out or was aborted (this also covers failures the workflow cannot catch, such as States.Runtime). Open the execution in the Step Functions console; the notification of the run says which tables failed.",
		watched{machine: x.machine})
}

// freshnessFrom is the start of the year over which a set's longest gap between two
// runs is measured: fixed, so that a synth does not depend on its day.
var freshnessFrom = time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)

// maxFreshnessHours is the longest wait an alarm of one-hour periods can have:
// PutMetricAlarm's "Period multiplied by EvaluationPeriods can't be more than
// 604,800 seconds".
const maxFreshnessHours = 7 * 24

// freshnessHours is how long the set's freshness alarm waits for a successful run:
// its longest gap between two scheduled runs (the deployed default schedule in the
// context's time zone; the frequent set's is its weekend) plus
// deploy.IngestFreshnessSlack, in whole hours.
func (x *Ingest) freshnessHours(set string) int {
	gap := ingest.DefaultSets()[set].LongestGap(freshnessFrom, x.in.Location())
	if gap <= 0 {
		panic(fmt.Sprintf("default ingest set %s never runs", set))
	}
	hours := int(math.Ceil((gap + deploy.IngestFreshnessSlack).Hours()))
	if hours > maxFreshnessHours {
		panic(fmt.Sprintf("default ingest set %s: a freshness wait of %d hours is more than an alarm can evaluate (%d)", set, hours, maxFreshnessHours))
	}
	return hours
}

// addFreshnessAlarms adds one alarm per set: no successful run (the finish's
// RunSucceeded metric) within the set's freshness wait. The alarm looks at hourly
// sums and fires when every one of the last N hours has none: an alarm period above
// one day is not needed, and N hours of one hour stay within the seven days
// CloudWatch evaluates. Missing data is breaching: no run at all is the failure
// this alarm is for (a stopped schedule, a run that never reaches its finish, a
// config that was never uploaded).
func (x *Ingest) addFreshnessAlarms() {
	for _, set := range deploy.IngestSets {
		hours := x.freshnessHours(set)
		x.newAlarm("IngestFreshnessAlarm-"+set, deploy.IngestFreshnessAlarm(set), &awscloudwatch.AlarmProps{
			AlarmDescription: jsii.String(fmt.Sprintf("No snaplake ingest run of the %s set succeeded in the last %d hours (its longest gap between two scheduled runs plus %d hours): its tables are stale. "+
				"Look at the set's last executions of the ingest workflow (a failed table, a refused config, a run that was not due or found its tables busy) and at its schedule.", set, hours, int(deploy.IngestFreshnessSlack.Hours()))),
			Metric: awscloudwatch.NewMetric(&awscloudwatch.MetricProps{
				Namespace:     jsii.String(deploy.IngestMetricsNamespace),
				MetricName:    jsii.String(deploy.IngestRunSucceededMetric),
				DimensionsMap: &map[string]*string{deploy.IngestMetricDimensionSet: jsii.String(set)},
				Statistic:     jsii.String("Sum"),
				Period:        awscdk.Duration_Hours(jsii.Number(1)),
			}),
			Threshold:          jsii.Number(1),
			ComparisonOperator: awscloudwatch.ComparisonOperator_LESS_THAN_THRESHOLD,
			EvaluationPeriods:  jsii.Number(float64(hours)),
			DatapointsToAlarm:  jsii.Number(float64(hours)),
			TreatMissingData:   awscloudwatch.TreatMissingData_BREACHING,
		})
	}
}
