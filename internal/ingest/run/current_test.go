package run

import (
	"context"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"

	"github.com/snaplake/snaplake/internal/aws/s3obj"
	"github.com/snaplake/snaplake/internal/deploy"
	"github.com/snaplake/snaplake/internal/ingest"
	"github.com/snaplake/snaplake/internal/ingest/watermark"
)

const currentSets = `  sets:
    frequent:
      tables: [items, notes]
  tables:
    items: {mode: incremental, column: rev}
    notes: {mode: incremental, column: seq}
`

func currentTables() map[string]string {
	return map[string]string{
		"items": "id BIGINT PRIMARY KEY, v INT, rev BIGINT NOT NULL",
		"notes": "seq BIGINT AUTO_INCREMENT, note VARCHAR(20), KEY (seq)", // no primary key
	}
}

// currentLocation is the folder the items' current table points at.
func (e *env) currentLocation(table string) string {
	e.t.Helper()
	tbl, err := e.glue.Catalog.Table(deploy.IngestCurrentCatalogDatabase(e.name), table)
	if err != nil {
		e.t.Fatalf("the current table %s: %v", table, err)
	}
	return strings.TrimPrefix(tbl.Location, "s3://"+e.bucket+"/")
}

func parquetFiles(keys []string) int {
	n := 0
	for _, k := range keys {
		if strings.HasSuffix(k, ".parquet") {
			n++
		}
	}
	return n
}

// TestCurrentFilesStayBounded: over 50 runs of small changes, the log grows by a
// load per run, while the current table keeps the file count of a fully compacted
// table (ceil(rows / rows per file)) and its replaced generations are deleted once
// their grace has passed.
func TestCurrentFilesStayBounded(t *testing.T) {
	e := newEnv(t, currentTables())
	const perFile = 50
	rev := 0
	next := func() int { rev++; return rev }
	for i := 1; i <= 200; i++ {
		e.exec("INSERT INTO items VALUES (?, ?, ?)", i, i, next())
	}
	e.putConfig(e.config(currentSets))
	l := e.local()
	l.Loader.RowsPerFile, l.Current.RowsPerFile = perFile, perFile
	rows := 200
	for run := 0; run < 50; run++ {
		if run > 0 {
			for j := 0; j < 10; j++ { // 5% updated, 1% new
				e.exec("UPDATE items SET v = v + 1, rev = ? WHERE id = ?", next(), 1+(run*37+j*13)%rows)
			}
			rows += 2
			e.exec("INSERT INTO items VALUES (?, 0, ?), (?, 0, ?)", rows-1, next(), rows, next())
		}
		sum, err := l.Run(context.Background(), RunRequest{Set: ingest.SetFrequent, Force: true}, e.now)
		if err != nil || sum.Failed != 0 {
			t.Fatalf("run %d: %+v %v", run, sum, err)
		}
		loc := e.currentLocation("items")
		want := (rows + perFile - 1) / perFile
		if got := parquetFiles(e.keys(loc)); got != want {
			t.Fatalf("run %d: the current table has %d files for %d rows, want %d", run, got, rows, want)
		}
		if got, src := e.lakeIDs(loc), e.sourceIDs("items"); !slices.Equal(got, src) {
			t.Fatalf("run %d: the current table's ids differ from the source's (%d vs %d)", run, len(got), len(src))
		}
		e.now = e.now.Add(15 * time.Minute)
	}
	if logs := parquetFiles(e.keys("raw/" + e.name + "/items/")); logs < 50 {
		t.Errorf("the log has %d files after 50 runs: it should keep every load", logs)
	}
	gens := map[string]bool{}
	for _, k := range e.keys(deploy.IngestCurrentDestination(e.name, "items")) {
		gens[k[:strings.LastIndex(k, "/")]] = true
	}
	// Five hours of grace (deploy.DefaultGrace) at a run every 15 minutes: the
	// current one and at most 20 retired ones are kept, of 50.
	if len(gens) > 22 {
		t.Errorf("%d generations kept: the replaced ones are not retired", len(gens))
	}
}

