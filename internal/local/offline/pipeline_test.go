package offline

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"os"
	"slices"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/glue"
	gluetypes "github.com/aws/aws-sdk-go-v2/service/glue/types"
	"github.com/aws/aws-sdk-go-v2/service/rds"
	rdstypes "github.com/aws/aws-sdk-go-v2/service/rds/types"
	"github.com/aws/aws-sdk-go-v2/service/s3"

	"github.com/snaplake/snaplake/events"
	"github.com/snaplake/snaplake/internal/local/s3server"
	"github.com/snaplake/snaplake/internal/local/stepfunctions"
)

// These tests run statemachines/export.asl.json in the real interpreter
// (aws-local-stepfunctions), with the real Lambda handlers, the real event patterns
// on a local bus and a real S3 server. RDS and Glue are scripted stand-ins that
// write the export layout and emit real-shaped events with the outcome a test picks;
// the offline demo runs the full-fidelity stand-ins (internal/local/rdsexport, glue).

const bucket = "snaplake-lake"

// Outcomes a scripted export or crawl can end with.
const (
	outcomeComplete = "complete"
	outcomeFail     = "fail"
	outcomeCancel   = "cancel"
	outcomeHold     = "hold"  // the test publishes the event itself
	outcomeEmpty    = "empty" // completes without writing a file (a bucket emptied meanwhile)
)

type scriptedRDS struct {
	s3      *s3.Client
	publish func(context.Context, []byte) ([]string, error)

	mu       sync.Mutex
	tasks    map[string]rdstypes.ExportTask
	outcome  map[string]string // snapshot id -> outcome
	started  []string
	finished chan string
}

func (r *scriptedRDS) StartExportTask(ctx context.Context, in *rds.StartExportTaskInput, _ ...func(*rds.Options)) (*rds.StartExportTaskOutput, error) {
	id := aws.ToString(in.ExportTaskIdentifier)
	r.mu.Lock()
	if _, ok := r.tasks[id]; ok {
		r.mu.Unlock()
		return nil, &rdstypes.ExportTaskAlreadyExistsFault{Message: aws.String("Cannot start export task because a task with the identifier " + id + " already exists")}
	}
	r.tasks[id] = rdstypes.ExportTask{ExportTaskIdentifier: in.ExportTaskIdentifier, SourceArn: in.SourceArn, Status: aws.String("STARTING")}
	r.started = append(r.started, id)
	snap := aws.ToString(in.SourceArn)
	snap = snap[strings.Index(snap, ":snapshot:")+len(":snapshot:"):]
	outcome := r.outcome[snap]
	r.mu.Unlock()

	// The documented layout: table files under <db>/<db>.<table>/, metadata at the root.
	prefix := aws.ToString(in.S3Prefix) + "/" + id + "/"
	keys := []string{"export_info_" + id + ".json", "export_tables_info_" + id + "_from_1_to_2.json"}
	for _, db := range in.ExportOnly {
		keys = append(keys,
			db+"/"+db+".customer/1/part-00000-aaaa-c000.gz.parquet",
			db+"/"+db+".customer/_SUCCESS",
			db+"/"+db+".customer_address/1/part-00000-bbbb-c000.gz.parquet",
			db+"/"+db+".customer_address/2/part-00003-cccc-c000.gz.parquet",
		)
	}
	if outcome == outcomeEmpty {
		keys, outcome = nil, outcomeComplete
	}
	for _, k := range keys {
		if _, err := r.s3.PutObject(ctx, &s3.PutObjectInput{Bucket: in.S3BucketName, Key: aws.String(prefix + k), Body: strings.NewReader("bytes of " + k)}); err != nil {
			return nil, err
		}
	}
	if outcome != outcomeHold {
		go func() {
			time.Sleep(50 * time.Millisecond)
			r.finish(context.Background(), id, outcome)
		}()
	}
	return &rds.StartExportTaskOutput{ExportTaskIdentifier: in.ExportTaskIdentifier, Status: aws.String("STARTING")}, nil
}

