package main

import (
	"github.com/aws/aws-cdk-go/awscdk/v2"
	"github.com/aws/aws-cdk-go/awscdk/v2/awsglue"
	"github.com/aws/aws-cdk-go/awscdk/v2/awslakeformation"
	"github.com/aws/constructs-go/constructs/v10"
	"github.com/aws/jsii-runtime-go"
)

// lakeDatabase is the Lake Formation resource of a Glue database of this account.
func (b *Base) lakeDatabase(name string) *awslakeformation.CfnPrincipalPermissions_ResourceProperty {
	return &awslakeformation.CfnPrincipalPermissions_ResourceProperty{
		Database: &awslakeformation.CfnPrincipalPermissions_DatabaseResourceProperty{CatalogId: b.stack.Account(), Name: jsii.String(name)},
	}
}

// lakeTables is the Lake Formation resource of every table of a Glue database.
func (b *Base) lakeTables(database string) *awslakeformation.CfnPrincipalPermissions_ResourceProperty {
	return &awslakeformation.CfnPrincipalPermissions_ResourceProperty{
		Table: &awslakeformation.CfnPrincipalPermissions_TableResourceProperty{CatalogId: b.stack.Account(), DatabaseName: jsii.String(database), TableWildcard: map[string]any{}},
	}
}

// lakeGrant grants principal the permissions on resource (grantable: with the grant
// option), once db, the database the grant is about, exists. The grants are
// chained in the order lakeGrant creates them (serializeLakeGrants).
func (b *Base) lakeGrant(id string, principal *string, resource *awslakeformation.CfnPrincipalPermissions_ResourceProperty, perms, grantable []string, db awsglue.CfnDatabase) awslakeformation.CfnPrincipalPermissions {
	p := awslakeformation.NewCfnPrincipalPermissions(b.stack, jsii.String(id), &awslakeformation.CfnPrincipalPermissionsProps{
		Catalog:                    b.stack.Account(),
		Principal:                  &awslakeformation.CfnPrincipalPermissions_DataLakePrincipalProperty{DataLakePrincipalIdentifier: principal},
		Resource:                   resource,
		Permissions:                jsii.Strings(perms...),
		PermissionsWithGrantOption: jsii.Strings(grantable...),
	})
	p.AddResourceDependency(db, jsii.String("the grant is on the database"))
	return p
}

// serializeLakeGrants makes CloudFormation create the stack's Lake Formation grants one
// after another: AWS::LakeFormation::PrincipalPermissions created in parallel can fail
// with AlreadyExists (aws-cloudformation/cloudformation-coverage-roadmap#2500), and a
// failed first deploy rolls the whole stack back. A handful of grants created in
// sequence costs seconds. The chain follows the order the grants were created in.
func serializeLakeGrants(stack awscdk.Stack) {
	var previous awscdk.CfnResource
	for _, c := range *stack.Node().FindAll(constructs.ConstructOrder_PREORDER) {
		r, ok := c.(awscdk.CfnResource)
		if !ok || *r.CfnResourceType() != "AWS::LakeFormation::PrincipalPermissions" {
			continue
		}
		if previous != nil {
			r.AddDependency(previous)
		}
		previous = r
	}
}
