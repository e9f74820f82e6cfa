package archive_test

import (
	"context"
	"errors"
	"fmt"
	"github.com/snaplake/snaplake/internal/local/testenv"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"

	"github.com/snaplake/snaplake/internal/archive"
)

var cutoff = time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)

// 200,000 rows, 150,000 older than the cutoff (every fourth row is recent, so the
// old rows' key ranges interleave with recent ones). The run is killed at seven
// points (a failed object write, a failed manifest write right after an object
// write, a failed read-back, a cancel right after a verification, a cancel between
// two DELETE statements, a failed manifest write during the deletes, a spent
// budget) and started again each time; one row has its timestamp moved past the
// cutoff after it was read. At the end every old row is in S3 exactly once, gone
// from the table, except the moved row, which is kept and reported; the recent rows
// are untouched.
func TestKilledAndRerunLosesNothingAndDuplicatesNothing(t *testing.T) {
	testenv.NeedsServers(t)
	ctx := context.Background()
	db, schema := newSchema(t,
		`CREATE TABLE orders (id BIGINT NOT NULL PRIMARY KEY, created_at DATETIME NOT NULL, status VARCHAR(40) NOT NULL,
			amount DECIMAL(12,2) NOT NULL, note TEXT CHARACTER SET utf8mb4 NULL, KEY (created_at))`,
		`INSERT INTO orders SELECT seq, IF(seq MOD 4 = 0, '2026-11-01' + INTERVAL seq SECOND, '2020-01-01' + INTERVAL seq MINUTE),
			CONCAT('status-', seq MOD 7), seq / 100, IF(seq MOD 5 = 0, NULL, 'ñ✓ 🙂') FROM seq_1_to_200000`)
	const before, old = 200000, 150000
	recentSum := func() string {
		var n, s string
		if err := db.QueryRow(`SELECT COUNT(*), SUM(CRC32(CONCAT_WS('|', id, created_at, status, amount, IFNULL(note, '-'))))
			FROM orders WHERE created_at >= ? AND id <> 5`, "2026-01-01").Scan(&n, &s); err != nil {
			t.Fatal(err)
		}
		return n + "/" + s
	}
	recentBefore := recentSum()
	oldAmount := count(t, db, "SELECT CAST(SUM(amount * 100) AS SIGNED) FROM orders WHERE created_at < ?", "2026-01-01")

	j := job(schema, "orders", cutoff, "id")
	j.MaxReplicaLag = time.Second
	clock := newClock()
	var moved atomic.Bool
	type attempt struct {
		name  string
		setup func(f *faultyS3, d *archive.Deps, cancel context.CancelFunc, j *archive.Job)
	}
	lagOK := archive.LagFunc(func(context.Context) (archive.Lag, error) { return archive.Lag{}, nil })
	attempts := []attempt{
		{"object write fails", func(f *faultyS3, d *archive.Deps, _ context.CancelFunc, _ *archive.Job) {
			f.fault = func(op, kind string, n int) error {
				if op == "put" && kind == "batch" && n == 2 {
					return errInjected
				}
				return nil
			}
		}},
		{"manifest write after an object write fails", func(f *faultyS3, d *archive.Deps, _ context.CancelFunc, _ *archive.Job) {
			var armed atomic.Bool
			f.after = func(op, key string, n int) {
				if op == "put" && kind(key) == "batch" && n == 1 {
					armed.Store(true)
				}
			}
			f.fault = func(op, kind string, n int) error {
				if op == "put" && kind == "manifest" && armed.CompareAndSwap(true, false) {
					return errInjected
				}
				return nil
			}
		}},
		{"read-back fails", func(f *faultyS3, d *archive.Deps, _ context.CancelFunc, _ *archive.Job) {
			f.fault = func(op, kind string, n int) error {
				if op == "get" && kind == "batch" && n == 3 {
					return errInjected
				}
				return nil
			}
		}},
		{"killed right after a verification", func(f *faultyS3, d *archive.Deps, cancel context.CancelFunc, _ *archive.Job) {
			d.Progress = func(p archive.Progress) {
				if p.State == archive.StateVerified {
					cancel()
				}
			}
		}},
		{"killed between two deletes", func(f *faultyS3, d *archive.Deps, cancel context.CancelFunc, _ *archive.Job) {
			var calls atomic.Int64
			d.Lag = archive.LagFunc(func(ctx context.Context) (archive.Lag, error) {
				if calls.Add(1) == 15 {
					cancel()
				}
				return archive.Lag{}, ctx.Err()
			})
		}},
		{"manifest write after a delete fails", func(f *faultyS3, d *archive.Deps, _ context.CancelFunc, _ *archive.Job) {
			var armed atomic.Bool
			var calls atomic.Int64
			d.Lag = archive.LagFunc(func(context.Context) (archive.Lag, error) {
				if calls.Add(1) == 7 {
					armed.Store(true)
				}
				return archive.Lag{}, nil
			})
			f.fault = func(op, kind string, n int) error {
				if op == "put" && kind == "manifest" && armed.CompareAndSwap(true, false) {
					return errInjected
				}
				return nil
			}
		}},
		{"budget spent", func(f *faultyS3, d *archive.Deps, _ context.CancelFunc, j *archive.Job) {
			j.Budget = 3 * time.Second // 30 pauses of 100 ms
		}},
	}
	var last archive.Summary
	for i, a := range attempts {
		runCtx, cancel := context.WithCancel(ctx)
		f := &faultyS3{S3API: s3client(t)}
		d := archive.Deps{DB: db, S3: f, Clock: clock, Log: testLog(t), Lag: lagOK}
		jj := j
		a.setup(f, &d, cancel, &jj)
		inner := d.Progress
		d.Progress = func(p archive.Progress) {
			// The first batch written: a row of it changes before it is deleted.
			if p.State == archive.StateWritten && p.Batch == 0 && moved.CompareAndSwap(false, true) {
				if _, err := db.Exec("UPDATE orders SET created_at = '2026-12-01' WHERE id = 5"); err != nil {
					t.Error(err)
				}
			}
			if inner != nil {
				inner(p)
			}
		}
		sum, err := archive.Run(runCtx, jj, d)
		cancel()
		switch {
		case a.name == "budget spent":
			if err != nil || sum.Complete || sum.Stopped != "budget" {
				t.Fatalf("attempt %d (%s): %+v, %v; want a clean stop on the budget", i, a.name, sum, err)
			}
		case err == nil:
			t.Fatalf("attempt %d (%s) was not stopped: %+v", i, a.name, sum)
		}
		if i > 0 && !sum.Resumed {
			t.Errorf("attempt %d (%s) did not resume the manifest", i, a.name)
		}
		t.Logf("attempt %d (%s): %v; archived %d rows, deleted %d", i, a.name, err, sum.Rows, sum.RowsDeleted)
		last = sum
	}
	if last.RowsDeleted == 0 || last.RowsDeleted >= old-1 {
		t.Fatalf("the interrupted runs deleted %d rows: the kills did not fall in the middle", last.RowsDeleted)
	}
	sum, err := archive.Run(ctx, j, archive.Deps{DB: db, S3: s3client(t), Clock: clock, Log: testLog(t)})
	if err != nil {
		t.Fatalf("final run: %v", err)
	}
	if !sum.Complete || !sum.Resumed || sum.Rows != old || sum.RowsDeleted != old-1 || sum.ChangedAfterRead != 1 {
		t.Fatalf("final summary %+v: want complete, %d rows archived, %d deleted, 1 changed after read", sum, old, old-1)
	}

	// S3 holds every old row exactly once, with its values.
	rows := archived(t, j)
	seen := map[int64]bool{}
	var amount int64
	for _, r := range rows {
		id := r["id"].(int64)
		if seen[id] {
			t.Fatalf("id %d is in the archive twice", id)
		}
		seen[id] = true
		amount += r["amount"].(int64)
		if id%5 != 0 && r["note"] != "ñ✓ 🙂" {
			t.Fatalf("id %d: note %q", id, r["note"])
		}
	}
	if len(rows) != old || amount != oldAmount {
		t.Fatalf("archive: %d rows, amounts %d; want %d rows, amounts %d", len(rows), amount, old, oldAmount)
	}
	left := count(t, db, "SELECT COUNT(*) FROM orders")
	if int64(len(rows))+left-1 != before {
		t.Fatalf("%d rows in S3 + %d left - 1 kept = %d, want %d", len(rows), left, int64(len(rows))+left-1, before)
	}
	if n := count(t, db, "SELECT COUNT(*) FROM orders WHERE created_at < ?", "2026-01-01"); n != 0 {
		t.Fatalf("%d rows older than the cutoff left", n)
	}
	if n := count(t, db, "SELECT COUNT(*) FROM orders WHERE id = 5"); n != 1 || !seen[5] {
		t.Fatalf("the row changed after it was read: %d in the table, in S3 %v; want kept in both", n, seen[5])
	}
	if got := recentSum(); got != recentBefore {
		t.Fatalf("recent rows changed: %s, were %s", got, recentBefore)
	}
	// A run for the same cutoff finds it done and changes nothing.
	again, err := archive.Run(ctx, j, archive.Deps{DB: db, S3: s3client(t), Clock: clock})
	if err != nil || !again.Complete || again.Rows != old {
		t.Fatalf("run of a completed cutoff: %+v, %v", again, err)
	}
}

