package deploy

// StackName is the CloudFormation stack the CDK app deploys, the stack `snaplake
// doctor` reads by default, and the stack the offline deployment is synthesized as.
const StackName = "Snaplake"

// Outputs of the stack: the CDK app writes them, `snaplake doctor` and the offline run
// read them back. JSON outputs map a function or role name (Fn*, Role*) to its ARN.
const (
	OutputBucketName         = "BucketName"
	OutputStateMachineArn    = "StateMachineArn"
	OutputTopicArn           = "TopicArn"
	OutputWorkGroupName      = "WorkGroupName"
	OutputGlueDatabases      = "GlueDatabases"
	OutputAnalystPolicyArn   = "AnalystPolicyArn"
	OutputDeadLetterQueueURL = "DeadLetterQueueUrl"
	OutputKeyArn             = "KeyArn"
	OutputRoleArns           = "RoleArns"
	OutputFunctionArns       = "FunctionArns"
	OutputDBInstanceIDs      = "DBInstanceIds"
	// OutputDBClusterIDs lists the exported Aurora clusters; a stack has it only
	// when it exports clusters (DBInstanceIds only when it exports instances).
	OutputDBClusterIDs    = "DBClusterIds"
	OutputSourceDatabases = "SourceDatabases"
	// OutputRuntimeCatalogAdministrator is the crawl wait's role where the stack makes
	// it a Lake Formation data lake administrator (a governed stack that catalogs new
	// databases at runtime): doctor checks it still is one.
	OutputRuntimeCatalogAdministrator = "RuntimeCatalogAdministrator"
)

// Outputs lists the outputs every stack has.
var Outputs = []string{
	OutputBucketName, OutputStateMachineArn, OutputTopicArn, OutputWorkGroupName, OutputGlueDatabases, OutputAnalystPolicyArn,
	OutputDeadLetterQueueURL, OutputKeyArn, OutputRoleArns, OutputFunctionArns, OutputSourceDatabases,
}

// SourceOutputs are the export's sources: a stack has at least one of them.
var SourceOutputs = []string{OutputDBInstanceIDs, OutputDBClusterIDs}

// Outputs of the config-driven ingestion: a stack has them all when its
// snaplake:ingest context section is set, none otherwise.
const (
	OutputIngestStateMachineArn  = "IngestStateMachineArn"
	OutputIngestJobName          = "IngestJobName"
	OutputIngestRoleArns         = "IngestRoleArns"
	OutputIngestFunctionArns     = "IngestFunctionArns"
	OutputIngestGlueDatabaseName = "IngestGlueDatabaseName"
	OutputIngestSecretArn        = "IngestSecretArn"
)

// IngestOutputs lists the ingestion's outputs.
var IngestOutputs = []string{
	OutputIngestStateMachineArn, OutputIngestJobName, OutputIngestRoleArns, OutputIngestFunctionArns,
	OutputIngestGlueDatabaseName, OutputIngestSecretArn,
}

// Outputs of the Federator: a stack has them all when its snaplake:federate context
// section is set, none otherwise (OutputFederateDatabaseUsers too).
const (
	OutputFederatePublishStateMachineArn   = "FederatePublishStateMachineArn"
	OutputFederateSubscribeStateMachineArn = "FederateSubscribeStateMachineArn"
	OutputFederateWarehouseRoleArn         = "FederateWarehouseRoleArn"
	OutputFederateRoleArns                 = "FederateRoleArns"
	OutputFederateFunctionArns             = "FederateFunctionArns"
	// OutputFederateItemStateMachineArns is JSON: the federate-item workflow of each
	// Federator function, which the workflows start for each item.
	OutputFederateItemStateMachineArns = "FederateItemStateMachineArns"
)

// FederateOutputs lists the Federator's outputs that doctor requires.
var FederateOutputs = []string{
	OutputFederatePublishStateMachineArn, OutputFederateSubscribeStateMachineArn, OutputFederateWarehouseRoleArn,
	OutputFederateRoleArns, OutputFederateFunctionArns, OutputFederateItemStateMachineArns,
}
