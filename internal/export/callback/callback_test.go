package callback

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
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
	s3types "github.com/aws/aws-sdk-go-v2/service/s3/types"
	"github.com/aws/aws-sdk-go-v2/service/sfn"
	sfntypes "github.com/aws/aws-sdk-go-v2/service/sfn/types"
	"github.com/aws/smithy-go"

	"github.com/snaplake/snaplake/events"
	"github.com/snaplake/snaplake/internal/aws/crawlers"
	"github.com/snaplake/snaplake/internal/deploy"
	"github.com/snaplake/snaplake/internal/local/s3server"
)

// newStore returns a Store on a real in-process S3 server.
func newStore(t *testing.T) Store {
	t.Helper()
	srv, err := s3server.StartFake()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(srv.Stop)
	if err := srv.CreateBucket(context.Background(), "lake"); err != nil {
		t.Fatalf("create bucket: %v", err)
	}
	return Store{S3: srv.Client(), Bucket: "lake", Prefix: "callbacks/"}
}

// recordingSFN stands in for Step Functions' token API: it records calls and can
// answer that a token is gone.
type recordingSFN struct {
	mu       sync.Mutex
	success  map[string]string // token -> output
	failure  map[string][2]string
	gone     map[string]bool
	otherErr error
}

func newRecordingSFN() *recordingSFN {
	return &recordingSFN{success: map[string]string{}, failure: map[string][2]string{}, gone: map[string]bool{}}
}

func (r *recordingSFN) SendTaskSuccess(_ context.Context, in *sfn.SendTaskSuccessInput, _ ...func(*sfn.Options)) (*sfn.SendTaskSuccessOutput, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.otherErr != nil {
		return nil, r.otherErr
	}
	if r.gone[*in.TaskToken] {
		return nil, &sfntypes.TaskTimedOut{Message: aws.String("Task Timed Out")}
	}
	r.success[*in.TaskToken] = *in.Output
	return &sfn.SendTaskSuccessOutput{}, nil
}

func (r *recordingSFN) SendTaskFailure(_ context.Context, in *sfn.SendTaskFailureInput, _ ...func(*sfn.Options)) (*sfn.SendTaskFailureOutput, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.gone[*in.TaskToken] {
		return nil, &sfntypes.TaskDoesNotExist{Message: aws.String("no such task")}
	}
	r.failure[*in.TaskToken] = [2]string{*in.Error, *in.Cause}
	return &sfn.SendTaskFailureOutput{}, nil
}

func quietLog() *slog.Logger { return slog.New(slog.NewTextHandler(io.Discard, nil)) }

func rdsEvent(eventID, snapshot, message string) json.RawMessage {
	return json.RawMessage(fmt.Sprintf(`{"version":"0","id":"e1","detail-type":"RDS DB Snapshot Event","source":"aws.rds",
	"account":"123456789012","time":"2026-11-20T04:00:00Z","region":"eu-west-1",
	"resources":["arn:aws:rds:eu-west-1:123456789012:snapshot:%[2]s"],
	"detail":{"EventCategories":["notification"],"SourceType":"SNAPSHOT","SourceArn":"arn:aws:rds:eu-west-1:123456789012:snapshot:%[2]s",
	"Date":"2026-11-20T04:00:00.000Z","SourceIdentifier":"%[2]s","Message":"%[3]s","EventID":"%[1]s"}}`, eventID, snapshot, message))
}

// rdsClusterEvent is rdsEvent about an Aurora cluster snapshot.
func rdsClusterEvent(eventID, snapshot, message string) json.RawMessage {
	s := string(rdsEvent(eventID, snapshot, message))
	s = strings.ReplaceAll(s, `"RDS DB Snapshot Event"`, `"RDS DB Cluster Snapshot Event"`)
	s = strings.ReplaceAll(s, `:snapshot:`, `:cluster-snapshot:`)
	s = strings.ReplaceAll(s, `"SourceType":"SNAPSHOT"`, `"SourceType":"CLUSTER_SNAPSHOT"`)
	return json.RawMessage(s)
}

