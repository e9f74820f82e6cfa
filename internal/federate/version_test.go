package federate

import (
	"encoding/json"
	"errors"
	"flag"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/snaplake/snaplake/events"
	"github.com/snaplake/snaplake/internal/deploy"
	"github.com/snaplake/snaplake/internal/federate/redshift"
	"github.com/snaplake/snaplake/internal/local/eventbus"
)

var update = flag.Bool("update", false, "rewrite the golden files")

func TestVersionNames(t *testing.T) {
	ins := time.Date(2026, 12, 3, 10, 15, 0, 123456000, time.UTC)
	v := Version{Published: time.Date(2026, 12, 3, 10, 17, 0, 0, time.UTC), Kind: KindFull, Rows: 1234, Inserted: &ins}
	name := v.Name()
	if name != "20261203T101700.000000Z_full_rows=1234_ins=20261203T101500.123456Z_upd=none" {
		t.Fatalf("name %s", name)
	}
	back, err := ParseVersion("s.t", name)
	if err != nil || back.Name() != name || !back.Matches(redshift.Stats{Rows: 1234, MaxInserted: &ins}) {
		t.Fatalf("parse %s: %+v %v", name, back, err)
	}
	later := ins.Add(time.Microsecond)
	for _, s := range []redshift.Stats{{Rows: 1235, MaxInserted: &ins}, {Rows: 1234, MaxInserted: &later}, {Rows: 1234, MaxInserted: &ins, MaxUpdated: &ins}, {Rows: 1234}} {
		if back.Matches(s) {
			t.Errorf("%s matches %+v", name, s)
		}
	}
	for _, bad := range []string{"v1", "20261203T101700Z_full_rows=1_ins=none_upd=none", "20261203T101700.000000Z_full_rows=-1_ins=none_upd=none",
		"20261203T101700.000000Z_delta_rows=1_ins=none_upd=none", "20261303T101700.000000Z_full_rows=1_ins=none_upd=none", name + "x"} {
		var vne *VersionNameError
		if _, err := ParseVersion("s.t", bad); !errors.As(err, &vne) || !strings.Contains(err.Error(), bad) {
			t.Errorf("ParseVersion(%q) = %v, want a *VersionNameError naming it", bad, err)
		}
	}
	// Names sort by publication time.
	early := Version{Published: v.Published.Add(-time.Hour), Kind: KindAppend, Rows: 99999999}
	if !(early.Name() < name) {
		t.Errorf("%s does not sort before %s", early.Name(), name)
	}
}

func TestSubscriberSQL(t *testing.T) {
	at := time.Date(2026, 12, 3, 10, 20, 0, 0, time.UTC)
	cols := []redshift.Column{{Name: "id", Type: "bigint"}, {Name: `we"ird`, Type: "character varying(256)", Nullable: true}, {Name: "amount", Type: "numeric(12,2)", Nullable: true}}
	changed := append(append([]redshift.Column{}, cols...), redshift.Column{Name: "note", Type: "character varying(100)", Nullable: true})
	changed[1].Type = "character varying(512)"
	var b strings.Builder
	for _, part := range []struct {
		title string
		sql   []string
	}{
		{"control table", ControlSQL()},
		{"loaded version", []string{LoadedSQL("sales", "fact's")}},
		{"schema of a table the subscriber does not have", []string{CreateSchemaSQL("sales")}},
		{"staging of a table the subscriber does not have: the version's definition", StagingDefinedSQL("sales", "fact_orders", cols)},
		{"swap in a full version that creates the table", SwapChangeSQL("sales", "fact_orders", KindFull, "20261203T101700.000000Z_full_rows=3_ins=none_upd=none", "", 3, at, Change{Create: true})},
		{"staging", StagingSQL("sales", "fact_orders")},
		{"swap in a full version", SwapSQL("sales", "fact_orders", KindFull, "20261203T101700.000000Z_full_rows=3_ins=none_upd=none", "", 3, at)},
		{"swap in an append version", SwapSQL("sales", "fact_orders", KindAppend, "20261203T101800.000000Z_append_rows=5_ins=none_upd=none", "20261203T101700.000000Z_full_rows=3_ins=none_upd=none", 2, at)},
		{"staging of a changed definition", StagingDefinedSQL("sales", "fact_orders", changed)},
		{"widen a VARCHAR, alone, before the swap", []string{WidenSQL("sales", "fact_orders", changed[1])}},
		{"swap in a full version that adds a column", SwapChangeSQL("sales", "fact_orders", KindFull, "20261203T101900.000000Z_full_rows=3_ins=none_upd=none", "20261203T101800.000000Z_append_rows=5_ins=none_upd=none", 3, at, Change{Add: changed[3:]})},
		{"swap in a full version that rebuilds the table", SwapChangeSQL("sales", "fact_orders", KindFull, "20261203T102000.000000Z_full_rows=3_ins=none_upd=none", "20261203T101900.000000Z_full_rows=3_ins=none_upd=none", 3, at, Change{Rebuild: true})},
	} {
		b.WriteString("-- " + part.title + "\n" + strings.Join(part.sql, ";\n") + ";\n\n")
	}
	golden(t, "testdata/subscriber.sql", b.String())
	if got := LoadedSQL("sales", "fact's"); !strings.Contains(got, "'fact''s'") {
		t.Errorf("a quote in a table name is not escaped: %s", got)
	}
}

