package main

import (
	"strconv"
	"strings"
	"time"

	"github.com/aws/aws-cdk-go/awscdk/v2"
	"github.com/aws/aws-cdk-go/awscdk/v2/awsglue"
	"github.com/aws/aws-cdk-go/awscdk/v2/awsiam"
	"github.com/aws/aws-cdk-go/awscdk/v2/awslakeformation"
	"github.com/aws/aws-cdk-go/awscdk/v2/awslambda"
	"github.com/aws/aws-cdk-go/awscdk/v2/awsstepfunctions"
	"github.com/aws/jsii-runtime-go"

	"github.com/snaplake/snaplake/internal/deploy"
	"github.com/snaplake/snaplake/statemachines"
)

// Archive is retention archiving: the plan and table functions (which reach the
// source MySQL, in its VPC when configured, as the archiving user of a Secrets
// Manager secret), the workflow that loops the table function over each table, its
// schedule and alarm, and one Glue database per archived source database beside
// its snapshot database, with the snapshot databases' access model. Its settings
// are the snaplake:archive context section (archive_config.go); which tables it
// archives, and how gently, is config/snaplake.yaml's archive section.
type Archive struct {
	*Base
	ac     ArchiveConfig
	export *Export
	ingest *Ingest // nil: IAM governs the archive databases, as the snapshot databases
	// databases are the archive Glue databases, in ac.Databases' order.
	databases []archiveDatabase
	machine   awsstepfunctions.StateMachine
	schedRole awsiam.Role
	location  awslakeformation.CfnResource // archive/ registered (governed only)
}

// archiveDatabase is the archive Glue database of one source database.
type archiveDatabase struct {
	source, name string // the source database; its Glue name
	db           awsglue.CfnDatabase
}

// ArchiveProps configures the archive.
type ArchiveProps struct {
	Config ArchiveConfig
	// Stack is the deployment's configuration: the snapshot databases' names.
	Stack Config
	// Export is the nightly export, whose snapshot databases the archive databases
	// accompany and whose analyst policy reads them.
	Export *Export
	// Ingest, when deployed, governs the snapshot databases through Lake
	// Formation: the archive databases then too.
	Ingest *Ingest
}

// NewArchive adds retention archiving to base's stack.
func NewArchive(base *Base, props *ArchiveProps) *Archive {
	x := &Archive{Base: base, ac: props.Config, export: props.Export, ingest: props.Ingest}
	for _, db := range x.ac.Databases {
		x.databases = append(x.databases, archiveDatabase{source: db, name: deploy.ArchiveDatabaseName(props.Stack.GlueDatabaseName(db))})
	}
	x.addCatalog()
	x.addFunctions()
	x.addLakeFormation()
	x.addAnalystAccess()
	x.addStateMachine()
	x.addSchedule()
	x.executionsFailedAlarm("ArchiveExecutionsFailedAlarm", deploy.ArchiveFailedAlarm,
		"A snaplake archive run failed, timed out or was aborted (this also covers failures the workflow cannot catch, such as States.Runtime). The run's notification names the tables and why; open the execution in the Step Functions console. The next run resumes each table from its manifest; nothing was deleted that was not verified in S3.",
		watched{machine: x.machine})

	x.output(deploy.OutputArchiveStateMachineArn, *x.machine.StateMachineArn(), "The archive workflow: start it with {} (every configured table) or {\"table\":\"db.table\"}")
	x.output(deploy.OutputArchiveGlueDatabases, strings.Join(x.glueNames(), ","), "The archive Glue databases, one per archived source database")
	x.output(deploy.OutputArchiveRoleArns, x.roleArns(deploy.ArchiveFunctions, deploy.ArchiveServiceRoles), "JSON: the role of each archive function and service, for snaplake doctor")
	x.output(deploy.OutputArchiveFunctionArns, x.functionArns(deploy.ArchiveFunctions), "JSON: each archive function's ARN, for snaplake doctor")
	x.output(deploy.OutputArchiveSecretArn, x.ac.SecretArn, "The secret the archive reads and deletes the source's rows with")
	return x
}