// finish ends export id with outcome and emits RDS's event for it.
func (r *scriptedRDS) finish(ctx context.Context, id, outcome string) {
	o := map[string]struct{ status, eventID, msg string }{
		outcomeComplete: {"COMPLETE", events.EventExportCompleted, "Export task completed"},
		outcomeFail:     {"FAILED", events.EventExportFailed, "Export task failed: the IAM role cannot write to the bucket"},
		outcomeCancel:   {"CANCELED", events.EventExportCanceled, "Export task canceled"},
	}[outcome]
	eventID, msg := o.eventID, o.msg
	r.mu.Lock()
	task := r.tasks[id]
	task.Status = aws.String(o.status)
	if outcome == outcomeFail {
		task.FailureCause = aws.String(msg)
	}
	r.tasks[id] = task
	r.mu.Unlock()
	arn := aws.ToString(task.SourceArn)
	snap := arn[strings.Index(arn, ":snapshot:")+len(":snapshot:"):]
	ev := fmt.Sprintf(`{"version":"0","id":"%s","detail-type":"RDS DB Snapshot Event","source":"aws.rds","account":"%s","time":"%s","region":"%s",
		"resources":["%s"],"detail":{"EventCategories":["notification"],"SourceType":"SNAPSHOT","SourceArn":"%s","Date":"%s",
		"SourceIdentifier":"%s","Message":"%s","EventID":"%s"}}`,
		"ev-"+id+"-"+outcome, Account, time.Now().UTC().Format(time.RFC3339), Region, arn, arn, time.Now().UTC().Format(time.RFC3339Nano), snap, msg, eventID)
	if _, err := r.publish(ctx, []byte(ev)); err != nil {
		panic(err)
	}
	if r.finished != nil {
		r.finished <- id
	}
}

func (r *scriptedRDS) DescribeExportTasks(_ context.Context, in *rds.DescribeExportTasksInput, _ ...func(*rds.Options)) (*rds.DescribeExportTasksOutput, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	t, ok := r.tasks[aws.ToString(in.ExportTaskIdentifier)]
	if !ok {
		return &rds.DescribeExportTasksOutput{}, nil
	}
	return &rds.DescribeExportTasksOutput{ExportTasks: []rdstypes.ExportTask{t}}, nil
}

type scriptedGlue struct {
	publish func(context.Context, []byte) ([]string, error)
	fail    map[string]string // crawler -> error message

	mu      sync.Mutex
	running map[string]bool
	runs    []string
}

func (g *scriptedGlue) StartCrawler(_ context.Context, in *glue.StartCrawlerInput, _ ...func(*glue.Options)) (*glue.StartCrawlerOutput, error) {
	name := aws.ToString(in.Name)
	g.mu.Lock()
	defer g.mu.Unlock()
	if !strings.HasPrefix(name, CrawlerPrefix) {
		return nil, &gluetypes.EntityNotFoundException{Message: aws.String("Crawler entry with name " + name + " does not exist")}
	}
	if g.running[name] {
		return nil, &gluetypes.CrawlerRunningException{Message: aws.String("Crawler with name " + name + " has already started")}
	}
	g.running[name] = true
	g.runs = append(g.runs, name)
	go func() {
		time.Sleep(30 * time.Millisecond) // a crawl faster than any real one
		g.mu.Lock()
		delete(g.running, name)
		errMsg := g.fail[name]
		g.mu.Unlock()
		state := "Succeeded"
		if errMsg != "" {
			state = "Failed"
		}
		ev := fmt.Sprintf(`{"version":"0","id":"gl-%d","detail-type":"Glue Crawler State Change","source":"aws.glue","account":"%s","time":"%s","region":"%s","resources":[],
			"detail":{"crawlerName":"%s","state":"%s","message":"Crawler %s","errorMessage":"%s","completionDate":"%s","tablesCreated":"2","tablesUpdated":"0","tablesDeleted":"0",
			"partitionsCreated":"2","partitionsUpdated":"0","partitionsDeleted":"0","runningTime (sec)":"0","accountId":"%s"}}`,
			time.Now().UnixNano(), Account, time.Now().UTC().Format(time.RFC3339), Region, name, state, state, errMsg, time.Now().UTC().Format(time.RFC3339Nano), Account)
		if _, err := g.publish(context.Background(), []byte(ev)); err != nil {
			panic(err)
		}
	}()
	return &glue.StartCrawlerOutput{}, nil
}

