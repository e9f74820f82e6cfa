package main

import (
	"encoding/json"
	"fmt"
	"maps"
	"os"
	"reflect"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/snaplake/snaplake/internal/deploy"
	"github.com/snaplake/snaplake/internal/local/testenv"
	"github.com/snaplake/snaplake/statemachines"
)

const testArchiveSecretArn = "arn:aws:secretsmanager:eu-central-1:123456789012:secret:warehouse-archiver-XyZ789"

// archiveContext is a valid snaplake:archive section; vpc adds the network fields.
func archiveContext(vpc bool) map[string]any {
	m := map[string]any{
		"secretArn": testArchiveSecretArn,
		"endpoint":  "shop.cluster-abc.eu-central-1.rds.amazonaws.com:3306",
	}
	if vpc {
		m["subnetIds"] = []any{"subnet-0123456789abcdef0", "subnet-0fedcba9876543210"}
		m["securityGroupIds"] = []any{"sg-0123456789abcdef0"}
		m["schedule"] = "cron(30 2 ? * SAT *)"
		m["timeZone"] = "Europe/Berlin"
	}
	return m
}

// archiveTestContexts are the stacks the archive tests read (with
// snaplake:databases Shop, as every test stack has).
var archiveTestContexts = map[string]func() map[string]any{
	"none": func() map[string]any { return map[string]any{} },
	"vpc":  func() map[string]any { return map[string]any{KeyArchive: archiveContext(true)} },
	// With the ingestion: Lake Formation governs the snapshot and archive databases.
	"governed": func() map[string]any {
		a := archiveContext(false)
		a["secretKmsKeyArn"] = testSecretKey
		return map[string]any{KeyIngest: ingestContext(true), KeyArchive: a}
	},
}

var (
	archiveOnce   sync.Map // context name -> *sync.Once
	archiveStacks sync.Map // context name -> *synthesized
	archiveAssets struct {
		sync.Mutex
		dir string
	}
)

// archiveStackFor synthesizes (once) the stack of a named archive test context.
func archiveStackFor(t *testing.T, name string) *synthesized {
	t.Helper()
	testenv.NeedsNode(t)
	once, _ := archiveOnce.LoadOrStore(name, &sync.Once{})
	once.(*sync.Once).Do(func() {
		archiveAssets.Lock()
		if archiveAssets.dir == "" {
			dir, err := os.MkdirTemp("", "snaplake-archive-test")
			if err != nil {
				t.Fatal(err)
			}
			writeDummyAssets(t, dir)
			archiveAssets.dir = dir
		}
		archiveAssets.Unlock()
		ctx := map[string]any{
			KeyDBInstanceIDs: []any{"orders-prod"}, KeyDatabases: []any{"Shop"},
			KeyNotificationEmail: "ops@example.com", KeyLambdaAssetDir: archiveAssets.dir,
		}
		for k, v := range archiveTestContexts[name]() {
			ctx[k] = v
		}
		cfg, err := ParseConfig(lookupFrom(ctx))
		if err != nil {
			t.Fatalf("ParseConfig(%s): %v", name, err)
		}
		if err := cfg.CheckLambdaAssets(); err != nil {
			t.Fatalf("CheckLambdaAssets(%s): %v", name, err)
		}
		archiveStacks.Store(name, synth(t, cfg))
	})
	s, ok := archiveStacks.Load(name)
	if !ok {
		t.Fatalf("stack %s did not synthesize", name)
	}
	return s.(*synthesized)
}

