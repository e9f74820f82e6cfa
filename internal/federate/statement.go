package federate

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"

	"github.com/snaplake/snaplake/internal/aws/s3obj"
	"github.com/snaplake/snaplake/internal/deploy"
	"github.com/snaplake/snaplake/internal/federate/redshift"
)

// A table's UNLOAD (publish) or COPY (subscribe) may run for hours, longer than any
// Lambda invocation. So no invocation waits for one: a step submits it, records it in
// the lake bucket (a StatementRecord, written before the wait), and returns a Wait;
// the workflow sleeps (a Wait state) and calls the next step, which describes the
// statement and either waits again, finishes the table, or, past Limits.Timeout,
// cancels the statement and reports the table failed. Every step looks the record up
// first: a retried step, or a later run after a crash, resumes the one running
// statement instead of submitting another. The run's lease is renewed at each step
// (one step's pause and a margin), so that a run that died frees the table soon.

// Limits bound the wait for one statement.
type Limits struct {
	// Timeout: a statement still running this long after it was submitted is
	// cancelled.
	Timeout time.Duration
	// Poll is the first pause between two checks; pauses grow to Timeout/48.
	Poll time.Duration
}

func (l Limits) orDefault() Limits {
	if l.Timeout <= 0 {
		l.Timeout = deploy.FederateStatementTimeout
	}
	if l.Poll <= 0 {
		l.Poll = deploy.FederateStatementPoll
	}
	return l
}

// Pause is how long to wait before the next check of a statement that has run for
// elapsed and must end by deadline: a quarter of elapsed (a statement that ran 4
// minutes is checked a minute later), at least Poll, at most Timeout/48 and never
// past the deadline; whole seconds, at least one (a Wait state's Seconds).
//
// Why these bounds: each check is a Choice, a Wait and a Lambda task in the
// execution's history, about 9 events. From Poll = 10s the pauses grow by a quarter
// each turn to Timeout/48 (15 minutes for 12 h), which takes about 20 turns, and the
// rest of the 12 hours take at most 48 more: under 70 turns, about 630 events, for a
// statement that runs to the limit, against a standard execution's 25,000.
func (l Limits) Pause(elapsed, left time.Duration) time.Duration {
	l = l.orDefault()
	p := max(elapsed/4, l.Poll)
	p = min(p, max(l.Timeout/48, l.Poll))
	if left > 0 {
		p = min(p, left)
	}
	p = p.Round(time.Second)
	return max(p, time.Second)
}

// Wait is a result's request to the workflow: wait Seconds, then call the step again
// ("poll").
type Wait struct {
	Seconds   int    `json:"seconds"`
	Statement string `json:"statement"` // the statement id, for the log and the history ("" for LEASE)
	Kind      string `json:"kind"`      // UNLOAD, COPY, SWAP, or LEASE (WaitLease: waiting for the subscriber's lease)
}

// Statement record states.
const (
	StatementRunning   = "running"
	StatementCancelled = "cancelled"
	// StatementFailed: the statement ended FAILED or ABORTED (not by this
	// Federator's cancel); the record stays for the back-off (RetryAfter).
	StatementFailed = "failed"
)

// The statements a table's record follows.
const (
	StatementUnload = "UNLOAD" // the publisher's
	StatementCopy   = "COPY"   // a subscriber's load of one version into the staging table
	// StatementSwap is a subscriber's swap of a loaded version into the table: one
	// transaction that, for a full version, deletes and re-inserts every row, so it
	// may run as long as the COPY and is followed the same way.
	StatementSwap = "SWAP"
)

