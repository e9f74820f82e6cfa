package deploy

import (
	"strings"
	"time"
)

// The config-driven ingestion's part of the deployment (the "snaplake:ingest"
// context section): its functions, roles, names and environment.

// Ingest functions.
const (
	FnReconfigure  = "reconfigure"  // starts a run: config, discovery, plan, leases, crawler, schedules
	FnFinishIngest = "finishingest" // ends a run: watermarks, generation switches, cleanup, summary
	FnApplyGrants  = "applygrants"  // brings the Lake Formation grants in line with the config
	// FnIngestCurrent builds one incremental table's current generation after the
	// load (a Map over the run's tables), before the finish commits the watermarks.
	FnIngestCurrent = "ingestcurrent"
)

// IngestFunctions lists the functions the ingest construct deploys.
var IngestFunctions = []string{FnReconfigure, FnFinishIngest, FnApplyGrants, FnIngestCurrent}

// Ingest service roles.
const (
	RoleIngestJob       = "glue-ingest-job"     // assumed by Glue to run the load job
	RoleIngestCrawler   = "glue-ingest-crawler" // assumed by Glue to crawl raw/<database>/
	RoleIngestMachine   = "ingest-state-machine"
	RoleIngestScheduler = "ingest-scheduler" // assumed by EventBridge Scheduler to start runs
)

// IngestServiceRoles lists the ingest service roles.
var IngestServiceRoles = []string{RoleIngestJob, RoleIngestCrawler, RoleIngestMachine, RoleIngestScheduler}

// Environment of the ingest functions (with EnvBucket, EnvKMSKeyID, EnvLogLevel).
const (
	// EnvIngestDatabase is the source database the stack ingests; the config's
	// ingest.source.database must name it.
	EnvIngestDatabase = "INGEST_DATABASE"
	// EnvMySQLEndpoint is host:port of the source; EnvSecretArn the secret with its
	// "username" and "password".
	EnvMySQLEndpoint = "MYSQL_ENDPOINT"
	EnvSecretArn     = "SECRET_ARN"
	// EnvLeaseTTLSeconds bounds how long a dead run keeps its tables.
	EnvLeaseTTLSeconds = "LEASE_TTL_SECONDS"
	// EnvGraceSeconds is how long a replaced generation is kept for running queries.
	EnvGraceSeconds = "GRACE_SECONDS"
	// EnvScheduleGroup is the Scheduler group of the sets' schedules.
	EnvScheduleGroup = "SCHEDULE_GROUP"
	// EnvAccountID and EnvPartition turn role names of the access rules into ARNs.
	EnvAccountID = "ACCOUNT_ID"
	EnvPartition = "PARTITION"
	// EnvKeepPrincipals are the role ARNs whose Lake Formation grants the stack
	// makes (crawler, job, functions): the config's grants never revoke them.
	EnvKeepPrincipals = "KEEP_PRINCIPALS"
	// EnvSnapshotDatabases are the Glue databases of the nightly snapshots whose
	// access the config's rules govern through Lake Formation (with
	// EnvGlueDatabasePrefix, how a source database's is named); empty: none.
	EnvSnapshotDatabases = "SNAPSHOT_DATABASES"
	// EnvCrawlPollSeconds is how often the ingest workflow asks whether its crawl
	// has ended; EnvCrawlTimeoutSeconds (shared with the export) bounds the wait.
	EnvCrawlPollSeconds = "CRAWL_POLL_SECONDS"
)

// Prefixes of the ingestion, in the lake bucket.
const (
	RawPrefix         = "raw/"               // raw/<database>/<table>/{load,gen}=<run>/
	IngestStatePrefix = "state/ingest/"      // state/ingest/<database>/<table>/{watermark,lease}.json
	IngestSetsPrefix  = "state/ingest-sets/" // state/ingest-sets/<database>/<set>/lease.json
	IngestRunsPrefix  = "state/ingest-runs/" // state/ingest-runs/<run>/{plan.json,results/}
	ConfigKey         = "config/snaplake.yaml"
	// IngestCurrentPrefix holds the current generations of incremental tables:
	// current/<database>/<table>/gen=<run>/ (IngestCurrentFolder).
	IngestCurrentPrefix = "current/"
)

// Sizes of the ingestcurrent function: it merges local copies of a table's
// previous generation and load, so its /tmp bounds the table it can rebuild.
const (
	IngestCurrentMemoryMB    = 2048
	IngestCurrentEphemeralMB = 10240
)

