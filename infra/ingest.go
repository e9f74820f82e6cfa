package main

import (
	"maps"
	"slices"
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
)

// Names of the ingest resources that are not shared with the functions (those are
// in internal/deploy).
const (
	ingestConnectionName = "snaplake-ingest-network"
	ingestAlarm          = "ingest-executions-failed"
	// The Glue job's log groups: /aws-glue/jobs/... and, encrypted by a security
	// configuration, /aws-glue/jobs-<role>-<security configuration>/ (Glue API,
	// JobRun.LogGroupName).
	glueJobLogGroupPrefix = "/aws-glue/jobs"
	// ingestJobTimeoutMinutes stays below the lease TTL: a run's tables are never
	// taken over while its job can still write them.
	ingestJobTimeoutMinutes = 300
)

// Ingest is the config-driven ingestion of one source MySQL database into raw/: its
// Glue database, job and crawlers (ingest_glue.go), service roles and functions
// (here), the network it needs in a VPC (ingest_network.go), Lake Formation's
// registration and grants (ingest_lakeformation.go), and its workflow, schedules and
// alarm (ingest_workflow.go). Its settings are the snaplake:ingest context section
// (ingest_config.go).
type Ingest struct {
	*Base
	in           IngestConfig
	sec          awsglue.CfnSecurityConfiguration
	db           awsglue.CfnDatabase
	currentDB    awsglue.CfnDatabase
	crawlerRole  awsiam.Role
	jobRole      awsiam.Role
	schedRole    awsiam.Role
	job          awsglue.CfnJob
	machine      awsstepfunctions.StateMachine
	location     awslakeformation.CfnResource
	locationRole awsiam.Role
	snapshots    *IngestProps // the snapshot databases the grants function governs
	keep         []string     // deploy.EnvKeepPrincipals of the grants function
}

// IngestProps configures the ingestion.
type IngestProps struct {
	Config IngestConfig
	// Snapshots are the nightly snapshot databases and their companions (Glue name
	// -> database) the config's access rules govern through the grants function.
	Snapshots map[string]awsglue.CfnDatabase
	// SnapshotDatabases are the snapshot databases without companions, and
	// GlueDatabasePrefix how a source database's is named.
	SnapshotDatabases  []string
	GlueDatabasePrefix string
	// SnapshotPrincipals hold the stack's own permissions on them (kept).
	SnapshotPrincipals []string
}

// NewIngest adds the ingestion to base's stack.
func NewIngest(base *Base, props *IngestProps) *Ingest {
	x := &Ingest{Base: base, in: props.Config, snapshots: props}
	x.addCatalog()
	x.addServiceRoles()
	x.addFunctions()
	x.addJob()
	x.addNetwork()
	x.addCrawlers()
	x.addLakeFormation()
	x.addStateMachine()
	x.addSchedules()
	x.addAlarm()
	x.addFreshnessAlarms()

	x.output(deploy.OutputIngestStateMachineArn, *x.machine.StateMachineArn(), "The config-driven ingestion workflow (one run of a set)")
	x.output(deploy.OutputIngestJobName, *x.job.Ref(), "The Glue job that loads a run's tables into raw/")
	x.output(deploy.OutputIngestGlueDatabaseName, x.in.CatalogDatabase(), "The Glue database of the ingested tables")
	x.output(deploy.OutputIngestSecretArn, x.in.SecretArn, "The secret the ingestion reads the source with")
	x.output(deploy.OutputIngestRoleArns, x.roleArns(deploy.IngestFunctions, deploy.IngestServiceRoles), "JSON: the role of each ingest function and service, for snaplake doctor")
	x.output(deploy.OutputIngestFunctionArns, x.functionArns(deploy.IngestFunctions), "JSON: each ingest function's ARN, for snaplake doctor")
	return x
}

// KeepPrincipals adds roles to those whose Lake Formation grants the grants
// function never revokes: the stack's own grants to another capability's roles
// (the archive's table function on the archive databases).
func (x *Ingest) KeepPrincipals(arns ...string) {
	x.keep = append(x.keep, arns...)
	x.fns[deploy.FnApplyGrants].AddEnvironment(jsii.String(deploy.EnvKeepPrincipals), jsii.String(strings.Join(x.keep, ",")), nil)
}

// GrantsRole is the grants function's role, which holds the grant options the
// config's access rules are applied with.
func (x *Ingest) GrantsRole() awsiam.IRole { return x.fns[deploy.FnApplyGrants].Role() }

