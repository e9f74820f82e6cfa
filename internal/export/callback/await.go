package callback

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/glue"
	gluetypes "github.com/aws/aws-sdk-go-v2/service/glue/types"
	"github.com/aws/aws-sdk-go-v2/service/rds"
	"github.com/aws/aws-sdk-go-v2/service/sfn"

	"github.com/snaplake/snaplake/internal/aws/awserr"
	"github.com/snaplake/snaplake/internal/aws/crawlers"
)

// ExportStatus is the RDS call that tells whether an export already finished.
type ExportStatus interface {
	DescribeExportTasks(ctx context.Context, in *rds.DescribeExportTasksInput, optFns ...func(*rds.Options)) (*rds.DescribeExportTasksOutput, error)
}

// Crawlers is the part of Glue the crawl wait uses: it points the crawler at the
// night's table folders, then starts it.
type Crawlers interface {
	GetCrawler(ctx context.Context, in *glue.GetCrawlerInput, optFns ...func(*glue.Options)) (*glue.GetCrawlerOutput, error)
	UpdateCrawler(ctx context.Context, in *glue.UpdateCrawlerInput, optFns ...func(*glue.Options)) (*glue.UpdateCrawlerOutput, error)
	StartCrawler(ctx context.Context, in *glue.StartCrawlerInput, optFns ...func(*glue.Options)) (*glue.StartCrawlerOutput, error)
}

// AwaitRequest is what a waitForTaskToken state sends to the await function.
type AwaitRequest struct {
	Kind      string `json:"kind"`
	Key       string `json:"key"`
	Token     string `json:"token"`
	Execution string `json:"execution"`
	// ExecutionStartedAt ($$.Execution.StartTime) orders executions waiting for one
	// export: the newest waits, the older ones end as superseded.
	ExecutionStartedAt string `json:"executionStartedAt,omitempty"`
	ExportID           string `json:"exportId,omitempty"` // kind export: the export task to check
	// TimeoutSeconds is the waiting state's timeout: a crawl wait older than that
	// belongs to an execution that gave up, and no longer holds the crawler.
	TimeoutSeconds int `json:"timeoutSeconds,omitempty"`
	// Folder and Tables (kind crawl) are the database's folder under the data prefix
	// and its table folders: the crawler gets one include path per table.
	Folder string   `json:"folder,omitempty"`
	Tables []string `json:"tables,omitempty"`
}

// AwaitResult acknowledges the stored wait (the execution itself waits for the callback).
type AwaitResult struct {
	Kind       string `json:"kind"`
	Key        string `json:"key"`
	Finished   bool   `json:"finished,omitempty"`   // the awaited thing had already ended; the wait was resumed at once
	Superseded bool   `json:"superseded,omitempty"` // a newer execution waits for this export instead
}

// StatusSuperseded is the "status" of an export wait's output when a newer execution
// took the wait over: the state machine then ends this execution as Superseded.
const StatusSuperseded = "superseded"

// CrawlerNotFoundError says no crawler has that name.
type CrawlerNotFoundError struct{ Crawler string }

func (e *CrawlerNotFoundError) Error() string { return "crawler " + e.Crawler + " does not exist" }

// CrawlerNotOursError: a crawler of the name this stack would use runs as another
// role or writes another Glue database (crawler names are account-wide: another
// stack's, or one made by hand). The wait neither points nor starts it.
type CrawlerNotOursError struct{ Crawler, Role, Database, WantRole, WantDatabase string }

func (e *CrawlerNotOursError) Error() string {
	return fmt.Sprintf("crawler %s is not this stack's: it runs as %s into Glue database %s, this stack's would run as %s into %s; rename or delete it", e.Crawler, e.Role, e.Database, e.WantRole, e.WantDatabase)
}

// AwaitHandler parks a task token under its correlation key BEFORE the awaited thing
// can end, so its event always finds the token:
//   - kind crawl: stores the token, then starts the crawler itself;
//   - kind export: stores the token, then asks RDS whether the export already ended
//     (a re-run, or an export faster than this call) and if so resumes the wait itself.
type AwaitHandler struct {
	Store Store
	SFN   SFN
	RDS   ExportStatus
	Glue  Crawlers
	// NewCatalogs, when set, catalogs a database that has no crawler yet (nil: such
	// a crawl fails with CrawlerNotFoundError).
	NewCatalogs *NewCatalogs
	// DataPrefix is where the table folders live in the store's bucket ("data/").
	DataPrefix string
	Log        *slog.Logger
	Now        func() time.Time // defaults to time.Now
}

