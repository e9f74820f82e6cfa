package relocate_test

import (
	"context"
	"slices"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"

	"github.com/snaplake/snaplake/internal/export/relocate"
	"github.com/snaplake/snaplake/internal/local/s3server"
)

// Excluded databases and tables (snaplake.yaml's export.exclude, passed on by the
// start function) never reach data/, are not crawled (not even a folder left from
// before the exclusion), and their files are deleted from the export folder, and from
// nowhere else. A database without a deployed crawler is relocated, left out of the
// crawl and reported.
func TestExcludedTablesAreNotRelocated(t *testing.T) {
	ctx := context.Background()
	srv, err := s3server.StartFake()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(srv.Stop)
	if err := srv.CreateBucket(ctx, "lake"); err != nil {
		t.Fatal(err)
	}
	c := srv.Client()
	put := func(k string) {
		t.Helper()
		if _, err := c.PutObject(ctx, &s3.PutObjectInput{Bucket: aws.String("lake"), Key: aws.String(k), Body: strings.NewReader("x")}); err != nil {
			t.Fatal(err)
		}
	}
	for _, k := range []string{
		"exports/e1/shop/shop.orders/1/part-00000-a.gz.parquet",
		"exports/e1/shop/shop.secrets/1/part-00000-b.gz.parquet",
		"exports/e1/Hr/Hr.salaries/1/part-00000-c.gz.parquet",
		"exports/e1/crm/crm.accounts/1/part-00000-d.gz.parquet",
		// Not this export's: never deleted by it.
		"exports/e0/shop/shop.secrets/1/part-00000-e.gz.parquet",
		// secrets, relocated on a night before it was excluded.
		"data/shop/secrets/snapshot_date=2026-11-19/1_part-00000-f.gz.parquet",
	} {
		put(k)
	}
	h := relocate.Handler{API: c, Defaults: relocate.Options{Bucket: "lake", Retention: 7}, Crawled: []string{"shop", "hr"}}
	req := relocate.Request{ExportID: "e1", SnapshotDate: "2026-11-20", Exclude: []string{"shop.secrets", "hr"}}
	sum, err := h.Handle(ctx, req)
	if err != nil {
		t.Fatal(err)
	}
	if sum.Excluded != 2 || sum.Moved != 2 {
		t.Errorf("moved %d, excluded %d; want 2 and 2", sum.Moved, sum.Excluded)
	}
	want := []relocate.CrawlTarget{{Database: "shop", Folder: "shop", Tables: []string{"orders"}}}
	if !slices.EqualFunc(sum.Crawl, want, func(a, b relocate.CrawlTarget) bool {
		return a.Database == b.Database && a.Folder == b.Folder && slices.Equal(a.Tables, b.Tables)
	}) {
		t.Errorf("crawl = %+v, want %+v (no excluded table, no database without a crawler)", sum.Crawl, want)
	}
	if len(sum.Problems) != 1 || sum.Problems[0].Table != "crm" || sum.Problems[0].Status != relocate.StatusNotCataloged {
		t.Errorf("problems = %+v, want crm %s", sum.Problems, relocate.StatusNotCataloged)
	}
	keys := listAll(t, c)
	for _, k := range []string{
		"data/shop/orders/snapshot_date=2026-11-20/1_part-00000-a.gz.parquet",
		"data/crm/accounts/snapshot_date=2026-11-20/1_part-00000-d.gz.parquet",
		"exports/e0/shop/shop.secrets/1/part-00000-e.gz.parquet",
		"data/shop/secrets/snapshot_date=2026-11-19/1_part-00000-f.gz.parquet",
	} {
		if !slices.Contains(keys, k) {
			t.Errorf("%s is missing; keys: %v", k, keys)
		}
	}
	for _, k := range keys {
		if strings.Contains(k, "secrets/snapshot_date=2026-11-20") || strings.Contains(strings.ToLower(k), "salaries") ||
			(strings.HasPrefix(k, "exports/e1/") && strings.Contains(k, ".parquet")) {
			t.Errorf("%s is left: excluded tables must not be relocated, and the export keeps no table file", k)
		}
	}

	// A re-run (a retried state) finds nothing to exclude and describes the same night.
	again, err := h.Handle(ctx, req)
	if err != nil || again.Excluded != 0 || len(again.Crawl) != 1 || len(again.Crawl[0].Tables) != 1 {
		t.Errorf("re-run: %+v, %v; want the same crawl, nothing excluded", again, err)
	}
}

func listAll(t *testing.T, c *s3.Client) []string {
	t.Helper()
	var keys []string
	p := s3.NewListObjectsV2Paginator(c, &s3.ListObjectsV2Input{Bucket: aws.String("lake")})
	for p.HasMorePages() {
		page, err := p.NextPage(context.Background())
		if err != nil {
			t.Fatal(err)
		}
		for _, o := range page.Contents {
			keys = append(keys, aws.ToString(o.Key))
		}
	}
	return keys
}
