package latest

import (
	"context"
	"errors"
	"path/filepath"
	"slices"
	"testing"

	localglue "github.com/snaplake/snaplake/internal/local/glue"
)

func snapshotTable(name string, dates ...string) localglue.Table {
	return localglue.Table{Database: "p_shop", Name: name, Location: "s3://lake/data/shop/" + name + "/",
		Columns:       []localglue.Column{{Name: "id", Type: "bigint"}, {Name: "email", Type: "string"}},
		PartitionKeys: []localglue.Column{{Name: "snapshot_date", Type: "string"}}, Partitions: dates}
}

func request(dbs ...string) Request {
	var r Request
	for _, db := range dbs {
		r.Crawl = append(r.Crawl, struct {
			Database string `json:"database"`
		}{db})
	}
	return r
}

func TestUpdateFollowsTheNewestPartition(t *testing.T) {
	ctx := context.Background()
	cat, err := localglue.OpenCatalog(filepath.Join(t.TempDir(), "catalog.json"))
	if err != nil {
		t.Fatal(err)
	}
	for _, db := range []string{"p_shop", "p_shop_latest"} {
		if err := cat.CreateDatabase(db); err != nil {
			t.Fatal(err)
		}
	}
	// 30 tables: more than one page of GetTables offline.
	var names []string
	for i := range 30 {
		name := "t" + string(rune('a'+i/10)) + string(rune('0'+i%10))
		names = append(names, name)
		if err := cat.Put(snapshotTable(name, "2026-11-19", "2026-11-20")); err != nil {
			t.Fatal(err)
		}
	}
	if err := cat.Put(snapshotTable("empty")); err != nil {
		t.Fatal(err)
	}
	h := Handler{Glue: &localglue.Service{Catalog: cat}, DatabasePrefix: "p_"}

	res, err := h.Update(ctx, request("shop", "SHOP"))
	if err != nil {
		t.Fatal(err)
	}
	if len(res.Databases) != 1 || !slices.Equal(res.Databases[0].Created, names) || !slices.Equal(res.Databases[0].Empty, []string{"empty"}) {
		t.Fatalf("first update %+v", res)
	}
	got, err := cat.Table("p_shop_latest", "ta3")
	if err != nil {
		t.Fatal(err)
	}
	if got.Location != "s3://lake/data/shop/ta3/snapshot_date=2026-11-20/" || len(got.PartitionKeys) != 0 ||
		!slices.Equal(got.Columns, snapshotTable("x").Columns) || got.Parameters[ParamSnapshotDate] != "2026-11-20" {
		t.Fatalf("latest table %+v", got)
	}

	// Unchanged: nothing written. A new night on one table moves only it; a table
	// the crawler deleted leaves the latest database; one that did not export
	// tonight keeps its folder.
	if res, err = h.Update(ctx, request("shop")); err != nil || res.Databases[0].Unchanged != 30 || len(res.Databases[0].Updated) != 0 {
		t.Fatalf("second update %+v %v", res, err)
	}
	if err := cat.Put(snapshotTable("ta0", "2026-11-20", "2026-11-21")); err != nil {
		t.Fatal(err)
	}
	if err := cat.Delete("p_shop", "ta1"); err != nil {
		t.Fatal(err)
	}
	res, err = h.Update(ctx, request("shop"))
	if err != nil {
		t.Fatal(err)
	}
	if d := res.Databases[0]; !slices.Equal(d.Updated, []string{"ta0"}) || !slices.Equal(d.Deleted, []string{"ta1"}) || d.Unchanged != 28 {
		t.Fatalf("third update %+v", d)
	}
	if got, _ := cat.Table("p_shop_latest", "ta0"); got.Location != "s3://lake/data/shop/ta0/snapshot_date=2026-11-21/" {
		t.Fatalf("ta0 at %s", got.Location)
	}
	if got, _ := cat.Table("p_shop_latest", "ta2"); got.Location != "s3://lake/data/shop/ta2/snapshot_date=2026-11-20/" {
		t.Fatalf("ta2 at %s", got.Location)
	}
	var nf *localglue.TableNotFoundError
	if _, err := cat.Table("p_shop_latest", "ta1"); !errors.As(err, &nf) {
		t.Fatalf("deleted table still there: %v", err)
	}
}

func TestMissingLatestDatabaseIsANamedError(t *testing.T) {
	cat, err := localglue.OpenCatalog(filepath.Join(t.TempDir(), "catalog.json"))
	if err != nil {
		t.Fatal(err)
	}
	if err := cat.Put(snapshotTable("orders", "2026-11-20")); err != nil {
		t.Fatal(err)
	}
	_, err = Handler{Glue: &localglue.Service{Catalog: cat}, DatabasePrefix: "p_"}.Update(context.Background(), request("shop"))
	var nu *NotUpdatedError
	if !errors.As(err, &nu) || nu.Database != "p_shop_latest" {
		t.Fatalf("err = %v", err)
	}
}
