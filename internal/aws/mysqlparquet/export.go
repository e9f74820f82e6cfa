package mysqlparquet

import (
	"context"
	"database/sql"
	"database/sql/driver"
	"errors"
	"fmt"
	"io"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/parquet-go/parquet-go"
	"github.com/parquet-go/parquet-go/compress/gzip"
)

// Options tunes file and memory sizes; zero values take the defaults.
type Options struct {
	// RowsPerFile starts a new file after this many rows (default 1,000,000,
	// which keeps files of typical tables in the tens of MB).
	RowsPerFile int64
	// RowGroupRows closes a row group after this many rows (default 131,072).
	// A row group is held in memory, compressed, until it is complete.
	RowGroupRows int
	// RowGroupBytes also closes a row group once its buffered size reaches
	// this many bytes (default 64 MiB), so wide rows do not grow memory.
	RowGroupBytes int64
	// BatchRows is how many rows the reader hands to the encoder at once
	// (default 1,024); a batch also ends at 4 MiB of row data.
	BatchRows int
	// GzipLevel is the gzip level of the pages (default gzip.BestSpeed: the
	// files are rewritten by nobody and read by Athena, and speed dominates).
	GzipLevel int
	// Where, when set, limits the rows read to an SQL condition, with Args as the
	// values of its ? placeholders (an incremental load's watermark range).
	Where string
	Args  []any
	// Select, when set, reads only these columns, in this order, and writes each
	// under its As name (the ingest plan's lake names: "order date" as order_date).
	// A column the table no longer has is a *ColumnNotFoundError.
	Select []Selected
	// NoEmptyFile: a query that returns no rows writes no file (one key range of a
	// split table), where by default it writes one carrying the schema.
	NoEmptyFile bool
	// Index, OrderBy and Limit read one page of a keyset pagination: the rows
	// through that index (FORCE INDEX, so that a range on the key is never traded
	// for a filesort on another index), in OrderBy's column order, at most Limit
	// of them (0: all).
	Index   string
	OrderBy []string
	Limit   int
	// OnRow, when set, sees every row as the driver returned it, in the order of
	// the columns read, before it is encoded; the values are valid only during
	// the call. An error stops the export. It runs on the reading goroutine.
	OnRow func(vals []driver.Value) error
}

// Selected is a column to read and the name it is written under.
type Selected struct{ Column, As string }

// ColumnNotFoundError says a selected column is not in the table (any more).
type ColumnNotFoundError struct{ Schema, Table, Column string }

func (e *ColumnNotFoundError) Error() string {
	return fmt.Sprintf("column %q of %q.%q not found: the table changed after the plan was made", e.Column, e.Schema, e.Table)
}

// selectColumns returns the selected columns of cols, renamed, and their names in
// the table (MySQL column names are case-insensitive).
func selectColumns(schema, table string, cols []Column, sel []Selected) ([]Column, []string, error) {
	if len(sel) == 0 {
		names := make([]string, len(cols))
		for i, c := range cols {
			names[i] = c.Name
		}
		return cols, names, nil
	}
	out := make([]Column, len(sel))
	names := make([]string, len(sel))
	for i, s := range sel {
		j := slices.IndexFunc(cols, func(c Column) bool { return strings.EqualFold(c.Name, s.Column) })
		if j < 0 {
			return nil, nil, &ColumnNotFoundError{Schema: schema, Table: table, Column: s.Column}
		}
		out[i], names[i] = cols[j], cols[j].Name
		out[i].Name = s.As
	}
	return out, names, nil
}

func (o Options) withDefaults() Options {
	if o.RowsPerFile <= 0 {
		o.RowsPerFile = 1_000_000
	}
	if o.RowGroupRows <= 0 {
		o.RowGroupRows = 128 * 1024
	}
	if o.RowGroupBytes <= 0 {
		o.RowGroupBytes = 64 << 20
	}
	if o.BatchRows <= 0 {
		o.BatchRows = 1024
	}
	if o.GzipLevel == 0 {
		o.GzipLevel = gzip.BestSpeed
	}
	return o
}

const batchBytes = 4 << 20

// batchesInFlight bounds memory: this many batches exist, recycled between
// the reader and the encoder.
const batchesInFlight = 4

// TableResult summarises one exported table.
type TableResult struct {
	Schema, Table string
	Columns       []Column
	Rows          int64
	Files         int
	Bytes         int64 // Parquet bytes written, all files
}

