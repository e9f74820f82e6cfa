// Package doctor checks a deployed snaplake stack in a real account: its outputs,
// event rules, source instances' backups, and that IAM allows every call the pipeline makes.
package doctor

import (
	"context"
	"errors"
	"fmt"
	"io"
	"time"

	"github.com/aws/aws-sdk-go-v2/service/cloudformation"
	"github.com/aws/aws-sdk-go-v2/service/eventbridge"
	awsiam "github.com/aws/aws-sdk-go-v2/service/iam"
	"github.com/aws/aws-sdk-go-v2/service/kms"
	"github.com/aws/aws-sdk-go-v2/service/rds"
	"github.com/aws/aws-sdk-go-v2/service/scheduler"

	"github.com/snaplake/snaplake/internal/deploy"
)

// Defaults of Config.
const (
	DefaultStack = deploy.StackName
	// DefaultMaxSnapshotAge leaves two hours of slack on a daily backup window.
	DefaultMaxSnapshotAge = 26 * time.Hour
)

// CloudFormation reads the stack and its outputs.
type CloudFormation interface {
	DescribeStacks(ctx context.Context, in *cloudformation.DescribeStacksInput, optFns ...func(*cloudformation.Options)) (*cloudformation.DescribeStacksOutput, error)
}

// EventBridge reads the stack's rules.
type EventBridge interface {
	DescribeRule(ctx context.Context, in *eventbridge.DescribeRuleInput, optFns ...func(*eventbridge.Options)) (*eventbridge.DescribeRuleOutput, error)
}

// RDS reads the source instances and their automated snapshots.
type RDS interface {
	DescribeDBInstances(ctx context.Context, in *rds.DescribeDBInstancesInput, optFns ...func(*rds.Options)) (*rds.DescribeDBInstancesOutput, error)
	DescribeDBClusters(ctx context.Context, in *rds.DescribeDBClustersInput, optFns ...func(*rds.Options)) (*rds.DescribeDBClustersOutput, error)
	DescribeDBClusterSnapshots(ctx context.Context, in *rds.DescribeDBClusterSnapshotsInput, optFns ...func(*rds.Options)) (*rds.DescribeDBClusterSnapshotsOutput, error)
	DescribeDBSnapshots(ctx context.Context, in *rds.DescribeDBSnapshotsInput, optFns ...func(*rds.Options)) (*rds.DescribeDBSnapshotsOutput, error)
}

// IAM simulates the roles' policies, and reads a role's unique id (the statement
// owner the Federator's Data API permissions are limited to).
type IAM interface {
	SimulatePrincipalPolicy(ctx context.Context, in *awsiam.SimulatePrincipalPolicyInput, optFns ...func(*awsiam.Options)) (*awsiam.SimulatePrincipalPolicyOutput, error)
	GetRole(ctx context.Context, in *awsiam.GetRoleInput, optFns ...func(*awsiam.Options)) (*awsiam.GetRoleOutput, error)
}

// KMS reads the lake key's state and policy.
type KMS interface {
	DescribeKey(ctx context.Context, in *kms.DescribeKeyInput, optFns ...func(*kms.Options)) (*kms.DescribeKeyOutput, error)
	GetKeyPolicy(ctx context.Context, in *kms.GetKeyPolicyInput, optFns ...func(*kms.Options)) (*kms.GetKeyPolicyOutput, error)
}

// Scheduler reads the ingestion's schedules.
type Scheduler interface {
	GetSchedule(ctx context.Context, in *scheduler.GetScheduleInput, optFns ...func(*scheduler.Options)) (*scheduler.GetScheduleOutput, error)
}

// Clients are the AWS APIs the checks read. The real SDK clients satisfy them.
type Clients struct {
	CloudFormation CloudFormation
	EventBridge    EventBridge
	RDS            RDS
	IAM            IAM
	KMS            KMS
	Scheduler      Scheduler
	LakeFormation  LakeFormation
}

// Config says what to check.
type Config struct {
	Stack          string        // CloudFormation stack name; "" means DefaultStack
	MaxSnapshotAge time.Duration // 0 means DefaultMaxSnapshotAge
	// Permissions replaces the embedded permissions.txt (tests).
	Permissions []Permission
	Now         func() time.Time // nil means time.Now
	// FederateSignIns are the Federator's warehouse sign-ins whose database
	// privileges are checked (CheckFederatePrivileges) when the stack deploys it.
	FederateSignIns []FederateSignIn
}

// Status of one result.
type Status string

const (
	Pass Status = "PASS"
	Fail Status = "FAIL"
	// Skip: the check could not be made because an earlier one failed (the stack
	// is missing or lacks outputs); it is not counted as a failure, the earlier one is.
	Skip Status = "SKIP"
	// Warn: the check passed, and what it found works but costs or behaves in a way
	// the operator should know (a Federator warehouse in another Region than the lake
	// bucket); not counted as a failure.
	Warn Status = "WARN"
)