type fixture struct {
	p    *Pipeline
	s3   *s3.Client
	rds  *scriptedRDS
	glue *scriptedGlue
}

func newFixture(t *testing.T, instances []string) *fixture {
	t.Helper()
	srv, err := s3server.StartFake()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(srv.Stop)
	if err := srv.CreateBucket(context.Background(), bucket); err != nil {
		t.Fatal(err)
	}
	client := srv.Client()
	f := &fixture{s3: client}
	f.rds = &scriptedRDS{s3: client, tasks: map[string]rdstypes.ExportTask{}, outcome: map[string]string{}}
	f.glue = &scriptedGlue{fail: map[string]string{}, running: map[string]bool{}}
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	if testing.Verbose() {
		log = slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelInfo}))
	}
	p, err := New(Config{
		S3: client, Bucket: bucket, RDS: f.rds, Glue: f.glue,
		DBInstanceIDs: instances, Databases: []string{"warehouse"}, Retention: 7,
		ExportTimeout: 30 * time.Second, CrawlTimeout: 30 * time.Second,
		RetryInterval: 200 * time.Millisecond, // 60 crawler retries: 12 s for the other crawl to end
		Log:           log,
	})
	if err != nil {
		t.Fatal(err)
	}
	f.rds.publish, f.glue.publish = p.Publish, p.Publish
	f.p = p
	return f
}

// results waits for every execution and returns their results by execution ARN.
func (f *fixture) results(t *testing.T) []stepfunctions.Result {
	t.Helper()
	done := make(chan []error)
	go func() { done <- f.p.Wait() }()
	select {
	case errs := <-done:
		if len(errs) > 0 {
			t.Fatalf("event targets failed: %v", errs)
		}
	case <-time.After(60 * time.Second):
		t.Fatal("executions did not end within 60 s")
	}
	var out []stepfunctions.Result
	for _, e := range f.p.Executions() {
		r, err := e.Wait()
		if err != nil {
			t.Fatalf("execution %s: %v", e.ARN(), err)
		}
		out = append(out, r)
	}
	return out
}

func (f *fixture) keys(t *testing.T, prefix string) []string {
	t.Helper()
	var keys []string
	pg := s3.NewListObjectsV2Paginator(f.s3, &s3.ListObjectsV2Input{Bucket: aws.String(bucket), Prefix: aws.String(prefix)})
	for pg.HasMorePages() {
		page, err := pg.NextPage(context.Background())
		if err != nil {
			t.Fatal(err)
		}
		for _, o := range page.Contents {
			keys = append(keys, aws.ToString(o.Key))
		}
	}
	sort.Strings(keys)
	return keys
}

func snapshotEvent(t *testing.T, eventID, instance string) []byte {
	t.Helper()
	raw, err := events.Sample("snapshot-created-automated")
	if err != nil {
		t.Fatal(err)
	}
	s := strings.ReplaceAll(string(raw), "warehouse-prod", instance)
	var m map[string]any
	if err := json.Unmarshal([]byte(s), &m); err != nil {
		t.Fatal(err)
	}
	m["id"] = eventID
	b, _ := json.Marshal(m)
	return b
}

func publish(t *testing.T, f *fixture, ev []byte, wantRules ...string) {
	t.Helper()
	rules, err := f.p.Publish(context.Background(), ev)
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(rules, wantRules) {
		t.Fatalf("event matched rules %v, want %v", rules, wantRules)
	}
}

