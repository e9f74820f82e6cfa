// Package relocate moves one RDS snapshot export from its export folder into stable
// per-table snapshot_date partitions that Glue crawls and Athena queries.
package relocate

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/s3/types"
	"github.com/aws/smithy-go"

	"github.com/snaplake/snaplake/internal/aws/s3get"
)

// API is the part of *s3.Client that Run uses.
type API interface {
	ListObjectsV2(ctx context.Context, params *s3.ListObjectsV2Input, optFns ...func(*s3.Options)) (*s3.ListObjectsV2Output, error)
	CopyObject(ctx context.Context, params *s3.CopyObjectInput, optFns ...func(*s3.Options)) (*s3.CopyObjectOutput, error)
	CreateMultipartUpload(ctx context.Context, params *s3.CreateMultipartUploadInput, optFns ...func(*s3.Options)) (*s3.CreateMultipartUploadOutput, error)
	UploadPartCopy(ctx context.Context, params *s3.UploadPartCopyInput, optFns ...func(*s3.Options)) (*s3.UploadPartCopyOutput, error)
	CompleteMultipartUpload(ctx context.Context, params *s3.CompleteMultipartUploadInput, optFns ...func(*s3.Options)) (*s3.CompleteMultipartUploadOutput, error)
	AbortMultipartUpload(ctx context.Context, params *s3.AbortMultipartUploadInput, optFns ...func(*s3.Options)) (*s3.AbortMultipartUploadOutput, error)
	DeleteObjects(ctx context.Context, params *s3.DeleteObjectsInput, optFns ...func(*s3.Options)) (*s3.DeleteObjectsOutput, error)
	GetObject(ctx context.Context, params *s3.GetObjectInput, optFns ...func(*s3.Options)) (*s3.GetObjectOutput, error)
	PutObject(ctx context.Context, params *s3.PutObjectInput, optFns ...func(*s3.Options)) (*s3.PutObjectOutput, error)
}

var _ API = (*s3.Client)(nil)

// Summary is what one Run did; the Lambda returns it to the state machine. On a re-run
// of a finished export Moved is 0 while Databases, Tables, Crawl and Problems still
// describe the whole export.
type Summary struct {
	// Moved counts table files whose source this run deleted after verifying the copy.
	Moved int `json:"moved"`
	// Skipped counts objects left in the export folder: metadata, _SUCCESS and other
	// hidden files, strays.
	Skipped int     `json:"skipped"`
	Bytes   int64   `json:"bytes"`
	Seconds float64 `json:"seconds"`
	// Databases are the sorted source databases with table files in this export,
	// moved by this run or an earlier one. They come from the manifest Run keeps in
	// the export folder (see manifestName) merged with the files still there, so a
	// re-run after everything moved still lists them (one Glue crawler each).
	Databases []string `json:"databases"`
	// Tables counts the export's tables with at least one file.
	Tables int `json:"tables"`
	// Excluded counts the table files of excluded databases and tables (Options.Exclude)
	// this run deleted from the export folder without copying them.
	Excluded int `json:"excluded"`
	// PrunedPartitions counts snapshot_date partitions deleted by retention.
	PrunedPartitions int `json:"prunedPartitions"`
	// Replaced counts objects of an earlier export for the same date deleted from
	// this date's partitions.
	Replaced int `json:"replaced"`
	// Crawl has one entry per source database folder with table files in this export,
	// sorted by database: what each crawler must crawl. Like Databases it comes from
	// the manifest too, so it is whole on a re-run. Never null.
	Crawl []CrawlTarget `json:"crawl"`
	// Problems lists the tables RDS did not export whole, from the export's
	// export_tables_info_*.json files: a status other than COMPLETE, or a warning.
	// Those files stay in the export folder, so a re-run reports them again. Sorted by
	// table, at most maxProblems entries (ProblemsOmitted counts the rest; every one
	// is logged), each warning cut to maxWarningBytes. Never null.
	Problems        []TableProblem `json:"problems"`
	ProblemsOmitted int            `json:"problemsOmitted"`
}

