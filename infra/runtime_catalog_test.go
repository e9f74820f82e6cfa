package main

import (
	"encoding/json"
	"maps"
	"strings"
	"testing"

	"github.com/snaplake/snaplake/internal/deploy"
)

// TestCatalogsAtRuntime: with a Glue database prefix and IAM-governed snapshot
// databases, the crawl wait gets what it needs to create a new database's Glue
// databases and crawler (their settings, the role to pass, CreateCrawler and
// CreateDatabase scoped by the prefixes), every crawler of the prefix resumes the
// workflow, and relocation crawls every database. Without a prefix, or with
// governed snapshot databases, the stack is as before: only the deployed
// databases are crawled and the others are reported NOT_CATALOGED.
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

	for name, extra := range map[string]map[string]any{
		"no prefix": {},
		"governed":  mergeContexts(ingestTestContexts["utc"](), map[string]any{KeyGlueDatabasePrefix: "snap_"}),
	} {
		s := stack(extra)
		if _, ok := env(s, "AwaitCallback")[deploy.EnvCrawlerRoleArn]; ok {
			t.Errorf("%s: the crawl wait would create crawlers", name)
		}
		if got := env(s, "Relocate")[deploy.EnvCrawledDatabases]; got != "Shop" {
			t.Errorf("%s: %s = %v, want the deployed databases", name, deploy.EnvCrawledDatabases, got)
		}
		if got := pattern(s); got != `[{"prefix":"snaplake-shop"}]` {
			t.Errorf("%s: crawler-finished crawlerName = %s, want the deployed crawler", name, got)
		}
		if p := policy(s, "AwaitCallbackRole"); strings.Contains(p, "glue:Create") {
			t.Errorf("%s: the await-callback role may create:\n%s", name, p)
		}
	}
}

func mergeContexts(a, b map[string]any) map[string]any {
	out := maps.Clone(a)
	maps.Copy(out, b)
	return out
}
