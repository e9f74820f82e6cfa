package main

import (
	"slices"
	"strings"

	"github.com/aws/aws-cdk-go/awscdk/v2"
	"github.com/aws/aws-cdk-go/awscdk/v2/awsathena"
	"github.com/aws/aws-cdk-go/awscdk/v2/awsglue"
	"github.com/aws/aws-cdk-go/awscdk/v2/awsiam"
	"github.com/aws/aws-cdk-go/awscdk/v2/awslakeformation"
	"github.com/aws/jsii-runtime-go"

	"github.com/snaplake/snaplake/internal/deploy"
)

// WorkGroupName is the Athena workgroup analysts query the lake with.
const WorkGroupName = "snaplake"

// addCatalog creates one Glue database and crawler per source database and returns
// the Glue database names.
func (x *Export) addCatalog() []string {
	keyArn := x.key.KeyArn()
	sec := x.glueSecurityConfiguration("GlueSecurity", x.name+"-snaplake")

	// No AWSGlueServiceRole: it grants glue:* and s3:ListBucket on "*". The
	// crawler gets the catalog, S3, KMS and log actions it uses, scoped below.
	role := x.serviceRole("CrawlerRole", "snaplake Glue crawlers: read data/<database>/ and update the catalog", "glue.amazonaws.com")
	x.tagRole(role, deploy.RoleCrawler)
	var dataPrefixes, objects []string
	for _, db := range x.cfg.Databases {
		dataPrefixes = append(dataPrefixes, deploy.DataPrefix+db+"/*")
		objects = append(objects, x.objects(deploy.DataPrefix+db+"/*"))
	}
	if x.catalogsAtRuntime() {
		// A crawler created at runtime (any database the night exports) runs as this
		// role too, so it reads every database folder of data/.
		dataPrefixes, objects = []string{deploy.DataPrefix + "*"}, []string{x.objects(deploy.DataPrefix + "*")}
	}
	role.AddToPolicy(statement([]string{"s3:GetObject"}, objects...))
	role.AddToPolicy(x.listMatching(dataPrefixes...))
	role.AddToPolicy(statement([]string{"kms:Decrypt", "kms:Encrypt", "kms:GenerateDataKey"}, *keyArn))
	// The catalog: this stack's Glue databases and their tables and partitions only.
	catalog := []string{x.arn("glue", "catalog")}
	for _, name := range x.snapshotDatabaseNames() {
		catalog = append(catalog, x.arn("glue", "database/"+name), x.arn("glue", "table/"+name+"/*"))
	}
	role.AddToPolicy(statement(crawlerCatalogActions, catalog...))
	// Reading its security configuration has no resource type: "*" only.
	role.AddToPolicy(statement([]string{"glue:GetSecurityConfiguration"}, "*"))
	// Crawler logs go to /aws-glue/crawlers-role/<role>-<security configuration>.
	role.AddToPolicy(statement([]string{"logs:CreateLogGroup", "logs:CreateLogStream", "logs:PutLogEvents"},
		x.arn("logs", "log-group:"+glueCrawlerLogGroupPrefix+"*"), x.arn("logs", "log-group:"+glueCrawlerLogGroupPrefix+"*:log-stream:*")))
	// The crawl wait hands the role back to Glue when it updates the crawler's targets
	// (and when it creates a crawler at runtime).
	x.fns[deploy.FnAwaitCallback].AddToRolePolicy(passRole(role, "glue.amazonaws.com"))
	if x.catalogsAtRuntime() {
		x.fns[deploy.FnAwaitCallback].AddEnvironment(jsii.String(deploy.EnvCrawlerRoleArn), role.RoleArn(), nil)
		x.fns[deploy.FnAwaitCallback].AddEnvironment(jsii.String(deploy.EnvCrawlerSecurityConfiguration), sec.Ref(), nil)
	}
	// The security configuration encrypts the crawler's log group, which Glue names
	// after the role and the configuration; associating the key needs this.
	role.AddToPolicy(statement([]string{"logs:AssociateKmsKey"}, x.arn("logs", "log-group:"+glueCrawlerLogGroupPrefix+"*")))
	crawlerFindings := []string{`regex:/^Resource::<Lake[A-Za-z0-9]+\.Arn>\/data\/.*\/\*$/g`, arnFinding("glue", `table\/.*\/\*`)}
	crawlerReason := "Crawlers read every file under their own database's data/<database>/ prefix and update that database's tables; Glue names the encrypted crawler log group after the role; glue:GetSecurityConfiguration has no resource type."
	if x.catalogsAtRuntime() {
		crawlerFindings = append(crawlerFindings, objectsUnder(deploy.DataPrefix), arnFinding("glue", `database\/.*\*`))
		crawlerReason = "Crawlers (the ones the crawl wait creates at runtime too) read every file under data/ and update the tables of this stack's Glue databases (named by its prefix); Glue names the encrypted crawler log group after the role; glue:GetSecurityConfiguration has no resource type."
	}
	x.suppress(role,
		wildcards(crawlerReason, append(crawlerFindings,
			"Resource::*",
			literalFinding("logs", "log-group:"+glueCrawlerLogGroupPrefix+"*"),
			literalFinding("logs", "log-group:"+glueCrawlerLogGroupPrefix+"*:log-stream:*"))...))

	x.SnapshotPrincipals = append(x.SnapshotPrincipals, *role.RoleArn(), *x.fns[deploy.FnLatest].Role().RoleArn())
	if x.governed {
		x.registerData()
	}
	var names []string
	for _, db := range x.cfg.Databases {
		name := x.cfg.GlueDatabaseName(db)
		names = append(names, name)
		gdb := awsglue.NewCfnDatabase(x.stack, jsii.String("GlueDatabase-"+strings.ToLower(db)), &awsglue.CfnDatabaseProps{
			CatalogId: x.stack.Account(),
			DatabaseInput: &awsglue.CfnDatabase_DatabaseInputProperty{
				Name:        jsii.String(name),
				Description: jsii.String(deploy.SnapshotDatabaseDescription(db)),
				// Whatever the account's Lake Formation default for new tables is:
				// see snapshotLakePermissions.
				CreateTableDefaultPermissions: x.newTablePermissions(),
			},
		})
		x.Snapshots[name] = gdb
		x.snapshotLakePermissions(gdb, name, role)
		x.addLatestDatabase(db, name)
		awsglue.NewCfnCrawler(x.stack, jsii.String("Crawler-"+strings.ToLower(db)), &awsglue.CfnCrawlerProps{
			Name:         jsii.String(deploy.CrawlerName(db)),
			Description:  jsii.String(deploy.CrawlerDescription(db)),
			Role:         role.RoleArn(),
			DatabaseName: gdb.Ref(),
			Targets: &awsglue.CfnCrawler_TargetsProperty{
				// Until the first night sets one include path per table folder, a run
				// by hand crawls nothing: with one table per include path, the whole
				// database folder would otherwise become one table.
				S3Targets: []*awsglue.CfnCrawler_S3TargetProperty{{
					Path:       jsii.String("s3://" + *x.bucket.BucketName() + "/" + deploy.DataPrefix + db + "/"),
					Exclusions: jsii.Strings("**"),
				}},
			},
			SchemaChangePolicy: &awsglue.CfnCrawler_SchemaChangePolicyProperty{
				UpdateBehavior: jsii.String(deploy.CrawlerUpdateBehavior),
				DeleteBehavior: jsii.String(deploy.CrawlerDeleteBehavior),
			},
			RecrawlPolicy:                &awsglue.CfnCrawler_RecrawlPolicyProperty{RecrawlBehavior: jsii.String(deploy.CrawlerRecrawlBehavior)},
			Configuration:                jsii.String(deploy.CrawlerConfiguration),
			CrawlerSecurityConfiguration: sec.Ref(),
			// No schedule: the state machine starts the crawler after relocation.
		})
	}
	return names
}

