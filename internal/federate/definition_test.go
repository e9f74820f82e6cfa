package federate

import (
	"context"
	"slices"
	"strings"
	"testing"

	"github.com/snaplake/snaplake/internal/federate/redshift"
)

func TestPlanDefinition(t *testing.T) {
	id := redshift.Column{Name: "id", Type: "bigint"}
	note := func(n string) redshift.Column {
		return redshift.Column{Name: "note", Type: "character varying(" + n + ")", Nullable: true}
	}
	amount := redshift.Column{Name: "amount", Type: "numeric(12,2)", Nullable: true}
	for _, c := range []struct {
		name            string
		here, published []redshift.Column
		widen, add      int
		other           string // in Other; "" for none
	}{
		{"same", []redshift.Column{id, note("10")}, []redshift.Column{id, note("10")}, 0, 0, ""},
		{"VARCHAR widened", []redshift.Column{id, note("10")}, []redshift.Column{id, note("20")}, 1, 0, ""},
		{"nullable column added", []redshift.Column{id, note("10")}, []redshift.Column{id, note("10"), amount}, 0, 1, ""},
		{"both", []redshift.Column{id, note("10")}, []redshift.Column{id, note("20"), amount}, 1, 1, ""},
		{"VARCHAR narrowed", []redshift.Column{id, note("20")}, []redshift.Column{id, note("10")}, 0, 0, "column note is character varying(20) here, character varying(10) published"},
		{"numeric widened", []redshift.Column{id, amount}, []redshift.Column{id, {Name: "amount", Type: "numeric(14,2)", Nullable: true}}, 0, 0, "numeric(12,2) here, numeric(14,2) published"},
		{"integer to bigint", []redshift.Column{{Name: "id", Type: "integer"}}, []redshift.Column{id}, 0, 0, "integer here, bigint published"},
		{"column dropped", []redshift.Column{id, note("10"), amount}, []redshift.Column{id, amount}, 0, 0, "column note character varying(10) is not published"},
		{"column renamed", []redshift.Column{id, note("10")}, []redshift.Column{id, {Name: "remark", Type: "character varying(10)", Nullable: true}}, 0, 0, "column remark character varying(10) is missing here"},
		{"NOT NULL column added", []redshift.Column{id}, []redshift.Column{id, {Name: "n", Type: "integer"}}, 0, 0, "NOT NULL is missing here"},
		{"nullability tightened", []redshift.Column{id, note("10")}, []redshift.Column{id, {Name: "note", Type: "character varying(10)"}}, 0, 0, "column note is nullable here, NOT NULL published"},
	} {
		t.Run(c.name, func(t *testing.T) {
			p := PlanDefinition(c.here, c.published)
			if len(p.Widen) != c.widen || len(p.Add) != c.add {
				t.Errorf("widen %d add %d, want %d and %d: %+v", len(p.Widen), len(p.Add), c.widen, c.add, p)
			}
			got := strings.Join(p.Other, "; ")
			if (c.other == "") != (got == "") || !strings.Contains(got, c.other) {
				t.Errorf("Other = %q, want %q", got, c.other)
			}
		})
	}
}

// comment marks a subscriber's table: a table changed in place keeps it, a rebuilt
// one does not.
func (w *world) comment(c *counting, table string) string {
	w.t.Helper()
	rows, err := c.Warehouse.Query(context.Background(), "SELECT coalesce(obj_description('"+table+"'::regclass, 'pg_class'), '')")
	if err != nil {
		w.t.Fatal(err)
	}
	return *rows[0][0]
}

func (w *world) columns(c *counting, table string) string {
	w.t.Helper()
	schema, name, _ := strings.Cut(table, ".")
	cols, err := c.Warehouse.Columns(context.Background(), schema, name)
	if err != nil {
		w.t.Fatal(err)
	}
	return columnsText(cols)
}

