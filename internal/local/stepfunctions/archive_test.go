package stepfunctions

import (
	"context"
	"encoding/json"
	"fmt"
	"reflect"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/snaplake/snaplake/internal/deploy"
	"github.com/snaplake/snaplake/statemachines"
)

func renderArchive(t *testing.T) []byte {
	t.Helper()
	def, err := statemachines.Render(statemachines.Archive, map[string]string{
		statemachines.ArchivePlanFunctionArn:  "arn:aws:lambda:us-east-1:000000000000:function:archiveplan",
		statemachines.ArchiveTableFunctionArn: "arn:aws:lambda:us-east-1:000000000000:function:archivetable",
		statemachines.NotificationTopicArn:    "arn:aws:sns:us-east-1:000000000000:snaplake-alerts",
	})
	if err != nil {
		t.Fatal(err)
	}
	return def
}

// archiveTasks plays the archive's two functions and SNS: the plan returns tables
// (or fails with planError); each table is complete after rounds[table]
// invocations (-1: never), or fails with fail[table].
type archiveTasks struct {
	t         *testing.T
	tables    []string
	planError *TaskError
	rounds    map[string]int
	fail      map[string]*TaskError

	mu          sync.Mutex
	planInput   json.RawMessage
	invocations map[string]int
	order       []string // tables in the order their invocations came
	notified    []string // subject: message
	released    int      // ReleaseRun calls
}

func (x *archiveTasks) run(_ context.Context, call TaskCall) (json.RawMessage, error) {
	x.mu.Lock()
	defer x.mu.Unlock()
	var in struct {
		FunctionName     string
		Payload          json.RawMessage
		Subject, Message string
	}
	if err := json.Unmarshal(call.Input, &in); err != nil {
		return nil, err
	}
	switch call.State {
	case "Plan":
		if !strings.HasSuffix(in.FunctionName, ":function:"+deploy.FnArchivePlan) {
			return nil, fmt.Errorf("Plan invoked %s", in.FunctionName)
		}
		x.planInput = in.Payload
		if x.planError != nil {
			return nil, x.planError
		}
		return json.Marshal(map[string]any{"tables": x.tables})
	case "ArchiveTable":
		var req struct{ Table, Execution string }
		if err := json.Unmarshal(in.Payload, &req); err != nil {
			return nil, err
		}
		if !strings.HasSuffix(in.FunctionName, ":function:"+deploy.FnArchiveTable) || req.Execution != call.Execution {
			return nil, fmt.Errorf("ArchiveTable got %s (execution %s)", call.Input, call.Execution)
		}
		x.invocations[req.Table]++
		if len(x.order) == 0 || x.order[len(x.order)-1] != req.Table {
			x.order = append(x.order, req.Table)
		}
		if err := x.fail[req.Table]; err != nil {
			return nil, err
		}
		n := x.invocations[req.Table]
		complete := x.rounds[req.Table] >= 0 && n >= x.rounds[req.Table]
		schema, table, _ := strings.Cut(req.Table, ".")
		out := map[string]any{"schema": schema, "table": table, "rows": 1000 * n, "complete": complete}
		if complete {
			out["catalog"] = schema + "_archive." + table
		} else {
			out["stopped"] = "budget"
		}
		return json.Marshal(out)
	case "ReleaseRun":
		var req struct {
			Release   bool
			Execution string
		}
		if err := json.Unmarshal(in.Payload, &req); err != nil {
			return nil, err
		}
		if !strings.HasSuffix(in.FunctionName, ":function:"+deploy.FnArchivePlan) || !req.Release || req.Execution != call.Execution {
			return nil, fmt.Errorf("ReleaseRun got %s (execution %s)", call.Input, call.Execution)
		}
		x.released++
		return json.RawMessage(`{"tables":[]}`), nil
	case "NotifyFailure", "NotifyTableFailures":
		x.notified = append(x.notified, in.Subject+": "+in.Message)
		return json.RawMessage(`{"MessageId":"1"}`), nil
	}
	return nil, &TaskError{Name: "States.Runtime", Cause: "unexpected state " + call.State}
}

