package doctor

import (
	"bytes"
	"context"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"

	"github.com/snaplake/snaplake/internal/deploy"
)

// federatePermissions are lines of the Federator's principals, after testPermissions
// and ingestPermissions (their line numbers follow: 16 to 22).
const federatePermissions = `publish	s3:PutObject	arn:aws:s3:::{bucket}/federator/{schema}/{table}/{version}/manifest.json	
publish	redshift-data:ExecuteStatement	{warehouse:workgroup}	
subscribe	s3:PutObject	arn:aws:s3:::{bucket}/federator/{schema}/{table}/_loading/{subscriber}.json	
subscribe	redshift-data:ExecuteStatement	{warehouse:cluster}	
federate-state-machine	lambda:InvokeFunction	{function:publish}	
federate-scheduler	states:StartExecution	{federatePublishStateMachine}	
federate-scheduler	states:StartExecution	{federateSubscribeStateMachine}	
`

func runDoctorWithFederate(t *testing.T, w *world) (Report, string) {
	t.Helper()
	perms, err := ParsePermissions([]byte(testPermissions + ingestPermissions + federatePermissions))
	if err != nil {
		t.Fatal(err)
	}
	var out bytes.Buffer
	rep, err := Run(context.Background(), Config{Permissions: perms, Now: func() time.Time { return testNow }}, w.clients(), &out)
	if err != nil {
		t.Fatal(err)
	}
	return rep, out.String()
}

func TestFederatorDeployed(t *testing.T) {
	w := newWorld()
	w.deployIngest()
	w.deployFederate()
	rep, out := runDoctorWithFederate(t, w)
	if testing.Verbose() {
		t.Logf("doctor on a deployment with the Federator:\n%s", out)
	}
	if f := failures(rep); len(f) > 0 {
		t.Fatalf("failures in a healthy deployment with the Federator:\n%s\n\nfull output:\n%s", strings.Join(f, "\n"), out)
	}
	for _, want := range []string{
		"PASS  stack        Snaplake: UPDATE_COMPLETE in account 123456789012, eu-west-1; all 12 outputs present, and the ingestion's 6, and the Federator's 6\n",
		"PASS  federator    Snaplake: deployed; the 2 lines of permissions.txt naming its warehouses (Data API calls of publish, subscribe) are not simulated: no stack output names the warehouses' ARNs",
		"PASS  permissions  publish: the 1 grant allowed to role Snaplake-publishRole\n",
		"PASS  permissions  subscribe: the 1 grant allowed to role Snaplake-subscribeRole\n",
		"PASS  permissions  federate-scheduler: all 2 grants allowed to role Snaplake-federate-schedulerRole\n",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("output lacks\n%s\nfull output:\n%s", want, out)
		}
	}
	const version = "20260101T030000.000000Z_full_rows=0_ins=none_upd=none"
	for role, want := range map[string][]string{
		deploy.FnPublish:             {"s3:PutObject on arn:aws:s3:::snaplake-lake/federator/doctor/doctor_check/" + version + "/manifest.json"},
		deploy.FnSubscribe:           {"s3:PutObject on arn:aws:s3:::snaplake-lake/federator/doctor/doctor_check/_loading/doctor-check.json"},
		deploy.RoleFederateMachine:   {"lambda:InvokeFunction on " + functionArn(deploy.FnPublish)},
		deploy.RoleFederateScheduler: {"states:StartExecution on " + testPublishMachine, "states:StartExecution on " + testSubscribeMachine},
	} {
		if got := asked(w, roleArn(role)); !slices.Equal(got, want) {
			t.Errorf("IAM asked about role %s:\n%s\nwant\n%s", role, strings.Join(got, "\n"), strings.Join(want, "\n"))
		}
	}
}

func TestFederatorNotDeployed(t *testing.T) {
	w := newWorld()
	w.deployIngest()
	rep, out := runDoctorWithFederate(t, w)
	if f := failures(rep); len(f) > 0 {
		t.Fatalf("failures in a deployment without the Federator:\n%s\n\nfull output:\n%s", strings.Join(f, "\n"), out)
	}
	var lines []string
	for _, r := range rep.Results {
		switch {
		case r.Check == "federator":
			lines = append(lines, r.String())
		case federatePrincipal(r.Subject):
			t.Errorf("the Federator is checked though the stack does not deploy it: %s", r)
		}
	}
	want := "PASS  federator    Snaplake: not deployed (the stack has no FederateRoleArns output; the snaplake:federate context section deploys it): " +
		"the 7 lines of permissions.txt for its 4 roles are not checked"
	if len(lines) != 1 || lines[0] != want {
		t.Errorf("federator lines %q, want only\n%s", lines, want)
	}
	for _, in := range w.iamLog {
		if arn := aws.ToString(in.PolicySourceArn); strings.Contains(arn, "federate") || strings.Contains(arn, "publish") || strings.Contains(arn, "subscribe") {
			t.Errorf("simulated the Federator's role %s", arn)
		}
	}
}

