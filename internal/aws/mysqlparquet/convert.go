package mysqlparquet

import (
	"fmt"
	"math"
	"math/bits"
	"strconv"
	"unsafe"

	"github.com/parquet-go/parquet-go"
)

// The text protocol sends every value as its SQL text; these parsers turn
// that text into Parquet physical values without allocating.

// convert turns one non-NULL text value into a Parquet value. null reports
// a value that becomes NULL (zero dates). scratch backs fixed-length decimals.
func (c *Column) convert(raw []byte, scratch []byte) (v parquet.Value, null bool, err error) {
	switch c.kind {
	case kindString, kindBytes:
		return parquet.ByteArrayValue(raw), false, nil
	case kindInt32:
		n, ok := parseInt(raw)
		if !ok || n < -1<<31 || n > 1<<31-1 {
			return v, false, fmt.Errorf("column %q: %q is not a 32-bit integer", c.Name, raw)
		}
		return parquet.Int32Value(int32(n)), false, nil
	case kindInt64:
		n, ok := parseInt(raw)
		if !ok {
			return v, false, fmt.Errorf("column %q: %q is not a 64-bit integer", c.Name, raw)
		}
		return parquet.Int64Value(n), false, nil
	case kindDecimal32, kindDecimal64:
		n, ok := parseDecimal64(raw, c.Scale)
		if !ok {
			return v, false, fmt.Errorf("column %q: %q is not a DECIMAL(%d,%d)", c.Name, raw, c.Precision, c.Scale)
		}
		if c.kind == kindDecimal32 {
			return parquet.Int32Value(int32(n)), false, nil
		}
		return parquet.Int64Value(n), false, nil
	case kindDecimalFixed:
		b, ok := parseDecimalFixed(raw, c.Scale, scratch[:c.flbaSize])
		if !ok {
			return v, false, fmt.Errorf("column %q: %q is not a DECIMAL(%d,%d)", c.Name, raw, c.Precision, c.Scale)
		}
		return parquet.FixedLenByteArrayValue(b), false, nil
	case kindDouble:
		f, err := strconv.ParseFloat(unsafe.String(unsafe.SliceData(raw), len(raw)), 64)
		if err != nil {
			return v, false, fmt.Errorf("column %q: %q is not a number", c.Name, raw)
		}
		return parquet.DoubleValue(f), false, nil
	case kindDate:
		days, err := parseDate(raw)
		if err == errZeroDate {
			return v, true, nil
		}
		if err != nil {
			return v, false, fmt.Errorf("column %q: %w", c.Name, err)
		}
		return parquet.Int32Value(int32(days)), false, nil
	case kindTimestamp:
		us, err := parseDateTime(raw)
		if err == errZeroDate {
			return v, true, nil
		}
		if err != nil {
			return v, false, fmt.Errorf("column %q: %w", c.Name, err)
		}
		return parquet.Int64Value(us), false, nil
	}
	return v, false, fmt.Errorf("column %q: unsupported type %s", c.Name, c.MySQLType)
}

// number turns what the driver scanned for a numeric column into int64
// bits: the value, or for doubles math.Float64bits, or for BIGINT UNSIGNED
// the uint64 bits. Drivers that send text are parsed here.
func (c *Column) number(v any) (n int64, null bool, err error) {
	switch x := v.(type) {
	case nil:
		return 0, true, nil
	case int64:
		if c.kind == kindDouble {
			return int64(math.Float64bits(float64(x))), false, nil
		}
		return x, false, nil
	case uint64:
		if c.kind == kindDouble {
			return int64(math.Float64bits(float64(x))), false, nil
		}
		if c.kind != kindDecimalFixed && x > math.MaxInt64 {
			break
		}
		return int64(x), false, nil
	case float32:
		return int64(math.Float64bits(float64(x))), false, nil
	case float64:
		return int64(math.Float64bits(x)), false, nil
	case []byte:
		return c.numberFromText(string(x))
	case string:
		return c.numberFromText(x)
	}
	return 0, false, fmt.Errorf("column %q: unexpected %T value %v", c.Name, v, v)
}

func (c *Column) numberFromText(s string) (int64, bool, error) {
	switch {
	case c.kind == kindDouble:
		f, err := strconv.ParseFloat(s, 64)
		if err != nil {
			return 0, false, fmt.Errorf("column %q: %q is not a number", c.Name, s)
		}
		return int64(math.Float64bits(f)), false, nil
	case c.kind == kindDecimalFixed:
		u, err := strconv.ParseUint(s, 10, 64)
		if err != nil {
			return 0, false, fmt.Errorf("column %q: %q is not an unsigned 64-bit integer", c.Name, s)
		}
		return int64(u), false, nil
	}
	n, err := strconv.ParseInt(s, 10, 64)
	if err != nil {
		return 0, false, fmt.Errorf("column %q: %q is not an integer", c.Name, s)
	}
	return n, false, nil
}

