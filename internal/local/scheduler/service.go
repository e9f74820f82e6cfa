// Package scheduler is the offline stand-in for EventBridge Scheduler: schedules held in
// memory behind the SDK's GetSchedule, UpdateSchedule and ListSchedules, and the times
// the service would fire them.
package scheduler

import (
	"cmp"
	"context"
	"encoding/json"
	"fmt"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/scheduler"
	"github.com/aws/aws-sdk-go-v2/service/scheduler/types"
)

// The account and Region in the ARNs the stand-in gives its schedules.
const (
	Account = "123456789012"
	Region  = "us-east-1"
)

// DefaultGroup is the group of a schedule created or addressed without one.
const DefaultGroup = "default"

// Schedule is one schedule as New creates it, the part of CreateSchedule's fields
// that snaplake's schedules use.
type Schedule struct {
	Name       string
	Group      string // "" is DefaultGroup
	Expression string // at(...), rate(...) or cron(...)
	TimeZone   string // IANA name; "" is UTC
	State      types.ScheduleState
	Target     Target
	// FlexibleTimeWindow is OFF ("" too) or FLEXIBLE, which needs MaximumWindowInMinutes.
	FlexibleTimeWindow     types.FlexibleTimeWindowMode
	MaximumWindowInMinutes int32
	Description            string
	StartDate, EndDate     time.Time // zero: none
}

// Target is what a schedule invokes: for a Step Functions target, Arn is the state
// machine and Input the execution input.
type Target struct {
	Arn, RoleArn, Input string
}

// Firing is one invocation the service would make.
type Firing struct {
	Schedule, Group string
	At              time.Time // the scheduled time; a FLEXIBLE window may deliver it later
	TargetArn       string
	Input           string
}

// Service holds the schedules. Its methods have the SDK client's signatures, so code
// written against *scheduler.Client runs against it, and it answers with the SDK's
// error types.
type Service struct {
	mu        sync.Mutex
	schedules map[string]*scheduler.GetScheduleOutput // by group/name
}

// New creates the schedules, checked as UpdateSchedule checks them (a ConflictException
// for two of the same name in a group).
func New(schedules ...Schedule) (*Service, error) {
	s := &Service{schedules: map[string]*scheduler.GetScheduleOutput{}}
	now := time.Now().UTC()
	for _, sc := range schedules {
		in := sc.input()
		if err := validate(in); err != nil {
			return nil, fmt.Errorf("schedule %s/%s: %w", group(in.GroupName), sc.Name, err)
		}
		k := key(in.GroupName, in.Name)
		if _, dup := s.schedules[k]; dup {
			return nil, &types.ConflictException{Message: aws.String(fmt.Sprintf("Schedule %s already exists.", sc.Name))}
		}
		s.schedules[k] = record(in, now, now)
	}
	return s, nil
}

func (sc Schedule) input() *scheduler.UpdateScheduleInput {
	in := &scheduler.UpdateScheduleInput{
		Name:               aws.String(sc.Name),
		GroupName:          optional(sc.Group),
		ScheduleExpression: aws.String(sc.Expression),
		// An empty zone goes as none: what GetSchedule then shows is unconfirmed.
		ScheduleExpressionTimezone: optional(sc.TimeZone),
		State:                      sc.State,
		Description:                optional(sc.Description),
		FlexibleTimeWindow:         &types.FlexibleTimeWindow{Mode: cmp.Or(sc.FlexibleTimeWindow, types.FlexibleTimeWindowModeOff)},
		Target: &types.Target{
			Arn:     aws.String(sc.Target.Arn),
			RoleArn: aws.String(sc.Target.RoleArn),
			Input:   optional(sc.Target.Input),
		},
	}
	if sc.MaximumWindowInMinutes != 0 {
		in.FlexibleTimeWindow.MaximumWindowInMinutes = aws.Int32(sc.MaximumWindowInMinutes)
	}
	if !sc.StartDate.IsZero() {
		in.StartDate = aws.Time(sc.StartDate)
	}
	if !sc.EndDate.IsZero() {
		in.EndDate = aws.Time(sc.EndDate)
	}
	return in
}

