package statemachines

import (
	"encoding/json"
	"go/ast"
	"go/parser"
	"go/token"
	"io/fs"
	"maps"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"testing"

	"github.com/snaplake/snaplake/internal/export/callback"
	"github.com/snaplake/snaplake/internal/local/testenv"
)

func TestPlaceholdersAndRender(t *testing.T) {
	want := []string{AwaitCallbackFunctionArn, CrawlerNamePrefix, LatestFunctionArn, NotificationTopicArn, RelocateFunctionArn, StartExportFunctionArn}
	if got := Placeholders(Export); !slices.Equal(got, want) {
		t.Fatalf("placeholders = %v, want %v", got, want)
	}
	subs := map[string]string{}
	for _, p := range want {
		subs[p] = "value-of-" + p
	}
	out, err := Render(Export, subs)
	if err != nil {
		t.Fatal(err)
	}
	if strings.Contains(string(out), "${") || !json.Valid(out) {
		t.Errorf("rendered definition still has placeholders or is not JSON")
	}
	delete(subs, NotificationTopicArn)
	if _, err := Render(Export, subs); err == nil || !strings.Contains(err.Error(), NotificationTopicArn) {
		t.Errorf("Render without %s: err = %v", NotificationTopicArn, err)
	}
}

// TestEveryFailureIsNotified walks the definition: every Task state catches
// States.ALL into NotifyFailure (except NotifyFailure itself), and no state waits
// on a heartbeat instead of a timeout.
func TestEveryFailureIsNotified(t *testing.T) {
	for name, d := range Definitions {
		t.Run(name, func(t *testing.T) { everyFailureIsNotified(t, d) })
	}
}

// notNotified are the Task states whose failure does not go to NotifyFailure, each
// for a reason: a warning's failure must not fail the night (it goes on to the
// crawl), and a failed load goes to Finish, which commits what was loaded and
// reports the rest.
var notNotified = map[string]string{
	"NotifyFailure":       "it is the notification",
	"NotifyTableProblems": "a warning: the night goes on to the crawl",
	"NotifyTableFailures": "the run's tables are committed: it ends in TablesFailed either way",
	"Load":                "a failed job goes to Finish, which commits what was loaded and notifies the rest",
	"BuildCurrentTables":  "a table whose current table fails is recorded and goes to Finish, which fails that table and notifies it (TablesFailed)",
	"NotifyItemFailures":  "the items that succeeded are done: it ends in ItemsFailed either way",
	// federate-item: one item's execution, started by a Federator workflow that
	// takes its output, or its failure, as the item's result and notifies it.
	"Item":       "a federate-item's failure is its result: the workflow that started it notifies it",
	"Poll":       "a federate-item's failure is its result: the workflow that started it notifies it",
	"ItemFailed": "it reports the item's failure as its result; its own failure ends in a fixed failed result",
}

func everyFailureIsNotified(t *testing.T, definition []byte) {
	var def struct {
		States map[string]json.RawMessage
	}
	if err := json.Unmarshal(definition, &def); err != nil {
		t.Fatal(err)
	}
	var walk func(states map[string]json.RawMessage, top bool)
	walk = func(states map[string]json.RawMessage, top bool) {
		for name, raw := range states {
			var s struct {
				Type             string
				Resource         string
				HeartbeatSeconds *int
				TimeoutSeconds   *int
				TimeoutSecsPath  string `json:"TimeoutSecondsPath"`
				Catch            []struct {
					ErrorEquals []string
					Next        string
				}
				ItemProcessor struct{ States map[string]json.RawMessage }
			}
			if err := json.Unmarshal(raw, &s); err != nil {
				t.Fatalf("state %s: %v", name, err)
			}
			if s.HeartbeatSeconds != nil {
				t.Errorf("state %s uses HeartbeatSeconds: nothing sends heartbeats, so it would be a hard timeout", name)
			}
			if strings.HasSuffix(s.Resource, ".waitForTaskToken") && s.TimeoutSeconds == nil && s.TimeoutSecsPath == "" {
				t.Errorf("state %s waits for a callback without a timeout", name)
			}
			if s.Type == "Map" {
				walk(s.ItemProcessor.States, false)
			}
			if _, ok := notNotified[name]; ok || !top || (s.Type != "Task" && s.Type != "Map") {
				continue
			}
			caught := false
			for _, c := range s.Catch {
				if slices.Contains(c.ErrorEquals, "States.ALL") && c.Next == "NotifyFailure" {
					caught = true
				}
			}
			if !caught {
				t.Errorf("state %s does not catch States.ALL into NotifyFailure", name)
			}
		}
	}
	walk(def.States, true)
}

