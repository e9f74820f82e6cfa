package offline

import (
	"encoding/json"
	"slices"
	"strings"
	"testing"

	"github.com/snaplake/snaplake/events"
	"github.com/snaplake/snaplake/internal/local/stepfunctions"
)

// clusterSnapshotEvent is the sample RDS-EVENT-0169 of the Aurora cluster
// warehouse-aurora (one of the contract's clusters), in the deployment's account.
func clusterSnapshotEvent(t *testing.T, eventID string) []byte {
	t.Helper()
	raw, err := events.Sample("cluster-snapshot-created-automated")
	if err != nil {
		t.Fatal(err)
	}
	var m map[string]any
	if err := json.Unmarshal([]byte(inDeployment(string(raw))), &m); err != nil {
		t.Fatal(err)
	}
	m["id"] = eventID
	b, _ := json.Marshal(m)
	return b
}

// An Aurora cluster's automated cluster snapshot starts the same night through its
// own rule: the real start function exports it by its cluster-snapshot ARN (as its
// own role, whose StartExportTask is scoped to the configured sources' snapshots),
// RDS's cluster export event resumes the wait through the cluster export rule, and
// the tables land under data/ like an instance's.
func TestAuroraClusterSnapshotNight(t *testing.T) {
	f := newFixture(t)
	const snap = "rds:warehouse-aurora-2026-11-20-03-10"
	f.rds.outcome[snap] = outcomeComplete
	publish(t, f, clusterSnapshotEvent(t, "ev-aurora"), events.ClusterSnapshotCreated)
	res := f.results(t)
	if len(res) != 1 || res[0].Status != stepfunctions.StatusSucceeded {
		t.Fatalf("results = %+v", res)
	}
	if len(f.rds.started) != 1 || f.rds.started[0] != "warehouse-aurora-2026-11-20-03-10" {
		t.Fatalf("exports started %v", f.rds.started)
	}
	task := f.rds.tasks["warehouse-aurora-2026-11-20-03-10"]
	if arn := *task.SourceArn; arn != "arn:aws:rds:us-east-1:000000000000:cluster-snapshot:"+snap {
		t.Fatalf("exported %s, want the cluster snapshot ARN", arn)
	}
	if got := f.keys(t, "data/"); len(got) != 3 || !strings.HasPrefix(got[0], "data/warehouse/customer/snapshot_date=2026-11-20/") {
		t.Errorf("data/ = %v", got)
	}
	if !slices.Equal(f.glue.runs, []string{"snaplake-warehouse"}) {
		t.Errorf("crawler runs = %v", f.glue.runs)
	}
	if n := f.p.Notifications(); len(n) != 0 {
		t.Errorf("notifications: %+v", n)
	}
	for _, d := range f.acct.IAM.Denied() {
		t.Errorf("call denied: %+v", d)
	}
}

// A snapshot that meets RDS's quota of concurrent exports waits: the real start
// function returns ExportQuotaError, the definition retries it, and the export
// starts once a slot is free.
func TestExportQuotaWaitThenStarts(t *testing.T) {
	f := newFixture(t)
	f.rds.outcome["rds:warehouse-prod-2026-11-20-03-10"] = outcomeComplete
	f.rds.quotaRefusals = 2
	publish(t, f, snapshotEvent(t, "ev-1", "warehouse-prod"), events.SnapshotCreated)
	res := f.results(t)
	if len(res) != 1 || res[0].Status != stepfunctions.StatusSucceeded {
		t.Fatalf("results = %+v", res)
	}
	if f.rds.refused != 2 || len(f.rds.started) != 1 {
		t.Fatalf("refused %d, started %v", f.rds.refused, f.rds.started)
	}
	if n := f.p.Notifications(); len(n) != 0 {
		t.Errorf("notifications: %+v", n)
	}
	if len(f.keys(t, "data/")) != 3 {
		t.Errorf("data/ = %v", f.keys(t, "data/"))
	}
}

// If the quota never frees, the retries end and the failure is notified as a
// snapshot that waited too long for an export slot; no export was started.
func TestExportQuotaNeverFreesIsNotified(t *testing.T) {
	f := newFixture(t)
	f.rds.quotaRefusals = -1
	publish(t, f, clusterSnapshotEvent(t, "ev-aurora"), events.ClusterSnapshotCreated)
	res := f.results(t)
	if len(res) != 1 || res[0].Status != stepfunctions.StatusFailed || res[0].Error != "ExportQuotaError" {
		t.Fatalf("results = %+v", res)
	}
	if f.rds.refused != 16 || len(f.rds.started) != 0 {
		t.Fatalf("refused %d (want 1 + 15 retries), started %v", f.rds.refused, f.rds.started)
	}
	n := f.p.Notifications()
	if len(n) != 1 || !strings.Contains(n[0].Message, "rds:warehouse-aurora-2026-11-20-03-10 waited too long for an export slot") ||
		!strings.Contains(n[0].Message, "ExportTaskLimitReachedFault") {
		t.Fatalf("notifications = %+v", n)
	}
	if !slices.Contains(res[0].States, "ExportSlotTimedOut") {
		t.Errorf("states %v", res[0].States)
	}
}
