package iam

import (
	"fmt"
	"testing"
)

// allow is a one-statement Allow policy.
func allow(action, resource string) string {
	return fmt.Sprintf(`{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":%q,"Resource":%q}]}`, action, resource)
}

func TestActionMatching(t *testing.T) {
	tests := []struct {
		pattern, action string
		want            Decision
	}{
		{"s3:GetObject", "s3:GetObject", Allow},
		{"s3:GetObject", "S3:getobject", Allow}, // actions are case-insensitive
		{"S3:GETOBJECT", "s3:GetObject", Allow},
		{"s3:GetObject", "s3:GetObjectTagging", ImplicitDeny},
		{"s3:PutObject*", "s3:PutObject", Allow},
		{"s3:PutObject*", "s3:PutObjectTagging", Allow},
		{"s3:PutObject*", "s3:GetObject", ImplicitDeny},
		{"kms:Decrypt*", "kms:Decrypt", Allow},
		{"kms:Decrypt*", "kms:DescribeKey", ImplicitDeny},
		{"s3:*", "s3:ListBucket", Allow},
		{"s3:*", "s3express:CreateSession", ImplicitDeny},
		{"*", "glue:StartJobRun", Allow},
		{"s3:Get*Tagging", "s3:GetObjectTagging", Allow},
		{"s3:Get*Tagging", "s3:GetObjectAcl", ImplicitDeny},
		{"s3:?etObject", "s3:GetObject", Allow},
		{"s3:?etObject", "s3:SetObject", Allow},
		{"s3:?etObject", "s3:GGetObject", ImplicitDeny},
		{"*:GetObject", "s3:GetObject", Allow},
	}
	for _, tt := range tests {
		t.Run(tt.pattern+"/"+tt.action, func(t *testing.T) {
			p := mustParse(t, allow(tt.pattern, "*"))
			if got := p.Evaluate(Request{Action: tt.action, Resource: "arn:aws:s3:::b/k"}); got != tt.want {
				t.Errorf("Action %q vs %q = %v, want %v", tt.pattern, tt.action, got, tt.want)
			}
		})
	}
}

func TestResourceMatching(t *testing.T) {
	tests := []struct {
		pattern, resource string
		want              Decision
	}{
		{"*", "arn:aws:s3:::b/k", Allow},
		{"arn:aws:s3:::b/k", "arn:aws:s3:::b/k", Allow},
		{"arn:aws:s3:::b/k", "arn:aws:s3:::b/K", ImplicitDeny}, // case-sensitive
		{"arn:aws:s3:::B/k", "arn:aws:s3:::b/k", ImplicitDeny},
		{"arn:aws:s3:::b/*", "arn:aws:s3:::b/a/b/c", Allow}, // '*' crosses '/'
		{"arn:aws:s3:::b/*", "arn:aws:s3:::b", ImplicitDeny},
		{"arn:aws:s3:::b/*", "arn:aws:s3:::bb/k", ImplicitDeny},
		{"arn:aws:s3:::b*", "arn:aws:s3:::bb/k", Allow},
		{"arn:aws:rds:*:*:snapshot:*", "arn:aws:rds:eu-west-1:000000000000:snapshot:rds:db-2024", Allow}, // '*' crosses ':'
		{"arn:*:s3:::b/k", "arn:aws:s3:::b/k", Allow},
		{"arn:aws:s3:::b/?", "arn:aws:s3:::b/k", Allow},
		{"arn:aws:s3:::b/?", "arn:aws:s3:::b/kk", ImplicitDeny},
		{"arn:aws:s3:::b/?", "arn:aws:s3:::b/", ImplicitDeny},
		{"arn:aws:s3:::b/*/x", "arn:aws:s3:::b/1/2/x", Allow},
		{"arn:aws:s3:::b/*/x", "arn:aws:s3:::b/1/2/y", ImplicitDeny},
		{"arn:aws:s3:::b/**", "arn:aws:s3:::b/", Allow},
		{"arn:aws:s3:::b/é?", "arn:aws:s3:::b/éa", Allow}, // '?' is one character, not one byte
		{"", "arn:aws:s3:::b/k", ImplicitDeny},
		// IAM: "You can use wildcard characters (* and ?) within the individual segments
		// of an ARN (the parts separated by colons)"; only a '*' that is the last
		// character of a segment "can expand to match beyond the colon boundaries".
		{"arn:aws:dynamodb:us*3:table/x", "arn:aws:dynamodb:us:east:3:table/x", ImplicitDeny},
		{"arn:aws:dynamodb:us*3:000000000000:table/x", "arn:aws:dynamodb:us-east-3:000000000000:table/x", Allow},
		{"arn:aws:dynamodb:us*3:000000000000:table/x", "arn:aws:dynamodb:us-east:1:3:000000000000:table/x", ImplicitDeny},
		{"arn:aws:logs:*:*:log-group:/aws/lambda/f*x", "arn:aws:logs:eu-west-1:000000000000:log-group:/aws/lambda/f:x", ImplicitDeny},
		{"arn:aws:logs:*:*:log-group:/aws/lambda/f*x", "arn:aws:logs:eu-west-1:000000000000:log-group:/aws/lambda/f/a/x", Allow},
		{"arn:aws:logs:*:*:log-group:/aws/lambda/f*", "arn:aws:logs:eu-west-1:000000000000:log-group:/aws/lambda/f:log-stream:x", Allow},
		{"arn:aws:logs:*:*:log-group:f*:*", "arn:aws:logs:eu-west-1:000000000000:log-group:f:x:log-stream:y", Allow},
		{"arn:aws:s3:::b*k", "arn:aws:s3:::b/a:b/k", ImplicitDeny},
		// A segment-final '*' before a later mid-segment one: the first must take the colons.
		{"arn:aws:rds:*:snap*x", "arn:aws:rds:eu-west-1:000000000000:snapshot:rds:snap1x", Allow},
	}
	for _, tt := range tests {
		t.Run(tt.pattern+"/"+tt.resource, func(t *testing.T) {
			p := mustParse(t, allow("s3:GetObject", tt.pattern))
			if got := p.Evaluate(Request{Action: "s3:GetObject", Resource: tt.resource}); got != tt.want {
				t.Errorf("Resource %q vs %q = %v, want %v", tt.pattern, tt.resource, got, tt.want)
			}
		})
	}
}