func TestArchiveAbsentWithoutContext(t *testing.T) {
	s := archiveStackFor(t, "none")
	if s.cfg.Archive != nil {
		t.Fatal("the base context sets snaplake:archive")
	}
	for _, fn := range s.resources("AWS::Lambda::Function") {
		if name := tagValue(props(fn), deploy.TagFunction); slices.Contains(deploy.ArchiveFunctions, name) {
			t.Errorf("archive function %s without %s", name, KeyArchive)
		}
	}
	for id := range s.json["Resources"].(map[string]any) {
		if strings.HasPrefix(id, "Archive") {
			t.Errorf("resource %s without %s", id, KeyArchive)
		}
	}
	for name := range s.json["Outputs"].(map[string]any) {
		if strings.HasPrefix(name, "Archive") {
			t.Errorf("output %s without %s", name, KeyArchive)
		}
	}
	if n := len(s.resources("AWS::Scheduler::ScheduleGroup")); n != 0 {
		t.Errorf("%d schedule groups without %s or %s", n, KeyIngest, KeyArchive)
	}
	if strings.Contains(fmt.Sprint(s.json["Resources"]), deploy.ArchiveFailedAlarm) || strings.Contains(fmt.Sprint(s.json["Resources"]), "/archive") {
		t.Errorf("the template names the archive without %s", KeyArchive)
	}
}

// TestArchiveLeavesTheRestAlone: every resource of the stack without the section is
// in the stack with it, unchanged, except the key (whose policy names the new
// alarm), the analyst policy (which reads the archive too) and, with the ingestion,
// the grants function (which keeps the table function's grants and lists the
// archive databases' tables).
func TestArchiveLeavesTheRestAlone(t *testing.T) {
	for name, baseStack := range map[string]*synthesized{"vpc": archiveStackFor(t, "none"), "governed": ingestStackFor(t, "vpc")} {
		s := archiveStackFor(t, name)
		all := s.json["Resources"].(map[string]any)
		changed := []string{}
		for id, r := range baseStack.json["Resources"].(map[string]any) {
			got, ok := all[id]
			switch {
			case !ok:
				t.Errorf("%s: resource %s is gone", name, id)
			case !reflect.DeepEqual(got, r):
				changed = append(changed, shortID(id))
			}
		}
		slices.Sort(changed)
		want := []string{"AnalystPolicy", "Key"}
		if name == "governed" {
			// The grants role's cdk-nag suppression names the archive tables too.
			want = []string{"AnalystPolicy", "ApplyGrants", "ApplyGrantsRole", "ApplyGrantsRoleDefaultPolicy", "Key"}
		}
		if !slices.Equal(changed, want) {
			t.Errorf("%s: changed resources %v, want %v", name, changed, want)
		}
		for o, v := range baseStack.json["Outputs"].(map[string]any) {
			if !reflect.DeepEqual(s.json["Outputs"].(map[string]any)[o], v) {
				t.Errorf("%s: output %s changed", name, o)
			}
		}
	}
}

