package main

import (
	"encoding/json"
	"fmt"
	"maps"
	"slices"
	"strings"
	"testing"

	"github.com/snaplake/snaplake/internal/deploy"
)

// TestCatalogsAtRuntime: with a Glue database prefix, the crawl wait gets what it needs to create a new database's Glue
// databases and crawler (their settings, the role to pass, CreateCrawler and
// CreateDatabase scoped by the prefixes), every crawler of the prefix resumes the
// workflow, and relocation crawls every database; where Lake Formation governs the
// snapshot databases it also grants the stack's roles their permissions there, as
// a data lake administrator. Without a prefix, only the deployed databases are
// crawled and the others are reported NOT_CATALOGED.
func TestCatalogsAtRuntime(t *testing.T) {
	dir := t.TempDir()
	writeDummyAssets(t, dir)
	base := map[string]any{
		KeyDBInstanceIDs: []any{"orders-prod"}, KeyDatabases: []any{"Shop"}, KeyNotificationEmail: "ops@example.com",
		KeyLambdaAssetDir: dir,
	}
	stack := func(extra map[string]any) *synthesized {
		t.Helper()
		ctx := maps.Clone(base)
		maps.Copy(ctx, extra)
		cfg, err := ParseConfig(lookupFrom(ctx))
		if err != nil {
			t.Fatal(err)
		}
		return synth(t, cfg)
	}
	env := func(s *synthesized, fn string) map[string]any {
		for id, r := range s.resources("AWS::Lambda::Function") {
			if strings.HasPrefix(id, fn) {
				vars, _ := props(r)["Environment"].(map[string]any)["Variables"].(map[string]any)
				return vars
			}
		}
		t.Fatalf("no function %s", fn)
		return nil
	}
	pattern := func(s *synthesized) string {
		for id, r := range s.resources("AWS::Events::Rule") {
			if strings.HasPrefix(id, "CrawlerFinished") {
				b, _ := json.Marshal(props(r)["EventPattern"].(map[string]any)["detail"].(map[string]any)["crawlerName"])
				return string(b)
			}
		}
		t.Fatal("no crawler-finished rule")
		return ""
	}
	policy := func(s *synthesized, rolePrefix string) string {
		var out []string
		for _, st := range statementsOfOrNone(s, rolePrefix) {
			b, _ := json.Marshal(st)
			out = append(out, string(b))
		}
		return strings.Join(out, "\n")
	}

	rt := stack(map[string]any{KeyGlueDatabasePrefix: "snap_"})
	await := env(rt, "AwaitCallback")
	if render(await[deploy.EnvCrawlerRoleArn]) != "${CrawlerRole.Arn}" || await[deploy.EnvGlueDatabasePrefix] != "snap_" || await[deploy.EnvCrawlerSecurityConfiguration] == nil {
		t.Errorf("await-callback environment = %v, want the crawler role, the security configuration and the prefix", await)
	}
	if _, ok := env(rt, "Relocate")[deploy.EnvCrawledDatabases]; ok {
		t.Errorf("relocate has %s: every database is crawled", deploy.EnvCrawledDatabases)
	}
	if got := pattern(rt); got != `[{"prefix":"snaplake-"}]` {
		t.Errorf("crawler-finished crawlerName = %s, want the crawler name prefix", got)
	}
	p := policy(rt, "AwaitCallbackRole")
	for _, want := range []string{`"Action":"glue:CreateCrawler","Effect":"Allow","Resource":"*"`, `:database/snap_*`, `:crawler/snaplake-*`, `"iam:PassedToService":"glue.amazonaws.com"`} {
		if !strings.Contains(p, want) {
			t.Errorf("await-callback policy lacks %s:\n%s", want, p)
		}
	}

	if _, ok := await[deploy.EnvGrantsRoleArn]; ok {
		t.Errorf("IAM-governed: the crawl wait has %s", deploy.EnvGrantsRoleArn)
	}
	if n := len(rt.resources("AWS::LakeFormation::DataLakeSettings")); n != 0 {
		t.Errorf("IAM-governed: %d DataLakeSettings, want none", n)
	}

	// Governed by Lake Formation: the crawl wait also grants the stack's roles
	// their permissions on a new database, as a data lake administrator added to
	// the account's (APPEND), and the grants function governs the prefix's databases.
	gov := stack(mergeContexts(ingestTestContexts["utc"](), map[string]any{KeyGlueDatabasePrefix: "snap_"}))
	ga := env(gov, "AwaitCallback")
	if render(ga[deploy.EnvGrantsRoleArn]) != "${ApplyGrantsRole.Arn}" || render(ga[deploy.EnvLatestRoleArn]) != "${LatestRole.Arn}" || render(ga[deploy.EnvCrawlerRoleArn]) != "${CrawlerRole.Arn}" {
		t.Errorf("governed await-callback environment = %v, want the crawler, latest and grants roles", ga)
	}
	ap := policy(gov, "AwaitCallbackRole")
	for _, want := range []string{`"Action":["lakeformation:GrantPermissions","lakeformation:RevokePermissions"],"Effect":"Allow","Resource":"*"`,
		`"Action":"glue:GetDatabase"`, `"Action":"lakeformation:PutDataLakeSettings","Effect":"Deny","Resource":"*"`} {
		if !strings.Contains(ap, want) {
			t.Errorf("governed await-callback policy lacks %s:\n%s", want, ap)
		}
	}
	settings := gov.resources("AWS::LakeFormation::DataLakeSettings")
	if len(settings) != 1 {
		t.Fatalf("governed: %d DataLakeSettings, want 1", len(settings))
	}
	for _, r := range settings {
		b, _ := json.Marshal(props(r))
		if got := string(b); got != `{"Admins":[{"DataLakePrincipalIdentifier":{"Fn::GetAtt":["`+shortIDOf(gov, "AwaitCallbackRole")+`","Arn"]}}],"MutationType":"APPEND"}` {
			t.Errorf("DataLakeSettings = %s, want the await-callback role appended", got)
		}
	}
	gp := policy(gov, "ApplyGrantsRole")
	for _, want := range []string{`:database/snap_*`, `:table/snap_*/*`, `"s3:prefix":["data/"]`} {
		if !strings.Contains(gp, want) {
			t.Errorf("governed grants function policy lacks %s:\n%s", want, gp)
		}
	}

	s := stack(nil)
	if _, ok := env(s, "AwaitCallback")[deploy.EnvCrawlerRoleArn]; ok {
		t.Error("no prefix: the crawl wait would create crawlers")
	}
	if got := env(s, "Relocate")[deploy.EnvCrawledDatabases]; got != "Shop" {
		t.Errorf("no prefix: %s = %v, want the deployed databases", deploy.EnvCrawledDatabases, got)
	}
	if got := pattern(s); got != `[{"prefix":"snaplake-shop"}]` {
		t.Errorf("no prefix: crawler-finished crawlerName = %s, want the deployed crawler", got)
	}
	if p := policy(s, "AwaitCallbackRole"); strings.Contains(p, "glue:Create") {
		t.Errorf("no prefix: the await-callback role may create:\n%s", p)
	}
}

