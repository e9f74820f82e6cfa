package ingest

import (
	"math/big"
	"slices"
	"strings"
	"testing"
)

func bounds(min, max string) (*string, *string) { return &min, &max }

// rangeOf returns the index of the range holding key k (nil: NULL), and how many
// ranges hold it: exactly one, for every key, is what the split promises.
func rangeOf(ranges []KeyRange, k *big.Int) (int, int) {
	at, n := -1, 0
	for i, r := range ranges {
		in := false
		if k == nil {
			in = r.Nulls
		} else {
			in = true
			if r.From != nil {
				f, _ := new(big.Int).SetString(*r.From, 10)
				in = in && k.Cmp(f) >= 0
			}
			if r.To != nil {
				to, _ := new(big.Int).SetString(*r.To, 10)
				in = in && k.Cmp(to) < 0
			}
		}
		if in {
			at, n = i, n+1
		}
	}
	return at, n
}

func TestSplitTable(t *testing.T) {
	id := func(dataType string, nullable bool) Table {
		return Table{Name: "t", Columns: []Column{{Name: "id", DataType: dataType, Nullable: nullable}, col("v", "varchar")}, PrimaryKey: []string{"id"}}
	}
	big1 := id("bigint", false)
	big1.EstimatedRows = 10_000
	big1.KeyMin, big1.KeyMax = bounds("1", "10000")
	s := splitTable(&big1, 2500, "", nil)
	if s.column == nil || s.column.Name != "id" || len(s.ranges) != 4 {
		t.Fatalf("10000 rows by 2500: %+v", s)
	}
	var got []string
	for _, r := range s.ranges {
		got = append(got, r.Where("`id`"))
	}
	want := []string{"`id` < 2501", "`id` >= 2501 AND `id` < 5001", "`id` >= 5001 AND `id` < 7501", "`id` >= 7501"}
	if !slices.Equal(got, want) {
		t.Errorf("ranges %q, want %q", got, want)
	}
	if !strings.HasPrefix(s.why, "4 ranges of id, 2500 wide, about 2500 rows each") {
		t.Errorf("why %q", s.why)
	}

	// Every key, inside the bounds or outside them (rows inserted since discovery),
	// is in exactly one range; NULL is in the first when the key can be NULL.
	nullable := id("bigint", true)
	nullable.EstimatedRows = 1_000_000
	nullable.KeyMin, nullable.KeyMax = bounds("-9223372036854775808", "18446744073709551615")
	s = splitTable(&nullable, 1000, "", nil)
	if len(s.ranges) != MaxRanges || !s.ranges[0].Nulls || slices.ContainsFunc(s.ranges[1:], func(r KeyRange) bool { return r.Nulls }) {
		t.Fatalf("a nullable key over the whole BIGINT domain: %d ranges, first %+v", len(s.ranges), s.ranges[0])
	}
	if w := s.ranges[0].Where("`id`"); !strings.HasSuffix(w, " OR `id` IS NULL)") {
		t.Errorf("the first range of a nullable key: %s", w)
	}
	for _, k := range []string{"-99999999999999999999", "-9223372036854775808", "0", "1", "18446744073709551615", "99999999999999999999"} {
		v, _ := new(big.Int).SetString(k, 10)
		if _, n := rangeOf(s.ranges, v); n != 1 {
			t.Errorf("key %s is in %d ranges", k, n)
		}
		for _, r := range s.ranges {
			if r.From != nil {
				b, _ := new(big.Int).SetString(*r.From, 10)
				for _, d := range []int64{-1, 0, 1} {
					if _, n := rangeOf(s.ranges, new(big.Int).Add(b, big.NewInt(d))); n != 1 {
						t.Fatalf("key %s%+d is in %d ranges", *r.From, d, n)
					}
				}
			}
		}
	}
	if at, n := rangeOf(s.ranges, nil); at != 0 || n != 1 {
		t.Errorf("NULL is in range %d of %d ranges", at, n)
	}

	// An incremental load by the key itself splits only the keys above the watermark.
	s = splitTable(&big1, 2500, "id", ptr("9000"))
	if len(s.ranges) != 0 || !strings.Contains(s.why, "keys above the watermark") {
		t.Errorf("1000 new rows by 2500: %+v", s)
	}
	s = splitTable(&big1, 1000, "ID", ptr("5000"))
	if len(s.ranges) != 5 || *s.ranges[0].To != "6001" || *s.ranges[4].From != "9001" {
		t.Errorf("5000 new rows by 1000: %+v", s)
	}
	// ... but by another column, the whole key domain.
	if s = splitTable(&big1, 1000, "updated_at", ptr("2026-03-01 00:00:00")); len(s.ranges) != 10 {
		t.Errorf("by updated_at: %d ranges, want 10", len(s.ranges))
	}
	// Fewer keys than ranges: no empty range.
	dense := big1
	dense.KeyMin, dense.KeyMax = bounds("1", "3")
	if s = splitTable(&dense, 1000, "", nil); len(s.ranges) != 3 {
		t.Errorf("3 keys: %d ranges", len(s.ranges))
	}

	for _, c := range []struct {
		table Table
		why   string
	}{
		{Table{Name: "u", Columns: []Column{col("id", "char")}, PrimaryKey: []string{"id"}, EstimatedRows: 1e7}, "one range: the primary key id is char, not an integer"},
		{Table{Name: "c", Columns: []Column{col("code", "varchar"), col("n", "int")}, PrimaryKey: []string{"code", "n"}, EstimatedRows: 1e7}, "one range: the primary key (code, n) starts with code, which is varchar, not an integer"},
		{Table{Name: "h", Columns: []Column{col("a", "int")}, EstimatedRows: 1e7}, "one range: no primary key and no AUTO_INCREMENT column"},
		{Table{Name: "s", Columns: []Column{col("id", "int")}, PrimaryKey: []string{"id"}, EstimatedRows: 500}, "one range: about 500 rows"},
	} {
		if s := splitTable(&c.table, 1000, "", nil); len(s.ranges) != 0 || !strings.HasPrefix(s.why, c.why) {
			t.Errorf("%s: %+v, want %q", c.table.Name, s, c.why)
		}
	}
	// A composite key starting with an integer is split by that column; a table
	// keyed by a string but with an AUTO_INCREMENT column, by that column.
	comp := Table{Name: "c", Columns: []Column{col("order_id", "bigint"), col("line", "int")}, PrimaryKey: []string{"order_id", "line"}, EstimatedRows: 4000}
	comp.KeyMin, comp.KeyMax = bounds("1", "1000")
	if s := splitTable(&comp, 1000, "", nil); s.column == nil || s.column.Name != "order_id" || len(s.ranges) != 4 {
		t.Errorf("composite (order_id, line): %+v", s)
	}
	ai := Table{Name: "a", Columns: []Column{col("code", "varchar"), col("seq", "int")}, PrimaryKey: []string{"code"}, AutoIncrement: "seq", EstimatedRows: 4000}
	if k, _ := ai.RangeKey(); k == nil || k.Name != "seq" {
		t.Errorf("string key with AUTO_INCREMENT seq: range key %v", k)
	}
}

