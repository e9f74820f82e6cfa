package main

import (
	"path/filepath"
	"strconv"
	"strings"

	"github.com/aws/aws-cdk-go/awscdk/v2"
	"github.com/aws/aws-cdk-go/awscdk/v2/awsiam"
	"github.com/aws/aws-cdk-go/awscdk/v2/awslambda"
	"github.com/aws/jsii-runtime-go"
)

// functionSpec is what differs between the four functions.
type functionSpec struct {
	name        string
	id          string
	description string
	timeout     awscdk.Duration
	memoryMB    float64
	env         map[string]string
}

// newFunction creates a function with its own role (no managed policy: it may write
// to its own log group and nothing else until granted), its own encrypted log group,
// JSON logs and active X-Ray tracing.
func (s *snaplake) newFunction(spec functionSpec, extra func(*awslambda.FunctionProps)) awslambda.Function {
	role := awsiam.NewRole(s.stack, jsii.String(spec.id+"Role"), &awsiam.RoleProps{
		Description: jsii.String("snaplake " + spec.name + " function"),
		AssumedBy:   awsiam.NewServicePrincipal(jsii.String("lambda.amazonaws.com"), nil),
	})
	lg := s.logGroup(spec.id+"Logs", s.logGroupPrefix()+"lambda/"+spec.name)
	role.AddToPolicy(statement([]string{"logs:CreateLogStream", "logs:PutLogEvents"}, *lg.LogGroupArn()))

	env := map[string]*string{"LOG_LEVEL": jsii.String("INFO")}
	for k, v := range spec.env {
		env[k] = jsii.String(v)
	}
	props := &awslambda.FunctionProps{
		Description:           jsii.String(spec.description),
		Runtime:               awslambda.Runtime_PROVIDED_AL2023(),
		Architecture:          awslambda.Architecture_ARM_64(),
		Handler:               jsii.String("bootstrap"),
		Code:                  awslambda.Code_FromAsset(jsii.String(filepath.Join(s.cfg.LambdaAssetDir, spec.name)), nil),
		Role:                  role,
		Timeout:               spec.timeout,
		MemorySize:            jsii.Number(spec.memoryMB),
		Environment:           &env,
		Tracing:               awslambda.Tracing_ACTIVE,
		LoggingFormat:         awslambda.LoggingFormat_JSON,
		ApplicationLogLevelV2: awslambda.ApplicationLogLevel_INFO,
		SystemLogLevelV2:      awslambda.SystemLogLevel_INFO,
		LogGroup:              lg,
	}
	if extra != nil {
		extra(props)
	}
	fn := awslambda.NewFunction(s.stack, jsii.String(spec.id), props)
	// Active tracing makes CDK add xray:PutTraceSegments and xray:PutTelemetryRecords:
	// X-Ray has no resource-level permissions for them.
	s.suppress(role, wildcards("X-Ray PutTraceSegments/PutTelemetryRecords and rds:DescribeExportTasks (startexport, awaitcallback) support only Resource \"*\".", "Resource::*"))
	s.fns[spec.name] = fn
	return fn
}