func crawlerEvent(crawler, state, completion, errMsg string) json.RawMessage {
	return json.RawMessage(fmt.Sprintf(`{"version":"0","id":"e2","detail-type":"Glue Crawler State Change","source":"aws.glue",
	"account":"123456789012","time":"2026-11-20T05:00:00Z","region":"eu-west-1","resources":[],
	"detail":{"crawlerName":"%s","state":"%s","message":"Crawler %s","completionDate":"%s","errorMessage":"%s",
	"tablesCreated":"1","tablesUpdated":"0","tablesDeleted":"0","partitionsCreated":"1","partitionsUpdated":"0","partitionsDeleted":"0","accountId":"123456789012"}}`,
		crawler, state, state, completion, errMsg))
}

func TestStorePerKey(t *testing.T) {
	ctx := context.Background()
	st := newStore(t)
	a := Wait{Kind: KindExport, Key: "rds:db-a-2026-11-20-03-10", Token: "tok-a", Execution: "exec-a"}
	b := Wait{Kind: KindExport, Key: "rds:db-b-2026-11-20-03-10", Token: "tok-b", Execution: "exec-b"}
	for _, w := range []Wait{a, b} {
		if err := st.Put(ctx, w); err != nil {
			t.Fatal(err)
		}
	}
	for _, want := range []Wait{a, b} {
		got, ok, err := st.Get(ctx, want.Kind, want.Key)
		if err != nil || !ok {
			t.Fatalf("get %s: ok=%v err=%v", want.Key, ok, err)
		}
		if got.Token != want.Token || got.Execution != want.Execution {
			t.Errorf("get %s = %+v, want token %s", want.Key, got, want.Token)
		}
	}
	if st.objectKey(KindExport, a.Key) == st.objectKey(KindCrawl, a.Key) {
		t.Error("export and crawl waits share an object")
	}
	if err := st.Delete(ctx, a.Kind, a.Key); err != nil {
		t.Fatal(err)
	}
	if _, ok, _ := st.Get(ctx, a.Kind, a.Key); ok {
		t.Error("wait a still stored after Delete")
	}
	if _, ok, _ := st.Get(ctx, b.Kind, b.Key); !ok {
		t.Error("deleting a removed b")
	}
}

func TestStoreRejectsBadInput(t *testing.T) {
	st := newStore(t)
	var iw *InvalidWaitError
	for _, w := range []Wait{
		{Kind: "backup", Key: "k", Token: "t"},
		{Kind: KindExport, Key: "", Token: "t"},
		{Kind: KindExport, Key: "k", Token: ""},
	} {
		if err := st.Put(context.Background(), w); !errors.As(err, &iw) {
			t.Errorf("Put(%+v) = %v, want *InvalidWaitError", w, err)
		}
	}
}

func TestResumeExportOutcomes(t *testing.T) {
	tests := []struct {
		name      string
		eventID   string
		wantOK    bool
		wantError string
	}{
		{"completed", events.EventExportCompleted, true, ""},
		{"failed", events.EventExportFailed, false, ErrExportFailed},
		{"canceled", events.EventExportCanceled, false, ErrExportCanceled},
		// An Aurora cluster snapshot's export ends with the cluster event ids.
		{"cluster completed", events.EventClusterExportCompleted, true, ""},
		{"cluster failed", events.EventClusterExportFailed, false, ErrExportFailed},
		{"cluster canceled", events.EventClusterExportCanceled, false, ErrExportCanceled},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			rdsEvent := rdsEvent
			if strings.HasPrefix(tt.name, "cluster") {
				rdsEvent = rdsClusterEvent
			}
			ctx := context.Background()
			st := newStore(t)
			rec := newRecordingSFN()
			await := AwaitHandler{Store: st, Log: quietLog()}
			// Two databases' executions overlap: each must be resumed by its own event only.
			for _, db := range []string{"a", "b"} {
				if _, err := await.Handle(ctx, AwaitRequest{Kind: KindExport, Key: "rds:db-" + db + "-2026-11-20-03-10", Token: "tok-" + db, Execution: "exec-" + db, ExportID: "db-" + db + "-2026-11-20-03-10"}); err != nil {
					t.Fatal(err)
				}
			}
			h := ResumeHandler{Store: st, SFN: rec, Log: quietLog()}
			res, err := h.Handle(ctx, rdsEvent(tt.eventID, "rds:db-a-2026-11-20-03-10", "Export task "+tt.name))
			if err != nil {
				t.Fatal(err)
			}
			if res.Execution != "exec-a" {
				t.Errorf("resumed %q, want exec-a", res.Execution)
			}
			if tt.wantOK {
				if _, ok := rec.success["tok-a"]; !ok || len(rec.failure) != 0 {
					t.Errorf("success=%v failure=%v, want success for tok-a only", rec.success, rec.failure)
				}
			} else {
				got := rec.failure["tok-a"]
				if got[0] != tt.wantError || !strings.Contains(got[1], tt.name) || len(rec.success) != 0 {
					t.Errorf("failure=%v success=%v, want %s with the message as cause", rec.failure, rec.success, tt.wantError)
				}
			}
			if _, ok := rec.success["tok-b"]; ok {
				t.Error("database b's execution was resumed by a's event")
			}
			if _, ok, _ := st.Get(ctx, KindExport, "rds:db-a-2026-11-20-03-10"); ok {
				t.Error("a's token still stored after resuming it")
			}
			if _, ok, _ := st.Get(ctx, KindExport, "rds:db-b-2026-11-20-03-10"); !ok {
				t.Error("b's token was removed")
			}
			// The same event delivered again finds nobody waiting and is acknowledged.
			again, err := h.Handle(ctx, rdsEvent(tt.eventID, "rds:db-a-2026-11-20-03-10", "again"))
			if err != nil || again.Outcome != OutcomeNoWaiter {
				t.Errorf("redelivery = %+v, %v; want %s", again, err, OutcomeNoWaiter)
			}
		})
	}
}

