package grants

import (
	"errors"
	"slices"
	"strings"
	"testing"

	"github.com/snaplake/snaplake/internal/ingest"
)

// snapshotDBs governs the nightly snapshot databases p_<source> too.
var snapshotDBs = Databases{Ingest: "raw_shop", Snapshot: func(source string) string { return "p_" + source }}

func TestDesiredInSnapshotTables(t *testing.T) {
	analyst, support := arn("analyst"), arn("support")
	got, err := DesiredIn(snapshotDBs, []ingest.Access{
		{Role: "analyst", Tables: []string{"*", "snapshots:Shop.*"}},
		// A snapshot-only role sees nothing of the ingest database; its column
		// limit holds on the _latest table too, without snapshot_date.
		{Role: "support", Tables: []string{"snapshots:shop.Customers", "snapshots:billing.invoices"},
			Columns: map[string][]string{"snapshots:shop.Customers": {"ID", "email", "snapshot_date"}, "snapshots:billing.invoices": {"snapshot_date"}}},
	}, ingest.NormalizeName, roleARN)
	if err != nil {
		t.Fatal(err)
	}
	want := []string{
		analyst + " DESCRIBE on database p_shop",
		analyst + " DESCRIBE on database p_shop_latest",
		analyst + " DESCRIBE on database raw_shop",
		analyst + " DESCRIBE on database raw_shop_current",
		analyst + " SELECT on table p_shop.*",
		analyst + " SELECT on table p_shop_latest.*",
		analyst + " SELECT on table raw_shop.*",
		analyst + " SELECT on table raw_shop_current.*",
		support + " DESCRIBE on database p_billing",
		support + " DESCRIBE on database p_billing_latest",
		support + " DESCRIBE on database p_shop",
		support + " DESCRIBE on database p_shop_latest",
		support + " SELECT on columns p_billing.invoices(snapshot_date)",
		support + " SELECT on columns p_shop.customers(email,id,snapshot_date)",
		support + " SELECT on columns p_shop_latest.customers(email,id)",
	}
	gotS := strs(got)
	slices.Sort(gotS)
	if !slices.Equal(gotS, want) {
		t.Errorf("grants\n got %q\nwant %q", gotS, want)
	}
}

func TestDesiredInSnapshotErrors(t *testing.T) {
	for _, tc := range []struct {
		name   string
		dbs    Databases
		access ingest.Access
		want   error
	}{
		{"no snapshot databases", Databases{Ingest: "raw_shop"}, ingest.Access{Role: "a", Tables: []string{"snapshots:shop.orders"}}, ErrNoSnapshots},
		{"no table", snapshotDBs, ingest.Access{Role: "a", Tables: []string{"snapshots:shop"}}, ErrSnapshotTable},
		{"columns of an ungranted table", snapshotDBs, ingest.Access{Role: "a", Tables: []string{"snapshots:shop.orders"},
			Columns: map[string][]string{"snapshots:shop.customers": {"id"}}}, ErrColumnsNotGranted},
		{"columns under a wildcard", snapshotDBs, ingest.Access{Role: "a", Tables: []string{"snapshots:shop.*", "snapshots:shop.orders"},
			Columns: map[string][]string{"snapshots:shop.orders": {"id"}}}, ErrColumnsUnderWildcard},
	} {
		_, err := DesiredIn(tc.dbs, []ingest.Access{tc.access}, ingest.NormalizeName, roleARN)
		var ae *AccessError
		if !errors.Is(err, tc.want) || !errors.As(err, &ae) {
			t.Errorf("%s: err = %v, want %v", tc.name, err, tc.want)
		}
	}
}

// Where the stack archives a source database, its snapshot rules hold on the
// _archive companion too: the whole table, or the same columns (without
// snapshot_date) plus cutoff, the archive's partition; a database it does not
// archive gets nothing there.
func TestDesiredInArchiveCompanion(t *testing.T) {
	dbs := snapshotDBs
	dbs.Archived = func(source string) bool { return source == "shop" }
	support := arn("support")
	got, err := DesiredIn(dbs, []ingest.Access{
		{Role: "support", Tables: []string{"snapshots:shop.customers", "snapshots:shop.orders", "snapshots:billing.invoices"},
			Columns: map[string][]string{"snapshots:shop.customers": {"id", "email", "snapshot_date"}}},
	}, ingest.NormalizeName, roleARN)
	if err != nil {
		t.Fatal(err)
	}
	var archive []string
	for _, g := range strs(got) {
		if slices.Contains([]string{"p_shop_archive", "p_billing_archive"}, dbOf(g)) {
			archive = append(archive, g)
		}
	}
	slices.Sort(archive)
	want := []string{
		support + " DESCRIBE on database p_shop_archive",
		support + " SELECT on columns p_shop_archive.customers(cutoff,email,id)",
		support + " SELECT on table p_shop_archive.orders",
	}
	if !slices.Equal(archive, want) {
		t.Errorf("grants on the archives\n got %q\nwant %q", archive, want)
	}
}

// dbOf is the database a grant's canonical form names.
func dbOf(g string) string {
	for _, marker := range []string{" on database ", " on table ", " on columns "} {
		if _, rest, ok := strings.Cut(g, marker); ok {
			db, _, _ := strings.Cut(rest, ".")
			db, _, _ = strings.Cut(db, "(")
			return db
		}
	}
	return ""
}