// TestDefinitionOnlyChangePublishesAFullVersion: a column added on the transform,
// no row changed: the next publish makes a full version with the new definition.
func TestDefinitionOnlyChangePublishesAFullVersion(t *testing.T) {
	w := newWorld(t)
	first := w.publish()
	w.exec(w.transform, "ALTER TABLE sales.dim_customer ADD COLUMN segment VARCHAR(20)")
	r := w.publish()
	if got := r["sales.dim_customer"]; got.Action != ActionPublished || got.Kind != KindFull || got.Version == first["sales.dim_customer"].Version {
		t.Fatalf("publish after a definition change alone: %+v", got)
	}
	if r["sales.fact_orders"].Action != ActionUnchanged {
		t.Errorf("the other table: %+v", r["sales.fact_orders"])
	}
	m, err := w.store.Manifest(context.Background(), "sales.dim_customer", r["sales.dim_customer"].Version)
	if err != nil {
		t.Fatal(err)
	}
	if got, want := columnsText(m.Columns), w.columns(w.transform, "sales.dim_customer"); got != want {
		t.Errorf("the manifest's definition is %s, the table's %s", got, want)
	}
	if got := actions(w.publish()); got != "unchanged/unchanged" {
		t.Errorf("publishing again: %s", got)
	}
	// A widened VARCHAR alone (a statement of its own on Redshift) is a change too.
	w.exec(w.transform, "ALTER TABLE sales.dim_customer ALTER COLUMN name TYPE VARCHAR(300)")
	if got := w.publish()["sales.dim_customer"]; got.Action != ActionPublished || got.Kind != KindFull {
		t.Fatalf("publish after a widening: %+v", got)
	}
	w.subscribe("a")
	w.converged("a")
}

// TestAdditiveChangeAppliedInPlace: a new nullable column and a widened VARCHAR
// reach a subscriber without a rebuild (its table keeps its comment), with every row.
func TestAdditiveChangeAppliedInPlace(t *testing.T) {
	w := newWorld(t)
	w.publish()
	w.subscribe("a")
	w.exec(w.reporting["a"], "COMMENT ON TABLE sales.fact_orders IS 'kept'")

	w.exec(w.transform, "ALTER TABLE sales.fact_orders ALTER COLUMN note TYPE VARCHAR(400)")
	w.exec(w.transform, "ALTER TABLE sales.fact_orders ADD COLUMN channel VARCHAR(30)",
		"ALTER TABLE sales.fact_orders ADD COLUMN discount NUMERIC(5,2)",
		"UPDATE sales.fact_orders SET note = repeat('x', 350), channel = 'web', updated_at = TIMESTAMP '2026-12-03 09:00:00' WHERE id % 10 = 0")
	if r := w.publish(); r["sales.fact_orders"].Kind != KindFull {
		t.Fatalf("publish after the change: %+v", r["sales.fact_orders"])
	}
	r := w.subscribe("a")
	if r["sales.fact_orders"].Action != ActionLoaded {
		t.Fatalf("subscribe after an additive change: %+v", r["sales.fact_orders"])
	}
	// The result says what the load changed, for the operator reading it.
	want := []string{"column note widened to character varying(400)", "column channel character varying(30) added", "column discount numeric(5,2) added"}
	if got := r["sales.fact_orders"].Definition; !slices.Equal(got, want) {
		t.Errorf("the result's definition change: %q, want %q", got, want)
	}
	if got := r["sales.dim_customer"].Definition; got != nil {
		t.Errorf("an unchanged table's result names a definition change: %q", got)
	}
	w.converged("a")
	if got, want := w.columns(w.reporting["a"], "sales.fact_orders"), w.columns(w.transform, "sales.fact_orders"); got != want {
		t.Errorf("subscriber's definition %s, the transform's %s", got, want)
	}
	if got := w.comment(w.reporting["a"], "sales.fact_orders"); got != "kept" {
		t.Errorf("the table was re-created (its comment is %q), not changed in place", got)
	}

	// Append versions go on on top of the new definition.
	w.exec(w.transform, "INSERT INTO sales.fact_orders SELECT g, g, 'late', TIMESTAMP '2026-12-03 09:30:00' + g * INTERVAL '1 second', TIMESTAMP '2026-12-03 09:00:00', 'shop', 0.5 FROM generate_series(501, 520) g")
	if r := w.publish(); r["sales.fact_orders"].Kind != KindAppend {
		t.Fatalf("publish after inserts: %+v", r["sales.fact_orders"])
	}
	w.subscribe("a")
	w.converged("a")

	// A new subscriber creates the table with the new definition.
	if got := w.subscribe("b")["sales.fact_orders"].Definition; !slices.Equal(got, []string{"table created"}) {
		t.Errorf("a new subscriber's result: definition change %q, want the table created", got)
	}
	w.converged("b")
}

