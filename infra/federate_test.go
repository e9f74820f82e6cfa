package main

import (
	"encoding/json"
	"fmt"
	"maps"
	"os"
	"path/filepath"
	"reflect"
	"regexp"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/aws/aws-cdk-go/awscdk/v2/assertions"
	"github.com/aws/jsii-runtime-go"

	"github.com/snaplake/snaplake/events"
	"github.com/snaplake/snaplake/internal/deploy"
	"github.com/snaplake/snaplake/internal/local/testenv"
	"github.com/snaplake/snaplake/statemachines"
)

const (
	testWorkgroupArn = "arn:aws:redshift-serverless:eu-central-1:123456789012:workgroup/0b1c2d3e-4f50-6172-8394-a5b6c7d8e9f0"
	testReportingArn = "arn:aws:redshift:eu-central-1:123456789012:cluster:reporting"
	testArchiveArn   = "arn:aws:redshift:eu-central-1:123456789012:cluster:archive"
	testReportingKey = "arn:aws:secretsmanager:eu-central-1:123456789012:secret:reporting-federator-XyZ789"
)

// federateContext is a valid snaplake:federate section with its three kinds of
// warehouse: a workgroup signed into as the functions' IAM identity, a cluster with
// a secret, and a cluster signed into as the IAM identity.
func federateContext() map[string]any {
	return map[string]any{
		"publishSchedule":   "cron(0/10 * * * ? *)",
		"subscribeSchedule": "rate(1 hour)",
		"warehouses": []any{
			map[string]any{"name": "transform", "arn": testWorkgroupArn},
			map[string]any{"name": "reporting", "arn": testReportingArn, "secretArn": testReportingKey},
			map[string]any{"name": "archive", "arn": testArchiveArn},
		},
	}
}

var (
	federateOnce   sync.Map // context name -> *sync.Once
	federateStacks sync.Map // context name -> *synthesized
)

// federateTestContexts are the stacks with the section: all three kinds of warehouse
// with their own schedules, and one workgroup with a secret on the default schedules.
// The stack without it is ingestStackFor(t, "none").
var federateTestContexts = map[string]func() map[string]any{
	"federate": func() map[string]any { return map[string]any{KeyFederate: federateContext()} },
	"defaults": func() map[string]any {
		return map[string]any{KeyFederate: map[string]any{"warehouses": []any{
			map[string]any{"name": "transform", "arn": testWorkgroupArn, "secretArn": testSecretArn},
		}}}
	},
	// Two secrets, one encrypted with a customer managed key (secretKmsKeyArn).
	"cmk": func() map[string]any {
		return map[string]any{KeyFederate: map[string]any{"warehouses": []any{
			map[string]any{"name": "transform", "arn": testWorkgroupArn, "secretArn": testSecretArn, "secretKmsKeyArn": testSecretKey},
			map[string]any{"name": "reporting", "arn": testReportingArn, "secretArn": testReportingKey},
		}}}
	},
	// A cluster signed into as a database user with temporary credentials (db_user=).
	"dbuser": func() map[string]any {
		return map[string]any{KeyFederate: map[string]any{"warehouses": []any{
			map[string]any{"name": "archive", "arn": testArchiveArn, "dbUser": "snaplake_federator"},
		}}}
	},
}

// federateStackFor synthesizes (once) the stack of a named test context.
func federateStackFor(t *testing.T, name string) *synthesized {
	t.Helper()
	testenv.NeedsNode(t) // before the Once: jsii runs the CDK in node
	once, _ := federateOnce.LoadOrStore(name, &sync.Once{})
	once.(*sync.Once).Do(func() {
		dir, err := os.MkdirTemp("", "snaplake-federate-test")
		if err != nil {
			t.Fatal(err)
		}
		writeDummyAssets(t, dir)
		ctx := map[string]any{
			KeyDBInstanceIDs: []any{"orders-prod"}, KeyDatabases: []any{"Shop"},
			KeyNotificationEmail: "ops@example.com", KeyLambdaAssetDir: dir,
		}
		maps.Copy(ctx, federateTestContexts[name]())
		cfg, err := ParseConfig(lookupFrom(ctx))
		if err != nil {
			t.Fatalf("ParseConfig(%s): %v", name, err)
		}
		if err := cfg.CheckLambdaAssets(); err != nil {
			t.Fatalf("CheckLambdaAssets(%s): %v", name, err)
		}
		federateStacks.Store(name, synth(t, cfg))
	})
	s, ok := federateStacks.Load(name)
	if !ok {
		t.Fatalf("stack %s did not synthesize", name)
	}
	return s.(*synthesized)
}

func TestFederateAbsentWithoutContext(t *testing.T) {
	s := ingestStackFor(t, "none")
	if s.cfg.Federate != nil {
		t.Fatal("the base context sets snaplake:federate")
	}
	for _, fn := range s.resources("AWS::Lambda::Function") {
		if name := tagValue(props(fn), deploy.TagFunction); slices.Contains(deploy.FederateFunctions, name) {
			t.Errorf("Federator function %s without %s", name, KeyFederate)
		}
	}
	for id, r := range s.resources("AWS::IAM::Role") {
		if name := tagValue(props(r), deploy.TagRole); slices.Contains(deploy.FederateServiceRoles, name) {
			t.Errorf("Federator role %s (%s) without %s", name, id, KeyFederate)
		}
	}
	for _, typ := range []string{"AWS::Scheduler::Schedule", "AWS::Scheduler::ScheduleGroup"} {
		if n := len(s.resources(typ)); n != 0 {
			t.Errorf("%d resources of type %s without %s or %s", n, typ, KeyIngest, KeyFederate)
		}
	}
	if n := len(s.resources("AWS::StepFunctions::StateMachine")); n != 1 {
		t.Errorf("%d state machines, want only the export's", n)
	}
	for id := range s.json["Resources"].(map[string]any) {
		if strings.HasPrefix(id, "Federate") || strings.HasPrefix(id, "Publish") || strings.HasPrefix(id, "Subscribe") {
			t.Errorf("resource %s without %s", id, KeyFederate)
		}
	}
	for name := range s.json["Outputs"].(map[string]any) {
		if strings.HasPrefix(name, "Federate") {
			t.Errorf("output %s without %s", name, KeyFederate)
		}
	}
	if strings.Contains(fmt.Sprint(s.json["Resources"]), federateAlarm) {
		t.Errorf("the template names %s without %s", federateAlarm, KeyFederate)
	}
}

