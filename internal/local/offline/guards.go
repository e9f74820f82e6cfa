package offline

import (
	"context"
	"fmt"
	"strings"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/glue"
	"github.com/aws/aws-sdk-go-v2/service/rds"
	"github.com/aws/aws-sdk-go-v2/service/sfn"
	"github.com/aws/smithy-go"

	"github.com/snaplake/snaplake/internal/export"
	"github.com/snaplake/snaplake/internal/export/callback"
	"github.com/snaplake/snaplake/internal/local/iam"
	"github.com/snaplake/snaplake/internal/local/stepfunctions"
)

// The guards stand between a handler and a stand-in: each call is authorized
// against the calling function's policy first, as the AWS API would, and a denied
// call fails the way the SDK reports it (an OperationError around AccessDenied).

// authorize checks every request of one call; the first denial fails it.
func (a *Account) authorize(principal, service, operation string, reqs ...iam.Request) error {
	for _, r := range reqs {
		if err := a.IAM.Authorize(principal, r); err != nil {
			return &smithy.OperationError{ServiceID: service, OperationName: operation, Err: err}
		}
	}
	return nil
}

func (a *Account) arn(service, resource string) string {
	return fmt.Sprintf("arn:aws:%s:%s:%s:%s", service, a.Contract.Region, a.Contract.Account, resource)
}

func ctxOf(kv ...string) map[string][]string {
	m := map[string][]string{}
	for i := 0; i+1 < len(kv); i += 2 {
		m[kv[i]] = []string{kv[i+1]}
	}
	return m
}

// guardedRDS is RDS as one function calls it.
type guardedRDS struct {
	a         *Account
	principal string
	next      export.RDS
}

// RDS returns the RDS stand-in as principal may call it.
func (a *Account) RDS(principal string, next export.RDS) export.RDS {
	return guardedRDS{a: a, principal: principal, next: next}
}

func (g guardedRDS) StartExportTask(ctx context.Context, in *rds.StartExportTaskInput, optFns ...func(*rds.Options)) (*rds.StartExportTaskOutput, error) {
	// StartExportTask passes the export role to RDS and lets RDS create a grant on
	// the KMS key for the export's duration.
	err := g.a.authorize(g.principal, "RDS", "StartExportTask",
		iam.Request{Action: "rds:StartExportTask", Resource: aws.ToString(in.SourceArn)},
		iam.Request{Action: "iam:PassRole", Resource: aws.ToString(in.IamRoleArn), Context: ctxOf("iam:PassedToService", "rds.amazonaws.com")},
		iam.Request{Action: "kms:DescribeKey", Resource: aws.ToString(in.KmsKeyId)},
		iam.Request{Action: "kms:CreateGrant", Resource: aws.ToString(in.KmsKeyId), Context: ctxOf("kms:GrantIsForAWSResource", "true")},
	)
	if err != nil {
		return nil, err
	}
	return g.next.StartExportTask(ctx, in, optFns...)
}

func (g guardedRDS) DescribeExportTasks(ctx context.Context, in *rds.DescribeExportTasksInput, optFns ...func(*rds.Options)) (*rds.DescribeExportTasksOutput, error) {
	if err := g.a.authorize(g.principal, "RDS", "DescribeExportTasks", iam.Request{Action: "rds:DescribeExportTasks", Resource: "*"}); err != nil {
		return nil, err
	}
	return g.next.DescribeExportTasks(ctx, in, optFns...)
}

func (g guardedRDS) DescribeDBSnapshots(ctx context.Context, in *rds.DescribeDBSnapshotsInput, optFns ...func(*rds.Options)) (*rds.DescribeDBSnapshotsOutput, error) {
	res := g.a.arn("rds", "snapshot:"+aws.ToString(in.DBSnapshotIdentifier))
	if err := g.a.authorize(g.principal, "RDS", "DescribeDBSnapshots", iam.Request{Action: "rds:DescribeDBSnapshots", Resource: res}); err != nil {
		return nil, err
	}
	return g.next.DescribeDBSnapshots(ctx, in, optFns...)
}

