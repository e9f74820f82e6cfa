package ingest

import (
	"context"
	"database/sql"
	"fmt"
	"slices"
	"strings"
	"sync/atomic"
)

// Table is a base table of the source database as information_schema describes it.
type Table struct {
	Name    string   `json:"name"`
	Columns []Column `json:"columns"`
	// PrimaryKey lists the primary key's columns in key order; empty without one.
	PrimaryKey []string `json:"primaryKey,omitempty"`
	// AutoIncrement is the AUTO_INCREMENT column (MySQL allows at most one), or "".
	AutoIncrement string `json:"autoIncrement,omitempty"`
	// EstimatedRows is information_schema.TABLES.TABLE_ROWS: for InnoDB an estimate
	// from the index statistics (off by tens of percent, and cached by MySQL 8 for
	// information_schema_stats_expiry), good enough to size ranges.
	EstimatedRows int64 `json:"estimatedRows"`
	// KeyMin and KeyMax are the RangeKey's bounds, read for tables of at least
	// MinRowsPerRange estimated rows; nil otherwise, or when the table is empty.
	KeyMin *string `json:"keyMin,omitempty"`
	KeyMax *string `json:"keyMax,omitempty"`
}

// Column is one column of a Table.
type Column struct {
	Name string `json:"name"`
	// DataType is information_schema's DATA_TYPE, lower case: "bigint", "datetime".
	DataType string `json:"dataType"`
	// ColumnType is the full COLUMN_TYPE: "bigint(20) unsigned".
	ColumnType string `json:"columnType"`
	Nullable   bool   `json:"nullable"`
	Ordinal    int    `json:"ordinal"`
}

// Column returns the column named name, or nil. MySQL column names are
// case-insensitive, and so is this lookup.
func (t Table) Column(name string) *Column {
	for i := range t.Columns {
		if strings.EqualFold(t.Columns[i].Name, name) {
			return &t.Columns[i]
		}
	}
	return nil
}

func (t Table) columnNames() []string {
	names := make([]string, len(t.Columns))
	for i, c := range t.Columns {
		names[i] = c.Name
	}
	return names
}

// Queryer is what Discover needs of a database: *sql.DB, *sql.Conn and *sql.Tx have it.
type Queryer interface {
	QueryContext(ctx context.Context, query string, args ...any) (*sql.Rows, error)
}

// CountingQueryer counts the queries made through it.
type CountingQueryer struct {
	Q Queryer
	n atomic.Int64
}

func (c *CountingQueryer) QueryContext(ctx context.Context, query string, args ...any) (*sql.Rows, error) {
	c.n.Add(1)
	return c.Q.QueryContext(ctx, query, args...)
}

// Queries is the number of queries made so far.
func (c *CountingQueryer) Queries() int { return int(c.n.Load()) }

// DiscoveryQueries is how many queries Discover makes, whatever the number of
// tables: a run over 300 tables must not make 300 round trips. One more
// (KeyBoundsQueries) reads the range keys' bounds when some table has at least
// MinRowsPerRange estimated rows and an integer key.
const (
	DiscoveryQueries = 3
	KeyBoundsQueries = 1
)