func TestEvaluateStatementsAndPolicies(t *testing.T) {
	const (
		allowAll     = `{"Effect":"Allow","Action":"*","Resource":"*"}`
		allowS3      = `{"Effect":"Allow","Action":"s3:*","Resource":"arn:aws:s3:::b/*"}`
		denyDelete   = `{"Effect":"Deny","Action":"s3:DeleteObject","Resource":"*"}`
		denyNotS3    = `{"Effect":"Deny","NotAction":"s3:*","Resource":"*"}`
		allowNotIAM  = `{"Effect":"Allow","NotAction":["iam:*","sts:*"],"Resource":"*"}`
		allowNotRes  = `{"Effect":"Allow","Action":"s3:GetObject","NotResource":["arn:aws:s3:::secret/*","arn:aws:s3:::secret"]}`
		denyNotRes   = `{"Effect":"Deny","Action":"s3:*","NotResource":"arn:aws:s3:::b/*"}`
		denyIfNoTLS  = `{"Effect":"Deny","Action":"*","Resource":"*","Condition":{"Bool":{"aws:SecureTransport":"false"}}}`
		allowTagged  = `{"Effect":"Allow","Action":"s3:GetObject","Resource":"*","Condition":{"StringEquals":{"s3:ExistingObjectTag/team":"data"}}}`
		denyUntagged = `{"Effect":"Deny","Action":"s3:GetObject","Resource":"*","Condition":{"StringNotEquals":{"s3:ExistingObjectTag/team":"data"}}}`
	)
	policy := func(stmts ...string) string {
		doc := `{"Version":"2012-10-17","Statement":[`
		for i, s := range stmts {
			if i > 0 {
				doc += ","
			}
			doc += s
		}
		return doc + "]}"
	}
	get := Request{Action: "s3:GetObject", Resource: "arn:aws:s3:::b/k"}
	tests := []struct {
		name     string
		policies []string
		req      Request
		want     Decision
	}{
		{"no policies", nil, get, ImplicitDeny},
		{"empty policy", []string{policy()}, get, ImplicitDeny},
		{"allow", []string{policy(allowS3)}, get, Allow},
		{"allow other resource", []string{policy(allowS3)}, Request{Action: "s3:GetObject", Resource: "arn:aws:s3:::c/k"}, ImplicitDeny},
		{"deny wins in the same policy", []string{policy(allowAll, denyDelete)}, Request{Action: "s3:DeleteObject", Resource: "arn:aws:s3:::b/k"}, ExplicitDeny},
		{"deny wins whatever the order", []string{policy(denyDelete, allowAll)}, Request{Action: "s3:DeleteObject", Resource: "arn:aws:s3:::b/k"}, ExplicitDeny},
		{"deny wins across policies", []string{policy(allowAll), policy(denyDelete)}, Request{Action: "s3:deleteobject", Resource: "arn:aws:s3:::b/k"}, ExplicitDeny},
		{"deny of another action leaves the allow", []string{policy(allowAll, denyDelete)}, get, Allow},
		{"deny alone is a deny", []string{policy(denyDelete)}, Request{Action: "s3:DeleteObject", Resource: "x"}, ExplicitDeny},
		{"allows from several policies", []string{policy(denyDelete), policy(allowS3)}, get, Allow},
		{"NotAction deny leaves s3", []string{policy(allowAll, denyNotS3)}, get, Allow},
		{"NotAction deny hits others", []string{policy(allowAll, denyNotS3)}, Request{Action: "glue:GetTable", Resource: "x"}, ExplicitDeny},
		{"NotAction allow", []string{policy(allowNotIAM)}, Request{Action: "glue:GetTable", Resource: "x"}, Allow},
		{"NotAction allow excludes", []string{policy(allowNotIAM)}, Request{Action: "iam:PassRole", Resource: "x"}, ImplicitDeny},
		{"NotAction is case-insensitive", []string{policy(allowNotIAM)}, Request{Action: "IAM:PassRole", Resource: "x"}, ImplicitDeny},
		{"NotResource allow", []string{policy(allowNotRes)}, get, Allow},
		{"NotResource allow excludes", []string{policy(allowNotRes)}, Request{Action: "s3:GetObject", Resource: "arn:aws:s3:::secret/k"}, ImplicitDeny},
		{"NotResource deny outside", []string{policy(allowAll, denyNotRes)}, Request{Action: "s3:GetObject", Resource: "arn:aws:s3:::c/k"}, ExplicitDeny},
		{"NotResource deny inside", []string{policy(allowAll, denyNotRes)}, get, Allow},
		{"deny condition false", []string{policy(allowAll, denyIfNoTLS)}, Request{Action: "s3:GetObject", Resource: "r", Context: map[string][]string{"aws:SecureTransport": {"true"}}}, Allow},
		{"deny condition true", []string{policy(allowAll, denyIfNoTLS)}, Request{Action: "s3:GetObject", Resource: "r", Context: map[string][]string{"aws:SecureTransport": {"false"}}}, ExplicitDeny},
		{"deny condition key absent", []string{policy(allowAll, denyIfNoTLS)}, Request{Action: "s3:GetObject", Resource: "r"}, Allow},
		{"allow condition met", []string{policy(allowTagged)}, Request{Action: "s3:GetObject", Resource: "r", Context: map[string][]string{"s3:ExistingObjectTag/team": {"data"}}}, Allow},
		{"allow condition not met", []string{policy(allowTagged)}, Request{Action: "s3:GetObject", Resource: "r", Context: map[string][]string{"s3:ExistingObjectTag/team": {"web"}}}, ImplicitDeny},
		{"negated deny on absent key denies", []string{policy(allowAll, denyUntagged)}, Request{Action: "s3:GetObject", Resource: "r"}, ExplicitDeny},
		{"negated deny on matching key allows", []string{policy(allowAll, denyUntagged)}, Request{Action: "s3:GetObject", Resource: "r", Context: map[string][]string{"S3:EXISTINGOBJECTTAG/TEAM": {"data"}}}, Allow},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var ps []Policy
			for _, d := range tt.policies {
				ps = append(ps, mustParse(t, d))
			}
			if got := Evaluate(ps, tt.req); got != tt.want {
				t.Errorf("Evaluate = %v, want %v", got, tt.want)
			}
		})
	}
}