// TestArchiveRolesAreLeastPrivilege pins every (action, resource, condition) each
// archive role holds: a grant added or widened fails here and is reviewed.
func TestArchiveRolesAreLeastPrivilege(t *testing.T) {
	var (
		lake      = "${Lake.Arn}"
		key       = "${Key.Arn}"
		config    = lake + "/config/snaplake.yaml"
		archive   = lake + "/archive/*"
		manifests = lake + "/state/archive-runs/*"
		catalog   = arnOf("glue", "catalog") + " " + arnOf("glue", "database/shop_archive") + " " + arnOf("glue", "table/shop_archive/*")
		eni       = arnOf("ec2", "network-interface/*")
		network   = arnOf("ec2", "subnet/subnet-0123456789abcdef0") + " " + arnOf("ec2", "subnet/subnet-0fedcba9876543210") + " " + arnOf("ec2", "security-group/sg-0123456789abcdef0")
		xray      = "xray:PutTraceSegments,xray:PutTelemetryRecords on *"
		list      = func(prefixes ...string) string {
			b, _ := json.Marshal(map[string]any{"StringLike": map[string]any{"s3:prefix": prefixes}})
			return "s3:ListBucket on " + lake + " when " + string(b)
		}
		vpc = []string{
			"ec2:CreateNetworkInterface on " + network + " " + eni,
			"ec2:DeleteNetworkInterface,ec2:AssignPrivateIpAddresses,ec2:UnassignPrivateIpAddresses on " + eni,
			"ec2:DescribeNetworkInterfaces,ec2:DescribeSubnets on *",
		}
		secret    = "secretsmanager:GetSecretValue on " + testArchiveSecretArn
		secretKey = `kms:Decrypt on ` + testSecretKey + ` when {"StringEquals":{"kms:EncryptionContext:SecretARN":"` + testArchiveSecretArn + `","kms:ViaService":"secretsmanager.eu-central-1.amazonaws.com"}}`
		plan      = func(logs string, extra ...string) []string {
			return grantSet(append([]string{
				"logs:CreateLogStream,logs:PutLogEvents on ${" + logs + ".Arn}", xray,
				"s3:GetObject on " + config, list("config/snaplake.yaml", "state/archive-runs/run.lease.json"), secret,
				"s3:GetObject,s3:PutObject,s3:DeleteObject on " + lake + "/state/archive-runs/run.lease.json", "kms:Decrypt,kms:GenerateDataKey on " + key,
			}, extra...)...)
		}
		table = func(extra ...string) []string {
			return grantSet(append([]string{
				"logs:CreateLogStream,logs:PutLogEvents on ${ArchiveTableLogs.Arn}", xray,
				"s3:GetObject on " + config, secret,
				"s3:GetObject,s3:PutObject on " + archive + " " + manifests,
				list("config/snaplake.yaml", "archive/*", "state/archive-runs/*"),
				"kms:Decrypt,kms:GenerateDataKey on " + key,
				"glue:GetTable,glue:CreateTable,glue:UpdateTable,glue:BatchCreatePartition on " + catalog,
				"cloudwatch:GetMetricData on *",
			}, extra...)...)
		}
		machine = grantSet(
			"lambda:InvokeFunction on ${ArchivePlan.Arn} ${ArchivePlan.Arn}:* ${ArchiveTable.Arn} ${ArchiveTable.Arn}:*",
			"sns:Publish on ${Notifications}",
			"kms:Decrypt,kms:GenerateDataKey on "+key,
			"logs:CreateLogDelivery,logs:GetLogDelivery,logs:UpdateLogDelivery,logs:DeleteLogDelivery,logs:ListLogDeliveries,logs:PutResourcePolicy,logs:DescribeResourcePolicies,logs:DescribeLogGroups on *",
			"xray:PutTraceSegments,xray:PutTelemetryRecords,xray:GetSamplingRules,xray:GetSamplingTargets on *",
		)
		scheduler = grantSet(
			"states:StartExecution on ${ArchiveStateMachine}",
			"sqs:SendMessage on ${DeadLetters.Arn}",
			"kms:Decrypt,kms:GenerateDataKey on "+key,
		)
	)
	want := map[string]map[string][]string{
		"vpc": {
			"ArchivePlanRole":         plan("ArchivePlanLogs", vpc...),
			"ArchiveTableRole":        table(vpc...),
			"ArchiveStateMachineRole": machine,
			"ArchiveSchedulerRole":    scheduler,
		},
		"governed": {
			"ArchivePlanRole":         plan("ArchivePlanLogs", secretKey),
			"ArchiveTableRole":        table(secretKey),
			"ArchiveStateMachineRole": machine,
			"ArchiveSchedulerRole":    scheduler,
			// Lake Formation reads archive/ for the principals it granted, and nothing else.
			"ArchiveLocationRole": grantSet("s3:GetObject on "+archive, list("archive/*"), "kms:Decrypt on "+key),
		},
	}
	for name, roles := range want {
		s := archiveStackFor(t, name)
		for role, w := range roles {
			got := grantsOf(t, s, role)
			if missing, extra := diffSets(got, w); len(missing)+len(extra) > 0 {
				t.Errorf("%s %s:\n missing %s\n extra   %s", name, role, strings.Join(missing, "\n         "), strings.Join(extra, "\n         "))
			}
		}
	}
	// What matters most, stated on its own: no role deletes an object but the run
	// lease (the plan releases it at the run's end), and the roles write under
	// archive/ and state/archive-runs/ only.
	lease := "/" + deploy.ArchiveRunLeaseKey
	for name := range want {
		s := archiveStackFor(t, name)
		for _, role := range []string{"ArchivePlanRole", "ArchiveTableRole"} {
			for _, g := range grantsOf(t, s, role) {
				if strings.Contains(g, "s3:DeleteObject") && (role != "ArchivePlanRole" || !strings.HasSuffix(g, lease)) {
					t.Errorf("%s %s deletes objects other than the run lease: %s", name, role, g)
				}
				if strings.Contains(g, "s3:PutObject") && !strings.HasSuffix(g, "/archive/*") && !strings.HasSuffix(g, "/state/archive-runs/*") && !strings.HasSuffix(g, lease) {
					t.Errorf("%s %s writes outside archive/ and state/archive-runs/: %s", name, role, g)
				}
			}
		}
	}
	// With the ingestion, the grants function lists the archive databases' tables.
	grants := grantsOf(t, archiveStackFor(t, "governed"), "ApplyGrantsRole")
	for _, g := range grantSet("glue:GetDatabase,glue:GetTable,glue:GetTables on " + catalog) {
		if !slices.Contains(grants, g) {
			t.Errorf("the grants function lacks %s", g)
		}
	}
}

