// Package rdsexport is the offline stand-in of RDS StartExportTask and
// DescribeExportTasks: it exports MariaDB snapshot copies to S3 as RDS does, for DB
// snapshots and Aurora cluster snapshots alike, within RDS's quota of concurrent
// exports.
package rdsexport

import (
	"context"
	"database/sql"
	"fmt"
	"log/slog"
	"regexp"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/rds"
	rdstypes "github.com/aws/aws-sdk-go-v2/service/rds/types"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/smithy-go"
)

// Task statuses, as DescribeExportTasks reports them.
const (
	StatusStarting   = "STARTING"
	StatusInProgress = "IN_PROGRESS"
	StatusComplete   = "COMPLETE"
	StatusFailed     = "FAILED"
)

// Snapshot is a DB snapshot, or an Aurora DB cluster snapshot (its Arn a
// cluster-snapshot ARN), whose data lives in MariaDB schemas.
type Snapshot struct {
	ID, Arn string
	Created time.Time
	// Databases maps each source database name to the MariaDB schema that
	// holds the snapshot's copy of it.
	Databases map[string]string
}

// SnapshotResolver finds the snapshot a SourceArn names. It returns
// *rdstypes.DBSnapshotNotFoundFault (*rdstypes.DBClusterSnapshotNotFoundFault for a
// cluster-snapshot ARN) for an unknown snapshot.
type SnapshotResolver interface {
	ResolveSnapshot(ctx context.Context, arn string) (Snapshot, error)
}

// S3API is the one S3 call an export makes.
type S3API interface {
	PutObject(ctx context.Context, in *s3.PutObjectInput, optFns ...func(*s3.Options)) (*s3.PutObjectOutput, error)
}

// Publisher receives each event as complete EventBridge event JSON.
type Publisher func(ctx context.Context, event []byte) error

// Progress is told after each table of an export.
type Progress func(exportID string, tablesDone, tablesTotal int, rowsDone int64)

// Service exports snapshots. Set the fields, then call its methods; it must
// not be copied after first use.
type Service struct {
	DB        *sql.DB
	Snapshots SnapshotResolver
	S3        S3API
	Publish   Publisher // nil: events are dropped
	Progress  Progress  // nil: no progress reports
	Log       *slog.Logger
	Account   string
	Region    string
	// FailNext is a test hook: a non-empty reason makes that export fail.
	FailNext func(exportID string) string
	// TableConcurrency bounds tables exported at once per task (default 2).
	TableConcurrency int
	// TempDir stages Parquet files before upload (default os.TempDir()).
	TempDir string
	// RowsPerFile is passed to mysqlparquet (0: its default).
	RowsPerFile int64

	mu    sync.Mutex
	tasks map[string]*task
	wg    sync.WaitGroup
}

// task is the state of one export; guarded by Service.mu.
type task struct {
	info     rdstypes.ExportTask
	snapshot Snapshot
}

// Identifier rules of RDS: a letter first, then letters, digits and single
// hyphens, no trailing hyphen, 60 characters at most.
var identifierRE = regexp.MustCompile(`^[A-Za-z](?:[A-Za-z0-9]|-[A-Za-z0-9])*$`)

const maxIdentifierLen = 60

var bucketRE = regexp.MustCompile(`^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$`)

// MaxConcurrentExports is RDS's quota of snapshot exports in progress at once per
// account: "You can have up to five concurrent DB snapshot export tasks in
// progress per AWS account." (RDS UG USER_ExportSnapshot.html and Aurora UG
// aurora-export-snapshot.html, Limitations: the one quota for DB and cluster
// snapshots). Over it StartExportTask fails with ExportTaskLimitReachedFault.
const MaxConcurrentExports = 5

// ExportQuotaErrorCode and exportQuotaMessage are RDS's answer over the quota, as
// public projects log it (the SDK has no type for the fault).
const (
	ExportQuotaErrorCode = "ExportTaskLimitReachedFault"
	exportQuotaMessage   = "You have reached the limit of 5 concurrent export tasks"
)

