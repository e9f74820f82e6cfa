package stepfunctions

import (
	"context"
	"encoding/json"
	"fmt"
	"reflect"
	"sort"
	"strings"
	"sync"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/sfn"

	"github.com/snaplake/snaplake/internal/aws/crawlers"
	"github.com/snaplake/snaplake/statemachines"
)

func renderExport(t *testing.T) []byte {
	t.Helper()
	def, err := statemachines.Render(statemachines.Export, map[string]string{
		statemachines.StartExportFunctionArn:   "arn:aws:lambda:us-east-1:000000000000:function:start-export",
		statemachines.AwaitCallbackFunctionArn: "arn:aws:lambda:us-east-1:000000000000:function:await-callback",
		statemachines.RelocateFunctionArn:      "arn:aws:lambda:us-east-1:000000000000:function:relocate",
		statemachines.LatestFunctionArn:        "arn:aws:lambda:us-east-1:000000000000:function:latest",
		statemachines.CrawlerNamePrefix:        "snaplake-",
		statemachines.NotificationTopicArn:     "arn:aws:sns:us-east-1:000000000000:snaplake-alerts",
	})
	if err != nil {
		t.Fatal(err)
	}
	return def
}

// exportTasks plays the export's functions and services: StartExport starts an export,
// the await-callback tasks have the callback sent right away (as the resume function would once
// RDS or Glue report), with exportFailure deciding how the export ends.
type exportTasks struct {
	t             *testing.T
	tokens        *Tokens
	exportFailure *TaskError

	// quotaRefusals: that many StartExport calls meet RDS's export quota first; -1: all do.
	quotaRefusals int
	starts        int

	mu        sync.Mutex
	crawlers  []string
	salesBusy bool
	notified  []string
	latest    []string          // UpdateLatestTables inputs
	waits     map[string]string // callback kind/key -> token
}

func (x *exportTasks) run(ctx context.Context, call TaskCall) (json.RawMessage, error) {
	switch call.State {
	case "StartExport":
		x.mu.Lock()
		x.starts++
		refuse := x.quotaRefusals != 0
		if x.quotaRefusals > 0 {
			x.quotaRefusals--
		}
		x.mu.Unlock()
		if refuse {
			// What Lambda reports for the start function's *export.ExportQuotaError.
			return nil, &TaskError{Name: "ExportQuotaError", Cause: `{"errorMessage":"start export prod-db-2026-11-20-03-10: RDS's quota of concurrent exports is reached, waiting for a slot: api error ExportTaskLimitReachedFault: You have reached the limit of 5 concurrent export tasks","errorType":"ExportQuotaError"}`}
		}
		if got := jsonField(x.t, call.Input, "Payload", "detail", "SourceIdentifier"); got != "rds:prod-db-2026-11-20-03-10" {
			return nil, fmt.Errorf("StartExport got event %s", call.Input)
		}
		return json.RawMessage(`{"exportId":"prod-db-2026-11-20-03-10","snapshotId":"rds:prod-db-2026-11-20-03-10",
			"snapshotArn":"arn:aws:rds:us-east-1:000000000000:snapshot:rds:prod-db-2026-11-20-03-10","snapshotDate":"2026-11-20",
			"action":"started","exportTimeoutSeconds":30,"exportRecheckSeconds":30,"crawlTimeoutSeconds":30,"exclude":["sales.cards"]}`), nil
	case "WaitForExport", "Crawl":
		var in struct {
			FunctionName string
			Payload      struct {
				Kind, Key, Token, Execution, Folder string
				Tables                              []string
			}
		}
		if err := json.Unmarshal(call.Input, &in); err != nil {
			return nil, err
		}
		if in.Payload.Token != call.Token || in.Payload.Execution != call.Execution || !strings.HasSuffix(in.FunctionName, ":function:await-callback") {
			return nil, fmt.Errorf("%s got %s", call.State, call.Input)
		}
		x.mu.Lock()
		defer x.mu.Unlock()
		if in.Payload.Kind == "crawl" && (in.Payload.Folder == "" || len(in.Payload.Tables) != 1) {
			return nil, fmt.Errorf("crawl %s without its database folder and table folders: %s", in.Payload.Key, call.Input)
		}
		if in.Payload.Kind == "crawl" {
			// The await function starts the crawler itself; the first start of sales finds
			// another execution's crawl still running, which the definition retries.
			x.crawlers = append(x.crawlers, in.Payload.Key)
			if in.Payload.Key == "snaplake-sales" && !x.salesBusy {
				x.salesBusy = true
				return nil, &crawlers.CrawlerRunningError{Crawler: in.Payload.Key}
			}
		}
		x.waits[in.Payload.Kind+"/"+in.Payload.Key] = call.Token
		go x.callback(in.Payload.Kind, call.Token)
		return json.RawMessage(`{"stored":true}`), nil
	case "Relocate":
		// The exclusions the start function read from snaplake.yaml reach relocation.
		if got := jsonField(x.t, call.Input, "Payload", "snapshotDate"); got != "2026-11-20" ||
			fmt.Sprint(jsonField(x.t, call.Input, "Payload", "exclude")) != "[sales.cards]" {
			return nil, fmt.Errorf("Relocate got %s", call.Input)
		}
		return json.RawMessage(`{"moved":4,"skipped":0,"bytes":4096,"databases":["sales","hr"],
			"crawl":[{"database":"hr","folder":"hr","tables":["staff"]},{"database":"sales","folder":"Sales","tables":["orders"]}],"problems":[]}`), nil
	case "UpdateLatestTables":
		// After every crawl, with the relocation's crawl list.
		x.mu.Lock()
		defer x.mu.Unlock()
		if len(x.crawlers) < 2 || !strings.HasSuffix(jsonField(x.t, call.Input, "FunctionName").(string), ":function:latest") {
			return nil, fmt.Errorf("UpdateLatestTables before the crawls (%v) or to the wrong function: %s", x.crawlers, call.Input)
		}
		x.latest = append(x.latest, string(call.Input))
		return json.RawMessage(`{"databases":[{"database":"hr_latest","created":["staff"]},{"database":"sales_latest","updated":["orders"]}]}`), nil
	case "NotifyFailure":
		msg, _ := jsonField(x.t, call.Input, "Message").(string)
		x.mu.Lock()
		x.notified = append(x.notified, msg)
		x.mu.Unlock()
		return json.RawMessage(`{"MessageId":"1"}`), nil
	}
	return nil, &TaskError{Name: "States.Runtime", Cause: "unexpected state " + call.State}
}

