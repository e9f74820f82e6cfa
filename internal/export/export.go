// Package export starts the RDS snapshot export for a snapshot-created event (a DB
// instance's snapshot or an Aurora cluster's automated cluster snapshot): it validates
// the event, ignores other instances' and clusters' snapshots, dates the snapshot by
// its creation, derives the export id, treats a re-delivered event as a no-op and
// reports RDS's concurrent-export quota as an error the workflow waits on.
package export

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"regexp"
	"slices"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/rds"
	rdstypes "github.com/aws/aws-sdk-go-v2/service/rds/types"
	"github.com/aws/smithy-go"

	"github.com/snaplake/snaplake/events"
	"github.com/snaplake/snaplake/internal/aws/awserr"
	"github.com/snaplake/snaplake/internal/aws/s3get"
	"github.com/snaplake/snaplake/internal/config"
	"github.com/snaplake/snaplake/internal/deploy"
	"github.com/snaplake/snaplake/internal/export/exportid"
)

// RDS is the part of the RDS API that starting an export needs.
type RDS interface {
	StartExportTask(ctx context.Context, in *rds.StartExportTaskInput, optFns ...func(*rds.Options)) (*rds.StartExportTaskOutput, error)
	DescribeExportTasks(ctx context.Context, in *rds.DescribeExportTasksInput, optFns ...func(*rds.Options)) (*rds.DescribeExportTasksOutput, error)
	DescribeDBSnapshots(ctx context.Context, in *rds.DescribeDBSnapshotsInput, optFns ...func(*rds.Options)) (*rds.DescribeDBSnapshotsOutput, error)
	DescribeDBClusterSnapshots(ctx context.Context, in *rds.DescribeDBClusterSnapshotsInput, optFns ...func(*rds.Options)) (*rds.DescribeDBClusterSnapshotsOutput, error)
}

// Actions the state machine branches on.
const (
	ActionStarted   = "started"   // a new export runs: wait for its completion event
	ActionDuplicate = "duplicate" // the export already runs: another execution waits for it
	ActionCompleted = "completed" // the export already finished (a re-run): relocate now
	// ActionIgnored: the snapshot is not one of a configured instance, only a name
	// the event pattern's prefix cannot tell apart ("rds:prod-replica-..." for "prod").
	// Nothing to do, and nothing went wrong.
	ActionIgnored = "ignored"
)

// Result is what the state machine receives. Every field but Reason is always
// present (empty when it does not apply), as the state machine selects each by path.
type Result struct {
	ExportID     string `json:"exportId"`
	SnapshotID   string `json:"snapshotId"`
	SnapshotArn  string `json:"snapshotArn"`
	SnapshotDate string `json:"snapshotDate"` // the snapshot's creation day in Config.SnapshotZone
	Action       string `json:"action"`
	Reason       string `json:"reason,omitempty"` // why a snapshot was ignored
	// ExportRecheckSeconds is how often the waiting execution asks RDS for the
	// export's status: RDS sends its completion event on a best-effort basis.
	ExportRecheckSeconds int `json:"exportRecheckSeconds"`
	ExportTimeoutSeconds int `json:"exportTimeoutSeconds"`
	CrawlTimeoutSeconds  int `json:"crawlTimeoutSeconds"`
	// Exclude are the databases ("db") and tables ("db.table") of snaplake.yaml's
	// export section that RDS still writes and relocation must leave out (see
	// Selection). Never null.
	Exclude []string `json:"exclude"`
}

// Handler starts exports. Its zero value is not usable: build it from Config.
type Handler struct {
	RDS    RDS
	Config Config
	// S3 reads snaplake.yaml's export section from Config.Bucket each night (nil: no
	// config, the deployment's databases).
	S3  s3get.API
	Log *slog.Logger
}

// SnapshotNotFoundError says RDS does not know the snapshot the event names, or
// does not know it any more (deleted between the event and this call).
type SnapshotNotFoundError struct {
	SnapshotID string
	Err        error // RDS's answer, a *rdstypes.DBSnapshotNotFoundFault, or nil
}

func (e *SnapshotNotFoundError) Error() string {
	if e.Err == nil {
		return fmt.Sprintf("snapshot %s not found in RDS", e.SnapshotID)
	}
	return fmt.Sprintf("snapshot %s not found in RDS: %v", e.SnapshotID, e.Err)
}

func (e *SnapshotNotFoundError) Unwrap() error { return e.Err }

