package main

import (
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"os"
	"path/filepath"
	"reflect"
	"regexp"
	"slices"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-cdk-go/awscdk/v2/assertions"
	"github.com/aws/jsii-runtime-go"

	"github.com/snaplake/snaplake/internal/deploy"
	"github.com/snaplake/snaplake/internal/ingest"
	"github.com/snaplake/snaplake/internal/local/testenv"
	"github.com/snaplake/snaplake/statemachines"
)

const testSecretArn = "arn:aws:secretsmanager:eu-central-1:123456789012:secret:warehouse-source-AbC123"

// ingestContext is a valid snaplake:ingest section; vpc adds the network fields.
func ingestContext(vpc bool) map[string]any {
	m := map[string]any{
		"database":  "warehouse",
		"secretArn": testSecretArn,
		"endpoint":  "warehouse.cluster-abc.eu-central-1.rds.amazonaws.com:3306",
		"timeZone":  "Europe/Berlin",
	}
	if vpc {
		m["subnetIds"] = []any{"subnet-0123456789abcdef0", "subnet-0fedcba9876543210"}
		m["securityGroupIds"] = []any{"sg-0123456789abcdef0"}
		m["availabilityZone"] = "eu-central-1a"
		m[deploy.IngestFieldGlueVersion] = "4.0"
		m[deploy.IngestFieldGlueWorkerType] = "G.2X"
		m[deploy.IngestFieldGlueWorkers] = 10.0
		m[deploy.IngestFieldCrawlPollSeconds] = 15.0
		m[deploy.IngestFieldCrawlTimeoutMinutes] = "20" // -c delivers numbers as text
	}
	return m
}

// writeAssets puts stand-in bootstraps of the named functions under dir.
func writeAssets(t testing.TB, dir string, names []string) {
	t.Helper()
	for _, name := range names {
		if err := os.MkdirAll(filepath.Join(dir, name), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(dir, name, "bootstrap"), []byte("#!/bin/sh\n# "+name+"\n"), 0o755); err != nil {
			t.Fatal(err)
		}
	}
}

var (
	ingestOnce    sync.Map // context name -> *sync.Once
	ingestStacks  sync.Map // context name -> *synthesized
	ingestAssets  string
	ingestAssetMu sync.Mutex
)

// ingestTestContexts are the stacks the tests read: without the section (the base the
// others are compared with), with it in UTC without VPC, and in Europe/Berlin with VPC.
var ingestTestContexts = map[string]func() map[string]any{
	"none": func() map[string]any { return map[string]any{} },
	"utc": func() map[string]any {
		in := ingestContext(false)
		delete(in, "timeZone")
		return map[string]any{KeyIngest: in}
	},
	"vpc": func() map[string]any { return map[string]any{KeyIngest: ingestContext(true)} },
	// VPC mode with the stack creating the endpoints and Glue's rule.
	"vpcsetup": func() map[string]any {
		in := ingestContext(true)
		in["vpcSetup"] = map[string]any{"vpcId": testVPC, "routeTableIds": []any{"rtb-0123456789abcdef0", "rtb-0fedcba9876543210"}}
		return map[string]any{KeyIngest: in}
	},
	// The source's secret is encrypted with a customer managed key.
	"cmk": func() map[string]any {
		in := ingestContext(false)
		in["secretKmsKeyArn"] = testSecretKey
		return map[string]any{KeyIngest: in}
	},
}

const testVPC = "vpc-0123456789abcdef0"

const testSecretKey = "arn:aws:kms:eu-central-1:123456789012:key/0a1b2c3d-4e5f-6789-abcd-ef0123456789"

// ingestStackFor synthesizes (once) the stack of a named test context.
func ingestStackFor(t *testing.T, name string) *synthesized {
	t.Helper()
	testenv.NeedsNode(t) // before the Once: jsii runs the CDK in node
	once, _ := ingestOnce.LoadOrStore(name, &sync.Once{})
	once.(*sync.Once).Do(func() {
		ingestAssetMu.Lock()
		if ingestAssets == "" {
			dir, err := os.MkdirTemp("", "snaplake-ingest-test")
			if err != nil {
				t.Fatal(err)
			}
			writeDummyAssets(t, dir) // FunctionNames: the ingest functions too
			ingestAssets = dir
		}
		ingestAssetMu.Unlock()
		ctx := map[string]any{
			KeyDBInstanceIDs: []any{"orders-prod"}, KeyDatabases: []any{"Shop"},
			KeyNotificationEmail: "ops@example.com", KeyLambdaAssetDir: ingestAssets,
		}
		for k, v := range ingestTestContexts[name]() {
			ctx[k] = v
		}
		cfg, err := ParseConfig(lookupFrom(ctx))
		if err != nil {
			t.Fatalf("ParseConfig(%s): %v", name, err)
		}
		if err := cfg.CheckLambdaAssets(); err != nil {
			t.Fatalf("CheckLambdaAssets(%s): %v", name, err)
		}
		ingestStacks.Store(name, synth(t, cfg))
	})
	s, ok := ingestStacks.Load(name)
	if !ok {
		t.Fatalf("stack %s did not synthesize", name)
	}
	return s.(*synthesized)
}

// logicalSuffix is the hash CDK appends to a logical id.
var logicalSuffix = regexp.MustCompile(`^(.+?)[0-9A-F]{8}$`)

func shortID(id string) string {
	if m := logicalSuffix.FindStringSubmatch(id); m != nil {
		return m[1]
	}
	return id
}

// render writes a template value with its intrinsics as readable text: a Ref as
// ${Name}, a GetAtt as ${Name.Attr} (logical ids without their hash), a Join joined.
func render(v any) string {
	switch t := v.(type) {
	case string:
		return t
	case map[string]any:
		if ref, ok := t["Ref"].(string); ok {
			return "${" + shortID(ref) + "}"
		}
		if ga, ok := t["Fn::GetAtt"].([]any); ok {
			return "${" + shortID(ga[0].(string)) + "." + ga[1].(string) + "}"
		}
		if j, ok := t["Fn::Join"].([]any); ok {
			var parts []string
			for _, p := range j[1].([]any) {
				parts = append(parts, render(p))
			}
			return strings.Join(parts, j[0].(string))
		}
		if sub, ok := t["Fn::Sub"].(string); ok {
			return sub
		}
	}
	b, _ := json.Marshal(v)
	return string(b)
}

// grantsOf lists "action on resource" (with " when <condition>") for every allow of
// the identity policies attached to the role whose logical id starts with rolePrefix.
func grantsOf(t *testing.T, s *synthesized, rolePrefix string) []string {
	t.Helper()
	var out []string
	found := false
	for id, r := range s.resources("AWS::IAM::Role") {
		if shortID(id) != rolePrefix {
			continue
		}
		found = true
		if p := props(r); p["ManagedPolicyArns"] != nil || p["Policies"] != nil {
			t.Errorf("%s has managed or inline policies: %v %v", rolePrefix, p["ManagedPolicyArns"], p["Policies"])
		}
	}
	if !found {
		t.Fatalf("no role %s", rolePrefix)
	}
	for _, st := range statementsOf(t, s, rolePrefix) {
		if st["Effect"] != "Allow" {
			t.Errorf("%s: statement %v is not an Allow", rolePrefix, st)
		}
		cond := ""
		if c, ok := st["Condition"]; ok {
			b, _ := json.Marshal(c)
			cond = " when " + string(b)
		}
		for _, a := range asList(st["Action"]) {
			for _, r := range asList(st["Resource"]) {
				out = append(out, fmt.Sprintf("%s on %s%s", a, render(r), cond))
			}
		}
	}
	sort.Strings(out)
	return out
}

func arnOf(service, resource string) string {
	return "arn:${AWS::Partition}:" + service + ":${AWS::Region}:${AWS::AccountId}:" + resource
}

// grantSet expands "actions... on resources..." lines: each line is
// "a1,a2 on r1 r2 [when <json>]".
func grantSet(lines ...string) []string {
	var out []string
	for _, l := range lines {
		l, cond, _ := strings.Cut(l, " when ")
		if cond != "" {
			cond = " when " + cond
		}
		actions, resources, ok := strings.Cut(l, " on ")
		if !ok {
			panic("grant line without ' on ': " + l)
		}
		for _, a := range strings.Split(actions, ",") {
			for _, r := range strings.Fields(resources) {
				out = append(out, a+" on "+r+cond)
			}
		}
	}
	sort.Strings(out)
	return out
}

func diffSets(got, want []string) (missing, extra []string) {
	for _, w := range want {
		if !slices.Contains(got, w) {
			missing = append(missing, w)
		}
	}
	for _, g := range got {
		if !slices.Contains(want, g) {
			extra = append(extra, g)
		}
	}
	return missing, extra
}

