package schedules

import (
	"context"
	"errors"
	"fmt"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/scheduler"
	"github.com/aws/aws-sdk-go-v2/service/scheduler/types"
)

var _ API = (*scheduler.Client)(nil)

// fake holds schedules by group/name and records every update.
type fake struct {
	schedules map[string]*scheduler.GetScheduleOutput
	updates   []*scheduler.UpdateScheduleInput
}

func key(group, name *string) string {
	g := aws.ToString(group)
	if g == "" {
		g = "default"
	}
	return g + "/" + aws.ToString(name)
}

func (f *fake) GetSchedule(_ context.Context, in *scheduler.GetScheduleInput, _ ...func(*scheduler.Options)) (*scheduler.GetScheduleOutput, error) {
	s, ok := f.schedules[key(in.GroupName, in.Name)]
	if !ok {
		return nil, &types.ResourceNotFoundException{Message: aws.String(fmt.Sprintf("Schedule %s does not exist.", aws.ToString(in.Name)))}
	}
	return s, nil
}

func (f *fake) UpdateSchedule(_ context.Context, in *scheduler.UpdateScheduleInput, _ ...func(*scheduler.Options)) (*scheduler.UpdateScheduleOutput, error) {
	f.updates = append(f.updates, in)
	return &scheduler.UpdateScheduleOutput{}, nil
}

// deployed is a schedule with every field GetSchedule can return set, so that a
// field Sync forgets to carry shows as a difference.
func deployed(name, expr, tz string) *scheduler.GetScheduleOutput {
	start := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	end := time.Date(2030, 1, 1, 0, 0, 0, 0, time.UTC)
	return &scheduler.GetScheduleOutput{
		ActionAfterCompletion:      types.ActionAfterCompletionNone,
		Arn:                        aws.String("arn:aws:scheduler:eu-central-1:123456789012:schedule/snaplake/" + name),
		CreationDate:               aws.Time(start),
		Description:                aws.String("snaplake " + name + " set"),
		EndDate:                    aws.Time(end),
		FlexibleTimeWindow:         &types.FlexibleTimeWindow{Mode: types.FlexibleTimeWindowModeFlexible, MaximumWindowInMinutes: aws.Int32(5)},
		GroupName:                  aws.String("snaplake"),
		KmsKeyArn:                  aws.String("arn:aws:kms:eu-central-1:123456789012:key/1234abcd-12ab-34cd-56ef-1234567890ab"),
		LastModificationDate:       aws.Time(start),
		Name:                       aws.String(name),
		ScheduleExpression:         aws.String(expr),
		ScheduleExpressionTimezone: aws.String(tz),
		StartDate:                  aws.Time(start),
		State:                      types.ScheduleStateDisabled,
		Target: &types.Target{
			Arn:              aws.String("arn:aws:states:eu-central-1:123456789012:stateMachine:snaplake-ingest"),
			RoleArn:          aws.String("arn:aws:iam::123456789012:role/snaplake-scheduler"),
			Input:            aws.String(`{"set":"` + name + `"}`),
			RetryPolicy:      &types.RetryPolicy{MaximumEventAgeInSeconds: aws.Int32(3600), MaximumRetryAttempts: aws.Int32(3)},
			DeadLetterConfig: &types.DeadLetterConfig{Arn: aws.String("arn:aws:sqs:eu-central-1:123456789012:snaplake-schedule-dlq")},
		},
	}
}

func newFake(schedules ...*scheduler.GetScheduleOutput) *fake {
	f := &fake{schedules: map[string]*scheduler.GetScheduleOutput{}}
	for _, s := range schedules {
		f.schedules[key(s.GroupName, s.Name)] = s
	}
	return f
}

func TestSyncInLineWritesNothing(t *testing.T) {
	f := newFake(deployed("daily", "cron(0 2-3 * * ? *)", "Europe/Berlin"), deployed("frequent", "cron(0/15 8-17 ? * MON-FRI *)", "Europe/Berlin"))
	changes, err := Sync(context.Background(), f, []Want{
		{Name: "daily", Group: "snaplake", Expression: "cron(0 2-3 * * ? *)", TimeZone: "Europe/Berlin"},
		{Name: "frequent", Group: "snaplake", Expression: "cron(0/15 8-17 ? * MON-FRI *)", TimeZone: "Europe/Berlin"},
	})
	if err != nil || len(changes) != 0 || len(f.updates) != 0 {
		t.Errorf("Sync = %+v, %v with %d updates; want no change, no error, no UpdateSchedule call", changes, err, len(f.updates))
	}
}

func TestSyncUTCIsTheDefaultZone(t *testing.T) {
	f := newFake(deployed("daily", "cron(0 2 * * ? *)", "UTC"))
	changes, err := Sync(context.Background(), f, []Want{{Name: "daily", Group: "snaplake", Expression: "cron(0 2 * * ? *)"}})
	if err != nil || len(changes) != 0 || len(f.updates) != 0 {
		t.Errorf("Sync = %+v, %v with %d updates; want an empty zone to equal UTC", changes, err, len(f.updates))
	}
}

