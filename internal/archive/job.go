// Package archive moves the rows older than a retention period from a production
// MySQL table into the lake, verifies every batch in S3, then deletes exactly the
// verified keys in gentle batches (see `snaplake archive` and the archive section of
// snaplake.yaml).
package archive

import "time"

// Job is one table's archiving run, as the config section and the run's start
// fixed it: what the engine executes. Every field is resolved (defaults applied,
// names checked) before a Job exists.
type Job struct {
	// Schema and Table name the source table; Column is its timestamp (DATETIME,
	// TIMESTAMP or DATE) column. A row is archived when Column < Cutoff.
	Schema, Table, Column string
	// Cutoff is fixed once, at the start of the run, and kept in the manifest: a
	// resumed run uses the manifest's, never a new one.
	Cutoff time.Time
	// Key is the table's primary key, every column, in index order.
	Key []string
	// Bucket and Prefix are where the archive goes:
	// s3://Bucket/Prefix<schema>/<table>/cutoff=<YYYY-MM-DD>/ (Prefix is
	// deploy.ArchivePrefix, "archive/"). KMSKeyID, when set, is the SSE-KMS key.
	Bucket, Prefix, KMSKeyID string
	Limits
}

// Limits are how gently a run treats production.
type Limits struct {
	// BatchRows is the number of rows read, written, verified and deleted together.
	BatchRows int
	// DeleteRows bounds one DELETE statement (a batch is deleted in several when it
	// is larger); Pause is the sleep between two DELETE statements.
	DeleteRows int
	Pause      time.Duration
	// MaxReplicaLag and MaxThreadsRunning: while the replica's lag or the source's
	// Threads_running is above them, the run waits before its next DELETE. Zero: not
	// checked.
	MaxReplicaLag     time.Duration
	MaxThreadsRunning int
	// Budget is the run's time: when it is spent the run stops cleanly between two
	// statements, its manifest saying where to resume. Zero: no limit.
	Budget time.Duration
}
