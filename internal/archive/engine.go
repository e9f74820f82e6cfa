package archive

import (
	"context"
	"database/sql"
	"database/sql/driver"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"strings"
	"sync"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	s3types "github.com/aws/aws-sdk-go-v2/service/s3/types"

	"github.com/snaplake/snaplake/internal/aws/mysqlparquet"
)

// S3API is the part of S3 a run uses; *s3.Client satisfies it.
type S3API interface {
	PutObject(ctx context.Context, in *s3.PutObjectInput, optFns ...func(*s3.Options)) (*s3.PutObjectOutput, error)
	GetObject(ctx context.Context, in *s3.GetObjectInput, optFns ...func(*s3.Options)) (*s3.GetObjectOutput, error)
	ListObjectsV2(ctx context.Context, in *s3.ListObjectsV2Input, optFns ...func(*s3.Options)) (*s3.ListObjectsV2Output, error)
}

// Deps are what a run talks to.
type Deps struct {
	// DB is the source: the rows are read from it and deleted there.
	DB *sql.DB
	S3 S3API
	// Lag watches the replica (nil: none is watched); Load the source's
	// Threads_running (nil: SHOW GLOBAL STATUS on DB).
	Lag  LagProbe
	Load LoadProbe
	// Clock is the real one when nil; Log discards when nil.
	Clock Clock
	Log   *slog.Logger
	// Progress, when set, is called at each change of a batch's state (the CLI
	// prints a line per batch from it): one call at a time, a batch's calls in the
	// order of its states.
	Progress func(Progress)
	// TempDir holds each batch's Parquet file while it is uploaded and read back
	// ("" is os.TempDir(); a Lambda's /tmp).
	TempDir string
}

// Progress is one batch's change of state.
type Progress struct {
	Schema, Table string
	Batch         int
	State         string
	Object        string
	Rows, Bytes   int64
	// Deleted and Changed so far (StateDeleted: final).
	Deleted, Changed int64
}

// Summary is one table's run. Rows, Bytes, Batches, RowsDeleted and
// ChangedAfterRead count the whole run of the cutoff (every invocation that worked
// on its manifest); Seconds and Pauses this invocation.
type Summary struct {
	Schema   string    `json:"schema"`
	Table    string    `json:"table"`
	Cutoff   time.Time `json:"cutoff"`
	Manifest string    `json:"manifest"`
	// Rows is the rows archived: written to S3 and verified there.
	Rows    int64 `json:"rows"`
	Bytes   int64 `json:"bytes"`
	Batches int   `json:"batches"`
	// RowsDeleted is the rows the run deleted; ChangedAfterRead the archived rows
	// kept because their timestamp moved past the cutoff after they were read.
	RowsDeleted      int64   `json:"rowsDeleted"`
	ChangedAfterRead int64   `json:"changedAfterRead"`
	Seconds          float64 `json:"seconds"`
	// Pauses counts the waits by reason (PauseReplicaLag...), one per check
	// interval waited.
	Pauses map[string]int `json:"pauses"`
	// Complete: every row older than the cutoff was archived and deleted (or
	// kept as changed). Otherwise the run stopped when its budget was spent
	// (Stopped "budget") and the next run resumes from the manifest.
	Complete bool   `json:"complete"`
	Stopped  string `json:"stopped,omitempty"`
	// Resumed: the run continued an unfinished manifest, with its cutoff.
	Resumed bool `json:"resumed"`
}

// JobError says a job cannot run as given.
type JobError struct {
	Schema, Table, Problem string
}

func (e *JobError) Error() string {
	return fmt.Sprintf("archive %s.%s: %s", e.Schema, e.Table, e.Problem)
}

// maxPlaceholders is MySQL's limit of ? in one prepared statement.
const maxPlaceholders = 65535

