package doctor

import (
	"bytes"
	"context"
	"errors"
	"github.com/aws/aws-sdk-go-v2/aws"
	"strings"
	"testing"
	"time"

	ebtypes "github.com/aws/aws-sdk-go-v2/service/eventbridge/types"
	awsiam "github.com/aws/aws-sdk-go-v2/service/iam"
	iamtypes "github.com/aws/aws-sdk-go-v2/service/iam/types"
	kmstypes "github.com/aws/aws-sdk-go-v2/service/kms/types"
	rdstypes "github.com/aws/aws-sdk-go-v2/service/rds/types"
	"github.com/aws/smithy-go"

	"github.com/snaplake/snaplake/internal/deploy"
)

const testPermissions = `# a small list for the unit tests
startexport	rds:StartExportTask	arn:aws:rds:{region}:{account}:snapshot:rds:{instance}-{snapshotTime}	
startexport	iam:PassRole	{role:rds-export}	iam:passedtoservice=rds.amazonaws.com
startexport	kms:CreateGrant	{kmsKey}	kms:grantisforawsresource=true
startexport	kms:DescribeKey	{kmsKey}	
relocate	s3:GetObject	arn:aws:s3:::{bucket}/data/{database}/{table}/snapshot_date={date}/{file}	
relocate	s3:PutObject	arn:aws:s3:::{bucket}/data/{database}/{table}/snapshot_date={date}/{file}	
relocate	s3:ListBucket	arn:aws:s3:::{bucket}	s3:prefix=data/{database}/
state-machine	lambda:InvokeFunction	{function:relocate}	
`

func runDoctor(t *testing.T, w *world) (Report, string, error) {
	t.Helper()
	perms, err := ParsePermissions([]byte(testPermissions))
	if err != nil {
		t.Fatal(err)
	}
	var out bytes.Buffer
	rep, err := Run(context.Background(), Config{Permissions: perms, Now: func() time.Time { return testNow }}, w.clients(), &out)
	return rep, out.String(), err
}

func failures(rep Report) []string {
	var out []string
	for _, r := range rep.Results {
		if r.Status == Fail {
			out = append(out, r.String())
		}
	}
	return out
}

