package scheduler

import (
	"context"
	"errors"
	"fmt"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/scheduler"
	"github.com/aws/aws-sdk-go-v2/service/scheduler/types"

	"github.com/snaplake/snaplake/internal/ingest"
	"github.com/snaplake/snaplake/internal/ingest/schedules"
)

var _ schedules.API = (*Service)(nil)

const stateMachine = "arn:aws:states:us-east-1:123456789012:stateMachine:snaplake-ingest"

// setSchedule is the schedule the stack deploys for a default set in tz.
func setSchedule(t testing.TB, set, tz string) Schedule {
	return Schedule{
		Name: set, Group: "snaplake", Expression: setExpression(t, set, tz), TimeZone: tz,
		Target: Target{Arn: stateMachine, RoleArn: "arn:aws:iam::123456789012:role/snaplake-scheduler", Input: `{"set":"` + set + `"}`},
	}
}

func newService(t testing.TB, schedules ...Schedule) *Service {
	t.Helper()
	s, err := New(schedules...)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func get(t testing.TB, s *Service, group, name string) *scheduler.GetScheduleOutput {
	t.Helper()
	out, err := s.GetSchedule(context.Background(), &scheduler.GetScheduleInput{Name: aws.String(name), GroupName: optional(group)})
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// TestDefaultSetsFireAsIngestExpects runs the deployed expressions of both default sets
// through the weeks of the 2026 daylight saving changes and checks the firings against
// ingest.Set.Due and NextRun, the Lambda's own reading of the sets.
func TestDefaultSetsFireAsIngestExpects(t *testing.T) {
	weeks := []struct{ tz, monday string }{
		{"Europe/Berlin", "2026-03-23"},    // springs forward Sunday 29th
		{"Europe/Berlin", "2026-10-19"},    // falls back Sunday 25th
		{"America/New_York", "2026-03-02"}, // springs forward Sunday 8th
		{"America/New_York", "2026-10-26"}, // falls back Sunday 1 November
	}
	for _, w := range weeks {
		t.Run(w.tz+"/"+w.monday, func(t *testing.T) {
			loc := zone(t, w.tz)
			monday, err := time.ParseInLocation("2006-01-02", w.monday, loc)
			if err != nil {
				t.Fatal(err)
			}
			// Eight days: the week and the Monday after the change.
			from, to := monday, monday.AddDate(0, 0, 8)
			s := newService(t, setSchedule(t, ingest.SetDaily, w.tz), setSchedule(t, ingest.SetFrequent, w.tz))
			firings := s.Due(from, to)
			if !slices.IsSortedFunc(firings, func(a, b Firing) int { return a.At.Compare(b.At) }) {
				t.Error("Due is not in time order")
			}
			for name, set := range ingest.DefaultSets() {
				var fired []time.Time
				dueOn := map[string]int{} // local date: firings Due accepts
				for _, f := range firings {
					if f.Schedule != name {
						continue
					}
					if f.Input != `{"set":"`+name+`"}` || f.TargetArn != stateMachine {
						t.Errorf("%s firing %+v: want the set's input and state machine", name, f)
					}
					fired = append(fired, f.At)
					local := f.At.In(loc)
					switch {
					case set.Due(f.At, loc):
						dueOn[local.Format("2006-01-02 Mon")]++
					case name == ingest.SetDaily && local.Format("15:04") == "03:00":
						// The hour the expression adds for the day the jump skips 02:00;
						// on every other day Due makes it a no-op.
					default:
						t.Errorf("%s fires at %s (%s), which ingest's Due does not accept", name, f.At.UTC().Format(time.RFC3339), local.Format("Mon 15:04 MST"))
					}
				}
				for d := monday; d.Before(to); d = d.AddDate(0, 0, 1) {
					day := d.Format("2006-01-02 Mon")
					want := 1
					if name == ingest.SetFrequent {
						// Every 15 minutes in [08:00, 18:00): 08:00 to 17:45, 10 hours of 4.
						want = 40
						if d.Weekday() == time.Saturday || d.Weekday() == time.Sunday {
							want = 0
						}
					}
					if dueOn[day] != want {
						t.Errorf("%s: %d runs on %s, want %d", name, dueOn[day], day, want)
					}
				}
				// Every run ingest expects is fired: a repeated time at one of its instants.
				for r := set.NextRun(from, loc); r.After(from) && !r.After(to); r = set.NextRun(r, loc) {
					twin := slices.ContainsFunc(fired, func(f time.Time) bool {
						return !f.Equal(r) && f.In(loc).Format(time.DateTime) == r.In(loc).Format(time.DateTime)
					})
					if !slices.ContainsFunc(fired, r.Equal) && !twin {
						t.Errorf("%s: the run ingest expects at %s (%s) is not fired", name, r.UTC().Format(time.RFC3339), r.In(loc).Format("Mon 15:04 MST"))
					}
				}
			}
		})
	}
}

func TestGetSchedule(t *testing.T) {
	s := newService(t, Schedule{
		Name: "daily", Expression: "cron(0 2 * * ? *)", TimeZone: "Europe/Berlin",
		Target: Target{Arn: stateMachine, RoleArn: "arn:aws:iam::123456789012:role/r", Input: `{"set":"daily"}`},
	})
	got := get(t, s, "", "daily")
	if aws.ToString(got.GroupName) != DefaultGroup || got.State != types.ScheduleStateEnabled ||
		got.ActionAfterCompletion != types.ActionAfterCompletionNone || got.FlexibleTimeWindow.Mode != types.FlexibleTimeWindowModeOff ||
		aws.ToString(got.Arn) != "arn:aws:scheduler:us-east-1:123456789012:schedule/default/daily" ||
		aws.ToInt32(got.Target.RetryPolicy.MaximumRetryAttempts) != 185 || aws.ToInt32(got.Target.RetryPolicy.MaximumEventAgeInSeconds) != 86400 ||
		aws.ToString(got.ScheduleExpression) != "cron(0 2 * * ? *)" || aws.ToString(got.ScheduleExpressionTimezone) != "Europe/Berlin" ||
		aws.ToString(got.Target.Input) != `{"set":"daily"}` {
		t.Errorf("GetSchedule = %+v (target %+v), want the schedule in the default group with the service's defaults", got, got.Target)
	}
	// The answer is a copy.
	*got.Target.Input = "changed"
	got.FlexibleTimeWindow.Mode = types.FlexibleTimeWindowModeFlexible
	if again := get(t, s, "", "daily"); aws.ToString(again.Target.Input) != `{"set":"daily"}` || again.FlexibleTimeWindow.Mode != types.FlexibleTimeWindowModeOff {
		t.Error("changing GetSchedule's answer changed the schedule")
	}
}

func TestUnknownScheduleIsNotFound(t *testing.T) {
	s := newService(t, setSchedule(t, ingest.SetDaily, "UTC"))
	update := &scheduler.UpdateScheduleInput{Name: aws.String("nightly"), GroupName: aws.String("snaplake"), ScheduleExpression: aws.String("cron(0 2 * * ? *)"),
		FlexibleTimeWindow: &types.FlexibleTimeWindow{Mode: types.FlexibleTimeWindowModeOff}, Target: &types.Target{Arn: aws.String(stateMachine), RoleArn: aws.String("arn:aws:iam::123456789012:role/r")}}
	_, getErr := s.GetSchedule(context.Background(), &scheduler.GetScheduleInput{Name: aws.String("nightly"), GroupName: aws.String("snaplake")})
	_, wrongGroup := s.GetSchedule(context.Background(), &scheduler.GetScheduleInput{Name: aws.String("daily")}) // it is in snaplake
	_, updateErr := s.UpdateSchedule(context.Background(), update)
	for what, err := range map[string]error{"GetSchedule": getErr, "GetSchedule in the default group": wrongGroup, "UpdateSchedule": updateErr} {
		var nf *types.ResourceNotFoundException
		if !errors.As(err, &nf) || !strings.HasPrefix(nf.ErrorMessage(), "Schedule ") || !strings.HasSuffix(nf.ErrorMessage(), " does not exist.") {
			t.Errorf("%s: err = %v, want a ResourceNotFoundException \"Schedule <name> does not exist.\"", what, err)
		}
	}
	if !strings.Contains(getErr.Error(), "Schedule nightly does not exist.") {
		t.Errorf("err = %v, want it to name the schedule", getErr)
	}
}

// TestUpdateScheduleReplacesTheSchedule: what the request leaves out returns to its
// default, as the API reference warns.
func TestUpdateScheduleReplacesTheSchedule(t *testing.T) {
	sc := setSchedule(t, ingest.SetDaily, "Europe/Berlin")
	sc.State, sc.Description = types.ScheduleStateDisabled, "nightly load"
	s := newService(t, sc)
	before := get(t, s, "snaplake", "daily")
	_, err := s.UpdateSchedule(context.Background(), &scheduler.UpdateScheduleInput{
		Name: aws.String("daily"), GroupName: aws.String("snaplake"), ScheduleExpression: aws.String("cron(0 4 * * ? *)"),
		FlexibleTimeWindow: &types.FlexibleTimeWindow{Mode: types.FlexibleTimeWindowModeOff},
		Target:             &types.Target{Arn: aws.String(stateMachine), RoleArn: aws.String("arn:aws:iam::123456789012:role/r")},
	})
	if err != nil {
		t.Fatal(err)
	}
	after := get(t, s, "snaplake", "daily")
	if after.State != types.ScheduleStateEnabled || after.Description != nil || after.Target.Input != nil || after.ScheduleExpressionTimezone != nil {
		t.Errorf("after a bare update: state %s, description %v, input %v, zone %v; want ENABLED and none of the others",
			after.State, after.Description, after.Target.Input, after.ScheduleExpressionTimezone)
	}
	if !aws.ToTime(after.CreationDate).Equal(aws.ToTime(before.CreationDate)) || aws.ToString(after.Arn) != aws.ToString(before.Arn) {
		t.Error("an update changed the schedule's ARN or creation date")
	}
}

func TestUpdateScheduleValidates(t *testing.T) {
	valid := func() *scheduler.UpdateScheduleInput {
		return &scheduler.UpdateScheduleInput{
			Name: aws.String("daily"), GroupName: aws.String("snaplake"), ScheduleExpression: aws.String("cron(0 2 * * ? *)"),
			ScheduleExpressionTimezone: aws.String("Europe/Berlin"),
			FlexibleTimeWindow:         &types.FlexibleTimeWindow{Mode: types.FlexibleTimeWindowModeOff},
			Target:                     &types.Target{Arn: aws.String(stateMachine), RoleArn: aws.String("arn:aws:iam::123456789012:role/r")},
		}
	}
	tests := []struct {
		name   string
		change func(*scheduler.UpdateScheduleInput)
		want   string
	}{
		{"no expression", func(in *scheduler.UpdateScheduleInput) { in.ScheduleExpression = nil }, "ScheduleExpression"},
		{"no flexible time window", func(in *scheduler.UpdateScheduleInput) { in.FlexibleTimeWindow = nil }, "FlexibleTimeWindow"},
		{"no target", func(in *scheduler.UpdateScheduleInput) { in.Target = nil }, "Target"},
		{"no role", func(in *scheduler.UpdateScheduleInput) { in.Target.RoleArn = nil }, "Target.RoleArn"},
		{"no name", func(in *scheduler.UpdateScheduleInput) { in.Name = nil }, "Name"},
		{"five-field cron", func(in *scheduler.UpdateScheduleInput) { in.ScheduleExpression = aws.String("cron(0 2 * * ?)") }, "Invalid Schedule Expression cron(0 2 * * ?)"},
		{"both day fields", func(in *scheduler.UpdateScheduleInput) { in.ScheduleExpression = aws.String("cron(0 2 * * * *)") }, "Invalid Schedule Expression"},
		{"rate in weeks", func(in *scheduler.UpdateScheduleInput) { in.ScheduleExpression = aws.String("rate(1 week)") }, "Invalid Schedule Expression"},
		{"unknown zone", func(in *scheduler.UpdateScheduleInput) { in.ScheduleExpressionTimezone = aws.String("Europe/Atlantis") }, "ScheduleExpressionTimezone"},
		{"flexible without a window", func(in *scheduler.UpdateScheduleInput) {
			in.FlexibleTimeWindow = &types.FlexibleTimeWindow{Mode: types.FlexibleTimeWindowModeFlexible}
		}, "MaximumWindowInMinutes"},
		{"unknown state", func(in *scheduler.UpdateScheduleInput) { in.State = "PAUSED" }, "State"},
	}
	s := newService(t, setSchedule(t, ingest.SetDaily, "UTC"))
	before := get(t, s, "snaplake", "daily")
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			in := valid()
			tt.change(in)
			_, err := s.UpdateSchedule(context.Background(), in)
			var ve *types.ValidationException
			if !errors.As(err, &ve) || !strings.Contains(ve.ErrorMessage(), tt.want) {
				t.Errorf("err = %v, want a ValidationException naming %s", err, tt.want)
			}
		})
	}
	if after := get(t, s, "snaplake", "daily"); !reflect.DeepEqual(after, before) {
		t.Error("a refused update changed the schedule")
	}
	if _, err := s.UpdateSchedule(context.Background(), valid()); err != nil {
		t.Errorf("the valid request: %v", err)
	}
}

