package ingest

import (
	"encoding/json"
	"slices"
	"strings"
	"testing"
	"time"
)

func col(name, dataType string) Column {
	return Column{Name: name, DataType: dataType, ColumnType: dataType}
}

// shop is a source database as discovery would return it.
func shop() []Table {
	ai := func(name string, more ...Column) Table {
		return Table{Name: name, Columns: append([]Column{col("id", "bigint")}, more...), PrimaryKey: []string{"id"}, AutoIncrement: "id"}
	}
	return []Table{
		ai("customer", col("name", "varchar")),
		ai("customer_address", col("customer_id", "bigint")),
		{Name: "customer-address", Columns: []Column{col("id", "int")}, PrimaryKey: []string{"id"}},
		ai("orders", col("total", "decimal"), col("updated_at", "datetime")),
		ai("order_items", col("order_id", "bigint")),
		{Name: "no_key", Columns: []Column{col("a", "varchar"), col("b", "int")}},
		{Name: "touched", Columns: []Column{col("code", "varchar"), col("updated_at", "timestamp")}, PrimaryKey: []string{"code"}},
		ai("events", col("payload", "json")),
	}
}

func shopConfig() Config {
	return Config{
		Source:   Source{Instance: "shop-db", Database: "shop"},
		TimeZone: "Europe/Berlin",
		Sets:     map[string]Set{SetFrequent: {Tables: []string{"orders", "order_items"}}},
	}
}

func ptr(s string) *string { return &s }

func plan(t *testing.T, c Config, set, at string, tables []Table, state State) Plan {
	t.Helper()
	p, err := PlanRun(c, set, utc(at), tables, state)
	if err != nil {
		t.Fatalf("PlanRun(%s at %s): %v", set, at, err)
	}
	return p
}

func planned(p Plan) map[string]PlannedTable {
	m := map[string]PlannedTable{}
	for _, pt := range p.Tables {
		m[pt.Source] = pt
	}
	return m
}

func sources(p Plan) []string {
	var s []string
	for _, pt := range p.Tables {
		s = append(s, pt.Source)
	}
	return s
}

func TestPlanRunDaily(t *testing.T) {
	p := plan(t, shopConfig(), SetDaily, "2026-03-30T00:00:00Z", shop(), State{}).InBucket("lake")
	if !p.Due || p.TimeZone != "Europe/Berlin" || p.At.Format(time.RFC3339) != "2026-03-30T02:00:00+02:00" {
		t.Errorf("due %v at %s in %s, want due at 02:00 CEST", p.Due, p.At.Format(time.RFC3339), p.TimeZone)
	}
	if p.Schedule.Expression != "cron(0 2-3 * * ? *)" || !p.NextRun.Equal(utc("2026-03-31T00:00:00Z")) {
		t.Errorf("schedule %+v, next run %s", p.Schedule, p.NextRun)
	}
	want := []string{"customer", "customer-address", "customer_address", "events", "no_key", "order_items", "orders", "touched"}
	if got := sources(p); !slices.Equal(got, want) {
		t.Errorf("daily loads %v, want every table %v", got, want)
	}
	m := planned(p)
	if o := m["orders"]; o.Mode != ModeIncremental || o.Column != "id" || o.From != nil || !o.Replace ||
		o.Lake != "orders" || o.Destination != "raw/shop/orders/" || o.CrawlerTarget != "s3://lake/raw/shop/orders/" {
		t.Errorf("orders: %+v", o)
	}
	if n := m["no_key"]; n.Mode != ModeFull || n.Column != "" || !n.Replace || n.Reason != "full reload: no AUTO_INCREMENT column" {
		t.Errorf("no_key (no monotonic column): %+v", n)
	}
	if tc := m["touched"]; tc.Mode != ModeFull || !strings.Contains(tc.Reason, "updated_at is not chosen by itself, as it is not strictly monotonic") {
		t.Errorf("touched (updated_at only): %+v", tc)
	}
	if ca := m["customer-address"]; ca.Lake != "customer_address_"+nameHash("customer-address", 8) || p.Renamed["customer-address"] != ca.Lake || len(p.Renamed) != 1 {
		t.Errorf("customer-address -> %q, renamed %v", ca.Lake, p.Renamed)
	}
}

