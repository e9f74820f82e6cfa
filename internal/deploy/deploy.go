// Package deploy owns the names and defaults that the CDK app, the Lambda functions,
// `snaplake doctor` and the offline run share: the stack and its outputs, bucket
// prefixes and key layouts, function names, environment variable names, crawler
// naming and timeouts. Each is spelled here once.
package deploy

import (
	"strings"
	"time"
)

// Prefixes of the lake bucket. Each ends with "/" so that no prefix is a prefix of a
// sibling's name.
const (
	ExportPrefix        = "exports/"        // RDS writes each export under exports/<export id>/
	DataPrefix          = "data/"           // data/<database>/<table>/snapshot_date=YYYY-MM-DD/
	CallbackPrefix      = "callbacks/"      // callbacks/<kind>/<key>.json: parked task tokens
	AthenaResultsPrefix = "athena-results/" // the Athena workgroup's query results
)

// Function names: the folder of each function's code (functions/<name>, and
// <lambdaAssetDir>/<name>/bootstrap), and the name it logs under.
const (
	FnStartExport   = "startexport"
	FnAwaitCallback = "awaitcallback"
	FnResume        = "resume"
	FnRelocate      = "relocate"
	FnLatest        = "latest"
)

// Functions lists every Lambda function the stack deploys.
var Functions = []string{FnStartExport, FnAwaitCallback, FnResume, FnRelocate, FnLatest}

// Environment variable names the functions read and the stack sets.
const (
	EnvBucket        = "BUCKET"
	EnvKMSKeyID      = "KMS_KEY_ID"
	EnvLogLevel      = "LOG_LEVEL"
	EnvExportPrefix  = "EXPORT_PREFIX"
	EnvExportRoleArn = "EXPORT_ROLE_ARN"
	EnvDBInstanceIDs = "DB_INSTANCE_IDS"
	EnvDBClusterIDs  = "DB_CLUSTER_IDS"
	EnvDatabases     = "DATABASES"
	// EnvCrawledDatabases are the source databases the stack deployed a Glue
	// database and crawler for (snaplake:databases): the relocate function crawls
	// only these and reports the night's other databases as not cataloged.
	EnvCrawledDatabases       = "CRAWLED_DATABASES"
	EnvIncludeManualSnapshots = "INCLUDE_MANUAL_SNAPSHOTS"
	EnvExportTimeoutSeconds   = "EXPORT_TIMEOUT_SECONDS"
	EnvExportRecheckSeconds   = "EXPORT_RECHECK_SECONDS"
	EnvCrawlTimeoutSeconds    = "CRAWL_TIMEOUT_SECONDS"
	EnvSnapshotTimeZone       = "SNAPSHOT_TIME_ZONE"
	EnvCallbackPrefix         = "CALLBACK_PREFIX"
	EnvSourcePrefix           = "SOURCE_PREFIX"
	EnvDestPrefix             = "DEST_PREFIX"
	EnvRetention              = "RETENTION"
	EnvConcurrency            = "CONCURRENCY"
	EnvMultipartThreshold     = "MULTIPART_THRESHOLD"
	EnvPartSize               = "PART_SIZE"
	EnvGlueDatabasePrefix     = "GLUE_DATABASE_PREFIX"
)

// Defaults of the deployment settings.
const (
	DefaultRetentionDays = 7
	DefaultExportTimeout = 12 * time.Hour
	// DefaultExportRecheck is how often a waiting export asks RDS for its status, so a
	// lost completion event (RDS sends events on a best-effort basis) costs minutes.
	DefaultExportRecheck    = 15 * time.Minute
	DefaultCrawlTimeout     = 60 * time.Minute
	DefaultSnapshotTimeZone = "UTC"
	DefaultLogRetentionDays = 90
	// DefaultLogLevel is the functions' EnvLogLevel and Lambda's application log
	// level: slog's level names, which are also Lambda's.
	DefaultLogLevel = "INFO"
)