func TestHappyPath(t *testing.T) {
	f := newFixture(t, []string{"warehouse-prod"})
	f.rds.outcome["rds:warehouse-prod-2026-11-20-03-10"] = outcomeComplete
	publish(t, f, snapshotEvent(t, "ev-1", "warehouse-prod"), events.SnapshotCreated)
	res := f.results(t)
	if len(res) != 1 || res[0].Status != stepfunctions.StatusSucceeded {
		t.Fatalf("results = %+v", res)
	}
	for _, s := range []string{"StartExport", "WaitForExport", "Relocate", "CrawlDatabases", "Crawl", "Done"} {
		if !slices.Contains(res[0].States, s) {
			t.Errorf("state %s not entered: %v", s, res[0].States)
		}
	}
	id := "warehouse-prod-2026-11-20-03-10"
	wantData := []string{
		"data/warehouse/customer/snapshot_date=2026-11-20/1/part-00000-aaaa-c000.gz.parquet",
		"data/warehouse/customer_address/snapshot_date=2026-11-20/1/part-00000-bbbb-c000.gz.parquet",
		"data/warehouse/customer_address/snapshot_date=2026-11-20/2/part-00003-cccc-c000.gz.parquet",
	}
	if got := f.keys(t, "data/"); !slices.Equal(got, wantData) {
		t.Errorf("data/ = %v\nwant %v", got, wantData)
	}
	wantLeft := []string{
		"exports/" + id + "/_snaplake_relocate_manifest.json",
		"exports/" + id + "/export_info_" + id + ".json",
		"exports/" + id + "/export_tables_info_" + id + "_from_1_to_2.json",
		"exports/" + id + "/warehouse/warehouse.customer/_SUCCESS",
	}
	if got := f.keys(t, "exports/"); !slices.Equal(got, wantLeft) {
		t.Errorf("exports/ = %v\nwant only metadata and the relocation manifest %v", got, wantLeft)
	}
	if got := f.keys(t, "callbacks/"); len(got) != 0 {
		t.Errorf("tokens left behind: %v", got)
	}
	if n := f.p.Notifications(); len(n) != 0 {
		t.Errorf("notifications on success: %+v", n)
	}
	if !slices.Equal(f.glue.runs, []string{"snaplake-warehouse"}) {
		t.Errorf("crawler runs = %v", f.glue.runs)
	}
}

func TestFailurePaths(t *testing.T) {
	tests := []struct {
		name        string
		export      string
		crawlerFail string
		wantError   string
		wantCause   string
	}{
		{"export failed", outcomeFail, "", "ExportFailed", "cannot write to the bucket"},
		{"export canceled", outcomeCancel, "", "ExportCanceled", "canceled"},
		{"crawler failed", outcomeComplete, "Insufficient Lake Formation permission(s) on warehouse", "CrawlerFailed", "Lake Formation"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := newFixture(t, []string{"warehouse-prod"})
			f.rds.outcome["rds:warehouse-prod-2026-11-20-03-10"] = tt.export
			if tt.crawlerFail != "" {
				f.glue.fail["snaplake-warehouse"] = tt.crawlerFail
			}
			publish(t, f, snapshotEvent(t, "ev-1", "warehouse-prod"), events.SnapshotCreated)
			res := f.results(t)
			if len(res) != 1 {
				t.Fatalf("%d executions", len(res))
			}
			r := res[0]
			if r.Status != stepfunctions.StatusFailed || r.Error != tt.wantError || !strings.Contains(r.Cause, tt.wantCause) {
				t.Errorf("result = %s %s %q, want FAILED %s containing %q", r.Status, r.Error, r.Cause, tt.wantError, tt.wantCause)
			}
			// Promptly: the wait ended on the event, not on its timeout.
			if slices.Contains(res[0].States, "Relocate") && tt.export != outcomeComplete {
				t.Errorf("a failed export went on to Relocate: %v", res[0].States)
			}
			n := f.p.Notifications()
			if len(n) != 1 || n[0].Subject != "snaplake export failed" || !strings.Contains(n[0].Message, tt.wantError) ||
				!strings.Contains(n[0].Message, "rds:warehouse-prod-2026-11-20-03-10") {
				t.Errorf("notifications = %+v", n)
			}
			if !slices.Contains(r.States, "NotifyFailure") {
				t.Errorf("NotifyFailure not entered: %v", r.States)
			}
			if tt.export != outcomeComplete {
				if got := f.keys(t, "data/"); len(got) != 0 {
					t.Errorf("a failed export was relocated: %v", got)
				}
			}
		})
	}
}

