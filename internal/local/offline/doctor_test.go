package offline_test

import (
	"bytes"
	"context"
	"encoding/json"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/cloudformation"
	cftypes "github.com/aws/aws-sdk-go-v2/service/cloudformation/types"
	"github.com/aws/aws-sdk-go-v2/service/eventbridge"
	ebtypes "github.com/aws/aws-sdk-go-v2/service/eventbridge/types"
	awsiam "github.com/aws/aws-sdk-go-v2/service/iam"
	iamtypes "github.com/aws/aws-sdk-go-v2/service/iam/types"
	"github.com/aws/aws-sdk-go-v2/service/kms"
	kmstypes "github.com/aws/aws-sdk-go-v2/service/kms/types"
	"github.com/aws/aws-sdk-go-v2/service/lakeformation"
	lftypes "github.com/aws/aws-sdk-go-v2/service/lakeformation/types"
	"github.com/aws/aws-sdk-go-v2/service/rds"
	rdstypes "github.com/aws/aws-sdk-go-v2/service/rds/types"
	schedtypes "github.com/aws/aws-sdk-go-v2/service/scheduler/types"
	"github.com/aws/smithy-go"

	"github.com/snaplake/snaplake/events"
	"github.com/snaplake/snaplake/internal/deploy"
	"github.com/snaplake/snaplake/internal/doctor"
	"github.com/snaplake/snaplake/internal/local/contract"
	"github.com/snaplake/snaplake/internal/local/iam"
	lflocal "github.com/snaplake/snaplake/internal/local/lakeformation"
	"github.com/snaplake/snaplake/internal/local/offline"
	schedlocal "github.com/snaplake/snaplake/internal/local/scheduler"
)

// offlineAWS answers doctor's read calls from the offline contract: the stack and
// its outputs, the rules enabled, every configured instance with backups and a
// snapshot taken three hours ago, the key enabled with the key policy CDK writes.
type offlineAWS struct {
	c   *contract.Contract
	now time.Time
}

// outputs are the contract's stack outputs, completed with those the contract may
// predate (FunctionArns, DBInstanceIds, SourceDatabases), built from the same contract.
func (o offlineAWS) outputs(t *testing.T) map[string]string {
	t.Helper()
	out := map[string]string{}
	for k, v := range o.c.Outputs {
		out[k] = v
	}
	env := o.c.Functions[deploy.FnStartExport].Environment
	if _, ok := out[deploy.OutputFunctionArns]; !ok {
		arns := map[string]string{}
		for _, name := range deploy.Functions {
			arns[name] = o.c.Functions[name].Arn
		}
		b, err := json.Marshal(arns)
		if err != nil {
			t.Fatal(err)
		}
		out[deploy.OutputFunctionArns] = string(b)
	}
	if _, ok := out[deploy.OutputDBInstanceIDs]; !ok {
		out[deploy.OutputDBInstanceIDs] = env[deploy.EnvDBInstanceIDs]
	}
	if _, ok := out[deploy.OutputSourceDatabases]; !ok {
		out[deploy.OutputSourceDatabases] = env[deploy.EnvDatabases]
	}
	return out
}

type offlineCFN struct{ stack cftypes.Stack }

func (f offlineCFN) DescribeStacks(_ context.Context, in *cloudformation.DescribeStacksInput, _ ...func(*cloudformation.Options)) (*cloudformation.DescribeStacksOutput, error) {
	if aws.ToString(in.StackName) != aws.ToString(f.stack.StackName) {
		return nil, &smithy.GenericAPIError{Code: "ValidationError", Message: "Stack with id " + aws.ToString(in.StackName) + " does not exist"}
	}
	return &cloudformation.DescribeStacksOutput{Stacks: []cftypes.Stack{f.stack}}, nil
}

type offlineRules struct{ names []string }

func (f offlineRules) DescribeRule(_ context.Context, in *eventbridge.DescribeRuleInput, _ ...func(*eventbridge.Options)) (*eventbridge.DescribeRuleOutput, error) {
	if !slices.Contains(f.names, aws.ToString(in.Name)) {
		return nil, &ebtypes.ResourceNotFoundException{Message: aws.String("Rule " + aws.ToString(in.Name) + " does not exist.")}
	}
	return &eventbridge.DescribeRuleOutput{Name: in.Name, State: ebtypes.RuleStateEnabled}, nil
}