// CrawlerNamePrefix starts every crawler's name; the state machine builds a crawler's
// name from it and the (lower-cased) database name the relocation returns.
const CrawlerNamePrefix = "snaplake-"

// CrawlerName is the crawler of a source database.
func CrawlerName(db string) string { return CrawlerNamePrefix + strings.ToLower(db) }

// GlueDatabaseName is the catalog database of a source database.
func GlueDatabaseName(prefix, db string) string { return prefix + strings.ToLower(db) }

// LatestDatabaseSuffix follows a snapshot database's name in the name of its
// companion database: one table per snapshot table, unpartitioned, at its newest
// snapshot_date folder, so that a query without a snapshot_date filter counts one
// night, not every retained one.
const LatestDatabaseSuffix = "_latest"

// LatestDatabaseName is the companion database of the snapshot database glueDB.
func LatestDatabaseName(glueDB string) string { return glueDB + LatestDatabaseSuffix }

// SnapshotPartitionKey is the partition column of every snapshot table: the folder
// level relocation writes (data/<database>/<table>/snapshot_date=YYYY-MM-DD/).
const SnapshotPartitionKey = "snapshot_date"

// SplitList reads a comma-separated environment value, dropping empty items.
func SplitList(s string) []string {
	var out []string
	for _, p := range strings.Split(s, ",") {
		if p = strings.TrimSpace(p); p != "" {
			out = append(out, p)
		}
	}
	return out
}

// RelocateManifestName is the file relocation keeps at an export's root
// (exports/<export id>/<name>) to resume after a kill; its role may write only this
// object under exports/.
const RelocateManifestName = "_snaplake_relocate_manifest.json"

// Tags that name what each resource is for; the offline contract and
// `snaplake doctor` find the functions and roles by them.
const (
	TagFunction = "snaplake:function" // on each Lambda function and its role: the function name
	TagRole     = "snaplake:role"     // on each service role: one of the Role* names below
)

// Service roles the stack creates besides the functions' roles.
const (
	RoleExport       = "rds-export"    // assumed by RDS to write an export into exports/
	RoleCrawler      = "glue-crawler"  // assumed by Glue to crawl data/<database>/
	RoleStateMachine = "state-machine" // assumed by Step Functions to run the workflow
	RoleEvents       = "events"        // assumed by EventBridge to start the workflow
)

// ServiceRoles lists the service roles, in the order tools report them.
var ServiceRoles = []string{RoleExport, RoleCrawler, RoleStateMachine, RoleEvents}

// DeadLetterQueueSuffix follows the stack name in the dead-letter queue's name: a
// fixed name, so the key policy can name the queue's ARN without depending on the
// queue, which depends on the key.
const DeadLetterQueueSuffix = "-dead-letters"

// CDKExecutionRoleName is the role CloudFormation deploys the stack as when the CDK
// app is bootstrapped with the default qualifier (`cdk bootstrap`): the CDK CLI hands
// it to CloudFormation, so it, not the person running `cdk deploy`, creates the
// stack's Lake Formation permissions and must be a data lake administrator.
func CDKExecutionRoleName(account, region string) string {
	return "cdk-hnb659fds-cfn-exec-role-" + account + "-" + region
}

// IAMAllowedPrincipals is the group that Lake Formation grants ALL on every new
// database and table by default, which leaves access to IAM alone.
const IAMAllowedPrincipals = "IAM_ALLOWED_PRINCIPALS"

// The export's quota metric: the start function logs each StartExportTask that RDS
// refuses over its quota of concurrent exports with LogKeyErrorCode =
// ExportQuotaErrorCode, and a metric filter on its log group counts those lines as
// ExportQuotaWaitsMetric, whose alarm tells the topic that a snapshot waits.
const (
	ExportMetricsNamespace = "Snaplake/Export"
	ExportQuotaWaitsMetric = "ExportQuotaWaits"
	LogKeyErrorCode        = "errorCode"
	// ExportQuotaErrorCode is RDS's error code over the quota (AWS's name).
	ExportQuotaErrorCode = "ExportTaskLimitReachedFault"
)