// sourceArnRE is the shape of a SourceArn RDS exports: a DB snapshot, a DB cluster
// snapshot or (Aurora only) a DB cluster (StartExportTask, SourceArn: "The Amazon
// Resource Name (ARN) of the snapshot or cluster to export to Amazon S3.").
var sourceArnRE = regexp.MustCompile(`^arn:aws[a-z-]*:rds:[a-z0-9-]+:\d{12}:(snapshot|cluster-snapshot|cluster):(.+)$`)

// IsClusterSnapshotArn reports whether arn names an Aurora DB cluster snapshot.
func IsClusterSnapshotArn(arn string) bool {
	m := sourceArnRE.FindStringSubmatch(arn)
	return m != nil && m[1] == "cluster-snapshot"
}

// StartExportTask validates the request as RDS does and starts the export
// in the background, returning the task in status STARTING.
func (s *Service) StartExportTask(ctx context.Context, in *rds.StartExportTaskInput, optFns ...func(*rds.Options)) (*rds.StartExportTaskOutput, error) {
	if in == nil {
		in = &rds.StartExportTaskInput{}
	}
	// The SDK checks required members before sending; do the same, with its error type.
	var missing smithy.InvalidParamsError
	missing.Context = "StartExportTaskInput"
	for _, f := range []struct {
		name string
		v    *string
	}{
		{"ExportTaskIdentifier", in.ExportTaskIdentifier}, {"SourceArn", in.SourceArn},
		{"S3BucketName", in.S3BucketName}, {"IamRoleArn", in.IamRoleArn}, {"KmsKeyId", in.KmsKeyId},
	} {
		if f.v == nil {
			missing.Add(smithy.NewErrParamRequired(f.name))
		}
	}
	if missing.Len() > 0 {
		return nil, &smithy.OperationError{ServiceID: "RDS", OperationName: "StartExportTask", Err: missing}
	}
	id := *in.ExportTaskIdentifier
	if len(id) > maxIdentifierLen || !identifierRE.MatchString(id) {
		return nil, invalidParameter(fmt.Sprintf("The parameter ExportTaskIdentifier is not a valid identifier: %q. Identifiers must begin with a letter; "+
			"must contain only ASCII letters, digits, and hyphens; must not end with a hyphen or contain two consecutive hyphens; and must be at most %d characters.", id, maxIdentifierLen))
	}
	if strings.Contains(aws.ToString(in.S3Prefix), ":") {
		return nil, invalidParameter(fmt.Sprintf("The parameter S3Prefix must not contain ':': %q", aws.ToString(in.S3Prefix)))
	}
	if !bucketRE.MatchString(*in.S3BucketName) {
		return nil, &rdstypes.InvalidS3BucketFault{Message: aws.String(fmt.Sprintf("The S3 bucket %s is not valid.", *in.S3BucketName))}
	}
	if !strings.HasPrefix(*in.IamRoleArn, "arn:") {
		return nil, &rdstypes.IamRoleNotFoundFault{Message: aws.String(fmt.Sprintf("IAM role %s not found.", *in.IamRoleArn))}
	}
	if *in.KmsKeyId == "" {
		return nil, &rdstypes.KMSKeyNotAccessibleFault{Message: aws.String("The KMS key is not accessible.")}
	}
	m := sourceArnRE.FindStringSubmatch(*in.SourceArn)
	switch {
	case m == nil:
		return nil, invalidParameter(fmt.Sprintf("The parameter SourceArn is not a valid snapshot or cluster ARN: %q.", *in.SourceArn))
	case m[1] == "cluster":
		// A live Aurora cluster export (SourceType CLUSTER) clones the cluster; the
		// stand-in exports snapshots only, and says so rather than pretending.
		return nil, invalidParameter(fmt.Sprintf("The offline RDS stand-in exports DB snapshots and DB cluster snapshots only, not a live DB cluster: %q.", *in.SourceArn))
	}

	snap, err := s.Snapshots.ResolveSnapshot(ctx, *in.SourceArn)
	if err != nil {
		return nil, fmt.Errorf("resolve export source %s: %w", *in.SourceArn, err)
	}
	for _, e := range in.ExportOnly {
		db, _, _ := strings.Cut(e, ".")
		if _, ok := snap.Databases[db]; !ok || e == "" {
			return nil, &rdstypes.InvalidExportOnlyFault{Message: aws.String(fmt.Sprintf(
				"The ExportOnly entry %q does not name a database or table of snapshot %s.", e, snap.ID))}
		}
	}

	now := time.Now().UTC()
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.tasks == nil {
		s.tasks = map[string]*task{}
	}
	// Identifiers are unique forever: finished tasks cannot be deleted.
	if _, ok := s.tasks[id]; ok {
		return nil, &rdstypes.ExportTaskAlreadyExistsFault{Message: aws.String(fmt.Sprintf(
			"Cannot start export task because a task with the identifier %s already exists.", id))}
	}
	running := 0
	for _, t := range s.tasks {
		st := aws.ToString(t.info.Status)
		if st != StatusStarting && st != StatusInProgress {
			continue
		}
		running++
		if aws.ToString(t.info.SourceArn) == *in.SourceArn {
			return nil, &rdstypes.InvalidExportSourceStateFault{Message: aws.String(fmt.Sprintf(
				"Snapshot %s already has export task %s in progress.", snap.ID, aws.ToString(t.info.ExportTaskIdentifier)))}
		}
	}
	// The quota counts exports in progress, account-wide; a finished one frees its slot.
	if running >= MaxConcurrentExports {
		return nil, &smithy.GenericAPIError{Code: ExportQuotaErrorCode, Message: exportQuotaMessage, Fault: smithy.FaultClient}
	}
	t := &task{snapshot: snap, info: rdstypes.ExportTask{
		ExportTaskIdentifier:   aws.String(id),
		SourceArn:              in.SourceArn,
		ExportOnly:             slices.Clone(in.ExportOnly),
		SnapshotTime:           aws.Time(snap.Created.UTC()),
		TaskStartTime:          aws.Time(now),
		S3Bucket:               in.S3BucketName,
		S3Prefix:               aws.String(aws.ToString(in.S3Prefix)),
		IamRoleArn:             in.IamRoleArn,
		KmsKeyId:               in.KmsKeyId,
		Status:                 aws.String(StatusStarting),
		PercentProgress:        aws.Int32(0),
		SourceType:             rdstypes.ExportSourceTypeSnapshot,
		TotalExtractedDataInGB: aws.Int32(0),
	}}
	s.tasks[id] = t
	out := startOutput(t.info)
	s.wg.Add(1)
	go func() {
		defer s.wg.Done()
		// The export outlives the request that started it, as in RDS.
		s.run(context.WithoutCancel(ctx), id)
	}()
	s.logger().Info("export task started", "export_id", id, "snapshot", snap.ID, "bucket", *in.S3BucketName, "prefix", aws.ToString(in.S3Prefix))
	return out, nil
}

