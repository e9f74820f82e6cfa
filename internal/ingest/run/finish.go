package run

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/glue"
	gluetypes "github.com/aws/aws-sdk-go-v2/service/glue/types"

	"github.com/snaplake/snaplake/internal/aws/awserr"
	"github.com/snaplake/snaplake/internal/deploy"
	"github.com/snaplake/snaplake/internal/ingest"
	"github.com/snaplake/snaplake/internal/ingest/watermark"
)

// CatalogAPI writes the catalog entry of a fully reloaded table.
type CatalogAPI interface {
	GetTable(ctx context.Context, in *glue.GetTableInput, optFns ...func(*glue.Options)) (*glue.GetTableOutput, error)
	CreateTable(ctx context.Context, in *glue.CreateTableInput, optFns ...func(*glue.Options)) (*glue.CreateTableOutput, error)
	UpdateTable(ctx context.Context, in *glue.UpdateTableInput, optFns ...func(*glue.Options)) (*glue.UpdateTableOutput, error)
	// BatchDeletePartition drops the partitions of the loads a load from the
	// beginning replaced: the ingest crawlers delete nothing (DeleteBehavior LOG).
	BatchDeletePartition(ctx context.Context, in *glue.BatchDeletePartitionInput, optFns ...func(*glue.Options)) (*glue.BatchDeletePartitionOutput, error)
}

// Finisher ends runs: the finish Lambda.
type Finisher struct {
	S3       S3API
	Bucket   string
	KMSKeyID string
	// Glue writes the catalog entries of fully reloaded tables; nil: none are
	// written (a run by hand without a catalog), the generations are still recorded.
	Glue CatalogAPI
	// Grace is how long a replaced generation of a fully reloaded table is kept for
	// the queries that were reading it (default deploy.DefaultGrace).
	Grace time.Duration
	Now   func() time.Time
	Log   *slog.Logger
}

// FinishInput is the workflow's state after the load: the start's output and, when
// the job failed, its error.
type FinishInput struct {
	Run       Started    `json:"run"`
	LoadError *LoadError `json:"loadError,omitempty"`
}

// LoadError is the job's failure, as a Catch records it.
type LoadError struct {
	Error string `json:"Error"`
	Cause string `json:"Cause"`
}

// Summary is a run's report: in the logs, as metrics, in the workflow's output and,
// when a table failed, in the notification.
type Summary struct {
	Run     string         `json:"run"`
	Set     string         `json:"set"`
	Planned int            `json:"planned"`
	Loaded  int            `json:"loaded"`
	Skipped int            `json:"skipped"`
	Failed  int            `json:"failed"`
	Rows    int64          `json:"rows"`
	Seconds float64        `json:"seconds"`
	Tables  []TableSummary `json:"tables"`
	// Crawl says the set's crawler should now register the new loads.
	Crawl   bool   `json:"crawl"`
	Crawler string `json:"crawler,omitempty"`
	// Renamed maps the source tables loaded under a normalized name to that name.
	Renamed map[string]string `json:"renamed,omitempty"`
	// Message is one line for people (the notification's subject line).
	Message string `json:"message"`
}

// TableSummary is one table of a run.
type TableSummary struct {
	Source    string  `json:"source"`
	Lake      string  `json:"lake"`
	Mode      string  `json:"mode,omitempty"`
	Status    string  `json:"status"` // loaded | failed | skipped
	Rows      int64   `json:"rows"`
	Watermark *string `json:"watermark,omitempty"`
	// Config is the file:line of the config entry that failed the table, when the
	// config names something of it that the source does not have.
	Config string `json:"config,omitempty"`
	Reason string `json:"reason,omitempty"`
	// Current is what became of the table's current table: built, unchanged,
	// empty, or why it has none ("none: no primary key...").
	Current string `json:"current,omitempty"`
}

func (f *Finisher) now() time.Time {
	if f.Now != nil {
		return f.Now().UTC()
	}
	return time.Now().UTC()
}

