package doctor

import (
	"reflect"
	"slices"
	"strings"
	"testing"
)

func TestParsePermissions(t *testing.T) {
	good := "# comment\n\n" +
		"awaitcallback\ts3:ListBucket\tarn:aws:s3:::{bucket}\ts3:prefix=callbacks/export/{key}.json\n" +
		"relocate\ts3:PutObject\tarn:aws:s3:::{bucket}/exports/{exportId}/_snaplake_relocate_manifest.json\t\n" +
		"  # indented comment\r\n" +
		"state-machine\tlambda:InvokeFunction\t{function:relocate}\n" + // the empty context's tab left out
		"ingest-state-machine\tlambda:InvokeFunction\t{function:applygrants}\t\n" +
		"ingest-scheduler\tstates:StartExecution\t{ingestStateMachine}\t\n" +
		"reconfigure\tiam:PassRole\t{role:glue-ingest-crawler}\tiam:passedtoservice=glue.amazonaws.com\n" +
		"glue-ingest-job\ts3:PutObject\tarn:aws:s3:::{bucket}/raw/{database}/{table}/{load}/{file}\n"
	got, err := ParsePermissions([]byte(good))
	if err != nil {
		t.Fatal(err)
	}
	want := []Permission{
		{Line: 3, Principal: "awaitcallback", Action: "s3:ListBucket", Resource: "arn:aws:s3:::{bucket}", Context: "s3:prefix=callbacks/export/{key}.json"},
		{Line: 4, Principal: "relocate", Action: "s3:PutObject", Resource: "arn:aws:s3:::{bucket}/exports/{exportId}/_snaplake_relocate_manifest.json"},
		{Line: 6, Principal: "state-machine", Action: "lambda:InvokeFunction", Resource: "{function:relocate}"},
		{Line: 7, Principal: "ingest-state-machine", Action: "lambda:InvokeFunction", Resource: "{function:applygrants}"},
		{Line: 8, Principal: "ingest-scheduler", Action: "states:StartExecution", Resource: "{ingestStateMachine}"},
		{Line: 9, Principal: "reconfigure", Action: "iam:PassRole", Resource: "{role:glue-ingest-crawler}", Context: "iam:passedtoservice=glue.amazonaws.com"},
		{Line: 10, Principal: "glue-ingest-job", Action: "s3:PutObject", Resource: "arn:aws:s3:::{bucket}/raw/{database}/{table}/{load}/{file}"},
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("parsed\n%+v\nwant\n%+v", got, want)
	}

	bad := []struct {
		name, line, wantErr string
	}{
		{"unknown placeholder", "relocate\ts3:GetObject\tarn:aws:s3:::{bukket}/x\t", "line 2: resource: unknown placeholder {bukket}"},
		{"unknown placeholder in context", "relocate\ts3:ListBucket\tarn:aws:s3:::{bucket}\ts3:prefix={prefix}", "line 2: context: unknown placeholder {prefix}"},
		{"unknown role", "startexport\tiam:PassRole\t{role:exporter}\t", "line 2: resource: placeholder {role:exporter}: no function or service role"},
		{"unknown function", "state-machine\tlambda:InvokeFunction\t{function:rds-export}\t", `line 2: resource: placeholder {function:rds-export}: no function "rds-export"`},
		{"service role as a function", "ingest-state-machine\tlambda:InvokeFunction\t{function:glue-ingest-job}\t", `line 2: resource: placeholder {function:glue-ingest-job}: no function "glue-ingest-job"`},
		{"unclosed placeholder", "relocate\ts3:GetObject\tarn:aws:s3:::{bucket/x\t", "line 2: resource: \"arn:aws:s3:::{bucket/x\": placeholder opened with '{' is never closed"},
		{"too few fields", "relocate\ts3:GetObject", "line 2: 2 tab-separated fields, want 4"},
		{"too many fields", "relocate\ts3:GetObject\tarn:aws:s3:::{bucket}\t\textra", "line 2: 5 tab-separated fields, want 4"},
		{"spaces for tabs", "relocate s3:GetObject arn:aws:s3:::{bucket}", "line 2: 1 tab-separated fields, want 4"},
		{"unknown principal", "exporter\ts3:GetObject\tarn:aws:s3:::{bucket}\t", `line 2: unknown principal "exporter"`},
		{"bad action", "relocate\tGetObject\tarn:aws:s3:::{bucket}\t", `line 2: action "GetObject" is not of the form service:Operation`},
		{"no resource", "relocate\ts3:GetObject\t\t", "line 2: no resource"},
		{"context without =", "relocate\ts3:ListBucket\tarn:aws:s3:::{bucket}\ts3:prefix", `line 2: context: "s3:prefix" is not key=value`},
	}
	for _, tt := range bad {
		t.Run(tt.name, func(t *testing.T) {
			_, err := ParsePermissions([]byte("# first line\n" + tt.line + "\n"))
			if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
				t.Errorf("error %v, want it to contain %q", err, tt.wantErr)
			}
		})
	}
}