// TestRealArchiveDefinition runs the archive workflow in aws-local-stepfunctions
// with scripted functions: every state of the definition is entered by one of the
// cases (the offline pipeline runs it with the real handlers).
func TestRealArchiveDefinition(t *testing.T) {
	def := renderArchive(t)
	loop := []string{"ArchiveTable", "CountInvocation", "TableComplete"}
	repeat := func(n int, states ...string) []string {
		var out []string
		for range n {
			out = append(out, states...)
		}
		return out
	}
	cat := func(parts ...[]string) []string {
		var out []string
		for _, p := range parts {
			out = append(out, p...)
		}
		return out
	}
	tests := []struct {
		name, input  string
		x            *archiveTasks
		wantStatus   string
		wantError    string
		wantPlan     string
		wantStates   []string
		wantInvoked  map[string]int
		wantNotified []string // substrings of the one notification
	}{
		{
			name: "schedule: every table, one resumed twice", input: `{}`,
			x:          &archiveTasks{tables: []string{"shop.orders", "shop.events"}, rounds: map[string]int{"shop.orders": 3, "shop.events": 1}},
			wantStatus: StatusSucceeded, wantPlan: `{"table":"","execution":"*"}`,
			wantStates: cat([]string{"TableGiven", "AllTables", "Plan", "ArchiveTables"}, repeat(3, loop...), []string{"TableDone"},
				loop, []string{"TableDone", "ReleaseRun", "TableStatuses", "TableStatus", "TableStatus", "AnyTableFailed", "Done"}),
			wantInvoked: map[string]int{"shop.orders": 3, "shop.events": 1},
		},
		{
			name: "operator: one table", input: `{"table":"shop.orders"}`,
			x:          &archiveTasks{tables: []string{"shop.orders"}, rounds: map[string]int{"shop.orders": 1}},
			wantStatus: StatusSucceeded, wantPlan: `{"table":"shop.orders","execution":"*"}`,
			wantStates:  cat([]string{"TableGiven", "Plan", "ArchiveTables"}, loop, []string{"TableDone", "ReleaseRun", "TableStatuses", "TableStatus", "AnyTableFailed", "Done"}),
			wantInvoked: map[string]int{"shop.orders": 1},
		},
		{
			name: "nothing configured", input: `{}`,
			x:          &archiveTasks{tables: []string{}},
			wantStatus: StatusSucceeded, wantPlan: `{"table":"","execution":"*"}`,
			wantStates:  []string{"TableGiven", "AllTables", "Plan", "ArchiveTables", "ReleaseRun", "TableStatuses", "AnyTableFailed", "Done"},
			wantInvoked: map[string]int{},
		},
		{
			name: "one table fails, the next still runs", input: `{}`,
			x: &archiveTasks{tables: []string{"shop.orders", "shop.events"}, rounds: map[string]int{"shop.events": 1},
				fail: map[string]*TaskError{"shop.orders": {Name: "ConcurrentRunError", Cause: `{"errorMessage":"archive manifest s3://lake/state/archive-runs/shop/orders/cutoff=2026-01-01.json was changed by another run","errorType":"ConcurrentRunError"}`}}},
			wantStatus: StatusFailed, wantError: "TablesFailed", wantPlan: `{"table":"","execution":"*"}`,
			wantStates: cat([]string{"TableGiven", "AllTables", "Plan", "ArchiveTables", "ArchiveTable", "TableFailed"}, loop,
				[]string{"TableDone", "ReleaseRun", "TableStatuses", "TableStatus", "TableStatus", "AnyTableFailed", "NotifyTableFailures", "TablesFailed"}),
			wantInvoked:  map[string]int{"shop.orders": 1, "shop.events": 1},
			wantNotified: []string{"snaplake archive: tables failed", `"table":"shop.orders","status":"failed"`, "ConcurrentRunError", `"table":"shop.events","status":"complete"`},
		},
		{
			name: "a table never completes: bounded", input: `{}`,
			x:          &archiveTasks{tables: []string{"shop.orders"}, rounds: map[string]int{"shop.orders": -1}},
			wantStatus: StatusFailed, wantError: "TablesFailed", wantPlan: `{"table":"","execution":"*"}`,
			wantStates: cat([]string{"TableGiven", "AllTables", "Plan", "ArchiveTables"}, repeat(deploy.ArchiveMaxInvocations, loop...),
				[]string{"TableNotComplete", "TableFailed", "ReleaseRun", "TableStatuses", "TableStatus", "AnyTableFailed", "NotifyTableFailures", "TablesFailed"}),
			wantInvoked:  map[string]int{"shop.orders": deploy.ArchiveMaxInvocations},
			wantNotified: []string{"ArchiveNotComplete", fmt.Sprintf("not complete after %d invocations", deploy.ArchiveMaxInvocations), "resumes it from its manifest"},
		},
		{
			name: "the plan refuses the config", input: `{}`,
			x:          &archiveTasks{planError: &TaskError{Name: "RefusedError", Cause: `{"errorMessage":"config/snaplake.yaml:12: archive.tables[0].retention: a retention of zero would archive every row","errorType":"RefusedError"}`}},
			wantStatus: StatusFailed, wantError: "RefusedError", wantPlan: `{"table":"","execution":"*"}`,
			wantStates:   []string{"TableGiven", "AllTables", "Plan", "NotifyFailure", "Failed"},
			wantInvoked:  map[string]int{},
			wantNotified: []string{"snaplake archive failed", "RefusedError", "snaplake.yaml:12"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := newRunner(t, nil)
			x := tt.x
			x.t, x.invocations = t, map[string]int{}
			r.Tasks = x.run
			res := run(t, r, "archive-"+strings.NewReplacer(" ", "-", ":", "", ",", "").Replace(tt.name), def, tt.input)
			if res.Status != tt.wantStatus || res.Error != tt.wantError {
				t.Fatalf("result %s %s: %s, want %s %s (states %v)", res.Status, res.Error, res.Cause, tt.wantStatus, tt.wantError, res.States)
			}
			if !reflect.DeepEqual(res.States, tt.wantStates) {
				t.Fatalf("states\n %v\nwant\n %v", res.States, tt.wantStates)
			}
			var plan struct{ Table, Execution string }
			if err := json.Unmarshal(x.planInput, &plan); err != nil || plan.Execution == "" {
				t.Fatalf("plan input %s: %v", x.planInput, err)
			}
			if got := fmt.Sprintf(`{"table":%q,"execution":"*"}`, plan.Table); got != tt.wantPlan {
				t.Fatalf("plan input %s, want %s", x.planInput, tt.wantPlan)
			}
			if !reflect.DeepEqual(x.invocations, tt.wantInvoked) {
				t.Fatalf("invocations %v, want %v", x.invocations, tt.wantInvoked)
			}
			// Every run that got past its plan ends its hold on production, once.
			if want := slices.Contains(tt.wantStates, "ReleaseRun"); (x.released == 1) != want {
				t.Fatalf("ReleaseRun called %d times, want it once: %v", x.released, want)
			}
			// One table at a time: each table's invocations are consecutive, in the plan's order.
			if len(x.order) != len(tt.wantInvoked) {
				t.Fatalf("tables were interleaved: %v", x.order)
			}
			if len(tt.wantNotified) == 0 {
				if len(x.notified) != 0 {
					t.Fatalf("notified %v", x.notified)
				}
				return
			}
			if len(x.notified) != 1 {
				t.Fatalf("%d notifications, want 1: %v", len(x.notified), x.notified)
			}
			for _, want := range tt.wantNotified {
				if !strings.Contains(x.notified[0], want) {
					t.Errorf("the notification lacks %s:\n%s", want, x.notified[0])
				}
			}
		})
	}
}
