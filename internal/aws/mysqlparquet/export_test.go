package mysqlparquet_test

import (
	"bytes"
	"context"
	"database/sql"
	"errors"
	"fmt"
	"io"
	"math/big"
	"os"
	"slices"
	"testing"
	"time"

	"github.com/go-sql-driver/mysql"
	"github.com/parquet-go/parquet-go"

	"github.com/snaplake/snaplake/internal/aws/mysqlparquet"
	"github.com/snaplake/snaplake/internal/local/mariadb"
	"github.com/snaplake/snaplake/internal/local/mariadb/mariadbtest"
	"github.com/snaplake/snaplake/internal/local/testenv"
)

// One server for the package: starting MariaDB costs seconds.
var server *mariadb.Server

func TestMain(m *testing.M) {
	if spec := os.Getenv(childEnv); spec != "" {
		os.Exit(runExportChild(spec))
	}
	os.Exit(runTests(m))
}

func runTests(m *testing.M) int {
	if testenv.Short() {
		return m.Run() // no server: the tests that need it skip
	}
	var stop func()
	var err error
	server, stop, err = mariadbtest.StartForMain("mysqlparquet-test")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	defer stop()
	return m.Run()
}

// newSchema creates a fresh database for one test and returns a pool on it.
func newSchema(t *testing.T, stmts ...string) (*sql.DB, string) {
	t.Helper()
	testenv.NeedsServers(t)
	root, err := server.DB("")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { root.Close() })
	name := fmt.Sprintf("t%d", time.Now().UnixNano())
	if _, err := root.Exec("CREATE DATABASE " + mysqlparquet.QuoteIdentifier(name)); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { root.Exec("DROP DATABASE " + mysqlparquet.QuoteIdentifier(name)) })
	db, err := server.DB(name)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	// One connection, so that session settings in stmts apply to all of them.
	conn, err := db.Conn(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	for _, s := range stmts {
		if _, err := conn.ExecContext(context.Background(), s); err != nil {
			t.Fatalf("%s: %v", s, err)
		}
	}
	return db, name
}

// memFiles collects exported files in memory.
type memFiles struct{ files []*memFile }

type memFile struct {
	bytes.Buffer
	closed bool
}

func (f *memFile) Close() error { f.closed = true; return nil }

func (m *memFiles) newFile(i int) (io.WriteCloser, error) {
	if i != len(m.files) {
		return nil, fmt.Errorf("file index %d, want %d", i, len(m.files))
	}
	f := &memFile{}
	m.files = append(m.files, f)
	return f, nil
}

// readRows decodes a Parquet file into one map per row (nil for NULL).
func readRows(t *testing.T, data []byte) (*parquet.File, []map[string]any) {
	t.Helper()
	f, err := parquet.OpenFile(bytes.NewReader(data), int64(len(data)))
	if err != nil {
		t.Fatalf("open parquet: %v", err)
	}
	leaves := f.Schema().Columns()
	var out []map[string]any
	for _, rg := range f.RowGroups() {
		rows := rg.Rows()
		buf := make([]parquet.Row, 64)
		for {
			n, err := rows.ReadRows(buf)
			for _, row := range buf[:n] {
				m := map[string]any{}
				for _, v := range row {
					name := leaves[v.Column()][0]
					if v.IsNull() {
						m[name] = nil
						continue
					}
					switch v.Kind() {
					case parquet.Int32:
						m[name] = v.Int32()
					case parquet.Int64:
						m[name] = v.Int64()
					case parquet.Double:
						m[name] = v.Double()
					case parquet.ByteArray, parquet.FixedLenByteArray:
						m[name] = string(v.ByteArray())
					default:
						t.Fatalf("unexpected kind %v", v.Kind())
					}
				}
				out = append(out, m)
			}
			if err == io.EOF {
				break
			}
			if err != nil {
				t.Fatalf("read rows: %v", err)
			}
		}
		rows.Close()
	}
	return f, out
}

// fixedDecimal decodes a big-endian two's-complement FIXED_LEN_BYTE_ARRAY.
func fixedDecimal(b string) string {
	n := new(big.Int).SetBytes([]byte(b))
	if len(b) > 0 && b[0]&0x80 != 0 {
		n.Sub(n, new(big.Int).Lsh(big.NewInt(1), uint(8*len(b))))
	}
	return n.String()
}

func days(y int, m time.Month, d int) int32 {
	return int32(time.Date(y, m, d, 0, 0, 0, 0, time.UTC).Unix() / 86400)
}