// Handle is HandleWait with throttling surfaced as awserr.ThrottledError, which the
// state machine retries with a long backoff.
func (h AwaitHandler) Handle(ctx context.Context, req AwaitRequest) (AwaitResult, error) {
	res, err := h.HandleWait(ctx, req)
	return res, awserr.Surface(err)
}

// HandleWait stores the wait and triggers or checks what it waits for. Of two
// executions waiting for one export, the one started later keeps the wait and the
// other is resumed as superseded, so a re-sent snapshot event never orphans an export.
func (h AwaitHandler) HandleWait(ctx context.Context, req AwaitRequest) (AwaitResult, error) {
	now := time.Now
	if h.Now != nil {
		now = h.Now
	}
	if err := validate(req.Kind, req.Key); err != nil {
		return AwaitResult{}, err
	}
	if req.Kind == KindExport && req.ExportID == "" {
		return AwaitResult{}, &InvalidWaitError{Field: "exportId", Reason: "is required for an export wait"}
	}
	log := h.Log.With("kind", req.Kind, "key", req.Key, "execution", req.Execution)
	w := Wait{Kind: req.Kind, Key: req.Key, Token: req.Token, Execution: req.Execution, RegisteredAt: now().UTC(), ExportID: req.ExportID}
	if req.ExecutionStartedAt != "" {
		t, err := time.Parse(time.RFC3339Nano, req.ExecutionStartedAt)
		if err != nil {
			return AwaitResult{}, &InvalidWaitError{Field: "executionStartedAt", Reason: fmt.Sprintf("%q is not an RFC 3339 time", req.ExecutionStartedAt)}
		}
		w.ExecutionStartedAt = t.UTC()
	}
	if req.TimeoutSeconds > 0 {
		w.ExpiresAt = w.RegisteredAt.Add(time.Duration(req.TimeoutSeconds) * time.Second)
	}
	res := AwaitResult{Kind: req.Kind, Key: req.Key}
	switch req.Kind {
	case KindCrawl:
		if err := h.parkCrawl(ctx, log, w); err != nil {
			return AwaitResult{}, err
		}
		err := h.pointCrawler(ctx, log, req)
		if err == nil {
			err = h.startCrawler(ctx, req.Key)
		}
		if err != nil {
			// Nothing will resume this token: drop it (if still ours); the state's
			// retry parks a new one.
			if cur, ok, gerr := h.Store.Get(ctx, req.Kind, req.Key); gerr == nil && ok && cur.Token == w.Token {
				if derr := h.Store.Delete(ctx, req.Kind, req.Key); derr != nil {
					log.WarnContext(ctx, "could not drop the token of a crawl that did not start", "error", derr)
				}
			}
			return AwaitResult{}, err
		}
		log.InfoContext(ctx, "started crawler; waiting for its state change event")
	case KindExport:
		prev, ok, err := h.Store.Get(ctx, req.Kind, req.Key)
		if err != nil {
			return AwaitResult{}, err
		}
		if ok && prev.Execution != req.Execution && newer(prev, w) {
			log.InfoContext(ctx, "a newer execution waits for this export; ending this one as superseded", "newerExecution", prev.Execution)
			if err := h.supersede(ctx, log, w, prev.Execution); err != nil {
				return AwaitResult{}, err
			}
			res.Superseded = true
			return res, nil
		}
		if err := h.Store.Put(ctx, w); err != nil {
			return AwaitResult{}, err
		}
		if ok && prev.Execution != req.Execution {
			log.InfoContext(ctx, "took over the wait of an older execution; ending it as superseded", "olderExecution", prev.Execution)
			if err := h.supersede(ctx, log, prev, w.Execution); err != nil {
				return AwaitResult{}, err
			}
		}
		finished, err := h.checkExport(ctx, log, w, req.ExportID)
		if err != nil {
			return AwaitResult{}, err
		}
		res.Finished = finished
		if !finished {
			log.InfoContext(ctx, "waiting for the export's completion event", "exportId", req.ExportID)
		}
	}
	return res, nil
}