// Discover lists the base tables of database (views are not loaded) with their
// columns, primary keys and AUTO_INCREMENT columns, sorted by name.
func Discover(ctx context.Context, db Queryer, database string) ([]Table, error) {
	byName := map[string]*Table{}
	// Joined to SCHEMATA so that a missing database (no row) differs from an empty
	// one (one row without a table) in the same query.
	exists := false
	err := each(ctx, db, "list the tables of "+database,
		`SELECT t.TABLE_NAME, t.TABLE_ROWS FROM information_schema.SCHEMATA s
		LEFT JOIN information_schema.TABLES t ON t.TABLE_SCHEMA = s.SCHEMA_NAME AND t.TABLE_TYPE = 'BASE TABLE'
		WHERE s.SCHEMA_NAME = ?`,
		[]any{database}, func(scan func(...any) error) error {
			var name sql.NullString
			var rows sql.NullInt64
			if err := scan(&name, &rows); err != nil {
				return err
			}
			exists = true
			if name.Valid {
				byName[name.String] = &Table{Name: name.String, EstimatedRows: rows.Int64}
			}
			return nil
		})
	if err != nil {
		return nil, err
	}
	if !exists {
		return nil, fmt.Errorf("database %q not found (or not visible to this user: it needs SELECT on it)", database)
	}
	err = each(ctx, db, "read the columns of "+database,
		`SELECT TABLE_NAME, COLUMN_NAME, DATA_TYPE, COLUMN_TYPE, IS_NULLABLE, ORDINAL_POSITION, EXTRA
		FROM information_schema.COLUMNS WHERE TABLE_SCHEMA = ?`,
		[]any{database}, func(scan func(...any) error) error {
			var table, nullable, extra string
			var c Column
			if err := scan(&table, &c.Name, &c.DataType, &c.ColumnType, &nullable, &c.Ordinal, &extra); err != nil {
				return err
			}
			t := byName[table]
			if t == nil {
				return nil // a view's columns
			}
			c.DataType = strings.ToLower(c.DataType)
			c.Nullable = nullable == "YES"
			t.Columns = append(t.Columns, c)
			if strings.Contains(strings.ToLower(extra), "auto_increment") {
				t.AutoIncrement = c.Name
			}
			return nil
		})
	if err != nil {
		return nil, err
	}
	type keyPart struct {
		col string
		seq int
	}
	keys := map[string][]keyPart{}
	err = each(ctx, db, "read the primary keys of "+database,
		`SELECT TABLE_NAME, COLUMN_NAME, ORDINAL_POSITION FROM information_schema.KEY_COLUMN_USAGE
		WHERE TABLE_SCHEMA = ? AND CONSTRAINT_NAME = 'PRIMARY'`,
		[]any{database}, func(scan func(...any) error) error {
			var table string
			var k keyPart
			if err := scan(&table, &k.col, &k.seq); err != nil {
				return err
			}
			keys[table] = append(keys[table], k)
			return nil
		})
	if err != nil {
		return nil, err
	}
	tables := make([]Table, 0, len(byName))
	for _, t := range byName {
		slices.SortFunc(t.Columns, func(a, b Column) int { return a.Ordinal - b.Ordinal })
		parts := keys[t.Name]
		slices.SortFunc(parts, func(a, b keyPart) int { return a.seq - b.seq })
		for _, p := range parts {
			t.PrimaryKey = append(t.PrimaryKey, p.col)
		}
		tables = append(tables, *t)
	}
	slices.SortFunc(tables, func(a, b Table) int { return strings.Compare(a.Name, b.Name) })
	if err := readKeyBounds(ctx, db, database, tables); err != nil {
		return nil, err
	}
	return tables, nil
}

// readKeyBounds reads the MIN and MAX of the RangeKey of every table large enough to
// split, in one query: each is answered from the key's index without reading rows.
func readKeyBounds(ctx context.Context, db Queryer, database string, tables []Table) error {
	var parts []string
	var args []any
	byName := map[string]*Table{}
	for i := range tables {
		t := &tables[i]
		key, _ := t.RangeKey()
		if key == nil || t.EstimatedRows < MinRowsPerRange {
			continue
		}
		col := quoteIdentifier(key.Name)
		parts = append(parts, "SELECT ?, CAST(MIN("+col+") AS CHAR), CAST(MAX("+col+") AS CHAR) FROM "+quoteIdentifier(database)+"."+quoteIdentifier(t.Name))
		args = append(args, t.Name)
		byName[t.Name] = t
	}
	if len(parts) == 0 {
		return nil
	}
	return each(ctx, db, "read the range keys' bounds in "+database, strings.Join(parts, " UNION ALL "), args, func(scan func(...any) error) error {
		var name string
		var lo, hi sql.NullString
		if err := scan(&name, &lo, &hi); err != nil {
			return err
		}
		if t := byName[name]; t != nil && lo.Valid && hi.Valid {
			t.KeyMin, t.KeyMax = &lo.String, &hi.String
		}
		return nil
	})
}

// quoteIdentifier quotes a MySQL name in backticks, doubling any inside it.
func quoteIdentifier(name string) string { return "`" + strings.ReplaceAll(name, "`", "``") + "`" }

// each runs one query and calls row for each row.
func each(ctx context.Context, db Queryer, doing, query string, args []any, row func(scan func(...any) error) error) error {
	rows, err := db.QueryContext(ctx, query, args...)
	if err != nil {
		return fmt.Errorf("%s: %w", doing, err)
	}
	defer rows.Close()
	for rows.Next() {
		if err := row(rows.Scan); err != nil {
			return fmt.Errorf("%s: %w", doing, err)
		}
	}
	if err := rows.Err(); err != nil {
		return fmt.Errorf("%s: %w", doing, err)
	}
	return nil
}