func micros(s string) int64 {
	tm, err := time.Parse("2006-01-02 15:04:05.999999", s)
	if err != nil {
		panic(err)
	}
	return tm.UnixMicro()
}

func TestExportTypesRoundTrip(t *testing.T) {
	ctx := context.Background()
	db, schema := newSchema(t,
		`CREATE TABLE types (
			id INT NOT NULL PRIMARY KEY,
			ti TINYINT, su SMALLINT UNSIGNED, mu MEDIUMINT UNSIGNED, i INT, iu INT UNSIGNED,
			bi BIGINT, bu BIGINT UNSIGNED,
			d122 DECIMAL(12,2), d52 DECIMAL(5,2), d304 DECIMAL(30,4), d65 DECIMAL(65,10),
			f FLOAT, db DOUBLE, bt BIT(8),
			dt DATE, dtm DATETIME NOT NULL DEFAULT '2000-01-01 00:00:00', dtm6 DATETIME(6), ts TIMESTAMP NULL, tm TIME, y YEAR,
			c CHAR(3), vc VARCHAR(100) NOT NULL DEFAULT '', tx TEXT, e ENUM('small','large'), st SET('x','y','z'), j JSON,
			bn BINARY(4), vb VARBINARY(10), bl BLOB
		) DEFAULT CHARSET=utf8mb4`,
		// TIMESTAMPs are stored in UTC: written at +02:00 they must come back 2 hours earlier.
		"SET time_zone = '+02:00'",
		`INSERT INTO types VALUES
			(1, -128, 65535, 16777215, -2147483648, 4294967295,
			 -9223372036854775808, 18446744073709551615,
			 -1234567890.12, 999.99, -12345678901234567890123456.7891, 1234567890123456789012345678901234567890123456789012345.0123456789,
			 1.5, -2.25, b'10100101',
			 '2024-02-29', '0000-00-00 00:00:00', '1999-12-31 23:59:59.123456', '2024-01-02 03:04:05', '-838:59:59', 2155,
			 'abc', 'Crème brûlée 🍮 naïve', REPEAT('é', 1000), 'large', 'x,z', '{"a": [1, 2, {"b": null}]}',
			 x'00FF0102', x'DEADBEEF', x'000102'),
			(2, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL,
			 NULL, '2000-01-01 00:00:00', NULL, NULL, NULL, NULL, NULL, '', NULL, NULL, NULL, NULL, NULL, NULL, NULL),
			(3, 127, 0, 0, 2147483647, 0, 9223372036854775807, 0,
			 0.05, -0.01, 0, -0.0000000001,
			 0, 1e300, b'0',
			 '0000-00-00', '1970-01-01 00:00:00', '0000-00-00 00:00:00.000000', '1970-01-01 02:00:01', '00:00:00', 1901,
			 '', 'x', '', 'small', '', '[]',
			 x'00000000', x'', x'')`,
	)

	cols, err := mysqlparquet.Columns(ctx, db, schema, "types")
	if err != nil {
		t.Fatal(err)
	}
	wantTypes := map[string]string{
		"id": "int32", "ti": "int32", "su": "int32", "mu": "int64", "i": "int32", "iu": "int64",
		"bi": "int64", "bu": "fixed_len_byte_array(9) (DECIMAL(20,0))",
		"d122": "int64 (DECIMAL(12,2))", "d52": "int32 (DECIMAL(5,2))", "d304": "fixed_len_byte_array(13) (DECIMAL(30,4))",
		"d65": "binary (UTF8)", "f": "double", "db": "double", "bt": "binary",
		"dt": "int32 (DATE)", "dtm": "int64 (TIMESTAMP_MICROS)", "dtm6": "int64 (TIMESTAMP_MICROS)", "ts": "int64 (TIMESTAMP_MICROS)",
		"tm": "binary (UTF8)", "y": "int32", "c": "binary (UTF8)", "vc": "binary (UTF8)", "tx": "binary (UTF8)",
		"e": "binary (UTF8)", "st": "binary (UTF8)", "j": "binary (UTF8)", "bn": "binary", "vb": "binary", "bl": "binary",
	}
	var names []string
	for _, c := range cols {
		names = append(names, c.Name)
		if c.ParquetType != wantTypes[c.Name] {
			t.Errorf("column %s (%s): ParquetType %q, want %q", c.Name, c.MySQLType, c.ParquetType, wantTypes[c.Name])
		}
	}

	var files memFiles
	res, err := mysqlparquet.ExportTable(ctx, db, schema, "types", files.newFile, mysqlparquet.Options{})
	if err != nil {
		t.Fatal(err)
	}
	if res.Rows != 3 || res.Files != 1 || len(files.files) != 1 || !files.files[0].closed {
		t.Fatalf("result %+v with %d files, want 3 rows in 1 closed file", res, len(files.files))
	}
	if res.Bytes != int64(files.files[0].Len()) {
		t.Errorf("Bytes = %d, file has %d", res.Bytes, files.files[0].Len())
	}
	f, rows := readRows(t, files.files[0].Bytes())
	var fileCols []string
	for _, field := range f.Schema().Fields() {
		fileCols = append(fileCols, field.Name())
	}
	if !slices.Equal(fileCols, names) {
		t.Fatalf("parquet column order %v, want table order %v", fileCols, names)
	}
	for _, field := range f.Schema().Fields() {
		// NOT NULL columns are required, except dates, where zero dates become NULL.
		wantOptional := field.Name() != "id" && field.Name() != "vc"
		if field.Optional() != wantOptional {
			t.Errorf("column %s optional=%v, want %v", field.Name(), field.Optional(), wantOptional)
		}
	}
	if len(rows) != 3 {
		t.Fatalf("read %d rows, want 3", len(rows))
	}
	decimals := map[string]bool{"bu": true, "d304": true}
	want := []map[string]any{
		{
			"id": int32(1), "ti": int32(-128), "su": int32(65535), "mu": int64(16777215), "i": int32(-2147483648), "iu": int64(4294967295),
			"bi": int64(-9223372036854775808), "bu": "18446744073709551615",
			"d122": int64(-123456789012), "d52": int32(99999), "d304": "-123456789012345678901234567891",
			"d65": "1234567890123456789012345678901234567890123456789012345.0123456789",
			"f":   1.5, "db": -2.25, "bt": "\xa5",
			"dt": days(2024, 2, 29), "dtm": nil, "dtm6": micros("1999-12-31 23:59:59.123456"), "ts": micros("2024-01-02 01:04:05"),
			"tm": "-838:59:59", "y": int32(2155),
			"c": "abc", "vc": "Crème brûlée 🍮 naïve", "tx": string(bytes.Repeat([]byte("é"), 1000)), "e": "large", "st": "x,z",
			"j": `{"a": [1, 2, {"b": null}]}`, "bn": "\x00\xff\x01\x02", "vb": "\xde\xad\xbe\xef", "bl": "\x00\x01\x02",
		},
		{
			"id": int32(2), "ti": nil, "su": nil, "mu": nil, "i": nil, "iu": nil, "bi": nil, "bu": nil,
			"d122": nil, "d52": nil, "d304": nil, "d65": nil, "f": nil, "db": nil, "bt": nil,
			"dt": nil, "dtm": micros("2000-01-01 00:00:00"), "dtm6": nil, "ts": nil, "tm": nil, "y": nil,
			"c": nil, "vc": "", "tx": nil, "e": nil, "st": nil, "j": nil, "bn": nil, "vb": nil, "bl": nil,
		},
		{
			"id": int32(3), "ti": int32(127), "su": int32(0), "mu": int64(0), "i": int32(2147483647), "iu": int64(0),
			"bi": int64(9223372036854775807), "bu": "0",
			"d122": int64(5), "d52": int32(-1), "d304": "0", "d65": "-0.0000000001",
			"f": 0.0, "db": 1e300, "bt": "\x00",
			"dt": nil, "dtm": int64(0), "dtm6": nil, "ts": micros("1970-01-01 00:00:01"), "tm": "00:00:00", "y": int32(1901),
			"c": "", "vc": "x", "tx": "", "e": "small", "st": "", "j": "[]", "bn": "\x00\x00\x00\x00", "vb": "", "bl": "",
		},
	}
	for i, w := range want {
		got := rows[i]
		for name, wv := range w {
			gv, ok := got[name]
			if !ok {
				t.Errorf("row %d: column %s missing", i+1, name)
				continue
			}
			if decimals[name] && gv != nil {
				gv = fixedDecimal(gv.(string))
			}
			if gv != wv {
				t.Errorf("row %d column %s = %#v, want %#v", i+1, name, gv, wv)
			}
		}
		if len(got) != len(w) {
			t.Errorf("row %d has %d columns, want %d", i+1, len(got), len(w))
		}
	}
}