type runner struct {
	job   Job
	deps  Deps
	log   *slog.Logger
	clock Clock
	load  LoadProbe
	name  string
	start time.Time
	keys  *keyColumns
	store *manifestStore
	conn  *sql.Conn // the deletes' session, in UTC

	mu           sync.Mutex
	cond         *sync.Cond
	m            *Manifest
	err          error
	stopped      bool // the budget is spent
	producerDone bool
	pauses       map[string]int
	lastDelete   time.Time
	cancel       context.CancelFunc
	progressMu   sync.Mutex
}

// Run archives one table: it reads the rows older than the cutoff in batches of
// job.BatchRows by keyset pagination on the primary key, writes each batch as one
// Parquet object, reads it back and checks its row count and key checksum, and only
// then deletes exactly those keys, job.DeleteRows at a time, gently. The manifest
// in S3 records each batch's state, so a run killed at any point and started again
// resumes: an unfinished manifest of the table is resumed with its own cutoff,
// whatever job.Cutoff says.
func Run(ctx context.Context, job Job, deps Deps) (Summary, error) {
	r := &runner{job: job, deps: deps, log: deps.Log, clock: deps.Clock, load: deps.Load,
		name: job.Schema + "." + job.Table, pauses: map[string]int{}}
	if r.log == nil {
		r.log = slog.New(slog.DiscardHandler)
	}
	if r.clock == nil {
		r.clock = realClock{}
	}
	if r.load == nil {
		r.load = GlobalStatus{DB: deps.DB}
	}
	r.cond = sync.NewCond(&r.mu)
	r.start = r.clock.Now()
	sum := Summary{Schema: job.Schema, Table: job.Table, Pauses: r.pauses}
	if err := r.check(); err != nil {
		return sum, err
	}
	cols, err := mysqlparquet.Columns(ctx, deps.DB, job.Schema, job.Table)
	if err != nil {
		return sum, fmt.Errorf("archive %s: %w", r.name, err)
	}
	if r.keys, err = newKeyColumns(job.Schema, job.Table, cols, job.Key); err != nil {
		return sum, err
	}
	resumed, done, err := r.open(ctx)
	sum.Resumed = resumed
	if err != nil {
		return sum, err
	}
	sum.Cutoff, sum.Manifest = r.m.Cutoff, "s3://"+job.Bucket+"/"+r.store.key
	if done {
		r.log.Info("archive: the run of this cutoff is already complete", "table", r.name, "cutoff", r.m.Cutoff)
		return r.summary(sum), nil
	}
	if r.conn, err = deps.DB.Conn(ctx); err != nil {
		return sum, fmt.Errorf("archive %s: connect: %w", r.name, err)
	}
	defer r.conn.Close()
	// The cutoff and TIMESTAMP keys are compared in UTC, as ExportTable reads them.
	if _, err := r.conn.ExecContext(ctx, "SET time_zone = '+00:00'"); err != nil {
		return sum, fmt.Errorf("archive %s: set session time zone: %w", r.name, err)
	}
	defer r.conn.ExecContext(context.WithoutCancel(ctx), "SET time_zone = @@GLOBAL.time_zone")

	err = r.run(ctx)
	sum = r.summary(sum)
	if err != nil {
		return sum, err
	}
	if sum.Complete {
		r.log.Info("archive: table done", "table", r.name, "rows", sum.Rows, "deleted", sum.RowsDeleted, "changedAfterRead", sum.ChangedAfterRead)
	} else {
		r.log.Info("archive: stopped, the next run resumes", "table", r.name, "reason", sum.Stopped, "manifest", sum.Manifest)
	}
	return sum, nil
}