// TestIngestRolesAreLeastPrivilege pins every (action, resource, condition) each new
// role holds: a grant added or widened fails here and is reviewed.
func TestIngestRolesAreLeastPrivilege(t *testing.T) {
	var (
		lake      = "${Lake.Arn}"
		key       = "${Key.Arn}"
		state     = lake + "/state/ingest/*"
		sets      = lake + "/state/ingest-sets/*"
		runs      = lake + "/state/ingest-runs/*"
		raw       = lake + "/raw/*"
		config    = lake + "/config/snaplake.yaml"
		catalog   = arnOf("glue", "catalog") + " " + arnOf("glue", "database/raw_warehouse") + " " + arnOf("glue", "table/raw_warehouse/*")
		current   = arnOf("glue", "catalog") + " " + arnOf("glue", "database/raw_warehouse_current") + " " + arnOf("glue", "table/raw_warehouse_current/*")
		curFiles  = lake + "/current/*"
		crawlers  = arnOf("glue", "crawler/snaplake-ingest-daily") + " " + arnOf("glue", "crawler/snaplake-ingest-frequent")
		schedules = arnOf("scheduler", "schedule/snaplake/snaplake-ingest-daily") + " " + arnOf("scheduler", "schedule/snaplake/snaplake-ingest-frequent")
		eni       = arnOf("ec2", "network-interface/*")
		network   = arnOf("ec2", "subnet/subnet-0123456789abcdef0") + " " + arnOf("ec2", "subnet/subnet-0fedcba9876543210") + " " + arnOf("ec2", "security-group/sg-0123456789abcdef0")
		xray      = "xray:PutTraceSegments,xray:PutTelemetryRecords on *"
		list      = func(prefixes ...string) string {
			b, _ := json.Marshal(map[string]any{"StringLike": map[string]any{"s3:prefix": prefixes}})
			return "s3:ListBucket on " + lake + " when " + string(b)
		}
		pass = func(role, service string) string {
			return "iam:PassRole on ${" + role + ".Arn} when {\"StringEquals\":{\"iam:PassedToService\":\"" + service + "\"}}"
		}
		lfActions   = "lakeformation:ListPermissions,lakeformation:BatchGrantPermissions,lakeformation:BatchRevokePermissions,lakeformation:GrantPermissions,lakeformation:RevokePermissions,lakeformation:GetDataLakeSettings"
		crawlerGlue = "glue:GetDatabase,glue:GetTable,glue:GetTables,glue:CreateTable,glue:UpdateTable,glue:DeleteTable," +
			"glue:GetPartition,glue:GetPartitions,glue:BatchGetPartition,glue:CreatePartition,glue:BatchCreatePartition," +
			"glue:UpdatePartition,glue:BatchUpdatePartition,glue:DeletePartition,glue:BatchDeletePartition"
		jobLogs     = arnOf("logs", "log-group:/aws-glue/jobs*") + " " + arnOf("logs", "log-group:/aws-glue/jobs*:log-stream:*")
		crawlerLogs = arnOf("logs", "log-group:/aws-glue/crawlers-role/*") + " " + arnOf("logs", "log-group:/aws-glue/crawlers-role/*:log-stream:*")
	)
	s := ingestStackFor(t, "vpc")
	script := ""
	for _, j := range s.resources("AWS::Glue::Job") {
		loc := render(props(j)["Command"].(map[string]any)["ScriptLocation"])
		script = "arn:${AWS::Partition}:s3:::" + strings.TrimPrefix(loc, "s3://")
	}
	want := map[string][]string{
		"ReconfigureRole": grantSet(
			"logs:CreateLogStream,logs:PutLogEvents on ${ReconfigureLogs.Arn}", xray,
			"s3:GetObject on "+config,
			list("config/snaplake.yaml", "state/ingest/*", "state/ingest-sets/*", "raw/*"),
			"s3:GetObject,s3:PutObject,s3:DeleteObject on "+state+" "+sets,
			"s3:PutObject on "+lake+"/state/ingest-runs/*/plan.json",
			"s3:DeleteObject on "+raw,
			"kms:Decrypt,kms:GenerateDataKey on "+key,
			"secretsmanager:GetSecretValue on "+testSecretArn,
			"glue:GetCrawler,glue:UpdateCrawler on "+crawlers,
			pass("IngestCrawlerRole", "glue.amazonaws.com"),
			"scheduler:GetSchedule,scheduler:UpdateSchedule on "+schedules,
			pass("IngestSchedulerRole", "scheduler.amazonaws.com"),
			"ec2:CreateNetworkInterface on "+network+" "+eni,
			"ec2:DeleteNetworkInterface,ec2:AssignPrivateIpAddresses,ec2:UnassignPrivateIpAddresses on "+eni,
			"ec2:DescribeNetworkInterfaces,ec2:DescribeSubnets on *",
		),
		"FinishIngestRole": grantSet(
			"logs:CreateLogStream,logs:PutLogEvents on ${FinishIngestLogs.Arn}", xray,
			list("state/ingest-runs/*", "state/ingest/*", "state/ingest-sets/*", "raw/*"),
			"s3:GetObject on "+runs,
			"s3:GetObject,s3:PutObject,s3:DeleteObject on "+state,
			"s3:GetObject,s3:DeleteObject on "+sets,
			"s3:DeleteObject on "+raw,
			"kms:Decrypt,kms:GenerateDataKey on "+key,
			"glue:GetTable,glue:CreateTable,glue:UpdateTable,glue:BatchDeletePartition on "+catalog,
			"glue:GetTable,glue:CreateTable,glue:UpdateTable on "+current,
			list("current/*"),
			"s3:DeleteObject on "+curFiles,
		),
		"IngestCurrentRole": grantSet(
			"logs:CreateLogStream,logs:PutLogEvents on ${IngestCurrentLogs.Arn}", xray,
			list("state/ingest-runs/*", "raw/*", "current/*", "state/ingest/*"),
			"s3:GetObject on "+runs+" "+state+" "+raw,
			"s3:PutObject on "+lake+"/state/ingest-runs/*/current/*.json",
			"s3:GetObject,s3:PutObject,s3:DeleteObject on "+curFiles,
			"kms:Decrypt,kms:GenerateDataKey on "+key,
			"glue:GetTable,glue:CreateTable,glue:UpdateTable on "+current,
			"secretsmanager:GetSecretValue on "+testSecretArn,
			"ec2:CreateNetworkInterface on "+network+" "+eni,
			"ec2:DeleteNetworkInterface,ec2:AssignPrivateIpAddresses,ec2:UnassignPrivateIpAddresses on "+eni,
			"ec2:DescribeNetworkInterfaces,ec2:DescribeSubnets on *",
		),
		"ApplyGrantsRole": grantSet(
			"logs:CreateLogStream,logs:PutLogEvents on ${ApplyGrantsLogs.Arn}", xray,
			"s3:GetObject on "+config+" "+state,
			list("config/snaplake.yaml", "state/ingest/*"),
			"kms:Decrypt on "+key,
			"glue:GetDatabase,glue:GetTable,glue:GetTables on "+catalog+" "+arnOf("glue", "database/raw_warehouse_current")+" "+arnOf("glue", "table/raw_warehouse_current/*"),
			// The snapshot databases the same rules govern, and their _latest companions.
			"glue:GetDatabase,glue:GetTable,glue:GetTables on "+arnOf("glue", "catalog")+" "+arnOf("glue", "database/shop")+" "+arnOf("glue", "table/shop/*")+" "+
				arnOf("glue", "database/shop_latest")+" "+arnOf("glue", "table/shop_latest/*"),
			lfActions+" on *",
		),
		"IngestJobRole": grantSet(
			"s3:GetObject on "+script,
			"s3:GetObject on "+lake+"/state/ingest-runs/*/plan.json",
			"s3:GetObject,s3:PutObject,s3:DeleteObject on "+lake+"/state/ingest-runs/*/results/*",
			"s3:GetObject,s3:PutObject,s3:DeleteObject,s3:AbortMultipartUpload on "+raw,
			list("raw/*", "state/ingest-runs/*"),
			"kms:Decrypt,kms:Encrypt,kms:GenerateDataKey on "+key,
			"secretsmanager:GetSecretValue on "+testSecretArn,
			"glue:GetSecurityConfiguration on *",
			"logs:CreateLogGroup,logs:CreateLogStream,logs:PutLogEvents,logs:AssociateKmsKey on "+jobLogs,
			"glue:GetConnection on "+arnOf("glue", "catalog")+" "+arnOf("glue", "connection/snaplake-ingest-network"),
			"ec2:CreateNetworkInterface on "+network+" "+eni,
			"ec2:DeleteNetworkInterface on "+eni,
			`ec2:CreateTags,ec2:DeleteTags on `+eni+` when {"ForAllValues:StringEquals":{"aws:TagKeys":["aws-glue-service-resource"]}}`,
			"ec2:DescribeNetworkInterfaces,ec2:DescribeSubnets,ec2:DescribeSecurityGroups,ec2:DescribeVpcEndpoints,ec2:DescribeRouteTables,ec2:DescribeVpcAttribute on *",
		),
		"IngestCrawlerRole": grantSet(
			"s3:GetObject on "+raw,
			list("raw/*"),
			"kms:Decrypt on "+key,
			crawlerGlue+" on "+catalog,
			"glue:GetSecurityConfiguration on *",
			"logs:CreateLogGroup,logs:CreateLogStream,logs:PutLogEvents,logs:AssociateKmsKey on "+crawlerLogs,
		),
		"SnapshotLocationRole": grantSet(
			"s3:GetObject on "+lake+"/data/*",
			list("data/*"),
			"kms:Decrypt on "+key,
		),
		"IngestLocationRole": grantSet(
			"s3:GetObject on "+raw+" "+curFiles,
			list("raw/*", "current/*"),
			"kms:Decrypt on "+key,
		),
		"IngestSchedulerRole": grantSet(
			"states:StartExecution on ${IngestStateMachine}",
			"sqs:SendMessage on ${DeadLetters.Arn}",
			"kms:Decrypt,kms:GenerateDataKey on "+key,
		),
		"IngestStateMachineRole": grantSet(
			"lambda:InvokeFunction on ${Reconfigure.Arn} ${Reconfigure.Arn}:* ${FinishIngest.Arn} ${FinishIngest.Arn}:* ${ApplyGrants.Arn} ${ApplyGrants.Arn}:* ${IngestCurrent.Arn} ${IngestCurrent.Arn}:*",
			"glue:StartJobRun,glue:GetJobRun,glue:GetJobRuns,glue:BatchStopJobRun on "+arnOf("glue", "job/snaplake-ingest"),
			"glue:StartCrawler,glue:GetCrawler on "+crawlers,
			"sns:Publish on ${Notifications}",
			"kms:Decrypt,kms:GenerateDataKey on "+key,
			"logs:CreateLogDelivery,logs:GetLogDelivery,logs:UpdateLogDelivery,logs:DeleteLogDelivery,logs:ListLogDeliveries,logs:PutResourcePolicy,logs:DescribeResourcePolicies,logs:DescribeLogGroups on *",
			"xray:PutTraceSegments,xray:PutTelemetryRecords,xray:GetSamplingRules,xray:GetSamplingTargets on *",
		),
	}
	for role, w := range want {
		got := grantsOf(t, s, role)
		if missing, extra := diffSets(got, w); len(missing)+len(extra) > 0 {
			t.Errorf("%s:\n missing %s\n extra   %s", role, strings.Join(missing, "\n         "), strings.Join(extra, "\n         "))
		}
	}

	// What the brief calls out, stated on its own so a failure reads plainly.
	has := func(role, grant string) bool { return slices.Contains(grantsOf(t, s, role), grant) }
	for _, a := range []string{"s3:PutObject", "s3:GetObject"} {
		if has("ReconfigureRole", a+" on "+raw) {
			t.Errorf("reconfigure may %s raw/: it only removes what dead runs left", a)
		}
	}
	for _, g := range grantsOf(t, s, "IngestJobRole") {
		if strings.Contains(g, "/state/ingest/") || strings.Contains(g, "/state/ingest-sets/") || strings.Contains(g, "glue:CreateTable") {
			t.Errorf("the job may touch the watermarks, leases or catalog: %s", g)
		}
	}
	for _, g := range grantsOf(t, s, "IngestSchedulerRole") {
		if strings.HasPrefix(g, "states:") && g != "states:StartExecution on ${IngestStateMachine}" {
			t.Errorf("the scheduler role may %s", g)
		}
	}
}