// TestCrawlerTargetsAreExact: customer must not catch customer_address, nor
// customer_address the table normalized next to it.
func TestCrawlerTargetsAreExact(t *testing.T) {
	p := plan(t, shopConfig(), SetDaily, "2026-03-30T00:00:00Z", shop(), State{}).InBucket("lake")
	incremental := 0
	for _, pt := range p.Tables {
		if pt.Mode == ModeIncremental {
			incremental++
		} else if pt.CrawlerTarget != "" {
			t.Errorf("%s is reloaded whole, and has crawler target %s: its catalog entry is switched, not crawled", pt.Source, pt.CrawlerTarget)
		}
	}
	if incremental == 0 || len(p.CrawlerTargets) != incremental {
		t.Fatalf("%d crawler targets for %d incremental tables", len(p.CrawlerTargets), incremental)
	}
	for i, a := range p.CrawlerTargets {
		if !strings.HasSuffix(a, "/") || strings.ContainsAny(a, "%*?[") {
			t.Errorf("target %q is not an exact folder", a)
		}
		for j, b := range p.CrawlerTargets {
			if i != j && strings.HasPrefix(b, a) {
				t.Errorf("target %q also covers %q", a, b)
			}
		}
	}
	for _, want := range []string{"s3://lake/raw/shop/customer/", "s3://lake/raw/shop/customer_address/"} {
		if !slices.Contains(p.CrawlerTargets, want) {
			t.Errorf("crawler targets %v lack %s", p.CrawlerTargets, want)
		}
	}
	// The frequent set's crawler crawls its two tables, nothing else.
	f := plan(t, shopConfig(), SetFrequent, "2026-03-30T08:00:00Z", shop(), State{}).InBucket("lake")
	if want := []string{"s3://lake/raw/shop/order_items/", "s3://lake/raw/shop/orders/"}; !slices.Equal(f.CrawlerTargets, want) {
		t.Errorf("frequent targets %v, want %v", f.CrawlerTargets, want)
	}
}

// TestOneWatermarkPerTable: orders is in both sets. The two sets read the same
// watermark, so they never load the same rows twice.
func TestOneWatermarkPerTable(t *testing.T) {
	c := shopConfig()
	state := State{Tables: map[string]TableState{"orders": {Column: "id", Watermark: ptr("100")}}}
	at := "2026-03-30T06:00:00Z" // 08:00 CEST: frequent is due; daily is not, its plan is the same
	d := planned(plan(t, c, SetDaily, at, shop(), state))["orders"]
	f := planned(plan(t, c, SetFrequent, at, shop(), state))["orders"]
	if d.From == nil || f.From == nil || *d.From != "100" || *f.From != "100" || d.Replace || f.Replace {
		t.Fatalf("same instant, same state: daily from %v, frequent from %v; want both from 100, appending", d.From, f.From)
	}

	// The frequent run records 250; the next daily run starts there, and vice versa.
	state.Tables["orders"] = TableState{Column: "id", Watermark: ptr("250")}
	if d := planned(plan(t, c, SetDaily, "2026-03-31T00:00:00Z", shop(), state))["orders"]; *d.From != "250" {
		t.Errorf("daily after the frequent run: from %s, want 250", *d.From)
	}
	state.Tables["orders"] = TableState{Column: "id", Watermark: ptr("400")}
	if f := planned(plan(t, c, SetFrequent, "2026-03-31T06:00:00Z", shop(), state))["orders"]; *f.From != "400" {
		t.Errorf("frequent after the daily run: from %s, want 400", *f.From)
	}

	// While the daily run loads orders, the frequent run skips it and says so.
	state.Tables["orders"] = TableState{Column: "id", Watermark: ptr("400"), LoadingBy: "daily-2026-03-31", LoadingSince: utc("2026-03-31T00:00:05Z")}
	p := plan(t, c, SetFrequent, "2026-03-31T06:00:00Z", shop(), state)
	if got := sources(p); !slices.Equal(got, []string{"order_items"}) {
		t.Errorf("frequent loads %v while orders is being loaded, want [order_items]", got)
	}
	if len(p.Skipped) != 1 || p.Skipped[0].Source != "orders" ||
		p.Skipped[0].Reason != "being loaded by run daily-2026-03-31 since 2026-03-31T00:00:05Z: a table is never loaded by two runs at once" {
		t.Errorf("skipped %+v", p.Skipped)
	}
}

