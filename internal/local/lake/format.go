package lake

import (
	"bytes"
	"encoding/csv"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"math/big"
	"strconv"
	"strings"
	"time"
	"unicode"

	"github.com/duckdb/duckdb-go/v2"
)

// Formats are the output formats Format accepts.
var Formats = []string{"table", "csv", "json"}

// Format writes r as "table" (aligned, like psql), "csv" (with a header row) or
// "json" (an array of objects, keys in column order).
func Format(w io.Writer, r Result, format string) error {
	var err error
	switch format {
	case "table":
		err = formatTable(w, r)
	case "csv":
		err = formatCSV(w, r)
	case "json":
		err = formatJSON(w, r)
	default:
		return fmt.Errorf("unknown output format %q: want one of %s", format, strings.Join(Formats, ", "))
	}
	if err != nil {
		return fmt.Errorf("write %s output: %w", format, err)
	}
	return nil
}

func formatTable(w io.Writer, r Result) error {
	cells := make([][]string, len(r.Rows))
	widths := make([]int, len(r.Columns))
	for i, c := range r.Columns {
		widths[i] = displayWidth(c)
	}
	for i, row := range r.Rows {
		cells[i] = make([]string, len(row))
		for j, v := range row {
			s := "NULL"
			if v != nil {
				s = strings.NewReplacer("\n", `\n`, "\r", `\r`, "\t", `\t`).Replace(text(v, typeOf(r, j)))
			}
			cells[i][j] = s
			widths[j] = max(widths[j], displayWidth(s))
		}
	}
	var b bytes.Buffer
	// Numbers align right, header included; lines carry no trailing blanks.
	line := func(vals []string) {
		var l strings.Builder
		for j, s := range vals {
			if j > 0 {
				l.WriteString(" |")
			}
			pad := strings.Repeat(" ", widths[j]-displayWidth(s))
			l.WriteByte(' ')
			if numeric(typeOf(r, j)) {
				l.WriteString(pad + s)
			} else {
				l.WriteString(s + pad)
			}
		}
		b.WriteString(strings.TrimRight(l.String(), " "))
		b.WriteByte('\n')
	}
	line(r.Columns)
	for j, wd := range widths {
		if j > 0 {
			b.WriteByte('+')
		}
		b.WriteString(strings.Repeat("-", wd+2))
	}
	b.WriteByte('\n')
	for _, row := range cells {
		line(row)
	}
	if len(r.Rows) == 1 {
		b.WriteString("(1 row)\n")
	} else {
		fmt.Fprintf(&b, "(%d rows)\n", len(r.Rows))
	}
	_, err := w.Write(b.Bytes())
	return err
}

func formatCSV(w io.Writer, r Result) error {
	cw := csv.NewWriter(w)
	if err := cw.Write(r.Columns); err != nil {
		return err
	}
	rec := make([]string, len(r.Columns))
	for _, row := range r.Rows {
		for j, v := range row {
			rec[j] = ""
			if v != nil {
				rec[j] = text(v, typeOf(r, j))
			}
		}
		if err := cw.Write(rec); err != nil {
			return err
		}
	}
	cw.Flush()
	return cw.Error()
}

func formatJSON(w io.Writer, r Result) error {
	var b bytes.Buffer
	b.WriteString("[")
	for i, row := range r.Rows {
		if i > 0 {
			b.WriteString(",")
		}
		b.WriteString("\n  {")
		for j, v := range row {
			if j > 0 {
				b.WriteString(", ")
			}
			k, err := json.Marshal(r.Columns[j])
			if err != nil {
				return err
			}
			val, err := json.Marshal(jsonValue(v, typeOf(r, j)))
			if err != nil {
				return fmt.Errorf("encode column %s of row %d: %w", r.Columns[j], i+1, err)
			}
			b.Write(k)
			b.WriteString(": ")
			b.Write(val)
		}
		b.WriteString("}")
	}
	if len(r.Rows) > 0 {
		b.WriteString("\n")
	}
	b.WriteString("]\n")
	_, err := w.Write(b.Bytes())
	return err
}

func typeOf(r Result, j int) string {
	if j < len(r.Types) {
		return r.Types[j]
	}
	return ""
}

func numeric(typ string) bool {
	switch {
	case strings.HasPrefix(typ, "DECIMAL"):
		return true
	}
	switch typ {
	case "TINYINT", "SMALLINT", "INTEGER", "BIGINT", "HUGEINT", "UTINYINT", "USMALLINT", "UINTEGER",
		"UBIGINT", "UHUGEINT", "FLOAT", "DOUBLE":
		return true
	}
	return false
}

