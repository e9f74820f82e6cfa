package doctor

import (
	"context"
	"fmt"
	"slices"
	"strconv"
	"strings"
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
	"github.com/aws/aws-sdk-go-v2/service/scheduler"
	schedtypes "github.com/aws/aws-sdk-go-v2/service/scheduler/types"
	"github.com/aws/smithy-go"

	"github.com/snaplake/snaplake/internal/deploy"
)

// The real clients satisfy the interfaces.
var (
	_ CloudFormation = (*cloudformation.Client)(nil)
	_ EventBridge    = (*eventbridge.Client)(nil)
	_ RDS            = (*rds.Client)(nil)
	_ IAM            = (*awsiam.Client)(nil)
	_ KMS            = (*kms.Client)(nil)
	_ Scheduler      = (*scheduler.Client)(nil)
	_ LakeFormation  = (*lakeformation.Client)(nil)
)

const (
	testAccount = "123456789012"
	testRegion  = "eu-west-1"
	testKey     = "arn:aws:kms:eu-west-1:123456789012:key/1111-2222"
)

var testNow = time.Date(2026, 3, 10, 12, 0, 0, 0, time.UTC)

func roleArn(name string) string {
	return "arn:aws:iam::" + testAccount + ":role/Snaplake-" + name + "Role"
}

// world is a healthy deployment; each test breaks one thing.
type world struct {
	stackExists bool
	describeErr error
	outputs     map[string]string
	rules       map[string]ebtypes.RuleState // absent: no such rule
	retention   map[string]int32             // absent: no such instance
	snapshots   map[string][]rdstypes.DBSnapshot
	// Aurora clusters: backup retention (absent: no such cluster) and automated snapshots.
	clusters         map[string]int32
	clusterSnapshots map[string][]rdstypes.DBClusterSnapshot
	keyState         kmstypes.KeyState
	keyPolicy        string
	// schedules by group/name (absent: no such schedule); deployIngest adds the sets'.
	schedules map[string]*scheduler.GetScheduleOutput
	schedErr  error
	// deny decides a simulated (role, action, resource); "" allows.
	deny    func(role, action, resource string, in *awsiam.SimulatePrincipalPolicyInput) iamtypes.PolicyEvaluationDecisionType
	iamErr  error
	iamLog  []*awsiam.SimulatePrincipalPolicyInput
	rdsPage int // snapshots per DescribeDBSnapshots page
	// deployRole is the stack's service role; lakeAdmins the data lake administrators.
	deployRole string
	lakeAdmins []string
	lakeErr    error
}