func TestNewAndDroppedTables(t *testing.T) {
	c := shopConfig()
	state := State{Tables: map[string]TableState{"legacy": {Column: "id", Watermark: ptr("7")}}}

	// A new table loads in the next daily run with no change to the config, and
	// not in the frequent run, which lists its tables.
	tables := append(shop(), Table{Name: "refunds", Columns: []Column{col("id", "bigint")}, AutoIncrement: "id"})
	d := plan(t, c, SetDaily, "2026-03-30T00:00:00Z", tables, state)
	if r, ok := planned(d)["refunds"]; !ok || r.Mode != ModeIncremental || r.From != nil {
		t.Errorf("new table in the daily plan: %+v (found %v)", r, ok)
	}
	if _, ok := planned(plan(t, c, SetFrequent, "2026-03-30T06:00:00Z", tables, state))["refunds"]; ok {
		t.Error("the new table is in the frequent plan")
	}
	// A dropped table leaves the plan, and the plan says the lake still has it.
	if _, ok := planned(d)["legacy"]; ok || !slices.Equal(d.Dropped, []string{"legacy"}) {
		t.Errorf("dropped table: planned %v, dropped %v", sources(d), d.Dropped)
	}
	// A configured table that is gone fails that table in the frequent set's runs,
	// naming it and its field; the daily set, which does not list it, does not report it.
	c.Sets[SetFrequent] = Set{Tables: []string{"orders", "legacy"}}
	f := plan(t, c, SetFrequent, "2026-03-30T06:00:00Z", tables, state)
	if len(f.Refused) != 1 || f.Refused[0].Source != "legacy" || f.Refused[0].Lake != "" ||
		!strings.Contains(f.Refused[0].Reason, `ingest.sets.frequent.tables[1]: unknown table "legacy"`) {
		t.Errorf("configured table gone: refused %+v", f.Refused)
	}
	if !slices.Equal(sources(f), []string{"orders"}) {
		t.Errorf("frequent plan with a table gone: %v, want orders", sources(f))
	}
	if d := plan(t, c, SetDaily, "2026-03-30T00:00:00Z", tables, state); len(d.Refused) != 0 {
		t.Errorf("the daily set reports the frequent set's entry: %+v", d.Refused)
	}
}

// TestConfigProblemsStayWithTheirTable: a column or table the source no longer has
// fails the table whose entry names it, with the entry's file and line; every other
// table of the set is planned as before. Before, the whole plan was refused.
func TestConfigProblemsStayWithTheirTable(t *testing.T) {
	c := shopConfig()
	c.Tables = map[string]TableConfig{
		"orders":  {Column: "updated_on"}, // renamed in the source to updated_at
		"dropped": {Mode: ModeFull},       // a table dropped from the source
	}
	c.Access = []Access{{Role: "finance", Tables: []string{"customer", "order_items"},
		Columns: map[string][]string{"customer": {"id", "email"}}}} // email was dropped
	lines := map[string]int{"tables.orders.column": 12, "tables.dropped": 14, "access.0.columns.customer.1": 20}
	c.SetLocator(func(path []string) (string, int, int) {
		return "snaplake.yaml", lines[strings.Join(path, ".")], 7
	})
	p, err := PlanRun(c, SetDaily, utc("2026-03-30T00:00:00Z"), shop(), State{})
	if err != nil {
		t.Fatalf("PlanRun refused the whole run: %v", err)
	}
	want := []RefusedTable{
		{Source: "customer", Lake: "customer", Config: "snaplake.yaml:20",
			Reason: `snaplake.yaml:20:7: ingest.access[0].columns.customer[1]: unknown column "email": table "customer" has columns id, name`},
		{Source: "dropped", Config: "snaplake.yaml:14",
			Reason: `snaplake.yaml:14:7: ingest.tables.dropped: unknown table "dropped": database "shop" has no base table of that name`},
		{Source: "orders", Lake: "orders", Config: "snaplake.yaml:12",
			Reason: `snaplake.yaml:12:7: ingest.tables.orders.column: unknown column "updated_on": table "orders" has columns id, total, updated_at`},
	}
	if !slices.Equal(p.Refused, want) {
		t.Errorf("refused:\n got %+v\nwant %+v", p.Refused, want)
	}
	if got := sources(p); !slices.Equal(got, []string{"customer-address", "customer_address", "events", "no_key", "order_items", "touched"}) {
		t.Errorf("planned %v, want every table but the refused ones", got)
	}
	// The frequent set (orders, order_items) fails orders only; customer is not its.
	f := plan(t, c, SetFrequent, "2026-03-30T06:00:00Z", shop(), State{})
	if len(f.Refused) != 1 || f.Refused[0].Source != "orders" || !slices.Equal(sources(f), []string{"order_items"}) {
		t.Errorf("frequent: refused %+v, planned %v", f.Refused, sources(f))
	}
	// A config that does not work in itself is still refused whole.
	c.Sets[SetFrequent] = Set{Every: "15x"}
	if _, err := PlanRun(c, SetDaily, utc("2026-03-30T00:00:00Z"), shop(), State{}); err == nil || !strings.Contains(err.Error(), `"15x" is not a duration`) {
		t.Errorf("an invalid config: %v", err)
	}
}