// TestFederateLeavesTheRestAlone: every resource of the stack without the section is
// in the stack with it, unchanged, except the key, whose policy names the new alarm,
// the lake bucket, which sends its events to EventBridge (and nothing else changes in
// it), and the dead-letter queue's policy, which admits the new rules.
func TestFederateLeavesTheRestAlone(t *testing.T) {
	base := ingestStackFor(t, "none")
	for name := range federateTestContexts {
		s := federateStackFor(t, name)
		all := s.json["Resources"].(map[string]any)
		for id, r := range base.json["Resources"].(map[string]any) {
			got, ok := all[id]
			switch {
			case !ok:
				t.Errorf("%s: resource %s is gone", name, id)
			case r.(map[string]any)["Type"] == "AWS::KMS::Key":
			case r.(map[string]any)["Type"] == "AWS::SQS::QueuePolicy":
				// The Federator's rules' statements are added, the others kept.
				want := r.(map[string]any)["Properties"].(map[string]any)["PolicyDocument"].(map[string]any)["Statement"].([]any)
				have := got.(map[string]any)["Properties"].(map[string]any)["PolicyDocument"].(map[string]any)["Statement"].([]any)
				if len(have) != len(want)+2 || !reflect.DeepEqual(have[:len(want)], want) {
					t.Errorf("%s: the dead-letter queue's policy lost or changed a statement:\n got %v\nwant %v and two more", name, have, want)
				}
			case shortID(id) == "Lake":
				// One property more: NotificationConfiguration.EventBridgeConfiguration.
				g := reflect.ValueOf(got).Interface().(map[string]any)
				props := map[string]any{}
				for k, v := range g["Properties"].(map[string]any) {
					if k != "NotificationConfiguration" {
						props[k] = v
					}
				}
				if !reflect.DeepEqual(props, r.(map[string]any)["Properties"]) {
					t.Errorf("%s: the lake bucket changed beyond its EventBridge notification:\n got %v\nwant %v", name, g["Properties"], r.(map[string]any)["Properties"])
				}
				if nc := fmt.Sprint(g["Properties"].(map[string]any)["NotificationConfiguration"]); nc != "map[EventBridgeConfiguration:map[EventBridgeEnabled:true]]" {
					t.Errorf("%s: the lake bucket's NotificationConfiguration is %s", name, nc)
				}
			case !reflect.DeepEqual(got, r):
				t.Errorf("%s: resource %s changed:\n got %v\nwant %v", name, id, got, r)
			}
		}
		for o, v := range base.json["Outputs"].(map[string]any) {
			if !reflect.DeepEqual(s.json["Outputs"].(map[string]any)[o], v) {
				t.Errorf("%s: output %s changed", name, o)
			}
		}
	}
}

// TestFederateRolesAreLeastPrivilege pins every (action, resource, condition) each
// new role holds: a grant added or widened fails here and is reviewed.
func TestFederateRolesAreLeastPrivilege(t *testing.T) {
	var (
		lake      = "${Lake.Arn}"
		key       = "${Key.Arn}"
		federator = lake + "/federator/*"
		config    = lake + "/config/snaplake.yaml"
		xray      = "xray:PutTraceSegments,xray:PutTelemetryRecords on *"
		list      = func(prefixes ...string) string {
			b, _ := json.Marshal(map[string]any{"StringLike": map[string]any{"s3:prefix": prefixes}})
			return "s3:ListBucket on " + lake + " when " + string(b)
		}
		// The statements of the function's own role, in any of its sessions: the
		// role's unique id, then ":*" (its logical id is the role's construct path).
		ownStatements = func(logs string) string {
			role := map[string]string{"PublishLogs": "PublishRoleF42F66B6", "SubscribeLogs": "SubscribeRole5075000E"}[logs]
			return `redshift-data:DescribeStatement,redshift-data:GetStatementResult,redshift-data:CancelStatement on * when {"StringLike":{"redshift-data:statement-owner-iam-userid":{"Fn::Join":["",[{"Fn::GetAtt":["` + role + `","RoleId"]},":*"]]}}}`
		}
		function = func(logs string, warehouses []string, signIn ...string) []string {
			return grantSet(append([]string{
				"logs:CreateLogStream,logs:PutLogEvents on ${" + logs + ".Arn}", xray,
				"s3:GetObject on " + config,
				list("config/snaplake.yaml", "federator/*"),
				"s3:GetObject,s3:PutObject,s3:DeleteObject on " + federator,
				"kms:Decrypt,kms:GenerateDataKey on " + key,
				"redshift-data:ExecuteStatement,redshift-data:BatchExecuteStatement on " + strings.Join(warehouses, " "),
				ownStatements(logs),
			}, signIn...)...)
		}
		// The item workflows run as nested executions that the runs wait for (.sync):
		// start them, read and stop their executions only, and keep the managed rule.
		exec = func(fn string) string {
			return "arn:${AWS::Partition}:states:${AWS::Region}:${AWS::AccountId}:execution:Snaplake-federate-" + fn + "-item:*"
		}
		rule    = "arn:${AWS::Partition}:events:${AWS::Region}:${AWS::AccountId}:rule/StepFunctionsGetEventsForStepFunctionsExecutionRule"
		machine = grantSet(
			"lambda:InvokeFunction on ${Publish.Arn} ${Publish.Arn}:* ${Subscribe.Arn} ${Subscribe.Arn}:*",
			"sns:Publish on ${Notifications}",
			"kms:Decrypt,kms:GenerateDataKey on "+key,
			"states:StartExecution on ${FederatePublishItemStateMachine} ${FederateSubscribeItemStateMachine}",
			"states:DescribeExecution,states:StopExecution on "+exec("publish")+" "+exec("subscribe"),
			"events:PutTargets,events:PutRule,events:DescribeRule on "+rule,
			"logs:CreateLogDelivery,logs:GetLogDelivery,logs:UpdateLogDelivery,logs:DeleteLogDelivery,logs:ListLogDeliveries,logs:PutResourcePolicy,logs:DescribeResourcePolicies,logs:DescribeLogGroups on *",
			"xray:PutTraceSegments,xray:PutTelemetryRecords,xray:GetSamplingRules,xray:GetSamplingTargets on *",
		)
		scheduler = grantSet(
			"states:StartExecution on ${FederatePublishStateMachine} ${FederateSubscribeStateMachine}",
			"sqs:SendMessage on ${DeadLetters.Arn}",
			"kms:Decrypt,kms:GenerateDataKey on "+key,
		)
		warehouse = grantSet(
			"s3:GetObject,s3:PutObject on "+federator,
			list("federator/*"),
			"kms:Decrypt,kms:GenerateDataKey on "+key,
		)
	)
	all := []string{testWorkgroupArn, testReportingArn, testArchiveArn}
	allSignIns := []string{
		"secretsmanager:GetSecretValue on " + testReportingKey,
		"redshift-serverless:GetCredentials on " + testWorkgroupArn,
		"redshift:GetClusterCredentialsWithIAM on arn:aws:redshift:eu-central-1:123456789012:dbname:archive/*",
	}
	want := map[string]map[string][]string{
		"federate": {
			"PublishRole":              function("PublishLogs", all, allSignIns...),
			"SubscribeRole":            function("SubscribeLogs", all, allSignIns...),
			"FederateStateMachineRole": machine,
			// The item workflows' role invokes the functions (and logs and traces).
			"FederateItemStateMachineRole": grantSet(
				"lambda:InvokeFunction on ${Publish.Arn} ${Publish.Arn}:* ${Subscribe.Arn} ${Subscribe.Arn}:*",
				"logs:CreateLogDelivery,logs:GetLogDelivery,logs:UpdateLogDelivery,logs:DeleteLogDelivery,logs:ListLogDeliveries,logs:PutResourcePolicy,logs:DescribeResourcePolicies,logs:DescribeLogGroups on *",
				"xray:PutTraceSegments,xray:PutTelemetryRecords,xray:GetSamplingRules,xray:GetSamplingTargets on *",
			),
			"FederateSchedulerRole": scheduler,
			"FederateWarehouseRole": warehouse,
			// Each rule's role starts its own workflow, and nothing else.
			"FederatePublishEventsRole":   grantSet("states:StartExecution on ${FederatePublishStateMachine}"),
			"FederateSubscribeEventsRole": grantSet("states:StartExecution on ${FederateSubscribeStateMachine}"),
		},
		// A cluster with a database user: temporary credentials for that user only.
		"dbuser": {
			"PublishRole": function("PublishLogs", []string{testArchiveArn},
				"redshift:GetClusterCredentials on arn:aws:redshift:eu-central-1:123456789012:dbuser:archive/snaplake_federator arn:aws:redshift:eu-central-1:123456789012:dbname:archive/*"),
			"SubscribeRole": function("SubscribeLogs", []string{testArchiveArn},
				"redshift:GetClusterCredentials on arn:aws:redshift:eu-central-1:123456789012:dbuser:archive/snaplake_federator arn:aws:redshift:eu-central-1:123456789012:dbname:archive/*"),
		},
		// A workgroup with a secret: the secret, and no temporary credentials.
		"defaults": {
			"PublishRole":   function("PublishLogs", []string{testWorkgroupArn}, "secretsmanager:GetSecretValue on "+testSecretArn),
			"SubscribeRole": function("SubscribeLogs", []string{testWorkgroupArn}, "secretsmanager:GetSecretValue on "+testSecretArn),
		},
	}
	for name, roles := range want {
		s := federateStackFor(t, name)
		for role, w := range roles {
			got := grantsOf(t, s, role)
			if missing, extra := diffSets(got, w); len(missing)+len(extra) > 0 {
				t.Errorf("%s %s:\n missing %s\n extra   %s", name, role, strings.Join(missing, "\n         "), strings.Join(extra, "\n         "))
			}
		}
	}

	// What matters most, stated on its own so a failure reads plainly.
	s := federateStackFor(t, "federate")
	for _, role := range []string{"PublishRole", "SubscribeRole", "FederateWarehouseRole"} {
		for _, g := range grantsOf(t, s, role) {
			if strings.HasPrefix(g, "s3:") && strings.Contains(g, "Object on") && !strings.Contains(g, "/federator/*") && !strings.HasSuffix(g, "/config/snaplake.yaml") {
				t.Errorf("%s reaches lake objects outside federator/: %s", role, g)
			}
			if strings.HasPrefix(g, "s3:PutObject") && !strings.HasSuffix(g, "/federator/*") {
				t.Errorf("%s writes outside federator/: %s", role, g)
			}
		}
	}
}

