package offline

import (
	"context"
	"fmt"
	"strings"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/glue"
	"github.com/aws/aws-sdk-go-v2/service/lakeformation"
	lftypes "github.com/aws/aws-sdk-go-v2/service/lakeformation/types"
	"github.com/aws/aws-sdk-go-v2/service/scheduler"
	"github.com/aws/aws-sdk-go-v2/service/secretsmanager"
	smtypes "github.com/aws/aws-sdk-go-v2/service/secretsmanager/types"

	"github.com/snaplake/snaplake/internal/export/callback"
	"github.com/snaplake/snaplake/internal/ingest/grants"
	ingestrun "github.com/snaplake/snaplake/internal/ingest/run"
	"github.com/snaplake/snaplake/internal/ingest/schedules"
	"github.com/snaplake/snaplake/internal/local/iam"
	lflocal "github.com/snaplake/snaplake/internal/local/lakeformation"
)

// Secret is the offline Secrets Manager's one secret: the source's credentials.
type Secret struct {
	Arn, Value string
}

type guardedSecrets struct {
	a         *Account
	principal string
	secret    Secret
}

// Secrets returns the secret stand-in as principal may call it.
func (a *Account) Secrets(principal string, s Secret) ingestrun.SecretsAPI {
	return guardedSecrets{a: a, principal: principal, secret: s}
}

func (g guardedSecrets) GetSecretValue(ctx context.Context, in *secretsmanager.GetSecretValueInput, _ ...func(*secretsmanager.Options)) (*secretsmanager.GetSecretValueOutput, error) {
	id := aws.ToString(in.SecretId)
	if err := g.a.authorize(g.principal, "Secrets Manager", "GetSecretValue", iam.Request{Action: "secretsmanager:GetSecretValue", Resource: id}); err != nil {
		return nil, err
	}
	if id != g.secret.Arn {
		return nil, &smtypes.ResourceNotFoundException{Message: aws.String("Secrets Manager can't find the specified secret.")}
	}
	return &secretsmanager.GetSecretValueOutput{ARN: aws.String(id), SecretString: aws.String(g.secret.Value)}, nil
}

// CatalogTables is the Glue catalog's table API.
type CatalogTables interface {
	ingestrun.CatalogAPI
}

type guardedCatalog struct {
	a         *Account
	principal string
	next      ingestrun.CatalogAPI
}

// Catalog returns the catalog stand-in as principal may call it. Glue authorizes a
// table call on the catalog, the database and the table.
func (a *Account) Catalog(principal string, next ingestrun.CatalogAPI) ingestrun.CatalogAPI {
	return guardedCatalog{a: a, principal: principal, next: next}
}

func (g guardedCatalog) reqs(action, db, table string) []iam.Request {
	return []iam.Request{
		{Action: action, Resource: g.a.arn("glue", "catalog")},
		{Action: action, Resource: g.a.arn("glue", "database/"+db)},
		{Action: action, Resource: g.a.arn("glue", "table/"+db+"/"+table)},
	}
}

func (g guardedCatalog) GetTable(ctx context.Context, in *glue.GetTableInput, optFns ...func(*glue.Options)) (*glue.GetTableOutput, error) {
	if err := g.a.authorize(g.principal, "Glue", "GetTable", g.reqs("glue:GetTable", aws.ToString(in.DatabaseName), aws.ToString(in.Name))...); err != nil {
		return nil, err
	}
	return g.next.GetTable(ctx, in, optFns...)
}

func (g guardedCatalog) CreateTable(ctx context.Context, in *glue.CreateTableInput, optFns ...func(*glue.Options)) (*glue.CreateTableOutput, error) {
	name := ""
	if in.TableInput != nil {
		name = aws.ToString(in.TableInput.Name)
	}
	if err := g.a.authorize(g.principal, "Glue", "CreateTable", g.reqs("glue:CreateTable", aws.ToString(in.DatabaseName), name)...); err != nil {
		return nil, err
	}
	return g.next.CreateTable(ctx, in, optFns...)
}