func TestHealthyDeploymentPasses(t *testing.T) {
	w := newWorld()
	rep, out, err := runDoctor(t, w)
	if err != nil {
		t.Fatal(err)
	}
	if f := failures(rep); len(f) > 0 {
		t.Fatalf("failures in a healthy deployment:\n%s\n\nfull output:\n%s", strings.Join(f, "\n"), out)
	}
	wantLines := []string{
		"PASS  stack        Snaplake: UPDATE_COMPLETE in account 123456789012, eu-west-1; all 12 outputs present",
		"PASS  rule         Snaplake-snapshot-created: ENABLED",
		"PASS  rule         Snaplake-export-finished: ENABLED",
		"PASS  rule         Snaplake-crawler-finished: ENABLED",
		"PASS  ingestion    Snaplake: not deployed (the stack has no IngestRoleArns output; the snaplake:ingest context section deploys it)",
		"PASS  federator    Snaplake: not deployed (the stack has no FederateRoleArns output; the snaplake:federate context section deploys it)",
		"PASS  lake-admin   " + testDeployRole + ": CloudFormation deploys the stack as this role, a data lake administrator",
		"PASS  backups      prod-a: available, automated backups kept 7 days",
		// The newest available one, from the second page; the newer one still
		// "creating" does not count.
		"PASS  snapshot     prod-a: newest available automated snapshot rds:prod-a-2026-03-10-06-48, 5h12m old",
		"PASS  backups      prod-b: available, automated backups kept 1 days",
		"PASS  snapshot     prod-b: newest available automated snapshot rds:prod-b-2026-03-10-10-00, 2h old",
		"PASS  permissions  startexport: all 5 grants allowed to role Snaplake-startexportRole",
		"PASS  permissions  relocate: all 6 grants allowed to role Snaplake-relocateRole",
		"PASS  permissions  state-machine: the 1 grant allowed to role Snaplake-state-machineRole",
		"PASS  kms          " + testKey + ": Enabled",
		"PASS  kms          rds-export: role Snaplake-rds-exportRole may kms:Encrypt, kms:Decrypt, kms:GenerateDataKey, kms:DescribeKey the key [with the key policy]",
		"PASS  kms          startexport: role Snaplake-startexportRole may kms:CreateGrant, kms:DescribeKey the key with kms:GrantIsForAWSResource=true [with the key policy]",
	}
	if got := strings.Split(strings.TrimSuffix(out, "\n"), "\n"); strings.Join(got, "\n") != strings.Join(wantLines, "\n") {
		t.Errorf("output:\n%s\nwant:\n%s", out, strings.Join(wantLines, "\n"))
	}

	// Batching: one call per (role, resource, context) of the permission list, and
	// one per key use. startexport: StartExportTask on 2 snapshots, PassRole, CreateGrant
	// (its context differs from DescribeKey's); relocate: Get+PutObject per database,
	// ListBucket per database; state-machine: 1.
	var perm, key int
	for _, in := range w.iamLog {
		if in.ResourcePolicy != nil {
			key++
			if in.CallerArn == nil || *in.CallerArn != *in.PolicySourceArn {
				t.Errorf("key simulation CallerArn = %v, want the role %s", in.CallerArn, *in.PolicySourceArn)
			}
		} else {
			perm++
		}
	}
	if perm != 10 || key != 2 {
		t.Errorf("SimulatePrincipalPolicy calls: %d for permissions, %d for the key; want 10 and 2", perm, key)
	}
	for _, in := range w.iamLog {
		for _, a := range in.ActionNames {
			if a == "kms:CreateGrant" {
				if len(in.ContextEntries) != 1 || in.ContextEntries[0].ContextKeyType != iamtypes.ContextKeyTypeEnumBoolean {
					t.Errorf("CreateGrant context %+v, want one boolean entry", in.ContextEntries)
				}
			}
		}
	}
}