// TestFederateGrantsOnStarAreThoseWithoutResourceType: "*" only for actions the IAM
// reference lists without a resource type, and the Data API's statement actions
// only for the role's own statements.
func TestFederateGrantsOnStarAreThoseWithoutResourceType(t *testing.T) {
	allowed := map[string]bool{
		"xray:PutTraceSegments": true, "xray:PutTelemetryRecords": true, "xray:GetSamplingRules": true, "xray:GetSamplingTargets": true,
		"logs:CreateLogDelivery": true, "logs:GetLogDelivery": true, "logs:UpdateLogDelivery": true, "logs:DeleteLogDelivery": true,
		"logs:ListLogDeliveries": true, "logs:PutResourcePolicy": true, "logs:DescribeResourcePolicies": true, "logs:DescribeLogGroups": true,
		"redshift-data:DescribeStatement": true, "redshift-data:GetStatementResult": true, "redshift-data:CancelStatement": true,
	}
	roles := []string{"PublishRole", "SubscribeRole", "FederateStateMachineRole", "FederateSchedulerRole", "FederateWarehouseRole", "FederatePublishEventsRole", "FederateSubscribeEventsRole"}
	for name := range federateTestContexts {
		s := federateStackFor(t, name)
		checked := 0
		for _, r := range s.resources("AWS::IAM::Policy") {
			ref, _ := asList(props(r)["Roles"])[0].(map[string]any)["Ref"].(string)
			if !slices.Contains(roles, shortID(ref)) {
				continue
			}
			checked++
			for _, st := range props(r)["PolicyDocument"].(map[string]any)["Statement"].([]any) {
				stmt := st.(map[string]any)
				star := slices.Contains(asList(stmt["Resource"]), any("*"))
				for _, a := range asList(stmt["Action"]) {
					action := a.(string)
					if strings.HasSuffix(action, "*") {
						t.Errorf("%s: wildcard action %v", name, action)
					}
					if star && !allowed[action] {
						t.Errorf("%s: %v granted on \"*\"", name, action)
					}
					if star && strings.HasPrefix(action, "redshift-data:") && stmt["Condition"] == nil {
						t.Errorf("%s: %s on \"*\" without the statement-owner condition", name, action)
					}
				}
			}
		}
		if checked != len(roles) {
			t.Errorf("%s: checked the policies of %d Federator roles, want %d", name, checked, len(roles))
		}
	}
}

func TestFederateRoleTrust(t *testing.T) {
	s := federateStackFor(t, "federate")
	trust := func(service, operator string) map[string]any {
		sourceAccount := map[string]any{operator: map[string]any{"aws:SourceAccount": map[string]any{"Ref": "AWS::AccountId"}}}
		return map[string]any{"Action": "sts:AssumeRole", "Effect": "Allow", "Principal": map[string]any{"Service": service}, "Condition": sourceAccount}
	}
	for _, tc := range []struct {
		role     string
		tag      string
		services []string
		operator string
	}{
		// Nothing documents that Redshift sends aws:SourceAccount when it assumes the
		// role for UNLOAD and COPY: the key is checked when present (IfExists), so its
		// absence cannot fail every UNLOAD and COPY.
		{"FederateWarehouseRole", deploy.RoleFederateWarehouse, []string{"redshift.amazonaws.com", "redshift-serverless.amazonaws.com"}, "StringEqualsIfExists"},
		{"FederateStateMachineRole", deploy.RoleFederateMachine, []string{"states.amazonaws.com"}, "StringEquals"},
		{"FederateSchedulerRole", deploy.RoleFederateScheduler, []string{"scheduler.amazonaws.com"}, "StringEquals"},
		{"FederatePublishEventsRole", deploy.RoleFederatePublishEvents, []string{"events.amazonaws.com"}, "StringEquals"},
		{"FederateSubscribeEventsRole", deploy.RoleFederateSubscribeEvents, []string{"events.amazonaws.com"}, "StringEquals"},
	} {
		var p map[string]any
		for id, r := range s.resources("AWS::IAM::Role") {
			if shortID(id) == tc.role {
				p = props(r)
			}
		}
		if p == nil {
			t.Errorf("no role %s", tc.role)
			continue
		}
		var want []any
		for _, svc := range tc.services {
			want = append(want, trust(svc, tc.operator))
		}
		if got := p["AssumeRolePolicyDocument"].(map[string]any)["Statement"]; !reflect.DeepEqual(got, want) {
			t.Errorf("%s trusts %v, want %v", tc.role, got, want)
		}
		if got := tagValue(p, deploy.TagRole); got != tc.tag {
			t.Errorf("%s tagged %s=%q, want %s", tc.role, deploy.TagRole, got, tc.tag)
		}
		if p["ManagedPolicyArns"] != nil || p["Policies"] != nil {
			t.Errorf("%s has managed or inline policies", tc.role)
		}
	}
}