func TestNoResourceType(t *testing.T) {
	// Facts of the Service Authorization Reference the offline run depends on;
	// the table itself is generated (TestWildcardOnlyActionsMatchIAMData).
	required := []string{
		"lakeformation:GetDataAccess", "lakeformation:BatchGrantPermissions", "lakeformation:ListPermissions",
		"lakeformation:GrantPermissions", "lakeformation:RevokePermissions", "lakeformation:BatchRevokePermissions",
		"lakeformation:GetDataLakeSettings", "lakeformation:RegisterResource",
		"xray:PutTraceSegments", "xray:PutTelemetryRecords", "xray:GetSamplingRules", "xray:GetSamplingTargets",
		"logs:CreateLogDelivery", "logs:GetLogDelivery", "logs:UpdateLogDelivery", "logs:DeleteLogDelivery",
		"logs:ListLogDeliveries", "logs:PutResourcePolicy", "logs:DescribeResourcePolicies", "logs:DescribeLogGroups",
		"cloudwatch:GetMetricStatistics", "cloudwatch:ListDashboards", "cloudwatch:DescribeAlarmsForMetric",
		"s3:ListAllMyBuckets", "kms:CreateKey", "kms:ListKeys", "sns:ListTopics", "states:ListStateMachines",
		"secretsmanager:GetRandomPassword",
	}
	for _, a := range required {
		if !NoResourceType(a) {
			t.Errorf("NoResourceType(%q) = false", a)
		}
	}
	for _, a := range []string{"LAKEFORMATION:GETDATAACCESS", "lakeformation:getdataaccess", "Xray:PutTraceSegments"} {
		if !NoResourceType(a) {
			t.Errorf("NoResourceType(%q) = false; the lookup must ignore case", a)
		}
	}
	// rds:StartExportTask and rds:DescribeExportTasks have optional resource types
	// (cluster, cluster-snapshot, snapshot) in the current Reference.
	for _, a := range []string{"rds:StartExportTask", "rds:DescribeExportTasks", "iam:SimulatePrincipalPolicy", "rds:DescribeDBSnapshots", "s3:GetObject", "logs:PutLogEvents", "rds:StartExportTasks", "", "# Actions whose row"} {
		if NoResourceType(a) {
			t.Errorf("NoResourceType(%q) = true", a)
		}
	}

	// Every override must still be needed: the Reference lists the action without
	// resource types, else the override is stale.
	for a := range resourceLevelDespiteReference {
		if !inReference(a) {
			t.Errorf("%s is in resourceLevelDespiteReference but the Reference gives it resource types now: remove the override", a)
		}
		if NoResourceType(a) {
			t.Errorf("NoResourceType(%q) = true despite its override", a)
		}
	}

	const snapshot = "arn:aws:rds:eu-west-1:000000000000:snapshot:rds:db-2024-01-01"
	const lakeTable = "arn:aws:glue:eu-west-1:000000000000:table/raw_db/orders"
	const machine = "arn:aws:states:eu-west-1:000000000000:stateMachine:m"
	tests := []struct {
		name, action, resource string
		policy                 string
		want                   Decision
	}{
		// An action with (optional) resource types is authorized on the ARN it names.
		{"scoped statement allows StartExportTask", "rds:StartExportTask", snapshot, allow("rds:StartExportTask", "arn:aws:rds:*:*:snapshot:*"), Allow},
		{"scoped deny denies StartExportTask", "rds:StartExportTask", snapshot, `{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"rds:*","Resource":"*"},{"Effect":"Deny","Action":"rds:StartExportTask","Resource":"arn:aws:rds:*:*:snapshot:*"}]}`, ExplicitDeny},
		{"other snapshot does not allow", "rds:StartExportTask", snapshot, allow("rds:StartExportTask", "arn:aws:rds:*:*:snapshot:other"), ImplicitDeny},
		// An action without resource types is authorized against "*" only.
		{"scoped statement does not allow", "lakeformation:GetDataAccess", lakeTable, allow("lakeformation:GetDataAccess", "arn:aws:glue:*:*:table/*"), ImplicitDeny},
		{"exact ARN does not allow", "lakeformation:GetDataAccess", lakeTable, allow("lakeformation:GetDataAccess", lakeTable), ImplicitDeny},
		{"arn:* does not allow", "lakeformation:GetDataAccess", lakeTable, allow("lakeformation:*", "arn:*"), ImplicitDeny},
		{"star allows", "lakeformation:GetDataAccess", lakeTable, allow("lakeformation:GetDataAccess", "*"), Allow},
		{"star allows with any case of action", "LakeFormation:getDataAccess", lakeTable, allow("lakeformation:GetDataAccess", "*"), Allow},
		{"star allows an empty resource", "xray:PutTraceSegments", "", allow("xray:PutTraceSegments", "*"), Allow},
		{"scoped log group does not allow DescribeLogGroups", "logs:DescribeLogGroups", "arn:aws:logs:eu-west-1:000000000000:log-group:/aws/lambda/f", allow("logs:*", "arn:aws:logs:*:*:log-group:*"), ImplicitDeny},
		{"GetMetricStatistics needs star", "cloudwatch:GetMetricStatistics", "arn:aws:cloudwatch:eu-west-1:000000000000:metric/x", allow("cloudwatch:GetMetricStatistics", "arn:aws:cloudwatch:*"), ImplicitDeny},
		{"deny scoped to ARN does not deny", "lakeformation:GetDataAccess", lakeTable, `{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"lakeformation:*","Resource":"*"},{"Effect":"Deny","Action":"lakeformation:GetDataAccess","Resource":"` + lakeTable + `"}]}`, Allow},
		{"NotResource with an ARN covers star", "lakeformation:GetDataAccess", lakeTable, `{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"lakeformation:GetDataAccess","NotResource":"arn:aws:s3:::x"}]}`, Allow},
		{"ordinary action keeps its ARN", "rds:DescribeDBSnapshots", snapshot, allow("rds:DescribeDBSnapshots", "arn:aws:rds:*:*:snapshot:*"), Allow},
		{"task response scoped to its state machine", "states:SendTaskSuccess", machine, allow("states:SendTaskSuccess", machine), Allow},
		{"task response of another state machine", "states:SendTaskSuccess", machine, allow("states:SendTaskSuccess", machine+"-other"), ImplicitDeny},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := mustParse(t, tt.policy)
			if got := p.Evaluate(Request{Action: tt.action, Resource: tt.resource}); got != tt.want {
				t.Errorf("Evaluate(%s on %s) = %v, want %v", tt.action, tt.resource, got, tt.want)
			}
		})
	}
}

