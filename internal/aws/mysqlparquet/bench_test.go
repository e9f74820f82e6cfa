package mysqlparquet_test

import (
	"context"
	"database/sql"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"runtime/pprof"
	"strconv"
	"syscall"
	"testing"
	"time"

	"github.com/snaplake/snaplake/internal/aws/mysqlparquet"
)

// The export runs in a child process (this test binary, re-executed) so
// that its peak RSS is measured alone, without the parent's raw scan.
const (
	childEnv    = "SNAPLAKE_EXPORT_CHILD" // JSON childRequest
	benchSchema = "bench"
	benchTable  = "orders"
)

type childRequest struct {
	DSN, Schema, Table, Dir string
}

type childResult struct {
	Rows    int64
	Files   int
	Bytes   int64
	Seconds float64
}

// runExportChild is the child's whole life: export, report, exit.
func runExportChild(spec string) int {
	var req childRequest
	if err := json.Unmarshal([]byte(spec), &req); err != nil {
		fmt.Fprintln(os.Stderr, "bad child request:", err)
		return 2
	}
	db, err := sql.Open("mysql", req.DSN)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	defer db.Close()
	newFile := func(i int) (io.WriteCloser, error) {
		return os.Create(filepath.Join(req.Dir, fmt.Sprintf("part-%05d.gz.parquet", i)))
	}
	if path := os.Getenv("SNAPLAKE_EXPORT_CPUPROFILE"); path != "" {
		f, err := os.Create(path)
		if err == nil && pprof.StartCPUProfile(f) == nil {
			defer pprof.StopCPUProfile()
		}
	}
	start := time.Now()
	res, err := mysqlparquet.ExportTable(context.Background(), db, req.Schema, req.Table, newFile, mysqlparquet.Options{})
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	out, _ := json.Marshal(childResult{Rows: res.Rows, Files: res.Files, Bytes: res.Bytes, Seconds: time.Since(start).Seconds()})
	fmt.Println(string(out))
	return 0
}

func benchRows(b *testing.B) int {
	n := 5_000_000
	if s := os.Getenv("SNAPLAKE_BENCH_ROWS"); s != "" {
		v, err := strconv.Atoi(s)
		if err != nil || v <= 0 {
			b.Fatalf("SNAPLAKE_BENCH_ROWS=%q is not a positive integer", s)
		}
		n = v
	}
	return n
}

// buildBenchTable creates a table of a typical OLTP shape: keys, a money
// amount, timestamps, a ~30-character status text and a nullable column.
func buildBenchTable(b *testing.B, db *sql.DB, n int) {
	b.Helper()
	start := time.Now()
	for _, q := range []string{
		"CREATE DATABASE IF NOT EXISTS " + benchSchema,
		"DROP TABLE IF EXISTS " + benchSchema + "." + benchTable,
		`CREATE TABLE ` + benchSchema + `.` + benchTable + ` (
			id BIGINT NOT NULL PRIMARY KEY,
			customer_id INT NOT NULL,
			amount DECIMAL(12,2) NOT NULL,
			quantity SMALLINT NOT NULL,
			created_at DATETIME NOT NULL,
			shipped_at DATETIME NULL,
			status VARCHAR(40) NOT NULL,
			coupon VARCHAR(20) NULL
		)`,
		fmt.Sprintf(`INSERT INTO %s.%s
			SELECT seq, seq MOD 100003, (seq MOD 1000000) / 100, seq MOD 17,
				'2020-01-01' + INTERVAL seq SECOND,
				IF(seq MOD 5 = 0, NULL, '2020-01-02' + INTERVAL seq SECOND),
				CONCAT('status-', ELT(1 + seq MOD 4, 'pending', 'paid', 'shipped', 'cancelled'), '-', LPAD(seq MOD 1000, 12, '0')),
				IF(seq MOD 3 = 0, NULL, CONCAT('C', seq MOD 9973))
			FROM %s.seq_1_to_%d`, benchSchema, benchTable, benchSchema, n),
	} {
		if _, err := db.Exec(q); err != nil {
			b.Fatalf("build bench table: %v", err)
		}
	}
	fmt.Printf("built %s.%s with %d rows in %s\n", benchSchema, benchTable, n, time.Since(start).Round(time.Millisecond))
}