func TestFederateFunctions(t *testing.T) {
	s := federateStackFor(t, "federate")
	seen := map[string]bool{}
	for _, fn := range s.resources("AWS::Lambda::Function") {
		p := props(fn)
		name := tagValue(p, deploy.TagFunction)
		if !slices.Contains(deploy.FederateFunctions, name) {
			continue
		}
		seen[name] = true
		if p["Timeout"] != float64(900) || p["MemorySize"] != float64(512) {
			t.Errorf("%s: timeout %v memory %v, want 900 s and 512 MB", name, p["Timeout"], p["MemorySize"])
		}
		if p["Runtime"] != "provided.al2023" || !reflect.DeepEqual(p["Architectures"], []any{"arm64"}) || fmt.Sprint(p["TracingConfig"]) != "map[Mode:Active]" {
			t.Errorf("%s: runtime %v %v tracing %v", name, p["Runtime"], p["Architectures"], p["TracingConfig"])
		}
		if p["VpcConfig"] != nil {
			t.Errorf("%s runs in a VPC: the Data API is an AWS endpoint", name)
		}
		env := map[string]string{}
		for k, v := range p["Environment"].(map[string]any)["Variables"].(map[string]any) {
			env[k] = render(v)
		}
		want := map[string]string{
			deploy.EnvBucket: "${Lake}", deploy.EnvKMSKeyID: "${Key.Arn}", deploy.EnvLogLevel: "INFO",
			deploy.EnvWarehouseRoleArn: "${FederateWarehouseRole.Arn}",
			deploy.EnvBucketRegion:     "${AWS::Region}",
		}
		if !reflect.DeepEqual(env, want) {
			t.Errorf("%s: environment %v, want %v", name, env, want)
		}
	}
	if len(seen) != len(deploy.FederateFunctions) {
		t.Errorf("Federator functions %v, want %v", seen, deploy.FederateFunctions)
	}
	for id, r := range s.resources("AWS::IAM::Role") {
		if want := map[string]string{"PublishRole": deploy.FnPublish, "SubscribeRole": deploy.FnSubscribe}[shortID(id)]; want != "" {
			if got := tagValue(props(r), deploy.TagFunction); got != want {
				t.Errorf("%s tagged %s=%q, want %s", id, deploy.TagFunction, got, want)
			}
		}
	}
}

func TestFederateStateMachines(t *testing.T) {
	s := federateStackFor(t, "federate")
	for _, tc := range []struct {
		id          string
		def         []byte
		subs        map[string]string
		logGroupEnd string
	}{
		{"FederatePublishStateMachine", statemachines.FederatePublish,
			map[string]string{statemachines.PublishFunctionArn: "${Publish.Arn}", statemachines.NotificationTopicArn: "${Notifications}", statemachines.ItemStateMachineArn: "${FederatePublishItemStateMachine}"}, "federate-publish"},
		{"FederateSubscribeStateMachine", statemachines.FederateSubscribe,
			map[string]string{statemachines.SubscribeFunctionArn: "${Subscribe.Arn}", statemachines.NotificationTopicArn: "${Notifications}", statemachines.ItemStateMachineArn: "${FederateSubscribeItemStateMachine}"}, "federate-subscribe"},
		// Each item, as an execution of its own: the same definition with each function.
		{"FederatePublishItemStateMachine", statemachines.FederateItem,
			map[string]string{statemachines.ItemFunctionArn: "${Publish.Arn}"}, "federate-publish-item"},
		{"FederateSubscribeItemStateMachine", statemachines.FederateItem,
			map[string]string{statemachines.ItemFunctionArn: "${Subscribe.Arn}"}, "federate-subscribe-item"},
	} {
		var p map[string]any
		for id, sm := range s.resources("AWS::StepFunctions::StateMachine") {
			if shortID(id) == tc.id {
				p = props(sm)
			}
		}
		if p == nil {
			t.Errorf("no state machine %s", tc.id)
			continue
		}
		if p["DefinitionString"] != string(tc.def) {
			t.Errorf("%s: the deployed definition is not the embedded one", tc.id)
		}
		subs := map[string]string{}
		for k, v := range p["DefinitionSubstitutions"].(map[string]any) {
			subs[k] = render(v)
		}
		if !reflect.DeepEqual(subs, tc.subs) {
			t.Errorf("%s: substitutions %v, want %v", tc.id, subs, tc.subs)
		}
		if got := slices.Sorted(maps.Keys(subs)); !slices.Equal(got, statemachines.Placeholders(tc.def)) {
			t.Errorf("%s: substituted %v, the definition's placeholders are %v", tc.id, got, statemachines.Placeholders(tc.def))
		}
		role := "${FederateStateMachineRole.Arn}"
		if strings.HasSuffix(tc.id, "ItemStateMachine") {
			role = "${FederateItemStateMachineRole.Arn}"
			// Named, so that the runs' role is granted its executions by name.
			if want := deploy.StackName + "-" + tc.logGroupEnd; p["StateMachineName"] != want {
				t.Errorf("%s: named %v, want %s", tc.id, p["StateMachineName"], want)
			}
		}
		if render(p["RoleArn"]) != role || fmt.Sprint(p["TracingConfiguration"]) != "map[Enabled:true]" || p["StateMachineType"] != "STANDARD" {
			t.Errorf("%s: role %v tracing %v type %v", tc.id, p["RoleArn"], p["TracingConfiguration"], p["StateMachineType"])
		}
		lc := p["LoggingConfiguration"].(map[string]any)
		if lc["Level"] != "ALL" || lc["IncludeExecutionData"] != true {
			t.Errorf("%s: logging %v, want ALL with execution data", tc.id, lc)
		}
		lgID := lc["Destinations"].([]any)[0].(map[string]any)["CloudWatchLogsLogGroup"].(map[string]any)["LogGroupArn"].(map[string]any)["Fn::GetAtt"].([]any)[0].(string)
		lg := props(s.json["Resources"].(map[string]any)[lgID].(map[string]any))
		if name := lg["LogGroupName"].(string); !strings.HasPrefix(name, "/aws/vendedlogs/states/snaplake/") || !strings.HasSuffix(name, "/"+tc.logGroupEnd) || lg["KmsKeyId"] == nil {
			t.Errorf("%s: log group %v (key %v), want an encrypted /aws/vendedlogs/states/snaplake/<stack>/%s", tc.id, lg["LogGroupName"], lg["KmsKeyId"], tc.logGroupEnd)
		}
	}
}