func (g guardedRDS) DescribeDBClusterSnapshots(ctx context.Context, in *rds.DescribeDBClusterSnapshotsInput, optFns ...func(*rds.Options)) (*rds.DescribeDBClusterSnapshotsOutput, error) {
	res := g.a.arn("rds", "cluster-snapshot:"+aws.ToString(in.DBClusterSnapshotIdentifier))
	if err := g.a.authorize(g.principal, "RDS", "DescribeDBClusterSnapshots", iam.Request{Action: "rds:DescribeDBClusterSnapshots", Resource: res}); err != nil {
		return nil, err
	}
	return g.next.DescribeDBClusterSnapshots(ctx, in, optFns...)
}

// guardedGlue is Glue's crawler API as one function calls it.
type guardedGlue struct {
	a         *Account
	principal string
	next      callback.Crawlers
}

// Glue returns the crawler stand-in as principal may call it.
func (a *Account) Glue(principal string, next callback.Crawlers) callback.Crawlers {
	return guardedGlue{a: a, principal: principal, next: next}
}

func (g guardedGlue) crawler(name *string) string {
	return g.a.arn("glue", "crawler/"+aws.ToString(name))
}

func (g guardedGlue) GetCrawler(ctx context.Context, in *glue.GetCrawlerInput, optFns ...func(*glue.Options)) (*glue.GetCrawlerOutput, error) {
	if err := g.a.authorize(g.principal, "Glue", "GetCrawler", iam.Request{Action: "glue:GetCrawler", Resource: g.crawler(in.Name)}); err != nil {
		return nil, err
	}
	return g.next.GetCrawler(ctx, in, optFns...)
}

func (g guardedGlue) UpdateCrawler(ctx context.Context, in *glue.UpdateCrawlerInput, optFns ...func(*glue.Options)) (*glue.UpdateCrawlerOutput, error) {
	reqs := []iam.Request{{Action: "glue:UpdateCrawler", Resource: g.crawler(in.Name)}}
	if role := aws.ToString(in.Role); role != "" {
		// Setting the crawler's role passes it to Glue. Glue accepts a role name too.
		if !strings.HasPrefix(role, "arn:") {
			role = fmt.Sprintf("arn:aws:iam::%s:role/%s", g.a.Contract.Account, role)
		}
		reqs = append(reqs, iam.Request{Action: "iam:PassRole", Resource: role, Context: ctxOf("iam:PassedToService", "glue.amazonaws.com")})
	}
	if err := g.a.authorize(g.principal, "Glue", "UpdateCrawler", reqs...); err != nil {
		return nil, err
	}
	return g.next.UpdateCrawler(ctx, in, optFns...)
}

func (g guardedGlue) StartCrawler(ctx context.Context, in *glue.StartCrawlerInput, optFns ...func(*glue.Options)) (*glue.StartCrawlerOutput, error) {
	if err := g.a.authorize(g.principal, "Glue", "StartCrawler", iam.Request{Action: "glue:StartCrawler", Resource: g.crawler(in.Name)}); err != nil {
		return nil, err
	}
	return g.next.StartCrawler(ctx, in, optFns...)
}

// guardedSFN is the task-token API as one function calls it. Step Functions
// authorizes SendTask* against the state machine whose execution issued the token.
type guardedSFN struct {
	a         *Account
	principal string
	tokens    *stepfunctions.Tokens
}

// SFN returns the task-token API as principal may call it.
func (a *Account) SFN(principal string, tokens *stepfunctions.Tokens) callback.SFN {
	return guardedSFN{a: a, principal: principal, tokens: tokens}
}