func TestResumeCrawl(t *testing.T) {
	ctx := context.Background()
	st := newStore(t)
	rec := newRecordingSFN()
	registered := time.Date(2026, 11, 20, 5, 0, 0, 0, time.UTC)
	await := AwaitHandler{Store: st, Glue: &memGlue{store: st}, Log: quietLog(), Now: func() time.Time { return registered }}
	if _, err := await.Handle(ctx, AwaitRequest{Kind: KindCrawl, Key: "snaplake-warehouse", Token: "tok-c", Execution: "exec-c", Folder: "warehouse", Tables: []string{"users"}}); err != nil {
		t.Fatal(err)
	}
	h := ResumeHandler{Store: st, SFN: rec, Log: quietLog()}

	// Glue's completionDate has whole seconds: a run ending in the second the wait began is this one's.
	if res, err := (ResumeHandler{Store: st, SFN: newRecordingSFN(), Log: quietLog()}).Handle(ctx, crawlerEvent("snaplake-warehouse", "Started", "", "")); err != nil || res.Outcome != OutcomeIgnored {
		t.Fatalf("started: %+v %v", res, err)
	}
	// A run that ended before this wait began is an earlier execution's.
	res, err := h.Handle(ctx, crawlerEvent("snaplake-warehouse", "Succeeded", "2026-11-20T04:59:00Z", ""))
	if err != nil || res.Outcome != OutcomeStale || len(rec.success) != 0 {
		t.Fatalf("stale event: %+v %v success=%v", res, err, rec.success)
	}
	// Started is not an outcome.
	if res, err := h.Handle(ctx, crawlerEvent("snaplake-warehouse", "Started", "", "")); err != nil || res.Outcome != OutcomeIgnored {
		t.Fatalf("started event: %+v %v", res, err)
	}
	// Another crawler's run resumes nobody.
	if res, err := h.Handle(ctx, crawlerEvent("snaplake-other", "Succeeded", "2026-11-20T05:03:00Z", "")); err != nil || res.Outcome != OutcomeNoWaiter {
		t.Fatalf("other crawler: %+v %v", res, err)
	}
	res, err = h.Handle(ctx, crawlerEvent("snaplake-warehouse", "Failed", "2026-11-20T05:03:00Z", "Insufficient Lake Formation permission"))
	if err != nil || res.Outcome != OutcomeFailed {
		t.Fatalf("failed crawl: %+v %v", res, err)
	}
	if got := rec.failure["tok-c"]; got[0] != ErrCrawlerFailed || got[1] != "Insufficient Lake Formation permission" {
		t.Errorf("failure = %v", got)
	}
}