func TestEmbeddedPermissionsParse(t *testing.T) {
	perms, err := Permissions()
	if err != nil {
		t.Fatal(err)
	}
	if len(perms) == 0 {
		t.Fatal("the embedded permissions.txt lists no grant")
	}
	// Every principal the stack deploys, the ingestion's included, has its lines.
	for _, p := range principals() {
		if !slices.ContainsFunc(perms, func(x Permission) bool { return x.Principal == p }) {
			t.Errorf("the embedded permissions.txt lists no grant of %s", p)
		}
	}
}

func testValues() Values {
	return Values{
		Account: "123456789012", Region: "eu-west-1", Bucket: "lake", KMSKey: "arn:aws:kms:eu-west-1:123456789012:key/k",
		StateMachine: "arn:aws:states:eu-west-1:123456789012:stateMachine:M", Topic: "arn:aws:sns:eu-west-1:123456789012:T",
		Roles:     map[string]string{"rds-export": "arn:aws:iam::123456789012:role/Export"},
		Functions: map[string]string{"relocate": "arn:aws:lambda:eu-west-1:123456789012:function:Relocate"},
		Instances: []string{"prod-a", "prod-b"},
		Databases: []string{"Sales", "hr"},
	}
}

// testIngestValues are testValues with the ingestion's outputs merged in, as the
// stack check merges them.
func testIngestValues() Values {
	v := testValues()
	v.Roles = map[string]string{"rds-export": v.Roles["rds-export"], "glue-ingest-crawler": "arn:aws:iam::123456789012:role/IngestCrawler"}
	v.Functions = map[string]string{"relocate": v.Functions["relocate"], "finishingest": "arn:aws:lambda:eu-west-1:123456789012:function:FinishIngest"}
	v.IngestStateMachine = "arn:aws:states:eu-west-1:123456789012:stateMachine:Ingest"
	return v
}