type offlineRDS struct {
	instances, clusters []string
	taken               time.Time
}

func (f offlineRDS) DescribeDBClusters(_ context.Context, in *rds.DescribeDBClustersInput, _ ...func(*rds.Options)) (*rds.DescribeDBClustersOutput, error) {
	id := aws.ToString(in.DBClusterIdentifier)
	if !slices.Contains(f.clusters, id) {
		return nil, &rdstypes.DBClusterNotFoundFault{Message: aws.String("DBCluster " + id + " not found.")}
	}
	return &rds.DescribeDBClustersOutput{DBClusters: []rdstypes.DBCluster{{
		DBClusterIdentifier: in.DBClusterIdentifier, Engine: aws.String("aurora-mysql"), Status: aws.String("available"), BackupRetentionPeriod: aws.Int32(7),
	}}}, nil
}

func (f offlineRDS) DescribeDBClusterSnapshots(_ context.Context, in *rds.DescribeDBClusterSnapshotsInput, _ ...func(*rds.Options)) (*rds.DescribeDBClusterSnapshotsOutput, error) {
	id := aws.ToString(in.DBClusterIdentifier)
	if !slices.Contains(f.clusters, id) {
		return &rds.DescribeDBClusterSnapshotsOutput{}, nil
	}
	return &rds.DescribeDBClusterSnapshotsOutput{DBClusterSnapshots: []rdstypes.DBClusterSnapshot{{
		DBClusterSnapshotIdentifier: aws.String("rds:" + id + "-" + f.taken.Format("2006-01-02-15-04")),
		DBClusterIdentifier:         in.DBClusterIdentifier,
		SnapshotType:                aws.String("automated"),
		Status:                      aws.String("available"),
		SnapshotCreateTime:          aws.Time(f.taken),
	}}}, nil
}

func (f offlineRDS) DescribeDBInstances(_ context.Context, in *rds.DescribeDBInstancesInput, _ ...func(*rds.Options)) (*rds.DescribeDBInstancesOutput, error) {
	id := aws.ToString(in.DBInstanceIdentifier)
	if !slices.Contains(f.instances, id) {
		return nil, &rdstypes.DBInstanceNotFoundFault{Message: aws.String("DBInstance " + id + " not found.")}
	}
	return &rds.DescribeDBInstancesOutput{DBInstances: []rdstypes.DBInstance{{
		DBInstanceIdentifier: in.DBInstanceIdentifier, DBInstanceStatus: aws.String("available"), BackupRetentionPeriod: aws.Int32(7),
	}}}, nil
}

func (f offlineRDS) DescribeDBSnapshots(_ context.Context, in *rds.DescribeDBSnapshotsInput, _ ...func(*rds.Options)) (*rds.DescribeDBSnapshotsOutput, error) {
	id := aws.ToString(in.DBInstanceIdentifier)
	if !slices.Contains(f.instances, id) {
		return &rds.DescribeDBSnapshotsOutput{}, nil
	}
	return &rds.DescribeDBSnapshotsOutput{DBSnapshots: []rdstypes.DBSnapshot{{
		DBSnapshotIdentifier: aws.String("rds:" + id + "-" + f.taken.Format("2006-01-02-15-04")),
		DBInstanceIdentifier: in.DBInstanceIdentifier,
		SnapshotType:         aws.String("automated"),
		Status:               aws.String("available"),
		SnapshotCreateTime:   aws.Time(f.taken),
	}}}, nil
}

type offlineKMS struct{ key, policy string }

func (f offlineKMS) DescribeKey(_ context.Context, in *kms.DescribeKeyInput, _ ...func(*kms.Options)) (*kms.DescribeKeyOutput, error) {
	if aws.ToString(in.KeyId) != f.key {
		return nil, &kmstypes.NotFoundException{Message: aws.String("Key '" + aws.ToString(in.KeyId) + "' does not exist")}
	}
	return &kms.DescribeKeyOutput{KeyMetadata: &kmstypes.KeyMetadata{Arn: aws.String(f.key), KeyId: aws.String(f.key), Enabled: true, KeyState: kmstypes.KeyStateEnabled}}, nil
}