func (r *runner) check() error {
	j := r.job
	bad := func(p string) error { return &JobError{Schema: j.Schema, Table: j.Table, Problem: p} }
	switch {
	case j.Schema == "" || j.Table == "" || j.Column == "":
		return bad("schema, table and timestamp column must be set")
	case len(j.Key) == 0:
		return bad("no primary key: a table without one cannot be archived (its rows cannot be deleted exactly)")
	case j.Cutoff.IsZero():
		return bad("no cutoff")
	case j.Bucket == "":
		return bad("no bucket")
	case j.BatchRows <= 0:
		return bad("batch rows must be positive")
	case j.DeleteRows <= 0:
		return bad("delete rows must be positive")
	case r.deps.DB == nil || r.deps.S3 == nil:
		return bad("no database or S3 client")
	}
	return nil
}

// open finds the table's unfinished manifest and resumes it, or starts one for the
// job's cutoff. done: the job's cutoff was already archived completely.
func (r *runner) open(ctx context.Context) (resumed, done bool, err error) {
	j := r.job
	key, doneForCutoff, err := findUnfinished(ctx, r.deps.S3, j.Bucket, j.Schema, j.Table, j.Cutoff)
	if err != nil {
		return false, false, fmt.Errorf("archive %s: %w", r.name, err)
	}
	if key != "" {
		r.store = &manifestStore{api: r.deps.S3, bucket: j.Bucket, key: key, kms: j.KMSKeyID}
		if r.m, err = r.store.load(ctx); err != nil {
			return true, false, err
		}
		if err := r.matches(); err != nil {
			return true, false, err
		}
		if !r.m.Cutoff.Equal(j.Cutoff) {
			r.log.Warn("archive: resuming an unfinished run with its own cutoff, not the job's", "table", r.name,
				"cutoff", r.m.Cutoff, "jobCutoff", j.Cutoff, "manifest", key)
		}
		r.log.Info("archive: resuming", "table", r.name, "manifest", key, "batches", len(r.m.Batches))
		return true, false, nil
	}
	r.store = &manifestStore{api: r.deps.S3, bucket: j.Bucket, key: ManifestKey(j.Schema, j.Table, j.Cutoff), kms: j.KMSKeyID}
	if doneForCutoff {
		r.m, err = r.store.load(ctx)
		return false, err == nil, err
	}
	now := r.clock.Now().UTC()
	r.m = &Manifest{Version: manifestVersion, Schema: j.Schema, Table: j.Table, Column: j.Column, Key: r.keys.names,
		Cutoff: j.Cutoff.UTC(), Bucket: j.Bucket, KMSKeyID: j.KMSKeyID, Started: now, Updated: now, Batches: []Batch{},
		Folder: j.Prefix + j.Schema + "/" + j.Table + "/cutoff=" + j.Cutoff.UTC().Format("2006-01-02") + "/"}
	if err := r.store.save(ctx, r.m); err != nil {
		return false, false, err
	}
	r.log.Info("archive: starting", "table", r.name, "cutoff", r.m.Cutoff, "manifest", r.store.key)
	return false, false, nil
}

// matches refuses to resume a manifest made for another column or key.
func (r *runner) matches() error {
	mismatch := func(field, m, j string) error {
		return &ManifestMismatchError{Manifest: "s3://" + r.job.Bucket + "/" + r.store.key, Field: field, Manifested: m, Job: j}
	}
	if r.m.Schema != r.job.Schema || r.m.Table != r.job.Table {
		return mismatch("table", r.m.Schema+"."+r.m.Table, r.name)
	}
	if !strings.EqualFold(r.m.Column, r.job.Column) {
		return mismatch("column", r.m.Column, r.job.Column)
	}
	if !strings.EqualFold(strings.Join(r.m.Key, ","), strings.Join(r.keys.names, ",")) {
		return mismatch("primary key", strings.Join(r.m.Key, ","), strings.Join(r.keys.names, ","))
	}
	if r.m.Bucket != r.job.Bucket {
		return mismatch("bucket", r.m.Bucket, r.job.Bucket)
	}
	return nil
}

func (r *runner) budgetSpent() bool {
	return r.job.Budget > 0 && r.clock.Now().Sub(r.start) >= r.job.Budget
}

func (r *runner) countPause(reason string) {
	r.mu.Lock()
	r.pauses[reason]++
	r.mu.Unlock()
}

