package main

import (
	"fmt"
	"slices"
	"strings"

	"github.com/aws/aws-cdk-go/awscdk/v2"
	"github.com/aws/aws-cdk-go/awscdk/v2/awsiam"
	"github.com/aws/aws-cdk-go/awscdk/v2/awskms"
	"github.com/aws/aws-cdk-go/awscdk/v2/awslambda"
	"github.com/aws/aws-cdk-go/awscdk/v2/awslogs"
	"github.com/aws/aws-cdk-go/awscdk/v2/awss3"
	"github.com/aws/aws-cdk-go/awscdk/v2/awssns"
	"github.com/aws/aws-cdk-go/awscdk/v2/awssnssubscriptions"
	"github.com/aws/aws-cdk-go/awscdk/v2/awssqs"
	"github.com/aws/aws-cdk-go/awscdk/v2/awsstepfunctions"
	"github.com/aws/constructs-go/constructs/v10"
	"github.com/aws/jsii-runtime-go"

	"github.com/snaplake/snaplake/internal/deploy"
)

// SnaplakeStackProps configures the stack.
type SnaplakeStackProps struct {
	awscdk.StackProps
	Config Config
}

// snaplake carries the constructs that later parts of the stack refer to.
type snaplake struct {
	stack        awscdk.Stack
	cfg          Config
	name         string // stack name, a plain string: physical names derive from it
	key          awskms.Key
	bucket       awss3.Bucket
	topic        awssns.Topic
	dlq          awssqs.Queue
	exportRole   awsiam.Role
	fns          map[string]awslambda.Function
	stateMachine awsstepfunctions.StateMachine
	roles        map[string]awsiam.IRole // service roles by deploy.Role* name
	pending      []pendingSuppression
}

// NewSnaplakeStack builds the export pipeline: lake bucket, key, functions, the export
// state machine with its EventBridge rules, one Glue crawler per database and Athena.
func NewSnaplakeStack(scope constructs.Construct, id string, props *SnaplakeStackProps) awscdk.Stack {
	var sprops awscdk.StackProps
	var cfg Config
	if props != nil {
		sprops = props.StackProps
		cfg = props.Config
	}
	stack := awscdk.NewStack(scope, jsii.String(id), &sprops)
	s := &snaplake{stack: stack, cfg: cfg, name: *stack.StackName(), fns: map[string]awslambda.Function{}, roles: map[string]awsiam.IRole{}}

	for _, n := range ruleNames {
		if r := s.ruleName(n); len(r) > 64 {
			panic(fmt.Sprintf("stack name %q is too long: EventBridge rule name %q exceeds 64 characters", s.name, r))
		}
	}
	s.addKey()
	s.addStorage()
	s.addNotifications()
	s.addExportRole()
	s.addFunctions()
	s.addStateMachine()
	s.addRules()
	dbNames := s.addCatalog()
	workgroup := s.addAthena()
	var lakeDBs []string // registered with Lake Formation
	if cfg.Ingest != nil {
		lakeDBs = append(lakeDBs, cfg.Ingest.CatalogDatabase())
	}
	analyst := s.addAnalystPolicy(workgroup, dbNames, lakeDBs)
	s.addAlarms()
	s.addIngest()   // only with the snaplake:ingest context section
	s.addFederate() // only with the snaplake:federate context section
	serializeLakeGrants(stack)
	s.applySuppressions()

	out := func(id, value, desc string) {
		awscdk.NewCfnOutput(stack, jsii.String(id), &awscdk.CfnOutputProps{Value: jsii.String(value), Description: jsii.String(desc)})
	}
	out(deploy.OutputBucketName, *s.bucket.BucketName(), "The lake bucket: exports/, data/, callbacks/, athena-results/")
	out(deploy.OutputStateMachineArn, *s.stateMachine.StateMachineArn(), "The nightly export workflow")
	out(deploy.OutputTopicArn, *s.topic.TopicArn(), "Failure notifications")
	out(deploy.OutputWorkGroupName, workgroup, "Athena workgroup to query the lake with")
	out(deploy.OutputGlueDatabases, strings.Join(dbNames, ","), "Glue databases, one per source database")
	out(deploy.OutputAnalystPolicyArn, *analyst.ManagedPolicyArn(), "Attach to analysts' roles or groups: query the lake with Athena in the snaplake workgroup")
	out(deploy.OutputDeadLetterQueueURL, *s.dlq.QueueUrl(), "Events and resumes that failed every retry")
	out(deploy.OutputKeyArn, *s.key.KeyArn(), "The KMS key of the lake, its logs, topic and queue")
	out(deploy.OutputRoleArns, s.roleArns(), "JSON: the role of each function and service, for snaplake doctor")
	out(deploy.OutputFunctionArns, s.functionArns(), "JSON: each function's ARN, for snaplake doctor")
	out(deploy.OutputDBInstanceIDs, strings.Join(cfg.DBInstanceIDs, ","), "RDS instances whose snapshots are exported")
	out(deploy.OutputSourceDatabases, strings.Join(cfg.Databases, ","), "Source MySQL databases exported, as configured")
	return stack
}

