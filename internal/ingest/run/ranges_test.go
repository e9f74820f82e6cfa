package run

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"slices"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/parquet-go/parquet-go"

	"github.com/snaplake/snaplake/internal/ingest"
)

// lakeValues reads column col of every Parquet file under prefix as text ("NULL"
// for a null), sorted: what the lake holds, with repeats.
func (e *env) lakeValues(prefix, col string) []string {
	e.t.Helper()
	var out []string
	for _, k := range e.keys(prefix) {
		if !strings.HasSuffix(k, ".parquet") {
			continue
		}
		obj, err := e.s3.GetObject(context.Background(), &s3.GetObjectInput{Bucket: aws.String(e.bucket), Key: aws.String(k)})
		if err != nil {
			e.t.Fatal(err)
		}
		data, _ := io.ReadAll(obj.Body)
		obj.Body.Close()
		f, err := parquet.OpenFile(bytes.NewReader(data), int64(len(data)))
		if err != nil {
			e.t.Fatalf("%s: %v", k, err)
		}
		c, ok := f.Schema().Lookup(col)
		if !ok {
			e.t.Fatalf("%s has no column %s", k, col)
		}
		for _, rg := range f.RowGroups() {
			pages := rg.ColumnChunks()[c.ColumnIndex].Pages()
			for {
				pg, err := pages.ReadPage()
				if err == io.EOF {
					break
				}
				if err != nil {
					e.t.Fatal(err)
				}
				vals := make([]parquet.Value, pg.NumValues())
				n, _ := pg.Values().ReadValues(vals)
				for _, v := range vals[:n] {
					if v.IsNull() {
						out = append(out, "NULL")
					} else {
						out = append(out, fmt.Sprint(v.Int64()))
					}
				}
			}
			pages.Close()
		}
	}
	slices.Sort(out)
	return out
}

// sourceValues is the same of the source table.
func (e *env) sourceValues(table, col string) []string {
	e.t.Helper()
	rows, err := e.db.Query("SELECT COALESCE(CAST(`" + col + "` AS CHAR), 'NULL') FROM `" + table + "`")
	if err != nil {
		e.t.Fatal(err)
	}
	defer rows.Close()
	var out []string
	for rows.Next() {
		var s string
		if err := rows.Scan(&s); err != nil {
			e.t.Fatal(err)
		}
		out = append(out, s)
	}
	slices.Sort(out)
	return out
}

func (e *env) jobPlan(run string) ingest.JobPlan {
	e.t.Helper()
	p, err := ReadJobPlan(context.Background(), e.s3, "s3://"+e.bucket+"/"+ingest.PlanKey(run))
	if err != nil {
		e.t.Fatal(err)
	}
	return p
}

func (e *env) jobTable(run, source string) ingest.JobTable {
	e.t.Helper()
	for _, t := range e.jobPlan(run).Tables {
		if t.Source == source {
			return t
		}
	}
	e.t.Fatalf("run %s did not plan %s", run, source)
	return ingest.JobTable{}
}

