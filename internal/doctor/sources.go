package doctor

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/eventbridge"
	ebtypes "github.com/aws/aws-sdk-go-v2/service/eventbridge/types"
	"github.com/aws/aws-sdk-go-v2/service/rds"
	rdstypes "github.com/aws/aws-sdk-go-v2/service/rds/types"

	"github.com/snaplake/snaplake/events"
	"github.com/snaplake/snaplake/internal/deploy"
)

// RuleNames are the stack's EventBridge rules, named as infra names them
// (<stack>-<pattern>, on the default bus): the instance rules when it exports DB
// instances, the cluster rules when it exports Aurora clusters.
func RuleNames(stack string, instances, clusters []string) []string {
	var out []string
	for _, p := range (events.Params{DBInstanceIDs: instances, DBClusterIDs: clusters}).Routed() {
		out = append(out, stack+"-"+p)
	}
	return out
}

// checkRules: each rule exists and is enabled.
func (r *run) checkRules(ctx context.Context) {
	for _, name := range RuleNames(r.cfg.Stack, r.stack.values.Instances, r.stack.values.Clusters) {
		out, err := r.c.EventBridge.DescribeRule(ctx, &eventbridge.DescribeRuleInput{Name: aws.String(name)})
		var nf *ebtypes.ResourceNotFoundException
		switch {
		case errors.As(err, &nf):
			r.fail("rule", name, "does not exist on the default event bus",
				"deploy the stack (cdk deploy); if it is deployed, the rule was deleted by hand and the next deploy recreates it")
		case err != nil:
			r.fail("rule", name, "could not describe it: "+err.Error(), "give the caller events:DescribeRule")
		case out.State == ebtypes.RuleStateEnabled || out.State == ebtypes.RuleStateEnabledWithAllCloudtrailManagementEvents:
			r.pass("rule", name, string(out.State))
		default:
			r.fail("rule", name, fmt.Sprintf("is %s: no event reaches the pipeline through it", out.State),
				"aws events enable-rule --name "+name)
		}
	}
}

// checkInstances: each configured instance (and Aurora cluster) exists, keeps
// automated backups, and has a fresh available automated snapshot.
func (r *run) checkInstances(ctx context.Context, st *stack) {
	if len(st.lacks(deploy.OutputDBInstanceIDs)) > 0 && len(st.lacks(deploy.OutputDBClusterIDs)) > 0 {
		r.skip("backups", "DB instances", "the stack has neither a DBInstanceIds nor a DBClusterIds output (see the stack check)")
		return
	}
	for _, id := range st.values.Instances {
		if r.checkBackups(ctx, id) {
			r.checkSnapshot(ctx, id)
		}
	}
	for _, id := range st.values.Clusters {
		if r.checkClusterBackups(ctx, id) {
			r.checkClusterSnapshot(ctx, id)
		}
	}
}

// checkClusterBackups reports the Aurora cluster's automated backups (a cluster
// always keeps them, 1 to 35 days); false when the cluster could not be found.
func (r *run) checkClusterBackups(ctx context.Context, id string) bool {
	out, err := r.c.RDS.DescribeDBClusters(ctx, &rds.DescribeDBClustersInput{DBClusterIdentifier: aws.String(id)})
	var nf *rdstypes.DBClusterNotFoundFault
	switch {
	case errors.As(err, &nf) || (err == nil && len(out.DBClusters) == 0):
		r.fail("backups", id, "no such DB cluster in "+r.region(),
			"correct snaplake:dbClusterIds in the CDK context and deploy again, or run doctor in the clusters' region")
		return false
	case err != nil:
		r.fail("backups", id, "could not describe the cluster: "+err.Error(), "give the caller rds:DescribeDBClusters")
		return false
	}
	c := out.DBClusters[0]
	r.pass("backups", id, fmt.Sprintf("%s %s, automated backups kept %d days", aws.ToString(c.Engine), aws.ToString(c.Status), aws.ToInt32(c.BackupRetentionPeriod)))
	return true
}

// checkClusterSnapshot: the cluster's newest available automated cluster snapshot is young enough.
func (r *run) checkClusterSnapshot(ctx context.Context, id string) {
	in := &rds.DescribeDBClusterSnapshotsInput{DBClusterIdentifier: aws.String(id), SnapshotType: aws.String("automated"), MaxRecords: aws.Int32(100)}
	var snaps []rdstypes.DBClusterSnapshot
	for {
		out, err := r.c.RDS.DescribeDBClusterSnapshots(ctx, in)
		if err != nil {
			r.fail("snapshot", id, "could not list automated cluster snapshots: "+err.Error(), "give the caller rds:DescribeDBClusterSnapshots")
			return
		}
		snaps = append(snaps, out.DBClusterSnapshots...)
		if aws.ToString(out.Marker) == "" {
			break
		}
		in.Marker = out.Marker
	}
	snaps = slices.DeleteFunc(snaps, func(s rdstypes.DBClusterSnapshot) bool {
		return aws.ToString(s.Status) != "available" || s.SnapshotCreateTime == nil
	})
	slices.SortFunc(snaps, func(a, b rdstypes.DBClusterSnapshot) int { return b.SnapshotCreateTime.Compare(*a.SnapshotCreateTime) })
	if len(snaps) == 0 {
		r.fail("snapshot", id, "no available automated cluster snapshot",
			"wait for the cluster's backup window (PreferredBackupWindow), and check the cluster's events")
		return
	}
	newest := snaps[0]
	age := r.cfg.Now().Sub(*newest.SnapshotCreateTime)
	detail := fmt.Sprintf("newest available automated cluster snapshot %s, %s old", aws.ToString(newest.DBClusterSnapshotIdentifier), roundAge(age))
	if age > r.cfg.MaxSnapshotAge {
		r.fail("snapshot", id, detail+fmt.Sprintf(" (more than %s)", roundAge(r.cfg.MaxSnapshotAge)),
			"check the cluster's backup window and its RDS events (aws rds describe-events --source-identifier "+id+" --source-type db-cluster --duration 2880): automated backups have stopped")
		return
	}
	r.pass("snapshot", id, detail)
}

