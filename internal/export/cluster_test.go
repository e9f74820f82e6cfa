package export

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/smithy-go"

	"github.com/snaplake/snaplake/events"
	"github.com/snaplake/snaplake/internal/deploy"
)

const clusterSnap = "rds:warehouse-aurora-2026-11-20-03-10"

func clusterConfig() Config {
	c := testConfig()
	c.DBInstanceIDs = nil
	c.DBClusterIDs = []string{"warehouse-aurora"}
	return c
}

// clusterEvent is RDS-EVENT-0169 for the cluster snapshot id, as the sample shows it.
func clusterEvent(t *testing.T, mutate func(m map[string]any)) json.RawMessage {
	t.Helper()
	raw, err := events.Sample("cluster-snapshot-created-automated")
	if err != nil {
		t.Fatal(err)
	}
	if mutate == nil {
		return raw
	}
	var m map[string]any
	if err := json.Unmarshal(raw, &m); err != nil {
		t.Fatal(err)
	}
	mutate(m)
	b, _ := json.Marshal(m)
	return b
}

func clusterRDS() *memRDS {
	m := newMemRDS()
	// Created late in the UTC evening: the snapshot_date follows the creation time,
	// not the name or the event's date.
	m.clusterSnapshots = map[string]time.Time{clusterSnap: time.Date(2026, 11, 19, 23, 58, 0, 0, time.UTC)}
	return m
}

func TestStartsClusterSnapshotExport(t *testing.T) {
	m := clusterRDS()
	cfg := clusterConfig()
	cfg.SnapshotZone = time.FixedZone("UTC+1", 3600)
	res, err := handler(m, cfg).Handle(context.Background(), clusterEvent(t, nil))
	if err != nil {
		t.Fatal(err)
	}
	const arn = "arn:aws:rds:eu-west-1:123456789012:cluster-snapshot:" + clusterSnap
	if res.Action != ActionStarted || res.SnapshotID != clusterSnap || res.SnapshotArn != arn ||
		res.ExportID != "warehouse-aurora-2026-11-20-03-10" || res.SnapshotDate != "2026-11-20" {
		t.Fatalf("result = %+v", res)
	}
	if len(m.started) != 1 || aws.ToString(m.started[0].SourceArn) != arn || aws.ToString(m.started[0].ExportTaskIdentifier) != res.ExportID {
		t.Fatalf("StartExportTask inputs %+v: want SourceArn %s", m.started, arn)
	}
	// The cluster snapshot is described as one (DescribeDBSnapshots does not know it).
	if len(m.described) != 0 || len(m.describedClusters) != 1 ||
		aws.ToString(m.describedClusters[0].DBClusterSnapshotIdentifier) != clusterSnap || aws.ToString(m.describedClusters[0].SnapshotType) != "automated" {
		t.Fatalf("described %+v and clusters %+v", m.described, m.describedClusters)
	}
}

func TestClusterSnapshotOfAnotherClusterIsIgnored(t *testing.T) {
	// "rds:warehouse-aurora-" prefixes the snapshots of "warehouse-aurora-replica" too.
	id := "rds:warehouse-aurora-replica-2026-11-20-03-10"
	m := clusterRDS()
	res, err := handler(m, clusterConfig()).Handle(context.Background(), clusterEvent(t, func(e map[string]any) {
		d := e["detail"].(map[string]any)
		d["SourceIdentifier"] = id
		d["SourceArn"] = "arn:aws:rds:eu-west-1:123456789012:cluster-snapshot:" + id
	}))
	if err != nil || res.Action != ActionIgnored || !strings.Contains(res.Reason, "DB cluster") || len(m.started) != 0 {
		t.Fatalf("result %+v, %v; started %d", res, err, len(m.started))
	}
}

func TestRejectsClusterEventsWithoutStarting(t *testing.T) {
	tests := []struct {
		name   string
		cfg    func(c *Config)
		mutate func(e map[string]any)
	}{
		{"no cluster configured", func(c *Config) { c.DBClusterIDs, c.DBInstanceIDs = nil, []string{"warehouse-prod"} }, nil},
		{"creating, not created (0168)", nil, func(e map[string]any) { e["detail"].(map[string]any)["EventID"] = "RDS-EVENT-0168" }},
		{"instance snapshot ARN", nil, func(e map[string]any) {
			e["detail"].(map[string]any)["SourceArn"] = "arn:aws:rds:eu-west-1:123456789012:snapshot:" + clusterSnap
		}},
		{"manual cluster snapshot id", nil, func(e map[string]any) {
			d := e["detail"].(map[string]any)
			d["SourceIdentifier"] = "warehouse-aurora-before-upgrade"
			d["SourceArn"] = "arn:aws:rds:eu-west-1:123456789012:cluster-snapshot:warehouse-aurora-before-upgrade"
		}},
		{"instance event for a configured cluster only", nil, func(e map[string]any) {
			e["detail-type"] = events.DetailTypeRDSSnapshot
			d := e["detail"].(map[string]any)
			d["EventID"], d["SourceType"] = events.EventAutomatedSnapshotCreated, "SNAPSHOT"
			d["SourceArn"] = "arn:aws:rds:eu-west-1:123456789012:snapshot:" + clusterSnap
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			m := clusterRDS()
			cfg := clusterConfig()
			if tt.cfg != nil {
				tt.cfg(&cfg)
			}
			_, err := handler(m, cfg).Handle(context.Background(), clusterEvent(t, tt.mutate))
			var invalid *events.InvalidEventError
			if !errors.As(err, &invalid) || len(m.started) != 0 {
				t.Fatalf("err %v (%T), started %d: want *events.InvalidEventError and no export", err, err, len(m.started))
			}
		})
	}
}

