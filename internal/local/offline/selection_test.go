package offline

import (
	"context"
	"slices"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"

	"github.com/snaplake/snaplake/events"
	"github.com/snaplake/snaplake/internal/deploy"
	"github.com/snaplake/snaplake/internal/local/stepfunctions"
)

// The night takes its databases from snaplake.yaml, without a redeploy: the stack
// was deployed for warehouse, the config adds hr and excludes one warehouse table.
// hr is exported and relocated, and reported as not cataloged (the stack has no
// crawler for it); the excluded table never reaches data/, is not crawled, and its
// files are gone from the export. Every call is the deployed roles' own.
func TestTheConfigSelectsTheNightsDatabases(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	yaml := "export:\n  databases: [warehouse, hr]\n  exclude: [warehouse.customer_address]\n"
	if _, err := f.admin.PutObject(ctx, &s3.PutObjectInput{Bucket: aws.String(f.bucket), Key: aws.String(deploy.ConfigKey), Body: strings.NewReader(yaml)}); err != nil {
		t.Fatal(err)
	}
	f.rds.outcome["rds:warehouse-prod-2026-11-20-03-10"] = outcomeComplete
	publish(t, f, snapshotEvent(t, "ev-1", "warehouse-prod"), events.SnapshotCreated)
	res := f.results(t)
	if len(res) != 1 || res[0].Status != stepfunctions.StatusSucceeded {
		t.Fatalf("results = %+v", res)
	}
	wantData := []string{
		"data/hr/customer/snapshot_date=2026-11-20/1_part-00000-aaaa-c000.gz.parquet",
		"data/hr/customer_address/snapshot_date=2026-11-20/1_part-00000-bbbb-c000.gz.parquet",
		"data/hr/customer_address/snapshot_date=2026-11-20/2_part-00003-cccc-c000.gz.parquet",
		"data/warehouse/customer/snapshot_date=2026-11-20/1_part-00000-aaaa-c000.gz.parquet",
	}
	if got := f.keys(t, "data/"); !slices.Equal(got, wantData) {
		t.Errorf("data/ = %v\nwant %v", got, wantData)
	}
	for _, k := range f.keys(t, "exports/") {
		if strings.HasSuffix(k, ".parquet") {
			t.Errorf("%s is left in the export: an excluded table's files are deleted", k)
		}
	}
	if !slices.Equal(f.glue.runs, []string{"snaplake-warehouse"}) {
		t.Errorf("crawler runs = %v, want only the deployed database's", f.glue.runs)
	}
	want := []string{"s3://" + f.bucket + "/data/warehouse/customer/"}
	if got := f.glue.targets["snaplake-warehouse"]; !slices.Equal(got, want) {
		t.Errorf("include paths = %v, want %v (the excluded table is not crawled)", got, want)
	}
	n := f.p.Notifications()
	if len(n) != 1 || !strings.Contains(n[0].Message, "NOT_CATALOGED") || !strings.Contains(n[0].Message, `"hr"`) {
		t.Errorf("notifications = %+v, want one warning that hr is not cataloged", n)
	}
	for _, d := range f.acct.IAM.Denied() {
		t.Errorf("call denied: %+v", d)
	}

	// A config the night cannot use fails it, notified, before anything is exported.
	bad := "export:\n  exclude: [warehouse.a.b]\n"
	if _, err := f.admin.PutObject(ctx, &s3.PutObjectInput{Bucket: aws.String(f.bucket), Key: aws.String(deploy.ConfigKey), Body: strings.NewReader(bad)}); err != nil {
		t.Fatal(err)
	}
	started := len(f.rds.started)
	// The same snapshot again: the config is read before RDS is asked anything.
	publish(t, f, snapshotEvent(t, "ev-2", "warehouse-prod"), events.SnapshotCreated)
	res = f.results(t)
	last := res[len(res)-1]
	if last.Status != stepfunctions.StatusFailed || last.Error != "RefusedError" || len(f.rds.started) != started {
		t.Errorf("bad config: %s %s, exports started %d → %d; want RefusedError and no export", last.Status, last.Error, started, len(f.rds.started))
	}
	if n := f.p.Notifications(); len(n) != 2 || !strings.Contains(n[1].Message, "snaplake.yaml:2") {
		t.Errorf("notifications = %+v, want a failure naming snaplake.yaml:2", n)
	}
}
