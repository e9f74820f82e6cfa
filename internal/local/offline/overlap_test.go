package offline

import (
	"bytes"
	"context"
	"io"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/parquet-go/parquet-go"

	"github.com/snaplake/snaplake/events"
	"github.com/snaplake/snaplake/internal/local/stepfunctions"
)

// TestOverlappingNightsKeepEachPartitionOnce: a night's export is still running when
// the next night's snapshot arrives, and the later night finishes first. Both nights
// are relocated into their own partition, each file exactly once (no duplicate row),
// neither partition is empty or pruned, and the late older night does not take the
// newer one's place; each execution crawls once, and nobody is notified.
func TestOverlappingNightsKeepEachPartitionOnce(t *testing.T) {
	f := newFixture(t)
	night1, night2 := "rds:warehouse-prod-2026-11-20-03-10", "rds:warehouse-prod-2026-11-21-03-10"
	f.rds.outcome[night1] = outcomeHold
	f.rds.outcome[night2] = outcomeComplete
	publish(t, f, snapshotEvent(t, "ev-1", "warehouse-prod"), events.SnapshotCreated)
	waitUntil(t, "the first night waits for its export", func() bool { return len(f.p.Tokens.Waiting()) == 1 })
	publish(t, f, []byte(strings.ReplaceAll(string(snapshotEvent(t, "ev-2", "warehouse-prod")), "2026-11-20", "2026-11-21")), events.SnapshotCreated)
	waitUntil(t, "the second night relocated", func() bool {
		return slices.ContainsFunc(f.keys(t, "data/"), func(k string) bool { return strings.Contains(k, "snapshot_date=2026-11-21/") })
	})
	f.rds.finish(context.Background(), "warehouse-prod-2026-11-20-03-10", outcomeComplete)
	res := f.results(t)
	if len(res) != 2 {
		t.Fatalf("%d executions, want 2", len(res))
	}
	for _, r := range res {
		if r.Status != stepfunctions.StatusSucceeded || !slices.Contains(r.States, "Done") {
			t.Errorf("execution %s %s %s %v", r.Status, r.Error, r.Cause, r.States)
		}
	}
	var want []string
	for _, day := range []string{"2026-11-20", "2026-11-21"} {
		want = append(want,
			"data/warehouse/customer/snapshot_date="+day+"/1_part-00000-aaaa-c000.gz.parquet",
			"data/warehouse/customer_address/snapshot_date="+day+"/1_part-00000-bbbb-c000.gz.parquet",
			"data/warehouse/customer_address/snapshot_date="+day+"/2_part-00003-cccc-c000.gz.parquet")
	}
	slices.Sort(want)
	if got := f.keys(t, "data/"); !slices.Equal(got, want) {
		t.Errorf("data/ = %v\nwant each night's files once, in its own partition: %v", got, want)
	}
	if len(f.rds.started) != 2 || len(f.glue.runs) != 2 {
		t.Errorf("exports %v, crawls %v: want one of each per night", f.rds.started, f.glue.runs)
	}
	if got := f.keys(t, "callbacks/"); len(got) != 0 {
		t.Errorf("tokens left behind: %v", got)
	}
	if n := f.p.Notifications(); len(n) != 0 {
		t.Errorf("notifications: %+v", n)
	}
}

