package export

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/aws/retry"
	"github.com/aws/aws-sdk-go-v2/service/rds"
	rdstypes "github.com/aws/aws-sdk-go-v2/service/rds/types"
	"github.com/aws/smithy-go"

	"github.com/snaplake/snaplake/events"
	"github.com/snaplake/snaplake/internal/aws/awserr"
	"github.com/snaplake/snaplake/internal/deploy"
	"github.com/snaplake/snaplake/internal/export/exportid"
)

// memRDS keeps export tasks and snapshots in memory: enough to test the handler's
// decisions. The offline stand-in (internal/local/rdsexport) runs the same handler for real.
type memRDS struct {
	tasks      map[string]rdstypes.ExportTask
	started    []*rds.StartExportTaskInput
	startErr   error
	snapshots  map[string]time.Time // snapshot id -> SnapshotCreateTime
	described  []*rds.DescribeDBSnapshotsInput
	descErr    error // answer of DescribeDBSnapshots, when set
	exportsErr error // answer of DescribeExportTasks, when set
	// clusterSnapshots are the Aurora cluster snapshots, id -> SnapshotCreateTime.
	clusterSnapshots  map[string]time.Time
	describedClusters []*rds.DescribeDBClusterSnapshotsInput
}

// snapshotCreated is when the test snapshots were taken: 03:10 UTC, as their ids say.
var snapshotCreated = time.Date(2026, 11, 20, 3, 10, 7, 0, time.UTC)

func newMemRDS() *memRDS {
	return &memRDS{tasks: map[string]rdstypes.ExportTask{}, snapshots: map[string]time.Time{
		"rds:warehouse-prod-2026-11-20-03-10": snapshotCreated,
		"warehouse-prod-before-migration":     snapshotCreated,
	}}
}

func (m *memRDS) StartExportTask(_ context.Context, in *rds.StartExportTaskInput, _ ...func(*rds.Options)) (*rds.StartExportTaskOutput, error) {
	if m.startErr != nil {
		return nil, m.startErr
	}
	id := aws.ToString(in.ExportTaskIdentifier)
	if _, ok := m.tasks[id]; ok {
		return nil, &rdstypes.ExportTaskAlreadyExistsFault{Message: aws.String("Cannot start export task because a task with the identifier " + id + " already exists")}
	}
	m.tasks[id] = rdstypes.ExportTask{ExportTaskIdentifier: in.ExportTaskIdentifier, SourceArn: in.SourceArn, Status: aws.String("STARTING")}
	m.started = append(m.started, in)
	return &rds.StartExportTaskOutput{ExportTaskIdentifier: in.ExportTaskIdentifier, Status: aws.String("STARTING")}, nil
}

func (m *memRDS) DescribeExportTasks(_ context.Context, in *rds.DescribeExportTasksInput, _ ...func(*rds.Options)) (*rds.DescribeExportTasksOutput, error) {
	if m.exportsErr != nil {
		return nil, m.exportsErr
	}
	t, ok := m.tasks[aws.ToString(in.ExportTaskIdentifier)]
	if !ok {
		return &rds.DescribeExportTasksOutput{}, nil
	}
	return &rds.DescribeExportTasksOutput{ExportTasks: []rdstypes.ExportTask{t}}, nil
}

func (m *memRDS) DescribeDBSnapshots(_ context.Context, in *rds.DescribeDBSnapshotsInput, _ ...func(*rds.Options)) (*rds.DescribeDBSnapshotsOutput, error) {
	m.described = append(m.described, in)
	if m.descErr != nil {
		return nil, m.descErr
	}
	id := aws.ToString(in.DBSnapshotIdentifier)
	created, ok := m.snapshots[id]
	if !ok {
		return nil, &rdstypes.DBSnapshotNotFoundFault{Message: aws.String("DBSnapshot " + id + " not found.")}
	}
	return &rds.DescribeDBSnapshotsOutput{DBSnapshots: []rdstypes.DBSnapshot{{
		DBSnapshotIdentifier: aws.String(id), SnapshotCreateTime: aws.Time(created), Status: aws.String("available"),
	}}}, nil
}