// A replica above the lag limit and a busy source make the run wait (each wait
// counted by its reason), then go on.
func TestLagAndLoadPauseTheRun(t *testing.T) {
	testenv.NeedsServers(t)
	db, schema := newSchema(t,
		"CREATE TABLE t (id INT NOT NULL PRIMARY KEY, created_at DATETIME NOT NULL)",
		"INSERT INTO t SELECT seq, '2020-01-01' + INTERVAL seq DAY FROM seq_1_to_100")
	var lagCalls, loadCalls atomic.Int64
	d := archive.Deps{DB: db, S3: s3client(t), Clock: newClock(), Log: testLog(t),
		Lag: archive.LagFunc(func(context.Context) (archive.Lag, error) {
			if lagCalls.Add(1) <= 3 {
				return archive.Lag{Behind: 5 * time.Second}, nil
			}
			return archive.Lag{}, nil
		}),
		Load: archive.LoadFunc(func(context.Context) (int, error) {
			if loadCalls.Add(1) <= 2 {
				return 80, nil
			}
			return 3, nil
		}),
	}
	j := job(schema, "t", cutoff, "id")
	j.BatchRows, j.DeleteRows, j.MaxReplicaLag, j.MaxThreadsRunning = 30, 10, time.Second, 25
	sum, err := archive.Run(context.Background(), j, d)
	if err != nil {
		t.Fatal(err)
	}
	if !sum.Complete || sum.RowsDeleted != 100 {
		t.Fatalf("summary %+v", sum)
	}
	if sum.Pauses[archive.PauseReplicaLag] != 3 || sum.Pauses[archive.PauseThreadsRunning] != 2 {
		t.Fatalf("pauses %v, want 3 for replica lag and 2 for Threads_running", sum.Pauses)
	}
	if n := count(t, db, "SELECT COUNT(*) FROM t"); n != 0 {
		t.Fatalf("%d rows left", n)
	}
	clock := d.Clock.(*fakeClock)
	if clock.slept < 5*time.Second {
		t.Fatalf("slept %s, want at least the 5 waits of a second", clock.slept)
	}
}