func TestExportFilesAndRowGroups(t *testing.T) {
	ctx := context.Background()
	db, schema := newSchema(t,
		"CREATE TABLE seq (id BIGINT NOT NULL PRIMARY KEY, name VARCHAR(40), amount DECIMAL(12,2))",
		"INSERT INTO seq SELECT seq, CONCAT('name-', seq), seq / 100 FROM seq_1_to_2500",
		"CREATE TABLE empty (id INT NOT NULL, note TEXT)",
	)
	tests := []struct {
		name          string
		table         string
		opts          mysqlparquet.Options
		wantFileRows  []int64
		wantRowGroups int // in the first file
	}{
		{"one file by default", "seq", mysqlparquet.Options{}, []int64{2500}, 1},
		{"split into files", "seq", mysqlparquet.Options{RowsPerFile: 1000, BatchRows: 300}, []int64{1000, 1000, 500}, 1},
		{"exact multiple", "seq", mysqlparquet.Options{RowsPerFile: 500, BatchRows: 64}, []int64{500, 500, 500, 500, 500}, 1},
		{"small row groups", "seq", mysqlparquet.Options{RowGroupRows: 700, BatchRows: 100}, []int64{2500}, 4},
		{"empty table", "empty", mysqlparquet.Options{}, []int64{0}, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var files memFiles
			res, err := mysqlparquet.ExportTable(ctx, db, schema, tt.table, files.newFile, tt.opts)
			if err != nil {
				t.Fatal(err)
			}
			if res.Files != len(tt.wantFileRows) || len(files.files) != len(tt.wantFileRows) {
				t.Fatalf("%d files (result says %d), want %d", len(files.files), res.Files, len(tt.wantFileRows))
			}
			var total int64
			next := int64(1)
			for i, mf := range files.files {
				f, rows := readRows(t, mf.Bytes())
				if f.NumRows() != tt.wantFileRows[i] || int64(len(rows)) != tt.wantFileRows[i] {
					t.Errorf("file %d: %d rows (%d read), want %d", i, f.NumRows(), len(rows), tt.wantFileRows[i])
				}
				if i == 0 && len(f.RowGroups()) != tt.wantRowGroups {
					t.Errorf("file 0: %d row groups, want %d", len(f.RowGroups()), tt.wantRowGroups)
				}
				for _, r := range rows {
					if r["id"] != next {
						t.Fatalf("file %d: id %v, want %d (rows lost, duplicated or reordered)", i, r["id"], next)
					}
					if want := fmt.Sprintf("name-%d", next); r["name"] != want {
						t.Fatalf("file %d: name %v, want %s", i, r["name"], want)
					}
					next++
				}
				total += int64(len(rows))
			}
			if res.Rows != total {
				t.Errorf("result Rows %d, files hold %d", res.Rows, total)
			}
		})
	}
}