// logGroupPrefix and stateLogGroupPrefix are where this stack's log groups live; the
// key policy lets CloudWatch Logs use the key for those names only.
func (s *snaplake) logGroupPrefix() string { return "/snaplake/" + s.name + "/" }

// Step Functions recommends /aws/vendedlogs/ so its log delivery need not grow the
// account's CloudWatch Logs resource policy.
func (s *snaplake) stateLogGroupPrefix() string {
	return "/aws/vendedlogs/states/snaplake/" + s.name + "/"
}

// Glue names the log group of an encrypted crawler /aws-glue/crawlers-role/<role>-<security configuration>.
const glueCrawlerLogGroupPrefix = "/aws-glue/crawlers-role/"

// dlqName is the dead-letter queue's fixed name (deploy.DeadLetterQueueSuffix).
func (s *snaplake) dlqName() string { return s.name + deploy.DeadLetterQueueSuffix }

func (s *snaplake) arn(service, resource string) string {
	return fmt.Sprintf("arn:%s:%s:%s:%s:%s", *s.stack.Partition(), service, *s.stack.Region(), *s.stack.Account(), resource)
}

func (s *snaplake) addKey() {
	s.key = awskms.NewKey(s.stack, jsii.String("Key"), &awskms.KeyProps{
		Description:       jsii.String("snaplake " + s.name + ": lake bucket, RDS exports, logs, topic, queue, Athena results"),
		EnableKeyRotation: jsii.Bool(true),
		// The default key policy gives the account root kms:* (required so IAM policies
		// can grant use of the key and the key stays manageable); the roles below get
		// only the actions they need through their own policies.
	})
	var logArns []any
	for _, p := range []string{s.logGroupPrefix(), s.stateLogGroupPrefix(), glueCrawlerLogGroupPrefix} {
		logArns = append(logArns, s.arn("logs", "log-group:"+p+"*"))
	}
	s.key.AddToResourcePolicy(awsiam.NewPolicyStatement(&awsiam.PolicyStatementProps{
		Sid:        jsii.String("CloudWatchLogsForSnaplakeLogGroups"),
		Principals: &[]awsiam.IPrincipal{awsiam.NewServicePrincipal(jsii.String("logs."+*s.stack.Region()+".amazonaws.com"), nil)},
		Actions:    jsii.Strings("kms:Encrypt*", "kms:Decrypt*", "kms:ReEncrypt*", "kms:GenerateDataKey*", "kms:Describe*"),
		Resources:  jsii.Strings("*"),
		Conditions: &map[string]any{"ArnLike": map[string]any{"kms:EncryptionContext:aws:logs:arn": logArns}},
	}), nil)
	// EventBridge writes undeliverable events to the KMS-encrypted dead-letter queue
	// itself (not through a role), so its service principal needs the key: SQS's
	// key management page has event sources' key policies allow "Service":
	// "<service>.amazonaws.com" kms:GenerateDataKey and kms:Decrypt. The KMS request
	// is made by SQS on EventBridge's behalf, and no page says it carries
	// aws:SourceArn; it does carry the calling service (kms:ViaService) and SQS's
	// encryption context, the queue's ARN, so the statement names this queue only.
	s.key.AddToResourcePolicy(awsiam.NewPolicyStatement(&awsiam.PolicyStatementProps{
		Sid:        jsii.String("EventBridgeDeadLetterQueue"),
		Principals: &[]awsiam.IPrincipal{awsiam.NewServicePrincipal(jsii.String("events.amazonaws.com"), nil)},
		Actions:    jsii.Strings("kms:Decrypt", "kms:GenerateDataKey"),
		Resources:  jsii.Strings("*"),
		Conditions: &map[string]any{"StringEquals": map[string]any{
			"kms:ViaService":                    "sqs." + *s.stack.Region() + ".amazonaws.com",
			"kms:EncryptionContext:aws:sqs:arn": s.arn("sqs", s.dlqName()),
		}},
	}), nil)
}