// governed says whether Lake Formation governs the archive databases (with the
// ingestion's grants function), as it then governs the snapshot databases.
func (x *Archive) governed() bool { return x.ingest != nil }

func (x *Archive) glueNames() []string {
	var out []string
	for _, d := range x.databases {
		out = append(out, d.name)
	}
	return out
}

// catalogArns are the Glue catalog, the archive databases and their tables: Glue
// authorizes a table call on all three.
func (x *Archive) catalogArns() []string {
	out := []string{x.arn("glue", "catalog")}
	for _, d := range x.databases {
		out = append(out, x.arn("glue", "database/"+d.name), x.arn("glue", "table/"+d.name+"/*"))
	}
	return out
}

// Patterns of IAM5 findings on the archive's resources.
var (
	findingArchiveObjects = lakeObjectsFinding(deploy.ArchivePrefix, deploy.ArchiveManifestPrefix)
	findingArchiveTables  = arnFinding("glue", `table\/[a-z0-9_]+`+deploy.ArchiveDatabaseSuffix+`\/\*`)
)

// addCatalog creates the archive Glue databases, each named after its snapshot
// database (deploy.ArchiveDatabaseName) and with its default for new tables.
func (x *Archive) addCatalog() {
	for i, d := range x.databases {
		x.databases[i].db = awsglue.NewCfnDatabase(x.stack, jsii.String("ArchiveGlueDatabase-"+strings.ToLower(d.source)), &awsglue.CfnDatabaseProps{
			CatalogId: x.stack.Account(),
			DatabaseInput: &awsglue.CfnDatabase_DatabaseInputProperty{
				Name: jsii.String(d.name),
				Description: jsii.String("snaplake: the rows archived from the source database " + d.source +
					" (one table per archived table, partitioned by cutoff), beside its snapshot database"),
				CreateTableDefaultPermissions: x.export.newTablePermissions(),
			},
		})
	}
}