func newWorld() *world {
	roles := map[string]string{}
	for _, p := range slices.Concat(deploy.Functions, deploy.ServiceRoles) {
		roles[p] = roleArn(p)
	}
	fns := map[string]string{}
	for _, f := range deploy.Functions {
		fns[f] = functionArn(f)
	}
	rj, _ := jsonString(roles)
	fj, _ := jsonString(fns)
	snap := func(inst string, age time.Duration, status string) rdstypes.DBSnapshot {
		t := testNow.Add(-age)
		return rdstypes.DBSnapshot{
			DBSnapshotIdentifier: aws.String("rds:" + inst + "-" + t.Format("2006-01-02-15-04")),
			Status:               aws.String(status),
			SnapshotCreateTime:   &t,
		}
	}
	return &world{
		stackExists: true,
		outputs: map[string]string{
			deploy.OutputBucketName: "snaplake-lake", deploy.OutputStateMachineArn: "arn:aws:states:eu-west-1:123456789012:stateMachine:Export",
			deploy.OutputTopicArn: "arn:aws:sns:eu-west-1:123456789012:Notifications", deploy.OutputWorkGroupName: "snaplake", deploy.OutputGlueDatabases: "sales,hr",
			deploy.OutputAnalystPolicyArn: "arn:aws:iam::123456789012:policy/Analyst", deploy.OutputDeadLetterQueueURL: "https://sqs/dlq",
			deploy.OutputKeyArn: testKey, deploy.OutputRoleArns: rj, deploy.OutputFunctionArns: fj, deploy.OutputDBInstanceIDs: "prod-a,prod-b", deploy.OutputSourceDatabases: "Sales,hr",
		},
		rules: map[string]ebtypes.RuleState{
			"Snaplake-snapshot-created": ebtypes.RuleStateEnabled,
			"Snaplake-export-finished":  ebtypes.RuleStateEnabled,
			"Snaplake-crawler-finished": ebtypes.RuleStateEnabled,
		},
		retention: map[string]int32{"prod-a": 7, "prod-b": 1},
		snapshots: map[string][]rdstypes.DBSnapshot{
			"prod-a": {snap("prod-a", 30*time.Hour, "available"), snap("prod-a", 5*time.Hour+12*time.Minute, "available"), snap("prod-a", 10*time.Minute, "creating")},
			"prod-b": {snap("prod-b", 2*time.Hour, "available")},
		},
		keyState:  kmstypes.KeyStateEnabled,
		keyPolicy: `{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Principal":{"AWS":"arn:aws:iam::123456789012:root"},"Action":"kms:*","Resource":"*"}]}`,
		rdsPage:   2,
		schedules: map[string]*scheduler.GetScheduleOutput{},
		// The CDK's execution role deploys the stack and administers the data lake.
		deployRole: testDeployRole,
		lakeAdmins: []string{"arn:aws:iam::123456789012:role/Admin", testDeployRole},
	}
}

const testDeployRole = "arn:aws:iam::123456789012:role/cdk-hnb659fds-cfn-exec-role-123456789012-eu-west-1"

type lfFake struct{ w *world }

func (f lfFake) GetDataLakeSettings(context.Context, *lakeformation.GetDataLakeSettingsInput, ...func(*lakeformation.Options)) (*lakeformation.GetDataLakeSettingsOutput, error) {
	if f.w.lakeErr != nil {
		return nil, f.w.lakeErr
	}
	s := &lftypes.DataLakeSettings{}
	for _, a := range f.w.lakeAdmins {
		s.DataLakeAdmins = append(s.DataLakeAdmins, lftypes.DataLakePrincipal{DataLakePrincipalIdentifier: aws.String(a)})
	}
	return &lakeformation.GetDataLakeSettingsOutput{DataLakeSettings: s}, nil
}

func functionArn(name string) string {
	return "arn:aws:lambda:eu-west-1:123456789012:function:Snaplake-" + name
}

const testIngestMachine = "arn:aws:states:eu-west-1:123456789012:stateMachine:Ingest"

// deployIngest adds the config-driven ingestion: its outputs, shaped as infra
// writes them, and its two schedules, enabled.
func (w *world) deployIngest() {
	roles, fns := map[string]string{}, map[string]string{}
	for _, p := range slices.Concat(deploy.IngestFunctions, deploy.IngestServiceRoles) {
		roles[p] = roleArn(p)
	}
	for _, f := range deploy.IngestFunctions {
		fns[f] = functionArn(f)
	}
	w.outputs[deploy.OutputIngestStateMachineArn] = testIngestMachine
	w.outputs[deploy.OutputIngestJobName] = deploy.IngestJobName
	w.outputs[deploy.OutputIngestGlueDatabaseName] = "raw_sales"
	w.outputs[deploy.OutputIngestSecretArn] = "arn:aws:secretsmanager:eu-west-1:123456789012:secret:sales-source-AbCdEf"
	w.outputs[deploy.OutputIngestRoleArns], _ = jsonString(roles)
	w.outputs[deploy.OutputIngestFunctionArns], _ = jsonString(fns)
	for _, set := range IngestSets {
		name := deploy.IngestScheduleName(set)
		w.schedules[deploy.IngestScheduleGroup+"/"+name] = &scheduler.GetScheduleOutput{
			Name: aws.String(name), GroupName: aws.String(deploy.IngestScheduleGroup),
			ScheduleExpression: aws.String("cron(0 2 * * ? *)"), ScheduleExpressionTimezone: aws.String("Europe/Berlin"),
			State:  schedtypes.ScheduleStateEnabled,
			Target: &schedtypes.Target{Arn: aws.String(testIngestMachine), RoleArn: aws.String(roleArn(deploy.RoleIngestScheduler))},
		}
	}
}