// ExportFailedError says the export for this snapshot exists and failed or was canceled.
type ExportFailedError struct {
	ExportID, Status, Cause string
}

func (e *ExportFailedError) Error() string {
	return fmt.Sprintf("export %s is %s: %s", e.ExportID, e.Status, e.Cause)
}

// ExportQuotaErrorCode is the error code of StartExportTask when the account already
// runs as many exports as RDS allows at once (five, RDS UG "Exporting DB snapshot data
// to Amazon S3"). aws-sdk-go-v2's rds package has no type for it, so it is matched by
// code (smithy.APIError).
const ExportQuotaErrorCode = deploy.ExportQuotaErrorCode

// ExportQuotaError says RDS refused to start the export because the account already
// runs its quota of concurrent exports. Nothing is wrong with the snapshot: a slot
// frees when another export ends, so the state machine retries it with backoff and
// reports it only when it has waited too long. Lambda reports it as errorType
// "ExportQuotaError", the name the state machine's Retry lists.
type ExportQuotaError struct {
	ExportID, SnapshotArn string
	Err                   error // RDS's answer
}

func (e *ExportQuotaError) Error() string {
	return fmt.Sprintf("start export %s of %s: RDS's quota of concurrent exports is reached, waiting for a slot: %v", e.ExportID, e.SnapshotArn, e.Err)
}

func (e *ExportQuotaError) Unwrap() error { return e.Err }

// isExportQuota reports whether err is RDS's ExportTaskLimitReachedFault.
func isExportQuota(err error) bool {
	var api smithy.APIError
	return errors.As(err, &api) && api.ErrorCode() == ExportQuotaErrorCode
}

// ExportConflictError says the derived export id is taken by an export of another snapshot.
type ExportConflictError struct {
	ExportID, SnapshotArn, OtherSourceArn string
}

func (e *ExportConflictError) Error() string {
	return fmt.Sprintf("export id %s already names an export of %s, not of %s", e.ExportID, e.OtherSourceArn, e.SnapshotArn)
}

// automatedSnapshotRE splits an automated snapshot id, of a DB instance or of an
// Aurora cluster (both rds:<id>-YYYY-MM-DD-HH-MM), into its instance or cluster.
var automatedSnapshotRE = regexp.MustCompile(`^rds:(.+)-\d{4}-\d{2}-\d{2}-\d{2}-\d{2}$`)

// snapshot is a validated snapshot-created event: the detail, and whether it is an
// Aurora cluster snapshot.
type snapshot struct {
	events.RDSSnapshotDetail
	cluster bool
}

// Handle starts the export for a snapshot-created event. The event is the whole
// EventBridge event, as the rule passes it to the state machine. A throttled AWS
// call comes back as *awserr.ThrottledError, which the state machine retries.
func (h Handler) Handle(ctx context.Context, raw json.RawMessage) (Result, error) {
	res, err := h.handle(ctx, raw)
	return res, awserr.Surface(err)
}

