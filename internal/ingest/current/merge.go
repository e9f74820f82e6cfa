// Package current builds the current generation of an incrementally loaded table:
// one row per primary key, with its newest values, deletes applied. The append log
// (raw/<db>/<table>/load=<run>/) keeps every version; the current generation is a
// copy-on-write rewrite of the previous one with a run's delta applied, streamed
// through parquet-go with only the delta's keys in memory.
package current

import (
	"encoding/binary"
	"errors"
	"fmt"
	"io"

	"github.com/parquet-go/parquet-go"
	"github.com/parquet-go/parquet-go/compress/snappy"
	"github.com/parquet-go/parquet-go/format"
)

// File is one Parquet file the merge reads.
type File interface {
	io.ReaderAt
	Size() int64
	// Name names the file in errors (its key).
	Name() string
}

// Input is one merge: the previous generation and a run's delta.
type Input struct {
	// Previous are the files of the current generation the delta applies to; none
	// on the first run and for a load from the beginning (whose delta is the whole
	// table).
	Previous []File
	// Delta are the run's load files, in the order the load wrote them: of two rows
	// of one key with the same Order value, the later one wins.
	Delta []File
	// Key are the primary key's columns (lake names): at least one.
	Key []string
	// Order is the watermark column (lake name) that tells which of a key's rows
	// within the delta is the newest; "" leaves it to file order.
	Order string
	// SoftDelete is the soft-delete column (lake name), or "": a row it marks as
	// deleted (see SoftDeleted) removes its key.
	SoftDelete string
	// Keys, when set, are every primary key the source has now (a key check): a
	// key it does not have is dropped, from the previous generation and the delta.
	Keys *KeySet
	// Whole says the delta is the whole table, read once, each key at most once (a
	// load from the beginning: one query, or key ranges of the primary key's first
	// column, which are disjoint): Previous must be empty, and no key is held in
	// memory, so that a first build is bounded by nothing but time.
	Whole bool
	// RowsPerFile starts a new file after this many rows, as the load does, so
	// that the generation has the file count of a fully compacted table.
	RowsPerFile int64
	// NewFile creates output file i (0, 1...).
	NewFile func(i int) (io.WriteCloser, error)
}

// Output is what a merge wrote.
type Output struct {
	Rows  int64 `json:"rows"`
	Files int   `json:"files"`
	// Upserted are the delta's keys written (new or changed); Replaced the previous
	// rows their newer version (or deletion) replaced; SoftDeleted the delta's keys
	// the soft-delete column removed; KeyCheckDeleted the rows whose key the key
	// check found gone from the source; Superseded the delta rows a later row of the
	// same key replaced.
	Upserted        int64 `json:"upserted"`
	Replaced        int64 `json:"replaced"`
	SoftDeleted     int64 `json:"softDeleted"`
	KeyCheckDeleted int64 `json:"keyCheckDeleted"`
	Superseded      int64 `json:"superseded"`
}

// ErrNoSchema says there is nothing to build a generation from: no previous
// generation and no delta file (a table that was always empty).
var ErrNoSchema = errors.New("no previous generation and no delta file: nothing to build the generation from")

// ColumnError says a column the merge needs is not in a file, or differs in type
// between files that must agree.
type ColumnError struct {
	Column, Role, File, Problem string
}

func (e *ColumnError) Error() string {
	return fmt.Sprintf("%s column %q of %s: %s", e.Role, e.Column, e.File, e.Problem)
}

// DefaultRowsPerFile is the files' size without Input.RowsPerFile.
const DefaultRowsPerFile = 1_000_000

const (
	rowGroupRows = 128 * 1024
	batchRows    = 1024
)

// deltaRow is what is kept in memory for each key of the delta.
type deltaRow struct {
	pos     int64 // the winning row's index in the delta, in file order
	order   parquet.Value
	deleted bool
}

