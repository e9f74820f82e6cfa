package deploy

import "time"

// The archive section's defaults: how gently a run treats production when the config
// says nothing (snaplake.yaml's archive.defaults and each table override them).
// pt-archiver, the tool a MySQL DBA compares with, documents --limit 1 and
// --txn-size 1 (one row per statement and per commit), --max-lag 1s and no sleep;
// Percona's online tools pause on Threads_running above 25 (--max-load). A run
// reads, writes, verifies and deletes whole batches, so its batch is larger; its
// deletes stay small, its lag limit is pt-archiver's and its load limit Percona's.
const (
	// DefaultArchiveBatchRows is the rows read, written to one Parquet file,
	// verified in S3 and then deleted together: about a few MB of Parquet, few
	// enough to hold while verifying, many enough that S3 requests cost little.
	DefaultArchiveBatchRows = 10000
	// DefaultArchiveDeleteRows bounds one DELETE statement (pt-archiver's documented
	// example, --limit 1000): a short transaction whose row locks and binlog event
	// a replica applies in well under a second.
	DefaultArchiveDeleteRows = 1000
	// DefaultArchivePause is the sleep between two DELETE statements, so that the
	// source and its replicas serve other work between them: at most about
	// DefaultArchiveDeleteRows per pause, 2,000 rows/s, 7 million rows an hour.
	DefaultArchivePause = 500 * time.Millisecond
	// DefaultArchiveMaxReplicaLag is pt-archiver's --max-lag: while the configured
	// replica is further behind, the run waits before its next DELETE.
	DefaultArchiveMaxReplicaLag = time.Second
	// DefaultArchiveMaxThreadsRunning is pt-online-schema-change's and
	// pt-table-checksum's --max-load default, Threads_running=25: while the source
	// runs more, the run waits before its next DELETE.
	DefaultArchiveMaxThreadsRunning = 25
)

// Bounds of the archive section's limits: values outside them are refused with the
// reason (a batch held in memory, a statement holding locks, a pause that wastes a
// Lambda invocation).
const (
	MinArchiveBatchRows  = 100
	MaxArchiveBatchRows  = 1000000
	MaxArchiveDeleteRows = 10000
	MaxArchivePause      = time.Minute
	MaxArchiveReplicaLag = time.Hour
	// MaxArchiveThreadsRunning is far above any server's useful concurrency: a
	// larger value would never pause.
	MaxArchiveThreadsRunning = 100000
)
