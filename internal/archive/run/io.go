// Package run builds the archive's Lambda handlers (deploy.ArchiveFunctions), the
// only place they are built: functions/<name>/main.go and the offline run both
// call its constructors.
package run

import "github.com/snaplake/snaplake/internal/archive"

// PlanRequest is the workflow's call of the plan function (deploy.FnArchivePlan),
// the execution's input as the schedule or an operator gave it.
type PlanRequest struct {
	// Table, when set ("db.table"), archives that configured table only.
	Table string `json:"table,omitempty"`
	// Execution names the run in the logs.
	Execution string `json:"execution,omitempty"`
	// Release, at the run's end, drops the run lease the plan took, so that the
	// next run may start at once.
	Release bool `json:"release,omitempty"`
}

// PlanResult lists the tables the run archives, each checked against MySQL
// (archive.Preflight): the workflow's Map iterates over Tables.
type PlanResult struct {
	Tables []string `json:"tables"`
}

// TableRequest is one invocation of one table's run (deploy.FnArchiveTable).
type TableRequest struct {
	Table     string `json:"table"`
	Execution string `json:"execution,omitempty"`
}

// TableResult is the table's summary after this invocation. Complete is false when
// the invocation's time ran out first: the workflow invokes it again, and the
// next invocation resumes from the manifest. Once rows are archived, the archive's
// Glue table has the run's cutoff partition (Catalog names it), complete or not.
type TableResult struct {
	archive.Summary
	// Catalog is "<archive database>.<table>" once the table is cataloged.
	Catalog string `json:"catalog,omitempty"`
}