func TestFederateSchedules(t *testing.T) {
	for _, tc := range []struct {
		name, publish, subscribe string
	}{
		{"federate", "cron(0/10 * * * ? *)", "rate(1 hour)"},
		{"defaults", DefaultFederateSchedule, DefaultFederateSchedule},
	} {
		s := federateStackFor(t, tc.name)
		groups := s.resources("AWS::Scheduler::ScheduleGroup")
		if len(groups) != 1 {
			t.Errorf("%s: %d schedule groups, want the Federator's", tc.name, len(groups))
		}
		for _, g := range groups {
			if props(g)["Name"] != FederateScheduleGroup {
				t.Errorf("%s: schedule group %v, want %s", tc.name, props(g)["Name"], FederateScheduleGroup)
			}
		}
		scheds := map[string]map[string]any{}
		for _, sc := range s.resources("AWS::Scheduler::Schedule") {
			scheds[props(sc)["Name"].(string)] = props(sc)
		}
		if len(scheds) != 2 {
			t.Errorf("%s: schedules %v, want 2", tc.name, slices.Sorted(maps.Keys(scheds)))
		}
		for _, w := range []struct{ fn, expr, machine string }{
			{deploy.FnPublish, tc.publish, "${FederatePublishStateMachine}"},
			{deploy.FnSubscribe, tc.subscribe, "${FederateSubscribeStateMachine}"},
		} {
			p := scheds[FederateScheduleName(w.fn)]
			if p == nil {
				t.Errorf("%s: no schedule %s", tc.name, FederateScheduleName(w.fn))
				continue
			}
			if p["ScheduleExpression"] != w.expr || p["ScheduleExpressionTimezone"] != "UTC" || p["GroupName"] != FederateScheduleGroup || p["State"] != "ENABLED" {
				t.Errorf("%s %s: %v in %v (group %v, %v), want %s in UTC", tc.name, w.fn, p["ScheduleExpression"], p["ScheduleExpressionTimezone"], p["GroupName"], p["State"], w.expr)
			}
			if fmt.Sprint(p["FlexibleTimeWindow"]) != "map[Mode:OFF]" || p["KmsKeyArn"] != nil {
				t.Errorf("%s %s: window %v key %v, want OFF and Scheduler's own key (no KmsKeyArn)", tc.name, w.fn, p["FlexibleTimeWindow"], p["KmsKeyArn"])
			}
			target := p["Target"].(map[string]any)
			if render(target["Arn"]) != w.machine || render(target["RoleArn"]) != "${FederateSchedulerRole.Arn}" {
				t.Errorf("%s %s: target %v as %v, want %s as the scheduler role", tc.name, w.fn, render(target["Arn"]), render(target["RoleArn"]), w.machine)
			}
			if target["Input"] != `{"scheduledTime":"<aws.scheduler.scheduled-time>"}` || !json.Valid([]byte(target["Input"].(string))) {
				t.Errorf("%s %s: input %v", tc.name, w.fn, target["Input"])
			}
			if render(target["DeadLetterConfig"].(map[string]any)["Arn"]) != "${DeadLetters.Arn}" || target["RetryPolicy"] == nil {
				t.Errorf("%s %s: dead letters %v, retries %v", tc.name, w.fn, target["DeadLetterConfig"], target["RetryPolicy"])
			}
		}
	}
}

func TestFederateAlarmAndOutputs(t *testing.T) {
	s := federateStackFor(t, "federate")
	var alarm map[string]any
	for _, a := range s.resources("AWS::CloudWatch::Alarm") {
		if props(a)["AlarmName"] == deploy.StackName+"-"+federateAlarm {
			alarm = props(a)
		}
	}
	if alarm == nil {
		t.Fatal("no Federator alarm")
	}
	metrics := fmt.Sprint(alarm["Metrics"])
	for _, m := range []string{"ExecutionsFailed", "ExecutionsTimedOut", "ExecutionsAborted", "FederatePublishStateMachine", "FederateSubscribeStateMachine"} {
		if !strings.Contains(metrics, m) {
			t.Errorf("Federator alarm metrics %s miss %s", metrics, m)
		}
	}
	if n := strings.Count(metrics, "MetricName"); n != 6 {
		t.Errorf("Federator alarm has %d metrics, want 3 for each workflow", n)
	}
	if !strings.Contains(fmt.Sprint(alarm["AlarmActions"]), "Notifications") || alarm["TreatMissingData"] != "notBreaching" {
		t.Errorf("Federator alarm actions %v missing data %v, want the topic and not breaching", alarm["AlarmActions"], alarm["TreatMissingData"])
	}
	keyPolicy := fmt.Sprint(props(s.resources("AWS::KMS::Key")[onlyID(t, s, "AWS::KMS::Key")])["KeyPolicy"])
	if !strings.Contains(keyPolicy, "alarm:"+deploy.StackName+"-"+federateAlarm) {
		t.Errorf("the key policy does not let the Federator alarm publish to the encrypted topic")
	}

	outputs := s.json["Outputs"].(map[string]any)
	value := func(name string) string {
		o, ok := outputs[name].(map[string]any)
		if !ok {
			t.Errorf("no output %s", name)
			return ""
		}
		return render(o["Value"])
	}
	for name, want := range map[string]string{
		deploy.OutputFederatePublishStateMachineArn:   "${FederatePublishStateMachine}",
		deploy.OutputFederateSubscribeStateMachineArn: "${FederateSubscribeStateMachine}",
		deploy.OutputFederateWarehouseRoleArn:         "${FederateWarehouseRole.Arn}",
		deploy.OutputFederateFunctionArns:             `{"publish":"${Publish.Arn}","subscribe":"${Subscribe.Arn}"}`,
		deploy.OutputFederateItemStateMachineArns:     `{"publish":"${FederatePublishItemStateMachine}","subscribe":"${FederateSubscribeItemStateMachine}"}`,
		deploy.OutputFederateDatabaseUsers:            `{"publish":"IAMR:${PublishRole}","subscribe":"IAMR:${SubscribeRole}"}`,
		deploy.OutputFederateRoleArns: `{"publish":"${PublishRole.Arn}","subscribe":"${SubscribeRole.Arn}",` +
			`"federate-state-machine":"${FederateStateMachineRole.Arn}","federate-item-state-machine":"${FederateItemStateMachineRole.Arn}","federate-scheduler":"${FederateSchedulerRole.Arn}",` +
			`"federate-warehouse":"${FederateWarehouseRole.Arn}","federate-publish-events":"${FederatePublishEventsRole.Arn}",` +
			`"federate-subscribe-events":"${FederateSubscribeEventsRole.Arn}"}`,
	} {
		if got := value(name); got != want {
			t.Errorf("output %s = %s, want %s", name, got, want)
		}
	}
}