// TestIngestGrantsOnStarAreThoseWithoutResourceType: "*" only for actions the IAM
// reference lists without a resource type.
func TestIngestGrantsOnStarAreThoseWithoutResourceType(t *testing.T) {
	allowed := map[string]bool{
		"xray:PutTraceSegments": true, "xray:PutTelemetryRecords": true, "xray:GetSamplingRules": true, "xray:GetSamplingTargets": true,
		"logs:CreateLogDelivery": true, "logs:GetLogDelivery": true, "logs:UpdateLogDelivery": true, "logs:DeleteLogDelivery": true,
		"logs:ListLogDeliveries": true, "logs:PutResourcePolicy": true, "logs:DescribeResourcePolicies": true, "logs:DescribeLogGroups": true,
		"lakeformation:ListPermissions": true, "lakeformation:BatchGrantPermissions": true, "lakeformation:BatchRevokePermissions": true,
		"lakeformation:GrantPermissions": true, "lakeformation:RevokePermissions": true, "lakeformation:GetDataLakeSettings": true,
		"glue:GetSecurityConfiguration": true,
		"ec2:DescribeNetworkInterfaces": true, "ec2:DescribeSubnets": true, "ec2:DescribeSecurityGroups": true,
		"ec2:DescribeVpcEndpoints": true, "ec2:DescribeRouteTables": true, "ec2:DescribeVpcAttribute": true,
	}
	ingestRoles := []string{"ReconfigureRole", "FinishIngestRole", "ApplyGrantsRole", "IngestJobRole", "IngestCrawlerRole",
		"IngestLocationRole", "IngestSchedulerRole", "IngestStateMachineRole"}
	for _, name := range []string{"utc", "vpc"} {
		s := ingestStackFor(t, name)
		checked := 0
		for _, r := range s.resources("AWS::IAM::Policy") {
			ref, _ := asList(props(r)["Roles"])[0].(map[string]any)["Ref"].(string)
			if !slices.Contains(ingestRoles, shortID(ref)) {
				continue
			}
			checked++
			for _, st := range props(r)["PolicyDocument"].(map[string]any)["Statement"].([]any) {
				stmt := st.(map[string]any)
				for _, a := range asList(stmt["Action"]) {
					if strings.HasSuffix(a.(string), "*") {
						t.Errorf("%s: wildcard action %v", name, a)
					}
					if slices.Contains(asList(stmt["Resource"]), any("*")) && !allowed[a.(string)] {
						t.Errorf("%s: %v granted on \"*\"", name, a)
					}
				}
			}
		}
		if checked != len(ingestRoles) {
			t.Errorf("%s: checked the policies of %d ingest roles, want %d", name, checked, len(ingestRoles))
		}
	}
}

func TestIngestAbsentWithoutContext(t *testing.T) {
	s := ingestStackFor(t, "none")
	for _, typ := range []string{
		"AWS::Glue::Job", "AWS::Glue::Connection", "AWS::Scheduler::Schedule", "AWS::Scheduler::ScheduleGroup",
		"AWS::LakeFormation::Resource",
	} {
		if n := len(s.resources(typ)); n != 0 {
			t.Errorf("%d resources of type %s without %s", n, typ, KeyIngest)
		}
	}
	// The only Lake Formation permissions are the snapshot databases'
	// (TestSnapshotDatabasesPermissionsAreExplicit).
	for _, g := range lakeGrants(s) {
		if !strings.HasSuffix(g, " shop") && !strings.HasSuffix(g, " shop.*") && !strings.HasSuffix(g, " shop_latest") && !strings.HasSuffix(g, " shop_latest.*") {
			t.Errorf("Lake Formation permission %q without %s", g, KeyIngest)
		}
	}
	if n := len(s.resources("AWS::StepFunctions::StateMachine")); n != 1 {
		t.Errorf("%d state machines, want only the export's", n)
	}
	for id := range s.resources("AWS::Glue::Crawler") {
		if strings.HasPrefix(id, "Ingest") {
			t.Errorf("ingest crawler %s without %s", id, KeyIngest)
		}
	}
	for _, fn := range s.resources("AWS::Lambda::Function") {
		if name := tagValue(props(fn), deploy.TagFunction); slices.Contains(deploy.IngestFunctions, name) {
			t.Errorf("ingest function %s without %s", name, KeyIngest)
		}
	}
	for name := range s.json["Outputs"].(map[string]any) {
		if strings.HasPrefix(name, "Ingest") {
			t.Errorf("output %s without %s", name, KeyIngest)
		}
	}
}

// TestIngestLeavesTheExportAlone: every resource of the stack without the section is
// in the stack with it, unchanged, except the key, whose policy gains statements, the
// analyst policy, which gains the raw database (TestAnalystPolicyQueriesIngestedData),
// and the snapshot databases' Lake Formation model: with the grants function the
// config's access rules govern them (TestSnapshotDatabasesPermissionsAreExplicit),
// so their IAM_ALLOWED_PRINCIPALS grants go and their defaults change.
func TestIngestLeavesTheExportAlone(t *testing.T) {
	base := ingestStackFor(t, "none")
	for _, name := range []string{"utc", "vpc"} {
		s := ingestStackFor(t, name)
		all := s.json["Resources"].(map[string]any)
		for id, r := range base.json["Resources"].(map[string]any) {
			got, ok := all[id]
			typ := r.(map[string]any)["Type"]
			switch {
			case typ == "AWS::LakeFormation::PrincipalPermissions" || typ == "AWS::Glue::Database":
				// Compared in TestSnapshotDatabasesPermissionsAreExplicit.
			case !ok:
				t.Errorf("%s: resource %s is gone", name, id)
			case r.(map[string]any)["Type"] == "AWS::KMS::Key", r.(map[string]any)["Type"] == "AWS::IAM::ManagedPolicy":
			case !reflect.DeepEqual(got, r):
				t.Errorf("%s: resource %s changed:\n got %v\nwant %v", name, id, got, r)
			}
		}
		for _, o := range []string{deploy.OutputStateMachineArn, deploy.OutputRoleArns, deploy.OutputFunctionArns} {
			if !reflect.DeepEqual(s.json["Outputs"].(map[string]any)[o], base.json["Outputs"].(map[string]any)[o]) {
				t.Errorf("%s: output %s changed", name, o)
			}
		}
	}
}

