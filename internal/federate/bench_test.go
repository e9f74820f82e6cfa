package federate

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"os"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/jackc/pgx/v5"

	"github.com/snaplake/snaplake/internal/federate/redshift"
	"github.com/snaplake/snaplake/internal/local/postgres"
	"github.com/snaplake/snaplake/internal/local/postgres/postgrestest"
	"github.com/snaplake/snaplake/internal/local/s3server"
)

// One PostgreSQL for the package's benchmark, started by the first that needs it and
// stopped when the test binary ends.
var shared struct {
	once sync.Once
	srv  *postgres.Server
	stop func()
	err  error
}

func TestMain(m *testing.M) {
	code := m.Run()
	if shared.stop != nil {
		shared.stop()
	}
	os.Exit(code)
}

func sharedPostgres(b *testing.B) *postgres.Server {
	b.Helper()
	shared.once.Do(func() { shared.srv, shared.stop, shared.err = postgrestest.StartForMain("snaplake-federate") })
	if shared.err != nil {
		b.Fatalf("start postgres: %v", shared.err)
	}
	return shared.srv
}

// metered is a warehouse that counts its metadata queries and every other call: a
// publish of unchanged tables may make only the former.
type metered struct {
	redshift.Warehouse
	stats, other atomic.Int64
}

func (m *metered) Stats(ctx context.Context, schema, table, ins, upd string) (redshift.Stats, error) {
	m.stats.Add(1)
	return m.Warehouse.Stats(ctx, schema, table, ins, upd)
}

func (m *metered) Columns(ctx context.Context, schema, table string) ([]redshift.Column, error) {
	m.other.Add(1)
	return m.Warehouse.Columns(ctx, schema, table)
}

func (m *metered) SubmitUnload(ctx context.Context, token, q, prefix string) (string, error) {
	m.other.Add(1)
	return m.Warehouse.SubmitUnload(ctx, token, q, prefix)
}

func (m *metered) SubmitCopy(ctx context.Context, token, schema, table string, files []redshift.File) (string, error) {
	m.other.Add(1)
	return m.Warehouse.SubmitCopy(ctx, token, schema, table, files)
}

func (m *metered) Exec(ctx context.Context, stmts ...string) error {
	m.other.Add(1)
	return m.Warehouse.Exec(ctx, stmts...)
}

func (m *metered) Query(ctx context.Context, stmt string) ([][]*string, error) {
	m.other.Add(1)
	return m.Warehouse.Query(ctx, stmt)
}

// writeCounting counts the objects written or deleted.
type writeCounting struct {
	*s3.Client
	writes atomic.Int64
}

func (w *writeCounting) PutObject(ctx context.Context, in *s3.PutObjectInput, optFns ...func(*s3.Options)) (*s3.PutObjectOutput, error) {
	w.writes.Add(1)
	return w.Client.PutObject(ctx, in, optFns...)
}

func (w *writeCounting) DeleteObjects(ctx context.Context, in *s3.DeleteObjectsInput, optFns ...func(*s3.Options)) (*s3.DeleteObjectsOutput, error) {
	w.writes.Add(1)
	return w.Client.DeleteObjects(ctx, in, optFns...)
}

func (w *writeCounting) DeleteObject(ctx context.Context, in *s3.DeleteObjectInput, optFns ...func(*s3.Options)) (*s3.DeleteObjectOutput, error) {
	w.writes.Add(1)
	return w.Client.DeleteObject(ctx, in, optFns...)
}

const benchTables = 300