const (
	testPublishMachine   = "arn:aws:states:eu-west-1:123456789012:stateMachine:FederatePublish"
	testSubscribeMachine = "arn:aws:states:eu-west-1:123456789012:stateMachine:FederateSubscribe"
)

// deployFederate adds the Federator's outputs, shaped as infra writes them.
func (w *world) deployFederate() {
	roles, fns := map[string]string{}, map[string]string{}
	for _, p := range slices.Concat(deploy.FederateFunctions, deploy.FederateServiceRoles) {
		roles[p] = roleArn(p)
	}
	for _, f := range deploy.FederateFunctions {
		fns[f] = functionArn(f)
	}
	w.outputs[deploy.OutputFederatePublishStateMachineArn] = testPublishMachine
	w.outputs[deploy.OutputFederateSubscribeStateMachineArn] = testSubscribeMachine
	w.outputs[deploy.OutputFederateWarehouseRoleArn] = roleArn(deploy.RoleFederateWarehouse)
	w.outputs[deploy.OutputFederateRoleArns], _ = jsonString(roles)
	w.outputs[deploy.OutputFederateFunctionArns], _ = jsonString(fns)
	items := map[string]string{}
	for _, f := range deploy.FederateFunctions {
		items[f] = "arn:aws:states:eu-west-1:123456789012:stateMachine:Snaplake-federate-" + f + "-item"
	}
	w.outputs[deploy.OutputFederateItemStateMachineArns], _ = jsonString(items)
}

func jsonString(m map[string]string) (string, error) {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	var parts []string
	for _, k := range keys {
		parts = append(parts, strconv.Quote(k)+":"+strconv.Quote(m[k]))
	}
	return "{" + strings.Join(parts, ",") + "}", nil
}

func (w *world) clients() Clients {
	return Clients{CloudFormation: cfnFake{w}, EventBridge: ebFake{w}, RDS: rdsFake{w}, IAM: iamFake{w}, KMS: kmsFake{w}, Scheduler: schedFake{w}, LakeFormation: lfFake{w}}
}

type cfnFake struct{ w *world }

func (f cfnFake) DescribeStacks(_ context.Context, in *cloudformation.DescribeStacksInput, _ ...func(*cloudformation.Options)) (*cloudformation.DescribeStacksOutput, error) {
	if f.w.describeErr != nil {
		return nil, f.w.describeErr
	}
	name := aws.ToString(in.StackName)
	if !f.w.stackExists || name != "Snaplake" {
		return nil, &smithy.GenericAPIError{Code: "ValidationError", Message: "Stack with id " + name + " does not exist"}
	}
	var outs []cftypes.Output
	for k, v := range f.w.outputs {
		outs = append(outs, cftypes.Output{OutputKey: aws.String(k), OutputValue: aws.String(v)})
	}
	return &cloudformation.DescribeStacksOutput{Stacks: []cftypes.Stack{{
		StackName:   aws.String(name),
		StackId:     aws.String("arn:aws:cloudformation:eu-west-1:123456789012:stack/Snaplake/0f0f"),
		StackStatus: cftypes.StackStatusUpdateComplete,
		Outputs:     outs,
		RoleARN:     aws.String(f.w.deployRole),
	}}}, nil
}

type ebFake struct{ w *world }