// TestWideningThenKilledSwapConverges: a run that dies after widening a VARCHAR and
// adding the new column (in its own short transaction, not inside the swap, which
// would lock readers out for the whole reload), and before the swap, leaves the
// table's rows as they were, with a NULL column at the end; the next run finishes.
func TestWideningThenKilledSwapConverges(t *testing.T) {
	w := newWorld(t)
	w.publish()
	w.subscribe("a")
	before := w.checksum(w.reporting["a"], "sales.fact_orders")
	rowsBefore := func() string {
		rows, err := w.reporting["a"].Warehouse.Query(context.Background(), "SELECT count(*) || ':' || md5(string_agg(concat_ws(',', id, amount, note, inserted_at, updated_at), '|' ORDER BY id)) FROM sales.fact_orders")
		if err != nil {
			t.Fatal(err)
		}
		return *rows[0][0]
	}
	beforeOld := rowsBefore()
	w.exec(w.transform, "ALTER TABLE sales.fact_orders ALTER COLUMN note TYPE VARCHAR(400)")
	w.exec(w.transform, "ALTER TABLE sales.fact_orders ADD COLUMN channel VARCHAR(30)")
	w.publish()
	w.reporting["a"].failSwap.Store(true)
	if r := w.subscribe("a"); r["sales.fact_orders"].Action != ActionFailed {
		t.Fatalf("killed subscribe: %+v", r["sales.fact_orders"])
	}
	if got := rowsBefore(); got != beforeOld {
		t.Errorf("the killed run changed the rows: %s, was %s (all columns: %s)", got, beforeOld, before)
	}
	if got := w.columns(w.reporting["a"], "sales.fact_orders"); !strings.Contains(got, "note character varying(400)") || !strings.HasSuffix(got, "channel character varying(30)") {
		t.Errorf("after the widening, the added column and before the swap: %s", got)
	}
	if r := w.subscribe("a"); r["sales.fact_orders"].Action != ActionLoaded {
		t.Fatalf("the next run: %+v", r["sales.fact_orders"])
	}
	w.converged("a")
}