func (h Handler) handle(ctx context.Context, raw json.RawMessage) (Result, error) {
	snap, err := h.snapshot(raw)
	if err != nil {
		h.Log.WarnContext(ctx, "rejecting event", "error", err)
		return Result{}, err
	}
	res := Result{
		Exclude:              []string{},
		SnapshotID:           snap.SourceIdentifier,
		SnapshotArn:          snap.SourceArn,
		ExportRecheckSeconds: int(h.Config.exportRecheck() / time.Second),
		ExportTimeoutSeconds: int(h.Config.ExportTimeout / time.Second),
		CrawlTimeoutSeconds:  int(h.Config.CrawlTimeout / time.Second),
	}
	if !h.ownSnapshot(snap) {
		// The event pattern can only match "rds:<instance>-" by prefix, so the
		// snapshots of "<instance>-replica" arrive too, every night: not a failure.
		kind, key, ids := "DB instance", "instances", h.Config.DBInstanceIDs
		if snap.cluster {
			kind, key, ids = "DB cluster", "clusters", h.Config.DBClusterIDs
		}
		res.Action = ActionIgnored
		res.Reason = fmt.Sprintf("snapshot %s is not a snapshot of a configured %s (%s)",
			snap.SourceIdentifier, kind, strings.Join(ids, ", "))
		h.Log.InfoContext(ctx, "ignoring snapshot of another "+kind,
			"snapshot", snap.SourceIdentifier, key, ids)
		return res, nil
	}
	id, err := exportid.FromSnapshot(snap.SourceIdentifier)
	if err != nil {
		return Result{}, fmt.Errorf("derive export id for snapshot %s: %w", snap.SourceIdentifier, err)
	}
	res.ExportID = id
	// The selection is read before anything starts: a config that does not validate
	// fails the night, with the file and line, instead of exporting what it excludes.
	sel, err := h.selection(ctx)
	if err != nil {
		return Result{}, err
	}
	exportOnly := sel.exportOnly()
	res.Exclude = sel.relocateExclude()
	if res.SnapshotDate, err = h.snapshotDate(ctx, snap); err != nil {
		return Result{}, err
	}
	log := h.Log.With("snapshot", snap.SourceIdentifier, "exportId", id)

	in := &rds.StartExportTaskInput{
		ExportTaskIdentifier: aws.String(id),
		SourceArn:            aws.String(snap.SourceArn),
		S3BucketName:         aws.String(h.Config.Bucket),
		S3Prefix:             aws.String(strings.TrimSuffix(h.Config.Prefix, "/")),
		IamRoleArn:           aws.String(h.Config.RoleArn),
		KmsKeyId:             aws.String(h.Config.KMSKeyID),
	}
	if len(exportOnly) > 0 {
		in.ExportOnly = exportOnly
	}
	_, err = h.RDS.StartExportTask(ctx, in)
	var exists *rdstypes.ExportTaskAlreadyExistsFault
	switch {
	case isExportQuota(err):
		// A warning each time: the stack's metric filter counts these lines by their
		// errorCode, and its alarm tells the topic that a snapshot waits for a slot.
		// The workflow retries, and notifies again if it gives up.
		log.WarnContext(ctx, "RDS's quota of concurrent exports is reached; the workflow retries",
			"snapshotArn", snap.SourceArn, deploy.LogKeyErrorCode, ExportQuotaErrorCode, "error", err)
		return Result{}, &ExportQuotaError{ExportID: id, SnapshotArn: snap.SourceArn, Err: err}
	case err == nil:
		res.Action = ActionStarted
		log.InfoContext(ctx, "started export", "bucket", h.Config.Bucket, "prefix", h.Config.Prefix,
			"databases", exportOnly, "exclude", res.Exclude, "snapshotDate", res.SnapshotDate)
		return res, nil
	case errors.As(err, &exists):
		// EventBridge delivers at least once: the same snapshot again is not a failure.
		return h.existing(ctx, log, res)
	default:
		return Result{}, fmt.Errorf("start export %s of %s: %w", id, snap.SourceArn, err)
	}
}

// snapshotDate is the calendar day, in the configured zone, on which RDS created the
// snapshot: the partition its tables land in. The event's own Date is when RDS
// reported the snapshot, which can fall on the next day.
func (h Handler) snapshotDate(ctx context.Context, d snapshot) (string, error) {
	if d.cluster {
		return h.clusterSnapshotDate(ctx, d)
	}
	in := &rds.DescribeDBSnapshotsInput{DBSnapshotIdentifier: aws.String(d.SourceIdentifier)}
	// RDS requires SnapshotType along with the identifier of an automated snapshot.
	if d.EventID == events.EventAutomatedSnapshotCreated {
		in.SnapshotType = aws.String("automated")
	} else {
		in.SnapshotType = aws.String("manual")
	}
	out, err := h.RDS.DescribeDBSnapshots(ctx, in)
	var notFound *rdstypes.DBSnapshotNotFoundFault
	switch {
	case errors.As(err, &notFound):
		return "", &SnapshotNotFoundError{SnapshotID: d.SourceIdentifier, Err: err}
	case err != nil:
		return "", fmt.Errorf("describe snapshot %s: %w", d.SourceIdentifier, err)
	}
	for _, s := range out.DBSnapshots {
		if !strings.EqualFold(aws.ToString(s.DBSnapshotIdentifier), d.SourceIdentifier) {
			continue
		}
		if s.SnapshotCreateTime == nil {
			return "", fmt.Errorf("describe snapshot %s: RDS gives no creation time (status %q)", d.SourceIdentifier, aws.ToString(s.Status))
		}
		return s.SnapshotCreateTime.In(h.Config.snapshotZone()).Format("2006-01-02"), nil
	}
	return "", &SnapshotNotFoundError{SnapshotID: d.SourceIdentifier}
}

