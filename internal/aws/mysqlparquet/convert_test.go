package mysqlparquet

import (
	"database/sql/driver"
	"math"
	"math/big"
	"testing"
	"time"
)

func TestParseDecimalFixed(t *testing.T) {
	tests := []struct {
		in    string
		scale int
		size  int
		want  string // unscaled
		ok    bool
	}{
		{"0", 0, 9, "0", true},
		{"18446744073709551615", 0, 9, "18446744073709551615", true},
		{"-12345678901234567890123456.7891", 4, 13, "-123456789012345678901234567891", true},
		{"99999999999999999999999999999999999999", 0, 16, "99999999999999999999999999999999999999", true},
		{"-99999999999999999999999999999999999999", 0, 16, "-99999999999999999999999999999999999999", true},
		{"1.5", 3, 5, "1500", true},
		{"-0.001", 3, 5, "-1", true},
		{"12a", 0, 9, "", false},
		{"", 0, 9, "", false},
		{"1.2.3", 2, 9, "", false},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			b, ok := parseDecimalFixed([]byte(tt.in), tt.scale, make([]byte, tt.size))
			if ok != tt.ok {
				t.Fatalf("ok = %v, want %v", ok, tt.ok)
			}
			if !ok {
				return
			}
			n := new(big.Int).SetBytes(b)
			if b[0]&0x80 != 0 {
				n.Sub(n, new(big.Int).Lsh(big.NewInt(1), uint(8*len(b))))
			}
			if n.String() != tt.want {
				t.Fatalf("got %s, want %s", n, tt.want)
			}
		})
	}
}

func TestParseDateTime(t *testing.T) {
	tests := []struct {
		in      string
		want    time.Time
		zero    bool
		invalid bool
	}{
		{in: "2024-02-29 13:45:56", want: time.Date(2024, 2, 29, 13, 45, 56, 0, time.UTC)},
		{in: "1969-12-31 23:59:59.5", want: time.Date(1969, 12, 31, 23, 59, 59, 500_000_000, time.UTC)},
		{in: "0001-01-01 00:00:00.000001", want: time.Date(1, 1, 1, 0, 0, 0, 1000, time.UTC)},
		{in: "9999-12-31 23:59:59.999999", want: time.Date(9999, 12, 31, 23, 59, 59, 999_999_000, time.UTC)},
		{in: "2024-03-01", want: time.Date(2024, 3, 1, 0, 0, 0, 0, time.UTC)},
		{in: "0000-00-00 00:00:00", zero: true},
		{in: "2020-00-15 00:00:00", zero: true},
		{in: "2020-05-00", zero: true},
		{in: "2020-13-01", invalid: true},
		{in: "yesterday", invalid: true},
		{in: "2020-01-01 1:2:3", invalid: true},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			us, err := parseDateTime([]byte(tt.in))
			switch {
			case tt.zero:
				if err != errZeroDate {
					t.Fatalf("got %d, %v; want zero date", us, err)
				}
			case tt.invalid:
				if err == nil || err == errZeroDate {
					t.Fatalf("got %d, %v; want an error", us, err)
				}
			default:
				if err != nil || us != tt.want.UnixMicro() {
					t.Fatalf("got %d, %v; want %d", us, err, tt.want.UnixMicro())
				}
			}
		})
	}
}

// TestColDataAdd covers the values drivers other than go-sql-driver's text
// protocol hand over, and the database/sql fallback path.
func TestColDataAdd(t *testing.T) {
	ts := &Column{Name: "ts", kind: kindTimestamp}
	i32 := &Column{Name: "i", kind: kindInt32}
	dbl := &Column{Name: "d", kind: kindDouble}
	bu := &Column{Name: "bu", DataType: "bigint", kind: kindDecimalFixed, flbaSize: 9}
	str := &Column{Name: "s", kind: kindString}
	tests := []struct {
		name     string
		col      *Column
		in       driver.Value
		wantText string
		wantNum  int64
		wantNull bool
	}{
		{"time value", ts, time.Date(2024, 1, 2, 3, 4, 5, 600_000_000, time.UTC), "2024-01-02 03:04:05.6", 0, false},
		{"zero time is a zero date", ts, time.Time{}, "", 0, true},
		{"text datetime", ts, []byte("2024-01-02 03:04:05"), "2024-01-02 03:04:05", 0, false},
		{"nil []byte is NULL", str, []byte(nil), "", 0, true},
		{"empty string is not NULL", str, []byte{}, "", 0, false},
		{"int as text column", str, int64(-7), "-7", 0, false},
		{"int64", i32, int64(-5), "", -5, false},
		{"int as text", i32, []byte("42"), "", 42, false},
		{"NULL int", i32, nil, "", 0, true},
		{"float32 widened", dbl, float32(1.5), "", int64(math.Float64bits(1.5)), false},
		{"double as text", dbl, "2.25", "", int64(math.Float64bits(2.25)), false},
		{"unsigned max", bu, uint64(math.MaxUint64), "", -1, false},
		{"unsigned as text", bu, []byte("18446744073709551615"), "", -1, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var c colData
			if _, err := c.add(tt.col, tt.in); err != nil {
				t.Fatal(err)
			}
			if c.null[0] != tt.wantNull {
				t.Fatalf("null = %v, want %v", c.null[0], tt.wantNull)
			}
			if tt.col.numeric() {
				if !tt.wantNull && c.nums[0] != tt.wantNum {
					t.Fatalf("number %d, want %d", c.nums[0], tt.wantNum)
				}
				return
			}
			if got := string(c.value(0)); got != tt.wantText {
				t.Fatalf("text %q, want %q", got, tt.wantText)
			}
		})
	}
	var c colData
	if _, err := c.add(i32, struct{}{}); err == nil {
		t.Fatal("unexpected value type accepted")
	}
}