// Handle is the finish Lambda's handler.
func (f *Finisher) Handle(ctx context.Context, in FinishInput) (Summary, error) {
	sum, err := f.Finish(ctx, in)
	return sum, awserr.Surface(err)
}

// Finish commits what the job loaded and cleans up what it did not. A table with a
// result is committed: an incremental table's watermark advances, a fully reloaded
// table's catalog entry is switched to its new generation. A table without one
// failed: the files it may have left are removed (no crawl has registered them) and
// its watermark stays, so the next run loads the same rows again.
func (f *Finisher) Finish(ctx context.Context, in FinishInput) (Summary, error) {
	r := in.Run
	log := f.logger().With("run", r.Run, "set", r.Set)
	sum := Summary{Run: r.Run, Set: r.Set, Planned: r.Planned, Skipped: len(r.Skipped), Tables: []TableSummary{}, Crawler: r.Crawler, Renamed: r.Renamed}
	for _, s := range r.Skipped {
		sum.Tables = append(sum.Tables, TableSummary{Source: s.Source, Lake: s.Lake, Status: "skipped", Reason: s.Reason})
	}
	// Tables the config names what the source does not have of failed at the start:
	// they count as failed, so that the run ends notified (TablesFailed), and their
	// watermarks and leases were never touched.
	for _, t := range r.Refused {
		sum.Tables = append(sum.Tables, TableSummary{Source: t.Source, Lake: t.Lake, Status: "failed", Config: t.Config, Reason: t.Reason})
		sum.Failed++
	}
	plan, err := ReadJobPlan(ctx, f.S3, "s3://"+f.Bucket+"/"+ingest.PlanKey(r.Run))
	if err != nil {
		return sum, err
	}
	st := watermark.Store{S3: f.S3, Bucket: f.Bucket, KMSKeyID: f.KMSKeyID, Now: f.Now}
	var errs []error
	loadedIncremental := false
	for _, t := range plan.Tables {
		ts := TableSummary{Source: t.Source, Lake: t.Lake, Mode: t.Mode}
		res, err := readResult(ctx, f.S3, f.Bucket, t.Result)
		if err == nil && res == nil {
			err = errors.New("the job wrote no result for it")
			if in.LoadError != nil {
				err = fmt.Errorf("the job failed (%s): %s", in.LoadError.Error, firstLine(in.LoadError.Cause))
			}
		}
		keep := false
		if err == nil {
			keep, err = f.commit(ctx, log, st, plan, t, res, &ts)
		}
		if err != nil {
			ts.Status, ts.Reason = "failed", err.Error()
			sum.Failed++
			// What the table's load wrote goes, unless it is already in use.
			if !keep {
				if _, derr := deletePrefix(ctx, f.S3, f.Bucket, t.Folder); derr != nil {
					errs = append(errs, derr)
				}
			}
			if rerr := st.Release(ctx, plan.Database, t.Source, r.Run); rerr != nil {
				errs = append(errs, rerr)
			}
			log.ErrorContext(ctx, "table not loaded", "table", t.Source, "error", err)
		} else {
			ts.Status, ts.Rows, ts.Watermark = "loaded", res.Rows, res.Watermark
			if t.NoCurrent != "" {
				ts.Current = "none: " + t.NoCurrent
				log.WarnContext(ctx, "table has no current table: only its log is kept", "table", t.Source, "reason", t.NoCurrent)
			}
			sum.Loaded++
			sum.Rows += res.Rows
			if t.Mode == ingest.ModeIncremental {
				loadedIncremental = true
			}
		}
		sum.Tables = append(sum.Tables, ts)
	}
	if err := st.ReleaseSet(ctx, plan.Database, r.Set, r.Run); err != nil {
		errs = append(errs, err)
	}
	sum.Crawl = r.Crawl && loadedIncremental
	if started, err := ingest.ParseRunID(r.Run); err == nil {
		sum.Seconds = f.now().Sub(started).Seconds()
	}
	sum.Message = fmt.Sprintf("ingest %s run %s: %d planned, %d loaded, %d skipped, %d failed, %d rows, %.1f s",
		r.Set, r.Run, sum.Planned, sum.Loaded, sum.Skipped, sum.Failed, sum.Rows, sum.Seconds)
	level := slog.LevelInfo
	if sum.Failed > 0 {
		level = slog.LevelError
	}
	log.Log(ctx, level, "run finished", "summary", sum)
	emitMetrics(log, sum, f.now())
	err = errors.Join(errs...)
	if sum.Failed == 0 && err == nil {
		emitSuccess(log, sum.Set, f.now())
	}
	return sum, err
}

