package deploy

import "time"

// Names of retention archiving (internal/archive).
const (
	// SectionArchive is the archive section of snaplake.yaml.
	SectionArchive = "archive"
	// ArchivePrefix holds the archive: archive/<database>/<table>/cutoff=<YYYY-MM-DD>/,
	// and each run's manifest under archive-runs/ (ArchiveManifestPrefix), outside
	// the table's folder so that no crawler or table reads it.
	ArchivePrefix         = "archive/"
	ArchiveManifestPrefix = "state/archive-runs/"
	// ArchivePartitionKey partitions an archived table: one partition per run's cutoff.
	ArchivePartitionKey = "cutoff"
)

// The archive's functions: the plan (which tables a run archives, each checked
// against MySQL before anything changes) and one bounded invocation of one table's
// run, which the workflow repeats until the table is complete (each resumes from
// the table's manifest).
const (
	FnArchivePlan  = "archiveplan"
	FnArchiveTable = "archivetable"
)

// ArchiveFunctions are the archive's functions, in the order the stack creates them.
var ArchiveFunctions = []string{FnArchivePlan, FnArchiveTable}

// Environment of the archive functions (with EnvBucket, EnvKMSKeyID, EnvLogLevel,
// EnvMySQLEndpoint and EnvSecretArn: the archiving user's secret, whose user may
// SELECT and DELETE the configured tables and nothing else).
const (
	// EnvArchiveDatabases are the source databases the stack archives (and has an
	// archive Glue database for), comma-separated; a configured table of another
	// database is refused at the plan.
	EnvArchiveDatabases = "ARCHIVE_DATABASES"
	// EnvArchiveBudgetMargin is the time (seconds) an invocation keeps for itself
	// before the Lambda's deadline: the table's run stops cleanly that long before.
	EnvArchiveBudgetMargin = "ARCHIVE_BUDGET_MARGIN_SECONDS"
)

// ArchiveRunLeaseKey is the lease one archive run holds while it runs, so that two
// runs (a long one and the next scheduled, or one started by hand) never delete on
// production at once; every invocation renews it for ArchiveRunLeaseTTL, so that a
// run that died frees it that long after its last invocation.
const (
	ArchiveRunLeaseKey = ArchiveManifestPrefix + "run.lease.json"
	ArchiveRunLeaseTTL = 30 * time.Minute
)

// ArchiveMaxInvocations bounds the workflow's loop of one table's invocations
// (each at most 15 minutes: 96 is a day); a table not complete by then fails the
// run, notified, and the next run resumes it from its manifest.
const ArchiveMaxInvocations = 96

// ArchiveDatabaseName is the Glue database of the archived tables of the snapshot
// database glueDB: a companion beside <db>_latest, so that the access rules that
// govern a snapshot table govern its archive too.
func ArchiveDatabaseName(glueDB string) string { return glueDB + ArchiveDatabaseSuffix }

// ArchiveDatabaseSuffix names ArchiveDatabaseName's companion.
const ArchiveDatabaseSuffix = "_archive"

// Outputs of the archive.
const (
	OutputArchiveStateMachineArn = "ArchiveStateMachineArn"
	OutputArchiveFunctionArns    = "ArchiveFunctionArns"
	OutputArchiveRoleArns        = "ArchiveRoleArns"
)

// ArchiveScheduleName is the archive's schedule (in IngestScheduleGroup).
const ArchiveScheduleName = "snaplake-archive"

// ArchiveFailedAlarm is the name (after the stack's) of the alarm on failed archive runs.
const ArchiveFailedAlarm = "archive-failed"

// The archive's service roles: Step Functions runs the workflow as the first,
// EventBridge Scheduler starts it as the second, and Lake Formation reads
// archive/ for the principals it granted the archive tables as the third
// (registered only where Lake Formation governs the snapshot databases).
const (
	RoleArchiveMachine   = "archive-state-machine"
	RoleArchiveScheduler = "archive-scheduler"
)

// ArchiveServiceRoles lists the archive's tagged service roles.
var ArchiveServiceRoles = []string{RoleArchiveMachine, RoleArchiveScheduler}

// Sizes of the archive's functions. The table function holds a batch in memory
// while it verifies it and writes batch files to /tmp ahead of their upload (a few
// batches of at most MaxArchiveBatchRows rows); each invocation runs up to Lambda's
// 15 minutes and stops ArchiveBudgetMargin before its deadline.
const (
	ArchiveTableTimeout     = 15 * time.Minute
	ArchiveTableMemoryMB    = 1024
	ArchiveTableEphemeralMB = 4096
	ArchivePlanTimeout      = 5 * time.Minute
	ArchivePlanMemoryMB     = 256
	// ArchiveBudgetMargin is EnvArchiveBudgetMargin as deployed: long enough for the
	// invocation's last batch to be verified and its manifest written.
	ArchiveBudgetMargin = 60 * time.Second
)

// DefaultArchiveSchedule is when the archive runs unless the snaplake:archive
// context says (an EventBridge Scheduler expression, in its timeZone): weekly, on
// Sunday at 04:00, when production is quiet and after the night's export.
const DefaultArchiveSchedule = "cron(0 4 ? * SUN *)"

// OutputArchiveGlueDatabases names the archive's Glue databases, comma-separated.
const OutputArchiveGlueDatabases = "ArchiveGlueDatabases"

// OutputArchiveSecretArn is the archiving user's secret.
const OutputArchiveSecretArn = "ArchiveSecretArn"

// ArchiveOutputs are the archive's outputs: a stack has them all when its
// snaplake:archive context section is set, none otherwise.
var ArchiveOutputs = []string{OutputArchiveStateMachineArn, OutputArchiveGlueDatabases, OutputArchiveRoleArns, OutputArchiveFunctionArns, OutputArchiveSecretArn}
