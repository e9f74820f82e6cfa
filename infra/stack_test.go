package main

import (
	"encoding/json"
	"fmt"
	"os"
	"reflect"
	"slices"
	"sort"
	"strings"
	"sync"
	"testing"

	"github.com/aws/aws-cdk-go/awscdk/v2"
	"github.com/aws/aws-cdk-go/awscdk/v2/assertions"
	"github.com/aws/aws-cdk-go/awscdk/v2/awss3"
	"github.com/aws/jsii-runtime-go"

	"github.com/snaplake/snaplake/events"
	"github.com/snaplake/snaplake/internal/deploy"
	"github.com/snaplake/snaplake/internal/local/testenv"
	"github.com/snaplake/snaplake/statemachines"
)

func TestMain(m *testing.M) {
	os.Setenv("JSII_SILENCE_WARNING_END_OF_LIFE_NODE_VERSION", "20")
	code := m.Run()
	jsii.Close()
	os.Exit(code)
}

// synthesized is one synthesized stack and its template as plain JSON.
type synthesized struct {
	cfg      Config
	stack    awscdk.Stack
	template assertions.Template
	json     map[string]any
}

// resources returns the template's resources of type typ by logical id.
func (s *synthesized) resources(typ string) map[string]map[string]any {
	out := map[string]map[string]any{}
	for id, r := range s.json["Resources"].(map[string]any) {
		res := r.(map[string]any)
		if res["Type"] == typ {
			out[id] = res
		}
	}
	return out
}

func props(r map[string]any) map[string]any { p, _ := r["Properties"].(map[string]any); return p }

func testConfig(t *testing.T, manual bool) Config {
	t.Helper()
	dir := t.TempDir()
	writeDummyAssets(t, dir)
	cfg, err := ParseConfig(lookupFrom(map[string]any{
		KeyDBInstanceIDs:          []any{"orders-prod", "Billing-DB"},
		KeyDBClusterIDs:           []any{"Orders-Aurora"},
		KeyDatabases:              []any{"Shop", "billing"},
		KeyIncludeManualSnapshots: manual,
		KeyNotificationEmail:      "ops@example.com",
		KeyLambdaAssetDir:         dir,
	}))
	if err != nil {
		t.Fatalf("ParseConfig: %v", err)
	}
	return cfg
}

// synth builds the stack the way main does, cdk-nag included, environment-agnostic.
func synth(t *testing.T, cfg Config) *synthesized {
	t.Helper()
	return synthIn(t, cfg, nil)
}

// synthIn is synth in an environment (nil: environment-agnostic).
func synthIn(t *testing.T, cfg Config, env *awscdk.Environment) *synthesized {
	t.Helper()
	testenv.NeedsNode(t) // jsii runs the CDK in node
	app := NewApp(nil)
	stack := NewSnaplakeStack(app, deploy.StackName, &SnaplakeStackProps{StackProps: awscdk.StackProps{Env: env}, Config: cfg})
	AddNagChecks(app)
	tmpl := assertions.Template_FromStack(stack, nil)
	b, err := json.Marshal(tmpl.ToJSON())
	if err != nil {
		t.Fatalf("marshal template: %v", err)
	}
	var m map[string]any
	if err := json.Unmarshal(b, &m); err != nil {
		t.Fatalf("unmarshal template: %v", err)
	}
	return &synthesized{cfg: cfg, stack: stack, template: tmpl, json: m}
}

var (
	sharedOnce sync.Once
	shared     *synthesized
	sharedDir  string
)

// defaultStack is synthesized once for the tests that only read it.
func defaultStack(t *testing.T) *synthesized {
	t.Helper()
	testenv.NeedsNode(t) // before the Once: a skip inside it would leave shared nil
	sharedOnce.Do(func() {
		var err error
		sharedDir, err = os.MkdirTemp("", "snaplake-infra-test")
		if err != nil {
			t.Fatal(err)
		}
		writeDummyAssets(t, sharedDir)
		cfg, err := ParseConfig(lookupFrom(map[string]any{
			KeyDBInstanceIDs:     []any{"orders-prod", "Billing-DB"},
			KeyDatabases:         []any{"Shop", "billing"},
			KeyNotificationEmail: "ops@example.com",
			KeyLambdaAssetDir:    sharedDir,
		}))
		if err != nil {
			t.Fatal(err)
		}
		shared = synth(t, cfg)
	})
	if shared == nil {
		t.Fatal("default stack did not synthesize")
	}
	return shared
}

// noPanic runs a CDK assertion, which panics on failure, as a test error instead.
func noPanic(t *testing.T, what string, f func()) {
	t.Helper()
	defer func() {
		if r := recover(); r != nil {
			t.Errorf("%s: %v", what, r)
		}
	}()
	f()
}

func normalize(t *testing.T, v any) any {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	var out any
	if err := json.Unmarshal(b, &out); err != nil {
		t.Fatal(err)
	}
	return out
}

func TestNagFindsNoErrors(t *testing.T) {
	for _, manual := range []bool{false, true} {
		t.Run(fmt.Sprintf("manualSnapshots=%v", manual), func(t *testing.T) {
			s := synth(t, testConfig(t, manual))
			found := assertions.Annotations_FromStack(s.stack).FindError(jsii.String("*"), assertions.Match_StringLikeRegexp(jsii.String("AwsSolutions-.*")))
			for _, msg := range *found {
				t.Errorf("cdk-nag error at %s: %v", *msg.Id, msg.Entry.Data)
			}
		})
	}
}

func TestRulePatternsAreTheEmbeddedOnes(t *testing.T) {
	for _, manual := range []bool{false, true} {
		t.Run(fmt.Sprintf("manualSnapshots=%v", manual), func(t *testing.T) {
			s := synth(t, testConfig(t, manual))
			vars := events.Params{
				DBInstanceIDs:          []string{"orders-prod", "billing-db"},
				DBClusterIDs:           []string{"orders-aurora"},
				CrawlerNames:           []string{"snaplake-shop", "snaplake-billing"},
				IncludeManualSnapshots: manual,
			}.Vars()
			rules := map[string]map[string]any{}
			for _, r := range s.resources("AWS::Events::Rule") {
				rules[props(r)["Name"].(string)] = props(r)
			}
			if len(rules) != len(events.PatternNames()) {
				t.Errorf("%d rules, want %d", len(rules), len(events.PatternNames()))
			}
			for _, name := range events.PatternNames() {
				rule, ok := rules[deploy.StackName+"-"+name]
				if !ok {
					t.Errorf("no rule named %s-%s", deploy.StackName, name)
					continue
				}
				want, err := events.Pattern(name, vars)
				if err != nil {
					t.Fatal(err)
				}
				if got := rule["EventPattern"]; !reflect.DeepEqual(normalize(t, got), normalize(t, want)) {
					t.Errorf("rule %s pattern\n got %v\nwant %v", name, got, want)
				}
				// Matching is by EventID; message wording has changed over time.
				if strings.Contains(fmt.Sprint(rule["EventPattern"]), "Message") {
					t.Errorf("rule %s matches on Message", name)
				}
			}
			created := fmt.Sprint(rules[deploy.StackName+"-"+events.SnapshotCreated]["EventPattern"])
			if got := strings.Contains(created, "RDS-EVENT-0042"); got != manual {
				t.Errorf("snapshot-created pattern mentions manual snapshots = %v, want %v: %s", got, manual, created)
			}
		})
	}
}

