package archive_test

import (
	"bytes"
	"context"
	"database/sql"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/parquet-go/parquet-go"

	"github.com/snaplake/snaplake/internal/archive"
	"github.com/snaplake/snaplake/internal/aws/mysqlparquet"
	"github.com/snaplake/snaplake/internal/deploy"
	"github.com/snaplake/snaplake/internal/local/mariadb"
	"github.com/snaplake/snaplake/internal/local/mariadb/mariadbtest"
	"github.com/snaplake/snaplake/internal/local/s3server"
	"github.com/snaplake/snaplake/internal/local/testenv"
)

// One MariaDB and one versitygw for the package: starting them costs seconds.
var (
	server *mariadb.Server
	store  *s3server.Server
)

const bucket = "lake"

func TestMain(m *testing.M) {
	// Under -short the tests that need no server (the config's, the lag probe's)
	// run; the others call testenv.NeedsServers.
	if testenv.Short() {
		os.Exit(m.Run())
	}
	var stop func()
	var err error
	server, stop, err = mariadbtest.StartForMain("archive-test")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	dir, err := os.MkdirTemp("", "archive-s3-")
	if err != nil {
		stop()
		os.Exit(1)
	}
	store, err = s3server.StartVersityGW(context.Background(), dir, nil)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		stop()
		os.Exit(1)
	}
	code := m.Run()
	store.Stop()
	os.RemoveAll(dir)
	stop()
	os.Exit(code)
}

var schemaSeq atomic.Int64

// newSchema creates a fresh database (and bucket prefix) for one test.
func newSchema(t testing.TB, stmts ...string) (*sql.DB, string) {
	t.Helper()
	root, err := server.DB("")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { root.Close() })
	name := fmt.Sprintf("a%d_%d", time.Now().UnixNano()%1e9, schemaSeq.Add(1))
	if _, err := root.Exec("CREATE DATABASE " + name); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { root.Exec("DROP DATABASE " + name) })
	db, err := server.DB(name)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	conn, err := db.Conn(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	for _, s := range stmts {
		if _, err := conn.ExecContext(context.Background(), s); err != nil {
			t.Fatalf("%s: %v", s, err)
		}
	}
	return db, name
}

var bucketOnce sync.Once

func s3client(t testing.TB) *s3.Client {
	t.Helper()
	c := store.Client()
	bucketOnce.Do(func() {
		if err := store.CreateBucket(context.Background(), bucket); err != nil {
			t.Fatal(err)
		}
	})
	return c
}

// fakeClock sleeps instantly, moving its time on.
type fakeClock struct {
	mu    sync.Mutex
	now   time.Time
	slept time.Duration
}

func newClock() *fakeClock { return &fakeClock{now: time.Date(2026, 12, 8, 3, 0, 0, 0, time.UTC)} }

func (c *fakeClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *fakeClock) Sleep(ctx context.Context, d time.Duration) error {
	c.mu.Lock()
	c.now = c.now.Add(d)
	c.slept += d
	c.mu.Unlock()
	return ctx.Err()
}

// faultyS3 passes calls to S3 until fault, given the operation, the key and how many
// calls of that kind on such keys came before, returns an error.
type faultyS3 struct {
	archive.S3API
	mu     sync.Mutex
	counts map[string]int
	fault  func(op, key string, n int) error
	// after, when set, runs after a successful call (to change an object behind
	// the run's back).
	after func(op, key string, n int)
}

func kind(key string) string {
	switch {
	case strings.HasSuffix(key, ".json"):
		return "manifest"
	case strings.Contains(key, "/batch-"):
		return "batch"
	}
	return "other"
}

func (f *faultyS3) count(op, key string) (int, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.counts == nil {
		f.counts = map[string]int{}
	}
	c := op + " " + kind(key)
	n := f.counts[c]
	f.counts[c]++
	if f.fault != nil {
		if err := f.fault(op, kind(key), n); err != nil {
			return n, err
		}
	}
	return n, nil
}

func (f *faultyS3) PutObject(ctx context.Context, in *s3.PutObjectInput, o ...func(*s3.Options)) (*s3.PutObjectOutput, error) {
	n, err := f.count("put", aws.ToString(in.Key))
	if err != nil {
		return nil, err
	}
	out, err := f.S3API.PutObject(ctx, in, o...)
	if err == nil && f.after != nil {
		f.after("put", aws.ToString(in.Key), n)
	}
	return out, err
}