// TestFederateSubscriberLagAlarm: one alarm on a Metrics Insights query of the metric
// the subscribe summary writes (deploy.FederateMetricLagOverMaxLag, the subscriber's
// lag minus its configured maxLag), grouped by subscriber so that each subscriber is
// a contributor, above 0, notifying the topic (whose key lets the alarm publish).
func TestFederateSubscriberLagAlarm(t *testing.T) {
	s := federateStackFor(t, "federate")
	var alarm map[string]any
	for _, a := range s.resources("AWS::CloudWatch::Alarm") {
		if props(a)["AlarmName"] == deploy.StackName+"-"+federateLagAlarm {
			alarm = props(a)
		}
	}
	if alarm == nil {
		t.Fatal("no subscriber lag alarm")
	}
	queries, _ := alarm["Metrics"].([]any)
	if len(queries) != 1 {
		t.Fatalf("lag alarm metrics %v, want one Metrics Insights query", alarm["Metrics"])
	}
	q := queries[0].(map[string]any)
	want := `SELECT MAX(` + deploy.FederateMetricLagOverMaxLag + `) FROM SCHEMA("` + deploy.FederateMetricsNamespace + `", ` +
		deploy.FederateDimensionSubscriber + `) GROUP BY ` + deploy.FederateDimensionSubscriber
	if q["Expression"] != want || fmt.Sprint(q["Period"]) != "3600" || q["ReturnData"] != true {
		t.Errorf("lag alarm query %v, want %s over an hour, returned", q, want)
	}
	if fmt.Sprint(alarm["Threshold"]) != "0" || alarm["ComparisonOperator"] != "GreaterThanThreshold" || fmt.Sprint(alarm["EvaluationPeriods"]) != "1" {
		t.Errorf("lag alarm fires on %v %v over %v periods, want > 0 in one", alarm["ComparisonOperator"], alarm["Threshold"], alarm["EvaluationPeriods"])
	}
	if !strings.Contains(fmt.Sprint(alarm["AlarmActions"]), "Notifications") || alarm["TreatMissingData"] != "notBreaching" {
		t.Errorf("lag alarm actions %v missing data %v, want the topic and not breaching", alarm["AlarmActions"], alarm["TreatMissingData"])
	}
	keyPolicy := fmt.Sprint(props(s.resources("AWS::KMS::Key")[onlyID(t, s, "AWS::KMS::Key")])["KeyPolicy"])
	if !strings.Contains(keyPolicy, "alarm:"+deploy.StackName+"-"+federateLagAlarm) {
		t.Errorf("the key policy does not let the lag alarm publish to the encrypted topic")
	}
}

func TestFederateNagFindsNoErrors(t *testing.T) {
	for name := range federateTestContexts {
		s := federateStackFor(t, name)
		found := assertions.Annotations_FromStack(s.stack).FindError(jsii.String("*"), assertions.Match_StringLikeRegexp(jsii.String("AwsSolutions-.*")))
		for _, msg := range *found {
			t.Errorf("%s: cdk-nag error at %s: %v", name, *msg.Id, msg.Entry.Data)
		}
	}
}

func TestParseFederateConfig(t *testing.T) {
	base := func() map[string]any {
		return map[string]any{KeyDBInstanceIDs: []any{"orders"}, KeyDatabases: []any{"shop"}}
	}
	c, err := ParseConfig(lookupFrom(base()))
	if err != nil || c.Federate != nil {
		t.Fatalf("without %s: federate %v, error %v", KeyFederate, c.Federate, err)
	}

	m := base()
	m[KeyFederate] = federateContext()
	c, err = ParseConfig(lookupFrom(m))
	if err != nil {
		t.Fatal(err)
	}
	want := &FederateConfig{
		PublishSchedule: "cron(0/10 * * * ? *)", SubscribeSchedule: "rate(1 hour)",
		Warehouses: []FederateWarehouse{
			{Name: "transform", Arn: testWorkgroupArn},
			{Name: "reporting", Arn: testReportingArn, SecretArn: testReportingKey},
			{Name: "archive", Arn: testArchiveArn},
		},
	}
	if !reflect.DeepEqual(c.Federate, want) {
		t.Errorf("federate %+v, want %+v", c.Federate, want)
	}
	if !c.Federate.Warehouses[0].Serverless() || c.Federate.Warehouses[1].Serverless() ||
		c.Federate.Warehouses[0].DatabasesArn() != "" || c.Federate.Warehouses[2].DatabasesArn() != "arn:aws:redshift:eu-central-1:123456789012:dbname:archive/*" {
		t.Errorf("warehouse kinds: %+v", c.Federate.Warehouses)
	}

	// `cdk synth -c snaplake:federate='{...}'` delivers the object as JSON text; the
	// schedules default.
	m = base()
	m[KeyFederate] = `{"warehouses": [{"name": "transform", "arn": "` + testWorkgroupArn + `"}]}`
	c, err = ParseConfig(lookupFrom(m))
	if err != nil {
		t.Fatal(err)
	}
	if c.Federate.PublishSchedule != DefaultFederateSchedule || c.Federate.SubscribeSchedule != DefaultFederateSchedule || len(c.Federate.Warehouses) != 1 {
		t.Errorf("federate from JSON text: %+v", c.Federate)
	}

	// With the section, a synth needs the Federator's binaries too.
	dir := t.TempDir()
	writeAssets(t, dir, deploy.Functions)
	c.LambdaAssetDir = dir
	if err := c.CheckLambdaAssets(); err == nil || !strings.Contains(err.Error(), filepath.Join(dir, deploy.FnPublish, "bootstrap")) {
		t.Errorf("CheckLambdaAssets without the Federator's binaries: %v", err)
	}
	c.Federate = nil
	if err := c.CheckLambdaAssets(); err != nil {
		t.Errorf("CheckLambdaAssets without the Federator needs no Federator binaries: %v", err)
	}
	writeAssets(t, dir, deploy.FederateFunctions)
	c.Federate = &FederateConfig{}
	if err := c.CheckLambdaAssets(); err != nil {
		t.Errorf("CheckLambdaAssets: %v", err)
	}
	if !slices.Contains(FunctionNames, deploy.FnPublish) || !slices.Contains(FunctionNames, deploy.FnSubscribe) {
		t.Errorf("FunctionNames %v lack the Federator's", FunctionNames)
	}
}