// text renders a non-NULL value the way Athena's console shows it: decimals with their
// full scale, timestamps as "YYYY-MM-DD hh:mm:ss[.ffffff]", dates as "YYYY-MM-DD".
func text(v any, typ string) string {
	switch x := v.(type) {
	case string:
		return x
	case duckdb.Decimal:
		return decimalString(x)
	case time.Time:
		return timeString(x, typ)
	case []byte:
		return hex.EncodeToString(x)
	case float64:
		return strconv.FormatFloat(x, 'g', -1, 64)
	case float32:
		return strconv.FormatFloat(float64(x), 'g', -1, 32)
	case *big.Int:
		return x.String()
	case duckdb.UUID:
		return x.String()
	case duckdb.Interval:
		return fmt.Sprintf("%d months %d days %d us", x.Months, x.Days, x.Micros)
	case []any, map[string]any, duckdb.Map:
		b, err := json.Marshal(jsonValue(x, typ))
		if err != nil {
			return fmt.Sprint(x)
		}
		return string(b)
	default:
		return fmt.Sprint(x)
	}
}

// jsonValue keeps numbers as JSON numbers (decimals exactly, as json.Number) and
// renders everything else as text does.
func jsonValue(v any, typ string) any {
	switch x := v.(type) {
	case nil, bool, string, int8, int16, int32, int64, int, uint8, uint16, uint32, uint64:
		return x
	case float64, float32:
		return x
	case duckdb.Decimal:
		return json.Number(decimalString(x))
	case *big.Int:
		return json.Number(x.String())
	case []any:
		out := make([]any, len(x))
		for i, e := range x {
			out[i] = jsonValue(e, "")
		}
		return out
	case map[string]any:
		out := make(map[string]any, len(x))
		for k, e := range x {
			out[k] = jsonValue(e, "")
		}
		return out
	case duckdb.Map:
		out := make(map[string]any, len(x))
		for k, e := range x {
			out[fmt.Sprint(k)] = jsonValue(e, "")
		}
		return out
	default:
		return text(x, typ)
	}
}

// decimalString keeps the scale's trailing zeros (12.50, not 12.5), as Athena does.
func decimalString(d duckdb.Decimal) string {
	if d.Value == nil {
		return "0"
	}
	digits := new(big.Int).Abs(d.Value).String()
	sign := ""
	if d.Value.Sign() < 0 {
		sign = "-"
	}
	scale := int(d.Scale)
	if scale == 0 {
		return sign + digits
	}
	if len(digits) <= scale {
		digits = strings.Repeat("0", scale-len(digits)+1) + digits
	}
	return sign + digits[:len(digits)-scale] + "." + digits[len(digits)-scale:]
}

func timeString(t time.Time, typ string) string {
	switch {
	case typ == "DATE":
		return t.Format("2006-01-02")
	case strings.HasPrefix(typ, "TIME") && !strings.HasPrefix(typ, "TIMESTAMP"):
		return t.Format("15:04:05.999999")
	case strings.Contains(typ, "TIME ZONE") || typ == "TIMESTAMPTZ":
		return t.Format("2006-01-02 15:04:05.999999Z07:00")
	default:
		return t.UTC().Format("2006-01-02 15:04:05.999999")
	}
}

// displayWidth is how many terminal columns s takes: East Asian wide characters and
// most emoji take two, combining marks none.
func displayWidth(s string) int {
	w := 0
	for _, r := range s {
		switch {
		case unicode.Is(unicode.Mn, r) || r == '\u200d':
		case r >= 0x1100 && (r <= 0x115f || r == 0x2329 || r == 0x232a ||
			(r >= 0x2e80 && r <= 0xa4cf && r != 0x303f) || (r >= 0xac00 && r <= 0xd7a3) ||
			(r >= 0xf900 && r <= 0xfaff) || (r >= 0xfe30 && r <= 0xfe4f) || (r >= 0xff00 && r <= 0xff60) ||
			(r >= 0xffe0 && r <= 0xffe6) || (r >= 0x1f300 && r <= 0x1f64f) || (r >= 0x1f900 && r <= 0x1f9ff) ||
			(r >= 0x20000 && r <= 0x3fffd)):
			w += 2
		default:
			w++
		}
	}
	return w
}
