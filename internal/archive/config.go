package archive

import (
	"errors"
	"fmt"
	"maps"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/snaplake/snaplake/internal/deploy"
)

// Config is the `archive` section of snaplake.yaml: which tables keep only a
// retention period of rows in production, the older ones moved into the lake
// (archive/<database>/<table>/cutoff=<date>/), and how gently.
type Config struct {
	// Tables by "database.table" (the MySQL names, case as the server has them;
	// no quotes, backticks or spaces).
	Tables map[string]TableConfig `yaml:"tables" json:"tables"`
	// Defaults are the limits of every table that does not set its own.
	Defaults LimitSettings `yaml:"defaults,omitempty" json:"defaults,omitempty"`
	// Replica is where replica lag is read before each DELETE. Leave it out when the
	// source has no replica: then only the source's Threads_running is checked.
	Replica *ReplicaConfig `yaml:"replica,omitempty" json:"replica,omitempty"`

	// locate places a field in the file the section was read from (SetLocator).
	locate Locator
}

// TableConfig is how one table is archived.
type TableConfig struct {
	// Retention is how long rows stay in the table: days (730d), months (6mo) or
	// years (2y). A run archives the rows whose column is before the start (00:00
	// UTC) of the day that far back from the run's day.
	Retention string `yaml:"retention" json:"retention"`
	// Column is the row's timestamp column (DATETIME, TIMESTAMP or DATE), compared
	// with the cutoff: created_at for rows that never change, a last-modified column
	// (updated_at) for rows that do.
	Column string `yaml:"column" json:"column"`
	// BatchRows overrides defaults.batchRows for this table.
	BatchRows int `yaml:"batchRows,omitempty" json:"batchRows,omitempty"`
	// DeleteRows overrides defaults.deleteRows for this table.
	DeleteRows int `yaml:"deleteRows,omitempty" json:"deleteRows,omitempty"`
	// Pause overrides defaults.pause for this table.
	Pause string `yaml:"pause,omitempty" json:"pause,omitempty"`
	// MaxReplicaLag overrides defaults.maxReplicaLag for this table.
	MaxReplicaLag string `yaml:"maxReplicaLag,omitempty" json:"maxReplicaLag,omitempty"`
	// MaxThreadsRunning overrides defaults.maxThreadsRunning for this table.
	MaxThreadsRunning int `yaml:"maxThreadsRunning,omitempty" json:"maxThreadsRunning,omitempty"`
}

// LimitSettings are how gently a run treats production, as written in the file.
type LimitSettings struct {
	// BatchRows is how many rows are read, written to S3, verified there, then
	// deleted together (default 10000; 100 to 1000000).
	BatchRows int `yaml:"batchRows,omitempty" json:"batchRows,omitempty"`
	// DeleteRows bounds one DELETE statement (default 1000; 1 to 10000): a batch is
	// deleted in several statements, each a short transaction.
	DeleteRows int `yaml:"deleteRows,omitempty" json:"deleteRows,omitempty"`
	// Pause is the sleep between two DELETE statements, a Go duration (default
	// 500ms; 0s to 1m).
	Pause string `yaml:"pause,omitempty" json:"pause,omitempty"`
	// MaxReplicaLag: while the replica (see replica) is further behind, the run
	// waits before its next DELETE (default 1s, pt-archiver's --max-lag; 1s to 1h).
	MaxReplicaLag string `yaml:"maxReplicaLag,omitempty" json:"maxReplicaLag,omitempty"`
	// MaxThreadsRunning: while the source's Threads_running is above it, the run
	// waits before its next DELETE (default 25, Percona's --max-load).
	MaxThreadsRunning int `yaml:"maxThreadsRunning,omitempty" json:"maxThreadsRunning,omitempty"`
}