func TestIngestGlueJob(t *testing.T) {
	for _, name := range []string{"utc", "vpc"} {
		s := ingestStackFor(t, name)
		secID := ""
		for id, sc := range s.resources("AWS::Glue::SecurityConfiguration") {
			if strings.HasPrefix(id, "Ingest") {
				secID = id
				enc := props(sc)["EncryptionConfiguration"].(map[string]any)
				for field, mode := range map[string]string{"CloudWatchEncryption": "SSE-KMS", "JobBookmarksEncryption": "CSE-KMS"} {
					m := enc[field].(map[string]any)
					if m[field+"Mode"] != mode || render(m["KmsKeyArn"]) != "${Key.Arn}" {
						t.Errorf("%s: %s = %v, want %s with the stack key", name, field, m, mode)
					}
				}
				s3 := enc["S3Encryptions"].([]any)[0].(map[string]any)
				if s3["S3EncryptionMode"] != "SSE-KMS" || render(s3["KmsKeyArn"]) != "${Key.Arn}" {
					t.Errorf("%s: S3 encryption %v, want SSE-KMS with the stack key", name, s3)
				}
			}
		}
		if secID == "" {
			t.Fatalf("%s: no ingest security configuration", name)
		}
		jobs := s.resources("AWS::Glue::Job")
		if len(jobs) != 1 {
			t.Fatalf("%s: %d Glue jobs, want 1", name, len(jobs))
		}
		for _, j := range jobs {
			p := props(j)
			cmd := p["Command"].(map[string]any)
			// Glue 5.0 unless the context says otherwise (the vpc context keeps 4.0).
			version := "5.0"
			if name == "vpc" {
				version = "4.0"
			}
			if p["Name"] != deploy.IngestJobName || cmd["Name"] != "glueetl" || cmd["PythonVersion"] != "3" || p["GlueVersion"] != version {
				t.Errorf("%s: job %v, command %v, Glue %v, want %s: glueetl, Python 3, Glue %s", name, p["Name"], cmd, p["GlueVersion"], deploy.IngestJobName, version)
			}
			if loc := render(cmd["ScriptLocation"]); !strings.HasPrefix(loc, "s3://cdk-") || !strings.HasSuffix(loc, ".py") {
				t.Errorf("%s: script %s, want the uploaded asset", name, loc)
			}
			// The workers are deploy settings (the vpc context sets G.2X x 10): a split
			// table's ranges are read in parallel, one per executor core.
			workerType, workers := deploy.DefaultIngestGlueWorkerType, float64(deploy.DefaultIngestGlueWorkers)
			if name == "vpc" {
				workerType, workers = "G.2X", 10
			}
			if p["WorkerType"] != workerType || p["NumberOfWorkers"] != workers {
				t.Errorf("%s: workers %v x %v, want %s x %v", name, p["WorkerType"], p["NumberOfWorkers"], workerType, workers)
			}
			if got := fmt.Sprint(p["ExecutionProperty"]); got != "map[MaxConcurrentRuns:2]" {
				t.Errorf("%s: execution property %s, want MaxConcurrentRuns 2", name, got)
			}
			if render(p["SecurityConfiguration"]) != "${"+secID+"}" {
				t.Errorf("%s: security configuration %v, want %s", name, p["SecurityConfiguration"], secID)
			}
			if p["MaxRetries"] != float64(0) || p["Timeout"].(float64) >= deploy.DefaultLeaseTTL.Minutes() {
				t.Errorf("%s: retries %v, timeout %v: want no retries and a timeout below the lease TTL", name, p["MaxRetries"], p["Timeout"])
			}
			if got := render(p["Role"]); got != "${IngestJobRole.Arn}" {
				t.Errorf("%s: job role %s", name, got)
			}
			conns := s.resources("AWS::Glue::Connection")
			if name == "utc" {
				if p["Connections"] != nil || len(conns) != 0 {
					t.Errorf("%s: connections %v without VPC fields", name, p["Connections"])
				}
				continue
			}
			if len(conns) != 1 {
				t.Fatalf("%s: %d connections, want 1", name, len(conns))
			}
			for id, c := range conns {
				in := props(c)["ConnectionInput"].(map[string]any)
				want := map[string]any{"AvailabilityZone": "eu-central-1a", "SecurityGroupIdList": []any{"sg-0123456789abcdef0"}, "SubnetId": "subnet-0123456789abcdef0"}
				if in["ConnectionType"] != "NETWORK" || !reflect.DeepEqual(in["PhysicalConnectionRequirements"], want) {
					t.Errorf("%s: connection %v, want NETWORK in the first subnet", name, in)
				}
				if render(p["Connections"].(map[string]any)["Connections"].([]any)[0]) != "${"+id+"}" {
					t.Errorf("%s: job connections %v, want %s", name, p["Connections"], id)
				}
			}
		}
	}
}

func TestIngestCrawlersAndDatabase(t *testing.T) {
	s := ingestStackFor(t, "vpc")
	dbID := ""
	for id, d := range s.resources("AWS::Glue::Database") {
		in := props(d)["DatabaseInput"].(map[string]any)
		if in["Name"] != "raw_warehouse" {
			continue
		}
		dbID = id
		perms, ok := in["CreateTableDefaultPermissions"].([]any)
		if !ok || len(perms) != 0 {
			t.Errorf("raw database CreateTableDefaultPermissions = %v, want [] (no IAM_ALLOWED_PRINCIPALS)", in["CreateTableDefaultPermissions"])
		}
	}
	if dbID == "" || ingest.CatalogDatabase("warehouse") != "raw_warehouse" {
		t.Fatal("no Glue database raw_warehouse")
	}
	var names []string
	for id, c := range s.resources("AWS::Glue::Crawler") {
		if !strings.HasPrefix(id, "IngestCrawler") {
			continue
		}
		p := props(c)
		names = append(names, p["Name"].(string))
		if render(p["DatabaseName"]) != "${"+dbID+"}" || render(p["Role"]) != "${IngestCrawlerRole.Arn}" {
			t.Errorf("%s: database %v role %v", id, p["DatabaseName"], p["Role"])
		}
		if p["Configuration"] != deploy.CrawlerConfiguration {
			t.Errorf("%s: configuration %v, want the export crawlers' (one schema per include path)", id, p["Configuration"])
		}
		// LOG: no ingest table depends on how Glue treats an include path a run left
		// out of the targets (docs/aws-assumptions.md, F4).
		if got := fmt.Sprint(p["SchemaChangePolicy"]); got != "map[DeleteBehavior:LOG UpdateBehavior:UPDATE_IN_DATABASE]" {
			t.Errorf("%s: schema change policy %s", id, got)
		}
		if p["CrawlerSecurityConfiguration"] == nil || p["Schedule"] != nil {
			t.Errorf("%s: security configuration %v, schedule %v", id, p["CrawlerSecurityConfiguration"], p["Schedule"])
		}
		target := p["Targets"].(map[string]any)["S3Targets"].([]any)[0].(map[string]any)
		if render(target["Path"]) != "s3://${Lake}/raw/warehouse/" || fmt.Sprint(target["Exclusions"]) != "[**]" {
			t.Errorf("%s: target %v, want s3://<bucket>/raw/warehouse/ excluding everything until a run sets it", id, target)
		}
	}
	sort.Strings(names)
	if want := []string{deploy.IngestCrawlerName("daily"), deploy.IngestCrawlerName("frequent")}; !slices.Equal(names, want) {
		t.Errorf("ingest crawlers %v, want %v", names, want)
	}
}

