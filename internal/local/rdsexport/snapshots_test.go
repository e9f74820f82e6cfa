package rdsexport_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/rds"
	rdstypes "github.com/aws/aws-sdk-go-v2/service/rds/types"

	"github.com/snaplake/snaplake/internal/local/rdsexport"
)

// describeSnapshotsAPI is the SDK's signature: the stand-in answers where *rds.Client would.
type describeSnapshotsAPI interface {
	DescribeDBSnapshots(ctx context.Context, in *rds.DescribeDBSnapshotsInput, optFns ...func(*rds.Options)) (*rds.DescribeDBSnapshotsOutput, error)
}

var (
	_ describeSnapshotsAPI = (*rdsexport.Service)(nil)
	_ describeSnapshotsAPI = (*rds.Client)(nil)
)

// askedResolver is a map of snapshots by ARN that records the ARNs it was asked for.
type askedResolver struct {
	snaps map[string]rdsexport.Snapshot
	err   error // answered for every ARN when set
	asked []string
}

func (r *askedResolver) ResolveSnapshot(_ context.Context, arn string) (rdsexport.Snapshot, error) {
	r.asked = append(r.asked, arn)
	if r.err != nil {
		return rdsexport.Snapshot{}, r.err
	}
	s, ok := r.snaps[arn]
	if !ok {
		return rdsexport.Snapshot{}, &rdstypes.DBSnapshotNotFoundFault{Message: aws.String("DBSnapshot " + arn + " not found.")}
	}
	return s, nil
}

func TestDescribeDBSnapshots(t *testing.T) {
	const (
		autoID   = "rds:shop-db-2026-11-20-03-05"
		autoArn  = "arn:aws:rds:eu-west-1:123456789012:snapshot:" + autoID
		manualID = "shop-db-before-migration"
		manArn   = "arn:aws:rds:eu-west-1:123456789012:snapshot:" + manualID
	)
	created := time.Date(2026, 11, 20, 3, 5, 41, 0, time.FixedZone("CET", 3600))
	res := &askedResolver{snaps: map[string]rdsexport.Snapshot{
		autoArn: {ID: autoID, Arn: autoArn, Created: created},
		manArn:  {ID: manualID, Arn: manArn, Created: created},
	}}
	svc := &rdsexport.Service{Snapshots: res, Account: "123456789012", Region: "eu-west-1"}

	tests := []struct {
		name, id, snapType              string
		wantArn, wantType, wantInstance string // wantInstance "": none
		wantNotFound                    bool
	}{
		{name: "automated", id: autoID, wantArn: autoArn, wantType: "automated", wantInstance: "shop-db"},
		{name: "automated, typed as RDS requires", id: autoID, snapType: "automated", wantArn: autoArn, wantType: "automated", wantInstance: "shop-db"},
		{name: "manual id without a date names no instance", id: manualID, snapType: "manual", wantArn: manArn, wantType: "manual"},
		{name: "unknown", id: "rds:shop-db-2026-11-19-03-05", wantNotFound: true},
		{name: "known, but not of the type asked for", id: autoID, snapType: "manual", wantNotFound: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			in := &rds.DescribeDBSnapshotsInput{DBSnapshotIdentifier: aws.String(tt.id)}
			if tt.snapType != "" {
				in.SnapshotType = aws.String(tt.snapType)
			}
			out, err := svc.DescribeDBSnapshots(context.Background(), in)
			if tt.wantNotFound {
				var nf *rdstypes.DBSnapshotNotFoundFault
				if !errors.As(err, &nf) || aws.ToString(nf.Message) != "DBSnapshot "+tt.id+" not found." {
					t.Fatalf("err = %v (%T), want DBSnapshotNotFoundFault %q", err, err, "DBSnapshot "+tt.id+" not found.")
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if len(out.DBSnapshots) != 1 {
				t.Fatalf("snapshots = %+v, want one", out.DBSnapshots)
			}
			s := out.DBSnapshots[0]
			if aws.ToString(s.DBSnapshotIdentifier) != tt.id || aws.ToString(s.DBSnapshotArn) != tt.wantArn ||
				aws.ToString(s.SnapshotType) != tt.wantType || aws.ToString(s.Status) != "available" {
				t.Errorf("snapshot = id %s arn %s type %s status %s", aws.ToString(s.DBSnapshotIdentifier), aws.ToString(s.DBSnapshotArn),
					aws.ToString(s.SnapshotType), aws.ToString(s.Status))
			}
			if got := aws.ToString(s.DBInstanceIdentifier); got != tt.wantInstance || (tt.wantInstance == "" && s.DBInstanceIdentifier != nil) {
				t.Errorf("DBInstanceIdentifier = %v, want %q", s.DBInstanceIdentifier, tt.wantInstance)
			}
			if s.SnapshotCreateTime == nil || !s.SnapshotCreateTime.Equal(created) || s.SnapshotCreateTime.Location() != time.UTC {
				t.Errorf("SnapshotCreateTime = %v, want %v in UTC", s.SnapshotCreateTime, created.UTC())
			}
		})
	}
	if res.asked[0] != autoArn {
		t.Errorf("resolver asked for %q, want the snapshot's ARN %q", res.asked[0], autoArn)
	}
}

func TestDescribeDBSnapshotsNeedsAnIdentifier(t *testing.T) {
	svc := &rdsexport.Service{Snapshots: &askedResolver{}, Account: "123456789012", Region: "eu-west-1"}
	for _, in := range []*rds.DescribeDBSnapshotsInput{nil, {}, {DBSnapshotIdentifier: aws.String("")}} {
		if _, err := svc.DescribeDBSnapshots(context.Background(), in); err == nil {
			t.Errorf("DescribeDBSnapshots(%+v) succeeded", in)
		}
	}
}

func TestDescribeDBSnapshotsPassesOtherResolverErrors(t *testing.T) {
	broken := errors.New("mariadb: connection refused")
	svc := &rdsexport.Service{Snapshots: &askedResolver{err: broken}, Account: "123456789012", Region: "eu-west-1"}
	_, err := svc.DescribeDBSnapshots(context.Background(), &rds.DescribeDBSnapshotsInput{DBSnapshotIdentifier: aws.String("rds:shop-db-2026-11-20-03-05")})
	var nf *rdstypes.DBSnapshotNotFoundFault
	if !errors.Is(err, broken) || errors.As(err, &nf) {
		t.Errorf("err = %v, want the resolver's error, not a not-found fault", err)
	}
}