// Item 15 of issue 12: a large table is read in key ranges from the plan, and the
// loaded data equals the source exactly: no row lost or doubled at a range's bounds
// (keys on and beside each bound, a gap that leaves a range empty, rows whose key is
// NULL), in a full reload and in an incremental load from a watermark.
func TestRunReadsLargeTablesInRanges(t *testing.T) {
	e := newEnv(t, map[string]string{
		// Consecutive keys: every bound is a key, and so are its neighbours.
		"events": "id BIGINT AUTO_INCREMENT PRIMARY KEY, v INT NOT NULL",
		// A gap from 2000 to 9000: some ranges are empty.
		"gappy": "id INT PRIMARY KEY, v INT NOT NULL",
		// An integer AUTO_INCREMENT key declared NULL, beside a CHAR primary key.
		"nullkey": "code CHAR(8) PRIMARY KEY, id INT NULL AUTO_INCREMENT, v INT NOT NULL, UNIQUE KEY (id)",
		// A key that cannot be split.
		"uuids": "id CHAR(36) PRIMARY KEY, v INT NOT NULL",
	})
	e.exec("INSERT INTO events (id, v) SELECT seq, seq FROM seq_1_to_5000")
	e.exec("INSERT INTO gappy SELECT IF(seq <= 2000, seq, seq + 7000), seq FROM seq_1_to_3000")
	e.exec("INSERT INTO nullkey (code, id, v) SELECT LPAD(seq, 8, '0'), seq, seq FROM seq_1_to_3000")
	e.exec("INSERT INTO uuids SELECT UUID(), seq FROM seq_1_to_2000")
	e.exec("ANALYZE TABLE events, gappy, nullkey, uuids")
	e.putConfig(e.config(`  defaults:
    rowsPerRange: 1000
  tables:
    gappy:
      mode: full
    nullkey:
      mode: full
    uuids:
      mode: full
`))
	// NULL keys, if the server kept them in this column (it does not: see below).
	_, nullErr := e.db.Exec("UPDATE nullkey SET id = NULL WHERE v IN (1, 1500, 3000)")
	first := e.run(ingest.SetDaily)
	if first.Failed != 0 || first.Rows != 13000 {
		t.Fatalf("first daily run: %+v", first)
	}

	for table, minRanges := range map[string]int{"events": 3, "gappy": 3, "nullkey": 2} {
		jt := e.jobTable(first.Run, table)
		if len(jt.Ranges) < minRanges {
			t.Errorf("%s: %d ranges of %q, want at least %d", table, len(jt.Ranges), jt.RangeColumn, minRanges)
		}
	}
	if jt := e.jobTable(first.Run, "uuids"); len(jt.Ranges) != 0 {
		t.Errorf("uuids: %d ranges, want none (a CHAR key)", len(jt.Ranges))
	}
	if jt := e.jobTable(first.Run, "nullkey"); jt.RangeColumn != "id" {
		t.Errorf("nullkey: split by %q, want its AUTO_INCREMENT id", jt.RangeColumn)
	}
	// The keys a table is split by cannot hold NULL: a primary key's columns are NOT
	// NULL, and MariaDB makes an AUTO_INCREMENT column NOT NULL whatever its
	// declaration (the UPDATE above stores 0, and fails on the second row as a
	// duplicate). A nullable key would put its NULLs in the first range
	// (ingest.TestSplitTable); here the server is shown to keep none.
	var nulls int
	if err := e.db.QueryRow("SELECT COUNT(*) FROM nullkey WHERE id IS NULL").Scan(&nulls); err != nil {
		t.Fatal(err)
	}
	if nulls != 0 || nullErr == nil {
		t.Errorf("nullkey holds %d NULL keys (setting them: %v): the first range must then take them (KeyRange.Nulls)", nulls, nullErr)
	}
	for _, tc := range []struct{ table, col string }{{"events", "id"}, {"gappy", "id"}, {"nullkey", "id"}, {"nullkey", "v"}, {"uuids", "v"}} {
		got, want := e.lakeValues("raw/"+e.name+"/"+tc.table+"/", tc.col), e.sourceValues(tc.table, tc.col)
		if !slices.Equal(got, want) {
			t.Errorf("%s.%s: the lake has %d values, the source %d; they differ", tc.table, tc.col, len(got), len(want))
		}
	}
	// One file per range that has rows, at least.
	if files := len(e.keys("raw/" + e.name + "/events/")); files < 3 {
		t.Errorf("events: %d files", files)
	}

	// New rows: an incremental load from the watermark splits only the new keys.
	e.exec("INSERT INTO events (id, v) SELECT 5000 + seq, seq FROM seq_1_to_3000")
	e.exec("ANALYZE TABLE events")
	e.now = e.now.AddDate(0, 0, 1)
	second := e.run(ingest.SetDaily)
	if second.Failed != 0 {
		t.Fatalf("second daily run: %+v", second)
	}
	jt := e.jobTable(second.Run, "events")
	if jt.From == nil || *jt.From != "5000" || len(jt.Ranges) < 2 || jt.Ranges[0].To == nil || *jt.Ranges[0].To <= "5001" {
		t.Errorf("events from its watermark: from %v, %d ranges %+v", jt.From, len(jt.Ranges), jt.Ranges)
	}
	if got, want := e.lakeValues("raw/"+e.name+"/events/", "id"), e.sourceValues("events", "id"); !slices.Equal(got, want) {
		t.Errorf("events after the incremental load: the lake has %d ids, the source %d", len(got), len(want))
	}
}
