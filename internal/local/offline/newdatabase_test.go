package offline

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/lakeformation"
	lftypes "github.com/aws/aws-sdk-go-v2/service/lakeformation/types"
	"github.com/aws/aws-sdk-go-v2/service/s3"

	"github.com/snaplake/snaplake/events"
	"github.com/snaplake/snaplake/internal/deploy"
	ingestrun "github.com/snaplake/snaplake/internal/ingest/run"
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

// Where Lake Formation governs the snapshot databases (the ingestion deployed), a
// database that appears between two nights is cataloged that night too: the crawl
// wait, a data lake administrator added next to the account's own (APPEND), grants
// the stack's roles exactly their permissions on a deployed database, every call
// allowed by the synthesized policies and by Lake Formation. The grants function,
// as deployed, then applies an access rule naming the new database's snapshots, and
// revokes it when the rule goes.
func TestANewDatabaseIsGovernedTheNightItAppears(t *testing.T) {
	ctx := context.Background()
	c, err := contract.LoadGovernedCatalog()
	if err != nil {
		t.Fatal(err)
	}
	const accountAdmin = "arn:aws:iam::000000000000:role/cdk-hnb659fds-cfn-exec-role"
	f := newFixture(t, fixtureOptions{contract: c, lakeAdmins: []string{accountAdmin}})
	settings, err := f.lake.GetDataLakeSettings(ctx, &lakeformation.GetDataLakeSettingsInput{})
	if err != nil {
		t.Fatal(err)
	}
	var admins []string
	for _, a := range settings.DataLakeSettings.DataLakeAdmins {
		admins = append(admins, aws.ToString(a.DataLakePrincipalIdentifier))
	}
	if want := append([]string{accountAdmin}, c.LakeAdmins...); !slices.Equal(admins, want) || len(c.LakeAdmins) != 1 {
		t.Errorf("data lake administrators = %v, want the account's and the crawl wait's %v", admins, want)
	}

	n := newDatabaseNights{t: t, f: f}
	n.config("export:\n  databases: [warehouse]\n")
	if r := n.night(1, "2026-11-20"); r.Status != stepfunctions.StatusSucceeded {
		t.Fatalf("night 1: %s %s %s", r.Status, r.Error, r.Cause)
	}
	n.config("export:\n  databases: [warehouse, hr]\n")
	if r := n.night(2, "2026-11-21"); r.Status != stepfunctions.StatusSucceeded {
		t.Fatalf("night 2: %s %s %s", r.Status, r.Error, r.Cause)
	}
	if want := []string{"snaplake-hr"}; !slices.Equal(f.glue.created, want) {
		t.Errorf("created crawlers = %v, want %v", f.glue.created, want)
	}
	roles := deploy.SnapshotRoles{Crawler: c.Roles[deploy.RoleCrawler].Arn, Latest: c.Functions[deploy.FnLatest].Role.Arn, Grants: c.Functions[deploy.FnApplyGrants].Role.Arn}
	held := func() []string {
		gs, err := f.lake.Grants()
		if err != nil {
			t.Fatal(err)
		}
		var out []string
		for _, g := range gs {
			if strings.HasPrefix(g.Database, "snap_hr") {
				slices.Sort(g.Permissions)
				slices.Sort(g.GrantOption)
				out = append(out, fmt.Sprintf("%s %s.%s %v grantable %v", g.Principal, g.Database, g.Table, g.Permissions, g.GrantOption))
			}
		}
		slices.Sort(out)
		return out
	}
	var want []string
	for _, g := range deploy.SnapshotLakeGrants("snap_hr", roles) {
		slices.Sort(g.Permissions)
		slices.Sort(g.Grantable)
		want = append(want, fmt.Sprintf("%s %s.%s %v grantable %v", g.Principal, g.Database, g.Table, g.Permissions, g.Grantable))
	}
	slices.Sort(want)
	if got := held(); !slices.Equal(got, want) {
		t.Errorf("Lake Formation on snap_hr*:\n  %s\nwant\n  %s", strings.Join(got, "\n  "), strings.Join(want, "\n  "))
	}

	// The grants function as deployed (its environment, its policy, its Lake
	// Formation permissions): a rule naming hr's snapshots is applied there...
	apply := func(access string) ingestrun.GrantsResult {
		t.Helper()
		n.config("ingest:\n  source:\n    instance: snaplake-demo\n    database: warehouse\n  tables:\n    files: {mode: full}\n  access:\n" + access)
		env := c.Functions[deploy.FnApplyGrants].Environment
		h, err := ingestrun.NewApplyGrants(func(k string) string { return env[k] }, ingestrun.ApplyGrantsClients{
			S3: f.acct.S3(deploy.FnApplyGrants), LF: f.acct.LakeFormation(deploy.FnApplyGrants, f.lake),
			Glue: f.acct.LatestCatalog(deploy.FnApplyGrants, f.glue.catalog),
		}, slog.New(slog.NewTextHandler(io.Discard, nil)))
		if err != nil {
			t.Fatal(err)
		}
		out, err := h(ctx, json.RawMessage(`{"run":"test"}`))
		if err != nil {
			t.Fatalf("apply the grants: %v", err)
		}
		res, ok := out.(ingestrun.GrantsResult)
		if !ok {
			t.Fatalf("the grants function answered %T", out)
		}
		return res
	}
	deployLakeGrants(t, c, f)
	people := "arn:aws:iam::000000000000:role/people"
	apply("    - role: people\n      tables: [\"snapshots:hr.*\"]\n")
	rules := func() []string {
		var out []string
		for _, g := range held() {
			if strings.HasPrefix(g, people) {
				out = append(out, g)
			}
		}
		return out
	}
	if got := rules(); len(got) != 4 { // DESCRIBE on both databases, SELECT on both's tables
		t.Errorf("the rule's grants on snap_hr* = %q, want DESCRIBE and SELECT on snap_hr and snap_hr_latest", got)
	}
	// ... and revoked when the rule is gone.
	if res := apply("    - role: analytics\n      tables: [\"*\"]\n"); res.Revoked == 0 {
		t.Errorf("rule removed: revoked %d", res.Revoked)
	}
	if got := rules(); len(got) != 0 {
		t.Errorf("after the rule was removed the grants on snap_hr* = %q, want none", got)
	}
	for _, d := range f.acct.IAM.Denied() {
		t.Errorf("call denied: %+v", d)
	}
}