func (f offlineKMS) GetKeyPolicy(_ context.Context, in *kms.GetKeyPolicyInput, _ ...func(*kms.Options)) (*kms.GetKeyPolicyOutput, error) {
	if aws.ToString(in.KeyId) != f.key {
		return nil, &kmstypes.NotFoundException{Message: aws.String("Key '" + aws.ToString(in.KeyId) + "' does not exist")}
	}
	return &kms.GetKeyPolicyOutput{Policy: aws.String(f.policy), PolicyName: aws.String("default")}, nil
}

// keyPolicy is the key policy infra's key gets: CDK's default statement giving
// the account root kms:* (delegating the key's use to IAM policies) and a
// service statement that must not count for the roles.
func keyPolicy(c *contract.Contract) string {
	return `{"Version":"2012-10-17","Statement":[
		{"Effect":"Allow","Principal":{"AWS":"arn:aws:iam::` + c.Account + `:root"},"Action":"kms:*","Resource":"*"},
		{"Sid":"CloudWatchLogsForSnaplakeLogGroups","Effect":"Allow","Principal":{"Service":"logs.` + c.Region + `.amazonaws.com"},
		 "Action":["kms:Encrypt*","kms:Decrypt*","kms:ReEncrypt*","kms:GenerateDataKey*","kms:Describe*"],"Resource":"*"}]}`
}

// offlineSchedules are the contract's ingest schedules, as deployed.
func offlineSchedules(t *testing.T, c *contract.Contract) *schedlocal.Service {
	t.Helper()
	var defs []schedlocal.Schedule
	if c.Ingest != nil {
		for _, s := range c.Ingest.Schedules {
			defs = append(defs, schedlocal.Schedule{Name: s.Name, Group: s.Group, Expression: s.Expression, TimeZone: s.TimeZone,
				State: schedtypes.ScheduleState(s.State), Target: schedlocal.Target{Arn: s.TargetArn, RoleArn: s.RoleArn, Input: s.Input}})
		}
	}
	svc, err := schedlocal.New(defs...)
	if err != nil {
		t.Fatalf("the contract's schedules: %v", err)
	}
	return svc
}

// doctorRun runs doctor against the offline account with the IAM authority auth,
// the stack lacking the outputs drop.
func doctorRun(t *testing.T, c *contract.Contract, auth *iam.Authority, drop ...string) (doctor.Report, string) {
	t.Helper()
	now := time.Date(2026, 5, 4, 9, 30, 0, 0, time.UTC)
	o := offlineAWS{c: c, now: now}
	outputs := o.outputs(t)
	for _, d := range drop {
		delete(outputs, d)
	}
	var outs []cftypes.Output
	for k, v := range outputs {
		outs = append(outs, cftypes.Output{OutputKey: aws.String(k), OutputValue: aws.String(v)})
	}
	// CloudFormation deploys as the CDK's execution role, made a data lake
	// administrator as the README's deploy steps say.
	deployRole := "arn:aws:iam::" + c.Account + ":role/" + deploy.CDKExecutionRoleName(c.Account, c.Region)
	lf, err := lflocal.Open(filepath.Join(t.TempDir(), "lakeformation.json"))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := lf.PutDataLakeSettings(context.Background(), &lakeformation.PutDataLakeSettingsInput{DataLakeSettings: &lftypes.DataLakeSettings{
		DataLakeAdmins: []lftypes.DataLakePrincipal{{DataLakePrincipalIdentifier: aws.String(deployRole)}},
	}}); err != nil {
		t.Fatal(err)
	}
	clients := doctor.Clients{
		CloudFormation: offlineCFN{cftypes.Stack{
			StackName:   aws.String(c.Stack),
			StackId:     aws.String("arn:aws:cloudformation:" + c.Region + ":" + c.Account + ":stack/" + c.Stack + "/offline"),
			StackStatus: cftypes.StackStatusCreateComplete,
			Outputs:     outs,
			RoleARN:     aws.String(deployRole),
		}},
		LakeFormation: lf.AsPrincipal(deployRole),
		EventBridge:   offlineRules{doctor.RuleNames(c.Stack, deploy.SplitList(outputs[deploy.OutputDBInstanceIDs]), deploy.SplitList(outputs[deploy.OutputDBClusterIDs]))},
		RDS: offlineRDS{instances: deploy.SplitList(outputs[deploy.OutputDBInstanceIDs]), clusters: deploy.SplitList(outputs[deploy.OutputDBClusterIDs]),
			taken: now.Add(-3 * time.Hour)},
		IAM:       bootstrappedIAM{Authority: auth, deployRole: deploy.CDKExecutionRoleName(c.Account, c.Region)},
		KMS:       offlineKMS{key: outputs[deploy.OutputKeyArn], policy: keyPolicy(c)},
		Scheduler: offlineSchedules(t, c),
	}
	var out bytes.Buffer
	rep, err := doctor.Run(context.Background(), doctor.Config{Stack: c.Stack, Now: func() time.Time { return now }}, clients, &out)
	if err != nil {
		t.Fatalf("doctor: %v\n%s", err, out.String())
	}
	return rep, out.String()
}

