package ingest

import (
	"context"
	"errors"
	"slices"
	"strings"
	"testing"
)

func TestCheckSnapshotTables(t *testing.T) {
	sources := SnapshotSources{
		"shop": {
			{Name: "Customers", Columns: []Column{{Name: "id"}, {Name: "Email"}, {Name: "ssn"}}},
			{Name: "orders", Columns: []Column{{Name: "id"}, {Name: "total"}}},
			{Name: "notes", Columns: []Column{{Name: "id"}, {Name: "Full Name"}}}, // skipped by the export
			{Name: "a/b", Columns: []Column{{Name: "id"}}},                        // skipped by the export
		},
		"empty": {},
	}
	c := Config{Source: Source{Instance: "db", Database: "shop"}, Access: []Access{
		{Role: "analyst", Tables: []string{"orders", "snapshots:shop.customers", "snapshots:Shop.Orders", "snapshots:empty.*"},
			// Glue lower-cases names: any case of the source's matches, and so
			// does the partition column.
			Columns: map[string][]string{"snapshots:shop.customers": {"ID", "email", "Snapshot_Date"}, "snapshots:Shop.Orders": {"total"}}},
	}}
	if problems, unchecked := c.CheckSnapshotTables(sources); len(problems) > 0 || len(unchecked) > 0 {
		t.Fatalf("valid rules: problems %v, unchecked %v", problems, unchecked)
	}

	c.Access = []Access{
		{Role: "analyst", Tables: []string{"snapshots:shop.customers", "snapshots:shop.ordres", "snapshots:empty.t", "snapshots:shop.*"},
			Columns: map[string][]string{
				"snapshots:shop.customers": {"id", "emial", "snapshot_date", "ssn "},
				"snapshots:shop.ordres":    {"id"},   // reported under tables
				"snapshots:shop.*":         {"id"},   // DesiredIn's to refuse
				"snapshots:shop.items":     {"sku"},  // Validate's "not among the role's tables", and unknown
				"orders":                   {"nope"}, // an ingested table: CheckTables'
			}},
		{Role: "hr", Tables: []string{"snapshots:hr.staff", "snapshots:hr.*"}, Columns: map[string][]string{"snapshots:hr.staff": {"salary"}}},
		{Role: "other", Tables: []string{"snapshots:hr.*"}, Columns: map[string][]string{"snapshots:hr.pay": {"x"}}},
		{Role: "notes", Tables: []string{"snapshots:shop.notes", "snapshots:shop.a/b"}, Columns: map[string][]string{"snapshots:shop.notes": {"id"}}},
	}
	problems, unchecked := c.CheckSnapshotTables(sources)
	describe := func(errs []error) []string {
		var out []string
		for _, err := range errs {
			var fe *FieldError
			if !errors.As(err, &fe) {
				t.Fatalf("%v is not a *FieldError", err)
			}
			k := kind(err)
			if errors.Is(err, ErrDatabaseNotVisible) {
				k = "hidden"
			}
			out = append(out, strings.Join(fe.Path, ".")+" "+k+" "+fe.Table+": "+fe.Problem)
		}
		return out
	}
	want := []string{
		`access.0.tables.1 table snapshots:shop.ordres: unknown table "snapshots:shop.ordres": database "shop" has no base table "ordres", so its nightly snapshot has none`,
		`access.0.tables.2 table snapshots:empty.t: unknown table "snapshots:empty.t": database "empty" has no base table "t", so its nightly snapshot has none`,
		`access.0.columns.snapshots:shop.customers.1 column snapshots:shop.customers: unknown column "emial": table shop.Customers has columns id, Email, ssn, and the snapshot adds snapshot_date`,
		`access.0.columns.snapshots:shop.items table snapshots:shop.items: unknown table "snapshots:shop.items": database "shop" has no base table "items", so its nightly snapshot has none`,
		`access.3.tables.0 table snapshots:shop.notes: table "snapshots:shop.notes" is not in the nightly snapshot: the RDS snapshot export skips table "notes", as its column "Full Name" has a character it does not support (one of , ; { } ( ) = space, tab, newline)`,
		`access.3.tables.1 table snapshots:shop.a/b: table "snapshots:shop.a/b" is not in the nightly snapshot: the RDS snapshot export skips table "a/b", whose name has a slash`,
	}
	if got := describe(problems); !slices.Equal(got, want) {
		t.Errorf("problems:\n%s\nwant\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
	// hr is not visible: each table entry naming it is said once, and a column
	// list is said only when its table is not among the rule's tables.
	wantUnchecked := []string{
		"access.1.tables.0 hidden snapshots:hr.staff: not checked: the source user sees no database \"hr\" (it does not exist, or the user has no privilege on it): grant it SELECT on `hr`.* to check snapshots:hr.staff and its columns",
		"access.1.tables.1 hidden snapshots:hr.*: not checked: the source user sees no database \"hr\" (it does not exist, or the user has no privilege on it): grant it SELECT on `hr`.* to check snapshots:hr.* and its columns",
		"access.2.tables.0 hidden snapshots:hr.*: not checked: the source user sees no database \"hr\" (it does not exist, or the user has no privilege on it): grant it SELECT on `hr`.* to check snapshots:hr.* and its columns",
		"access.2.columns.snapshots:hr.pay hidden snapshots:hr.pay: not checked: the source user sees no database \"hr\" (it does not exist, or the user has no privilege on it): grant it SELECT on `hr`.* to check its columns",
	}
	if got := describe(unchecked); !slices.Equal(got, wantUnchecked) {
		t.Errorf("unchecked:\n%s\nwant\n%s", strings.Join(got, "\n"), strings.Join(wantUnchecked, "\n"))
	}

	// As a plan reports them: one refused entry per snapshot table, every set's.
	refused, skipped := c.SnapshotAccess(sources)
	var names []string
	for _, r := range refused {
		names = append(names, r.Source)
	}
	if want := []string{"snapshots:empty.t", "snapshots:shop.a/b", "snapshots:shop.customers", "snapshots:shop.items", "snapshots:shop.notes", "snapshots:shop.ordres"}; !slices.Equal(names, want) || len(skipped) != 4 {
		t.Errorf("refused %v, want %v; unchecked %+v", names, want, skipped)
	}
	if got := c.SnapshotDatabases(); !slices.Equal(got, []string{"empty", "hr", "shop"}) {
		t.Errorf("SnapshotDatabases = %v", got)
	}
}

// TestDiscoverSnapshotSources reads a real MariaDB's information_schema: base
// tables only, database names matched whatever their case, a database the user
// cannot see (or that does not exist) absent, an empty one present, in one query.
func TestDiscoverSnapshotSources(t *testing.T) {
	srv := server(t)
	db, err := srv.DB("")
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	for _, q := range []string{
		"CREATE DATABASE SnapShop",
		"CREATE TABLE SnapShop.Customers (id BIGINT PRIMARY KEY, Email VARCHAR(100), ssn CHAR(11))",
		"CREATE TABLE SnapShop.orders (id BIGINT PRIMARY KEY)",
		"CREATE VIEW SnapShop.customer_emails AS SELECT id, Email FROM SnapShop.Customers",
		"CREATE DATABASE snap_empty",
	} {
		if _, err := db.Exec(q); err != nil {
			t.Fatalf("%s: %v", q, err)
		}
	}
	t.Cleanup(func() {
		_, _ = db.Exec("DROP DATABASE SnapShop")
		_, _ = db.Exec("DROP DATABASE snap_empty")
	})
	q := &CountingQueryer{Q: db}
	got, err := DiscoverSnapshotSources(context.Background(), q, []string{"snapshop", "snap_empty", "snap_nosuch"})
	if err != nil {
		t.Fatal(err)
	}
	if q.Queries() != 1 {
		t.Errorf("%d queries, want 1", q.Queries())
	}
	if _, ok := got["snap_nosuch"]; ok || len(got) != 2 || got["snap_empty"] == nil || len(got["snap_empty"]) != 0 {
		t.Fatalf("sources %+v, want snapshop and an empty snap_empty", got)
	}
	shop := got["snapshop"]
	if len(shop) != 2 || shop[0].Name != "Customers" || shop[1].Name != "orders" {
		t.Fatalf("snapshop tables %+v, want Customers and orders (not the view)", shop)
	}
	if cols := shop[0].columnNames(); !slices.Equal(cols, []string{"id", "Email", "ssn"}) {
		t.Errorf("Customers' columns %v", cols)
	}
	if got.table("snapshop", "customers") == nil {
		t.Errorf("customers (as Glue names it) not matched to Customers")
	}
}