// BenchmarkNoChange300 times the publish of 300 unchanged tables, the Federator's
// every-night case: one metadata query and one listing per table, no UNLOAD, no
// object written. The baseline is the same check one table at a time.
func BenchmarkNoChange300(b *testing.B) {
	ctx := context.Background()
	pg := sharedPostgres(b)
	const db = "transform300"
	if err := pg.CreateDatabase(db); err != nil {
		b.Fatal(err)
	}
	srv, err := s3server.StartFake()
	if err != nil {
		b.Fatal(err)
	}
	defer srv.Stop()
	if err := srv.CreateBucket(ctx, "lake"); err != nil {
		b.Fatal(err)
	}
	wh, err := redshift.Open(ctx, pg.DSN(db), redshift.Deps{S3: srv.Client()})
	if err != nil {
		b.Fatal(err)
	}
	defer wh.Close()

	// 300 small tables: most with insert and update times, every fifth count-only.
	cfg := Config{}
	stmts := []string{"CREATE SCHEMA bench"}
	for i := range benchTables {
		name := fmt.Sprintf("bench.t%03d", i)
		t := Table{Table: name}
		if i%5 != 4 {
			t.Inserted, t.Updated = "inserted_at", "updated_at"
		}
		cfg.Tables = append(cfg.Tables, t)
		stmts = append(stmts,
			"CREATE TABLE "+name+" (id BIGINT NOT NULL, v VARCHAR(20), inserted_at TIMESTAMP NOT NULL, updated_at TIMESTAMP)",
			fmt.Sprintf("INSERT INTO %s SELECT g, 'row ' || g, TIMESTAMP '2026-12-01 00:00:00' + g * INTERVAL '1 second', CASE WHEN g %% 3 = 0 THEN TIMESTAMP '2026-12-02 00:00:00' + g * INTERVAL '1 second' END FROM generate_series(1, %d) g", name, 10+i%20),
		)
	}
	if err := wh.Exec(ctx, stmts...); err != nil {
		b.Fatal(err)
	}
	if err := wh.Exec(ctx, "ANALYZE"); err != nil {
		b.Fatal(err)
	}

	quiet := slog.New(slog.NewTextHandler(io.Discard, nil))
	s3c := &writeCounting{Client: srv.Client()}
	store := Store{S3: s3c, Bucket: "lake"}
	first := &Publisher{Warehouse: wh, Store: store, Concurrency: 16, Log: quiet}
	for _, r := range first.PublishAll(ctx, cfg) {
		if r.Action != ActionPublished {
			b.Fatalf("first publish of %s: %s %s", r.Table, r.Action, r.Error)
		}
	}

	// check publishes the unchanged tables and fails unless each made its one
	// metadata query and nothing else.
	check := func(concurrency int) time.Duration {
		m := &metered{Warehouse: wh}
		writes := s3c.writes.Load()
		p := &Publisher{Warehouse: m, Store: store, Concurrency: concurrency, Log: quiet}
		start := time.Now()
		res := p.PublishAll(ctx, cfg)
		d := time.Since(start)
		for _, r := range res {
			if r.Action != ActionUnchanged {
				b.Fatalf("unchanged %s: %s %s", r.Table, r.Action, r.Error)
			}
		}
		if n := m.stats.Load(); n != benchTables {
			b.Fatalf("%d metadata queries for %d unchanged tables, want one each", n, benchTables)
		}
		if n := m.other.Load(); n != 0 {
			b.Fatalf("an unchanged publish made %d warehouse calls besides the metadata queries (an UNLOAD, a column read...)", n)
		}
		if n := s3c.writes.Load() - writes; n != 0 {
			b.Fatalf("an unchanged publish wrote or deleted %d times in S3", n)
		}
		return d
	}

	check(16) // warm: the first reads after the tables were created open their files
	baseline := check(1)
	floor, err := connections(ctx, pg.DSN(db), benchTables, 16)
	if err != nil {
		b.Fatal(err)
	}

	var total time.Duration
	for b.Loop() {
		total += check(16)
	}
	per := total / time.Duration(b.N)
	b.ReportMetric(float64(benchTables)/per.Seconds(), "tables/s")
	b.ReportMetric(1, "queries/table")
	fmt.Printf("federate no-change baseline: one table at a time, %.2f s\n", baseline.Seconds())
	// The PostgreSQL stand-in opens a connection per call: the connections alone are
	// the floor of 300 metadata queries offline.
	fmt.Printf("federate no-change: %d tables, %.2f s, %.0f tables/s (%.1fx one table at a time; one metadata query per table, no UNLOAD; opening %d PostgreSQL connections alone takes %.2f s here)\n",
		benchTables, per.Seconds(), float64(benchTables)/per.Seconds(), float64(baseline)/float64(per), benchTables, floor.Seconds())
}

// connections times opening and closing n connections, concurrency at a time.
func connections(ctx context.Context, dsn string, n, concurrency int) (time.Duration, error) {
	start := time.Now()
	work := make(chan struct{})
	errs := make(chan error, concurrency)
	var wg sync.WaitGroup
	for range concurrency {
		wg.Go(func() {
			for range work {
				conn, err := pgx.Connect(ctx, dsn)
				if err != nil {
					select {
					case errs <- err:
					default:
					}
					continue
				}
				conn.Close(ctx)
			}
		})
	}
	for range n {
		work <- struct{}{}
	}
	close(work)
	wg.Wait()
	close(errs)
	if err := <-errs; err != nil {
		return 0, fmt.Errorf("connect to %s: %w", dsn, err)
	}
	return time.Since(start), nil
}