func invalidParameter(msg string) error {
	return &smithy.GenericAPIError{Code: "InvalidParameterValue", Message: msg, Fault: smithy.FaultClient}
}

func startOutput(t rdstypes.ExportTask) *rds.StartExportTaskOutput {
	return &rds.StartExportTaskOutput{
		ExportOnly: t.ExportOnly, ExportTaskIdentifier: t.ExportTaskIdentifier, FailureCause: t.FailureCause,
		IamRoleArn: t.IamRoleArn, KmsKeyId: t.KmsKeyId, PercentProgress: t.PercentProgress, S3Bucket: t.S3Bucket,
		S3Prefix: t.S3Prefix, SnapshotTime: t.SnapshotTime, SourceArn: t.SourceArn, SourceType: t.SourceType,
		Status: t.Status, TaskEndTime: t.TaskEndTime, TaskStartTime: t.TaskStartTime,
		TotalExtractedDataInGB: t.TotalExtractedDataInGB, WarningMessage: t.WarningMessage,
	}
}

// DescribeExportTasks reports tasks by identifier, by source ARN, or all,
// oldest first. Filters export-task-identifier, source-arn, s3-bucket and
// status are honoured.
func (s *Service) DescribeExportTasks(ctx context.Context, in *rds.DescribeExportTasksInput, optFns ...func(*rds.Options)) (*rds.DescribeExportTasksOutput, error) {
	if in == nil {
		in = &rds.DescribeExportTasksInput{}
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []rdstypes.ExportTask
	for _, t := range s.tasks {
		if in.ExportTaskIdentifier != nil && *in.ExportTaskIdentifier != aws.ToString(t.info.ExportTaskIdentifier) {
			continue
		}
		if in.SourceArn != nil && *in.SourceArn != aws.ToString(t.info.SourceArn) {
			continue
		}
		if !matchFilters(in.Filters, t.info) {
			continue
		}
		info := t.info
		info.ExportOnly = slices.Clone(info.ExportOnly)
		out = append(out, info)
	}
	if in.ExportTaskIdentifier != nil && len(out) == 0 {
		return nil, &rdstypes.ExportTaskNotFoundFault{Message: aws.String(fmt.Sprintf("Cannot find export task with identifier %s.", *in.ExportTaskIdentifier))}
	}
	slices.SortFunc(out, func(a, b rdstypes.ExportTask) int {
		if c := a.TaskStartTime.Compare(*b.TaskStartTime); c != 0 {
			return c
		}
		return strings.Compare(*a.ExportTaskIdentifier, *b.ExportTaskIdentifier)
	})
	return &rds.DescribeExportTasksOutput{ExportTasks: out}, nil
}

func matchFilters(filters []rdstypes.Filter, t rdstypes.ExportTask) bool {
	for _, f := range filters {
		var v string
		switch aws.ToString(f.Name) {
		case "export-task-identifier":
			v = aws.ToString(t.ExportTaskIdentifier)
		case "source-arn":
			v = aws.ToString(t.SourceArn)
		case "s3-bucket":
			v = aws.ToString(t.S3Bucket)
		case "status":
			v = strings.ToLower(aws.ToString(t.Status))
			if !slices.ContainsFunc(f.Values, func(x string) bool { return strings.ToLower(x) == v }) {
				return false
			}
			continue
		default:
			continue
		}
		if !slices.Contains(f.Values, v) {
			return false
		}
	}
	return true
}

// Wait blocks until every started export has finished, or ctx ends.
func (s *Service) Wait(ctx context.Context) error {
	done := make(chan struct{})
	go func() {
		s.wg.Wait()
		close(done)
	}()
	select {
	case <-done:
		return nil
	case <-ctx.Done():
		return fmt.Errorf("wait for running exports: %w", ctx.Err())
	}
}

func (s *Service) logger() *slog.Logger {
	if s.Log == nil {
		return slog.New(slog.DiscardHandler)
	}
	return s.Log
}

// update changes a task under the lock.
func (s *Service) update(id string, f func(t *rdstypes.ExportTask)) rdstypes.ExportTask {
	s.mu.Lock()
	defer s.mu.Unlock()
	t := s.tasks[id]
	f(&t.info)
	return t.info
}

// StaticSnapshots resolves snapshots from a fixed map keyed by ARN.
type StaticSnapshots map[string]Snapshot

// ResolveSnapshot implements SnapshotResolver.
func (m StaticSnapshots) ResolveSnapshot(ctx context.Context, arn string) (Snapshot, error) {
	snap, ok := m[arn]
	if !ok && IsClusterSnapshotArn(arn) {
		return Snapshot{}, &rdstypes.DBClusterSnapshotNotFoundFault{Message: aws.String(fmt.Sprintf("DBClusterSnapshot %s not found.", arn))}
	}
	if !ok {
		return Snapshot{}, &rdstypes.DBSnapshotNotFoundFault{Message: aws.String(fmt.Sprintf("DBSnapshot %s not found.", arn))}
	}
	return snap, nil
}
