package federate

import (
	"fmt"
	"strings"
	"time"

	"github.com/snaplake/snaplake/internal/redshift"
)

// The SQL a subscriber runs, the same on Redshift and on its PostgreSQL stand-in
// (golden files in testdata/ show it whole).

// stagingSuffix names a table's staging table.
const stagingSuffix = "__snaplake_staging"

func qualified(schema, name string) string { return quoteIdent(schema) + "." + quoteIdent(name) }

func literal(s string) string { return "'" + strings.ReplaceAll(s, "'", "''") + "'" }

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

// CreateTableSQL creates a table from a manifest's definition (and its schema).
func CreateTableSQL(schema, name string, cols []redshift.Column) []string {
	defs := make([]string, len(cols))
	for i, c := range cols {
		defs[i] = quoteIdent(c.Name) + " " + c.Type
		if !c.Nullable {
			defs[i] += " NOT NULL"
		}
	}
	return []string{
		"CREATE SCHEMA IF NOT EXISTS " + quoteIdent(schema),
		"CREATE TABLE " + qualified(schema, name) + " (" + strings.Join(defs, ", ") + ")",
	}
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

// SwapSQL puts a loaded staging table in place and records the version, in one
// transaction: readers see the old version or the new one, never a part. A full
// version replaces the rows (DELETE, not TRUNCATE, which commits at once in
// Redshift); an append version adds its rows.
func SwapSQL(schema, name, kind, version string, at time.Time) []string {
	table, staging := qualified(schema, name), qualified(schema, name+stagingSuffix)
	var stmts []string
	if kind == KindFull {
		stmts = append(stmts, "DELETE FROM "+table)
	}
	return append(stmts,
		"INSERT INTO "+table+" SELECT * FROM "+staging,
		"DROP TABLE "+staging,
		"DELETE FROM "+qualified(ControlSchema, ControlTable)+" WHERE schema_name = "+literal(schema)+" AND table_name = "+literal(name),
		fmt.Sprintf("INSERT INTO %s (schema_name, table_name, version, loaded_at) VALUES (%s, %s, %s, %s)",
			qualified(ControlSchema, ControlTable), literal(schema), literal(name), literal(version), timestampLiteral(at)),
	)
}