// commit records one loaded table; keep says the run's folder is in use (the
// catalog points at it, or its watermark is committed) even when an error follows.
func (f *Finisher) commit(ctx context.Context, log *slog.Logger, st watermark.Store, plan ingest.JobPlan, t ingest.JobTable, res *ingest.TableResult, ts *TableSummary) (keep bool, err error) {
	destination := strings.TrimSuffix(t.Folder, lastFolder(t.Folder))
	mark := watermark.Mark{LakeName: t.Lake, Mode: t.Mode, Column: t.Column, Run: plan.Run}
	prev, _, err := st.Mark(ctx, plan.Database, t.Source)
	if err != nil {
		return false, err
	}
	if t.Mode == ingest.ModeFull {
		if err := f.switchTable(ctx, plan, t, res); err != nil {
			return false, err
		}
		mark.Generation = t.Folder
		if mark.Retired, err = f.retire(ctx, log, t.Source, prev, t.Folder, destination); err != nil {
			return true, err
		}
		return true, st.Commit(ctx, plan.Database, t.Source, mark)
	}
	if t.Current != nil {
		// The current function built (or kept) the table's current generation and
		// switched its catalog entry: record it, retire the one it replaced. Without
		// its result the table fails, and its watermark stays: the next run loads
		// the same rows again and rebuilds the current table from them.
		cur, err := readCurrentResult(ctx, f.S3, f.Bucket, plan.Run, t.Lake)
		if err != nil {
			return false, err
		}
		ts.Current = cur.Status
		mark.Generation, mark.KeyCheckedAt = cur.Generation, cur.KeyCheckedAt
		if cur.Generation == "" {
			mark.Generation, mark.KeyCheckedAt = prev.Generation, prev.KeyCheckedAt
		}
		if mark.Retired, err = f.retire(ctx, log, t.Source, prev, mark.Generation, t.Current.Destination); err != nil {
			return false, err
		}
	}
	mark.Value = t.From
	if res.Watermark != nil {
		mark.Value = res.Watermark
	}
	if err := st.Commit(ctx, plan.Database, t.Source, mark); err != nil {
		return false, err
	}
	if t.From == nil {
		// A load from the beginning replaces the table: once it is committed, the
		// earlier loads go. Until the crawl that follows, queries of the table see
		// only what is left.
		deleted, err := f.deleteOtherLoads(ctx, log, destination, t.Folder)
		if err == nil {
			err = f.dropPartitions(ctx, log, plan.CatalogDatabase, t.Lake, deleted)
		}
		if err != nil {
			return true, fmt.Errorf("the load from the beginning is committed, and the earlier loads under s3://%s/%s could not all be deleted (delete every load= folder but %s, and their partitions of table %s.%s): %w", f.Bucket, destination, lastFolder(t.Folder), plan.CatalogDatabase, t.Lake, err)
		}
	}
	return true, nil
}