// IngestCurrentSuffix makes the name of the Glue database of the current tables
// from the ingest database's: raw_shop -> raw_shop_current.
const IngestCurrentSuffix = "_current"

// IngestCurrentCatalogDatabase is the Glue database of a source database's current
// tables: one table per ingested table, each key once (IngestCurrentSuffix).
func IngestCurrentCatalogDatabase(source string) string {
	return IngestCatalogDatabase(source) + IngestCurrentSuffix
}

// IngestCurrentDestination is the folder of an incremental table's current
// generations; lakeDatabase and table are lake (normalized) names.
func IngestCurrentDestination(lakeDatabase, table string) string {
	return IngestCurrentPrefix + lakeDatabase + "/" + table + "/"
}

// IngestCurrentResultKey is where the current function records what it built for
// a table of a run, for the finish: state/ingest-runs/<run>/current/<table>.json.
func IngestCurrentResultKey(run, table string) string {
	return IngestRunsPrefix + run + "/current/" + table + ".json"
}

// IngestPlanKey is the key of a run's plan, which the reconfigure function writes and
// the load job and the finish function read; IngestPlanKey("*") is what their IAM
// policies name.
func IngestPlanKey(run string) string { return IngestRunsPrefix + run + "/plan.json" }

// IngestResultsPrefix holds a run's table results, which the load job writes and the
// finish function reads: IngestResultsPrefix(run)<table>/.
func IngestResultsPrefix(run string) string { return IngestRunsPrefix + run + "/results/" }

// Deploy settings of the load job, fields of the "snaplake:ingest" context section:
// the Glue version, worker type and count. A split table's key ranges are read in parallel,
// one per executor core (G.1X: 4 vCPUs, G.2X: 8, G.4X: 16, G.8X: 32; one worker is
// the driver), so workers bound both the speed and the connections to the source.
const (
	IngestFieldGlueVersion      = "glueVersion"
	DefaultIngestGlueVersion    = "5.0"
	IngestFieldGlueWorkerType   = "glueWorkerType"
	IngestFieldGlueWorkers      = "glueWorkers"
	DefaultIngestGlueWorkerType = "G.1X"
	DefaultIngestGlueWorkers    = 2
	// MaxIngestGlueWorkers is the most NumberOfWorkers Glue accepts for G.1X (and
	// the bound kept for G.4X and G.8X, for which the API reference gives none).
	MaxIngestGlueWorkers = 299
)

// MaxGlueWorkersOf is the most NumberOfWorkers Glue accepts for a worker type: the
// Glue API reference's NumberOfWorkers says "299 for G.1X, and 149 for G.2X".
func MaxGlueWorkersOf(workerType string) int {
	if workerType == "G.2X" {
		return 149
	}
	return MaxIngestGlueWorkers
}

// Deploy settings of the workflow's wait for its crawl, fields of the
// "snaplake:ingest" context section, set on the reconfigure function as
// EnvCrawlPollSeconds and EnvCrawlTimeoutSeconds (defaults DefaultIngestCrawlPoll
// and DefaultIngestCrawlTimeout). The grants follow the crawl, and a crawl that
// outlasts the timeout fails the run with a notification.
const (
	IngestFieldCrawlPollSeconds    = "crawlPollSeconds"
	IngestFieldCrawlTimeoutMinutes = "crawlTimeoutMinutes"
	// MaxIngestCrawlPoll and MaxIngestCrawlTimeout bound the settings: a poll of
	// more than 10 minutes only delays the grants, and a crawl of one run's tables
	// that has not ended in a day will not (the next daily run would find the
	// crawler still running).
	MaxIngestCrawlPoll    = 10 * time.Minute
	MaxIngestCrawlTimeout = 24 * time.Hour
)

// IngestGlueVersions are the Glue versions the load job runs on. The job reads MySQL
// with Spark's JDBC source and the MySQL Connector/J that Glue puts on the classpath
// of Spark jobs (Glue 4.0: 8.0.23, 5.0: 8.0.33, "JDBC connections"), and writes s3://
// through EMRFS with the security configuration's SSE-KMS. Not 3.0 and older (Python
// 3.7, past end of support) nor 5.1 (S3A replaces EMRFS as the default S3 connector,
// whose use of the security configuration no page confirms). Glue ends support for a
// version when a major component leaves community LTS; after end of life no job of
// that version can be created or run, so the default follows the newest listed.
var IngestGlueVersions = []string{"4.0", "5.0"}

