package rdsexport

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"path"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	rdstypes "github.com/aws/aws-sdk-go-v2/service/rds/types"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/google/uuid"

	"github.com/snaplake/snaplake/events"
	"github.com/snaplake/snaplake/internal/aws/mysqlparquet"
	"github.com/snaplake/snaplake/internal/aws/s3obj"
)

// exportTable is one table of an export: source names and where it lives.
type exportTable struct {
	db, table, schema string
}

func (t exportTable) target() string { return t.db + "." + t.table }

// tableOutcome is what export_tables_info reports for a table.
type tableOutcome struct {
	table  exportTable
	result mysqlparquet.TableResult
	start  time.Time
	end    time.Time
}

func (s *Service) run(ctx context.Context, id string) {
	log := s.logger().With("export_id", id)
	info := s.update(id, func(t *rdstypes.ExportTask) { t.Status = aws.String(StatusInProgress) })
	s.mu.Lock()
	snap := s.tasks[id].snapshot
	s.mu.Unlock()

	outcomes, err := s.export(ctx, id, info, snap)
	end := time.Now().UTC()
	if err != nil {
		log.Error("export task failed", "snapshot", snap.ID, "err", err)
		info = s.update(id, func(t *rdstypes.ExportTask) {
			t.Status = aws.String(StatusFailed)
			t.FailureCause = aws.String(err.Error())
			t.TaskEndTime = aws.Time(end)
		})
		s.publishOutcome(ctx, snap, outcomeFailed, end)
		return
	}
	var bytes int64
	for _, o := range outcomes {
		bytes += o.result.Bytes
	}
	complete := func(t *rdstypes.ExportTask) {
		t.Status = aws.String(StatusComplete)
		t.PercentProgress = aws.Int32(100)
		t.TaskEndTime = aws.Time(end)
		t.TotalExtractedDataInGB = aws.Int32(int32(bytes >> 30))
	}
	// export_info is written last: its presence says the export is whole. Only then does
	// DescribeExportTasks say COMPLETE, so nobody who polls sees a complete export without it.
	complete(&info) // the copy taken at the start; only the progress changed since
	if err := s.putJSON(ctx, info, "export_info_"+id+".json", exportInfo(info, bytes)); err != nil {
		log.Error("export task failed writing export_info", "err", err)
		s.update(id, func(t *rdstypes.ExportTask) {
			t.Status = aws.String(StatusFailed)
			t.FailureCause = aws.String(err.Error())
		})
		s.publishOutcome(ctx, snap, outcomeFailed, end)
		return
	}
	info = s.update(id, complete)
	log.Info("export task completed", "snapshot", snap.ID, "tables", len(outcomes), "bytes", bytes,
		"took", end.Sub(*info.TaskStartTime).Round(time.Millisecond))
	s.publishOutcome(ctx, snap, outcomeCompleted, end)
}

func (s *Service) export(ctx context.Context, id string, info rdstypes.ExportTask, snap Snapshot) ([]tableOutcome, error) {
	if s.FailNext != nil {
		if reason := s.FailNext(id); reason != "" {
			return nil, errors.New(reason)
		}
	}
	tables, err := s.selectTables(ctx, snap, info.ExportOnly)
	if err != nil {
		return nil, err
	}
	conc := s.TableConcurrency
	if conc <= 0 {
		conc = 2
	}
	outcomes := make([]tableOutcome, len(tables))
	var (
		mu       sync.Mutex
		done     int
		rows     int64
		firstErr error
		wg       sync.WaitGroup
	)
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	sem := make(chan struct{}, conc)
	for i, tbl := range tables {
		select {
		case sem <- struct{}{}:
		case <-ctx.Done():
		}
		if ctx.Err() != nil {
			break
		}
		wg.Go(func() {
			defer func() { <-sem }()
			start := time.Now().UTC()
			res, err := s.exportTable(ctx, info, tbl)
			mu.Lock()
			defer mu.Unlock()
			if err != nil {
				if firstErr == nil {
					firstErr = fmt.Errorf("export table %s: %w", tbl.target(), err)
				}
				cancel()
				return
			}
			outcomes[i] = tableOutcome{table: tbl, result: res, start: start, end: time.Now().UTC()}
			done++
			rows += res.Rows
			pct := int32(done * 100 / len(tables))
			if done < len(tables) {
				pct = min(pct, 99) // 100 only once the metadata is written
			}
			s.update(id, func(t *rdstypes.ExportTask) { t.PercentProgress = aws.Int32(pct) })
			s.logger().Info("exported table", "export_id", id, "table", tbl.target(), "rows", res.Rows, "files", res.Files, "bytes", res.Bytes)
			if s.Progress != nil {
				s.Progress(id, done, len(tables), rows)
			}
		})
	}
	wg.Wait()
	if firstErr != nil {
		return nil, firstErr
	}
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	n := max(len(outcomes), 1)
	key := fmt.Sprintf("export_tables_info_%s_from_1_to_%d.json", id, n)
	if err := s.putJSON(ctx, info, key, tablesInfo(outcomes)); err != nil {
		return nil, err
	}
	return outcomes, nil
}

