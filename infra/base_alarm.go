package main

import (
	"strings"

	"github.com/aws/aws-cdk-go/awscdk/v2"
	"github.com/aws/aws-cdk-go/awscdk/v2/awscloudwatch"
	"github.com/aws/aws-cdk-go/awscdk/v2/awscloudwatchactions"
	"github.com/aws/aws-cdk-go/awscdk/v2/awsstepfunctions"
	"github.com/aws/jsii-runtime-go"
)

// alarmName is the fixed name of one of the stack's alarms, fixed so that the key
// policy can name it before it exists; naming it adds it to that policy (addKey).
func (b *Base) alarmName(what string) string {
	name := b.name + "-" + what
	b.alarms = append(b.alarms, name)
	return name
}

// newAlarm creates an alarm named what (alarmName) that notifies the topic.
func (b *Base) newAlarm(id, what string, props *awscloudwatch.AlarmProps) awscloudwatch.Alarm {
	props.AlarmName = jsii.String(b.alarmName(what))
	alarm := awscloudwatch.NewAlarm(b.stack, jsii.String(id), props)
	alarm.AddAlarmAction(awscloudwatchactions.NewSnsAction(b.topic))
	return alarm
}

// executionMetric is a Step Functions metric of one state machine, summed.
func executionMetric(machine awsstepfunctions.StateMachine, name string, period awscdk.Duration) awscloudwatch.Metric {
	return awscloudwatch.NewMetric(&awscloudwatch.MetricProps{
		Namespace:     jsii.String("AWS/States"),
		MetricName:    jsii.String(name),
		DimensionsMap: &map[string]*string{"StateMachineArn": machine.StateMachineArn()},
		Statistic:     jsii.String("Sum"),
		Period:        period,
	})
}

// watched is a state machine whose failed executions an alarm counts; suffix tells
// its metrics apart from another's in one alarm ("" for an alarm on one machine).
type watched struct {
	suffix  string
	machine awsstepfunctions.StateMachine
}

// executionsFailedAlarm notifies the topic of executions that failed, timed out or
// were aborted, including failures a definition cannot catch (States.Runtime).
func (b *Base) executionsFailedAlarm(id, what, description string, machines ...watched) {
	period := awscdk.Duration_Minutes(jsii.Number(5))
	metrics := map[string]awscloudwatch.IMetric{}
	var terms []string
	for _, w := range machines {
		for _, m := range []struct{ id, name string }{{"failed", "ExecutionsFailed"}, {"timedout", "ExecutionsTimedOut"}, {"aborted", "ExecutionsAborted"}} {
			metrics[m.id+w.suffix] = executionMetric(w.machine, m.name, period)
			terms = append(terms, m.id+w.suffix)
		}
	}
	b.newAlarm(id, what, &awscloudwatch.AlarmProps{
		AlarmDescription: jsii.String(description),
		Metric: awscloudwatch.NewMathExpression(&awscloudwatch.MathExpressionProps{
			Expression:   jsii.String(strings.Join(terms, " + ")),
			UsingMetrics: &metrics,
			Period:       period,
		}),
		Threshold:          jsii.Number(1),
		ComparisonOperator: awscloudwatch.ComparisonOperator_GREATER_THAN_OR_EQUAL_TO_THRESHOLD,
		EvaluationPeriods:  jsii.Number(1),
		TreatMissingData:   awscloudwatch.TreatMissingData_NOT_BREACHING,
	})
}

// AddDeadLettersAlarm notifies the topic of a message in the dead-letter queue. The
// stack adds it right after the export's alarms: the key policy lists the alarms in
// the order they are named, and deployed stacks have this one third.
func (b *Base) AddDeadLettersAlarm() {
	b.newAlarm("DeadLettersAlarm", "dead-letters", &awscloudwatch.AlarmProps{
		AlarmDescription:   jsii.String("An event or resume failed every retry and waits in the snaplake dead-letter queue: an execution may be waiting for it. Read the message, then redrive or resume by hand."),
		Metric:             b.dlq.MetricApproximateNumberOfMessagesVisible(&awscloudwatch.MetricOptions{Period: awscdk.Duration_Minutes(jsii.Number(5)), Statistic: jsii.String("Maximum")}),
		Threshold:          jsii.Number(1),
		ComparisonOperator: awscloudwatch.ComparisonOperator_GREATER_THAN_OR_EQUAL_TO_THRESHOLD,
		EvaluationPeriods:  jsii.Number(1),
		TreatMissingData:   awscloudwatch.TreatMissingData_NOT_BREACHING,
	})
}
