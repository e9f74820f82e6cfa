package archive

import (
	"context"
	"database/sql/driver"
	"fmt"
	"strings"

	"github.com/snaplake/snaplake/internal/aws/mysqlparquet"
)

// deleteAll deletes the verified batches in order as they come, until every batch
// is deleted and no more come, the budget is spent or the run fails.
func (r *runner) deleteAll(ctx context.Context) error {
	for i := 0; ; i++ {
		r.mu.Lock()
		for {
			if r.err != nil || r.stopped {
				r.mu.Unlock()
				return nil
			}
			if i < len(r.m.Batches) && r.m.Batches[i].State != StateWritten {
				break
			}
			if i >= len(r.m.Batches) && r.producerDone {
				r.mu.Unlock()
				return nil
			}
			r.cond.Wait()
		}
		b := r.m.Batches[i]
		r.mu.Unlock()
		if b.State == StateDeleted {
			continue
		}
		if err := r.deleteBatch(ctx, i, b); err != nil {
			return err
		}
	}
}

// deleteBatch deletes the keys of a verified batch that are still older than the
// cutoff. The keys are taken from the table, in the batch's key range, and kept
// only when their hash is one of the object's in S3, read again now: a row inserted
// into the range after the batch was read is not in the object and stays, and a row
// deleted before (by a run stopped mid-batch) is simply no longer there, so the
// same code finishes a batch and resumes one.
func (r *runner) deleteBatch(ctx context.Context, i int, b Batch) error {
	obj, err := r.checkObject(ctx, b, true)
	if err != nil {
		return err
	}
	candidates, changed, err := r.verifiedKeys(ctx, b, obj.hashes)
	if err != nil {
		return err
	}
	r.log.Debug("archive: deleting a batch", "table", r.name, "batch", b.N, "keys", len(candidates), "changed", changed, "objectRows", obj.sum.rows, "set", len(obj.hashes))
	// Rows that changed between this read and their DELETE survive it too: they
	// count as changed after read as well.
	var deleted int64
	step := min(r.job.DeleteRows, (maxPlaceholders-1)/len(r.keys.names))
	del := "DELETE FROM " + mysqlparquet.QuoteIdentifier(r.job.Schema) + "." + mysqlparquet.QuoteIdentifier(r.job.Table) + " WHERE "
	for start := 0; start < len(candidates); start += step {
		if r.budgetSpent() {
			r.stopForBudget()
			return nil
		}
		if !r.lastDelete.IsZero() && r.job.Pause > 0 {
			if err := r.clock.Sleep(ctx, r.job.Pause); err != nil {
				return err
			}
		}
		ok, err := r.waitGentle(ctx, true)
		if err != nil {
			return err
		}
		if !ok {
			r.stopForBudget()
			return nil
		}
		chunk := candidates[start:min(start+step, len(candidates))]
		in, args, err := r.keys.in(chunk)
		if err != nil {
			return err
		}
		res, err := r.conn.ExecContext(ctx, del+in+" AND "+r.quotedColumn()+" < ?", append(args, r.cutoffArg())...)
		if err != nil {
			return fmt.Errorf("archive %s: batch %d: delete %d keys: %w", r.name, b.N, len(chunk), err)
		}
		r.lastDelete = r.clock.Now()
		n, err := res.RowsAffected()
		if err != nil {
			return fmt.Errorf("archive %s: batch %d: delete: %w", r.name, b.N, err)
		}
		if n < int64(len(chunk)) {
			// Fewer rows went than keys were given: those whose timestamp moved past
			// the cutoff stay, and those already gone were deleted by a statement of a
			// killed run that the server still finished after this run read the keys
			// (they were verified in S3 all the same). Only the rows still there count
			// as changed after read.
			left, err := r.present(ctx, chunk, in, args)
			if err != nil {
				return fmt.Errorf("archive %s: batch %d: %w", r.name, b.N, err)
			}
			n = int64(len(chunk)) - left
		}
		deleted += n
		if err := r.update(ctx, func(m *Manifest) { m.Batches[i].Deleted += n }); err != nil {
			return err
		}
		r.log.Debug("archive: deleted", "table", r.name, "batch", b.N, "rows", n)
	}
	changed += int64(len(candidates)) - deleted
	var final Batch
	if err := r.update(ctx, func(m *Manifest) {
		m.Batches[i].State = StateDeleted
		m.Batches[i].Changed = changed
		// The statements' counts miss a statement whose manifest write a killed run
		// did not make; what is exact is the batch's rows no longer in the table.
		m.Batches[i].Deleted = b.Rows - changed
		final = m.Batches[i]
	}); err != nil {
		return err
	}
	if changed > 0 {
		r.log.Info("archive: rows changed after they were read were kept", "table", r.name, "batch", b.N, "rows", changed)
	}
	r.progress(final)
	return nil
}