// Merge writes previous − (the delta's keys) − (keys the key check lost) + (the
// delta's newest row of each key, unless soft-deleted). The delta is read twice
// (once for its keys, once for its rows) and the previous generation once; what is
// held in memory is one entry per key of the delta, plus Keys.
func Merge(in Input) (Output, error) {
	var out Output
	if len(in.Key) == 0 {
		return out, errors.New("a current table needs a primary key: none given")
	}
	if in.RowsPerFile <= 0 {
		in.RowsPerFile = DefaultRowsPerFile
	}
	delta, err := openAll(in.Delta)
	if err != nil {
		return out, err
	}
	prev, err := openAll(in.Previous)
	if err != nil {
		return out, err
	}
	// The newest schema is the delta's last file's (a delta read from several loads
	// is in run order): a column the source gained appears (NULL in older rows), one
	// it lost goes.
	var schema *parquet.Schema
	var from string
	switch {
	case len(delta) > 0:
		schema, from = delta[len(delta)-1].f.Schema(), delta[len(delta)-1].name
	case len(prev) > 0:
		schema, from = prev[0].f.Schema(), prev[0].name
	default:
		return out, ErrNoSchema
	}
	key, err := columns(schema, in.Key, "key", from)
	if err != nil {
		return out, err
	}
	if in.Keys != nil {
		if err := in.Keys.compatible(schema, in.Key, from); err != nil {
			return out, err
		}
	}
	var order, sd *parquet.LeafColumn
	if in.Order != "" && len(delta) > 0 {
		c, ok := schema.Lookup(in.Order)
		if !ok {
			return out, &ColumnError{Column: in.Order, Role: "watermark", File: from, Problem: "not in the file"}
		}
		order = &c
	}
	if in.SoftDelete != "" {
		c, ok := schema.Lookup(in.SoftDelete)
		if !ok {
			return out, &ColumnError{Column: in.SoftDelete, Role: "soft-delete", File: from, Problem: "not in the file"}
		}
		sd = &c
	}

	if in.Whole {
		if len(prev) > 0 {
			return out, errors.New("a whole-table delta replaces the table: it takes no previous generation")
		}
		return mergeWhole(in, delta, schema, key, sd)
	}

	// Pass 1: the delta's keys, and which row of each is the newest.
	latest := map[string]*deltaRow{}
	var kb []byte
	var pos int64
	err = eachRow(delta, schema, func(row parquet.Row) (bool, error) {
		kb = appendKey(kb[:0], row, key)
		d := deltaRow{pos: pos}
		pos++
		if order != nil {
			d.order = row[order.ColumnIndex]
		}
		if sd != nil {
			d.deleted = SoftDeleted(sd.Node.Type(), row[sd.ColumnIndex])
		}
		if cur, ok := latest[string(kb)]; ok {
			out.Superseded++
			if order != nil && compareOrder(order.Node.Type(), d.order, cur.order) < 0 {
				return false, nil // an older version, later in the files
			}
			d.order = d.order.Clone()
			*cur = d
			return false, nil
		}
		d.order = d.order.Clone()
		latest[string(kb)] = &d
		return false, nil
	})
	if err != nil {
		return out, err
	}

	w := &rolling{schema: schema, newFile: in.NewFile, perFile: in.RowsPerFile}
	// Pass 2: the previous generation without the keys the delta or the key check
	// replaces, then the delta's newest rows.
	err = eachRow(prev, schema, func(row parquet.Row) (bool, error) {
		kb = appendKey(kb[:0], row, key)
		if _, ok := latest[string(kb)]; ok {
			out.Replaced++
			return false, nil
		}
		if in.Keys != nil && !in.Keys.Has(kb) {
			out.KeyCheckDeleted++
			return false, nil
		}
		return true, nil
	}, w.write)
	if err != nil {
		return out, err
	}
	pos = 0
	err = eachRow(delta, schema, func(row parquet.Row) (bool, error) {
		kb = appendKey(kb[:0], row, key)
		d := latest[string(kb)]
		p := pos
		pos++
		switch {
		case d.pos != p:
			return false, nil // superseded, counted in pass 1
		case d.deleted:
			out.SoftDeleted++
			return false, nil
		case in.Keys != nil && !in.Keys.Has(kb):
			out.KeyCheckDeleted++
			return false, nil
		}
		out.Upserted++
		return true, nil
	}, w.write)
	if err != nil {
		return out, err
	}
	return w.done(out)
}