// readSourceSecret lets a role read the source's secret (readSecrets).
func (x *Ingest) readSourceSecret(add func(awsiam.PolicyStatement)) {
	readSecrets(add, secretRef{x.in.SecretArn, x.in.SecretKMSKeyArn})
}

// catalogArns are the Glue catalog, the raw database and its tables.
func (x *Ingest) catalogArns() []string {
	name := x.in.CatalogDatabase()
	return []string{x.arn("glue", "catalog"), x.arn("glue", "database/"+name), x.arn("glue", "table/"+name+"/*")}
}

// currentCatalogArns are the Glue catalog, the current database and its tables.
func (x *Ingest) currentCatalogArns() []string {
	name := x.in.CurrentDatabase()
	return []string{x.arn("glue", "catalog"), x.arn("glue", "database/"+name), x.arn("glue", "table/"+name+"/*")}
}

func (x *Ingest) crawlerArns() []string {
	var out []string
	for _, set := range deploy.IngestSets {
		out = append(out, x.arn("glue", "crawler/"+deploy.IngestCrawlerName(set)))
	}
	return out
}

func (x *Ingest) scheduleArns() []string {
	var out []string
	for _, set := range deploy.IngestSets {
		out = append(out, x.arn("scheduler", "schedule/"+deploy.IngestScheduleGroup+"/"+deploy.IngestScheduleName(set)))
	}
	return out
}

// Patterns of IAM5 findings on the ingest resources.
var (
	findingLakeObjects   = lakeObjectsFinding(deploy.RawPrefix, deploy.IngestStatePrefix, deploy.IngestSetsPrefix, deploy.IngestRunsPrefix, deploy.IngestCurrentPrefix)
	findingRawTables     = arnFinding("glue", `table\/raw_[a-z0-9_]+\/\*`)
	findingCurrentTables = arnFinding("glue", `table\/raw_[a-z0-9_]+_current\/\*`)
	findingGlueJobLogs   = arnFinding("logs", `log-group:\/aws-glue\/jobs\*(:log-stream:\*)?`)
	findingCrawlerLogs   = arnFinding("logs", `log-group:\/aws-glue\/crawlers-role\/\*(:log-stream:\*)?`)
	findingENIs          = arnFinding("ec2", `network-interface\/\*`)
)

// addServiceRoles creates the roles Glue and EventBridge Scheduler assume.
func (x *Ingest) addServiceRoles() {
	keyArn := *x.key.KeyArn()
	// No AWSGlueServiceRole: it grants glue:* and S3 on "*". Each role gets what it
	// uses, scoped.
	x.crawlerRole = x.serviceRole("IngestCrawlerRole", "snaplake ingest crawlers: read raw/ and update the raw tables", "glue.amazonaws.com")
	x.tagRole(x.crawlerRole, deploy.RoleIngestCrawler)
	cr := x.crawlerRole
	cr.AddToPolicy(statement([]string{"s3:GetObject"}, x.objects(deploy.RawPrefix+"*")))
	cr.AddToPolicy(x.listMatching(deploy.RawPrefix + "*"))
	cr.AddToPolicy(statement([]string{"kms:Decrypt"}, keyArn))
	cr.AddToPolicy(statement(crawlerCatalogActions, x.catalogArns()...))
	// Reading its security configuration has no resource type: "*" only.
	cr.AddToPolicy(statement([]string{"glue:GetSecurityConfiguration"}, "*"))
	// Encrypted crawler logs go to /aws-glue/crawlers-role/<role>-<security configuration>.
	cr.AddToPolicy(statement([]string{"logs:CreateLogGroup", "logs:CreateLogStream", "logs:PutLogEvents", "logs:AssociateKmsKey"},
		x.arn("logs", "log-group:"+glueCrawlerLogGroupPrefix+"*"), x.arn("logs", "log-group:"+glueCrawlerLogGroupPrefix+"*:log-stream:*")))
	x.suppress(cr, wildcards("The ingest crawlers read every file under raw/, update the raw database's tables, and write the log group Glue names after the role and security configuration; glue:GetSecurityConfiguration has no resource type.",
		findingLakeObjects, findingRawTables, findingCrawlerLogs, findingStarResource))

	x.jobRole = x.serviceRole("IngestJobRole", "snaplake ingest Glue job: read the run's plan and the source's secret, write raw/ and the run's results", "glue.amazonaws.com")
	x.tagRole(x.jobRole, deploy.RoleIngestJob)

	x.schedRole = x.serviceRole("IngestSchedulerRole", "snaplake: EventBridge Scheduler starts the ingest workflow", "scheduler.amazonaws.com")
	x.tagRole(x.schedRole, deploy.RoleIngestScheduler)
	// An undeliverable start goes to the stack's dead-letter queue; Scheduler sends
	// it as this role, a producer of a queue encrypted with the key (SQS: "the
	// producer must have the kms:GenerateDataKey and kms:Decrypt permissions").
	x.schedRole.AddToPolicy(statement([]string{"sqs:SendMessage"}, *x.dlq.QueueArn()))
	x.schedRole.AddToPolicy(statement([]string{"kms:Decrypt", "kms:GenerateDataKey"}, keyArn))
}