// ExportTable streams schema.table into Parquet files, asking newFile for
// each one (index from 0) and closing it when complete. An empty table still
// produces one file with the schema and no rows, so that readers learn the
// columns. Zero dates ('0000-00-00', '2024-00-10 ...') become NULL; TIMESTAMP
// columns are read in UTC.
//
// One query reads the table; a goroutine reads rows while the caller's
// goroutine, with one helper per core, converts and encodes them, so reading
// and encoding overlap. Memory is bounded by the in-flight batches plus one
// row group, whatever the table size.
func ExportTable(ctx context.Context, db *sql.DB, schema, table string, newFile func(index int) (io.WriteCloser, error), opts Options) (TableResult, error) {
	opts = opts.withDefaults()
	res := TableResult{Schema: schema, Table: table}
	cols, err := Columns(ctx, db, schema, table)
	if err != nil {
		return res, err
	}
	cols, sourceNames, err := selectColumns(schema, table, cols, opts.Select)
	if err != nil {
		return res, err
	}
	res.Columns = cols

	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	conn, err := db.Conn(ctx)
	if err != nil {
		return res, fmt.Errorf("export %s.%s: get connection: %w", schema, table, err)
	}
	defer conn.Close()
	// TIMESTAMP values come back in the session time zone: ask for UTC. A slow
	// file upload between reads must not trip the server's write timeout.
	if _, err := conn.ExecContext(ctx, "SET time_zone = '+00:00', net_write_timeout = 3600"); err != nil {
		return res, fmt.Errorf("export %s.%s: set session: %w", schema, table, err)
	}
	defer conn.ExecContext(context.WithoutCancel(ctx), "SET time_zone = @@GLOBAL.time_zone, net_write_timeout = @@GLOBAL.net_write_timeout")

	names := make([]string, len(cols))
	for i, n := range sourceNames {
		names[i] = QuoteIdentifier(n)
	}
	query := "SELECT " + strings.Join(names, ", ") + " FROM " + QuoteIdentifier(schema) + "." + QuoteIdentifier(table)
	if opts.Index != "" {
		query += " FORCE INDEX (" + QuoteIdentifier(opts.Index) + ")"
	}
	if opts.Where != "" {
		query += " WHERE " + opts.Where
	}
	if len(opts.OrderBy) > 0 {
		order := make([]string, len(opts.OrderBy))
		for i, c := range opts.OrderBy {
			order[i] = QuoteIdentifier(c)
		}
		query += " ORDER BY " + strings.Join(order, ", ")
	}
	if opts.Limit > 0 {
		query += " LIMIT " + strconv.Itoa(opts.Limit)
	}
	free := make(chan *batch, batchesInFlight)
	for range batchesInFlight {
		free <- newBatch(len(cols), opts.BatchRows)
	}
	full := make(chan *batch, batchesInFlight)
	readErr := make(chan error, 1)
	go func() {
		readErr <- readTable(ctx, conn, query, opts.Args, cols, opts.BatchRows, opts.OnRow, free, full)
	}()

	enc := newEncoder(cols, table, opts, newFile)
	encErr := func() error {
		for b := range full {
			if err := enc.write(b); err != nil {
				return err
			}
			free <- b
		}
		return nil
	}()
	if encErr != nil {
		cancel()
		for range full { // let the reader finish
		}
		<-readErr
		enc.abort()
		return res, fmt.Errorf("export %s.%s: %w", schema, table, encErr)
	}
	if err := <-readErr; err != nil {
		enc.abort()
		return res, fmt.Errorf("export %s.%s: read rows: %w", schema, table, err)
	}
	if err := enc.finish(); err != nil {
		return res, fmt.Errorf("export %s.%s: %w", schema, table, err)
	}
	res.Rows, res.Files, res.Bytes = enc.totalRows, enc.files, enc.totalBytes
	return res, nil
}

// batch holds rows column by column: numbers as int64 (float bits for
// doubles), everything else as its text back to back in data with end
// offsets, so that one copy per value survives the driver's buffer reuse.
type batch struct {
	n    int
	cols []colData
}

type colData struct {
	nums []int64
	data []byte
	ends []int
	null []bool
}