// mergeWhole writes a whole-table delta without its soft-deleted rows, in one pass.
func mergeWhole(in Input, delta []opened, schema *parquet.Schema, key []int, sd *parquet.LeafColumn) (Output, error) {
	var out Output
	var kb []byte
	w := &rolling{schema: schema, newFile: in.NewFile, perFile: in.RowsPerFile}
	err := eachRow(delta, schema, func(row parquet.Row) (bool, error) {
		switch {
		case sd != nil && SoftDeleted(sd.Node.Type(), row[sd.ColumnIndex]):
			out.SoftDeleted++
			return false, nil
		case in.Keys != nil && !in.Keys.Has(appendKey(kb[:0], row, key)):
			out.KeyCheckDeleted++
			return false, nil
		}
		out.Upserted++
		return true, nil
	}, w.write)
	if err != nil {
		return out, err
	}
	return w.done(out)
}

// SoftDeleted says whether a soft-delete column's value marks its row deleted: a
// boolean or integer column (is_deleted TINYINT(1)) when it is not NULL and not
// false/0; any other column (deleted_at DATETIME) when it is not NULL.
func SoftDeleted(t parquet.Type, v parquet.Value) bool {
	if v.IsNull() {
		return false
	}
	lt := t.LogicalType()
	plainNumber := lt == nil || lt.Value == nil
	if lt != nil {
		_, isInt := lt.Value.(*format.IntType)
		plainNumber = plainNumber || isInt
	}
	switch v.Kind() {
	case parquet.Boolean:
		return v.Boolean()
	case parquet.Int32:
		if plainNumber {
			return v.Int32() != 0
		}
	case parquet.Int64:
		if plainNumber {
			return v.Int64() != 0
		}
	}
	return true
}

// compareOrder orders two watermark values; NULL is the oldest.
func compareOrder(t parquet.Type, a, b parquet.Value) int {
	switch {
	case a.IsNull() && b.IsNull():
		return 0
	case a.IsNull():
		return -1
	case b.IsNull():
		return 1
	}
	return t.Compare(a, b)
}

// appendKey appends an encoding of the row's key that is equal for equal keys of
// the same types and different otherwise: kind, then the value (byte arrays with
// their length).
func appendKey(b []byte, row parquet.Row, key []int) []byte {
	for _, c := range key {
		v := row[c]
		if v.IsNull() {
			b = append(b, 0xff)
			continue
		}
		b = append(b, byte(v.Kind()))
		switch v.Kind() {
		case parquet.ByteArray, parquet.FixedLenByteArray:
			raw := v.ByteArray()
			b = binary.AppendUvarint(b, uint64(len(raw)))
			b = append(b, raw...)
		default:
			b = v.AppendBytes(b)
		}
	}
	return b
}

type opened struct {
	name string
	f    *parquet.File
}

func openAll(files []File) ([]opened, error) {
	out := make([]opened, 0, len(files))
	for _, f := range files {
		pf, err := parquet.OpenFile(f, f.Size(), parquet.SkipPageIndex(true), parquet.SkipBloomFilters(true))
		if err != nil {
			return nil, fmt.Errorf("open %s: %w", f.Name(), err)
		}
		out = append(out, opened{name: f.Name(), f: pf})
	}
	return out, nil
}

// columns returns the leaf indexes of names in schema.
func columns(schema *parquet.Schema, names []string, role, file string) ([]int, error) {
	out := make([]int, len(names))
	for i, n := range names {
		c, ok := schema.Lookup(n)
		if !ok {
			return nil, &ColumnError{Column: n, Role: role, File: file, Problem: "not in the file"}
		}
		out[i] = c.ColumnIndex
	}
	return out, nil
}