func TestChecksFail(t *testing.T) {
	denyOne := func(action, resourceHas string, d iamtypes.PolicyEvaluationDecisionType) func(string, string, string, *awsiam.SimulatePrincipalPolicyInput) iamtypes.PolicyEvaluationDecisionType {
		return func(_, a, r string, in *awsiam.SimulatePrincipalPolicyInput) iamtypes.PolicyEvaluationDecisionType {
			if a == action && strings.Contains(r, resourceHas) && in.ResourcePolicy == nil {
				return d
			}
			return ""
		}
	}
	tests := []struct {
		name   string
		break_ func(w *world)
		want   []string // one substring per expected FAIL line, in order
		skips  int
	}{
		{
			name:   "stack missing",
			break_: func(w *world) { w.stackExists = false },
			want:   []string{"FAIL  stack        Snaplake: does not exist in this account and region. Fix: deploy it (cdk deploy)"},
		},
		{
			name: "missing output",
			break_: func(w *world) {
				delete(w.outputs, deploy.OutputFunctionArns)
				delete(w.outputs, deploy.OutputSourceDatabases)
			},
			want:  []string{"stack        Snaplake: UPDATE_COMPLETE in account 123456789012, eu-west-1; missing outputs FunctionArns, SourceDatabases. Fix: deploy this version"},
			skips: 1, // permissions; the rules, instances and key are still checked
		},
		{
			name:   "unreadable RoleArns",
			break_: func(w *world) { w.outputs[deploy.OutputRoleArns] = "arn:aws:iam::1:role/x" },
			want:   []string{"output RoleArns is not a JSON object"},
			skips:  2,
		},
		{
			name:   "deploy role not a data lake administrator",
			break_: func(w *world) { w.lakeAdmins = w.lakeAdmins[:1] },
			want: []string{"FAIL  lake-admin   " + testDeployRole + ": CloudFormation deploys the stack as this role, which is not a data lake administrator (the account has 1): " +
				"the stack's Lake Formation grants fail and the next deploy rolls back. Fix: add it under Lake Formation > Administrative roles and tasks > Data lake administrators"},
		},
		{
			// The person who runs cdk deploy being an administrator is not enough.
			name:   "no data lake administrators",
			break_: func(w *world) { w.lakeAdmins = nil },
			want:   []string{"is not a data lake administrator (the account has 0)"},
		},
		{
			name:   "stack without a service role",
			break_: func(w *world) { w.deployRole = "" },
			want:   []string{"Fix: deploy with the CDK's default synthesizer after `cdk bootstrap`: CloudFormation then deploys as cdk-hnb659fds-cfn-exec-role-123456789012-eu-west-1, which must be a data lake administrator"},
		},
		{
			// A governed stack that catalogs at runtime: its crawl wait was taken out
			// of the administrators (settings put back without it).
			name: "crawl wait not a data lake administrator",
			break_: func(w *world) {
				w.outputs[deploy.OutputRuntimeCatalogAdministrator] = roleArn("awaitcallback")
			},
			want: []string{"FAIL  lake-admin   " + roleArn("awaitcallback") + ": the crawl wait is not a data lake administrator: a database that appears in the export is relocated but the night fails with CatalogGrantError. Fix: redeploy the stack"},
		},
		{
			name:   "deleted role among the data lake administrators",
			break_: func(w *world) { w.lakeAdmins = append(w.lakeAdmins, "arn:aws:iam::123456789012:role/deleted-etl") },
			want:   []string{"FAIL  lake-admin   arn:aws:iam::123456789012:role/deleted-etl: is a data lake administrator but the role no longer exists: every put-data-lake-settings that sends the list back fails with \"Invalid principal\""},
		},
		{
			name: "data lake settings unreadable",
			break_: func(w *world) {
				w.lakeErr = &smithy.GenericAPIError{Code: "AccessDeniedException", Message: "not authorized"}
			},
			want: []string{"FAIL  lake-admin   " + testDeployRole + ": could not read the data lake settings: api error AccessDeniedException: not authorized. Fix: give the caller lakeformation:GetDataLakeSettings"},
		},
		{
			name:   "disabled rule",
			break_: func(w *world) { w.rules["Snaplake-export-finished"] = ebtypes.RuleStateDisabled },
			want:   []string{"FAIL  rule         Snaplake-export-finished: is DISABLED: no event reaches the pipeline through it. Fix: aws events enable-rule --name Snaplake-export-finished"},
		},
		{
			name:   "missing rule",
			break_: func(w *world) { delete(w.rules, "Snaplake-crawler-finished") },
			want:   []string{"FAIL  rule         Snaplake-crawler-finished: does not exist on the default event bus"},
		},
		{
			name:   "instance without backups",
			break_: func(w *world) { w.retention["prod-b"] = 0 },
			want:   []string{"FAIL  backups      prod-b: automated backups are off (BackupRetentionPeriod 0): no snapshot, no export. Fix: aws rds modify-db-instance --db-instance-identifier prod-b --backup-retention-period 7 --apply-immediately"},
		},
		{
			name:   "instance missing",
			break_: func(w *world) { delete(w.retention, "prod-a") },
			want:   []string{"FAIL  backups      prod-a: no such DB instance in eu-west-1"},
		},
		{
			name:   "no snapshot",
			break_: func(w *world) { w.snapshots["prod-b"] = nil },
			want:   []string{"FAIL  snapshot     prod-b: no available automated snapshot"},
		},
		{
			name: "only unavailable snapshots",
			break_: func(w *world) {
				for i := range w.snapshots["prod-b"] {
					w.snapshots["prod-b"][i].Status = ptr("failed")
				}
			},
			want: []string{"FAIL  snapshot     prod-b: no available automated snapshot"},
		},
		{
			name: "snapshot too old",
			break_: func(w *world) {
				old := testNow.Add(-27*time.Hour - 30*time.Minute)
				w.snapshots["prod-b"] = []rdstypes.DBSnapshot{{DBSnapshotIdentifier: ptr("rds:prod-b-2026-03-09-08-30"), Status: ptr("available"), SnapshotCreateTime: &old}}
			},
			want: []string{"FAIL  snapshot     prod-b: newest available automated snapshot rds:prod-b-2026-03-09-08-30, 27h30m old (more than 26h). Fix: check the instance's backup window"},
		},
		{
			name: "denied permission",
			break_: func(w *world) {
				w.deny = denyOne("s3:PutObject", "/data/hr/", iamtypes.PolicyEvaluationDecisionTypeImplicitDeny)
			},
			want: []string{"FAIL  permission   relocate: s3:PutObject on arn:aws:s3:::snaplake-lake/data/hr/doctor_check/snapshot_date=2026-01-01/part-00000.gz.parquet: implicitDeny (permissions.txt line 7). " +
				"Fix: no policy of role Snaplake-relocateRole allows it"},
		},
		{
			name: "explicit deny of a grant with a context",
			break_: func(w *world) {
				w.deny = denyOne("iam:PassRole", "rds-export", iamtypes.PolicyEvaluationDecisionTypeExplicitDeny)
			},
			want: []string{"FAIL  permission   startexport: iam:PassRole on " + roleArn("rds-export") + " with iam:passedtoservice=rds.amazonaws.com: explicitDeny (permissions.txt line 3). " +
				"Fix: a Deny statement blocks it"},
		},
		{
			name: "simulation refused",
			break_: func(w *world) {
				w.iamErr = &smithy.GenericAPIError{Code: "AccessDenied", Message: "not authorized to perform: iam:SimulatePrincipalPolicy"}
			},
			want: []string{
				"FAIL  permissions  startexport: could not simulate", "FAIL  permissions  relocate: could not simulate", "FAIL  permissions  state-machine: could not simulate",
				"FAIL  kms          rds-export: could not simulate", "FAIL  kms          startexport: could not simulate",
			},
		},
		{
			name:   "disabled key",
			break_: func(w *world) { w.keyState = kmstypes.KeyStateDisabled },
			want:   []string{"FAIL  kms          " + testKey + ": is Disabled: nothing in the lake can be written or read. Fix: aws kms enable-key --key-id " + testKey},
		},
		{
			name:   "key pending deletion",
			break_: func(w *world) { w.keyState = kmstypes.KeyStatePendingDeletion },
			want:   []string{"is PendingDeletion: nothing in the lake can be written or read. Fix: aws kms cancel-key-deletion --key-id " + testKey},
		},
		{
			name: "key policy does not let the export role encrypt",
			break_: func(w *world) {
				w.deny = func(role, a, _ string, in *awsiam.SimulatePrincipalPolicyInput) iamtypes.PolicyEvaluationDecisionType {
					if in.ResourcePolicy != nil && role == roleArn("rds-export") && a == "kms:Encrypt" {
						return iamtypes.PolicyEvaluationDecisionTypeImplicitDeny
					}
					return ""
				}
			},
			want: []string{"FAIL  kms          rds-export: role Snaplake-rds-exportRole may not use the key: kms:Encrypt (implicitDeny) [with the key policy]. Fix: the key policy must allow the account"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			w := newWorld()
			tt.break_(w)
			rep, out, err := runDoctor(t, w)
			if err != nil {
				t.Fatal(err)
			}
			got := failures(rep)
			if len(got) != len(tt.want) || rep.Failed() != len(tt.want) {
				t.Fatalf("%d failures, want %d:\n%s\n\nfull output:\n%s", len(got), len(tt.want), strings.Join(got, "\n"), out)
			}
			for i := range got {
				if !strings.Contains(got[i], tt.want[i]) {
					t.Errorf("failure %d:\n%s\nwant it to contain\n%s", i, got[i], tt.want[i])
				}
			}
			skips := 0
			for _, r := range rep.Results {
				if r.Status == Skip {
					skips++
				}
			}
			if skips != tt.skips {
				t.Errorf("%d checks skipped, want %d:\n%s", skips, tt.skips, out)
			}
			if strings.Count(out, "\n") != len(rep.Results) {
				t.Errorf("printed %d lines for %d results", strings.Count(out, "\n"), len(rep.Results))
			}
		})
	}
}