func TestLoadModes(t *testing.T) {
	tests := []struct {
		name    string
		change  func(c *Config)
		state   State
		table   string
		want    PlannedTable // Source, Lake and Destination are not compared
		reason  string       // a part of the reason
		wantErr string       // path: part of the message
	}{
		{name: "AUTO_INCREMENT", table: "events",
			want: PlannedTable{Mode: ModeIncremental, Column: "id", Replace: true}, reason: "AUTO_INCREMENT column id: new rows load"},
		{name: "configured updated_at", table: "orders",
			change: func(c *Config) { c.Tables = map[string]TableConfig{"orders": {Column: "updated_at"}} },
			want:   PlannedTable{Mode: ModeIncremental, Column: "updated_at", Replace: true}, reason: `set in ingest.tables.orders.column`},
		{name: "configured full", table: "orders",
			change: func(c *Config) { c.Tables = map[string]TableConfig{"orders": {Mode: ModeFull}} },
			want:   PlannedTable{Mode: ModeFull, Replace: true}, reason: "mode full set in ingest.tables.orders.mode"},
		{name: "default full", table: "events",
			change: func(c *Config) { c.Defaults.Mode = ModeFull },
			want:   PlannedTable{Mode: ModeFull, Replace: true}, reason: "mode full set in ingest.defaults.mode"},
		{name: "default column where the table has it", table: "touched",
			change: func(c *Config) { c.Defaults.Column = "updated_at" },
			want:   PlannedTable{Mode: ModeIncremental, Column: "updated_at", Replace: true}, reason: "set in ingest.defaults.column"},
		{name: "default column where the table lacks it", table: "events",
			change: func(c *Config) { c.Defaults.Column = "updated_at" },
			want:   PlannedTable{Mode: ModeIncremental, Column: "id", Replace: true}, reason: "AUTO_INCREMENT"},
		{name: "from the watermark", table: "events",
			state: State{Tables: map[string]TableState{"events": {Column: "id", Watermark: ptr("42")}}},
			want:  PlannedTable{Mode: ModeIncremental, Column: "id", From: ptr("42")}},
		{name: "watermark of another column", table: "orders",
			change: func(c *Config) { c.Tables = map[string]TableConfig{"orders": {Column: "updated_at"}} },
			state:  State{Tables: map[string]TableState{"orders": {Column: "id", Watermark: ptr("42")}}},
			want:   PlannedTable{Mode: ModeIncremental, Column: "updated_at", Replace: true}, reason: `the watermark is of column "id", not "updated_at": loads every row again`},
		{name: "incremental without a column", table: "touched",
			change:  func(c *Config) { c.Tables = map[string]TableConfig{"touched": {Mode: ModeIncremental}} },
			wantErr: `ingest.tables.touched.mode: incremental load of "touched" needs a monotonic column, and it has no AUTO_INCREMENT column: set ingest.tables.touched.column (e.g. updated_at), or mode: full`},
		{name: "default incremental, a table without a column", table: "no_key",
			change:  func(c *Config) { c.Defaults.Mode = ModeIncremental },
			wantErr: `ingest.defaults.mode: incremental load of "no_key" needs a monotonic column`},
		{name: "a text column", table: "no_key",
			change:  func(c *Config) { c.Tables = map[string]TableConfig{"no_key": {Column: "a"}} },
			wantErr: `ingest.tables.no_key.column: column "a" of "no_key" is varchar: a watermark needs a number or a date/time column`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := shopConfig()
			if tt.change != nil {
				tt.change(&c)
			}
			p, err := PlanRun(c, SetDaily, utc("2026-03-30T00:00:00Z"), shop(), tt.state)
			if err != nil {
				t.Fatal(err)
			}
			if tt.wantErr != "" {
				// A load the table's columns cannot give fails that table alone.
				i := slices.IndexFunc(p.Refused, func(r RefusedTable) bool { return r.Source == tt.table })
				if i < 0 || !strings.Contains(p.Refused[i].Reason, tt.wantErr) || len(p.Tables) == 0 {
					t.Fatalf("refused %+v (planned %v), want %s refused with %q", p.Refused, sources(p), tt.table, tt.wantErr)
				}
				return
			}
			got := planned(p)[tt.table]
			if got.Mode != tt.want.Mode || got.Column != tt.want.Column || got.Replace != tt.want.Replace ||
				(got.From == nil) != (tt.want.From == nil) || got.From != nil && *got.From != *tt.want.From ||
				!strings.Contains(got.Reason, tt.reason) {
				t.Errorf("%s: got %+v (from %v), want %+v with reason containing %q", tt.table, got, got.From, tt.want, tt.reason)
			}
		})
	}
}

