package main

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"os"
	"path/filepath"

	"github.com/aws/aws-cdk-go/awscdk/v2"
	"github.com/aws/aws-cdk-go/awscdk/v2/awsglue"
	"github.com/aws/aws-cdk-go/awscdk/v2/awsiam"
	"github.com/aws/aws-cdk-go/awscdk/v2/awss3assets"
	"github.com/aws/jsii-runtime-go"
	"github.com/snaplake/snaplake/internal/deploy"
	"github.com/snaplake/snaplake/internal/ingest/job"
)

// addCatalog creates the security configuration of the job and crawlers and the raw
// database, which Lake Formation governs: its new tables grant nothing to
// IAM_ALLOWED_PRINCIPALS.
func (x *Ingest) addCatalog() {
	x.sec = x.glueSecurityConfiguration("IngestGlueSecurity", x.name+"-snaplake-ingest")
	// CloudWatch Logs encrypts the job's log groups with the key; the stack's key
	// policy names its other log groups, this statement the Glue job's.
	x.key.AddToResourcePolicy(awsiam.NewPolicyStatement(&awsiam.PolicyStatementProps{
		Sid:        jsii.String("CloudWatchLogsForTheIngestGlueJob"),
		Principals: &[]awsiam.IPrincipal{awsiam.NewServicePrincipal(jsii.String("logs."+*x.stack.Region()+".amazonaws.com"), nil)},
		Actions:    jsii.Strings("kms:Encrypt*", "kms:Decrypt*", "kms:ReEncrypt*", "kms:GenerateDataKey*", "kms:Describe*"),
		Resources:  jsii.Strings("*"),
		Conditions: &map[string]any{"ArnLike": map[string]any{"kms:EncryptionContext:aws:logs:arn": x.arn("logs", "log-group:"+glueJobLogGroupPrefix+"*")}},
	}), nil)

	x.db = awsglue.NewCfnDatabase(x.stack, jsii.String("IngestGlueDatabase"), &awsglue.CfnDatabaseProps{
		CatalogId: x.stack.Account(),
		DatabaseInput: &awsglue.CfnDatabase_DatabaseInputProperty{
			Name:        jsii.String(x.in.CatalogDatabase()),
			Description: jsii.String("snaplake: tables of MySQL database " + x.in.Database + " loaded by the config-driven ingestion (raw/" + x.in.LakeDatabase() + "/)"),
			// Lake Formation, not IAM_ALLOWED_PRINCIPALS, decides who reads these tables.
			CreateTableDefaultPermissions: []any{},
		},
	})
	// The current tables: one per ingested table, each key once. Real tables, not
	// views: Lake Formation grants columns of tables only, and a view would run with
	// its reader's rights on the raw tables.
	x.currentDB = awsglue.NewCfnDatabase(x.stack, jsii.String("IngestCurrentGlueDatabase"), &awsglue.CfnDatabaseProps{
		CatalogId: x.stack.Account(),
		DatabaseInput: &awsglue.CfnDatabase_DatabaseInputProperty{
			Name:                          jsii.String(x.in.CurrentDatabase()),
			Description:                   jsii.String("snaplake: the current tables of MySQL database " + x.in.Database + ": each key once, with its newest values, deletes applied (" + deploy.IngestCurrentPrefix + x.in.LakeDatabase() + "/, and raw/ for fully reloaded tables)"),
			CreateTableDefaultPermissions: []any{},
		},
	})
}

// scriptAsset uploads the embedded job script: the deployed script is the one the
// Go tests check against the job's contract. It is written to a directory named by
// its content, so the asset hash (of the content) and path are stable.
func (x *Ingest) scriptAsset() awss3assets.Asset {
	sum := sha256.Sum256(job.Script)
	dir := filepath.Join(os.TempDir(), "snaplake-ingest-job-"+hex.EncodeToString(sum[:8]))
	path := filepath.Join(dir, job.ScriptName)
	if b, err := os.ReadFile(path); err != nil || string(b) != string(job.Script) {
		if err := os.MkdirAll(dir, 0o755); err != nil {
			panic(fmt.Sprintf("ingest job script: %v", err))
		}
		tmp, err := os.CreateTemp(dir, job.ScriptName+".*")
		if err != nil {
			panic(fmt.Sprintf("ingest job script: %v", err))
		}
		if _, err := tmp.Write(job.Script); err != nil {
			panic(fmt.Sprintf("ingest job script: %v", err))
		}
		if err := tmp.Close(); err != nil {
			panic(fmt.Sprintf("ingest job script: %v", err))
		}
		if err := os.Rename(tmp.Name(), path); err != nil {
			panic(fmt.Sprintf("ingest job script: %v", err))
		}
	}
	return awss3assets.NewAsset(x.stack, jsii.String("IngestJobScript"), &awss3assets.AssetProps{Path: jsii.String(path)})
}