func TestRuleTargets(t *testing.T) {
	s := defaultStack(t)
	smID := onlyID(t, s, "AWS::StepFunctions::StateMachine")
	for _, r := range s.resources("AWS::Events::Rule") {
		p := props(r)
		targets := p["Targets"].([]any)
		if len(targets) != 1 {
			t.Fatalf("rule %s has %d targets, want 1", p["Name"], len(targets))
		}
		target := targets[0].(map[string]any)
		arn := fmt.Sprint(target["Arn"])
		if p["Name"] == deploy.StackName+"-"+events.SnapshotCreated {
			if !strings.Contains(arn, smID) {
				t.Errorf("snapshot-created targets %s, want the state machine", arn)
			}
			if _, ok := target["Input"]; ok {
				t.Errorf("snapshot-created target transforms its input; the workflow expects the whole event")
			}
		} else if !strings.Contains(arn, "Resume") {
			t.Errorf("rule %s targets %s, want the resume function", p["Name"], arn)
		}
		if target["DeadLetterConfig"] == nil {
			t.Errorf("rule %s target has no dead-letter queue", p["Name"])
		}
	}
	// EventBridge may start this state machine and nothing else.
	var starts []map[string]any
	for _, r := range s.resources("AWS::IAM::Policy") {
		for _, st := range props(r)["PolicyDocument"].(map[string]any)["Statement"].([]any) {
			if slices.Contains(asList(st.(map[string]any)["Action"]), any("states:StartExecution")) {
				starts = append(starts, st.(map[string]any))
			}
		}
	}
	if len(starts) != 1 || !reflect.DeepEqual(normalize(t, starts[0]["Resource"]), normalize(t, map[string]any{"Ref": smID})) {
		t.Errorf("states:StartExecution granted as %v, want once, on %s", starts, smID)
	}
}

func onlyID(t *testing.T, s *synthesized, typ string) string {
	t.Helper()
	res := s.resources(typ)
	if len(res) != 1 {
		t.Fatalf("%d resources of type %s, want 1", len(res), typ)
	}
	for id := range res {
		return id
	}
	return ""
}

func TestLambdaFunctions(t *testing.T) {
	s := defaultStack(t)
	wantEnv := map[string][]string{
		"startexport":   {"BUCKET", "EXPORT_PREFIX", "EXPORT_ROLE_ARN", "KMS_KEY_ID", "DB_INSTANCE_IDS", "DATABASES", "INCLUDE_MANUAL_SNAPSHOTS", "EXPORT_TIMEOUT_SECONDS", "EXPORT_RECHECK_SECONDS", "CRAWL_TIMEOUT_SECONDS", "SNAPSHOT_TIME_ZONE"},
		"awaitcallback": {"BUCKET", "CALLBACK_PREFIX", "KMS_KEY_ID", "DEST_PREFIX"},
		"resume":        {"BUCKET", "CALLBACK_PREFIX"},
		"relocate":      {"BUCKET", "SOURCE_PREFIX", "DEST_PREFIX", "KMS_KEY_ID", "RETENTION", "CONCURRENCY", "MULTIPART_THRESHOLD"},
	}
	fns := s.resources("AWS::Lambda::Function")
	if len(fns) != len(wantEnv) {
		t.Errorf("%d functions, want %d", len(fns), len(wantEnv))
	}
	seen := map[string]map[string]any{}
	for id, r := range fns {
		p := props(r)
		if p["Runtime"] != "provided.al2023" || p["Handler"] != "bootstrap" {
			t.Errorf("%s: runtime %v handler %v, want provided.al2023 bootstrap", id, p["Runtime"], p["Handler"])
		}
		if !reflect.DeepEqual(p["Architectures"], []any{"arm64"}) {
			t.Errorf("%s: architectures %v, want [arm64]", id, p["Architectures"])
		}
		if fmt.Sprint(p["TracingConfig"]) != "map[Mode:Active]" {
			t.Errorf("%s: tracing %v, want Active", id, p["TracingConfig"])
		}
		lc, _ := p["LoggingConfig"].(map[string]any)
		if lc["LogFormat"] != "JSON" || lc["LogGroup"] == nil {
			t.Errorf("%s: logging %v, want JSON to its own log group", id, lc)
		}
		env := p["Environment"].(map[string]any)["Variables"].(map[string]any)
		for name, keys := range wantEnv {
			if strings.HasPrefix(strings.ToLower(id), strings.ToLower(constructID(name))) {
				seen[name] = env
				for _, k := range keys {
					if _, ok := env[k]; !ok {
						t.Errorf("%s: no %s in environment %v", name, k, env)
					}
				}
			}
		}
	}
	for name := range wantEnv {
		if seen[name] == nil {
			t.Errorf("no function for %s", name)
		}
	}
	start := seen["startexport"]
	for k, want := range map[string]string{
		"EXPORT_PREFIX": "exports/", "DB_INSTANCE_IDS": "orders-prod,billing-db", "DATABASES": "Shop,billing",
		"INCLUDE_MANUAL_SNAPSHOTS": "false", "EXPORT_TIMEOUT_SECONDS": "43200", "CRAWL_TIMEOUT_SECONDS": "3600",
		"EXPORT_RECHECK_SECONDS": "900", "SNAPSHOT_TIME_ZONE": "UTC",
	} {
		if start[k] != want {
			t.Errorf("startexport %s = %v, want %s", k, start[k], want)
		}
	}
	relocate := seen["relocate"]
	for k, want := range map[string]string{"SOURCE_PREFIX": "exports/", "DEST_PREFIX": "data/", "RETENTION": "7", "CONCURRENCY": "64", "MULTIPART_THRESHOLD": "5368709120"} {
		if relocate[k] != want {
			t.Errorf("relocate %s = %v, want %s", k, relocate[k], want)
		}
	}
	noPanic(t, "relocate timeout and memory", func() {
		s.template.HasResourceProperties(jsii.String("AWS::Lambda::Function"), map[string]any{
			"Timeout": 900, "MemorySize": 1024,
			"Environment": map[string]any{"Variables": assertions.Match_ObjectLike(&map[string]any{"SOURCE_PREFIX": "exports/"})},
		})
	})
	noPanic(t, "resume retries then dead-letters", func() {
		s.template.HasResourceProperties(jsii.String("AWS::Lambda::EventInvokeConfig"), map[string]any{"MaximumRetryAttempts": 2})
		s.template.HasResourceProperties(jsii.String("AWS::Lambda::Function"), map[string]any{
			"DeadLetterConfig": assertions.Match_ObjectLike(&map[string]any{}),
			"Environment":      map[string]any{"Variables": assertions.Match_ObjectLike(&map[string]any{"CALLBACK_PREFIX": "callbacks/"})},
		})
	})
}