func (g guardedCatalog) UpdateTable(ctx context.Context, in *glue.UpdateTableInput, optFns ...func(*glue.Options)) (*glue.UpdateTableOutput, error) {
	name := ""
	if in.TableInput != nil {
		name = aws.ToString(in.TableInput.Name)
	}
	if err := g.a.authorize(g.principal, "Glue", "UpdateTable", g.reqs("glue:UpdateTable", aws.ToString(in.DatabaseName), name)...); err != nil {
		return nil, err
	}
	return g.next.UpdateTable(ctx, in, optFns...)
}

type guardedLF struct {
	a         *Account
	principal string
	next      *lflocal.Client
}

// LakeFormation returns the Lake Formation stand-in as principal may call it: IAM
// allows the API call (Lake Formation actions have no resource type), then Lake
// Formation's own permissions decide, for the role the principal runs as.
func (a *Account) LakeFormation(principal string, lf *lflocal.Service) grants.LakeFormation {
	arn := ""
	if fn, ok := a.Contract.Functions[principal]; ok {
		arn = fn.Role.Arn
	} else if r, ok := a.Contract.Roles[principal]; ok {
		arn = r.Arn
	}
	return guardedLF{a: a, principal: principal, next: lf.AsPrincipal(arn)}
}

// LakeGrants is LakeFormation for a caller that grants one permission at a time
// (GrantPermissions).
func (a *Account) LakeGrants(principal string, lf *lflocal.Service) callback.LakeGranter {
	return a.LakeFormation(principal, lf).(guardedLF)
}

func (g guardedLF) GrantPermissions(ctx context.Context, in *lakeformation.GrantPermissionsInput, optFns ...func(*lakeformation.Options)) (*lakeformation.GrantPermissionsOutput, error) {
	if err := g.a.authorize(g.principal, "LakeFormation", "GrantPermissions", g.namedResource("lakeformation:GrantPermissions", in.Resource)...); err != nil {
		return nil, err
	}
	return g.next.GrantPermissions(ctx, in, optFns...)
}

func (g guardedLF) RevokePermissions(ctx context.Context, in *lakeformation.RevokePermissionsInput, optFns ...func(*lakeformation.Options)) (*lakeformation.RevokePermissionsOutput, error) {
	if err := g.a.authorize(g.principal, "LakeFormation", "RevokePermissions", g.namedResource("lakeformation:RevokePermissions", in.Resource)...); err != nil {
		return nil, err
	}
	return g.next.RevokePermissions(ctx, in, optFns...)
}

// namedResource is what IAM must allow to grant or revoke on r by name: the Lake
// Formation action, and "glue:GetTable or glue:GetDatabase for a table or database
// that you're granting permissions using the named resource method" (Lake
// Formation developer guide, "IAM permissions required to grant or revoke Lake
// Formation permissions"): GetTable for one table, GetDatabase for a database or
// all of its tables.
func (g guardedLF) namedResource(action string, r *lftypes.Resource) []iam.Request {
	reqs := []iam.Request{{Action: action, Resource: "*"}}
	glueReq := func(a, resource string) iam.Request {
		return iam.Request{Action: a, Resource: g.a.arn("glue", resource)}
	}
	switch {
	case r == nil:
	case r.Database != nil:
		db := aws.ToString(r.Database.Name)
		reqs = append(reqs, glueReq("glue:GetDatabase", "catalog"), glueReq("glue:GetDatabase", "database/"+db))
	case r.Table != nil && r.Table.TableWildcard != nil:
		db := aws.ToString(r.Table.DatabaseName)
		reqs = append(reqs, glueReq("glue:GetDatabase", "catalog"), glueReq("glue:GetDatabase", "database/"+db))
	case r.Table != nil:
		db, t := aws.ToString(r.Table.DatabaseName), aws.ToString(r.Table.Name)
		reqs = append(reqs, glueReq("glue:GetTable", "catalog"), glueReq("glue:GetTable", "database/"+db), glueReq("glue:GetTable", "table/"+db+"/"+t))
	}
	return reqs
}

func (g guardedLF) ListPermissions(ctx context.Context, in *lakeformation.ListPermissionsInput, optFns ...func(*lakeformation.Options)) (*lakeformation.ListPermissionsOutput, error) {
	if err := g.a.authorize(g.principal, "LakeFormation", "ListPermissions", iam.Request{Action: "lakeformation:ListPermissions", Resource: "*"}); err != nil {
		return nil, err
	}
	return g.next.ListPermissions(ctx, in, optFns...)
}