// verifiedKeys reads the keys in b's range, with whether each row is still older
// than the cutoff, and keeps those whose hash is in the object: the old ones to
// delete, and the count of those that moved past the cutoff.
func (r *runner) verifiedKeys(ctx context.Context, b Batch, inObject map[uint64]struct{}) ([]Key, int64, error) {
	lo, loArgs, err := r.keys.compare(">", true, b.First)
	if err != nil {
		return nil, 0, err
	}
	hi, hiArgs, err := r.keys.compare("<", true, b.Last)
	if err != nil {
		return nil, 0, err
	}
	q := "SELECT " + strings.Join(r.keys.quoted, ", ") + ", " + r.quotedColumn() + " < ? FROM " +
		mysqlparquet.QuoteIdentifier(r.job.Schema) + "." + mysqlparquet.QuoteIdentifier(r.job.Table) +
		" FORCE INDEX (PRIMARY) WHERE " + lo + " AND " + hi + " ORDER BY " + strings.Join(r.keys.quoted, ", ")
	args := append(append([]any{r.cutoffArg()}, loArgs...), hiArgs...)
	rows, err := r.conn.QueryContext(ctx, q, args...)
	if err != nil {
		return nil, 0, fmt.Errorf("archive %s: batch %d: read its keys: %w", r.name, b.N, err)
	}
	defer rows.Close()
	nk := len(r.keys.names)
	raw := make([]any, nk+1)
	dest := make([]any, nk+1)
	for i := range raw {
		dest[i] = &raw[i]
	}
	vals := make([]driver.Value, nk)
	hasher := r.keys.driverHasher()
	var keys []Key
	var changed int64
	for rows.Next() {
		if err := rows.Scan(dest...); err != nil {
			return nil, 0, fmt.Errorf("archive %s: batch %d: read its keys: %w", r.name, b.N, err)
		}
		for i := range nk {
			vals[i] = raw[i]
		}
		hv, err := hasher.hash(vals, false)
		if err != nil {
			return nil, 0, fmt.Errorf("archive %s: batch %d: %w", r.name, b.N, err)
		}
		if _, ok := inObject[hv]; !ok {
			continue
		}
		if isTrue(raw[nk]) {
			k, err := r.keys.key(vals, false)
			if err != nil {
				return nil, 0, err
			}
			keys = append(keys, k)
		} else {
			changed++
		}
	}
	if err := rows.Err(); err != nil {
		return nil, 0, fmt.Errorf("archive %s: batch %d: read its keys: %w", r.name, b.N, err)
	}
	// A read cut short by a cancel can end without an error: never act on it.
	if err := ctx.Err(); err != nil {
		return nil, 0, err
	}
	return keys, changed, nil
}

// isTrue reads a SQL boolean (NULL, a NULL timestamp, is false).
func isTrue(v any) bool {
	switch x := v.(type) {
	case int64:
		return x != 0
	case []byte:
		return string(x) == "1"
	case string:
		return x == "1"
	}
	return false
}

// present counts the keys of chunk (in and args: its IN clause) still in the table.
func (r *runner) present(ctx context.Context, chunk []Key, in string, args []any) (int64, error) {
	var n int64
	q := "SELECT COUNT(*) FROM " + mysqlparquet.QuoteIdentifier(r.job.Schema) + "." + mysqlparquet.QuoteIdentifier(r.job.Table) + " WHERE " + in
	if err := r.conn.QueryRowContext(ctx, q, args...).Scan(&n); err != nil {
		return 0, fmt.Errorf("count the %d keys a delete left: %w", len(chunk), err)
	}
	return n, nil
}
