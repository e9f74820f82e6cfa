package run

import (
	"context"
	"io"
	"log/slog"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/lakeformation"
	lftypes "github.com/aws/aws-sdk-go-v2/service/lakeformation/types"
	"github.com/aws/aws-sdk-go-v2/service/s3"

	"github.com/snaplake/snaplake/internal/ingest"
	localglue "github.com/snaplake/snaplake/internal/local/glue"
	lflocal "github.com/snaplake/snaplake/internal/local/lakeformation"
	"github.com/snaplake/snaplake/internal/local/s3server"
)

// TestGrantsApplierGovernsSnapshotDatabases: the grants function applies the rules'
// snapshot tables on the snapshot database and its _latest, leaves a table the
// catalog does not hold yet pending, and revokes what the rules do not ask for there
// (the IAM_ALLOWED_PRINCIPALS grant a crawler's table got under the IAM default).
func TestGrantsApplierGovernsSnapshotDatabases(t *testing.T) {
	ctx := context.Background()
	srv, err := s3server.StartFake()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(srv.Stop)
	if err := srv.CreateBucket(ctx, "lake"); err != nil {
		t.Fatal(err)
	}
	cat, err := localglue.OpenCatalog(filepath.Join(t.TempDir(), "catalog.json"))
	if err != nil {
		t.Fatal(err)
	}
	cols := []localglue.Column{{Name: "id", Type: "bigint"}, {Name: "email", Type: "string"}}
	for _, tb := range []localglue.Table{
		{Database: "raw_shop", Name: "orders", Location: "s3://lake/raw/shop/orders/", Columns: cols},
		{Database: "p_shop", Name: "customers", Location: "s3://lake/data/shop/customers/", Columns: cols,
			PartitionKeys: []localglue.Column{{Name: "snapshot_date", Type: "string"}}, Partitions: []string{"2026-11-20"}},
		{Database: "p_shop_latest", Name: "customers", Location: "s3://lake/data/shop/customers/snapshot_date=2026-11-20/", Columns: cols},
	} {
		if err := cat.Put(tb); err != nil {
			t.Fatal(err)
		}
	}
	lf, err := lflocal.Open(filepath.Join(t.TempDir(), "lakeformation.json"))
	if err != nil {
		t.Fatal(err)
	}
	lf.SetCatalog(cat)
	if _, err := lf.GrantPermissions(ctx, &lakeformation.GrantPermissionsInput{
		Principal:   &lftypes.DataLakePrincipal{DataLakePrincipalIdentifier: aws.String("IAM_ALLOWED_PRINCIPALS")},
		Resource:    &lftypes.Resource{Table: &lftypes.TableResource{DatabaseName: aws.String("p_shop"), Name: aws.String("customers")}},
		Permissions: []lftypes.Permission{lftypes.PermissionAll},
	}); err != nil {
		t.Fatal(err)
	}
	cfg := &ingest.Config{Source: ingest.Source{Instance: "shop-db", Database: "shop"}, Access: []ingest.Access{{
		Role:    "support",
		Tables:  []string{"snapshots:shop.customers", "snapshots:shop.orders"},
		Columns: map[string][]string{"snapshots:shop.customers": {"id", "snapshot_date"}},
	}}}
	a := &GrantsApplier{S3: srv.Client(), Bucket: "lake", LF: lf, Account: "000000000000", Partition: "aws",
		SnapshotDatabases: []string{"p_shop"}, SnapshotPrefix: "p_", Glue: &localglue.Service{Catalog: cat},
		Config: func(context.Context) (*ingest.Config, error) { return cfg, nil },
		Log:    slog.New(slog.NewTextHandler(io.Discard, nil))}
	res, err := a.Apply(ctx, false)
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(res.Pending, []string{"snapshots:p_shop.orders", "snapshots:p_shop_latest.orders"}) || res.Revoked != 1 {
		t.Errorf("result %+v", res)
	}
	gs, err := lf.Grants()
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, g := range gs {
		got = append(got, g.String())
	}
	slices.Sort(got)
	support := "arn:aws:iam::000000000000:role/support"
	want := []string{
		support + " DESCRIBE on database p_shop",
		support + " DESCRIBE on database p_shop_latest",
		support + " SELECT on columns p_shop.customers(id,snapshot_date)",
		support + " SELECT on columns p_shop_latest.customers(id)",
	}
	if !slices.Equal(got, want) {
		t.Errorf("grants\n got %q\nwant %q", got, want)
	}
}