// constructID maps a function name to its construct id prefix.
func constructID(name string) string {
	return map[string]string{"startexport": "StartExport", "awaitcallback": "AwaitCallback", "resume": "Resume", "relocate": "Relocate"}[name]
}

// starAllowed lists, per role, the actions it may hold on Resource "*": those the IAM
// Service Authorization Reference lists without a resource type (see the comments
// where each is granted). Anything else on "*" fails TestIAMPoliciesAvoidStarResources.
var starAllowed = map[string]map[string]bool{
	"StartExportRole":   {"xray:PutTraceSegments": true, "xray:PutTelemetryRecords": true, "rds:StartExportTask": true, "rds:DescribeExportTasks": true},
	"AwaitCallbackRole": {"xray:PutTraceSegments": true, "xray:PutTelemetryRecords": true, "rds:DescribeExportTasks": true},
	"ResumeRole":        {"xray:PutTraceSegments": true, "xray:PutTelemetryRecords": true, "rds:DescribeExportTasks": true},
	"RelocateRole":      {"xray:PutTraceSegments": true, "xray:PutTelemetryRecords": true},
	"CrawlerRole":       {"glue:GetSecurityConfiguration": true},
	"StateMachineRole": {
		"xray:PutTraceSegments": true, "xray:PutTelemetryRecords": true, "xray:GetSamplingRules": true, "xray:GetSamplingTargets": true,
		"logs:CreateLogDelivery": true, "logs:GetLogDelivery": true, "logs:UpdateLogDelivery": true, "logs:DeleteLogDelivery": true,
		"logs:ListLogDeliveries": true, "logs:PutResourcePolicy": true, "logs:DescribeResourcePolicies": true, "logs:DescribeLogGroups": true,
	},
}

// roleOf names the role a policy is attached to by the prefix of its logical id.
func roleOf(policy map[string]any) string {
	for _, role := range asList(props(policy)["Roles"]) {
		if ref, ok := role.(map[string]any)["Ref"].(string); ok {
			for name := range starAllowed {
				if strings.HasPrefix(ref, name) {
					return name
				}
			}
			return ref
		}
	}
	return ""
}

func asList(v any) []any {
	if l, ok := v.([]any); ok {
		return l
	}
	return []any{v}
}

// starGrants lists the grants on "*" that the role's allow-list does not name, and
// wildcard actions, in the template's identity policies.
func starGrants(policies map[string]map[string]any) []string {
	var bad []string
	for id, r := range policies {
		owner := roleOf(r)
		for _, st := range props(r)["PolicyDocument"].(map[string]any)["Statement"].([]any) {
			stmt := st.(map[string]any)
			actions := asList(stmt["Action"])
			for _, a := range actions {
				if a == "*" || strings.HasSuffix(a.(string), ":*") {
					bad = append(bad, fmt.Sprintf("%s grants %s", id, a))
				}
			}
			for _, res := range asList(stmt["Resource"]) {
				if res != "*" {
					continue
				}
				for _, a := range actions {
					if !starAllowed[owner][a.(string)] {
						bad = append(bad, fmt.Sprintf("%s (role %s) grants %s on \"*\"", id, owner, a))
					}
				}
			}
		}
	}
	sort.Strings(bad)
	return bad
}

func TestIAMPoliciesAvoidStarResources(t *testing.T) {
	s := defaultStack(t)
	policies := s.resources("AWS::IAM::Policy")
	for _, b := range starGrants(policies) {
		t.Error(b)
	}
	roles := map[string]bool{}
	for _, r := range policies {
		for _, role := range asList(props(r)["Roles"]) {
			roles[fmt.Sprint(role)] = true
		}
	}
	// Every function's role and the state machine's role has a policy that was checked.
	for _, want := range []string{"StartExportRole", "AwaitCallbackRole", "ResumeRole", "RelocateRole", "StateMachineRole", "ExportRole", "CrawlerRole"} {
		found := false
		for r := range roles {
			if strings.Contains(r, want) {
				found = true
			}
		}
		if !found {
			t.Errorf("no IAM policy attached to %s (roles with policies: %v)", want, roles)
		}
	}
}

// TestStarGrantIsCaught is the positive control: the same check on a copy of the
// template where one scoped resource (relocate's s3:GetObject on data/*) is widened
// to "*", and where a role is granted an action another role may hold on "*".
func TestStarGrantIsCaught(t *testing.T) {
	s := defaultStack(t)
	tampered := normalize(t, s.resources("AWS::IAM::Policy")).(map[string]any)
	policies := map[string]map[string]any{}
	widened := 0
	for id, r := range tampered {
		policies[id] = r.(map[string]any)
		if roleOf(policies[id]) != "RelocateRole" {
			continue
		}
		stmts := props(policies[id])["PolicyDocument"].(map[string]any)["Statement"].([]any)
		for _, st := range stmts {
			stmt := st.(map[string]any)
			if slices.Contains(asList(stmt["Action"]), any("s3:PutObject")) && widened == 0 {
				stmt["Resource"] = "*"
				widened++
			}
		}
		// rds:DescribeExportTasks on "*" is allowed to startexport, not to relocate.
		props(policies[id])["PolicyDocument"].(map[string]any)["Statement"] = append(stmts, map[string]any{"Action": "rds:DescribeExportTasks", "Effect": "Allow", "Resource": "*"})
	}
	if widened != 1 {
		t.Fatalf("found no relocate s3:PutObject statement to widen")
	}
	bad := strings.Join(starGrants(policies), "\n")
	for _, want := range []string{`grants s3:PutObject on "*"`, `grants rds:DescribeExportTasks on "*"`} {
		if !strings.Contains(bad, want) {
			t.Errorf("the check missed %q; it reported:\n%s", want, bad)
		}
	}
}