func golden(t *testing.T, path, got string) {
	t.Helper()
	if *update {
		if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(path, []byte(got), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run go test -update)", err)
	}
	if string(want) != got {
		t.Errorf("%s differs:\n--- want\n%s--- got\n%s", path, want, got)
	}
}

func TestManifestTableIgnoresOtherKeys(t *testing.T) {
	v := "20261120T101700.000000Z_full_rows=1234_ins=20261120T101500.123456Z_upd=none"
	tests := []struct {
		key  string
		want string
	}{
		{ManifestKey("sales.orders", v), "sales.orders"},
		// S3 URL-encodes keys in its notifications; whether EventBridge's detail does
		// is unconfirmed, so both are taken.
		{"federator/sales/orders/20261120T101700.000000Z_full_rows%3D1234_ins%3D20261120T101500.123456Z_upd%3Dnone/manifest.json", "sales.orders"},
		{VersionDir("sales.orders", v) + "manifest", ""},
		{VersionDir("sales.orders", v) + "0000_part_00.parquet", ""},
		{VersionDir("sales.orders", v) + "copy-manifest-sales.orders-0123456789abcdef.json", ""},
		{"federator/.statements/sales.orders/subscribers/manifest.json", ""},
		{"federator/.leases/tables/manifest.json", ""},
		{"federator/sales/orders/not-a-version/manifest.json", ""},
		{"federator/sales/orders/x/" + v + "/manifest.json", ""},
		{"exports/sales/orders/" + v + "/manifest.json", ""},
	}
	for _, tc := range tests {
		got, ok := ManifestTable(tc.key)
		if got != tc.want || ok != (tc.want != "") {
			t.Errorf("ManifestTable(%q) = %q, %v; want %q", tc.key, got, ok, tc.want)
		}
	}
}

// The deployed rule (events.FederateManifestCreated) and the key layout agree: the
// rule matches exactly the keys ManifestTable takes, among what a publish writes.
func TestManifestRuleMatchesTheKeyLayout(t *testing.T) {
	pattern, err := events.PatternJSON(events.FederateManifestCreated, events.Params{LakeBucket: "lake"}.Vars())
	if err != nil {
		t.Fatal(err)
	}
	m, err := eventbus.NewMatcher()
	if err != nil {
		t.Fatal(err)
	}
	if err := m.Add("rule", pattern); err != nil {
		t.Fatal(err)
	}
	v := Version{Published: time.Date(2026, 12, 3, 10, 17, 0, 0, time.UTC), Kind: KindAppend, Rows: 7}.Name()
	for _, key := range []string{
		ManifestKey("sales.fact", v), VersionDir("sales.fact", v) + "manifest", VersionDir("sales.fact", v) + "0000_part_00.parquet",
		deploy.FederatePublishStatementKey("sales.fact"), deploy.FederatePublishLeaseKey("sales.fact"),
	} {
		ev := events.NewS3ObjectCreatedEvent("id", "000000000000", "us-east-1", time.Now(), events.S3ObjectCreatedDetail{
			Bucket: events.S3Bucket{Name: "lake"}, Object: events.S3Object{Key: key, Size: 1, ETag: "e"}, Reason: "PutObject"})
		b, _ := json.Marshal(ev)
		got, err := m.Match(b)
		if err != nil {
			t.Fatal(err)
		}
		_, takes := ManifestTable(key)
		if (len(got) == 1) != takes {
			t.Errorf("%s: the rule matched %v, ManifestTable takes it: %v", key, got, takes)
		}
	}
}
