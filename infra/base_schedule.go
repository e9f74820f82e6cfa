package main

import (
	"github.com/aws/aws-cdk-go/awscdk/v2/awsiam"
	"github.com/aws/aws-cdk-go/awscdk/v2/awsscheduler"
	"github.com/aws/aws-cdk-go/awscdk/v2/awsstepfunctions"
	"github.com/aws/jsii-runtime-go"

	"github.com/snaplake/snaplake/internal/deploy"
)

// scheduleGroup creates a capability's own EventBridge Scheduler group.
func (b *Base) scheduleGroup(id, name string) awsscheduler.CfnScheduleGroup {
	return awsscheduler.NewCfnScheduleGroup(b.stack, jsii.String(id), &awsscheduler.CfnScheduleGroupProps{Name: jsii.String(name)})
}

// snaplakeScheduleGroup is the group deploy.IngestScheduleGroup ("snaplake") that
// the ingestion's and the archive's schedules share, created by whichever of them
// comes first. Its logical ID stays the one the ingestion gave it, so a stack that
// adds or removes either capability updates the group in place.
func (b *Base) snaplakeScheduleGroup() awsscheduler.CfnScheduleGroup {
	if b.schedGroup == nil {
		b.schedGroup = b.scheduleGroup("IngestScheduleGroup", deploy.IngestScheduleGroup)
	}
	return b.schedGroup
}

// scheduleSpec is what differs between the stack's schedules.
type scheduleSpec struct {
	id, name, description string
	expression, timeZone  string
	machine               awsstepfunctions.StateMachine
	role                  awsiam.IRole // Scheduler starts the workflow as this role
	input                 string
}

// schedule starts spec.machine on its schedule in group. No KmsKeyArn: the input is
// a set name or a time, and Scheduler's own key needs no permissions that could
// fail a start (review F6). A start delivered late is retried briefly (a run does
// what is due at its start), then dead-lettered; the role's policy is created
// first, so the first start does not find it missing.
func (b *Base) schedule(group awsscheduler.CfnScheduleGroup, spec scheduleSpec) {
	sched := awsscheduler.NewCfnSchedule(b.stack, jsii.String(spec.id), &awsscheduler.CfnScheduleProps{
		Name:                       jsii.String(spec.name),
		GroupName:                  group.Name(),
		Description:                jsii.String(spec.description),
		ScheduleExpression:         jsii.String(spec.expression),
		ScheduleExpressionTimezone: jsii.String(spec.timeZone),
		FlexibleTimeWindow:         &awsscheduler.CfnSchedule_FlexibleTimeWindowProperty{Mode: jsii.String("OFF")},
		State:                      jsii.String("ENABLED"),
		Target: &awsscheduler.CfnSchedule_TargetProperty{
			Arn:              spec.machine.StateMachineArn(),
			RoleArn:          spec.role.RoleArn(),
			Input:            jsii.String(spec.input),
			RetryPolicy:      &awsscheduler.CfnSchedule_RetryPolicyProperty{MaximumEventAgeInSeconds: jsii.Number(600), MaximumRetryAttempts: jsii.Number(5)},
			DeadLetterConfig: &awsscheduler.CfnSchedule_DeadLetterConfigProperty{Arn: b.dlq.QueueArn()},
		},
	})
	sched.AddResourceDependency(group, jsii.String("the schedule lives in the group"))
	sched.Node().AddDependency(spec.role)
}
