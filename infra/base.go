package main

import (
	"fmt"
	"slices"
	"strings"

	"github.com/aws/aws-cdk-go/awscdk/v2"
	"github.com/aws/aws-cdk-go/awscdk/v2/awsiam"
	"github.com/aws/aws-cdk-go/awscdk/v2/awskms"
	"github.com/aws/aws-cdk-go/awscdk/v2/awslambda"
	"github.com/aws/aws-cdk-go/awscdk/v2/awss3"
	"github.com/aws/aws-cdk-go/awscdk/v2/awsscheduler"
	"github.com/aws/aws-cdk-go/awscdk/v2/awssns"
	"github.com/aws/aws-cdk-go/awscdk/v2/awssnssubscriptions"
	"github.com/aws/aws-cdk-go/awscdk/v2/awssqs"
	"github.com/aws/jsii-runtime-go"

	"github.com/snaplake/snaplake/internal/deploy"
)

// Base is what every capability builds on: the lake bucket and its KMS key, the
// failure topic and the dead-letter queue, and the one way of making a function, a
// service role, a workflow, an alarm, a schedule, an output or a cdk-nag
// suppression (base_*.go). The capabilities (export.go, ingest.go, federate.go)
// take a *Base and add their resources to its stack.
//
// Why the capabilities are Go types and not CDK child scopes: CloudFormation knows
// a resource by its logical ID, which the CDK derives from the construct's path
// (the path components, and a hash of the path, for anything below the stack's
// children; a component "Default" is left out). A construct scope "Ingest" would
// turn IngestGlueDatabase into IngestIngestGlueDatabase<hash>, and every role's
// DefaultPolicy PolicyName with it (the CDK names an inline policy after its logical
// ID). A stack deployed before would then be updated by creating a second Glue
// database, function, role or state machine of the same name, which fails. So every
// resource is created with the stack as its scope, whichever capability creates it,
// and TestTemplatesUnchanged holds the template to the one deployed stacks have.
type Base struct {
	stack   awscdk.Stack
	name    string // stack name, a plain string: physical names derive from it
	props   BaseProps
	key     awskms.Key
	bucket  awss3.Bucket
	topic   awssns.Topic
	dlq     awssqs.Queue
	fns     map[string]awslambda.Function // every capability's, by deploy.Fn* name
	roles   map[string]awsiam.IRole       // service roles by deploy.Role* name
	alarms  []string                      // alarm names, for the key policy (alarmName)
	pending []pendingSuppression
	// schedGroup is the shared "snaplake" schedule group (snaplakeScheduleGroup).
	schedGroup awsscheduler.CfnScheduleGroup
}

// BaseProps are the settings every capability shares.
type BaseProps struct {
	NotificationEmail string // optional subscriber of the failure topic
	LambdaAssetDir    string // <dir>/<function>/bootstrap
	LogRetentionDays  int    // of every log group (a key of logRetention)
}

// NewBase creates the shared resources in stack: the key, the lake bucket and its
// access-log bucket, the topic and the dead-letter queue.
func NewBase(stack awscdk.Stack, props BaseProps) *Base {
	b := &Base{
		stack: stack, name: *stack.StackName(), props: props,
		fns: map[string]awslambda.Function{}, roles: map[string]awsiam.IRole{},
	}
	b.addKey()
	b.addStorage()
	b.addNotifications()
	return b
}

// Finish does what needs every capability in place: the Lake Formation grants
// chained, the suppressions attached. Call it once, after the last capability.
func (b *Base) Finish() {
	serializeLakeGrants(b.stack)
	b.applySuppressions()
}

// Outputs writes the shared resources' outputs.
func (b *Base) Outputs() {
	b.output(deploy.OutputBucketName, *b.bucket.BucketName(), "The lake bucket: exports/, data/, callbacks/, athena-results/")
	b.output(deploy.OutputTopicArn, *b.topic.TopicArn(), "Failure notifications")
	b.output(deploy.OutputDeadLetterQueueURL, *b.dlq.QueueUrl(), "Events and resumes that failed every retry")
	b.output(deploy.OutputKeyArn, *b.key.KeyArn(), "The KMS key of the lake, its logs, topic and queue")
}