// update changes the manifest and writes it, under the lock, so that what another
// stage sees of it is always what S3 holds.
func (r *runner) update(ctx context.Context, change func(m *Manifest)) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	defer r.cond.Broadcast()
	if r.err != nil {
		return r.err
	}
	change(r.m)
	r.m.Updated = r.clock.Now().UTC()
	if err := r.store.save(ctx, r.m); err != nil {
		r.failLocked(err)
		return err
	}
	return nil
}

func (r *runner) fail(err error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.failLocked(err)
	r.cond.Broadcast()
}

func (r *runner) failLocked(err error) {
	if r.err == nil {
		r.err = err
		r.cancel()
	}
}

func (r *runner) stopForBudget() {
	r.mu.Lock()
	defer r.mu.Unlock()
	if !r.stopped {
		r.log.Info("archive: budget spent: stopping between statements", "table", r.name, "budget", r.job.Budget)
	}
	r.stopped = true
	r.cond.Broadcast()
}

func (r *runner) progress(b Batch) {
	if r.deps.Progress != nil {
		r.progressMu.Lock()
		defer r.progressMu.Unlock()
		r.deps.Progress(Progress{Schema: r.job.Schema, Table: r.job.Table, Batch: b.N, State: b.State, Object: b.Object,
			Rows: b.Rows, Bytes: b.Bytes, Deleted: b.Deleted, Changed: b.Changed})
	}
}

func (r *runner) summary(s Summary) Summary {
	r.mu.Lock()
	defer r.mu.Unlock()
	for _, b := range r.m.Batches {
		if b.State == StateWritten {
			continue
		}
		s.Rows += b.Rows
		s.Bytes += b.Bytes
		s.Batches++
		s.RowsDeleted += b.Deleted
		s.ChangedAfterRead += b.Changed
	}
	s.Complete = r.m.Complete
	if !s.Complete && r.stopped {
		s.Stopped = "budget"
	}
	s.Seconds = r.clock.Now().Sub(r.start).Seconds()
	s.Pauses = map[string]int{}
	for k, v := range r.pauses {
		s.Pauses[k] = v
	}
	return s
}

// run resumes what the manifest left, then reads, writes and verifies batches on
// one side while the verified batches are deleted on the other.
func (r *runner) run(ctx context.Context) error {
	ctx, r.cancel = context.WithCancel(ctx)
	defer r.cancel()
	// A batch written but not verified when the last run stopped is verified now,
	// or written again from the table when its object does not match.
	for i := range r.m.Batches {
		if r.m.Batches[i].State == StateWritten {
			if err := r.reverify(ctx, i); err != nil {
				return err
			}
		}
	}
	pending := make(chan *pending, 4)
	var wg sync.WaitGroup
	wg.Go(func() {
		defer close(pending)
		if err := r.produce(ctx, pending); err != nil {
			r.fail(err)
		}
	})
	wg.Go(func() {
		err := r.writeAll(ctx, pending)
		if err != nil {
			r.fail(err)
		}
		r.mu.Lock()
		r.producerDone = true
		r.cond.Broadcast()
		r.mu.Unlock()
	})
	if err := r.deleteAll(ctx); err != nil {
		r.fail(err)
	}
	wg.Wait()
	r.mu.Lock()
	err, stopped := r.err, r.stopped
	r.mu.Unlock()
	if err != nil {
		return err
	}
	if stopped || !r.m.Exhausted {
		return nil
	}
	return r.finish(ctx)
}

// pending is a batch read and encoded, waiting to be uploaded and verified.
type pending struct {
	n           int
	path        string
	rows, bytes int64
	sum         checksum
	first, last Key
	// exhausted: the read found fewer rows than a batch; no batch follows.
	exhausted bool
}

func (r *runner) cutoffArg() string { return r.m.Cutoff.UTC().Format("2006-01-02 15:04:05.999999") }

