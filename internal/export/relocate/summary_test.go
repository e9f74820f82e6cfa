package relocate_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"reflect"
	"slices"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"

	"github.com/snaplake/snaplake/internal/export/relocate"
)

// TestRunReportsProblemsAndCrawlTargets: tables RDS skipped, failed or warned about
// are reported from the export's tables-info files, on the first run and on a re-run
// after everything moved; the crawl targets keep the exported folder case.
func TestRunReportsProblemsAndCrawlTargets(t *testing.T) {
	ctx := context.Background()
	s := startFake(t)
	c := s.Client()
	longWarning := strings.Repeat("Zeichenkodierung überprüfen; ", 40) // multi-byte characters across the cut
	tables := []tableSpec{
		{db: "Shop", table: "Orders", files: 3, batches: 1},
		{db: "shop", table: "items", files: 2, batches: 2, warning: "Column price was truncated"},
		{db: "shop", table: "audit", status: "SKIPPED", warning: "Table skipped: column name 'a b' contains a space"},
		{db: "crm", table: "notes", files: 2, batches: 1, status: "FAILED", warning: longWarning},
		{db: "crm", table: "contacts", files: 1, batches: 1},
	}
	e := makeExport("db-problems", tables)
	// A warning about a whole database names the database alone and has no status
	// (seen in public parsers of real exports).
	last := splitTables(tables)[1].name(e.id)
	var info map[string][]map[string]any
	if err := json.Unmarshal(e.objects[last], &info); err != nil {
		t.Fatal(err)
	}
	info["perTableStatus"] = append(info["perTableStatus"], map[string]any{"target": "crm", "warningMessage": "Database crm: 1 table failed"})
	e.objects[last], _ = json.Marshal(info)
	seed(t, s, e)

	wantProblems := []relocate.TableProblem{
		{Table: "crm", Warning: "Database crm: 1 table failed"},
		{Table: "crm.notes", Status: "FAILED"}, // its warning is cut: checked below
		{Table: "shop.audit", Status: "SKIPPED", Warning: "Table skipped: column name 'a b' contains a space"},
		{Table: "shop.items", Status: "COMPLETE", Warning: "Column price was truncated"},
	}
	wantCrawl := []relocate.CrawlTarget{
		{Database: "crm", Folder: "crm", Tables: []string{"contacts", "notes"}},
		{Database: "shop", Folder: "Shop", Tables: []string{"Orders"}},
		{Database: "shop", Folder: "shop", Tables: []string{"items"}},
	}
	for _, run := range []string{"first run", "re-run after everything moved"} {
		t.Run(run, func(t *testing.T) {
			sum, err := relocate.Run(ctx, c, opts(e.id, "2026-03-10"), nil)
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(sum.Crawl, wantCrawl) {
				t.Errorf("crawl = %+v, want %+v", sum.Crawl, wantCrawl)
			}
			if len(sum.Problems) != len(wantProblems) || sum.ProblemsOmitted != 0 {
				t.Fatalf("problems = %+v (omitted %d), want %d", sum.Problems, sum.ProblemsOmitted, len(wantProblems))
			}
			for i, p := range sum.Problems {
				w := wantProblems[i]
				if p.Table != w.Table || p.Status != w.Status {
					t.Errorf("problem %d = %s %q, want %s %q", i, p.Table, p.Status, w.Table, w.Status)
				}
				if w.Table == "crm.notes" {
					if len(p.Warning) > 200 || !utf8.ValidString(p.Warning) || !strings.HasPrefix(longWarning, strings.TrimSuffix(p.Warning, "…")) {
						t.Errorf("long warning kept as %d bytes %q, want a valid UTF-8 prefix of at most 200 bytes", len(p.Warning), p.Warning)
					}
				} else if p.Warning != w.Warning {
					t.Errorf("problem %s warning %q, want %q", p.Table, p.Warning, w.Warning)
				}
			}
		})
	}
	assertRelocated(t, c, e, "data/", e.expectedDest("2026-03-10"))
}