// addLatestFunction is the function that, after the night's crawls, points each
// <snapshot database>_latest table at its newest snapshot_date folder. Its catalog
// permissions are per database (addLatestDatabase).
func (x *Export) addLatestFunction() {
	fn := x.newFunction(functionSpec{
		name: deploy.FnLatest, id: "Latest",
		description: "Points each <snapshot database>_latest table at its snapshot table's newest snapshot_date folder",
		timeout:     awscdk.Duration_Minutes(jsii.Number(5)), memoryMB: 256,
		env: map[string]string{deploy.EnvGlueDatabasePrefix: x.cfg.GlueDatabasePrefix},
	}, nil)
	findings := []string{arnFinding("glue", `table\/.*\/\*`)}
	if x.catalogsAtRuntime() {
		// A database cataloged at runtime has its _latest companion the same night.
		x.latestCatalogAccess(x.cfg.GlueDatabasePrefix+"*", deploy.LatestDatabaseName(x.cfg.GlueDatabasePrefix+"*"))
		findings = append(findings, arnFinding("glue", `database\/.*\*`))
	}
	x.suppress(fn.Role(), wildcards("The latest function reads every table of the snapshot databases and writes every table of their _latest companions.", findings...))
}

// latestCatalogAccess lets the latest function read the snapshot database name
// and write its companion latest (names or name patterns). Glue authorizes a table
// call on the catalog, the database and the table.
func (x *Export) latestCatalogAccess(name, latest string) {
	fn := x.fns[deploy.FnLatest]
	fn.AddToRolePolicy(statement([]string{"glue:GetTables", "glue:GetPartitions"},
		x.arn("glue", "catalog"), x.arn("glue", "database/"+name), x.arn("glue", "table/"+name+"/*")))
	fn.AddToRolePolicy(statement([]string{"glue:GetTables", "glue:CreateTable", "glue:UpdateTable", "glue:DeleteTable"},
		x.arn("glue", "catalog"), x.arn("glue", "database/"+latest), x.arn("glue", "table/"+latest+"/*")))
}

