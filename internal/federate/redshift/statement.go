package redshift

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"time"
)

// The Data API is asynchronous: ExecuteStatement answers with a statement id at once,
// DescribeStatement reports the statement's status (SUBMITTED, PICKED, STARTED, then
// FINISHED, FAILED or ABORTED) and CancelStatement stops it. A long UNLOAD or COPY
// therefore needs no caller that lives as long as it: the Federator's workflows
// submit it, keep its id, and poll. Warehouse exposes that split (SubmitUnload,
// SubmitCopy, Describe, Cancel, UnloadedFiles); Unload and Copy below are the
// submit-and-wait form for callers that can wait (the command line, tests).

// Statement statuses, as DescribeStatement reports them.
const (
	StatusSubmitted = "SUBMITTED"
	StatusPicked    = "PICKED"
	StatusStarted   = "STARTED"
	StatusFinished  = "FINISHED"
	StatusFailed    = "FAILED"
	StatusAborted   = "ABORTED"
)

// Statement is a submitted statement's state, as DescribeStatement reports it.
type Statement struct {
	ID     string
	Status string
	// Error is the warehouse's message of a FAILED statement.
	Error string
	// ResultRows is what a FINISHED statement affected (COPY: the rows loaded);
	// -1 when the warehouse does not say.
	ResultRows int64
	// SQL is the statement's first line, for messages.
	SQL string
	// Warehouse names the database (Name()), for messages.
	Warehouse string

	// err is the stand-in's own error of a FAILED statement (keeps its type: a
	// *TableNotFoundError, a *BucketRegionError...).
	err error
}

// Running says the statement has not ended yet.
func (s Statement) Running() bool {
	switch s.Status {
	case StatusFinished, StatusFailed, StatusAborted:
		return false
	}
	return true
}

// Err is the failure of a statement that ended FAILED or ABORTED, else nil.
func (s Statement) Err() error {
	if s.Status != StatusFailed && s.Status != StatusAborted {
		return nil
	}
	if s.err != nil {
		return s.err
	}
	return &StatementError{Warehouse: s.Warehouse, ID: s.ID, Status: s.Status, Message: s.Error, SQL: s.SQL}
}

// StatementNotFoundError is DescribeStatement's or CancelStatement's
// ResourceNotFoundException: no statement has that id (or it expired: the Data API
// keeps a statement's metadata for 24 hours).
type StatementNotFoundError struct{ Warehouse, ID string }

func (e *StatementNotFoundError) Error() string {
	return fmt.Sprintf("redshift %s: statement %s: ResourceNotFoundException: Query does not exist.", e.Warehouse, e.ID)
}

// NotRunningError is CancelStatement's answer for a statement it did not cancel:
// "To be canceled, a query must be running" (API CancelStatement). The Data API says
// so either with Status false ("A value that indicates whether the cancel statement
// succeeded (true)") or with a ValidationException; which one is not documented, so
// both are this error, and the caller describes the statement again for its
// outcome. Reason is what the warehouse answered.
type NotRunningError struct{ Warehouse, ID, Reason string }

func (e *NotRunningError) Error() string {
	return fmt.Sprintf("redshift %s: cancel statement %s: not cancelled, it is not running (%s)", e.Warehouse, e.ID, e.Reason)
}

// Limits of the Data API (Amazon Redshift Management Guide, "Considerations when
// calling the Amazon Redshift Data API").
const (
	// MaxStatementDuration: "The maximum duration of a query is 24 hours."
	MaxStatementDuration = 24 * time.Hour
	// ClientTokenLifetime: "The ClientToken expires after 8 hours." A submission
	// repeated later with the same token may start a second statement, so a token
	// older than this is never reused (the caller treats the first submission's
	// outcome as unknown).
	ClientTokenLifetime = 8 * time.Hour
)

// NewToken is a fresh client token: the idempotency key of one submission.
func NewToken() string {
	b := make([]byte, 16)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}

// CopiedRows is what a FINISHED COPY of files loaded: the rows the warehouse reports,
// or, should it report none (-1), the rows the files were unloaded with, which is the
// same number since a COPY without MAXERROR loads every row or fails.
func CopiedRows(st Statement, files []File) int64 {
	if st.ResultRows >= 0 {
		return st.ResultRows
	}
	var rows int64
	for _, f := range files {
		rows += f.Rows
	}
	return rows
}

// Wait polls Describe until statement id ends, pausing from 20 ms up to poll. When
// ctx ends first, the statement is cancelled (so that it does not commit after the
// caller gave up) and the error says so.
func Wait(ctx context.Context, w Warehouse, id string, poll time.Duration) (Statement, error) {
	pause := min(20*time.Millisecond, poll)
	for {
		st, err := w.Describe(ctx, id)
		if err != nil && ctx.Err() == nil {
			return st, err
		}
		if err == nil && !st.Running() {
			return st, st.Err()
		}
		timer := time.NewTimer(pause)
		select {
		case <-ctx.Done():
			timer.Stop()
			cctx, stop := context.WithTimeout(context.WithoutCancel(ctx), 10*time.Second)
			cerr := w.Cancel(cctx, id)
			stop()
			if cerr != nil {
				return st, fmt.Errorf("redshift %s: wait for statement %s: %w; cancel request failed: %v", w.Name(), id, ctx.Err(), cerr)
			}
			return st, fmt.Errorf("redshift %s: wait for statement %s, cancelled: %w", w.Name(), id, ctx.Err())
		case <-timer.C:
		}
		pause = min(2*pause, poll)
	}
}

// Unload submits an UNLOAD, waits for it and returns its files.
func Unload(ctx context.Context, w Warehouse, query, prefix string, poll time.Duration) ([]File, error) {
	id, err := w.SubmitUnload(ctx, NewToken(), query, prefix)
	if err != nil {
		return nil, err
	}
	if _, err := Wait(ctx, w, id, poll); err != nil {
		return nil, err
	}
	return w.UnloadedFiles(ctx, id, prefix)
}

// Copy submits a COPY of files into schema.table, waits for it and returns the rows
// loaded. No files: nothing runs, 0 rows.
func Copy(ctx context.Context, w Warehouse, schema, table string, files []File, poll time.Duration) (int64, error) {
	if len(files) == 0 {
		return 0, nil
	}
	id, err := w.SubmitCopy(ctx, NewToken(), schema, table, files)
	if err != nil {
		return 0, err
	}
	st, err := Wait(ctx, w, id, poll)
	if err != nil {
		return 0, err
	}
	return CopiedRows(st, files), nil
}