// produce reads batch after batch until the rows older than the cutoff are all read,
// the budget is spent or the run fails.
func (r *runner) produce(ctx context.Context, out chan<- *pending) error {
	r.mu.Lock()
	n, after, exhausted := len(r.m.Batches), r.m.LastKey, r.m.Exhausted
	r.mu.Unlock()
	if exhausted {
		return nil
	}
	for {
		r.mu.Lock()
		stop := r.stopped || r.err != nil
		r.mu.Unlock()
		if stop || ctx.Err() != nil {
			return nil
		}
		if r.budgetSpent() {
			r.stopForBudget()
			return nil
		}
		if ok, err := r.waitGentle(ctx, false); err != nil || !ok {
			if !ok && err == nil {
				r.stopForBudget()
			}
			return err
		}
		cond, args := r.quotedColumn()+" < ?", []any{r.cutoffArg()}
		if after != nil {
			c, a, err := r.keys.compare(">", false, after)
			if err != nil {
				return err
			}
			cond, args = cond+" AND "+c, append(args, a...)
		}
		p, err := r.export(ctx, n, cond, args, r.job.BatchRows, true)
		if err != nil {
			return err
		}
		p.exhausted = p.rows < int64(r.job.BatchRows)
		select {
		case out <- p:
		case <-ctx.Done():
			os.Remove(p.path)
			return nil
		}
		if p.exhausted {
			return nil
		}
		after, n = p.last, n+1
	}
}

func (r *runner) quotedColumn() string { return mysqlparquet.QuoteIdentifier(r.job.Column) }

// export reads the rows matching cond into one local Parquet file, with their key
// checksum and key range as the driver returned them. With noEmpty and no row, no
// file is written (path "").
func (r *runner) export(ctx context.Context, n int, cond string, args []any, limit int, noEmpty bool) (*pending, error) {
	p := &pending{n: n}
	hasher := r.keys.driverHasher()
	last := make([]driver.Value, len(r.keys.names))
	lastBuf := make([][]byte, len(r.keys.names))
	onRow := func(vals []driver.Value) error {
		hv, err := hasher.hash(vals, true)
		if err != nil {
			return err
		}
		p.sum.add(hv)
		if p.first == nil {
			if p.first, err = r.keys.key(vals, true); err != nil {
				return err
			}
		}
		// The last key is kept by copy: the driver reuses its buffers.
		for i, ix := range r.keys.index {
			if b, ok := vals[ix].([]byte); ok {
				lastBuf[i] = append(lastBuf[i][:0], b...)
				last[i] = lastBuf[i]
			} else {
				last[i] = vals[ix]
			}
		}
		return nil
	}
	newFile := func(int) (io.WriteCloser, error) {
		f, err := os.CreateTemp(r.deps.TempDir, "archive-batch-*.parquet")
		if err != nil {
			return nil, err
		}
		p.path = f.Name()
		return f, nil
	}
	res, err := mysqlparquet.ExportTable(ctx, r.deps.DB, r.job.Schema, r.job.Table, newFile, mysqlparquet.Options{
		Where: cond, Args: args, Index: "PRIMARY", OrderBy: r.keys.names, Limit: limit,
		RowsPerFile: 1 << 62, NoEmptyFile: noEmpty, OnRow: onRow,
	})
	if err != nil {
		if p.path != "" {
			os.Remove(p.path)
		}
		return nil, fmt.Errorf("archive %s: read batch %d: %w", r.name, n, err)
	}
	// A read cut short by a cancel can end without an error: a short batch would
	// look like the last one.
	if err := ctx.Err(); err != nil {
		if p.path != "" {
			os.Remove(p.path)
		}
		return nil, err
	}
	p.rows, p.bytes = res.Rows, res.Bytes
	if p.rows != p.sum.rows {
		return nil, fmt.Errorf("archive %s: batch %d: the export wrote %d rows, %d were read", r.name, n, p.rows, p.sum.rows)
	}
	if p.rows > 0 {
		if p.last, err = r.keys.key(last, false); err != nil {
			return nil, err
		}
	}
	return p, nil
}

