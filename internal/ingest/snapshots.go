package ingest

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"maps"
	"slices"
	"strconv"
	"strings"

	"github.com/snaplake/snaplake/internal/deploy"
)

// ErrDatabaseNotVisible marks a snapshot rule that could not be checked: the source
// user sees no database of that name (it does not exist, or the user has no
// privilege on it, which hides it from information_schema alike).
var ErrDatabaseNotVisible = errors.New("database not visible")

// SnapshotSources are the source tables behind the snapshot tables the access
// rules name, by source database in lower case (as SnapshotTable gives it). A
// database the user cannot see is absent.
type SnapshotSources map[string][]Table

// UncheckedTable is a snapshot table of the access rules that the plan could not
// check against the source (see ErrDatabaseNotVisible): not a problem of the config
// that is known, so the plan does not fail for it, but nothing vouches for it either.
type UncheckedTable struct {
	Source string `json:"source"`
	// Config is where the rule's entry is written: file:line.
	Config string `json:"config,omitempty"`
	// Reason is file:line:column: field: why it was not checked.
	Reason string `json:"reason"`
}

// SnapshotDatabases are the source databases the access rules name snapshot
// tables of, in lower case, sorted.
func (c Config) SnapshotDatabases() []string {
	seen := map[string]bool{}
	for _, a := range c.Access {
		for _, n := range slices.Concat(a.Tables, slices.Collect(maps.Keys(a.Columns))) {
			if db, _, snap := SnapshotTable(n); snap && db != "" {
				seen[db] = true
			}
		}
	}
	return slices.Sorted(maps.Keys(seen))
}

// DiscoverSnapshotSources reads the base tables and columns of databases (lower
// case, as SnapshotDatabases gives them) in one query. Names are matched without
// regard to case: the snapshot's Glue catalog keeps them in lower case, whatever
// the source's. Only information_schema is read: no table is opened.
func DiscoverSnapshotSources(ctx context.Context, db Queryer, databases []string) (SnapshotSources, error) {
	out := SnapshotSources{}
	if len(databases) == 0 {
		return out, nil
	}
	args := make([]any, len(databases))
	for i, d := range databases {
		args[i] = strings.ToLower(d)
	}
	// Joined from SCHEMATA so that a database the user sees without any table (one
	// row of NULLs) differs from one it does not see (no row).
	byName := map[string]map[string]*Table{}
	err := each(ctx, db, "read the tables of the snapshot databases "+strings.Join(databases, ", "),
		`SELECT s.SCHEMA_NAME, t.TABLE_NAME, c.COLUMN_NAME, c.ORDINAL_POSITION FROM information_schema.SCHEMATA s
		LEFT JOIN information_schema.TABLES t ON t.TABLE_SCHEMA = s.SCHEMA_NAME AND t.TABLE_TYPE = 'BASE TABLE'
		LEFT JOIN information_schema.COLUMNS c ON c.TABLE_SCHEMA = t.TABLE_SCHEMA AND c.TABLE_NAME = t.TABLE_NAME
		WHERE LOWER(s.SCHEMA_NAME) IN (?`+strings.Repeat(", ?", len(databases)-1)+`)`,
		args, func(scan func(...any) error) error {
			var schema string
			var table, column sql.NullString
			var ordinal sql.NullInt64
			if err := scan(&schema, &table, &column, &ordinal); err != nil {
				return err
			}
			key := strings.ToLower(schema)
			if byName[key] == nil {
				byName[key] = map[string]*Table{}
			}
			if !table.Valid {
				return nil
			}
			t := byName[key][table.String]
			if t == nil {
				t = &Table{Name: table.String}
				byName[key][table.String] = t
			}
			if column.Valid {
				t.Columns = append(t.Columns, Column{Name: column.String, Ordinal: int(ordinal.Int64)})
			}
			return nil
		})
	if err != nil {
		return nil, err
	}
	for d, tables := range byName {
		out[d] = []Table{}
		for _, name := range slices.Sorted(maps.Keys(tables)) {
			t := tables[name]
			slices.SortFunc(t.Columns, func(a, b Column) int { return a.Ordinal - b.Ordinal })
			out[d] = append(out[d], *t)
		}
	}
	return out, nil
}

// table is the source table of snapshot table name of database db (lower case),
// matched without regard to case as Glue lower-cases it; nil when there is none.
func (s SnapshotSources) table(db, name string) *Table {
	for i, t := range s[db] {
		if strings.EqualFold(t.Name, name) {
			return &s[db][i]
		}
	}
	return nil
}

