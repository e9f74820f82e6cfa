package rdsexport

import (
	"context"
	"errors"
	"fmt"
	"regexp"
	"strings"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/rds"
	rdstypes "github.com/aws/aws-sdk-go-v2/service/rds/types"
)

// Snapshot types, as DescribeDBSnapshots reports them.
const (
	SnapshotTypeAutomated = "automated"
	SnapshotTypeManual    = "manual"
)

// snapshotIDRE splits a snapshot id of the automated shape, rds:<instance>-YYYY-MM-DD-HH-MM
// (the "rds:" optional: manual ids often copy the shape), into its instance.
var snapshotIDRE = regexp.MustCompile(`^(?:rds:)?(.+)-\d{4}-\d{2}-\d{2}-\d{2}-\d{2}$`)

// DescribeDBSnapshots answers for one snapshot, named by DBSnapshotIdentifier, as RDS
// does: its identifier, ARN, creation time, type, status and instance. Listing
// snapshots (no identifier) is not offered: nothing offline needs it.
//
// The resolver knows no snapshot's instance, so the instance is read from the id;
// a manual id that does not end in a date names no instance, and the answer has none.
func (s *Service) DescribeDBSnapshots(ctx context.Context, in *rds.DescribeDBSnapshotsInput, optFns ...func(*rds.Options)) (*rds.DescribeDBSnapshotsOutput, error) {
	if in == nil || aws.ToString(in.DBSnapshotIdentifier) == "" {
		return nil, invalidParameter("The offline RDS stand-in describes one snapshot at a time: DBSnapshotIdentifier is required.")
	}
	notFound := &rdstypes.DBSnapshotNotFoundFault{Message: aws.String(fmt.Sprintf("DBSnapshot %s not found.", *in.DBSnapshotIdentifier))}
	snap, snapType, err := s.describeOne(ctx, "snapshot", *in.DBSnapshotIdentifier, aws.ToString(in.SnapshotType), notFound)
	if err != nil {
		return nil, err
	}
	id, arn := snap.ID, snap.Arn
	out := rdstypes.DBSnapshot{
		DBSnapshotIdentifier: aws.String(id),
		DBSnapshotArn:        aws.String(arn),
		SnapshotCreateTime:   aws.Time(snap.Created.UTC()),
		SnapshotType:         aws.String(snapType),
		Status:               aws.String("available"),
	}
	if m := snapshotIDRE.FindStringSubmatch(id); m != nil {
		out.DBInstanceIdentifier = aws.String(m[1])
	}
	return &rds.DescribeDBSnapshotsOutput{DBSnapshots: []rdstypes.DBSnapshot{out}}, nil
}

// DescribeDBClusterSnapshots answers for one Aurora DB cluster snapshot, named by
// DBClusterSnapshotIdentifier, as RDS does: its identifier, ARN, creation time, type,
// status and cluster. DescribeDBSnapshots does not know cluster snapshots, nor this
// one instances' snapshots: each resolves only its own ARN type, as in RDS.
func (s *Service) DescribeDBClusterSnapshots(ctx context.Context, in *rds.DescribeDBClusterSnapshotsInput, optFns ...func(*rds.Options)) (*rds.DescribeDBClusterSnapshotsOutput, error) {
	if in == nil || aws.ToString(in.DBClusterSnapshotIdentifier) == "" {
		return nil, invalidParameter("The offline RDS stand-in describes one cluster snapshot at a time: DBClusterSnapshotIdentifier is required.")
	}
	notFound := &rdstypes.DBClusterSnapshotNotFoundFault{Message: aws.String(fmt.Sprintf("DBClusterSnapshot %s not found.", *in.DBClusterSnapshotIdentifier))}
	snap, snapType, err := s.describeOne(ctx, "cluster-snapshot", *in.DBClusterSnapshotIdentifier, aws.ToString(in.SnapshotType), notFound)
	if err != nil {
		return nil, err
	}
	id, arn := snap.ID, snap.Arn
	out := rdstypes.DBClusterSnapshot{
		DBClusterSnapshotIdentifier: aws.String(id),
		DBClusterSnapshotArn:        aws.String(arn),
		SnapshotCreateTime:          aws.Time(snap.Created.UTC()),
		SnapshotType:                aws.String(snapType),
		Status:                      aws.String("available"),
		Engine:                      aws.String("aurora-mysql"),
	}
	if m := snapshotIDRE.FindStringSubmatch(id); m != nil {
		out.DBClusterIdentifier = aws.String(m[1])
	}
	return &rds.DescribeDBClusterSnapshotsOutput{DBClusterSnapshots: []rdstypes.DBClusterSnapshot{out}}, nil
}

// describeOne resolves the one snapshot a Describe call names, as RDS does: its type
// from the id ("rds:" for automated), nothing found when a type filter names the
// other type, and notFound (naming the id asked for, not the ARN) when the resolver
// does not know it. resource is the ARN's resource type: snapshot or cluster-snapshot.
// The snapshot returned carries its id and ARN.
func (s *Service) describeOne(ctx context.Context, resource, id, typeFilter string, notFound error) (Snapshot, string, error) {
	snapType := SnapshotTypeManual
	if strings.HasPrefix(id, "rds:") {
		snapType = SnapshotTypeAutomated
	}
	if typeFilter != "" && typeFilter != snapType {
		return Snapshot{}, "", notFound
	}
	arn := fmt.Sprintf("arn:aws:rds:%s:%s:%s:%s", s.Region, s.Account, resource, id)
	snap, err := s.Snapshots.ResolveSnapshot(ctx, arn)
	var fault *rdstypes.DBSnapshotNotFoundFault
	var clusterFault *rdstypes.DBClusterSnapshotNotFoundFault
	switch {
	case errors.As(err, &fault), errors.As(err, &clusterFault):
		return Snapshot{}, "", notFound
	case err != nil:
		return Snapshot{}, "", fmt.Errorf("resolve %s %s: %w", resource, arn, err)
	}
	if snap.ID == "" {
		snap.ID = id
	}
	if snap.Arn == "" {
		snap.Arn = arn
	}
	return snap, snapType, nil
}
