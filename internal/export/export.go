// Package export starts the RDS snapshot export for a snapshot-created event: it
// validates the event, derives the export id and treats a re-delivered event as a no-op.
package export

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"regexp"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/rds"
	rdstypes "github.com/aws/aws-sdk-go-v2/service/rds/types"
	"github.com/aws/smithy-go"

	"github.com/snaplake/snaplake/events"
	"github.com/snaplake/snaplake/internal/exportid"
)

// RDS is the part of the RDS API that starting an export needs.
type RDS interface {
	StartExportTask(ctx context.Context, in *rds.StartExportTaskInput, optFns ...func(*rds.Options)) (*rds.StartExportTaskOutput, error)
	DescribeExportTasks(ctx context.Context, in *rds.DescribeExportTasksInput, optFns ...func(*rds.Options)) (*rds.DescribeExportTasksOutput, error)
}

// Actions the state machine branches on.
const (
	ActionStarted   = "started"   // a new export runs: wait for its completion event
	ActionDuplicate = "duplicate" // the export already runs: another execution waits for it
	ActionCompleted = "completed" // the export already finished (a re-run): relocate now
)

// Result is what the state machine receives.
type Result struct {
	ExportID             string `json:"exportId"`
	SnapshotID           string `json:"snapshotId"`
	SnapshotArn          string `json:"snapshotArn"`
	SnapshotDate         string `json:"snapshotDate"`
	Action               string `json:"action"`
	ExportTimeoutSeconds int    `json:"exportTimeoutSeconds"`
	CrawlTimeoutSeconds  int    `json:"crawlTimeoutSeconds"`
}

// Handler starts exports. Its zero value is not usable: build it from Config.
type Handler struct {
	RDS    RDS
	Config Config
	Log    *slog.Logger
}

// ForeignSnapshotError says the snapshot does not belong to a configured DB instance.
type ForeignSnapshotError struct {
	SnapshotID string
	Instances  []string
}

func (e *ForeignSnapshotError) Error() string {
	return fmt.Sprintf("snapshot %q is not a snapshot of a configured DB instance (%s)", e.SnapshotID, strings.Join(e.Instances, ", "))
}

// ExportFailedError says the export for this snapshot exists and failed or was canceled.
type ExportFailedError struct {
	ExportID, Status, Cause string
}

func (e *ExportFailedError) Error() string {
	return fmt.Sprintf("export %s is %s: %s", e.ExportID, e.Status, e.Cause)
}

// ExportConflictError says the derived export id is taken by an export of another snapshot.
type ExportConflictError struct {
	ExportID, SnapshotArn, OtherSourceArn string
}

func (e *ExportConflictError) Error() string {
	return fmt.Sprintf("export id %s already names an export of %s, not of %s", e.ExportID, e.OtherSourceArn, e.SnapshotArn)
}

// ThrottledError marks an AWS throttling answer; the state machine retries it with backoff.
type ThrottledError struct{ Op string }

func (e *ThrottledError) Error() string { return e.Op + ": throttled by AWS" }

var automatedSnapshotRE = regexp.MustCompile(`^rds:(.+)-\d{4}-\d{2}-\d{2}-\d{2}-\d{2}$`)

// Handle starts the export for a snapshot-created event. The event is the whole
// EventBridge event, as the rule passes it to the state machine.
func (h Handler) Handle(ctx context.Context, raw json.RawMessage) (Result, error) {
	snap, err := h.snapshot(raw)
	if err != nil {
		h.Log.WarnContext(ctx, "rejecting event", "error", err)
		return Result{}, err
	}
	id, err := exportid.FromSnapshot(snap.SourceIdentifier)
	if err != nil {
		return Result{}, fmt.Errorf("derive export id for snapshot %s: %w", snap.SourceIdentifier, err)
	}
	date, err := snapshotDate(snap)
	if err != nil {
		return Result{}, err
	}
	res := Result{
		ExportID:             id,
		SnapshotID:           snap.SourceIdentifier,
		SnapshotArn:          snap.SourceArn,
		SnapshotDate:         date,
		ExportTimeoutSeconds: int(h.Config.ExportTimeout / time.Second),
		CrawlTimeoutSeconds:  int(h.Config.CrawlTimeout / time.Second),
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
	if len(h.Config.Databases) > 0 {
		in.ExportOnly = h.Config.Databases
	}
	_, err = h.RDS.StartExportTask(ctx, in)
	var exists *rdstypes.ExportTaskAlreadyExistsFault
	switch {
	case err == nil:
		res.Action = ActionStarted
		log.InfoContext(ctx, "started export", "bucket", h.Config.Bucket, "prefix", h.Config.Prefix, "databases", h.Config.Databases)
		return res, nil
	case errors.As(err, &exists):
		// EventBridge delivers at least once: the same snapshot again is not a failure.
		return h.existing(ctx, log, res)
	case isThrottle(err):
		return Result{}, &ThrottledError{Op: "start export " + id}
	default:
		return Result{}, fmt.Errorf("start export %s of %s: %w", id, snap.SourceArn, err)
	}
}

// existing decides what a second event for an already exported snapshot means.
func (h Handler) existing(ctx context.Context, log *slog.Logger, res Result) (Result, error) {
	out, err := h.RDS.DescribeExportTasks(ctx, &rds.DescribeExportTasksInput{ExportTaskIdentifier: aws.String(res.ExportID)})
	if err != nil {
		if isThrottle(err) {
			return Result{}, &ThrottledError{Op: "describe export " + res.ExportID}
		}
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

// snapshot validates the event and that it names a snapshot of a configured instance.
func (h Handler) snapshot(raw json.RawMessage) (events.RDSSnapshotDetail, error) {
	env, err := events.ParseEnvelope(raw)
	if err != nil {
		return events.RDSSnapshotDetail{}, err
	}
	d, err := env.RDSSnapshot()
	if err != nil {
		return events.RDSSnapshotDetail{}, err
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
	if !h.ownSnapshot(d) {
		return d, &ForeignSnapshotError{SnapshotID: d.SourceIdentifier, Instances: h.Config.DBInstanceIDs}
	}
	return d, nil
}

// ownSnapshot re-checks exactly what the event pattern can only match by prefix:
// "rds:prod-" also prefixes the snapshots of an instance named "prod-replica".
func (h Handler) ownSnapshot(d events.RDSSnapshotDetail) bool {
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

// snapshotDate is the UTC day the snapshot was taken, the partition its tables land in.
func snapshotDate(d events.RDSSnapshotDetail) (string, error) {
	t, err := time.Parse(time.RFC3339Nano, d.Date)
	if err != nil {
		return "", &events.InvalidEventError{Reason: fmt.Sprintf("snapshot Date %q is not an RFC 3339 time", d.Date)}
	}
	return t.UTC().Format("2006-01-02"), nil
}

func isThrottle(err error) bool {
	var ae smithy.APIError
	if !errors.As(err, &ae) {
		return false
	}
	switch ae.ErrorCode() {
	case "Throttling", "ThrottlingException", "RequestLimitExceeded", "TooManyRequestsException":
		return true
	}
	return false
}
