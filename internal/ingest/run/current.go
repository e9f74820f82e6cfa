package run

import (
	"cmp"
	"context"
	"database/sql"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"slices"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/glue"
	"github.com/aws/aws-sdk-go-v2/service/s3"

	"github.com/snaplake/snaplake/internal/aws/awserr"
	"github.com/snaplake/snaplake/internal/aws/mysqlparquet"
	"github.com/snaplake/snaplake/internal/aws/s3get"
	"github.com/snaplake/snaplake/internal/aws/s3obj"
	"github.com/snaplake/snaplake/internal/deploy"
	"github.com/snaplake/snaplake/internal/ingest"
	"github.com/snaplake/snaplake/internal/ingest/current"
	"github.com/snaplake/snaplake/internal/ingest/watermark"
)

// CurrentBuilder builds the current generation of one incremental table of a run,
// after the load and before the finish commits its watermark: the ingestcurrent
// function, one invocation per table (a Map in the workflow).
type CurrentBuilder struct {
	S3       S3API
	Bucket   string
	KMSKeyID string
	// Glue switches the table's entry in the current database; nil: no catalog.
	Glue CatalogAPI
	// MySQL opens the source, for key checks only; nil: a due key check fails the
	// table.
	MySQL func(ctx context.Context) (*sql.DB, error)
	// TempDir holds the files being merged (default os.TempDir()).
	TempDir string
	// RowsPerFile bounds the rows of each file written (default: the plan's, as
	// the load's files).
	RowsPerFile int64
	Now         func() time.Time
	Log         *slog.Logger
}

// CurrentInput names one table of a run.
type CurrentInput struct {
	Run string `json:"run"`
	// Table is the source table's name.
	Table string `json:"table"`
}

// CurrentTables are the tables of a job whose current table the run builds.
func CurrentTables(job ingest.JobPlan) []CurrentInput {
	out := []CurrentInput{}
	for _, t := range job.Tables {
		if t.Current != nil {
			out = append(out, CurrentInput{Run: job.Run, Table: t.Source})
		}
	}
	return out
}

// Statuses of a CurrentResult.
const (
	CurrentBuilt     = "built"     // a new generation, switched to
	CurrentUnchanged = "unchanged" // nothing loaded and no key check due: the generation stays
	CurrentEmpty     = "empty"     // no row loaded ever: no generation yet
	CurrentFailed    = "failed"
	CurrentNone      = "none" // the table has no current table (NoCurrent says why), or was not loaded
)

// CurrentResult is what the current function did for a table, recorded for the
// finish at deploy.IngestCurrentResultKey(run, lake).
type CurrentResult struct {
	Source string `json:"source"`
	Lake   string `json:"lake"`
	Status string `json:"status"`
	Reason string `json:"reason,omitempty"`
	// Generation is the folder the current table points at after this run.
	Generation   string         `json:"generation,omitempty"`
	KeyCheckedAt time.Time      `json:"keyCheckedAt,omitzero"`
	KeyChecked   bool           `json:"keyChecked,omitempty"`
	Merge        current.Output `json:"merge"`
	Seconds      float64        `json:"seconds"`
}

// CurrentFailedError says a table's current generation could not be built.
type CurrentFailedError struct {
	Table string
	Err   error
}

func (e *CurrentFailedError) Error() string {
	return fmt.Sprintf("build the current table of %s: %v", e.Table, e.Err)
}

func (e *CurrentFailedError) Unwrap() error { return e.Err }

func (b *CurrentBuilder) log() *slog.Logger {
	if b.Log != nil {
		return b.Log
	}
	return slog.Default()
}

func (b *CurrentBuilder) now() time.Time {
	if b.Now != nil {
		return b.Now().UTC()
	}
	return time.Now().UTC()
}

// Handle is the ingestcurrent function's handler.
func (b *CurrentBuilder) Handle(ctx context.Context, in CurrentInput) (CurrentResult, error) {
	res, err := b.Build(ctx, in)
	return res, awserr.Surface(err)
}