func newBatch(ncols, rows int) *batch {
	b := &batch{cols: make([]colData, ncols)}
	for i := range b.cols {
		b.cols[i] = colData{ends: make([]int, 0, rows), null: make([]bool, 0, rows)}
	}
	return b
}

func (b *batch) reset() {
	b.n = 0
	for i := range b.cols {
		c := &b.cols[i]
		c.nums, c.data, c.ends, c.null = c.nums[:0], c.data[:0], c.ends[:0], c.null[:0]
	}
}

func (c *colData) value(r int) []byte {
	start := 0
	if r > 0 {
		start = c.ends[r-1]
	}
	return c.data[start:c.ends[r]]
}

// numeric reports columns read as numbers: go-sql-driver already parses
// integers and floats of the text protocol, so scanning them as text would
// format them again only for us to parse them a second time.
func (c *Column) numeric() bool {
	switch c.kind {
	case kindInt32, kindInt64, kindDouble:
		return true
	case kindDecimalFixed:
		return c.DataType == "bigint"
	}
	return false
}

// readTable runs query and batches its rows. It reads through the driver
// directly when the driver allows it: database/sql's Scan costs as much
// again as the driver's own decoding, and the reader is half the work.
func readTable(ctx context.Context, conn *sql.Conn, query string, args []any, cols []Column, batchRows int, onRow func([]driver.Value) error, free <-chan *batch, full chan<- *batch) error {
	defer close(full)
	// Arguments of the plain kinds a driver takes as they are (strings, integers,
	// bytes) go to the driver directly too; a driver that would rather prepare the
	// statement (go-sql-driver without interpolateParams) says driver.ErrSkip, and
	// database/sql does it.
	named, plain := namedArgs(args)
	direct := false
	if err := conn.Raw(func(dc any) error {
		_, direct = dc.(driver.QueryerContext)
		return nil
	}); err != nil {
		return err
	}
	if direct && plain {
		skipped := false
		err := conn.Raw(func(dc any) error {
			drows, err := dc.(driver.QueryerContext).QueryContext(ctx, query, named)
			if err == driver.ErrSkip {
				skipped = true
				return nil
			}
			if err != nil {
				return err
			}
			defer drows.Close()
			vals := make([]driver.Value, len(cols))
			return readBatches(ctx, cols, batchRows, free, full, vals, onRow, func() (bool, error) {
				err := drows.Next(vals)
				if err == io.EOF {
					return false, nil
				}
				return err == nil, err
			})
		})
		if !skipped {
			return err
		}
	}
	rows, err := conn.QueryContext(ctx, query, args...)
	if err != nil {
		return err
	}
	defer rows.Close()
	raw := make([]sql.RawBytes, len(cols))
	nums := make([]any, len(cols))
	dest := make([]any, len(cols))
	// Numbers and dates are scanned as the driver's values: a driver that parses
	// dates (parseTime) gives a time.Time, which database/sql would format into
	// RawBytes as RFC 3339 (the zero date as year 1), not as MySQL writes it.
	asValue := func(c *Column) bool { return c.numeric() || c.kind == kindDate || c.kind == kindTimestamp }
	for i := range cols {
		if asValue(&cols[i]) {
			dest[i] = &nums[i]
		} else {
			dest[i] = &raw[i]
		}
	}
	vals := make([]driver.Value, len(cols))
	return readBatches(ctx, cols, batchRows, free, full, vals, onRow, func() (bool, error) {
		if !rows.Next() {
			return false, rows.Err()
		}
		if err := rows.Scan(dest...); err != nil {
			return false, err
		}
		for i := range cols {
			if asValue(&cols[i]) {
				vals[i] = nums[i]
			} else if raw[i] == nil {
				vals[i] = nil
			} else {
				vals[i] = []byte(raw[i])
			}
		}
		return true, nil
	})
}

// namedArgs returns args as the driver's own values, and whether they all are of
// a kind every driver takes without conversion.
func namedArgs(args []any) ([]driver.NamedValue, bool) {
	named := make([]driver.NamedValue, len(args))
	for i, a := range args {
		switch a.(type) {
		case string, int64, []byte, float64, bool, time.Time:
		default:
			return nil, false
		}
		named[i] = driver.NamedValue{Ordinal: i + 1, Value: a}
	}
	return named, true
}