// statementsOf returns the statements of the policies attached to the role whose
// logical id starts with rolePrefix.
func statementsOf(t *testing.T, s *synthesized, rolePrefix string) []map[string]any {
	t.Helper()
	var out []map[string]any
	for _, r := range s.resources("AWS::IAM::Policy") {
		p := props(r)
		attached := false
		for _, role := range asList(p["Roles"]) {
			if ref, ok := role.(map[string]any)["Ref"].(string); ok && strings.HasPrefix(ref, rolePrefix) {
				attached = true
			}
		}
		if !attached {
			continue
		}
		for _, st := range p["PolicyDocument"].(map[string]any)["Statement"].([]any) {
			out = append(out, st.(map[string]any))
		}
	}
	if len(out) == 0 {
		t.Fatalf("no statements for role %s", rolePrefix)
	}
	return out
}

func grants(stmts []map[string]any, action string) []map[string]any {
	var out []map[string]any
	for _, st := range stmts {
		for _, a := range asList(st["Action"]) {
			if a == action {
				out = append(out, st)
			}
		}
	}
	return out
}

func TestStateMachineRole(t *testing.T) {
	s := defaultStack(t)
	stmts := statementsOf(t, s, "StateMachineRole")
	for _, st := range stmts {
		for _, a := range asList(st["Action"]) {
			if a == "states:*" || a == "lambda:*" || (strings.HasPrefix(a.(string), "lambda:") && slices.Contains(asList(st["Resource"]), any("*"))) {
				t.Errorf("state machine role grants %v on %v", a, st["Resource"])
			}
		}
	}
	invoke := grants(stmts, "lambda:InvokeFunction")
	if len(invoke) != 1 || len(asList(invoke[0]["Resource"])) != 6 {
		t.Fatalf("lambda:InvokeFunction statements %v, want one on three functions and their qualified ARNs", invoke)
	}
	res := fmt.Sprint(invoke[0]["Resource"])
	for _, fn := range []string{"StartExport", "AwaitCallback", "Relocate"} {
		if !strings.Contains(res, fn) {
			t.Errorf("lambda:InvokeFunction resources %s miss %s", res, fn)
		}
	}
	if strings.Contains(res, "Resume") {
		t.Errorf("state machine may invoke the resume function: %s", res)
	}
	if len(grants(stmts, "glue:StartCrawler")) != 0 {
		t.Errorf("the state machine starts no crawler itself: the await function does, after parking the token")
	}
	if len(grants(stmts, "sns:Publish")) != 1 {
		t.Errorf("state machine role cannot publish failures")
	}
}

func TestResumeRoleSendsTaskResultsToThisStateMachineOnly(t *testing.T) {
	s := defaultStack(t)
	smID := onlyID(t, s, "AWS::StepFunctions::StateMachine")
	for _, role := range []string{"ResumeRole", "AwaitCallbackRole"} {
		stmts := statementsOf(t, s, role)
		for _, action := range []string{"states:SendTaskSuccess", "states:SendTaskFailure"} {
			g := grants(stmts, action)
			if len(g) != 1 || !reflect.DeepEqual(normalize(t, g[0]["Resource"]), normalize(t, map[string]any{"Ref": smID})) {
				t.Errorf("%s: %s granted as %v, want on the state machine %s only", role, action, g, smID)
			}
		}
	}
}

func TestAwaitRoleStartsOnlyThisStacksCrawlers(t *testing.T) {
	s := defaultStack(t)
	stmts := statementsOf(t, s, "AwaitCallbackRole")
	crawl := grants(stmts, "glue:StartCrawler")
	if len(crawl) != 1 {
		t.Fatalf("glue:StartCrawler statements %v, want 1", crawl)
	}
	got := fmt.Sprint(crawl[0]["Resource"])
	for _, name := range []string{"crawler/snaplake-shop", "crawler/snaplake-billing"} {
		if !strings.Contains(got, name) {
			t.Errorf("glue:StartCrawler resources %s miss %s", got, name)
		}
	}
	if strings.Contains(got, "crawler/*") || strings.Contains(got, "snaplake-*") {
		t.Errorf("glue:StartCrawler on a wildcard: %s", got)
	}
}

func TestStartExportRole(t *testing.T) {
	s := synth(t, testConfig(t, true))
	stmts := statementsOf(t, s, "StartExportRole")
	start := grants(stmts, "rds:StartExportTask")
	if len(start) != 1 {
		t.Fatalf("rds:StartExportTask statements %v, want 1", start)
	}
	// The IAM reference gives StartExportTask the resource types snapshot,
	// cluster-snapshot and cluster: exactly the configured sources' snapshots.
	gotStart := fmt.Sprint(start[0]["Resource"])
	for _, want := range []string{"snapshot:rds:orders-prod-*", "snapshot:rds:billing-db-*", "snapshot:orders-prod-*", "cluster-snapshot:rds:orders-aurora-*"} {
		if !strings.Contains(gotStart, want) {
			t.Errorf("rds:StartExportTask resources %s miss %s", gotStart, want)
		}
	}
	if strings.Contains(gotStart, `"*"`) || strings.Contains(gotStart, ":cluster:") || start[0]["Resource"] == "*" {
		t.Errorf("rds:StartExportTask on %s: broader than the configured sources' snapshots", gotStart)
	}
	clusters := grants(stmts, "rds:DescribeDBClusterSnapshots")
	if len(clusters) != 1 || !strings.Contains(fmt.Sprint(clusters[0]["Resource"]), "cluster-snapshot:rds:orders-aurora-*") {
		t.Errorf("rds:DescribeDBClusterSnapshots granted as %v, want on the cluster's automated cluster snapshots", clusters)
	}
	describe := grants(stmts, "rds:DescribeDBSnapshots")
	if len(describe) != 1 {
		t.Fatalf("rds:DescribeDBSnapshots statements %v, want 1", describe)
	}
	got := fmt.Sprint(describe[0]["Resource"])
	for _, want := range []string{"snapshot:rds:orders-prod-*", "snapshot:rds:billing-db-*", "snapshot:orders-prod-*", "snapshot:billing-db-*"} {
		if !strings.Contains(got, want) {
			t.Errorf("rds:DescribeDBSnapshots resources %s miss %s", got, want)
		}
	}
	pass := grants(stmts, "iam:PassRole")
	if len(pass) != 1 || !strings.Contains(fmt.Sprint(pass[0]["Resource"]), "ExportRole") || pass[0]["Condition"] == nil {
		t.Errorf("iam:PassRole granted as %v, want on the export role with an iam:PassedToService condition", pass)
	}
	for _, action := range []string{"kms:CreateGrant", "kms:DescribeKey"} {
		g := grants(stmts, action)
		if len(g) != 1 || !strings.Contains(fmt.Sprint(g[0]["Resource"]), "Key") {
			t.Errorf("%s granted as %v, want on the key", action, g)
		}
	}
}