// TestSyncKeepsEveryOtherField compares the update with the schedule read, field by
// field over the whole UpdateScheduleInput: a field a newer SDK adds fails the test
// until Sync carries it.
func TestSyncKeepsEveryOtherField(t *testing.T) {
	tests := []struct {
		name     string
		want     Want
		wantFrom Change
	}{
		{"expression", Want{Name: "daily", Group: "snaplake", Expression: "cron(0 4-5 * * ? *)", TimeZone: "Europe/Berlin"},
			Change{Name: "daily", Group: "snaplake", FromExpression: "cron(0 2-3 * * ? *)", ToExpression: "cron(0 4-5 * * ? *)", FromTimeZone: "Europe/Berlin", ToTimeZone: "Europe/Berlin"}},
		{"time zone", Want{Name: "daily", Group: "snaplake", Expression: "cron(0 2-3 * * ? *)", TimeZone: "America/New_York"},
			Change{Name: "daily", Group: "snaplake", FromExpression: "cron(0 2-3 * * ? *)", ToExpression: "cron(0 2-3 * * ? *)", FromTimeZone: "Europe/Berlin", ToTimeZone: "America/New_York"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := deployed("daily", "cron(0 2-3 * * ? *)", "Europe/Berlin")
			f := newFake(got)
			changes, err := Sync(context.Background(), f, []Want{tt.want})
			if err != nil {
				t.Fatal(err)
			}
			if len(changes) != 1 || changes[0] != tt.wantFrom {
				t.Errorf("changes = %+v, want [%+v]", changes, tt.wantFrom)
			}
			if len(f.updates) != 1 {
				t.Fatalf("%d UpdateSchedule calls, want 1", len(f.updates))
			}
			in := reflect.ValueOf(*f.updates[0])
			read := reflect.ValueOf(*got)
			for i := range in.NumField() {
				field := in.Type().Field(i)
				if !field.IsExported() || field.Name == "ClientToken" { // the SDK fills in the idempotency token
					continue
				}
				value := in.Field(i).Interface()
				switch field.Name {
				case "ScheduleExpression":
					if s := aws.ToString(value.(*string)); s != tt.want.Expression {
						t.Errorf("ScheduleExpression = %q, want %q", s, tt.want.Expression)
					}
					continue
				case "ScheduleExpressionTimezone":
					if s := aws.ToString(value.(*string)); s != tt.want.TimeZone {
						t.Errorf("ScheduleExpressionTimezone = %q, want %q", s, tt.want.TimeZone)
					}
					continue
				}
				src := read.FieldByName(field.Name)
				if !src.IsValid() {
					t.Errorf("UpdateScheduleInput.%s has no GetScheduleOutput field to copy: decide what Sync sends", field.Name)
					continue
				}
				if src.IsZero() {
					t.Errorf("the fixture leaves %s empty, so this test cannot see whether Sync keeps it", field.Name)
				}
				if !reflect.DeepEqual(value, src.Interface()) {
					t.Errorf("%s = %s, want it kept as %s", field.Name, show(value), show(src.Interface()))
				}
			}
			// The pointers are shared, so spell out the target's parts too.
			tg := f.updates[0].Target
			if aws.ToString(tg.RoleArn) != "arn:aws:iam::123456789012:role/snaplake-scheduler" || aws.ToString(tg.Input) != `{"set":"daily"}` ||
				aws.ToInt32(tg.RetryPolicy.MaximumRetryAttempts) != 3 || aws.ToString(tg.DeadLetterConfig.Arn) == "" {
				t.Errorf("target = %s, want its role, input, retry policy and dead-letter queue kept", show(tg))
			}
		})
	}
}

func show(v any) string {
	switch p := v.(type) {
	case *string:
		return fmt.Sprintf("%q", aws.ToString(p))
	case *time.Time:
		return aws.ToTime(p).Format(time.RFC3339)
	case *types.Target:
		return fmt.Sprintf("%+v retry %+v dlq %+v", *p, p.RetryPolicy, p.DeadLetterConfig)
	case *types.FlexibleTimeWindow:
		return fmt.Sprintf("%+v", *p)
	}
	return fmt.Sprintf("%v", v)
}

func TestSyncMissingScheduleIsAnErrorNamingIt(t *testing.T) {
	f := newFake(deployed("frequent", "cron(0/15 8-17 ? * MON-FRI *)", "Europe/Berlin"))
	changes, err := Sync(context.Background(), f, []Want{
		{Name: "daily", Group: "snaplake", Expression: "cron(0 2-3 * * ? *)", TimeZone: "Europe/Berlin"},
		{Name: "frequent", Group: "snaplake", Expression: "cron(0/30 8-17 ? * MON-FRI *)", TimeZone: "Europe/Berlin"},
	})
	var notFound *types.ResourceNotFoundException
	if !errors.As(err, &notFound) || !strings.Contains(err.Error(), "snaplake/daily") {
		t.Errorf("err = %v, want a ResourceNotFoundException naming snaplake/daily", err)
	}
	if len(changes) != 1 || changes[0].Name != "frequent" || len(f.updates) != 1 {
		t.Errorf("changes = %+v after %d updates, want frequent updated all the same", changes, len(f.updates))
	}
}

func TestSyncRefusesAnEmptyWant(t *testing.T) {
	f := newFake(deployed("daily", "cron(0 2 * * ? *)", "UTC"))
	if _, err := Sync(context.Background(), f, []Want{{Name: "daily", Group: "snaplake"}}); err == nil || !strings.Contains(err.Error(), "snaplake/daily") {
		t.Errorf("err = %v, want one naming snaplake/daily", err)
	}
	if len(f.updates) != 0 {
		t.Errorf("%d updates, want none", len(f.updates))
	}
}