// addFunctions creates the plan and table functions. Both read the config and
// reach MySQL as the archiving user; only the table function writes the lake and
// the catalog.
func (x *Archive) addFunctions() {
	keyArn := *x.key.KeyArn()
	env := map[string]string{
		deploy.EnvBucket:              *x.bucket.BucketName(),
		deploy.EnvKMSKeyID:            keyArn,
		deploy.EnvMySQLEndpoint:       x.ac.Endpoint,
		deploy.EnvSecretArn:           x.ac.SecretArn,
		deploy.EnvArchiveDatabases:    strings.Join(x.ac.Databases, ","),
		deploy.EnvGlueDatabasePrefix:  x.export.cfg.GlueDatabasePrefix,
		deploy.EnvArchiveBudgetMargin: strconv.Itoa(int(deploy.ArchiveBudgetMargin / time.Second)),
	}
	// What both do: read config/snaplake.yaml (the exact key listed too: a missing
	// config is told from a denied one by listing it, internal/aws/s3get; the lake
	// key decrypts it), and sign in to MySQL with the secret.
	common := func(fn awslambda.Function) {
		fn.AddToRolePolicy(statement([]string{"s3:GetObject"}, x.objects(deploy.ConfigKey)))
		x.readSecrets(fn)
		if x.ac.InVPC() {
			x.runInVPC(fn, x.ac.SubnetIDs, x.ac.SecurityGroupIDs)
		}
	}

	plan := x.newFunction(functionSpec{
		name: deploy.FnArchivePlan, id: "ArchivePlan",
		description: "Plans an archive run: reads config/snaplake.yaml and checks each table it archives against MySQL before anything changes",
		timeout:     awscdk.Duration_Seconds(jsii.Number(deploy.ArchivePlanTimeout.Seconds())), memoryMB: deploy.ArchivePlanMemoryMB,
		env: env,
	}, nil)
	common(plan)
	plan.AddToRolePolicy(x.listMatching(deploy.ConfigKey, deploy.ArchiveRunLeaseKey))
	// The run lease (state/archive-runs/run.lease.json, conditional writes, SSE-KMS):
	// one run at a time deletes on production.
	// Released at the run's end: the only object any archive role may delete.
	plan.AddToRolePolicy(statement([]string{"s3:GetObject", "s3:PutObject", "s3:DeleteObject"}, x.objects(deploy.ArchiveRunLeaseKey)))
	plan.AddToRolePolicy(statement([]string{"kms:Decrypt", "kms:GenerateDataKey"}, keyArn))

	table := x.newFunction(functionSpec{
		name: deploy.FnArchiveTable, id: "ArchiveTable",
		description: "Archives one table for one bounded invocation: reads rows older than the cutoff, writes and verifies Parquet under archive/, deletes the verified rows in gentle batches, resumes from its manifest",
		timeout:     awscdk.Duration_Seconds(jsii.Number(deploy.ArchiveTableTimeout.Seconds())), memoryMB: deploy.ArchiveTableMemoryMB,
		env: env,
	}, func(p *awslambda.FunctionProps) {
		// Batch files are written to /tmp ahead of their upload and verification.
		p.EphemeralStorageSize = awscdk.Size_Mebibytes(jsii.Number(deploy.ArchiveTableEphemeralMB))
	})
	common(table)
	archive, manifests := deploy.ArchivePrefix+"*", deploy.ArchiveManifestPrefix+"*"
	// It writes each batch's Parquet file under archive/ and reads it back to verify
	// it (HeadObject is authorized by s3:GetObject), and keeps each table's manifest
	// under state/archive-runs/ (read, rewritten, listed to find unfinished runs).
	// No s3:DeleteObject: an archived file is never removed by a run.
	table.AddToRolePolicy(statement([]string{"s3:GetObject", "s3:PutObject"}, x.objects(archive), x.objects(manifests)))
	table.AddToRolePolicy(x.listMatching(deploy.ConfigKey, archive, manifests))
	// SSE-KMS with the lake key: writes need GenerateDataKey, reads Decrypt.
	table.AddToRolePolicy(statement([]string{"kms:Decrypt", "kms:GenerateDataKey"}, keyArn))
	// A table's run creates or updates its archive table and adds the run's cutoff
	// partition when it completes; in the archive databases only.
	// (archive.Catalog: GetTable, then CreateTable or UpdateTable, then
	// BatchCreatePartition, which reports an existing partition in its Errors.)
	table.AddToRolePolicy(statement([]string{
		"glue:GetTable", "glue:CreateTable", "glue:UpdateTable", "glue:BatchCreatePartition",
	}, x.catalogArns()...))
	// The RDS ReplicaLag metric of a read replica (snaplake.yaml archive.replica.instance)
	// pauses the deletes; GetMetricData has no resource type: "*" only.
	table.AddToRolePolicy(statement([]string{"cloudwatch:GetMetricData"}, "*"))
	x.suppress(table.Role(), wildcards("The table function writes and reads back the Parquet files under archive/<database>/<table>/cutoff=<date>/, keeps the tables' manifests under state/archive-runs/, and writes the archive databases' tables and partitions; cloudwatch:GetMetricData (the RDS ReplicaLag probe) has no resource type.",
		findingArchiveObjects, findingArchiveTables, findingStarResource))
}

// readSecrets lets fn read the archiving user's secret (and decrypt it with its
// customer managed key, through Secrets Manager only).
func (x *Archive) readSecrets(fn awslambda.Function) {
	readSecrets(func(st awsiam.PolicyStatement) { fn.AddToRolePolicy(st) }, secretRef{x.ac.SecretArn, x.ac.SecretKMSKeyArn})
}