// StatementRecord is a table's running UNLOAD, COPY or SWAP, as kept in the bucket
// (deploy.FederatePublishStatementKey, deploy.FederateSubscribeStatementKey).
type StatementRecord struct {
	Kind       string `json:"kind"` // UNLOAD | COPY | SWAP
	Table      string `json:"table"`
	Subscriber string `json:"subscriber,omitempty"`
	// Token is the submission's client token, written before the submission: a step
	// that died between submitting and recording the id submits again with it and
	// gets the same statement (within redshift.ClientTokenLifetime of Submitted).
	Token string `json:"token"`
	ID    string `json:"id,omitempty"`
	// Owner is the identity that submitted the statement (its aws:userid and ARN):
	// the Data API lets only the submitter's role describe or cancel it (the
	// redshift-data:statement-owner-iam-userid condition), so a record of another
	// identity (an operator's command line, another role) is reported, naming it.
	Owner *Identity `json:"owner,omitempty"`
	// SQL are the statements of a SWAP, submitted again as they are.
	SQL []string `json:"sql,omitempty"`
	// Failures counts the statements of this table that failed or were cancelled in
	// a row; RetryAfter is when the next may be submitted (the back-off, see
	// Backoff), Error why the last one failed.
	Failures   int        `json:"failures,omitempty"`
	RetryAfter *time.Time `json:"retryAfter,omitempty"`
	Error      string     `json:"error,omitempty"`
	// Run is the run (workflow execution) waiting for it.
	Run       string     `json:"run"`
	Submitted time.Time  `json:"submitted"`
	Deadline  time.Time  `json:"deadline"`
	State     string     `json:"state"` // running | cancelled
	Cancelled *time.Time `json:"cancelled,omitempty"`
	// CancelError is why the cancel request failed, if it did.
	CancelError string `json:"cancelError,omitempty"`

	// UNLOAD: the version being written, its kind, the version it follows, the
	// query and the columns.
	Version string            `json:"version,omitempty"`
	Query   string            `json:"query,omitempty"`
	After   string            `json:"after,omitempty"`
	Columns []redshift.Column `json:"columns,omitempty"`
	// COPY: the versions to load in order, the one being loaded (Index), the version
	// the control table held before it (From), and the rows loaded so far.
	Chain []string `json:"chain,omitempty"`
	Index int      `json:"index,omitempty"`
	From  string   `json:"from,omitempty"`
	Rows  int64    `json:"rows,omitempty"`
	// Plan is the definition change the first version of Chain makes (definition.go).
	Plan *DefinitionPlan `json:"plan,omitempty"`
}

// StatementCancelledError says a statement ran past the limit and was cancelled.
type StatementCancelledError struct {
	Kind, Table, Subscriber, ID, Warehouse string
	After, Limit                           time.Duration
	CancelErr                              string // why the cancel request failed, if it did
}

func (e *StatementCancelledError) Error() string {
	who := "publishing " + e.Table
	if e.Subscriber != "" {
		who = "subscriber " + e.Subscriber + " loading " + e.Table
	}
	s := fmt.Sprintf("%s: the %s (statement %s on %s) still ran after %s, past federate.statementTimeout (%s): cancelled",
		who, e.Kind, e.ID, e.Warehouse, e.After.Round(time.Second), e.Limit)
	if e.CancelErr != "" {
		s += "; the cancel request failed (" + e.CancelErr + "): the statement may go on"
	}
	return s
}

// Identity is an AWS identity as STS GetCallerIdentity reports it: UserID is its
// aws:userid (<role id>:<session name> for an assumed role, the user's id for an IAM
// user) and Arn its ARN.
type Identity struct {
	UserID string `json:"userId"`
	Arn    string `json:"arn,omitempty"`
}

// principal is the part of an aws:userid the stack's Data API policy scopes a
// statement to: the role's unique id of an assumed role (any session of the role),
// or the whole id of a user.
func (i Identity) principal() string {
	id, _, _ := strings.Cut(i.UserID, ":")
	return id
}

// Same says two identities are the same role (any session) or user.
func (i *Identity) Same(o *Identity) bool {
	return i != nil && o != nil && i.principal() == o.principal()
}

func (i Identity) String() string {
	if i.Arn != "" {
		return i.Arn + " (aws:userid " + i.UserID + ")"
	}
	return "aws:userid " + i.UserID
}

// StatementOwnerError says a table's statement record was written by another
// identity than this process's, and following it failed: the Data API lets only
// the statement's owner (the stack's policy: any session of the owner's role)
// describe or cancel it. The statement ends within redshift.MaxStatementDuration of
// its submission; the record is dropped then, and the table starts afresh.
type StatementOwnerError struct {
	Kind, Table, Subscriber, ID string
	Key                         string // the record's key in the bucket
	Owner, Caller               Identity
	Until                       time.Time // when the record is dropped
	Dropped                     bool      // it was dropped now
	Err                         error
}

