package mysqlparquet_test

import (
	"context"
	"database/sql"
	"database/sql/driver"
	"fmt"
	"testing"

	"github.com/go-sql-driver/mysql"

	"github.com/snaplake/snaplake/internal/aws/mysqlparquet"
)

// One page of a keyset pagination: through the primary key, in key order, at most
// Limit rows; OnRow sees each row as read, and a ValueConverter turns its values into
// exactly the Parquet values the file holds.
func TestExportOnePageAndOnRow(t *testing.T) {
	db, schema := newSchema(t,
		"SET SESSION sql_mode = ''",
		"CREATE TABLE t (a INT NOT NULL, b VARCHAR(10) NOT NULL, d DATE NOT NULL, PRIMARY KEY (a, b), KEY (d))",
		"INSERT INTO t VALUES (2, 'x', '2020-01-02'), (1, 'z', '0000-00-00'), (1, 'y', '2020-01-01'), (3, 'w', '2020-01-03')")
	cols, err := mysqlparquet.Columns(context.Background(), db, schema, "t")
	if err != nil {
		t.Fatal(err)
	}
	conv := []*mysqlparquet.ValueConverter{cols[0].Converter(), cols[1].Converter(), cols[2].Converter()}
	var seen [][3]any
	var files memFiles
	res, err := mysqlparquet.ExportTable(context.Background(), db, schema, "t", files.newFile, mysqlparquet.Options{
		Where: "(a > ? OR (a = ? AND b > ?))", Args: []any{1, 1, "x"}, Index: "PRIMARY", OrderBy: []string{"a", "b"}, Limit: 2,
		OnRow: func(vals []driver.Value) error {
			var row [3]any
			for i, v := range vals {
				pv, err := conv[i].Convert(v)
				if err != nil {
					return err
				}
				if pv.IsNull() {
					row[i] = nil
				} else if i == 1 {
					row[i] = string(pv.ByteArray())
				} else {
					row[i] = int64(pv.Int32())
				}
			}
			seen = append(seen, row)
			return nil
		}})
	if err != nil {
		t.Fatal(err)
	}
	if res.Rows != 2 || len(seen) != 2 {
		t.Fatalf("%d rows exported, %d seen; want the page of 2", res.Rows, len(seen))
	}
	_, rows := readRows(t, files.files[0].Bytes())
	want := [][3]any{{int64(1), "y", int64(18262)}, {int64(1), "z", nil}} // (1,'y') then (1,'z'): key order
	for i, w := range want {
		if seen[i] != w {
			t.Fatalf("OnRow row %d converted: %v, want %v", i, seen[i], w)
		}
		got := [3]any{rows[i]["a"], rows[i]["b"], rows[i]["d"]}
		if g, ok := got[0].(int32); ok {
			got[0] = int64(g)
		}
		if g, ok := got[2].(int32); ok {
			got[2] = int64(g)
		}
		if got != w {
			t.Fatalf("file row %d: %v, want %v", i, got, w)
		}
	}
}

// With arguments, the driver is asked directly when it interpolates them, and
// database/sql prepares the statement when it does not (driver.ErrSkip): the same
// rows either way, with or without parseTime.
func TestExportWithArgsIndependentOfDriverOptions(t *testing.T) {
	ctx := context.Background()
	db, schema := newSchema(t,
		`CREATE TABLE ev (id INT NOT NULL PRIMARY KEY, d DATE, dt DATETIME(6), ts TIMESTAMP NULL, f FLOAT, bu BIGINT UNSIGNED, s VARCHAR(10))`,
		`INSERT INTO ev VALUES (1, '2024-02-29', '2024-02-29 01:02:03.456789', '2024-01-01 00:00:01', 0.5, 18446744073709551615, 'ü'),
			(2, '0000-00-00', '0000-00-00 00:00:00', NULL, NULL, NULL, NULL), (3, '2024-03-01', '2024-03-01 00:00:00', NULL, 1.5, 7, 'x')`,
	)
	var outs []string
	for _, opts := range []struct{ interpolate, parseTime bool }{{true, false}, {false, false}, {false, true}, {true, true}} {
		cfg, err := mysql.ParseDSN(server.DSN(schema))
		if err != nil {
			t.Fatal(err)
		}
		cfg.InterpolateParams, cfg.ParseTime = opts.interpolate, opts.parseTime
		odb, err := sql.Open("mysql", cfg.FormatDSN())
		if err != nil {
			t.Fatal(err)
		}
		var files memFiles
		var seen int
		res, err := mysqlparquet.ExportTable(ctx, odb, schema, "ev", files.newFile, mysqlparquet.Options{
			Where: "id < ? AND s IS NOT NULL OR id = ?", Args: []any{"3", int64(2)}, OrderBy: []string{"id"},
			OnRow: func([]driver.Value) error { seen++; return nil }})
		odb.Close()
		if err != nil {
			t.Fatalf("%+v: %v", opts, err)
		}
		if res.Rows != 2 || seen != 2 {
			t.Fatalf("%+v: %d rows, %d seen, want rows 1 and 2", opts, res.Rows, seen)
		}
		_, rows := readRows(t, files.files[0].Bytes())
		outs = append(outs, fmt.Sprint(rows))
	}
	for i := range outs {
		if outs[i] != outs[0] {
			t.Fatalf("driver options changed the export:\n%s\n%s", outs[0], outs[i])
		}
	}
	_ = db
}