func (f *faultyS3) GetObject(ctx context.Context, in *s3.GetObjectInput, o ...func(*s3.Options)) (*s3.GetObjectOutput, error) {
	if _, err := f.count("get", aws.ToString(in.Key)); err != nil {
		return nil, err
	}
	return f.S3API.GetObject(ctx, in, o...)
}

var errInjected = errors.New("injected failure")

func job(schema, table string, cutoff time.Time, key ...string) archive.Job {
	return archive.Job{Schema: schema, Table: table, Column: "created_at", Cutoff: cutoff, Key: key,
		Bucket: bucket, Prefix: deploy.ArchivePrefix,
		Limits: archive.Limits{BatchRows: 10000, DeleteRows: 1000, Pause: 100 * time.Millisecond}}
}

func testLog(t testing.TB) *slog.Logger {
	if os.Getenv("ARCHIVE_TEST_LOG") != "" {
		return slog.New(slog.NewTextHandler(tlog{t}, &slog.HandlerOptions{Level: slog.LevelDebug}))
	}
	return slog.New(slog.NewTextHandler(io.Discard, nil))
}

type tlog struct{ t testing.TB }

func (w tlog) Write(p []byte) (int, error) { w.t.Log(strings.TrimSpace(string(p))); return len(p), nil }

// archived reads every object under the job's archive folder: the rows by column.
func archived(t testing.TB, j archive.Job) []map[string]any {
	t.Helper()
	ctx := context.Background()
	c := s3client(t)
	folder := j.Prefix + j.Schema + "/" + j.Table + "/"
	var rows []map[string]any
	p := s3.NewListObjectsV2Paginator(c, &s3.ListObjectsV2Input{Bucket: aws.String(bucket), Prefix: aws.String(folder)})
	var keys []string
	for p.HasMorePages() {
		out, err := p.NextPage(ctx)
		if err != nil {
			t.Fatal(err)
		}
		for _, o := range out.Contents {
			keys = append(keys, aws.ToString(o.Key))
		}
	}
	sort.Strings(keys)
	for _, k := range keys {
		out, err := c.GetObject(ctx, &s3.GetObjectInput{Bucket: aws.String(bucket), Key: aws.String(k)})
		if err != nil {
			t.Fatal(err)
		}
		data, err := io.ReadAll(out.Body)
		out.Body.Close()
		if err != nil {
			t.Fatal(err)
		}
		rows = append(rows, parquetRows(t, k, data)...)
	}
	return rows
}

func parquetRows(t testing.TB, name string, data []byte) []map[string]any {
	t.Helper()
	f, err := parquet.OpenFile(bytes.NewReader(data), int64(len(data)))
	if err != nil {
		t.Fatalf("%s: %v", name, err)
	}
	leaves := f.Schema().Columns()
	var out []map[string]any
	for _, rg := range f.RowGroups() {
		rows := rg.Rows()
		buf := make([]parquet.Row, 256)
		for {
			n, err := rows.ReadRows(buf)
			for _, row := range buf[:n] {
				m := map[string]any{}
				for _, v := range row {
					name := leaves[v.Column()][0]
					switch {
					case v.IsNull():
						m[name] = nil
					case v.Kind() == parquet.ByteArray || v.Kind() == parquet.FixedLenByteArray:
						m[name] = string(v.ByteArray())
					case v.Kind() == parquet.Int32:
						m[name] = int64(v.Int32())
					default:
						m[name] = v.Int64()
					}
				}
				out = append(out, m)
			}
			if err == io.EOF {
				break
			}
			if err != nil {
				t.Fatal(err)
			}
		}
		rows.Close()
	}
	return out
}

func count(t testing.TB, db *sql.DB, q string, args ...any) int64 {
	t.Helper()
	var n int64
	if err := db.QueryRow(q, args...).Scan(&n); err != nil {
		t.Fatalf("%s: %v", q, err)
	}
	return n
}

var _ = mysqlparquet.QuoteIdentifier

func bytesReader(s string) *bytes.Reader { return bytes.NewReader([]byte(s)) }

func readAll(t testing.TB, out *s3.GetObjectOutput) []byte {
	t.Helper()
	defer out.Body.Close()
	b, err := io.ReadAll(out.Body)
	if err != nil {
		t.Fatal(err)
	}
	return b
}