func TestExpand(t *testing.T) {
	cv := func(k string, v ...string) []ContextValue { return []ContextValue{{Key: k, Values: v}} }
	tests := []struct {
		name string
		p    Permission
		want []Grant
	}{
		{
			name: "stack values and examples",
			p:    Permission{Principal: "relocate", Action: "s3:PutObject", Resource: "arn:aws:s3:::{bucket}/exports/{exportId}/_snaplake_relocate_manifest.json"},
			want: []Grant{{Principal: "relocate", Action: "s3:PutObject", Resource: "arn:aws:s3:::lake/exports/snaplake-doctor-check/_snaplake_relocate_manifest.json"}},
		},
		{
			name: "role with context",
			p:    Permission{Principal: "startexport", Action: "iam:PassRole", Resource: "{role:rds-export}", Context: "iam:PassedToService=rds.amazonaws.com,export.rds.amazonaws.com"},
			want: []Grant{{Principal: "startexport", Action: "iam:PassRole", Resource: "arn:aws:iam::123456789012:role/Export", Context: cv("iam:PassedToService", "rds.amazonaws.com", "export.rds.amazonaws.com")}},
		},
		{
			name: "one per instance",
			p:    Permission{Principal: "startexport", Action: "rds:StartExportTask", Resource: "arn:aws:rds:{region}:{account}:snapshot:rds:{instance}-{snapshotTime}"},
			want: []Grant{
				{Principal: "startexport", Action: "rds:StartExportTask", Resource: "arn:aws:rds:eu-west-1:123456789012:snapshot:rds:prod-a-2026-01-01-03-00"},
				{Principal: "startexport", Action: "rds:StartExportTask", Resource: "arn:aws:rds:eu-west-1:123456789012:snapshot:rds:prod-b-2026-01-01-03-00"},
			},
		},
		{
			name: "one per database, also in the context",
			p:    Permission{Principal: "glue-crawler", Action: "s3:ListBucket", Resource: "arn:aws:s3:::{bucket}", Context: "s3:prefix=data/{database}/"},
			want: []Grant{
				{Principal: "glue-crawler", Action: "s3:ListBucket", Resource: "arn:aws:s3:::lake", Context: cv("s3:prefix", "data/Sales/")},
				{Principal: "glue-crawler", Action: "s3:ListBucket", Resource: "arn:aws:s3:::lake", Context: cv("s3:prefix", "data/hr/")},
			},
		},
		{
			name: "one crawler per database, lower-cased",
			p:    Permission{Principal: "awaitcallback", Action: "glue:StartCrawler", Resource: "arn:aws:glue:{region}:{account}:crawler/{crawler}"},
			want: []Grant{
				{Principal: "awaitcallback", Action: "glue:StartCrawler", Resource: "arn:aws:glue:eu-west-1:123456789012:crawler/snaplake-sales"},
				{Principal: "awaitcallback", Action: "glue:StartCrawler", Resource: "arn:aws:glue:eu-west-1:123456789012:crawler/snaplake-hr"},
			},
		},
		{
			name: "crawler and database go together",
			p:    Permission{Principal: "awaitcallback", Action: "glue:GetTable", Resource: "{crawler}/{database}"},
			want: []Grant{
				{Principal: "awaitcallback", Action: "glue:GetTable", Resource: "snaplake-sales/Sales"},
				{Principal: "awaitcallback", Action: "glue:GetTable", Resource: "snaplake-hr/hr"},
			},
		},
		{
			name: "instances times databases",
			p:    Permission{Principal: "relocate", Action: "s3:GetObject", Resource: "arn:aws:s3:::{bucket}/exports/{instance}/{database}/{file}"},
			want: []Grant{
				{Principal: "relocate", Action: "s3:GetObject", Resource: "arn:aws:s3:::lake/exports/prod-a/Sales/part-00000.gz.parquet"},
				{Principal: "relocate", Action: "s3:GetObject", Resource: "arn:aws:s3:::lake/exports/prod-a/hr/part-00000.gz.parquet"},
				{Principal: "relocate", Action: "s3:GetObject", Resource: "arn:aws:s3:::lake/exports/prod-b/Sales/part-00000.gz.parquet"},
				{Principal: "relocate", Action: "s3:GetObject", Resource: "arn:aws:s3:::lake/exports/prod-b/hr/part-00000.gz.parquet"},
			},
		},
		{
			name: "function, date, table, key",
			p:    Permission{Principal: "state-machine", Action: "lambda:InvokeFunction", Resource: "{function:relocate}:{table}:{date}:{key}:{kmsKey}:{stateMachine}:{topic}"},
			want: []Grant{{Principal: "state-machine", Action: "lambda:InvokeFunction", Resource: "arn:aws:lambda:eu-west-1:123456789012:function:Relocate:doctor_check:2026-01-01:doctor-check:arn:aws:kms:eu-west-1:123456789012:key/k:arn:aws:states:eu-west-1:123456789012:stateMachine:M:arn:aws:sns:eu-west-1:123456789012:T"}},
		},
		{
			name: "ingest workflow",
			p:    Permission{Principal: "ingest-scheduler", Action: "states:StartExecution", Resource: "{ingestStateMachine}"},
			want: []Grant{{Principal: "ingest-scheduler", Action: "states:StartExecution", Resource: "arn:aws:states:eu-west-1:123456789012:stateMachine:Ingest"}},
		},
		{
			name: "ingest role and function",
			p:    Permission{Principal: "ingest-state-machine", Action: "lambda:InvokeFunction", Resource: "{function:finishingest}|{role:glue-ingest-crawler}"},
			want: []Grant{{Principal: "ingest-state-machine", Action: "lambda:InvokeFunction", Resource: "arn:aws:lambda:eu-west-1:123456789012:function:FinishIngest|arn:aws:iam::123456789012:role/IngestCrawler"}},
		},
		{
			name: "a run's loaded files, one per database",
			p:    Permission{Principal: "glue-ingest-job", Action: "s3:PutObject", Resource: "arn:aws:s3:::{bucket}/raw/{database}/{table}/gen={run}/{file}"},
			want: []Grant{
				{Principal: "glue-ingest-job", Action: "s3:PutObject", Resource: "arn:aws:s3:::lake/raw/Sales/doctor_check/gen=20260101T010000Z-daily/part-00000.gz.parquet"},
				{Principal: "glue-ingest-job", Action: "s3:PutObject", Resource: "arn:aws:s3:::lake/raw/hr/doctor_check/gen=20260101T010000Z-daily/part-00000.gz.parquet"},
			},
		},
		{
			name: "a load folder, a run's plan and results, also in the context",
			p: Permission{Principal: "finishingest", Action: "s3:ListBucket", Resource: "arn:aws:s3:::{bucket}/x/{load}/state/ingest-runs/{run}/plan.json",
				Context: "s3:prefix=state/ingest-runs/{run}/results/{table}/"},
			want: []Grant{{Principal: "finishingest", Action: "s3:ListBucket", Resource: "arn:aws:s3:::lake/x/load=20260101T010000Z-daily/state/ingest-runs/20260101T010000Z-daily/plan.json",
				Context: cv("s3:prefix", "state/ingest-runs/20260101T010000Z-daily/results/doctor_check/")}},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := tt.p.Expand(testIngestValues())
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(got, tt.want) {
				t.Errorf("expanded\n%+v\nwant\n%+v", got, tt.want)
			}
		})
	}
}