func (e *StatementOwnerError) Error() string {
	who := "publishing " + e.Table
	if e.Subscriber != "" {
		who = "subscriber " + e.Subscriber + " loading " + e.Table
	}
	if e.Dropped {
		return fmt.Sprintf("%s: the %s (statement %s) cannot be followed by this identity (%s): %v. It was submitted by %s and is past the Data API's %s limit: its record %s was dropped, the next run starts afresh",
			who, e.Kind, e.ID, e.Caller, e.Err, e.Owner, redshift.MaxStatementDuration, e.Key)
	}
	// The workflow keeps a long error's start and end (run.MaxResultText): the
	// service's message goes in the middle, who submitted the statement and what to
	// do at the end.
	return fmt.Sprintf("%s: the %s (statement %s) cannot be followed by this identity (%s): %v. It was submitted by %s: run the same command as that identity to finish or cancel it, or delete %s; else the record is dropped at %s, when the Data API has ended it",
		who, e.Kind, e.ID, e.Caller, e.Err, e.Owner, e.Key, e.Until.Format(time.RFC3339))
}

func (e *StatementOwnerError) Unwrap() error { return e.Err }

// statement reads the record at key; found is false when there is none.
func (s Store) statement(ctx context.Context, key string) (StatementRecord, bool, error) {
	var r StatementRecord
	found, err := s3obj.GetJSON(ctx, s.S3, s.Bucket, key, &r)
	if err != nil {
		return r, false, fmt.Errorf("read the statement record %s: %w", key, err)
	}
	return r, found, nil
}

func (s Store) putStatement(ctx context.Context, key string, r StatementRecord) error {
	if err := s.putJSON(ctx, key, r, false); err != nil {
		return fmt.Errorf("record the %s of %s (statement %q): %w", r.Kind, r.Table, r.ID, err)
	}
	return nil
}

func (s Store) deleteStatement(ctx context.Context, key string) error {
	_, err := s.S3.DeleteObject(ctx, &s3.DeleteObjectInput{Bucket: aws.String(s.Bucket), Key: aws.String(key)})
	return err
}

// Statements lists the statement records of table: the running ones, and the last
// cancelled one of each publisher or subscriber.
func (s Store) Statements(ctx context.Context, table string) ([]StatementRecord, error) {
	prefix := deploy.FederateStatementPrefix + table + "/"
	var out []StatementRecord
	p := s3.NewListObjectsV2Paginator(s.S3, &s3.ListObjectsV2Input{Bucket: aws.String(s.Bucket), Prefix: aws.String(prefix)})
	for p.HasMorePages() {
		page, err := p.NextPage(ctx)
		if err != nil {
			return nil, fmt.Errorf("list s3://%s/%s: %w", s.Bucket, prefix, err)
		}
		for _, o := range page.Contents {
			if !strings.HasSuffix(aws.ToString(o.Key), ".json") {
				continue
			}
			r, found, err := s.statement(ctx, aws.ToString(o.Key))
			if err != nil {
				return nil, err
			}
			if found {
				out = append(out, r)
			}
		}
	}
	return out, nil
}

// step is what one step of a statement's wait found.
type step struct {
	st       redshift.Statement
	running  bool // still running, within the limit: wait again
	timedOut error
}