// logGroupPrefix and stateLogGroupPrefix are where this stack's log groups live; the
// key policy lets CloudWatch Logs use the key for those names only.
func (b *Base) logGroupPrefix() string { return "/snaplake/" + b.name + "/" }

// Step Functions recommends /aws/vendedlogs/ so its log delivery need not grow the
// account's CloudWatch Logs resource policy.
func (b *Base) stateLogGroupPrefix() string {
	return "/aws/vendedlogs/states/snaplake/" + b.name + "/"
}

// Glue names the log group of an encrypted crawler /aws-glue/crawlers-role/<role>-<security configuration>.
const glueCrawlerLogGroupPrefix = "/aws-glue/crawlers-role/"

// dlqName is the dead-letter queue's fixed name (deploy.DeadLetterQueueSuffix).
func (b *Base) dlqName() string { return b.name + deploy.DeadLetterQueueSuffix }

func (b *Base) addKey() {
	b.key = awskms.NewKey(b.stack, jsii.String("Key"), &awskms.KeyProps{
		Description:       jsii.String("snaplake " + b.name + ": lake bucket, RDS exports, logs, topic, queue, Athena results"),
		EnableKeyRotation: jsii.Bool(true),
		// The default key policy gives the account root kms:* (required so IAM policies
		// can grant use of the key and the key stays manageable); the roles below get
		// only the actions they need through their own policies.
	})
	var logArns []any
	for _, p := range []string{b.logGroupPrefix(), b.stateLogGroupPrefix(), glueCrawlerLogGroupPrefix} {
		logArns = append(logArns, b.arn("logs", "log-group:"+p+"*"))
	}
	b.key.AddToResourcePolicy(awsiam.NewPolicyStatement(&awsiam.PolicyStatementProps{
		Sid:        jsii.String("CloudWatchLogsForSnaplakeLogGroups"),
		Principals: &[]awsiam.IPrincipal{awsiam.NewServicePrincipal(jsii.String("logs."+*b.stack.Region()+".amazonaws.com"), nil)},
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
	b.key.AddToResourcePolicy(awsiam.NewPolicyStatement(&awsiam.PolicyStatementProps{
		Sid:        jsii.String("EventBridgeDeadLetterQueue"),
		Principals: &[]awsiam.IPrincipal{awsiam.NewServicePrincipal(jsii.String("events.amazonaws.com"), nil)},
		Actions:    jsii.Strings("kms:Decrypt", "kms:GenerateDataKey"),
		Resources:  jsii.Strings("*"),
		Conditions: &map[string]any{"StringEquals": map[string]any{
			"kms:ViaService":                    "sqs." + *b.stack.Region() + ".amazonaws.com",
			"kms:EncryptionContext:aws:sqs:arn": b.arn("sqs", b.dlqName()),
		}},
	}), nil)
	// CloudWatch publishes alarm notifications to the KMS-encrypted topic itself; the
	// key lets it do so for this stack's alarms only. Each capability names its
	// alarms later (alarmName): the list is read when the template is written.
	b.key.AddToResourcePolicy(awsiam.NewPolicyStatement(&awsiam.PolicyStatementProps{
		Sid:        jsii.String("CloudWatchAlarmsToEncryptedTopic"),
		Principals: &[]awsiam.IPrincipal{awsiam.NewServicePrincipal(jsii.String("cloudwatch.amazonaws.com"), nil)},
		Actions:    jsii.Strings("kms:Decrypt", "kms:GenerateDataKey"),
		Resources:  jsii.Strings("*"),
		Conditions: &map[string]any{"ArnLike": map[string]any{"aws:SourceArn": awscdk.Lazy_Any(&alarmArns{b}, nil)}},
	}), nil)
}

// alarmArns produces the ARNs of the alarms the capabilities named.
type alarmArns struct{ b *Base }

func (p *alarmArns) Produce() any {
	if len(p.b.alarms) == 0 {
		panic("no alarm was named: the key policy's alarm statement would be empty")
	}
	var arns []any
	for _, name := range p.b.alarms {
		arns = append(arns, p.b.arn("cloudwatch", "alarm:"+name))
	}
	return arns
}

func (b *Base) addStorage() {
	logs := awss3.NewBucket(b.stack, jsii.String("AccessLogs"), &awss3.BucketProps{
		// S3 server access log delivery cannot write with a KMS key.
		Encryption:        awss3.BucketEncryption_S3_MANAGED,
		BlockPublicAccess: awss3.BlockPublicAccess_BLOCK_ALL(),
		EnforceSSL:        jsii.Bool(true),
		ObjectOwnership:   awss3.ObjectOwnership_BUCKET_OWNER_ENFORCED,
		LifecycleRules: &[]*awss3.LifecycleRule{{
			Id: jsii.String("expire-access-logs"), Expiration: awscdk.Duration_Days(jsii.Number(365)),
		}},
	})
	b.suppress(logs, nagRule("AwsSolutions-S1", "This is the access-log bucket of the lake bucket; logging it into itself would log its own log writes."))

	b.bucket = awss3.NewBucket(b.stack, jsii.String("Lake"), &awss3.BucketProps{
		Encryption:        awss3.BucketEncryption_KMS,
		EncryptionKey:     b.key,
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

func (b *Base) addNotifications() {
	b.topic = awssns.NewTopic(b.stack, jsii.String("Notifications"), &awssns.TopicProps{
		DisplayName: jsii.String("snaplake " + b.name),
		MasterKey:   b.key,
		EnforceSSL:  jsii.Bool(true),
	})
	if b.props.NotificationEmail != "" {
		b.topic.AddSubscription(awssnssubscriptions.NewEmailSubscription(jsii.String(b.props.NotificationEmail), nil))
	}
	b.dlq = awssqs.NewQueue(b.stack, jsii.String("DeadLetters"), &awssqs.QueueProps{
		QueueName:           jsii.String(b.dlqName()),
		Encryption:          awssqs.QueueEncryption_KMS,
		EncryptionMasterKey: b.key,
		EnforceSSL:          jsii.Bool(true),
		RetentionPeriod:     awscdk.Duration_Days(jsii.Number(14)),
	})
	b.suppress(b.dlq, nagRule("AwsSolutions-SQS3", "This queue is the dead-letter queue of the EventBridge targets and the resume function."))
}

// output writes one stack output.
func (b *Base) output(id, value, desc string) {
	awscdk.NewCfnOutput(b.stack, jsii.String(id), &awscdk.CfnOutputProps{Value: jsii.String(value), Description: jsii.String(desc)})
}

// tagRole marks a service role with what it is for and remembers it for the outputs.
func (b *Base) tagRole(role awsiam.IRole, name string) {
	awscdk.Tags_Of(role).Add(jsii.String(deploy.TagRole), jsii.String(name), nil)
	b.roles[name] = role
}

// functionArns is a FunctionArns output: {"<function>": "<function ARN>"}.
func (b *Base) functionArns(functions []string) string {
	return jsonObject(functions, func(name string) string { return *b.fns[name].FunctionArn() })
}

// roleArns is a RoleArns output: {"<function or service role>": "<role ARN>"}, the
// names `snaplake doctor` finds in the recorded permission list.
func (b *Base) roleArns(functions, serviceRoles []string) string {
	return jsonObject(slices.Concat(functions, serviceRoles), func(name string) string {
		if fn, ok := b.fns[name]; ok {
			return *fn.Role().RoleArn()
		}
		return *b.roles[name].RoleArn()
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