func TestIngestLakeFormation(t *testing.T) {
	s := ingestStackFor(t, "vpc")
	locs := s.resources("AWS::LakeFormation::Resource")
	// raw/ and current/ (the current tables' generations), read by the ingestion's
	// location role, and data/ (the snapshots), read by its own.
	if len(locs) != 3 {
		t.Fatalf("%d Lake Formation resources, want raw/, current/ and data/", len(locs))
	}
	var arns []string
	for id, l := range locs {
		p := props(l)
		if id == "SnapshotDataLocation" {
			if render(p["ResourceArn"]) != "${Lake.Arn}/data" || p["UseServiceLinkedRole"] != false || render(p["RoleArn"]) != "${SnapshotLocationRole.Arn}" {
				t.Errorf("data location %v", p)
			}
			continue
		}
		arns = append(arns, render(p["ResourceArn"]))
		if p["UseServiceLinkedRole"] != false || render(p["RoleArn"]) != "${IngestLocationRole.Arn}" {
			t.Errorf("registered location %v, want its own role", p)
		}
	}
	if sort.Strings(arns); !slices.Equal(arns, []string{"${Lake.Arn}/current", "${Lake.Arn}/raw"}) {
		t.Errorf("registered locations %v", arns)
	}
	noPanic(t, "location role trusts Lake Formation", func() {
		s.template.HasResourceProperties(jsii.String("AWS::IAM::Role"), map[string]any{
			"AssumeRolePolicyDocument": map[string]any{"Statement": []any{map[string]any{
				"Action": "sts:AssumeRole", "Effect": "Allow", "Principal": map[string]any{"Service": "lakeformation.amazonaws.com"},
			}}},
		})
	})
	var got []string
	for _, pp := range s.resources("AWS::LakeFormation::PrincipalPermissions") {
		p := props(pp)
		res := p["Resource"].(map[string]any)
		var what string
		switch {
		case res["Database"] != nil:
			what = "database " + render(res["Database"].(map[string]any)["Name"])
		case res["Table"] != nil:
			tb := res["Table"].(map[string]any)
			if !reflect.DeepEqual(tb["TableWildcard"], map[string]any{}) {
				t.Errorf("table grant %v, want TableWildcard {}", tb)
			}
			what = "tables of " + render(tb["DatabaseName"])
		case res["DataLocation"] != nil:
			what = "location " + render(res["DataLocation"].(map[string]any)["ResourceArn"])
		}
		if strings.HasSuffix(what, " shop") || strings.HasSuffix(what, " shop_latest") || what == "location ${Lake.Arn}/data" {
			continue // the snapshot database's (TestSnapshotDatabasesPermissionsAreExplicit)
		}
		who := render(p["Principal"].(map[string]any)["DataLakePrincipalIdentifier"])
		got = append(got, fmt.Sprintf("%s: %s %v grantable %v", who, what, p["Permissions"], p["PermissionsWithGrantOption"]))
	}
	sort.Strings(got)
	want := []string{
		"${ApplyGrantsRole.Arn}: database raw_warehouse [ALL] grantable [ALL]",
		"${ApplyGrantsRole.Arn}: database raw_warehouse_current [ALL] grantable [ALL]",
		"${ApplyGrantsRole.Arn}: tables of raw_warehouse [ALL] grantable [ALL]",
		"${ApplyGrantsRole.Arn}: tables of raw_warehouse_current [ALL] grantable [ALL]",
		"${FinishIngestRole.Arn}: database raw_warehouse [CREATE_TABLE ALTER DESCRIBE] grantable []",
		"${FinishIngestRole.Arn}: database raw_warehouse_current [CREATE_TABLE ALTER DESCRIBE] grantable []",
		"${FinishIngestRole.Arn}: location ${Lake.Arn}/raw [DATA_LOCATION_ACCESS] grantable []",
		"${FinishIngestRole.Arn}: tables of raw_warehouse [ALL] grantable []",
		"${FinishIngestRole.Arn}: tables of raw_warehouse_current [ALL] grantable []",
		"${IngestCrawlerRole.Arn}: database raw_warehouse [CREATE_TABLE ALTER DESCRIBE] grantable []",
		"${IngestCrawlerRole.Arn}: location ${Lake.Arn}/raw [DATA_LOCATION_ACCESS] grantable []",
		"${IngestCrawlerRole.Arn}: tables of raw_warehouse [ALL] grantable []",
		"${IngestCurrentRole.Arn}: database raw_warehouse_current [CREATE_TABLE ALTER DESCRIBE] grantable []",
		"${IngestCurrentRole.Arn}: location ${Lake.Arn}/current [DATA_LOCATION_ACCESS] grantable []",
		"${IngestCurrentRole.Arn}: tables of raw_warehouse_current [ALL] grantable []",
	}
	if !slices.Equal(got, want) {
		t.Errorf("Lake Formation grants\n got %s\nwant %s", strings.Join(got, "\n     "), strings.Join(want, "\n     "))
	}
}

func TestIngestSchedules(t *testing.T) {
	for _, tc := range []struct {
		name, zone      string
		daily, frequent string
	}{
		{"utc", "UTC", "cron(0 2 * * ? *)", "cron(0/15 8-17 ? * MON-FRI *)"},
		// Berlin skips 02:00-03:00 once a year: the daily set also fires at 03:00,
		// which the reconfigure function's Due check makes a no-op on other days.
		{"vpc", "Europe/Berlin", "cron(0 2-3 * * ? *)", "cron(0/15 8-17 ? * MON-FRI *)"},
	} {
		s := ingestStackFor(t, tc.name)
		loc, _ := time.LoadLocation(tc.zone)
		if n := len(s.resources("AWS::Scheduler::ScheduleGroup")); n != 1 {
			t.Errorf("%s: %d schedule groups", tc.name, n)
		}
		for _, g := range s.resources("AWS::Scheduler::ScheduleGroup") {
			if props(g)["Name"] != deploy.IngestScheduleGroup {
				t.Errorf("%s: schedule group %v", tc.name, props(g)["Name"])
			}
		}
		scheds := map[string]map[string]any{}
		for _, sc := range s.resources("AWS::Scheduler::Schedule") {
			scheds[props(sc)["Name"].(string)] = props(sc)
		}
		if len(scheds) != 2 {
			t.Errorf("%s: schedules %v, want 2", tc.name, slices.Sorted(maps.Keys(scheds)))
		}
		for set, want := range map[string]string{ingest.SetDaily: tc.daily, ingest.SetFrequent: tc.frequent} {
			p := scheds[deploy.IngestScheduleName(set)]
			if p == nil {
				t.Errorf("%s: no schedule %s", tc.name, deploy.IngestScheduleName(set))
				continue
			}
			fromIngest, err := ingest.DefaultSets()[set].ScheduleExpression(loc)
			if err != nil || fromIngest != want {
				t.Errorf("ingest's %s expression in %s is %q (%v), want %q", set, tc.zone, fromIngest, err, want)
			}
			if p["ScheduleExpression"] != want || p["ScheduleExpressionTimezone"] != tc.zone || p["GroupName"] != deploy.IngestScheduleGroup {
				t.Errorf("%s %s: %v in %v (group %v), want %s in %s", tc.name, set, p["ScheduleExpression"], p["ScheduleExpressionTimezone"], p["GroupName"], want, tc.zone)
			}
			if fmt.Sprint(p["FlexibleTimeWindow"]) != "map[Mode:OFF]" || p["KmsKeyArn"] != nil {
				t.Errorf("%s %s: window %v key %v, want OFF and Scheduler's own key (no KmsKeyArn)", tc.name, set, p["FlexibleTimeWindow"], p["KmsKeyArn"])
			}
			target := p["Target"].(map[string]any)
			if render(target["Arn"]) != "${IngestStateMachine}" || render(target["RoleArn"]) != "${IngestSchedulerRole.Arn}" {
				t.Errorf("%s %s: target %v as %v, want the ingest state machine as the scheduler role", tc.name, set, target["Arn"], target["RoleArn"])
			}
			var input map[string]any
			// The scheduled time is Scheduler's context attribute, written literally (not
			// JSON-escaped as \u003c...\u003e, which Scheduler would not replace).
			if want := `{"set":"` + set + `","scheduledTime":"<aws.scheduler.scheduled-time>"}`; target["Input"] != want {
				t.Errorf("%s %s: input %v, want %s", tc.name, set, target["Input"], want)
			}
			if err := json.Unmarshal([]byte(target["Input"].(string)), &input); err != nil || input["set"] != set {
				t.Errorf("%s %s: input %v is not JSON naming the set", tc.name, set, target["Input"])
			}
			if render(target["DeadLetterConfig"].(map[string]any)["Arn"]) != "${DeadLetters.Arn}" || target["RetryPolicy"] == nil {
				t.Errorf("%s %s: dead letters %v, retries %v", tc.name, set, target["DeadLetterConfig"], target["RetryPolicy"])
			}
		}
	}
	noPanic(t, "scheduler role trust", func() {
		ingestStackFor(t, "vpc").template.HasResourceProperties(jsii.String("AWS::IAM::Role"), map[string]any{
			"AssumeRolePolicyDocument": map[string]any{"Statement": []any{map[string]any{
				"Action": "sts:AssumeRole", "Effect": "Allow", "Principal": map[string]any{"Service": "scheduler.amazonaws.com"},
				"Condition": map[string]any{"StringEquals": map[string]any{"aws:SourceAccount": map[string]any{"Ref": "AWS::AccountId"}}},
			}}},
			"Tags": assertions.Match_ArrayWith(&[]any{map[string]any{"Key": deploy.TagRole, "Value": deploy.RoleIngestScheduler}}),
		})
	})
}