func TestNewRefuses(t *testing.T) {
	bad := setSchedule(t, ingest.SetDaily, "UTC")
	bad.Expression = "cron(0 2 * * * *)"
	var ve *types.ValidationException
	if _, err := New(bad); !errors.As(err, &ve) || !strings.Contains(err.Error(), "snaplake/daily") {
		t.Errorf("New with a bad expression: err = %v, want a ValidationException naming snaplake/daily", err)
	}
	var ce *types.ConflictException
	if _, err := New(setSchedule(t, ingest.SetDaily, "UTC"), setSchedule(t, ingest.SetDaily, "UTC")); !errors.As(err, &ce) {
		t.Errorf("New with the same schedule twice: err = %v, want a ConflictException", err)
	}
}

func TestListSchedules(t *testing.T) {
	other := setSchedule(t, ingest.SetDaily, "UTC")
	other.Group = ""
	disabled := setSchedule(t, ingest.SetFrequent, "UTC")
	disabled.State = types.ScheduleStateDisabled
	s := newService(t, setSchedule(t, ingest.SetDaily, "UTC"), disabled, other,
		Schedule{Name: "dump", Group: "snaplake", Expression: "rate(1 hour)", Target: Target{Arn: stateMachine, RoleArn: "arn:aws:iam::123456789012:role/r"}})
	names := func(in *scheduler.ListSchedulesInput) (out []string, next *string) {
		t.Helper()
		res, err := s.ListSchedules(context.Background(), in)
		if err != nil {
			t.Fatal(err)
		}
		for _, sc := range res.Schedules {
			out = append(out, aws.ToString(sc.GroupName)+"/"+aws.ToString(sc.Name))
			if aws.ToString(sc.Target.Arn) != stateMachine {
				t.Errorf("summary of %s: target %v", aws.ToString(sc.Name), aws.ToString(sc.Target.Arn))
			}
		}
		return out, res.NextToken
	}
	for _, tt := range []struct {
		name string
		in   scheduler.ListSchedulesInput
		want []string
	}{
		{"all", scheduler.ListSchedulesInput{}, []string{"default/daily", "snaplake/daily", "snaplake/dump", "snaplake/frequent"}},
		{"group", scheduler.ListSchedulesInput{GroupName: aws.String("snaplake")}, []string{"snaplake/daily", "snaplake/dump", "snaplake/frequent"}},
		{"prefix", scheduler.ListSchedulesInput{NamePrefix: aws.String("d")}, []string{"default/daily", "snaplake/daily", "snaplake/dump"}},
		{"state", scheduler.ListSchedulesInput{State: types.ScheduleStateDisabled}, []string{"snaplake/frequent"}},
	} {
		if got, _ := names(&tt.in); !slices.Equal(got, tt.want) {
			t.Errorf("%s: ListSchedules = %v, want %v", tt.name, got, tt.want)
		}
	}
	var all []string
	in := &scheduler.ListSchedulesInput{MaxResults: aws.Int32(3)}
	for pages := 0; ; pages++ {
		page, next := names(in)
		all = append(all, page...)
		if next == nil || pages > 3 {
			break
		}
		in.NextToken = next
	}
	if want := []string{"default/daily", "snaplake/daily", "snaplake/dump", "snaplake/frequent"}; !slices.Equal(all, want) {
		t.Errorf("paged by 3: %v, want %v", all, want)
	}
}