// CrawlTarget is one database's share of an export, as a crawler needs it.
type CrawlTarget struct {
	// Database is the source database lower-cased, as Glue names are: the crawler is
	// snaplake-<database>.
	Database string `json:"database"`
	// Folder is the database's folder under DestPrefix, in the case RDS exported it.
	Folder string `json:"folder"`
	// Tables are the sorted table folders under Folder that this export relocated (in
	// this run or an earlier run of it) and, from the Lambda handler, every other table
	// folder already there: the crawler's include paths are DestPrefix<Folder>/<table>/.
	Tables []string `json:"tables"`
}

// TableProblem is a table RDS skipped, failed or warned about in this export. Its
// partition for this snapshot date is missing or incomplete, so Athena's newest
// partition of it is an older export.
type TableProblem struct {
	// Table is the perTableStatus target, "<database>.<table>" (a warning about a
	// whole database names the database alone).
	Table string `json:"table"`
	// Status is as RDS wrote it ("" when the entry has none).
	Status  string `json:"status"`
	Warning string `json:"warning,omitempty"`
}

// Run moves every table file of the export s3://Bucket/SourcePrefix/ExportID/ to
// DestPrefix<db>/<table>/snapshot_date=SnapshotDate/<name>, where name is the file's
// path below the table's base prefix folded into one file name (partitionFileName):
// no folder level remains between the partition and the file, so a crawler finds
// snapshot_date as the only partition key. It also reads the export's
// export_tables_info files and reports the tables RDS did not export whole.
//
// It is safe to kill at any point and run again with the same options: it writes a
// manifest of the export before deleting anything, copies only what is not already at
// its destination, lists the destination to verify every copy before deleting any
// source, then removes an earlier export's files from the same partitions and prunes
// partitions beyond Retention.
func Run(ctx context.Context, api API, opts Options, log *slog.Logger) (Summary, error) {
	start := time.Now()
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	o, err := opts.normalize()
	if err != nil {
		return Summary{}, err
	}
	r := &run{
		api:          api,
		o:            o,
		exportPrefix: o.SourcePrefix + o.ExportID + "/",
		byRel:        make(map[string]int32),
		tableIdx:     make(map[string]int32),
		sum:          Summary{Crawl: []CrawlTarget{}, Problems: []TableProblem{}},
		log: log.With(slog.String("bucket", o.Bucket), slog.String("exportId", o.ExportID),
			slog.String("snapshotDate", o.SnapshotDate)),
	}
	err = r.run(ctx)
	r.sum.Seconds = time.Since(start).Seconds()
	if err != nil {
		r.log.Error("relocate failed", slog.Any("error", err), slog.Int("moved", r.sum.Moved))
		return r.sum, err
	}
	r.log.Info("relocate done", slog.Int("moved", r.sum.Moved), slog.Int("skipped", r.sum.Skipped),
		slog.Int64("bytes", r.sum.Bytes), slog.Int("tables", r.sum.Tables), slog.Int("replaced", r.sum.Replaced),
		slog.Int("problemTables", len(r.sum.Problems)+r.sum.ProblemsOmitted),
		slog.Int("prunedPartitions", r.sum.PrunedPartitions), slog.Float64("seconds", r.sum.Seconds))
	return r.sum, nil
}

type run struct {
	api          API
	o            Options
	log          *slog.Logger
	exportPrefix string
	sum          Summary
	mu           sync.Mutex // guards sum during concurrent deletes

	files    []file
	byRel    map[string]int32 // rel -> index in files
	tables   []*table
	tableIdx map[string]int32 // table base prefix -> index in tables

	manifestFound bool
	tablesInfo    []string // keys of export_tables_info_*.json at the export root
	excluded      []string // keys of excluded tables' files in the export folder
}

type file struct {
	rel      string // key relative to the export root
	size     int64
	destSize int64 // size at the destination, -1 when absent
	table    int32
	inSource bool
}

type table struct {
	db, name  string
	base      string // "<db>/<db>.<table>/" relative to the export root
	partition string // destination partition prefix
	files     []int32
	stale     []string // keys in partition that are not this export's
	copied    bool     // something was copied: list again before trusting destSize
}

func (r *run) destKey(f *file) string {
	t := r.tables[f.table]
	return t.partition + partitionFileName(f.rel[len(t.base):])
}