func TestResumeTokenGone(t *testing.T) {
	ctx := context.Background()
	st := newStore(t)
	rec := newRecordingSFN()
	rec.gone["tok-x"] = true
	if err := st.Put(ctx, Wait{Kind: KindExport, Key: "rds:x-2026-11-20-03-10", Token: "tok-x", Execution: "exec-x"}); err != nil {
		t.Fatal(err)
	}
	h := ResumeHandler{Store: st, SFN: rec, Log: quietLog()}
	res, err := h.Handle(ctx, rdsEvent(events.EventExportCompleted, "rds:x-2026-11-20-03-10", "Export task completed"))
	if err != nil || res.Outcome != OutcomeGone {
		t.Fatalf("got %+v %v, want %s", res, err, OutcomeGone)
	}
	if _, ok, _ := st.Get(ctx, KindExport, "rds:x-2026-11-20-03-10"); ok {
		t.Error("a dead execution's token is still stored")
	}
}

func TestResumeKeepsTokenWhenStepFunctionsFails(t *testing.T) {
	ctx := context.Background()
	st := newStore(t)
	rec := newRecordingSFN()
	rec.otherErr = errors.New("connection reset")
	if err := st.Put(ctx, Wait{Kind: KindExport, Key: "rds:x-2026-11-20-03-10", Token: "tok-x", Execution: "exec-x"}); err != nil {
		t.Fatal(err)
	}
	h := ResumeHandler{Store: st, SFN: rec, Log: quietLog()}
	if _, err := h.Handle(ctx, rdsEvent(events.EventExportCompleted, "rds:x-2026-11-20-03-10", "Export task completed")); err == nil {
		t.Fatal("want an error so EventBridge retries")
	}
	if _, ok, _ := st.Get(ctx, KindExport, "rds:x-2026-11-20-03-10"); !ok {
		t.Error("token deleted although the execution was not resumed")
	}
}

func TestResumeRejectsMalformedEvents(t *testing.T) {
	h := ResumeHandler{Store: newStore(t), SFN: newRecordingSFN(), Log: quietLog()}
	for name, raw := range map[string]string{
		"not json":       `{"source":`,
		"foreign source": `{"source":"aws.ec2","detail-type":"EC2 Instance State-change Notification","detail":{"state":"running"}}`,
		"no detail":      `{"source":"aws.rds","detail-type":"RDS DB Snapshot Event"}`,
		"no event id":    `{"source":"aws.rds","detail-type":"RDS DB Snapshot Event","detail":{"SourceIdentifier":"rds:x"}}`,
	} {
		var ie *events.InvalidEventError
		if _, err := h.Handle(context.Background(), json.RawMessage(raw)); !errors.As(err, &ie) {
			t.Errorf("%s: err = %v, want *events.InvalidEventError", name, err)
		}
	}
}

// memGlue records crawler calls and checks the token was parked first.
type memGlue struct {
	store   Store
	running map[string]bool
	started []string
	parked  []bool
	updates []*glue.UpdateCrawlerInput
}

func (g *memGlue) GetCrawler(_ context.Context, in *glue.GetCrawlerInput, _ ...func(*glue.Options)) (*glue.GetCrawlerOutput, error) {
	name := aws.ToString(in.Name)
	if name == "snaplake-missing" {
		return nil, &gluetypes.EntityNotFoundException{Message: aws.String("Crawler entry with name snaplake-missing does not exist")}
	}
	return &glue.GetCrawlerOutput{Crawler: &gluetypes.Crawler{
		Name: aws.String(name), Role: aws.String("arn:aws:iam::1:role/crawler"), DatabaseName: aws.String("warehouse"),
		Configuration:      aws.String(`{"Version":1.0}`),
		Targets:            &gluetypes.CrawlerTargets{S3Targets: []gluetypes.S3Target{{Path: aws.String("s3://lake/data/warehouse/"), Exclusions: []string{"**"}}}},
		SchemaChangePolicy: &gluetypes.SchemaChangePolicy{DeleteBehavior: gluetypes.DeleteBehaviorDeleteFromDatabase},
	}}, nil
}

func (g *memGlue) UpdateCrawler(_ context.Context, in *glue.UpdateCrawlerInput, _ ...func(*glue.Options)) (*glue.UpdateCrawlerOutput, error) {
	if g.running[aws.ToString(in.Name)] {
		return nil, &gluetypes.CrawlerRunningException{Message: aws.String("Crawler with name " + aws.ToString(in.Name) + " is running")}
	}
	g.updates = append(g.updates, in)
	return &glue.UpdateCrawlerOutput{}, nil
}

