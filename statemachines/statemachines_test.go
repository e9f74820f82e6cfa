package statemachines

import (
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"testing"
)

func TestPlaceholdersAndRender(t *testing.T) {
	want := []string{AwaitCallbackFunctionArn, CrawlerNamePrefix, NotificationTopicArn, RelocateFunctionArn, StartExportFunctionArn}
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
	var def struct {
		States map[string]json.RawMessage
	}
	if err := json.Unmarshal(Export, &def); err != nil {
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
			if !top || name == "NotifyFailure" || (s.Type != "Task" && s.Type != "Map") {
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