func (m *memRDS) DescribeDBClusterSnapshots(_ context.Context, in *rds.DescribeDBClusterSnapshotsInput, _ ...func(*rds.Options)) (*rds.DescribeDBClusterSnapshotsOutput, error) {
	m.describedClusters = append(m.describedClusters, in)
	id := aws.ToString(in.DBClusterSnapshotIdentifier)
	created, ok := m.clusterSnapshots[id]
	if !ok {
		return nil, &rdstypes.DBClusterSnapshotNotFoundFault{Message: aws.String("DBClusterSnapshot " + id + " not found.")}
	}
	return &rds.DescribeDBClusterSnapshotsOutput{DBClusterSnapshots: []rdstypes.DBClusterSnapshot{{
		DBClusterSnapshotIdentifier: aws.String(id), SnapshotCreateTime: aws.Time(created), Status: aws.String("available"),
	}}}, nil
}

func testConfig() Config {
	return Config{
		Bucket: "lake", Prefix: "exports/", RoleArn: "arn:aws:iam::123456789012:role/export", KMSKeyID: "arn:aws:kms:eu-west-1:123456789012:key/k",
		DBInstanceIDs: []string{"warehouse-prod"}, Databases: []string{"warehouse"},
		ExportTimeout: 6 * time.Hour, ExportRecheck: 10 * time.Minute, CrawlTimeout: 30 * time.Minute,
	}
}

func handler(m *memRDS, cfg Config) Handler {
	return Handler{RDS: m, Config: cfg, Log: slog.New(slog.NewTextHandler(io.Discard, nil))}
}

func snapshotEvent(eventID, snapshotID string) json.RawMessage {
	return json.RawMessage(fmt.Sprintf(`{"version":"0","id":"x","detail-type":"RDS DB Snapshot Event","source":"aws.rds",
	"account":"123456789012","time":"2026-11-20T03:12:41Z","region":"eu-west-1",
	"resources":["arn:aws:rds:eu-west-1:123456789012:snapshot:%[2]s"],
	"detail":{"EventCategories":["creation"],"SourceType":"SNAPSHOT","SourceArn":"arn:aws:rds:eu-west-1:123456789012:snapshot:%[2]s",
	"Date":"2026-11-20T03:12:41.123Z","SourceIdentifier":"%[2]s","Message":"Automated snapshot created","EventID":"%[1]s"}}`, eventID, snapshotID))
}

func TestStartsExport(t *testing.T) {
	m := newMemRDS()
	res, err := handler(m, testConfig()).Handle(context.Background(), snapshotEvent(events.EventAutomatedSnapshotCreated, "rds:warehouse-prod-2026-11-20-03-10"))
	if err != nil {
		t.Fatal(err)
	}
	if res.Action != ActionStarted || res.SnapshotDate != "2026-11-20" || res.SnapshotID != "rds:warehouse-prod-2026-11-20-03-10" {
		t.Errorf("result = %+v", res)
	}
	if err := exportid.Validate(res.ExportID); err != nil {
		t.Errorf("export id %q: %v", res.ExportID, err)
	}
	if res.ExportTimeoutSeconds != 6*3600 || res.CrawlTimeoutSeconds != 1800 || res.ExportRecheckSeconds != 600 {
		t.Errorf("timeouts = %d, %d, recheck %d", res.ExportTimeoutSeconds, res.CrawlTimeoutSeconds, res.ExportRecheckSeconds)
	}
	if len(m.described) != 1 || aws.ToString(m.described[0].DBSnapshotIdentifier) != res.SnapshotID ||
		aws.ToString(m.described[0].SnapshotType) != "automated" {
		t.Errorf("DescribeDBSnapshots inputs = %+v, want the snapshot id with SnapshotType automated", m.described)
	}
	if len(m.started) != 1 {
		t.Fatalf("started %d exports, want 1", len(m.started))
	}
	in := m.started[0]
	if aws.ToString(in.S3Prefix) != "exports" || aws.ToString(in.KmsKeyId) == "" || aws.ToString(in.S3BucketName) != "lake" ||
		strings.Join(in.ExportOnly, ",") != "warehouse" || aws.ToString(in.IamRoleArn) == "" {
		t.Errorf("StartExportTask input = %+v", in)
	}
}

