package lake

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"math/big"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/duckdb/duckdb-go/v2"
	"github.com/parquet-go/parquet-go"

	"github.com/snaplake/snaplake/internal/local/glue"
)

type downloadRow struct {
	ID     int64  `parquet:"id"`
	FileID int32  `parquet:"file_id"`
	Agent  string `parquet:"agent"`
}

type customerRow struct {
	ID        int64     `parquet:"id"`
	Email     *string   `parquet:"email,optional"`
	Balance   int64     `parquet:"balance,decimal(2:12)"`
	CreatedAt time.Time `parquet:"created_at,timestamp(microsecond)"`
}

var (
	created = time.Date(2026, 11, 1, 12, 30, 15, 250000000, time.UTC)
	email   = "a@example.com"
)

// writeParquet writes rows gzip-compressed where the local S3 server keeps s3://bucket/key.
func writeParquet[T any](t testing.TB, root, key string, rows []T) {
	t.Helper()
	var buf bytes.Buffer
	w := parquet.NewGenericWriter[T](&buf, parquet.Compression(&parquet.Gzip))
	if _, err := w.Write(rows); err != nil {
		t.Fatal(err)
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	writeFile(t, ObjectPath(root, "snaplake-lake", key), buf.Bytes())
}

func writeFile(t testing.TB, path string, body []byte) {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, body, 0o644); err != nil {
		t.Fatal(err)
	}
}

func downloads(n int) []downloadRow {
	rows := make([]downloadRow, n)
	for i := range rows {
		rows[i] = downloadRow{ID: int64(i), FileID: int32(i % 3), Agent: "curl"}
	}
	return rows
}

// newLake lays out a lake as the crawler stand-in would have catalogued it.
func newLake(t testing.TB) *Lake {
	t.Helper()
	home := t.TempDir()
	root := filepath.Join(home, "s3")
	base := "data/warehouse/file_downloads/"
	writeParquet(t, root, base+"snapshot_date=2026-11-18/1/part-00000-a.gz.parquet", downloads(3))
	writeParquet(t, root, base+"snapshot_date=2026-11-18/1/part-00001-a.gz.parquet", downloads(2))
	writeParquet(t, root, base+"snapshot_date=2026-11-19/1/part-00000-b.gz.parquet", downloads(4))
	writeParquet(t, root, base+"snapshot_date=2026-11-20/1/part-00000-c.gz.parquet", downloads(7))
	writeFile(t, ObjectPath(root, "snaplake-lake", base+"snapshot_date=2026-11-20/1/_SUCCESS"), nil)
	// Not crawled yet: invisible, as in Athena.
	writeParquet(t, root, base+"snapshot_date=2026-11-21/1/part-00000-d.gz.parquet", downloads(11))

	writeParquet(t, root, "data/warehouse/customer/snapshot_date=2026-11-20/1/part-00000-e.gz.parquet", []customerRow{
		{ID: 1, Email: &email, Balance: 1050, CreatedAt: created},
		{ID: 2, Email: nil, Balance: -7, CreatedAt: created.Add(time.Hour)},
	})

	cat, err := glue.OpenCatalog(filepath.Join(home, "catalog.json"))
	if err != nil {
		t.Fatal(err)
	}
	pk := []glue.Column{{Name: "snapshot_date", Type: "string"}}
	for _, tb := range []glue.Table{
		{Database: "warehouse", Name: "file_downloads", Location: "s3://snaplake-lake/" + base,
			Columns:       []glue.Column{{Name: "id", Type: "bigint"}, {Name: "file_id", Type: "int"}, {Name: "agent", Type: "string"}},
			PartitionKeys: pk, Partitions: []string{"2026-11-18", "2026-11-19", "2026-11-20"}},
		{Database: "warehouse", Name: "customer", Location: "s3://snaplake-lake/data/warehouse/customer/",
			Columns: []glue.Column{{Name: "id", Type: "bigint"}, {Name: "email", Type: "string"},
				{Name: "balance", Type: "decimal(12,2)"}, {Name: "created_at", Type: "timestamp"}},
			PartitionKeys: pk, Partitions: []string{"2026-11-20"}},
		// Catalogued, but its files are gone: an empty table, not an error.
		{Database: "sales", Name: "orders", Location: "s3://snaplake-lake/data/sales/orders/",
			Columns:       []glue.Column{{Name: "id", Type: "bigint"}, {Name: "total", Type: "decimal(10,2)"}},
			PartitionKeys: pk, Partitions: []string{"2026-11-20"}},
	} {
		if err := cat.Put(tb); err != nil {
			t.Fatal(err)
		}
	}
	return &Lake{Catalog: cat, Root: root}
}