// addLatestDatabase creates the companion database <name>_latest of the snapshot
// database name, whose tables the latest function keeps at each snapshot table's
// newest snapshot_date folder (internal/export/latest), and lets that function
// read the snapshot database and write the companion.
func (x *Export) addLatestDatabase(db, name string) {
	latest := deploy.LatestDatabaseName(name)
	gdb := awsglue.NewCfnDatabase(x.stack, jsii.String("GlueLatestDatabase-"+strings.ToLower(db)), &awsglue.CfnDatabaseProps{
		CatalogId: x.stack.Account(),
		DatabaseInput: &awsglue.CfnDatabase_DatabaseInputProperty{
			Name:                          jsii.String(latest),
			Description:                   jsii.String(deploy.LatestDatabaseDescription(db, name)),
			CreateTableDefaultPermissions: x.newTablePermissions(),
		},
	})
	x.Snapshots[latest] = gdb
	fn := x.fns[deploy.FnLatest]
	if !x.catalogsAtRuntime() { // otherwise addLatestFunction's statements cover every database
		x.latestCatalogAccess(name, latest)
	}
	x.latestLakePermissions(gdb, name, latest, fn.Role())
}

// latestLakePermissions gives the _latest database the snapshot database's access
// model (see snapshotLakePermissions), and the latest function what it uses in
// Lake Formation terms, so that it keeps working once an administrator puts the
// databases under Lake Formation.
func (x *Export) latestLakePermissions(db awsglue.CfnDatabase, snapshotDB, name string, fn awsiam.IRole) {
	grant := func(id string, principal *string, resource *awslakeformation.CfnPrincipalPermissions_ResourceProperty, perms ...string) {
		x.lakeGrant(id+"-"+name, principal, resource, perms, nil, db)
	}
	if !x.governed {
		grant("LatestIAMAllowedPrincipals", jsii.String(deploy.IAMAllowedPrincipals), x.lakeDatabase(name), "ALL")
	}
	grant("LatestFunctionDatabase", fn.RoleArn(), x.lakeDatabase(name), "CREATE_TABLE", "ALTER", "DESCRIBE")
	grant("LatestFunctionTables", fn.RoleArn(), x.lakeTables(name), "ALL")
	// It reads the snapshot tables' partitions (GetPartitions). The catalog returns a
	// caller only the metadata its Lake Formation permissions cover, and no page
	// says DESCRIBE alone covers partitions; SELECT gives no data to a role without
	// lakeformation:GetDataAccess and S3 access to data/, which this one has not.
	grant("LatestFunctionSnapshotTables", fn.RoleArn(), x.lakeTables(snapshotDB), "SELECT", "DESCRIBE")
	if x.governed {
		// A table pointing into a registered location needs the location permission.
		x.locationGrant("LatestFunctionLocation-"+name, fn.RoleArn(), db)
	}
}