func (r *run) run(ctx context.Context) error {
	if err := r.listAndCopy(ctx); err != nil {
		return err
	}
	// Listing the destination and reading the export's tables info are independent
	// reads; both finish before anything is deleted, so a malformed tables-info file
	// stops the run with every source still in place.
	reads := []func(context.Context) error{
		func(ctx context.Context) error { return r.scanTables(ctx, true) },
		r.readTablesInfo,
	}
	if err := forEach(ctx, len(reads), len(reads), func(ctx context.Context, i int) error { return reads[i](ctx) }); err != nil {
		return err
	}
	if err := r.verify(); err != nil {
		return err
	}
	if err := r.deleteStale(ctx); err != nil {
		return err
	}
	// Every copy is verified: deleting the sources and pruning older dates touch
	// disjoint keys, so they run at once.
	steps := []func(context.Context) error{r.deleteSources, r.deleteExcluded, r.prune}
	return forEach(ctx, len(steps), len(steps), func(ctx context.Context, i int) error { return steps[i](ctx) })
}

type probeResult struct {
	found bool
	err   error
}

// listAndCopy lists the export and copies what is not at its destination yet.
//
// An export no run has touched has no manifest: nothing of it is at the destination,
// so each page of the listing is copied as it arrives instead of after the whole
// listing (100 round trips for 100,000 objects). Whether a manifest exists is asked
// while the first page is listed; no copy starts before the answer, so a re-run with
// other options is refused before it changes anything.
func (r *run) listAndCopy(ctx context.Context) error {
	probed := make(chan probeResult, 1)
	go func() {
		found, err := r.probeManifest(ctx)
		probed <- probeResult{found, err}
	}()
	copyCtx, cancelCopies := context.WithCancelCause(ctx)
	defer cancelCopies(nil)
	jobs := make(chan copyJob, 2*maxDeleteBatch)
	copied := make(chan error, 1)
	var probe probeResult
	decided, fresh := false, false
	decide := func() {
		if decided {
			return
		}
		decided = true
		probe = <-probed
		fresh = probe.err == nil && !probe.found
		if fresh {
			go func() {
				err := r.copyAll(copyCtx, jobs)
				if err != nil {
					cancelCopies(err)
				}
				copied <- err
			}()
		}
	}
	listErr := r.listSource(ctx, func(i int32) {
		decide()
		if !fresh {
			return
		}
		r.tables[r.files[i].table].copied = true
		select {
		case jobs <- r.job(i):
		case <-copyCtx.Done(): // a copy failed: the run stops below
		}
	})
	decide()
	close(jobs)
	err := probe.err
	if err == nil {
		err = listErr
	}
	if err != nil {
		cancelCopies(err)
		if fresh {
			<-copied
		}
		return err
	}
	if !fresh {
		return r.resume(ctx)
	}
	r.describe()
	r.log.Info("relocate listed export; copies under way", slog.Int("files", len(r.files)), slog.Int("concurrency", r.o.Concurrency))
	// The manifest must exist before the first deletion: store it while copies run.
	// It merges what another run of this export (a re-delivered event) stored meanwhile.
	manifestErr := r.writeManifest(copyCtx, r.exportPrefix+manifestName)
	if manifestErr != nil {
		cancelCopies(manifestErr)
	}
	copyErr := <-copied
	if manifestErr != nil {
		return manifestErr
	}
	return copyErr
}