func TestDuplicateEventIsANoOp(t *testing.T) {
	m := newMemRDS()
	h := handler(m, testConfig())
	ev := snapshotEvent(events.EventAutomatedSnapshotCreated, "rds:warehouse-prod-2026-11-20-03-10")
	first, err := h.Handle(context.Background(), ev)
	if err != nil {
		t.Fatal(err)
	}
	second, err := h.Handle(context.Background(), ev)
	if err != nil {
		t.Fatalf("second delivery: %v", err)
	}
	if second.Action != ActionDuplicate || second.ExportID != first.ExportID || len(m.started) != 1 {
		t.Errorf("second = %+v, exports started = %d", second, len(m.started))
	}
	// Once the export is complete, a re-run goes straight to relocation.
	task := m.tasks[first.ExportID]
	task.Status = aws.String("COMPLETE")
	m.tasks[first.ExportID] = task
	third, err := h.Handle(context.Background(), ev)
	if err != nil || third.Action != ActionCompleted {
		t.Errorf("after completion: %+v, %v", third, err)
	}
	task.Status, task.FailureCause = aws.String("FAILED"), aws.String("The export task failed because the S3 bucket is missing")
	m.tasks[first.ExportID] = task
	var ef *ExportFailedError
	if _, err := h.Handle(context.Background(), ev); !errors.As(err, &ef) || !strings.Contains(err.Error(), "S3 bucket") {
		t.Errorf("after failure: %v, want *ExportFailedError with the cause", err)
	}
}

func TestExportIDTakenByAnotherSnapshot(t *testing.T) {
	m := newMemRDS()
	h := handler(m, testConfig())
	res, err := h.Handle(context.Background(), snapshotEvent(events.EventAutomatedSnapshotCreated, "rds:warehouse-prod-2026-11-20-03-10"))
	if err != nil {
		t.Fatal(err)
	}
	task := m.tasks[res.ExportID]
	task.SourceArn = aws.String("arn:aws:rds:eu-west-1:123456789012:snapshot:something-else")
	m.tasks[res.ExportID] = task
	var ce *ExportConflictError
	if _, err := h.Handle(context.Background(), snapshotEvent(events.EventAutomatedSnapshotCreated, "rds:warehouse-prod-2026-11-20-03-10")); !errors.As(err, &ce) {
		t.Errorf("err = %v, want *ExportConflictError", err)
	}
}

func TestRejectsWithoutStarting(t *testing.T) {
	manualOn := testConfig()
	manualOn.IncludeManualSnapshots = true
	tests := []struct {
		name    string
		cfg     Config
		event   string
		wantErr any
	}{
		{"automated id without date", testConfig(), string(snapshotEvent(events.EventAutomatedSnapshotCreated, "rds:warehouse-prod")), new(*events.InvalidEventError)},
		{"manual snapshots off", testConfig(), string(snapshotEvent(events.EventManualSnapshotCreated, "warehouse-prod-before-migration")), new(*events.InvalidEventError)},
		{"export event", testConfig(), string(snapshotEvent(events.EventExportCompleted, "rds:warehouse-prod-2026-11-20-03-10")), new(*events.InvalidEventError)},
		{"not json", testConfig(), `{"detail":`, new(*events.InvalidEventError)},
		{"glue event", testConfig(), `{"source":"aws.glue","detail-type":"Glue Crawler State Change","detail":{"crawlerName":"c","state":"Succeeded"}}`, new(*events.InvalidEventError)},
		{"arn of another snapshot", testConfig(), strings.Replace(string(snapshotEvent(events.EventAutomatedSnapshotCreated, "rds:warehouse-prod-2026-11-20-03-10")), `"SourceArn":"arn:aws:rds:eu-west-1:123456789012:snapshot:rds:warehouse-prod-2026-11-20-03-10"`, `"SourceArn":"arn:aws:rds:eu-west-1:123456789012:snapshot:rds:other"`, 1), new(*events.InvalidEventError)},
		{"snapshot unknown to RDS", testConfig(), string(snapshotEvent(events.EventAutomatedSnapshotCreated, "rds:warehouse-prod-2026-11-19-03-10")), new(*SnapshotNotFoundError)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			m := newMemRDS()
			_, err := handler(m, tt.cfg).Handle(context.Background(), json.RawMessage(tt.event))
			if err == nil || !errors.As(err, tt.wantErr) {
				t.Errorf("err = %v, want %T", err, tt.wantErr)
			}
			if len(m.started) != 0 {
				t.Errorf("started %d exports on bad input", len(m.started))
			}
		})
	}
}

