package current

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"slices"
	"strings"
	"testing"

	"github.com/parquet-go/parquet-go"
)

type row struct {
	ID        int64  `parquet:"id"`
	Name      string `parquet:"name"`
	UpdatedAt int64  `parquet:"updated_at,timestamp(microsecond)"`
	DeletedAt *int64 `parquet:"deleted_at,optional,timestamp(microsecond)"`
	IsDeleted int32  `parquet:"is_deleted"`
}

// rowV2 is row with a column the source gained.
type rowV2 struct {
	ID        int64   `parquet:"id"`
	Name      string  `parquet:"name"`
	UpdatedAt int64   `parquet:"updated_at,timestamp(microsecond)"`
	DeletedAt *int64  `parquet:"deleted_at,optional,timestamp(microsecond)"`
	IsDeleted int32   `parquet:"is_deleted"`
	Email     *string `parquet:"email,optional"`
}

type keyRow struct {
	ID int64 `parquet:"id"`
}

type memFile struct {
	name string
	*bytes.Reader
}

func (m memFile) Name() string { return m.name }

func file[T any](t *testing.T, name string, rows ...T) File {
	t.Helper()
	var buf bytes.Buffer
	w := parquet.NewGenericWriter[T](&buf)
	if _, err := w.Write(rows); err != nil {
		t.Fatal(err)
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	return memFile{name, bytes.NewReader(buf.Bytes())}
}

// sink collects the merge's files.
type sink struct{ files []*bytes.Buffer }

type closer struct{ *bytes.Buffer }

func (closer) Close() error { return nil }

func (s *sink) newFile(i int) (io.WriteCloser, error) {
	if i != len(s.files) {
		return nil, fmt.Errorf("file %d asked after %d files", i, len(s.files))
	}
	b := &bytes.Buffer{}
	s.files = append(s.files, b)
	return closer{b}, nil
}

func (s *sink) asFiles() []File {
	var out []File
	for i, b := range s.files {
		out = append(out, memFile{fmt.Sprintf("gen/part-%05d", i), bytes.NewReader(b.Bytes())})
	}
	return out
}

func readAll[T any](t *testing.T, files []File) []T {
	t.Helper()
	var out []T
	for _, f := range files {
		rows, err := parquet.Read[T](f, f.Size())
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, rows...)
	}
	return out
}

func merge(t *testing.T, in Input) (Output, []File) {
	t.Helper()
	s := &sink{}
	in.NewFile = s.newFile
	if in.Key == nil {
		in.Key = []string{"id"}
	}
	out, err := Merge(in)
	if err != nil {
		t.Fatal(err)
	}
	if out.Files != len(s.files) {
		t.Fatalf("Files = %d, wrote %d", out.Files, len(s.files))
	}
	return out, s.asFiles()
}

// names is id:name of each row, sorted by id.
func names(rows []row) string {
	slices.SortFunc(rows, func(a, b row) int { return int(a.ID - b.ID) })
	var parts []string
	for _, r := range rows {
		parts = append(parts, fmt.Sprintf("%d:%s", r.ID, r.Name))
	}
	return strings.Join(parts, " ")
}

func ptr[T any](v T) *T { return &v }

func TestFirstRunDedupsTheDeltaByOrderThenFileOrder(t *testing.T) {
	delta := []File{
		file(t, "load/part-00000", row{ID: 1, Name: "a-new", UpdatedAt: 20}, row{ID: 2, Name: "b-old", UpdatedAt: 10}),
		// id 1 again with an older watermark (a range read later): the newer stays.
		file(t, "load/part-00001", row{ID: 1, Name: "a-old", UpdatedAt: 10}, row{ID: 2, Name: "b-tie", UpdatedAt: 10}, row{ID: 3, Name: "c", UpdatedAt: 5}),
	}
	out, gen := merge(t, Input{Delta: delta, Order: "updated_at"})
	if got, want := names(readAll[row](t, gen)), "1:a-new 2:b-tie 3:c"; got != want {
		t.Fatalf("rows = %s, want %s", got, want)
	}
	if out.Rows != 3 || out.Upserted != 3 || out.Superseded != 2 || out.Replaced != 0 {
		t.Fatalf("output = %+v", out)
	}
}