func TestIngestStateMachine(t *testing.T) {
	s := ingestStackFor(t, "vpc")
	var p map[string]any
	for id, sm := range s.resources("AWS::StepFunctions::StateMachine") {
		if strings.HasPrefix(id, "IngestStateMachine") {
			p = props(sm)
		}
	}
	if p == nil {
		t.Fatal("no ingest state machine")
	}
	if p["DefinitionString"] != string(statemachines.Ingest) {
		t.Errorf("deployed definition differs from statemachines.Ingest")
	}
	subs := map[string]string{}
	for k, v := range p["DefinitionSubstitutions"].(map[string]any) {
		subs[k] = render(v)
	}
	want := map[string]string{
		statemachines.ReconfigureFunctionArn:   "${Reconfigure.Arn}",
		statemachines.FinishIngestFunctionArn:  "${FinishIngest.Arn}",
		statemachines.ApplyGrantsFunctionArn:   "${ApplyGrants.Arn}",
		statemachines.IngestCurrentFunctionArn: "${IngestCurrent.Arn}",
		statemachines.IngestJobName:            "${IngestJob}",
		statemachines.NotificationTopicArn:     "${Notifications}",
	}
	if !reflect.DeepEqual(subs, want) {
		t.Errorf("substitutions %v, want %v", subs, want)
	}
	if got := slices.Sorted(maps.Keys(subs)); !slices.Equal(got, statemachines.Placeholders(statemachines.Ingest)) {
		t.Errorf("substituted %v, the definition's placeholders are %v", got, statemachines.Placeholders(statemachines.Ingest))
	}
	if render(p["RoleArn"]) != "${IngestStateMachineRole.Arn}" || fmt.Sprint(p["TracingConfiguration"]) != "map[Enabled:true]" {
		t.Errorf("role %v tracing %v", p["RoleArn"], p["TracingConfiguration"])
	}
	if lc := p["LoggingConfiguration"].(map[string]any); lc["Level"] != "ALL" || lc["IncludeExecutionData"] != true {
		t.Errorf("logging %v, want ALL with execution data", lc)
	}
}

func TestIngestFunctions(t *testing.T) {
	for _, name := range []string{"utc", "vpc"} {
		s := ingestStackFor(t, name)
		seen := map[string]bool{}
		for id, fn := range s.resources("AWS::Lambda::Function") {
			p := props(fn)
			fname := tagValue(p, deploy.TagFunction)
			if !slices.Contains(deploy.IngestFunctions, fname) {
				continue
			}
			seen[fname] = true
			if p["Runtime"] != "provided.al2023" || !reflect.DeepEqual(p["Architectures"], []any{"arm64"}) {
				t.Errorf("%s %s: runtime %v %v", name, fname, p["Runtime"], p["Architectures"])
			}
			env := p["Environment"].(map[string]any)["Variables"].(map[string]any)
			want := map[string]string{
				deploy.EnvIngestDatabase: "warehouse", deploy.EnvLeaseTTLSeconds: "21600", deploy.EnvGraceSeconds: "18000",
				deploy.EnvLogLevel: "INFO",
			}
			for k, v := range want {
				if env[k] != v {
					t.Errorf("%s %s: %s = %v, want %s", name, fname, k, env[k], v)
				}
			}
			// Only reconfigure reads the schedule group (it makes the sets' schedules follow the config).
			if group, ok := env[deploy.EnvScheduleGroup]; ok != (fname == deploy.FnReconfigure) || ok && group != deploy.IngestScheduleGroup {
				t.Errorf("%s %s: %s = %v (set %v), want %s on reconfigure only", name, fname, deploy.EnvScheduleGroup, group, ok, deploy.IngestScheduleGroup)
			}
			// The crawl wait's pace and bound: the defaults, or the context's
			// crawlPollSeconds and crawlTimeoutMinutes (15 s, 20 min in "vpc").
			if fname == deploy.FnReconfigure {
				poll, timeout := "30", "3600"
				if name == "vpc" {
					poll, timeout = "15", "1200"
				}
				if env[deploy.EnvCrawlPollSeconds] != poll || env[deploy.EnvCrawlTimeoutSeconds] != timeout {
					t.Errorf("%s %s: %s = %v, %s = %v, want %s and %s", name, fname, deploy.EnvCrawlPollSeconds, env[deploy.EnvCrawlPollSeconds],
						deploy.EnvCrawlTimeoutSeconds, env[deploy.EnvCrawlTimeoutSeconds], poll, timeout)
				}
			} else if _, ok := env[deploy.EnvCrawlPollSeconds]; ok {
				t.Errorf("%s %s: %s is the reconfigure function's only", name, fname, deploy.EnvCrawlPollSeconds)
			}
			if render(env["BUCKET"]) != "${Lake}" || render(env["KMS_KEY_ID"]) != "${Key.Arn}" {
				t.Errorf("%s %s: BUCKET %v KMS_KEY_ID %v", name, fname, env["BUCKET"], env["KMS_KEY_ID"])
			}
			_, endpoint := env["MYSQL_ENDPOINT"]
			_, secret := env["SECRET_ARN"]
			// The current function reads the source for key checks.
			if isRe := fname == deploy.FnReconfigure || fname == deploy.FnIngestCurrent; endpoint != isRe || secret != isRe {
				t.Errorf("%s %s: MYSQL_ENDPOINT/SECRET_ARN set %v/%v, want only on reconfigure and ingestcurrent", name, fname, endpoint, secret)
			}
			if fname == deploy.FnReconfigure && (env["SECRET_ARN"] != testSecretArn || !strings.HasSuffix(env["MYSQL_ENDPOINT"].(string), ":3306")) {
				t.Errorf("%s reconfigure: secret %v endpoint %v", name, env["SECRET_ARN"], env["MYSQL_ENDPOINT"])
			}
			if fname == deploy.FnApplyGrants {
				for k, v := range map[string]string{
					"ACCOUNT_ID": "${AWS::AccountId}", "PARTITION": "${AWS::Partition}",
					"KEEP_PRINCIPALS":    "${IngestCrawlerRole.Arn},${IngestJobRole.Arn},${ReconfigureRole.Arn},${FinishIngestRole.Arn},${IngestCurrentRole.Arn},${CrawlerRole.Arn},${LatestRole.Arn},${ApplyGrantsRole.Arn}",
					"SNAPSHOT_DATABASES": "shop",
				} {
					if got := render(env[k]); got != v {
						t.Errorf("%s applygrants: %s = %s, want %s", name, k, got, v)
					}
				}
			}
			vpc := p["VpcConfig"]
			switch {
			case (fname == deploy.FnReconfigure || fname == deploy.FnIngestCurrent) && name == "vpc":
				want := map[string]any{"SubnetIds": []any{"subnet-0123456789abcdef0", "subnet-0fedcba9876543210"}, "SecurityGroupIds": []any{"sg-0123456789abcdef0"}}
				if !reflect.DeepEqual(vpc, want) {
					t.Errorf("%s reconfigure VpcConfig %v, want %v", name, vpc, want)
				}
			case vpc != nil:
				t.Errorf("%s %s (%s) runs in a VPC: %v", name, fname, id, vpc)
			}
		}
		if len(seen) != len(deploy.IngestFunctions) {
			t.Errorf("%s: ingest functions %v, want %v", name, seen, deploy.IngestFunctions)
		}
		// Each function's role carries the function's tag; each service role its name.
		tags := map[string]string{}
		for id, r := range s.resources("AWS::IAM::Role") {
			if v := tagValue(props(r), deploy.TagFunction); v != "" {
				tags[shortID(id)] = "function=" + v
			}
			if v := tagValue(props(r), deploy.TagRole); v != "" {
				tags[shortID(id)] = "role=" + v
			}
		}
		for role, want := range map[string]string{
			"ReconfigureRole": "function=" + deploy.FnReconfigure, "FinishIngestRole": "function=" + deploy.FnFinishIngest,
			"ApplyGrantsRole": "function=" + deploy.FnApplyGrants, "IngestJobRole": "role=" + deploy.RoleIngestJob,
			"IngestCrawlerRole": "role=" + deploy.RoleIngestCrawler, "IngestStateMachineRole": "role=" + deploy.RoleIngestMachine,
			"IngestSchedulerRole": "role=" + deploy.RoleIngestScheduler,
		} {
			if tags[role] != want {
				t.Errorf("%s: %s tagged %q, want %s", name, role, tags[role], want)
			}
		}
	}
}

func TestIngestAlarmAndOutputs(t *testing.T) {
	s := ingestStackFor(t, "vpc")
	var alarm map[string]any
	for _, a := range s.resources("AWS::CloudWatch::Alarm") {
		if props(a)["AlarmName"] == deploy.StackName+"-"+ingestAlarm {
			alarm = props(a)
		}
	}
	if alarm == nil {
		t.Fatal("no ingest alarm")
	}
	metrics := fmt.Sprint(alarm["Metrics"])
	for _, m := range []string{"ExecutionsFailed", "ExecutionsTimedOut", "ExecutionsAborted", "IngestStateMachine"} {
		if !strings.Contains(metrics, m) {
			t.Errorf("ingest alarm metrics %s miss %s", metrics, m)
		}
	}
	if !strings.Contains(fmt.Sprint(alarm["AlarmActions"]), "Notifications") {
		t.Errorf("ingest alarm actions %v, want the topic", alarm["AlarmActions"])
	}
	keyPolicy := fmt.Sprint(props(s.resources("AWS::KMS::Key")[onlyID(t, s, "AWS::KMS::Key")])["KeyPolicy"])
	for _, want := range []string{"alarm:" + deploy.StackName + "-" + ingestAlarm, "log-group:/aws-glue/jobs*"} {
		if !strings.Contains(keyPolicy, want) {
			t.Errorf("the key policy does not name %s", want)
		}
	}
	outputs := s.json["Outputs"].(map[string]any)
	for _, o := range []string{deploy.OutputIngestStateMachineArn, deploy.OutputIngestJobName, deploy.OutputIngestRoleArns, deploy.OutputIngestFunctionArns} {
		if outputs[o] == nil {
			t.Errorf("no output %s", o)
		}
	}
	roles := render(outputs[deploy.OutputIngestRoleArns].(map[string]any)["Value"])
	for _, name := range append(slices.Clone(deploy.IngestFunctions), deploy.IngestServiceRoles...) {
		if !strings.Contains(roles, fmt.Sprintf("%q:", name)) {
			t.Errorf("IngestRoleArns %s misses %s", roles, name)
		}
	}
	fns := render(outputs[deploy.OutputIngestFunctionArns].(map[string]any)["Value"])
	for _, want := range []string{`"reconfigure":"${Reconfigure.Arn}"`, `"finishingest":"${FinishIngest.Arn}"`, `"applygrants":"${ApplyGrants.Arn}"`} {
		if !strings.Contains(fns, want) {
			t.Errorf("IngestFunctionArns %s misses %s", fns, want)
		}
	}
}