func (f ebFake) DescribeRule(_ context.Context, in *eventbridge.DescribeRuleInput, _ ...func(*eventbridge.Options)) (*eventbridge.DescribeRuleOutput, error) {
	st, ok := f.w.rules[aws.ToString(in.Name)]
	if !ok {
		return nil, &ebtypes.ResourceNotFoundException{Message: aws.String("Rule " + aws.ToString(in.Name) + " does not exist.")}
	}
	return &eventbridge.DescribeRuleOutput{Name: in.Name, State: st}, nil
}

type rdsFake struct{ w *world }

func (f rdsFake) DescribeDBInstances(_ context.Context, in *rds.DescribeDBInstancesInput, _ ...func(*rds.Options)) (*rds.DescribeDBInstancesOutput, error) {
	id := aws.ToString(in.DBInstanceIdentifier)
	days, ok := f.w.retention[id]
	if !ok {
		return nil, &rdstypes.DBInstanceNotFoundFault{Message: aws.String("DBInstance " + id + " not found.")}
	}
	return &rds.DescribeDBInstancesOutput{DBInstances: []rdstypes.DBInstance{{
		DBInstanceIdentifier: aws.String(id), DBInstanceStatus: aws.String("available"), BackupRetentionPeriod: aws.Int32(days),
	}}}, nil
}

// DescribeDBSnapshots pages rdsPage snapshots at a time, the Marker being the
// offset, so that the newest snapshot may be on a later page.
func (f rdsFake) DescribeDBSnapshots(_ context.Context, in *rds.DescribeDBSnapshotsInput, _ ...func(*rds.Options)) (*rds.DescribeDBSnapshotsOutput, error) {
	if aws.ToString(in.SnapshotType) != "automated" {
		return nil, fmt.Errorf("fake: want SnapshotType automated, got %q", aws.ToString(in.SnapshotType))
	}
	all := f.w.snapshots[aws.ToString(in.DBInstanceIdentifier)]
	from, _ := strconv.Atoi(aws.ToString(in.Marker))
	to := min(from+f.w.rdsPage, len(all))
	out := &rds.DescribeDBSnapshotsOutput{DBSnapshots: all[from:to]}
	if to < len(all) {
		out.Marker = aws.String(strconv.Itoa(to))
	}
	return out, nil
}

func (f rdsFake) DescribeDBClusters(_ context.Context, in *rds.DescribeDBClustersInput, _ ...func(*rds.Options)) (*rds.DescribeDBClustersOutput, error) {
	id := aws.ToString(in.DBClusterIdentifier)
	days, ok := f.w.clusters[id]
	if !ok {
		return nil, &rdstypes.DBClusterNotFoundFault{Message: aws.String("DBCluster " + id + " not found.")}
	}
	return &rds.DescribeDBClustersOutput{DBClusters: []rdstypes.DBCluster{{
		DBClusterIdentifier: aws.String(id), Engine: aws.String("aurora-mysql"), Status: aws.String("available"), BackupRetentionPeriod: aws.Int32(days),
	}}}, nil
}

func (f rdsFake) DescribeDBClusterSnapshots(_ context.Context, in *rds.DescribeDBClusterSnapshotsInput, _ ...func(*rds.Options)) (*rds.DescribeDBClusterSnapshotsOutput, error) {
	if aws.ToString(in.SnapshotType) != "automated" {
		return nil, fmt.Errorf("fake: want SnapshotType automated, got %q", aws.ToString(in.SnapshotType))
	}
	return &rds.DescribeDBClusterSnapshotsOutput{DBClusterSnapshots: f.w.clusterSnapshots[aws.ToString(in.DBClusterIdentifier)]}, nil
}

type iamFake struct{ w *world }