// TestOtherChangeRebuiltOrRefused: a dropped column and a retyped one cannot be
// applied in place. A subscriber that allows it (the default) rebuilds the table from
// the newest full version; one that refuses fails that table alone, with the
// differences, and its other tables load.
func TestOtherChangeRebuiltOrRefused(t *testing.T) {
	w := newWorld(t)
	w.cfg.Subscribers[1].OnDefinitionChange = Refuse
	w.publish()
	w.subscribe("a")
	w.subscribe("b")
	w.exec(w.reporting["a"], "COMMENT ON TABLE sales.fact_orders IS 'kept'")

	// On Redshift a type changes by a new column, copied, the old one dropped and the
	// new one renamed (ALTER COLUMN TYPE changes only a VARCHAR's length).
	w.exec(w.transform,
		"ALTER TABLE sales.fact_orders ADD COLUMN amount2 NUMERIC(14,2)",
		"UPDATE sales.fact_orders SET amount2 = amount",
		"ALTER TABLE sales.fact_orders DROP COLUMN amount",
		"ALTER TABLE sales.fact_orders RENAME COLUMN amount2 TO amount",
		"ALTER TABLE sales.fact_orders DROP COLUMN note",
		"INSERT INTO sales.dim_customer VALUES (21, 'new')")
	if r := w.publish(); r["sales.fact_orders"].Kind != KindFull {
		t.Fatalf("publish after the change: %+v", r)
	}

	r := w.subscribe("a")
	if actions(r) != "loaded/loaded" {
		t.Fatalf("subscriber a (rebuild allowed): %+v", r)
	}
	w.converged("a")
	if got, want := w.columns(w.reporting["a"], "sales.fact_orders"), w.columns(w.transform, "sales.fact_orders"); got != want {
		t.Errorf("rebuilt definition %s, the transform's %s", got, want)
	}
	if got := w.comment(w.reporting["a"], "sales.fact_orders"); got != "" {
		t.Errorf("the table was not rebuilt (comment %q)", got)
	}

	before := w.checksum(w.reporting["b"], "sales.fact_orders")
	r = w.subscribe("b")
	if r["sales.dim_customer"].Action != ActionLoaded {
		t.Errorf("subscriber b's other table: %+v", r["sales.dim_customer"])
	}
	got := r["sales.fact_orders"]
	for _, want := range []string{"column amount is numeric(12,2) here, numeric(14,2) published", "column note character varying(200) is not published", "onDefinitionChange is refuse"} {
		if got.Action != ActionFailed || !strings.Contains(got.Error, want) {
			t.Errorf("subscriber b (refuse): %+v, want an error with %q", got, want)
		}
	}
	if now := w.checksum(w.reporting["b"], "sales.fact_orders"); now != before {
		t.Errorf("a refused table changed")
	}
	// Subscribe alone reads the run's own setting.
	res := (&SubscriberRun{Name: "b", Warehouse: w.reporting["b"], Store: w.store, Log: w.log, OnDefinitionChange: Refuse}).Subscribe(context.Background(), w.cfg.Tables[0])
	if res.Action != ActionFailed || !strings.Contains(res.Error, "is not published") {
		t.Errorf("Subscribe with refuse: %+v", res)
	}

	// The table's own setting refuses too, whatever the subscriber's.
	w.cfg.Subscribers[1].OnDefinitionChange = ""
	w.cfg.Tables[0].OnDefinitionChange = Refuse
	w.exec(w.transform, "ALTER TABLE sales.fact_orders DROP COLUMN updated_at")
	w.cfg.Tables[0].Updated = ""
	w.publish()
	if r := w.subscribe("a"); r["sales.fact_orders"].Action != ActionFailed || !strings.Contains(r["sales.fact_orders"].Error, "updated_at") {
		t.Errorf("table set to refuse: %+v", r["sales.fact_orders"])
	}
	w.cfg.Tables[0].OnDefinitionChange = Rebuild
	w.subscribe("a")
	w.subscribe("b")
	w.converged("a", "b")
}

