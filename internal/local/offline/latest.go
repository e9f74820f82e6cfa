package offline

import (
	"context"
	"fmt"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/glue"
	gluetypes "github.com/aws/aws-sdk-go-v2/service/glue/types"

	"github.com/snaplake/snaplake/internal/export/latest"
	"github.com/snaplake/snaplake/internal/local/contract"
	localglue "github.com/snaplake/snaplake/internal/local/glue"
)

// CreateDatabases creates the Glue databases the stack creates (its
// AWS::Glue::Database resources) in the offline catalog, as a deploy does.
func CreateDatabases(c *contract.Contract, cat *localglue.Catalog) error {
	for _, db := range c.GlueDatabases {
		if err := cat.CreateDatabase(db); err != nil {
			return fmt.Errorf("create Glue database %s: %w", db, err)
		}
	}
	return nil
}

// guardedLatest is the Data Catalog as the latest function calls it. Glue authorizes
// a table call on the catalog, the database and the table(s) (GetTables on every
// table of the database).
type guardedLatest struct {
	guardedCatalog
	next latest.Catalog
}

// LatestCatalog returns the catalog stand-in as principal may call it.
func (a *Account) LatestCatalog(principal string, next latest.Catalog) latest.Catalog {
	return guardedLatest{guardedCatalog: guardedCatalog{a: a, principal: principal}, next: next}
}

func (g guardedLatest) GetTables(ctx context.Context, in *glue.GetTablesInput, optFns ...func(*glue.Options)) (*glue.GetTablesOutput, error) {
	if err := g.a.authorize(g.principal, "Glue", "GetTables", g.reqs("glue:GetTables", aws.ToString(in.DatabaseName), "*")...); err != nil {
		return nil, err
	}
	return g.next.GetTables(ctx, in, optFns...)
}

func (g guardedLatest) GetPartitions(ctx context.Context, in *glue.GetPartitionsInput, optFns ...func(*glue.Options)) (*glue.GetPartitionsOutput, error) {
	if err := g.a.authorize(g.principal, "Glue", "GetPartitions", g.reqs("glue:GetPartitions", aws.ToString(in.DatabaseName), aws.ToString(in.TableName))...); err != nil {
		return nil, err
	}
	return g.next.GetPartitions(ctx, in, optFns...)
}

func (g guardedLatest) CreateTable(ctx context.Context, in *glue.CreateTableInput, optFns ...func(*glue.Options)) (*glue.CreateTableOutput, error) {
	if err := g.a.authorize(g.principal, "Glue", "CreateTable", g.reqs("glue:CreateTable", aws.ToString(in.DatabaseName), tableName(in.TableInput))...); err != nil {
		return nil, err
	}
	return g.next.CreateTable(ctx, in, optFns...)
}

func (g guardedLatest) UpdateTable(ctx context.Context, in *glue.UpdateTableInput, optFns ...func(*glue.Options)) (*glue.UpdateTableOutput, error) {
	if err := g.a.authorize(g.principal, "Glue", "UpdateTable", g.reqs("glue:UpdateTable", aws.ToString(in.DatabaseName), tableName(in.TableInput))...); err != nil {
		return nil, err
	}
	return g.next.UpdateTable(ctx, in, optFns...)
}

func (g guardedLatest) DeleteTable(ctx context.Context, in *glue.DeleteTableInput, optFns ...func(*glue.Options)) (*glue.DeleteTableOutput, error) {
	if err := g.a.authorize(g.principal, "Glue", "DeleteTable", g.reqs("glue:DeleteTable", aws.ToString(in.DatabaseName), aws.ToString(in.Name))...); err != nil {
		return nil, err
	}
	return g.next.DeleteTable(ctx, in, optFns...)
}

func tableName(in *gluetypes.TableInput) string {
	if in == nil {
		return ""
	}
	return aws.ToString(in.Name)
}