// TestArchiveFunctions: each function's environment (what the handlers read),
// sizes and network.
func TestArchiveFunctions(t *testing.T) {
	for _, name := range []string{"vpc", "governed"} {
		s := archiveStackFor(t, name)
		found := 0
		for id, fn := range s.resources("AWS::Lambda::Function") {
			fname := tagValue(props(fn), deploy.TagFunction)
			if !slices.Contains(deploy.ArchiveFunctions, fname) {
				continue
			}
			found++
			p := props(fn)
			env := map[string]string{}
			for k, v := range p["Environment"].(map[string]any)["Variables"].(map[string]any) {
				env[k] = render(v)
			}
			want := map[string]string{
				deploy.EnvBucket: "${Lake}", deploy.EnvKMSKeyID: "${Key.Arn}", deploy.EnvLogLevel: deploy.DefaultLogLevel,
				deploy.EnvMySQLEndpoint: "shop.cluster-abc.eu-central-1.rds.amazonaws.com:3306", deploy.EnvSecretArn: testArchiveSecretArn,
				deploy.EnvArchiveDatabases: "Shop", deploy.EnvGlueDatabasePrefix: "", deploy.EnvArchiveBudgetMargin: "60",
			}
			if !reflect.DeepEqual(env, want) {
				t.Errorf("%s %s environment\n %v\nwant\n %v", name, fname, env, want)
			}
			vpc, inVPC := p["VpcConfig"].(map[string]any)
			if inVPC != (name == "vpc") {
				t.Errorf("%s %s: VpcConfig %v", name, fname, p["VpcConfig"])
			}
			if inVPC && (fmt.Sprint(vpc["SubnetIds"]) != "[subnet-0123456789abcdef0 subnet-0fedcba9876543210]" || fmt.Sprint(vpc["SecurityGroupIds"]) != "[sg-0123456789abcdef0]") {
				t.Errorf("%s %s: VpcConfig %v", name, fname, vpc)
			}
			if fname == deploy.FnArchiveTable {
				// Under Lambda's 15 minutes, and room for a few batch files in /tmp.
				if p["Timeout"] != 900.0 || p["MemorySize"] != float64(deploy.ArchiveTableMemoryMB) || fmt.Sprint(p["EphemeralStorage"]) != fmt.Sprintf("map[Size:%d]", deploy.ArchiveTableEphemeralMB) {
					t.Errorf("%s %s (%s): timeout %v, memory %v, ephemeral %v", name, fname, id, p["Timeout"], p["MemorySize"], p["EphemeralStorage"])
				}
			}
		}
		if found != len(deploy.ArchiveFunctions) {
			t.Errorf("%s: %d archive functions, want %d", name, found, len(deploy.ArchiveFunctions))
		}
	}
}