// deleteOtherLoads deletes the load folders of destination other than keep, and
// returns the runs whose loads it deleted (the values of their load partitions).
func (f *Finisher) deleteOtherLoads(ctx context.Context, log *slog.Logger, destination, keep string) ([]string, error) {
	folders, err := subfolders(ctx, f.S3, f.Bucket, destination)
	if err != nil {
		return nil, err
	}
	var runs []string
	for _, folder := range folders {
		run, ok := strings.CutPrefix(strings.TrimSuffix(lastFolder(folder), "/"), ingest.LoadKey+"=")
		if folder == keep || !ok {
			continue
		}
		n, err := deletePrefix(ctx, f.S3, f.Bucket, folder)
		if err != nil {
			return runs, err
		}
		runs = append(runs, run)
		log.InfoContext(ctx, "deleted a load replaced by a load from the beginning", "folder", folder, "objects", n)
	}
	return runs, nil
}

// dropPartitions drops the load partitions of runs from the catalog table: the
// ingest crawlers' DeleteBehavior is LOG, under which Glue keeps a partition whose
// folder is gone. A table or partition no crawl has registered yet is fine.
func (f *Finisher) dropPartitions(ctx context.Context, log *slog.Logger, database, table string, runs []string) error {
	if f.Glue == nil || len(runs) == 0 {
		return nil
	}
	for chunk := range slices.Chunk(runs, 25) { // BatchDeletePartition takes 25 at most
		in := &glue.BatchDeletePartitionInput{DatabaseName: aws.String(database), TableName: aws.String(table)}
		for _, run := range chunk {
			in.PartitionsToDelete = append(in.PartitionsToDelete, gluetypes.PartitionValueList{Values: []string{run}})
		}
		out, err := f.Glue.BatchDeletePartition(ctx, in)
		var notFound *gluetypes.EntityNotFoundException
		if errors.As(err, &notFound) {
			return nil // the table was never crawled: no partition to drop
		}
		if err != nil {
			return fmt.Errorf("drop %d replaced load partitions of table %s.%s: %w", len(chunk), database, table, err)
		}
		var errs []error
		for _, pe := range out.Errors {
			if pe.ErrorDetail != nil && aws.ToString(pe.ErrorDetail.ErrorCode) == "EntityNotFoundException" {
				continue
			}
			code, msg := "", ""
			if pe.ErrorDetail != nil {
				code, msg = aws.ToString(pe.ErrorDetail.ErrorCode), aws.ToString(pe.ErrorDetail.ErrorMessage)
			}
			errs = append(errs, fmt.Errorf("partition %v of table %s.%s: %s: %s", pe.PartitionValues, database, table, code, msg))
		}
		if err := errors.Join(errs...); err != nil {
			return err
		}
		log.InfoContext(ctx, "dropped the partitions of replaced loads", "table", database+"."+table, "partitions", len(chunk)-len(out.Errors))
	}
	return nil
}

// switchTable points the fully reloaded table's catalog entries at its new
// generation: in the ingest database and in the current database (a full reload
// is current already, so that analysts find every table in one database).
func (f *Finisher) switchTable(ctx context.Context, plan ingest.JobPlan, t ingest.JobTable, res *ingest.TableResult) error {
	if f.Glue == nil {
		f.logger().WarnContext(ctx, "no catalog: the table's entry is not switched", "table", t.Lake, "location", "s3://"+plan.Bucket+"/"+t.Folder)
		return nil
	}
	g := Generation{Database: plan.CatalogDatabase, Table: t.Lake, Location: "s3://" + plan.Bucket + "/" + t.Folder, Run: plan.Run,
		Source: plan.Database + "." + t.Source, Columns: res.Columns}
	if err := SwitchGeneration(ctx, f.Glue, g); err != nil {
		return err
	}
	if plan.CurrentDatabase == "" {
		return nil // a plan of an earlier version
	}
	g.Database = plan.CurrentDatabase
	return SwitchGeneration(ctx, f.Glue, g)
}

// Generation is a table's generation for its catalog entry.
type Generation struct {
	Database, Table string
	// Location is the generation's folder, s3://bucket/prefix/.
	Location string
	// Run made the generation; Source is database.table in the source.
	Run, Source string
	// Columns are the files' columns with Hive types; none: the entry keeps the
	// columns it has (a generation rebuilt without a load, by a key check).
	Columns []ingest.ResultColumn
}