// check describes rec's statement; past the deadline it cancels it and records the
// cancellation (the record stays, state cancelled, for status to show).
func (s Store) check(ctx context.Context, wh redshift.Warehouse, key string, rec *StatementRecord, limits Limits, now time.Time) (step, error) {
	st, err := wh.Describe(ctx, rec.ID)
	var gone *redshift.StatementNotFoundError
	if errors.As(err, &gone) {
		// The warehouse no longer knows it (the Data API keeps a statement 24 hours):
		// its outcome is lost. The record goes, so that the next run starts afresh
		// rather than failing on it forever.
		_ = s.deleteStatement(context.WithoutCancel(ctx), key)
	}
	if err != nil && gone == nil && rec.Owner != nil && s.Identity != nil && !rec.Owner.Same(s.Identity) {
		// Another identity's statement (an operator's command line, or the other way
		// round): say whose, and drop the record once the statement cannot be running.
		e := &StatementOwnerError{Kind: rec.Kind, Table: rec.Table, Subscriber: rec.Subscriber, ID: rec.ID, Key: key,
			Owner: *rec.Owner, Caller: *s.Identity, Until: rec.Submitted.Add(redshift.MaxStatementDuration), Err: err}
		if !now.Before(e.Until) {
			e.Dropped = true
			if derr := s.deleteStatement(context.WithoutCancel(ctx), key); derr != nil {
				return step{}, errors.Join(e, derr)
			}
		}
		return step{}, e
	}
	if err != nil {
		return step{}, fmt.Errorf("follow the %s of %s (statement %s): %w", rec.Kind, rec.Table, rec.ID, err)
	}
	if !st.Running() {
		return step{st: st}, nil
	}
	if now.Before(rec.Deadline) {
		return step{st: st, running: true}, nil
	}
	cctx, stop := context.WithTimeout(context.WithoutCancel(ctx), 30*time.Second)
	defer stop()
	cerr := wh.Cancel(cctx, rec.ID)
	// Whatever the cancel answered, the statement may have ended meanwhile (the Data
	// API refuses to cancel a statement that is not running, by Status false or a
	// ValidationException): its outcome, when it has one, wins over the cancel.
	if st, err := wh.Describe(cctx, rec.ID); err == nil && !st.Running() && st.Status != redshift.StatusAborted {
		return step{st: st}, nil
	}
	at := now
	rec.State, rec.Cancelled = StatementCancelled, &at
	e := &StatementCancelledError{Kind: rec.Kind, Table: rec.Table, Subscriber: rec.Subscriber, ID: rec.ID, Warehouse: wh.Name(),
		After: now.Sub(rec.Submitted), Limit: limits.orDefault().Timeout}
	if cerr != nil {
		rec.CancelError, e.CancelErr = cerr.Error(), cerr.Error()
	}
	if err := s.putStatement(cctx, key, *rec); err != nil {
		return step{}, errors.Join(e, err)
	}
	return step{st: st, timedOut: e}, nil
}

// Backoff is how long a table waits before its next statement after failures
// failed or cancelled ones in a row, the last of which ran for ran: ran (at least
// deploy.FederateBackoffMin), doubled for each earlier failure, at most
// deploy.FederateBackoffMax.
func Backoff(ran time.Duration, failures int) time.Duration {
	d := max(ran, deploy.FederateBackoffMin)
	for i := 1; i < failures && d < deploy.FederateBackoffMax; i++ {
		d *= 2
	}
	return min(d, deploy.FederateBackoffMax)
}

// failed records that rec's statement failed or was cancelled (state, why), and
// when the table may try again.
func (s Store) failed(ctx context.Context, key string, rec StatementRecord, state string, why error, now time.Time) error {
	rec.State, rec.Error = state, why.Error()
	rec.Failures++
	retry := now.Add(Backoff(now.Sub(rec.Submitted), rec.Failures))
	rec.RetryAfter = &retry
	return s.putStatement(context.WithoutCancel(ctx), key, rec)
}

// BackoffError says a table is not tried now: its last statements failed, and it
// waits until RetryAfter (Backoff).
type BackoffError struct {
	Kind, Table string
	Failures    int
	RetryAfter  time.Time
	Last        string
}

func (e *BackoffError) Error() string {
	return fmt.Sprintf("%s of %s: %d failed or cancelled in a row, the last: %s; not submitted again before %s (back-off; delete its record under %s to retry now)",
		e.Kind, e.Table, e.Failures, e.Last, e.RetryAfter.Format(time.RFC3339), deploy.FederateStatementPrefix)
}

// settleMaxPause bounds the pause between two checks of a statement the submitting
// step watches (settle): at most 4 DescribeStatement calls a second per statement.
const settleMaxPause = 250 * time.Millisecond

