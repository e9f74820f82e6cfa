package doctor

import (
	"bytes"
	"context"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	awsiam "github.com/aws/aws-sdk-go-v2/service/iam"
	iamtypes "github.com/aws/aws-sdk-go-v2/service/iam/types"
	schedtypes "github.com/aws/aws-sdk-go-v2/service/scheduler/types"
	"github.com/aws/smithy-go"

	"github.com/snaplake/snaplake/internal/deploy"
)

// ingestPermissions are lines of the ingestion's principals, after testPermissions
// (their line numbers follow: 10 to 15).
const ingestPermissions = `reconfigure	s3:PutObject	arn:aws:s3:::{bucket}/state/ingest-runs/{run}/plan.json	
reconfigure	iam:PassRole	{role:glue-ingest-crawler}	iam:passedtoservice=glue.amazonaws.com
glue-ingest-job	s3:PutObject	arn:aws:s3:::{bucket}/raw/{database}/{table}/load={run}/{file}	
glue-ingest-job	s3:PutObject	arn:aws:s3:::{bucket}/state/ingest-runs/{run}/results/{table}/{file}	
ingest-state-machine	lambda:InvokeFunction	{function:finishingest}	
ingest-scheduler	states:StartExecution	{ingestStateMachine}	
`

func runDoctorWithIngest(t *testing.T, w *world) (Report, string) {
	t.Helper()
	perms, err := ParsePermissions([]byte(testPermissions + ingestPermissions))
	if err != nil {
		t.Fatal(err)
	}
	var out bytes.Buffer
	rep, err := Run(context.Background(), Config{Permissions: perms, Now: func() time.Time { return testNow }}, w.clients(), &out)
	if err != nil {
		t.Fatal(err)
	}
	if strings.Count(out.String(), "\n") != len(rep.Results) {
		t.Errorf("printed %d lines for %d results", strings.Count(out.String(), "\n"), len(rep.Results))
	}
	return rep, out.String()
}

// asked is what IAM was asked about one role: "action on resource [context]".
func asked(w *world, role string) []string {
	var out []string
	for _, in := range w.iamLog {
		if aws.ToString(in.PolicySourceArn) != role || in.ResourcePolicy != nil {
			continue
		}
		for _, a := range in.ActionNames {
			q := a + " on " + strings.Join(in.ResourceArns, ",")
			for _, c := range in.ContextEntries {
				q += " " + aws.ToString(c.ContextKeyName) + "=" + strings.Join(c.ContextKeyValues, ",")
			}
			out = append(out, q)
		}
	}
	slices.Sort(out)
	return out
}