func TestDeniedGrantIsNamed(t *testing.T) {
	w := newWorld()
	w.deny = func(_, a, r string, in *awsiam.SimulatePrincipalPolicyInput) iamtypes.PolicyEvaluationDecisionType {
		if a == "rds:StartExportTask" && strings.HasSuffix(r, "prod-b-2026-01-01-03-00") {
			return iamtypes.PolicyEvaluationDecisionTypeImplicitDeny
		}
		return ""
	}
	rep, out, err := runDoctor(t, w)
	if err != nil {
		t.Fatal(err)
	}
	var denied []Grant
	for _, r := range rep.Results {
		if r.Grant != nil {
			denied = append(denied, *r.Grant)
		}
	}
	want := Grant{Line: 2, Principal: "startexport", Action: "rds:StartExportTask", Resource: "arn:aws:rds:eu-west-1:123456789012:snapshot:rds:prod-b-2026-01-01-03-00"}
	if len(denied) != 1 || !sameGrant(denied[0], want) || denied[0].Line != 2 {
		t.Fatalf("denied grants %+v, want only %+v\n%s", denied, want, out)
	}
	if !strings.Contains(out, "PASS  permissions  startexport: 4 of 5 grants allowed to role Snaplake-startexportRole; the 1 denied follow\n"+
		"FAIL  permission   startexport: rds:StartExportTask on "+want.Resource+": implicitDeny") {
		t.Errorf("summary and denial not printed together:\n%s", out)
	}
}