// selectTables expands ExportOnly ("db" or "db.table"; empty means all) into
// tables, sorted by database and table.
func (s *Service) selectTables(ctx context.Context, snap Snapshot, only []string) ([]exportTable, error) {
	dbs := make([]string, 0, len(snap.Databases))
	for db := range snap.Databases {
		dbs = append(dbs, db)
	}
	slices.Sort(dbs)
	var out []exportTable
	for _, db := range dbs {
		schema := snap.Databases[db]
		names, err := mysqlparquet.Tables(ctx, s.DB, schema)
		if err != nil {
			return nil, fmt.Errorf("list tables of database %s (schema %s): %w", db, schema, err)
		}
		for _, name := range names {
			if len(only) > 0 && !slices.Contains(only, db) && !slices.Contains(only, db+"."+name) {
				continue
			}
			out = append(out, exportTable{db: db, table: name, schema: schema})
		}
	}
	for _, e := range only {
		if strings.Contains(e, ".") && !slices.ContainsFunc(out, func(t exportTable) bool { return t.target() == e }) {
			return nil, fmt.Errorf("ExportOnly table %s does not exist in snapshot %s", e, snap.ID)
		}
	}
	return out, nil
}

// exportRoot is "<prefix>/<export-id>", the exportedFilesPath of RDS.
func exportRoot(info rdstypes.ExportTask) string {
	p := strings.Trim(aws.ToString(info.S3Prefix), "/")
	if p == "" {
		return *info.ExportTaskIdentifier
	}
	return p + "/" + *info.ExportTaskIdentifier
}

func (s *Service) exportTable(ctx context.Context, info rdstypes.ExportTask, tbl exportTable) (mysqlparquet.TableResult, error) {
	base := path.Join(exportRoot(info), tbl.db, tbl.target())
	newFile := func(i int) (io.WriteCloser, error) {
		key := fmt.Sprintf("%s/1/part-%05d-%s-c000.gz.parquet", base, i, uuid.NewString())
		return s3obj.NewStaged(ctx, s.S3, s.TempDir, *info.S3Bucket, key, "")
	}
	res, err := mysqlparquet.ExportTable(ctx, s.DB, tbl.schema, tbl.table, newFile, mysqlparquet.Options{RowsPerFile: s.RowsPerFile})
	if err != nil {
		return res, err
	}
	if _, err := s.S3.PutObject(ctx, &s3.PutObjectInput{
		Bucket: info.S3Bucket, Key: aws.String(base + "/_SUCCESS"), Body: strings.NewReader(""), ContentLength: aws.Int64(0),
	}); err != nil {
		return res, fmt.Errorf("put s3://%s/%s/_SUCCESS: %w", *info.S3Bucket, base, err)
	}
	return res, nil
}

func (s *Service) putJSON(ctx context.Context, info rdstypes.ExportTask, name string, v any) error {
	body, err := json.MarshalIndent(v, "", "  ")
	if err != nil {
		return fmt.Errorf("encode %s: %w", name, err)
	}
	key := exportRoot(info) + "/" + name
	if _, err := s.S3.PutObject(ctx, &s3.PutObjectInput{
		Bucket: info.S3Bucket, Key: aws.String(key), Body: strings.NewReader(string(body)),
		ContentLength: aws.Int64(int64(len(body))), ContentType: aws.String("application/json"),
	}); err != nil {
		return fmt.Errorf("put s3://%s/%s: %w", *info.S3Bucket, key, err)
	}
	return nil
}

// Export outcomes RDS reports by event.
const (
	outcomeCompleted = "completed"
	outcomeFailed    = "failed"
)

// publishOutcome sends RDS's event for an export's end: an "RDS DB Snapshot Event"
// for a DB snapshot, an "RDS DB Cluster Snapshot Event" with the cluster ids and
// messages for a cluster snapshot (RDS UG, Amazon RDS event categories and event
// messages: DB snapshot events, DB cluster snapshot events).
func (s *Service) publishOutcome(ctx context.Context, snap Snapshot, outcome string, at time.Time) {
	type ev struct{ id, message string }
	all := map[bool]map[string]ev{
		false: {outcomeCompleted: {events.EventExportCompleted, "The snapshot export task completed."},
			outcomeFailed: {events.EventExportFailed, "The snapshot export task failed."}},
		true: {outcomeCompleted: {events.EventClusterExportCompleted, "The cluster snapshot export task completed."},
			outcomeFailed: {events.EventClusterExportFailed, "The cluster snapshot export task failed."}},
	}
	e := all[IsClusterSnapshotArn(snap.Arn)][outcome]
	s.publish(ctx, snap, e.id, e.message, at)
}

func (s *Service) publish(ctx context.Context, snap Snapshot, eventID, message string, at time.Time) {
	if s.Publish == nil {
		return
	}
	body, err := json.Marshal(snapshotEvent(s.Account, s.Region, snap, eventID, message, at))
	if err != nil {
		s.logger().Error("encode export event", "snapshot", snap.ID, "event_id", eventID, "err", err)
		return
	}
	if err := s.Publish(ctx, body); err != nil {
		s.logger().Error("publish export event", "snapshot", snap.ID, "event_id", eventID, "err", err)
	}
}