// writeAll uploads the batches the producer hands over, in order, and verifies
// each one on a goroutine of its own, so that the upload of a batch overlaps the
// reading back of the one before.
func (r *runner) writeAll(ctx context.Context, in <-chan *pending) error {
	written := make(chan int, 4)
	verifyErr := make(chan error, 1)
	go func() {
		var err error
		for i := range written {
			if err == nil {
				if err = r.verify(ctx, i); err != nil {
					r.fail(err) // stop the reader and the uploads now
				}
			}
		}
		verifyErr <- err
	}()
	var err error
	for p := range in {
		if err == nil {
			var i int
			if i, err = r.write(ctx, p); err == nil && i >= 0 {
				written <- i
			}
		}
		if p.path != "" {
			os.Remove(p.path)
		}
	}
	close(written)
	if verr := <-verifyErr; verr != nil {
		return verr
	}
	return err
}

// write uploads a batch and records it written; it returns the batch's index, -1
// when the producer said only that no row is left.
func (r *runner) write(ctx context.Context, p *pending) (int, error) {
	if p.rows == 0 {
		// Nothing after the last batch: the read is over.
		return -1, r.update(ctx, func(m *Manifest) { m.Exhausted = true })
	}
	key := r.m.ObjectKey(p.n)
	if err := r.put(ctx, key, p.path); err != nil {
		return -1, err
	}
	b := Batch{N: p.n, Object: key, First: p.first, Last: p.last, Rows: p.rows, Bytes: p.bytes, Checksum: p.sum.String(), State: StateWritten}
	i := -1
	if err := r.update(ctx, func(m *Manifest) {
		m.Batches = append(m.Batches, b)
		i = len(m.Batches) - 1
		m.LastKey = p.last
		m.Exhausted = p.exhausted
	}); err != nil {
		return -1, err
	}
	r.log.Debug("archive: batch written", "table", r.name, "batch", b.N, "object", key, "first", b.First, "last", b.Last, "rows", b.Rows, "checksum", b.Checksum)
	r.progress(b)
	return i, nil
}

func (r *runner) put(ctx context.Context, key, path string) error {
	f, err := os.Open(path)
	if err != nil {
		return err
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return err
	}
	in := &s3.PutObjectInput{Bucket: aws.String(r.job.Bucket), Key: aws.String(key), Body: f, ContentLength: aws.Int64(st.Size()),
		ContentType: aws.String("application/vnd.apache.parquet")}
	if r.job.KMSKeyID != "" {
		in.ServerSideEncryption, in.SSEKMSKeyId = s3types.ServerSideEncryptionAwsKms, aws.String(r.job.KMSKeyID)
	}
	if _, err := r.deps.S3.PutObject(ctx, in); err != nil {
		return fmt.Errorf("archive %s: write s3://%s/%s: %w", r.name, r.job.Bucket, key, err)
	}
	return nil
}

// verify reads batch i's object back and marks the batch verified when it holds
// exactly the rows read; a difference is a *VerificationError.
func (r *runner) verify(ctx context.Context, i int) error {
	r.mu.Lock()
	b := r.m.Batches[i]
	r.mu.Unlock()
	if _, err := r.checkObject(ctx, b, false); err != nil {
		return err
	}
	b.State = StateVerified
	if err := r.update(ctx, func(m *Manifest) { m.Batches[i].State = StateVerified }); err != nil {
		return err
	}
	r.progress(b)
	return nil
}

