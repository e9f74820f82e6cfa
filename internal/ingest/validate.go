package ingest

import (
	"errors"
	"fmt"
	"maps"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"
)

// ErrUnknownTable and ErrUnknownColumn mark a config naming a table or column that
// discovery did not find in the source database.
var (
	ErrUnknownTable  = errors.New("unknown table")
	ErrUnknownColumn = errors.New("unknown column")
)

// FieldError is one problem of the ingest section. The config loader maps Path to
// a line of snaplake.yaml.
type FieldError struct {
	// Path leads from the ingest section to the field: ["sets", "frequent", "every"];
	// list indexes are decimal strings.
	Path    []string
	Problem string
	// Err is ErrUnknownTable or ErrUnknownColumn where that is the problem, else nil.
	Err error
	// Table is the source table the problem is about, for the problems found
	// against the source's tables (CheckTables, the choice of a load): such a
	// problem fails that table alone (see RefusedTable). Empty for the problems
	// of the config in itself, which refuse the whole section.
	Table string
	// File, Line and Column place the field in the file the config was read from,
	// for the errors found after loading (PlanRun's, against the source's tables);
	// empty and 0 for a config built in Go. The loader places its own errors itself.
	File         string
	Line, Column int
}

// place is file:line of the field, "" for a config built in Go.
func (e *FieldError) place() string {
	if e.File == "" || e.Line <= 0 {
		return e.File
	}
	return e.File + ":" + strconv.Itoa(e.Line)
}

// FieldPath is the field's path relative to the ingest section.
func (e *FieldError) FieldPath() []string { return e.Path }

// Error reads like the config loader's errors: snaplake.yaml:11:5: ingest.tables.x: ...
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

// Locator finds where the field at path (relative to the ingest section) is written:
// the file's name, and the 1-based line and column of the field or of its nearest
// enclosing field that is written there.
type Locator func(path []string) (file string, line, column int)

// SetLocator is called by the config loader with the place of the section's fields,
// so that the problems found later, against the source's tables, name the file and
// line as the loader's own do. nil forgets it.
func (c *Config) SetLocator(l Locator) { c.locate = l }

// ErrorAt is a *FieldError about the field at path, placed in the file the section
// was read from as the loader's own errors are: for a problem found after loading
// (the section names another database than the stack's, say).
func (c Config) ErrorAt(path []string, format string, args ...any) *FieldError {
	fe := &FieldError{Path: path, Problem: fmt.Sprintf(format, args...)}
	c.place([]error{fe})
	return fe
}

// place sets the file and line of every *FieldError in errs.
func (c Config) place(errs []error) {
	if c.locate == nil {
		return
	}
	for _, err := range errs {
		var fe *FieldError
		if errors.As(err, &fe) && fe.File == "" {
			fe.File, fe.Line, fe.Column = c.locate(fe.Path)
		}
	}
}

// Reason is what is wrong, without the field: the config loader prefixes its own
// file:line: field.
func (e *FieldError) Reason() string { return e.Problem }

func (e *FieldError) Unwrap() error { return e.Err }