// newTablePermissions is the database's default for the tables created in it,
// overriding the account's: ALL to IAM_ALLOWED_PRINCIPALS while IAM governs the
// snapshots, none when Lake Formation does (an empty list: "Lake Formation
// permissions only"), so that a new table is visible to no one until the rules
// grant it.
func (x *Export) newTablePermissions() []any {
	if x.governed {
		return []any{}
	}
	return []any{&awsglue.CfnDatabase_PrincipalPrivilegesProperty{
		Principal:   &awsglue.CfnDatabase_DataLakePrincipalProperty{DataLakePrincipalIdentifier: jsii.String(deploy.IAMAllowedPrincipals)},
		Permissions: jsii.Strings("ALL"),
	}}
}

// registerData registers data/ with Lake Formation, as the ingestion registers
// raw/: Athena then reads the snapshot tables with credentials Lake Formation vends
// (for the tables and columns it granted the caller), not with the caller's own S3
// access. Read only: relocation writes data/ with IAM, which registration leaves
// as it is.
func (x *Export) registerData() {
	dataArn := *x.bucket.BucketArn() + "/" + strings.TrimSuffix(deploy.DataPrefix, "/")
	role := x.serviceRole("SnapshotLocationRole", "snaplake: Lake Formation reads data/ for the principals granted the snapshot tables", "lakeformation.amazonaws.com")
	role.AddToPolicy(statement([]string{"s3:GetObject"}, x.objects(deploy.DataPrefix+"*")))
	role.AddToPolicy(x.listMatching(deploy.DataPrefix + "*"))
	role.AddToPolicy(statement([]string{"kms:Decrypt"}, *x.key.KeyArn()))
	x.suppress(role, wildcards("Lake Formation reads the files under the registered location data/.", objectsUnder(deploy.DataPrefix)))
	x.dataLocation = awslakeformation.NewCfnResource(x.stack, jsii.String("SnapshotDataLocation"), &awslakeformation.CfnResourceProps{
		ResourceArn:          jsii.String(dataArn),
		RoleArn:              role.RoleArn(),
		UseServiceLinkedRole: jsii.Bool(false),
	})
	x.dataLocation.Node().AddDependency(role)
}

// locationGrant gives principal DATA_LOCATION_ACCESS on the registered data/.
func (x *Export) locationGrant(id string, principal *string, db awsglue.CfnDatabase) {
	dataArn := *x.bucket.BucketArn() + "/" + strings.TrimSuffix(deploy.DataPrefix, "/")
	p := x.lakeGrant(id, principal, &awslakeformation.CfnPrincipalPermissions_ResourceProperty{
		DataLocation: &awslakeformation.CfnPrincipalPermissions_DataLocationResourceProperty{CatalogId: x.stack.Account(), ResourceArn: jsii.String(dataArn)},
	}, []string{"DATA_LOCATION_ACCESS"}, nil, db)
	p.AddResourceDependency(x.dataLocation, jsii.String("the data location must be registered first"))
}

// catalogsAtRuntime says whether the crawl wait creates the Glue databases and the
// crawler of a database the night exports that snaplake:databases does not list
// (snaplake.yaml's export section), so it is queryable the night it first appears.
// Only with a Glue database prefix: IAM can then be scoped to this stack's
// databases by name (without one, "database/*" would be every database of the
// account). Otherwise such a database is relocated and reported NOT_CATALOGED
// until it is added to snaplake:databases and deployed.
//
// Where Lake Formation governs the snapshot databases, the new database also needs
// the Lake Formation permissions the stack gives its roles on a deployed one
// (deploy.SnapshotLakeGrants), which its creator cannot give (a database creator
// "can grant other principals in the same AWS account permission to create tables
// in the database", no more): the crawl wait's role is made a data lake
// administrator (governRuntimeCatalog).
func (x *Export) catalogsAtRuntime() bool { return x.cfg.GlueDatabasePrefix != "" }

