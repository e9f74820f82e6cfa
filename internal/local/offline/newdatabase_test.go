package offline

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

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
	f := newFixture(t, fixtureOptions{contract: runtimeCatalogContract(t)})
	n := newDatabaseNights{t: t, f: f}
	n.config("export:\n  databases: [warehouse]\n")
	if r := n.night(1, "2026-11-20"); r.Status != stepfunctions.StatusSucceeded {
		t.Fatalf("night 1: %s %s %s", r.Status, r.Error, r.Cause)
	}
	if len(f.glue.created) != 0 {
		t.Fatalf("night 1 created crawlers %v; warehouse's is deployed", f.glue.created)
	}

	// hr appears: the config names it (as a snapshot without a databases list would).
	n.config("export:\n  databases: [warehouse, hr]\n")
	if r := n.night(2, "2026-11-21"); r.Status != stepfunctions.StatusSucceeded {
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
	for _, m := range f.p.Notifications() {
		if strings.Contains(m.Message, "NOT_CATALOGED") {
			t.Errorf("notified %q: hr is cataloged", m.Message)
		}
	}

	// The next night finds hr's crawler and creates nothing.
	if r := n.night(3, "2026-11-22"); r.Status != stepfunctions.StatusSucceeded {
		t.Fatalf("night 3: %s %s %s", r.Status, r.Error, r.Cause)
	}
	if len(f.glue.created) != 1 {
		t.Errorf("created crawlers = %v after night 3, want hr's only", f.glue.created)
	}
	for _, d := range f.acct.IAM.Denied() {
		t.Errorf("call denied: %+v", d)
	}
}

// TestTheNewDatabaseStatementsAreNeeded is TestEveryStatementIsNeeded for what only
// a stack that catalogs at runtime has: without any one statement of the crawl
// wait's or the latest function's that names the Glue database prefix or creates
// something (but the latest function's writes, see below), the night a database
// appears is refused a call.
func TestTheNewDatabaseStatementsAreNeeded(t *testing.T) {
	c := runtimeCatalogContract(t)
	base, err := NewAuthority(c)
	if err != nil {
		t.Fatal(err)
	}
	for _, principal := range []string{deploy.FnAwaitCallback, deploy.FnLatest} {
		for i := 0; i < base.StatementCount(principal); i++ {
			stmt, err := base.StatementJSON(principal, i)
			if err != nil {
				t.Fatal(err)
			}
			if !strings.Contains(stmt, "snap_") && !strings.Contains(stmt, "glue:Create") && !strings.Contains(stmt, deploy.CrawlerNamePrefix+"*") {
				continue
			}
			// The latest function's writes to snap_*_latest: the scripted crawler makes
			// no tables, so there is nothing to write (its GetTables there is also
			// allowed by the read statement on snap_*).
			if principal == deploy.FnLatest && strings.Contains(stmt, "glue:CreateTable") {
				continue
			}
			t.Run(fmt.Sprintf("%s/%d", principal, i), func(t *testing.T) {
				t.Parallel()
				without, err := base.Without(principal, i)
				if err != nil {
					t.Fatal(err)
				}
				f := newFixture(t, fixtureOptions{contract: c, iam: without, recheck: 2 * time.Second, timeout: 20 * time.Second, crawl: 5 * time.Second})
				n := newDatabaseNights{t: t, f: f}
				n.config("export:\n  databases: [warehouse, hr]\n")
				n.night(1, "2026-11-21")
				if d := denied(without, principal); len(d) == 0 {
					t.Errorf("without statement %d of %s the night was refused nothing: the statement is not needed\n%s", i, principal, stmt)
				} else {
					t.Logf("without %s: denied %s on %s", stmt, d[0].Action, d[0].Resource)
				}
			})
		}
	}
}

func runtimeCatalogContract(t *testing.T) *contract.Contract {
	t.Helper()
	c, err := contract.LoadRuntimeCatalog()
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// newDatabaseNights runs nights of warehouse-prod with a config.
type newDatabaseNights struct {
	t *testing.T
	f *fixture
}

func (n newDatabaseNights) config(yaml string) {
	n.t.Helper()
	if _, err := n.f.admin.PutObject(context.Background(), &s3.PutObjectInput{Bucket: aws.String(n.f.bucket), Key: aws.String(deploy.ConfigKey), Body: strings.NewReader(yaml)}); err != nil {
		n.t.Fatal(err)
	}
}

// night publishes the snapshot of day and returns the result of the count-th execution.
func (n newDatabaseNights) night(count int, day string) stepfunctions.Result {
	n.t.Helper()
	n.f.rds.outcome["rds:warehouse-prod-"+day+"-03-10"] = outcomeComplete
	ev := strings.ReplaceAll(string(snapshotEvent(n.t, "ev-"+day, "warehouse-prod")), "2026-11-20", day)
	publish(n.t, n.f, []byte(ev), events.SnapshotCreated)
	res := n.f.results(n.t)
	if len(res) != count {
		n.t.Fatalf("%d executions after night %d: %+v", len(res), count, res)
	}
	return res[count-1]
}