// clusterSnapshotDate is snapshotDate for an Aurora cluster's automated snapshot,
// which DescribeDBClusterSnapshots describes (DescribeDBSnapshots knows only DB
// instances' snapshots).
func (h Handler) clusterSnapshotDate(ctx context.Context, d snapshot) (string, error) {
	out, err := h.RDS.DescribeDBClusterSnapshots(ctx, &rds.DescribeDBClusterSnapshotsInput{
		DBClusterSnapshotIdentifier: aws.String(d.SourceIdentifier),
		// As for DB snapshots, an automated one is found by its id with its type.
		SnapshotType: aws.String("automated"),
	})
	var notFound *rdstypes.DBClusterSnapshotNotFoundFault
	switch {
	case errors.As(err, &notFound):
		return "", &SnapshotNotFoundError{SnapshotID: d.SourceIdentifier, Err: err}
	case err != nil:
		return "", fmt.Errorf("describe cluster snapshot %s: %w", d.SourceIdentifier, err)
	}
	for _, s := range out.DBClusterSnapshots {
		if !strings.EqualFold(aws.ToString(s.DBClusterSnapshotIdentifier), d.SourceIdentifier) {
			continue
		}
		if s.SnapshotCreateTime == nil {
			return "", fmt.Errorf("describe cluster snapshot %s: RDS gives no creation time (status %q)", d.SourceIdentifier, aws.ToString(s.Status))
		}
		return s.SnapshotCreateTime.In(h.Config.snapshotZone()).Format("2006-01-02"), nil
	}
	return "", &SnapshotNotFoundError{SnapshotID: d.SourceIdentifier}
}

// existing decides what a second event for an already exported snapshot means.
func (h Handler) existing(ctx context.Context, log *slog.Logger, res Result) (Result, error) {
	out, err := h.RDS.DescribeExportTasks(ctx, &rds.DescribeExportTasksInput{ExportTaskIdentifier: aws.String(res.ExportID)})
	if err != nil {
		return Result{}, fmt.Errorf("describe existing export %s: %w", res.ExportID, err)
	}
	if len(out.ExportTasks) == 0 {
		return Result{}, fmt.Errorf("describe existing export %s: RDS says it exists but lists no such task", res.ExportID)
	}
	task := out.ExportTasks[0]
	if src := aws.ToString(task.SourceArn); src != "" && src != res.SnapshotArn {
		return Result{}, &ExportConflictError{ExportID: res.ExportID, SnapshotArn: res.SnapshotArn, OtherSourceArn: src}
	}
	status := strings.ToUpper(aws.ToString(task.Status))
	switch status {
	case "COMPLETE":
		res.Action = ActionCompleted
	case "STARTING", "IN_PROGRESS":
		res.Action = ActionDuplicate
	default: // FAILED, CANCELING, CANCELED
		return Result{}, &ExportFailedError{ExportID: res.ExportID, Status: status, Cause: aws.ToString(task.FailureCause)}
	}
	log.InfoContext(ctx, "export already exists", "status", status, "action", res.Action)
	return res, nil
}

// snapshot validates the event: an RDS snapshot-created event this deployment routes,
// naming one snapshot. Whose snapshot it is, is ownSnapshot's question.
func (h Handler) snapshot(raw json.RawMessage) (snapshot, error) {
	env, err := events.ParseEnvelope(raw)
	if err != nil {
		return snapshot{}, err
	}
	d, err := env.RDSSnapshot()
	if err != nil {
		return snapshot{}, err
	}
	if env.IsClusterSnapshot() {
		return h.clusterSnapshot(d)
	}
	s, err := h.instanceSnapshot(d)
	return snapshot{RDSSnapshotDetail: s}, err
}

// clusterSnapshot validates an "RDS DB Cluster Snapshot Event": an automated cluster
// snapshot created (RDS-EVENT-0169), its ARN a cluster-snapshot ARN naming it, its id
// the automated shape. StartExportTask exports a cluster snapshot by that ARN.
func (h Handler) clusterSnapshot(d events.RDSSnapshotDetail) (snapshot, error) {
	s := snapshot{RDSSnapshotDetail: d, cluster: true}
	if len(h.Config.DBClusterIDs) == 0 {
		return s, &events.InvalidEventError{Reason: "Aurora cluster snapshots are not exported by this deployment (no DB cluster configured)"}
	}
	if d.EventID != events.EventAutomatedClusterSnapshotCreated {
		return s, &events.InvalidEventError{Reason: fmt.Sprintf("event %s is not an automated cluster snapshot created event (%s)", d.EventID, events.EventAutomatedClusterSnapshotCreated)}
	}
	if d.SourceArn == "" || !strings.HasSuffix(d.SourceArn, ":cluster-snapshot:"+d.SourceIdentifier) {
		return s, &events.InvalidEventError{Reason: fmt.Sprintf("SourceArn %q does not name cluster snapshot %q", d.SourceArn, d.SourceIdentifier)}
	}
	if !automatedSnapshotRE.MatchString(d.SourceIdentifier) {
		return s, &events.InvalidEventError{Reason: fmt.Sprintf("%q is not an automated cluster snapshot id (rds:<cluster>-YYYY-MM-DD-HH-MM)", d.SourceIdentifier)}
	}
	return s, nil
}

