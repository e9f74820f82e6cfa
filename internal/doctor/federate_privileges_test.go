package doctor

import (
	"context"
	"strings"
	"testing"

	"github.com/snaplake/snaplake/internal/deploy"
	"github.com/snaplake/snaplake/internal/federate"
	"github.com/snaplake/snaplake/internal/federate/redshift"
	"github.com/snaplake/snaplake/internal/local/postgres/postgrestest"
)

// TestFederatePrivilegesOnTheStandIn checks the Federator's database users on the
// PostgreSQL stand-in: users created without privileges (as Redshift creates
// IAMR:<role name> at an IAM sign-in) fail, with the GRANT statements to run; once
// those ran, they pass; a schema someone else created fails again until granted.
func TestFederatePrivilegesOnTheStandIn(t *testing.T) {
	ctx := context.Background()
	pg := postgrestest.Start(t)
	open := func(db string) redshift.Warehouse {
		if err := pg.CreateDatabase(db); err != nil {
			t.Fatal(err)
		}
		wh, err := redshift.Open(ctx, pg.DSN(db), redshift.Deps{})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { wh.Close() })
		return wh
	}
	transform, reporting := open("transform"), open("reporting")
	exec := func(wh redshift.Warehouse, stmts ...string) {
		t.Helper()
		if err := wh.Exec(ctx, stmts...); err != nil {
			t.Fatal(err)
		}
	}
	users := map[string]string{deploy.FnPublish: deploy.IAMRoleDatabaseUser("Snaplake-PublishRole1"), deploy.FnSubscribe: deploy.IAMRoleDatabaseUser("Snaplake-SubscribeRole1")}
	exec(transform, `CREATE ROLE "IAMR:Snaplake-PublishRole1" LOGIN`, `CREATE ROLE "IAMR:Snaplake-SubscribeRole1" LOGIN`,
		"CREATE SCHEMA sales", "CREATE TABLE sales.dim (id INTEGER)", "CREATE TABLE sales.fact (id INTEGER)")
	cfg := federate.Config{Tables: []federate.Table{{Table: "sales.dim"}, {Table: "sales.fact"}}}
	signIns := []FederateSignIn{
		{Subject: "publisher transform", Function: deploy.FnPublish, Warehouse: transform, AsIAMRole: true, Needs: federate.PublisherNeeds(cfg)},
		{Subject: "subscriber reporting", Function: deploy.FnSubscribe, Warehouse: reporting, AsIAMRole: true, Needs: federate.SubscriberNeeds(cfg, federate.Subscriber{Name: "reporting"})},
	}
	check := func(label string, want ...Status) []Result {
		t.Helper()
		res := CheckFederatePrivileges(ctx, signIns, users)
		if len(res) != len(want) {
			t.Fatalf("%s: %d results, want %d: %v", label, len(res), len(want), res)
		}
		for i, r := range res {
			if r.Status != want[i] {
				t.Errorf("%s: %s is %s, want %s: %s (fix: %s)", label, r.Subject, r.Status, want[i], r.Detail, r.Fix)
			}
		}
		return res
	}

	res := check("no grants", Fail, Fail)
	if !strings.Contains(res[0].Detail, `IAMR:Snaplake-PublishRole1 lacks USAGE on schema sales`) ||
		!strings.Contains(res[0].Fix, `GRANT SELECT ON TABLE "sales"."fact" TO "IAMR:Snaplake-PublishRole1"`) {
		t.Errorf("publisher without grants: %s / %s", res[0].Detail, res[0].Fix)
	}
	if !strings.Contains(res[1].Fix, `GRANT CREATE ON DATABASE "reporting" TO "IAMR:Snaplake-SubscribeRole1"`) {
		t.Errorf("subscriber without grants: %s / %s", res[1].Detail, res[1].Fix)
	}

	// The documented grants.
	exec(transform, federate.GrantSQL(federate.PublisherNeeds(cfg), "transform", users[deploy.FnPublish])...)
	exec(reporting, federate.GrantSQL(federate.SubscriberNeeds(cfg, federate.Subscriber{Name: "reporting"}), "reporting", users[deploy.FnSubscribe])...)
	check("documented grants", Pass, Pass)

	// An admin created the subscriber's schema: the user needs USAGE and CREATE on it.
	exec(reporting, "CREATE SCHEMA sales")
	res = check("schema created by an admin", Pass, Fail)
	if !strings.Contains(res[1].Fix, `GRANT USAGE, CREATE ON SCHEMA "sales" TO "IAMR:Snaplake-SubscribeRole1"`) {
		t.Errorf("subscriber with an admin's schema: %s / %s", res[1].Detail, res[1].Fix)
	}
	exec(reporting, `GRANT USAGE, CREATE ON SCHEMA sales TO "IAMR:Snaplake-SubscribeRole1"`)
	check("schema granted", Pass, Pass)

	// Without the output naming the IAM users, the check says to deploy again.
	if res := CheckFederatePrivileges(ctx, signIns[:1], nil); res[0].Status != Fail || !strings.Contains(res[0].Detail, deploy.OutputFederateDatabaseUsers) {
		t.Errorf("without the output: %+v", res[0])
	}
}