// TestSummaryFitsStepFunctionsPayload: the Lambda result must stay far below the
// 256 KiB Step Functions limit even when all of 1,000 tables failed with long warnings.
func TestSummaryFitsStepFunctionsPayload(t *testing.T) {
	s := startFake(t)
	var tables []tableSpec
	for i := range 1000 {
		tables = append(tables, tableSpec{db: "warehouse", table: fmt.Sprintf("table_with_a_longish_name_%04d", i), files: 1, batches: 1,
			status: "FAILED", warning: strings.Repeat("The export of this table failed because of something long. ", 20)})
	}
	e := makeExport("db-thousand", tables)
	seed(t, s, e)
	sum, err := relocate.Run(context.Background(), s.Client(), opts(e.id, "2026-03-11"), nil)
	if err != nil {
		t.Fatal(err)
	}
	payload, err := json.Marshal(sum)
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("summary of 1,000 failed tables: %d bytes", len(payload))
	if len(payload) > 64<<10 {
		t.Errorf("summary is %d bytes, want at most 64 KiB (Step Functions allows 256 KiB in all)", len(payload))
	}
	if len(sum.Problems) != 100 || sum.ProblemsOmitted != 900 {
		t.Errorf("problems listed %d, omitted %d; want 100 and 900", len(sum.Problems), sum.ProblemsOmitted)
	}
	if len(sum.Crawl) != 1 || len(sum.Crawl[0].Tables) != 1000 {
		t.Errorf("crawl targets %d, want one database with 1000 tables", len(sum.Crawl))
	}
}

// TestRunRejectsMalformedTablesInfo: a tables-info file Run cannot read is a typed error
// naming the file, and nothing is deleted from the export.
func TestRunRejectsMalformedTablesInfo(t *testing.T) {
	tests := []struct {
		name, body, says string
	}{
		{"not JSON", `PAR1 this is not json`, "decode JSON"},
		{"array at top", `[{"target":"crm.notes"}]`, "not an object"},
		{"no perTableStatus", `{"tables":[]}`, "no perTableStatus"},
		{"perTableStatus not an array", `{"perTableStatus":{"target":"crm.notes"}}`, "perTableStatus is not an array"},
		{"perTableStatus null", `{"perTableStatus":null}`, "perTableStatus is not an array"},
		{"entry without target", `{"perTableStatus":[{"target":"crm.notes","status":"COMPLETE"},{"status":"FAILED"}]}`, "perTableStatus[1] has no target"},
		{"status not a string", `{"perTableStatus":[{"target":"crm.notes","status":3}]}`, "perTableStatus[0]"},
		{"truncated", `{"perTableStatus":[{"target":"crm.notes","status":"COMPLETE"}`, "decode JSON"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := startFake(t)
			c := s.Client()
			e := makeExport("db-malformed", standardTables[3:])
			bad := splitTables(standardTables[3:])[1].name(e.id)
			e.objects[bad] = []byte(tt.body)
			seed(t, s, e)
			_, err := relocate.Run(context.Background(), c, opts(e.id, "2026-03-12"), nil)
			var tie *relocate.TablesInfoError
			if !errors.As(err, &tie) || tie.Key != "exports/"+e.id+"/"+bad || tie.Bucket != bucket {
				t.Fatalf("err = %v, want TablesInfoError for exports/%s/%s", err, e.id, bad)
			}
			if !strings.Contains(err.Error(), tt.says) || !strings.Contains(err.Error(), bad) {
				t.Errorf("error %q does not say %q and name the file", err, tt.says)
			}
			left := sizes(t, c, "exports/"+e.id+"/")
			for rel := range e.objects {
				if _, ok := left["exports/"+e.id+"/"+rel]; !ok {
					t.Errorf("%s was deleted although the run failed", rel)
				}
			}
		})
	}
}