func TestUpsertsOverThePreviousGeneration(t *testing.T) {
	prev := []File{file(t, "gen/part-00000", row{ID: 1, Name: "a"}, row{ID: 2, Name: "b"}, row{ID: 3, Name: "c"})}
	delta := []File{file(t, "load/part-00000", row{ID: 2, Name: "b2", UpdatedAt: 1}, row{ID: 4, Name: "d", UpdatedAt: 1})}
	out, gen := merge(t, Input{Previous: prev, Delta: delta, Order: "updated_at"})
	if got, want := names(readAll[row](t, gen)), "1:a 2:b2 3:c 4:d"; got != want {
		t.Fatalf("rows = %s, want %s", got, want)
	}
	if out.Replaced != 1 || out.Upserted != 2 || out.Rows != 4 {
		t.Fatalf("output = %+v", out)
	}
}

func TestSoftDelete(t *testing.T) {
	prev := []File{file(t, "gen/part-00000", row{ID: 1, Name: "a"}, row{ID: 2, Name: "b"}, row{ID: 3, Name: "c"})}
	t.Run("a timestamp column deletes when not NULL", func(t *testing.T) {
		delta := []File{file(t, "load/part-00000",
			row{ID: 2, Name: "b", UpdatedAt: 1, DeletedAt: ptr(int64(0))}, // 1970 is still a time: deleted
			row{ID: 5, Name: "e", UpdatedAt: 1, DeletedAt: ptr(int64(7))}, // inserted and deleted within the run
			row{ID: 3, Name: "c2", UpdatedAt: 1})}
		out, gen := merge(t, Input{Previous: prev, Delta: delta, Order: "updated_at", SoftDelete: "deleted_at"})
		if got, want := names(readAll[row](t, gen)), "1:a 3:c2"; got != want {
			t.Fatalf("rows = %s, want %s", got, want)
		}
		if out.SoftDeleted != 2 || out.Replaced != 2 {
			t.Fatalf("output = %+v", out)
		}
	})
	t.Run("an integer flag deletes when not 0", func(t *testing.T) {
		delta := []File{file(t, "load/part-00000",
			row{ID: 1, Name: "a2", UpdatedAt: 1, IsDeleted: 0},
			row{ID: 2, Name: "b", UpdatedAt: 1, IsDeleted: 1})}
		_, gen := merge(t, Input{Previous: prev, Delta: delta, Order: "updated_at", SoftDelete: "is_deleted"})
		if got, want := names(readAll[row](t, gen)), "1:a2 3:c"; got != want {
			t.Fatalf("rows = %s, want %s", got, want)
		}
	})
	t.Run("undeleted by a later row of the run", func(t *testing.T) {
		delta := []File{file(t, "load/part-00000",
			row{ID: 2, Name: "b", UpdatedAt: 1, IsDeleted: 1},
			row{ID: 2, Name: "b-back", UpdatedAt: 2, IsDeleted: 0})}
		_, gen := merge(t, Input{Previous: prev, Delta: delta, Order: "updated_at", SoftDelete: "is_deleted"})
		if got, want := names(readAll[row](t, gen)), "1:a 2:b-back 3:c"; got != want {
			t.Fatalf("rows = %s, want %s", got, want)
		}
	})
}