// IngestGlueWorkerTypes are the worker types of Glue Spark ETL jobs (G.025X is for
// streaming jobs only).
var IngestGlueWorkerTypes = []string{"G.1X", "G.2X", "G.4X", "G.8X"}

// IngestMetricsNamespace is the namespace of the ingest runs' metrics (embedded
// metric format in the finish function's log).
const IngestMetricsNamespace = "Snaplake/Ingest"

// The ingest runs' metrics are per set, by the dimension IngestMetricDimensionSet.
// IngestRunSucceededMetric (1) is written by the finish of a run that committed
// every table it planned: each set's freshness alarm fires when none arrives within
// the set's longest gap between two scheduled runs plus IngestFreshnessSlack.
const (
	IngestMetricDimensionSet = "Set"
	IngestRunSucceededMetric = "RunSucceeded"
	// IngestFreshnessSlack is what a run may take beyond its schedule before the
	// alarm says its set is stale: a load of hours, a retried start, a late crawl.
	IngestFreshnessSlack = 3 * time.Hour
)

// IngestFreshnessAlarm is the name (after the stack's) of the set's freshness alarm.
func IngestFreshnessAlarm(set string) string { return "ingest-" + set + "-stale" }

// Names of the ingest resources.
const (
	IngestJobName       = "snaplake-ingest"
	IngestScheduleGroup = "snaplake"
)

// IngestCrawlerName is the crawler of a set: one per set, so that two sets' runs
// never point one crawler at different tables.
func IngestCrawlerName(set string) string { return "snaplake-ingest-" + set }

// IngestScheduleName is the schedule of a set.
func IngestScheduleName(set string) string { return "snaplake-ingest-" + set }

// Defaults of the ingestion.
const (
	DefaultLeaseTTL = 6 * time.Hour
	// DefaultGrace is how long a replaced generation (a full reload's, a current
	// table's) is kept for the queries still reading it: Athena's DML timeout can
	// be raised to 240 minutes, and an hour more covers a query's time queued.
	DefaultGrace = 5 * time.Hour
	// DefaultIngestRowsPerRange is the target rows of one key range of a split
	// table (snaplake.yaml ingest.defaults.rowsPerRange): one Spark task, one JDBC
	// connection.
	DefaultIngestRowsPerRange = 1_000_000
	// DefaultIngestRowsPerFile bounds the rows of one Parquet file the load writes.
	DefaultIngestRowsPerFile = 1_000_000
	// DefaultIngestCrawlPoll and DefaultIngestCrawlTimeout pace and bound the
	// workflow's wait for its crawl (a crawl of a few tables takes one to a few
	// minutes).
	DefaultIngestCrawlPoll    = 30 * time.Second
	DefaultIngestCrawlTimeout = DefaultCrawlTimeout
)

// The sets the stack schedules, each with its own crawler and schedule.
const (
	IngestSetDaily    = "daily"
	IngestSetFrequent = "frequent"
)

// IngestSets lists the scheduled sets in the order the stack creates them.
var IngestSets = []string{IngestSetDaily, IngestSetFrequent}

// NormalizeName is the name Glue and Athena can use for a source table (or database):
// lower case; every character other than a-z, 0-9 and _ becomes one _; a name that
// does not then start with a letter gets the prefix "t_" (a leading digit is refused
// by Athena's DDL, and a leading _ would hide the table's folder from Glue and
// Athena, which skip folders starting with _). "Order-Items" -> "order_items",
// "2024_sales" -> "t_2024_sales", "café" -> "caf_". Reserved words stay as they are
// ("order", "select"): Glue accepts them, and Athena queries quote them ("order").
func NormalizeName(source string) string {
	var b strings.Builder
	for _, r := range strings.ToLower(source) {
		if r >= 'a' && r <= 'z' || r >= '0' && r <= '9' || r == '_' {
			b.WriteRune(r)
		} else {
			b.WriteByte('_')
		}
	}
	n := b.String()
	if n == "" || n[0] < 'a' || n[0] > 'z' {
		n = "t_" + n
	}
	return n
}

// IngestCatalogDatabase is the Glue database the loaded tables of a source database
// are in: raw_<normalized name>, apart from the nightly snapshots' database of the
// same source (which has the source's own name and the same table names).
func IngestCatalogDatabase(source string) string { return "raw_" + NormalizeName(source) }
