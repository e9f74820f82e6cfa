package current

import (
	"database/sql"
	"fmt"
	"io"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	_ "github.com/duckdb/duckdb-go/v2"
	"github.com/parquet-go/parquet-go"
	"github.com/parquet-go/parquet-go/compress/snappy"

	"github.com/snaplake/snaplake/internal/deploy"
)

// benchRow is a typical row of an ingested table.
type benchRow struct {
	ID        int64   `parquet:"id"`
	Customer  int64   `parquet:"customer_id"`
	Status    string  `parquet:"status"`
	Qty       int32   `parquet:"qty"`
	Amount    int64   `parquet:"amount,decimal(2:18)"`
	Note      *string `parquet:"note,optional"`
	UpdatedAt int64   `parquet:"updated_at,timestamp(microsecond)"`
	DeletedAt *int64  `parquet:"deleted_at,optional,timestamp(microsecond)"`
}

// BenchmarkCurrent50Runs builds a 1,000,000-row current table with the real merge
// over 50 runs of 1% changes (updates, inserts, soft deletes, in equal measure
// to keep the row count), then times DuckDB's count and sums over it against a
// fully compacted copy of the same rows (sorted by key, written fresh).
func BenchmarkCurrent50Runs(b *testing.B) {
	const (
		rows     = 1_000_000
		runs     = 50
		changes  = rows / 100
		perFile  = deploy.DefaultIngestRowsPerFile
		baseTime = int64(1_800_000_000_000_000)
	)
	dir := b.TempDir()
	rng := rand.New(rand.NewPCG(1, 2))
	statuses := []string{"new", "paid", "shipped", "returned"}
	row := func(id int64, at int64) benchRow {
		r := benchRow{ID: id, Customer: rng.Int64N(50_000), Status: statuses[rng.IntN(4)], Qty: int32(rng.IntN(20)), Amount: rng.Int64N(1_000_000), UpdatedAt: at}
		if rng.IntN(4) == 0 {
			n := fmt.Sprintf("note %d", id)
			r.Note = &n
		}
		return r
	}
	writeFile := func(path string, rs []benchRow) File {
		f, err := os.Create(path)
		if err != nil {
			b.Fatal(err)
		}
		w := parquet.NewGenericWriter[benchRow](f, parquet.Compression(&snappy.Codec{}))
		if _, err := w.Write(rs); err != nil {
			b.Fatal(err)
		}
		if err := w.Close(); err != nil {
			b.Fatal(err)
		}
		f.Close()
		return openBench(b, path)
	}

	for b.Loop() {
		// Run 0: the load from the beginning, the whole table.
		base := make([]benchRow, rows)
		for i := range base {
			base[i] = row(int64(i+1), baseTime)
		}
		delta := []File{writeFile(filepath.Join(dir, "load-0.parquet"), base)}
		base = nil
		var gen []File
		var merged int64
		var mergeTime time.Duration
		live := make([]int64, rows) // ids of live rows, for choosing updates and deletes
		for i := range live {
			live[i] = int64(i + 1)
		}
		nextID := int64(rows + 1)
		for run := 0; run <= runs; run++ {
			if run > 0 {
				at := baseTime + int64(run)*1_000_000
				var ch []benchRow
				for range changes * 8 / 10 { // updates
					ch = append(ch, row(live[rng.IntN(len(live))], at))
				}
				for range changes / 10 { // soft deletes
					k := rng.IntN(len(live))
					r := row(live[k], at)
					r.DeletedAt = &at
					ch = append(ch, r)
					live[k] = live[len(live)-1]
					live = live[:len(live)-1]
				}
				for range changes / 10 { // inserts
					ch = append(ch, row(nextID, at))
					live = append(live, nextID)
					nextID++
				}
				delta = []File{writeFile(filepath.Join(dir, fmt.Sprintf("load-%d.parquet", run)), ch)}
			}
			out := filepath.Join(dir, fmt.Sprintf("gen-%d", run))
			if err := os.Mkdir(out, 0o755); err != nil {
				b.Fatal(err)
			}
			start := time.Now()
			res, err := Merge(Input{Previous: gen, Delta: delta, Key: []string{"id"}, Order: "updated_at", SoftDelete: "deleted_at", RowsPerFile: perFile, Whole: run == 0,
				NewFile: func(i int) (io.WriteCloser, error) {
					return os.Create(filepath.Join(out, fmt.Sprintf("part-%05d.snappy.parquet", i)))
				}})
			mergeTime += time.Since(start)
			if err != nil {
				b.Fatal(err)
			}
			if run > 0 {
				merged += res.Rows
			}
			closeBench(gen)
			closeBench(delta)
			if run > 0 {
				os.RemoveAll(filepath.Join(dir, fmt.Sprintf("gen-%d", run-1)))
			}
			gen = nil
			for _, p := range globBench(b, out) {
				gen = append(gen, openBench(b, p))
			}
			if run == runs && res.Rows != int64(len(live)) {
				b.Fatalf("the current table has %d rows, the source %d", res.Rows, len(live))
			}
		}
		closeBench(gen)
		current := filepath.Join(dir, fmt.Sprintf("gen-%d", runs))
		files := len(globBench(b, current))

		duck, err := sql.Open("duckdb", "")
		if err != nil {
			b.Fatal(err)
		}
		duck.SetMaxOpenConns(1)
		compacted := filepath.Join(dir, "compacted.parquet")
		if _, err := duck.Exec(fmt.Sprintf("COPY (SELECT * FROM read_parquet('%s/*.parquet') ORDER BY id) TO '%s' (FORMAT parquet, COMPRESSION snappy, ROW_GROUP_SIZE %d)",
			current, compacted, rowGroupRows)); err != nil {
			b.Fatal(err)
		}
		// Each query's best of 15, the two alternating, so that another process's
		// load on the machine weighs on both alike.
		tables := []string{current + "/*.parquet", compacted}
		best := make([]time.Duration, 2)
		count := make([]int64, 2)
		for i := range 15 {
			for j, from := range tables {
				start := time.Now()
				var qty, notes int64
				var amount float64
				if err := duck.QueryRow("SELECT count(*), sum(qty), sum(amount), count(note) FROM read_parquet('"+from+"')").Scan(&count[j], &qty, &amount, &notes); err != nil {
					b.Fatal(err)
				}
				if d := time.Since(start); i == 0 || d < best[j] {
					best[j] = d
				}
			}
		}
		tc, tf, n, nf := best[0], best[1], count[0], count[1]
		duck.Close()
		if n != nf || n != int64(len(live)) {
			b.Fatalf("the current table has %d rows, its compacted copy %d, the source %d", n, nf, len(live))
		}
		perRun := mergeTime / (runs + 1)
		rate := float64(merged) / (mergeTime - mergeTime/(runs+1)).Seconds()
		fmt.Printf("current merge: a %s-row table with %s changes per run: %.2f s per run, %s rows/s\n",
			thousands(int64(len(live))), thousands(changes), perRun.Seconds(), thousands(int64(rate)))
		fmt.Printf("current table: %s rows after %d runs of 1%% changes, query reads %d files, %.3f s, %.2f x a fully compacted table\n",
			thousands(n), runs, files, tc.Seconds(), tc.Seconds()/tf.Seconds())
	}
}

func openBench(b *testing.B, path string) *benchFile {
	f, err := os.Open(path)
	if err != nil {
		b.Fatal(err)
	}
	st, _ := f.Stat()
	return &benchFile{File: f, size: st.Size()}
}

type benchFile struct {
	*os.File
	size int64
}

func (f *benchFile) Size() int64 { return f.size }

func closeBench(fs []File) {
	for _, f := range fs {
		if c, ok := f.(io.Closer); ok {
			c.Close()
		}
	}
}

func globBench(b *testing.B, dir string) []string {
	m, err := filepath.Glob(filepath.Join(dir, "*.parquet"))
	if err != nil {
		b.Fatal(err)
	}
	slices.Sort(m)
	return m
}

// thousands writes n with comma separators: 1,000,000.
func thousands(n int64) string {
	s := fmt.Sprint(n)
	var parts []string
	for len(s) > 3 {
		parts = append([]string{s[len(s)-3:]}, parts...)
		s = s[:len(s)-3]
	}
	return strings.Join(append([]string{s}, parts...), ",")
}
