package callback

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/rds"
	"github.com/aws/aws-sdk-go-v2/service/sfn"
	sfntypes "github.com/aws/aws-sdk-go-v2/service/sfn/types"

	"github.com/snaplake/snaplake/events"
	"github.com/snaplake/snaplake/internal/aws/awserr"
)

// SFN is the part of Step Functions the resume function calls.
type SFN interface {
	SendTaskSuccess(ctx context.Context, in *sfn.SendTaskSuccessInput, optFns ...func(*sfn.Options)) (*sfn.SendTaskSuccessOutput, error)
	SendTaskFailure(ctx context.Context, in *sfn.SendTaskFailureInput, optFns ...func(*sfn.Options)) (*sfn.SendTaskFailureOutput, error)
}

// Error names a resumed wait fails with; the state machine catches them.
const (
	ErrExportFailed   = "ExportFailed"
	ErrExportCanceled = "ExportCanceled"
	ErrCrawlerFailed  = "CrawlerFailed"
)

// Resume outcomes, logged and returned.
const (
	OutcomeSucceeded = "resumed-success"
	OutcomeFailed    = "resumed-failure"
	OutcomeNoWaiter  = "no-waiter"
	OutcomeIgnored   = "ignored"
	OutcomeStale     = "stale"
	OutcomeGone      = "execution-gone"
)

// ResumeResult says what the resume function did with an event.
type ResumeResult struct {
	Outcome   string `json:"outcome"`
	Kind      string `json:"kind,omitempty"`
	Key       string `json:"key,omitempty"`
	Execution string `json:"execution,omitempty"`
}

// ResumeHandler turns export and crawler events into SendTaskSuccess / SendTaskFailure
// for the one execution that waits for that snapshot or that crawl.
type ResumeHandler struct {
	Store Store
	SFN   SFN
	// RDS, when set, gives a failed export's FailureCause: RDS-EVENT-0159 itself only
	// says that the export failed.
	RDS ExportStatus
	Log *slog.Logger
}

type verdict struct {
	kind, key    string
	ok           bool
	errName      string
	cause        string
	completedAt  time.Time // crawls only: when the run ended
	output       any
	ignoreReason string
}

// Handle is HandleEvent with throttling surfaced as awserr.ThrottledError.
func (h ResumeHandler) Handle(ctx context.Context, raw json.RawMessage) (ResumeResult, error) {
	res, err := h.HandleEvent(ctx, raw)
	return res, awserr.Surface(err)
}

// HandleEvent processes one EventBridge event. An event nobody waits for is logged and
// acknowledged, so EventBridge does not retry it forever.
func (h ResumeHandler) HandleEvent(ctx context.Context, raw json.RawMessage) (ResumeResult, error) {
	v, err := judge(raw)
	if err != nil {
		h.Log.WarnContext(ctx, "rejecting event", "error", err)
		return ResumeResult{}, err
	}
	log := h.Log.With("kind", v.kind, "key", v.key)
	if v.ignoreReason != "" {
		log.InfoContext(ctx, "ignoring event", "reason", v.ignoreReason)
		return ResumeResult{Outcome: OutcomeIgnored, Kind: v.kind, Key: v.key}, nil
	}
	w, found, err := h.Store.Get(ctx, v.kind, v.key)
	if err != nil {
		return ResumeResult{}, err
	}
	if !found {
		log.InfoContext(ctx, "no execution waits for this event; acknowledged")
		return ResumeResult{Outcome: OutcomeNoWaiter, Kind: v.kind, Key: v.key}, nil
	}
	res := ResumeResult{Kind: v.kind, Key: v.key, Execution: w.Execution}
	log = log.With("execution", w.Execution)
	// A crawler is shared by executions one after another: an event for a run that
	// ended before this wait began belongs to an earlier execution. Glue reports
	// completionDate in whole seconds, so compare at that precision.
	if !v.completedAt.IsZero() && v.completedAt.Before(w.RegisteredAt.Truncate(time.Second)) {
		log.InfoContext(ctx, "event is older than the wait; acknowledged", "completedAt", v.completedAt, "registeredAt", w.RegisteredAt)
		res.Outcome = OutcomeStale
		return res, nil
	}
	if v.ok {
		out, err := json.Marshal(v.output)
		if err != nil {
			return ResumeResult{}, fmt.Errorf("encode output for %s/%s: %w", v.kind, v.key, err)
		}
		_, err = h.SFN.SendTaskSuccess(ctx, &sfn.SendTaskSuccessInput{TaskToken: aws.String(w.Token), Output: aws.String(string(out))})
		res.Outcome = OutcomeSucceeded
		if err = settle(ctx, log, w, err, &res); err != nil {
			return ResumeResult{}, err
		}
	} else {
		if v.kind == KindExport {
			v.cause = h.exportCause(ctx, log, w, v.cause)
		}
		_, err = h.SFN.SendTaskFailure(ctx, &sfn.SendTaskFailureInput{TaskToken: aws.String(w.Token), Error: aws.String(v.errName), Cause: aws.String(truncate(v.cause, 32768))})
		res.Outcome = OutcomeFailed
		if err = settle(ctx, log, w, err, &res); err != nil {
			return ResumeResult{}, err
		}
	}
	if err := h.Store.Delete(ctx, w.Kind, w.Key); err != nil {
		return ResumeResult{}, err
	}
	log.InfoContext(ctx, "resumed execution", "outcome", res.Outcome, "error", v.errName)
	return res, nil
}