func TestQuotedNames(t *testing.T) {
	ctx := context.Background()
	db, schema := newSchema(t,
		"CREATE TABLE `order` (`select` INT NOT NULL, `a``b` VARCHAR(10), `with space` INT, `x``; DROP TABLE y; --` INT)",
		"INSERT INTO `order` VALUES (1, 'q', 2, 3)",
		"CREATE TABLE `we``ird` (id INT)",
		"INSERT INTO `we``ird` VALUES (7), (8)",
	)
	tests := []struct {
		table    string
		wantCols []string
		wantRows int
	}{
		{"order", []string{"select", "a`b", "with space", "x`; DROP TABLE y; --"}, 1},
		{"we`ird", []string{"id"}, 2},
	}
	for _, tt := range tests {
		t.Run(tt.table, func(t *testing.T) {
			var files memFiles
			res, err := mysqlparquet.ExportTable(ctx, db, schema, tt.table, files.newFile, mysqlparquet.Options{})
			if err != nil {
				t.Fatal(err)
			}
			f, rows := readRows(t, files.files[0].Bytes())
			var got []string
			for _, field := range f.Schema().Fields() {
				got = append(got, field.Name())
			}
			if !slices.Equal(got, tt.wantCols) || len(rows) != tt.wantRows || res.Rows != int64(tt.wantRows) {
				t.Fatalf("columns %q rows %d, want %q rows %d", got, len(rows), tt.wantCols, tt.wantRows)
			}
		})
	}
	tables, err := mysqlparquet.Tables(ctx, db, schema)
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(tables, []string{"order", "we`ird"}) {
		t.Fatalf("tables %q", tables)
	}
}