// The plan carries the split, with rowsPerRange from the table, the defaults or
// DefaultRowsPerRange; the job plan carries it on, with the file bound.
func TestPlanSplitsLargeTables(t *testing.T) {
	tables := shop()
	for i := range tables {
		if tables[i].Name == "orders" {
			tables[i].EstimatedRows = 5_000_000
			tables[i].KeyMin, tables[i].KeyMax = bounds("1", "5000000")
		}
	}
	p := plan(t, shopConfig(), SetDaily, "2026-03-30T00:00:00Z", tables, State{})
	if o := planned(p)["orders"]; o.RangeColumn != "id" || len(o.Ranges) != 5 {
		t.Errorf("orders by the default %d rows: %q, %d ranges (%s)", DefaultRowsPerRange, o.RangeColumn, len(o.Ranges), o.Split)
	}
	if c := planned(p)["customer"]; c.RangeColumn != "" || len(c.Ranges) != 0 || c.Split == "" {
		t.Errorf("customer: %+v", c)
	}
	c := shopConfig()
	c.Defaults.RowsPerRange = 2_000_000
	c.Tables = map[string]TableConfig{"orders": {RowsPerRange: 500_000}}
	p = plan(t, c, SetDaily, "2026-03-30T00:00:00Z", tables, State{})
	if o := planned(p)["orders"]; len(o.Ranges) != 10 {
		t.Errorf("orders by its own 500000 rows: %d ranges", len(o.Ranges))
	}
	j := p.Job("20260330T000000Z-daily", "lake")
	for _, jt := range j.Tables {
		if jt.Source == "orders" && (jt.RangeColumn != "id" || len(jt.Ranges) != 10) {
			t.Errorf("job table orders: %q, %d ranges", jt.RangeColumn, len(jt.Ranges))
		}
	}
	if j.RowsPerFile != RowsPerFile {
		t.Errorf("job rowsPerFile %d", j.RowsPerFile)
	}
	c.Tables = map[string]TableConfig{"orders": {RowsPerRange: 10}}
	if _, err := PlanRun(c, SetDaily, utc("2026-03-30T00:00:00Z"), tables, State{}); err == nil || !strings.Contains(err.Error(), "ingest.tables.orders.rowsPerRange: 10 is below 1000") {
		t.Errorf("rowsPerRange 10: %v", err)
	}
}
