package ingest

import (
	"fmt"
	"github.com/snaplake/snaplake/internal/deploy"
	"net/url"
	"regexp"
	"time"
)

// The load job's contract: what the reconfigure Lambda hands the Glue job (its
// arguments and the plan file they point at), where the job writes, and the result
// it leaves for the finishing step. The PySpark job (internal/ingest/job) and the Go
// loader that stands in for it offline (internal/ingest/run) both read and write
// exactly this; a test checks the script's getResolvedOptions list against
// JobArgumentNames.

// Glue job arguments, as --name values.
const (
	ArgRunID    = "--run_id"    // the run's ID (RunID)
	ArgPlan     = "--plan"      // s3://bucket/<PlanKey(run)>: the JobPlan as JSON
	ArgJDBCURL  = "--jdbc_url"  // jdbc:mysql://host:port/database
	ArgSecretID = "--secret_id" // Secrets Manager secret with "username" and "password"
)

// JobArgumentNames are the arguments the job reads, without their leading "--".
func JobArgumentNames() []string {
	return []string{ArgRunID[2:], ArgPlan[2:], ArgJDBCURL[2:], ArgSecretID[2:]}
}

// RunsPrefix holds each run's plan and results: RunsPrefix<run>/.
const RunsPrefix = deploy.IngestRunsPrefix

// PlanKey is the key of a run's JobPlan.
func PlanKey(run string) string { return deploy.IngestPlanKey(run) }

// ResultPrefix is the folder where the job writes one table's TableResult as JSON
// lines (Spark writes a part-*.json file and _SUCCESS there).
func ResultPrefix(run, lake string) string {
	return deploy.IngestResultsPrefix(run) + url.PathEscape(lake) + "/"
}

// Folders of a table below its Destination.
const (
	// LoadKey partitions an incremental table: each run appends
	// <Destination>load=<run>/, which the crawler registers as partition load=<run>.
	LoadKey = "load"
	// GenerationKey names the generations of a fully reloaded table: each reload
	// writes <Destination>gen=<run>/, and the table's catalog location is switched
	// to it in one UpdateTable.
	GenerationKey = "gen"
)

// Folder is where a run writes a planned table.
func (t PlannedTable) Folder(run string) string {
	if t.Mode == ModeFull {
		return t.Destination + GenerationKey + "=" + run + "/"
	}
	return t.Destination + LoadKey + "=" + run + "/"
}

// runID is the shape of a run ID: a UTC time to the second, then the set.
var runID = regexp.MustCompile(`^[0-9]{8}T[0-9]{6}Z-[a-z][a-z0-9-]{0,31}$`)

// RunID names the run of set started at: sortable by time, and usable as a folder
// name and a partition value (20261203T174500Z-frequent).
func RunID(set string, at time.Time) string {
	return at.UTC().Format("20060102T150405Z") + "-" + set
}

// ParseRunID returns the start time of a run ID, or an error naming it.
func ParseRunID(run string) (time.Time, error) {
	if !runID.MatchString(run) {
		return time.Time{}, fmt.Errorf("run ID %q is not <yyyymmddThhmmssZ>-<set>", run)
	}
	return time.Parse("20060102T150405Z", run[:16])
}

// JobPlan is the file the job reads: everything it does, table by table.
type JobPlan struct {
	Run    string `json:"run"`
	Set    string `json:"set"`
	Bucket string `json:"bucket"`
	// Database is the source MySQL schema; LakeDatabase its normalized name.
	Database     string `json:"database"`
	LakeDatabase string `json:"lakeDatabase"`
	// CatalogDatabase is the Glue database of the loaded tables.
	CatalogDatabase string `json:"catalogDatabase"`
	// CurrentDatabase is the Glue database of the current tables.
	CurrentDatabase string `json:"currentDatabase,omitempty"`
	// RowsPerFile bounds the rows of each Parquet file (Spark's maxRecordsPerFile).
	RowsPerFile int64      `json:"rowsPerFile"`
	Tables      []JobTable `json:"tables"`
}

// JobTable is one table of a JobPlan.
type JobTable struct {
	Source string `json:"source"`
	Lake   string `json:"lake"`
	Mode   string `json:"mode"`
	// Column and From: an incremental load reads the rows whose Column is greater
	// than From (all rows when From is null) and at most the Column's maximum read
	// when the table's load starts; that maximum is the new watermark.
	Column string  `json:"column,omitempty"`
	From   *string `json:"from"`
	// Folder is the key prefix the Parquet files go to (Folder(run)), in Bucket.
	Folder string `json:"folder"`
	// Result is the key prefix of the table's TableResult.
	Result string `json:"result"`
	// Columns are the columns the job reads, in this order, each written under its
	// lake name; a column the table gained since the plan waits for the next run.
	Columns []ColumnName `json:"columns"`
	// RangeColumn (a source column name) and Ranges: a split table is read one
	// range per JDBC query, in parallel (the job's predicates, one Spark partition
	// each). No ranges: one query.
	RangeColumn string     `json:"rangeColumn"`
	Ranges      []KeyRange `json:"ranges"`
	// Current and NoCurrent are the plan's (PlannedTable): not the job's, which
	// ignores them, but the current function's.
	Current   *CurrentPlan `json:"current,omitempty"`
	NoCurrent string       `json:"noCurrent,omitempty"`
}

// Job returns the file the job of this plan's run reads.
func (p Plan) Job(run, bucket string) JobPlan {
	j := JobPlan{Run: run, Set: p.Set, Bucket: bucket, Database: p.Source.Database, LakeDatabase: p.LakeDatabase, CatalogDatabase: p.CatalogDatabase,
		CurrentDatabase: p.CurrentDatabase, RowsPerFile: RowsPerFile, Tables: []JobTable{}}
	for _, t := range p.Tables {
		j.Tables = append(j.Tables, JobTable{
			Source: t.Source, Lake: t.Lake, Mode: t.Mode, Column: t.Column, From: t.From,
			Folder: t.Folder(run), Result: ResultPrefix(run, t.Lake), Columns: t.Columns,
			RangeColumn: t.RangeColumn, Ranges: t.Ranges, Current: t.Current, NoCurrent: t.NoCurrent,
		})
	}
	return j
}

// TableResult is what the job records for a table it loaded, after the table's
// files are all written. A table without a result was not loaded.
type TableResult struct {
	Source string `json:"source"`
	Lake   string `json:"lake"`
	Rows   int64  `json:"rows"`
	// Watermark is the Column's maximum the load was bounded by, as MySQL prints it
	// (CAST(MAX(col) AS CHAR)); absent for a full reload or an empty table.
	Watermark *string `json:"watermark,omitempty"`
	// Columns are the files' columns with their Hive types (bigint, decimal(12,2),
	// timestamp...), for the catalog entry of a fully reloaded table.
	Columns []ResultColumn `json:"columns"`
	Seconds float64        `json:"seconds"`
}

// ResultColumn is one column of a TableResult.
type ResultColumn struct {
	Name string `json:"name"`
	Type string `json:"type"`
}