// ReplicaConfig names the replica whose lag pauses the deletes: one of host or
// instance.
type ReplicaConfig struct {
	// Host is the replica's address, host or host:port (default port 3306). Its lag
	// is read with SHOW REPLICA STATUS (Seconds_Behind_Master/Source) with the
	// source's credentials, which a replica shares: the archiving user also needs
	// REPLICATION CLIENT (MySQL) or REPLICA MONITOR (MariaDB 10.5.9 and later, where
	// REPLICATION CLIENT no longer allows it). RDS for MariaDB 10.5 and later refuses
	// SHOW REPLICA STATUS to its users: use instance there.
	Host string `yaml:"host,omitempty" json:"host,omitempty"`
	// Instance is an RDS read replica's DB instance identifier: its lag is the
	// CloudWatch metric AWS/RDS ReplicaLag of that instance (Seconds_Behind_Master,
	// one value a minute; -1, replication stopped, counts as too far behind). No
	// database login is needed, only cloudwatch:GetMetricData.
	Instance string `yaml:"instance,omitempty" json:"instance,omitempty"`
}

// Sentinels a caller can branch on with errors.Is on a *FieldError.
var (
	ErrName        = errors.New("not a usable database, table or column name")
	ErrRetention   = errors.New("bad retention")
	ErrLimit       = errors.New("limit out of range")
	ErrNoTable     = errors.New("no such table")
	ErrNoColumn    = errors.New("no such column")
	ErrNotTemporal = errors.New("not a DATETIME, TIMESTAMP or DATE column")
	ErrNoKey       = errors.New("no primary key")
	ErrPrivilege   = errors.New("missing privilege")
)

// FieldError is one problem of the archive section, about one table or one setting:
// what the config loader reports at the field's line, and what Preflight returns for
// a table the source cannot archive (placed at the same line when the section was
// read from a file).
type FieldError struct {
	// Path leads from the archive section to the field: ["tables", "shop.orders",
	// "column"].
	Path []string
	// Table is the "database.table" the problem is about; empty for the defaults and
	// the replica.
	Table   string
	Problem string
	// Err is one of the sentinels above, or the database's error.
	Err error
	// File, Line and Column place the field, for the problems found after loading
	// (Preflight's); empty for a config built in Go. The loader places its own.
	File         string
	Line, Column int
}

// FieldPath is the field's path relative to the archive section.
func (e *FieldError) FieldPath() []string { return e.Path }

// Reason is what is wrong, without the field: the config loader prefixes its own
// file:line: field.
func (e *FieldError) Reason() string { return e.Problem }

func (e *FieldError) Unwrap() error { return e.Err }

// Error reads like the config loader's errors:
// snaplake.yaml:12:7: archive.tables["shop.orders"].column: ...
func (e *FieldError) Error() string {
	at := ""
	if e.File != "" {
		at = e.File + ":"
		if e.Line > 0 {
			at += strconv.Itoa(e.Line) + ":"
			if e.Column > 0 {
				at += strconv.Itoa(e.Column) + ":"
			}
		}
		at += " "
	}
	return at + FormatPath(e.Path) + ": " + e.Problem
}

var plainKey = regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_]*$`)

// FormatPath writes a path as the config loader names fields:
// archive.tables["shop.orders"].retention, archive.defaults.pause.
func FormatPath(path []string) string {
	var b strings.Builder
	b.WriteString(deploy.SectionArchive)
	for _, p := range path {
		if plainKey.MatchString(p) {
			b.WriteString("." + p)
		} else {
			b.WriteString("[" + strconv.Quote(p) + "]")
		}
	}
	return b.String()
}

// Locator finds where the field at path (relative to the archive section) is
// written: the file's name, and the 1-based line and column of the field or of its
// nearest enclosing field written there.
type Locator func(path []string) (file string, line, column int)

// SetLocator is called by the config loader with the place of the section's fields,
// so that Preflight's problems name the file and line as the loader's own do.
func (c *Config) SetLocator(l Locator) { c.locate = l }

// place sets the file and line of e when the section was read from a file.
func (c *Config) place(e *FieldError) *FieldError {
	if c.locate != nil && e.File == "" {
		e.File, e.Line, e.Column = c.locate(e.Path)
	}
	return e
}

// mysqlName is a database, table or column name the archive accepts: 1 to 64
// characters, none of them a quote, a backtick, a backslash, whitespace, a control
// character or a dot (which would split "database.table" ambiguously). MySQL allows
// more inside backticks; a name needing them is refused rather than quoted, so that
// no name read from a file can change a statement's meaning.
var mysqlName = regexp.MustCompile("^[^\\s.'\"`\\\\\\x00-\\x1f\\x7f]{1,64}$")