// resume continues a run that was interrupted, on the listed export: the manifest
// says which files were already moved, a listing of the destination which copies
// already landed.
func (r *run) resume(ctx context.Context) error {
	writeManifest, err := r.syncManifest(ctx)
	if err != nil {
		return err
	}
	r.describe()
	if err := r.scanTables(ctx, false); err != nil {
		return err
	}
	var todo []int32
	var copyBytes int64
	for i := range r.files {
		f := &r.files[i]
		if f.destSize == f.size {
			continue
		}
		if !f.inSource {
			return &LostFileError{Bucket: r.o.Bucket, Source: r.exportPrefix + f.rel, Dest: r.destKey(f)}
		}
		todo = append(todo, int32(i))
		copyBytes += f.size
		r.tables[f.table].copied = true
	}
	r.log.Info("relocate resuming", slog.Int("files", len(r.files)), slog.Int("toCopy", len(todo)),
		slog.Int64("bytes", copyBytes), slog.Int("concurrency", r.o.Concurrency))
	jobs := make(chan copyJob, len(todo))
	for _, i := range todo {
		jobs <- r.job(i)
	}
	close(jobs)
	copyCtx, cancelCopies := context.WithCancelCause(ctx)
	defer cancelCopies(nil)
	manifestDone := make(chan error, 1)
	go func() {
		err := writeManifest(copyCtx)
		if err != nil {
			cancelCopies(err)
		}
		manifestDone <- err
	}()
	copyErr := r.copyAll(copyCtx, jobs)
	if err := <-manifestDone; err != nil {
		return err
	}
	return copyErr
}

// probeManifest reports whether an earlier run left its manifest.
func (r *run) probeManifest(ctx context.Context) (bool, error) {
	key := r.exportPrefix + manifestName
	out, err := s3get.Optional(ctx, r.api, r.o.Bucket, key)
	if err != nil {
		return false, fmt.Errorf("look for manifest s3://%s/%s: %w", r.o.Bucket, key, r.s3err(err))
	}
	if out == nil {
		return false, nil
	}
	out.Body.Close()
	return true, nil
}

// listSource reads the whole export folder, page by page without limit, calling
// added (if set) for each table file as it is listed.
func (r *run) listSource(ctx context.Context, added func(i int32)) error {
	objects := 0
	err := r.list(ctx, r.exportPrefix, "", func(o types.Object) {
		objects++
		key := aws.ToString(o.Key)
		rel := key[len(r.exportPrefix):]
		if rel == manifestName {
			r.manifestFound = true
			return
		}
		if tablesInfoFile(rel) {
			r.tablesInfo = append(r.tablesInfo, key)
		}
		db, name, _, ok := tableFile(rel)
		if !ok {
			r.sum.Skipped++
			return
		}
		if excludes(r.o.Exclude, db, name) {
			r.excluded = append(r.excluded, key)
			return
		}
		i := r.addFile(rel, db, name, aws.ToInt64(o.Size), true)
		if added != nil {
			added(i)
		}
	}, nil)
	if err != nil {
		return fmt.Errorf("list export s3://%s/%s: %w", r.o.Bucket, r.exportPrefix, err)
	}
	if objects == 0 {
		return &ExportNotFoundError{Bucket: r.o.Bucket, Prefix: r.exportPrefix}
	}
	r.log.Info("relocate listed export", slog.String("prefix", r.exportPrefix),
		slog.Int("tableFiles", len(r.files)), slog.Int("skipped", r.sum.Skipped), slog.Int("excluded", len(r.excluded)),
		slog.Bool("manifest", r.manifestFound))
	return nil
}

func (r *run) addFile(rel, db, name string, size int64, inSource bool) int32 {
	base := rel[:len(db)+1+len(db)+1+len(name)+1]
	ti, ok := r.tableIdx[base]
	if !ok {
		ti = int32(len(r.tables))
		r.tableIdx[base] = ti
		r.tables = append(r.tables, &table{
			db: db, name: name, base: base,
			partition: partitionPrefix(r.o.DestPrefix, db, name, r.o.SnapshotDate),
		})
	}
	i := int32(len(r.files))
	r.files = append(r.files, file{rel: rel, size: size, destSize: -1, table: ti, inSource: inSource})
	r.byRel[rel] = i
	r.tables[ti].files = append(r.tables[ti].files, i)
	return i
}

func (r *run) describe() {
	byFolder := make(map[string][]string, 4)
	for _, t := range r.tables {
		byFolder[t.db] = append(byFolder[t.db], t.name)
	}
	dbs := make([]string, 0, len(byFolder))
	crawl := make([]CrawlTarget, 0, len(byFolder))
	for folder, tables := range byFolder {
		dbs = append(dbs, folder)
		slices.Sort(tables)
		crawl = append(crawl, CrawlTarget{Database: strings.ToLower(folder), Folder: folder, Tables: tables})
	}
	slices.Sort(dbs)
	// MySQL schema names are case-sensitive, so "Shop" and "shop" can both exist; they
	// share one crawler and stay two entries, ordered by folder.
	slices.SortFunc(crawl, func(a, b CrawlTarget) int {
		return cmp.Or(strings.Compare(a.Database, b.Database), strings.Compare(a.Folder, b.Folder))
	})
	r.sum.Databases = dbs
	r.sum.Crawl = crawl
	r.sum.Tables = len(r.tables)
}

