package events

import (
	"encoding/json"
	"fmt"
	"strings"
	"time"
)

// RDS event ids snaplake reacts to. Match on these, never on Message text.
const (
	EventAutomatedSnapshotCreated = "RDS-EVENT-0091"
	EventManualSnapshotCreated    = "RDS-EVENT-0042"
	EventExportCompleted          = "RDS-EVENT-0161"
	EventExportFailed             = "RDS-EVENT-0159"
	EventExportCanceled           = "RDS-EVENT-0160"

	// Aurora: "RDS DB Cluster Snapshot Event"s (RDS UG, Amazon RDS event categories
	// and event messages, DB cluster snapshot events).
	EventAutomatedClusterSnapshotCreated = "RDS-EVENT-0169"
	EventClusterExportCompleted          = "RDS-EVENT-0164"
	EventClusterExportFailed             = "RDS-EVENT-0162"
	EventClusterExportCanceled           = "RDS-EVENT-0163"
)

// Event sources and detail types.
const (
	SourceRDS             = "aws.rds"
	SourceGlue            = "aws.glue"
	DetailTypeRDSSnapshot = "RDS DB Snapshot Event"
	// DetailTypeRDSClusterSnapshot is what RDS sends about an Aurora cluster's
	// snapshots, their exports included.
	DetailTypeRDSClusterSnapshot = "RDS DB Cluster Snapshot Event"
	DetailTypeCrawler            = "Glue Crawler State Change"
)

// Envelope is an EventBridge event with its detail left raw.
type Envelope struct {
	Version    string          `json:"version,omitempty"`
	ID         string          `json:"id"`
	DetailType string          `json:"detail-type"`
	Source     string          `json:"source"`
	Account    string          `json:"account"`
	Time       time.Time       `json:"time"`
	Region     string          `json:"region"`
	Resources  []string        `json:"resources"`
	Detail     json.RawMessage `json:"detail"`
}

// RDSSnapshotDetail is the detail of an "RDS DB Snapshot Event" or an "RDS DB Cluster
// Snapshot Event" (snapshot created, export completed/failed/canceled). For export
// events SourceIdentifier and SourceArn name the SNAPSHOT, not the export task.
type RDSSnapshotDetail struct {
	EventCategories  []string `json:"EventCategories"`
	SourceType       string   `json:"SourceType"`
	SourceArn        string   `json:"SourceArn"`
	Date             string   `json:"Date"`
	SourceIdentifier string   `json:"SourceIdentifier"`
	Message          string   `json:"Message"`
	EventID          string   `json:"EventID"`
}

// CrawlerStateDetail is the detail of a "Glue Crawler State Change" event. Counts are strings.
type CrawlerStateDetail struct {
	CrawlerName       string `json:"crawlerName"`
	State             string `json:"state"`
	Message           string `json:"message,omitempty"`
	ErrorMessage      string `json:"errorMessage,omitempty"`
	TablesCreated     string `json:"tablesCreated,omitempty"`
	TablesUpdated     string `json:"tablesUpdated,omitempty"`
	TablesDeleted     string `json:"tablesDeleted,omitempty"`
	PartitionsCreated string `json:"partitionsCreated,omitempty"`
	PartitionsUpdated string `json:"partitionsUpdated,omitempty"`
	PartitionsDeleted string `json:"partitionsDeleted,omitempty"`
	RunningTimeSec    string `json:"runningTime (sec),omitempty"`
	CompletionDate    string `json:"completionDate,omitempty"`
	CloudWatchLogLink string `json:"cloudWatchLogLink,omitempty"`
	AccountID         string `json:"accountId,omitempty"`
}

// Crawler states.
const (
	CrawlerStarted   = "Started"
	CrawlerSucceeded = "Succeeded"
	CrawlerFailed    = "Failed"
)

// InvalidEventError says an event is malformed or not one snaplake handles.
type InvalidEventError struct {
	Reason string
}

func (e *InvalidEventError) Error() string { return "invalid event: " + e.Reason }