func (s *snaplake) addStorage() {
	logs := awss3.NewBucket(s.stack, jsii.String("AccessLogs"), &awss3.BucketProps{
		// S3 server access log delivery cannot write with a KMS key.
		Encryption:        awss3.BucketEncryption_S3_MANAGED,
		BlockPublicAccess: awss3.BlockPublicAccess_BLOCK_ALL(),
		EnforceSSL:        jsii.Bool(true),
		ObjectOwnership:   awss3.ObjectOwnership_BUCKET_OWNER_ENFORCED,
		LifecycleRules: &[]*awss3.LifecycleRule{{
			Id: jsii.String("expire-access-logs"), Expiration: awscdk.Duration_Days(jsii.Number(365)),
		}},
	})
	s.suppress(logs, nagRule("AwsSolutions-S1", "This is the access-log bucket of the lake bucket; logging it into itself would log its own log writes."))

	s.bucket = awss3.NewBucket(s.stack, jsii.String("Lake"), &awss3.BucketProps{
		Encryption:        awss3.BucketEncryption_KMS,
		EncryptionKey:     s.key,
		BucketKeyEnabled:  jsii.Bool(true),
		BlockPublicAccess: awss3.BlockPublicAccess_BLOCK_ALL(),
		EnforceSSL:        jsii.Bool(true),
		ObjectOwnership:   awss3.ObjectOwnership_BUCKET_OWNER_ENFORCED,
		// Versioning off: every object here is derived from RDS snapshots, which remain
		// the system of record, and relocation deletes each exported file after copying
		// it; versions would keep a second copy of every export and pruned partition.
		Versioned:              jsii.Bool(false),
		ServerAccessLogsBucket: logs,
		ServerAccessLogsPrefix: jsii.String("lake/"),
		LifecycleRules: &[]*awss3.LifecycleRule{
			// Relocation moves the table files out; what remains is the export's
			// metadata (export_info, export_tables_info), kept two weeks for audit.
			{Id: jsii.String("expire-exports"), Prefix: jsii.String(deploy.ExportPrefix), Expiration: awscdk.Duration_Days(jsii.Number(14))},
			{Id: jsii.String("expire-athena-results"), Prefix: jsii.String(deploy.AthenaResultsPrefix), Expiration: awscdk.Duration_Days(jsii.Number(30))},
			// A callback left behind by an execution that timed out is of no use after its run.
			{Id: jsii.String("expire-callbacks"), Prefix: jsii.String(deploy.CallbackPrefix), Expiration: awscdk.Duration_Days(jsii.Number(30))},
			{Id: jsii.String("abort-incomplete-multipart-uploads"), AbortIncompleteMultipartUploadAfter: awscdk.Duration_Days(jsii.Number(7))},
		},
	})
}

func (s *snaplake) addNotifications() {
	s.topic = awssns.NewTopic(s.stack, jsii.String("Notifications"), &awssns.TopicProps{
		DisplayName: jsii.String("snaplake " + s.name),
		MasterKey:   s.key,
		EnforceSSL:  jsii.Bool(true),
	})
	if s.cfg.NotificationEmail != "" {
		s.topic.AddSubscription(awssnssubscriptions.NewEmailSubscription(jsii.String(s.cfg.NotificationEmail), nil))
	}
	s.dlq = awssqs.NewQueue(s.stack, jsii.String("DeadLetters"), &awssqs.QueueProps{
		QueueName:           jsii.String(s.dlqName()),
		Encryption:          awssqs.QueueEncryption_KMS,
		EncryptionMasterKey: s.key,
		EnforceSSL:          jsii.Bool(true),
		RetentionPeriod:     awscdk.Duration_Days(jsii.Number(14)),
	})
	s.suppress(s.dlq, nagRule("AwsSolutions-SQS3", "This queue is the dead-letter queue of the EventBridge targets and the resume function."))
}

