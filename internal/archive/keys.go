package archive

import (
	"database/sql/driver"
	"encoding/base64"
	"encoding/binary"
	"fmt"
	"math/bits"
	"strconv"
	"strings"
	"time"

	"github.com/parquet-go/parquet-go"

	"github.com/snaplake/snaplake/internal/aws/mysqlparquet"
)

// A Key is one primary key value as the manifest records it and the SQL binds it:
// each column's value as its SQL text (numbers in decimal, dates as MySQL writes
// them), except binary columns, which are base64 so that the manifest stays JSON.
type Key []string

// keyColumns are the table's primary key columns, with what it takes to read,
// compare, hash and bind them.
type keyColumns struct {
	names  []string // as the table spells them
	quoted []string
	index  []int // position among the table's columns (ExportTable's order)
	binary []bool
	cols   []mysqlparquet.Column
}

// KeyColumnError says a configured key column is not a column of the table (the
// table changed since the job was made).
type KeyColumnError struct{ Schema, Table, Column string }

func (e *KeyColumnError) Error() string {
	return fmt.Sprintf("archive %s.%s: key column %q is not a column of the table (did the table change since the config was checked?)", e.Schema, e.Table, e.Column)
}

func newKeyColumns(schema, table string, cols []mysqlparquet.Column, key []string) (*keyColumns, error) {
	k := &keyColumns{}
	for _, name := range key {
		i := -1
		for j := range cols {
			if strings.EqualFold(cols[j].Name, name) {
				i = j
				break
			}
		}
		if i < 0 {
			return nil, &KeyColumnError{Schema: schema, Table: table, Column: name}
		}
		c := cols[i]
		k.names = append(k.names, c.Name)
		k.quoted = append(k.quoted, mysqlparquet.QuoteIdentifier(c.Name))
		k.index = append(k.index, i)
		k.binary = append(k.binary, c.ParquetType == "binary")
		k.cols = append(k.cols, c)
	}
	return k, nil
}

// key turns the key columns of a row, as the driver returned it, into a Key. vals
// holds the key columns at k.index when all is true, else the key columns only.
func (k *keyColumns) key(vals []driver.Value, all bool) (Key, error) {
	out := make(Key, len(k.names))
	for i := range k.names {
		v := vals[i]
		if all {
			v = vals[k.index[i]]
		}
		var s string
		switch x := v.(type) {
		case nil:
			return nil, fmt.Errorf("key column %q is NULL", k.names[i])
		case int64:
			s = strconv.FormatInt(x, 10)
		case uint64:
			s = strconv.FormatUint(x, 10)
		case float64:
			s = strconv.FormatFloat(x, 'g', -1, 64)
		case float32:
			s = strconv.FormatFloat(float64(x), 'g', -1, 32)
		case []byte:
			if k.binary[i] {
				s = base64.StdEncoding.EncodeToString(x)
			} else {
				s = string(x)
			}
		case string:
			if k.binary[i] {
				s = base64.StdEncoding.EncodeToString([]byte(x))
			} else {
				s = x
			}
		case time.Time:
			s = x.Format("2006-01-02 15:04:05.999999")
		default:
			return nil, fmt.Errorf("key column %q: unexpected %T from the driver", k.names[i], v)
		}
		out[i] = s
	}
	return out, nil
}

// args are a Key's values to bind: text, or bytes for binary columns. MySQL
// compares a text value with a numeric or temporal column as that type, and a
// range on the key stays a range.
func (k *keyColumns) args(key Key) ([]any, error) {
	if len(key) != len(k.names) {
		return nil, fmt.Errorf("key %v has %d values, the primary key %d columns", key, len(key), len(k.names))
	}
	out := make([]any, len(key))
	for i, s := range key {
		if k.binary[i] {
			b, err := base64.StdEncoding.DecodeString(s)
			if err != nil {
				return nil, fmt.Errorf("key column %q: %q is not base64: %w", k.names[i], s, err)
			}
			out[i] = b
		} else {
			out[i] = s
		}
	}
	return out, nil
}