// snapshotDatabaseNames are the names of the stack's snapshot databases (not their
// companions), in snaplake:databases' order, for IAM resources; when databases are
// cataloged at runtime, the one name pattern that covers them all, companions
// included.
func (x *Export) snapshotDatabaseNames() []string {
	if x.catalogsAtRuntime() {
		return []string{x.cfg.GlueDatabasePrefix + "*"}
	}
	var out []string
	for _, db := range x.cfg.Databases {
		out = append(out, x.cfg.GlueDatabaseName(db))
	}
	return out
}

// snapshotDatabases are the snapshot databases (not their companions), sorted.
func (x *Export) snapshotDatabases() []string {
	var out []string
	for _, db := range x.cfg.Databases {
		out = append(out, x.cfg.GlueDatabaseName(db))
	}
	slices.Sort(out)
	return out
}

// snapshotLakePermissions makes the access model of a nightly snapshot database
// explicit instead of inheriting the account's Lake Formation defaults ("Use only
// IAM access control" for new databases and tables, until an administrator turns it
// off; then a new database and its new tables grant nothing, and the crawler and the
// analysts are denied).
//
// Governed (the stack deploys the grants function): Lake Formation governs these
// databases, as it governs the ingested ones, with the config's access rules. data/
// is registered with Lake Formation (registerData), no IAM_ALLOWED_PRINCIPALS grant
// is made and new tables grant nothing by default (CreateTableDefaultPermissions
// empty), so what an analyst sees is what the grants function granted. The crawler
// and the latest function hold the permissions they use, data/'s location included.
//
// Otherwise IAM governs them: their data/ is not registered with Lake Formation (so
// S3 access is IAM's anyway) and the analyst policy grants the reads. That is
// stated by ALL to IAM_ALLOWED_PRINCIPALS on the database, as the IAM-only default
// would have granted, and as the default of its new tables (CreateTableDefaultPermissions
// on the database overrides the account's). The crawler, the stack's own principal,
// also holds Lake Formation permissions of its own, so the nightly keeps working when
// an administrator puts a database under Lake Formation by revoking
// IAM_ALLOWED_PRINCIPALS (analysts then need that administrator's grants).
//
// Granting needs a data lake administrator: CloudFormation's execution role must be
// one (snaplake doctor checks it).
func (x *Export) snapshotLakePermissions(db awsglue.CfnDatabase, name string, crawler awsiam.IRole) {
	database, tables := x.lakeDatabase(name), x.lakeTables(name)
	grant := func(id string, principal *string, resource *awslakeformation.CfnPrincipalPermissions_ResourceProperty, perms ...string) {
		x.lakeGrant(id+"-"+name, principal, resource, perms, nil, db)
	}
	if !x.governed {
		grant("SnapshotIAMAllowedPrincipals", jsii.String(deploy.IAMAllowedPrincipals), database, "ALL")
	}
	grant("SnapshotCrawlerDatabase", crawler.RoleArn(), database, "CREATE_TABLE", "ALTER", "DESCRIBE")
	grant("SnapshotCrawlerTables", crawler.RoleArn(), tables, "ALL")
	if x.governed {
		x.locationGrant("SnapshotCrawlerLocation-"+name, crawler.RoleArn(), db)
	}
}