// statementWith finds the principal's only statement whose JSON mentions action.
func statementWith(t *testing.T, auth *iam.Authority, principal, action string) int {
	t.Helper()
	found := -1
	for i := range auth.StatementCount(principal) {
		js, err := auth.StatementJSON(principal, i)
		if err != nil {
			t.Fatal(err)
		}
		if strings.Contains(js, `"`+action+`"`) {
			if found >= 0 {
				t.Fatalf("%s has several statements with %s", principal, action)
			}
			found = i
		}
	}
	if found < 0 {
		t.Fatalf("%s has no statement with %s", principal, action)
	}
	return found
}

// TestDoctorAgainstTheOfflineAccount runs `snaplake doctor`'s checks against
// stand-ins built from the offline contract, with IAM's policy simulator answered
// by the offline IAM authority: the deployed policies must allow every grant of the
// embedded permissions.txt, the KMS key's use included. Then positive controls:
// without the statement behind a listed grant, doctor reports exactly that grant.
func TestDoctorAgainstTheOfflineAccount(t *testing.T) {
	c, err := contract.Load()
	if err != nil {
		t.Fatal(err)
	}
	for _, o := range []string{deploy.OutputFunctionArns, deploy.OutputDBInstanceIDs, deploy.OutputSourceDatabases} {
		if _, ok := c.Outputs[o]; !ok {
			t.Logf("the contract has no %s output yet (regenerate it with `make contract`): built from the contract's functions and environment", o)
		}
	}
	auth, err := offline.NewAuthority(c)
	if err != nil {
		t.Fatal(err)
	}
	perms, err := doctor.Permissions()
	if err != nil {
		t.Fatal(err)
	}

	rep, out := doctorRun(t, c, auth)
	if testing.Verbose() {
		t.Logf("snaplake doctor on the offline deployment:\n%s", out)
	}
	for _, r := range rep.Results {
		if r.Status != doctor.Pass {
			t.Errorf("not passing on the offline deployment: %s", r)
		}
	}
	checks := map[string]int{}
	for _, r := range rep.Results {
		checks[r.Check]++
	}
	// Sources: the instances and the Aurora clusters, each checked for backups and a snapshot.
	instances := len(deploy.SplitList(c.Functions[deploy.FnStartExport].Environment[deploy.EnvDBInstanceIDs])) +
		len(deploy.SplitList(c.Functions[deploy.FnStartExport].Environment[deploy.EnvDBClusterIDs]))
	principals := map[string]bool{}
	for _, p := range perms {
		principals[p.Principal] = true
	}
	if c.Ingest == nil {
		t.Fatal("the offline contract does not deploy the ingestion (snaplake:ingest): doctor's checks of it are not exercised")
	}
	if c.Federate == nil {
		t.Fatal("the offline contract does not deploy the Federator (snaplake:federate): doctor's checks of it are not exercised")
	}
	want := map[string]int{"stack": 1, "rule": len(events.PatternNames()), "schedule": len(doctor.IngestSets), "ingestion": 0, "federator": 1, "lake-admin": 1,
		"backups": instances, "snapshot": instances, "permissions": len(principals), "kms": 3}
	for k, n := range want {
		if checks[k] != n {
			t.Errorf("%d %q results, want %d", checks[k], k, n)
		}
	}
	for _, r := range rep.Results {
		if r.Check == "federator" && !strings.HasPrefix(r.Detail, "deployed") {
			t.Errorf("the Federator is deployed offline, doctor says: %s", r)
		}
	}
	for _, p := range append(slices.Clone(deploy.FederateFunctions), deploy.FederateServiceRoles...) {
		if principals[p] && !slices.ContainsFunc(rep.Results, func(r doctor.Result) bool { return r.Check == "permissions" && r.Subject == p }) {
			t.Errorf("the Federator's %s has lines in permissions.txt but was not simulated", p)
		}
	}
	if g := auth.Allowed(); len(g) != 0 {
		t.Errorf("doctor's simulation recorded %d grants in the authority: a simulation is not a call", len(g))
	}
	if t.Failed() {
		t.Logf("doctor's output:\n%s", out)
	}

	controls := []struct {
		name, principal, action string
		// wantKMS: the key check of this principal fails too.
		wantKMS bool
	}{
		{name: "state machine may not publish", principal: deploy.RoleStateMachine, action: "sns:Publish"},
		{name: "export role may not use the key", principal: deploy.RoleExport, action: "kms:GenerateDataKey", wantKMS: true},
		{name: "ingest scheduler may not start the workflow", principal: deploy.RoleIngestScheduler, action: "states:StartExecution"},
		{name: "reconfigure may not read the schedules", principal: deploy.FnReconfigure, action: "scheduler:GetSchedule"},
		{name: "federate scheduler may not start the workflows", principal: deploy.RoleFederateScheduler, action: "states:StartExecution"},
	}
	for _, ctl := range controls {
		t.Run(ctl.name, func(t *testing.T) {
			idx := statementWith(t, auth, ctl.principal, ctl.action)
			js, _ := auth.StatementJSON(ctl.principal, idx)
			without, err := auth.Without(ctl.principal, idx)
			if err != nil {
				t.Fatal(err)
			}
			// What the statement allowed: every action it lists, for this principal.
			var stmt struct{ Action any }
			if err := json.Unmarshal([]byte(js), &stmt); err != nil {
				t.Fatal(err)
			}
			var actions []string
			switch a := stmt.Action.(type) {
			case string:
				actions = []string{a}
			case []any:
				for _, x := range a {
					actions = append(actions, x.(string))
				}
			}
			var wantDenied []string
			for _, p := range perms {
				if p.Principal == ctl.principal && slices.Contains(actions, p.Action) {
					wantDenied = append(wantDenied, p.Action+" line "+itoa(p.Line))
				}
			}
			if len(wantDenied) == 0 {
				t.Fatalf("permissions.txt lists no grant of %s's statement %s", ctl.principal, js)
			}

			rep, out := doctorRun(t, c, without)
			var gotDenied []string
			kmsFailed := false
			for _, r := range rep.Results {
				switch {
				case r.Status != doctor.Fail:
				case r.Grant != nil:
					if r.Grant.Principal != ctl.principal {
						t.Errorf("denied a grant of %s: %s", r.Grant.Principal, r)
					}
					gotDenied = append(gotDenied, r.Grant.Action+" line "+itoa(r.Grant.Line))
				case r.Check == "kms" && r.Subject == ctl.principal:
					kmsFailed = true
				default:
					t.Errorf("unexpected failure: %s", r)
				}
			}
			slices.Sort(gotDenied)
			gotDenied = slices.Compact(gotDenied)
			slices.Sort(wantDenied)
			if !slices.Equal(gotDenied, wantDenied) {
				t.Errorf("without %s's statement %s doctor denied %v, want %v\n%s", ctl.principal, js, gotDenied, wantDenied, out)
			}
			if kmsFailed != ctl.wantKMS {
				t.Errorf("kms check of %s failed: %v, want %v\n%s", ctl.principal, kmsFailed, ctl.wantKMS, out)
			}
		})
	}
}

