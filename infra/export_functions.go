package main

import (
	"strconv"
	"strings"

	"github.com/aws/aws-cdk-go/awscdk/v2"
	"github.com/aws/aws-cdk-go/awscdk/v2/awsiam"
	"github.com/aws/aws-cdk-go/awscdk/v2/awslambda"
	"github.com/aws/jsii-runtime-go"

	"github.com/snaplake/snaplake/internal/deploy"
)

func (x *Export) addFunctions() {
	bucket := *x.bucket.BucketName()
	keyArn := *x.key.KeyArn()
	c := x.cfg

	start := x.newFunction(functionSpec{
		name: deploy.FnStartExport, id: "StartExport",
		description: "Validates a snapshot-created event and starts the RDS export to S3",
		timeout:     awscdk.Duration_Minutes(jsii.Number(1)), memoryMB: 256,
		env: map[string]string{
			deploy.EnvBucket:                 bucket,
			deploy.EnvExportPrefix:           deploy.ExportPrefix,
			deploy.EnvExportRoleArn:          *x.exportRole.RoleArn(),
			deploy.EnvKMSKeyID:               keyArn,
			deploy.EnvDBInstanceIDs:          strings.Join(c.DBInstanceIDs, ","),
			deploy.EnvDatabases:              strings.Join(c.Databases, ","),
			deploy.EnvIncludeManualSnapshots: strconv.FormatBool(c.IncludeManualSnapshots),
			deploy.EnvExportTimeoutSeconds:   strconv.Itoa(c.ExportTimeoutHours * 3600),
			deploy.EnvExportRecheckSeconds:   strconv.Itoa(c.ExportRecheckMinutes * 60),
			deploy.EnvCrawlTimeoutSeconds:    strconv.Itoa(c.CrawlTimeoutMinutes * 60),
			deploy.EnvSnapshotTimeZone:       c.SnapshotTimeZone,
		},
	}, nil)
	// Set only with clusters, so that an instances-only stack's function is unchanged.
	if len(c.DBClusterIDs) > 0 {
		start.AddEnvironment(jsii.String(deploy.EnvDBClusterIDs), jsii.String(strings.Join(c.DBClusterIDs, ",")), nil)
	}
	// The IAM Service Authorization Reference gives rds:StartExportTask the (optional)
	// resource types snapshot, cluster-snapshot and cluster: the function may export
	// the configured instances' snapshots and clusters' automated cluster snapshots
	// only, never a live cluster or anyone else's snapshot. What an export writes is
	// bounded too, by the one role it may pass (below), which writes only under exports/.
	start.AddToRolePolicy(statement([]string{"rds:StartExportTask"}, append(x.snapshotArns(), x.clusterSnapshotArns()...)...))
	// DescribeExportTasks, asked by export id, names no snapshot: "*" (access level List).
	start.AddToRolePolicy(statement([]string{"rds:DescribeExportTasks"}, "*"))
	// DescribeDBSnapshots (DescribeDBClusterSnapshots for a cluster) gives the
	// snapshot's creation time, its snapshot_date.
	scoped := []string{"rds:StartExportTask"} // the actions scoped to snapshot ARNs, for the nag reason
	if len(c.DBInstanceIDs) > 0 {
		start.AddToRolePolicy(statement([]string{"rds:DescribeDBSnapshots"}, x.snapshotArns()...))
		scoped = append(scoped, "rds:DescribeDBSnapshots")
	}
	if len(c.DBClusterIDs) > 0 {
		start.AddToRolePolicy(statement([]string{"rds:DescribeDBClusterSnapshots"}, x.clusterSnapshotArns()...))
		scoped = append(scoped, "rds:DescribeDBClusterSnapshots")
	}
	// RDS receives the role; both principals are listed because the export role
	// is assumed by export.rds.amazonaws.com while StartExportTask is rds's API.
	start.AddToRolePolicy(passRole(x.exportRole, "rds.amazonaws.com", "export.rds.amazonaws.com"))
	// StartExportTask makes RDS create a grant on the key for the export's duration.
	start.AddToRolePolicy(statement([]string{"kms:DescribeKey"}, keyArn))
	// Which databases and tables the night exports is snaplake.yaml's export section,
	// read before each export (the config is encrypted with the pipeline key). The exact
	// key is listable too: a missing config, which means the deployed databases, is told
	// from a denied read by listing it (internal/aws/s3get).
	start.AddToRolePolicy(statement([]string{"s3:GetObject"}, x.objects(deploy.ConfigKey)))
	start.AddToRolePolicy(x.listMatching(deploy.ConfigKey))
	start.AddToRolePolicy(statement([]string{"kms:Decrypt"}, keyArn))
	start.AddToRolePolicy(awsiam.NewPolicyStatement(&awsiam.PolicyStatementProps{
		Actions:    jsii.Strings("kms:CreateGrant"),
		Resources:  jsii.Strings(keyArn),
		Conditions: &map[string]any{"Bool": map[string]any{"kms:GrantIsForAWSResource": "true"}},
	}))
	x.suppress(start.Role(),
		wildcards("rds:DescribeExportTasks is asked by export id, which names no snapshot: only Resource \"*\" authorizes it.", findingStarResource),
		wildcards(strings.Join(scoped, ", ")+" are limited to the automated (and, if enabled, manual) snapshots of the configured instances and the automated cluster snapshots of the configured clusters; their names end in a timestamp.",
			arnFinding("rds", `(cluster-)?snapshot:.*-\*`)))

	callbacks := x.objects(deploy.CallbackPrefix + "*")
	await := x.newFunction(functionSpec{
		name: deploy.FnAwaitCallback, id: "AwaitCallback",
		description: "Stores a waiting execution's task token under callbacks/",
		timeout:     awscdk.Duration_Seconds(jsii.Number(30)), memoryMB: 256,
		env: map[string]string{
			deploy.EnvBucket: bucket, deploy.EnvCallbackPrefix: deploy.CallbackPrefix, deploy.EnvKMSKeyID: keyArn,
			deploy.EnvDestPrefix: deploy.DataPrefix,
		},
	}, nil)
	await.AddToRolePolicy(statement([]string{"s3:PutObject", "s3:GetObject", "s3:DeleteObject"}, callbacks))
	// A wait is looked up before it exists. Without ListBucket S3 answers a GET of a
	// missing key with 403, not 404; the store also copes with 403 by listing the key
	// (internal/export/callback), so ListBucket is scoped to callbacks/ only.
	await.AddToRolePolicy(x.listUnder(deploy.CallbackPrefix))
	await.AddToRolePolicy(statement([]string{"kms:GenerateDataKey", "kms:Decrypt"}, keyArn))
	// The crawl wait parks its token, points the crawler at exactly the night's table
	// folders (GetCrawler, then UpdateCrawler with every field, since UpdateCrawler's
	// treatment of omitted fields is not documented), then starts it, so even an
	// instant crawl's event finds the token.
	var crawlers []string
	for _, name := range c.CrawlerNames() {
		crawlers = append(crawlers, x.arn("glue", "crawler/"+name))
	}
	awaitFindings := []suppression{wildcards("rds:DescribeExportTasks has no resource type in the IAM Service Authorization Reference: only Resource \"*\" authorizes it.", findingStarResource), wildcards("Task tokens are stored as callbacks/<kind>/<key>.json, one object per waiting task; the list permission is limited to that prefix.", objectsUnder(deploy.CallbackPrefix))}
	if x.catalogsAtRuntime() {
		// A database the night exports without a crawler gets its Glue database, its
		// _latest companion and its crawler from the crawl wait (internal/export/callback),
		// named by this stack's prefixes, so the night catalogs it without a deploy.
		crawlers = []string{x.arn("glue", "crawler/"+deploy.CrawlerNamePrefix+"*")}
		// glue:CreateCrawler has no resource type in the Service Authorization
		// Reference: only "*" authorizes it. What the new crawler can do is bounded by
		// the one role the function may pass it (the crawler role, above).
		await.AddToRolePolicy(statement([]string{"glue:CreateCrawler"}, "*"))
		// Glue authorizes CreateDatabase on the catalog and the new database.
		await.AddToRolePolicy(statement([]string{"glue:CreateDatabase"}, x.arn("glue", "catalog"), x.arn("glue", "database/"+x.cfg.GlueDatabasePrefix+"*")))
		await.AddEnvironment(jsii.String(deploy.EnvGlueDatabasePrefix), jsii.String(x.cfg.GlueDatabasePrefix), nil)
		awaitFindings = append(awaitFindings, wildcards("The crawl wait creates and runs the crawler and the Glue databases of any database the night exports, named by this stack's prefixes; glue:CreateCrawler has no resource type (only \"*\"), and the only role it may pass the new crawler is the crawler role.",
			literalFinding("glue", "crawler/"+deploy.CrawlerNamePrefix+"*"), literalFinding("glue", "database/"+x.cfg.GlueDatabasePrefix+"*")))
	}
	await.AddToRolePolicy(statement([]string{"glue:GetCrawler", "glue:UpdateCrawler", "glue:StartCrawler"}, crawlers...))
	// The export wait asks whether the export already ended (a re-run, an export that
	// beat the token, or a lost completion event at a periodic re-check).
	await.AddToRolePolicy(statement([]string{"rds:DescribeExportTasks"}, "*"))
	x.suppress(await.Role(), awaitFindings...)

	// resume runs asynchronously from EventBridge: a failed resume is retried twice
	// by Lambda, then kept in the dead-letter queue, so the event that would have
	// resumed an execution is not lost before the execution's own timeout.
	resume := x.newFunction(functionSpec{
		name: deploy.FnResume, id: "Resume",
		description: "Resumes the execution waiting for an export or crawl that finished",
		timeout:     awscdk.Duration_Minutes(jsii.Number(1)), memoryMB: 256,
		env: map[string]string{deploy.EnvBucket: bucket, deploy.EnvCallbackPrefix: deploy.CallbackPrefix},
	}, func(p *awslambda.FunctionProps) {
		p.DeadLetterQueue = x.dlq
		p.RetryAttempts = jsii.Number(2)
		p.MaxEventAge = awscdk.Duration_Hours(jsii.Number(6))
	})
	resume.AddToRolePolicy(statement([]string{"s3:GetObject", "s3:DeleteObject"}, callbacks))
	resume.AddToRolePolicy(x.listUnder(deploy.CallbackPrefix))
	// Decrypt reads the token; GenerateDataKey writes to the encrypted dead-letter queue.
	resume.AddToRolePolicy(statement([]string{"kms:Decrypt", "kms:GenerateDataKey"}, keyArn))
	// A failed export's notification carries RDS's FailureCause, not the event's text.
	resume.AddToRolePolicy(statement([]string{"rds:DescribeExportTasks"}, "*"))
	x.suppress(resume.Role(), wildcards("rds:DescribeExportTasks has no resource type in the IAM Service Authorization Reference: only Resource \"*\" authorizes it.", findingStarResource), wildcards("Task tokens are read from callbacks/<kind>/<key>.json, one object per waiting task.", objectsUnder(deploy.CallbackPrefix)))

	relocate := x.newFunction(functionSpec{
		name: deploy.FnRelocate, id: "Relocate",
		description: "Moves an export's table files to data/<database>/<table>/snapshot_date=YYYY-MM-DD/",
		timeout:     awscdk.Duration_Minutes(jsii.Number(15)), memoryMB: 1024,
		env: map[string]string{
			deploy.EnvBucket:             bucket,
			deploy.EnvSourcePrefix:       deploy.ExportPrefix,
			deploy.EnvDestPrefix:         deploy.DataPrefix,
			deploy.EnvKMSKeyID:           keyArn,
			deploy.EnvRetention:          strconv.Itoa(c.RetentionDays),
			deploy.EnvConcurrency:        "64",
			deploy.EnvMultipartThreshold: "5368709120",
		},
	}, nil)
	if !x.catalogsAtRuntime() {
		// Only these databases have a crawler: another database the night exports
		// (snaplake.yaml's export section) is relocated but not crawled.
		relocate.AddEnvironment(jsii.String(deploy.EnvCrawledDatabases), jsii.String(strings.Join(c.Databases, ",")), nil)
	}
	exports := x.objects(deploy.ExportPrefix + "*")
	manifests := x.objects(deploy.ExportPrefix + "*/" + deploy.RelocateManifestName)
	data := x.objects(deploy.DataPrefix + "*")
	relocate.AddToRolePolicy(x.listUnder(deploy.ExportPrefix, deploy.DataPrefix))
	relocate.AddToRolePolicy(statement([]string{"s3:GetObject", "s3:DeleteObject"}, exports))
	// The resume manifest is the one object relocation writes under exports/.
	relocate.AddToRolePolicy(statement([]string{"s3:PutObject"}, manifests))
	relocate.AddToRolePolicy(statement([]string{"s3:GetObject", "s3:PutObject", "s3:DeleteObject", "s3:AbortMultipartUpload", "s3:ListMultipartUploadParts"}, data))
	relocate.AddToRolePolicy(statement([]string{"kms:Decrypt", "kms:GenerateDataKey"}, keyArn))
	x.suppress(relocate.Role(), wildcards("Relocation reads every file of an export under exports/, writes its resume manifest there, and writes the tables' partitions under data/.",
		objectsUnder(deploy.ExportPrefix), objectsUnder(deploy.DataPrefix),
		`regex:/^Resource::<Lake[A-Za-z0-9]+\.Arn>\/exports\/\*\/`+strings.ReplaceAll(deploy.RelocateManifestName, ".", `\.`)+`$/g`))
}

// clusterSnapshotArns are the ARNs of the configured Aurora clusters' automated
// cluster snapshots (rds:<cluster>-YYYY-MM-DD-HH-MM).
func (x *Export) clusterSnapshotArns() []string {
	var out []string
	for _, id := range x.cfg.DBClusterIDs {
		out = append(out, x.arn("rds", "cluster-snapshot:rds:"+id+"-*"))
	}
	return out
}

// snapshotArns are the ARNs of the configured instances' snapshots: automated ones
// (rds:<instance>-YYYY-MM-DD-HH-MM) and, if enabled, manual ones (<instance>-...).
func (x *Export) snapshotArns() []string {
	var out []string
	for _, id := range x.cfg.DBInstanceIDs {
		out = append(out, x.arn("rds", "snapshot:rds:"+id+"-*"))
		if x.cfg.IncludeManualSnapshots {
			out = append(out, x.arn("rds", "snapshot:"+id+"-*"))
		}
	}
	return out
}
