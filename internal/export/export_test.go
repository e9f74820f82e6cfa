package export

import (
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
	"github.com/aws/aws-sdk-go-v2/service/rds"
	rdstypes "github.com/aws/aws-sdk-go-v2/service/rds/types"
	"github.com/aws/smithy-go"

	"github.com/snaplake/snaplake/events"
	"github.com/snaplake/snaplake/internal/exportid"
)

// memRDS keeps export tasks in memory: enough to test the handler's decisions.
// The offline stand-in (internal/local/rdsexport) runs the same handler for real.
type memRDS struct {
	tasks    map[string]rdstypes.ExportTask
	started  []*rds.StartExportTaskInput
	startErr error
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
	t, ok := m.tasks[aws.ToString(in.ExportTaskIdentifier)]
	if !ok {
		return &rds.DescribeExportTasksOutput{}, nil
	}
	return &rds.DescribeExportTasksOutput{ExportTasks: []rdstypes.ExportTask{t}}, nil
}

func testConfig() Config {
	return Config{
		Bucket: "lake", Prefix: "exports/", RoleArn: "arn:aws:iam::123456789012:role/export", KMSKeyID: "arn:aws:kms:eu-west-1:123456789012:key/k",
		DBInstanceIDs: []string{"warehouse-prod"}, Databases: []string{"warehouse"},
		ExportTimeout: 6 * time.Hour, CrawlTimeout: 30 * time.Minute,
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
	m := &memRDS{tasks: map[string]rdstypes.ExportTask{}}
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
	if res.ExportTimeoutSeconds != 6*3600 || res.CrawlTimeoutSeconds != 1800 {
		t.Errorf("timeouts = %d, %d", res.ExportTimeoutSeconds, res.CrawlTimeoutSeconds)
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
	m := &memRDS{tasks: map[string]rdstypes.ExportTask{}}
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
	m := &memRDS{tasks: map[string]rdstypes.ExportTask{}}
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
		{"prefix trap: another instance", testConfig(), string(snapshotEvent(events.EventAutomatedSnapshotCreated, "rds:warehouse-prod-replica-2026-11-20-03-10")), new(*ForeignSnapshotError)},
		{"automated id without date", testConfig(), string(snapshotEvent(events.EventAutomatedSnapshotCreated, "rds:warehouse-prod")), new(*ForeignSnapshotError)},
		{"manual snapshots off", testConfig(), string(snapshotEvent(events.EventManualSnapshotCreated, "warehouse-prod-before-migration")), new(*events.InvalidEventError)},
		{"manual of another instance", manualOn, string(snapshotEvent(events.EventManualSnapshotCreated, "billing-before-migration")), new(*ForeignSnapshotError)},
		{"export event", testConfig(), string(snapshotEvent(events.EventExportCompleted, "rds:warehouse-prod-2026-11-20-03-10")), new(*events.InvalidEventError)},
		{"not json", testConfig(), `{"detail":`, new(*events.InvalidEventError)},
		{"glue event", testConfig(), `{"source":"aws.glue","detail-type":"Glue Crawler State Change","detail":{"crawlerName":"c","state":"Succeeded"}}`, new(*events.InvalidEventError)},
		{"arn of another snapshot", testConfig(), strings.Replace(string(snapshotEvent(events.EventAutomatedSnapshotCreated, "rds:warehouse-prod-2026-11-20-03-10")), `"SourceArn":"arn:aws:rds:eu-west-1:123456789012:snapshot:rds:warehouse-prod-2026-11-20-03-10"`, `"SourceArn":"arn:aws:rds:eu-west-1:123456789012:snapshot:rds:other"`, 1), new(*events.InvalidEventError)},
		{"bad date", testConfig(), strings.Replace(string(snapshotEvent(events.EventAutomatedSnapshotCreated, "rds:warehouse-prod-2026-11-20-03-10")), "2026-11-20T03:12:41.123Z", "yesterday", 1), new(*events.InvalidEventError)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			m := &memRDS{tasks: map[string]rdstypes.ExportTask{}}
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
	m := &memRDS{tasks: map[string]rdstypes.ExportTask{}}
	res, err := handler(m, cfg).Handle(context.Background(), snapshotEvent(events.EventManualSnapshotCreated, "warehouse-prod-before-migration"))
	if err != nil || res.Action != ActionStarted {
		t.Fatalf("%+v, %v", res, err)
	}
}

func TestThrottlingIsRetryable(t *testing.T) {
	m := &memRDS{tasks: map[string]rdstypes.ExportTask{}, startErr: &smithy.GenericAPIError{Code: "ThrottlingException", Message: "Rate exceeded"}}
	var te *ThrottledError
	if _, err := handler(m, testConfig()).Handle(context.Background(), snapshotEvent(events.EventAutomatedSnapshotCreated, "rds:warehouse-prod-2026-11-20-03-10")); !errors.As(err, &te) {
		t.Errorf("err = %v, want *ThrottledError", err)
	}
}

func TestConfigFromEnv(t *testing.T) {
	env := map[string]string{
		"BUCKET": "lake", "EXPORT_ROLE_ARN": "arn:role", "KMS_KEY_ID": "arn:key", "DB_INSTANCE_IDS": "a, b",
		"DATABASES": "warehouse", "EXPORT_TIMEOUT_SECONDS": "3600", "INCLUDE_MANUAL_SNAPSHOTS": "true",
	}
	cfg, err := ConfigFromEnv(func(k string) string { return env[k] })
	if err != nil {
		t.Fatal(err)
	}
	if strings.Join(cfg.DBInstanceIDs, "|") != "a|b" || cfg.ExportTimeout != time.Hour || cfg.CrawlTimeout != time.Hour || !cfg.IncludeManualSnapshots || cfg.Prefix != "exports/" {
		t.Errorf("cfg = %+v", cfg)
	}
	for _, broken := range []struct{ key, val string }{
		{"BUCKET", ""}, {"DB_INSTANCE_IDS", " , "}, {"EXPORT_TIMEOUT_SECONDS", "soon"}, {"INCLUDE_MANUAL_SNAPSHOTS", "maybe"},
	} {
		e := map[string]string{}
		for k, v := range env {
			e[k] = v
		}
		e[broken.key] = broken.val
		var ce *ConfigError
		if _, err := ConfigFromEnv(func(k string) string { return e[k] }); !errors.As(err, &ce) || ce.Name != broken.key {
			t.Errorf("%s=%q: err = %v, want *ConfigError naming it", broken.key, broken.val, err)
		}
	}
}
