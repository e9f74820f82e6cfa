package rdsexport_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/rds"
	rdstypes "github.com/aws/aws-sdk-go-v2/service/rds/types"
	"github.com/aws/smithy-go"

	"github.com/snaplake/snaplake/internal/local/rdsexport"
)

// addSnapshot registers another snapshot of the same data under arn.
func (f *fixture) addSnapshot(arn, id string) {
	f.svc.Snapshots.(rdsexport.StaticSnapshots)[arn] = rdsexport.Snapshot{
		ID: id, Arn: arn, Created: time.Date(2026, 11, 20, 3, 5, 0, 0, time.UTC),
		Databases: map[string]string{"shop": "snap_shop", "audit": "snap_audit"},
	}
}

// RDS runs at most five snapshot exports at once per account; the sixth start is
// refused with ExportTaskLimitReachedFault until one of them ends.
func TestConcurrentExportQuota(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	// Hold every export in progress until release is closed.
	release := make(chan struct{})
	var once sync.Once
	free := func() { once.Do(func() { close(release) }) }
	t.Cleanup(free)
	f.svc.FailNext = func(string) string { <-release; return "" }

	for i := 1; i <= rdsexport.MaxConcurrentExports+1; i++ {
		id := fmt.Sprintf("rds:shop-db-2026-11-2%d-03-05", i)
		f.addSnapshot("arn:aws:rds:eu-west-1:123456789012:snapshot:"+id, id)
	}
	start := func(i int) error {
		in := startInput(fmt.Sprintf("quota-%d", i), "audit")
		in.SourceArn = aws.String(fmt.Sprintf("arn:aws:rds:eu-west-1:123456789012:snapshot:rds:shop-db-2026-11-2%d-03-05", i))
		_, err := f.svc.StartExportTask(ctx, in)
		return err
	}
	for i := 1; i <= rdsexport.MaxConcurrentExports; i++ {
		if err := start(i); err != nil {
			t.Fatalf("export %d of %d: %v", i, rdsexport.MaxConcurrentExports, err)
		}
	}
	err := start(rdsexport.MaxConcurrentExports + 1)
	var api smithy.APIError
	if !errors.As(err, &api) || api.ErrorCode() != "ExportTaskLimitReachedFault" ||
		api.ErrorMessage() != "You have reached the limit of 5 concurrent export tasks" || api.ErrorFault() != smithy.FaultClient {
		t.Fatalf("sixth concurrent export: %v, want ExportTaskLimitReachedFault", err)
	}
	// The refused start left no task behind: its identifier is still free.
	if _, err := f.svc.DescribeExportTasks(ctx, &rds.DescribeExportTasksInput{ExportTaskIdentifier: aws.String("quota-6")}); err == nil {
		t.Fatal("the refused export left a task")
	}
	// A finished export frees its slot.
	free()
	for i := 1; i <= rdsexport.MaxConcurrentExports; i++ {
		f.waitDone(t, fmt.Sprintf("quota-%d", i))
	}
	if err := start(rdsexport.MaxConcurrentExports + 1); err != nil {
		t.Fatalf("start once the others ended: %v", err)
	}
	f.waitDone(t, "quota-6")
}

const (
	clusterSnapID  = "rds:shop-aurora-2026-11-20-03-05"
	clusterSnapArn = "arn:aws:rds:eu-west-1:123456789012:cluster-snapshot:" + clusterSnapID
)