func (g *memGlue) StartCrawler(ctx context.Context, in *glue.StartCrawlerInput, _ ...func(*glue.Options)) (*glue.StartCrawlerOutput, error) {
	name := aws.ToString(in.Name)
	if name == "snaplake-missing" {
		return nil, &gluetypes.EntityNotFoundException{Message: aws.String("Crawler entry with name snaplake-missing does not exist")}
	}
	if g.running[name] {
		return nil, &gluetypes.CrawlerRunningException{Message: aws.String("Crawler with name " + name + " has already started")}
	}
	_, ok, _ := g.store.Get(ctx, KindCrawl, name)
	g.parked = append(g.parked, ok)
	g.started = append(g.started, name)
	return &glue.StartCrawlerOutput{}, nil
}

func TestAwaitCrawlParksTokenBeforeStarting(t *testing.T) {
	ctx := context.Background()
	st := newStore(t)
	g := &memGlue{store: st, running: map[string]bool{"snaplake-busy": true}}
	h := AwaitHandler{Store: st, Glue: g, Log: quietLog()}
	if _, err := h.Handle(ctx, AwaitRequest{Kind: KindCrawl, Key: "snaplake-warehouse", Token: "t1", Execution: "e1", Folder: "warehouse", Tables: []string{"users"}}); err != nil {
		t.Fatal(err)
	}
	if len(g.started) != 1 || !g.parked[0] {
		t.Fatalf("started=%v parked-before-start=%v", g.started, g.parked)
	}
	var running *crawlers.CrawlerRunningError
	if _, err := h.Handle(ctx, AwaitRequest{Kind: KindCrawl, Key: "snaplake-busy", Token: "t2", Execution: "e2", Folder: "warehouse", Tables: []string{"users"}}); !errors.As(err, &running) {
		t.Errorf("busy crawler: %v, want *CrawlerRunningError", err)
	}
	if _, ok, _ := st.Get(ctx, KindCrawl, "snaplake-busy"); ok {
		t.Error("token of a crawl that never started is still parked")
	}
	var missing *CrawlerNotFoundError
	if _, err := h.Handle(ctx, AwaitRequest{Kind: KindCrawl, Key: "snaplake-missing", Token: "t3", Execution: "e3", Folder: "warehouse", Tables: []string{"users"}}); !errors.As(err, &missing) {
		t.Errorf("missing crawler: %v, want *CrawlerNotFoundError", err)
	}
}

type memExports map[string]rdstypes.ExportTask

func (m memExports) DescribeExportTasks(_ context.Context, in *rds.DescribeExportTasksInput, _ ...func(*rds.Options)) (*rds.DescribeExportTasksOutput, error) {
	t, ok := m[aws.ToString(in.ExportTaskIdentifier)]
	if !ok {
		return &rds.DescribeExportTasksOutput{}, nil
	}
	return &rds.DescribeExportTasksOutput{ExportTasks: []rdstypes.ExportTask{t}}, nil
}

func TestAwaitExportThatAlreadyEnded(t *testing.T) {
	exports := memExports{
		"done":    {Status: aws.String("COMPLETE")},
		"broken":  {Status: aws.String("FAILED"), FailureCause: aws.String("S3 bucket gone")},
		"running": {Status: aws.String("IN_PROGRESS")},
	}
	for id, want := range map[string]string{"done": "success", "broken": ErrExportFailed, "running": "wait"} {
		t.Run(id, func(t *testing.T) {
			ctx := context.Background()
			st := newStore(t)
			rec := newRecordingSFN()
			h := AwaitHandler{Store: st, SFN: rec, RDS: exports, Log: quietLog()}
			res, err := h.Handle(ctx, AwaitRequest{Kind: KindExport, Key: "rds:x-" + id, Token: "tok", Execution: "e", ExportID: id})
			if err != nil {
				t.Fatal(err)
			}
			_, parked, _ := st.Get(ctx, KindExport, "rds:x-"+id)
			switch want {
			case "success":
				if _, ok := rec.success["tok"]; !ok || !res.Finished || parked {
					t.Errorf("finished=%v parked=%v success=%v", res.Finished, parked, rec.success)
				}
			case "wait":
				if res.Finished || !parked || len(rec.success)+len(rec.failure) != 0 {
					t.Errorf("finished=%v parked=%v", res.Finished, parked)
				}
			default:
				if got := rec.failure["tok"]; got[0] != want || got[1] != "S3 bucket gone" || parked {
					t.Errorf("failure=%v parked=%v", got, parked)
				}
			}
		})
	}
	var iw *InvalidWaitError
	if _, err := (AwaitHandler{Store: newStore(t), Log: quietLog()}).Handle(context.Background(), AwaitRequest{Kind: KindExport, Key: "k", Token: "t"}); !errors.As(err, &iw) {
		t.Errorf("export wait without export id: %v", err)
	}
}