// eachRow reads the rows of files, converted to schema, in order, and hands the
// rows keep accepts to write (when given), a batch at a time.
func eachRow(files []opened, schema *parquet.Schema, keep func(parquet.Row) (bool, error), write ...func([]parquet.Row) error) error {
	buf := make([]parquet.Row, batchRows)
	kept := make([]parquet.Row, 0, batchRows)
	for _, f := range files {
		conv, err := parquet.Convert(schema, f.f.Schema())
		if err != nil {
			return fmt.Errorf("%s does not convert to the newest schema (a column changed type?): %w", f.name, err)
		}
		for _, rg := range f.f.RowGroups() {
			rows := rg.Rows()
			for {
				n, rerr := rows.ReadRows(buf)
				if n > 0 {
					if _, err := conv.Convert(buf[:n]); err != nil {
						rows.Close()
						return fmt.Errorf("convert the rows of %s: %w", f.name, err)
					}
					kept = kept[:0]
					for _, row := range buf[:n] {
						ok, err := keep(row)
						if err != nil {
							rows.Close()
							return err
						}
						if ok {
							kept = append(kept, row)
						}
					}
					for _, wr := range write {
						if err := wr(kept); err != nil {
							rows.Close()
							return err
						}
					}
				}
				if errors.Is(rerr, io.EOF) {
					break
				}
				if rerr != nil {
					rows.Close()
					return fmt.Errorf("read %s: %w", f.name, rerr)
				}
			}
			if err := rows.Close(); err != nil {
				return fmt.Errorf("read %s: %w", f.name, err)
			}
		}
	}
	return nil
}

// rolling writes rows to files of at most perFile rows each.
type rolling struct {
	schema  *parquet.Schema
	newFile func(int) (io.WriteCloser, error)
	perFile int64

	out    io.WriteCloser
	w      *parquet.Writer
	inFile int64
	files  int
	total  int64
}

func (r *rolling) open() error {
	out, err := r.newFile(r.files)
	if err != nil {
		return fmt.Errorf("create file %d: %w", r.files, err)
	}
	r.out, r.inFile = out, 0
	r.w = parquet.NewWriter(out, r.schema, parquet.Compression(&snappy.Codec{}),
		parquet.CreatedBy("snaplake", "current", ""), parquet.MaxRowsPerRowGroup(rowGroupRows))
	r.files++
	return nil
}

func (r *rolling) close() error {
	if r.w == nil {
		return nil
	}
	err := r.w.Close()
	if cerr := r.out.Close(); err == nil {
		err = cerr
	}
	r.w, r.out = nil, nil
	if err != nil {
		return fmt.Errorf("finish file %d: %w", r.files-1, err)
	}
	return nil
}

func (r *rolling) write(rows []parquet.Row) error {
	for len(rows) > 0 {
		if r.w == nil || r.inFile >= r.perFile {
			if err := r.close(); err != nil {
				return err
			}
			if err := r.open(); err != nil {
				return err
			}
		}
		n := min(int64(len(rows)), r.perFile-r.inFile)
		if _, err := r.w.WriteRows(rows[:n]); err != nil {
			return fmt.Errorf("write file %d: %w", r.files-1, err)
		}
		r.inFile += n
		r.total += n
		rows = rows[n:]
	}
	return nil
}

// finish closes the last file; a generation without rows still has one file, so
// that the table keeps its schema.
// done finishes the files and completes out with what they hold.
func (r *rolling) done(out Output) (Output, error) {
	if err := r.finish(); err != nil {
		return out, err
	}
	out.Rows, out.Files = r.total, r.files
	return out, nil
}

func (r *rolling) finish() error {
	if r.files == 0 {
		if err := r.open(); err != nil {
			return err
		}
	}
	return r.close()
}