// Build builds the table's current generation and switches its catalog entry to
// it. What it did is recorded for the finish, a failure too: the finish then
// fails the table, and its watermark stays. Nothing is deleted here; the finish
// retires the replaced generation once the watermark is committed.
func (b *CurrentBuilder) Build(ctx context.Context, in CurrentInput) (CurrentResult, error) {
	start := time.Now()
	plan, err := ReadJobPlan(ctx, b.S3, "s3://"+b.Bucket+"/"+ingest.PlanKey(in.Run))
	if err != nil {
		return CurrentResult{}, err
	}
	i := slices.IndexFunc(plan.Tables, func(t ingest.JobTable) bool { return t.Source == in.Table })
	if i < 0 {
		return CurrentResult{}, &InputError{Reason: fmt.Sprintf("table %q is not in the plan of run %s", in.Table, in.Run)}
	}
	t := plan.Tables[i]
	res := CurrentResult{Source: t.Source, Lake: t.Lake}
	log := b.log().With("run", in.Run, "table", t.Source)
	if t.Current == nil {
		res.Status, res.Reason = CurrentNone, cmp.Or(t.NoCurrent, "a full reload is current already")
		return res, nil
	}
	loaded, err := readResult(ctx, b.S3, b.Bucket, t.Result)
	if err != nil {
		return res, err
	}
	if loaded == nil {
		res.Status, res.Reason = CurrentNone, "not loaded by this run: the finish fails it"
		return res, nil
	}
	err = b.build(ctx, log, plan, t, loaded, &res)
	res.Seconds = time.Since(start).Seconds()
	if err != nil {
		err = &CurrentFailedError{Table: plan.Database + "." + t.Source, Err: err}
		res.Status, res.Reason = CurrentFailed, err.Error()
		log.ErrorContext(ctx, "current table not built", "error", err)
	} else {
		log.InfoContext(ctx, "current table", "status", res.Status, "generation", res.Generation, "merge", res.Merge, "keyChecked", res.KeyChecked, "seconds", res.Seconds)
	}
	if perr := s3obj.PutJSON(ctx, b.S3, b.Bucket, deploy.IngestCurrentResultKey(plan.Run, t.Lake), b.KMSKeyID, res, false); perr != nil {
		return res, errors.Join(err, fmt.Errorf("record the current result of %s: %w", t.Source, perr))
	}
	return res, err
}