// Result is one line of the report.
type Result struct {
	Status  Status
	Check   string // stack, rule, ingestion, federator, schedule, backups, snapshot, permissions, permission, kms
	Subject string // what was checked: a rule, a schedule, an instance, a principal, the key
	Detail  string
	Fix     string // what to do, on failure; on a warning, how to avoid what it warns of
	// Grant is the denied grant of a "permission" failure.
	Grant *Grant
}

// String is the result as printed: "FAIL  rule         Snaplake-x: DISABLED. Fix: ...".
func (r Result) String() string {
	s := fmt.Sprintf("%-4s  %-11s  %s: %s", r.Status, r.Check, r.Subject, r.Detail)
	switch {
	case r.Status == Fail && r.Fix != "":
		s += ". Fix: " + r.Fix
	case r.Status == Warn && r.Fix != "":
		s += ". To avoid it: " + r.Fix
	}
	return s
}

// Report is every result, in the order printed.
type Report struct {
	Results []Result
}

// Failed counts the failed results.
func (r Report) Failed() int {
	n := 0
	for _, x := range r.Results {
		if x.Status == Fail {
			n++
		}
	}
	return n
}

// Warned counts the results passed with a warning.
func (r Report) Warned() int {
	n := 0
	for _, x := range r.Results {
		if x.Status == Warn {
			n++
		}
	}
	return n
}

// run carries one doctor run.
type run struct {
	cfg    Config
	c      Clients
	out    io.Writer
	stack  *stack // once found
	report Report
	werr   error
}

func (r *run) add(res Result) {
	r.report.Results = append(r.report.Results, res)
	if r.werr == nil {
		_, r.werr = fmt.Fprintln(r.out, res.String())
	}
}

func (r *run) pass(check, subject, detail string) {
	r.add(Result{Status: Pass, Check: check, Subject: subject, Detail: detail})
}

func (r *run) fail(check, subject, detail, fix string) {
	r.add(Result{Status: Fail, Check: check, Subject: subject, Detail: detail, Fix: fix})
}

func (r *run) warn(check, subject, detail, avoid string) {
	r.add(Result{Status: Warn, Check: check, Subject: subject, Detail: detail, Fix: avoid})
}

func (r *run) skip(check, subject, detail string) {
	r.add(Result{Status: Skip, Check: check, Subject: subject, Detail: detail})
}

// Run checks the deployed stack, printing one line per result to out as it goes:
//  1. the stack exists and has every output doctor needs (RequiredOutputs);
//  2. each EventBridge rule <stack>-<pattern> exists and is enabled;
//     when the stack deploys the config-driven ingestion (IngestOutputs), each
//     set's schedule exists, is enabled and starts its workflow; when it does not,
//     one line says so and the ingestion's lines of permissions.txt are left out;
//     likewise one line says whether the Federator (FederateOutputs) is deployed;
//     the role CloudFormation deploys the stack as (its service role, the CDK's
//     execution role) is a Lake Formation data lake administrator;
//  3. each DB instance of DBInstanceIds exists and keeps automated backups;
//  4. its newest available automated snapshot is younger than MaxSnapshotAge;
//  5. IAM's policy simulator allows every grant of permissions.txt to its role;
//  6. the KMS key is enabled and its key policy with the roles' policies lets the
//     export role and startexport use it.
//
// A failed check is a result, not an error: Run returns an error only when it
// cannot run at all (no client, an unreadable permission list, the stack cannot
// be described for a reason other than its absence, out failing).
func Run(ctx context.Context, cfg Config, c Clients, out io.Writer) (Report, error) {
	if c.CloudFormation == nil || c.EventBridge == nil || c.RDS == nil || c.IAM == nil || c.KMS == nil || c.Scheduler == nil || c.LakeFormation == nil {
		return Report{}, errors.New("doctor: every client (CloudFormation, EventBridge, RDS, IAM, KMS, Scheduler, LakeFormation) is required")
	}
	if cfg.Stack == "" {
		cfg.Stack = DefaultStack
	}
	if cfg.MaxSnapshotAge <= 0 {
		cfg.MaxSnapshotAge = DefaultMaxSnapshotAge
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.Permissions == nil {
		perms, err := Permissions()
		if err != nil {
			return Report{}, fmt.Errorf("doctor: read the embedded permission list: %w", err)
		}
		cfg.Permissions = perms
	}
	r := &run{cfg: cfg, c: c, out: out}

	st, err := r.checkStack(ctx)
	if err != nil {
		return r.report, err
	}
	if st == nil { // the stack does not exist: nothing else can be found
		return r.report, r.werr
	}
	r.stack = st
	r.checkRules(ctx)
	r.checkIngest(ctx, st)
	r.checkFederate(st)
	if st.federate {
		for _, res := range CheckFederatePrivileges(ctx, cfg.FederateSignIns, federateDatabaseUsers(st.outputs)) {
			r.add(res)
		}
	}
	r.checkLakeAdmin(ctx, st)
	r.checkInstances(ctx, st)
	r.checkPermissions(ctx, st)
	r.checkKey(ctx, st)
	if err := ctx.Err(); err != nil {
		return r.report, fmt.Errorf("doctor: %w", err)
	}
	return r.report, r.werr
}