func TestExportRoleTrustAndScope(t *testing.T) {
	s := defaultStack(t)
	noPanic(t, "export role trust", func() {
		s.template.HasResourceProperties(jsii.String("AWS::IAM::Role"), map[string]any{
			"AssumeRolePolicyDocument": map[string]any{"Statement": []any{map[string]any{
				"Action":    "sts:AssumeRole",
				"Effect":    "Allow",
				"Principal": map[string]any{"Service": "export.rds.amazonaws.com"},
				"Condition": map[string]any{"StringEquals": map[string]any{"aws:SourceAccount": map[string]any{"Ref": "AWS::AccountId"}}},
			}}},
		})
	})
	for _, st := range statementsOf(t, s, "ExportRole") {
		res := fmt.Sprint(st["Resource"])
		for _, a := range asList(st["Action"]) {
			if strings.HasSuffix(a.(string), "Object*") && !strings.Contains(res, "/exports/*") {
				t.Errorf("export role grants %v on %s, want exports/* only", a, res)
			}
		}
	}
}

func TestBucketProtection(t *testing.T) {
	s := defaultStack(t)
	keyID := onlyID(t, s, "AWS::KMS::Key")
	noPanic(t, "lake bucket encryption, public access, lifecycle", func() {
		s.template.HasResourceProperties(jsii.String("AWS::S3::Bucket"), map[string]any{
			"BucketEncryption": map[string]any{"ServerSideEncryptionConfiguration": []any{map[string]any{
				"BucketKeyEnabled": true,
				"ServerSideEncryptionByDefault": map[string]any{
					"SSEAlgorithm":   "aws:kms",
					"KMSMasterKeyID": map[string]any{"Fn::GetAtt": []any{keyID, "Arn"}},
				},
			}}},
			"PublicAccessBlockConfiguration": map[string]any{
				"BlockPublicAcls": true, "BlockPublicPolicy": true, "IgnorePublicAcls": true, "RestrictPublicBuckets": true,
			},
			"LoggingConfiguration": assertions.Match_ObjectLike(&map[string]any{"LogFilePrefix": "lake/"}),
			"LifecycleConfiguration": map[string]any{"Rules": assertions.Match_ArrayWith(&[]any{
				assertions.Match_ObjectLike(&map[string]any{"Prefix": "exports/", "ExpirationInDays": 14, "Status": "Enabled"}),
				assertions.Match_ObjectLike(&map[string]any{"Prefix": "athena-results/", "ExpirationInDays": 30}),
				assertions.Match_ObjectLike(&map[string]any{"Prefix": "callbacks/", "ExpirationInDays": 30}),
				assertions.Match_ObjectLike(&map[string]any{"AbortIncompleteMultipartUpload": map[string]any{"DaysAfterInitiation": 7}}),
			})},
		})
	})
	// TLS: both buckets deny requests without aws:SecureTransport.
	denies := 0
	for _, r := range s.resources("AWS::S3::BucketPolicy") {
		for _, st := range props(r)["PolicyDocument"].(map[string]any)["Statement"].([]any) {
			stmt := st.(map[string]any)
			if stmt["Effect"] == "Deny" && strings.Contains(fmt.Sprint(stmt["Condition"]), "aws:SecureTransport:false") {
				denies++
			}
		}
	}
	if denies != 2 {
		t.Errorf("%d bucket policies deny insecure transport, want 2 (lake and access logs)", denies)
	}
}

func TestKeyRotationAndPolicy(t *testing.T) {
	s := defaultStack(t)
	keys := s.resources("AWS::KMS::Key")
	for id, k := range keys {
		p := props(k)
		if p["EnableKeyRotation"] != true {
			t.Errorf("%s: key rotation off", id)
		}
		for _, st := range p["KeyPolicy"].(map[string]any)["Statement"].([]any) {
			stmt := st.(map[string]any)
			if !slices.Contains(asList(stmt["Action"]), any("kms:*")) {
				continue
			}
			principal := fmt.Sprint(stmt["Principal"])
			if !strings.Contains(principal, ":root") || strings.Contains(principal, "Service") {
				t.Errorf("%s: kms:* granted to %s, want the account root only", id, principal)
			}
		}
		var logs map[string]any
		for _, st := range p["KeyPolicy"].(map[string]any)["Statement"].([]any) {
			if strings.Contains(fmt.Sprint(st.(map[string]any)["Principal"]), "logs.") {
				logs = st.(map[string]any)
			}
		}
		if logs == nil || !strings.Contains(fmt.Sprint(logs["Condition"]), "kms:EncryptionContext:aws:logs:arn") {
			t.Errorf("%s: CloudWatch Logs statement %v, want it conditioned on the log group ARN", id, logs)
		}
		// EventBridge writes undeliverable events to the encrypted dead-letter queue:
		// SQS asks KMS on its behalf, so the statement names what that request carries
		// (the calling service and the queue's encryption context), not aws:SourceArn,
		// which no page says it carries (review F1).
		var dlq map[string]any
		for _, st := range p["KeyPolicy"].(map[string]any)["Statement"].([]any) {
			if st.(map[string]any)["Sid"] == "EventBridgeDeadLetterQueue" {
				dlq = st.(map[string]any)
			}
		}
		queueName := deploy.StackName + deploy.DeadLetterQueueSuffix
		want := map[string]any{
			"Sid": "EventBridgeDeadLetterQueue", "Effect": "Allow", "Resource": "*",
			"Principal": map[string]any{"Service": "events.amazonaws.com"},
			"Action":    []any{"kms:Decrypt", "kms:GenerateDataKey"},
			"Condition": map[string]any{"StringEquals": map[string]any{
				"kms:ViaService":                    map[string]any{"Fn::Join": []any{"", []any{"sqs.", map[string]any{"Ref": "AWS::Region"}, ".amazonaws.com"}}},
				"kms:EncryptionContext:aws:sqs:arn": map[string]any{"Fn::Join": []any{"", []any{"arn:", map[string]any{"Ref": "AWS::Partition"}, ":sqs:", map[string]any{"Ref": "AWS::Region"}, ":", map[string]any{"Ref": "AWS::AccountId"}, ":" + queueName}}},
			}},
		}
		if !reflect.DeepEqual(dlq, want) {
			t.Errorf("%s: dead-letter statement\n%v\nwant\n%v", id, dlq, want)
		}
	}
	// The queue has the fixed name the key policy names.
	queues := s.resources("AWS::SQS::Queue")
	if q := props(queues[onlyID(t, s, "AWS::SQS::Queue")]); q["QueueName"] != deploy.StackName+deploy.DeadLetterQueueSuffix {
		t.Errorf("dead-letter queue name %v, want %s", q["QueueName"], deploy.StackName+deploy.DeadLetterQueueSuffix)
	}
}