// checkBackups reports the instance's automated backups; false when the instance
// could not be found (then there is no snapshot to look for).
func (r *run) checkBackups(ctx context.Context, id string) bool {
	out, err := r.c.RDS.DescribeDBInstances(ctx, &rds.DescribeDBInstancesInput{DBInstanceIdentifier: aws.String(id)})
	var nf *rdstypes.DBInstanceNotFoundFault
	switch {
	case errors.As(err, &nf) || (err == nil && len(out.DBInstances) == 0):
		r.fail("backups", id, "no such DB instance in "+r.region(),
			"correct snaplake:dbInstanceIds in the CDK context and deploy again, or run doctor in the instances' region")
		return false
	case err != nil:
		r.fail("backups", id, "could not describe the instance: "+err.Error(), "give the caller rds:DescribeDBInstances")
		return false
	}
	db := out.DBInstances[0]
	days := aws.ToInt32(db.BackupRetentionPeriod)
	if days <= 0 {
		r.fail("backups", id, "automated backups are off (BackupRetentionPeriod 0): no snapshot, no export",
			"aws rds modify-db-instance --db-instance-identifier "+id+" --backup-retention-period 7 --apply-immediately")
		return true
	}
	r.pass("backups", id, fmt.Sprintf("%s, automated backups kept %d days", aws.ToString(db.DBInstanceStatus), days))
	return true
}

// checkSnapshot: the newest available automated snapshot is young enough.
func (r *run) checkSnapshot(ctx context.Context, id string) {
	var newest *rdstypes.DBSnapshot
	in := &rds.DescribeDBSnapshotsInput{DBInstanceIdentifier: aws.String(id), SnapshotType: aws.String("automated"), MaxRecords: aws.Int32(100)}
	var snaps []rdstypes.DBSnapshot
	for {
		out, err := r.c.RDS.DescribeDBSnapshots(ctx, in)
		if err != nil {
			r.fail("snapshot", id, "could not list automated snapshots: "+err.Error(), "give the caller rds:DescribeDBSnapshots")
			return
		}
		snaps = append(snaps, out.DBSnapshots...)
		if aws.ToString(out.Marker) == "" {
			break
		}
		in.Marker = out.Marker
	}
	// RDS does not document the order of DescribeDBSnapshots: sort by creation time.
	snaps = slices.DeleteFunc(snaps, func(s rdstypes.DBSnapshot) bool {
		return aws.ToString(s.Status) != "available" || s.SnapshotCreateTime == nil
	})
	slices.SortFunc(snaps, func(a, b rdstypes.DBSnapshot) int { return b.SnapshotCreateTime.Compare(*a.SnapshotCreateTime) })
	if len(snaps) > 0 {
		newest = &snaps[0]
	}
	if newest == nil {
		r.fail("snapshot", id, "no available automated snapshot",
			"wait for the instance's backup window (PreferredBackupWindow) after turning automated backups on, and check the instance's events")
		return
	}
	age := r.cfg.Now().Sub(*newest.SnapshotCreateTime)
	detail := fmt.Sprintf("newest available automated snapshot %s, %s old", aws.ToString(newest.DBSnapshotIdentifier), roundAge(age))
	if age > r.cfg.MaxSnapshotAge {
		r.fail("snapshot", id, detail+fmt.Sprintf(" (more than %s)", roundAge(r.cfg.MaxSnapshotAge)),
			"check the instance's backup window and its RDS events (aws rds describe-events --source-identifier "+id+" --source-type db-instance --duration 2880): automated backups have stopped")
		return
	}
	r.pass("snapshot", id, detail)
}

// roundAge prints an age to the minute: "5h12m", "26h", "40m".
func roundAge(d time.Duration) string {
	d = max(d, 0).Round(time.Minute)
	h, m := int(d/time.Hour), int(d%time.Hour/time.Minute)
	switch {
	case h == 0:
		return fmt.Sprintf("%dm", m)
	case m == 0:
		return fmt.Sprintf("%dh", h)
	}
	return fmt.Sprintf("%dh%02dm", h, m)
}

// region is the stack's region, for messages.
func (r *run) region() string {
	if r.stack != nil && r.stack.values.Region != "" {
		return r.stack.values.Region
	}
	return "this region"
}
