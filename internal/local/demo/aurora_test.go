package demo

import (
	"bytes"
	"context"
	"fmt"
	"path/filepath"
	"strings"
	"testing"

	"github.com/snaplake/snaplake/internal/local/glue"
	"github.com/snaplake/snaplake/internal/local/lake"
	"github.com/snaplake/snaplake/internal/local/stepfunctions"
)

// TestAuroraNight plays an Aurora night end to end: RDS-EVENT-0169 for the demo
// cluster's automated cluster snapshot goes through the real cluster pattern on the
// bus into the real state machine; the real start function exports the snapshot by
// its cluster-snapshot ARN through the RDS export stand-in (which writes the export
// from a real MariaDB as RDS does, and reports its end with RDS-EVENT-0164), and an
// analyst's query of the lake counts exactly the snapshot's rows.
func TestAuroraNight(t *testing.T) {
	ctx := context.Background()
	home := t.TempDir()
	var out bytes.Buffer
	rep, err := Run(ctx, Options{Home: home, Rows: 20_000, Out: &out, Aurora: true})
	if testing.Verbose() {
		t.Logf("demo output:\n%s", out.String())
	}
	if err != nil {
		t.Fatalf("Aurora night: %v\n%s", err, out.String())
	}
	if len(rep.Executions) != 1 || rep.Executions[0].Status != stepfunctions.StatusSucceeded {
		t.Fatalf("executions = %+v", rep.Executions)
	}
	if !strings.HasPrefix(rep.SnapshotID, "rds:"+ClusterID+"-") || !strings.Contains(rep.SnapshotARN, ":cluster-snapshot:rds:"+ClusterID+"-") {
		t.Fatalf("snapshot %s (%s), want the cluster %s's automated cluster snapshot", rep.SnapshotID, rep.SnapshotARN, ClusterID)
	}
	if rep.ExportsRun != 1 {
		t.Errorf("%d exports started, want 1", rep.ExportsRun)
	}
	if !strings.Contains(out.String(), `RDS-EVENT-0169 "Automated cluster snapshot created" for `+rep.SnapshotID+" matched rule [cluster-snapshot-created]") || !strings.Contains(out.String(), "RDS-EVENT-0164 → resume") {
		t.Errorf("output does not show the cluster event matching the cluster rule:\n%s", out.String())
	}
	// The export ran as RDS exports a cluster snapshot: its SourceArn is the cluster
	// snapshot's ARN, and the metadata says so.
	exportID := strings.TrimPrefix(rep.SnapshotID, "rds:")
	if !strings.Contains(string(rep.Executions[0].Output), `"snapshotArn":"`+rep.SnapshotARN+`"`) || !strings.Contains(string(rep.Executions[0].Output), exportID) {
		t.Errorf("execution output %s", rep.Executions[0].Output)
	}
	if n := len(rep.Notifications); n != 0 {
		t.Errorf("notifications: %+v", rep.Notifications)
	}

	cat, err := glue.OpenCatalog(filepath.Join(home, "catalog.json"))
	if err != nil {
		t.Fatal(err)
	}
	lk := &lake.Lake{Catalog: cat, Root: filepath.Join(home, "s3")}
	if len(rep.SourceCounts) == 0 {
		t.Fatal("no source tables")
	}
	for table, n := range rep.SourceCounts {
		res, err := lk.Query(ctx, fmt.Sprintf("SELECT count(*) FROM warehouse.%s WHERE snapshot_date = '%s'", table, rep.SnapshotDate))
		if err != nil {
			t.Fatalf("query %s: %v", table, err)
		}
		if len(res.Rows) != 1 || fmt.Sprint(res.Rows[0][0]) != fmt.Sprint(n) {
			t.Errorf("%s: lake has %v rows for %s, the cluster snapshot %d", table, res.Rows, rep.SnapshotDate, n)
		}
	}
	checkPermissions(t, rep.Allowed)
}