// TestGrantsApplierGovernsRuntimeCatalogs: where the export catalogs new databases
// at runtime (a prefix), the snapshot database of every folder under data/ is
// governed like a deployed one: a rule naming it is granted once it is cataloged,
// and what no rule asks for any more is revoked there.
func TestGrantsApplierGovernsRuntimeCatalogs(t *testing.T) {
	ctx := context.Background()
	srv, err := s3server.StartFake()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(srv.Stop)
	if err := srv.CreateBucket(ctx, "lake"); err != nil {
		t.Fatal(err)
	}
	for _, key := range []string{"data/shop/customers/snapshot_date=2026-11-20/part-0.parquet", "data/hr/staff/snapshot_date=2026-11-21/part-0.parquet"} {
		if _, err := srv.Client().PutObject(ctx, &s3.PutObjectInput{Bucket: aws.String("lake"), Key: aws.String(key), Body: strings.NewReader("x")}); err != nil {
			t.Fatal(err)
		}
	}
	cat, err := localglue.OpenCatalog(filepath.Join(t.TempDir(), "catalog.json"))
	if err != nil {
		t.Fatal(err)
	}
	cols := []localglue.Column{{Name: "id", Type: "bigint"}}
	for _, tb := range []localglue.Table{
		{Database: "raw_shop", Name: "orders", Location: "s3://lake/raw/shop/orders/", Columns: cols},
		{Database: "p_shop", Name: "customers", Location: "s3://lake/data/shop/customers/", Columns: cols},
		// hr was cataloged at runtime (the stack was deployed with shop only).
		{Database: "p_hr", Name: "staff", Location: "s3://lake/data/hr/staff/", Columns: cols},
		{Database: "p_hr_latest", Name: "staff", Location: "s3://lake/data/hr/staff/snapshot_date=2026-11-21/", Columns: cols},
	} {
		if err := cat.Put(tb); err != nil {
			t.Fatal(err)
		}
	}
	lf, err := lflocal.Open(filepath.Join(t.TempDir(), "lakeformation.json"))
	if err != nil {
		t.Fatal(err)
	}
	lf.SetCatalog(cat)
	cfg := &ingest.Config{Source: ingest.Source{Instance: "shop-db", Database: "shop"}, Access: []ingest.Access{{
		Role: "people", Tables: []string{"snapshots:hr.*"},
	}}}
	a := &GrantsApplier{S3: srv.Client(), Bucket: "lake", LF: lf, Account: "000000000000", Partition: "aws",
		SnapshotDatabases: []string{"p_shop"}, SnapshotPrefix: "p_", Glue: &localglue.Service{Catalog: cat},
		Config: func(context.Context) (*ingest.Config, error) { return cfg, nil },
		Log:    slog.New(slog.NewTextHandler(io.Discard, nil))}
	if _, err := a.Apply(ctx, false); err != nil {
		t.Fatal(err)
	}
	people := "arn:aws:iam::000000000000:role/people"
	grantsOf := func() []string {
		gs, err := lf.Grants()
		if err != nil {
			t.Fatal(err)
		}
		var out []string
		for _, g := range gs {
			out = append(out, g.String())
		}
		slices.Sort(out)
		return out
	}
	want := []string{
		people + " DESCRIBE on database p_hr",
		people + " DESCRIBE on database p_hr_latest",
		people + " SELECT on table p_hr.*",
		people + " SELECT on table p_hr_latest.*",
	}
	if got := grantsOf(); !slices.Equal(got, want) {
		t.Errorf("grants\n got %q\nwant %q", got, want)
	}
	// The rule is removed: its grants on the runtime database go too.
	cfg.Access = nil
	res, err := a.Apply(ctx, false)
	if err != nil {
		t.Fatal(err)
	}
	if got := grantsOf(); len(got) != 0 || res.Revoked == 0 {
		t.Errorf("after the rule was removed: revoked %d, grants %q, want none", res.Revoked, got)
	}
}