// An Aurora cluster snapshot exports by its cluster-snapshot ARN into the same layout,
// and its end is an "RDS DB Cluster Snapshot Event" with the cluster event ids.
func TestClusterSnapshotExport(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	f.addSnapshot(clusterSnapArn, clusterSnapID)

	in := startInput("shop-aurora-2026-11-20-03-05", "audit")
	in.SourceArn = aws.String(clusterSnapArn)
	out, err := f.svc.StartExportTask(ctx, in)
	if err != nil {
		t.Fatalf("start cluster snapshot export: %v", err)
	}
	if out.SourceType != rdstypes.ExportSourceTypeSnapshot {
		t.Errorf("source type %q: a cluster snapshot's export is a SNAPSHOT export (CLUSTER is a live cluster's)", out.SourceType)
	}
	task := f.waitDone(t, "shop-aurora-2026-11-20-03-05")
	if aws.ToString(task.Status) != rdsexport.StatusComplete || aws.ToString(task.SourceArn) != clusterSnapArn {
		t.Fatalf("task %s of %s", aws.ToString(task.Status), aws.ToString(task.SourceArn))
	}
	keys := f.keys(t, "exports/shop-aurora-2026-11-20-03-05/")
	want := []string{
		"exports/shop-aurora-2026-11-20-03-05/audit/audit.log/_SUCCESS",
		"exports/shop-aurora-2026-11-20-03-05/export_info_shop-aurora-2026-11-20-03-05.json",
		"exports/shop-aurora-2026-11-20-03-05/export_tables_info_shop-aurora-2026-11-20-03-05_from_1_to_1.json",
	}
	var parts int
	var rest []string
	for _, k := range keys {
		if partRE.MatchString(k) {
			parts++
			continue
		}
		rest = append(rest, k)
	}
	if parts != 1 || strings.Join(rest, "\n") != strings.Join(want, "\n") {
		t.Fatalf("layout %q", keys)
	}

	f.mu.Lock()
	events := f.events
	f.mu.Unlock()
	if len(events) != 1 {
		t.Fatalf("%d events, want 1", len(events))
	}
	var ev struct {
		DetailType string   `json:"detail-type"`
		Resources  []string `json:"resources"`
		Detail     struct{ SourceType, SourceArn, SourceIdentifier, Message, EventID string }
	}
	if err := json.Unmarshal(events[0], &ev); err != nil {
		t.Fatal(err)
	}
	if ev.DetailType != "RDS DB Cluster Snapshot Event" || ev.Detail.EventID != "RDS-EVENT-0164" || ev.Detail.SourceType != "CLUSTER_SNAPSHOT" ||
		ev.Detail.SourceArn != clusterSnapArn || ev.Detail.SourceIdentifier != clusterSnapID || ev.Detail.Message != "The cluster snapshot export task completed." ||
		len(ev.Resources) != 1 || ev.Resources[0] != clusterSnapArn {
		t.Fatalf("event %s", events[0])
	}

	// DescribeDBClusterSnapshots knows it, DescribeDBSnapshots does not (as in RDS).
	cs, err := f.svc.DescribeDBClusterSnapshots(ctx, &rds.DescribeDBClusterSnapshotsInput{DBClusterSnapshotIdentifier: aws.String(clusterSnapID), SnapshotType: aws.String("automated")})
	if err != nil || len(cs.DBClusterSnapshots) != 1 || aws.ToString(cs.DBClusterSnapshots[0].DBClusterIdentifier) != "shop-aurora" ||
		!cs.DBClusterSnapshots[0].SnapshotCreateTime.Equal(time.Date(2026, 11, 20, 3, 5, 0, 0, time.UTC)) {
		t.Fatalf("describe cluster snapshot: %+v, %v", cs, err)
	}
	_, err = f.svc.DescribeDBSnapshots(ctx, &rds.DescribeDBSnapshotsInput{DBSnapshotIdentifier: aws.String(clusterSnapID)})
	var snf *rdstypes.DBSnapshotNotFoundFault
	if !errors.As(err, &snf) {
		t.Fatalf("DescribeDBSnapshots of a cluster snapshot: %v, want DBSnapshotNotFoundFault", err)
	}
	_, err = f.svc.DescribeDBClusterSnapshots(ctx, &rds.DescribeDBClusterSnapshotsInput{DBClusterSnapshotIdentifier: aws.String(snapID)})
	var cnf *rdstypes.DBClusterSnapshotNotFoundFault
	if !errors.As(err, &cnf) {
		t.Fatalf("DescribeDBClusterSnapshots of a DB snapshot: %v, want DBClusterSnapshotNotFoundFault", err)
	}
}

func TestClusterSourceArnValidation(t *testing.T) {
	f := newFixture(t)
	apiCode := func(code string) func(error) bool {
		return func(err error) bool {
			var ae smithy.APIError
			return errors.As(err, &ae) && ae.ErrorCode() == code
		}
	}
	tests := []struct {
		name, arn string
		want      func(error) bool
	}{
		{"not an ARN", clusterSnapID, apiCode("InvalidParameterValue")},
		{"no resource type", "arn:aws:rds:eu-west-1:123456789012:" + clusterSnapID, apiCode("InvalidParameterValue")},
		{"another service", "arn:aws:s3:::snaplake-exports", apiCode("InvalidParameterValue")},
		{"a live cluster", "arn:aws:rds:eu-west-1:123456789012:cluster:shop-aurora", apiCode("InvalidParameterValue")},
		{"unknown cluster snapshot", clusterSnapArn + "x", func(err error) bool {
			var e *rdstypes.DBClusterSnapshotNotFoundFault
			return errors.As(err, &e)
		}},
		// The cluster snapshot's id under an instance snapshot's ARN names nothing.
		{"cluster snapshot as a DB snapshot", "arn:aws:rds:eu-west-1:123456789012:snapshot:" + clusterSnapID, func(err error) bool {
			var e *rdstypes.DBSnapshotNotFoundFault
			return errors.As(err, &e)
		}},
	}
	f.addSnapshot(clusterSnapArn, clusterSnapID)
	for i, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			in := startInput(fmt.Sprintf("cluster-%d", i))
			in.SourceArn = aws.String(tt.arn)
			out, err := f.svc.StartExportTask(context.Background(), in)
			if err == nil || out != nil || !tt.want(err) {
				t.Fatalf("got %v, %v", out, err)
			}
		})
	}
}