func TestMissingExportFailsWithNotification(t *testing.T) {
	f := newFixture(t, []string{"warehouse-prod"})
	f.rds.outcome["rds:warehouse-prod-2026-11-20-03-10"] = outcomeEmpty
	publish(t, f, snapshotEvent(t, "ev-1", "warehouse-prod"), events.SnapshotCreated)
	res := f.results(t)
	if len(res) != 1 || res[0].Status != stepfunctions.StatusFailed || res[0].Error != "ExportNotFoundError" {
		t.Fatalf("results = %+v", res)
	}
	if n := f.p.Notifications(); len(n) != 1 || !strings.Contains(n[0].Message, "ExportNotFoundError") {
		t.Errorf("notifications = %+v", n)
	}
	if len(f.glue.runs) != 0 || len(f.keys(t, "data/")) != 0 {
		t.Errorf("crawled %v / relocated %v after a missing export", f.glue.runs, f.keys(t, "data/"))
	}
}

func TestDuplicateSnapshotEvent(t *testing.T) {
	f := newFixture(t, []string{"warehouse-prod"})
	f.rds.outcome["rds:warehouse-prod-2026-11-20-03-10"] = outcomeHold
	f.rds.finished = make(chan string, 1)
	// EventBridge re-delivers the very same event (same id): StartExecution is idempotent.
	publish(t, f, snapshotEvent(t, "ev-1", "warehouse-prod"), events.SnapshotCreated)
	publish(t, f, snapshotEvent(t, "ev-1", "warehouse-prod"), events.SnapshotCreated)
	// RDS emits the event twice (different ids): a second execution finds the export running.
	publish(t, f, snapshotEvent(t, "ev-2", "warehouse-prod"), events.SnapshotCreated)
	waitUntil(t, "both executions started and one export began", func() bool {
		f.rds.mu.Lock()
		defer f.rds.mu.Unlock()
		return len(f.p.Executions()) == 2 && len(f.rds.started) == 1 && len(f.p.Tokens.Waiting()) == 1
	})
	// Whichever execution did not start the export ends on its own, without waiting.
	ended := make(chan stepfunctions.Result, 2)
	for _, e := range f.p.Executions() {
		go func() {
			r, err := e.Wait()
			if err != nil {
				t.Errorf("execution %s: %v", e.ARN(), err)
			}
			ended <- r
		}()
	}
	select {
	case r := <-ended:
		if !slices.Contains(r.States, "DuplicateEvent") {
			t.Fatalf("first execution to end: %s %v", r.Status, r.States)
		}
	case <-time.After(60 * time.Second):
		t.Fatal("the duplicate execution did not end on its own")
	}
	f.rds.finish(context.Background(), "warehouse-prod-2026-11-20-03-10", outcomeComplete)
	res := f.results(t)
	if len(res) != 2 {
		t.Fatalf("%d executions, want 2", len(res))
	}
	var done, dup int
	for _, r := range res {
		if r.Status != stepfunctions.StatusSucceeded {
			t.Errorf("execution %s %s: %s", r.Status, r.Error, r.Cause)
		}
		switch {
		case slices.Contains(r.States, "Done"):
			done++
		case slices.Contains(r.States, "DuplicateEvent"):
			dup++
			if slices.Contains(r.States, "WaitForExport") {
				t.Errorf("the duplicate waited: %v", r.States)
			}
		}
	}
	if done != 1 || dup != 1 {
		t.Errorf("done=%d duplicate=%d, want 1 and 1", done, dup)
	}
	if len(f.rds.started) != 1 {
		t.Errorf("exports started: %v, want one", f.rds.started)
	}
	if len(f.glue.runs) != 1 {
		t.Errorf("crawls: %v, want one", f.glue.runs)
	}
}

