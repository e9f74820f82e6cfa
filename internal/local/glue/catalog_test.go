package glue

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/parquet-go/parquet-go"
)

func TestCatalogPersistsAcrossOpens(t *testing.T) {
	path := filepath.Join(t.TempDir(), "home", "catalog.json")
	c, err := OpenCatalog(path)
	if err != nil {
		t.Fatalf("open missing catalog: %v", err)
	}
	if dbs, err := c.Databases(); err != nil || len(dbs) != 0 {
		t.Fatalf("empty catalog databases = %v, %v", dbs, err)
	}
	want := Table{
		Database: "warehouse", Name: "customer", Location: "s3://b/data/warehouse/customer/",
		Columns:       []Column{{"id", "bigint"}},
		PartitionKeys: []Column{{"snapshot_date", "string"}},
		Partitions:    []string{"2026-11-20"},
		UpdatedAt:     time.Date(2026, 11, 20, 4, 0, 0, 0, time.UTC),
	}
	if err := c.Put(want); err != nil {
		t.Fatal(err)
	}

	reopened, err := OpenCatalog(path)
	if err != nil {
		t.Fatal(err)
	}
	got, err := reopened.Table("warehouse", "customer")
	if err != nil {
		t.Fatal(err)
	}
	if got.Location != want.Location || !slices.Equal(got.Columns, want.Columns) ||
		!slices.Equal(got.Partitions, want.Partitions) || !got.UpdatedAt.Equal(want.UpdatedAt) {
		t.Errorf("reopened table = %+v, want %+v", got, want)
	}
	if err := reopened.Delete("warehouse", "customer"); err != nil {
		t.Fatal(err)
	}
	_, err = c.Table("warehouse", "customer")
	var nf *TableNotFoundError
	if !errors.As(err, &nf) || nf.Database != "warehouse" || nf.Name != "customer" {
		t.Errorf("after delete: error = %v, want *TableNotFoundError for warehouse.customer", err)
	}
	entries, _ := os.ReadDir(filepath.Dir(path))
	if len(entries) != 1 {
		t.Errorf("catalog directory holds %d files, want only catalog.json (temp files left behind?)", len(entries))
	}
}