// TestIngestFreshnessAlarms (issue 15, item 8): each scheduled set has an alarm on
// its RunSucceeded metric that fires when no run succeeded within the set's longest
// gap between two scheduled runs plus the slack, in hourly periods, with no data
// counted as breaching; it notifies the topic, and the key policy lets it.
func TestIngestFreshnessAlarms(t *testing.T) {
	// The daily set runs every 24 h; the frequent set's longest gap is its weekend,
	// Friday 17:45 to Monday 08:00 (an hour more over the autumn change in Berlin).
	want := map[string]map[string]float64{
		"utc": {ingest.SetDaily: 24 + 3, ingest.SetFrequent: 66},
		"vpc": {ingest.SetDaily: 24 + 3, ingest.SetFrequent: 67},
	}
	for name, hours := range want {
		s := ingestStackFor(t, name)
		byName := map[string]map[string]any{}
		for _, a := range s.resources("AWS::CloudWatch::Alarm") {
			byName[fmt.Sprint(props(a)["AlarmName"])] = props(a)
		}
		keyPolicy := fmt.Sprint(props(s.resources("AWS::KMS::Key")[onlyID(t, s, "AWS::KMS::Key")])["KeyPolicy"])
		for _, set := range deploy.IngestSets {
			alarmName := deploy.StackName + "-" + deploy.IngestFreshnessAlarm(set)
			a := byName[alarmName]
			if a == nil {
				t.Errorf("%s: no freshness alarm %s for set %s", name, alarmName, set)
				continue
			}
			got := map[string]any{
				"Namespace": a["Namespace"], "MetricName": a["MetricName"], "Statistic": a["Statistic"], "Period": a["Period"],
				"Threshold": a["Threshold"], "ComparisonOperator": a["ComparisonOperator"], "TreatMissingData": a["TreatMissingData"],
				"EvaluationPeriods": a["EvaluationPeriods"], "DatapointsToAlarm": a["DatapointsToAlarm"], "Dimensions": fmt.Sprint(a["Dimensions"]),
			}
			wantProps := map[string]any{
				"Namespace": deploy.IngestMetricsNamespace, "MetricName": deploy.IngestRunSucceededMetric, "Statistic": "Sum", "Period": 3600.0,
				"Threshold": 1.0, "ComparisonOperator": "LessThanThreshold", "TreatMissingData": "breaching",
				"EvaluationPeriods": hours[set], "DatapointsToAlarm": hours[set],
				"Dimensions": fmt.Sprint([]any{map[string]any{"Name": deploy.IngestMetricDimensionSet, "Value": set}}),
			}
			for k, v := range wantProps {
				if got[k] != v {
					t.Errorf("%s: alarm %s: %s = %v, want %v", name, alarmName, k, got[k], v)
				}
			}
			// CloudWatch evaluates at most 7 days: Period x EvaluationPeriods <= 604,800 s.
			if p, n := a["Period"].(float64), a["EvaluationPeriods"].(float64); p*n > 604800 {
				t.Errorf("%s: alarm %s evaluates %v s", name, alarmName, p*n)
			}
			if !strings.Contains(fmt.Sprint(a["AlarmActions"]), "Notifications") {
				t.Errorf("%s: alarm %s actions %v, want the topic", name, alarmName, a["AlarmActions"])
			}
			if !strings.Contains(keyPolicy, "alarm:"+alarmName) {
				t.Errorf("%s: the key policy does not name %s", name, alarmName)
			}
		}
	}
}

func TestIngestNagFindsNoErrors(t *testing.T) {
	for _, name := range []string{"utc", "vpc"} {
		s := ingestStackFor(t, name)
		found := assertions.Annotations_FromStack(s.stack).FindError(jsii.String("*"), assertions.Match_StringLikeRegexp(jsii.String("AwsSolutions-.*")))
		for _, msg := range *found {
			t.Errorf("%s: cdk-nag error at %s: %v", name, *msg.Id, msg.Entry.Data)
		}
	}
}

// configErrors lists the *ConfigError of a joined error.
func configErrors(err error) []*ConfigError {
	var out []*ConfigError
	var walk func(error)
	walk = func(e error) {
		var ce *ConfigError
		if errors.As(e, &ce) && ce == e {
			out = append(out, ce)
			return
		}
		if j, ok := e.(interface{ Unwrap() []error }); ok {
			for _, x := range j.Unwrap() {
				walk(x)
			}
		}
	}
	walk(err)
	return out
}

func TestParseIngestConfig(t *testing.T) {
	base := func() map[string]any {
		return map[string]any{KeyDBInstanceIDs: []any{"orders"}, KeyDatabases: []any{"shop"}}
	}

	c, err := ParseConfig(lookupFrom(base()))
	if err != nil || c.Ingest != nil {
		t.Fatalf("without %s: ingest %v, error %v", KeyIngest, c.Ingest, err)
	}

	m := base()
	in := ingestContext(false)
	delete(in, "timeZone")
	m[KeyIngest] = in
	c, err = ParseConfig(lookupFrom(m))
	if err != nil {
		t.Fatal(err)
	}
	want := &IngestConfig{Database: "warehouse", SecretArn: testSecretArn, Endpoint: in["endpoint"].(string), TimeZone: "UTC",
		GlueVersion: "5.0", GlueWorkerType: deploy.DefaultIngestGlueWorkerType, GlueWorkers: deploy.DefaultIngestGlueWorkers,
		CrawlPoll: deploy.DefaultIngestCrawlPoll, CrawlTimeout: deploy.DefaultIngestCrawlTimeout}
	if !reflect.DeepEqual(c.Ingest, want) || c.Ingest.InVPC() || c.Ingest.CatalogDatabase() != "raw_warehouse" {
		t.Errorf("ingest %+v, want %+v", c.Ingest, want)
	}

	// `cdk synth -c snaplake:ingest='{...}'` delivers the object as JSON text.
	b, _ := json.Marshal(ingestContext(true))
	m = base()
	m[KeyIngest] = string(b)
	c, err = ParseConfig(lookupFrom(m))
	if err != nil {
		t.Fatal(err)
	}
	if !c.Ingest.InVPC() || c.Ingest.TimeZone != "Europe/Berlin" || c.Ingest.AvailabilityZone != "eu-central-1a" || c.Ingest.GlueVersion != "4.0" || c.Ingest.GlueWorkerType != "G.2X" || c.Ingest.GlueWorkers != 10 ||
		c.Ingest.CrawlPoll != 15*time.Second || c.Ingest.CrawlTimeout != 20*time.Minute ||
		!slices.Equal(c.Ingest.SubnetIDs, []string{"subnet-0123456789abcdef0", "subnet-0fedcba9876543210"}) {
		t.Errorf("ingest from JSON text: %+v", c.Ingest)
	}

	// With the section, a synth needs the ingest functions' binaries too.
	dir := t.TempDir()
	writeAssets(t, dir, deploy.Functions)
	c.LambdaAssetDir = dir
	if err := c.CheckLambdaAssets(); err == nil || !strings.Contains(err.Error(), filepath.Join(dir, deploy.FnReconfigure, "bootstrap")) {
		t.Errorf("CheckLambdaAssets without the ingest binaries: %v", err)
	}
	c.Ingest = nil
	if err := c.CheckLambdaAssets(); err != nil {
		t.Errorf("CheckLambdaAssets without the ingestion needs no ingest binaries: %v", err)
	}
	writeAssets(t, dir, deploy.IngestFunctions)
	c.Ingest = &IngestConfig{}
	if err := c.CheckLambdaAssets(); err != nil {
		t.Errorf("CheckLambdaAssets: %v", err)
	}
}