func TestManualSnapshotWhenEnabled(t *testing.T) {
	cfg := testConfig()
	cfg.IncludeManualSnapshots = true
	m := newMemRDS()
	res, err := handler(m, cfg).Handle(context.Background(), snapshotEvent(events.EventManualSnapshotCreated, "warehouse-prod-before-migration"))
	if err != nil || res.Action != ActionStarted {
		t.Fatalf("%+v, %v", res, err)
	}
}

func TestConfigFromEnv(t *testing.T) {
	env := map[string]string{
		deploy.EnvBucket: "lake", deploy.EnvExportRoleArn: "arn:role", deploy.EnvKMSKeyID: "arn:key", deploy.EnvDBInstanceIDs: "a, b",
		deploy.EnvDatabases: "warehouse", deploy.EnvExportTimeoutSeconds: "3600", deploy.EnvIncludeManualSnapshots: "true",
	}
	with := func(k, v string) func(string) string {
		e := map[string]string{}
		for k, v := range env {
			e[k] = v
		}
		e[k] = v
		return func(k string) string { return e[k] }
	}
	cfg, err := ConfigFromEnv(func(k string) string { return env[k] })
	if err != nil {
		t.Fatal(err)
	}
	if strings.Join(cfg.DBInstanceIDs, "|") != "a|b" || cfg.ExportTimeout != time.Hour || cfg.CrawlTimeout != deploy.DefaultCrawlTimeout ||
		!cfg.IncludeManualSnapshots || cfg.Prefix != deploy.ExportPrefix || cfg.ExportRecheck != deploy.DefaultExportRecheck ||
		cfg.SnapshotZone == nil || cfg.SnapshotZone.String() != deploy.DefaultSnapshotTimeZone {
		t.Errorf("cfg = %+v", cfg)
	}

	set := []struct {
		key, val string
		check    func(Config) bool
	}{
		{deploy.EnvExportRecheckSeconds, "60", func(c Config) bool { return c.ExportRecheck == time.Minute }},
		{deploy.EnvExportRecheckSeconds, "3600", func(c Config) bool { return c.ExportRecheck == time.Hour }},
		// Only the timeout set, shorter than the default recheck: the default yields.
		{deploy.EnvExportTimeoutSeconds, "600", func(c Config) bool { return c.ExportRecheck == 10*time.Minute }},
		{deploy.EnvSnapshotTimeZone, "Europe/Berlin", func(c Config) bool { return c.SnapshotZone.String() == "Europe/Berlin" }},
		{deploy.EnvSnapshotTimeZone, "UTC", func(c Config) bool { return c.SnapshotZone == time.UTC }},
	}
	for _, tc := range set {
		cfg, err := ConfigFromEnv(with(tc.key, tc.val))
		if err != nil || !tc.check(cfg) {
			t.Errorf("%s=%q: cfg = %+v, err = %v", tc.key, tc.val, cfg, err)
		}
	}

	for _, broken := range []struct{ key, val string }{
		{deploy.EnvBucket, ""}, {deploy.EnvExportRoleArn, ""}, {deploy.EnvKMSKeyID, ""},
		{deploy.EnvDBInstanceIDs, " , "}, {deploy.EnvExportTimeoutSeconds, "soon"}, {deploy.EnvIncludeManualSnapshots, "maybe"},
		{deploy.EnvCrawlTimeoutSeconds, "0"},
		{deploy.EnvExportRecheckSeconds, "0"},    // no recheck at all
		{deploy.EnvExportRecheckSeconds, "3601"}, // longer than the export timeout
		{deploy.EnvExportRecheckSeconds, "often"},
		{deploy.EnvSnapshotTimeZone, "Europe/Atlantis"},
		{deploy.EnvSnapshotTimeZone, "Local"},
	} {
		var ce *deploy.EnvError
		if _, err := ConfigFromEnv(with(broken.key, broken.val)); !errors.As(err, &ce) || ce.Var != broken.key {
			t.Errorf("%s=%q: err = %v, want *deploy.EnvError naming it", broken.key, broken.val, err)
		}
	}
}

