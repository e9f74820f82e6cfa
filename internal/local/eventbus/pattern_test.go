package eventbus

import (
	"encoding/json"
	"errors"
	"testing"
)

// The cases are the EventBridge UG's examples ("Comparison operators for use in
// event patterns": suffix ".png", wildcard "Simple*Service" from event-ruler's
// README) and the Federator's manifest key pattern.
func TestSuffixAndWildcardMatchAsEventBridge(t *testing.T) {
	tests := []struct {
		name    string
		pattern string
		value   string
		want    bool
	}{
		{"suffix matches the end", `[{"suffix": ".png"}]`, "photos/cat.png", true},
		{"suffix elsewhere is not the end", `[{"suffix": ".png"}]`, "photos/cat.png.txt", false},
		{"suffix is case sensitive", `[{"suffix": ".png"}]`, "cat.PNG", false},
		{"suffix equal to the value", `[{"suffix": ".png"}]`, ".png", true},
		{"wildcard in the middle", `[{"wildcard": "Simple*Service"}]`, "SimpleQueueService", true},
		{"wildcard matches zero characters", `[{"wildcard": "Simple*Service"}]`, "SimpleService", true},
		{"wildcard is case sensitive", `[{"wildcard": "Simple*Service"}]`, "simpleQueueService", false},
		{"wildcard without * is equality", `[{"wildcard": "abc"}]`, "abcd", false},
		{"several wildcards", `[{"wildcard": "*/lib/*"}]`, "usr/lib/x.so", true},
		{"manifest of a version", `[{"wildcard": "federator/*/manifest.json"}]`, "federator/sales/orders/20261120T101700.000000Z_full_rows=1_ins=none_upd=none/manifest.json", true},
		{"* crosses /", `[{"wildcard": "federator/*/manifest.json"}]`, "federator/a/manifest.json/b/manifest.json", true},
		{"UNLOAD's own manifest", `[{"wildcard": "federator/*/manifest.json"}]`, "federator/sales/orders/v/manifest", false},
		{"UNLOAD's parts", `[{"wildcard": "federator/*/manifest.json"}]`, "federator/sales/orders/v/0000_part_00.parquet", false},
		{"a COPY manifest", `[{"wildcard": "federator/*/manifest.json"}]`, "federator/sales/orders/v/copy-manifest-sales.orders-0123.json", false},
		{"outside the prefix", `[{"wildcard": "federator/*/manifest.json"}]`, "exports/federator/x/manifest.json", false},
		{"prefix and wildcard need their slash", `[{"wildcard": "federator/*/manifest.json"}]`, "federator/manifest.json", false},
		{"prefix still works", `[{"prefix": "federator/"}]`, "federator/x", true},
		{"one of the values", `["exact", {"suffix": ".json"}]`, "a.json", true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			m, err := NewMatcher()
			if err != nil {
				t.Fatal(err)
			}
			if err := m.Add("r", []byte(`{"detail":{"key":`+tc.pattern+`}}`)); err != nil {
				t.Fatal(err)
			}
			ev, _ := json.Marshal(map[string]any{"detail": map[string]any{"key": tc.value}})
			got, err := m.Match(ev)
			if err != nil {
				t.Fatal(err)
			}
			if (len(got) == 1) != tc.want {
				t.Errorf("%s against %q: matched %v, want %v", tc.pattern, tc.value, got, tc.want)
			}
		})
	}
}

func TestPatternsEventBridgeRefusesOrTheBusCannotMatch(t *testing.T) {
	tests := []struct {
		pattern     string
		invalid     bool // EventBridge refuses it
		unsupported bool // valid, but not matched offline
	}{
		{pattern: `[{"wildcard": "a**b"}]`, invalid: true},
		{pattern: `[{"wildcard": "a\\db"}]`, invalid: true},
		{pattern: `[{"wildcard": 3}]`, invalid: true},
		{pattern: `[{"wildcard": "a\\*b"}]`, unsupported: true},
		{pattern: `[{"suffix": "a*b"}]`, unsupported: true},
		{pattern: `[{"suffix": {"equals-ignore-case": ".png"}}]`, unsupported: true},
		{pattern: `[{"anything-but": {"suffix": ".png"}}]`, unsupported: true},
		{pattern: `[{"anything-but": {"wildcard": "*/lib/*"}}]`, unsupported: true},
	}
	for _, tc := range tests {
		m, _ := NewMatcher()
		err := m.Add("r", []byte(`{"detail":{"key":`+tc.pattern+`}}`))
		var inv *InvalidPatternError
		var uns *UnsupportedPatternError
		if errors.As(err, &inv) != tc.invalid || errors.As(err, &uns) != tc.unsupported {
			t.Errorf("%s: error %v, want invalid=%v unsupported=%v", tc.pattern, err, tc.invalid, tc.unsupported)
		}
	}
}