func TestParseFederateConfigErrors(t *testing.T) {
	warehouse := func(m map[string]any, i int) map[string]any { return m["warehouses"].([]any)[i].(map[string]any) }
	tests := []struct {
		name  string
		value func(m map[string]any) any // the snaplake:federate value, from federateContext
		field string                     // "" for the key itself
		msg   string
	}{
		{"not an object", func(map[string]any) any { return 3.0 }, "", "want an object"},
		{"bad JSON text", func(map[string]any) any { return `{"warehouses": ` }, "", "not a JSON object"},
		{"unknown field", func(m map[string]any) any { m["schedule"] = "rate(1 hour)"; return m }, "schedule", "unknown field"},
		{"warehouses missing", func(m map[string]any) any { delete(m, "warehouses"); return m }, "warehouses", "required"},
		{"warehouses empty", func(m map[string]any) any { m["warehouses"] = []any{}; return m }, "warehouses", "required"},
		{"warehouses not a list", func(m map[string]any) any { m["warehouses"] = "transform"; return m }, "warehouses", "want a list"},
		{"warehouse not an object", func(m map[string]any) any { m["warehouses"] = []any{"transform"}; return m }, "warehouses[0]", "want an object"},
		{"warehouse unknown field", func(m map[string]any) any { warehouse(m, 1)["secret"] = "x"; return m }, "warehouses[1].secret", "unknown field"},
		{"name missing", func(m map[string]any) any { delete(warehouse(m, 0), "name"); return m }, "warehouses[0].name", "required"},
		{"name upper case", func(m map[string]any) any { warehouse(m, 0)["name"] = "Transform"; return m }, "warehouses[0].name", "not a warehouse name"},
		{"name twice", func(m map[string]any) any { warehouse(m, 2)["name"] = "reporting"; return m }, "warehouses[2].name", "listed twice"},
		{"name not a string", func(m map[string]any) any { warehouse(m, 0)["name"] = 1.0; return m }, "warehouses[0].name", "want a string"},
		{"arn missing", func(m map[string]any) any { delete(warehouse(m, 1), "arn"); return m }, "warehouses[1].arn", "required"},
		{"arn twice", func(m map[string]any) any { warehouse(m, 2)["arn"] = testReportingArn; return m }, "warehouses[2].arn", "listed twice"},
		{"arn of a namespace", func(m map[string]any) any {
			warehouse(m, 0)["arn"] = "arn:aws:redshift-serverless:eu-central-1:123456789012:namespace/0b1c2d3e-4f50-6172-8394-a5b6c7d8e9f0"
			return m
		}, "warehouses[0].arn", "Serverless namespace"},
		{"arn of a workgroup by name", func(m map[string]any) any {
			warehouse(m, 0)["arn"] = "arn:aws:redshift-serverless:eu-central-1:123456789012:workgroup/transform"
			return m
		}, "warehouses[0].arn", "workgroup ID"},
		{"arn of a database", func(m map[string]any) any {
			warehouse(m, 2)["arn"] = "arn:aws:redshift:eu-central-1:123456789012:dbname:archive/dev"
			return m
		}, "warehouses[2].arn", "not the ARN of a Redshift cluster"},
		{"arn of another service", func(m map[string]any) any { warehouse(m, 1)["arn"] = testSecretArn; return m }, "warehouses[1].arn", "not the ARN of a Redshift cluster"},
		{"arn without account", func(m map[string]any) any {
			warehouse(m, 1)["arn"] = "arn:aws:redshift:eu-central-1::cluster:reporting"
			return m
		}, "warehouses[1].arn", "not the ARN of a Redshift cluster"},
		{"secret without suffix", func(m map[string]any) any {
			warehouse(m, 1)["secretArn"] = "arn:aws:secretsmanager:eu-central-1:123456789012:secret:reporting"
			return m
		}, "warehouses[1].secretArn", "complete Secrets Manager secret ARN"},
		{"secret key an alias", func(m map[string]any) any {
			warehouse(m, 1)["secretKmsKeyArn"] = "arn:aws:kms:eu-central-1:123456789012:alias/reporting"
			return m
		}, "warehouses[1].secretKmsKeyArn", "not a KMS key ARN"},
		{"secret key in another region", func(m map[string]any) any {
			warehouse(m, 1)["secretKmsKeyArn"] = "arn:aws:kms:eu-west-1:123456789012:key/0a1b2c3d-4e5f-6789-abcd-ef0123456789"
			return m
		}, "warehouses[1].secretKmsKeyArn", "same region as the secret"},
		{"secret key without a secret", func(m map[string]any) any { warehouse(m, 0)["secretKmsKeyArn"] = testSecretKey; return m }, "warehouses[0].secretKmsKeyArn", "without a secretArn"},
		{"db user on a workgroup", func(m map[string]any) any { warehouse(m, 0)["dbUser"] = "fed"; return m }, "warehouses[0].dbUser", "provisioned clusters only"},
		{"db user and secret", func(m map[string]any) any { warehouse(m, 1)["dbUser"] = "fed"; return m }, "warehouses[1].dbUser", "give one"},
		{"db user not a name", func(m map[string]any) any { warehouse(m, 2)["dbUser"] = "Fed User"; return m }, "warehouses[2].dbUser", "not a database user name"},
		{"publish schedule not an expression", func(m map[string]any) any { m["publishSchedule"] = "every 15 minutes"; return m }, "publishSchedule", "not a schedule expression"},
		{"publish schedule not a string", func(m map[string]any) any { m["publishSchedule"] = 15.0; return m }, "publishSchedule", "want a string"},
		{"publish schedule once", func(m map[string]any) any { m["publishSchedule"] = "at(2026-01-01T00:00:00)"; return m }, "publishSchedule", "runs once"},
		{"subscribe rate without unit", func(m map[string]any) any { m["subscribeSchedule"] = "rate(15)"; return m }, "subscribeSchedule", "not rate("},
		{"subscribe rate of zero", func(m map[string]any) any { m["subscribeSchedule"] = "rate(0 minutes)"; return m }, "subscribeSchedule", "at least 1"},
		{"subscribe rate plural for 1", func(m map[string]any) any { m["subscribeSchedule"] = "rate(1 hours)"; return m }, "subscribeSchedule", "singular for 1"},
		{"subscribe cron of five fields", func(m map[string]any) any { m["subscribeSchedule"] = "cron(0/15 * * * ?)"; return m }, "subscribeSchedule", "six fields"},
		{"subscribe cron with both days", func(m map[string]any) any { m["subscribeSchedule"] = "cron(0 8 * * MON *)"; return m }, "subscribeSchedule", "exactly one of day-of-month and day-of-week"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			ctx := map[string]any{KeyDBInstanceIDs: []any{"orders"}, KeyDatabases: []any{"shop"}, KeyFederate: tc.value(federateContext())}
			_, err := ParseConfig(lookupFrom(ctx))
			if err == nil {
				t.Fatal("ParseConfig succeeded, want an error")
			}
			var match *ConfigError
			for _, ce := range configErrors(err) {
				if ce.Key == KeyFederate && ce.Field == tc.field && strings.Contains(ce.Reason, tc.msg) {
					match = ce
				}
			}
			if match == nil {
				t.Fatalf("error %q has no ConfigError for %s field %q saying %q", err, KeyFederate, tc.field, tc.msg)
			}
			if msg := match.Error(); !strings.Contains(msg, KeyFederate) || !strings.Contains(msg, tc.field) {
				t.Errorf("message %q does not name %s and %q", msg, KeyFederate, tc.field)
			}
		})
	}
}

