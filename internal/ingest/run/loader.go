package run

import (
	"cmp"
	"context"
	"database/sql"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"strconv"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	s3types "github.com/aws/aws-sdk-go-v2/service/s3/types"

	"github.com/snaplake/snaplake/internal/aws/mysqlparquet"
	"github.com/snaplake/snaplake/internal/aws/s3get"
	"github.com/snaplake/snaplake/internal/aws/s3obj"
	"github.com/snaplake/snaplake/internal/ingest"
)

// Loader does what the Glue job (internal/ingest/job) does, with the project's Go
// MySQL → Parquet path: `snaplake ingest run` and the offline run use it. It reads
// the same plan file, writes the same folders and the same results.
type Loader struct {
	S3       S3API
	KMSKeyID string
	DB       *sql.DB
	// RowsPerFile starts a new Parquet file after this many rows (default 1,000,000).
	RowsPerFile int64
	// TempDir stages Parquet files before upload (default os.TempDir()).
	TempDir string
	Log     *slog.Logger
}

// JobFailedError says some tables of a job were not loaded; the others were.
type JobFailedError struct {
	Run    string
	Failed map[string]error // by source table
}

func (e *JobFailedError) Error() string {
	var parts []string
	for t, err := range e.Failed {
		parts = append(parts, t+": "+err.Error())
	}
	return fmt.Sprintf("run %s: %d tables failed: %s", e.Run, len(e.Failed), strings.Join(parts, "; "))
}

// ReadJobPlan reads the plan file an s3:// URI names.
func ReadJobPlan(ctx context.Context, api s3get.API, uri string) (ingest.JobPlan, error) {
	var p ingest.JobPlan
	bucket, key, ok := strings.Cut(strings.TrimPrefix(uri, "s3://"), "/")
	if !strings.HasPrefix(uri, "s3://") || !ok || bucket == "" || key == "" {
		return p, fmt.Errorf("plan %q is not an s3://bucket/key URI", uri)
	}
	found, err := s3obj.GetJSON(ctx, api, bucket, key, &p)
	if err != nil {
		return p, fmt.Errorf("read plan %s: %w", uri, err)
	}
	if !found {
		return p, fmt.Errorf("plan %s does not exist", uri)
	}
	return p, nil
}

// Load loads every table of the plan, one after another; a table that fails is
// reported and the next goes on. A table's result is written after its files.
func (l *Loader) Load(ctx context.Context, plan ingest.JobPlan) error {
	log := l.Log
	if log == nil {
		log = slog.Default()
	}
	log = log.With("run", plan.Run)
	failed := map[string]error{}
	for _, t := range plan.Tables {
		start := time.Now()
		res, err := l.loadTable(ctx, plan, t)
		if err != nil {
			log.ErrorContext(ctx, "table not loaded", "table", t.Source, "error", err)
			failed[t.Source] = err
			continue
		}
		res.Seconds = time.Since(start).Seconds()
		if err := l.putResult(ctx, plan.Bucket, t.Result, res); err != nil {
			failed[t.Source] = err
			continue
		}
		log.InfoContext(ctx, "table loaded", "table", t.Source, "lake", t.Lake, "mode", t.Mode, "rows", res.Rows, "watermark", res.Watermark, "folder", t.Folder)
	}
	if len(failed) > 0 {
		return &JobFailedError{Run: plan.Run, Failed: failed}
	}
	return nil
}

func (l *Loader) loadTable(ctx context.Context, plan ingest.JobPlan, t ingest.JobTable) (ingest.TableResult, error) {
	res := ingest.TableResult{Source: t.Source, Lake: t.Lake, Columns: []ingest.ResultColumn{}}
	opts := mysqlparquet.Options{RowsPerFile: cmp.Or(l.RowsPerFile, plan.RowsPerFile)}
	// The plan's columns under their lake names, as the job's SELECT list has them.
	for _, c := range t.Columns {
		opts.Select = append(opts.Select, mysqlparquet.Selected{Column: c.Source, As: c.Lake})
	}
	if t.Mode == ingest.ModeIncremental {
		col := mysqlparquet.QuoteIdentifier(t.Column)
		var upper sql.NullString
		q := "SELECT CAST(MAX(" + col + ") AS CHAR) FROM " + mysqlparquet.QuoteIdentifier(plan.Database) + "." + mysqlparquet.QuoteIdentifier(t.Source)
		if err := l.DB.QueryRowContext(ctx, q).Scan(&upper); err != nil {
			return res, fmt.Errorf("read the upper bound of %s.%s: %w", t.Source, t.Column, err)
		}
		if !upper.Valid {
			return res, nil // no rows yet
		}
		if t.From != nil && *t.From == upper.String {
			res.Watermark = &upper.String
			return res, nil // nothing new
		}
		opts.Where, opts.Args = col+" <= ?", []any{bound(upper.String)}
		if t.From != nil {
			opts.Where, opts.Args = col+" > ? AND "+col+" <= ?", []any{bound(*t.From), bound(upper.String)}
		}
		res.Watermark = &upper.String
	}
	// Like the job's mode("errorifexists"): a folder with files is another run's.
	existing, err := l.S3.ListObjectsV2(ctx, &s3.ListObjectsV2Input{Bucket: aws.String(plan.Bucket), Prefix: aws.String(t.Folder), MaxKeys: aws.Int32(1)})
	if err != nil {
		return res, fmt.Errorf("check s3://%s/%s is empty: %w", plan.Bucket, t.Folder, err)
	}
	if len(existing.Contents) > 0 {
		return res, fmt.Errorf("s3://%s/%s already has files: a folder is written once, by its run", plan.Bucket, t.Folder)
	}
	if len(t.Ranges) == 0 {
		newFile := func(i int) (io.WriteCloser, error) {
			return s3obj.NewStaged(ctx, l.S3, l.TempDir, plan.Bucket, fmt.Sprintf("%spart-%05d.gz.parquet", t.Folder, i), l.KMSKeyID)
		}
		tr, err := mysqlparquet.ExportTable(ctx, l.DB, plan.Database, t.Source, newFile, opts)
		if err != nil {
			return res, err
		}
		res.Rows = tr.Rows
		res.Columns = resultColumns(tr.Columns)
		return res, nil
	}
	// A split table: the plan's ranges one after another, each its own query with
	// its own files, as each is one Spark partition in the job. The ranges cover
	// the key's domain exactly once (ingest.KeyRange), so the union is the table.
	// The first range writes a file even when empty, so that the schema is known.
	key := mysqlparquet.QuoteIdentifier(t.RangeColumn)
	for _, r := range t.Ranges {
		if err := r.Check(); err != nil {
			return res, fmt.Errorf("the plan's ranges of %s: %w", t.Source, err)
		}
	}
	for i, r := range t.Ranges {
		o := opts
		o.Where, o.NoEmptyFile = r.Where(key), i > 0
		if opts.Where != "" {
			o.Where = "(" + opts.Where + ") AND " + o.Where
		}
		newFile := func(f int) (io.WriteCloser, error) {
			return s3obj.NewStaged(ctx, l.S3, l.TempDir, plan.Bucket, fmt.Sprintf("%spart-%05d-%05d.gz.parquet", t.Folder, i, f), l.KMSKeyID)
		}
		tr, err := mysqlparquet.ExportTable(ctx, l.DB, plan.Database, t.Source, newFile, o)
		if err != nil {
			return res, fmt.Errorf("range %d of %d (%s): %w", i+1, len(t.Ranges), o.Where, err)
		}
		res.Rows += tr.Rows
		if i == 0 {
			res.Columns = resultColumns(tr.Columns)
		}
	}
	return res, nil
}