// ParseEnvelope decodes an EventBridge event.
func ParseEnvelope(raw []byte) (Envelope, error) {
	var env Envelope
	if err := json.Unmarshal(raw, &env); err != nil {
		return Envelope{}, &InvalidEventError{Reason: fmt.Sprintf("not an EventBridge event: %v", err)}
	}
	if env.Source == "" || env.DetailType == "" || len(env.Detail) == 0 || string(env.Detail) == "null" {
		return Envelope{}, &InvalidEventError{Reason: "missing source, detail-type or detail"}
	}
	return env, nil
}

// IsClusterSnapshot reports whether the event is about an Aurora cluster snapshot.
func (e Envelope) IsClusterSnapshot() bool { return e.DetailType == DetailTypeRDSClusterSnapshot }

// RDSSnapshot decodes the detail of an RDS snapshot or cluster snapshot event.
func (e Envelope) RDSSnapshot() (RDSSnapshotDetail, error) {
	if e.Source != SourceRDS || (e.DetailType != DetailTypeRDSSnapshot && e.DetailType != DetailTypeRDSClusterSnapshot) {
		return RDSSnapshotDetail{}, &InvalidEventError{Reason: fmt.Sprintf("want %s %q or %q, got %s %q", SourceRDS, DetailTypeRDSSnapshot, DetailTypeRDSClusterSnapshot, e.Source, e.DetailType)}
	}
	var d RDSSnapshotDetail
	if err := json.Unmarshal(e.Detail, &d); err != nil {
		return RDSSnapshotDetail{}, &InvalidEventError{Reason: fmt.Sprintf("RDS snapshot detail: %v", err)}
	}
	if d.EventID == "" || d.SourceIdentifier == "" {
		return RDSSnapshotDetail{}, &InvalidEventError{Reason: "RDS snapshot detail lacks EventID or SourceIdentifier"}
	}
	return d, nil
}

// CrawlerState decodes the detail of a Glue crawler state change event.
func (e Envelope) CrawlerState() (CrawlerStateDetail, error) {
	if e.Source != SourceGlue || e.DetailType != DetailTypeCrawler {
		return CrawlerStateDetail{}, &InvalidEventError{Reason: fmt.Sprintf("want %s %q, got %s %q", SourceGlue, DetailTypeCrawler, e.Source, e.DetailType)}
	}
	var d CrawlerStateDetail
	if err := json.Unmarshal(e.Detail, &d); err != nil {
		return CrawlerStateDetail{}, &InvalidEventError{Reason: fmt.Sprintf("crawler detail: %v", err)}
	}
	if d.CrawlerName == "" || d.State == "" {
		return CrawlerStateDetail{}, &InvalidEventError{Reason: "crawler detail lacks crawlerName or state"}
	}
	return d, nil
}

// Event is an EventBridge event with a typed detail, as a service emits it: what the
// offline stand-ins publish, in the shape Envelope decodes.
type Event[D any] struct {
	Version    string   `json:"version"`
	ID         string   `json:"id"`
	DetailType string   `json:"detail-type"`
	Source     string   `json:"source"`
	Account    string   `json:"account"`
	Time       string   `json:"time"` // RFC 3339
	Region     string   `json:"region"`
	Resources  []string `json:"resources"`
	Detail     D        `json:"detail"`
}

// NewRDSSnapshotEvent is an "RDS DB Snapshot Event" about the snapshot d.SourceArn names
// (an "RDS DB Cluster Snapshot Event" when it names a cluster snapshot), as RDS puts it
// on the bus at the given time: the envelope, the snapshot as its resource, SourceType
// and Date are filled in; d gives the rest.
func NewRDSSnapshotEvent(id, account, region string, at time.Time, d RDSSnapshotDetail) Event[RDSSnapshotDetail] {
	at = at.UTC()
	detailType := DetailTypeRDSSnapshot
	d.SourceType = "SNAPSHOT"
	if strings.Contains(d.SourceArn, ":cluster-snapshot:") {
		detailType, d.SourceType = DetailTypeRDSClusterSnapshot, "CLUSTER_SNAPSHOT"
	}
	d.Date = at.Format("2006-01-02T15:04:05.000Z")
	return Event[RDSSnapshotDetail]{
		Version:    "0",
		ID:         id,
		DetailType: detailType,
		Source:     SourceRDS,
		Account:    account,
		Time:       at.Format(time.RFC3339),
		Region:     region,
		Resources:  []string{d.SourceArn},
		Detail:     d,
	}
}

