package run

import (
	"bytes"
	"context"
	"io"
	"slices"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/parquet-go/parquet-go"

	"github.com/snaplake/snaplake/internal/ingest"
)

// parquetColumns returns the column names of every Parquet file under prefix, one
// list per file.
func (e *env) parquetColumns(prefix string) [][]string {
	e.t.Helper()
	var out [][]string
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
		var names []string
		for _, fld := range f.Schema().Fields() {
			names = append(names, fld.Name())
		}
		out = append(out, names)
	}
	return out
}

// Item 14 of issue 12: the column names Athena cannot use (a space, a dot, a comma,
// a non-ASCII letter, upper case) reach the lake normalized, as table names are, in
// the files and in the catalog; two columns that would share a name are refused.
func TestRunNormalizesColumnNames(t *testing.T) {
	e := newEnv(t, map[string]string{
		"odd": "id BIGINT AUTO_INCREMENT PRIMARY KEY, `order date` DATE, `x.y` INT, `a,b` VARCHAR(5), `naïve` VARCHAR(5), `CamelCase` INT",
		"log": "`Event Id` BIGINT NOT NULL, `Note` VARCHAR(20)",
	})
	e.exec("INSERT INTO odd (`order date`, `x.y`, `a,b`, `naïve`, `CamelCase`) VALUES ('2026-03-01', 1, 'p', 'q', 2), ('2026-03-02', 3, 'r', 's', 4)")
	e.exec("INSERT INTO log VALUES (7, 'seven')")
	e.putConfig(e.config(""))
	sum := e.run(ingest.SetDaily)
	if sum.Loaded != 2 || sum.Rows != 3 {
		t.Fatalf("daily run: %+v", sum)
	}
	want := map[string][]string{
		"odd": {"id", "order_date", "x_y", "a_b", "na_ve", "camelcase"},
		"log": {"event_id", "note"},
	}
	for table, cols := range want {
		files := e.parquetColumns("raw/" + e.name + "/" + table + "/")
		if len(files) == 0 {
			t.Fatalf("no files for %s", table)
		}
		for _, got := range files {
			if !slices.Equal(got, cols) {
				t.Errorf("%s: Parquet columns %q, want %q", table, got, cols)
			}
		}
	}
	// The fully reloaded table's catalog entry (from the job's result) has them too.
	tbl, err := e.glue.Catalog.Table(ingest.CatalogDatabase(e.name), "log")
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, c := range tbl.Columns {
		got = append(got, c.Name)
	}
	if !slices.Equal(got, want["log"]) {
		t.Errorf("catalog columns of log %q, want %q", got, want["log"])
	}

	// A column that would normalize to an existing one refuses the run, naming both.
	e.exec("ALTER TABLE odd ADD COLUMN `Order_Date` DATE")
	e.now = e.now.AddDate(0, 0, 1)
	_, err = e.local().Run(context.Background(), RunRequest{Set: ingest.SetDaily, Force: true}, e.now)
	if err == nil || !strings.Contains(err.Error(), `"order date" and "Order_Date"`) {
		t.Errorf("run with colliding columns: %v, want a refusal naming \"order date\" and \"Order_Date\"", err)
	}
}