func query(t *testing.T, l *Lake, sql string) Result {
	t.Helper()
	res, err := l.Query(context.Background(), sql)
	if err != nil {
		t.Fatalf("query %q: %v", sql, err)
	}
	return res
}

// rowsText renders rows for comparison.
func rowsText(r Result) []string {
	var out []string
	for _, row := range r.Rows {
		var cells []string
		for j, v := range row {
			if v == nil {
				cells = append(cells, "NULL")
			} else {
				cells = append(cells, text(v, r.Types[j]))
			}
		}
		out = append(out, strings.Join(cells, "|"))
	}
	return out
}

func TestQueryUsesAthenaNames(t *testing.T) {
	l := newLake(t)
	tests := []struct {
		name, sql string
		want      []string
	}{
		{"count per partition",
			"SELECT snapshot_date, count(*) FROM warehouse.file_downloads GROUP BY 1 ORDER BY 1",
			[]string{"2026-11-18|5", "2026-11-19|4", "2026-11-20|7"}},
		{"latest partition as analysts query it", `SELECT count(*) FROM warehouse.file_downloads
  WHERE snapshot_date = (SELECT max(snapshot_date) FROM "warehouse"."file_downloads$partitions")`,
			[]string{"7"}},
		{"partitions metadata table",
			`SELECT * FROM warehouse."file_downloads$partitions" ORDER BY 1`,
			[]string{"2026-11-18", "2026-11-19", "2026-11-20"}},
		{"snapshot_date is a string, as in Athena",
			"SELECT DISTINCT typeof(snapshot_date) FROM warehouse.file_downloads",
			[]string{"VARCHAR"}},
		{"unqualified name resolves in the catalog databases",
			"SELECT count(*) FROM file_downloads", []string{"16"}},
		{"empty table whose files are gone",
			"SELECT count(*), typeof(any_value(total)) FROM sales.orders", []string{"0|DECIMAL(10,2)"}},
		{"decimals, timestamps and NULL strings",
			"SELECT id, email, balance, created_at FROM warehouse.customer ORDER BY id",
			[]string{"1|a@example.com|10.50|2026-11-01 12:30:15.25", "2|NULL|-0.07|2026-11-01 13:30:15.25"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := rowsText(query(t, l, tt.sql))
			if !slices.Equal(got, tt.want) {
				t.Errorf("rows = %q, want %q", got, tt.want)
			}
		})
	}
}

func TestQueryReturnsTypedValues(t *testing.T) {
	l := newLake(t)
	res := query(t, l, "SELECT balance, created_at, email FROM warehouse.customer ORDER BY id")
	if want := []string{"DECIMAL(12,2)", "TIMESTAMP", "VARCHAR"}; !slices.Equal(res.Types, want) {
		t.Errorf("types = %v, want %v", res.Types, want)
	}
	d, ok := res.Rows[0][0].(duckdb.Decimal)
	if !ok || d.Value.Int64() != 1050 || d.Scale != 2 || d.Width != 12 {
		t.Errorf("balance = %#v, want DECIMAL(12,2) 10.50", res.Rows[0][0])
	}
	if ts, ok := res.Rows[0][1].(time.Time); !ok || !ts.Equal(created) {
		t.Errorf("created_at = %#v, want %v", res.Rows[0][1], created)
	}
	if res.Rows[1][2] != nil {
		t.Errorf("NULL email = %#v, want nil", res.Rows[1][2])
	}
}