func TestKeyCheckDropsKeysTheSourceLost(t *testing.T) {
	prev := []File{file(t, "gen/part-00000", row{ID: 1, Name: "a"}, row{ID: 2, Name: "b"}, row{ID: 3, Name: "c"})}
	delta := []File{file(t, "load/part-00000", row{ID: 4, Name: "d", UpdatedAt: 1}, row{ID: 5, Name: "e", UpdatedAt: 1})}
	keys, err := ReadKeys([]File{file(t, "keys/part-00000", keyRow{1}, keyRow{3}, keyRow{4})}, []string{"id"})
	if err != nil {
		t.Fatal(err)
	}
	out, gen := merge(t, Input{Previous: prev, Delta: delta, Order: "updated_at", Keys: keys})
	if got, want := names(readAll[row](t, gen)), "1:a 3:c 4:d"; got != want {
		t.Fatalf("rows = %s, want %s", got, want)
	}
	if out.KeyCheckDeleted != 2 {
		t.Fatalf("output = %+v", out)
	}

	t.Run("with an empty delta", func(t *testing.T) {
		out, gen := merge(t, Input{Previous: prev, Keys: keys})
		if got, want := names(readAll[row](t, gen)), "1:a 3:c"; got != want {
			t.Fatalf("rows = %s, want %s", got, want)
		}
		if out.KeyCheckDeleted != 1 {
			t.Fatalf("output = %+v", out)
		}
	})
	t.Run("keys of another type are refused, not taken as all gone", func(t *testing.T) {
		type strKey struct {
			ID string `parquet:"id"`
		}
		other, err := ReadKeys([]File{file(t, "keys/part-00000", strKey{"1"})}, []string{"id"})
		if err != nil {
			t.Fatal(err)
		}
		_, err = Merge(Input{Previous: prev, Key: []string{"id"}, Keys: other, NewFile: (&sink{}).newFile})
		var ce *ColumnError
		if !errors.As(err, &ce) || ce.Column != "id" {
			t.Fatalf("err = %v, want a *ColumnError on id", err)
		}
	})
	t.Run("an empty source deletes every key", func(t *testing.T) {
		none, err := ReadKeys(nil, []string{"id"})
		if err != nil {
			t.Fatal(err)
		}
		out, gen := merge(t, Input{Previous: prev, Keys: none})
		if rows := readAll[row](t, gen); len(rows) != 0 || out.Files != 1 {
			t.Fatalf("rows = %v, files %d: want none, in one file that keeps the schema", rows, out.Files)
		}
	})
}

func TestEmptyDeltaKeepsThePreviousRows(t *testing.T) {
	prev := []File{file(t, "gen/part-00000", row{ID: 1, Name: "a"}), file(t, "gen/part-00001", row{ID: 2, Name: "b"})}
	out, gen := merge(t, Input{Previous: prev, RowsPerFile: 10})
	if got, want := names(readAll[row](t, gen)), "1:a 2:b"; got != want {
		t.Fatalf("rows = %s, want %s", got, want)
	}
	if out.Files != 1 {
		t.Fatalf("files = %d: two small files are compacted into one", out.Files)
	}
}

func TestNothingToBuildFrom(t *testing.T) {
	_, err := Merge(Input{Key: []string{"id"}, NewFile: (&sink{}).newFile})
	if !errors.Is(err, ErrNoSchema) {
		t.Fatalf("err = %v, want ErrNoSchema", err)
	}
}

func TestFilesHoldRowsPerFile(t *testing.T) {
	var rows []row
	for i := range 25 {
		rows = append(rows, row{ID: int64(i), Name: "x", UpdatedAt: 1})
	}
	out, gen := merge(t, Input{Delta: []File{file(t, "load/part-00000", rows...)}, RowsPerFile: 10})
	if out.Files != 3 || len(gen) != 3 || out.Rows != 25 {
		t.Fatalf("output = %+v, want 25 rows in 3 files", out)
	}
}

func TestANewColumnIsNullInOlderRows(t *testing.T) {
	prev := []File{file(t, "gen/part-00000", row{ID: 1, Name: "a"}, row{ID: 2, Name: "b"})}
	delta := []File{file(t, "load/part-00000", rowV2{ID: 2, Name: "b2", UpdatedAt: 1, Email: ptr("b@x")})}
	_, gen := merge(t, Input{Previous: prev, Delta: delta, Order: "updated_at"})
	got := readAll[rowV2](t, gen)
	slices.SortFunc(got, func(a, b rowV2) int { return int(a.ID - b.ID) })
	if len(got) != 2 || got[0].Email != nil || got[1].Email == nil || *got[1].Email != "b@x" || got[1].Name != "b2" {
		t.Fatalf("rows = %+v", got)
	}
}

