package ingest

import (
	"errors"
	"maps"
	"regexp"
	"slices"
	"strings"
	"testing"
)

var lakeName = regexp.MustCompile(`^[a-z][a-z0-9_]*$`)

func TestNormalizeName(t *testing.T) {
	for in, want := range map[string]string{
		"customer":         "customer",
		"customer_address": "customer_address",
		"Order-Items":      "order_items",
		"CustomerOrders":   "customerorders",
		"2024_sales":       "t_2024_sales",
		"_staging":         "t__staging",
		"data.v2":          "data_v2",
		"with space":       "with_space",
		"café":             "caf_",
		"Größe":            "gr__e",
		"顧客":               "t___",
		"select":           "select",
		"order":            "order",
	} {
		got := NormalizeName(in)
		if got != want {
			t.Errorf("NormalizeName(%q) = %q, want %q", in, got, want)
		}
		if !lakeName.MatchString(got) {
			t.Errorf("NormalizeName(%q) = %q, not a Glue/Athena name", in, got)
		}
	}
}

func TestLakeNames(t *testing.T) {
	sources := []string{"customer", "customer_address", "customer-address", "Customer", "Order-Items", "café", "cafè", "select", "2024"}
	got, err := LakeNames(sources, nil)
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]string{
		"customer":         "customer",
		"customer_address": "customer_address",
		"customer-address": "customer_address_" + nameHash("customer-address", 8),
		"Customer":         "customer_" + nameHash("Customer", 8),
		"Order-Items":      "order_items",
		"café":             "caf__" + nameHash("café", 8),
		"cafè":             "caf__" + nameHash("cafè", 8),
		"select":           "select",
		"2024":             "t_2024",
	}
	if !maps.Equal(got, want) {
		t.Errorf("LakeNames = %v\nwant %v", got, want)
	}
	seen := map[string]string{}
	for s, n := range got {
		if prev, dup := seen[n]; dup {
			t.Errorf("%q and %q share lake name %q", prev, s, n)
		}
		seen[n] = s
		if !lakeName.MatchString(n) {
			t.Errorf("%q -> %q is not a Glue/Athena name", s, n)
		}
	}

	// The order of discovery does not matter.
	reversed := slices.Clone(sources)
	slices.Reverse(reversed)
	again, _ := LakeNames(reversed, nil)
	if !maps.Equal(again, got) {
		t.Errorf("reversed input gives %v", again)
	}

	// A table that appears later never takes a name the lake already uses: with the
	// state's names kept, "Order-Items" keeps order_items and the newcomer is suffixed.
	kept := map[string]string{"Order-Items": "order_items"}
	later, err := LakeNames(append(slices.Clone(sources), "order_items"), kept)
	if err != nil {
		t.Fatal(err)
	}
	if later["Order-Items"] != "order_items" || later["order_items"] != "order_items_"+nameHash("order_items", 8) {
		t.Errorf("with kept names: Order-Items -> %q, order_items -> %q", later["Order-Items"], later["order_items"])
	}

	// A corrupt state that gives two tables one name is refused.
	if _, err := LakeNames([]string{"a", "b"}, map[string]string{"a": "x", "b": "x"}); err == nil {
		t.Error("two tables with one kept name: no error")
	}
}

// Item 14 of issue 12: ingested column names went into Parquet unchanged while table
// names were normalized. Columns now take the same mapping, and the plan shows it.
func TestPlanNormalizesColumnNames(t *testing.T) {
	odd := Table{Name: "Odd Names", Columns: []Column{
		col("id", "bigint"), col("order date", "datetime"), col("x.y", "int"), col("a,b", "varchar"),
		col("naïve", "varchar"), col("CamelCase", "int"), col("2fa", "tinyint"),
	}, PrimaryKey: []string{"id"}, AutoIncrement: "id"}
	p := plan(t, shopConfig(), SetDaily, "2026-03-30T00:00:00Z", append(shop(), odd), State{})
	pt := planned(p)["Odd Names"]
	want := []ColumnName{{"id", "id"}, {"order date", "order_date"}, {"x.y", "x_y"}, {"a,b", "a_b"},
		{"naïve", "na_ve"}, {"CamelCase", "camelcase"}, {"2fa", "t_2fa"}}
	if !slices.Equal(pt.Columns, want) {
		t.Errorf("columns of %q: %v, want %v", odd.Name, pt.Columns, want)
	}
	for _, c := range pt.Columns {
		if c.Lake != NormalizeName(c.Source) || !lakeName.MatchString(c.Lake) {
			t.Errorf("column %q -> %q: not NormalizeName's Athena name", c.Source, c.Lake)
		}
	}
	// The job reads exactly the plan's mapping.
	for _, jt := range p.Job("20260330T000000Z-daily", "lake").Tables {
		if jt.Source == odd.Name && !slices.Equal(jt.Columns, want) {
			t.Errorf("job table columns %v, want %v", jt.Columns, want)
		}
	}
}

// Two columns that normalize to one name are refused, naming both: one would hide
// the other in Athena.
func TestPlanRefusesColumnCollisions(t *testing.T) {
	clash := Table{Name: "clash", Columns: []Column{col("id", "bigint"), col("Order Date", "date"), col("order_date", "date")}, PrimaryKey: []string{"id"}, AutoIncrement: "id"}
	_, err := PlanRun(shopConfig(), SetDaily, utc("2026-03-30T00:00:00Z"), append(shop(), clash), State{})
	var ce *ColumnCollisionError
	if !errors.As(err, &ce) || ce.Table != "clash" || ce.Columns != [2]string{"Order Date", "order_date"} || ce.Name != "order_date" {
		t.Fatalf("PlanRun = %v, want a *ColumnCollisionError naming clash, \"Order Date\" and \"order_date\"", err)
	}
	for _, s := range []string{`"Order Date"`, `"order_date"`, `"clash"`} {
		if !strings.Contains(err.Error(), s) {
			t.Errorf("%q does not name %s", err, s)
		}
	}
	// A set that does not load the table is not refused for it.
	if _, err := PlanRun(shopConfig(), SetFrequent, utc("2026-03-30T10:00:00Z"), append(shop(), clash), State{}); err != nil {
		t.Errorf("frequent (without clash): %v", err)
	}
}
