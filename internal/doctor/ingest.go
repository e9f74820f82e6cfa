package doctor

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"slices"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/scheduler"
	schedtypes "github.com/aws/aws-sdk-go-v2/service/scheduler/types"

	"github.com/snaplake/snaplake/internal/deploy"
	"github.com/snaplake/snaplake/internal/ingest"
)

// IngestSets are the sets the stack schedules when it deploys the ingestion, each
// with its schedule deploy.IngestScheduleName(set) in group deploy.IngestScheduleGroup
// (infra/ingest.go).
var IngestSets = []string{ingest.SetDaily, ingest.SetFrequent}

// checkIngest: when the stack does not deploy the config-driven ingestion, one
// line says so (its grants are then not simulated: see checkPermissions); when it
// does, each set's schedule exists, is enabled and starts the ingest workflow.
func (r *run) checkIngest(ctx context.Context, st *stack) {
	if !st.ingest {
		var principals []string
		lines := 0
		for _, p := range r.cfg.Permissions {
			if ingestPrincipal(p.Principal) {
				lines++
				if !slices.Contains(principals, p.Principal) {
					principals = append(principals, p.Principal)
				}
			}
		}
		detail := "not deployed (the stack has no IngestRoleArns output; the snaplake:ingest context section deploys it)"
		if lines > 0 {
			detail += fmt.Sprintf(": its schedules and the %d lines of permissions.txt for its %d roles are not checked", lines, len(principals))
		}
		r.pass("ingestion", st.name, detail)
		return
	}
	for _, set := range IngestSets {
		r.checkSchedule(ctx, st, set)
	}
}

// checkSchedule: the set's schedule exists, is ENABLED and targets the ingest
// workflow (when the IngestStateMachineArn output says which it is).
func (r *run) checkSchedule(ctx context.Context, st *stack, set string) {
	name, group := deploy.IngestScheduleName(set), deploy.IngestScheduleGroup
	subject := group + "/" + name
	out, err := r.c.Scheduler.GetSchedule(ctx, &scheduler.GetScheduleInput{Name: aws.String(name), GroupName: aws.String(group)})
	var nf *schedtypes.ResourceNotFoundException
	switch {
	case errors.As(err, &nf):
		r.fail("schedule", subject, "does not exist: no run of the "+set+" set starts",
			"deploy the stack (cdk deploy); if it is deployed, the schedule was deleted by hand and the next deploy does not recreate it: detect the stack's drift and recreate it as its resource IngestSchedule-"+set+" says")
		return
	case err != nil:
		r.fail("schedule", subject, "could not read it: "+err.Error(), "give the caller scheduler:GetSchedule on the stack's schedules")
		return
	}
	target := ""
	if out.Target != nil {
		target = aws.ToString(out.Target.Arn)
	}
	if want := st.values.IngestStateMachine; want != "" && target != want {
		r.fail("schedule", subject, fmt.Sprintf("starts %q, not the ingest workflow %s", target, want),
			"deploy the stack again (cdk deploy); if the schedule was changed by hand, point its target back at the workflow in the EventBridge Scheduler console")
		return
	}
	detail := string(out.State)
	if e := aws.ToString(out.ScheduleExpression); e != "" {
		detail += ", " + e
		if tz := aws.ToString(out.ScheduleExpressionTimezone); tz != "" {
			detail += " " + tz
		}
	}
	if out.State != schedtypes.ScheduleStateEnabled {
		r.fail("schedule", subject, fmt.Sprintf("is %s: no run of the %s set starts", cmp.Or(string(out.State), "in no state"), set),
			"enable it in the EventBridge Scheduler console (group "+group+"); `aws scheduler update-schedule` replaces every field of the schedule, so give it all of them from `aws scheduler get-schedule --group-name "+group+" --name "+name+"` with --state ENABLED")
		return
	}
	r.pass("schedule", subject, detail)
}