func TestKeySimulationFallsBackWhenIAMRefusesTheKeyPolicy(t *testing.T) {
	w := newWorld()
	w.iamErr = nil
	calls := 0
	c := w.clients()
	c.IAM = iamFunc(func(ctx context.Context, in *awsiam.SimulatePrincipalPolicyInput, _ ...func(*awsiam.Options)) (*awsiam.SimulatePrincipalPolicyOutput, error) {
		if in.ResourcePolicy != nil {
			calls++
			return nil, &iamtypes.InvalidInputException{Message: ptr("CallerArn must be an IAM user")}
		}
		return iamFake{w}.SimulatePrincipalPolicy(ctx, in)
	})
	perms, _ := ParsePermissions([]byte(testPermissions))
	var out bytes.Buffer
	rep, err := Run(context.Background(), Config{Permissions: perms, Now: func() time.Time { return testNow }}, c, &out)
	if err != nil {
		t.Fatal(err)
	}
	if rep.Failed() != 0 || calls != 2 {
		t.Fatalf("failed %d, key-policy calls %d:\n%s", rep.Failed(), calls, out.String())
	}
	if !strings.Contains(out.String(), "[identity policies only: IAM refused the key policy in the simulation (CallerArn must be an IAM user)]") {
		t.Errorf("the fallback is not said:\n%s", out.String())
	}
}

type iamFunc func(ctx context.Context, in *awsiam.SimulatePrincipalPolicyInput, optFns ...func(*awsiam.Options)) (*awsiam.SimulatePrincipalPolicyOutput, error)

func (f iamFunc) SimulatePrincipalPolicy(ctx context.Context, in *awsiam.SimulatePrincipalPolicyInput, optFns ...func(*awsiam.Options)) (*awsiam.SimulatePrincipalPolicyOutput, error) {
	return f(ctx, in, optFns...)
}

func (f iamFunc) GetRole(_ context.Context, in *awsiam.GetRoleInput, _ ...func(*awsiam.Options)) (*awsiam.GetRoleOutput, error) {
	return roleOf(aws.ToString(in.RoleName)), nil
}