func (x *exportTasks) callback(kind, token string) {
	ctx := context.Background()
	var err error
	if kind == "export" && x.exportFailure != nil {
		_, err = x.tokens.SendTaskFailure(ctx, &sfn.SendTaskFailureInput{TaskToken: aws.String(token), Error: aws.String(x.exportFailure.Name), Cause: aws.String(x.exportFailure.Cause)})
	} else {
		_, err = x.tokens.SendTaskSuccess(ctx, &sfn.SendTaskSuccessInput{TaskToken: aws.String(token), Output: aws.String(fmt.Sprintf(`{"kind":%q,"status":"COMPLETE"}`, kind))})
	}
	if err != nil {
		x.t.Errorf("callback %s: %v", kind, err)
	}
}

const snapshotEvent = `{"version":"0","id":"4f1c2d3e-0000-1111-2222-333344445555","detail-type":"RDS DB Snapshot Event","source":"aws.rds",
 "resources":["arn:aws:rds:us-east-1:000000000000:snapshot:rds:prod-db-2026-11-20-03-10"],
 "detail":{"EventCategories":["creation"],"SourceType":"SNAPSHOT","SourceArn":"arn:aws:rds:us-east-1:000000000000:snapshot:rds:prod-db-2026-11-20-03-10",
 "Date":"2026-11-20T03:10:00Z","SourceIdentifier":"rds:prod-db-2026-11-20-03-10","Message":"Automated snapshot created","EventID":"RDS-EVENT-0091"}}`