var plainKey = regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_]*$`)

// FormatPath writes a path the way an operator would point at it in the file:
// ingest.sets.daily.tables[2], ingest.tables["order-items"].mode.
func FormatPath(path []string) string {
	var b strings.Builder
	b.WriteString("ingest")
	for _, p := range path {
		switch {
		case p != "" && strings.Trim(p, "0123456789") == "":
			b.WriteString("[" + p + "]")
		case plainKey.MatchString(p):
			b.WriteString("." + p)
		default:
			b.WriteString("[" + strconv.Quote(p) + "]")
		}
	}
	return b.String()
}

func with(path []string, more ...string) []string {
	return append(slices.Clone(path), more...)
}

func fieldErr(path []string, format string, args ...any) error {
	return &FieldError{Path: path, Problem: fmt.Sprintf(format, args...)}
}

// Validate returns every problem of the section, each a *FieldError. It needs no
// database: the checks against the source's tables (unknown tables and columns, an
// incremental table without a monotonic column) are made by CheckTables and PlanRun.
func (c Config) Validate() []error {
	var errs []error
	if strings.TrimSpace(c.Source.Instance) == "" {
		errs = append(errs, fieldErr([]string{"source", "instance"}, "missing: the RDS DB instance identifier (or host name) the tables are read from"))
	}
	if strings.TrimSpace(c.Source.Database) == "" {
		errs = append(errs, fieldErr([]string{"source", "database"}, "missing: the MySQL schema whose tables are loaded"))
	}
	if _, err := c.Location(); err != nil {
		errs = append(errs, fieldErr([]string{"timeZone"}, "%v", err))
	}
	for _, name := range slices.Sorted(maps.Keys(c.Sets)) {
		path := []string{"sets", name}
		if _, known := DefaultSets()[name]; !known {
			errs = append(errs, fieldErr(path, "unknown set %q: the stack schedules %q and %q", name, SetDaily, SetFrequent))
			continue
		}
		s, _ := c.Set(name)
		_, serrs := s.parse(path)
		errs = append(errs, serrs...)
		errs = append(errs, validateNames(with(path, "tables"), c.Sets[name].Tables, true)...)
	}
	errs = append(errs, validateTableConfig([]string{"defaults"}, c.Defaults)...)
	for _, name := range slices.Sorted(maps.Keys(c.Tables)) {
		if strings.TrimSpace(name) == "" {
			errs = append(errs, fieldErr([]string{"tables", name}, "empty table name"))
			continue
		}
		errs = append(errs, validateTableConfig([]string{"tables", name}, c.Tables[name])...)
	}
	roles := map[string]int{}
	for i, a := range c.Access {
		path := []string{"access", strconv.Itoa(i)}
		role := strings.TrimSpace(a.Role)
		switch prev, dup := roles[role]; {
		case role == "":
			errs = append(errs, fieldErr(with(path, "role"), "missing: the IAM role (name or ARN) the grant is for"))
		case dup:
			errs = append(errs, fieldErr(with(path, "role"), "role %q is already granted in access[%d]: write one entry per role", role, prev))
		default:
			roles[role] = i
		}
		if len(a.Tables) == 0 {
			errs = append(errs, fieldErr(with(path, "tables"), "role %q has no tables: list the tables it may read (or \"*\"), or remove the entry", a.Role))
		}
		// Snapshot tables are no source tables: checked for their form here, and
		// against the catalog when the grants are applied.
		for j, n := range a.Tables {
			if db, table, snap := SnapshotTable(n); snap && (db == "" || table == "") {
				errs = append(errs, fieldErr(with(path, "tables", strconv.Itoa(j)), "%q is no snapshot table: write %s<database>.<table> (or %s<database>.*)", n, SnapshotTablePrefix, SnapshotTablePrefix))
			}
		}
		errs = append(errs, validateNames(with(path, "tables"), a.Tables, false)...)
		every := slices.Contains(a.Tables, "*")
		for _, table := range slices.Sorted(maps.Keys(a.Columns)) {
			cpath := with(path, "columns", table)
			_, _, snap := SnapshotTable(table)
			if (!every || snap) && !slices.Contains(a.Tables, table) {
				errs = append(errs, fieldErr(cpath, "columns for %q, which is not among the role's tables: add it to tables or remove its columns", table))
			}
			if len(a.Columns[table]) == 0 {
				errs = append(errs, fieldErr(cpath, "no columns listed: leave the table out of columns to grant all its columns"))
			}
			for j, col := range a.Columns[table] {
				if strings.TrimSpace(col) == "" {
					errs = append(errs, fieldErr(with(cpath, strconv.Itoa(j)), "empty column name"))
				}
			}
		}
	}
	return errs
}

// validateNames checks a list of table names: none empty or repeated, and the
// wildcard (all for a set, * for a role) alone.
func validateNames(path []string, names []string, set bool) []error {
	var errs []error
	wildcard := "*"
	if set {
		wildcard = AllTables
	}
	// The wildcard is every ingested table: snapshot tables may stand beside it.
	ingested := 0
	for _, n := range names {
		if _, _, snap := SnapshotTable(n); !snap {
			ingested++
		}
	}
	seen := map[string]bool{}
	for i, n := range names {
		p := with(path, strconv.Itoa(i))
		switch {
		case strings.TrimSpace(n) == "":
			errs = append(errs, fieldErr(p, "empty table name"))
		case n == wildcard && ingested > 1:
			errs = append(errs, fieldErr(p, "%q means every table: it must be the only entry", wildcard))
		case seen[n]:
			errs = append(errs, fieldErr(p, "%q is listed twice", n))
		}
		seen[n] = true
	}
	return errs
}

func validateTableConfig(path []string, t TableConfig) []error {
	if t.RowsPerRange != 0 && t.RowsPerRange < MinRowsPerRange {
		return []error{fieldErr(with(path, "rowsPerRange"), "%d is below %d: smaller ranges cost more in connections and tasks than they gain (leave it out for %d)", t.RowsPerRange, MinRowsPerRange, DefaultRowsPerRange)}
	}
	if t.SoftDelete != nil && strings.TrimSpace(t.SoftDelete.Column) == "" {
		return []error{fieldErr(with(path, "softDelete", "column"), "missing: the column that marks a row deleted (deleted_at, is_deleted)")}
	}
	if t.KeyCheck != "" {
		if _, err := ParseKeyCheck(t.KeyCheck); err != nil {
			return []error{fieldErr(with(path, "keyCheck"), "%v", err)}
		}
	}
	switch t.Mode {
	case "", ModeIncremental:
		return nil
	case ModeFull:
		if t.Column != "" {
			return []error{fieldErr(with(path, "column"), "a full reload takes no column: remove column, or set mode: incremental")}
		}
		return nil
	}
	return []error{fieldErr(with(path, "mode"), "%q is not a load mode: use %q or %q (or leave it out to choose by the table's columns)", t.Mode, ModeIncremental, ModeFull)}
}

// CheckTables checks the config's references against the source's tables: every
// table named in sets, tables and access exists, and so does every column named.
// Each problem is a *FieldError wrapping ErrUnknownTable or ErrUnknownColumn.
func (c Config) CheckTables(tables []Table) []error {
	byName := make(map[string]*Table, len(tables))
	for i := range tables {
		byName[tables[i].Name] = &tables[i]
	}
	var errs []error
	unknownTable := func(path []string, name string) {
		errs = append(errs, &FieldError{Path: path, Err: ErrUnknownTable, Table: name,
			Problem: fmt.Sprintf("unknown table %q: database %q has no base table of that name%s", name, c.Source.Database, suggest(name, tables))})
	}
	unknownColumn := func(path []string, t *Table, col string) {
		errs = append(errs, &FieldError{Path: path, Err: ErrUnknownColumn, Table: t.Name,
			Problem: fmt.Sprintf("unknown column %q: table %q has columns %s", col, t.Name, strings.Join(t.columnNames(), ", "))})
	}
	for _, name := range slices.Sorted(maps.Keys(c.Sets)) {
		for i, n := range c.Sets[name].Tables {
			if n != AllTables && byName[n] == nil {
				unknownTable([]string{"sets", name, "tables", strconv.Itoa(i)}, n)
			}
		}
	}
	for _, name := range slices.Sorted(maps.Keys(c.Tables)) {
		t := byName[name]
		switch {
		case t == nil:
			unknownTable([]string{"tables", name}, name)
		case c.Tables[name].Column != "" && t.Column(c.Tables[name].Column) == nil:
			unknownColumn([]string{"tables", name, "column"}, t, c.Tables[name].Column)
		case c.Tables[name].SoftDelete != nil && t.Column(c.Tables[name].SoftDelete.Column) == nil:
			unknownColumn([]string{"tables", name, "softDelete", "column"}, t, c.Tables[name].SoftDelete.Column)
		}
	}
	for i, a := range c.Access {
		path := []string{"access", strconv.Itoa(i)}
		for j, n := range a.Tables {
			if _, _, snap := SnapshotTable(n); n != "*" && !snap && byName[n] == nil {
				unknownTable(with(path, "tables", strconv.Itoa(j)), n)
			}
		}
		for _, name := range slices.Sorted(maps.Keys(a.Columns)) {
			if _, _, snap := SnapshotTable(name); snap {
				continue // a snapshot table's columns are the catalog's, checked when granted
			}
			t := byName[name]
			if t == nil {
				if slices.Contains(a.Tables, name) {
					continue // reported under tables
				}
				unknownTable(with(path, "columns", name), name)
				continue
			}
			for j, col := range a.Columns[name] {
				if t.Column(col) == nil {
					unknownColumn(with(path, "columns", name, strconv.Itoa(j)), t, col)
				}
			}
		}
	}
	return errs
}

// suggest names a table that differs from name only in case, the likeliest slip.
func suggest(name string, tables []Table) string {
	for _, t := range tables {
		if strings.EqualFold(t.Name, name) {
			return fmt.Sprintf(" (did you mean %q? table names are case-sensitive)", t.Name)
		}
	}
	return ""
}

// MinKeyCheck is the shortest keyCheck interval: a key check reads every key of
// the table, which is not worth doing more often than a frequent run.
const MinKeyCheck = 15 * time.Minute

// ParseKeyCheck reads a keyCheck interval ("168h").
func ParseKeyCheck(s string) (time.Duration, error) {
	d, err := time.ParseDuration(s)
	if err != nil {
		return 0, fmt.Errorf("%q is not a duration: write hours, e.g. \"168h\" for a week", s)
	}
	if d < MinKeyCheck {
		return 0, fmt.Errorf("%s is below %s: a key check reads every key of the table", d, MinKeyCheck)
	}
	return d, nil
}