// TestFederateScheduleExpressionsAccepted: the shapes Scheduler documents pass.
func TestFederateScheduleExpressionsAccepted(t *testing.T) {
	for _, expr := range []string{"rate(1 minute)", "rate(15 minutes)", "rate(1 hour)", "rate(2 days)", "cron(0/15 * * * ? *)", "cron(0 8 ? * MON-FRI *)", "cron(30 2 1 * ? 2027)"} {
		if problem := checkScheduleExpression(expr); problem != "" {
			t.Errorf("%s: %s", expr, problem)
		}
	}
}

// TestFederateWarehouseRoleOutputNamesTheNamespace: Redshift Serverless associates IAM
// roles with the namespace (CreateNamespace/UpdateNamespace iamRoles); a workgroup
// has no roles of its own, so the output must not tell operators to associate the
// role with a workgroup.
func TestFederateWarehouseRoleOutputNamesTheNamespace(t *testing.T) {
	s := federateStackFor(t, "federate")
	o, ok := s.json["Outputs"].(map[string]any)[deploy.OutputFederateWarehouseRoleArn].(map[string]any)
	if !ok {
		t.Fatal("no output FederateWarehouseRoleArn")
	}
	desc, _ := o["Description"].(string)
	if !strings.Contains(desc, "namespace") || regexp.MustCompile(`(?i)cluster or workgroup|with (each|every|the) (Federator )?workgroup`).MatchString(desc) {
		t.Errorf("FederateWarehouseRoleArn description %q: say to associate the role with each cluster and each Serverless workgroup's namespace", desc)
	}
}

// TestFederateSecretKey: a warehouse secret encrypted with a customer managed key is
// decrypted by Secrets Manager with the caller's permission on that key, so both
// Federator functions get kms:Decrypt on exactly that key, through Secrets Manager
// and for that secret only; a secret without the setting, and every stack without
// it, gives no KMS permission beyond the stack's key.
func TestFederateSecretKey(t *testing.T) {
	cond := `{"StringEquals":{"kms:EncryptionContext:SecretARN":"` + testSecretArn + `","kms:ViaService":"secretsmanager.eu-central-1.amazonaws.com"}}`
	want := "kms:Decrypt on " + testSecretKey + " when " + cond
	for _, name := range []string{"cmk", "federate", "defaults"} {
		s := federateStackFor(t, name)
		for _, role := range []string{"PublishRole", "SubscribeRole"} {
			var other []string
			found := false
			for _, g := range grantsOf(t, s, role) {
				switch {
				case g == want:
					found = true
				case strings.HasPrefix(g, "kms:") && !strings.Contains(g, " on ${Key.Arn}"):
					other = append(other, g)
				}
			}
			if found != (name == "cmk") || len(other) > 0 {
				t.Errorf("%s %s: the secret key's grant present %v (want %v), other KMS grants %v", name, role, found, name == "cmk", other)
			}
		}
	}
}

// TestFederateEventRules: the transform's event starts publish with its detail as the
// input, a version's manifest.json starts subscribe with the manifest named; each
// rule's pattern is the embedded one for the lake bucket, its target the one workflow,
// as its own role, with retries and the dead-letter queue.
func TestFederateEventRules(t *testing.T) {
	s := federateStackFor(t, "federate")
	rules := map[string]map[string]any{}
	for _, r := range s.resources("AWS::Events::Rule") {
		rules[props(r)["Name"].(string)] = props(r)
	}
	for _, tc := range []struct {
		pattern, machine, role string
		input                  func(target map[string]any) string
	}{
		{events.TransformFinished, "${FederatePublishStateMachine}", "${FederatePublishEventsRole.Arn}", func(tg map[string]any) string {
			return fmt.Sprintf("InputPath=%v InputTransformer=%v", tg["InputPath"], tg["InputTransformer"])
		}},
		{events.FederateManifestCreated, "${FederateSubscribeStateMachine}", "${FederateSubscribeEventsRole.Arn}", func(tg map[string]any) string {
			it, _ := tg["InputTransformer"].(map[string]any)
			return fmt.Sprintf("InputPath=%v paths=%v template=%v", tg["InputPath"], it["InputPathsMap"], it["InputTemplate"])
		}},
	} {
		rule, ok := rules[deploy.StackName+"-"+tc.pattern]
		if !ok {
			t.Errorf("no rule %s-%s (rules: %v)", deploy.StackName, tc.pattern, slices.Sorted(maps.Keys(rules)))
			continue
		}
		want, err := events.Pattern(tc.pattern, events.Vars{"LakeBucket": {"lake-bucket"}})
		if err != nil {
			t.Fatal(err)
		}
		got := map[string]any{}
		b, _ := json.Marshal(rule["EventPattern"])
		_ = json.Unmarshal([]byte(strings.ReplaceAll(string(b), `{"Ref":"Lake5F1B88EA"}`, `"lake-bucket"`)), &got)
		if !reflect.DeepEqual(normalize(t, got), normalize(t, want)) {
			t.Errorf("rule %s pattern\n got %v\nwant %v", tc.pattern, got, want)
		}
		if rule["State"] != "ENABLED" {
			t.Errorf("rule %s is %v", tc.pattern, rule["State"])
		}
		targets := asList(rule["Targets"])
		if len(targets) != 1 {
			t.Fatalf("rule %s: %d targets", tc.pattern, len(targets))
		}
		tg := targets[0].(map[string]any)
		if render(tg["Arn"]) != tc.machine || render(tg["RoleArn"]) != tc.role {
			t.Errorf("rule %s starts %s as %s, want %s as %s", tc.pattern, render(tg["Arn"]), render(tg["RoleArn"]), tc.machine, tc.role)
		}
		if render(tg["DeadLetterConfig"].(map[string]any)["Arn"]) != "${DeadLetters.Arn}" || fmt.Sprint(tg["RetryPolicy"]) != "map[MaximumEventAgeInSeconds:86400 MaximumRetryAttempts:185]" {
			t.Errorf("rule %s: dead letters %v retry %v", tc.pattern, tg["DeadLetterConfig"], tg["RetryPolicy"])
		}
		t.Logf("rule %s input: %s", tc.pattern, tc.input(tg))
	}
	pub := asList(rules[deploy.StackName+"-"+events.TransformFinished]["Targets"])[0].(map[string]any)
	if pub["InputPath"] != "$.detail" || pub["InputTransformer"] != nil {
		t.Errorf("publish input: InputPath %v, transformer %v; want the detail", pub["InputPath"], pub["InputTransformer"])
	}
	sub := asList(rules[deploy.StackName+"-"+events.FederateManifestCreated]["Targets"])[0].(map[string]any)
	it, _ := sub["InputTransformer"].(map[string]any)
	if fmt.Sprint(it["InputPathsMap"]) != "map[detail-bucket-name:$.detail.bucket.name detail-object-key:$.detail.object.key]" ||
		it["InputTemplate"] != `{"manifest":{"bucket":<detail-bucket-name>,"key":<detail-object-key>}}` {
		t.Errorf("subscribe input transformer %v", it)
	}
}