func (g guardedSFN) machine(token *string) string {
	exec, ok := g.tokens.Execution(aws.ToString(token))
	if !ok {
		return g.a.Contract.StateMachineArn
	}
	// arn:aws:states:R:A:execution:<machine>:<name> belongs to arn:aws:states:R:A:stateMachine:<machine>.
	machine := strings.Replace(exec, ":execution:", ":stateMachine:", 1)
	return machine[:strings.LastIndex(machine, ":")]
}

func (g guardedSFN) SendTaskSuccess(ctx context.Context, in *sfn.SendTaskSuccessInput, optFns ...func(*sfn.Options)) (*sfn.SendTaskSuccessOutput, error) {
	if err := g.a.authorize(g.principal, "SFN", "SendTaskSuccess", iam.Request{Action: "states:SendTaskSuccess", Resource: g.machine(in.TaskToken)}); err != nil {
		return nil, err
	}
	return g.tokens.SendTaskSuccess(ctx, in, optFns...)
}

func (g guardedSFN) SendTaskFailure(ctx context.Context, in *sfn.SendTaskFailureInput, optFns ...func(*sfn.Options)) (*sfn.SendTaskFailureOutput, error) {
	if err := g.a.authorize(g.principal, "SFN", "SendTaskFailure", iam.Request{Action: "states:SendTaskFailure", Resource: g.machine(in.TaskToken)}); err != nil {
		return nil, err
	}
	return g.tokens.SendTaskFailure(ctx, in, optFns...)
}

// guardedCatalogs is Glue's CreateDatabase and CreateCrawler as one function calls
// them (the crawl wait, for a database the stack was not deployed with).
type guardedCatalogs struct {
	a         *Account
	principal string
	next      callback.CatalogCreator
}

// GlueCatalogs returns the database and crawler creation of the Glue stand-in as
// principal may call it.
func (a *Account) GlueCatalogs(principal string, next callback.CatalogCreator) callback.CatalogCreator {
	return guardedCatalogs{a: a, principal: principal, next: next}
}

// CreateDatabase is authorized on the catalog and the new database, as Glue
// authorizes a database call.
func (g guardedCatalogs) CreateDatabase(ctx context.Context, in *glue.CreateDatabaseInput, optFns ...func(*glue.Options)) (*glue.CreateDatabaseOutput, error) {
	var name string
	if in != nil && in.DatabaseInput != nil {
		name = strings.ToLower(aws.ToString(in.DatabaseInput.Name))
	}
	if err := g.a.authorize(g.principal, "Glue", "CreateDatabase",
		iam.Request{Action: "glue:CreateDatabase", Resource: g.a.arn("glue", "catalog")},
		iam.Request{Action: "glue:CreateDatabase", Resource: g.a.arn("glue", "database/"+name)}); err != nil {
		return nil, err
	}
	return g.next.CreateDatabase(ctx, in, optFns...)
}

// CreateCrawler is authorized on the new crawler, and passing its role to Glue.
func (g guardedCatalogs) CreateCrawler(ctx context.Context, in *glue.CreateCrawlerInput, optFns ...func(*glue.Options)) (*glue.CreateCrawlerOutput, error) {
	if in == nil {
		in = &glue.CreateCrawlerInput{}
	}
	reqs := []iam.Request{{Action: "glue:CreateCrawler", Resource: g.a.arn("glue", "crawler/"+aws.ToString(in.Name))}}
	if role := aws.ToString(in.Role); role != "" {
		// Glue accepts a role name too.
		if !strings.HasPrefix(role, "arn:") {
			role = fmt.Sprintf("arn:aws:iam::%s:role/%s", g.a.Contract.Account, role)
		}
		reqs = append(reqs, iam.Request{Action: "iam:PassRole", Resource: role, Context: ctxOf("iam:PassedToService", "glue.amazonaws.com")})
	}
	if err := g.a.authorize(g.principal, "Glue", "CreateCrawler", reqs...); err != nil {
		return nil, err
	}
	return g.next.CreateCrawler(ctx, in, optFns...)
}