// SplitTable splits "database.table" into its two names, checked as mysqlName.
func SplitTable(name string) (schema, table string, err error) {
	schema, table, ok := strings.Cut(name, ".")
	if !ok || !mysqlName.MatchString(schema) || !mysqlName.MatchString(table) {
		return "", "", fmt.Errorf("%q is not database.table: two names of 1 to 64 characters joined by one dot, without quotes, backticks, backslashes or whitespace", name)
	}
	return schema, table, nil
}

// Validate returns every problem of the section that needs no database, each a
// *FieldError: Preflight checks the rest against the source.
func (c Config) Validate() []error {
	var errs []error
	add := func(path []string, table string, sentinel error, format string, args ...any) {
		errs = append(errs, &FieldError{Path: path, Table: table, Err: sentinel, Problem: fmt.Sprintf(format, args...)})
	}
	if len(c.Tables) == 0 {
		add([]string{"tables"}, "", nil, "lists no table: name each table to archive as database.table, with its retention and column")
	}
	errs = append(errs, c.Defaults.validate([]string{"defaults"}, "")...)
	seen := map[string]string{}
	for _, name := range slices.Sorted(maps.Keys(c.Tables)) {
		t, path := c.Tables[name], []string{"tables", name}
		if _, _, err := SplitTable(name); err != nil {
			add(path, name, ErrName, "%v", err)
			continue
		}
		// Table names are case-insensitive on servers with lower_case_table_names
		// set: two entries could then archive one table twice, concurrently.
		if prev, dup := seen[strings.ToLower(name)]; dup {
			add(path, name, ErrName, "table %s is already configured as %s: table names differ only in case, which a server with lower_case_table_names reads as one table", name, prev)
		}
		seen[strings.ToLower(name)] = name
		if _, err := ParseRetention(t.Retention); err != nil {
			add(append(path, "retention"), name, ErrRetention, "table %s: %v", name, err)
		}
		if !mysqlName.MatchString(t.Column) {
			add(append(path, "column"), name, ErrName, "table %s: %q is not a column name (1 to 64 characters, without quotes, backticks, dots or whitespace): name its DATETIME, TIMESTAMP or DATE column", name, t.Column)
		}
		errs = append(errs, t.limits().validate(path, name)...)
	}
	if r := c.Replica; r != nil {
		switch {
		case (r.Host == "") == (r.Instance == ""):
			add([]string{"replica"}, "", nil, "set one of host (SHOW REPLICA STATUS on the replica) or instance (the RDS ReplicaLag metric), or leave replica out")
		case r.Host != "" && !validHost(r.Host):
			add([]string{"replica", "host"}, "", nil, "%q is not host or host:port", r.Host)
		case r.Instance != "" && !rdsInstanceID.MatchString(r.Instance):
			add([]string{"replica", "instance"}, "", nil, "%q is not an RDS DB instance identifier (1 to 63 letters, digits and hyphens, starting with a letter)", r.Instance)
		}
	}
	return errs
}

// limits are the table's own limits, as LimitSettings.
func (t TableConfig) limits() LimitSettings {
	return LimitSettings{BatchRows: t.BatchRows, DeleteRows: t.DeleteRows, Pause: t.Pause,
		MaxReplicaLag: t.MaxReplicaLag, MaxThreadsRunning: t.MaxThreadsRunning}
}