func TestFederatorOutputMissing(t *testing.T) {
	w := newWorld()
	w.deployIngest()
	w.deployFederate()
	delete(w.outputs, "FederateFunctionArns")
	rep, out := runDoctorWithFederate(t, w)
	got := failures(rep)
	want := "FAIL  stack        Snaplake: UPDATE_COMPLETE in account 123456789012, eu-west-1; it deploys the Federator but lacks its outputs FederateFunctionArns. Fix: deploy this version of snaplake"
	if len(got) != 1 || !strings.Contains(got[0], want) {
		t.Fatalf("failures:\n%s\nwant only one containing\n%s\n\nfull output:\n%s", strings.Join(got, "\n"), want, out)
	}
	skips := 0
	for _, r := range rep.Results {
		if r.Status == Skip {
			skips++
		}
		if r.Check == "permissions" && federatePrincipal(r.Subject) {
			t.Errorf("the Federator's roles are simulated without its outputs: %s", r)
		}
	}
	if skips != 1 {
		t.Errorf("%d checks skipped, want 1 (the Federator's permissions):\n%s", skips, out)
	}
}

func TestWarehousePlaceholders(t *testing.T) {
	if _, err := ParsePermissions([]byte("publish\tredshift-data:ExecuteStatement\t{warehouse:reporting}\t\n")); err == nil || !strings.Contains(err.Error(), `no warehouse kind "reporting"`) {
		t.Errorf("an unknown warehouse kind: %v", err)
	}
	perms, err := ParsePermissions([]byte("publish\tredshift-data:ExecuteStatement\t{warehouse:workgroup}\t\n"))
	if err != nil {
		t.Fatal(err)
	}
	if !perms[0].namesWarehouse() {
		t.Error("a line naming {warehouse:workgroup} does not name a warehouse")
	}
	if _, err := perms[0].Expand(Values{}); err == nil {
		t.Error("{warehouse:workgroup} expanded: no output names the warehouses")
	}
}

// grantingWarehouse answers doctor's privilege queries: every privilege held.
type grantingWarehouse struct{}

func (grantingWarehouse) Query(_ context.Context, statement string) ([][]*string, error) {
	if strings.HasPrefix(statement, "SELECT current_database()") {
		return [][]*string{{aws.String("dev"), aws.String("federator")}}, nil
	}
	return [][]*string{{aws.String("t")}}, nil
}

// TestFederatorWarehouseRegions: one line per Redshift warehouse of the config, its
// Region (the URL's region=, else the stack's, where the functions' Data API calls
// go) against the lake bucket's (the stack's, eu-west-1): PASS in the same Region,
// WARN (not a failure) in another, which works with REGION but is billed for
// inter-Region transfer. A PostgreSQL stand-in has no Region and no line.
func TestFederatorWarehouseRegions(t *testing.T) {
	w := newWorld()
	w.deployIngest()
	w.deployFederate()
	perms, err := ParsePermissions([]byte(testPermissions + ingestPermissions + federatePermissions))
	if err != nil {
		t.Fatal(err)
	}
	signIn := func(subject, function, url string) FederateSignIn {
		return FederateSignIn{Subject: subject, Function: function, Warehouse: grantingWarehouse{}, URL: url}
	}
	cfg := Config{Permissions: perms, Now: func() time.Time { return testNow }, FederateSignIns: []FederateSignIn{
		signIn("publisher", deploy.FnPublish, "redshift://transform/dev?secret_arn=arn:aws:secretsmanager:eu-west-1:123456789012:secret:t-AbCdEf"),
		signIn("subscriber reporting-eu", deploy.FnSubscribe, "redshift://reporting-eu/dev?cluster=true&db_user=federator&region=eu-west-1"),
		signIn("subscriber reporting-us", deploy.FnSubscribe, "redshift://reporting-us/dev?region=us-east-1&secret_arn=s"),
		signIn("subscriber local", deploy.FnSubscribe, "postgres://federator@127.0.0.1:5432/reporting"),
	}}
	var out bytes.Buffer
	rep, err := Run(context.Background(), cfg, w.clients(), &out)
	if err != nil {
		t.Fatal(err)
	}
	if f := failures(rep); len(f) > 0 {
		t.Fatalf("failures:\n%s\n\nfull output:\n%s", strings.Join(f, "\n"), out.String())
	}
	for _, want := range []string{
		"PASS  federator    publisher: warehouse in eu-west-1, the lake bucket's Region: UNLOAD and COPY stay in the Region\n",
		"PASS  federator    subscriber reporting-eu: warehouse in eu-west-1, the lake bucket's Region: UNLOAD and COPY stay in the Region\n",
		"WARN  federator    subscriber reporting-us: warehouse in us-east-1, the lake bucket in eu-west-1: it works (UNLOAD and COPY say REGION 'eu-west-1'), " +
			"but every version its COPY reads crosses Regions: inter-Region data transfer is billed per GB, and latency is higher. " +
			"To avoid it: use a warehouse in eu-west-1, or a snaplake stack in us-east-1 for that warehouse\n",
	} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("output lacks\n%s\nfull output:\n%s", want, out.String())
		}
	}
	if strings.Contains(out.String(), "subscriber local: warehouse") {
		t.Errorf("a Region line for the PostgreSQL stand-in:\n%s", out.String())
	}
	if rep.Warned() != 1 || rep.Failed() != 0 {
		t.Errorf("%d warnings and %d failures, want 1 and 0", rep.Warned(), rep.Failed())
	}
}