// A stopped replica is a reason to wait too; the budget ends the wait cleanly.
func TestStoppedReplicaWaitsUntilTheBudget(t *testing.T) {
	testenv.NeedsServers(t)
	db, schema := newSchema(t,
		"CREATE TABLE t (id INT NOT NULL PRIMARY KEY, created_at DATETIME NOT NULL)",
		"INSERT INTO t SELECT seq, '2020-01-01' FROM seq_1_to_10")
	d := archive.Deps{DB: db, S3: s3client(t), Clock: newClock(), Log: testLog(t),
		Lag: archive.LagFunc(func(context.Context) (archive.Lag, error) { return archive.Lag{Stopped: true}, nil })}
	j := job(schema, "t", cutoff, "id")
	j.MaxReplicaLag, j.Budget = time.Second, 10*time.Second
	sum, err := archive.Run(context.Background(), j, d)
	if err != nil {
		t.Fatal(err)
	}
	if sum.Complete || sum.Stopped != "budget" || sum.Pauses[archive.PauseReplicaStopped] < 9 || sum.RowsDeleted != 0 {
		t.Fatalf("summary %+v", sum)
	}
	if n := count(t, db, "SELECT COUNT(*) FROM t"); n != 10 {
		t.Fatalf("%d rows left, want all 10", n)
	}
}