// TestArchiveWorkflowAndSchedule: the state machine runs the embedded definition
// with every placeholder substituted by the archive's functions and the topic; the
// schedule starts it with {} in the shared snaplake group.
func TestArchiveWorkflowAndSchedule(t *testing.T) {
	for name, sched := range map[string][2]string{"vpc": {"cron(30 2 ? * SAT *)", "Europe/Berlin"}, "governed": {deploy.DefaultArchiveSchedule, "UTC"}} {
		s := archiveStackFor(t, name)
		var machineID string
		for id, m := range s.resources("AWS::StepFunctions::StateMachine") {
			subs, _ := props(m)["DefinitionSubstitutions"].(map[string]any)
			if _, ok := subs[statemachines.ArchivePlanFunctionArn]; !ok {
				continue
			}
			machineID = id
			got := map[string]string{}
			for k, v := range subs {
				got[k] = render(v)
			}
			want := map[string]string{
				statemachines.ArchivePlanFunctionArn:  "${ArchivePlan.Arn}",
				statemachines.ArchiveTableFunctionArn: "${ArchiveTable.Arn}",
				statemachines.NotificationTopicArn:    "${Notifications}",
			}
			if !reflect.DeepEqual(got, want) || !slices.Equal(slices.Sorted(maps.Keys(got)), statemachines.Placeholders(statemachines.Archive)) {
				t.Errorf("%s: substitutions %v, want %v", name, got, want)
			}
			if render(props(m)["DefinitionString"]) != string(statemachines.Archive) {
				t.Errorf("%s: the deployed definition is not the embedded archive.asl.json", name)
			}
		}
		if machineID == "" {
			t.Fatalf("%s: no archive state machine", name)
		}
		var found int
		for _, r := range s.resources("AWS::Scheduler::Schedule") {
			p := props(r)
			if p["Name"] != deploy.ArchiveScheduleName {
				continue
			}
			found++
			tg := p["Target"].(map[string]any)
			if p["GroupName"] != deploy.IngestScheduleGroup || p["ScheduleExpression"] != sched[0] || p["ScheduleExpressionTimezone"] != sched[1] ||
				tg["Input"] != "{}" || render(tg["Arn"]) != "${"+shortID(machineID)+"}" || render(tg["RoleArn"]) != "${ArchiveSchedulerRole.Arn}" ||
				render(tg["DeadLetterConfig"].(map[string]any)["Arn"]) != "${DeadLetters.Arn}" {
				t.Errorf("%s: schedule %v", name, p)
			}
		}
		groups := s.resources("AWS::Scheduler::ScheduleGroup")
		if found != 1 || len(groups) != 1 {
			t.Errorf("%s: %d archive schedules and %d groups, want 1 and the one snaplake group", name, found, len(groups))
		}
		for _, g := range groups {
			if props(g)["Name"] != deploy.IngestScheduleGroup {
				t.Errorf("%s: group %v", name, props(g))
			}
		}
	}
}