// TestDoctorWithoutTheIngestion runs doctor against the offline account as if the
// stack did not deploy the ingestion (no snaplake:ingest: none of its outputs):
// the export's checks pass, one line says the ingestion is not deployed, and none
// of its roles is simulated nor its schedules read.
func TestDoctorWithoutTheIngestion(t *testing.T) {
	c, err := contract.Load()
	if err != nil {
		t.Fatal(err)
	}
	auth, err := offline.NewAuthority(c)
	if err != nil {
		t.Fatal(err)
	}
	rep, out := doctorRun(t, c, auth, doctor.IngestOutputs...)
	if testing.Verbose() {
		t.Logf("snaplake doctor on the offline deployment without the ingestion:\n%s", out)
	}
	ingestion := 0
	for _, r := range rep.Results {
		if r.Status != doctor.Pass {
			t.Errorf("not passing: %s", r)
		}
		switch {
		case r.Check == "ingestion":
			ingestion++
			if !strings.Contains(r.Detail, "not deployed") {
				t.Errorf("ingestion line %s, want it to say the ingestion is not deployed", r)
			}
		case r.Check == "schedule", r.Check == "permissions" && (slices.Contains(deploy.IngestFunctions, r.Subject) || slices.Contains(deploy.IngestServiceRoles, r.Subject)):
			t.Errorf("the ingestion is checked though the stack does not deploy it: %s", r)
		}
	}
	if ingestion != 1 {
		t.Errorf("%d ingestion lines, want 1:\n%s", ingestion, out)
	}
}