func TestIngestionDeployed(t *testing.T) {
	w := newWorld()
	w.deployIngest()
	rep, out := runDoctorWithIngest(t, w)
	if testing.Verbose() {
		t.Logf("doctor on a deployment with the ingestion:\n%s", out)
	}
	if f := failures(rep); len(f) > 0 {
		t.Fatalf("failures in a healthy deployment with the ingestion:\n%s\n\nfull output:\n%s", strings.Join(f, "\n"), out)
	}
	for _, want := range []string{
		"PASS  stack        Snaplake: UPDATE_COMPLETE in account 123456789012, eu-west-1; all 12 outputs present, and the ingestion's 6\n",
		"PASS  rule         Snaplake-crawler-finished: ENABLED\n" +
			"PASS  schedule     snaplake/snaplake-ingest-daily: ENABLED, cron(0 2 * * ? *) Europe/Berlin\n" +
			"PASS  schedule     snaplake/snaplake-ingest-frequent: ENABLED, cron(0 2 * * ? *) Europe/Berlin\n" +
			"PASS  federator    Snaplake: not deployed",
		"PASS  permissions  state-machine: the 1 grant allowed to role Snaplake-state-machineRole\n" +
			"PASS  permissions  reconfigure: all 2 grants allowed to role Snaplake-reconfigureRole\n" +
			"PASS  permissions  glue-ingest-job: all 3 grants allowed to role Snaplake-glue-ingest-jobRole\n" +
			"PASS  permissions  ingest-state-machine: the 1 grant allowed to role Snaplake-ingest-state-machineRole\n" +
			"PASS  permissions  ingest-scheduler: the 1 grant allowed to role Snaplake-ingest-schedulerRole\n" +
			"PASS  kms ",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("output lacks\n%s\nfull output:\n%s", want, out)
		}
	}
	if strings.Contains(out, "ingestion    ") {
		t.Errorf("the ingestion is said not deployed:\n%s", out)
	}

	// The concrete resources asked about match the ingestion's policies' patterns
	// (raw/*, state/ingest-runs/*/plan.json, state/ingest-runs/*/results/*), and
	// the roles, functions and workflow are the ingestion's outputs'.
	const run = "20260101T010000Z-daily"
	for role, want := range map[string][]string{
		deploy.FnReconfigure: {
			"iam:PassRole on " + roleArn(deploy.RoleIngestCrawler) + " iam:passedtoservice=glue.amazonaws.com",
			"s3:PutObject on arn:aws:s3:::snaplake-lake/state/ingest-runs/" + run + "/plan.json",
		},
		deploy.RoleIngestJob: {
			"s3:PutObject on arn:aws:s3:::snaplake-lake/raw/Sales/doctor_check/load=" + run + "/part-00000.gz.parquet",
			"s3:PutObject on arn:aws:s3:::snaplake-lake/raw/hr/doctor_check/load=" + run + "/part-00000.gz.parquet",
			"s3:PutObject on arn:aws:s3:::snaplake-lake/state/ingest-runs/" + run + "/results/doctor_check/part-00000.gz.parquet",
		},
		deploy.RoleIngestMachine:   {"lambda:InvokeFunction on " + functionArn(deploy.FnFinishIngest)},
		deploy.RoleIngestScheduler: {"states:StartExecution on " + testIngestMachine},
	} {
		if got := asked(w, roleArn(role)); !slices.Equal(got, want) {
			t.Errorf("IAM asked about role %s:\n%s\nwant\n%s", role, strings.Join(got, "\n"), strings.Join(want, "\n"))
		}
	}
}

func TestIngestionNotDeployed(t *testing.T) {
	w := newWorld()
	rep, out := runDoctorWithIngest(t, w)
	if f := failures(rep); len(f) > 0 {
		t.Fatalf("failures in a deployment without the ingestion:\n%s\n\nfull output:\n%s", strings.Join(f, "\n"), out)
	}
	var ingestion []string
	for _, r := range rep.Results {
		switch {
		case r.Check == "ingestion":
			ingestion = append(ingestion, r.String())
		case r.Check == "schedule" || ingestPrincipal(r.Subject):
			t.Errorf("the ingestion is checked though the stack does not deploy it: %s", r)
		}
	}
	want := "PASS  ingestion    Snaplake: not deployed (the stack has no IngestRoleArns output; the snaplake:ingest context section deploys it): " +
		"its schedules and the 6 lines of permissions.txt for its 4 roles are not checked"
	if len(ingestion) != 1 || ingestion[0] != want {
		t.Errorf("ingestion lines %q, want only\n%s", ingestion, want)
	}
	for _, in := range w.iamLog {
		if strings.Contains(aws.ToString(in.PolicySourceArn), "ingest") || strings.Contains(aws.ToString(in.PolicySourceArn), "reconfigure") {
			t.Errorf("simulated the ingestion's role %s", aws.ToString(in.PolicySourceArn))
		}
	}
}