func TestResumeCrawlEndingInTheSecondTheWaitBegan(t *testing.T) {
	ctx := context.Background()
	st := newStore(t)
	rec := newRecordingSFN()
	registered := time.Date(2026, 11, 20, 5, 0, 0, 628_000_000, time.UTC)
	await := AwaitHandler{Store: st, Glue: &memGlue{store: st}, Log: quietLog(), Now: func() time.Time { return registered }}
	if _, err := await.Handle(ctx, AwaitRequest{Kind: KindCrawl, Key: "snaplake-warehouse", Token: "tok", Execution: "e", Folder: "warehouse", Tables: []string{"users"}}); err != nil {
		t.Fatal(err)
	}
	h := ResumeHandler{Store: st, SFN: rec, Log: quietLog()}
	res, err := h.Handle(ctx, crawlerEvent("snaplake-warehouse", "Succeeded", "2026-11-20T05:00:00Z", ""))
	if err != nil || res.Outcome != OutcomeSucceeded {
		t.Fatalf("got %+v %v, want %s", res, err, OutcomeSucceeded)
	}
}

func TestCrawlWaitNeverReplacesAnotherExecutionsLiveWait(t *testing.T) {
	ctx := context.Background()
	st := newStore(t)
	now := time.Date(2026, 11, 20, 5, 0, 0, 0, time.UTC)
	clock := func() time.Time { return now }
	g := &memGlue{store: st, running: map[string]bool{}}
	a := AwaitHandler{Store: st, Glue: g, Log: quietLog(), Now: clock}
	if _, err := a.Handle(ctx, AwaitRequest{Kind: KindCrawl, Key: "snaplake-warehouse", Token: "tok-a", Execution: "exec-a", TimeoutSeconds: 3600, Folder: "warehouse", Tables: []string{"users"}}); err != nil {
		t.Fatal(err)
	}
	g.running["snaplake-warehouse"] = true // A's crawl runs
	var running *crawlers.CrawlerRunningError
	if _, err := a.Handle(ctx, AwaitRequest{Kind: KindCrawl, Key: "snaplake-warehouse", Token: "tok-b", Execution: "exec-b", TimeoutSeconds: 3600, Folder: "warehouse", Tables: []string{"users"}}); !errors.As(err, &running) || running.Holder != "exec-a" {
		t.Fatalf("second execution: %v, want *CrawlerRunningError held by exec-a", err)
	}
	if w, ok, _ := st.Get(ctx, KindCrawl, "snaplake-warehouse"); !ok || w.Token != "tok-a" {
		t.Fatalf("A's token replaced: %+v %v", w, ok)
	}
	if len(g.started) != 1 {
		t.Errorf("crawler started %d times", len(g.started))
	}
	// An execution whose wait expired (it timed out) no longer holds the crawler.
	g.running["snaplake-warehouse"] = false
	now = now.Add(2 * time.Hour)
	if _, err := a.Handle(ctx, AwaitRequest{Kind: KindCrawl, Key: "snaplake-warehouse", Token: "tok-c", Execution: "exec-c", TimeoutSeconds: 3600, Folder: "warehouse", Tables: []string{"users"}}); err != nil {
		t.Fatalf("taking over an expired wait: %v", err)
	}
	if w, _, _ := st.Get(ctx, KindCrawl, "snaplake-warehouse"); w.Token != "tok-c" {
		t.Errorf("token = %s, want tok-c", w.Token)
	}
}

func TestPutNewIsConditional(t *testing.T) {
	ctx := context.Background()
	st := newStore(t)
	w := Wait{Kind: KindCrawl, Key: "c", Token: "t1", Execution: "e1"}
	if err := st.PutNew(ctx, w); err != nil {
		t.Fatal(err)
	}
	w.Token, w.Execution = "t2", "e2"
	err := st.PutNew(ctx, w)
	got, _, _ := st.Get(ctx, KindCrawl, "c")
	// S3 refuses the second write (If-None-Match: *).
	if !errors.Is(err, ErrWaitExists) || got.Token != "t1" {
		t.Errorf("second PutNew: %v, stored token %s", err, got.Token)
	}
}