// TestArchiveCatalogAndLakeFormation: one archive database per archived source
// database, named after its snapshot database, with the snapshot databases' access
// model in each mode.
func TestArchiveCatalogAndLakeFormation(t *testing.T) {
	type perm struct{ principal, resource, perms, grantable string }
	for _, name := range []string{"vpc", "governed"} {
		governed := name == "governed"
		s := archiveStackFor(t, name)
		var db map[string]any
		for id, r := range s.resources("AWS::Glue::Database") {
			if strings.HasPrefix(id, "ArchiveGlueDatabase") {
				db = props(r)["DatabaseInput"].(map[string]any)
			}
		}
		if db == nil || db["Name"] != "shop_archive" {
			t.Fatalf("%s: archive database %v, want shop_archive", name, db)
		}
		wantDefault := "[map[Permissions:[ALL] Principal:map[DataLakePrincipalIdentifier:IAM_ALLOWED_PRINCIPALS]]]"
		if governed {
			wantDefault = "[]"
		}
		if got := fmt.Sprint(db["CreateTableDefaultPermissions"]); got != wantDefault {
			t.Errorf("%s: new tables' default %s, want %s", name, got, wantDefault)
		}
		var got []perm
		for id, r := range s.resources("AWS::LakeFormation::PrincipalPermissions") {
			if !strings.HasPrefix(id, "Archive") {
				continue
			}
			p := props(r)
			res := p["Resource"].(map[string]any)
			where := ""
			switch {
			case res["DataLocation"] != nil:
				where = "location " + render(res["DataLocation"].(map[string]any)["ResourceArn"])
			case res["Table"] != nil:
				where = "tables of " + render(res["Table"].(map[string]any)["DatabaseName"])
			default:
				where = "database " + render(res["Database"].(map[string]any)["Name"])
			}
			got = append(got, perm{render(p["Principal"].(map[string]any)["DataLakePrincipalIdentifier"]), where, fmt.Sprint(p["Permissions"]), fmt.Sprint(p["PermissionsWithGrantOption"])})
		}
		table := "${ArchiveTableRole.Arn}"
		want := []perm{
			{table, "database shop_archive", "[CREATE_TABLE ALTER DESCRIBE]", "[]"},
			{table, "tables of shop_archive", "[ALL]", "[]"},
		}
		if governed {
			want = append(want,
				perm{table, "location ${Lake.Arn}/archive", "[DATA_LOCATION_ACCESS]", "[]"},
				perm{"${ApplyGrantsRole.Arn}", "database shop_archive", "[ALL]", "[ALL]"},
				perm{"${ApplyGrantsRole.Arn}", "tables of shop_archive", "[ALL]", "[ALL]"})
		} else {
			want = append(want, perm{deploy.IAMAllowedPrincipals, "database shop_archive", "[ALL]", "[]"})
		}
		key := func(p perm) string { return p.principal + p.resource }
		slices.SortFunc(got, func(a, b perm) int { return strings.Compare(key(a), key(b)) })
		slices.SortFunc(want, func(a, b perm) int { return strings.Compare(key(a), key(b)) })
		if !reflect.DeepEqual(got, want) {
			t.Errorf("%s: Lake Formation permissions\n %v\nwant\n %v", name, got, want)
		}
		var locations []string
		for id, r := range s.resources("AWS::LakeFormation::Resource") {
			if strings.HasPrefix(id, "Archive") {
				locations = append(locations, render(props(r)["ResourceArn"])+" as "+render(props(r)["RoleArn"]))
			}
		}
		wantLocations := []string(nil)
		if governed {
			wantLocations = []string{"${Lake.Arn}/archive as ${ArchiveLocationRole.Arn}"}
		}
		if !slices.Equal(locations, wantLocations) {
			t.Errorf("%s: registered %v, want %v", name, locations, wantLocations)
		}
		// The grants function never revokes the stack's own grants to the table function.
		for _, fn := range s.resources("AWS::Lambda::Function") {
			if tagValue(props(fn), deploy.TagFunction) != deploy.FnApplyGrants {
				continue
			}
			keep := render(props(fn)["Environment"].(map[string]any)["Variables"].(map[string]any)[deploy.EnvKeepPrincipals])
			if !strings.HasSuffix(keep, ","+table) {
				t.Errorf("%s: %s %s does not keep the table function's grants", name, deploy.EnvKeepPrincipals, keep)
			}
		}
	}
}

// TestArchiveAnalystPolicy: analysts read the archive databases' catalog; the files
// under archive/ directly only where IAM governs them.
func TestArchiveAnalystPolicy(t *testing.T) {
	catalog := arnOf("glue", "catalog") + " " + arnOf("glue", "database/shop_archive") + " " + arnOf("glue", "table/shop_archive/*")
	for _, name := range []string{"vpc", "governed"} {
		s := archiveStackFor(t, name)
		var got []string
		for id, r := range s.resources("AWS::IAM::ManagedPolicy") {
			if shortID(id) != "AnalystPolicy" {
				continue
			}
			for _, st := range props(r)["PolicyDocument"].(map[string]any)["Statement"].([]any) {
				m := st.(map[string]any)
				cond := ""
				if c, ok := m["Condition"]; ok {
					b, _ := json.Marshal(c)
					cond = " when " + string(b)
				}
				for _, a := range asList(m["Action"]) {
					for _, res := range asList(m["Resource"]) {
						got = append(got, fmt.Sprintf("%s on %s%s", a, render(res), cond))
					}
				}
			}
		}
		catalogRead := grantSet("glue:GetDatabase,glue:GetDatabases,glue:GetTable,glue:GetTables,glue:GetPartition,glue:GetPartitions,glue:BatchGetPartition on " + catalog)
		files := grantSet("s3:GetObject on ${Lake.Arn}/archive/*", `s3:ListBucket on ${Lake.Arn} when {"StringLike":{"s3:prefix":["archive/*"]}}`)
		for _, g := range catalogRead {
			if !slices.Contains(got, g) {
				t.Errorf("%s: the analyst policy lacks %s", name, g)
			}
		}
		for _, g := range files {
			if slices.Contains(got, g) != (name == "vpc") {
				t.Errorf("%s: the analyst policy has %s: %v, want %v", name, g, slices.Contains(got, g), name == "vpc")
			}
		}
	}
}