// SimulatePrincipalPolicy answers in the current API's shape (one result per
// action, with ResourceSpecificResults).
func (f iamFake) SimulatePrincipalPolicy(_ context.Context, in *awsiam.SimulatePrincipalPolicyInput, _ ...func(*awsiam.Options)) (*awsiam.SimulatePrincipalPolicyOutput, error) {
	f.w.iamLog = append(f.w.iamLog, in)
	if f.w.iamErr != nil {
		return nil, f.w.iamErr
	}
	if in.ResourcePolicy != nil && in.CallerArn == nil {
		return nil, &iamtypes.InvalidInputException{Message: aws.String("CallerArn is required with ResourcePolicy")}
	}
	out := &awsiam.SimulatePrincipalPolicyOutput{}
	for _, a := range in.ActionNames {
		er := iamtypes.EvaluationResult{EvalActionName: aws.String(a), EvalDecision: iamtypes.PolicyEvaluationDecisionTypeAllowed}
		for _, r := range in.ResourceArns {
			d := iamtypes.PolicyEvaluationDecisionTypeAllowed
			if f.w.deny != nil {
				if x := f.w.deny(aws.ToString(in.PolicySourceArn), a, r, in); x != "" {
					d = x
				}
			}
			if d != iamtypes.PolicyEvaluationDecisionTypeAllowed {
				er.EvalDecision = d
			}
			er.ResourceSpecificResults = append(er.ResourceSpecificResults, iamtypes.ResourceSpecificResult{EvalResourceName: aws.String(r), EvalResourceDecision: d})
		}
		out.EvaluationResults = append(out.EvaluationResults, er)
	}
	return out, nil
}

type kmsFake struct{ w *world }

func (f kmsFake) DescribeKey(_ context.Context, in *kms.DescribeKeyInput, _ ...func(*kms.Options)) (*kms.DescribeKeyOutput, error) {
	if aws.ToString(in.KeyId) != testKey {
		return nil, &kmstypes.NotFoundException{Message: aws.String("no key")}
	}
	return &kms.DescribeKeyOutput{KeyMetadata: &kmstypes.KeyMetadata{
		KeyId: aws.String(testKey), Arn: aws.String(testKey), KeyState: f.w.keyState, Enabled: f.w.keyState == kmstypes.KeyStateEnabled,
	}}, nil
}

func (f kmsFake) GetKeyPolicy(_ context.Context, in *kms.GetKeyPolicyInput, _ ...func(*kms.Options)) (*kms.GetKeyPolicyOutput, error) {
	if aws.ToString(in.PolicyName) != "default" {
		return nil, fmt.Errorf("fake: want PolicyName default, got %q", aws.ToString(in.PolicyName))
	}
	return &kms.GetKeyPolicyOutput{Policy: aws.String(f.w.keyPolicy), PolicyName: in.PolicyName}, nil
}

type schedFake struct{ w *world }

func (f schedFake) GetSchedule(_ context.Context, in *scheduler.GetScheduleInput, _ ...func(*scheduler.Options)) (*scheduler.GetScheduleOutput, error) {
	if f.w.schedErr != nil {
		return nil, f.w.schedErr
	}
	sc, ok := f.w.schedules[aws.ToString(in.GroupName)+"/"+aws.ToString(in.Name)]
	if !ok {
		return nil, &schedtypes.ResourceNotFoundException{Message: aws.String("Schedule " + aws.ToString(in.Name) + " does not exist.")}
	}
	cp := *sc
	return &cp, nil
}

// GetRole answers a role's unique id: "AROA" and the role name, upper-cased.
func (f iamFake) GetRole(_ context.Context, in *awsiam.GetRoleInput, _ ...func(*awsiam.Options)) (*awsiam.GetRoleOutput, error) {
	if strings.HasPrefix(aws.ToString(in.RoleName), "deleted-") {
		return nil, &iamtypes.NoSuchEntityException{Message: aws.String("The role with name " + aws.ToString(in.RoleName) + " cannot be found.")}
	}
	return roleOf(aws.ToString(in.RoleName)), nil
}

func roleOf(name string) *awsiam.GetRoleOutput {
	return &awsiam.GetRoleOutput{Role: &iamtypes.Role{RoleName: aws.String(name), RoleId: aws.String("AROA" + strings.ToUpper(name))}}
}