// SHOW REPLICA STATUS on a server that replicates from nothing is a typed error.
func TestReplicaStatusOfAServerThatIsNoReplica(t *testing.T) {
	testenv.NeedsServers(t)
	db, _ := newSchema(t)
	_, err := archive.ReplicaStatus{DB: db}.ReplicaLag(context.Background())
	if !errors.As(err, new(archive.NotAReplicaError)) {
		t.Fatalf("err %v, want NotAReplicaError", err)
	}
	n, err := archive.GlobalStatus{DB: db}.ThreadsRunning(context.Background())
	if err != nil || n < 1 {
		t.Fatalf("Threads_running %d, %v", n, err)
	}
}

// A composite primary key across many small batches; zero dates, NULLs and
// utf8mb4 text come back from S3 as they were.
func TestCompositeKeyZeroDatesNullsAndUTF8(t *testing.T) {
	testenv.NeedsServers(t)
	db, schema := newSchema(t,
		"SET SESSION sql_mode = ''",
		`CREATE TABLE events (tenant INT NOT NULL, code VARCHAR(30) CHARACTER SET utf8mb4 NOT NULL, created_at DATETIME NOT NULL,
			day DATE NOT NULL, note TEXT CHARACTER SET utf8mb4 NULL, qty INT NULL, PRIMARY KEY (tenant, code))`)
	codes := []string{"a", "b", "ç", "日本", "🙂x", "z z", "quote'\"`"}
	type row struct {
		tenant             int
		code, note         string
		noteNull, qtyNull  bool
		zeroTime, zeroDate bool
		recent             bool
	}
	var want []row
	conn, err := db.Conn(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if _, err := conn.ExecContext(context.Background(), "SET SESSION sql_mode = ''"); err != nil {
		t.Fatal(err)
	}
	for tenant := 1; tenant <= 4; tenant++ {
		for i, c := range codes {
			r := row{tenant: tenant, code: c, note: fmt.Sprintf("note %d 🙂 ü 日本", i), noteNull: i%3 == 0, qtyNull: i%2 == 0,
				zeroTime: tenant == 2 && i == 1, zeroDate: i == 4, recent: (tenant+i)%5 == 0}
			created := "2020-03-04 05:06:07"
			if r.zeroTime {
				created = "0000-00-00 00:00:00"
			}
			if r.recent {
				created = "2026-06-01 00:00:00"
			}
			day := "2020-03-04"
			if r.zeroDate {
				day = "0000-00-00"
			}
			var note, qty any = r.note, i
			if r.noteNull {
				note = nil
			}
			if r.qtyNull {
				qty = nil
			}
			if _, err := conn.ExecContext(context.Background(), "INSERT INTO events VALUES (?, ?, ?, ?, ?, ?)", tenant, c, created, day, note, qty); err != nil {
				t.Fatal(err)
			}
			want = append(want, r)
		}
	}
	conn.Close()
	j := job(schema, "events", cutoff, "tenant", "code")
	j.BatchRows, j.DeleteRows = 4, 3
	sum, err := archive.Run(context.Background(), j, archive.Deps{DB: db, S3: s3client(t), Clock: newClock(), Log: testLog(t)})
	if err != nil {
		t.Fatal(err)
	}
	var old, recent int
	for _, r := range want {
		if r.recent {
			recent++
		} else {
			old++
		}
	}
	if !sum.Complete || sum.Rows != int64(old) || sum.RowsDeleted != int64(old) || sum.Batches != (old+3)/4 {
		t.Fatalf("summary %+v, want %d rows in %d batches", sum, old, (old+3)/4)
	}
	got := map[string]map[string]any{}
	for _, r := range archived(t, j) {
		k := fmt.Sprint(r["tenant"], "/", r["code"])
		if got[k] != nil {
			t.Fatalf("key %s twice in the archive", k)
		}
		got[k] = r
	}
	for _, w := range want {
		k := fmt.Sprint(w.tenant, "/", w.code)
		g := got[k]
		if w.recent {
			if g != nil {
				t.Fatalf("recent row %s archived", k)
			}
			continue
		}
		if g == nil {
			t.Fatalf("row %s not archived", k)
		}
		wantNote := any(w.note)
		if w.noteNull {
			wantNote = nil
		}
		if g["note"] != wantNote {
			t.Errorf("%s: note %q, want %q", k, g["note"], wantNote)
		}
		if (g["qty"] == nil) != w.qtyNull {
			t.Errorf("%s: qty %v, NULL %v", k, g["qty"], w.qtyNull)
		}
		if (g["day"] == nil) != w.zeroDate || (!w.zeroDate && g["day"] != int64(18325)) { // 2020-03-04
			t.Errorf("%s: day %v (zero date %v)", k, g["day"], w.zeroDate)
		}
		ts := time.Date(2020, 3, 4, 5, 6, 7, 0, time.UTC).UnixMicro()
		if (g["created_at"] == nil) != w.zeroTime || (!w.zeroTime && g["created_at"] != ts) {
			t.Errorf("%s: created_at %v (zero %v)", k, g["created_at"], w.zeroTime)
		}
	}
	if n := count(t, db, "SELECT COUNT(*) FROM events"); n != int64(recent) {
		t.Fatalf("%d rows left, want the %d recent ones", n, recent)
	}
}

// An object that does not hold what was read stops the run with a
// *VerificationError before anything of its batch is deleted; the next run writes
// it again from the table.
func TestVerificationMismatchDeletesNothing(t *testing.T) {
	testenv.NeedsServers(t)
	ctx := context.Background()
	db, schema := newSchema(t,
		"CREATE TABLE t (id INT NOT NULL PRIMARY KEY, created_at DATETIME NOT NULL, v VARCHAR(20))",
		"INSERT INTO t SELECT seq, '2020-01-01', CONCAT('v', seq) FROM seq_1_to_300")
	client := s3client(t)
	j := job(schema, "t", cutoff, "id")
	j.BatchRows, j.DeleteRows = 100, 50

	// Garbage in the first object: nothing at all is deleted.
	f := &faultyS3{S3API: client}
	f.after = func(op, key string, n int) {
		if op == "put" && kind(key) == "batch" && n == 0 {
			if _, err := client.PutObject(ctx, &s3.PutObjectInput{Bucket: aws.String(bucket), Key: aws.String(key),
				Body: bytesReader("not parquet at all")}); err != nil {
				t.Error(err)
			}
		}
	}
	_, err := archive.Run(ctx, j, archive.Deps{DB: db, S3: f, Clock: newClock(), Log: testLog(t)})
	var verr *archive.VerificationError
	if !errors.As(err, &verr) || verr.Batch != 0 || verr.Cause == nil {
		t.Fatalf("err %v, want a VerificationError of batch 0 saying the object is no Parquet", err)
	}
	if n := count(t, db, "SELECT COUNT(*) FROM t"); n != 300 {
		t.Fatalf("%d rows left, want 300", n)
	}
	// The next run writes batch 0 again from the table and finishes.
	sum, err := archive.Run(ctx, j, archive.Deps{DB: db, S3: client, Clock: newClock(), Log: testLog(t)})
	if err != nil || !sum.Complete || sum.Rows != 300 || sum.RowsDeleted != 300 {
		t.Fatalf("rerun: %+v, %v", sum, err)
	}
	if rows := archived(t, j); len(rows) != 300 {
		t.Fatalf("%d rows archived, want 300", len(rows))
	}

	// Batch 1's object replaced by batch 0's (as many rows, other keys): batch 1
	// stops the run, none of its rows deleted.
	db, schema = newSchema(t,
		"CREATE TABLE t (id INT NOT NULL PRIMARY KEY, created_at DATETIME NOT NULL, v VARCHAR(20))",
		"INSERT INTO t SELECT seq, '2020-01-01', CONCAT('v', seq) FROM seq_1_to_300")
	j = job(schema, "t", cutoff, "id")
	j.BatchRows, j.DeleteRows = 100, 50
	var mu sync.Mutex
	var first []byte
	f = &faultyS3{S3API: client}
	f.after = func(op, key string, n int) {
		if op != "put" || kind(key) != "batch" {
			return
		}
		mu.Lock()
		defer mu.Unlock()
		out, err := client.GetObject(ctx, &s3.GetObjectInput{Bucket: aws.String(bucket), Key: aws.String(key)})
		if err != nil {
			t.Error(err)
			return
		}
		body := readAll(t, out)
		if first == nil {
			first = body
			return
		}
		if _, err := client.PutObject(ctx, &s3.PutObjectInput{Bucket: aws.String(bucket), Key: aws.String(key), Body: bytesReader(string(first))}); err != nil {
			t.Error(err)
		}
	}
	_, err = archive.Run(ctx, j, archive.Deps{DB: db, S3: f, Clock: newClock(), Log: testLog(t)})
	if !errors.As(err, &verr) || verr.Batch != 1 || verr.GotRows != verr.WantRows || verr.GotChecksum == verr.WantChecksum {
		t.Fatalf("err %v, want a checksum mismatch of batch 1 with equal row counts", err)
	}
	if n := count(t, db, "SELECT COUNT(*) FROM t WHERE id BETWEEN 101 AND 200"); n != 100 {
		t.Fatalf("%d rows of batch 1 left, want 100", n)
	}
	sum, err = archive.Run(ctx, j, archive.Deps{DB: db, S3: client, Clock: newClock(), Log: testLog(t)})
	if err != nil || !sum.Complete || sum.Rows != 300 || sum.RowsDeleted != 300 {
		t.Fatalf("rerun: %+v, %v", sum, err)
	}
	if rows := archived(t, j); len(rows) != 300 {
		t.Fatalf("%d rows archived, want 300", len(rows))
	}
}

// With a KMS key, every object and the manifest are written with SSE-KMS and that key.
func TestObjectsAreWrittenWithSSEKMS(t *testing.T) {
	testenv.NeedsServers(t)
	db, schema := newSchema(t,
		"CREATE TABLE t (id INT NOT NULL PRIMARY KEY, created_at DATETIME NOT NULL)",
		"INSERT INTO t SELECT seq, '2020-01-01' FROM seq_1_to_30")
	const key = "arn:aws:kms:eu-west-1:123456789012:key/archive"
	var mu sync.Mutex
	puts := map[string]string{}
	f := &sseRecorder{S3API: s3client(t), record: func(k, sse, id string) {
		mu.Lock()
		defer mu.Unlock()
		puts[k] = sse + " " + id
	}}
	j := job(schema, "t", cutoff, "id")
	j.BatchRows, j.KMSKeyID = 10, key
	sum, err := archive.Run(context.Background(), j, archive.Deps{DB: db, S3: f, Clock: newClock(), Log: testLog(t)})
	if err != nil || !sum.Complete {
		t.Fatalf("%+v, %v", sum, err)
	}
	if len(puts) < 5 { // 3 batches, the manifest, its completion marker
		t.Fatalf("puts %v", puts)
	}
	for k, v := range puts {
		if v != "aws:kms "+key {
			t.Errorf("%s written with %q, want SSE-KMS with %s", k, v, key)
		}
	}
}

type sseRecorder struct {
	archive.S3API
	record func(key, sse, id string)
}

func (s *sseRecorder) PutObject(ctx context.Context, in *s3.PutObjectInput, o ...func(*s3.Options)) (*s3.PutObjectOutput, error) {
	s.record(aws.ToString(in.Key), string(in.ServerSideEncryption), aws.ToString(in.SSEKMSKeyId))
	return s.S3API.PutObject(ctx, in, o...)
}

// A second run of the same table changing the manifest under the first one stops the
// first with a *ConcurrentRunError (the manifest is written with If-Match).
func TestConcurrentRunIsRefused(t *testing.T) {
	testenv.NeedsServers(t)
	ctx := context.Background()
	db, schema := newSchema(t,
		"CREATE TABLE t (id INT NOT NULL PRIMARY KEY, created_at DATETIME NOT NULL)",
		"INSERT INTO t SELECT seq, '2020-01-01' FROM seq_1_to_30")
	client := s3client(t)
	j := job(schema, "t", cutoff, "id")
	j.BatchRows = 10
	var once sync.Once
	d := archive.Deps{DB: db, S3: client, Clock: newClock(), Log: testLog(t), Progress: func(p archive.Progress) {
		once.Do(func() {
			// The other run rewrites the manifest (same content, a new version).
			key := archive.ManifestKey(schema, "t", cutoff)
			out, err := client.GetObject(ctx, &s3.GetObjectInput{Bucket: aws.String(bucket), Key: aws.String(key)})
			if err != nil {
				t.Error(err)
				return
			}
			body := readAll(t, out)
			if _, err := client.PutObject(ctx, &s3.PutObjectInput{Bucket: aws.String(bucket), Key: aws.String(key), Body: bytesReader(string(body) + " ")}); err != nil {
				t.Error(err)
			}
		})
	}}
	_, err := archive.Run(ctx, j, d)
	var cerr *archive.ConcurrentRunError
	if !errors.As(err, &cerr) {
		t.Fatalf("err %v, want ConcurrentRunError", err)
	}
}

// A job that cannot run is refused before anything is read or written.
func TestJobWithoutKeyIsRefused(t *testing.T) {
	testenv.NeedsServers(t)
	db, schema := newSchema(t, "CREATE TABLE t (id INT NOT NULL, created_at DATETIME NOT NULL)")
	j := job(schema, "t", cutoff)
	_, err := archive.Run(context.Background(), j, archive.Deps{DB: db, S3: s3client(t)})
	var jerr *archive.JobError
	if !errors.As(err, &jerr) || jerr.Table != "t" {
		t.Fatalf("err %v, want a JobError naming the table", err)
	}
	j = job(schema, "t", cutoff, "nope")
	_, err = archive.Run(context.Background(), j, archive.Deps{DB: db, S3: s3client(t)})
	var kerr *archive.KeyColumnError
	if !errors.As(err, &kerr) || kerr.Column != "nope" {
		t.Fatalf("err %v, want a KeyColumnError naming the column", err)
	}
}

// A batch object written by a killed run but never recorded, whose rows then moved
// past the cutoff, is replaced by an empty file when the run completes: the archive
// holds no row the run did not archive (a later cutoff will archive those rows).
func TestUnrecordedObjectOfAKilledRunIsEmptied(t *testing.T) {
	testenv.NeedsServers(t)
	ctx := context.Background()
	db, schema := newSchema(t,
		"CREATE TABLE t (id INT NOT NULL PRIMARY KEY, created_at DATETIME NOT NULL)",
		"INSERT INTO t SELECT seq, '2020-01-01' FROM seq_1_to_30")
	j := job(schema, "t", cutoff, "id")
	j.BatchRows = 10
	var armed atomic.Bool
	f := &faultyS3{S3API: s3client(t)}
	f.after = func(op, key string, n int) {
		if op == "put" && kind(key) == "batch" && n == 2 {
			armed.Store(true)
		}
	}
	f.fault = func(op, kind string, n int) error {
		if op == "put" && kind == "manifest" && armed.CompareAndSwap(true, false) {
			return errInjected
		}
		return nil
	}
	if _, err := archive.Run(ctx, j, archive.Deps{DB: db, S3: f, Clock: newClock(), Log: testLog(t)}); !errors.Is(err, errInjected) {
		t.Fatalf("err %v, want the injected failure", err)
	}
	if _, err := db.Exec("UPDATE t SET created_at = '2026-06-01' WHERE id > 20"); err != nil {
		t.Fatal(err)
	}
	sum, err := archive.Run(ctx, j, archive.Deps{DB: db, S3: s3client(t), Clock: newClock(), Log: testLog(t)})
	if err != nil || !sum.Complete || sum.Rows != 20 {
		t.Fatalf("%+v, %v", sum, err)
	}
	if rows := archived(t, j); len(rows) != 20 {
		t.Fatalf("%d rows in the archive, want the 20 archived", len(rows))
	}
	if n := count(t, db, "SELECT COUNT(*) FROM t"); n != 10 {
		t.Fatalf("%d rows left, want the 10 that moved", n)
	}
}

// Identifiers are quoted everywhere (a name with a backtick, a space and a quote).
func TestQuotedIdentifiers(t *testing.T) {
	testenv.NeedsServers(t)
	db, schema := newSchema(t,
		"CREATE TABLE `we``ird 'tab` (`the id` INT NOT NULL PRIMARY KEY, `created at` DATETIME NOT NULL)",
		"INSERT INTO `we``ird 'tab` SELECT seq, IF(seq > 8, '2026-06-01', '2020-01-01') FROM seq_1_to_10")
	j := job(schema, "we`ird 'tab", cutoff, "the id")
	j.Column, j.BatchRows, j.DeleteRows = "created at", 3, 2
	sum, err := archive.Run(context.Background(), j, archive.Deps{DB: db, S3: s3client(t), Clock: newClock(), Log: testLog(t)})
	if err != nil || !sum.Complete || sum.Rows != 8 || sum.RowsDeleted != 8 {
		t.Fatalf("%+v, %v", sum, err)
	}
	if n := count(t, db, "SELECT COUNT(*) FROM `we``ird 'tab`"); n != 2 {
		t.Fatalf("%d rows left, want 2", n)
	}
}