func TestQueryErrors(t *testing.T) {
	l := newLake(t)
	tables := []string{"sales.orders", "warehouse.customer", "warehouse.file_downloads"}
	tests := []struct {
		name, sql string
		table     string // expected UnknownTableError.Name; empty for other errors
		msg       string
	}{
		{"unknown table in known database", "SELECT * FROM warehouse.downloads", "warehouse.downloads", ""},
		{"unknown quoted table", `SELECT id FROM "warehouse"."nope$partitions"`, "warehouse.nope$partitions", ""},
		{"unknown database", "SELECT * FROM nodb.file_downloads", "nodb.file_downloads", ""},
		{"unqualified unknown table", "SELECT * FROM downloads", "downloads", ""},
		{"prefix of a real table", "SELECT * FROM warehouse.custome", "warehouse.custome", ""},
		{"bad SQL", "SELEC 1", "", `syntax error at or near "SELEC"`},
		{"unknown column", "SELECT nope FROM warehouse.customer", "", `Referenced column "nope" not found`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := l.Query(context.Background(), tt.sql)
			if err == nil {
				t.Fatal("no error")
			}
			var ut *UnknownTableError
			if tt.table == "" {
				if errors.As(err, &ut) {
					t.Fatalf("error %v is an UnknownTableError", err)
				}
				if !strings.Contains(err.Error(), tt.msg) {
					t.Errorf("error %q does not carry DuckDB's message %q", err, tt.msg)
				}
				return
			}
			if !errors.As(err, &ut) {
				t.Fatalf("error %T %v, want *UnknownTableError", err, err)
			}
			if ut.Name != tt.table || !slices.Equal(ut.Tables, tables) {
				t.Errorf("UnknownTableError = %+v, want name %s, tables %v", ut, tt.table, tables)
			}
			want := fmt.Sprintf("table %s does not exist; tables: %s", tt.table, strings.Join(tables, ", "))
			if err.Error() != want {
				t.Errorf("message = %q, want %q", err, want)
			}
		})
	}
}

func TestQueryEmptyCatalog(t *testing.T) {
	cat, err := glue.OpenCatalog(filepath.Join(t.TempDir(), "catalog.json"))
	if err != nil {
		t.Fatal(err)
	}
	l := &Lake{Catalog: cat, Root: t.TempDir()}
	_, err = l.Query(context.Background(), "SELECT * FROM warehouse.t")
	var ut *UnknownTableError
	if !errors.As(err, &ut) || !strings.Contains(err.Error(), "no tables yet") {
		t.Errorf("error = %v, want an UnknownTableError saying the catalog is empty", err)
	}
}

