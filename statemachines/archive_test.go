package statemachines

import (
	"encoding/json"
	"maps"
	"slices"
	"strings"
	"testing"

	"github.com/snaplake/snaplake/internal/deploy"
)

func TestArchivePlaceholders(t *testing.T) {
	want := []string{ArchivePlanFunctionArn, ArchiveTableFunctionArn, NotificationTopicArn}
	if got := Placeholders(Archive); !slices.Equal(got, want) {
		t.Fatalf("placeholders = %v, want %v", got, want)
	}
	subs := map[string]string{}
	for _, p := range want {
		subs[p] = "value-of-" + p
	}
	out, err := Render(Archive, subs)
	if err != nil {
		t.Fatal(err)
	}
	if strings.Contains(string(out), "${") || !json.Valid(out) {
		t.Errorf("rendered definition still has placeholders or is not JSON")
	}
	delete(subs, ArchiveTableFunctionArn)
	if _, err := Render(Archive, subs); err == nil || !strings.Contains(err.Error(), ArchiveTableFunctionArn) {
		t.Errorf("Render without %s: err = %v", ArchiveTableFunctionArn, err)
	}
}

// aslState is what the static checks read of a state.
type aslState struct {
	Type           string
	Next           string
	Default        string
	End            bool
	Resource       string
	MaxConcurrency *int
	ItemsPath      string
	Choices        []map[string]any
	Catch          []struct{ Next string }
	ItemProcessor  struct {
		StartAt string
		States  map[string]json.RawMessage
	}
}

// TestEveryStateReachable walks every definition (and each Map's processor) from
// its StartAt along Next, Default, Choices and Catch: a state nothing leads to is
// dead text a reader would take for behaviour. And every transition names a state
// of the same scope.
func TestEveryStateReachable(t *testing.T) {
	for name, d := range Definitions {
		t.Run(name, func(t *testing.T) {
			var def struct {
				StartAt string
				States  map[string]json.RawMessage
			}
			if err := json.Unmarshal(d, &def); err != nil {
				t.Fatal(err)
			}
			checkReachable(t, name, def.StartAt, def.States)
		})
	}
}

func checkReachable(t *testing.T, scope, start string, raw map[string]json.RawMessage) {
	t.Helper()
	states := map[string]aslState{}
	for n, r := range raw {
		var s aslState
		if err := json.Unmarshal(r, &s); err != nil {
			t.Fatalf("%s: state %s: %v", scope, n, err)
		}
		states[n] = s
	}
	seen := map[string]bool{}
	var visit func(from, n string)
	visit = func(from, n string) {
		if n == "" || seen[n] {
			return
		}
		s, ok := states[n]
		if !ok {
			t.Errorf("%s: %s leads to %q, which is not a state of this scope", scope, from, n)
			return
		}
		seen[n] = true
		visit(n, s.Next)
		visit(n, s.Default)
		for _, c := range s.Choices {
			next, _ := c["Next"].(string)
			visit(n, next)
		}
		for _, c := range s.Catch {
			visit(n, c.Next)
		}
		if s.Type == "Map" {
			checkReachable(t, scope+"/"+n, s.ItemProcessor.StartAt, s.ItemProcessor.States)
		}
	}
	visit("StartAt", start)
	for _, n := range slices.Sorted(maps.Keys(states)) {
		if !seen[n] {
			t.Errorf("%s: state %s is not reachable from %s", scope, n, start)
		}
	}
}

// archiveStates reads the archive definition, the table loop's states merged in.
func archiveStates(t *testing.T) map[string]aslState {
	t.Helper()
	var def struct{ States map[string]json.RawMessage }
	if err := json.Unmarshal(Archive, &def); err != nil {
		t.Fatal(err)
	}
	out := map[string]aslState{}
	var add func(raw map[string]json.RawMessage)
	add = func(raw map[string]json.RawMessage) {
		for n, r := range raw {
			var s aslState
			if err := json.Unmarshal(r, &s); err != nil {
				t.Fatalf("state %s: %v", n, err)
			}
			if _, dup := out[n]; dup {
				t.Fatalf("state name %s is used twice", n)
			}
			out[n] = s
			add(s.ItemProcessor.States)
		}
	}
	add(def.States)
	return out
}

// TestArchiveLoopIsBounded: the table loop ends after deploy.ArchiveMaxInvocations
// invocations (the literal in the definition is that constant), the tables run one
// at a time, and each invocation goes to the table function.
func TestArchiveLoopIsBounded(t *testing.T) {
	states := archiveStates(t)
	var bound float64
	for _, c := range states["TableComplete"].Choices {
		if c["Variable"] == "$.loop.invocations" {
			bound, _ = c["NumericGreaterThanEquals"].(float64)
			if c["Next"] != "TableNotComplete" {
				t.Errorf("the bound leads to %v, want TableNotComplete", c["Next"])
			}
		}
	}
	if bound != deploy.ArchiveMaxInvocations {
		t.Errorf("the loop ends after %v invocations, deploy.ArchiveMaxInvocations is %d", bound, deploy.ArchiveMaxInvocations)
	}
	if states["TableComplete"].Default != "ArchiveTable" {
		t.Errorf("an incomplete table goes to %q, want ArchiveTable again", states["TableComplete"].Default)
	}
	m := states["ArchiveTables"]
	if m.Type != "Map" || m.MaxConcurrency == nil || *m.MaxConcurrency != 1 || m.ItemsPath != "$.plan.tables" {
		t.Errorf("ArchiveTables is %s over %q with MaxConcurrency %v, want a Map over $.plan.tables one table at a time", m.Type, m.ItemsPath, m.MaxConcurrency)
	}
	if !strings.Contains(string(Archive), `"FunctionName": "${ArchiveTableFunctionArn}"`) {
		t.Errorf("ArchiveTable does not invoke the table function")
	}
	// A table's failure stays in its iteration: the other tables go on.
	for _, c := range states["ArchiveTable"].Catch {
		if c.Next != "TableFailed" {
			t.Errorf("ArchiveTable catches into %s, want TableFailed", c.Next)
		}
	}
	if s := states["TableFailed"]; s.Type != "Pass" || !s.End {
		t.Errorf("TableFailed is %s (End %v), want a Pass that ends the iteration", s.Type, s.End)
	}
}