// addLakeFormation gives the archive databases the snapshot databases' access
// model (Export.snapshotLakePermissions): IAM's (ALL to IAM_ALLOWED_PRINCIPALS)
// unless the ingestion's grants function governs them, and then Lake Formation's,
// with archive/ registered as data/ is, so that the config's access rules decide
// who reads an archive table, as they decide for its snapshot table. Either way the
// table function holds what it uses, as the crawler does on the snapshot databases.
func (x *Archive) addLakeFormation() {
	table := x.fns[deploy.FnArchiveTable].Role()
	if x.governed() {
		x.registerArchive()
	}
	for _, d := range x.databases {
		grant := func(id string, principal *string, resource *awslakeformation.CfnPrincipalPermissions_ResourceProperty, perms, grantable []string) awslakeformation.CfnPrincipalPermissions {
			return x.lakeGrant(id+"-"+d.name, principal, resource, perms, grantable, d.db)
		}
		database, tables := x.lakeDatabase(d.name), x.lakeTables(d.name)
		all := []string{"ALL"}
		if !x.governed() {
			grant("ArchiveIAMAllowedPrincipals", jsii.String(deploy.IAMAllowedPrincipals), database, all, nil)
		}
		grant("ArchiveTableFunctionDatabase", table.RoleArn(), database, []string{"CREATE_TABLE", "ALTER", "DESCRIBE"}, nil)
		grant("ArchiveTableFunctionTables", table.RoleArn(), tables, all, nil)
		if !x.governed() {
			continue
		}
		// A table pointing into the registered archive/ needs the location permission.
		loc := grant("ArchiveTableFunctionLocation", table.RoleArn(), &awslakeformation.CfnPrincipalPermissions_ResourceProperty{
			DataLocation: &awslakeformation.CfnPrincipalPermissions_DataLocationResourceProperty{CatalogId: x.stack.Account(), ResourceArn: jsii.String(x.archiveLocationArn())},
		}, []string{"DATA_LOCATION_ACCESS"}, nil)
		loc.AddResourceDependency(x.location, jsii.String("the data location must be registered first"))
		// The grants function grants and revokes on the archive database as on its
		// snapshot database: the config's access rules govern both.
		grants := x.ingest.GrantsRole()
		grant("ArchiveGrantsDatabase", grants.RoleArn(), database, all, all)
		grant("ArchiveGrantsTables", grants.RoleArn(), tables, all, all)
	}
	if x.governed() {
		grants := x.fns[deploy.FnApplyGrants]
		// It lists the archive databases' tables, as the snapshot databases'.
		grants.AddToRolePolicy(statement([]string{"glue:GetDatabase", "glue:GetTable", "glue:GetTables"}, x.catalogArns()...))
		x.suppress(grants.Role(), wildcards("The grants function lists every table of the archive databases, which the access rules govern as their snapshot databases.", findingArchiveTables))
		// The stack's own grants to the table function are never the rules' to revoke.
		x.ingest.KeepPrincipals(*table.RoleArn())
	}
}

// archiveLocationArn is archive/ as a Lake Formation data location.
func (x *Archive) archiveLocationArn() string {
	return *x.bucket.BucketArn() + "/" + strings.TrimSuffix(deploy.ArchivePrefix, "/")
}

// registerArchive registers archive/ with Lake Formation, as the export registers
// data/ (registerData): Athena then reads the archive tables with credentials Lake
// Formation vends for the tables and columns it granted the caller. Read only: the
// table function writes archive/ with IAM.
func (x *Archive) registerArchive() {
	role := x.serviceRole("ArchiveLocationRole", "snaplake: Lake Formation reads archive/ for the principals granted the archive tables", "lakeformation.amazonaws.com")
	role.AddToPolicy(statement([]string{"s3:GetObject"}, x.objects(deploy.ArchivePrefix+"*")))
	role.AddToPolicy(x.listMatching(deploy.ArchivePrefix + "*"))
	role.AddToPolicy(statement([]string{"kms:Decrypt"}, *x.key.KeyArn()))
	x.suppress(role, wildcards("Lake Formation reads the files under the registered location archive/.", objectsUnder(deploy.ArchivePrefix)))
	x.location = awslakeformation.NewCfnResource(x.stack, jsii.String("ArchiveDataLocation"), &awslakeformation.CfnResourceProps{
		ResourceArn:          jsii.String(x.archiveLocationArn()),
		RoleArn:              role.RoleArn(),
		UseServiceLinkedRole: jsii.Bool(false),
	})
	x.location.Node().AddDependency(role)
}