func TestFormat(t *testing.T) {
	cat, err := glue.OpenCatalog(filepath.Join(t.TempDir(), "catalog.json"))
	if err != nil {
		t.Fatal(err)
	}
	l := &Lake{Catalog: cat, Root: t.TempDir()}
	res := query(t, l, `SELECT * FROM (VALUES
	  (1, 'café', 12.50::DECIMAL(5,2), NULL::VARCHAR, TIMESTAMP '2026-11-20 04:00:00', DATE '2026-11-20', true),
	  (20, 'a,"b"', -0.05::DECIMAL(5,2), 'x', TIMESTAMP '2026-11-20 04:00:00.5', DATE '2026-11-21', false)
	) AS t(n, s, d, z, ts, day, ok) ORDER BY n`)
	tests := []struct{ format, want string }{
		{"table", "" +
			"  n | s     |     d | z    | ts                    | day        | ok\n" +
			"----+-------+-------+------+-----------------------+------------+-------\n" +
			"  1 | café  | 12.50 | NULL | 2026-11-20 04:00:00   | 2026-11-20 | true\n" +
			" 20 | a,\"b\" | -0.05 | x    | 2026-11-20 04:00:00.5 | 2026-11-21 | false\n" +
			"(2 rows)\n"},
		{"csv", "" +
			"n,s,d,z,ts,day,ok\n" +
			"1,café,12.50,,2026-11-20 04:00:00,2026-11-20,true\n" +
			"20,\"a,\"\"b\"\"\",-0.05,x,2026-11-20 04:00:00.5,2026-11-21,false\n"},
		{"json", "" +
			"[\n" +
			"  {\"n\": 1, \"s\": \"café\", \"d\": 12.50, \"z\": null, \"ts\": \"2026-11-20 04:00:00\", \"day\": \"2026-11-20\", \"ok\": true},\n" +
			"  {\"n\": 20, \"s\": \"a,\\\"b\\\"\", \"d\": -0.05, \"z\": \"x\", \"ts\": \"2026-11-20 04:00:00.5\", \"day\": \"2026-11-21\", \"ok\": false}\n" +
			"]\n"},
	}
	for _, tt := range tests {
		t.Run(tt.format, func(t *testing.T) {
			var b strings.Builder
			if err := Format(&b, res, tt.format); err != nil {
				t.Fatal(err)
			}
			if b.String() != tt.want {
				t.Errorf("output:\n%s\nwant:\n%s", b.String(), tt.want)
			}
		})
	}
	t.Run("empty result", func(t *testing.T) {
		empty := Result{Columns: []string{"a"}, Types: []string{"INTEGER"}}
		for format, want := range map[string]string{"json": "[]\n", "csv": "a\n", "table": " a\n---\n(0 rows)\n"} {
			var b strings.Builder
			if err := Format(&b, empty, format); err != nil {
				t.Fatal(err)
			}
			if b.String() != want {
				t.Errorf("%s: %q, want %q", format, b.String(), want)
			}
		}
	})
	if err := Format(&strings.Builder{}, res, "xml"); err == nil {
		t.Error("Format accepted xml")
	}
}

func TestDecimalString(t *testing.T) {
	tests := []struct {
		value int64
		scale uint8
		want  string
	}{
		{1050, 2, "10.50"}, {-7, 2, "-0.07"}, {0, 2, "0.00"}, {5, 0, "5"}, {-123456, 3, "-123.456"},
	}
	for _, tt := range tests {
		d := duckdb.Decimal{Width: 18, Scale: tt.scale, Value: big.NewInt(tt.value)}
		if got := decimalString(d); got != tt.want {
			t.Errorf("decimalString(%d, scale %d) = %q, want %q", tt.value, tt.scale, got, tt.want)
		}
	}
}

// BenchmarkQueryLatestPartition measures one query through Lake.Query, including the
// fresh DuckDB and its views.
func BenchmarkQueryLatestPartition(b *testing.B) {
	l := newLake(b)
	ctx := context.Background()
	for b.Loop() {
		res, err := l.Query(ctx, `SELECT count(*) FROM warehouse.file_downloads
  WHERE snapshot_date = (SELECT max(snapshot_date) FROM "warehouse"."file_downloads$partitions")`)
		if err != nil {
			b.Fatal(err)
		}
		if len(res.Rows) != 1 {
			b.Fatalf("rows = %v", res.Rows)
		}
	}
}

func TestTableFormatAlignsWideCharacters(t *testing.T) {
	var b strings.Builder
	r := Result{Columns: []string{"project", "n"}, Types: []string{"VARCHAR", "BIGINT"}, Rows: [][]any{{"データ project", int64(1)}, {"Étude", int64(22)}}}
	if err := Format(&b, r, "table"); err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(strings.TrimRight(b.String(), "\n"), "\n")
	// Every line of the grid (not the row count) ends its first column at the same screen column.
	var col []int
	for _, l := range lines[:len(lines)-1] {
		i := strings.IndexAny(l, "|+")
		col = append(col, displayWidth(l[:i]))
	}
	for _, c := range col[1:] {
		if c != col[0] {
			t.Errorf("columns misaligned %v in:\n%s", col, b.String())
			break
		}
	}
}