func TestRealExportDefinition(t *testing.T) {
	def := renderExport(t)
	tests := []struct {
		name          string
		exportFailure *TaskError
		wantStatus    string
		wantError     string
		wantCrawlers  []string
		wantNotified  int
	}{
		{"happy path", nil, StatusSucceeded, "", []string{"snaplake-hr", "snaplake-sales", "snaplake-sales"}, 0},
		{"export failed", &TaskError{Name: "ExportFailed", Cause: "export prod-db-2026-11-20-03-10: FAILED: S3 access denied"}, StatusFailed, "ExportFailed", nil, 1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := newRunner(t, nil)
			x := &exportTasks{t: t, tokens: r.Tokens, exportFailure: tt.exportFailure, waits: map[string]string{}}
			r.Tasks = x.run
			res := run(t, r, "export-"+strings.ReplaceAll(tt.name, " ", "-"), def, snapshotEvent)
			if res.Status != tt.wantStatus || res.Error != tt.wantError {
				t.Fatalf("result %s %s: %s, want %s %s (states %v)", res.Status, res.Error, res.Cause, tt.wantStatus, tt.wantError, res.States)
			}
			sort.Strings(x.crawlers)
			if !reflect.DeepEqual(x.crawlers, tt.wantCrawlers) {
				t.Fatalf("crawlers started %v, want %v", x.crawlers, tt.wantCrawlers)
			}
			if len(x.notified) != tt.wantNotified {
				t.Fatalf("%d notifications, want %d", len(x.notified), tt.wantNotified)
			}
			if tt.wantStatus == StatusSucceeded {
				wantStart := []string{"StartExport", "ExportAlreadyHandled", "BeginExportWait", "WaitForExport", "ExportWaitOutcome", "Relocate", "TablesMissing", "CrawlDatabases"}
				if len(res.States) != len(wantStart)+4 || !reflect.DeepEqual(res.States[:len(wantStart)], wantStart) ||
					!reflect.DeepEqual(res.States[len(res.States)-2:], []string{"UpdateLatestTables", "Done"}) {
					t.Fatalf("states %v", res.States)
				}
				if len(x.latest) != 1 || !strings.Contains(x.latest[0], `"database":"sales"`) || !strings.Contains(x.latest[0], `"database":"hr"`) {
					t.Fatalf("UpdateLatestTables inputs %v", x.latest)
				}
				if got := jsonField(t, res.Output, "latest", "databases"); got == nil {
					t.Fatalf("no latest result in %s", res.Output)
				}
				inMap := append([]string(nil), res.States[len(wantStart):len(res.States)-2]...)
				sort.Strings(inMap)
				if !reflect.DeepEqual(inMap, []string{"Crawl", "Crawl"}) { // a retry enters no state
					t.Fatalf("Map states %v", res.States)
				}
				// Each crawl was awaited through its own token, keyed by crawler name.
				if x.waits["crawl/snaplake-sales"] == "" || x.waits["crawl/snaplake-sales"] == x.waits["crawl/snaplake-hr"] {
					t.Fatalf("crawl waits %v", x.waits)
				}
				if got := jsonField(t, res.Output, "relocate", "moved"); got != float64(4) {
					t.Fatalf("relocate.moved %v in %s", got, res.Output)
				}
				return
			}
			if res.Cause != tt.exportFailure.Cause {
				t.Fatalf("cause %q, want %q", res.Cause, tt.exportFailure.Cause)
			}
			want := []string{"StartExport", "ExportAlreadyHandled", "BeginExportWait", "WaitForExport", "NotifyFailure", "Failed"}
			if !reflect.DeepEqual(res.States, want) {
				t.Fatalf("states %v, want %v", res.States, want)
			}
			if !strings.Contains(x.notified[0], "ExportFailed") || !strings.Contains(x.notified[0], "rds:prod-db-2026-11-20-03-10") {
				t.Fatalf("notification %s", x.notified[0])
			}
		})
	}
}

// A snapshot that meets RDS's quota of concurrent exports waits and retries (the
// definition's Retry on ExportQuotaError, intervals shortened by the runner); if the
// quota never frees, the failure is notified as a wait for an export slot.
func TestExportWaitsForAnExportSlot(t *testing.T) {
	def := renderExport(t)
	t.Run("slot frees", func(t *testing.T) {
		r := newRunner(t, nil)
		x := &exportTasks{t: t, tokens: r.Tokens, waits: map[string]string{}, quotaRefusals: 3}
		r.Tasks = x.run
		res := run(t, r, "export-quota-frees", def, snapshotEvent)
		if res.Status != StatusSucceeded || x.starts != 4 || len(x.notified) != 0 {
			t.Fatalf("result %s %s %s after %d starts, %d notifications", res.Status, res.Error, res.Cause, x.starts, len(x.notified))
		}
		if res.States[0] != "StartExport" || res.States[1] != "ExportAlreadyHandled" {
			t.Fatalf("states %v: a retry enters no state", res.States)
		}
	})
	t.Run("slot never frees", func(t *testing.T) {
		r := newRunner(t, nil)
		x := &exportTasks{t: t, tokens: r.Tokens, waits: map[string]string{}, quotaRefusals: -1}
		r.Tasks = x.run
		res := run(t, r, "export-quota-never", def, snapshotEvent)
		if res.Status != StatusFailed || res.Error != "ExportQuotaError" {
			t.Fatalf("result %s %s: %s", res.Status, res.Error, res.Cause)
		}
		// The first attempt and MaxAttempts retries, then the failure path.
		if x.starts != 16 {
			t.Errorf("%d starts, want 1 + 15 retries", x.starts)
		}
		want := []string{"StartExport", "ExportSlotTimedOut", "NotifyFailure", "Failed"}
		if !reflect.DeepEqual(res.States, want) {
			t.Fatalf("states %v, want %v", res.States, want)
		}
		if len(x.notified) != 1 || !strings.Contains(x.notified[0], "rds:prod-db-2026-11-20-03-10 waited too long for an export slot") ||
			!strings.Contains(x.notified[0], "ExportTaskLimitReachedFault") {
			t.Fatalf("notifications %q", x.notified)
		}
		if !strings.Contains(res.Cause, "waited too long for an export slot") {
			t.Fatalf("cause %q", res.Cause)
		}
	})
}