// GetSchedule returns a copy of the schedule.
func (s *Service) GetSchedule(_ context.Context, in *scheduler.GetScheduleInput, _ ...func(*scheduler.Options)) (*scheduler.GetScheduleOutput, error) {
	if in == nil || aws.ToString(in.Name) == "" {
		return nil, invalid("Name is required")
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	r, ok := s.schedules[key(in.GroupName, in.Name)]
	if !ok {
		return nil, notFound(in.Name)
	}
	return clone(r), nil
}

// UpdateSchedule replaces the schedule with the request, as the service does: "if you
// do not set an optional field in your request, that field will be set to its
// system-default value after the update" (API reference). So a request without State
// enables the schedule and one without a RetryPolicy gets the default one.
func (s *Service) UpdateSchedule(_ context.Context, in *scheduler.UpdateScheduleInput, _ ...func(*scheduler.Options)) (*scheduler.UpdateScheduleOutput, error) {
	if in == nil {
		in = &scheduler.UpdateScheduleInput{}
	}
	if err := validate(in); err != nil {
		return nil, err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	k := key(in.GroupName, in.Name)
	old, ok := s.schedules[k]
	if !ok {
		return nil, notFound(in.Name)
	}
	r := record(in, aws.ToTime(old.CreationDate), time.Now().UTC())
	s.schedules[k] = r
	return &scheduler.UpdateScheduleOutput{ScheduleArn: aws.String(aws.ToString(r.Arn))}, nil
}

// ListSchedules lists the schedules by group and name, filtered by GroupName (none:
// every group), NamePrefix and State, MaxResults (default 100) at a time.
func (s *Service) ListSchedules(_ context.Context, in *scheduler.ListSchedulesInput, _ ...func(*scheduler.Options)) (*scheduler.ListSchedulesOutput, error) {
	if in == nil {
		in = &scheduler.ListSchedulesInput{}
	}
	size := int(aws.ToInt32(in.MaxResults))
	switch {
	case in.MaxResults == nil:
		size = 100
	case size < 1 || size > 100:
		return nil, invalid(fmt.Sprintf("MaxResults %d is not within 1-100", size))
	}
	start := 0
	if in.NextToken != nil {
		n, err := strconv.Atoi(*in.NextToken)
		if err != nil || n < 0 {
			return nil, invalid(fmt.Sprintf("NextToken %q is not one ListSchedules returned", *in.NextToken))
		}
		start = n
	}
	var match []*scheduler.GetScheduleOutput
	for _, r := range s.sorted() {
		if (in.GroupName == nil || aws.ToString(r.GroupName) == *in.GroupName) &&
			strings.HasPrefix(aws.ToString(r.Name), aws.ToString(in.NamePrefix)) &&
			(in.State == "" || r.State == in.State) {
			match = append(match, r)
		}
	}
	out := scheduler.ListSchedulesOutput{Schedules: []types.ScheduleSummary{}}
	for i, r := range match {
		switch {
		case i < start:
			continue
		case i == start+size:
			out.NextToken = aws.String(strconv.Itoa(i))
		default:
			out.Schedules = append(out.Schedules, types.ScheduleSummary{
				Arn: r.Arn, CreationDate: r.CreationDate, LastModificationDate: r.LastModificationDate,
				GroupName: r.GroupName, Name: r.Name, State: r.State,
				Target: &types.TargetSummary{Arn: r.Target.Arn},
			})
			continue
		}
		break
	}
	return &out, nil
}

// Due lists the invocations the service would make in (from, to], in time order: for
// each ENABLED schedule, every time its expression fires (see Next) within its start
// and end dates, with the target's input. A rate counts from its start date, or from
// when the schedule was created ("starts invoking its target immediately").
func (s *Service) Due(from, to time.Time) []Firing {
	var out []Firing
	for _, r := range s.sorted() {
		if r.State != types.ScheduleStateEnabled {
			continue
		}
		e, err := parseExpression(aws.ToString(r.ScheduleExpression))
		if err != nil {
			continue // validated on the way in
		}
		loc, err := loadZone(aws.ToString(r.ScheduleExpressionTimezone))
		if err != nil {
			continue
		}
		fire := func(t time.Time) {
			out = append(out, Firing{Schedule: aws.ToString(r.Name), Group: aws.ToString(r.GroupName), At: t,
				TargetArn: aws.ToString(r.Target.Arn), Input: contextAttributes(aws.ToString(r.Target.Input), aws.ToString(r.Arn), t)})
		}
		start, end := aws.ToTime(r.StartDate), aws.ToTime(r.EndDate)
		within := func(t time.Time) bool {
			// "The service ignores StartDate [and EndDate] for one-time schedules."
			return e.at != nil || (start.IsZero() || !t.Before(start)) && (end.IsZero() || t.Before(end))
		}
		if e.rate > 0 {
			anchor := cmp.Or(start, aws.ToTime(r.CreationDate))
			t := anchor
			if !from.Before(anchor) {
				t = anchor.Add((from.Sub(anchor)/e.rate + 1) * e.rate)
			}
			for ; !t.After(to) && within(t); t = t.Add(e.rate) {
				fire(t)
			}
			continue
		}
		for t := e.next(loc, from); !t.IsZero() && !t.After(to); t = e.next(loc, t) {
			if within(t) {
				fire(t)
			}
		}
	}
	slices.SortStableFunc(out, func(a, b Firing) int { return a.At.Compare(b.At) })
	return out
}

func (s *Service) sorted() []*scheduler.GetScheduleOutput {
	s.mu.Lock()
	defer s.mu.Unlock()
	keys := make([]string, 0, len(s.schedules))
	for k := range s.schedules {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	out := make([]*scheduler.GetScheduleOutput, len(keys))
	for i, k := range keys {
		out[i] = clone(s.schedules[k])
	}
	return out
}

// Defaults the API reference gives for a target's RetryPolicy.
const (
	defaultMaximumEventAgeInSeconds = 86400
	defaultMaximumRetryAttempts     = 185
)

// record is the schedule an accepted request leaves, its omitted fields at their defaults.
func record(in *scheduler.UpdateScheduleInput, created, modified time.Time) *scheduler.GetScheduleOutput {
	g := group(in.GroupName)
	target := deep(in.Target)
	if target.RetryPolicy == nil {
		target.RetryPolicy = &types.RetryPolicy{
			MaximumEventAgeInSeconds: aws.Int32(defaultMaximumEventAgeInSeconds),
			MaximumRetryAttempts:     aws.Int32(defaultMaximumRetryAttempts),
		}
	}
	return &scheduler.GetScheduleOutput{
		ActionAfterCompletion:      cmp.Or(in.ActionAfterCompletion, types.ActionAfterCompletionNone),
		Arn:                        aws.String(fmt.Sprintf("arn:aws:scheduler:%s:%s:schedule/%s/%s", Region, Account, g, aws.ToString(in.Name))),
		CreationDate:               aws.Time(created),
		Description:                ptr(in.Description),
		EndDate:                    ptr(in.EndDate),
		FlexibleTimeWindow:         deep(in.FlexibleTimeWindow),
		GroupName:                  aws.String(g),
		KmsKeyArn:                  ptr(in.KmsKeyArn),
		LastModificationDate:       aws.Time(modified),
		Name:                       ptr(in.Name),
		ScheduleExpression:         ptr(in.ScheduleExpression),
		ScheduleExpressionTimezone: ptr(in.ScheduleExpressionTimezone),
		StartDate:                  ptr(in.StartDate),
		State:                      cmp.Or(in.State, types.ScheduleStateEnabled),
		Target:                     target,
	}
}

var namePattern = regexp.MustCompile(`^[0-9a-zA-Z-_.]{1,64}$`)

// validate checks a request as the service does. Of the service's wording only
// "Invalid Schedule Expression <expression>" is known (as reported from AWS in a
// LocalStack issue); the rest is the stand-in's, each message naming the field.
func validate(in *scheduler.UpdateScheduleInput) error {
	switch {
	case in.Name == nil:
		return invalid("Name is required")
	case !namePattern.MatchString(*in.Name):
		return invalid(fmt.Sprintf("Name %q must be 1-64 letters, digits, -, _ or .", *in.Name))
	case in.GroupName != nil && !namePattern.MatchString(*in.GroupName):
		return invalid(fmt.Sprintf("GroupName %q must be 1-64 letters, digits, -, _ or .", *in.GroupName))
	case in.ScheduleExpression == nil:
		return invalid("ScheduleExpression is required")
	case in.FlexibleTimeWindow == nil:
		return invalid("FlexibleTimeWindow is required")
	case in.Target == nil:
		return invalid("Target is required")
	case aws.ToString(in.Target.Arn) == "":
		return invalid("Target.Arn is required")
	case aws.ToString(in.Target.RoleArn) == "":
		return invalid("Target.RoleArn is required")
	}
	if _, err := parseExpression(*in.ScheduleExpression); err != nil {
		return invalid(fmt.Sprintf("Invalid Schedule Expression %s. The stand-in's reason: %v", *in.ScheduleExpression, err))
	}
	if _, err := loadZone(aws.ToString(in.ScheduleExpressionTimezone)); err != nil {
		return invalid(fmt.Sprintf("ScheduleExpressionTimezone: %v", err))
	}
	switch w := in.FlexibleTimeWindow; w.Mode {
	case types.FlexibleTimeWindowModeOff:
	case types.FlexibleTimeWindowModeFlexible:
		if m := aws.ToInt32(w.MaximumWindowInMinutes); m < 1 || m > 1440 {
			return invalid(fmt.Sprintf("FlexibleTimeWindow.MaximumWindowInMinutes %d: a FLEXIBLE window needs 1-1440", m))
		}
	default:
		return invalid(fmt.Sprintf("FlexibleTimeWindow.Mode %q is not OFF or FLEXIBLE", w.Mode))
	}
	if !slices.Contains([]types.ScheduleState{"", types.ScheduleStateEnabled, types.ScheduleStateDisabled}, in.State) {
		return invalid(fmt.Sprintf("State %q is not ENABLED or DISABLED", in.State))
	}
	if !slices.Contains([]types.ActionAfterCompletion{"", types.ActionAfterCompletionNone, types.ActionAfterCompletionDelete}, in.ActionAfterCompletion) {
		return invalid(fmt.Sprintf("ActionAfterCompletion %q is not NONE or DELETE", in.ActionAfterCompletion))
	}
	return nil
}

func invalid(msg string) error { return &types.ValidationException{Message: aws.String(msg)} }

// notFound has the message of the service's answers seen for a schedule of the
// default group ("Schedule <name> does not exist."); for another group it is
// unconfirmed whether the message names the group.
func notFound(name *string) error {
	return &types.ResourceNotFoundException{Message: aws.String(fmt.Sprintf("Schedule %s does not exist.", aws.ToString(name)))}
}

func key(g, name *string) string { return group(g) + "/" + aws.ToString(name) }

func group(g *string) string { return cmp.Or(aws.ToString(g), DefaultGroup) }

func optional(s string) *string {
	if s == "" {
		return nil
	}
	return aws.String(s)
}

func ptr[T any](p *T) *T {
	if p == nil {
		return nil
	}
	v := *p
	return &v
}

// deep copies a value of the SDK's plain data types (through JSON, which they
// round-trip), so that no caller shares memory with a stored schedule.
func deep[T any](p *T) *T {
	if p == nil {
		return nil
	}
	b, err := json.Marshal(p)
	if err != nil {
		panic(fmt.Sprintf("copy %T: %v", p, err)) // the SDK's data types always marshal
	}
	var v T
	if err := json.Unmarshal(b, &v); err != nil {
		panic(fmt.Sprintf("copy %T: %v", p, err))
	}
	return &v
}

func clone(r *scheduler.GetScheduleOutput) *scheduler.GetScheduleOutput {
	c := *r
	c.Arn, c.CreationDate, c.Description, c.EndDate = ptr(r.Arn), ptr(r.CreationDate), ptr(r.Description), ptr(r.EndDate)
	c.FlexibleTimeWindow, c.GroupName, c.KmsKeyArn = deep(r.FlexibleTimeWindow), ptr(r.GroupName), ptr(r.KmsKeyArn)
	c.LastModificationDate, c.Name, c.ScheduleExpression = ptr(r.LastModificationDate), ptr(r.Name), ptr(r.ScheduleExpression)
	c.ScheduleExpressionTimezone, c.StartDate, c.Target = ptr(r.ScheduleExpressionTimezone), ptr(r.StartDate), deep(r.Target)
	return &c
}

// contextAttributes replaces the keywords Scheduler fills in a templated target's
// input when it invokes the target (managing-schedule-context-attributes): the
// schedule's ARN, the scheduled time (2022-03-22T18:59:43Z), the invocation's ID and
// its attempt number (the first attempt: the stand-in does not retry).
func contextAttributes(input, arn string, at time.Time) string {
	return strings.NewReplacer(
		"<aws.scheduler.schedule-arn>", arn,
		"<aws.scheduler.scheduled-time>", at.UTC().Format(time.RFC3339),
		"<aws.scheduler.execution-id>", fmt.Sprintf("%016x", at.UnixNano()),
		"<aws.scheduler.attempt-number>", "1",
	).Replace(input)
}