func TestStateMachineDeploysEmbeddedDefinition(t *testing.T) {
	s := defaultStack(t)
	id := onlyID(t, s, "AWS::StepFunctions::StateMachine")
	p := props(s.resources("AWS::StepFunctions::StateMachine")[id])
	def, ok := p["DefinitionString"].(string)
	if !ok {
		t.Fatalf("DefinitionString is %T, want the embedded definition as a plain string", p["DefinitionString"])
	}
	if def != string(statemachines.Export) {
		t.Errorf("deployed definition differs from statemachines.Export")
	}
	var keys []string
	for k := range p["DefinitionSubstitutions"].(map[string]any) {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	if want := statemachines.Placeholders(statemachines.Export); !slices.Equal(keys, want) {
		t.Errorf("DefinitionSubstitutions keys %v, want %v", keys, want)
	}
	subs := p["DefinitionSubstitutions"].(map[string]any)
	if subs[statemachines.CrawlerNamePrefix] != deploy.CrawlerNamePrefix {
		t.Errorf("CrawlerNamePrefix = %v, want %s", subs[statemachines.CrawlerNamePrefix], deploy.CrawlerNamePrefix)
	}
	for key, fn := range map[string]string{
		statemachines.StartExportFunctionArn: "StartExport", statemachines.AwaitCallbackFunctionArn: "AwaitCallback",
		statemachines.RelocateFunctionArn: "Relocate", statemachines.NotificationTopicArn: "Notifications",
	} {
		if !strings.Contains(fmt.Sprint(subs[key]), fn) {
			t.Errorf("%s = %v, want a reference to %s", key, subs[key], fn)
		}
	}
	// With every placeholder filled the definition is valid JSON.
	fill := map[string]string{}
	for _, k := range keys {
		fill[k] = "x"
	}
	rendered, err := statemachines.Render([]byte(def), fill)
	if err != nil {
		t.Fatal(err)
	}
	if !json.Valid(rendered) {
		t.Errorf("rendered definition is not JSON")
	}
	if p["StateMachineType"] != "STANDARD" {
		t.Errorf("type %v, want STANDARD", p["StateMachineType"])
	}
	if fmt.Sprint(p["TracingConfiguration"]) != "map[Enabled:true]" {
		t.Errorf("tracing %v, want enabled", p["TracingConfiguration"])
	}
	if lc := p["LoggingConfiguration"].(map[string]any); lc["Level"] != "ALL" || lc["IncludeExecutionData"] != true {
		t.Errorf("logging %v, want level ALL with execution data", lc)
	}
	for id, lg := range s.resources("AWS::Logs::LogGroup") {
		if props(lg)["KmsKeyId"] == nil || props(lg)["RetentionInDays"] != float64(90) {
			t.Errorf("log group %s: %v, want KMS and 90 days retention", id, props(lg))
		}
	}
}

func TestCrawlers(t *testing.T) {
	s := defaultStack(t)
	crawlers := s.resources("AWS::Glue::Crawler")
	if len(crawlers) != 2 {
		t.Fatalf("%d crawlers, want 2", len(crawlers))
	}
	want := map[string]string{"snaplake-shop": "/data/Shop/", "snaplake-billing": "/data/billing/"}
	for id, c := range crawlers {
		p := props(c)
		name := p["Name"].(string)
		suffix, ok := want[name]
		if !ok {
			t.Errorf("%s: unexpected crawler name %s", id, name)
			continue
		}
		var conf map[string]any
		if err := json.Unmarshal([]byte(p["Configuration"].(string)), &conf); err != nil {
			t.Fatalf("%s: configuration: %v", name, err)
		}
		wantConf := map[string]any{
			"Version":       1.0,
			"Grouping":      map[string]any{"TableGroupingPolicy": "CombineCompatibleSchemas"},
			"CrawlerOutput": map[string]any{"Partitions": map[string]any{"AddOrUpdateBehavior": "InheritFromTable"}},
		}
		if !reflect.DeepEqual(conf, wantConf) {
			t.Errorf("%s: configuration %v, want %v", name, conf, wantConf)
		}
		if got := fmt.Sprint(p["SchemaChangePolicy"]); got != "map[DeleteBehavior:DELETE_FROM_DATABASE UpdateBehavior:UPDATE_IN_DATABASE]" {
			t.Errorf("%s: schema change policy %s", name, got)
		}
		if got := fmt.Sprint(p["RecrawlPolicy"]); got != "map[RecrawlBehavior:CRAWL_EVERYTHING]" {
			t.Errorf("%s: recrawl policy %s", name, got)
		}
		if p["Schedule"] != nil {
			t.Errorf("%s: has a schedule; the state machine starts it", name)
		}
		if p["CrawlerSecurityConfiguration"] == nil {
			t.Errorf("%s: no security configuration", name)
		}
		path := fmt.Sprint(p["Targets"])
		if !strings.Contains(path, suffix) || !strings.Contains(path, "Exclusions:[**]") {
			t.Errorf("%s: targets %s, want s3://<bucket>%s excluding everything until a night sets the table folders", name, path, suffix)
		}
	}
	var dbs []string
	for _, d := range s.resources("AWS::Glue::Database") {
		dbs = append(dbs, props(d)["DatabaseInput"].(map[string]any)["Name"].(string))
	}
	sort.Strings(dbs)
	if !slices.Equal(dbs, []string{"billing", "shop"}) {
		t.Errorf("Glue databases %v, want [billing shop]", dbs)
	}
	noPanic(t, "Glue security configuration", func() {
		s.template.HasResourceProperties(jsii.String("AWS::Glue::SecurityConfiguration"), map[string]any{
			"EncryptionConfiguration": map[string]any{
				"CloudWatchEncryption":   assertions.Match_ObjectLike(&map[string]any{"CloudWatchEncryptionMode": "SSE-KMS"}),
				"JobBookmarksEncryption": assertions.Match_ObjectLike(&map[string]any{"JobBookmarksEncryptionMode": "CSE-KMS"}),
				"S3Encryptions":          assertions.Match_AnyValue(),
			},
		})
	})
}

func TestAthenaWorkGroupAndOutputs(t *testing.T) {
	s := defaultStack(t)
	keyID := onlyID(t, s, "AWS::KMS::Key")
	noPanic(t, "Athena workgroup", func() {
		s.template.HasResourceProperties(jsii.String("AWS::Athena::WorkGroup"), map[string]any{
			"Name": WorkGroupName,
			"WorkGroupConfiguration": map[string]any{
				"EnforceWorkGroupConfiguration":   true,
				"PublishCloudWatchMetricsEnabled": true,
				"EngineVersion":                   map[string]any{"SelectedEngineVersion": "Athena engine version 3"},
				"ResultConfiguration": map[string]any{
					"OutputLocation": assertions.Match_AnyValue(),
					"EncryptionConfiguration": map[string]any{
						"EncryptionOption": "SSE_KMS",
						"KmsKey":           map[string]any{"Fn::GetAtt": []any{keyID, "Arn"}},
					},
				},
			},
		})
	})
	outputs := s.json["Outputs"].(map[string]any)
	for _, name := range deploy.Outputs {
		if _, ok := outputs[name]; !ok {
			t.Errorf("no output %s", name)
		}
	}
	if v := outputs[deploy.OutputGlueDatabases].(map[string]any)["Value"]; v != "shop,billing" {
		t.Errorf("GlueDatabases output %v, want shop,billing", v)
	}
}

func TestTopicAndQueue(t *testing.T) {
	s := defaultStack(t)
	noPanic(t, "topic encrypted with an e-mail subscriber", func() {
		s.template.HasResourceProperties(jsii.String("AWS::SNS::Topic"), map[string]any{"KmsMasterKeyId": assertions.Match_AnyValue()})
		s.template.HasResourceProperties(jsii.String("AWS::SNS::Subscription"), map[string]any{"Protocol": "email", "Endpoint": "ops@example.com"})
		s.template.HasResourceProperties(jsii.String("AWS::SQS::Queue"), map[string]any{"KmsMasterKeyId": assertions.Match_AnyValue()})
	})
	for kind, typ := range map[string]string{"topic": "AWS::SNS::TopicPolicy", "queue": "AWS::SQS::QueuePolicy"} {
		tls := false
		for _, r := range s.resources(typ) {
			if strings.Contains(fmt.Sprint(props(r)["PolicyDocument"]), "aws:SecureTransport:false") {
				tls = true
			}
		}
		if !tls {
			t.Errorf("%s policy does not deny insecure transport", kind)
		}
	}
}

// BenchmarkSynth measures one synthesis of the stack with cdk-nag, what every
// `cdk synth` and each table case above pays once the jsii runtime is warm.
func BenchmarkSynth(b *testing.B) {
	dir := b.TempDir()
	for _, name := range FunctionNames {
		if err := os.MkdirAll(dir+"/"+name, 0o755); err != nil {
			b.Fatal(err)
		}
		if err := os.WriteFile(dir+"/"+name+"/bootstrap", []byte(name), 0o755); err != nil {
			b.Fatal(err)
		}
	}
	cfg, err := ParseConfig(lookupFrom(map[string]any{
		KeyDBInstanceIDs: []any{"orders-prod"}, KeyDatabases: []any{"shop", "billing"}, KeyLambdaAssetDir: dir,
	}))
	if err != nil {
		b.Fatal(err)
	}
	for b.Loop() {
		app := NewApp(nil)
		stack := NewSnaplakeStack(app, deploy.StackName, &SnaplakeStackProps{Config: cfg})
		AddNagChecks(app)
		assertions.Template_FromStack(stack, nil)
	}
}

// TestNagReportsAnUnencryptedBucket is the positive control of TestNagFindsNoErrors:
// the same checks, on the same app, do report a bucket without encryption.
func TestNagReportsAnUnencryptedBucket(t *testing.T) {
	testenv.NeedsNode(t)
	app := NewApp(nil)
	stack := NewSnaplakeStack(app, deploy.StackName, &SnaplakeStackProps{Config: testConfig(t, false)})
	awss3.NewBucket(stack, jsii.String("Careless"), &awss3.BucketProps{Encryption: awss3.BucketEncryption_UNENCRYPTED})
	AddNagChecks(app)
	assertions.Template_FromStack(stack, nil)
	found := assertions.Annotations_FromStack(stack).FindError(jsii.String("/"+deploy.StackName+"/Careless/Resource"), assertions.Match_StringLikeRegexp(jsii.String("AwsSolutions-.*")))
	if len(*found) == 0 {
		t.Fatal("cdk-nag reported nothing on a bucket without encryption, logging or TLS enforcement: TestNagFindsNoErrors would prove nothing")
	}
	var ids []string
	for _, m := range *found {
		ids = append(ids, fmt.Sprint(m.Entry.Data))
	}
	if !strings.Contains(strings.Join(ids, " "), "AwsSolutions-S10") && !strings.Contains(strings.Join(ids, " "), "AwsSolutions-S1") {
		t.Errorf("findings on the careless bucket: %v, want the S3 rules among them", ids)
	}
}

func TestCrawlerRoleHasNoManagedPolicy(t *testing.T) {
	s := defaultStack(t)
	for id, r := range s.resources("AWS::IAM::Role") {
		if mp := props(r)["ManagedPolicyArns"]; mp != nil {
			t.Errorf("role %s has managed policies %v: grant what it needs inline, scoped", id, mp)
		}
	}
	stmts := statementsOf(t, s, "CrawlerRole")
	for _, action := range []string{"glue:CreateTable", "glue:UpdateTable", "glue:BatchCreatePartition", "glue:GetTable"} {
		g := grants(stmts, action)
		if len(g) != 1 {
			t.Fatalf("%s statements %v, want 1", action, g)
		}
		res := fmt.Sprint(g[0]["Resource"])
		if !strings.Contains(res, "database/shop") || !strings.Contains(res, "table/billing/*") || strings.Contains(res, "database/*") {
			t.Errorf("%s on %s, want this stack's databases and their tables only", action, res)
		}
	}
	for _, st := range stmts {
		for _, a := range asList(st["Action"]) {
			if a == "glue:*" || a == "s3:*" {
				t.Errorf("crawler role grants %v", a)
			}
		}
	}
}

func TestAlarmsNotifyTheTopic(t *testing.T) {
	s := defaultStack(t)
	alarms := s.resources("AWS::CloudWatch::Alarm")
	topicID := onlyID(t, s, "AWS::SNS::Topic")
	byName := map[string]map[string]any{}
	for _, a := range alarms {
		p := props(a)
		byName[p["AlarmName"].(string)] = p
		if !strings.Contains(fmt.Sprint(p["AlarmActions"]), topicID) {
			t.Errorf("alarm %v does not notify the topic: %v", p["AlarmName"], p["AlarmActions"])
		}
	}
	noRun := byName[deploy.StackName+"-no-export-started"]
	if noRun == nil || noRun["MetricName"] != "ExecutionsStarted" || noRun["TreatMissingData"] != "breaching" ||
		noRun["Period"].(float64)*noRun["EvaluationPeriods"].(float64) != 26*3600 {
		t.Errorf("no-export-started alarm = %v, want ExecutionsStarted over 26 hours, missing data breaching", noRun)
	}
	failed := byName[deploy.StackName+"-executions-failed"]
	if failed == nil || !strings.Contains(fmt.Sprint(failed["Metrics"]), "ExecutionsFailed") || !strings.Contains(fmt.Sprint(failed["Metrics"]), "ExecutionsTimedOut") {
		t.Errorf("executions-failed alarm = %v, want failed and timed-out executions", failed)
	}
	// The first wait for an export slot notifies: the start function's warning lines
	// with the quota's error code are counted by a filter on its log group.
	quota := byName[deploy.StackName+"-export-quota-wait"]
	if quota == nil || quota["MetricName"] != deploy.ExportQuotaWaitsMetric || quota["Namespace"] != deploy.ExportMetricsNamespace ||
		quota["Threshold"] != float64(1) || quota["TreatMissingData"] != "notBreaching" {
		t.Errorf("export-quota-wait alarm = %v", quota)
	}
	filters := s.resources("AWS::Logs::MetricFilter")
	startLogs := ""
	for id, lg := range s.resources("AWS::Logs::LogGroup") {
		if strings.HasSuffix(fmt.Sprint(props(lg)["LogGroupName"]), "lambda/"+deploy.FnStartExport) {
			startLogs = id
		}
	}
	var found bool
	for _, f := range filters {
		p := props(f)
		if p["FilterPattern"] == `{ $.errorCode = "ExportTaskLimitReachedFault" }` && strings.Contains(fmt.Sprint(p["LogGroupName"]), startLogs) && startLogs != "" &&
			strings.Contains(fmt.Sprint(p["MetricTransformations"]), deploy.ExportQuotaWaitsMetric) {
			found = true
		}
	}
	if !found {
		t.Errorf("no metric filter counts the quota's error code in the start function's log group %s: %v", startLogs, filters)
	}
	dlq := byName[deploy.StackName+"-dead-letters"]
	if dlq == nil || dlq["MetricName"] != "ApproximateNumberOfMessagesVisible" {
		t.Errorf("dead-letters alarm = %v", dlq)
	}
	// CloudWatch must be able to use the key of the encrypted topic.
	keyPolicy := fmt.Sprint(props(s.resources("AWS::KMS::Key")[onlyID(t, s, "AWS::KMS::Key")])["KeyPolicy"])
	if !strings.Contains(keyPolicy, "cloudwatch.amazonaws.com") {
		t.Errorf("the key policy does not let CloudWatch alarms publish to the encrypted topic")
	}
}

func TestAnalystPolicy(t *testing.T) {
	s := defaultStack(t)
	var stmts []map[string]any
	for _, r := range s.resources("AWS::IAM::ManagedPolicy") {
		for _, st := range props(r)["PolicyDocument"].(map[string]any)["Statement"].([]any) {
			stmts = append(stmts, st.(map[string]any))
		}
	}
	for _, action := range []string{"athena:StartQueryExecution", "glue:GetTable", "glue:GetPartitions", "s3:GetObject", "kms:Decrypt", "s3:ListBucket"} {
		if len(grants(stmts, action)) == 0 {
			t.Errorf("the analyst policy lacks %s", action)
		}
	}
	for _, st := range stmts {
		if slices.Contains(asList(st["Resource"]), any("*")) {
			t.Errorf("the analyst policy grants %v on \"*\"", st["Action"])
		}
		for _, a := range asList(st["Action"]) {
			if strings.HasPrefix(a.(string), "s3:Delete") || a == "s3:PutObject" && !strings.Contains(fmt.Sprint(st["Resource"]), "athena-results") {
				t.Errorf("the analyst policy may write the lake: %v on %v", a, st["Resource"])
			}
		}
	}
	if _, ok := s.json["Outputs"].(map[string]any)[deploy.OutputAnalystPolicyArn]; !ok {
		t.Error("no AnalystPolicyArn output")
	}
}

func TestCallbackFunctionsMayListTheirPrefixOnly(t *testing.T) {
	s := defaultStack(t)
	for _, role := range []string{"AwaitCallbackRole", "ResumeRole"} {
		list := grants(statementsOf(t, s, role), "s3:ListBucket")
		if len(list) != 1 || !strings.Contains(fmt.Sprint(list[0]["Condition"]), "callbacks/*") {
			t.Errorf("%s: s3:ListBucket granted as %v, want on the bucket for callbacks/* only", role, list)
		}
	}
	put := grants(statementsOf(t, s, "RelocateRole"), "s3:PutObject")
	var manifest bool
	for _, st := range put {
		if strings.Contains(fmt.Sprint(st["Resource"]), "/exports/*/"+deploy.RelocateManifestName) {
			manifest = true
		}
		if strings.Contains(fmt.Sprint(st["Resource"]), "/exports/*\"") {
			t.Errorf("relocate may write anything under exports/: %v", st["Resource"])
		}
	}
	if !manifest {
		t.Errorf("relocate cannot write its manifest: s3:PutObject on %v", put)
	}
}