func TestDue(t *testing.T) {
	start := utc("2026-06-01T10:00:00Z")
	off := setSchedule(t, ingest.SetDaily, "UTC")
	off.State = types.ScheduleStateDisabled
	s := newService(t,
		off,
		Schedule{Name: "hourly", Group: "g", Expression: "rate(1 hour)", StartDate: start, EndDate: start.Add(150 * time.Minute),
			Target: Target{Arn: stateMachine, RoleArn: "arn:aws:iam::123456789012:role/r", Input: "h"}},
		Schedule{Name: "once", Group: "g", Expression: "at(2026-06-01T13:30:00)", TimeZone: "Europe/Berlin",
			Target: Target{Arn: stateMachine, RoleArn: "arn:aws:iam::123456789012:role/r", Input: "o"}},
		Schedule{Name: "noon", Group: "g", Expression: "cron(0 12 * * ? *)", StartDate: utc("2026-06-02T00:00:00Z"),
			Target: Target{Arn: stateMachine, RoleArn: "arn:aws:iam::123456789012:role/r", Input: "n"}},
	)
	var got []string
	for _, f := range s.Due(start, utc("2026-06-02T12:00:00Z")) {
		got = append(got, fmt.Sprintf("%s %s %s", f.At.UTC().Format("01-02T15:04"), f.Schedule, f.Input))
	}
	want := []string{
		// The rate counts from its start date, (from excluded) until its end date.
		"06-01T11:00 hourly h", "06-01T11:30 once o", "06-01T12:00 hourly h",
		// The cron from its start date, to included; the disabled daily not at all.
		"06-02T12:00 noon n",
	}
	if !slices.Equal(got, want) {
		t.Errorf("Due = %q, want %q", got, want)
	}
}