func TestOverlappingDatabasesResumeOnlyTheirOwnWait(t *testing.T) {
	f := newFixture(t, []string{"warehouse-prod", "billing-prod"})
	f.rds.outcome["rds:warehouse-prod-2026-11-20-03-10"] = outcomeHold
	f.rds.outcome["rds:billing-prod-2026-11-20-03-10"] = outcomeHold
	publish(t, f, snapshotEvent(t, "ev-w", "warehouse-prod"), events.SnapshotCreated)
	publish(t, f, snapshotEvent(t, "ev-b", "billing-prod"), events.SnapshotCreated)
	waitUntil(t, "both executions wait for their exports", func() bool { return len(f.p.Tokens.Waiting()) == 2 })
	// Finish in the opposite order; each event must resume only its own execution.
	f.rds.finish(context.Background(), "billing-prod-2026-11-20-03-10", outcomeComplete)
	waitUntil(t, "billing resumed", func() bool { return len(f.p.Tokens.Waiting()) <= 1 })
	if got := f.p.Tokens.Waiting(); len(got) != 1 {
		t.Fatalf("waiting = %v", got)
	}
	f.rds.finish(context.Background(), "warehouse-prod-2026-11-20-03-10", outcomeFail)
	res := f.results(t)
	if len(res) != 2 {
		t.Fatalf("%d executions", len(res))
	}
	byStatus := map[string]stepfunctions.Result{}
	for _, r := range res {
		byStatus[r.Status] = r
	}
	ok, failed := byStatus[stepfunctions.StatusSucceeded], byStatus[stepfunctions.StatusFailed]
	if !strings.Contains(string(ok.Output), "billing-prod-2026-11-20-03-10") || strings.Contains(string(ok.Output), "rds:warehouse-prod") {
		t.Errorf("succeeded execution is not billing's: %s", ok.Output)
	}
	if failed.Error != "ExportFailed" {
		t.Errorf("warehouse execution: %s %s", failed.Status, failed.Error)
	}
	// Both exported database "warehouse": the shared crawler ran for billing only.
	if len(f.glue.runs) != 1 {
		t.Errorf("crawls = %v", f.glue.runs)
	}
	if n := f.p.Notifications(); len(n) != 1 || !strings.Contains(n[0].Message, "rds:warehouse-prod-2026-11-20-03-10") {
		t.Errorf("notifications = %+v", n)
	}
}

func TestSharedCrawlerWaitsForTheRunningCrawl(t *testing.T) {
	f := newFixture(t, []string{"warehouse-prod", "billing-prod"})
	f.rds.outcome["rds:warehouse-prod-2026-11-20-03-10"] = outcomeComplete
	f.rds.outcome["rds:billing-prod-2026-11-20-03-10"] = outcomeComplete
	publish(t, f, snapshotEvent(t, "ev-w", "warehouse-prod"), events.SnapshotCreated)
	publish(t, f, snapshotEvent(t, "ev-b", "billing-prod"), events.SnapshotCreated)
	res := f.results(t)
	for _, r := range res {
		if r.Status != stepfunctions.StatusSucceeded {
			t.Errorf("execution %s %s %s", r.Status, r.Error, r.Cause)
		}
	}
	if len(f.glue.runs) != 2 {
		t.Errorf("crawler runs = %v, want one per execution", f.glue.runs)
	}
}

func TestForeignSnapshotFailsWithNotification(t *testing.T) {
	f := newFixture(t, []string{"warehouse-prod"})
	raw, err := events.Sample("nearmiss-replica-snapshot-created")
	if err != nil {
		t.Fatal(err)
	}
	// The prefix pattern cannot tell warehouse-prod-replica from warehouse-prod; the Lambda can.
	publish(t, f, raw, events.SnapshotCreated)
	res := f.results(t)
	if len(res) != 1 || res[0].Status != stepfunctions.StatusFailed || res[0].Error != "ForeignSnapshotError" {
		t.Fatalf("results = %+v", res)
	}
	if len(f.rds.started) != 0 {
		t.Errorf("exports started: %v", f.rds.started)
	}
	if len(f.p.Notifications()) != 1 {
		t.Errorf("notifications = %+v", f.p.Notifications())
	}
}

func TestMalformedEventFailsWithNotification(t *testing.T) {
	f := newFixture(t, []string{"warehouse-prod"})
	exec, err := f.p.Runner.Start(context.Background(), "malformed", f.p.Definition(), []byte(`{"source":"aws.rds","detail-type":"RDS DB Snapshot Event","detail":{"EventID":"RDS-EVENT-0091"}}`))
	if err != nil {
		t.Fatal(err)
	}
	r, err := exec.Wait()
	if err != nil {
		t.Fatal(err)
	}
	if r.Status != stepfunctions.StatusFailed || r.Error != "InvalidEventError" || len(f.p.Notifications()) != 1 || len(f.rds.started) != 0 {
		t.Errorf("result %s %s %q; notifications %d; exports %d", r.Status, r.Error, r.Cause, len(f.p.Notifications()), len(f.rds.started))
	}
}

func waitUntil(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(60 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting until %s", what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}