func (b *CurrentBuilder) build(ctx context.Context, log *slog.Logger, plan ingest.JobPlan, t ingest.JobTable, loaded *ingest.TableResult, res *CurrentResult) error {
	st := watermark.Store{S3: b.S3, Bucket: b.Bucket, KMSKeyID: b.KMSKeyID, Now: b.Now}
	prev, _, err := st.Mark(ctx, plan.Database, t.Source)
	if err != nil {
		return err
	}
	cp := t.Current
	res.Generation, res.KeyCheckedAt = prev.Generation, prev.KeyCheckedAt
	// Key checks are timed by the runs' own clock (the time each was planned for),
	// so that "every 168h" means every so many runs' worth of time.
	now := b.now()
	if at, err := ingest.ParseRunID(plan.Run); err == nil {
		now = at
	}
	fromScratch := t.From == nil
	// A generation of another folder (the table was fully reloaded before) is not
	// this table's current generation.
	hasPrev := prev.Generation != "" && strings.HasPrefix(prev.Generation, cp.Destination)

	// The delta: this run's load, or, when there is no previous generation to
	// apply it to (the current table is new for a table loaded before), every load
	// in the log, oldest first: run IDs sort by time.
	deltaFolders := []string{t.Folder}
	if !fromScratch && !hasPrev {
		loads, err := subfolders(ctx, b.S3, b.Bucket, strings.TrimSuffix(t.Folder, lastFolder(t.Folder)))
		if err != nil {
			return err
		}
		deltaFolders = slices.DeleteFunc(loads, func(f string) bool { return !strings.HasPrefix(lastFolder(f), ingest.LoadKey+"=") })
		slices.Sort(deltaFolders)
	}
	due := cp.KeyCheckSeconds > 0 && !fromScratch &&
		(prev.KeyCheckedAt.IsZero() || now.Sub(prev.KeyCheckedAt) >= time.Duration(cp.KeyCheckSeconds)*time.Second)
	if fromScratch {
		// A load from the beginning read every row of the source: its keys are all
		// the source has.
		res.KeyCheckedAt = now
	}
	if hasPrev && !fromScratch && loaded.Rows == 0 && !due {
		res.Status = CurrentUnchanged
		return nil
	}
	gen := cp.Destination + ingest.GenerationKey + "=" + plan.Run + "/"
	// A retry of this run's build (the workflow retries an invocation that Lambda
	// reports failed, which may have done its work): when the catalog points at
	// this run's generation already, the generation is complete (the switch follows
	// its last file) and stays as it is, rather than be deleted under its readers.
	if b.Glue != nil {
		got, err := b.Glue.GetTable(ctx, &glue.GetTableInput{DatabaseName: aws.String(plan.CurrentDatabase), Name: aws.String(t.Lake)})
		if err == nil && got.Table != nil && got.Table.StorageDescriptor != nil && aws.ToString(got.Table.StorageDescriptor.Location) == "s3://"+b.Bucket+"/"+gen {
			res.Status, res.Generation, res.Reason = CurrentBuilt, gen, "built by an earlier attempt of this run"
			if due {
				res.KeyChecked, res.KeyCheckedAt = true, now
			}
			return nil
		}
	}

	dir, err := os.MkdirTemp(b.TempDir, "current-*")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)
	var deltaKeys, prevKeys []string
	for _, f := range deltaFolders {
		keys, err := parquetKeys(ctx, b.S3, b.Bucket, f)
		if err != nil {
			return err
		}
		deltaKeys = append(deltaKeys, keys...)
	}
	if hasPrev && !fromScratch {
		if prevKeys, err = parquetKeys(ctx, b.S3, b.Bucket, prev.Generation); err != nil {
			return err
		}
		// A generation always has a file (an empty one keeps the schema): none
		// means it was deleted, and building on nothing would lose every row.
		if len(prevKeys) == 0 {
			return fmt.Errorf("the current generation s3://%s/%s has no Parquet file: it was deleted (reset the table to rebuild it from a full load)", b.Bucket, prev.Generation)
		}
	}
	// A load from the beginning read each key once: the first build of a large
	// table holds no key in memory.
	in := current.Input{Order: cp.Order, RowsPerFile: cmp.Or(b.RowsPerFile, plan.RowsPerFile), Whole: fromScratch}
	for _, k := range cp.Key {
		in.Key = append(in.Key, k.Lake)
	}
	if cp.SoftDelete != nil {
		in.SoftDelete = cp.SoftDelete.Lake
	}
	delta, err := b.download(ctx, dir, deltaKeys)
	defer closeAll(delta)
	if err != nil {
		return err
	}
	previous, err := b.download(ctx, dir, prevKeys)
	defer closeAll(previous)
	if err != nil {
		return err
	}
	in.Delta, in.Previous = asFiles(delta), asFiles(previous)
	if due {
		checkedAt := now
		if in.Keys, err = b.sourceKeys(ctx, dir, plan.Database, t); err != nil {
			return err
		}
		res.KeyChecked, res.KeyCheckedAt = true, checkedAt
		log.InfoContext(ctx, "key check: read every key of the source", "keys", in.Keys.Len())
	}
	// A retry of this run's build rewrites its own folder, which nothing reads yet.
	if _, err := deletePrefix(ctx, b.S3, b.Bucket, gen); err != nil {
		return err
	}
	in.NewFile = func(i int) (io.WriteCloser, error) {
		return s3obj.NewStaged(ctx, b.S3, dir, b.Bucket, fmt.Sprintf("%spart-%05d.snappy.parquet", gen, i), b.KMSKeyID)
	}
	out, err := current.Merge(in)
	if errors.Is(err, current.ErrNoSchema) {
		res.Status, res.Reason = CurrentEmpty, "no row loaded yet: the current table appears with the first"
		return nil
	}
	if err != nil {
		return err
	}
	res.Merge, res.Status, res.Generation = out, CurrentBuilt, gen
	if b.Glue == nil {
		log.WarnContext(ctx, "no catalog: the current table's entry is not switched", "location", "s3://"+b.Bucket+"/"+gen)
		return nil
	}
	return SwitchGeneration(ctx, b.Glue, Generation{Database: plan.CurrentDatabase, Table: t.Lake, Location: "s3://" + b.Bucket + "/" + gen,
		Run: plan.Run, Source: plan.Database + "." + t.Source, Columns: loaded.Columns})
}