// readBatches calls next until it reports no more rows; each call leaves
// the row's values in vals, valid until the following call.
func readBatches(ctx context.Context, cols []Column, batchRows int, free <-chan *batch, full chan<- *batch, vals []driver.Value, onRow func([]driver.Value) error, next func() (bool, error)) error {
	var b *batch
	size := 0
	for {
		ok, err := next()
		if err != nil {
			return err
		}
		if !ok {
			break
		}
		if onRow != nil {
			if err := onRow(vals); err != nil {
				return err
			}
		}
		if b == nil {
			select {
			case b = <-free:
			case <-ctx.Done():
				return ctx.Err()
			}
			b.reset()
			size = 0
		}
		for i := range cols {
			n, err := b.cols[i].add(&cols[i], vals[i])
			if err != nil {
				return err
			}
			size += n
		}
		b.n++
		if b.n == batchRows || size >= batchBytes {
			select {
			case full <- b:
			case <-ctx.Done():
				return ctx.Err()
			}
			b = nil
		}
	}
	if b != nil && b.n > 0 {
		select {
		case full <- b:
		case <-ctx.Done():
			return ctx.Err()
		}
	}
	return nil
}

// add appends one value as the driver returned it and reports the bytes
// of text it copied.
func (c *colData) add(col *Column, v driver.Value) (int, error) {
	if col.numeric() {
		n, null, err := col.number(v)
		if err != nil {
			return 0, err
		}
		c.nums = append(c.nums, n)
		c.null = append(c.null, null)
		return 0, nil
	}
	start := len(c.data)
	null := false
	switch x := v.(type) {
	case nil:
		null = true
	case []byte:
		null = x == nil
		c.data = append(c.data, x...)
	case string:
		c.data = append(c.data, x...)
	case time.Time:
		// Drivers opened with parseTime=true: their zero time is MySQL's zero date.
		if x.IsZero() {
			null = true
		} else {
			c.data = x.AppendFormat(c.data, "2006-01-02 15:04:05.999999")
		}
	case int64:
		c.data = strconv.AppendInt(c.data, x, 10)
	case uint64:
		c.data = strconv.AppendUint(c.data, x, 10)
	case float64:
		c.data = strconv.AppendFloat(c.data, x, 'g', -1, 64)
	case float32:
		c.data = strconv.AppendFloat(c.data, float64(x), 'g', -1, 32)
	case bool:
		c.data = strconv.AppendBool(c.data, x)
	default:
		return 0, fmt.Errorf("column %q: unexpected %T value from the driver", col.Name, v)
	}
	c.ends = append(c.ends, len(c.data))
	c.null = append(c.null, null)
	return len(c.data) - start, nil
}

// encoder writes batches into a sequence of Parquet files.
type encoder struct {
	cols    []Column
	schema  *parquet.Schema
	opts    Options
	newFile func(int) (io.WriteCloser, error)

	w        *parquet.GenericWriter[any]
	out      io.WriteCloser
	counter  *countingWriter
	fileRows int64
	rgRows   int
	rgStart  int64

	workers []columnWorker

	files      int
	totalRows  int64
	totalBytes int64
}

func newEncoder(cols []Column, table string, opts Options, newFile func(int) (io.WriteCloser, error)) *encoder {
	return &encoder{
		cols:    cols,
		schema:  parquetSchema(table, cols),
		opts:    opts,
		newFile: newFile,
		workers: make([]columnWorker, max(1, min(runtime.GOMAXPROCS(0), len(cols)))),
	}
}

func (e *encoder) open() error {
	out, err := e.newFile(e.files)
	if err != nil {
		return fmt.Errorf("create file %d: %w", e.files, err)
	}
	e.out = out
	e.counter = &countingWriter{w: out}
	e.w = parquet.NewGenericWriter[any](e.counter, e.schema,
		parquet.Compression(&gzip.Codec{Level: e.opts.GzipLevel}),
		parquet.CreatedBy("snaplake", "mysqlparquet", ""),
		parquet.MaxRowsPerRowGroup(int64(e.opts.RowGroupRows)),
	)
	e.fileRows, e.rgRows, e.rgStart = 0, 0, 0
	return nil
}

func (e *encoder) closeFile() error {
	if err := e.w.Close(); err != nil {
		e.out.Close()
		return fmt.Errorf("finish file %d: %w", e.files, err)
	}
	if err := e.out.Close(); err != nil {
		return fmt.Errorf("close file %d: %w", e.files, err)
	}
	e.totalBytes += e.counter.n
	e.files++
	e.w, e.out = nil, nil
	return nil
}

