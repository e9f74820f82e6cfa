package main

import (
	"maps"
	"slices"
	"strings"

	"github.com/aws/aws-cdk-go/awscdk/v2/awsiam"
	"github.com/aws/aws-cdk-go/awscdk/v2/awslakeformation"
	"github.com/aws/jsii-runtime-go"
	"github.com/snaplake/snaplake/internal/deploy"
)

// addLakeFormation registers raw/ and grants the stack's principals what they use
// there, so that the grants function need not be a data lake admin.
func (x *Ingest) addLakeFormation() {
	account := x.stack.Account()
	rawArn := *x.bucket.BucketArn() + "/" + strings.TrimSuffix(deploy.RawPrefix, "/")
	// Lake Formation assumes this role to vend credentials for reads of raw/ by the
	// principals it grants SELECT. Read only: the stack writes raw/ with IAM.
	x.locationRole = x.serviceRole("IngestLocationRole", "snaplake: Lake Formation reads raw/ for the principals granted its tables", "lakeformation.amazonaws.com")
	x.locationRole.AddToPolicy(statement([]string{"s3:GetObject"}, x.objects(deploy.RawPrefix+"*"), x.objects(deploy.IngestCurrentPrefix+"*")))
	x.locationRole.AddToPolicy(x.listMatching(deploy.RawPrefix+"*", deploy.IngestCurrentPrefix+"*"))
	x.locationRole.AddToPolicy(statement([]string{"kms:Decrypt"}, *x.key.KeyArn()))
	x.suppress(x.locationRole, wildcards("Lake Formation reads the files under the registered locations raw/ and current/.", findingLakeObjects))
	x.location = awslakeformation.NewCfnResource(x.stack, jsii.String("IngestRawLocation"), &awslakeformation.CfnResourceProps{
		ResourceArn:          jsii.String(rawArn),
		RoleArn:              x.locationRole.RoleArn(),
		UseServiceLinkedRole: jsii.Bool(false),
	})
	x.location.Node().AddDependency(x.locationRole)
	// The current tables' generations, governed as raw/ is.
	currentArn := *x.bucket.BucketArn() + "/" + strings.TrimSuffix(deploy.IngestCurrentPrefix, "/")
	currentLocation := awslakeformation.NewCfnResource(x.stack, jsii.String("IngestCurrentLocation"), &awslakeformation.CfnResourceProps{
		ResourceArn:          jsii.String(currentArn),
		RoleArn:              x.locationRole.RoleArn(),
		UseServiceLinkedRole: jsii.Bool(false),
	})
	currentLocation.Node().AddDependency(x.locationRole)

	dbName := x.in.CatalogDatabase()
	database, tables := x.lakeDatabase(dbName), x.lakeTables(dbName)
	location := &awslakeformation.CfnPrincipalPermissions_ResourceProperty{
		DataLocation: &awslakeformation.CfnPrincipalPermissions_DataLocationResourceProperty{CatalogId: account, ResourceArn: jsii.String(rawArn)},
	}
	grant := func(id string, role awsiam.IRole, resource *awslakeformation.CfnPrincipalPermissions_ResourceProperty, perms, grantable []string) {
		p := x.lakeGrant(id, role.RoleArn(), resource, perms, grantable, x.db)
		if resource.DataLocation != nil {
			p.AddResourceDependency(x.location, jsii.String("the data location must be registered first"))
		}
	}
	all := []string{"ALL"}
	// The grants function: grant and revoke on the raw database and its tables, and
	// nowhere else.
	applyRole := x.fns[deploy.FnApplyGrants].Role()
	grant("IngestGrantsDatabasePermissions", applyRole, database, all, all)
	grant("IngestGrantsTablesPermissions", applyRole, tables, all, all)
	// ... and on the nightly snapshot databases and their companions, which the
	// same rules govern.
	for _, name := range slices.Sorted(maps.Keys(x.snapshots.Snapshots)) {
		db := x.snapshots.Snapshots[name]
		x.lakeGrant("IngestGrantsSnapshotDatabase-"+name, applyRole.RoleArn(), x.lakeDatabase(name), all, all, db)
		x.lakeGrant("IngestGrantsSnapshotTables-"+name, applyRole.RoleArn(), x.lakeTables(name), all, all, db)
	}
	// The crawler and the finish function create and change the raw tables (the
	// crawler the incremental ones, the finish function the fully reloaded ones);
	// a table pointing into the registered raw/ needs the data location permission.
	// A list, not a map: the grants are chained in the order they are created
	// (serializeLakeGrants), and a map's order would change the chain on every synth.
	for _, p := range []struct {
		id   string
		role awsiam.IRole
	}{{"IngestCrawler", x.crawlerRole}, {"IngestFinish", x.fns[deploy.FnFinishIngest].Role()}} {
		id, role := p.id, p.role
		grant(id+"DatabasePermissions", role, database, []string{"CREATE_TABLE", "ALTER", "DESCRIBE"}, nil)
		grant(id+"TablesPermissions", role, tables, all, nil)
		grant(id+"LocationPermissions", role, location, []string{"DATA_LOCATION_ACCESS"}, nil)
	}

	// The current database: the grants function grants and revokes there as in the
	// raw database (the config's access rules govern both); the finish function
	// writes the fully reloaded tables' entries (into raw/, whose location it
	// holds), the current function the incremental tables' (into current/).
	curName := x.in.CurrentDatabase()
	curDatabase, curTables := x.lakeDatabase(curName), x.lakeTables(curName)
	curLocation := &awslakeformation.CfnPrincipalPermissions_ResourceProperty{
		DataLocation: &awslakeformation.CfnPrincipalPermissions_DataLocationResourceProperty{CatalogId: account, ResourceArn: jsii.String(currentArn)},
	}
	curGrant := func(id string, role awsiam.IRole, resource *awslakeformation.CfnPrincipalPermissions_ResourceProperty, perms, grantable []string) {
		p := x.lakeGrant(id, role.RoleArn(), resource, perms, grantable, x.currentDB)
		if resource.DataLocation != nil {
			p.AddResourceDependency(currentLocation, jsii.String("the data location must be registered first"))
		}
	}
	curGrant("IngestGrantsCurrentDatabasePermissions", applyRole, curDatabase, all, all)
	curGrant("IngestGrantsCurrentTablesPermissions", applyRole, curTables, all, all)
	for _, p := range []struct {
		id       string
		role     awsiam.IRole
		location bool
	}{{"IngestFinishCurrent", x.fns[deploy.FnFinishIngest].Role(), false}, {"IngestCurrent", x.fns[deploy.FnIngestCurrent].Role(), true}} {
		curGrant(p.id+"DatabasePermissions", p.role, curDatabase, []string{"CREATE_TABLE", "ALTER", "DESCRIBE"}, nil)
		curGrant(p.id+"TablesPermissions", p.role, curTables, all, nil)
		if p.location {
			curGrant(p.id+"LocationPermissions", p.role, curLocation, []string{"DATA_LOCATION_ACCESS"}, nil)
		}
	}
}