func TestOnDefinitionChangeSetting(t *testing.T) {
	c := Config{
		Tables:      []Table{{Table: "s.a", OnDefinitionChange: "drop"}, {Table: "s.b", OnDefinitionChange: Refuse}},
		Subscribers: []Subscriber{{Name: "x", OnDefinitionChange: "Rebuild"}, {Name: "y", OnDefinitionChange: Rebuild}},
	}
	var got []string
	for _, err := range c.Validate() {
		got = append(got, err.Error())
	}
	want := []string{
		`federate.tables[0].onDefinitionChange: "drop" is neither rebuild nor refuse`,
		`federate.subscribers[0].onDefinitionChange: "Rebuild" is neither rebuild nor refuse`,
	}
	if strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Errorf("Validate:\n%s\nwant\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
	for _, c := range []struct{ table, subscriber, want string }{
		{"", "", Rebuild}, {Rebuild, "", Rebuild}, {"", Rebuild, Rebuild},
		{Refuse, "", Refuse}, {"", Refuse, Refuse}, {Rebuild, Refuse, Refuse}, {Refuse, Rebuild, Refuse},
	} {
		if got := OnDefinitionChange(c.table, c.subscriber); got != c.want {
			t.Errorf("OnDefinitionChange(%q, %q) = %s, want %s", c.table, c.subscriber, got, c.want)
		}
	}
}

// TestDroppedTableReloadedWhole: a subscriber's table dropped by hand, while its
// control table names a version, is re-created and loaded from the newest full
// version, not from the append versions after the one named.
func TestDroppedTableReloadedWhole(t *testing.T) {
	w := newWorld(t)
	w.publish()
	w.subscribe("a")
	w.exec(w.transform, "INSERT INTO sales.fact_orders SELECT g, g, 'late', TIMESTAMP '2026-12-03 09:30:00' + g * INTERVAL '1 second', NULL FROM generate_series(501, 520) g")
	if r := w.publish(); r["sales.fact_orders"].Kind != KindAppend {
		t.Fatalf("publish after inserts: %+v", r["sales.fact_orders"])
	}
	w.exec(w.reporting["a"], "DROP TABLE sales.fact_orders")
	if r := w.subscribe("a"); r["sales.fact_orders"].Action != ActionLoaded {
		t.Fatalf("subscribe after the drop: %+v", r["sales.fact_orders"])
	}
	w.converged("a")
}

// TestRefusedWideningRebuilds: Redshift refuses to widen a VARCHAR encoded BYTEDICT,
// RUNLENGTH, TEXT255 or TEXT32K, or one with a default (the stand-in refuses the same,
// reading the encoding from the column's comment). Where rebuilds are allowed and the
// version is full, the table is rebuilt from it instead of failing on every run;
// where the subscriber refuses rebuilds, the table fails naming the refusal.
func TestRefusedWideningRebuilds(t *testing.T) {
	w := newWorld(t)
	w.cfg.Subscribers[1].OnDefinitionChange = Refuse
	w.publish()
	w.subscribe("a")
	// b's table was made by hand, with a default.
	w.exec(w.reporting["b"], "CREATE SCHEMA sales", "CREATE TABLE sales.dim_customer (id INTEGER NOT NULL, name VARCHAR(100) DEFAULT 'n/a')")
	if r := w.subscribe("b"); r["sales.dim_customer"].Action != ActionLoaded {
		t.Fatalf("b's first load: %+v", r["sales.dim_customer"])
	}
	w.exec(w.reporting["a"], "COMMENT ON COLUMN sales.dim_customer.name IS 'ENCODE BYTEDICT'")
	w.exec(w.transform, "ALTER TABLE sales.dim_customer ALTER COLUMN name TYPE VARCHAR(300)")
	if r := w.publish(); r["sales.dim_customer"].Kind != KindFull {
		t.Fatalf("publish after the widening: %+v", r)
	}
	if r := w.subscribe("a"); r["sales.dim_customer"].Action != ActionLoaded {
		t.Fatalf("subscriber a (rebuild allowed): %+v", r["sales.dim_customer"])
	}
	w.converged("a")
	if got, want := w.columns(w.reporting["a"], "sales.dim_customer"), w.columns(w.transform, "sales.dim_customer"); got != want {
		t.Errorf("rebuilt definition %s, the transform's %s", got, want)
	}
	r := w.subscribe("b")
	if r["sales.dim_customer"].Action != ActionFailed || !strings.Contains(r["sales.dim_customer"].Error, "You can't alter columns with default values") {
		t.Fatalf("subscriber b (refuse): %+v", r["sales.dim_customer"])
	}
}

// TestRebuildRefusedByBoundViews: a view bound to the table (in Redshift, any view
// not created WITH NO SCHEMA BINDING) makes its DROP fail; the rebuild is refused
// first, naming the views, and the table keeps its rows.
func TestRebuildRefusedByBoundViews(t *testing.T) {
	w := newWorld(t)
	w.publish()
	w.subscribe("a")
	w.exec(w.reporting["a"], "CREATE VIEW sales.orders_v AS SELECT id, note FROM sales.fact_orders")
	before := w.checksum(w.reporting["a"], "sales.fact_orders")
	w.exec(w.transform, "ALTER TABLE sales.fact_orders DROP COLUMN note")
	w.publish()
	r := w.subscribe("a")
	if res := r["sales.fact_orders"]; res.Action != ActionFailed || !strings.Contains(res.Error, "views are bound to it: sales.orders_v") {
		t.Fatalf("rebuild under a bound view: %+v", res)
	}
	if got := w.checksum(w.reporting["a"], "sales.fact_orders"); got != before {
		t.Errorf("the refused rebuild changed the table")
	}
}
