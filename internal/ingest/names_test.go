package ingest

import (
	"maps"
	"regexp"
	"slices"
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
