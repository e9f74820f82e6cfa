package main

import (
	"fmt"
	"reflect"
	"sort"
	"strings"
	"testing"

	lfgrants "github.com/snaplake/snaplake/internal/ingest/grants"
)

// lakeGrants lists the stack's AWS::LakeFormation::PrincipalPermissions as
// "principal: permissions [grantable] on resource".
func lakeGrants(s *synthesized) []string {
	var out []string
	for _, r := range s.resources("AWS::LakeFormation::PrincipalPermissions") {
		p := props(r)
		res := p["Resource"].(map[string]any)
		var on string
		switch {
		case res["Database"] != nil:
			on = "database " + render(res["Database"].(map[string]any)["Name"])
		case res["Table"] != nil:
			tb := res["Table"].(map[string]any)
			name := "*"
			if n, ok := tb["Name"]; ok {
				name = render(n)
			}
			on = "table " + render(tb["DatabaseName"]) + "." + name
		case res["DataLocation"] != nil:
			on = "location " + render(res["DataLocation"].(map[string]any)["ResourceArn"])
		}
		line := fmt.Sprintf("%s: %v on %s", render(p["Principal"].(map[string]any)["DataLakePrincipalIdentifier"]), p["Permissions"], on)
		if g := p["PermissionsWithGrantOption"]; g != nil && len(asList(g)) > 0 {
			line += fmt.Sprintf(" grantable %v", g)
		}
		out = append(out, line)
	}
	sort.Strings(out)
	return out
}

// TestSnapshotDatabasesPermissionsAreExplicit: the nightly snapshot databases must
// not depend on the account's Lake Formation defaults. Lake Formation starts with
// "Use only IAM access control" for new databases and tables (ALL to
// IAM_ALLOWED_PRINCIPALS); once an administrator turns that off, a new database and
// its new tables grant nothing, and the crawler and the analysts are denied. The
// stack states the access model of these databases itself: IAM governs them (their
// data/ is not registered with Lake Formation; the analyst policy grants the reads),
// made explicit by IAM_ALLOWED_PRINCIPALS on the database and as the default of its
// new tables; and the crawler, the stack's own principal, holds Lake Formation
// permissions of its own, so the nightly keeps working when an administrator puts
// the databases under Lake Formation by revoking IAM_ALLOWED_PRINCIPALS.
func TestSnapshotDatabasesPermissionsAreExplicit(t *testing.T) {
	s := defaultStack(t)
	iamOnly := []any{map[string]any{
		"Principal":   map[string]any{"DataLakePrincipalIdentifier": lfgrants.IAMAllowedPrincipals},
		"Permissions": []any{"ALL"},
	}}
	dbs := map[string]bool{}
	for id, r := range s.resources("AWS::Glue::Database") {
		in := props(r)["DatabaseInput"].(map[string]any)
		name := in["Name"].(string)
		dbs[name] = true
		if got := in["CreateTableDefaultPermissions"]; !reflect.DeepEqual(got, iamOnly) {
			t.Errorf("%s (%s) CreateTableDefaultPermissions = %v, want %v", id, name, got, iamOnly)
		}
	}
	if !reflect.DeepEqual(dbs, map[string]bool{"shop": true, "billing": true, "shop_latest": true, "billing_latest": true}) {
		t.Fatalf("snapshot databases %v, want shop and billing and their _latest companions", dbs)
	}
	var want []string
	for _, db := range []string{"shop", "billing"} {
		latest := db + "_latest"
		want = append(want,
			lfgrants.IAMAllowedPrincipals+": [ALL] on database "+db,
			"${CrawlerRole.Arn}: [CREATE_TABLE ALTER DESCRIBE] on database "+db,
			"${CrawlerRole.Arn}: [ALL] on table "+db+".*",
			lfgrants.IAMAllowedPrincipals+": [ALL] on database "+latest,
			"${LatestRole.Arn}: [CREATE_TABLE ALTER DESCRIBE] on database "+latest,
			"${LatestRole.Arn}: [ALL] on table "+latest+".*",
			"${LatestRole.Arn}: [SELECT DESCRIBE] on table "+db+".*",
		)
	}
	sort.Strings(want)
	got := lakeGrants(s)
	if !reflect.DeepEqual(got, want) {
		t.Errorf("Lake Formation permissions:\n got %q\nwant %q", got, want)
	}
	// Each grant waits for its database: Lake Formation refuses a grant on a database
	// that does not exist yet.
	for id, r := range s.resources("AWS::LakeFormation::PrincipalPermissions") {
		if len(asList(r["DependsOn"])) == 0 || r["DependsOn"] == nil {
			t.Errorf("%s depends on nothing: it may be created before its database", id)
		}
	}
}

