package deploy

import "time"

// The Federator's part of the deployment (the "snaplake:federate" context section).

// Federator functions.
const (
	FnPublish   = "publish"   // lists the tables, publishes one, or sums up a run
	FnSubscribe = "subscribe" // lists the subscribers, brings one up to date, or sums up
)

// FederateFunctions lists the functions the Federator construct deploys.
var FederateFunctions = []string{FnPublish, FnSubscribe}

// Federator service roles.
const (
	RoleFederateMachine = "federate-state-machine" // runs both workflows
	// RoleFederateItemMachine runs the federate-item workflows, which both workflows
	// start for each item (StartExecution .sync:2): it invokes the functions only.
	RoleFederateItemMachine = "federate-item-state-machine"
	RoleFederateScheduler   = "federate-scheduler" // starts them on their schedules
	// RoleFederateWarehouse is the role the warehouses' UNLOAD and COPY assume: it
	// reaches federator/ only.
	RoleFederateWarehouse = "federate-warehouse"
	// RoleFederatePublishEvents and RoleFederateSubscribeEvents are the roles
	// EventBridge starts one workflow each as: publish on a transform's "Transform
	// Finished" event, subscribe on a published manifest's "Object Created".
	RoleFederatePublishEvents   = "federate-publish-events"
	RoleFederateSubscribeEvents = "federate-subscribe-events"
)

// FederateServiceRoles lists the Federator's service roles.
var FederateServiceRoles = []string{RoleFederateMachine, RoleFederateItemMachine, RoleFederateScheduler, RoleFederateWarehouse, RoleFederatePublishEvents, RoleFederateSubscribeEvents}

// FederatePrefix holds the published versions: federator/<schema>/<table>/<version>/.
const FederatePrefix = "federator/"

// FederateLeasePrefix holds the runs' leases: one per subscriber (one run loads it at
// a time) and one per published table (one run publishes it at a time). The "." keeps
// it apart from every schema's folder: a schema name cannot contain one.
const FederateLeasePrefix = FederatePrefix + ".leases/"

// FederateSubscriberLeaseKey is the lease of a subscriber's runs.
func FederateSubscriberLeaseKey(subscriber string) string {
	return FederateLeasePrefix + "subscribers/" + subscriber + ".json"
}

// FederateStatementPrefix holds the UNLOADs and COPYs the workflows are waiting for:
// one record per (table, publisher or subscriber), written before the wait and read
// first by every run, so that a retried or re-run step resumes the one running
// statement rather than submitting another.
const FederateStatementPrefix = FederatePrefix + ".statements/"

// FederatePublishStatementKey is the record of schema.table's running UNLOAD.
func FederatePublishStatementKey(table string) string {
	return FederateStatementPrefix + table + "/publish.json"
}

// FederateSubscribeStatementKey is the record of subscriber's running COPY of
// schema.table.
func FederateSubscribeStatementKey(table, subscriber string) string {
	return FederateStatementPrefix + table + "/subscribers/" + subscriber + ".json"
}

// FederateStatementTimeout bounds one UNLOAD or COPY by default (the config's
// federate.statementTimeout); FederateStatementPoll is the first pause between two
// checks of a statement (federate.statementPoll).
const (
	FederateStatementTimeout = 12 * time.Hour
	FederateStatementPoll    = 10 * time.Second
)

// FederateBackoffMin and FederateBackoffMax bound the wait before a table whose
// UNLOAD failed or was cancelled is tried again: the failed statement's run time (at
// least the minimum), doubled for each further failure in a row, at most the
// maximum. A 12-hour UNLOAD cancelled at its limit is then not submitted again
// every schedule period against the transform warehouse.
const (
	FederateBackoffMin = 15 * time.Minute
	FederateBackoffMax = 24 * time.Hour
)

// FederatePublishLeaseKey is the lease of the runs publishing schema.table.
func FederatePublishLeaseKey(table string) string {
	return FederateLeasePrefix + "tables/" + table + ".json"
}

// Environment of the Federator's functions (with EnvBucket, EnvKMSKeyID, EnvLogLevel).
const (
	// EnvWarehouseRoleArn is the role UNLOAD and COPY name (IAM_ROLE).
	EnvWarehouseRoleArn = "WAREHOUSE_ROLE_ARN"
	// EnvBucketRegion is the lake bucket's Region, which UNLOAD and COPY name
	// (REGION) so that a warehouse in another Region reaches the bucket.
	EnvBucketRegion = "BUCKET_REGION"
)

// OutputFederateDatabaseUsers is the stack output naming, per Federator function,
// the database user it is when it signs in as its IAM identity (JSON).
const OutputFederateDatabaseUsers = "FederateDatabaseUsers"

// IAMRoleDatabaseUser is the Redshift database user of an IAM role's sign-in without
// a secret or database user: "IAMR:<role name>" (Redshift Data API: "the database
// user name is IAMR:<role name>" for a role; created on first sign-in, with no
// privileges but PUBLIC's).
func IAMRoleDatabaseUser(roleName string) string { return "IAMR:" + roleName }

// FederateMetricsNamespace is the namespace of the Federator's metrics.
const FederateMetricsNamespace = "Snaplake/Federator"

// The subscribe summary's per-subscriber lag metrics (dimension
// FederateDimensionSubscriber): the greatest lag of its tables, and that lag minus the
// subscriber's maxLag from config/snaplake.yaml. The stack alarms on the second
// above 0: the threshold stays in the runtime config, which the stack never reads.
const (
	FederateDimensionSubscriber = "Subscriber"
	FederateMetricLag           = "SubscriberLagSeconds"
	FederateMetricLagOverMaxLag = "SubscriberLagOverMaxLagSeconds"
)