// sourceKeys reads every primary key of the source table, through the load's own
// MySQL → Parquet path (so that each key has the Parquet type the table's files
// give it), into local files, and from them into a set.
func (b *CurrentBuilder) sourceKeys(ctx context.Context, dir, database string, t ingest.JobTable) (*current.KeySet, error) {
	if b.MySQL == nil {
		return nil, errors.New("a key check is due and this run has no connection to the source")
	}
	db, err := b.MySQL(ctx)
	if err != nil {
		return nil, fmt.Errorf("connect to the source for the key check: %w", err)
	}
	var files []*localFile
	defer func() { closeAll(files) }()
	var key []string
	opts := mysqlparquet.Options{NoEmptyFile: true}
	for _, k := range t.Current.Key {
		opts.Select = append(opts.Select, mysqlparquet.Selected{Column: k.Source, As: k.Lake})
		key = append(key, k.Lake)
	}
	var names []string
	newFile := func(i int) (io.WriteCloser, error) {
		f, err := os.CreateTemp(dir, "keys-*.parquet")
		if err == nil {
			names = append(names, f.Name())
		}
		return f, err
	}
	if _, err := mysqlparquet.ExportTable(ctx, db, database, t.Source, newFile, opts); err != nil {
		return nil, fmt.Errorf("read the keys of %s.%s: %w", database, t.Source, err)
	}
	for _, n := range names {
		f, err := openLocal(n)
		if err != nil {
			return nil, err
		}
		files = append(files, f)
	}
	return current.ReadKeys(asFiles(files), key)
}

// parquetKeys lists the Parquet files of a folder, in key order (the order the
// load wrote them).
func parquetKeys(ctx context.Context, api S3API, bucket, prefix string) ([]string, error) {
	var keys []string
	p := s3.NewListObjectsV2Paginator(api, &s3.ListObjectsV2Input{Bucket: aws.String(bucket), Prefix: aws.String(prefix)})
	for p.HasMorePages() {
		page, err := p.NextPage(ctx)
		if err != nil {
			return nil, fmt.Errorf("list s3://%s/%s: %w", bucket, prefix, err)
		}
		for _, o := range page.Contents {
			if k := aws.ToString(o.Key); strings.HasSuffix(k, ".parquet") {
				keys = append(keys, k)
			}
		}
	}
	slices.Sort(keys)
	return keys, nil
}

// download copies objects into local files: parquet-go reads a file at offsets
// many times, which S3 would answer one request each.
func (b *CurrentBuilder) download(ctx context.Context, dir string, keys []string) ([]*localFile, error) {
	var out []*localFile
	for _, k := range keys {
		f, err := downloadTo(ctx, b.S3, b.Bucket, k, dir)
		if err != nil {
			return out, err
		}
		out = append(out, f)
	}
	return out, nil
}

func downloadTo(ctx context.Context, api s3get.API, bucket, key, dir string) (*localFile, error) {
	obj, err := s3get.Optional(ctx, api, bucket, key)
	if err != nil {
		return nil, err
	}
	if obj == nil {
		return nil, fmt.Errorf("s3://%s/%s was listed and is gone", bucket, key)
	}
	defer obj.Body.Close()
	f, err := os.CreateTemp(dir, "part-*.parquet")
	if err != nil {
		return nil, err
	}
	n, err := io.Copy(f, obj.Body)
	if err != nil {
		f.Close()
		return nil, fmt.Errorf("download s3://%s/%s: %w", bucket, key, err)
	}
	return &localFile{File: f, size: n, name: "s3://" + bucket + "/" + key}, nil
}

// localFile is a downloaded file as the merge reads it.
type localFile struct {
	*os.File
	size int64
	name string
}

func (f *localFile) Size() int64  { return f.size }
func (f *localFile) Name() string { return f.name }

func openLocal(path string) (*localFile, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	st, err := f.Stat()
	if err != nil {
		f.Close()
		return nil, err
	}
	return &localFile{File: f, size: st.Size(), name: path}, nil
}

func asFiles(fs []*localFile) []current.File {
	out := make([]current.File, len(fs))
	for i, f := range fs {
		out[i] = f
	}
	return out
}

func closeAll[F io.Closer](fs []F) {
	for _, f := range fs {
		f.Close()
	}
}

// readCurrentResult reads what the current function recorded for a table of a
// run; a missing or failed build is an error naming why.
func readCurrentResult(ctx context.Context, api S3API, bucket, run, lake string) (CurrentResult, error) {
	var res CurrentResult
	key := deploy.IngestCurrentResultKey(run, lake)
	found, err := s3obj.GetJSON(ctx, api, bucket, key, &res)
	switch {
	case err != nil:
		return res, fmt.Errorf("read the current table's result: %w", err)
	case !found:
		return res, fmt.Errorf("its current table was not built (no s3://%s/%s: the %s function failed or timed out, see its log)", bucket, key, deploy.FnIngestCurrent)
	case res.Status == CurrentFailed:
		return res, errors.New(res.Reason)
	}
	return res, nil
}
