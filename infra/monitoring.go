package main

import (
	"slices"

	"github.com/aws/aws-cdk-go/awscdk/v2"
	"github.com/aws/aws-cdk-go/awscdk/v2/awscloudwatch"
	"github.com/aws/aws-cdk-go/awscdk/v2/awscloudwatchactions"
	"github.com/aws/aws-cdk-go/awscdk/v2/awsiam"
	"github.com/aws/jsii-runtime-go"
)

// Alarm names are fixed so the key policy can name them before they exist.
func (s *snaplake) alarmName(what string) string { return s.name + "-" + what }

var alarmNames = []string{"no-export-started", "executions-failed", "dead-letters"}

// addAlarms makes silence and failures reach the topic even when no state of the
// workflow runs to notify: a lost snapshot event starts nothing, a States.Runtime
// error cannot be caught by the definition, and a resume that failed every retry
// only lands in the dead-letter queue.
func (s *snaplake) addAlarms() {
	action := awscloudwatchactions.NewSnsAction(s.topic)
	sfnMetric := func(name string, period awscdk.Duration) awscloudwatch.Metric {
		return awscloudwatch.NewMetric(&awscloudwatch.MetricProps{
			Namespace:     jsii.String("AWS/States"),
			MetricName:    jsii.String(name),
			DimensionsMap: &map[string]*string{"StateMachineArn": s.stateMachine.StateMachineArn()},
			Statistic:     jsii.String("Sum"),
			Period:        period,
		})
	}

	// Snapshots are daily: 13 periods of 2 hours with no execution started is 26
	// hours without a night (CloudWatch allows up to 7 days of evaluation for periods
	// of an hour or more). Missing data is breaching: a metric with no data at all is
	// exactly the silence this alarm is for.
	noRun := awscloudwatch.NewAlarm(s.stack, jsii.String("NoExportStartedAlarm"), &awscloudwatch.AlarmProps{
		AlarmName:          jsii.String(s.alarmName("no-export-started")),
		AlarmDescription:   jsii.String("No snaplake export execution started in 26 hours: a snapshot event was lost, or automated backups stopped. Check the instances' snapshots and run `snaplake doctor`."),
		Metric:             sfnMetric("ExecutionsStarted", awscdk.Duration_Hours(jsii.Number(2))),
		Threshold:          jsii.Number(1),
		ComparisonOperator: awscloudwatch.ComparisonOperator_LESS_THAN_THRESHOLD,
		EvaluationPeriods:  jsii.Number(13),
		DatapointsToAlarm:  jsii.Number(13),
		TreatMissingData:   awscloudwatch.TreatMissingData_BREACHING,
	})
	noRun.AddAlarmAction(action)

	failed := awscloudwatch.NewAlarm(s.stack, jsii.String("ExecutionsFailedAlarm"), &awscloudwatch.AlarmProps{
		AlarmName:        jsii.String(s.alarmName("executions-failed")),
		AlarmDescription: jsii.String("A snaplake export execution failed, timed out or was aborted (this also covers failures the workflow cannot catch, such as States.Runtime). Open the execution in the Step Functions console."),
		Metric: awscloudwatch.NewMathExpression(&awscloudwatch.MathExpressionProps{
			Expression: jsii.String("failed + timedout + aborted"),
			UsingMetrics: &map[string]awscloudwatch.IMetric{
				"failed":   sfnMetric("ExecutionsFailed", awscdk.Duration_Minutes(jsii.Number(5))),
				"timedout": sfnMetric("ExecutionsTimedOut", awscdk.Duration_Minutes(jsii.Number(5))),
				"aborted":  sfnMetric("ExecutionsAborted", awscdk.Duration_Minutes(jsii.Number(5))),
			},
			Period: awscdk.Duration_Minutes(jsii.Number(5)),
		}),
		Threshold:          jsii.Number(1),
		ComparisonOperator: awscloudwatch.ComparisonOperator_GREATER_THAN_OR_EQUAL_TO_THRESHOLD,
		EvaluationPeriods:  jsii.Number(1),
		TreatMissingData:   awscloudwatch.TreatMissingData_NOT_BREACHING,
	})
	failed.AddAlarmAction(action)

	dlq := awscloudwatch.NewAlarm(s.stack, jsii.String("DeadLettersAlarm"), &awscloudwatch.AlarmProps{
		AlarmName:          jsii.String(s.alarmName("dead-letters")),
		AlarmDescription:   jsii.String("An event or resume failed every retry and waits in the snaplake dead-letter queue: an execution may be waiting for it. Read the message, then redrive or resume by hand."),
		Metric:             s.dlq.MetricApproximateNumberOfMessagesVisible(&awscloudwatch.MetricOptions{Period: awscdk.Duration_Minutes(jsii.Number(5)), Statistic: jsii.String("Maximum")}),
		Threshold:          jsii.Number(1),
		ComparisonOperator: awscloudwatch.ComparisonOperator_GREATER_THAN_OR_EQUAL_TO_THRESHOLD,
		EvaluationPeriods:  jsii.Number(1),
		TreatMissingData:   awscloudwatch.TreatMissingData_NOT_BREACHING,
	})
	dlq.AddAlarmAction(action)

	// CloudWatch publishes alarm notifications to the KMS-encrypted topic itself; the
	// key lets it do so for these alarms only.
	var arns []any
	for _, n := range slices.Concat(alarmNames, s.ingestAlarmNames(), s.federateAlarmNames()) {
		arns = append(arns, s.arn("cloudwatch", "alarm:"+s.alarmName(n)))
	}
	s.key.AddToResourcePolicy(awsiam.NewPolicyStatement(&awsiam.PolicyStatementProps{
		Sid:        jsii.String("CloudWatchAlarmsToEncryptedTopic"),
		Principals: &[]awsiam.IPrincipal{awsiam.NewServicePrincipal(jsii.String("cloudwatch.amazonaws.com"), nil)},
		Actions:    jsii.Strings("kms:Decrypt", "kms:GenerateDataKey"),
		Resources:  jsii.Strings("*"),
		Conditions: &map[string]any{"ArnLike": map[string]any{"aws:SourceArn": arns}},
	}), nil)
}