// deployLakeGrants gives the stack's roles the Lake Formation permissions its
// principal-permission resources give on the databases the catalog holds, as
// CloudFormation's execution role (an administrator) does at deploy.
func deployLakeGrants(t *testing.T, c *contract.Contract, f *fixture) {
	t.Helper()
	dbs, err := f.glue.catalog.Catalog.Databases()
	if err != nil {
		t.Fatal(err)
	}
	perms := slices.Clone(c.LakePermissions)
	if c.Ingest != nil {
		perms = append(perms, c.Ingest.LakePermissions...)
	}
	for _, g := range perms {
		if g.Location != "" || g.Principal == deploy.IAMAllowedPrincipals || !slices.Contains(dbs, g.Database) {
			continue
		}
		res := &lftypes.Resource{Database: &lftypes.DatabaseResource{Name: aws.String(g.Database)}}
		if g.Table == "*" {
			res = &lftypes.Resource{Table: &lftypes.TableResource{DatabaseName: aws.String(g.Database), TableWildcard: &lftypes.TableWildcard{}}}
		}
		in := &lakeformation.GrantPermissionsInput{Principal: &lftypes.DataLakePrincipal{DataLakePrincipalIdentifier: aws.String(g.Principal)}, Resource: res}
		for _, p := range g.Permissions {
			in.Permissions = append(in.Permissions, lftypes.Permission(p))
		}
		for _, p := range g.Grantable {
			in.PermissionsWithGrantOption = append(in.PermissionsWithGrantOption, lftypes.Permission(p))
		}
		if _, err := f.lake.GrantPermissions(context.Background(), in); err != nil {
			t.Fatalf("the stack's permission %+v: %v", g, err)
		}
	}
}

// Without the crawl wait among the data lake administrators (someone removed it
// from the account's list), Lake Formation refuses its grants on the new database:
// the night fails, and the failure it notifies names what to fix.
func TestANewGovernedDatabaseNeedsTheAdministrator(t *testing.T) {
	c, err := contract.LoadGovernedCatalog()
	if err != nil {
		t.Fatal(err)
	}
	c.LakeAdmins = nil
	f := newFixture(t, fixtureOptions{contract: c, lakeAdmins: []string{"arn:aws:iam::000000000000:role/cdk-hnb659fds-cfn-exec-role"}})
	n := newDatabaseNights{t: t, f: f}
	n.config("export:\n  databases: [warehouse, hr]\n")
	r := n.night(1, "2026-11-21")
	if r.Status != stepfunctions.StatusFailed {
		t.Fatalf("night: %s, want FAILED", r.Status)
	}
	var notified bool
	for _, m := range f.p.Notifications() {
		if strings.Contains(m.Message, "CatalogGrantError") && strings.Contains(m.Message, "data lake administrator") {
			notified = true
		}
	}
	if !notified {
		t.Errorf("no notification names CatalogGrantError and the administrator: %+v", f.p.Notifications())
	}
	if len(f.glue.created) != 0 {
		t.Errorf("created crawlers %v without their permissions", f.glue.created)
	}
}

// The crawl wait's statements that only a governed stack that catalogs at runtime
// has (Lake Formation's grant and revoke, glue:GetDatabase that granting by name
// needs) are needed: without one, the night a database appears is refused a call.
func TestTheGovernedCatalogGrantStatementIsNeeded(t *testing.T) {
	c, err := contract.LoadGovernedCatalog()
	if err != nil {
		t.Fatal(err)
	}
	base, err := NewAuthority(c)
	if err != nil {
		t.Fatal(err)
	}
	found := false
	for i := 0; i < base.StatementCount(deploy.FnAwaitCallback); i++ {
		stmt, err := base.StatementJSON(deploy.FnAwaitCallback, i)
		if err != nil {
			t.Fatal(err)
		}
		if !strings.Contains(stmt, "lakeformation:GrantPermissions") && !strings.Contains(stmt, `"glue:GetDatabase"`) {
			continue
		}
		found = true
		without, err := base.Without(deploy.FnAwaitCallback, i)
		if err != nil {
			t.Fatal(err)
		}
		f := newFixture(t, fixtureOptions{contract: c, iam: without, lakeAdmins: []string{"arn:aws:iam::000000000000:role/cdk-hnb659fds-cfn-exec-role"}})
		n := newDatabaseNights{t: t, f: f}
		n.config("export:\n  databases: [warehouse, hr]\n")
		n.night(1, "2026-11-21")
		d := denied(without, deploy.FnAwaitCallback)
		if len(d) == 0 || !strings.Contains(stmt, strings.SplitN(d[0].Action, ":", 2)[1]) {
			t.Errorf("without %s the night was refused %+v, want one of its actions", stmt, d)
		} else {
			t.Logf("without %s: denied %s on %s", stmt, d[0].Action, d[0].Resource)
		}
	}
	if !found {
		t.Error("the crawl wait has no lakeformation:GrantPermissions statement")
	}
}