// checkObject reads b's object and compares it with b.
func (r *runner) checkObject(ctx context.Context, b Batch, withSet bool) (objectKeys, error) {
	got, err := readObjectKeys(ctx, r.deps.S3, r.deps.TempDir, r.job.Bucket, b.Object, r.keys, withSet)
	verr := &VerificationError{Schema: r.job.Schema, Table: r.job.Table, Batch: b.N, Object: "s3://" + r.job.Bucket + "/" + b.Object,
		WantRows: b.Rows, WantChecksum: b.Checksum, GotRows: got.sum.rows, GotChecksum: got.sum.String()}
	var perr *parquetError
	switch {
	case errors.Is(err, errMissing):
		verr.Missing = true
		return got, verr
	case errors.As(err, &perr):
		verr.Cause = perr.err
		return got, verr
	case err != nil:
		return got, fmt.Errorf("archive %s: batch %d: %w", r.name, b.N, err)
	}
	if got.sum.rows != b.Rows || got.sum.String() != b.Checksum {
		return got, verr
	}
	return got, nil
}

// reverify verifies a batch a killed run left written; when its object does not
// match, nothing of it was deleted, so it is read again from the table (the rows in
// its key range still older than the cutoff) and written again to the same key.
func (r *runner) reverify(ctx context.Context, i int) error {
	err := r.verify(ctx, i)
	var verr *VerificationError
	if !errors.As(err, &verr) {
		return err
	}
	b := r.m.Batches[i]
	r.log.Warn("archive: a batch left written does not match its object: writing it again from the table", "table", r.name, "batch", b.N, "err", err)
	lo, loArgs, err := r.keys.compare(">", true, b.First)
	if err != nil {
		return err
	}
	hi, hiArgs, err := r.keys.compare("<", true, b.Last)
	if err != nil {
		return err
	}
	args := append(append([]any{r.cutoffArg()}, loArgs...), hiArgs...)
	p, err := r.export(ctx, b.N, r.quotedColumn()+" < ? AND "+lo+" AND "+hi, args, 0, false)
	if err != nil {
		return err
	}
	defer os.Remove(p.path)
	if err := r.put(ctx, b.Object, p.path); err != nil {
		return err
	}
	if err := r.update(ctx, func(m *Manifest) {
		nb := &m.Batches[i]
		nb.Rows, nb.Bytes, nb.Checksum = p.rows, p.bytes, p.sum.String()
		nb.Rewritten++
	}); err != nil {
		return err
	}
	return r.verify(ctx, i)
}

// finish closes a run whose rows are all read and whose batches are all deleted. An
// object a killed run wrote after the last batch it recorded (its rows were never
// deleted, and no later batch overwrote it) is replaced by an empty file, so that no
// row is in the archive that the run did not archive.
func (r *runner) finish(ctx context.Context) error {
	for _, b := range r.m.Batches {
		if b.State != StateDeleted {
			return nil
		}
	}
	// Listed, not HEAD: without s3:ListBucket, S3 answers a HEAD of a missing key
	// with 403, which says nothing; the run lists the bucket anyway (its manifests).
	orphan := r.m.ObjectKey(len(r.m.Batches))
	list, err := r.deps.S3.ListObjectsV2(ctx, &s3.ListObjectsV2Input{Bucket: aws.String(r.job.Bucket), Prefix: aws.String(orphan), MaxKeys: aws.Int32(1)})
	if err != nil {
		return fmt.Errorf("archive %s: look for s3://%s/%s: %w", r.name, r.job.Bucket, orphan, err)
	}
	if len(list.Contents) > 0 && aws.ToString(list.Contents[0].Key) == orphan {
		r.log.Warn("archive: replacing an unrecorded batch object a stopped run left with an empty file", "table", r.name, "object", orphan)
		p, err := r.export(ctx, len(r.m.Batches), "FALSE", nil, 0, false)
		if err != nil {
			return err
		}
		defer os.Remove(p.path)
		if err := r.put(ctx, orphan, p.path); err != nil {
			return err
		}
	}
	if err := r.update(ctx, func(m *Manifest) { m.Complete = true }); err != nil {
		return err
	}
	return r.store.markComplete(ctx)
}
