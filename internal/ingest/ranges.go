package ingest

import (
	"fmt"
	"math/big"
	"slices"
	"strings"

	"github.com/snaplake/snaplake/internal/deploy"
)

// Splitting a large table into key ranges, so that the Glue job reads it through
// several JDBC connections at once (one Spark partition, one task, per range)
// instead of one task on one core reading the whole table while every worker is
// billed. The plan holds the ranges; the job and the Go loader both read exactly
// them, so the split is tested offline end to end.
//
// The ranges cover the key's whole domain whatever the bounds discovery read: the
// first is open below (and takes the rows whose key is NULL, when the key can be
// NULL), the last open above, and each other is [from, to). A row inserted after
// discovery, below the minimum or above the maximum, still falls in exactly one
// range; an estimate that is wrong only makes the ranges uneven.

// Defaults and limits of the split.
const (
	// DefaultRowsPerRange is the target rows per range, when the config sets none.
	DefaultRowsPerRange = deploy.DefaultIngestRowsPerRange
	// MinRowsPerRange is the least rowsPerRange the config accepts, and the least
	// estimated rows of a table whose key bounds discovery reads: smaller ranges
	// cost more in connections and tasks than they gain.
	MinRowsPerRange = 1000
	// MaxRanges bounds the ranges of one table: each is a query on the source and a
	// task; Spark runs as many at once as the job has cores, whatever their number.
	MaxRanges = 1000
	// RowsPerFile bounds the rows of one Parquet file (the job's maxRecordsPerFile,
	// the loader's RowsPerFile), so that no file outgrows what one Athena reader
	// or one Spark task handles comfortably.
	RowsPerFile = deploy.DefaultIngestRowsPerFile
)

// KeyRange is one range of a split table's key: From <= key < To, a nil bound open.
// Bounds are decimal integers as text, exact for any BIGINT (signed or unsigned).
type KeyRange struct {
	From *string `json:"from,omitempty"`
	To   *string `json:"to,omitempty"`
	// Nulls: the range also holds the rows whose key is NULL (the first range, for
	// a key that can be NULL).
	Nulls bool `json:"nulls,omitempty"`
}

// Check says whether the range's bounds are decimal integers, as the plan writes
// them: the loaders put them in SQL as they are.
func (r KeyRange) Check() error {
	for _, b := range []*string{r.From, r.To} {
		if b == nil {
			continue
		}
		if _, ok := new(big.Int).SetString(*b, 10); !ok || strings.HasPrefix(*b, "+") {
			return fmt.Errorf("key range bound %q is not a decimal integer", *b)
		}
	}
	return nil
}

// Where is the range as an SQL condition on the key, column quoted by the caller:
// "`id` >= 1000 AND `id` < 2000", "(`id` < 1000 OR `id` IS NULL)". The job
// (range_predicate in ingest_job.py) writes the same text on the column's lake
// name in its derived table; a test compares the two.
func (r KeyRange) Where(column string) string {
	var parts []string
	if r.From != nil {
		parts = append(parts, column+" >= "+*r.From)
	}
	if r.To != nil {
		parts = append(parts, column+" < "+*r.To)
	}
	if len(parts) == 0 {
		parts = append(parts, column+" IS NOT NULL")
	}
	p := strings.Join(parts, " AND ")
	if r.Nulls {
		p = "(" + p + " OR " + column + " IS NULL)"
	}
	return p
}

// integerTypes are the key types a table can be split by.
var integerTypes = []string{"tinyint", "smallint", "mediumint", "int", "integer", "bigint"}

// RangeKey is the column a table is split by, or nil with the reason it is not:
//   - the primary key's first column, when it is an integer: the key's index is
//     ordered by it, so each range is one index range scan. A composite key (a, b)
//     is split by a alone; when a has few distinct values the ranges are uneven
//     (at worst one range holds the table), never wrong.
//   - else the AUTO_INCREMENT column (MySQL keeps it indexed and integer).
//
// A table whose key is not an integer (a UUID or a code) or that has none is read
// in one range: its values cannot be cut into even ranges from a minimum and a
// maximum, and splitting by another column would scan the table once per range.
func (t Table) RangeKey() (*Column, string) {
	if len(t.PrimaryKey) > 0 {
		if c := t.Column(t.PrimaryKey[0]); c != nil && slices.Contains(integerTypes, c.DataType) {
			return c, ""
		}
	}
	if t.AutoIncrement != "" {
		if c := t.Column(t.AutoIncrement); c != nil && slices.Contains(integerTypes, c.DataType) {
			return c, ""
		}
	}
	if len(t.PrimaryKey) == 0 {
		return nil, "no primary key and no AUTO_INCREMENT column"
	}
	kind := "a column discovery did not see"
	if c := t.Column(t.PrimaryKey[0]); c != nil {
		kind = c.DataType
	}
	if len(t.PrimaryKey) > 1 {
		return nil, fmt.Sprintf("the primary key (%s) starts with %s, which is %s, not an integer", strings.Join(t.PrimaryKey, ", "), t.PrimaryKey[0], kind)
	}
	return nil, fmt.Sprintf("the primary key %s is %s, not an integer", t.PrimaryKey[0], kind)
}