func TestPlanRefusesAnInvalidConfig(t *testing.T) {
	c := shopConfig()
	c.Sets[SetFrequent] = Set{Every: "15x", Tables: []string{"orders"}}
	c.Access = []Access{{Role: "finance"}}
	_, err := PlanRun(c, SetFrequent, utc("2026-03-30T06:00:00Z"), shop(), State{})
	for _, want := range []string{`ingest.sets.frequent.every: "15x" is not a duration`, `ingest.access[0].tables: role "finance" has no tables`} {
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("err = %v, want it to contain %q", err, want)
		}
	}
	if _, err := PlanRun(shopConfig(), "hourly", utc("2026-03-30T06:00:00Z"), shop(), State{}); err == nil || !strings.Contains(err.Error(), `unknown set "hourly"`) {
		t.Errorf("unknown set: %v", err)
	}
}

// TestPlanDueAcrossZones: the plan's Due follows the config's zone.
func TestPlanDueAcrossZones(t *testing.T) {
	tests := []struct {
		zone, set, at string
		due           bool
	}{
		{"America/New_York", SetFrequent, "2026-03-09T12:00:00Z", true},  // Monday 08:00 EDT
		{"America/New_York", SetFrequent, "2026-03-06T12:00:00Z", false}, // Friday 07:00 EST
		{"America/New_York", SetDaily, "2026-03-08T07:00:00Z", true},     // 02:00 skipped: 03:00 EDT
		{"Europe/Berlin", SetDaily, "2026-10-25T01:00:00Z", true},        // the second 02:00
		{"", SetDaily, "2026-10-25T02:00:00Z", true},                     // UTC
		{"", SetFrequent, "2026-10-24T08:00:00Z", false},                 // Saturday
	}
	for _, tt := range tests {
		c := shopConfig()
		c.TimeZone = tt.zone
		if p := plan(t, c, tt.set, tt.at, shop(), State{}); p.Due != tt.due {
			t.Errorf("%s %s at %s: due %v, want %v", tt.zone, tt.set, tt.at, p.Due, tt.due)
		}
	}
}