// SwitchGeneration points a table's catalog entry at a generation, creating the
// entry the first time: one UpdateTable, which readers see at once, whole. The
// fully reloaded tables (the finish) and the current tables (the current function)
// are switched by it.
func SwitchGeneration(ctx context.Context, api CatalogAPI, g Generation) error {
	input := &gluetypes.TableInput{
		Name:      aws.String(g.Table),
		TableType: aws.String("EXTERNAL_TABLE"),
		Parameters: map[string]string{
			"classification":      "parquet",
			"snaplake:generation": g.Run,
			"snaplake:source":     g.Source,
		},
		StorageDescriptor: &gluetypes.StorageDescriptor{
			Location:     aws.String(g.Location),
			InputFormat:  aws.String("org.apache.hadoop.hive.ql.io.parquet.MapredParquetInputFormat"),
			OutputFormat: aws.String("org.apache.hadoop.hive.ql.io.parquet.MapredParquetOutputFormat"),
			SerdeInfo:    &gluetypes.SerDeInfo{SerializationLibrary: aws.String("org.apache.hadoop.hive.ql.io.parquet.serde.ParquetHiveSerDe")},
		},
	}
	for _, c := range g.Columns {
		input.StorageDescriptor.Columns = append(input.StorageDescriptor.Columns, gluetypes.Column{Name: aws.String(strings.ToLower(c.Name)), Type: aws.String(c.Type)})
	}
	db := aws.String(g.Database)
	got, err := api.GetTable(ctx, &glue.GetTableInput{DatabaseName: db, Name: input.Name})
	var notFound *gluetypes.EntityNotFoundException
	switch {
	case errors.As(err, &notFound):
		if _, err := api.CreateTable(ctx, &glue.CreateTableInput{DatabaseName: db, TableInput: input}); err != nil {
			return fmt.Errorf("create table %s.%s: %w", g.Database, g.Table, err)
		}
	case err != nil:
		return fmt.Errorf("read table %s.%s: %w", g.Database, g.Table, err)
	default:
		if len(g.Columns) == 0 && got.Table != nil && got.Table.StorageDescriptor != nil {
			input.StorageDescriptor.Columns = got.Table.StorageDescriptor.Columns
		}
		// SkipArchive: by default UpdateTable archives the table's previous version,
		// and Glue keeps at most 100,000 versions per table and 1,000,000 per account
		// (ResourceNumberLimitExceededException); a switch every 15 minutes for every
		// changed table would reach that. The generations themselves are the history.
		if _, err := api.UpdateTable(ctx, &glue.UpdateTableInput{DatabaseName: db, TableInput: input, SkipArchive: aws.Bool(true)}); err != nil {
			return fmt.Errorf("switch table %s.%s to generation %s: %w", g.Database, g.Table, g.Run, err)
		}
	}
	return nil
}

// retire returns the generations of a table still retired after this commit:
// prev's, plus the generation the table no longer points at (prev.Generation,
// unless it is current), plus any generation folder under destination that nothing
// records (a run that built one and failed before its commit). Those retired longer
// than the grace ago are deleted; the others wait for the queries that may still
// read them. Only folders under destination are ever deleted.
func (f *Finisher) retire(ctx context.Context, log *slog.Logger, table string, prev watermark.Mark, current, destination string) ([]watermark.Retired, error) {
	retired := slices.Clone(prev.Retired)
	known := map[string]bool{current: true}
	for _, r := range retired {
		known[r.Folder] = true
	}
	if prev.Generation != "" && !known[prev.Generation] {
		retired = append(retired, watermark.Retired{Folder: prev.Generation, Since: f.now()})
		known[prev.Generation] = true
	}
	folders, err := subfolders(ctx, f.S3, f.Bucket, destination)
	if err != nil {
		return prev.Retired, err
	}
	for _, folder := range folders {
		if strings.HasPrefix(lastFolder(folder), ingest.GenerationKey+"=") && !known[folder] {
			retired = append(retired, watermark.Retired{Folder: folder, Since: f.now()})
		}
	}
	kept := retired[:0:0]
	for _, r := range retired {
		if f.now().Sub(r.Since) < f.grace() || !strings.HasPrefix(r.Folder, destination) {
			kept = append(kept, r)
			continue
		}
		n, err := deletePrefix(ctx, f.S3, f.Bucket, r.Folder)
		if err != nil {
			return append(kept, r), err
		}
		log.InfoContext(ctx, "deleted a replaced generation", "table", table, "folder", r.Folder, "objects", n)
	}
	return kept, nil
}