// newer reports whether a was started after b (ties broken by execution name, so two
// executions always agree on which is newer). A wait without a start time is older.
func newer(a, b Wait) bool {
	if !a.ExecutionStartedAt.Equal(b.ExecutionStartedAt) {
		return a.ExecutionStartedAt.After(b.ExecutionStartedAt)
	}
	return a.Execution > b.Execution
}

// supersede resumes w's execution with status "superseded": it ends cleanly, and the
// newer execution relocates and crawls. A token Step Functions no longer knows is
// already ended.
func (h AwaitHandler) supersede(ctx context.Context, log *slog.Logger, w Wait, by string) error {
	body, err := json.Marshal(map[string]string{"status": StatusSuperseded, "supersededBy": by, "snapshotId": w.Key})
	if err != nil {
		return err
	}
	_, serr := h.SFN.SendTaskSuccess(ctx, &sfn.SendTaskSuccessInput{TaskToken: aws.String(w.Token), Output: aws.String(string(body))})
	var res ResumeResult
	return settle(ctx, log.With("execution", w.Execution), w, serr, &res)
}

// pointCrawler sets the crawler's include paths to exactly the database's table
// folders, one per table, so a crawl never depends on how Glue groups folders into
// tables (customer/ never takes in customer_address/). UpdateCrawler's handling of
// omitted fields is not documented, so every field of the current definition is sent.
func (h AwaitHandler) pointCrawler(ctx context.Context, log *slog.Logger, req AwaitRequest) error {
	if len(req.Tables) == 0 {
		return &InvalidWaitError{Field: "tables", Reason: "a crawl needs the table folders to crawl"}
	}
	if req.Folder == "" || strings.Contains(req.Folder, "/") {
		return &InvalidWaitError{Field: "folder", Reason: fmt.Sprintf("%q is not one folder name", req.Folder)}
	}
	if h.Glue == nil {
		return fmt.Errorf("point crawler %s: no Glue client configured", req.Key)
	}
	got, err := h.Glue.GetCrawler(ctx, &glue.GetCrawlerInput{Name: aws.String(req.Key)})
	var notFound *gluetypes.EntityNotFoundException
	if errors.As(err, &notFound) && h.NewCatalogs != nil {
		if err := h.NewCatalogs.create(ctx, log, h.Store.Bucket, h.DataPrefix, req.Folder, req.Key); err != nil {
			return err
		}
		got, err = h.Glue.GetCrawler(ctx, &glue.GetCrawlerInput{Name: aws.String(req.Key)})
	}
	if errors.As(err, &notFound) {
		return &CrawlerNotFoundError{Crawler: req.Key}
	}
	if err != nil {
		return fmt.Errorf("read crawler %s: %w", req.Key, err)
	}
	if h.NewCatalogs != nil {
		// Its IAM reaches every crawler named snaplake-*, so it checks that this one
		// is the stack's before it changes or starts it.
		if err := h.NewCatalogs.owns(got.Crawler, req.Folder); err != nil {
			return err
		}
	}
	paths := make([]string, 0, len(req.Tables))
	for _, t := range req.Tables {
		if t == "" || strings.Contains(t, "/") {
			return &InvalidWaitError{Field: "tables", Reason: fmt.Sprintf("%q is not one folder name", t)}
		}
		paths = append(paths, "s3://"+h.Store.Bucket+"/"+h.DataPrefix+req.Folder+"/"+t+"/")
	}
	in := crawlers.UpdateInput(got.Crawler, paths)
	_, err = h.Glue.UpdateCrawler(ctx, in)
	var running *gluetypes.CrawlerRunningException
	switch {
	case errors.As(err, &running):
		return &crawlers.CrawlerRunningError{Crawler: req.Key}
	case err != nil:
		return fmt.Errorf("point crawler %s at %d table folders: %w", req.Key, len(req.Tables), err)
	}
	log.InfoContext(ctx, "pointed the crawler at the table folders", "folder", req.Folder, "tables", len(req.Tables))
	return nil
}