// addFunctions creates reconfigure, finishingest and applygrants.
func (x *Ingest) addFunctions() {
	keyArn := *x.key.KeyArn()
	in := x.in
	env := func(extra map[string]string) map[string]string {
		m := map[string]string{
			deploy.EnvBucket:          *x.bucket.BucketName(),
			deploy.EnvKMSKeyID:        keyArn,
			deploy.EnvIngestDatabase:  in.Database,
			deploy.EnvLeaseTTLSeconds: strconv.Itoa(int(deploy.DefaultLeaseTTL / time.Second)),
			deploy.EnvGraceSeconds:    strconv.Itoa(int(deploy.DefaultGrace / time.Second)),
		}
		maps.Copy(m, extra)
		return m
	}
	state := deploy.IngestStatePrefix + "*"
	sets := deploy.IngestSetsPrefix + "*"
	raw := deploy.RawPrefix + "*"

	re := x.newFunction(functionSpec{
		name: deploy.FnReconfigure, id: "Reconfigure",
		description: "Starts an ingest run: reads config/snaplake.yaml, discovers the source tables, plans, takes the leases, points the set's crawler at the run's tables",
		timeout:     awscdk.Duration_Minutes(jsii.Number(5)), memoryMB: 512,
		env: env(map[string]string{deploy.EnvMySQLEndpoint: in.Endpoint, deploy.EnvSecretArn: in.SecretArn,
			// Only reconfigure makes the sets' schedules follow the config.
			deploy.EnvScheduleGroup:       deploy.IngestScheduleGroup,
			deploy.EnvCrawlPollSeconds:    strconv.Itoa(int(in.CrawlPoll / time.Second)),
			deploy.EnvCrawlTimeoutSeconds: strconv.Itoa(int(in.CrawlTimeout / time.Second))}),
	}, nil)
	re.AddToRolePolicy(statement([]string{"s3:GetObject"}, x.objects(deploy.ConfigKey)))
	// The exact config key too: a missing config is told from a denied one by
	// listing it (internal/aws/s3get).
	re.AddToRolePolicy(x.listMatching(deploy.ConfigKey, state, sets, raw))
	re.AddToRolePolicy(statement([]string{"s3:GetObject", "s3:PutObject", "s3:DeleteObject"}, x.objects(state), x.objects(sets)))
	// The plan is the one thing it writes for a run; it never writes raw/, only
	// removes what a dead run left there.
	re.AddToRolePolicy(statement([]string{"s3:PutObject"}, x.objects(deploy.IngestPlanKey("*"))))
	re.AddToRolePolicy(statement([]string{"s3:DeleteObject"}, x.objects(raw)))
	re.AddToRolePolicy(statement([]string{"kms:Decrypt", "kms:GenerateDataKey"}, keyArn))
	x.readSourceSecret(func(st awsiam.PolicyStatement) { re.AddToRolePolicy(st) })
	re.AddToRolePolicy(statement([]string{"glue:GetCrawler", "glue:UpdateCrawler"}, x.crawlerArns()...))
	re.AddToRolePolicy(passRole(x.crawlerRole, "glue.amazonaws.com"))
	// Schedules follow the config's sets and time zone (internal/ingest/schedules); an
	// update hands the schedule's role back to Scheduler.
	re.AddToRolePolicy(statement([]string{"scheduler:GetSchedule", "scheduler:UpdateSchedule"}, x.scheduleArns()...))
	re.AddToRolePolicy(passRole(x.schedRole, "scheduler.amazonaws.com"))
	if in.InVPC() {
		x.runInVPC(re, x.in.SubnetIDs, x.in.SecurityGroupIDs)
	}
	x.suppress(re.Role(), wildcards("The reconfigure function keeps the tables' state under state/ingest/ and the sets' leases under state/ingest-sets/, writes each run's plan as state/ingest-runs/<run>/plan.json, and removes what dead runs left under raw/.",
		findingLakeObjects))

	fin := x.newFunction(functionSpec{
		name: deploy.FnFinishIngest, id: "FinishIngest",
		description: "Ends an ingest run: commits the watermarks, switches fully reloaded tables to their new generation, removes what failed, reports the run",
		timeout:     awscdk.Duration_Minutes(jsii.Number(10)), memoryMB: 512,
		env: env(nil),
	}, nil)
	runs := deploy.IngestRunsPrefix + "*"
	fin.AddToRolePolicy(x.listMatching(runs, state, sets, raw))
	fin.AddToRolePolicy(statement([]string{"s3:GetObject"}, x.objects(runs)))
	fin.AddToRolePolicy(statement([]string{"s3:GetObject", "s3:PutObject", "s3:DeleteObject"}, x.objects(state)))
	// Releasing the set's lease reads it (is it this run's?) and deletes it.
	fin.AddToRolePolicy(statement([]string{"s3:GetObject", "s3:DeleteObject"}, x.objects(sets)))
	fin.AddToRolePolicy(statement([]string{"s3:DeleteObject"}, x.objects(raw)))
	fin.AddToRolePolicy(statement([]string{"kms:Decrypt", "kms:GenerateDataKey"}, keyArn))
	fin.AddToRolePolicy(statement([]string{"glue:GetTable", "glue:CreateTable", "glue:UpdateTable", "glue:BatchDeletePartition"}, x.catalogArns()...))
	// A fully reloaded table is current already: its entry in the current database
	// points at its generation too. The finish retires replaced current
	// generations (it lists current/ to find those a failed run left).
	fin.AddToRolePolicy(statement([]string{"glue:GetTable", "glue:CreateTable", "glue:UpdateTable"}, x.currentCatalogArns()...))
	fin.AddToRolePolicy(x.listMatching(deploy.IngestCurrentPrefix + "*"))
	fin.AddToRolePolicy(statement([]string{"s3:DeleteObject"}, x.objects(deploy.IngestCurrentPrefix+"*")))
	x.suppress(fin.Role(), wildcards("The finish function reads a run's plan and results under state/ingest-runs/, commits the tables' state under state/ingest/, releases the set's lease under state/ingest-sets/, removes failed and replaced loads under raw/ (and the replaced loads' partitions) and replaced current generations under current/, and writes the raw and current databases' fully reloaded tables.",
		findingLakeObjects, findingRawTables))

	cur := x.newFunction(functionSpec{
		name: deploy.FnIngestCurrent, id: "IngestCurrent",
		description: "Builds one incremental table's current table after an ingest run's load: previous generation, minus the load's keys, plus its newest rows, deletes applied",
		timeout:     awscdk.Duration_Minutes(jsii.Number(15)), memoryMB: deploy.IngestCurrentMemoryMB,
		env: env(map[string]string{deploy.EnvMySQLEndpoint: in.Endpoint, deploy.EnvSecretArn: in.SecretArn}),
	}, func(p *awslambda.FunctionProps) {
		// The previous generation and the load are merged from local copies.
		p.EphemeralStorageSize = awscdk.Size_Mebibytes(jsii.Number(deploy.IngestCurrentEphemeralMB))
	})
	// It reads the plan, the job's results and the table's state, the load
	// (raw/) and the previous generation (current/), and writes its own result and
	// the new generation; a retry of the run's build rewrites its own folder.
	cur.AddToRolePolicy(x.listMatching(runs, raw, deploy.IngestCurrentPrefix+"*", state))
	cur.AddToRolePolicy(statement([]string{"s3:GetObject"}, x.objects(runs), x.objects(state), x.objects(raw)))
	cur.AddToRolePolicy(statement([]string{"s3:PutObject"}, x.objects(deploy.IngestCurrentResultKey("*", "*"))))
	cur.AddToRolePolicy(statement([]string{"s3:GetObject", "s3:PutObject", "s3:DeleteObject"}, x.objects(deploy.IngestCurrentPrefix+"*")))
	cur.AddToRolePolicy(statement([]string{"kms:Decrypt", "kms:GenerateDataKey"}, keyArn))
	cur.AddToRolePolicy(statement([]string{"glue:GetTable", "glue:CreateTable", "glue:UpdateTable"}, x.currentCatalogArns()...))
	// A key check reads every primary key of the source.
	x.readSourceSecret(func(st awsiam.PolicyStatement) { cur.AddToRolePolicy(st) })
	if in.InVPC() {
		x.runInVPC(cur, x.in.SubnetIDs, x.in.SecurityGroupIDs)
	}
	x.suppress(cur.Role(), wildcards("The current function reads a run's plan and results under state/ingest-runs/ and the tables' state under state/ingest/, reads the loads under raw/, reads and writes the current generations under current/, and writes the current database's tables.",
		findingLakeObjects, findingCurrentTables))

	// The grants this stack makes itself (addLakeFormation) are never the config's
	// to revoke. The function's own role is known only once it exists: it is
	// added to the list below.
	keep := append([]string{*x.crawlerRole.RoleArn(), *x.jobRole.RoleArn(), *re.Role().RoleArn(), *fin.Role().RoleArn(), *cur.Role().RoleArn()}, x.snapshots.SnapshotPrincipals...)
	grants := x.newFunction(functionSpec{
		name: deploy.FnApplyGrants, id: "ApplyGrants",
		description: "Brings the Lake Formation grants on the raw tables in line with the config's access rules",
		timeout:     awscdk.Duration_Minutes(jsii.Number(5)), memoryMB: 256,
		env: env(map[string]string{
			// Role names in the config's access rules become ARNs of this account.
			deploy.EnvAccountID: *x.stack.Account(),
			deploy.EnvPartition: *x.stack.Partition(),
			// The rules govern the nightly snapshot databases too.
			deploy.EnvSnapshotDatabases:  strings.Join(x.snapshots.SnapshotDatabases, ","),
			deploy.EnvGlueDatabasePrefix: x.snapshots.GlueDatabasePrefix,
		}),
	}, nil)
	x.keep = append(keep, *grants.Role().RoleArn())
	grants.AddEnvironment(jsii.String(deploy.EnvKeepPrincipals), jsii.String(strings.Join(x.keep, ",")), nil)
	grants.AddToRolePolicy(statement([]string{"s3:GetObject"}, x.objects(deploy.ConfigKey), x.objects(state)))
	grants.AddToRolePolicy(x.listMatching(deploy.ConfigKey, state))
	grants.AddToRolePolicy(statement([]string{"kms:Decrypt"}, keyArn))
	grants.AddToRolePolicy(statement([]string{"glue:GetDatabase", "glue:GetTable", "glue:GetTables"}, append(x.catalogArns(), x.currentCatalogArns()[1:]...)...))
	if len(x.snapshots.Snapshots) > 0 {
		// It lists the snapshot databases' tables: a rule may name one before its night.
		var arns []string
		for _, name := range slices.Sorted(maps.Keys(x.snapshots.Snapshots)) {
			arns = append(arns, x.arn("glue", "database/"+name), x.arn("glue", "table/"+name+"/*"))
		}
		if p := x.snapshots.GlueDatabasePrefix; p != "" {
			// The export catalogs new databases at runtime (Export.catalogsAtRuntime):
			// the rules govern the snapshot database of every folder under data/, which
			// it lists (one level, with the delimiter).
			arns = []string{x.arn("glue", "database/"+p+"*"), x.arn("glue", "table/"+p+"*/*")}
			grants.AddToRolePolicy(x.listMatching(deploy.DataPrefix))
			x.suppress(grants.Role(), wildcards("The grants function governs every snapshot database named by this stack's Glue database prefix, the ones cataloged at runtime included.",
				arnFinding("glue", `database\/.*\*`)))
		}
		grants.AddToRolePolicy(statement([]string{"glue:GetDatabase", "glue:GetTable", "glue:GetTables"}, append([]string{x.arn("glue", "catalog")}, arns...)...))
		x.suppress(grants.Role(), wildcards("The grants function lists every table of the snapshot databases the access rules govern, and of their _latest companions.",
			arnFinding("glue", `table\/.*\/\*`)))
	}
	// The IAM Service Authorization Reference lists no resource type for these Lake
	// Formation actions: only "*" authorizes them. What the function may grant or
	// revoke is bounded by Lake Formation itself: it holds grant options on the raw
	// database and its tables only (addLakeFormation), and is no data lake admin.
	// GetDataLakeSettings names the administrators, whose grants it keeps.
	grants.AddToRolePolicy(statement([]string{
		"lakeformation:ListPermissions", "lakeformation:BatchGrantPermissions", "lakeformation:BatchRevokePermissions",
		"lakeformation:GrantPermissions", "lakeformation:RevokePermissions", "lakeformation:GetDataLakeSettings",
	}, "*"))
	x.suppress(grants.Role(), wildcards("The grants function reads the tables' state under state/ingest/ and the raw and current databases' tables; Lake Formation's grant actions have no resource type (only \"*\"), and Lake Formation limits them to the raw and current databases, where the function holds the grant options.",
		findingLakeObjects, findingRawTables, findingCurrentTables))
}