// scanTables lists each table's destination partition for this date and records
// which of the export's files are there (destSize) and which objects are not the
// export's (stale). With again, only tables that were copied into are listed.
func (r *run) scanTables(ctx context.Context, again bool) error {
	var which []*table
	for _, t := range r.tables {
		if !again || t.copied {
			which = append(which, t)
		}
	}
	return forEach(ctx, len(which), r.o.Concurrency, func(ctx context.Context, k int) error {
		t := which[k]
		for _, i := range t.files {
			r.files[i].destSize = -1
		}
		t.stale = t.stale[:0]
		ti := r.tableIdx[t.base]
		err := r.list(ctx, t.partition, "", func(o types.Object) {
			key := aws.ToString(o.Key)
			// Any other object is stale, including an earlier export's files in the
			// nested layout (<batch>/part-…), whose names hold a '/'.
			if rest, ok := parsePartitionFileName(key[len(t.partition):]); ok {
				if i, ok := r.byRel[t.base+rest]; ok && r.files[i].table == ti {
					r.files[i].destSize = aws.ToInt64(o.Size)
					return
				}
			}
			t.stale = append(t.stale, key)
		}, nil)
		if err != nil {
			return fmt.Errorf("list destination s3://%s/%s: %w", r.o.Bucket, t.partition, err)
		}
		return nil
	})
}

func (r *run) verify() error {
	var e VerifyError
	for i := range r.files {
		f := &r.files[i]
		if f.destSize != f.size {
			e.Count++
			if len(e.Missing) < 10 {
				e.Missing = append(e.Missing, r.destKey(f))
			}
		}
	}
	if e.Count > 0 {
		e.Bucket = r.o.Bucket
		return &e
	}
	r.log.Info("relocate verified copies", slog.Int("files", len(r.files)))
	return nil
}

// deleteStale removes what an earlier export for the same date left in the
// partitions this export now fills: Athena would count both.
func (r *run) deleteStale(ctx context.Context) error {
	var keys []string
	for _, t := range r.tables {
		if len(t.stale) > 0 {
			r.log.Info("relocate replacing earlier export", slog.String("partition", t.partition), slog.Int("objects", len(t.stale)))
		}
		keys = append(keys, t.stale...)
	}
	return r.deleteKeys(ctx, len(keys), func(i int) (string, int64) { return keys[i], 0 }, func(n int, _ int64) {
		r.sum.Replaced += n
	})
}

// deleteSources deletes the verified sources still in the export folder.
func (r *run) deleteSources(ctx context.Context) error {
	var idx []int32
	for i := range r.files {
		if r.files[i].inSource {
			idx = append(idx, int32(i))
		}
	}
	err := r.deleteKeys(ctx, len(idx), func(i int) (string, int64) {
		f := &r.files[idx[i]]
		return r.exportPrefix + f.rel, f.size
	}, func(n int, bytes int64) {
		r.sum.Moved += n
		r.sum.Bytes += bytes
	})
	if err != nil {
		return err
	}
	r.log.Info("relocate deleted sources", slog.Int("moved", r.sum.Moved), slog.Int64("bytes", r.sum.Bytes))
	return nil
}

// deleteExcluded deletes the excluded tables' files from the export folder: the
// configuration keeps them out of the lake, and RDS's ExportOnly cannot leave them out
// of an export of every database. Only keys listed under the export's own folder are
// deleted (listSource collected them there).
func (r *run) deleteExcluded(ctx context.Context) error {
	if len(r.excluded) == 0 {
		return nil
	}
	err := r.deleteKeys(ctx, len(r.excluded), func(i int) (string, int64) { return r.excluded[i], 0 }, func(n int, _ int64) {
		r.sum.Excluded += n
	})
	if err != nil {
		return err
	}
	r.log.Info("relocate deleted excluded tables' files", slog.Int("files", r.sum.Excluded), slog.Any("exclude", r.o.Exclude))
	return nil
}