// TestValidatesWithASLValidator runs asl-validator, the npm tool, on the embedded definition.
func TestValidatesWithASLValidator(t *testing.T) {
	testenv.NeedsNode(t)
	for name, d := range Definitions {
		if name == "export" {
			continue // below, with its negative control
		}
		def := filepath.Join(t.TempDir(), name+".asl.json")
		if err := os.WriteFile(def, d, 0o644); err != nil {
			t.Fatal(err)
		}
		_, file, _, _ := runtime.Caller(0)
		bin := filepath.Join(filepath.Dir(file), "..", "tools", "node_modules", ".bin", "asl-validator")
		if out, err := exec.Command(bin, "--json-path", def).CombinedOutput(); err != nil {
			t.Fatalf("asl-validator %s: %v\n%s", name, err, out)
		}
	}
	_, file, _, _ := runtime.Caller(0)
	bin := filepath.Join(filepath.Dir(file), "..", "tools", "node_modules", ".bin", "asl-validator")
	if _, err := os.Stat(bin); err != nil {
		t.Fatalf("asl-validator not installed (%v): run `make tools`", err)
	}
	def := filepath.Join(t.TempDir(), "export.asl.json")
	if err := os.WriteFile(def, Export, 0o644); err != nil {
		t.Fatal(err)
	}
	out, err := exec.Command(bin, "--json-path", def).CombinedOutput()
	if err != nil {
		t.Fatalf("asl-validator: %v\n%s", err, out)
	}
	// And it does reject a broken definition, so the check above means something.
	broken := strings.Replace(string(Export), `"Next": "ExportAlreadyHandled"`, `"Next": "NoSuchState"`, 1)
	if err := os.WriteFile(def, []byte(broken), 0o644); err != nil {
		t.Fatal(err)
	}
	if out, err := exec.Command(bin, "--json-path", def).CombinedOutput(); err == nil {
		t.Errorf("asl-validator accepted a transition to a missing state:\n%s", out)
	}
}

// TestErrorNamesAreReal fails when a Retry or Catch names an error that is neither
// a States.*, Lambda.*, SNS.*, Glue.* or StepFunctions.* (service integration) name nor the Go type name of an
// error some handler package declares: Lambda reports a Go handler's error by its
// type name, so any other name never matches and its retry is dead code.
func TestErrorNamesAreReal(t *testing.T) {
	declared := handlerErrorNames(t)
	for _, want := range []string{"ThrottledError", "CrawlerRunningError"} {
		if !declared[want] {
			t.Fatalf("the scan of the handler packages missed %s (found %v): the check would mean nothing", want, declared)
		}
	}
	var names []string
	var walk func(v any)
	walk = func(v any) {
		switch x := v.(type) {
		case map[string]any:
			if eq, ok := x["ErrorEquals"].([]any); ok {
				for _, e := range eq {
					names = append(names, e.(string))
				}
			}
			for _, c := range x {
				walk(c)
			}
		case []any:
			for _, c := range x {
				walk(c)
			}
		}
	}
	for _, d := range Definitions {
		var def any
		if err := json.Unmarshal(d, &def); err != nil {
			t.Fatal(err)
		}
		walk(def)
	}
	if len(names) < 20 {
		t.Fatalf("found only %d ErrorEquals names", len(names))
	}
	for _, n := range names {
		if strings.HasPrefix(n, "States.") || strings.HasPrefix(n, "Lambda.") || strings.HasPrefix(n, "SNS.") || strings.HasPrefix(n, "Glue.") || strings.HasPrefix(n, "StepFunctions.") || n == "Sandbox.Timedout" {
			continue
		}
		if !declared[n] {
			t.Errorf("ErrorEquals names %q, which no handler returns (handler error types: %v)", n, slices.Sorted(maps.Keys(declared)))
		}
	}
}