// TestDoctorWithoutTheFederator runs doctor against the offline account as if the
// stack did not deploy the Federator (no snaplake:federate: none of its outputs):
// the other checks pass, one line says the Federator is not deployed, and none of
// its roles is simulated.
func TestDoctorWithoutTheFederator(t *testing.T) {
	c, err := contract.Load()
	if err != nil {
		t.Fatal(err)
	}
	auth, err := offline.NewAuthority(c)
	if err != nil {
		t.Fatal(err)
	}
	rep, out := doctorRun(t, c, auth, doctor.FederateOutputs...)
	if testing.Verbose() {
		t.Logf("snaplake doctor on the offline deployment without the Federator:\n%s", out)
	}
	federator := 0
	for _, r := range rep.Results {
		if r.Status != doctor.Pass {
			t.Errorf("not passing: %s", r)
		}
		switch {
		case r.Check == "federator":
			federator++
			if !strings.Contains(r.Detail, "not deployed") {
				t.Errorf("federator line %s, want it to say the Federator is not deployed", r)
			}
		case r.Check == "permissions" && (slices.Contains(deploy.FederateFunctions, r.Subject) || slices.Contains(deploy.FederateServiceRoles, r.Subject)):
			t.Errorf("the Federator is checked though the stack does not deploy it: %s", r)
		}
	}
	if federator != 1 {
		t.Errorf("%d federator lines, want 1:\n%s", federator, out)
	}
}

func itoa(n int) string {
	b, _ := json.Marshal(n)
	return string(b)
}

// bootstrappedIAM is the offline account's IAM with the CDK's execution role,
// which `cdk bootstrap` created and CloudFormation deploys the stack as.
type bootstrappedIAM struct {
	*iam.Authority
	deployRole string
}

func (b bootstrappedIAM) GetRole(ctx context.Context, in *awsiam.GetRoleInput, optFns ...func(*awsiam.Options)) (*awsiam.GetRoleOutput, error) {
	if aws.ToString(in.RoleName) == b.deployRole {
		return &awsiam.GetRoleOutput{Role: &iamtypes.Role{RoleName: in.RoleName, RoleId: aws.String("AROACDKEXECUTION")}}, nil
	}
	return b.Authority.GetRole(ctx, in, optFns...)
}