// The permissions the crawl wait grants on a database it catalogs at runtime are
// the ones the stack grants on a deployed one: deploy.SnapshotLakeGrants is the
// one list, checked here against the template.
func TestDeployedSnapshotGrantsAreSnapshotLakeGrants(t *testing.T) {
	s := ingestStackFor(t, "utc")
	roles := deploy.SnapshotRoles{Crawler: "${CrawlerRole.Arn}", Latest: "${LatestRole.Arn}", Grants: "${ApplyGrantsRole.Arn}"}
	var got, want []string
	for _, pp := range s.resources("AWS::LakeFormation::PrincipalPermissions") {
		p := props(pp)
		res := p["Resource"].(map[string]any)
		var db, table string
		switch {
		case res["Database"] != nil:
			db = render(res["Database"].(map[string]any)["Name"])
		case res["Table"] != nil:
			db, table = render(res["Table"].(map[string]any)["DatabaseName"]), "*"
		default:
			continue
		}
		who := render(p["Principal"].(map[string]any)["DataLakePrincipalIdentifier"])
		if (db != "shop" && db != "shop_latest") || who == deploy.IAMAllowedPrincipals {
			continue
		}
		got = append(got, fmt.Sprintf("%s %s.%s %v grantable %v", who, db, table, sortedStrings(p["Permissions"]), sortedStrings(p["PermissionsWithGrantOption"])))
	}
	for _, g := range deploy.SnapshotLakeGrants("shop", roles) {
		want = append(want, fmt.Sprintf("%s %s.%s %v grantable %v", g.Principal, g.Database, g.Table, sortedStrings(g.Permissions), sortedStrings(g.Grantable)))
	}
	slices.Sort(got)
	slices.Sort(want)
	if !slices.Equal(got, want) {
		t.Errorf("the template grants on shop and shop_latest\n  %s\nwant deploy.SnapshotLakeGrants\n  %s", strings.Join(got, "\n  "), strings.Join(want, "\n  "))
	}
}

func sortedStrings(v any) []string {
	var out []string
	switch t := v.(type) {
	case []string:
		out = slices.Clone(t)
	case []any:
		for _, x := range t {
			out = append(out, fmt.Sprint(x))
		}
	}
	slices.Sort(out)
	return out
}

// shortIDOf is the logical ID of the one resource whose ID starts with prefix.
func shortIDOf(s *synthesized, prefix string) string {
	for id := range s.resources("AWS::IAM::Role") {
		if strings.HasPrefix(id, prefix) {
			return id
		}
	}
	return prefix
}

func mergeContexts(a, b map[string]any) map[string]any {
	out := maps.Clone(a)
	maps.Copy(out, b)
	return out
}