// validate checks the limits that are set, at path (defaults, or a table's entry).
func (l LimitSettings) validate(path []string, table string) []error {
	var errs []error
	of := ""
	if table != "" {
		of = "table " + table + ": "
	}
	add := func(field, format string, args ...any) {
		errs = append(errs, &FieldError{Path: append(slices.Clone(path), field), Table: table, Err: ErrLimit, Problem: of + fmt.Sprintf(format, args...)})
	}
	if n := l.BatchRows; n != 0 && (n < deploy.MinArchiveBatchRows || n > deploy.MaxArchiveBatchRows) {
		add("batchRows", "%d is outside %d to %d: a batch is held in memory while S3 verifies it, and a smaller one costs more in S3 requests than it spares (default %d)",
			n, deploy.MinArchiveBatchRows, deploy.MaxArchiveBatchRows, deploy.DefaultArchiveBatchRows)
	}
	if n := l.DeleteRows; n != 0 && (n < 1 || n > deploy.MaxArchiveDeleteRows) {
		add("deleteRows", "%d is outside 1 to %d: one DELETE holds its rows' locks until it commits, and replicas apply it as one event (default %d)",
			n, deploy.MaxArchiveDeleteRows, deploy.DefaultArchiveDeleteRows)
	}
	if l.Pause != "" {
		if d, err := time.ParseDuration(l.Pause); err != nil || d < 0 || d > deploy.MaxArchivePause {
			add("pause", "%q is not a pause from 0s to %s: write a Go duration such as 500ms or 2s (default %s)", l.Pause, deploy.MaxArchivePause, deploy.DefaultArchivePause)
		}
	}
	if l.MaxReplicaLag != "" {
		if d, err := time.ParseDuration(l.MaxReplicaLag); err != nil || d < time.Second || d > deploy.MaxArchiveReplicaLag {
			add("maxReplicaLag", "%q is not a lag from 1s to %s: write a Go duration such as 1s or 30s; replicas report whole seconds (default %s)", l.MaxReplicaLag, deploy.MaxArchiveReplicaLag, deploy.DefaultArchiveMaxReplicaLag)
		}
	}
	if n := l.MaxThreadsRunning; n != 0 && (n < 1 || n > deploy.MaxArchiveThreadsRunning) {
		add("maxThreadsRunning", "%d is outside 1 to %d (default %d)", n, deploy.MaxArchiveThreadsRunning, deploy.DefaultArchiveMaxThreadsRunning)
	}
	return errs
}

// rdsInstanceID is RDS's rule for a DB instance identifier.
var rdsInstanceID = regexp.MustCompile(`^[A-Za-z]([A-Za-z0-9]|-[A-Za-z0-9]){0,62}$`)

var hostName = regexp.MustCompile(`^[A-Za-z0-9]([A-Za-z0-9.-]{0,252})$`)

// validHost accepts host or host:port, a DNS name or an IPv4 address.
func validHost(s string) bool {
	host, port, hasPort := strings.Cut(s, ":")
	if hasPort {
		if n, err := strconv.Atoi(port); err != nil || n < 1 || n > 65535 {
			return false
		}
	}
	return hostName.MatchString(host)
}

// Limits resolves the table's limits: its own, else the section's defaults, else
// deploy's. MaxReplicaLag is zero (not checked) without a replica; DeleteRows is at
// most BatchRows. The section must be valid (Validate).
func (c Config) Limits(table string) Limits {
	t := c.Tables[table].limits()
	pick := func(own, def, dflt int) int {
		if own != 0 {
			return own
		}
		if def != 0 {
			return def
		}
		return dflt
	}
	dur := func(own, def string, dflt time.Duration) time.Duration {
		for _, s := range []string{own, def} {
			if d, err := time.ParseDuration(s); s != "" && err == nil {
				return d
			}
		}
		return dflt
	}
	l := Limits{
		BatchRows:         pick(t.BatchRows, c.Defaults.BatchRows, deploy.DefaultArchiveBatchRows),
		DeleteRows:        pick(t.DeleteRows, c.Defaults.DeleteRows, deploy.DefaultArchiveDeleteRows),
		Pause:             dur(t.Pause, c.Defaults.Pause, deploy.DefaultArchivePause),
		MaxThreadsRunning: pick(t.MaxThreadsRunning, c.Defaults.MaxThreadsRunning, deploy.DefaultArchiveMaxThreadsRunning),
	}
	if c.Replica != nil {
		l.MaxReplicaLag = dur(t.MaxReplicaLag, c.Defaults.MaxReplicaLag, deploy.DefaultArchiveMaxReplicaLag)
	}
	// A statement larger than its batch would delete the batch in one anyway.
	l.DeleteRows = min(l.DeleteRows, l.BatchRows)
	return l
}