func TestParseIngestConfigErrors(t *testing.T) {
	tests := []struct {
		name      string
		value     func(m map[string]any) any // the snaplake:ingest value, from a valid VPC section
		databases []any
		field     string // "" for the key itself
		msg       string
	}{
		{"not an object", func(map[string]any) any { return 3.0 }, nil, "", "want an object"},
		{"bad JSON text", func(map[string]any) any { return `{"database": ` }, nil, "", "not a JSON object"},
		{"unknown field", func(m map[string]any) any { m["databse"] = "x"; return m }, nil, "databse", "unknown field"},
		{"database missing", func(m map[string]any) any { delete(m, "database"); return m }, nil, "database", "required"},
		{"database not a string", func(m map[string]any) any { m["database"] = 3.0; return m }, nil, "database", "want a string"},
		{"database with a space", func(m map[string]any) any { m["database"] = "ware house"; return m }, nil, "database", "not a database name"},
		{"database collides with an export database", func(m map[string]any) any { return m }, []any{"raw_warehouse"}, "database", "also the export's Glue database"},
		{"secret missing", func(m map[string]any) any { delete(m, "secretArn"); return m }, nil, "secretArn", "required"},
		{"secret without suffix", func(m map[string]any) any {
			m["secretArn"] = "arn:aws:secretsmanager:eu-central-1:123456789012:secret:warehouse"
			return m
		}, nil, "secretArn", "complete Secrets Manager secret ARN"},
		{"secret key not a key ARN", func(m map[string]any) any {
			m["secretKmsKeyArn"] = "arn:aws:kms:eu-central-1:123456789012:alias/source"
			return m
		}, nil, "secretKmsKeyArn", "not a KMS key ARN"},
		{"secret key in another region", func(m map[string]any) any {
			m["secretKmsKeyArn"] = "arn:aws:kms:eu-west-1:123456789012:key/0a1b2c3d-4e5f-6789-abcd-ef0123456789"
			return m
		}, nil, "secretKmsKeyArn", "same region as the secret"},
		{"endpoint missing", func(m map[string]any) any { delete(m, "endpoint"); return m }, nil, "endpoint", "required"},
		{"endpoint without port", func(m map[string]any) any { m["endpoint"] = "db.example.com"; return m }, nil, "endpoint", "not host:port"},
		{"endpoint port out of range", func(m map[string]any) any { m["endpoint"] = "db:70000"; return m }, nil, "endpoint", "from 1 to 65535"},
		{"time zone unknown", func(m map[string]any) any { m["timeZone"] = "Mars/Olympus"; return m }, nil, "timeZone", "IANA"},
		{"time zone Local", func(m map[string]any) any { m["timeZone"] = "Local"; return m }, nil, "timeZone", "depends on the machine"},
		{"subnets not a list", func(m map[string]any) any { m["subnetIds"] = 3.0; return m }, nil, "subnetIds", "want a list"},
		{"subnet malformed", func(m map[string]any) any { m["subnetIds"] = []any{"subnet-xyz"}; return m }, nil, "subnetIds", "not a subnet ID"},
		{"security group twice", func(m map[string]any) any {
			m["securityGroupIds"] = []any{"sg-0123456789abcdef0", "sg-0123456789abcdef0"}
			return m
		}, nil, "securityGroupIds", "listed twice"},
		{"availability zone malformed", func(m map[string]any) any { m["availabilityZone"] = "eu-central-1"; return m }, nil, "availabilityZone", "not an availability zone"},
		{"subnets without the rest", func(m map[string]any) any { delete(m, "availabilityZone"); return m }, nil, "availabilityZone", "go together"},
		{"security groups without subnets", func(m map[string]any) any { delete(m, "subnetIds"); return m }, nil, "subnetIds", "go together"},
		{"glue version unknown", func(m map[string]any) any { m["glueVersion"] = "3.0"; return m }, nil, "glueVersion", "not a Glue version the load job runs on"},
		{"glue version 5.1", func(m map[string]any) any { m["glueVersion"] = "5.1"; return m }, nil, "glueVersion", "use 4.0 or 5.0"},
		{"glue version not a string", func(m map[string]any) any { m["glueVersion"] = 5.0; return m }, nil, "glueVersion", "want a string"},
		{"worker type unknown", func(m map[string]any) any { m["glueWorkerType"] = "G.3X"; return m }, nil, "glueWorkerType", "not a worker type of Glue Spark jobs"},
		{"worker type of streaming", func(m map[string]any) any { m["glueWorkerType"] = "G.025X"; return m }, nil, "glueWorkerType", "G.1X, G.2X, G.4X or G.8X"},
		{"crawl poll not a number", func(m map[string]any) any { m["crawlPollSeconds"] = "often"; return m }, nil, "crawlPollSeconds", "not a whole number"},
		{"crawl poll of zero", func(m map[string]any) any { m["crawlPollSeconds"] = 0.0; return m }, nil, "crawlPollSeconds", "from 1 to 600"},
		{"crawl poll too slow", func(m map[string]any) any { m["crawlPollSeconds"] = 601.0; return m }, nil, "crawlPollSeconds", "from 1 to 600"},
		{"crawl timeout fractional", func(m map[string]any) any { m["crawlTimeoutMinutes"] = 1.5; return m }, nil, "crawlTimeoutMinutes", "not a whole number"},
		{"crawl timeout of zero", func(m map[string]any) any { m["crawlTimeoutMinutes"] = 0.0; return m }, nil, "crawlTimeoutMinutes", "from 1 to 1440"},
		{"crawl timeout over a day", func(m map[string]any) any { m["crawlTimeoutMinutes"] = 1441.0; return m }, nil, "crawlTimeoutMinutes", "from 1 to 1440"},
		{"crawl timeout shorter than the poll", func(m map[string]any) any {
			m["crawlPollSeconds"], m["crawlTimeoutMinutes"] = 600.0, 5.0
			return m
		}, nil, "crawlTimeoutMinutes", "before its first look"},
		{"workers not a number", func(m map[string]any) any { m["glueWorkers"] = "many"; return m }, nil, "glueWorkers", "not a whole number"},
		{"one worker", func(m map[string]any) any { m["glueWorkers"] = 1.0; return m }, nil, "glueWorkers", "from 2"},
		{"too many workers", func(m map[string]any) any { m["glueWorkerType"] = "G.1X"; m["glueWorkers"] = 300.0; return m }, nil, "glueWorkers", "to 299 for G.1X"},
		{"too many G.2X workers", func(m map[string]any) any { m["glueWorkerType"] = "G.2X"; m["glueWorkers"] = 150.0; return m }, nil, "glueWorkers", "to 149 for G.2X"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			ctx := map[string]any{KeyDBInstanceIDs: []any{"orders"}, KeyDatabases: []any{"shop"}, KeyIngest: tc.value(ingestContext(true))}
			if tc.databases != nil {
				ctx[KeyDatabases] = tc.databases
			}
			_, err := ParseConfig(lookupFrom(ctx))
			if err == nil {
				t.Fatal("ParseConfig succeeded, want an error")
			}
			var match *ConfigError
			for _, ce := range configErrors(err) {
				if ce.Key == KeyIngest && ce.Field == tc.field && strings.Contains(ce.Reason, tc.msg) {
					match = ce
				}
			}
			if match == nil {
				t.Fatalf("error %q has no ConfigError for %s field %q saying %q", err, KeyIngest, tc.field, tc.msg)
			}
			if msg := match.Error(); !strings.Contains(msg, KeyIngest) || !strings.Contains(msg, tc.field) {
				t.Errorf("message %q does not name %s and %q", msg, KeyIngest, tc.field)
			}
		})
	}
}

// TestIngestSecretKey: a source secret encrypted with a customer managed key is
// decrypted by Secrets Manager with the caller's permission on that key, so the three
// roles that read the secret (reconfigure, the Glue job, the current function) get kms:Decrypt on exactly
// that key, through Secrets Manager and for that secret only; without the setting,
// no role holds any KMS permission beyond the stack's key.
func TestIngestSecretKey(t *testing.T) {
	cond := `{"StringEquals":{"kms:EncryptionContext:SecretARN":"` + testSecretArn + `","kms:ViaService":"secretsmanager.eu-central-1.amazonaws.com"}}`
	want := "kms:Decrypt on " + testSecretKey + " when " + cond
	for _, role := range []string{"ReconfigureRole", "IngestJobRole", "IngestCurrentRole"} {
		if g := grantsOf(t, ingestStackFor(t, "cmk"), role); !slices.Contains(g, want) {
			t.Errorf("cmk: %s lacks %s; it has:\n%s", role, want, strings.Join(g, "\n"))
		}
	}
	for _, name := range []string{"cmk", "utc"} {
		s := ingestStackFor(t, name)
		for id := range s.resources("AWS::IAM::Role") {
			role := shortID(id)
			if len(statementsOfOrNone(s, role)) == 0 {
				continue
			}
			for _, g := range grantsOf(t, s, role) {
				if !strings.HasPrefix(g, "kms:") || strings.Contains(g, " on ${Key.Arn}") {
					continue
				}
				if name == "utc" || g != want || (role != "ReconfigureRole" && role != "IngestJobRole" && role != "IngestCurrentRole") {
					t.Errorf("%s: %s holds %s", name, role, g)
				}
			}
		}
	}
}

// statementsOfOrNone is statementsOf for a role that may have no policy.
func statementsOfOrNone(s *synthesized, rolePrefix string) []map[string]any {
	var out []map[string]any
	for _, r := range s.resources("AWS::IAM::Policy") {
		for _, role := range asList(props(r)["Roles"]) {
			if ref, ok := role.(map[string]any)["Ref"].(string); ok && shortID(ref) == rolePrefix {
				out = append(out, r)
			}
		}
	}
	return out
}