func TestCompositeKeys(t *testing.T) {
	type line struct {
		Order int64  `parquet:"order_id"`
		Line  string `parquet:"line"`
		Qty   int64  `parquet:"qty"`
	}
	prev := []File{file(t, "gen/part-00000", line{1, "a", 1}, line{1, "b", 1}, line{2, "a", 1})}
	// "1","ab" must not be taken for "1a","b": byte arrays carry their length.
	delta := []File{file(t, "load/part-00000", line{1, "b", 5}, line{12, "", 1})}
	s := &sink{}
	out, err := Merge(Input{Previous: prev, Delta: delta, Key: []string{"order_id", "line"}, NewFile: s.newFile})
	if err != nil {
		t.Fatal(err)
	}
	got := readAll[line](t, s.asFiles())
	if out.Rows != 4 || out.Replaced != 1 {
		t.Fatalf("output = %+v, rows %v", out, got)
	}
	for _, l := range got {
		if l.Order == 1 && l.Line == "b" && l.Qty != 5 {
			t.Fatalf("rows = %v: (1,b) not updated", got)
		}
	}
}

func TestMissingColumns(t *testing.T) {
	delta := []File{file(t, "load/part-00000", row{ID: 1})}
	for _, in := range []Input{
		{Delta: delta, Key: []string{"nope"}},
		{Delta: delta, Key: []string{"id"}, Order: "nope"},
		{Delta: delta, Key: []string{"id"}, SoftDelete: "nope"},
	} {
		in.NewFile = (&sink{}).newFile
		_, err := Merge(in)
		var ce *ColumnError
		if !errors.As(err, &ce) || ce.Column != "nope" {
			t.Fatalf("err = %v, want a *ColumnError naming nope", err)
		}
	}
}

// A delta read from several loads (a current table built from a table's whole
// log) takes the schema of the newest load.
func TestADeltaOfSeveralLoadsTakesTheNewestSchema(t *testing.T) {
	delta := []File{
		file(t, "load=1/part-00000", row{ID: 1, Name: "a", UpdatedAt: 1}, row{ID: 2, Name: "b", UpdatedAt: 1}),
		file(t, "load=2/part-00000", rowV2{ID: 2, Name: "b2", UpdatedAt: 2, Email: ptr("b@x")}),
	}
	_, gen := merge(t, Input{Delta: delta, Order: "updated_at"})
	got := readAll[rowV2](t, gen)
	slices.SortFunc(got, func(a, b rowV2) int { return int(a.ID - b.ID) })
	if len(got) != 2 || got[0].Email != nil || got[1].Email == nil || *got[1].Email != "b@x" {
		t.Fatalf("rows = %+v: the newest load's column is lost", got)
	}
}

// A load from the beginning is the whole table, each key once: it is written
// without its soft-deleted rows, with no key held in memory.
func TestWholeTableDelta(t *testing.T) {
	delta := []File{file(t, "load/part-00000", row{ID: 1, Name: "a"}, row{ID: 2, Name: "b", IsDeleted: 1}, row{ID: 3, Name: "c"})}
	out, gen := merge(t, Input{Delta: delta, Whole: true, SoftDelete: "is_deleted", RowsPerFile: 2})
	if got, want := names(readAll[row](t, gen)), "1:a 3:c"; got != want || out.SoftDeleted != 1 || out.Files != 1 {
		t.Fatalf("rows = %s, want %s; %+v", got, want, out)
	}
	_, err := Merge(Input{Delta: delta, Previous: delta, Whole: true, Key: []string{"id"}, NewFile: (&sink{}).newFile})
	if err == nil {
		t.Fatal("a whole-table delta was merged over a previous generation")
	}
}