func TestOlderSimulationAnswerShape(t *testing.T) {
	// Before ResourceSpecificResults, IAM answered one result per action and
	// resource, with the decision at the top.
	c := iamFunc(func(_ context.Context, in *awsiam.SimulatePrincipalPolicyInput, _ ...func(*awsiam.Options)) (*awsiam.SimulatePrincipalPolicyOutput, error) {
		out := &awsiam.SimulatePrincipalPolicyOutput{}
		for _, a := range in.ActionNames {
			d := iamtypes.PolicyEvaluationDecisionTypeAllowed
			var missing []string
			if a == "s3:ListBucket" {
				d, missing = iamtypes.PolicyEvaluationDecisionTypeImplicitDeny, []string{"s3:prefix"}
			}
			out.EvaluationResults = append(out.EvaluationResults, iamtypes.EvaluationResult{
				EvalActionName: ptr(a), EvalResourceName: ptr(in.ResourceArns[0]), EvalDecision: d, MissingContextValues: missing,
			})
		}
		return out, nil
	})
	got, err := simulate(context.Background(), c, &awsiam.SimulatePrincipalPolicyInput{ActionNames: []string{"s3:GetObject", "s3:ListBucket"}, ResourceArns: []string{"arn:aws:s3:::b"}})
	if err != nil {
		t.Fatal(err)
	}
	if !got["s3:getobject"].allowed() || got["s3:listbucket"].allowed() || got["s3:listbucket"].describe() != "implicitDeny; missing context values: s3:prefix" {
		t.Errorf("verdicts %+v", got)
	}
}

func TestSimulationPages(t *testing.T) {
	pages := 0
	c := iamFunc(func(_ context.Context, in *awsiam.SimulatePrincipalPolicyInput, _ ...func(*awsiam.Options)) (*awsiam.SimulatePrincipalPolicyOutput, error) {
		pages++
		a := in.ActionNames[0]
		out := &awsiam.SimulatePrincipalPolicyOutput{IsTruncated: true, Marker: ptr("m")}
		if in.Marker != nil {
			a, out.IsTruncated, out.Marker = in.ActionNames[1], false, nil
		}
		out.EvaluationResults = []iamtypes.EvaluationResult{{EvalActionName: ptr(a), EvalDecision: iamtypes.PolicyEvaluationDecisionTypeAllowed}}
		return out, nil
	})
	got, err := simulate(context.Background(), c, &awsiam.SimulatePrincipalPolicyInput{ActionNames: []string{"a:A", "a:B"}})
	if err != nil {
		t.Fatal(err)
	}
	if pages != 2 || !got["a:a"].allowed() || !got["a:b"].allowed() {
		t.Errorf("pages %d, verdicts %+v", pages, got)
	}
}

func TestRunErrors(t *testing.T) {
	w := newWorld()
	w.describeErr = errors.New("no credentials")
	if _, _, err := runDoctor(t, w); err == nil || !strings.Contains(err.Error(), "describe stack Snaplake: no credentials") {
		t.Errorf("Run with CloudFormation failing: %v", err)
	}
	c := newWorld().clients()
	c.KMS = nil
	if _, err := Run(context.Background(), Config{}, c, &bytes.Buffer{}); err == nil {
		t.Error("Run without a KMS client succeeded")
	}
}

func TestContextEntryTypes(t *testing.T) {
	got := contextEntries([]ContextValue{
		{Key: "kms:grantisforawsresource", Values: []string{"true"}},
		{Key: "iam:PassedToService", Values: []string{"rds.amazonaws.com"}},
		{Key: "aws:TagKeys", Values: []string{"a", "b"}},
		{Key: "s3:max-keys", Values: []string{"1000"}},
	})
	want := []iamtypes.ContextKeyTypeEnum{
		iamtypes.ContextKeyTypeEnumBoolean, iamtypes.ContextKeyTypeEnumString, iamtypes.ContextKeyTypeEnumStringList, iamtypes.ContextKeyTypeEnumNumeric,
	}
	for i, e := range got {
		if e.ContextKeyType != want[i] {
			t.Errorf("%s: type %s, want %s", *e.ContextKeyName, e.ContextKeyType, want[i])
		}
	}
}

func ptr[T any](v T) *T { return &v }