// addAnalystAccess lets the published analyst policy query the archive beside the
// snapshots: the archive databases' catalog always (a query needs the Glue read in
// IAM as well as any Lake Formation grant); the files under archive/ only where IAM
// governs them (governed, Lake Formation vends the credentials, and the policy
// already allows lakeformation:GetDataAccess).
func (x *Archive) addAnalystAccess() {
	p := x.export.analyst
	p.AddStatements(statement([]string{"glue:GetDatabase", "glue:GetDatabases", "glue:GetTable", "glue:GetTables", "glue:GetPartition", "glue:GetPartitions", "glue:BatchGetPartition"}, x.catalogArns()...))
	if x.governed() {
		return
	}
	p.AddStatements(statement([]string{"s3:GetObject"}, x.objects(deploy.ArchivePrefix+"*")), x.listUnder(deploy.ArchivePrefix))
	x.suppress(p, wildcards("Analysts read every file under archive/, the archived rows of the tables IAM governs.", objectsUnder(deploy.ArchivePrefix)))
}

func (x *Archive) addStateMachine() {
	role := x.workflowRole("ArchiveStateMachineRole", "snaplake archive workflow", deploy.RoleArchiveMachine,
		deploy.ArchiveFunctions, "the two archive functions")
	x.allowNotify(role)
	subs := map[string]*string{
		statemachines.ArchivePlanFunctionArn:  x.fns[deploy.FnArchivePlan].FunctionArn(),
		statemachines.ArchiveTableFunctionArn: x.fns[deploy.FnArchiveTable].FunctionArn(),
		statemachines.NotificationTopicArn:    x.topic.TopicArn(),
	}
	x.machine = x.newStateMachine("ArchiveStateMachine", "ArchiveStateMachineLogs", "archive",
		"snaplake retention archiving: each configured table's old rows to archive/, verified, then deleted from MySQL", statemachines.Archive, subs, role)
}

// addSchedule starts a run of every configured table on the context's schedule, in
// the shared snaplake group, with the input an operator would give for all tables.
func (x *Archive) addSchedule() {
	x.schedRole = x.serviceRole("ArchiveSchedulerRole", "snaplake: EventBridge Scheduler starts the archive workflow", "scheduler.amazonaws.com")
	x.tagRole(x.schedRole, deploy.RoleArchiveScheduler)
	x.schedRole.AddToPolicy(statement([]string{"states:StartExecution"}, *x.machine.StateMachineArn()))
	// An undeliverable start goes to the stack's dead-letter queue, encrypted with
	// the key (SQS: "the producer must have the kms:GenerateDataKey and kms:Decrypt
	// permissions").
	x.schedRole.AddToPolicy(statement([]string{"sqs:SendMessage"}, *x.dlq.QueueArn()))
	x.schedRole.AddToPolicy(statement([]string{"kms:Decrypt", "kms:GenerateDataKey"}, *x.key.KeyArn()))
	x.schedule(x.snaplakeScheduleGroup(), scheduleSpec{
		id: "ArchiveSchedule", name: deploy.ArchiveScheduleName,
		description: "snaplake: starts an archive run of every table config/snaplake.yaml's archive section configures",
		expression:  x.ac.Schedule, timeZone: x.ac.TimeZone,
		machine: x.machine, role: x.schedRole,
		input: "{}",
	})
}
