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
	"github.com/snaplake/snaplake/internal/local/contract"
	"github.com/snaplake/snaplake/internal/local/stepfunctions"
)

// A database that appears between two nights is cataloged the night it first
// appears, without a redeploy, by a stack that catalogs at runtime (a Glue database
// prefix, IAM-governed snapshot databases): the crawl wait creates its Glue
// database, its _latest companion and its crawler with the deployed roles'
// permissions, the crawler-finished rule (by name prefix) resumes the wait, and
// the latest function reaches the new databases. A third night reuses them.
func TestANewDatabaseIsCatalogedTheNightItAppears(t *testing.T) {
	c, err := contract.LoadRuntimeCatalog()
	if err != nil {
		t.Fatal(err)
	}
	f := newFixture(t, fixtureOptions{contract: c})
	ctx := context.Background()
	config := func(yaml string) {
		t.Helper()
		if _, err := f.admin.PutObject(ctx, &s3.PutObjectInput{Bucket: aws.String(f.bucket), Key: aws.String(deploy.ConfigKey), Body: strings.NewReader(yaml)}); err != nil {
			t.Fatal(err)
		}
	}
	night := func(n int, day string) stepfunctions.Result {
		t.Helper()
		snap := "rds:warehouse-prod-" + day + "-03-10"
		f.rds.outcome[snap] = outcomeComplete
		ev := strings.ReplaceAll(string(snapshotEvent(t, "ev-"+day, "warehouse-prod")), "2026-11-20", day)
		publish(t, f, []byte(ev), events.SnapshotCreated)
		res := f.results(t)
		if len(res) != n {
			t.Fatalf("%d executions after night %d: %+v", len(res), n, res)
		}
		return res[n-1]
	}

	config("export:\n  databases: [warehouse]\n")
	if r := night(1, "2026-11-20"); r.Status != stepfunctions.StatusSucceeded {
		t.Fatalf("night 1: %s %s %s", r.Status, r.Error, r.Cause)
	}
	if len(f.glue.created) != 0 {
		t.Fatalf("night 1 created crawlers %v; warehouse's is deployed", f.glue.created)
	}

	// hr appears: the config names it (as a snapshot without a databases list would).
	config("export:\n  databases: [warehouse, hr]\n")
	if r := night(2, "2026-11-21"); r.Status != stepfunctions.StatusSucceeded {
		t.Fatalf("night 2: %s %s %s", r.Status, r.Error, r.Cause)
	}
	if want := []string{"snaplake-hr"}; !slices.Equal(f.glue.created, want) {
		t.Errorf("created crawlers = %v, want %v", f.glue.created, want)
	}
	runs := slices.Clone(f.glue.runs)
	slices.Sort(runs)
	if want := []string{"snaplake-hr", "snaplake-warehouse", "snaplake-warehouse"}; !slices.Equal(runs, want) {
		t.Errorf("crawler runs = %v, want %v", runs, want)
	}
	wantPaths := []string{"s3://" + f.bucket + "/data/hr/customer/", "s3://" + f.bucket + "/data/hr/customer_address/"}
	if got := f.glue.targets["snaplake-hr"]; !slices.Equal(got, wantPaths) {
		t.Errorf("hr's include paths = %v, want %v", got, wantPaths)
	}
	dbs, err := f.glue.catalog.Catalog.Databases()
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"snap_hr", "snap_hr_latest"} {
		if !slices.Contains(dbs, want) {
			t.Errorf("catalog databases = %v, want %s", dbs, want)
		}
	}
	for _, n := range f.p.Notifications() {
		if strings.Contains(n.Message, "NOT_CATALOGED") {
			t.Errorf("notified %q: hr is cataloged", n.Message)
		}
	}

	// The next night finds hr's crawler and creates nothing.
	if r := night(3, "2026-11-22"); r.Status != stepfunctions.StatusSucceeded {
		t.Fatalf("night 3: %s %s %s", r.Status, r.Error, r.Cause)
	}
	if len(f.glue.created) != 1 {
		t.Errorf("created crawlers = %v after night 3, want hr's only", f.glue.created)
	}
	for _, d := range f.acct.IAM.Denied() {
		t.Errorf("call denied: %+v", d)
	}
}