// addExportRole is the role RDS assumes to write an export into exports/.
func (s *snaplake) addExportRole() {
	s.exportRole = s.serviceRole("ExportRole", "RDS snapshot export writes Parquet into the lake bucket's exports/", "export.rds.amazonaws.com")
	s.tagRole(s.exportRole, deploy.RoleExport)
	exports := *s.bucket.ArnForObjects(jsii.String(deploy.ExportPrefix + "*"))
	// The action wildcards are the ones the RDS documentation lists for the export role.
	s.exportRole.AddToPolicy(statement([]string{"s3:PutObject*", "s3:GetObject*", "s3:DeleteObject*"}, exports))
	// Bucket-level actions: RDS checks the bucket before it writes; AWS documents no
	// s3:prefix it lists with, so no prefix condition that could fail the export.
	s.exportRole.AddToPolicy(statement([]string{"s3:ListBucket", "s3:GetBucketLocation"}, *s.bucket.BucketArn()))
	s.exportRole.AddToPolicy(statement([]string{"kms:Encrypt", "kms:Decrypt", "kms:GenerateDataKey", "kms:DescribeKey"}, *s.key.KeyArn()))
	s.suppress(s.exportRole,
		wildcards("The RDS export role needs the s3:*Object* action families the RDS documentation lists, on exports/ only.",
			"Action::s3:PutObject*", "Action::s3:GetObject*", "Action::s3:DeleteObject*", objectsUnder(deploy.ExportPrefix)))
}

func (s *snaplake) logGroup(id, name string) awslogs.LogGroup {
	return awslogs.NewLogGroup(s.stack, jsii.String(id), &awslogs.LogGroupProps{
		LogGroupName:  jsii.String(name),
		Retention:     awslogs.RetentionDays(logRetention[s.cfg.LogRetentionDays]),
		EncryptionKey: s.key,
	})
}

// statement allows actions on resources.
func statement(actions []string, resources ...string) awsiam.PolicyStatement {
	return awsiam.NewPolicyStatement(&awsiam.PolicyStatementProps{
		Actions:   jsii.Strings(actions...),
		Resources: jsii.Strings(resources...),
	})
}

// tagRole marks a service role with what it is for and remembers it for the outputs.
func (s *snaplake) tagRole(role awsiam.IRole, name string) {
	awscdk.Tags_Of(role).Add(jsii.String(deploy.TagRole), jsii.String(name), nil)
	s.roles[name] = role
}

// functionArns is the FunctionArns output: {"<function>": "<function ARN>"}.
func (s *snaplake) functionArns() string {
	return jsonObject(deploy.Functions, func(name string) string { return *s.fns[name].FunctionArn() })
}

// roleArns is the RoleArns output: {"<function or service role>": "<role ARN>"}, the
// names `snaplake doctor` finds in the recorded permission list.
func (s *snaplake) roleArns() string {
	return jsonObject(append(slices.Clone(deploy.Functions), deploy.ServiceRoles...), func(name string) string {
		if fn, ok := s.fns[name]; ok {
			return *fn.Role().RoleArn()
		}
		return *s.roles[name].RoleArn()
	})
}

// jsonObject writes {"name": value, ...} in the order of names; the values may be
// CDK tokens, which CloudFormation resolves inside the string.
func jsonObject(names []string, value func(string) string) string {
	parts := make([]string, len(names))
	for i, name := range names {
		parts[i] = fmt.Sprintf("%q:%q", name, value(name))
	}
	return "{" + strings.Join(parts, ",") + "}"
}

// serializeLakeGrants makes CloudFormation create the stack's Lake Formation grants one
// after another: AWS::LakeFormation::PrincipalPermissions created in parallel can fail
// with AlreadyExists (aws-cloudformation/cloudformation-coverage-roadmap#2500), and a
// failed first deploy rolls the whole stack back. A handful of grants created in
// sequence costs seconds.
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