func TestOpenCatalogRejectsCorruptFile(t *testing.T) {
	path := filepath.Join(t.TempDir(), "catalog.json")
	if err := os.WriteFile(path, []byte("{not json"), 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := OpenCatalog(path); err == nil {
		t.Fatal("OpenCatalog accepted a corrupt file")
	}
}

func TestCatalogConcurrentPuts(t *testing.T) {
	c, err := OpenCatalog(filepath.Join(t.TempDir(), "catalog.json"))
	if err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	for i := range 20 {
		wg.Go(func() {
			db := fmt.Sprintf("db%d", i%2)
			if err := c.Put(Table{Database: db, Name: fmt.Sprintf("t%02d", i)}); err != nil {
				t.Error(err)
			}
		})
	}
	wg.Wait()
	for _, db := range []string{"db0", "db1"} {
		tables, err := c.Tables(db)
		if err != nil {
			t.Fatal(err)
		}
		if len(tables) != 10 {
			t.Errorf("%s has %d tables, want 10 (a write was lost)", db, len(tables))
		}
		if !slices.IsSortedFunc(tables, func(a, b Table) int { return cmpString(a.Name, b.Name) }) {
			t.Errorf("%s tables not sorted", db)
		}
	}
}

func cmpString(a, b string) int {
	switch {
	case a < b:
		return -1
	case a > b:
		return 1
	}
	return 0
}

type nested struct {
	Street string `parquet:"street"`
	Zip    int32  `parquet:"zip"`
}

type typesRow struct {
	I8      int8              `parquet:"i8"`
	I16     int16             `parquet:"i16"`
	U32     uint32            `parquet:"u32"`
	U64     uint64            `parquet:"u64"`
	F32     float32           `parquet:"f32"`
	Raw     []byte            `parquet:"raw"`
	Day     time.Time         `parquet:"day,date"`
	Millis  int64             `parquet:"millis,timestamp(millisecond)"`
	Big     [13]byte          `parquet:"big,decimal(4:30)"`
	Small   int32             `parquet:"small,decimal(1:5)"`
	Tags    []string          `parquet:"tags,list"`
	Attrs   map[string]int64  `parquet:"attrs"`
	Address nested            `parquet:"address"`
	MixedUp string            `parquet:"MixedUp"`
	Maybe   *float64          `parquet:"maybe,optional"`
	Opts    map[string]string `parquet:"opts"`
}

func TestColumnsOfMapsParquetTypesToGlue(t *testing.T) {
	var buf bytes.Buffer
	w := parquet.NewGenericWriter[typesRow](&buf)
	if _, err := w.Write([]typesRow{{Tags: []string{"a"}}}); err != nil {
		t.Fatal(err)
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	f, err := parquet.OpenFile(bytes.NewReader(buf.Bytes()), int64(buf.Len()))
	if err != nil {
		t.Fatal(err)
	}
	cols, err := columnsOf(f.Metadata().Schema)
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]string{}
	for _, c := range cols {
		got[c.Name] = c.Type
	}
	tests := []struct{ column, want string }{
		{"i8", "tinyint"},
		{"i16", "smallint"},
		{"u32", "bigint"},
		{"u64", "decimal(20,0)"},
		{"f32", "float"},
		{"raw", "binary"},
		{"day", "date"},
		{"millis", "timestamp"},
		{"big", "decimal(30,4)"},
		{"small", "decimal(5,1)"},
		{"tags", "array<string>"},
		{"attrs", "map<string,bigint>"},
		{"address", "struct<street:string,zip:int>"},
		{"mixedup", "string"},
		{"maybe", "double"},
		{"opts", "map<string,string>"},
	}
	if len(cols) != len(tests) {
		t.Errorf("got %d columns %v, want %d", len(cols), cols, len(tests))
	}
	for _, tt := range tests {
		if got[tt.column] != tt.want {
			t.Errorf("column %s: type %q, want %q", tt.column, got[tt.column], tt.want)
		}
	}
}

// TestCatalogFileFormat: a one-key table is written as before partition values existed
// (readers such as snaplake query depend on it); a table with more keys adds them.
func TestCatalogFileFormat(t *testing.T) {
	path := filepath.Join(t.TempDir(), "catalog.json")
	c, err := OpenCatalog(path)
	if err != nil {
		t.Fatal(err)
	}
	flat := Table{Database: "w", Name: "flat", PartitionKeys: []Column{{"snapshot_date", "string"}}, Partitions: []string{"2026-11-20"}}
	nested := Table{Database: "w", Name: "nested", PartitionKeys: []Column{{"snapshot_date", "string"}, {"partition_1", "string"}},
		Partitions: []string{"2026-11-20"}, PartitionValues: [][]string{{"2026-11-20", "1"}, {"2026-11-20", "2"}}}
	for _, tb := range []Table{flat, nested} {
		if err := c.Put(tb); err != nil {
			t.Fatal(err)
		}
	}
	raw, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var file struct {
		Tables []map[string]any `json:"tables"`
	}
	if err := json.Unmarshal(raw, &file); err != nil {
		t.Fatal(err)
	}
	wantKeys := [][]string{
		{"columns", "database", "location", "name", "partitionKeys", "partitions", "updatedAt"},
		{"columns", "database", "location", "name", "partitionKeys", "partitionValues", "partitions", "updatedAt"},
	}
	for i, tb := range file.Tables {
		if got := slices.Sorted(maps.Keys(tb)); !slices.Equal(got, wantKeys[i]) {
			t.Errorf("table %v written with keys %v, want %v", tb["name"], got, wantKeys[i])
		}
	}
	got, err := c.Table("w", "nested")
	if err != nil || !reflect.DeepEqual(got.PartitionValues, nested.PartitionValues) {
		t.Errorf("nested table read back as %+v, %v", got, err)
	}
}