// A configuration built by hand (the offline pipeline's) may leave the new settings zero.
func TestZeroRecheckAndZoneHaveDefaults(t *testing.T) {
	cfg := testConfig()
	cfg.ExportRecheck, cfg.SnapshotZone = 0, nil
	res, err := handler(newMemRDS(), cfg).Handle(context.Background(), snapshotEvent(events.EventAutomatedSnapshotCreated, "rds:warehouse-prod-2026-11-20-03-10"))
	if err != nil {
		t.Fatal(err)
	}
	if res.ExportRecheckSeconds != int(deploy.DefaultExportRecheck/time.Second) || res.SnapshotDate != "2026-11-20" {
		t.Errorf("result = %+v", res)
	}
}

// The event pattern can only match "rds:warehouse-prod-" by prefix: the replica's
// snapshots arrive every night and must end the execution quietly, not fail it.
func TestForeignSnapshotIsIgnored(t *testing.T) {
	manualOn := testConfig()
	manualOn.IncludeManualSnapshots = true
	tests := []struct {
		name     string
		cfg      Config
		eventID  string
		snapshot string
	}{
		{"prefix trap: automated snapshot of warehouse-prod-replica", testConfig(), events.EventAutomatedSnapshotCreated, "rds:warehouse-prod-replica-2026-11-20-03-10"},
		{"manual snapshot of another instance", manualOn, events.EventManualSnapshotCreated, "billing-before-migration"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			m := newMemRDS()
			var logs bytes.Buffer
			h := handler(m, tt.cfg)
			h.Log = slog.New(slog.NewJSONHandler(&logs, nil))
			res, err := h.Handle(context.Background(), snapshotEvent(tt.eventID, tt.snapshot))
			if err != nil {
				t.Fatalf("err = %v, want none: a foreign snapshot is not a failure", err)
			}
			if res.Action != ActionIgnored || res.SnapshotID != tt.snapshot || res.ExportID != "" ||
				!strings.Contains(res.Reason, tt.snapshot) || !strings.Contains(res.Reason, "warehouse-prod") {
				t.Errorf("result = %+v", res)
			}
			if len(m.started) != 0 || len(m.described) != 0 {
				t.Errorf("called RDS for a foreign snapshot: started %d, described %d", len(m.started), len(m.described))
			}
			var line struct {
				Level     string
				Snapshot  string
				Instances []string
			}
			if err := json.Unmarshal(logs.Bytes(), &line); err != nil {
				t.Fatalf("want one JSON log line, got %q: %v", logs.String(), err)
			}
			if line.Level != "INFO" || line.Snapshot != tt.snapshot || strings.Join(line.Instances, ",") != "warehouse-prod" {
				t.Errorf("log = %s", logs.String())
			}
			// The state machine selects every field by path: all must be there.
			raw, err := json.Marshal(res)
			if err != nil {
				t.Fatal(err)
			}
			var fields map[string]any
			if err := json.Unmarshal(raw, &fields); err != nil {
				t.Fatal(err)
			}
			for _, f := range []string{"exportId", "snapshotId", "snapshotArn", "snapshotDate", "action", "reason", "exportRecheckSeconds", "exportTimeoutSeconds", "crawlTimeoutSeconds"} {
				if _, ok := fields[f]; !ok {
					t.Errorf("result JSON %s lacks %q", raw, f)
				}
			}
		})
	}
}

func TestReasonOnlyWhenIgnored(t *testing.T) {
	res, err := handler(newMemRDS(), testConfig()).Handle(context.Background(), snapshotEvent(events.EventAutomatedSnapshotCreated, "rds:warehouse-prod-2026-11-20-03-10"))
	if err != nil {
		t.Fatal(err)
	}
	raw, _ := json.Marshal(res)
	if strings.Contains(string(raw), `"reason"`) || !strings.Contains(string(raw), `"exportRecheckSeconds":600`) {
		t.Errorf("result JSON = %s", raw)
	}
}