// TestSyncAgainstTheStandIn: schedules.Sync changes the expression and keeps the rest,
// and the service then fires on the new expression.
func TestSyncAgainstTheStandIn(t *testing.T) {
	daily := setSchedule(t, ingest.SetDaily, "Europe/Berlin")
	daily.State, daily.Description = types.ScheduleStateDisabled, "nightly load"
	daily.FlexibleTimeWindow, daily.MaximumWindowInMinutes = types.FlexibleTimeWindowModeFlexible, 10
	s := newService(t, daily, setSchedule(t, ingest.SetFrequent, "Europe/Berlin"))
	before := get(t, s, "snaplake", "daily")

	thirty := ingest.Set{Every: "30m", Between: "08:00-18:00", Days: []string{"MON", "TUE", "WED", "THU", "FRI"}}
	expr, err := thirty.ScheduleExpression(zone(t, "Europe/Berlin"))
	if err != nil {
		t.Fatal(err)
	}
	changes, err := schedules.Sync(context.Background(), s, []schedules.Want{
		{Name: "daily", Group: "snaplake", Expression: "cron(0 4 * * ? *)", TimeZone: "Europe/Berlin"},
		{Name: "frequent", Group: "snaplake", Expression: expr, TimeZone: "Europe/Berlin"},
	})
	if err != nil || len(changes) != 2 {
		t.Fatalf("Sync = %+v, %v; want both changed", changes, err)
	}
	after := get(t, s, "snaplake", "daily")
	if aws.ToString(after.ScheduleExpression) != "cron(0 4 * * ? *)" {
		t.Errorf("expression = %s", aws.ToString(after.ScheduleExpression))
	}
	after.ScheduleExpression, after.LastModificationDate = before.ScheduleExpression, before.LastModificationDate
	if !reflect.DeepEqual(after, before) {
		t.Errorf("Sync changed more than the expression:\nbefore %+v\nafter  %+v", before, after)
	}
	// Monday 30 March 2026: 08:00 to 17:30 CEST, every 30 minutes.
	n := 0
	for _, f := range s.Due(utc("2026-03-29T22:00:00Z"), utc("2026-03-30T22:00:00Z")) {
		if f.Schedule != "frequent" || !thirty.Due(f.At, zone(t, "Europe/Berlin")) {
			t.Errorf("unexpected firing %+v", f)
		}
		n++
	}
	if n != 20 {
		t.Errorf("%d firings on Monday, want 20 (the daily one is disabled)", n)
	}
	if changes, err := schedules.Sync(context.Background(), s, []schedules.Want{{Name: "frequent", Group: "snaplake", Expression: expr, TimeZone: "Europe/Berlin"}}); err != nil || len(changes) != 0 {
		t.Errorf("second Sync = %+v, %v; want nothing to do", changes, err)
	}
}