// excludedTarget reports whether an export_tables_info target ("db.table", or "db"
// for a warning about a whole database) is excluded.
func (r *run) excludedTarget(target string) bool {
	db, table, _ := strings.Cut(target, ".")
	return excludes(r.o.Exclude, db, table)
}

// excludes reports whether exclude ("db" and "db.table" entries) names the database
// db or its table (table "" asks for the database alone). Names match
// case-insensitively: a MySQL schema "Shop" and "shop" are one Glue database, and an
// exclusion errs on the side of leaving data out.
func excludes(exclude []string, db, table string) bool {
	for _, e := range exclude {
		edb, etable, isTable := strings.Cut(e, ".")
		if strings.EqualFold(edb, db) && (!isTable || (table != "" && strings.EqualFold(etable, table))) {
			return true
		}
	}
	return false
}

// deleteKeys deletes n keys in DeleteObjects batches of up to 1000, concurrently.
// done runs (under r.mu) for each batch that S3 fully accepted.
func (r *run) deleteKeys(ctx context.Context, n int, key func(int) (string, int64), done func(n int, bytes int64)) error {
	batches := (n + maxDeleteBatch - 1) / maxDeleteBatch
	return forEach(ctx, batches, r.o.Concurrency, func(ctx context.Context, b int) error {
		lo, hi := b*maxDeleteBatch, min((b+1)*maxDeleteBatch, n)
		ids := make([]types.ObjectIdentifier, 0, hi-lo)
		var bytes int64
		for i := lo; i < hi; i++ {
			k, size := key(i)
			ids = append(ids, types.ObjectIdentifier{Key: aws.String(k)})
			bytes += size
		}
		if err := r.deleteBatch(ctx, ids); err != nil {
			return err
		}
		r.mu.Lock()
		done(len(ids), bytes)
		r.mu.Unlock()
		return nil
	})
}

func (r *run) deleteBatch(ctx context.Context, ids []types.ObjectIdentifier) error {
	out, err := r.api.DeleteObjects(ctx, &s3.DeleteObjectsInput{
		Bucket: aws.String(r.o.Bucket),
		Delete: &types.Delete{Objects: ids, Quiet: aws.Bool(true)},
	})
	if err != nil {
		return fmt.Errorf("delete %d objects from s3://%s (first %s): %w", len(ids), r.o.Bucket, aws.ToString(ids[0].Key), r.s3err(err))
	}
	if len(out.Errors) > 0 {
		first := out.Errors[0]
		return &DeleteError{Bucket: r.o.Bucket, Failed: len(out.Errors),
			Key: aws.ToString(first.Key), Code: aws.ToString(first.Code), Message: aws.ToString(first.Message)}
	}
	return nil
}

// list pages through prefix without limit, calling obj for each object and cp for each
// common prefix (when delimiter is set).
func (r *run) list(ctx context.Context, prefix, delimiter string, obj func(types.Object), cp func(string)) error {
	in := &s3.ListObjectsV2Input{Bucket: aws.String(r.o.Bucket), Prefix: aws.String(prefix)}
	if delimiter != "" {
		in.Delimiter = aws.String(delimiter)
	}
	p := s3.NewListObjectsV2Paginator(r.api, in)
	for p.HasMorePages() {
		page, err := p.NextPage(ctx)
		if err != nil {
			return r.s3err(err)
		}
		for _, o := range page.Contents {
			obj(o)
		}
		if cp != nil {
			for _, c := range page.CommonPrefixes {
				cp(aws.ToString(c.Prefix))
			}
		}
	}
	return nil
}

// s3err turns NoSuchBucket into the typed error callers decide on.
func (r *run) s3err(err error) error {
	var nsb *types.NoSuchBucket
	var api smithy.APIError
	if errors.As(err, &nsb) || (errors.As(err, &api) && api.ErrorCode() == "NoSuchBucket") {
		return &BucketNotFoundError{Bucket: r.o.Bucket}
	}
	return err
}