func TestArchiveAlarmAndOutputs(t *testing.T) {
	s := archiveStackFor(t, "vpc")
	var alarm map[string]any
	for _, r := range s.resources("AWS::CloudWatch::Alarm") {
		if render(props(r)["AlarmName"]) == deploy.StackName+"-"+deploy.ArchiveFailedAlarm {
			alarm = props(r)
		}
	}
	if alarm == nil {
		t.Fatalf("no alarm %s-%s", deploy.StackName, deploy.ArchiveFailedAlarm)
	}
	if actions := asList(alarm["AlarmActions"]); len(actions) != 1 || render(actions[0]) != "${Notifications}" || !strings.Contains(fmt.Sprint(alarm["Metrics"]), "ExecutionsFailed") {
		t.Errorf("alarm %v", alarm)
	}
	outputs := s.json["Outputs"].(map[string]any)
	for _, o := range deploy.ArchiveOutputs {
		if _, ok := outputs[o]; !ok {
			t.Errorf("no output %s", o)
		}
	}
	if v := outputs[deploy.OutputArchiveGlueDatabases].(map[string]any)["Value"]; v != "shop_archive" {
		t.Errorf("%s = %v", deploy.OutputArchiveGlueDatabases, v)
	}
	roles := render(outputs[deploy.OutputArchiveRoleArns].(map[string]any)["Value"])
	for _, name := range slices.Concat(deploy.ArchiveFunctions, deploy.ArchiveServiceRoles) {
		if !strings.Contains(roles, `"`+name+`":`) {
			t.Errorf("%s lacks %s: %s", deploy.OutputArchiveRoleArns, name, roles)
		}
	}
}

func TestParseArchiveConfig(t *testing.T) {
	base := func() map[string]any {
		return map[string]any{KeyDBInstanceIDs: []any{"orders"}, KeyDatabases: []any{"shop", "billing"}}
	}
	c, err := ParseConfig(lookupFrom(base()))
	if err != nil || c.Archive != nil {
		t.Fatalf("without %s: archive %v, error %v", KeyArchive, c.Archive, err)
	}
	m := base()
	m[KeyArchive] = archiveContext(false)
	if c, err = ParseConfig(lookupFrom(m)); err != nil {
		t.Fatal(err)
	}
	want := &ArchiveConfig{SecretArn: testArchiveSecretArn, Endpoint: "shop.cluster-abc.eu-central-1.rds.amazonaws.com:3306",
		Schedule: deploy.DefaultArchiveSchedule, TimeZone: "UTC", Databases: []string{"shop", "billing"}}
	if !reflect.DeepEqual(c.Archive, want) || c.Archive.InVPC() {
		t.Errorf("archive %+v, want %+v", c.Archive, want)
	}
	// `cdk synth -c snaplake:archive='{...}'` delivers the object as JSON text.
	a := archiveContext(true)
	a["databases"] = []any{"billing"}
	b, _ := json.Marshal(a)
	m = base()
	m[KeyArchive] = string(b)
	if c, err = ParseConfig(lookupFrom(m)); err != nil {
		t.Fatal(err)
	}
	if !c.Archive.InVPC() || c.Archive.Schedule != "cron(30 2 ? * SAT *)" || c.Archive.TimeZone != "Europe/Berlin" || !slices.Equal(c.Archive.Databases, []string{"billing"}) {
		t.Errorf("archive from JSON text: %+v", c.Archive)
	}
	// With the section, a synth needs the archive functions' binaries too.
	dir := t.TempDir()
	writeAssets(t, dir, deploy.Functions)
	c.LambdaAssetDir = dir
	if err := c.CheckLambdaAssets(); err == nil || !strings.Contains(err.Error(), deploy.FnArchiveTable) {
		t.Errorf("CheckLambdaAssets without the archive binaries: %v", err)
	}
}

