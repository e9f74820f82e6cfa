package federate

import (
	"fmt"
	"strings"
	"time"

	"github.com/snaplake/snaplake/internal/federate/redshift"
)

// The SQL a subscriber runs, the same on Redshift and on its PostgreSQL stand-in
// (golden files in testdata/ show it whole).

// stagingSuffix names a table's staging table.
const stagingSuffix = "__snaplake_staging"

func qualified(schema, name string) string { return quoteIdent(schema) + "." + quoteIdent(name) }

// literal quotes a Redshift string literal. Redshift reads a backslash in an ordinary
// literal as an escape (its QUOTE_LITERAL "doubles any embedded single quotation marks
// and backslashes", Redshift DG "QUOTE_LITERAL function"), so backslashes are doubled
// as well as quotes: else a value ending in \ would turn the closing quote into a
// character and let the rest run as SQL. The names and versions quoted here are
// validated (Config.Validate, ParseVersion) and hold neither, but a user name may.
func literal(s string) string {
	s = strings.ReplaceAll(s, `\`, `\\`)
	return "'" + strings.ReplaceAll(s, "'", "''") + "'"
}

// ControlSQL creates the control table if it does not exist.
func ControlSQL() []string {
	return []string{
		"CREATE SCHEMA IF NOT EXISTS " + quoteIdent(ControlSchema),
		"CREATE TABLE IF NOT EXISTS " + qualified(ControlSchema, ControlTable) +
			" (schema_name VARCHAR(128) NOT NULL, table_name VARCHAR(128) NOT NULL, version VARCHAR(256) NOT NULL, loaded_at TIMESTAMP NOT NULL)",
	}
}

// LoadedSQL reads the version a subscriber holds of a table.
func LoadedSQL(schema, name string) string {
	return "SELECT version FROM " + qualified(ControlSchema, ControlTable) +
		" WHERE schema_name = " + literal(schema) + " AND table_name = " + literal(name)
}

// CreateSchemaSQL creates the schema of a table a subscriber does not have yet; the
// table itself is its staging table, renamed by the swap (Change.Create).
func CreateSchemaSQL(schema string) string {
	return "CREATE SCHEMA IF NOT EXISTS " + quoteIdent(schema)
}

func columnDefs(cols []redshift.Column) string {
	defs := make([]string, len(cols))
	for i, c := range cols {
		defs[i] = quoteIdent(c.Name) + " " + c.Type
		if !c.Nullable {
			defs[i] += " NOT NULL"
		}
	}
	return strings.Join(defs, ", ")
}

// StagingDefinedSQL makes an empty staging table of a version's definition, for a
// version whose definition the table does not have yet (LIKE would copy the old one).
func StagingDefinedSQL(schema, name string, cols []redshift.Column) []string {
	staging := qualified(schema, name+stagingSuffix)
	return []string{
		"DROP TABLE IF EXISTS " + staging,
		"CREATE TABLE " + staging + " (" + columnDefs(cols) + ")",
	}
}

// WidenSQL lengthens a VARCHAR column to its published type: a statement of its own,
// never inside a transaction block, where Redshift refuses it ("You can't alter
// columns within a transaction block", Redshift DG "ALTER TABLE").
func WidenSQL(schema, name string, col redshift.Column) string {
	return "ALTER TABLE " + qualified(schema, name) + " ALTER COLUMN " + quoteIdent(col.Name) + " TYPE " + col.Type
}

// AddColumnSQL adds one nullable column: one column per ALTER TABLE, as Redshift
// requires ("You can add only one column in each ALTER TABLE statement").
func AddColumnSQL(schema, name string, col redshift.Column) string {
	return "ALTER TABLE " + qualified(schema, name) + " ADD COLUMN " + quoteIdent(col.Name) + " " + col.Type
}

// Change is what a swap also does to the table's definition.
type Change struct {
	// Add are nullable columns added, at the end, before the rows go in.
	Add []redshift.Column
	// Rebuild replaces the table by the staging table (made of the version's
	// definition): DROP TABLE, then the staging table renamed. Full versions only.
	Rebuild bool
	// Create makes the staging table (made of the version's definition) the table,
	// which does not exist: renamed. Full versions only.
	Create bool
}

// StagingSQL makes an empty staging table like the table; a staging table a killed
// run left is dropped first.
func StagingSQL(schema, name string) []string {
	staging := qualified(schema, name+stagingSuffix)
	return []string{
		"DROP TABLE IF EXISTS " + staging,
		"CREATE TABLE " + staging + " (LIKE " + qualified(schema, name) + ")",
	}
}

// checkSQL is a statement that fails unless cond holds over the rows of from, and
// so rolls back the transaction it is part of: 1 divided by 0 is an error on Redshift
// and on PostgreSQL alike. cond is an aggregate over from, never a constant, so that
// no planner folds the division away or evaluates it early (PostgreSQL does that to
// constant CASE branches: its manual, "Conditional Expressions").
func checkSQL(cond, from string) string {
	return "SELECT 1 / (CASE WHEN " + cond + " THEN 1 ELSE 0 END) FROM " + from
}

// SwapSQL puts a loaded staging table in place and records the version, in one
// transaction: readers see the old version or the new one, never a part. A full
// version replaces the rows (DELETE, not TRUNCATE, which commits at once in
// Redshift); an append version adds its rows.
//
// The transaction checks, before it changes anything, that the control table still
// holds from (the version this run started from, "" for none) and nothing else for
// the table, and that the staging table holds exactly rows rows; after a full
// version's insert, that the table holds exactly rows rows. Any check that fails
// rolls everything back: another run swapped first (an append version would be
// applied twice), or the staging table is not the one this run loaded (dropped and
// re-created by another run, it would swap in an empty table).
func SwapSQL(schema, name, kind, version, from string, rows int64, at time.Time) []string {
	return SwapChangeSQL(schema, name, kind, version, from, rows, at, Change{})
}

// SwapChangeSQL is SwapSQL that also changes the table's definition, in the same
// transaction: readers see the old table or the new one (or, for a table created,
// none, then the whole version). Columns are added (ADD
// COLUMN, one per statement) after the checks and before the rows go in. A rebuild
// drops the table and renames the staging table in its place (ALTER TABLE ...
// RENAME TO is allowed in a transaction block; ALTER COLUMN ... TYPE is not, so a
// widening runs before, alone: WidenSQL).
func SwapChangeSQL(schema, name, kind, version, from string, rows int64, at time.Time, change Change) []string {
	table, staging := qualified(schema, name), qualified(schema, name+stagingSuffix)
	control := qualified(ControlSchema, ControlTable)
	which := "schema_name = " + literal(schema) + " AND table_name = " + literal(name)
	held := "COUNT(*) = 0"
	if from != "" {
		held = "COUNT(*) = 1 AND MAX(version) = " + literal(from)
	}
	stmts := []string{
		checkSQL(held, control+" WHERE "+which),
		checkSQL(fmt.Sprintf("COUNT(*) = %d", rows), staging),
	}
	switch {
	case change.Create:
		// The staging table's rows were checked above; a rename moves no row.
		stmts = append(stmts, "ALTER TABLE "+staging+" RENAME TO "+quoteIdent(name))
	case change.Rebuild:
		stmts = append(stmts,
			"DROP TABLE "+table,
			"ALTER TABLE "+staging+" RENAME TO "+quoteIdent(name),
			checkSQL(fmt.Sprintf("COUNT(*) = %d", rows), table))
	default:
		for _, c := range change.Add {
			stmts = append(stmts, AddColumnSQL(schema, name, c))
		}
		if kind == KindFull {
			stmts = append(stmts, "DELETE FROM "+table)
		}
		stmts = append(stmts, "INSERT INTO "+table+" SELECT * FROM "+staging)
		if kind == KindFull {
			stmts = append(stmts, checkSQL(fmt.Sprintf("COUNT(*) = %d", rows), table))
		}
		stmts = append(stmts, "DROP TABLE "+staging)
	}
	return append(stmts,
		"DELETE FROM "+control+" WHERE "+which,
		fmt.Sprintf("INSERT INTO %s (schema_name, table_name, version, loaded_at) VALUES (%s, %s, %s, %s)",
			control, literal(schema), literal(name), literal(version), timestampLiteral(at)),
	)
}

// DependentViewsSQL lists the views (and materialized views) bound to a table, as
// schema and name: those that make its DROP TABLE fail ("RESTRICT ... This action is
// the default", Redshift DG "DROP TABLE"; in Redshift every view not created WITH NO
// SCHEMA BINDING is bound). It is the DG's FIND_DEPEND query (same page), joined on
// oid rather than relfilenode so that it also holds on PostgreSQL, where a view has
// no relfilenode.
func DependentViewsSQL(schema, name string) string {
	return "SELECT DISTINCT n_c.nspname, c_c.relname FROM pg_catalog.pg_class c_p" +
		" JOIN pg_catalog.pg_namespace n_p ON c_p.relnamespace = n_p.oid" +
		" JOIN pg_catalog.pg_depend d_p ON d_p.refobjid = c_p.oid" +
		" JOIN pg_catalog.pg_depend d_c ON d_c.objid = d_p.objid" +
		" JOIN pg_catalog.pg_class c_c ON d_c.refobjid = c_c.oid" +
		" JOIN pg_catalog.pg_namespace n_c ON c_c.relnamespace = n_c.oid" +
		" WHERE d_c.deptype = 'i' AND c_c.relkind IN ('v', 'm') AND c_c.oid <> c_p.oid" +
		" AND n_p.nspname = " + literal(schema) + " AND c_p.relname = " + literal(name) +
		" ORDER BY 1, 2"
}