func (s *snaplake) addFunctions() {
	bucket := *s.bucket.BucketName()
	keyArn := *s.key.KeyArn()
	c := s.cfg

	start := s.newFunction(functionSpec{
		name: "startexport", id: "StartExport",
		description: "Validates a snapshot-created event and starts the RDS export to S3",
		timeout:     awscdk.Duration_Minutes(jsii.Number(1)), memoryMB: 256,
		env: map[string]string{
			"BUCKET":                   bucket,
			"EXPORT_PREFIX":            ExportPrefix,
			"EXPORT_ROLE_ARN":          *s.exportRole.RoleArn(),
			"KMS_KEY_ID":               keyArn,
			"DB_INSTANCE_IDS":          strings.Join(c.DBInstanceIDs, ","),
			"DATABASES":                strings.Join(c.Databases, ","),
			"INCLUDE_MANUAL_SNAPSHOTS": strconv.FormatBool(c.IncludeManualSnapshots),
			"EXPORT_TIMEOUT_SECONDS":   strconv.Itoa(c.ExportTimeoutHours * 3600),
			"CRAWL_TIMEOUT_SECONDS":    strconv.Itoa(c.CrawlTimeoutMinutes * 60),
		},
	}, nil)
	var snapshots []string
	for _, id := range c.DBInstanceIDs {
		// RDS authorizes StartExportTask against the snapshot's ARN (its AccessDenied
		// names "on resource: arn:aws:rds:R:A:snapshot:<id>").
		snapshots = append(snapshots, s.arn("rds", "snapshot:rds:"+id+"-*"))
		if c.IncludeManualSnapshots {
			snapshots = append(snapshots, s.arn("rds", "snapshot:"+id+"-*"))
		}
	}
	start.AddToRolePolicy(statement([]string{"rds:StartExportTask"}, snapshots...))
	// DescribeExportTasks has no resource type in the IAM Service Authorization
	// Reference (access level List): it only works with Resource "*".
	start.AddToRolePolicy(statement([]string{"rds:DescribeExportTasks"}, "*"))
	start.AddToRolePolicy(awsiam.NewPolicyStatement(&awsiam.PolicyStatementProps{
		Actions:   jsii.Strings("iam:PassRole"),
		Resources: jsii.Strings(*s.exportRole.RoleArn()),
		// RDS receives the role; both principals are listed because the export role
		// is assumed by export.rds.amazonaws.com while StartExportTask is rds's API.
		Conditions: &map[string]any{"StringEquals": map[string]any{"iam:PassedToService": []string{"rds.amazonaws.com", "export.rds.amazonaws.com"}}},
	}))
	// StartExportTask makes RDS create a grant on the key for the export's duration.
	start.AddToRolePolicy(statement([]string{"kms:DescribeKey"}, keyArn))
	start.AddToRolePolicy(awsiam.NewPolicyStatement(&awsiam.PolicyStatementProps{
		Actions:    jsii.Strings("kms:CreateGrant"),
		Resources:  jsii.Strings(keyArn),
		Conditions: &map[string]any{"Bool": map[string]any{"kms:GrantIsForAWSResource": "true"}},
	}))
	s.suppress(start.Role(),
		wildcards("rds:StartExportTask is limited to the automated (and, if enabled, manual) snapshots of the configured instances; their names end in a timestamp.",
			`regex:/^Resource::arn:<AWS::Partition>:rds:<AWS::Region>:<AWS::AccountId>:snapshot:.*-\*$/g`))

	await := s.newFunction(functionSpec{
		name: "awaitcallback", id: "AwaitCallback",
		description: "Stores a waiting execution's task token under callbacks/",
		timeout:     awscdk.Duration_Seconds(jsii.Number(30)), memoryMB: 256,
		env: map[string]string{"BUCKET": bucket, "CALLBACK_PREFIX": CallbackPrefix, "KMS_KEY_ID": keyArn},
	}, nil)
	await.AddToRolePolicy(statement([]string{"s3:PutObject", "s3:GetObject", "s3:DeleteObject"}, *s.bucket.ArnForObjects(jsii.String(CallbackPrefix + "*"))))
	await.AddToRolePolicy(statement([]string{"kms:GenerateDataKey", "kms:Decrypt"}, keyArn))
	// The crawl wait parks its token, then starts the crawler itself, so even an instant
	// crawl's event finds the token: StartCrawler on this stack's crawlers only.
	var crawlers []string
	for _, name := range c.CrawlerNames() {
		crawlers = append(crawlers, s.arn("glue", "crawler/"+name))
	}
	await.AddToRolePolicy(statement([]string{"glue:StartCrawler"}, crawlers...))
	// The export wait asks whether the export already ended (a re-run, or an export
	// that beat the token). DescribeExportTasks has no resource type: "*" only.
	await.AddToRolePolicy(statement([]string{"rds:DescribeExportTasks"}, "*"))
	s.suppress(await.Role(), wildcards("Task tokens are stored as callbacks/<kind>/<key>.json, one object per waiting task.", objectsUnder(CallbackPrefix)))

	// resume runs asynchronously from EventBridge: a failed resume is retried twice
	// by Lambda, then kept in the dead-letter queue, so the event that would have
	// resumed an execution is not lost before the execution's own timeout.
	resume := s.newFunction(functionSpec{
		name: "resume", id: "Resume",
		description: "Resumes the execution waiting for an export or crawl that finished",
		timeout:     awscdk.Duration_Minutes(jsii.Number(1)), memoryMB: 256,
		env: map[string]string{"BUCKET": bucket, "CALLBACK_PREFIX": CallbackPrefix},
	}, func(p *awslambda.FunctionProps) {
		p.DeadLetterQueue = s.dlq
		p.RetryAttempts = jsii.Number(2)
		p.MaxEventAge = awscdk.Duration_Hours(jsii.Number(6))
	})
	resume.AddToRolePolicy(statement([]string{"s3:GetObject", "s3:DeleteObject"}, *s.bucket.ArnForObjects(jsii.String(CallbackPrefix + "*"))))
	// Decrypt reads the token; GenerateDataKey writes to the encrypted dead-letter queue.
	resume.AddToRolePolicy(statement([]string{"kms:Decrypt", "kms:GenerateDataKey"}, keyArn))
	s.suppress(resume.Role(), wildcards("Task tokens are read from callbacks/<kind>/<key>.json, one object per waiting task.", objectsUnder(CallbackPrefix)))

	relocate := s.newFunction(functionSpec{
		name: "relocate", id: "Relocate",
		description: "Moves an export's table files to data/<database>/<table>/snapshot_date=YYYY-MM-DD/",
		timeout:     awscdk.Duration_Minutes(jsii.Number(15)), memoryMB: 1024,
		env: map[string]string{
			"BUCKET":              bucket,
			"SOURCE_PREFIX":       ExportPrefix,
			"DEST_PREFIX":         DataPrefix,
			"KMS_KEY_ID":          keyArn,
			"RETENTION":           strconv.Itoa(c.RetentionDays),
			"CONCURRENCY":         "64",
			"MULTIPART_THRESHOLD": "5368709120",
		},
	}, nil)
	exports := *s.bucket.ArnForObjects(jsii.String(ExportPrefix + "*"))
	data := *s.bucket.ArnForObjects(jsii.String(DataPrefix + "*"))
	relocate.AddToRolePolicy(awsiam.NewPolicyStatement(&awsiam.PolicyStatementProps{
		Actions:    jsii.Strings("s3:ListBucket"),
		Resources:  jsii.Strings(*s.bucket.BucketArn()),
		Conditions: &map[string]any{"StringLike": map[string]any{"s3:prefix": []string{ExportPrefix + "*", DataPrefix + "*"}}},
	}))
	relocate.AddToRolePolicy(statement([]string{"s3:GetObject", "s3:DeleteObject"}, exports))
	relocate.AddToRolePolicy(statement([]string{"s3:GetObject", "s3:PutObject", "s3:DeleteObject", "s3:AbortMultipartUpload", "s3:ListMultipartUploadParts"}, data))
	relocate.AddToRolePolicy(statement([]string{"kms:Decrypt", "kms:GenerateDataKey"}, keyArn))
	s.suppress(relocate.Role(), wildcards("Relocation reads every file of an export under exports/ and writes the tables' partitions under data/.",
		objectsUnder(ExportPrefix), objectsUnder(DataPrefix)))
}