func TestParseArchiveConfigErrors(t *testing.T) {
	tests := []struct {
		name  string
		value func(m map[string]any) any // the snaplake:archive value, from a valid VPC section
		field string                     // "" for the key itself
		msg   string
	}{
		{"not an object", func(map[string]any) any { return 3.0 }, "", "want an object"},
		{"bad JSON text", func(map[string]any) any { return `{"secretArn": ` }, "", "not a JSON object"},
		{"unknown field", func(m map[string]any) any { m["database"] = "shop"; return m }, "database", "unknown field"},
		{"secret missing", func(m map[string]any) any { delete(m, "secretArn"); return m }, "secretArn", "required"},
		{"secret without suffix", func(m map[string]any) any {
			m["secretArn"] = "arn:aws:secretsmanager:eu-central-1:123456789012:secret:archiver"
			return m
		}, "secretArn", "complete Secrets Manager secret ARN"},
		{"secret key an alias", func(m map[string]any) any {
			m["secretKmsKeyArn"] = "arn:aws:kms:eu-central-1:123456789012:alias/archiver"
			return m
		}, "secretKmsKeyArn", "not a KMS key ARN"},
		{"endpoint missing", func(m map[string]any) any { delete(m, "endpoint"); return m }, "endpoint", "required"},
		{"endpoint without port", func(m map[string]any) any { m["endpoint"] = "db.example.com"; return m }, "endpoint", "not host:port"},
		{"subnets without security groups", func(m map[string]any) any { delete(m, "securityGroupIds"); return m }, "securityGroupIds", "go together"},
		{"security groups without subnets", func(m map[string]any) any { delete(m, "subnetIds"); return m }, "subnetIds", "go together"},
		{"subnet malformed", func(m map[string]any) any { m["subnetIds"] = []any{"subnet-xyz"}; return m }, "subnetIds", "not a subnet ID"},
		{"schedule runs once", func(m map[string]any) any { m["schedule"] = "at(2027-01-01T04:00:00)"; return m }, "schedule", "runs once"},
		{"schedule malformed", func(m map[string]any) any { m["schedule"] = "weekly"; return m }, "schedule", "cron"},
		{"time zone unknown", func(m map[string]any) any { m["timeZone"] = "Mars/Olympus"; return m }, "timeZone", "IANA"},
		{"database not exported", func(m map[string]any) any { m["databases"] = []any{"shop", "hr"}; return m }, "databases", `"hr" is not one of snaplake:databases`},
		{"database listed twice", func(m map[string]any) any { m["databases"] = []any{"shop", "shop"}; return m }, "databases", "listed twice"},
		{"no database", func(m map[string]any) any { m["databases"] = []any{}; return m }, "databases", "is empty"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			ctx := map[string]any{KeyDBInstanceIDs: []any{"orders"}, KeyDatabases: []any{"shop"}, KeyArchive: tc.value(archiveContext(true))}
			_, err := ParseConfig(lookupFrom(ctx))
			if err == nil {
				t.Fatal("ParseConfig succeeded, want an error")
			}
			var match *ConfigError
			for _, ce := range configErrors(err) {
				if ce.Key == KeyArchive && ce.Field == tc.field && strings.Contains(ce.Reason, tc.msg) {
					match = ce
				}
			}
			if match == nil {
				t.Fatalf("error %q has no ConfigError for %s field %q saying %q", err, KeyArchive, tc.field, tc.msg)
			}
			if msg := match.Error(); !strings.Contains(msg, KeyArchive) || !strings.Contains(msg, tc.field) {
				t.Errorf("message %q does not name %s and %q", msg, KeyArchive, tc.field)
			}
		})
	}
}