func (x *Export) addAthena() string {
	wg := awsathena.NewCfnWorkGroup(x.stack, jsii.String("WorkGroup"), &awsathena.CfnWorkGroupProps{
		Name:        jsii.String(WorkGroupName),
		Description: jsii.String("snaplake: query the nightly RDS snapshots"),
		State:       jsii.String("ENABLED"),
		WorkGroupConfiguration: &awsathena.CfnWorkGroup_WorkGroupConfigurationProperty{
			EnforceWorkGroupConfiguration:   jsii.Bool(true),
			PublishCloudWatchMetricsEnabled: jsii.Bool(true),
			EngineVersion:                   &awsathena.CfnWorkGroup_EngineVersionProperty{SelectedEngineVersion: jsii.String("Athena engine version 3")},
			ResultConfiguration: &awsathena.CfnWorkGroup_ResultConfigurationProperty{
				OutputLocation: jsii.String("s3://" + *x.bucket.BucketName() + "/" + deploy.AthenaResultsPrefix),
				EncryptionConfiguration: &awsathena.CfnWorkGroup_EncryptionConfigurationProperty{
					EncryptionOption: jsii.String("SSE_KMS"),
					KmsKey:           x.key.KeyArn(),
				},
			},
		},
	})
	return *wg.Ref()
}

// GrantRuntimeCatalogs lets the crawl wait give a database it catalogs at runtime
// the Lake Formation permissions of a deployed one, where Lake Formation governs
// the snapshot databases: grants is the grants function's role (the ingestion's),
// which holds the grant options the access rules are applied with.
//
// The crawl wait's role becomes a data lake administrator: an
// AWS::LakeFormation::DataLakeSettings with MutationType APPEND adds it to the
// account's administrators and keeps the others ("APPEND": "adding new values to
// the current settings"). Its IAM allows lakeformation:GrantPermissions only, and
// its code grants exactly deploy.SnapshotLakeGrants on the databases it creates.
func (x *Export) GrantRuntimeCatalogs(grants awsiam.IRole) {
	if !x.catalogsAtRuntime() || !x.governed {
		return
	}
	await := x.fns[deploy.FnAwaitCallback]
	await.AddEnvironment(jsii.String(deploy.EnvLatestRoleArn), x.fns[deploy.FnLatest].Role().RoleArn(), nil)
	await.AddEnvironment(jsii.String(deploy.EnvGrantsRoleArn), grants.RoleArn(), nil)
	// No resource type in the Service Authorization Reference: only "*"; Lake
	// Formation decides what a grant may cover. Granting by name also needs
	// glue:GetDatabase on the database ("IAM permissions required to grant or revoke
	// Lake Formation permissions"); the revoke takes away the account's default
	// for new databases (ALL to IAM_ALLOWED_PRINCIPALS).
	await.AddToRolePolicy(statement([]string{"lakeformation:GrantPermissions", "lakeformation:RevokePermissions"}, "*"))
	await.AddToRolePolicy(statement([]string{"glue:GetDatabase"}, x.arn("glue", "catalog"), x.arn("glue", "database/"+x.cfg.GlueDatabasePrefix+"*")))
	// As an administrator it could make others administrators: IAM denies it the call.
	await.AddToRolePolicy(awsiam.NewPolicyStatement(&awsiam.PolicyStatementProps{
		Effect: awsiam.Effect_DENY, Actions: jsii.Strings("lakeformation:PutDataLakeSettings"), Resources: jsii.Strings("*"),
	}))
	x.suppress(await.Role(), wildcards("Lake Formation's grant and revoke actions have no resource type (only \"*\"): the crawl wait grants the stack's roles their permissions on a database it catalogs at runtime, named by this stack's prefix.", findingStarResource))
	admin := awslakeformation.NewCfnDataLakeSettings(x.stack, jsii.String("RuntimeCatalogLakeAdmin"), &awslakeformation.CfnDataLakeSettingsProps{
		MutationType: jsii.String("APPEND"),
		Admins: []any{&awslakeformation.CfnDataLakeSettings_DataLakePrincipalProperty{
			DataLakePrincipalIdentifier: await.Role().RoleArn(),
		}},
	})
	admin.Node().AddDependency(await.Role())
	x.output(deploy.OutputRuntimeCatalogAdministrator, *await.Role().RoleArn(), "The crawl wait's role, a Lake Formation data lake administrator: it grants the stack's roles their permissions on a database cataloged at runtime")
}