// CheckSnapshotTables checks the snapshot tables the access rules name against
// their source tables: a snapshot table's columns are its source table's (RDS
// exports every column, and Glue lower-cases the names), plus the partition
// column snapshot_date. Every table named must exist, and every column listed for
// it. Each problem is a *FieldError wrapping ErrUnknownTable or ErrUnknownColumn
// with Table "snapshots:<database>.<table>"; each rule entry of a database absent
// from sources is in unchecked, a *FieldError wrapping ErrDatabaseNotVisible.
//
// A column list under "snapshots:<database>.*" is not checked here: DesiredIn
// refuses it whole.
func (c Config) CheckSnapshotTables(sources SnapshotSources) (problems, unchecked []error) {
	for i, a := range c.Access {
		path := []string{"access", strconv.Itoa(i)}
		named := map[string]bool{} // "snapshots:<db>.<table>" this rule gives
		for j, n := range a.Tables {
			db, table, snap := SnapshotTable(n)
			if !snap || db == "" {
				continue
			}
			name := SnapshotTablePrefix + db + "." + table
			named[name] = true
			p := with(path, "tables", strconv.Itoa(j))
			if _, visible := sources[db]; !visible {
				unchecked = append(unchecked, &FieldError{Path: p, Err: ErrDatabaseNotVisible, Table: name,
					Problem: fmt.Sprintf("not checked: the source user sees no database %q (it does not exist, or the user has no privilege on it): grant it SELECT on %s.* to check %s and its columns", db, quoteIdentifier(db), name)})
				continue
			}
			if table == "*" {
				continue
			}
			switch t := sources.table(db, table); {
			case t == nil:
				problems = append(problems, &FieldError{Path: p, Err: ErrUnknownTable, Table: name,
					Problem: fmt.Sprintf("unknown table %q: database %q has no base table %q, so its nightly snapshot has none", n, db, table)})
			case exportSkips(t) != "":
				problems = append(problems, &FieldError{Path: p, Err: ErrUnknownTable, Table: name,
					Problem: fmt.Sprintf("table %q is not in the nightly snapshot: %s", n, exportSkips(t))})
			}
		}
		for _, key := range slices.Sorted(maps.Keys(a.Columns)) {
			db, table, snap := SnapshotTable(key)
			if !snap || db == "" || table == "*" {
				continue
			}
			name := SnapshotTablePrefix + db + "." + table
			p := with(path, "columns", key)
			if _, visible := sources[db]; !visible {
				if !named[name] {
					unchecked = append(unchecked, &FieldError{Path: p, Err: ErrDatabaseNotVisible, Table: name,
						Problem: fmt.Sprintf("not checked: the source user sees no database %q (it does not exist, or the user has no privilege on it): grant it SELECT on %s.* to check its columns", db, quoteIdentifier(db))})
				}
				continue
			}
			t := sources.table(db, table)
			switch {
			case named[name] && (t == nil || exportSkips(t) != ""):
				continue // reported under tables
			case t == nil:
				problems = append(problems, &FieldError{Path: p, Err: ErrUnknownTable, Table: name,
					Problem: fmt.Sprintf("unknown table %q: database %q has no base table %q, so its nightly snapshot has none", key, db, table)})
				continue
			case exportSkips(t) != "":
				problems = append(problems, &FieldError{Path: p, Err: ErrUnknownTable, Table: name,
					Problem: fmt.Sprintf("table %q is not in the nightly snapshot: %s", key, exportSkips(t))})
				continue
			}
			for k, col := range a.Columns[key] {
				col = strings.TrimSpace(col)
				if strings.EqualFold(col, deploy.SnapshotPartitionKey) || t.Column(col) != nil {
					continue
				}
				problems = append(problems, &FieldError{Path: with(p, strconv.Itoa(k)), Err: ErrUnknownColumn, Table: name,
					Problem: fmt.Sprintf("unknown column %q: table %s.%s has columns %s, and the snapshot adds %s",
						col, db, t.Name, strings.Join(t.columnNames(), ", "), deploy.SnapshotPartitionKey)})
			}
		}
	}
	return problems, unchecked
}

// exportUnsupported are the characters that make the RDS snapshot export skip a
// table when one of its column names has them ("Tables with the following
// characters in column names are skipped during export: , ; { } ( ) \n \t =
// (space)"; tables with a slash in their name are skipped too): such a table
// never reaches the lake, and a grant on it would stay pending for ever.
const exportUnsupported = ",;{}()\n\t= "

// exportSkips says why the snapshot export skips t, or "" when it exports it.
func exportSkips(t *Table) string {
	if strings.Contains(t.Name, "/") {
		return fmt.Sprintf("the RDS snapshot export skips table %q, whose name has a slash", t.Name)
	}
	for _, c := range t.Columns {
		if strings.ContainsAny(c.Name, exportUnsupported) {
			return fmt.Sprintf("the RDS snapshot export skips table %q, as its column %q has a character it does not support (one of , ; { } ( ) = space, tab, newline)", t.Name, c.Name)
		}
	}
	return ""
}

// SnapshotAccess is what CheckSnapshotTables finds, as a plan reports it: the
// problems as refused tables (each naming the rule's file:line and field, like the
// ingested tables' problems), and the rules that could not be checked. A refused
// snapshot table loads nothing less: it is its grant that the grants run would
// fail (Lake Formation refuses a column a table does not have) or leave pending
// for ever (a table that never appears).
func (c Config) SnapshotAccess(sources SnapshotSources) (refused []RefusedTable, unchecked []UncheckedTable) {
	problems, skipped := c.CheckSnapshotTables(sources)
	c.place(problems)
	c.place(skipped)
	// Snapshot tables belong to no set: every set reports them.
	refused, _ = c.refusedTables("", Set{Tables: []string{AllTables}}, problems)
	for _, err := range skipped {
		var fe *FieldError
		if errors.As(err, &fe) {
			unchecked = append(unchecked, UncheckedTable{Source: fe.Table, Config: fe.place(), Reason: fe.Error()})
		}
	}
	return refused, unchecked
}