func TestNotFound(t *testing.T) {
	ctx := context.Background()
	db, schema := newSchema(t,
		"CREATE TABLE b (id INT)", "CREATE TABLE a (id INT)", "CREATE VIEW v AS SELECT id FROM a",
	)
	tables, err := mysqlparquet.Tables(ctx, db, schema)
	if err != nil || !slices.Equal(tables, []string{"a", "b"}) {
		t.Fatalf("Tables = %q, %v; want [a b] (views excluded)", tables, err)
	}
	tests := []struct {
		name   string
		call   func() error
		schema string
		table  string
	}{
		{"export unknown table", func() error {
			var files memFiles
			_, err := mysqlparquet.ExportTable(ctx, db, schema, "nope", files.newFile, mysqlparquet.Options{})
			return err
		}, schema, "nope"},
		{"export unknown schema", func() error {
			var files memFiles
			_, err := mysqlparquet.ExportTable(ctx, db, "no_such_db", "a", files.newFile, mysqlparquet.Options{})
			return err
		}, "no_such_db", ""},
		{"columns of unknown table", func() error {
			_, err := mysqlparquet.Columns(ctx, db, schema, "a` WHERE 1=1 --")
			return err
		}, schema, "a` WHERE 1=1 --"},
		{"tables of unknown schema", func() error {
			_, err := mysqlparquet.Tables(ctx, db, "no_such_db")
			return err
		}, "no_such_db", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := tt.call()
			var nf *mysqlparquet.TableNotFoundError
			if !errors.As(err, &nf) || nf.Schema != tt.schema || nf.Table != tt.table {
				t.Fatalf("got %v, want TableNotFoundError{%q, %q}", err, tt.schema, tt.table)
			}
		})
	}
}

func TestNewFileErrorStopsExport(t *testing.T) {
	ctx := context.Background()
	db, schema := newSchema(t,
		"CREATE TABLE seq (id BIGINT NOT NULL)",
		"INSERT INTO seq SELECT seq FROM seq_1_to_5000",
	)
	boom := errors.New("disk full")
	var files memFiles
	newFile := func(i int) (io.WriteCloser, error) {
		if i == 2 {
			return nil, boom
		}
		return files.newFile(i)
	}
	_, err := mysqlparquet.ExportTable(ctx, db, schema, "seq", newFile, mysqlparquet.Options{RowsPerFile: 1000, BatchRows: 100})
	if !errors.Is(err, boom) {
		t.Fatalf("got %v, want the newFile error", err)
	}
	// The pool must still work: the aborted query's connection is not left half-read.
	var n int
	if err := db.QueryRow("SELECT COUNT(*) FROM seq").Scan(&n); err != nil || n != 5000 {
		t.Fatalf("after abort: count %d, %v", n, err)
	}
}

// TestExportIndependentOfDriverOptions checks that a pool opened with
// parseTime=true (time.Time values from the driver) exports what the
// text-only pool does.
func TestExportIndependentOfDriverOptions(t *testing.T) {
	ctx := context.Background()
	db, schema := newSchema(t,
		`CREATE TABLE ev (id INT NOT NULL, d DATE, dt DATETIME(6), ts TIMESTAMP NULL, f FLOAT, bu BIGINT UNSIGNED)`,
		`INSERT INTO ev VALUES (1, '2024-02-29', '2024-02-29 01:02:03.456789', '2024-01-01 00:00:01', 0.5, 18446744073709551615),
			(2, '0000-00-00', '0000-00-00 00:00:00', NULL, NULL, NULL)`,
	)
	cfg, err := mysql.ParseDSN(server.DSN(schema))
	if err != nil {
		t.Fatal(err)
	}
	cfg.ParseTime = true
	timeDB, err := sql.Open("mysql", cfg.FormatDSN())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { timeDB.Close() })

	export := func(db *sql.DB) []map[string]any {
		var files memFiles
		if _, err := mysqlparquet.ExportTable(ctx, db, schema, "ev", files.newFile, mysqlparquet.Options{}); err != nil {
			t.Fatal(err)
		}
		_, rows := readRows(t, files.files[0].Bytes())
		return rows
	}
	text, parsed := export(db), export(timeDB)
	if fmt.Sprint(text) != fmt.Sprint(parsed) {
		t.Fatalf("parseTime=false exported\n%v\nparseTime=true exported\n%v", text, parsed)
	}
	if text[1]["d"] != nil || text[1]["dt"] != nil || text[0]["dt"] != micros("2024-02-29 01:02:03.456789") {
		t.Fatalf("unexpected values %v", text)
	}
}