// rawScan is the yardstick: the fastest a go-sql-driver client reads the table.
func rawScan(b *testing.B, db *sql.DB) (int64, time.Duration) {
	b.Helper()
	start := time.Now()
	rows, err := db.Query("SELECT id, customer_id, amount, quantity, created_at, shipped_at, status, coupon FROM " + benchSchema + "." + benchTable)
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

func cpuTime(who int) time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(who, &ru); err != nil {
		return 0
	}
	return time.Duration(syscall.TimevalToNsec(ru.Utime) + syscall.TimevalToNsec(ru.Stime))
}

// BenchmarkExport compares ExportTable with a raw scan of the same table and
// measures the export's peak RSS. Run with -benchtime=1x: one pass is the
// measurement.
func BenchmarkExport(b *testing.B) {
	n := benchRows(b)
	db, err := server.DB("")
	if err != nil {
		b.Fatal(err)
	}
	defer db.Close()
	buildBenchTable(b, db, n)

	// The first scan warms the buffer pool and page cache; keep the faster.
	var rawDur time.Duration
	cpuBefore := cpuTime(syscall.RUSAGE_SELF)
	for i := range 2 {
		got, d := rawScan(b, db)
		if got != int64(n) {
			b.Fatalf("raw scan read %d rows, want %d", got, n)
		}
		if i == 0 || d < rawDur {
			rawDur = d
		}
	}
	rawCPU := (cpuTime(syscall.RUSAGE_SELF) - cpuBefore) / 2

	dir := b.TempDir()
	spec, _ := json.Marshal(childRequest{DSN: server.DSN(""), Schema: benchSchema, Table: benchTable, Dir: dir})
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), childEnv+"="+string(spec))
	cmd.Stderr = os.Stderr
	b.ResetTimer()
	out, err := cmd.Output()
	b.StopTimer()
	if err != nil {
		b.Fatalf("export child: %v", err)
	}
	var res childResult
	if err := json.Unmarshal(out, &res); err != nil {
		b.Fatalf("export child said %q: %v", out, err)
	}
	if res.Rows != int64(n) {
		b.Fatalf("export wrote %d rows, want %d", res.Rows, n)
	}
	ru := cmd.ProcessState.SysUsage().(*syscall.Rusage)
	maxRSSKB := ru.Maxrss // kilobytes on Linux
	exportCPU := time.Duration(syscall.TimevalToNsec(ru.Utime) + syscall.TimevalToNsec(ru.Stime))

	rawRate := float64(n) / rawDur.Seconds()
	rate := float64(n) / res.Seconds
	ratio := rate / rawRate
	rssMB := float64(maxRSSKB) / 1024
	b.ReportMetric(rate, "rows/s")
	b.ReportMetric(ratio, "of-raw-scan")
	b.ReportMetric(rssMB, "peak-RSS-MB")
	// CPU time is the figure a busy machine does not distort: wall-clock
	// rates depend on what else runs on the cores.
	fmt.Printf("raw scan: %d rows in %s (%.0f rows/s, client CPU %s); export: %s (client CPU %s incl. process start), %d files, %.1f MB of Parquet\n",
		n, rawDur.Round(time.Millisecond), rawRate, rawCPU.Round(time.Millisecond),
		time.Duration(res.Seconds*float64(time.Second)).Round(time.Millisecond), exportCPU.Round(time.Millisecond),
		res.Files, float64(res.Bytes)/(1<<20))
	fmt.Printf("export: %d rows, %.0f rows/s, %.2f of raw scan, peak RSS %.0f MB\n", n, rate, ratio, rssMB)
}