func TestStoreFromEnv(t *testing.T) {
	env := map[string]string{"BUCKET": "lake", "KMS_KEY_ID": "arn:key"}
	st, err := StoreFromEnv(func(k string) string { return env[k] }, nil)
	if err != nil || st.Bucket != "lake" || st.Prefix != "callbacks/" || st.KMSKeyID != "arn:key" {
		t.Errorf("StoreFromEnv = %+v, %v", st, err)
	}
	var ee *deploy.EnvError
	if _, err := StoreFromEnv(func(string) string { return "" }, nil); !errors.As(err, &ee) || ee.Var != "BUCKET" {
		t.Errorf("without BUCKET: %v", err)
	}
}

func TestCrawlPointsTheCrawlerAtEachTableFolder(t *testing.T) {
	ctx := context.Background()
	st := newStore(t)
	g := &memGlue{store: st, running: map[string]bool{}}
	h := AwaitHandler{Store: st, Glue: g, DataPrefix: "data/", Log: quietLog()}
	if _, err := h.Handle(ctx, AwaitRequest{Kind: KindCrawl, Key: "snaplake-warehouse", Token: "t", Execution: "e", Folder: "Warehouse", Tables: []string{"customer", "customer_address"}}); err != nil {
		t.Fatal(err)
	}
	if len(g.updates) != 1 || len(g.started) != 1 {
		t.Fatalf("updates=%d starts=%d, want 1 each", len(g.updates), len(g.started))
	}
	u := g.updates[0]
	var paths []string
	for _, tg := range u.Targets.S3Targets {
		paths = append(paths, aws.ToString(tg.Path))
		if len(tg.Exclusions) != 0 {
			t.Errorf("target %s keeps exclusions %v", aws.ToString(tg.Path), tg.Exclusions)
		}
	}
	want := []string{"s3://lake/data/Warehouse/customer/", "s3://lake/data/Warehouse/customer_address/"}
	if strings.Join(paths, " ") != strings.Join(want, " ") {
		t.Errorf("include paths %v, want %v", paths, want)
	}
	// Every field of the definition goes back: UpdateCrawler's treatment of omitted ones is undocumented.
	if aws.ToString(u.Role) == "" || aws.ToString(u.Configuration) == "" || aws.ToString(u.DatabaseName) != "warehouse" || u.SchemaChangePolicy == nil {
		t.Errorf("update dropped fields: role=%q conf=%q db=%q policy=%v", aws.ToString(u.Role), aws.ToString(u.Configuration), aws.ToString(u.DatabaseName), u.SchemaChangePolicy)
	}
	var iw *InvalidWaitError
	if _, err := h.Handle(ctx, AwaitRequest{Kind: KindCrawl, Key: "snaplake-x", Token: "t2", Execution: "e2", Folder: "w", Tables: []string{"a/b"}}); !errors.As(err, &iw) {
		t.Errorf("table with a slash: %v, want *InvalidWaitError", err)
	}
	if _, ok, _ := st.Get(ctx, KindCrawl, "snaplake-x"); ok {
		t.Error("the token of a crawl that never started is still parked")
	}
}