// addJob creates the Glue job and what its role may do.
func (x *Ingest) addJob() {
	script := x.scriptAsset()
	role := x.jobRole
	keyArn := *x.key.KeyArn()
	role.AddToPolicy(statement([]string{"s3:GetObject"}, "arn:"+*x.stack.Partition()+":s3:::"+*script.S3BucketName()+"/"+*script.S3ObjectKey()))
	// The run's plan; the tables' results (Spark writes them through _temporary/
	// folders it renames and deletes, and overwrites a result of a retried run).
	role.AddToPolicy(statement([]string{"s3:GetObject"}, x.objects(deploy.IngestPlanKey("*"))))
	role.AddToPolicy(statement([]string{"s3:GetObject", "s3:PutObject", "s3:DeleteObject"}, x.objects(deploy.IngestResultsPrefix("*")+"*")))
	// The loads: Parquet written (multipart), read back to count the rows, and
	// Spark's temporary files deleted. Never state/ingest/: the watermarks are the
	// finish function's to commit.
	role.AddToPolicy(statement([]string{"s3:GetObject", "s3:PutObject", "s3:DeleteObject", "s3:AbortMultipartUpload"}, x.objects(deploy.RawPrefix+"*")))
	role.AddToPolicy(x.listMatching(deploy.RawPrefix+"*", deploy.IngestRunsPrefix+"*"))
	role.AddToPolicy(statement([]string{"kms:Decrypt", "kms:Encrypt", "kms:GenerateDataKey"}, keyArn))
	x.readSourceSecret(func(st awsiam.PolicyStatement) { role.AddToPolicy(st) })
	role.AddToPolicy(statement([]string{"glue:GetSecurityConfiguration"}, "*"))
	role.AddToPolicy(statement([]string{"logs:CreateLogGroup", "logs:CreateLogStream", "logs:PutLogEvents", "logs:AssociateKmsKey"},
		x.arn("logs", "log-group:"+glueJobLogGroupPrefix+"*"), x.arn("logs", "log-group:"+glueJobLogGroupPrefix+"*:log-stream:*")))
	reasons := "The ingest job reads its run's plan, writes the tables' results under state/ingest-runs/<run>/results/ and the loads under raw/ (Spark renames and deletes temporary files there), and writes the log groups Glue names after the role and security configuration; glue:GetSecurityConfiguration has no resource type."
	findings := []string{findingLakeObjects, findingGlueJobLogs, findingStarResource}

	var connections any
	if x.in.InVPC() {
		conn := awsglue.NewCfnConnection(x.stack, jsii.String("IngestNetworkConnection"), &awsglue.CfnConnectionProps{
			CatalogId: x.stack.Account(),
			ConnectionInput: &awsglue.CfnConnection_ConnectionInputProperty{
				Name:           jsii.String(ingestConnectionName),
				Description:    jsii.String("snaplake ingest: the job's network path to the source database"),
				ConnectionType: jsii.String("NETWORK"),
				PhysicalConnectionRequirements: &awsglue.CfnConnection_PhysicalConnectionRequirementsProperty{
					SubnetId:            jsii.String(x.in.SubnetIDs[0]),
					SecurityGroupIdList: jsii.Strings(x.in.SecurityGroupIDs...),
					AvailabilityZone:    jsii.String(x.in.AvailabilityZone),
				},
			},
		})
		// The zone is the configured subnet's, not a guess.
		awscdk.Annotations_Of(conn).AcknowledgeWarning(jsii.String("CloudFormation-Validate::W3010"), jsii.String("a NETWORK connection names its subnet's availability zone"))
		connections = &awsglue.CfnJob_ConnectionsListProperty{Connections: jsii.Strings(*conn.Ref())}
		// Glue reads the connection and creates the job's network interfaces in the
		// subnet as the job's role (tagging them aws-glue-service-resource).
		role.AddToPolicy(statement([]string{"glue:GetConnection"}, x.arn("glue", "catalog"), x.arn("glue", "connection/"+ingestConnectionName)))
		eni := x.arn("ec2", "network-interface/*")
		role.AddToPolicy(statement([]string{"ec2:CreateNetworkInterface"}, append(x.networkArns(x.in.SubnetIDs, x.in.SecurityGroupIDs), eni)...))
		role.AddToPolicy(statement([]string{"ec2:DeleteNetworkInterface"}, eni))
		role.AddToPolicy(awsiam.NewPolicyStatement(&awsiam.PolicyStatementProps{
			Actions:    jsii.Strings("ec2:CreateTags", "ec2:DeleteTags"),
			Resources:  jsii.Strings(eni),
			Conditions: &map[string]any{"ForAllValues:StringEquals": map[string]any{"aws:TagKeys": []string{"aws-glue-service-resource"}}},
		}))
		role.AddToPolicy(statement([]string{
			"ec2:DescribeNetworkInterfaces", "ec2:DescribeSubnets", "ec2:DescribeSecurityGroups",
			"ec2:DescribeVpcEndpoints", "ec2:DescribeRouteTables", "ec2:DescribeVpcAttribute",
		}, "*"))
		reasons += " Glue creates and deletes the job's network interfaces in the configured subnet; ec2:Describe* have no resource type."
		findings = append(findings, findingENIs)
	}
	x.suppress(role, wildcards(reasons, findings...))

	x.job = awsglue.NewCfnJob(x.stack, jsii.String("IngestJob"), &awsglue.CfnJobProps{
		Name:        jsii.String(deploy.IngestJobName),
		Description: jsii.String("snaplake: loads the tables of one ingest run from MySQL into raw/ (internal/ingest/job)"),
		Role:        x.jobRole.RoleArn(),
		Command: &awsglue.CfnJob_JobCommandProperty{
			Name:           jsii.String("glueetl"),
			PythonVersion:  jsii.String("3"),
			ScriptLocation: script.S3ObjectUrl(),
		},
		GlueVersion:     jsii.String(x.in.GlueVersion),
		WorkerType:      jsii.String(x.in.GlueWorkerType),
		NumberOfWorkers: jsii.Number(x.in.GlueWorkers),
		// A daily and a frequent run may load at once (never the same table: leases).
		ExecutionProperty: &awsglue.CfnJob_ExecutionPropertyProperty{MaxConcurrentRuns: jsii.Number(2)},
		// A retry would find the first attempt's files (the loads are written with
		// errorifexists): the finish function cleans up, and the next run reloads.
		MaxRetries: jsii.Number(0),
		Timeout:    jsii.Number(ingestJobTimeoutMinutes),
		DefaultArguments: map[string]any{
			"--job-language":        "python",
			"--job-bookmark-option": "job-bookmark-disable",
		},
		SecurityConfiguration: x.sec.Ref(),
		Connections:           connections,
	})
}