// exportCause is RDS's FailureCause of the wait's export, or the event's message when
// RDS cannot say (the notification must still go out).
func (h ResumeHandler) exportCause(ctx context.Context, log *slog.Logger, w Wait, message string) string {
	if h.RDS == nil || w.ExportID == "" {
		return message
	}
	out, err := h.RDS.DescribeExportTasks(ctx, &rds.DescribeExportTasksInput{ExportTaskIdentifier: aws.String(w.ExportID)})
	if err != nil || len(out.ExportTasks) == 0 {
		log.WarnContext(ctx, "could not read the export's failure cause; the notification carries the event's message", "exportId", w.ExportID, "error", err)
		return message
	}
	task := out.ExportTasks[0]
	cause := aws.ToString(task.FailureCause)
	if cause == "" {
		cause = message
	}
	return fmt.Sprintf("export %s is %s: %s", w.ExportID, aws.ToString(task.Status), cause)
}

// settle treats a token Step Functions no longer knows (timed out, already answered)
// as done: retrying would never succeed.
func settle(ctx context.Context, log *slog.Logger, w Wait, err error, res *ResumeResult) error {
	if err == nil {
		return nil
	}
	var gone *sfntypes.TaskDoesNotExist
	var timedOut *sfntypes.TaskTimedOut
	var invalid *sfntypes.InvalidToken
	if errors.As(err, &gone) || errors.As(err, &timedOut) || errors.As(err, &invalid) {
		log.WarnContext(ctx, "the waiting execution is gone; dropping its token", "error", err)
		res.Outcome = OutcomeGone
		return nil
	}
	return fmt.Errorf("resume execution %s waiting for %s/%s: %w", w.Execution, w.Kind, w.Key, err)
}

func judge(raw json.RawMessage) (verdict, error) {
	env, err := events.ParseEnvelope(raw)
	if err != nil {
		return verdict{}, err
	}
	switch env.Source {
	case events.SourceRDS:
		d, err := env.RDSSnapshot()
		if err != nil {
			return verdict{}, err
		}
		v := verdict{kind: KindExport, key: d.SourceIdentifier, cause: d.Message,
			output: map[string]string{"status": "COMPLETE", "eventId": d.EventID, "snapshotId": d.SourceIdentifier, "message": d.Message, "date": d.Date}}
		// A cluster snapshot's export ends with the cluster event ids (RDS DB Cluster
		// Snapshot Event); the wait is keyed by the snapshot id either way.
		switch d.EventID {
		case events.EventExportCompleted, events.EventClusterExportCompleted:
			v.ok = true
		case events.EventExportFailed, events.EventClusterExportFailed:
			v.errName = ErrExportFailed
		case events.EventExportCanceled, events.EventClusterExportCanceled:
			v.errName = ErrExportCanceled
		default:
			v.ignoreReason = "event " + d.EventID + " is not an export outcome"
		}
		return v, nil
	case events.SourceGlue:
		d, err := env.CrawlerState()
		if err != nil {
			return verdict{}, err
		}
		v := verdict{kind: KindCrawl, key: d.CrawlerName, output: d}
		if t, err := time.Parse(time.RFC3339Nano, d.CompletionDate); err == nil {
			v.completedAt = t
		}
		switch d.State {
		case events.CrawlerSucceeded:
			v.ok = true
		case events.CrawlerFailed:
			v.errName = ErrCrawlerFailed
			v.cause = d.ErrorMessage
			if v.cause == "" {
				v.cause = d.Message
			}
		default:
			v.ignoreReason = "crawler state " + d.State + " is not an outcome"
		}
		return v, nil
	default:
		return verdict{}, &events.InvalidEventError{Reason: fmt.Sprintf("source %q is neither %s nor %s", env.Source, events.SourceRDS, events.SourceGlue)}
	}
}

func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n]
}