// compare builds "key OP value" for a composite key as the OR of its prefixes:
// (a > ?) OR (a = ? AND b > ?) ... MariaDB does not turn a row comparison
// (a, b) > (?, ?) into a range on the primary key (it scans the index from its
// start, every page), but it does turn this form into one. op is ">" or "<";
// inclusive makes the last column's comparison ">=" or "<=".
func (k *keyColumns) compare(op string, inclusive bool, key Key) (string, []any, error) {
	vals, err := k.args(key)
	if err != nil {
		return "", nil, err
	}
	var terms []string
	var args []any
	for i := range k.names {
		var parts []string
		for j := range i {
			parts = append(parts, k.quoted[j]+" = ?")
			args = append(args, vals[j])
		}
		o := op
		if inclusive && i == len(k.names)-1 {
			o += "="
		}
		parts = append(parts, k.quoted[i]+" "+o+" ?")
		args = append(args, vals[i])
		terms = append(terms, "("+strings.Join(parts, " AND ")+")")
	}
	return "(" + strings.Join(terms, " OR ") + ")", args, nil
}

// in builds "(a, b) IN ((?, ?), ...)" for keys (a plain "a IN (...)" for one
// column): MariaDB reads such a list as ranges of the primary key.
func (k *keyColumns) in(keys []Key) (string, []any, error) {
	var b strings.Builder
	args := make([]any, 0, len(keys)*len(k.names))
	one := "(" + strings.TrimSuffix(strings.Repeat("?, ", len(k.names)), ", ") + ")"
	if len(k.names) == 1 {
		b.WriteString(k.quoted[0] + " IN (")
		one = "?"
	} else {
		b.WriteString("(" + strings.Join(k.quoted, ", ") + ") IN (")
	}
	for i, key := range keys {
		if i > 0 {
			b.WriteString(", ")
		}
		b.WriteString(one)
		vals, err := k.args(key)
		if err != nil {
			return "", nil, err
		}
		args = append(args, vals...)
	}
	b.WriteString(")")
	return b.String(), args, nil
}

// The key checksum.
//
// Each key is encoded canonically from the Parquet values the export writes for
// it (the same conversion for the rows read from MySQL and for the values read
// back from S3): per column, the value's Parquet kind, then for a non-null value
// its length as a uvarint and its plain bytes (little-endian numbers, the bytes of
// strings). The encoding is hashed with 64-bit FNV-1a and the result mixed with
// MurmurHash3's 64-bit finalizer, so that every bit of the hash depends on every
// input bit. A batch's checksum is the sum, modulo 2^64, of its keys' hashes: it
// does not depend on the order of the rows, and unlike an XOR a key written twice
// changes it. It is compared together with the row count.

type keyHasher struct{ buf []byte }

func (h *keyHasher) hash(vals []parquet.Value) uint64 {
	b := h.buf[:0]
	for _, v := range vals {
		b = append(b, byte(v.Kind()))
		if v.IsNull() {
			b = append(b, 0)
			continue
		}
		b = append(b, 1)
		raw := v.Bytes()
		b = binary.AppendUvarint(b, uint64(len(raw)))
		b = append(b, raw...)
	}
	h.buf = b
	const offset, prime = 14695981039346656037, 1099511628211
	x := uint64(offset)
	for _, c := range b {
		x ^= uint64(c)
		x *= prime
	}
	return fmix64(x)
}

func fmix64(x uint64) uint64 {
	x ^= x >> 33
	x *= 0xff51afd7ed558ccd
	x ^= x >> 33
	x *= 0xc4ceb9fe1a85ec53
	x ^= x >> 33
	return x
}

// checksum accumulates a batch's key hashes.
type checksum struct {
	rows int64
	sum  uint64
}

func (c *checksum) add(h uint64) {
	c.rows++
	c.sum, _ = bits.Add64(c.sum, h, 0)
}

func (c checksum) String() string { return fmt.Sprintf("%016x", c.sum) }

// driverHasher hashes keys as the driver returns them. Its converters reuse their
// buffers: each goroutine has its own.
type driverHasher struct {
	k       *keyColumns
	conv    []*mysqlparquet.ValueConverter
	h       keyHasher
	scratch []parquet.Value
}

func (k *keyColumns) driverHasher() *driverHasher {
	d := &driverHasher{k: k, scratch: make([]parquet.Value, 0, len(k.cols))}
	for _, c := range k.cols {
		d.conv = append(d.conv, c.Converter())
	}
	return d
}

// hash hashes a key (the key columns at k.index of a whole row when all, else the
// key columns only).
func (d *driverHasher) hash(vals []driver.Value, all bool) (uint64, error) {
	d.scratch = d.scratch[:0]
	for i := range d.k.names {
		v := vals[i]
		if all {
			v = vals[d.k.index[i]]
		}
		pv, err := d.conv[i].Convert(v)
		if err != nil {
			return 0, fmt.Errorf("key column %q: %w", d.k.names[i], err)
		}
		d.scratch = append(d.scratch, pv)
	}
	return d.h.hash(d.scratch), nil
}