// snapshot_date is the day RDS created the snapshot, in the configured zone; the
// day the event was sent plays no part.
func TestSnapshotDateIsTheCreationDayInTheConfiguredZone(t *testing.T) {
	berlin, err := time.LoadLocation("Europe/Berlin")
	if err != nil {
		t.Fatal(err)
	}
	tokyo, err := time.LoadLocation("Asia/Tokyo")
	if err != nil {
		t.Fatal(err)
	}
	lateEvening := time.Date(2026, 11, 20, 23, 30, 0, 0, time.UTC)
	tests := []struct {
		name    string
		zone    *time.Location
		created time.Time
		want    string
	}{
		{"Berlin: 23:30 UTC is past midnight", berlin, lateEvening, "2026-11-21"},
		{"UTC", time.UTC, lateEvening, "2026-11-20"},
		{"unset zone is UTC", nil, lateEvening, "2026-11-20"},
		{"Tokyo: 03:10 UTC is noon", tokyo, snapshotCreated, "2026-11-20"},
		{"Berlin in summer time", berlin, time.Date(2026, 7, 1, 22, 15, 0, 0, time.UTC), "2026-07-02"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			m := newMemRDS()
			// The event's own Date, 2026-11-20T03:12:41Z, is a different day from several of these.
			m.snapshots["rds:warehouse-prod-2026-11-20-03-10"] = tt.created
			cfg := testConfig()
			cfg.SnapshotZone = tt.zone
			res, err := handler(m, cfg).Handle(context.Background(), snapshotEvent(events.EventAutomatedSnapshotCreated, "rds:warehouse-prod-2026-11-20-03-10"))
			if err != nil {
				t.Fatal(err)
			}
			if res.SnapshotDate != tt.want {
				t.Errorf("snapshotDate = %s, want %s", res.SnapshotDate, tt.want)
			}
		})
	}
}

func TestManualSnapshotIsDescribedAsManual(t *testing.T) {
	cfg := testConfig()
	cfg.IncludeManualSnapshots = true
	m := newMemRDS()
	if _, err := handler(m, cfg).Handle(context.Background(), snapshotEvent(events.EventManualSnapshotCreated, "warehouse-prod-before-migration")); err != nil {
		t.Fatal(err)
	}
	if len(m.described) != 1 || aws.ToString(m.described[0].SnapshotType) != "manual" {
		t.Errorf("DescribeDBSnapshots inputs = %+v", m.described)
	}
}

func TestSnapshotNotFoundNamesTheSnapshot(t *testing.T) {
	m := newMemRDS()
	const id = "rds:warehouse-prod-2026-11-19-03-10"
	_, err := handler(m, testConfig()).Handle(context.Background(), snapshotEvent(events.EventAutomatedSnapshotCreated, id))
	var nf *SnapshotNotFoundError
	if !errors.As(err, &nf) || nf.SnapshotID != id || !strings.Contains(err.Error(), id) {
		t.Fatalf("err = %v, want *SnapshotNotFoundError naming %s", err, id)
	}
	var fault *rdstypes.DBSnapshotNotFoundFault
	if !errors.As(err, &fault) {
		t.Errorf("err = %v: RDS's fault is not in the chain", err)
	}
	if len(m.started) != 0 {
		t.Errorf("started an export of a snapshot RDS does not know")
	}
}

// Every throttling code the SDK knows, from any of the three calls, reaches the state
// machine as ThrottledError, the name its Retry lists.
func TestThrottlingIsRetryable(t *testing.T) {
	ev := snapshotEvent(events.EventAutomatedSnapshotCreated, "rds:warehouse-prod-2026-11-20-03-10")
	for code := range retry.DefaultThrottleErrorCodes {
		throttled := &smithy.GenericAPIError{Code: code, Message: "Rate exceeded"}
		for _, call := range []string{"DescribeDBSnapshots", "StartExportTask", "DescribeExportTasks"} {
			m := newMemRDS()
			switch call {
			case "DescribeDBSnapshots":
				m.descErr = throttled
			case "StartExportTask":
				m.startErr = throttled
			case "DescribeExportTasks":
				m.tasks[exportIDOf(t, "rds:warehouse-prod-2026-11-20-03-10")] = rdstypes.ExportTask{}
				m.exportsErr = throttled
			}
			_, err := handler(m, testConfig()).Handle(context.Background(), ev)
			var te *awserr.ThrottledError
			if !errors.As(err, &te) || !errors.Is(err, throttled) {
				t.Errorf("%s throttled with %s: err = %v (%T), want *awserr.ThrottledError", call, code, err, err)
			}
		}
	}
}

func exportIDOf(t *testing.T, snapshot string) string {
	t.Helper()
	id, err := exportid.FromSnapshot(snapshot)
	if err != nil {
		t.Fatal(err)
	}
	return id
}