func resultColumns(cols []mysqlparquet.Column) []ingest.ResultColumn {
	out := make([]ingest.ResultColumn, len(cols))
	for i := range cols {
		out[i] = ingest.ResultColumn{Name: cols[i].Name, Type: cols[i].HiveType()}
	}
	return out
}

// putResult writes the result the way Spark's JSON writer does: one JSON line in a
// part file, then _SUCCESS.
func (l *Loader) putResult(ctx context.Context, bucket, prefix string, res ingest.TableResult) error {
	line, err := json.Marshal(res)
	if err != nil {
		return err
	}
	for _, o := range []struct{ name, body string }{{"part-00000.json", string(line) + "\n"}, {"_SUCCESS", ""}} {
		in := &s3.PutObjectInput{Bucket: aws.String(bucket), Key: aws.String(prefix + o.name), Body: strings.NewReader(o.body), ContentLength: aws.Int64(int64(len(o.body)))}
		if l.KMSKeyID != "" {
			in.ServerSideEncryption, in.SSEKMSKeyId = s3types.ServerSideEncryptionAwsKms, aws.String(l.KMSKeyID)
		}
		if _, err := l.S3.PutObject(ctx, in); err != nil {
			return fmt.Errorf("write the result of %s: put s3://%s/%s%s: %w", res.Source, bucket, prefix, o.name, err)
		}
	}
	return nil
}

// readResult reads a table's result; nil when the job wrote none.
func readResult(ctx context.Context, api S3API, bucket, prefix string) (*ingest.TableResult, error) {
	p := s3.NewListObjectsV2Paginator(api, &s3.ListObjectsV2Input{Bucket: aws.String(bucket), Prefix: aws.String(prefix)})
	var keys []string
	success := false
	for p.HasMorePages() {
		page, err := p.NextPage(ctx)
		if err != nil {
			return nil, fmt.Errorf("list the result s3://%s/%s: %w", bucket, prefix, err)
		}
		for _, o := range page.Contents {
			k := aws.ToString(o.Key)
			switch {
			case strings.HasSuffix(k, "/_SUCCESS"):
				success = true
			case strings.HasSuffix(k, ".json"):
				keys = append(keys, k)
			}
		}
	}
	if !success || len(keys) == 0 {
		return nil, nil // Spark writes _SUCCESS last: without it the result is not complete
	}
	for _, k := range keys {
		out, err := s3get.Optional(ctx, api, bucket, k)
		if err != nil {
			return nil, fmt.Errorf("read the result s3://%s/%s: %w", bucket, k, err)
		}
		if out == nil {
			return nil, fmt.Errorf("the result s3://%s/%s was listed and is gone", bucket, k)
		}
		data, err := io.ReadAll(out.Body)
		out.Body.Close()
		if err != nil {
			return nil, fmt.Errorf("read the result s3://%s/%s: %w", bucket, k, err)
		}
		for _, line := range strings.Split(string(data), "\n") {
			if strings.TrimSpace(line) == "" {
				continue
			}
			var r ingest.TableResult
			if err := json.Unmarshal([]byte(line), &r); err != nil {
				return nil, fmt.Errorf("decode the result s3://%s/%s: %w", bucket, k, err)
			}
			return &r, nil
		}
	}
	return nil, nil
}

// bound is a watermark as a query argument: an integer as a number, so that MySQL
// compares it exactly (a string against an integer column is compared as a double,
// which is inexact above 2^53), anything else as the text MySQL printed.
func bound(v string) any {
	if n, err := strconv.ParseInt(v, 10, 64); err == nil {
		return n
	}
	if n, err := strconv.ParseUint(v, 10, 64); err == nil {
		return n
	}
	return v
}