// TestRunWritesFilesDirectlyInPartition: whatever the folders below a table's base
// prefix, every file lands directly in its snapshot_date partition under a distinct
// name; hidden files stay in the export; an earlier export's nested files are replaced.
func TestRunWritesFilesDirectlyInPartition(t *testing.T) {
	ctx := context.Background()
	s := startFake(t)
	c := s.Client()
	const date = "2026-03-13"
	e := export{id: "db-layouts", objects: map[string][]byte{}}
	files := map[string]string{ // rel -> destination file name
		"shop/shop.t/1/part-00000-a-c000.gz.parquet":  "1_part-00000-a-c000.gz.parquet",
		"shop/shop.t/12/part-00000-a-c000.gz.parquet": "12_part-00000-a-c000.gz.parquet",
		"shop/shop.t/part-00000-a-c000.gz.parquet":    "part-00000-a-c000.gz.parquet",
		"shop/shop.t/1_part-00000-a-c000.gz.parquet":  "1(5F)part-00000-a-c000.gz.parquet",
		"shop/shop.t/2/3/part-00001-b.gz.parquet":     "2_3_part-00001-b.gz.parquet",
		"shop/shop.t/2_3/part-00001-b.gz.parquet":     "2(5F)3_part-00001-b.gz.parquet",
		"shop/shop.t/(x)/part-00002.gz.parquet":       "(28)x)_part-00002.gz.parquet",
		"shop/shop.t/a=b c+d/part-00003.gz.parquet":   "a=b c+d_part-00003.gz.parquet",
	}
	for rel := range files {
		e.objects[rel] = []byte("PAR1|" + rel)
		e.tableFiles = append(e.tableFiles, rel)
	}
	for _, rel := range []string{"shop/shop.t/_temporary/0/part-00009.gz.parquet", "shop/shop.t/1/.part-00000-a-c000.gz.parquet.crc",
		"shop/shop.t/1/_SUCCESS", "export_tables_info_db-layouts_from_1_to_1.json"} {
		e.objects[rel] = []byte("x")
		e.kept = append(e.kept, rel)
	}
	e.objects["export_tables_info_db-layouts_from_1_to_1.json"] = tablesInfo([]tableSpec{{db: "shop", table: "t"}})
	seed(t, s, e)
	// An earlier export of the same date, relocated in the old nested layout.
	old := "data/shop/t/snapshot_date=" + date + "/1/part-00000-old-c000.gz.parquet"
	if _, err := c.PutObject(ctx, &s3.PutObjectInput{Bucket: aws.String(bucket), Key: aws.String(old), Body: strings.NewReader("old")}); err != nil {
		t.Fatal(err)
	}

	sum, err := relocate.Run(ctx, c, opts(e.id, date), nil)
	if err != nil {
		t.Fatal(err)
	}
	if sum.Moved != len(files) || sum.Replaced != 1 || sum.Skipped != 4 {
		t.Errorf("moved %d replaced %d skipped %d, want %d, 1 and 4", sum.Moved, sum.Replaced, sum.Skipped, len(files))
	}
	want := map[string][]byte{}
	for rel, name := range files {
		key := "data/shop/t/snapshot_date=" + date + "/" + name
		want[key] = e.objects[rel]
		if got := e.dest(rel, "data/", date); got != key {
			t.Errorf("test oracle maps %s to %s, want %s", rel, got, key)
		}
	}
	if len(want) != len(files) {
		t.Fatalf("%d files map to %d names", len(files), len(want))
	}
	assertRelocated(t, c, e, "data/", want)
	for k := range want {
		if !strings.HasSuffix(k, ".parquet") {
			t.Errorf("%s lost its .parquet extension", k)
		}
	}
	if got := slices.Sorted(maps.Keys(sizes(t, c, "data/"))); len(got) != len(files) {
		t.Errorf("destination holds %v", got)
	}
}
