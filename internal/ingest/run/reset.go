package run

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"time"

	"github.com/snaplake/snaplake/internal/deploy"
	"github.com/snaplake/snaplake/internal/ingest"
	"github.com/snaplake/snaplake/internal/ingest/watermark"
)

// Resetter makes the next run of any set load one table from the beginning:
// `snaplake ingest reset --table db.t`. It takes the table's lease, the one the runs
// take, so that it never races a run: a run loading the table makes the reset fail
// (*TableBusyError), and a run starting while the reset holds the lease skips the
// table. It clears the table's watermark record (Mark.Cleared), then releases the
// lease.
//
// Nothing is deleted: an incremental table's earlier loads (load=<run>/) stay
// readable until the reload from the beginning is committed; the finish of that
// run then deletes them and drops their partitions, as for any load from the
// beginning. A fully reloaded table keeps its generation until the next reload
// replaces it.
type Resetter struct {
	S3       S3API
	Bucket   string
	KMSKeyID string
	// LeaseTTL bounds how long a reset that dies keeps the table (default
	// deploy.DefaultLeaseTTL; the reset holds it for a few requests).
	LeaseTTL time.Duration
	Now      func() time.Time
	Log      *slog.Logger
}

// ResetResult is what a reset changed (or, in a dry run, would change).
type ResetResult struct {
	Database string `json:"database"`
	Table    string `json:"table"`
	DryRun   bool   `json:"dryRun"`
	// By is the reset's name, in the lease and the record: reset-<time>.
	By string `json:"by"`
	// Watermark is the record's s3:// URI; Before and After the record.
	Watermark string         `json:"watermark"`
	Before    watermark.Mark `json:"before"`
	After     watermark.Mark `json:"after"`
	// Changes say, for people, what the reset does.
	Changes []string `json:"changes"`
	// HeldBy is the run holding the table's lease (a dry run reports it; a reset
	// fails with *TableBusyError).
	HeldBy *watermark.Lease `json:"heldBy,omitempty"`
	// TookOver names a dead run whose expired lease the reset took over; what it
	// wrote was removed.
	TookOver string `json:"tookOver,omitempty"`
}

// TableNameError says --table is not database.table.
type TableNameError struct{ Given string }

func (e *TableNameError) Error() string {
	return fmt.Sprintf("table %q is not <database>.<table> (the source database and table, as in the config: shop.orders)", e.Given)
}

// UnknownTableError says the lake has no record of the table: no run ever loaded it,
// or the name is wrong.
type UnknownTableError struct {
	Database, Table, Watermark string
}

func (e *UnknownTableError) Error() string {
	return fmt.Sprintf("table %s.%s has no watermark record (%s): no run has loaded it, or the name is wrong (database and table names are case-sensitive); nothing was changed", e.Database, e.Table, e.Watermark)
}

// TableBusyError says a run holds the table's lease: the reset changed nothing.
type TableBusyError struct {
	Table  string // database.table
	Holder watermark.Lease
}

func (e *TableBusyError) Error() string {
	return fmt.Sprintf("table %s is being loaded by run %s since %s (its lease expires %s): nothing was changed; reset it after the run has finished",
		e.Table, e.Holder.Run, e.Holder.Since.Format(time.RFC3339), e.Holder.ExpiresAt.Format(time.RFC3339))
}

// ParseTable splits database.table at the first dot (MySQL database names have
// none in practice; a table name may).
func ParseTable(s string) (database, table string, err error) {
	database, table, ok := strings.Cut(s, ".")
	if !ok || strings.TrimSpace(database) == "" || strings.TrimSpace(table) == "" {
		return "", "", &TableNameError{Given: s}
	}
	return database, table, nil
}

func (r *Resetter) now() time.Time {
	if r.Now != nil {
		return r.Now().UTC()
	}
	return time.Now().UTC()
}

func (r *Resetter) logger() *slog.Logger {
	if r.Log != nil {
		return r.Log
	}
	return slog.Default()
}