func (g guardedLF) GetDataLakeSettings(ctx context.Context, in *lakeformation.GetDataLakeSettingsInput, optFns ...func(*lakeformation.Options)) (*lakeformation.GetDataLakeSettingsOutput, error) {
	if err := g.a.authorize(g.principal, "LakeFormation", "GetDataLakeSettings", iam.Request{Action: "lakeformation:GetDataLakeSettings", Resource: "*"}); err != nil {
		return nil, err
	}
	return g.next.GetDataLakeSettings(ctx, in, optFns...)
}

func (g guardedLF) BatchGrantPermissions(ctx context.Context, in *lakeformation.BatchGrantPermissionsInput, optFns ...func(*lakeformation.Options)) (*lakeformation.BatchGrantPermissionsOutput, error) {
	if err := g.a.authorize(g.principal, "LakeFormation", "BatchGrantPermissions", iam.Request{Action: "lakeformation:BatchGrantPermissions", Resource: "*"}); err != nil {
		return nil, err
	}
	return g.next.BatchGrantPermissions(ctx, in, optFns...)
}

func (g guardedLF) BatchRevokePermissions(ctx context.Context, in *lakeformation.BatchRevokePermissionsInput, optFns ...func(*lakeformation.Options)) (*lakeformation.BatchRevokePermissionsOutput, error) {
	if err := g.a.authorize(g.principal, "LakeFormation", "BatchRevokePermissions", iam.Request{Action: "lakeformation:BatchRevokePermissions", Resource: "*"}); err != nil {
		return nil, err
	}
	return g.next.BatchRevokePermissions(ctx, in, optFns...)
}

type guardedScheduler struct {
	a         *Account
	principal string
	next      schedules.API
}

// Scheduler returns the Scheduler stand-in as principal may call it.
func (a *Account) Scheduler(principal string, next schedules.API) schedules.API {
	return guardedScheduler{a: a, principal: principal, next: next}
}

func (g guardedScheduler) schedule(group, name *string) string {
	gr := aws.ToString(group)
	if gr == "" {
		gr = "default"
	}
	return g.a.arn("scheduler", "schedule/"+gr+"/"+aws.ToString(name))
}

func (g guardedScheduler) GetSchedule(ctx context.Context, in *scheduler.GetScheduleInput, optFns ...func(*scheduler.Options)) (*scheduler.GetScheduleOutput, error) {
	if err := g.a.authorize(g.principal, "Scheduler", "GetSchedule", iam.Request{Action: "scheduler:GetSchedule", Resource: g.schedule(in.GroupName, in.Name)}); err != nil {
		return nil, err
	}
	return g.next.GetSchedule(ctx, in, optFns...)
}

func (g guardedScheduler) UpdateSchedule(ctx context.Context, in *scheduler.UpdateScheduleInput, optFns ...func(*scheduler.Options)) (*scheduler.UpdateScheduleOutput, error) {
	reqs := []iam.Request{{Action: "scheduler:UpdateSchedule", Resource: g.schedule(in.GroupName, in.Name)}}
	if in.Target != nil {
		// The schedule's role is passed to Scheduler with the update.
		role := aws.ToString(in.Target.RoleArn)
		if !strings.HasPrefix(role, "arn:") {
			role = fmt.Sprintf("arn:aws:iam::%s:role/%s", g.a.Contract.Account, role)
		}
		reqs = append(reqs, iam.Request{Action: "iam:PassRole", Resource: role, Context: ctxOf("iam:PassedToService", "scheduler.amazonaws.com")})
	}
	if err := g.a.authorize(g.principal, "Scheduler", "UpdateSchedule", reqs...); err != nil {
		return nil, err
	}
	return g.next.UpdateSchedule(ctx, in, optFns...)
}

func (g guardedCatalog) BatchDeletePartition(ctx context.Context, in *glue.BatchDeletePartitionInput, optFns ...func(*glue.Options)) (*glue.BatchDeletePartitionOutput, error) {
	if err := g.a.authorize(g.principal, "Glue", "BatchDeletePartition", g.reqs("glue:BatchDeletePartition", aws.ToString(in.DatabaseName), aws.ToString(in.TableName))...); err != nil {
		return nil, err
	}
	return g.next.BatchDeletePartition(ctx, in, optFns...)
}