// The Federator's events: the transform's (a custom event the user's transform puts
// on the default bus) and S3's for the lake bucket, which sends every event type to
// EventBridge once enabled (S3 UG, "Using EventBridge").
const (
	SourceTransform             = "snaplake.transform"
	DetailTypeTransformFinished = "Transform Finished"
	SourceS3                    = "aws.s3"
	DetailTypeObjectCreated     = "Object Created"
)

// TransformFinishedDetail is the detail of a "Transform Finished" event: the tables
// (schema.table) the transform changed; none: every table the Federator publishes.
// A table it does not publish is ignored.
type TransformFinishedDetail struct {
	Tables []string `json:"tables,omitempty"`
}

// S3ObjectCreatedDetail is the detail of S3's "Object Created" event (S3 UG,
// "EventBridge event message structure"). VersionID is set in versioned buckets only;
// Reason is PutObject, POST Object, CopyObject or CompleteMultipartUpload.
type S3ObjectCreatedDetail struct {
	Version         string   `json:"version"`
	Bucket          S3Bucket `json:"bucket"`
	Object          S3Object `json:"object"`
	RequestID       string   `json:"request-id"`
	Requester       string   `json:"requester"`
	SourceIPAddress string   `json:"source-ip-address,omitempty"`
	Reason          string   `json:"reason"`
}

// S3Bucket names the bucket of an S3 event.
type S3Bucket struct {
	Name string `json:"name"`
}

// S3Object is the object of an S3 event. Sequencer orders the events of one key
// only (compare it as a hex number).
type S3Object struct {
	Key       string `json:"key"`
	Size      int64  `json:"size"`
	ETag      string `json:"etag"`
	VersionID string `json:"version-id,omitempty"`
	Sequencer string `json:"sequencer,omitempty"`
}

// S3ObjectCreated decodes the detail of an S3 "Object Created" event.
func (e Envelope) S3ObjectCreated() (S3ObjectCreatedDetail, error) {
	if e.Source != SourceS3 || e.DetailType != DetailTypeObjectCreated {
		return S3ObjectCreatedDetail{}, &InvalidEventError{Reason: fmt.Sprintf("want %s %q, got %s %q", SourceS3, DetailTypeObjectCreated, e.Source, e.DetailType)}
	}
	var d S3ObjectCreatedDetail
	if err := json.Unmarshal(e.Detail, &d); err != nil {
		return S3ObjectCreatedDetail{}, &InvalidEventError{Reason: fmt.Sprintf("S3 object created detail: %v", err)}
	}
	if d.Bucket.Name == "" || d.Object.Key == "" {
		return S3ObjectCreatedDetail{}, &InvalidEventError{Reason: "S3 object created detail lacks bucket.name or object.key"}
	}
	return d, nil
}

// NewS3ObjectCreatedEvent is the "Object Created" event S3 puts on the default bus for
// an object written at the given time: the bucket's ARN is its resource, d gives the
// rest.
func NewS3ObjectCreatedEvent(id, account, region string, at time.Time, d S3ObjectCreatedDetail) Event[S3ObjectCreatedDetail] {
	d.Version = "0"
	return Event[S3ObjectCreatedDetail]{
		Version:    "0",
		ID:         id,
		DetailType: DetailTypeObjectCreated,
		Source:     SourceS3,
		Account:    account,
		Time:       at.UTC().Format(time.RFC3339),
		Region:     region,
		Resources:  []string{"arn:aws:s3:::" + d.Bucket.Name},
		Detail:     d,
	}
}
