package relocate

import (
	"context"
	"fmt"
	"log/slog"
	"slices"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/service/s3/types"
)

// prune keeps, for every table of the export, the newest Retention snapshot_date
// partitions plus the one just written, and deletes the others.
func (r *run) prune(ctx context.Context) error {
	if r.o.Retention == 0 {
		return nil
	}
	return forEach(ctx, len(r.tables), r.o.Concurrency, func(ctx context.Context, k int) error {
		return r.pruneTable(ctx, r.tables[k])
	})
}

func (r *run) pruneTable(ctx context.Context, t *table) error {
	prefix := tablePrefix(r.o.DestPrefix, t.db, t.name)
	var dates []string
	err := r.list(ctx, prefix, "/", func(types.Object) {}, func(p string) {
		d, ok := strings.CutPrefix(p[len(prefix):], "snapshot_date=")
		if !ok {
			return
		}
		d = strings.TrimSuffix(d, "/")
		// Only partitions snaplake could have written: a stray folder is not ours to delete.
		if pd, err := time.Parse(time.DateOnly, d); err == nil && pd.Format(time.DateOnly) == d {
			dates = append(dates, d)
		}
	})
	if err != nil {
		return fmt.Errorf("list partitions of s3://%s/%s: %w", r.o.Bucket, prefix, err)
	}
	if len(dates) <= r.o.Retention {
		return nil
	}
	slices.Sort(dates)
	slices.Reverse(dates)
	for _, d := range dates[r.o.Retention:] {
		if d == r.o.SnapshotDate {
			continue
		}
		if err := r.deletePartition(ctx, prefix+"snapshot_date="+d+"/"); err != nil {
			return err
		}
		r.mu.Lock()
		r.sum.PrunedPartitions++
		r.mu.Unlock()
		r.log.Info("relocate pruned partition", slog.String("table", t.db+"."+t.name), slog.String("partition", d))
	}
	return nil
}

// deletePartition deletes everything under prefix, one listed page (<=1000 keys) per
// DeleteObjects call, so memory stays flat however large the partition is.
func (r *run) deletePartition(ctx context.Context, prefix string) error {
	var ids []types.ObjectIdentifier
	var delErr error
	err := r.list(ctx, prefix, "", func(o types.Object) {
		if delErr != nil {
			return
		}
		ids = append(ids, types.ObjectIdentifier{Key: o.Key})
		if len(ids) == maxDeleteBatch {
			delErr = r.deleteBatch(ctx, ids)
			ids = ids[:0]
		}
	}, nil)
	if err == nil {
		err = delErr
	}
	if err == nil && len(ids) > 0 {
		err = r.deleteBatch(ctx, ids)
	}
	if err != nil {
		return fmt.Errorf("prune partition s3://%s/%s: %w", r.o.Bucket, prefix, err)
	}
	return nil
}