func TestIngestionChecksFail(t *testing.T) {
	daily := deploy.IngestScheduleGroup + "/" + deploy.IngestScheduleName("daily")
	frequent := deploy.IngestScheduleGroup + "/" + deploy.IngestScheduleName("frequent")
	tests := []struct {
		name   string
		break_ func(w *world)
		want   []string // one substring per expected FAIL line, in order
		skips  int
	}{
		{
			name:   "disabled schedule",
			break_: func(w *world) { w.schedules[daily].State = schedtypes.ScheduleStateDisabled },
			want: []string{"FAIL  schedule     snaplake/snaplake-ingest-daily: is DISABLED: no run of the daily set starts. " +
				"Fix: enable it in the EventBridge Scheduler console (group snaplake)"},
		},
		{
			name:   "missing schedule",
			break_: func(w *world) { delete(w.schedules, frequent) },
			want:   []string{"FAIL  schedule     snaplake/snaplake-ingest-frequent: does not exist: no run of the frequent set starts. Fix: deploy the stack (cdk deploy)"},
		},
		{
			name: "schedule starting another workflow",
			break_: func(w *world) {
				w.schedules[daily].Target.Arn = aws.String(w.outputs[deploy.OutputStateMachineArn])
			},
			want: []string{`FAIL  schedule     snaplake/snaplake-ingest-daily: starts "arn:aws:states:eu-west-1:123456789012:stateMachine:Export", not the ingest workflow ` + testIngestMachine},
		},
		{
			name: "schedules unreadable",
			break_: func(w *world) {
				w.schedErr = &smithy.GenericAPIError{Code: "AccessDeniedException", Message: "not authorized to perform: scheduler:GetSchedule"}
			},
			want: []string{
				"FAIL  schedule     snaplake/snaplake-ingest-daily: could not read it: api error AccessDeniedException: not authorized to perform: scheduler:GetSchedule. Fix: give the caller scheduler:GetSchedule",
				"FAIL  schedule     snaplake/snaplake-ingest-frequent: could not read it",
			},
		},
		{
			name:   "an ingest output missing",
			break_: func(w *world) { delete(w.outputs, deploy.OutputIngestFunctionArns) },
			want: []string{"FAIL  stack        Snaplake: UPDATE_COMPLETE in account 123456789012, eu-west-1; it deploys the ingestion but lacks its outputs IngestFunctionArns. " +
				"Fix: deploy this version of snaplake"},
			skips: 1, // the ingestion's permissions; the export's and the schedules are still checked
		},
		{
			name:   "unreadable IngestRoleArns",
			break_: func(w *world) { w.outputs[deploy.OutputIngestRoleArns] = "[]" },
			want:   []string{"output IngestRoleArns is not a JSON object of names to ARNs"},
			skips:  1,
		},
		{
			name: "a role missing from IngestRoleArns",
			break_: func(w *world) {
				roles := map[string]string{}
				for _, p := range slices.Concat(deploy.IngestFunctions, deploy.IngestServiceRoles) {
					if p != deploy.RoleIngestScheduler {
						roles[p] = roleArn(p)
					}
				}
				w.outputs[deploy.OutputIngestRoleArns], _ = jsonString(roles)
			},
			want: []string{"FAIL  permissions  ingest-scheduler: the IngestRoleArns output names no role for it. Fix: deploy this version of snaplake (cdk deploy)"},
		},
		{
			name: "a function missing from IngestFunctionArns",
			break_: func(w *world) {
				w.outputs[deploy.OutputIngestFunctionArns] = `{"reconfigure":"` + functionArn("reconfigure") + `"}`
			},
			want: []string{`FAIL  permission   ingest-state-machine: permissions.txt line 14: {function:finishingest}: the stack's IngestFunctionArns output has no "finishingest". ` +
				"Fix: deploy this version of snaplake (cdk deploy): its outputs name every role and function"},
		},
		{
			name: "denied ingest grant",
			break_: func(w *world) {
				w.deny = func(_, a, r string, in *awsiam.SimulatePrincipalPolicyInput) iamtypes.PolicyEvaluationDecisionType {
					if a == "s3:PutObject" && strings.Contains(r, "/raw/hr/") {
						return iamtypes.PolicyEvaluationDecisionTypeImplicitDeny
					}
					return ""
				}
			},
			want: []string{"FAIL  permission   glue-ingest-job: s3:PutObject on arn:aws:s3:::snaplake-lake/raw/hr/doctor_check/load=20260101T010000Z-daily/part-00000.gz.parquet: implicitDeny (permissions.txt line 12). " +
				"Fix: no policy of role Snaplake-glue-ingest-jobRole allows it"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			w := newWorld()
			w.deployIngest()
			tt.break_(w)
			rep, out := runDoctorWithIngest(t, w)
			got := failures(rep)
			if len(got) != len(tt.want) {
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
		})
	}
}
