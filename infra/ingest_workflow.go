package main

import (
	"fmt"

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
	group := x.scheduleGroup("IngestScheduleGroup", deploy.IngestScheduleGroup)
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