func TestPlanJSON(t *testing.T) {
	p := plan(t, shopConfig(), SetFrequent, "2026-03-30T06:00:00Z", shop(), State{}).InBucket("lake")
	b, err := json.Marshal(p)
	if err != nil {
		t.Fatal(err)
	}
	var got struct {
		Set, TimeZone, LakeDatabase, Bucket string
		Due                                 bool
		Schedule                            struct{ Expression string }
		Tables                              []map[string]any
		Skipped                             []any
		CrawlerTargets                      []string
		Renamed                             map[string]string
	}
	if err := json.Unmarshal(b, &got); err != nil {
		t.Fatal(err)
	}
	if got.Set != SetFrequent || !got.Due || got.Schedule.Expression != "cron(0/15 8-17 ? * MON-FRI *)" || len(got.Tables) != 2 || got.Skipped == nil {
		t.Errorf("plan JSON: %s", b)
	}
	first := got.Tables[0]
	if v, ok := first["from"]; !ok || v != nil {
		t.Errorf(`a table never loaded has "from": %v (present %v), want null: %s`, v, ok, b)
	}
	for _, key := range []string{"source", "lake", "mode", "column", "replace", "reason", "destination", "crawlerTarget"} {
		if _, ok := first[key]; !ok {
			t.Errorf("table JSON lacks %q: %v", key, first)
		}
	}
}

func TestCurrentPlan(t *testing.T) {
	tables := append(shop(), Table{Name: "Log Lines", Columns: []Column{col("Seq", "bigint"), col("Deleted At", "datetime")}, AutoIncrement: "Seq"},
		Table{Name: "Line Items", Columns: []Column{col("Order Id", "bigint"), col("Line", "int"), col("deleted_at", "datetime"), col("is_gone", "tinyint")},
			PrimaryKey: []string{"Order Id", "Line"}, AutoIncrement: "Line"})
	c := shopConfig()
	c.Defaults = TableConfig{SoftDelete: &SoftDelete{Column: "deleted_at"}, KeyCheck: "168h"}
	c.Tables = map[string]TableConfig{
		"touched": {Column: "updated_at", KeyCheck: "24h"},
		"orders":  {Mode: ModeFull},
		"events":  {SoftDelete: &SoftDelete{Column: "payload"}},
	}
	p := plan(t, c, SetDaily, "2026-12-03T02:00:00Z", tables, State{})
	if p.CurrentDatabase != "raw_shop_current" {
		t.Errorf("CurrentDatabase = %q", p.CurrentDatabase)
	}
	got := planned(p)
	items := got["Line Items"].Current
	if items == nil || len(items.Key) != 2 || items.Key[0] != (ColumnName{"Order Id", "order_id"}) || items.Key[1].Lake != "line" ||
		items.Order != "line" || items.SoftDelete == nil || items.SoftDelete.Lake != "deleted_at" ||
		items.KeyCheckSeconds != 168*3600 || items.Destination != "current/shop/line_items/" {
		t.Errorf("Line Items: %+v", items)
	}
	if tc := got["touched"].Current; tc == nil || tc.KeyCheckSeconds != 24*3600 || tc.SoftDelete != nil || tc.Order != "updated_at" {
		t.Errorf("touched: %+v (its own keyCheck; defaults' softDelete column it does not have)", tc)
	}
	if ev := got["events"].Current; ev == nil || ev.SoftDelete == nil || ev.SoftDelete.Source != "payload" {
		t.Errorf("events: %+v", ev)
	}
	if ll := got["Log Lines"]; ll.Current != nil || !strings.Contains(ll.NoCurrent, "no primary key") {
		t.Errorf("Log Lines (no primary key): current %+v, noCurrent %q", ll.Current, ll.NoCurrent)
	}
	if o := got["orders"]; o.Current != nil || o.NoCurrent != "" {
		t.Errorf("orders (full reload, current already): %+v %q", o.Current, o.NoCurrent)
	}
	j := p.Job("20261203T010000Z-daily", "lake")
	for _, jt := range j.Tables {
		if jt.Source == "Line Items" && jt.Current == nil {
			t.Error("the job plan drops Current")
		}
	}
	if j.CurrentDatabase != "raw_shop_current" {
		t.Errorf("job CurrentDatabase = %q", j.CurrentDatabase)
	}
}