func TestClusterSnapshotNotFound(t *testing.T) {
	m := clusterRDS()
	m.clusterSnapshots = nil
	_, err := handler(m, clusterConfig()).Handle(context.Background(), clusterEvent(t, nil))
	var nf *SnapshotNotFoundError
	if !errors.As(err, &nf) || nf.SnapshotID != clusterSnap || len(m.started) != 0 {
		t.Fatalf("err %v, started %d: want *SnapshotNotFoundError naming %s", err, len(m.started), clusterSnap)
	}
}

// RDS's quota of concurrent exports comes back as *ExportQuotaError, the type the
// state machine retries by name; nothing else does.
func TestExportQuotaIsATypedError(t *testing.T) {
	quota := &smithy.GenericAPIError{Code: "ExportTaskLimitReachedFault", Message: "You have reached the limit of 5 concurrent export tasks", Fault: smithy.FaultClient}
	for _, tc := range []struct {
		name  string
		cfg   Config
		event json.RawMessage
	}{
		{"instance", testConfig(), snapshotEvent(events.EventAutomatedSnapshotCreated, "rds:warehouse-prod-2026-11-20-03-10")},
		{"cluster", clusterConfig(), clusterEvent(t, nil)},
	} {
		t.Run(tc.name, func(t *testing.T) {
			m := clusterRDS()
			m.startErr = fmt.Errorf("operation error RDS: StartExportTask: %w", quota)
			_, err := handler(m, tc.cfg).Handle(context.Background(), tc.event)
			var qe *ExportQuotaError
			if !errors.As(err, &qe) || qe.ExportID == "" || qe.SnapshotArn == "" || !errors.Is(err, quota) {
				t.Fatalf("err %v (%T): want *ExportQuotaError wrapping RDS's answer", err, err)
			}
			// Lambda names the error by the outermost type: it must be the typed error itself.
			if _, ok := err.(*ExportQuotaError); !ok {
				t.Fatalf("Handle returned %T, not *ExportQuotaError itself (Lambda's errorType would not match the Retry)", err)
			}
			if !strings.Contains(err.Error(), "quota") {
				t.Errorf("message %q", err)
			}
			// The warning carries the error code at the top level of its JSON line:
			// the stack's metric filter matches { $.errorCode = "ExportTaskLimitReachedFault" }.
			var logs bytes.Buffer
			m.startErr = fmt.Errorf("operation error RDS: StartExportTask: %w", quota)
			h := Handler{RDS: m, Config: tc.cfg, Log: slog.New(slog.NewJSONHandler(&logs, nil))}
			_, _ = h.Handle(context.Background(), tc.event)
			var line map[string]any
			if err := json.Unmarshal(logs.Bytes(), &line); err != nil || line[deploy.LogKeyErrorCode] != deploy.ExportQuotaErrorCode || line["level"] != "WARN" {
				t.Errorf("log %s: want one WARN line with %s=%s", logs.String(), deploy.LogKeyErrorCode, deploy.ExportQuotaErrorCode)
			}
		})
	}
	// Another client fault is not the quota.
	m := newMemRDS()
	m.startErr = &smithy.GenericAPIError{Code: "InvalidParameterValue", Message: "bad"}
	_, err := handler(m, testConfig()).Handle(context.Background(), snapshotEvent(events.EventAutomatedSnapshotCreated, "rds:warehouse-prod-2026-11-20-03-10"))
	var qe *ExportQuotaError
	if err == nil || errors.As(err, &qe) {
		t.Fatalf("InvalidParameterValue: %v", err)
	}
}

func TestConfigFromEnvClustersOnly(t *testing.T) {
	env := map[string]string{
		"BUCKET": "lake", "EXPORT_ROLE_ARN": "arn:aws:iam::1:role/r", "KMS_KEY_ID": "k",
		"DB_CLUSTER_IDS": "warehouse-aurora,billing-aurora",
	}
	c, err := ConfigFromEnv(func(k string) string { return env[k] })
	if err != nil || strings.Join(c.DBClusterIDs, ",") != "warehouse-aurora,billing-aurora" || len(c.DBInstanceIDs) != 0 {
		t.Fatalf("%+v, %v", c, err)
	}
	delete(env, "DB_CLUSTER_IDS")
	if _, err := ConfigFromEnv(func(k string) string { return env[k] }); err == nil || !strings.Contains(err.Error(), "DB_CLUSTER_IDS") {
		t.Fatalf("neither instances nor clusters: %v", err)
	}
}