// leveled sets the definition level of a value. It runs once per cell, so
// it avoids Value.Level, which does not inline; the column index is left
// unset because values go straight to their column's writer.
func leveled(v parquet.Value, def, ci int) parquet.Value {
	v.SetDefinitionLevel(def)
	return v
}

// appendNumbers appends the Parquet values of rows [start, end) of a numeric
// column. scratch must hold (end-start)*flbaSize bytes for BIGINT UNSIGNED.
func (c *Column) appendNumbers(vals []parquet.Value, cd *colData, start, end, maxDef, ci int, scratch []byte) []parquet.Value {
	null := leveled(parquet.Value{}, 0, ci)
	nums, nulls := cd.nums[start:end], cd.null[start:end]
	switch c.kind {
	case kindInt32:
		for i, n := range nums {
			if nulls[i] {
				vals = append(vals, null)
			} else {
				vals = append(vals, leveled(parquet.Int32Value(int32(n)), maxDef, ci))
			}
		}
	case kindInt64:
		for i, n := range nums {
			if nulls[i] {
				vals = append(vals, null)
			} else {
				vals = append(vals, leveled(parquet.Int64Value(n), maxDef, ci))
			}
		}
	case kindDouble:
		for i, n := range nums {
			if nulls[i] {
				vals = append(vals, null)
			} else {
				vals = append(vals, leveled(parquet.DoubleValue(math.Float64frombits(uint64(n))), maxDef, ci))
			}
		}
	case kindDecimalFixed: // BIGINT UNSIGNED as 9-byte DECIMAL(20,0)
		for i, n := range nums {
			if nulls[i] {
				vals = append(vals, null)
				continue
			}
			b := scratch[i*c.flbaSize : (i+1)*c.flbaSize]
			u := uint64(n)
			for j := len(b) - 1; j >= 0; j-- {
				b[j] = byte(u)
				u >>= 8
			}
			vals = append(vals, leveled(parquet.FixedLenByteArrayValue(b), maxDef, ci))
		}
	}
	return vals
}

// appendText appends the Parquet values of rows [start, end) of a column
// read as text, converting as the column's kind says.
func (c *Column) appendText(vals []parquet.Value, cd *colData, start, end, maxDef, ci int, scratch []byte) ([]parquet.Value, error) {
	null := leveled(parquet.Value{}, 0, ci)
	prev := 0
	if start > 0 {
		prev = cd.ends[start-1]
	}
	for r := start; r < end; r++ {
		raw := cd.data[prev:cd.ends[r]]
		prev = cd.ends[r]
		if cd.null[r] {
			if maxDef == 0 {
				return vals, fmt.Errorf("column %q: NULL in a NOT NULL column", c.Name)
			}
			vals = append(vals, null)
			continue
		}
		if c.kind == kindString || c.kind == kindBytes {
			vals = append(vals, leveled(parquet.ByteArrayValue(raw), maxDef, ci))
			continue
		}
		var fixed []byte
		if c.kind == kindDecimalFixed {
			off := (r - start) * c.flbaSize
			fixed = scratch[off : off+c.flbaSize]
		}
		v, isNull, err := c.convert(raw, fixed)
		if err != nil {
			return vals, err
		}
		if isNull {
			vals = append(vals, null)
			continue
		}
		vals = append(vals, leveled(v, maxDef, ci))
	}
	return vals, nil
}

func parseInt(b []byte) (int64, bool) {
	if len(b) == 0 {
		return 0, false
	}
	neg := b[0] == '-'
	if neg || b[0] == '+' {
		b = b[1:]
		if len(b) == 0 {
			return 0, false
		}
	}
	var u uint64
	for _, ch := range b {
		d := ch - '0'
		if d > 9 || u > (1<<63)/10 {
			return 0, false
		}
		u = u*10 + uint64(d)
	}
	if neg {
		if u > 1<<63 {
			return 0, false
		}
		return -int64(u), true
	}
	if u > 1<<63-1 {
		return 0, false
	}
	return int64(u), true
}

// parseDecimal64 returns the unscaled value of "-123.45" at the given scale.
func parseDecimal64(b []byte, scale int) (int64, bool) {
	hi, lo, neg, ok := parseUnscaled(b, scale)
	if !ok || hi != 0 || lo > 1<<63-1 {
		return 0, false
	}
	if neg {
		return -int64(lo), true
	}
	return int64(lo), true
}