// settle watches a statement the step has just submitted and recorded, for at most
// the first pause (Poll) and never more than a quarter of the time the invocation has
// left, and says whether it ended meanwhile. A statement that ends that soon (a small
// table, an append version of a few rows: most of a day's statements) is finished by
// the same step, without a Wait state: else every one would cost at least Poll
// (default 10 s), and a subscriber's tables, which load one after another, would
// add up those pauses. The statement is recorded before, so an invocation that dies
// while watching is resumed as any other; a longer statement is handed to the
// workflow, whose first pause is then due, as if it had waited.
func (l Limits) settle(ctx context.Context, wh redshift.Warehouse, id string) bool {
	budget := l.orDefault().Poll
	if deadline, ok := ctx.Deadline(); ok {
		budget = min(budget, time.Until(deadline)/4)
	}
	end := time.Now().Add(budget)
	for pause := 20 * time.Millisecond; ; pause = min(2*pause, settleMaxPause) {
		st, err := wh.Describe(ctx, id)
		if err != nil {
			return false // the workflow's next step describes it again, and says what failed
		}
		if !st.Running() {
			return true
		}
		left := time.Until(end)
		if left <= 0 {
			return false
		}
		timer := time.NewTimer(min(pause, left))
		select {
		case <-ctx.Done():
			timer.Stop()
			return false
		case <-timer.C:
		}
	}
}

// wait is the result's Wait for rec's statement.
func (l Limits) wait(rec StatementRecord, now time.Time) *Wait {
	p := l.Pause(now.Sub(rec.Submitted), rec.Deadline.Sub(now))
	return &Wait{Seconds: int(p / time.Second), Statement: rec.ID, Kind: rec.Kind}
}

// leaseMargin is what a waiting run's lease lasts beyond its next pause: the step's
// own time, and the workflow's latency.
const leaseMargin = 5 * time.Minute

// waitFor runs start and then its polls in this process until the result needs no
// more waiting (the command line and tests: no workflow sleeps for them). Pauses grow
// from 20 ms to the result's. When ctx ends (Ctrl-C) while a statement runs,
// interrupt stops it: nobody else follows a statement this identity submitted (the
// Data API lets only its owner's role), so it is not left running.
func waitFor(ctx context.Context, start func() Result, poll func() Result, interrupt func() Result) Result {
	res := start()
	pause := 20 * time.Millisecond
	for res.Wait != nil {
		timer := time.NewTimer(min(pause, time.Duration(res.Wait.Seconds)*time.Second))
		select {
		case <-ctx.Done():
			timer.Stop()
			return interrupt()
		case <-timer.C:
		}
		pause *= 2
		res = poll()
	}
	return res
}

// InterruptedError says the process waiting for a table's statement was
// interrupted, and the statement was cancelled (CancelErr: the cancel request
// failed, and it may go on).
type InterruptedError struct {
	Kind, Table, Subscriber, ID string
	Err                         error
	CancelErr                   string
}

func (e *InterruptedError) Error() string {
	who := "publishing " + e.Table
	if e.Subscriber != "" {
		who = "subscriber " + e.Subscriber + " loading " + e.Table
	}
	s := fmt.Sprintf("%s: interrupted (%v) while its %s (statement %s) ran: cancelled", who, e.Err, e.Kind, e.ID)
	if e.CancelErr != "" {
		s += "; the cancel request failed (" + e.CancelErr + "): the statement may go on"
	}
	return s
}

func (e *InterruptedError) Unwrap() error { return e.Err }

// interrupt cancels the running statement recorded at key and marks its record
// cancelled (no back-off: nothing failed). It runs after ctx ended, so on a context
// of its own.
func (s Store) interrupt(ctx context.Context, wh redshift.Warehouse, key string, now time.Time) error {
	cctx, stop := context.WithTimeout(context.WithoutCancel(ctx), 30*time.Second)
	defer stop()
	rec, found, err := s.statement(cctx, key)
	if err != nil || !found || rec.State != StatementRunning {
		return err
	}
	e := &InterruptedError{Kind: rec.Kind, Table: rec.Table, Subscriber: rec.Subscriber, ID: rec.ID, Err: ctx.Err()}
	if rec.ID != "" {
		var ended *redshift.NotRunningError
		if cerr := wh.Cancel(cctx, rec.ID); cerr != nil && !errors.As(cerr, &ended) {
			rec.CancelError, e.CancelErr = cerr.Error(), cerr.Error()
		}
	}
	rec.State, rec.Cancelled, rec.Error = StatementCancelled, &now, e.Error()
	if err := s.putStatement(cctx, key, rec); err != nil {
		return errors.Join(e, err)
	}
	return e
}
