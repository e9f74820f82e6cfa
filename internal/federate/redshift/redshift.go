// Package redshift is snaplake's one interface to a Redshift warehouse, with two
// implementations: the Redshift Data API (redshift://<workgroup-or-cluster>/<database>,
// UNLOAD and COPY through S3 with an IAM role) and PostgreSQL, which stands in for
// Redshift offline (postgres://..., COPY TO/FROM STDIN streamed through S3 with the
// SDK). The Federator and the replication capability both use it; the Redshift SQL
// each operation sends is in sql.go and covered by golden files.
package redshift

import (
	"context"
	"time"
)

// Warehouse is a Redshift database (or its PostgreSQL stand-in).
type Warehouse interface {
	// Name says which database this is, for messages (cluster/database, host/database).
	Name() string
	// Columns returns the columns of schema.table in their order; a table that does
	// not exist is a *TableNotFoundError.
	Columns(ctx context.Context, schema, table string) ([]Column, error)
	// Stats is the one cheap metadata query of a table: its row count and the
	// greatest values of the insert and update timestamp columns (either name may be
	// empty: not asked).
	Stats(ctx context.Context, schema, table, insertedColumn, updatedColumn string) (Stats, error)
	// SubmitUnload starts an UNLOAD of the rows of query to S3 under prefix
	// (s3://bucket/prefix/, ending in "/") as gzipped CSV files (format below) and
	// returns its statement id at once; nothing else is written under prefix. token
	// makes the submission idempotent: submitted again with the same token (a retried
	// call), it returns the same statement and starts no second one.
	SubmitUnload(ctx context.Context, token, query, prefix string) (string, error)
	// SubmitCopy starts a COPY of files (written by an UNLOAD) into schema.table and
	// returns its statement id at once; token as for SubmitUnload.
	SubmitCopy(ctx context.Context, token, schema, table string, files []File) (string, error)
	// SubmitExec starts statements as Exec runs them (one transaction, all or none;
	// several inside a transaction block) and returns the statement id at once; token
	// as for SubmitUnload. A FAILED transaction's Describe names the statement that
	// failed. It is how a statement that may run for hours (a full version's swap)
	// outlives the call that submits it.
	SubmitExec(ctx context.Context, token string, statements ...string) (string, error)
	// Describe reports a submitted statement; an unknown id is a
	// *StatementNotFoundError.
	Describe(ctx context.Context, id string) (Statement, error)
	// Cancel asks a running statement to stop; it then ends ABORTED. A statement the
	// warehouse says it could not cancel (it is not running: it ended, or has not
	// started) is a *NotRunningError: Describe it again for its outcome.
	Cancel(ctx context.Context, id string) error
	// UnloadedFiles returns the files a FINISHED UNLOAD (statement id) wrote under
	// prefix, with their row counts.
	UnloadedFiles(ctx context.Context, id, prefix string) ([]File, error)
	// Exec runs statements in one transaction: all or none. Several run inside a
	// transaction block (the Data API's BatchExecuteStatement), where Redshift
	// refuses some statements (ALTER TABLE ... ALTER COLUMN ... TYPE); one statement
	// runs alone, outside a block (ExecuteStatement). The PostgreSQL stand-in refuses
	// what Redshift refuses (ddlcheck.go).
	Exec(ctx context.Context, statements ...string) error
	// Query runs one statement and returns its rows as text (NULL is nil).
	Query(ctx context.Context, statement string) ([][]*string, error)
	Close() error
}

// Column is one column of a table.
type Column struct {
	Name string `json:"name"`
	// Type is the column's type as the warehouse names it, normalized by
	// NormalizeType so that Redshift and PostgreSQL spell a type alike
	// (bigint, integer, numeric(12,2), character varying(256), timestamp without time zone...).
	Type     string `json:"type"`
	Nullable bool   `json:"nullable"`
}

// Stats is a table's state as its metadata query reads it.
type Stats struct {
	Rows        int64
	MaxInserted *time.Time // nil: no column asked, or no row
	MaxUpdated  *time.Time
}

// File is one unloaded file.
type File struct {
	URL  string `json:"url"` // s3://bucket/key
	Rows int64  `json:"rows"`
	// Bytes is the object's size (what COPY's manifest calls content_length).
	Bytes int64 `json:"bytes"`
}

// The file format Unload writes and Copy reads, the same for both implementations:
// CSV (RFC 4180 quoting), no header, gzip, NULL as \N, timestamps as
// 'YYYY-MM-DD HH:MI:SS.US' in UTC.
const (
	NullAs = `\N`
)

// TableNotFoundError says a table does not exist.
type TableNotFoundError struct{ Database, Schema, Table string }

func (e *TableNotFoundError) Error() string {
	return "table " + e.Schema + "." + e.Table + " does not exist in " + e.Database
}