// instanceSnapshot validates an "RDS DB Snapshot Event" of a DB instance's snapshot.
func (h Handler) instanceSnapshot(d events.RDSSnapshotDetail) (events.RDSSnapshotDetail, error) {
	if len(h.Config.DBInstanceIDs) == 0 {
		return d, &events.InvalidEventError{Reason: "DB instance snapshots are not exported by this deployment (no DB instance configured)"}
	}
	switch d.EventID {
	case events.EventAutomatedSnapshotCreated:
	case events.EventManualSnapshotCreated:
		if !h.Config.IncludeManualSnapshots {
			return d, &events.InvalidEventError{Reason: "manual snapshot events are not enabled (snaplake:includeManualSnapshots)"}
		}
	default:
		return d, &events.InvalidEventError{Reason: fmt.Sprintf("event %s is not a snapshot-created event", d.EventID)}
	}
	if d.SourceType != "SNAPSHOT" {
		return d, &events.InvalidEventError{Reason: fmt.Sprintf("source type %q is not SNAPSHOT", d.SourceType)}
	}
	if d.SourceArn == "" || !strings.HasSuffix(d.SourceArn, ":snapshot:"+d.SourceIdentifier) {
		return d, &events.InvalidEventError{Reason: fmt.Sprintf("SourceArn %q does not name snapshot %q", d.SourceArn, d.SourceIdentifier)}
	}
	if d.EventID == events.EventAutomatedSnapshotCreated && !automatedSnapshotRE.MatchString(d.SourceIdentifier) {
		return d, &events.InvalidEventError{Reason: fmt.Sprintf("%q is not an automated snapshot id (rds:<instance>-YYYY-MM-DD-HH-MM)", d.SourceIdentifier)}
	}
	return d, nil
}

// ownSnapshot re-checks exactly what the event pattern can only match by prefix:
// "rds:prod-" also prefixes the snapshots of an instance named "prod-replica".
func (h Handler) ownSnapshot(d snapshot) bool {
	if d.cluster {
		m := automatedSnapshotRE.FindStringSubmatch(d.SourceIdentifier)
		return m != nil && slices.ContainsFunc(h.Config.DBClusterIDs, func(id string) bool { return strings.EqualFold(m[1], id) })
	}
	if d.EventID == events.EventAutomatedSnapshotCreated {
		m := automatedSnapshotRE.FindStringSubmatch(d.SourceIdentifier)
		if m == nil {
			return false
		}
		for _, id := range h.Config.DBInstanceIDs {
			if strings.EqualFold(m[1], id) {
				return true
			}
		}
		return false
	}
	for _, id := range h.Config.DBInstanceIDs {
		if strings.HasPrefix(strings.ToLower(d.SourceIdentifier), strings.ToLower(id)+"-") {
			return true
		}
	}
	return false
}

// selection is tonight's export section of snaplake.yaml. Without the file, or
// without the section, it is the deployment's databases (snaplake:databases, empty:
// every database) with nothing excluded: the night runs from the deploy on, before
// any config is uploaded. A section that does not validate is a
// *config.RefusedError naming the line; a failed read is returned as it is.
func (h Handler) selection(ctx context.Context) (Selection, error) {
	deployed := Selection{Databases: h.Config.Databases}
	if h.S3 == nil {
		return deployed, nil
	}
	sel, err := config.SectionFromS3[Selection](ctx, h.S3, h.Config.Bucket, deploy.SectionExport)
	var missing *config.MissingError
	var noSection *config.NoSectionError
	switch {
	case errors.As(err, &missing), errors.As(err, &noSection):
		return deployed, nil
	case err != nil:
		h.Log.ErrorContext(ctx, "the export section of the config is refused; no export started", "error", err)
		return Selection{}, err
	}
	return *sel, nil
}