// Reset resets the table named database.table; dryRun only reports.
func (r *Resetter) Reset(ctx context.Context, name string, dryRun bool) (ResetResult, error) {
	db, table, err := ParseTable(name)
	if err != nil {
		return ResetResult{}, err
	}
	now := r.now()
	st := watermark.Store{S3: r.S3, Bucket: r.Bucket, KMSKeyID: r.KMSKeyID, Now: r.Now}
	res := ResetResult{Database: db, Table: table, DryRun: dryRun, By: "reset-" + now.Format("20060102T150405Z"),
		Watermark: "s3://" + r.Bucket + "/" + watermark.Key(db, table)}
	before, found, err := st.Mark(ctx, db, table)
	if err != nil {
		return res, err
	}
	if !found {
		return res, &UnknownTableError{Database: db, Table: table, Watermark: res.Watermark}
	}
	res.Before, res.After = before, before.Cleared(res.By, now)
	res.Changes = changes(res, before)
	if dryRun {
		l, held, err := st.Lease(ctx, db, table)
		if err != nil {
			return res, err
		}
		if held && l.ExpiresAt.After(now) {
			res.HeldBy = &l
		}
		return res, nil
	}
	ttl := r.LeaseTTL
	if ttl <= 0 {
		ttl = deploy.DefaultLeaseTTL
	}
	expired, err := st.Acquire(ctx, db, table, res.By, ttl)
	var held *watermark.HeldError
	if errors.As(err, &held) {
		return res, &TableBusyError{Table: db + "." + table, Holder: held.Lease}
	}
	if err != nil {
		return res, err
	}
	// From here the table is ours: no run loads it until the lease is released.
	release := func() {
		if rerr := st.Release(context.WithoutCancel(ctx), db, table, res.By); rerr != nil {
			r.logger().ErrorContext(ctx, "could not release the table's lease: it expires by itself", "table", db+"."+table, "error", rerr)
		}
	}
	// A run may have committed between the first read and the lease: clear what is
	// there now.
	before, found, err = st.Mark(ctx, db, table)
	if err != nil || !found {
		release()
		if err == nil {
			err = &UnknownTableError{Database: db, Table: table, Watermark: res.Watermark}
		}
		return res, err
	}
	res.Before, res.After = before, before.Cleared(res.By, now)
	res.Changes = changes(res, before)
	if expired != nil && before.LakeName != "" {
		// A run died holding the table: what it wrote was never committed.
		res.TookOver = expired.Run
		destination := ingest.RawPrefix + ingest.NormalizeName(db) + "/" + before.LakeName + "/"
		for _, dead := range []string{destination + ingest.LoadKey + "=" + expired.Run + "/", destination + ingest.GenerationKey + "=" + expired.Run + "/"} {
			if _, err := deletePrefix(ctx, r.S3, r.Bucket, dead); err != nil {
				release()
				return res, err
			}
		}
		res.Changes = append(res.Changes, "removed what the dead run "+expired.Run+" wrote (its lease had expired)")
	}
	if err := st.Commit(ctx, db, table, res.After); err != nil {
		release()
		return res, fmt.Errorf("reset %s.%s: %w", db, table, err)
	}
	r.logger().InfoContext(ctx, "table reset: the next run loads it from the beginning", "table", db+"."+table, "by", res.By, "clearedWatermark", before.Value, "clearedRun", before.Run)
	return res, nil
}

// changes says what clearing before does.
func changes(res ResetResult, before watermark.Mark) []string {
	var out []string
	switch {
	case before.Value != nil:
		out = append(out, fmt.Sprintf("clear the watermark %s = %s (committed by run %s): the next run of any set with the table loads every row again, into a new load folder, replacing the lake copy", before.Column, *before.Value, before.Run))
	case before.Mode == ingest.ModeFull || before.Generation != "":
		out = append(out, fmt.Sprintf("clear the record of run %s: the table is fully reloaded by every run anyway; its current generation %s stays until the next reload replaces it", before.Run, before.Generation))
	default:
		out = append(out, fmt.Sprintf("clear the record of run %s: the next run loads the table from the beginning", before.Run))
	}
	out = append(out, "clear every other field of "+res.Watermark+" (what other steps keep there, such as a current table's merge state, starts over); keep the lake name "+before.LakeName)
	if before.Value != nil {
		out = append(out, "keep the earlier loads (load=<run>/ under raw/"+ingest.NormalizeName(res.Database)+"/"+before.LakeName+"/) readable until the reload is committed; that run's finish then deletes them and drops their partitions")
	}
	return out
}