func (e *encoder) write(b *batch) error {
	for start := 0; start < b.n; {
		if e.w == nil {
			if err := e.open(); err != nil {
				return err
			}
		}
		end := b.n
		if room := e.opts.RowsPerFile - e.fileRows; int64(end-start) > room {
			end = start + int(room)
		}
		if room := e.opts.RowGroupRows - e.rgRows; end-start > room {
			end = start + room
		}
		if err := e.writeRows(b, start, end); err != nil {
			return err
		}
		n := end - start
		e.fileRows += int64(n)
		e.totalRows += int64(n)
		e.rgRows += n
		start = end
		if e.fileRows >= e.opts.RowsPerFile {
			if err := e.closeFile(); err != nil {
				return err
			}
			continue
		}
		if e.rgRows >= e.opts.RowGroupRows || e.rowGroupBytes() >= e.opts.RowGroupBytes {
			if err := e.w.Flush(); err != nil {
				return fmt.Errorf("write row group of file %d: %w", e.files, err)
			}
			e.rgRows, e.rgStart = 0, e.w.Size()
		}
	}
	return nil
}

// rowGroupBytes estimates the open row group from the writer's file-size
// estimate, which adds the buffered row group to what is already written.
func (e *encoder) rowGroupBytes() int64 {
	return e.w.Size() - e.rgStart
}

// writeRows converts and encodes rows [start, end) of b. Columns are
// independent in Parquet, so they are spread over a few goroutines: on a
// busy machine the encoder, not the reader, is the slower stage.
func (e *encoder) writeRows(b *batch, start, end int) error {
	writers := e.w.ColumnWriters()
	workers := len(e.workers)
	if workers == 1 || end-start < 64 {
		for ci := range e.cols {
			if err := e.workers[0].writeColumn(&e.cols[ci], ci, &b.cols[ci], writers[ci], start, end); err != nil {
				return err
			}
		}
		return nil
	}
	errs := make([]error, workers)
	var wg sync.WaitGroup
	for wi := range workers {
		wg.Go(func() {
			for ci := wi; ci < len(e.cols); ci += workers {
				if err := e.workers[wi].writeColumn(&e.cols[ci], ci, &b.cols[ci], writers[ci], start, end); err != nil {
					errs[wi] = err
					return
				}
			}
		})
	}
	wg.Wait()
	return errors.Join(errs...)
}

// columnWorker holds one goroutine's reusable buffers.
type columnWorker struct {
	values  []parquet.Value
	scratch []byte
}

func (w *columnWorker) writeColumn(col *Column, ci int, cd *colData, cw *parquet.ColumnWriter, start, end int) error {
	maxDef := 0
	if col.optional() {
		maxDef = 1
	}
	if col.kind == kindDecimalFixed {
		// Fixed-length values point into scratch: it must hold the whole slice.
		if need := (end - start) * col.flbaSize; cap(w.scratch) < need {
			w.scratch = make([]byte, need)
		}
	}
	var vals []parquet.Value
	var err error
	if col.numeric() {
		vals = col.appendNumbers(w.values[:0], cd, start, end, maxDef, ci, w.scratch)
	} else {
		vals, err = col.appendText(w.values[:0], cd, start, end, maxDef, ci, w.scratch)
	}
	w.values = vals[:0]
	if err != nil {
		return err
	}
	if _, err := cw.WriteRowValues(vals); err != nil {
		return fmt.Errorf("encode column %q: %w", col.Name, err)
	}
	return nil
}

func (e *encoder) finish() error {
	if e.w == nil && e.files == 0 && !e.opts.NoEmptyFile {
		// Empty table: one file carrying the schema.
		if err := e.open(); err != nil {
			return err
		}
	}
	if e.w != nil {
		return e.closeFile()
	}
	return nil
}

// abort releases an open file without completing it.
func (e *encoder) abort() {
	if e.out != nil {
		e.out.Close()
		e.w, e.out = nil, nil
	}
}

type countingWriter struct {
	w io.Writer
	n int64
}

func (c *countingWriter) Write(p []byte) (int, error) {
	n, err := c.w.Write(p)
	c.n += int64(n)
	return n, err
}