func TestExportWaitNewestExecutionWins(t *testing.T) {
	older := AwaitRequest{Kind: KindExport, Key: "rds:x-2026-11-20-03-00", Token: "tok-old", Execution: "exec-old", ExportID: "x", ExecutionStartedAt: "2026-11-20T03:10:00Z"}
	newer := AwaitRequest{Kind: KindExport, Key: "rds:x-2026-11-20-03-00", Token: "tok-new", Execution: "exec-new", ExportID: "x", ExecutionStartedAt: "2026-11-20T09:00:00Z"}
	running := memExports{"x": {Status: aws.String("IN_PROGRESS")}}
	for _, order := range [][]AwaitRequest{{older, newer}, {newer, older}} {
		t.Run(order[0].Execution+"-first", func(t *testing.T) {
			ctx := context.Background()
			st := newStore(t)
			rec := newRecordingSFN()
			h := AwaitHandler{Store: st, SFN: rec, RDS: running, Log: quietLog()}
			for _, req := range order {
				if _, err := h.Handle(ctx, req); err != nil {
					t.Fatal(err)
				}
			}
			w, ok, _ := st.Get(ctx, KindExport, older.Key)
			if !ok || w.Token != "tok-new" {
				t.Fatalf("stored wait %+v (found %v), want the newer execution's", w, ok)
			}
			out, ok := rec.success["tok-old"]
			if !ok || !strings.Contains(out, `"status":"superseded"`) || !strings.Contains(out, "exec-new") {
				t.Errorf("older execution resumed with %q (resumed: %v), want status superseded by exec-new", out, ok)
			}
			if _, ok := rec.success["tok-new"]; ok {
				t.Error("the newer execution was resumed; it must keep waiting for the export")
			}
		})
	}
	// A re-check by the same execution replaces its own wait and supersedes nobody.
	ctx := context.Background()
	st := newStore(t)
	rec := newRecordingSFN()
	h := AwaitHandler{Store: st, SFN: rec, RDS: running, Log: quietLog()}
	again := older
	again.Token = "tok-old-2"
	for _, req := range []AwaitRequest{older, again} {
		if _, err := h.Handle(ctx, req); err != nil {
			t.Fatal(err)
		}
	}
	if w, _, _ := st.Get(ctx, KindExport, older.Key); w.Token != "tok-old-2" || len(rec.success) != 0 {
		t.Errorf("re-check: stored %s, resumed %v", w.Token, rec.success)
	}
}

func TestResumeFailedExportCarriesRDSFailureCause(t *testing.T) {
	ctx := context.Background()
	st := newStore(t)
	rec := newRecordingSFN()
	exports := memExports{"x": {Status: aws.String("FAILED"), FailureCause: aws.String("The IAM role arn:aws:iam::1:role/export is not authorized to write to the S3 bucket")}}
	await := AwaitHandler{Store: st, SFN: rec, RDS: memExports{"x": {Status: aws.String("IN_PROGRESS")}}, Log: quietLog()}
	if _, err := await.Handle(ctx, AwaitRequest{Kind: KindExport, Key: "rds:x-1", Token: "tok", Execution: "e", ExportID: "x"}); err != nil {
		t.Fatal(err)
	}
	h := ResumeHandler{Store: st, SFN: rec, RDS: exports, Log: quietLog()}
	if _, err := h.Handle(ctx, rdsEvent(events.EventExportFailed, "rds:x-1", "The snapshot export task failed.")); err != nil {
		t.Fatal(err)
	}
	got := rec.failure["tok"]
	if got[0] != ErrExportFailed || !strings.Contains(got[1], "not authorized to write to the S3 bucket") {
		t.Errorf("failure = %v, want ExportFailed with RDS's FailureCause", got)
	}
}

// deniedMissing answers a GET of a missing key as S3 does for a caller without
// s3:ListBucket: 403 AccessDenied.
type deniedMissing struct{ S3API }

func (d deniedMissing) GetObject(ctx context.Context, in *s3.GetObjectInput, optFns ...func(*s3.Options)) (*s3.GetObjectOutput, error) {
	out, err := d.S3API.GetObject(ctx, in, optFns...)
	var nsk *s3types.NoSuchKey
	if errors.As(err, &nsk) {
		return nil, &smithy.GenericAPIError{Code: "AccessDenied", Message: "User: arn:aws:sts::1:assumed-role/r/s is not authorized to perform: s3:ListBucket"}
	}
	return out, err
}

func TestStoreGetTellsMissingFromDenied(t *testing.T) {
	ctx := context.Background()
	st := newStore(t)
	st.S3 = deniedMissing{st.S3}
	if _, ok, err := st.Get(ctx, KindExport, "rds:nobody-waits"); err != nil || ok {
		t.Fatalf("missing wait behind a 403: ok=%v err=%v, want absent", ok, err)
	}
	if err := st.Put(ctx, Wait{Kind: KindExport, Key: "k", Token: "t", Execution: "e"}); err != nil {
		t.Fatal(err)
	}
	if w, ok, err := st.Get(ctx, KindExport, "k"); err != nil || !ok || w.Token != "t" {
		t.Fatalf("stored wait: %+v %v %v", w, ok, err)
	}
}
