// Package schedules brings the deployed EventBridge Scheduler schedules of the sets in
// line with the runtime config: their expression and time zone, nothing else.
package schedules

import (
	"context"
	"errors"
	"fmt"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/scheduler"
)

// API is what Sync needs from EventBridge Scheduler; *scheduler.Client satisfies it.
type API interface {
	GetSchedule(ctx context.Context, params *scheduler.GetScheduleInput, optFns ...func(*scheduler.Options)) (*scheduler.GetScheduleOutput, error)
	UpdateSchedule(ctx context.Context, params *scheduler.UpdateScheduleInput, optFns ...func(*scheduler.Options)) (*scheduler.UpdateScheduleOutput, error)
}

// Want is the expression and time zone one schedule should have. Group "" is the
// default group; TimeZone "" is UTC, the service's default.
type Want struct {
	Name       string
	Group      string
	Expression string
	TimeZone   string
}

// Change is one schedule Sync updated, with what it had and what it has now.
type Change struct {
	Name           string
	Group          string
	FromExpression string
	ToExpression   string
	FromTimeZone   string
	ToTimeZone     string
}

// Sync reads each wanted schedule and updates it where its expression or time zone
// differs. A schedule already in line is not written. One schedule failing (missing,
// say) does not stop the others: the error joins every failure, each naming its
// schedule, and the changes list what was updated before and after it.
//
// UpdateSchedule replaces the whole schedule: "if you do not set an optional field in
// your request, that field will be set to its system-default value after the update"
// (API reference, UpdateSchedule). So the update carries every field GetSchedule
// returned (the target with its role, input, retry policy and dead-letter queue, the
// flexible time window, state, description, KMS key, start and end dates, action
// after completion) and changes only the two. A start date in the past goes back
// as it was; whether UpdateSchedule refuses one as CreateSchedule is said to ("cannot
// be earlier than 5 minutes ago") is unconfirmed: the sets' schedules need no start date.
func Sync(ctx context.Context, api API, want []Want) ([]Change, error) {
	var changes []Change
	var errs []error
	for _, w := range want {
		c, changed, err := sync(ctx, api, w)
		switch {
		case err != nil:
			errs = append(errs, err)
		case changed:
			changes = append(changes, c)
		}
	}
	return changes, errors.Join(errs...)
}

func sync(ctx context.Context, api API, w Want) (Change, bool, error) {
	name := w.Name
	if w.Group != "" {
		name = w.Group + "/" + w.Name
	}
	if w.Name == "" || w.Expression == "" {
		return Change{}, false, fmt.Errorf("schedule %q: a wanted schedule needs a name and an expression (got %+v)", name, w)
	}
	got, err := api.GetSchedule(ctx, &scheduler.GetScheduleInput{Name: aws.String(w.Name), GroupName: optional(w.Group)})
	if err != nil {
		return Change{}, false, fmt.Errorf("read schedule %s: %w", name, err)
	}
	from := Change{
		Name: w.Name, Group: w.Group,
		FromExpression: aws.ToString(got.ScheduleExpression), FromTimeZone: aws.ToString(got.ScheduleExpressionTimezone),
		ToExpression: w.Expression, ToTimeZone: w.TimeZone,
	}
	if from.FromExpression == from.ToExpression && zone(from.FromTimeZone) == zone(from.ToTimeZone) {
		return Change{}, false, nil
	}
	in := &scheduler.UpdateScheduleInput{
		Name:                       aws.String(w.Name),
		GroupName:                  got.GroupName,
		ScheduleExpression:         aws.String(w.Expression),
		ScheduleExpressionTimezone: optional(w.TimeZone),
		// The rest as it is.
		ActionAfterCompletion: got.ActionAfterCompletion,
		Description:           got.Description,
		EndDate:               got.EndDate,
		FlexibleTimeWindow:    got.FlexibleTimeWindow,
		KmsKeyArn:             got.KmsKeyArn,
		StartDate:             got.StartDate,
		State:                 got.State,
		Target:                got.Target,
	}
	if in.GroupName == nil {
		in.GroupName = optional(w.Group)
	}
	if _, err := api.UpdateSchedule(ctx, in); err != nil {
		return Change{}, false, fmt.Errorf("update schedule %s from %s (%s) to %s (%s): %w", name,
			from.FromExpression, zone(from.FromTimeZone), from.ToExpression, zone(from.ToTimeZone), err)
	}
	return from, true, nil
}

// zone names the time zone a schedule is evaluated in: none given is UTC.
func zone(tz string) string {
	if tz == "" {
		return "UTC"
	}
	return tz
}

func optional(s string) *string {
	if s == "" {
		return nil
	}
	return aws.String(s)
}