func (f *Finisher) grace() time.Duration {
	if f.Grace > 0 {
		return f.Grace
	}
	return deploy.DefaultGrace
}

func (f *Finisher) logger() *slog.Logger {
	if f.Log != nil {
		return f.Log
	}
	return slog.Default()
}

// lastFolder is the last folder of a prefix ending in "/", with its slash.
func lastFolder(prefix string) string {
	p := strings.TrimSuffix(prefix, "/")
	return p[strings.LastIndex(p, "/")+1:] + "/"
}

func firstLine(s string) string {
	if i := strings.IndexByte(s, '\n'); i >= 0 {
		s = s[:i]
	}
	if len(s) > 500 {
		s = s[:500] + "…"
	}
	return s
}

// MetricsNamespace is where the runs' CloudWatch metrics are.
const MetricsNamespace = deploy.IngestMetricsNamespace

// emitMetrics writes the summary as CloudWatch metrics in the embedded metric
// format: a log line CloudWatch Logs turns into metrics, with no API call and no
// permission beyond writing logs.
func emitMetrics(log *slog.Logger, s Summary, now time.Time) {
	names := []string{"TablesPlanned", "TablesLoaded", "TablesSkipped", "TablesFailed", "Rows", "Seconds"}
	metrics := make([]map[string]string, len(names))
	for i, n := range names {
		unit := "Count"
		if n == "Seconds" {
			unit = "Seconds"
		}
		metrics[i] = map[string]string{"Name": n, "Unit": unit}
	}
	log.Info("run metrics",
		slog.Any("_aws", map[string]any{
			"Timestamp": now.UnixMilli(),
			"CloudWatchMetrics": []any{map[string]any{
				"Namespace": MetricsNamespace, "Dimensions": [][]string{{deploy.IngestMetricDimensionSet}}, "Metrics": metrics,
			}},
		}),
		deploy.IngestMetricDimensionSet, s.Set, "TablesPlanned", s.Planned, "TablesLoaded", s.Loaded, "TablesSkipped", s.Skipped,
		"TablesFailed", s.Failed, "Rows", s.Rows, "Seconds", s.Seconds)
}

// emitSuccess writes the set's freshness heartbeat, deploy.IngestRunSucceededMetric
// = 1 with dimension deploy.IngestMetricDimensionSet, in the embedded metric format:
// the stack's freshness alarm of the set fires when a whole expected period passes
// without one. It is written only by a run that committed every table it planned
// (one that loaded no new rows included: the lake is as fresh as the source); a run
// that was not due, found its tables busy or failed a table writes none, as it says
// nothing of the data's freshness.
func emitSuccess(log *slog.Logger, set string, now time.Time) {
	log.Info("run succeeded",
		slog.Any("_aws", map[string]any{
			"Timestamp": now.UnixMilli(),
			"CloudWatchMetrics": []any{map[string]any{
				"Namespace":  MetricsNamespace,
				"Dimensions": [][]string{{deploy.IngestMetricDimensionSet}},
				"Metrics":    []map[string]string{{"Name": deploy.IngestRunSucceededMetric, "Unit": "Count"}},
			}},
		}),
		deploy.IngestMetricDimensionSet, set, deploy.IngestRunSucceededMetric, 1)
}