// parkCrawl stores a crawl wait without ever replacing another execution's live one:
// executions share a crawler one after another, and the event of the running crawl
// must find the token of the execution that started it.
func (h AwaitHandler) parkCrawl(ctx context.Context, log *slog.Logger, w Wait) error {
	prev, ok, err := h.Store.Get(ctx, w.Kind, w.Key)
	if err != nil {
		return err
	}
	if ok && prev.Execution == w.Execution {
		return h.Store.Put(ctx, w) // this execution's own retry
	}
	if ok {
		if prev.ExpiresAt.IsZero() || w.RegisteredAt.Before(prev.ExpiresAt) {
			return &crawlers.CrawlerRunningError{Crawler: w.Key, Holder: prev.Execution}
		}
		log.WarnContext(ctx, "taking over the crawler from an execution whose wait expired", "previousExecution", prev.Execution, "expiredAt", prev.ExpiresAt)
		if err := h.Store.Delete(ctx, w.Kind, w.Key); err != nil {
			return err
		}
	}
	if err := h.Store.PutNew(ctx, w); err != nil {
		if errors.Is(err, ErrWaitExists) {
			return &crawlers.CrawlerRunningError{Crawler: w.Key}
		}
		return err
	}
	return nil
}

func (h AwaitHandler) startCrawler(ctx context.Context, name string) error {
	if h.Glue == nil {
		return fmt.Errorf("start crawler %s: no Glue client configured", name)
	}
	_, err := h.Glue.StartCrawler(ctx, &glue.StartCrawlerInput{Name: aws.String(name)})
	var running *gluetypes.CrawlerRunningException
	var notFound *gluetypes.EntityNotFoundException
	switch {
	case err == nil:
		return nil
	case errors.As(err, &running):
		return &crawlers.CrawlerRunningError{Crawler: name}
	case errors.As(err, &notFound):
		return &CrawlerNotFoundError{Crawler: name}
	default:
		return fmt.Errorf("start crawler %s: %w", name, err)
	}
}

// checkExport resumes the wait at once when the export has already ended.
func (h AwaitHandler) checkExport(ctx context.Context, log *slog.Logger, w Wait, exportID string) (bool, error) {
	if h.RDS == nil || h.SFN == nil {
		return false, nil
	}
	out, err := h.RDS.DescribeExportTasks(ctx, &rds.DescribeExportTasksInput{ExportTaskIdentifier: aws.String(exportID)})
	if err != nil {
		return false, fmt.Errorf("check export %s: %w", exportID, err)
	}
	if len(out.ExportTasks) == 0 {
		return false, nil
	}
	task := out.ExportTasks[0]
	status := strings.ToUpper(aws.ToString(task.Status))
	var serr error
	switch status {
	case "COMPLETE":
		body, _ := json.Marshal(map[string]string{"exportId": exportID, "status": "COMPLETE", "snapshotId": w.Key})
		_, serr = h.SFN.SendTaskSuccess(ctx, &sfn.SendTaskSuccessInput{TaskToken: aws.String(w.Token), Output: aws.String(string(body))})
	case "FAILED":
		cause := aws.ToString(task.FailureCause)
		if cause == "" {
			cause = "export " + exportID + " failed; RDS reported no cause"
		}
		_, serr = h.SFN.SendTaskFailure(ctx, &sfn.SendTaskFailureInput{TaskToken: aws.String(w.Token), Error: aws.String(ErrExportFailed), Cause: aws.String(cause)})
	case "CANCELED", "CANCELING":
		_, serr = h.SFN.SendTaskFailure(ctx, &sfn.SendTaskFailureInput{TaskToken: aws.String(w.Token), Error: aws.String(ErrExportCanceled), Cause: aws.String("export " + exportID + " was canceled")})
	default:
		return false, nil
	}
	var res ResumeResult
	if err := settle(ctx, log, w, serr, &res); err != nil {
		return false, err
	}
	if err := h.Store.Delete(ctx, w.Kind, w.Key); err != nil {
		return false, err
	}
	log.InfoContext(ctx, "export had already ended; resumed the wait at once", "exportId", exportID, "status", status)
	return true, nil
}