// parseDecimalFixed writes the unscaled value as big-endian two's complement
// into dst, the width of the Parquet FIXED_LEN_BYTE_ARRAY.
func parseDecimalFixed(b []byte, scale int, dst []byte) ([]byte, bool) {
	hi, lo, neg, ok := parseUnscaled(b, scale)
	if !ok {
		return nil, false
	}
	if neg {
		var borrow uint64
		lo, borrow = bits.Sub64(0, lo, 0)
		hi, _ = bits.Sub64(0, hi, borrow)
	}
	for i := len(dst) - 1; i >= 0; i-- {
		dst[i] = byte(lo)
		lo = lo>>8 | hi<<56
		hi = uint64(int64(hi) >> 8)
	}
	return dst, true
}

// parseUnscaled parses a decimal into a 128-bit magnitude scaled by 10^scale.
func parseUnscaled(b []byte, scale int) (hi, lo uint64, neg, ok bool) {
	if len(b) == 0 {
		return 0, 0, false, false
	}
	if b[0] == '-' || b[0] == '+' {
		neg = b[0] == '-'
		b = b[1:]
	}
	frac := -1
	digits := 0
	mul := func(d uint64) bool {
		h1, l1 := bits.Mul64(lo, 10)
		h2, l2 := bits.Mul64(hi, 10)
		if h2 != 0 {
			return false
		}
		var carry uint64
		lo, carry = bits.Add64(l1, d, 0)
		hi, carry = bits.Add64(l2, h1, carry)
		return carry == 0 && hi < 1<<63
	}
	for _, ch := range b {
		if ch == '.' {
			if frac >= 0 {
				return 0, 0, false, false
			}
			frac = 0
			continue
		}
		d := ch - '0'
		if d > 9 {
			return 0, 0, false, false
		}
		if frac >= 0 {
			if frac == scale {
				continue // more digits than the scale: MySQL never sends them
			}
			frac++
		}
		if !mul(uint64(d)) {
			return 0, 0, false, false
		}
		digits++
	}
	if digits == 0 {
		return 0, 0, false, false
	}
	if frac < 0 {
		frac = 0
	}
	for ; frac < scale; frac++ {
		if !mul(0) {
			return 0, 0, false, false
		}
	}
	return hi, lo, neg, true
}

// parseDate parses "YYYY-MM-DD" into days since 1970-01-01.
func parseDate(b []byte) (int64, error) {
	if len(b) < 10 || b[4] != '-' || b[7] != '-' {
		return 0, fmt.Errorf("%q is not a date", b)
	}
	y, ok1 := digitsN(b[0:4])
	m, ok2 := digitsN(b[5:7])
	d, ok3 := digitsN(b[8:10])
	if !ok1 || !ok2 || !ok3 {
		return 0, fmt.Errorf("%q is not a date", b)
	}
	if m == 0 || d == 0 {
		return 0, errZeroDate
	}
	if m > 12 || d > 31 {
		return 0, fmt.Errorf("%q is not a date", b)
	}
	return daysFromCivil(y, m, d), nil
}

// parseDateTime parses "YYYY-MM-DD HH:MM:SS[.ffffff]" into microseconds
// since the epoch, reading the value as UTC.
func parseDateTime(b []byte) (int64, error) {
	days, err := parseDate(b)
	if err != nil {
		return 0, err
	}
	var us int64
	if len(b) > 10 {
		t := b[11:]
		if b[10] != ' ' && b[10] != 'T' || len(t) < 8 || t[2] != ':' || t[5] != ':' {
			return 0, fmt.Errorf("%q is not a datetime", b)
		}
		h, ok1 := digitsN(t[0:2])
		mi, ok2 := digitsN(t[3:5])
		s, ok3 := digitsN(t[6:8])
		if !ok1 || !ok2 || !ok3 {
			return 0, fmt.Errorf("%q is not a datetime", b)
		}
		us = (h*3600 + mi*60 + s) * 1_000_000
		if len(t) > 8 {
			if t[8] != '.' {
				return 0, fmt.Errorf("%q is not a datetime", b)
			}
			f := t[9:]
			if len(f) > 6 {
				f = f[:6]
			}
			frac, ok := digitsN(f)
			if !ok {
				return 0, fmt.Errorf("%q is not a datetime", b)
			}
			for i := len(f); i < 6; i++ {
				frac *= 10
			}
			us += frac
		}
	}
	return days*86_400_000_000 + us, nil
}

func digitsN(b []byte) (int64, bool) {
	var n int64
	for _, ch := range b {
		d := ch - '0'
		if d > 9 {
			return 0, false
		}
		n = n*10 + int64(d)
	}
	return n, len(b) > 0
}

// daysFromCivil is Howard Hinnant's algorithm for the proleptic Gregorian calendar.
func daysFromCivil(y, m, d int64) int64 {
	if m <= 2 {
		y--
	}
	era := y
	if era < 0 {
		era -= 399
	}
	era /= 400
	yoe := y - era*400
	mp := (m + 9) % 12
	doy := (153*mp+2)/5 + d - 1
	doe := yoe*365 + yoe/4 - yoe/100 + doy
	return era*146097 + doe - 719468
}