// An Aurora cluster is checked like an instance: it exists, and its newest automated
// cluster snapshot is fresh; its rules are checked, and the permission list's
// {cluster} lines are simulated for it. A stack exporting clusters only has no
// instance rules and simulates no {instance} line.
func TestAuroraClusterChecked(t *testing.T) {
	const perms = testPermissions + "startexport\trds:StartExportTask\tarn:aws:rds:{region}:{account}:cluster-snapshot:rds:{cluster}-{snapshotTime}\t\n"
	run := func(w *world) (Report, string) {
		t.Helper()
		p, err := ParsePermissions([]byte(perms))
		if err != nil {
			t.Fatal(err)
		}
		var out bytes.Buffer
		rep, err := Run(context.Background(), Config{Permissions: p, Now: func() time.Time { return testNow }}, w.clients(), &out)
		if err != nil {
			t.Fatal(err)
		}
		return rep, out.String()
	}
	aurora := func(w *world) {
		w.outputs[deploy.OutputDBClusterIDs] = "aurora-a"
		w.rules["Snaplake-cluster-snapshot-created"] = ebtypes.RuleStateEnabled
		w.rules["Snaplake-cluster-export-finished"] = ebtypes.RuleStateEnabled
		w.clusters = map[string]int32{"aurora-a": 7}
		taken := testNow.Add(-3 * time.Hour)
		w.clusterSnapshots = map[string][]rdstypes.DBClusterSnapshot{"aurora-a": {{
			DBClusterSnapshotIdentifier: aws.String("rds:aurora-a-" + taken.Format("2006-01-02-15-04")), Status: aws.String("available"), SnapshotCreateTime: &taken,
		}}}
	}

	w := newWorld()
	aurora(w)
	rep, out := run(w)
	if f := failures(rep); len(f) > 0 {
		t.Fatalf("failures:\n%s\n%s", strings.Join(f, "\n"), out)
	}
	for _, want := range []string{
		"PASS  rule         Snaplake-cluster-snapshot-created: ENABLED",
		"PASS  rule         Snaplake-cluster-export-finished: ENABLED",
		"PASS  backups      aurora-a: aurora-mysql available, automated backups kept 7 days",
		"PASS  snapshot     aurora-a: newest available automated cluster snapshot rds:aurora-a-2026-03-10-09-00, 3h old",
		"PASS  permissions  startexport: all 6 grants allowed",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("output lacks %q:\n%s", want, out)
		}
	}

	// Clusters only: no instance rule is required, no {instance} line simulated.
	w = newWorld()
	aurora(w)
	delete(w.outputs, deploy.OutputDBInstanceIDs)
	delete(w.rules, "Snaplake-snapshot-created")
	delete(w.rules, "Snaplake-export-finished")
	rep, out = run(w)
	if f := failures(rep); len(f) > 0 {
		t.Fatalf("clusters only: failures:\n%s\n%s", strings.Join(f, "\n"), out)
	}
	if strings.Contains(out, "prod-a") || !strings.Contains(out, "startexport: all 4 grants allowed") {
		t.Errorf("clusters only:\n%s", out)
	}

	// A missing cluster, a stale snapshot, a missing rule fail.
	w = newWorld()
	aurora(w)
	w.outputs[deploy.OutputDBClusterIDs] = "aurora-a,aurora-gone"
	old := testNow.Add(-40 * time.Hour)
	w.clusterSnapshots["aurora-a"][0].SnapshotCreateTime = &old
	delete(w.rules, "Snaplake-cluster-export-finished")
	rep, out = run(w)
	f := strings.Join(failures(rep), "\n")
	for _, want := range []string{"Snaplake-cluster-export-finished: does not exist", "aurora-gone: no such DB cluster", "aurora-a: newest available automated cluster snapshot"} {
		if !strings.Contains(f, want) {
			t.Errorf("failures lack %q:\n%s", want, f)
		}
	}

	// Neither source output: the stack check says so.
	w = newWorld()
	delete(w.outputs, deploy.OutputDBInstanceIDs)
	rep, _ = run(w)
	if f := strings.Join(failures(rep), "\n"); !strings.Contains(f, "no source: neither output DBInstanceIds nor DBClusterIds") {
		t.Errorf("failures:\n%s", f)
	}
}