// split is how one table is read: in ranges of column, or whole.
type split struct {
	column *Column
	ranges []KeyRange
	why    string
}

// splitTable plans the ranges of t for a load of rowsPerRange rows a range. from is
// an incremental load's watermark: when the watermark column is the key itself,
// only the keys above it are split (a load of the newest rows of a large table
// stays one range).
func splitTable(t *Table, rowsPerRange int64, watermarkColumn string, from *string) split {
	key, why := t.RangeKey()
	if key == nil {
		return split{why: "one range: " + why}
	}
	if t.KeyMin == nil || t.KeyMax == nil {
		if t.EstimatedRows < MinRowsPerRange || t.EstimatedRows <= rowsPerRange {
			return split{why: fmt.Sprintf("one range: about %d rows (information_schema's estimate), at most rowsPerRange %d", t.EstimatedRows, rowsPerRange)}
		}
		return split{why: "one range: the key's bounds were not read"}
	}
	lo, ok1 := new(big.Int).SetString(*t.KeyMin, 10)
	hi, ok2 := new(big.Int).SetString(*t.KeyMax, 10)
	if !ok1 || !ok2 || lo.Cmp(hi) > 0 {
		return split{why: fmt.Sprintf("one range: the key's bounds %q and %q are not integers", *t.KeyMin, *t.KeyMax)}
	}
	width := new(big.Int).Sub(hi, lo)
	width.Add(width, big.NewInt(1))
	rows := big.NewInt(t.EstimatedRows)
	what := "the table"
	if from != nil && strings.EqualFold(watermarkColumn, key.Name) {
		if f, ok := new(big.Int).SetString(*from, 10); ok {
			f.Add(f, big.NewInt(1))
			if f.Cmp(lo) > 0 {
				// The rows above the watermark, assuming keys spread evenly.
				if f.Cmp(hi) > 0 {
					return split{why: "one range: no key above the watermark " + *from + " at discovery"}
				}
				part := new(big.Int).Sub(hi, f)
				part.Add(part, big.NewInt(1))
				rows.Mul(rows, part).Quo(rows, width)
				lo, width, what = f, part, "the keys above the watermark"
			}
		}
	}
	target := big.NewInt(rowsPerRange)
	n := new(big.Int).Add(rows, new(big.Int).Sub(target, big.NewInt(1)))
	n.Quo(n, target)
	if n.Cmp(width) > 0 {
		n.Set(width)
	}
	if n.Cmp(big.NewInt(MaxRanges)) > 0 {
		n.SetInt64(MaxRanges)
	}
	if n.Cmp(big.NewInt(2)) < 0 {
		return split{why: fmt.Sprintf("one range: about %s rows in %s (information_schema's estimate), at most rowsPerRange %d", rows, what, rowsPerRange)}
	}
	step := new(big.Int).Add(width, new(big.Int).Sub(n, big.NewInt(1)))
	step.Quo(step, n)
	var bounds []string
	for b := new(big.Int).Add(lo, step); b.Cmp(hi) <= 0 && len(bounds) < MaxRanges-1; b.Add(b, step) {
		bounds = append(bounds, b.String())
	}
	ranges := make([]KeyRange, len(bounds)+1)
	for i := range ranges {
		if i > 0 {
			ranges[i].From = &bounds[i-1]
		}
		if i < len(bounds) {
			ranges[i].To = &bounds[i]
		}
	}
	ranges[0].Nulls = key.Nullable
	return split{column: key, ranges: ranges, why: fmt.Sprintf("%d ranges of %s, %s wide, about %d rows each: %s rows in %s (information_schema's estimate), rowsPerRange %d",
		len(ranges), key.Name, step, new(big.Int).Quo(rows, big.NewInt(int64(len(ranges)))), rows, what, rowsPerRange)}
}