func TestPolicyVariables(t *testing.T) {
	tests := []struct {
		name     string
		version  string
		resource string // pattern in the policy
		req      string // resource of the request
		ctx      map[string][]string
		want     Decision
	}{
		{"resolved", Version2012, "arn:aws:s3:::b/${aws:username}/*", "arn:aws:s3:::b/ana/k", map[string][]string{"aws:username": {"ana"}}, Allow},
		{"key name case-insensitive", Version2012, "arn:aws:s3:::b/${AWS:UserName}/*", "arn:aws:s3:::b/ana/k", map[string][]string{"aws:username": {"ana"}}, Allow},
		{"other user", Version2012, "arn:aws:s3:::b/${aws:username}/*", "arn:aws:s3:::b/bob/k", map[string][]string{"aws:username": {"ana"}}, ImplicitDeny},
		{"absent key matches nothing", Version2012, "arn:aws:s3:::b/${aws:username}/*", "arn:aws:s3:::b/${aws:username}/k", nil, ImplicitDeny},
		{"default", Version2012, "arn:aws:s3:::b/${aws:username, 'anon'}/*", "arn:aws:s3:::b/anon/k", nil, Allow},
		{"value is literal, not a wildcard", Version2012, "arn:aws:s3:::b/${aws:username}", "arn:aws:s3:::b/anything", map[string][]string{"aws:username": {"*"}}, ImplicitDeny},
		{"multi-valued key matches nothing", Version2012, "arn:aws:s3:::b/${aws:username}", "arn:aws:s3:::b/a", map[string][]string{"aws:username": {"a", "b"}}, ImplicitDeny},
		{"escape ${*} is a literal star", Version2012, "arn:aws:s3:::b/${*}", "arn:aws:s3:::b/*", nil, Allow},
		{"escape ${*} is not a wildcard", Version2012, "arn:aws:s3:::b/${*}", "arn:aws:s3:::b/k", nil, ImplicitDeny},
		{"escape ${?} and ${$}", Version2012, "arn:aws:s3:::b/${?}${$}", "arn:aws:s3:::b/?$", nil, Allow},
		{"2008 has no variables", Version2008, "arn:aws:s3:::b/${aws:username}", "arn:aws:s3:::b/${aws:username}", map[string][]string{"aws:username": {"ana"}}, Allow},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := mustParse(t, fmt.Sprintf(`{"Version":%q,"Statement":[{"Effect":"Allow","Action":"s3:GetObject","Resource":%q}]}`, tt.version, tt.resource))
			if got := p.Evaluate(Request{Action: "s3:GetObject", Resource: tt.req, Context: tt.ctx}); got != tt.want {
				t.Errorf("Resource %q vs %q = %v, want %v", tt.resource, tt.req, got, tt.want)
			}
		})
	}
}

func TestDecisionString(t *testing.T) {
	for d, want := range map[Decision]string{Allow: "Allow", ExplicitDeny: "ExplicitDeny", ImplicitDeny: "ImplicitDeny", Decision(9): "Decision(9)"} {
		if got := d.String(); got != want {
			t.Errorf("%d.String() = %q, want %q", d, got, want)
		}
	}
	var zero Decision
	if zero != ImplicitDeny {
		t.Errorf("the zero Decision is %v, want ImplicitDeny", zero)
	}
}