// Lake Formation grants are created one after another (PrincipalPermissions created in
// parallel can fail with AlreadyExists, cloudformation-coverage-roadmap#2500): every
// grant but one depends on another grant, in one chain.
func TestLakeGrantsAreCreatedOneAtATime(t *testing.T) {
	for name, s := range map[string]*synthesized{"base": defaultStack(t), "ingest": ingestStackFor(t, "vpc")} {
		grants := s.resources("AWS::LakeFormation::PrincipalPermissions")
		if len(grants) < 3 {
			t.Fatalf("%s: %d Lake Formation grants, want at least 3", name, len(grants))
		}
		heads := 0
		dependents := map[string]int{}
		for id, r := range grants {
			n := 0
			for _, d := range asList(r["DependsOn"]) {
				if _, ok := grants[d.(string)]; ok {
					n++
					dependents[d.(string)]++
				}
			}
			switch n {
			case 0:
				heads++
			case 1:
			default:
				t.Errorf("%s: %s depends on %d grants, want one", name, id, n)
			}
		}
		if heads != 1 {
			t.Errorf("%s: %d grants depend on no other grant, want 1 (one chain)", name, heads)
		}
		for id, n := range dependents {
			if n > 1 {
				t.Errorf("%s: %d grants wait for %s, want one chain", name, n, id)
			}
		}
	}
}

// TestGovernedSnapshotDatabases: with the grants function (snaplake:ingest), the
// config's access rules govern the snapshot databases and their _latest companions
// through Lake Formation, as they govern the ingested ones: data/ is registered, no
// IAM_ALLOWED_PRINCIPALS grant is made and new tables grant nothing by default (so
// what an analyst sees is what the rules grant), the crawler and the latest function
// hold what they use (data/'s location included), and the grants function may grant
// and revoke on every one of them.
func TestGovernedSnapshotDatabases(t *testing.T) {
	s := ingestStackFor(t, "utc")
	for id, r := range s.resources("AWS::Glue::Database") {
		in := props(r)["DatabaseInput"].(map[string]any)
		if got, ok := in["CreateTableDefaultPermissions"]; !ok || !reflect.DeepEqual(got, []any{}) {
			t.Errorf("%s CreateTableDefaultPermissions = %v, want [] (Lake Formation permissions only)", id, got)
		}
	}
	locs := s.resources("AWS::LakeFormation::Resource")
	if r, ok := locs["SnapshotDataLocation"]; !ok || render(props(r)["ResourceArn"]) != "${Lake.Arn}/data" {
		t.Fatalf("data/ is not registered with Lake Formation: %v", locs)
	}
	var got []string
	for _, g := range lakeGrants(s) {
		if !strings.Contains(g, "raw_warehouse") && !strings.HasSuffix(g, "/raw") && !strings.HasSuffix(g, "/current") {
			got = append(got, g)
		}
	}
	data := "location ${Lake.Arn}/data"
	want := []string{
		"${ApplyGrantsRole.Arn}: [ALL] on database shop grantable [ALL]",
		"${ApplyGrantsRole.Arn}: [ALL] on database shop_latest grantable [ALL]",
		"${ApplyGrantsRole.Arn}: [ALL] on table shop.* grantable [ALL]",
		"${ApplyGrantsRole.Arn}: [ALL] on table shop_latest.* grantable [ALL]",
		"${CrawlerRole.Arn}: [ALL] on table shop.*",
		"${CrawlerRole.Arn}: [CREATE_TABLE ALTER DESCRIBE] on database shop",
		"${CrawlerRole.Arn}: [DATA_LOCATION_ACCESS] on " + data,
		"${LatestRole.Arn}: [ALL] on table shop_latest.*",
		"${LatestRole.Arn}: [CREATE_TABLE ALTER DESCRIBE] on database shop_latest",
		"${LatestRole.Arn}: [DATA_LOCATION_ACCESS] on " + data,
		"${LatestRole.Arn}: [SELECT DESCRIBE] on table shop.*",
	}
	sort.Strings(want)
	if !reflect.DeepEqual(got, want) {
		t.Errorf("Lake Formation permissions:\n got %q\nwant %q", got, want)
	}
}