// TestOverlappingIngestRunsLoadEachRowOnce fires the ingest workflow as overlapping
// schedules would: in each round two runs of each set start a second apart, while
// the source keeps growing. Afterwards the lake holds every source row of the
// incremental tables exactly once (no duplicate, no loss: no watermark went back or
// jumped ahead), and each fully reloaded table's current generation holds exactly
// the source's rows (never empty).
func TestOverlappingIngestRunsLoadEachRowOnce(t *testing.T) {
	ctx := context.Background()
	db := ingestSource(t)
	w := newIngestWorld(t, db, nil)
	w.putConfig(ingestTestConfig)

	stop := make(chan struct{})
	var inserting sync.WaitGroup
	stopInserts := sync.OnceFunc(func() { close(stop); inserting.Wait() })
	t.Cleanup(stopInserts) // before the pool closes, also when the test fails
	inserting.Add(1)
	go func() {
		defer inserting.Done()
		for i := 0; ; i++ {
			select {
			case <-stop:
				return
			default:
			}
			for _, q := range []string{
				"INSERT INTO warehouse.file_downloads (id, file_id, project_id, user_id, downloaded_at, client, bytes) " +
					"SELECT MAX(id)+1, 1, 1, 1, NOW(), 'web', 1 FROM warehouse.file_downloads",
				"INSERT INTO warehouse.files (id, project_id, name, content_size, storage_cost, created_by, created_on) " +
					"SELECT MAX(id)+1, 1, 'f', 1, 0, 1, NOW(3) FROM warehouse.files",
			} {
				if _, err := w.pool.Exec(q); err != nil {
					t.Error(err)
					return
				}
			}
			time.Sleep(5 * time.Millisecond)
		}
	}()

	base := time.Date(2026, 12, 7, 10, 0, 0, 0, time.UTC)
	outcomes := map[string]int{}
	for round := range 3 {
		at := base.Add(time.Duration(round) * 15 * time.Minute)
		var execs []*stepfunctions.Execution
		for _, set := range []string{"daily", "frequent"} {
			for _, delay := range []time.Duration{0, time.Second} {
				e, err := w.ing.RunSet(ctx, set, at.Add(delay), true)
				if err != nil {
					t.Fatal(err)
				}
				execs = append(execs, e)
			}
		}
		for _, e := range execs {
			res := w.wait(e, nil)
			if res.Status != stepfunctions.StatusSucceeded {
				t.Fatalf("round %d, %s: %s %s %s %v", round, e.ARN(), res.Status, res.Error, res.Cause, res.States)
			}
			if slices.Contains(res.States, "NothingToLoad") {
				outcomes["nothing to load"]++
			} else {
				outcomes["loaded"]++
			}
		}
	}
	stopInserts()
	if outcomes["nothing to load"] == 0 {
		t.Errorf("no run found its set busy (%v): the runs did not overlap", outcomes)
	}
	// Runs after the inserts stopped catch up.
	for i, set := range []string{"daily", "frequent"} {
		res := w.wait(w.ing.RunSet(ctx, set, base.Add(time.Hour+time.Duration(i)*time.Minute), true))
		if res.Status != stepfunctions.StatusSucceeded {
			t.Fatalf("catch-up run of %s: %s %s %s", set, res.Status, res.Error, res.Cause)
		}
	}

	for _, table := range []string{"file_downloads", "files"} {
		got, want := lakeIDs(t, w.admin, w.c.Bucket, "raw/warehouse/"+table+"/"), sourceIDs(t, w, table)
		if !slices.Equal(got, want) {
			t.Errorf("%s: the lake holds %d rows (%d duplicates), the source %d", table, len(got), duplicates(got), len(want))
		} else {
			t.Logf("%s: %d rows, each once", table, len(got))
		}
	}
	for _, table := range []string{"projects", "users"} {
		tbl, err := w.cat.Table("raw_warehouse", table)
		if err != nil {
			t.Fatal(err)
		}
		prefix := strings.TrimPrefix(tbl.Location, "s3://"+w.c.Bucket+"/")
		got, want := lakeIDs(t, w.admin, w.c.Bucket, prefix), sourceIDs(t, w, table)
		if len(got) == 0 || !slices.Equal(got, want) {
			t.Errorf("%s: the current generation %s holds %d rows, the source %d", table, prefix, len(got), len(want))
		}
	}
	if n := w.ing.Notifications(); len(n) != 0 {
		t.Errorf("notifications: %+v", n)
	}
	if d := w.acct.IAM.Denied(); len(d) > 0 {
		t.Errorf("denied: %+v", d)
	}
}

func duplicates(sorted []int64) int {
	n := 0
	for i := 1; i < len(sorted); i++ {
		if sorted[i] == sorted[i-1] {
			n++
		}
	}
	return n
}

func sourceIDs(t *testing.T, w *ingestWorld, table string) []int64 {
	t.Helper()
	rows, err := w.pool.Query("SELECT id FROM warehouse." + table + " ORDER BY id")
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	var ids []int64
	for rows.Next() {
		var id int64
		if err := rows.Scan(&id); err != nil {
			t.Fatal(err)
		}
		ids = append(ids, id)
	}
	return ids
}

// lakeIDs reads column id of every Parquet file under prefix, sorted: what the lake
// holds there.
func lakeIDs(t *testing.T, api *s3.Client, bucket, prefix string) []int64 {
	t.Helper()
	var ids []int64
	for _, k := range keys(t, api, bucket, prefix) {
		if !strings.HasSuffix(k, ".parquet") {
			continue
		}
		out, err := api.GetObject(context.Background(), &s3.GetObjectInput{Bucket: aws.String(bucket), Key: aws.String(k)})
		if err != nil {
			t.Fatal(err)
		}
		data, err := io.ReadAll(out.Body)
		out.Body.Close()
		if err != nil {
			t.Fatal(err)
		}
		f, err := parquet.OpenFile(bytes.NewReader(data), int64(len(data)))
		if err != nil {
			t.Fatalf("%s: %v", k, err)
		}
		col, ok := f.Schema().Lookup("id")
		if !ok {
			t.Fatalf("%s has no id column", k)
		}
		for _, rg := range f.RowGroups() {
			pages := rg.ColumnChunks()[col.ColumnIndex].Pages()
			for {
				pg, err := pages.ReadPage()
				if err == io.EOF {
					break
				}
				if err != nil {
					t.Fatal(err)
				}
				vals := make([]parquet.Value, pg.NumValues())
				n, _ := pg.Values().ReadValues(vals)
				for _, v := range vals[:n] {
					ids = append(ids, v.Int64())
				}
			}
			pages.Close()
		}
	}
	slices.Sort(ids)
	return ids
}
