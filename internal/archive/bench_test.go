package archive_test

import (
	"context"
	"database/sql"
	"fmt"
	"github.com/snaplake/snaplake/internal/local/testenv"
	"os"
	"strconv"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/snaplake/snaplake/internal/archive"
	"github.com/snaplake/snaplake/internal/deploy"
)

func envInt(b *testing.B, name string, def int) int {
	s := os.Getenv(name)
	if s == "" {
		return def
	}
	v, err := strconv.Atoi(s)
	if err != nil || v <= 0 {
		b.Fatalf("%s=%q is not a positive integer", name, s)
	}
	return v
}

// BenchmarkArchive archives a table of SNAPLAKE_ARCHIVE_BENCH_ROWS rows (default
// 200,000; the target is measured at 5,000,000), all older than the cutoff,
// and compares the archive's rate (read, write to S3, read back and verify) with a
// raw scan of the same table in the same run. The deletes run beside it with the
// config's default limits (1,000 keys a statement, a 500 ms pause) and are stopped
// SNAPLAKE_ARCHIVE_BENCH_DELETE_SECONDS (default 10) after the archive is verified:
// their rate is what the pause allows, the figure a DBA plans with. Run with
// -benchtime=1x.
func BenchmarkArchive(b *testing.B) {
	testenv.NeedsServers(b)
	n := envInt(b, "SNAPLAKE_ARCHIVE_BENCH_ROWS", 200_000)
	deleteFor := time.Duration(envInt(b, "SNAPLAKE_ARCHIVE_BENCH_DELETE_SECONDS", 10)) * time.Second
	db, schema := newSchema(b)
	start := time.Now()
	if _, err := db.Exec(`CREATE TABLE orders (
			id BIGINT NOT NULL PRIMARY KEY,
			customer_id INT NOT NULL,
			amount DECIMAL(12,2) NOT NULL,
			quantity SMALLINT NOT NULL,
			created_at DATETIME NOT NULL,
			shipped_at DATETIME NULL,
			status VARCHAR(40) NOT NULL,
			coupon VARCHAR(20) NULL,
			KEY (created_at))`); err != nil {
		b.Fatal(err)
	}
	if _, err := db.Exec(fmt.Sprintf(`INSERT INTO orders
			SELECT seq, seq MOD 100003, (seq MOD 1000000) / 100, seq MOD 17,
				'2020-01-01' + INTERVAL seq SECOND,
				IF(seq MOD 5 = 0, NULL, '2020-01-02' + INTERVAL seq SECOND),
				CONCAT('status-', ELT(1 + seq MOD 4, 'pending', 'paid', 'shipped', 'cancelled'), '-', LPAD(seq MOD 1000, 12, '0')),
				IF(seq MOD 3 = 0, NULL, CONCAT('C', seq MOD 9973))
			FROM seq_1_to_%d`, n)); err != nil {
		b.Fatal(err)
	}
	fmt.Printf("built %s.orders with %d rows in %s\n", schema, n, time.Since(start).Round(time.Millisecond))

	var rawDur time.Duration
	for i := range 2 { // the first scan warms the buffer pool: keep the faster
		got, d := rawScan(b, db, schema)
		if got != int64(n) {
			b.Fatalf("raw scan read %d rows, want %d", got, n)
		}
		if i == 0 || d < rawDur {
			rawDur = d
		}
	}

	// The config's defaults (archconfig: deploy.DefaultArchive*).
	j := archive.Job{Schema: schema, Table: "orders", Column: "created_at", Cutoff: cutoff, Key: []string{"id"},
		Bucket: bucket, Prefix: deploy.ArchivePrefix,
		Limits: archive.Limits{BatchRows: 10000, DeleteRows: 1000, Pause: 500 * time.Millisecond, MaxThreadsRunning: 25}}
	batches := (n + j.BatchRows - 1) / j.BatchRows
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	var mu sync.Mutex
	var verified int
	var copied time.Time
	var firstDelete, lastDelete time.Time
	var deleted int64
	d := archive.Deps{DB: db, S3: s3client(b), Log: testLog(b), Progress: func(p archive.Progress) {
		mu.Lock()
		defer mu.Unlock()
		switch p.State {
		case archive.StateVerified:
			verified++
			if verified == batches {
				copied = time.Now()
				time.AfterFunc(deleteFor, cancel)
			}
		}
	}}
	// Deletes are counted from the table: a statement's count reaches the manifest
	// only with its batch.
	stopWatch := make(chan struct{})
	var watch sync.WaitGroup
	watch.Go(func() {
		t := time.NewTicker(200 * time.Millisecond)
		defer t.Stop()
		for {
			select {
			case <-stopWatch:
				return
			case <-t.C:
			}
			left := countRows(db, schema)
			if left < 0 {
				continue
			}
			mu.Lock()
			if int64(n)-left > deleted {
				if deleted == 0 {
					firstDelete = time.Now()
				}
				deleted, lastDelete = int64(n)-left, time.Now()
			}
			mu.Unlock()
		}
	})
	b.ResetTimer()
	start = time.Now()
	_, err := archive.Run(ctx, j, d)
	b.StopTimer()
	close(stopWatch)
	watch.Wait()
	if err != nil && ctx.Err() == nil {
		b.Fatal(err)
	}
	if copied.IsZero() {
		b.Fatalf("the archive did not finish: %d of %d batches verified", verified, batches)
	}
	var ru syscall.Rusage
	syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	rssMB := float64(ru.Maxrss) / 1024
	rawRate := float64(n) / rawDur.Seconds()
	copySecs := copied.Sub(start).Seconds()
	rate := float64(n) / copySecs
	delRate := 0.0
	if deleted > 0 && lastDelete.After(firstDelete) {
		delRate = float64(deleted) / lastDelete.Sub(start).Seconds()
	}
	b.ReportMetric(rate, "rows/s")
	b.ReportMetric(rate/rawRate, "of-raw-scan")
	b.ReportMetric(rssMB, "peak-RSS-MB")
	b.ReportMetric(delRate, "deleted-rows/s")
	fmt.Printf("raw scan: %d rows in %s (%.0f rows/s); archive (read, write, read back, verify): %.1f s; %d rows deleted in %.1f s with a %s pause\n",
		n, rawDur.Round(time.Millisecond), rawRate, copySecs, deleted, lastDelete.Sub(start).Seconds(), j.Pause)
	fmt.Printf("archive: %d rows, %.0f rows/s, %.2f of raw scan, peak RSS %.0f MB, %.0f rows/s deleted\n", n, rate, rate/rawRate, rssMB, delRate)
}

func countRows(db *sql.DB, schema string) int64 {
	var n int64
	if err := db.QueryRow("SELECT COUNT(*) FROM " + schema + ".orders").Scan(&n); err != nil {
		return -1
	}
	return n
}

func rawScan(b *testing.B, db *sql.DB, schema string) (int64, time.Duration) {
	b.Helper()
	start := time.Now()
	rows, err := db.Query("SELECT id, customer_id, amount, quantity, created_at, shipped_at, status, coupon FROM " + schema + ".orders")
	if err != nil {
		b.Fatal(err)
	}
	defer rows.Close()
	raw := make([]sql.RawBytes, 8)
	dest := make([]any, len(raw))
	for i := range raw {
		dest[i] = &raw[i]
	}
	var n int64
	for rows.Next() {
		if err := rows.Scan(dest...); err != nil {
			b.Fatal(err)
		}
		n++
	}
	if err := rows.Err(); err != nil {
		b.Fatal(err)
	}
	return n, time.Since(start)
}