// TestCurrentTableFailureStaysWithItsTable: a table without a primary key keeps
// only its log and is reported; a table whose current table cannot be built fails
// alone (its watermark stays, so the next run redoes it), and the other table of
// the run is committed.
func TestCurrentTableFailureStaysWithItsTable(t *testing.T) {
	e := newEnv(t, currentTables())
	e.exec("INSERT INTO items VALUES (1, 1, 1), (2, 2, 2)")
	e.exec("INSERT INTO notes (note) VALUES ('a')")
	e.putConfig(e.config(currentSets))
	first := e.run(ingest.SetFrequent)
	status := func(sum Summary, table string) TableSummary {
		i := slices.IndexFunc(sum.Tables, func(ts TableSummary) bool { return ts.Source == table })
		if i < 0 {
			t.Fatalf("%s not in the summary %+v", table, sum)
		}
		return sum.Tables[i]
	}
	if ts := status(first, "notes"); ts.Status != "loaded" || !strings.HasPrefix(ts.Current, "none: no primary key") {
		t.Errorf("notes: %+v", ts)
	}
	if ts := status(first, "items"); ts.Status != "loaded" || ts.Current != CurrentBuilt {
		t.Errorf("items: %+v", ts)
	}
	if _, err := e.glue.Catalog.Table(deploy.IngestCurrentCatalogDatabase(e.name), "notes"); err == nil {
		t.Error("notes has a current table")
	}

	// The current generation's files are lost: building on nothing would lose
	// every row, so the table fails, and notes is still loaded.
	loc := e.currentLocation("items")
	for _, k := range e.keys(loc) {
		e.deleteKey(k)
	}
	e.exec("INSERT INTO items VALUES (3, 3, 3)")
	e.exec("INSERT INTO notes (note) VALUES ('b')")
	e.now = e.now.Add(time.Hour)
	second := e.run(ingest.SetFrequent)
	if second.Failed != 1 || second.Loaded != 1 {
		t.Fatalf("second run: %+v", second)
	}
	if ts := status(second, "items"); ts.Status != "failed" || !strings.Contains(ts.Reason, "has no Parquet file") {
		t.Errorf("items: %+v", ts)
	}
	if ts := status(second, "notes"); ts.Status != "loaded" || ts.Rows != 1 {
		t.Errorf("notes: %+v", ts)
	}
	st, err := watermark.Store{S3: e.s3, Bucket: e.bucket}.Load(context.Background(), e.name)
	if err != nil {
		t.Fatal(err)
	}
	if w := st.Tables["items"].Watermark; w == nil || *w != "2" {
		t.Errorf("items' watermark moved to %v: the next run would skip row 3", w)
	}
}

func (e *env) deleteKey(key string) {
	e.t.Helper()
	if _, err := e.s3.DeleteObject(context.Background(), &s3.DeleteObjectInput{Bucket: aws.String(e.bucket), Key: aws.String(key)}); err != nil {
		e.t.Fatal(err)
	}
}

// TestCurrentTableOfATableLoadedBefore: a table loaded incrementally before current
// tables existed has a log and a watermark but no current generation; its first
// current table is built from every load of its log, the newest version of each
// key winning.
func TestCurrentTableOfATableLoadedBefore(t *testing.T) {
	e := newEnv(t, currentTables())
	ctx := context.Background()
	e.exec("INSERT INTO items VALUES (1, 1, 1), (2, 2, 2), (3, 3, 3)")
	e.putConfig(e.config(currentSets))
	e.run(ingest.SetFrequent)
	// What an earlier version left: no generation in the mark, no current/ files.
	st := watermark.Store{S3: e.s3, Bucket: e.bucket}
	m, _, err := st.Mark(ctx, e.name, "items")
	if err != nil {
		t.Fatal(err)
	}
	for _, k := range e.keys(m.Generation) {
		e.deleteKey(k)
	}
	m.Generation, m.Retired = "", nil
	if err := s3obj.PutJSON(ctx, e.s3, e.bucket, watermark.Key(e.name, "items"), "", m, false); err != nil {
		t.Fatal(err)
	}
	e.exec("UPDATE items SET v = 20, rev = 4 WHERE id = 2")
	e.exec("INSERT INTO items VALUES (4, 4, 5)")
	e.now = e.now.Add(time.Hour)
	sum := e.run(ingest.SetFrequent)
	if sum.Failed != 0 {
		t.Fatalf("%+v", sum)
	}
	if got := e.lakeIDs(e.currentLocation("items")); !slices.Equal(got, []int64{1, 2, 3, 4}) {
		t.Errorf("the current table built from the log has ids %v, want 1-4 once each", got)
	}
	if got := e.lakeIDs("raw/" + e.name + "/items/"); len(got) != 5 {
		t.Errorf("the log has %d rows, want 5 (row 2 twice)", len(got))
	}
}

// TestCurrentBuildRetried: the workflow retries an invocation Lambda reported as
// failed, which may have switched the table already; the retry keeps that
// generation instead of deleting and rewriting it under its readers.
func TestCurrentBuildRetried(t *testing.T) {
	e := newEnv(t, currentTables())
	e.exec("INSERT INTO items VALUES (1, 1, 1), (2, 2, 2)")
	e.putConfig(e.config(currentSets))
	sum := e.run(ingest.SetFrequent)
	loc := e.currentLocation("items")
	before := e.keys(loc)
	res, err := e.local().Current.Build(context.Background(), CurrentInput{Run: sum.Run, Table: "items"})
	if err != nil || res.Status != CurrentBuilt || res.Generation != loc || !strings.Contains(res.Reason, "earlier attempt") {
		t.Fatalf("retried build: %+v %v", res, err)
	}
	if after := e.keys(loc); !slices.Equal(before, after) || e.currentLocation("items") != loc {
		t.Errorf("the retry changed the generation: %v -> %v", before, after)
	}
}