// handlerErrorNames are the types with an Error() string method declared in the
// packages the workflow's Lambdas are built from.
func handlerErrorNames(t *testing.T) map[string]bool {
	t.Helper()
	_, file, _, _ := runtime.Caller(0)
	root := filepath.Join(filepath.Dir(file), "..", "internal")
	out := map[string]bool{}
	for _, pkg := range []string{"aws/awserr", "aws/crawlers", "config", "export/callback", "export", "export/relocate", "export/exportid", "export/run", "aws/s3get", "ingest/run", "ingest/grants", "federate/run", "federate", "archive", "archive/run"} {
		fset := token.NewFileSet()
		pkgs, err := parser.ParseDir(fset, filepath.Join(root, pkg), func(fi fs.FileInfo) bool { return !strings.HasSuffix(fi.Name(), "_test.go") }, 0)
		if err != nil {
			t.Fatalf("parse %s: %v", pkg, err)
		}
		for _, p := range pkgs {
			for _, f := range p.Files {
				for _, d := range f.Decls {
					fd, ok := d.(*ast.FuncDecl)
					if !ok || fd.Recv == nil || fd.Name.Name != "Error" || fd.Type.Params.NumFields() != 0 {
						continue
					}
					typ := fd.Recv.List[0].Type
					if st, ok := typ.(*ast.StarExpr); ok {
						typ = st.X
					}
					if id, ok := typ.(*ast.Ident); ok {
						out[id.Name] = true
					}
				}
			}
		}
	}
	// The waits are failed by name with SendTaskFailure: those names are real too.
	for _, n := range []string{callback.ErrExportFailed, callback.ErrExportCanceled, callback.ErrCrawlerFailed} {
		out[n] = true
	}
	return out
}

// TestNestedExecutionsRetryTransientErrors: every Task that starts a nested execution
// (states:startExecution.sync:2) retries the Step Functions API's transient errors
// (a throttle, an API or client error), so that one does not fail the item, and never
// States.TaskFailed or States.ALL: a child that ended unsuccessfully surfaces as
// States.TaskFailed, and its result is final.
func TestNestedExecutionsRetryTransientErrors(t *testing.T) {
	tasks := 0
	var walk func(name string, v any)
	walk = func(name string, v any) {
		switch x := v.(type) {
		case map[string]any:
			if r, _ := x["Resource"].(string); strings.Contains(r, ":states:startExecution") {
				tasks++
				retried := map[string]bool{}
				retries, _ := x["Retry"].([]any)
				for _, r := range retries {
					for _, e := range r.(map[string]any)["ErrorEquals"].([]any) {
						retried[e.(string)] = true
					}
				}
				for _, want := range []string{"StepFunctions.AWSStepFunctionsException", "StepFunctions.SdkClientException", "StepFunctions.ExecutionLimitExceeded"} {
					if !retried[want] {
						t.Errorf("%s: Task %s does not retry %s", name, r, want)
					}
				}
				for _, never := range []string{"States.TaskFailed", "States.ALL"} {
					if retried[never] {
						t.Errorf("%s: Task %s retries %s: a failed child would run again", name, r, never)
					}
				}
			}
			for _, c := range x {
				walk(name, c)
			}
		case []any:
			for _, c := range x {
				walk(name, c)
			}
		}
	}
	for name, d := range Definitions {
		var def any
		if err := json.Unmarshal(d, &def); err != nil {
			t.Fatal(err)
		}
		walk(name, def)
	}
	if tasks != 2 {
		t.Errorf("found %d Tasks starting a nested execution, want 2 (publish's and subscribe's Table)", tasks)
	}
}