// addCrawlers creates one crawler per set, on the raw database.
func (x *Ingest) addCrawlers() {
	for _, set := range deploy.IngestSets {
		awsglue.NewCfnCrawler(x.stack, jsii.String("IngestCrawler-"+set), &awsglue.CfnCrawlerProps{
			Name:         jsii.String(deploy.IngestCrawlerName(set)),
			Description:  jsii.String("Catalogs the incremental tables a " + set + " ingest run loaded: one table per include path, partitioned by load; each run sets the include paths"),
			Role:         x.crawlerRole.RoleArn(),
			DatabaseName: x.db.Ref(),
			Targets: &awsglue.CfnCrawler_TargetsProperty{
				// Until a run sets one include path per table folder, a run by hand
				// crawls nothing (the whole folder would become one table).
				S3Targets: []*awsglue.CfnCrawler_S3TargetProperty{{
					Path:       jsii.String("s3://" + *x.bucket.BucketName() + "/" + deploy.RawPrefix + x.in.LakeDatabase() + "/"),
					Exclusions: jsii.Strings("**"),
				}},
			},
			// LOG: an ingest crawler deletes nothing. Each run points it at exactly its
			// own incremental tables, and AWS does not document whether a table whose
			// include path a run left out (leased by the other set's run, or in the
			// other set) counts as deleted; with LOG it is kept either way. Nothing
			// else needs the crawler to delete: the finish deletes the loads a load
			// from the beginning replaces, with their partitions, and switches fully
			// reloaded tables itself.
			SchemaChangePolicy: &awsglue.CfnCrawler_SchemaChangePolicyProperty{
				UpdateBehavior: jsii.String("UPDATE_IN_DATABASE"),
				DeleteBehavior: jsii.String("LOG"),
			},
			RecrawlPolicy:                &awsglue.CfnCrawler_RecrawlPolicyProperty{RecrawlBehavior: jsii.String("CRAWL_EVERYTHING")},
			Configuration:                jsii.String(deploy.CrawlerConfiguration),
			CrawlerSecurityConfiguration: x.sec.Ref(),
		})
	}
}
