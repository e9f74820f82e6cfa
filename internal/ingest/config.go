// Package ingest plans config-driven loads of MySQL/MariaDB tables into the lake: which
// tables a set (daily, frequent) loads at a given time, how (incremental by a
// monotonic column, or a full reload), from which watermark, to which destination,
// and which exact crawler include paths follow.
package ingest

import "strings"

// Config is the `ingest` section of snaplake.yaml.
type Config struct {
	// Source is the database the tables are loaded from.
	Source Source `yaml:"source" json:"source"`
	// TimeZone (IANA) in which the sets' windows and days are read. Default UTC.
	TimeZone string `yaml:"timeZone,omitempty" json:"timeZone,omitempty"`
	// Sets by name. "daily" and "frequent" are the two the stack schedules; when a
	// set is omitted, its default applies (see DefaultSets).
	Sets map[string]Set `yaml:"sets,omitempty" json:"sets,omitempty"`
	// Tables configures single tables by source name; a table not listed takes
	// Defaults.
	Tables map[string]TableConfig `yaml:"tables,omitempty" json:"tables,omitempty"`
	// Defaults apply to every table not listed under Tables.
	Defaults TableConfig `yaml:"defaults,omitempty" json:"defaults,omitempty"`
	// Access are the Lake Formation grants: who may read what.
	Access []Access `yaml:"access,omitempty" json:"access,omitempty"`

	// locate places a field in the file the section was read from (SetLocator).
	locate Locator
}

// Source is the source database.
type Source struct {
	// Instance is the RDS DB instance identifier (or a host name offline).
	Instance string `yaml:"instance" json:"instance"`
	// Database is the MySQL schema whose tables are loaded.
	Database string `yaml:"database" json:"database"`
}

// Set is a group of tables loaded on one schedule.
type Set struct {
	// Tables lists the source tables of the set; the single value "all" (the
	// default of the daily set) means every table discovery finds.
	Tables []string `yaml:"tables,omitempty" json:"tables,omitempty"`
	// Every is the interval between runs: "24h" (daily) or "15m".
	Every string `yaml:"every,omitempty" json:"every,omitempty"`
	// At is the time of day of a daily run ("02:00"), in TimeZone.
	At string `yaml:"at,omitempty" json:"at,omitempty"`
	// Between limits runs to a window of the day ("08:00-18:00"), in TimeZone.
	Between string `yaml:"between,omitempty" json:"between,omitempty"`
	// Days limits runs to days of the week ("MON".."SUN"); empty is every day.
	Days []string `yaml:"days,omitempty" json:"days,omitempty"`
}

// Load modes of a table.
const (
	ModeIncremental = "incremental" // rows whose Column is above the last watermark
	ModeFull        = "full"        // the whole table, replacing the previous copy atomically
)

// TableConfig is how one table loads.
type TableConfig struct {
	// Mode is ModeIncremental or ModeFull. Empty: incremental when Column is set or
	// discovery finds a monotonic column (an AUTO_INCREMENT key), else full.
	Mode string `yaml:"mode,omitempty" json:"mode,omitempty"`
	// Column is the monotonic column of an incremental load (updated_at, id...).
	Column string `yaml:"column,omitempty" json:"column,omitempty"`
	// RowsPerRange is the target rows of one key range: a table with more rows
	// (information_schema's estimate) and an integer key is read in ranges, in
	// parallel. Default 1000000; at least 1000.
	RowsPerRange int64 `yaml:"rowsPerRange,omitempty" json:"rowsPerRange,omitempty"`
	// SoftDelete names the column that marks a row deleted in the source: the
	// table's current table (database <ingest database>_current) leaves such rows
	// out. Under defaults it applies to the tables that have the column.
	SoftDelete *SoftDelete `yaml:"softDelete,omitempty" json:"softDelete,omitempty"`
	// KeyCheck is how often ("168h") a run compares the current table's keys with
	// every primary key of the source table and drops the keys the source no longer
	// has (rows deleted for real). It reads every key of the table: choose an
	// interval that the table's size affords. Empty: never.
	KeyCheck string `yaml:"keyCheck,omitempty" json:"keyCheck,omitempty"`
}

// SoftDelete is a table's soft-delete column.
type SoftDelete struct {
	// Column marks a row deleted: a boolean or integer column (is_deleted) when it
	// is not NULL and not 0; any other column (deleted_at) when it is not NULL.
	Column string `yaml:"column" json:"column"`
}

// Access grants a role read access to databases, tables or columns.
type Access struct {
	// Role is the IAM role (ARN or name) the grant is for.
	Role string `yaml:"role" json:"role"`
	// Tables the role may read (source names); "*" is every ingested table.
	// "snapshots:<database>.<table>" (or "snapshots:<database>.*") is a table of the
	// nightly snapshot of MySQL database <database>: the grant covers its
	// partitioned table and its _latest companion.
	Tables []string `yaml:"tables,omitempty" json:"tables,omitempty"`
	// Columns limits a table to some columns: table -> columns (a snapshot table
	// under its "snapshots:<database>.<table>" name).
	Columns map[string][]string `yaml:"columns,omitempty" json:"columns,omitempty"`
}

// SnapshotTablePrefix starts an access rule's name of a nightly snapshot table:
// "snapshots:<database>.<table>", or "snapshots:<database>.*" for all its tables.
// One set of rules thus governs the ingested and the snapshot tables of a source.
const SnapshotTablePrefix = "snapshots:"

// SnapshotTable splits an access rule's table name written as a snapshot table
// into its source database and table ("*" for every table), both lower-cased as
// Glue keeps them; ok is false for any other name. A name with the prefix but no
// "<database>.<table>" after it returns ok true and empty parts.
func SnapshotTable(name string) (database, table string, ok bool) {
	rest, ok := strings.CutPrefix(strings.TrimSpace(name), SnapshotTablePrefix)
	if !ok {
		return "", "", false
	}
	database, table, found := strings.Cut(rest, ".")
	database, table = strings.ToLower(strings.TrimSpace(database)), strings.ToLower(strings.TrimSpace(table))
	if !found || database == "" || table == "" || strings.Contains(table, ".") {
		return "", "", true
	}
	return database, table, true
}