func TestExpandErrors(t *testing.T) {
	v := testValues()
	noInstances := v
	noInstances.Instances = nil
	for _, tt := range []struct {
		name    string
		v       Values
		p       Permission
		wantErr string
	}{
		{"role not in outputs", v, Permission{Line: 4, Resource: "{role:glue-crawler}"}, `permissions.txt line 4: {role:glue-crawler}: the stack's RoleArns output has no "glue-crawler"`},
		{"function not in outputs", v, Permission{Line: 5, Resource: "{function:resume}"}, `permissions.txt line 5: {function:resume}: the stack's FunctionArns output has no "resume"`},
		{"no instances", noInstances, Permission{Line: 6, Resource: "x:{instance}"}, "permissions.txt line 6 uses {instance} but the stack lists no DB instances"},
		{"unknown placeholder", v, Permission{Line: 7, Resource: "{nope}"}, "permissions.txt line 7: unknown placeholder {nope}"},
		{"ingest role not in outputs", v, Permission{Line: 8, Resource: "{role:glue-ingest-crawler}"}, `permissions.txt line 8: {role:glue-ingest-crawler}: the stack's IngestRoleArns output has no "glue-ingest-crawler"`},
		{"ingest function not in outputs", v, Permission{Line: 9, Resource: "{function:reconfigure}"}, `permissions.txt line 9: {function:reconfigure}: the stack's IngestFunctionArns output has no "reconfigure"`},
		{"no ingestion", v, Permission{Line: 10, Resource: "{ingestStateMachine}"}, "permissions.txt line 10: {ingestStateMachine}: the stack has no IngestStateMachineArn output (it does not deploy the ingestion)"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			if _, err := tt.p.Expand(tt.v); err == nil || err.Error() != tt.wantErr {
				t.Errorf("error %v, want %q", err, tt.wantErr)
			}
		})
	}
}
