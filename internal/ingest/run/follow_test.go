package run

import (
	"context"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/scheduler"
	schedtypes "github.com/aws/aws-sdk-go-v2/service/scheduler/types"

	"github.com/snaplake/snaplake/internal/ingest"
	lflocal "github.com/snaplake/snaplake/internal/local/lakeformation"
	schedlocal "github.com/snaplake/snaplake/internal/local/scheduler"
)

// TestGrantsFollowTheConfig: the grants are what the config says, a change of the
// config revokes what it no longer grants, and a second apply changes nothing.
func TestGrantsFollowTheConfig(t *testing.T) {
	e := newEnv(t, shopTables())
	e.exec("INSERT INTO orders (total) VALUES (1)")
	e.putConfig(e.config(shopSets + `  access:
    - role: analytics
      tables: ["*"]
    - role: support
      tables: [orders, order-items]
      columns:
        orders: [id, total]
`))
	e.run(ingest.SetDaily)
	lf, err := lflocal.Open(filepath.Join(t.TempDir(), "lakeformation.json"))
	if err != nil {
		t.Fatal(err)
	}
	a := &GrantsApplier{S3: e.s3, Bucket: e.bucket, LF: lf, Account: "000000000000", Partition: "aws", Database: e.name, Log: e.log}
	ctx := context.Background()
	first, err := a.Apply(ctx, false)
	if err != nil {
		t.Fatal(err)
	}
	held := func() []string {
		gs, err := lf.Grants()
		if err != nil {
			t.Fatal(err)
		}
		var out []string
		for _, g := range gs {
			out = append(out, strings.ReplaceAll(g.String(), e.name, "<db>"))
		}
		slices.Sort(out)
		return out
	}
	if first.Added == 0 || first.Revoked != 0 {
		t.Fatalf("first apply: %+v", first)
	}
	golden(t, "testdata/grants_v1.golden", strings.Join(held(), "\n")+"\n")

	// support loses order-items and gets placed on orders.
	e.putConfig(e.config(shopSets + `  access:
    - role: analytics
      tables: ["*"]
    - role: support
      tables: [orders]
      columns:
        orders: [id, total, placed]
`))
	second, err := a.Apply(ctx, false)
	if err != nil {
		t.Fatal(err)
	}
	if second.Revoked == 0 || second.Added == 0 {
		t.Fatalf("the config change applied as %+v", second)
	}
	golden(t, "testdata/grants_v2.golden", strings.Join(held(), "\n")+"\n")
	if again, err := a.Apply(ctx, false); err != nil || again.Added != 0 || again.Revoked != 0 {
		t.Fatalf("applying the same config again: %+v %v", again, err)
	}
}

// TestSchedulesFollowTheConfig: a run brings both sets' schedules in line with the
// config, keeping everything else of them; a second run changes nothing.
func TestSchedulesFollowTheConfig(t *testing.T) {
	e := newEnv(t, shopTables())
	target := schedlocal.Target{Arn: "arn:aws:states:us-east-1:000000000000:stateMachine:ingest", RoleArn: "arn:aws:iam::000000000000:role/scheduler"}
	var defs []schedlocal.Schedule
	for _, set := range []string{ingest.SetDaily, ingest.SetFrequent} {
		tg := target
		tg.Input = `{"set":"` + set + `"}`
		defs = append(defs, schedlocal.Schedule{Name: "snaplake-ingest-" + set, Group: "snaplake", Expression: "cron(0 2 * * ? *)", TimeZone: "UTC",
			State: schedtypes.ScheduleStateEnabled, Target: tg, FlexibleTimeWindow: schedtypes.FlexibleTimeWindowModeOff})
	}
	sched, err := schedlocal.New(defs...)
	if err != nil {
		t.Fatal(err)
	}
	e.putConfig(e.config("  timeZone: Europe/Berlin\n  sets:\n    daily:\n      at: \"04:30\"\n    frequent:\n      tables: [orders]\n"))
	l := e.local()
	l.Starter.Schedules, l.Starter.ScheduleGroup = sched, "snaplake"
	ctx := context.Background()
	started, err := l.Starter.Start(ctx, StartInput{Event: RunRequest{Set: ingest.SetFrequent}, Time: e.now})
	if err != nil {
		t.Fatal(err)
	}
	if len(started.ScheduleChanges) != 2 {
		t.Fatalf("schedule changes %+v", started.ScheduleChanges)
	}
	got, err := sched.GetSchedule(ctx, &scheduler.GetScheduleInput{Name: aws.String("snaplake-ingest-daily"), GroupName: aws.String("snaplake")})
	if err != nil {
		t.Fatal(err)
	}
	if aws.ToString(got.ScheduleExpression) != "cron(30 4 * * ? *)" || aws.ToString(got.ScheduleExpressionTimezone) != "Europe/Berlin" ||
		aws.ToString(got.Target.Input) != `{"set":"daily"}` || aws.ToString(got.Target.RoleArn) != target.RoleArn {
		t.Errorf("daily schedule after the run: %s %s, target %+v", aws.ToString(got.ScheduleExpression), aws.ToString(got.ScheduleExpressionTimezone), got.Target)
	}
	// The frequent set is not due at 02:00 UTC on a Monday (04:00 in Berlin): nothing loads.
	if started.Load || started.Due || !strings.Contains(started.Reason, "not due") {
		t.Errorf("a run outside the set's window: %+v", started)
	}
	again, err := l.Starter.Start(ctx, StartInput{Event: RunRequest{Set: ingest.SetFrequent}, Time: e.now})
	if err != nil || len(again.ScheduleChanges) != 0 {
		t.Fatalf("second run: %+v %v", again.ScheduleChanges, err)
	}
}
