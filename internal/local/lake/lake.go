// Package lake queries the local lake with DuckDB under the names Athena uses: a view per
// catalog table (database.table) over its Parquet files, and database."table$partitions".
package lake

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"io/fs"
	"path/filepath"
	"regexp"
	"slices"
	"strings"

	"github.com/duckdb/duckdb-go/v2"

	"github.com/snaplake/snaplake/internal/local/glue"
	"github.com/snaplake/snaplake/internal/local/s3server"
)

// Lake is the local lake: the catalog the crawler stand-in writes and the directory the
// local S3 server keeps object bytes in.
type Lake struct {
	Catalog *glue.Catalog
	Root    string // <home>/s3: holds <bucket>/<key>
}

// Result is a query's answer. Types holds DuckDB's type name of each column
// (INTEGER, DECIMAL(12,2), TIMESTAMP, VARCHAR...), which Format uses to render values.
type Result struct {
	Columns []string
	Types   []string
	Rows    [][]any
}

// UnknownTableError reports a query naming a table the catalog does not hold.
type UnknownTableError struct {
	Name   string   // as the query wrote it
	Tables []string // database.table of every catalog table
}

func (e *UnknownTableError) Error() string {
	if len(e.Tables) == 0 {
		return fmt.Sprintf("table %s does not exist: the catalog has no tables yet (has a crawler run?)", e.Name)
	}
	return fmt.Sprintf("table %s does not exist; tables: %s", e.Name, strings.Join(e.Tables, ", "))
}

// ObjectPath is where the local S3 server (versitygw's posix backend) keeps the bytes
// of s3://bucket/key.
func ObjectPath(root, bucket, key string) string { return s3server.PosixPath(root, bucket, key) }

// Query runs sql in a fresh in-memory DuckDB in which every catalog table is a view.
// Each call sees the catalog and files as they are now, as an Athena query does.
func (l *Lake) Query(ctx context.Context, query string) (Result, error) {
	db, err := sql.Open("duckdb", "")
	if err != nil {
		return Result{}, fmt.Errorf("open DuckDB: %w", err)
	}
	defer db.Close()
	// One connection: SET search_path holds per connection.
	conn, err := db.Conn(ctx)
	if err != nil {
		return Result{}, fmt.Errorf("connect to DuckDB: %w", err)
	}
	defer conn.Close()

	tables, err := l.define(ctx, conn)
	if err != nil {
		return Result{}, err
	}

	rows, err := conn.QueryContext(ctx, query)
	if err != nil {
		return Result{}, queryError(err, query, tables)
	}
	defer rows.Close()
	res, err := collect(rows)
	if err != nil {
		return Result{}, queryError(err, query, tables)
	}
	return res, nil
}

// define creates the schemas and views of every catalog table and returns their
// qualified names.
func (l *Lake) define(ctx context.Context, conn *sql.Conn) ([]string, error) {
	stmts := []string{
		// Nothing here may reach the network.
		"SET autoinstall_known_extensions = false",
		"SET autoload_known_extensions = false",
		// Timestamps are UTC wall-clock times, whatever the machine's zone.
		"SET TimeZone = 'UTC'",
	}
	dbs, err := l.Catalog.Databases()
	if err != nil {
		return nil, fmt.Errorf("list catalog databases: %w", err)
	}
	var names []string
	for _, db := range dbs {
		stmts = append(stmts, "CREATE SCHEMA IF NOT EXISTS "+ident(db))
		tables, err := l.Catalog.Tables(db)
		if err != nil {
			return nil, fmt.Errorf("list tables of catalog database %s: %w", db, err)
		}
		for _, t := range tables {
			view, err := l.tableView(t)
			if err != nil {
				return nil, err
			}
			stmts = append(stmts, view, partitionsView(t))
			names = append(names, t.Database+"."+t.Name)
		}
	}
	if len(dbs) > 0 {
		// Unqualified names resolve in the catalog databases, like Athena's current database.
		path := strings.Join(append(slices.Clone(dbs), "main"), ",")
		stmts = append(stmts, "SET search_path = "+literal(path))
	}
	for _, s := range stmts {
		if _, err := conn.ExecContext(ctx, s); err != nil {
			return nil, fmt.Errorf("define the lake in DuckDB (%s): %w", firstLine(s), err)
		}
	}
	return names, nil
}

// tableView is the view of one table over the Parquet files of its catalog partitions;
// files in partitions the crawler has not seen yet stay invisible, as in Athena.
func (l *Lake) tableView(t glue.Table) (string, error) {
	bucket, prefix, err := parseLocation(t.Location)
	if err != nil {
		return "", fmt.Errorf("table %s.%s: %w", t.Database, t.Name, err)
	}
	var files []string
	for _, p := range t.Partitions {
		dir := ObjectPath(l.Root, bucket, prefix+glue.PartitionKey+"="+p)
		found, err := parquetFiles(dir)
		if err != nil {
			return "", fmt.Errorf("list files of table %s.%s partition %s: %w", t.Database, t.Name, p, err)
		}
		files = append(files, found...)
	}
	name := ident(t.Database) + "." + ident(t.Name)
	if len(files) == 0 {
		return "CREATE VIEW " + name + " AS " + emptySelect(t), nil
	}
	quoted := make([]string, len(files))
	for i, f := range files {
		quoted[i] = literal(f)
	}
	// Parquet writers (Spark for RDS exports) mark timestamps as UTC-adjusted, which
	// DuckDB reads as TIMESTAMPTZ; Glue's timestamp is Athena's zoneless TIMESTAMP.
	var casts []string
	for _, c := range t.Columns {
		if strings.EqualFold(c.Type, "timestamp") {
			casts = append(casts, "CAST("+ident(c.Name)+" AS TIMESTAMP) AS "+ident(c.Name))
		}
	}
	sel := "SELECT *"
	if len(casts) > 0 {
		sel += " REPLACE (" + strings.Join(casts, ", ") + ")"
	}
	// snapshot_date stays VARCHAR, as Athena reads the Glue string partition key;
	// union_by_name keeps older partitions readable after a column is added.
	return "CREATE VIEW " + name + " AS " + sel + " FROM read_parquet([" + strings.Join(quoted, ", ") + "], " +
		"hive_partitioning = true, hive_types = {" + literal(glue.PartitionKey) + ": VARCHAR}, " +
		"hive_types_autocast = false, union_by_name = true)", nil
}

// partitionsView is Athena's "table$partitions" metadata table.
func partitionsView(t glue.Table) string {
	name := ident(t.Database) + "." + ident(t.Name+"$partitions")
	if len(t.Partitions) == 0 {
		return "CREATE VIEW " + name + " AS SELECT CAST(NULL AS VARCHAR) AS " + ident(glue.PartitionKey) + " WHERE false"
	}
	values := make([]string, len(t.Partitions))
	for i, p := range t.Partitions {
		values[i] = "(" + literal(p) + ")"
	}
	return "CREATE VIEW " + name + " AS SELECT * FROM (VALUES " + strings.Join(values, ", ") + ") AS p(" + ident(glue.PartitionKey) + ")"
}

// emptySelect gives a table without files its catalog columns and no rows.
func emptySelect(t glue.Table) string {
	cols := make([]string, 0, len(t.Columns)+len(t.PartitionKeys))
	for _, c := range append(slices.Clone(t.Columns), t.PartitionKeys...) {
		cols = append(cols, "CAST(NULL AS "+duckType(c.Type)+") AS "+ident(c.Name))
	}
	if len(cols) == 0 {
		cols = append(cols, "CAST(NULL AS VARCHAR) AS "+ident(glue.PartitionKey))
	}
	return "SELECT " + strings.Join(cols, ", ") + " WHERE false"
}

var decimalType = regexp.MustCompile(`^decimal\(\d+,\s*\d+\)$`)

// duckType maps a Glue column type to DuckDB; nested types fall back to VARCHAR, which
// only matters for tables without files.
func duckType(glueType string) string {
	switch t := strings.ToLower(glueType); {
	case decimalType.MatchString(t):
		return strings.ToUpper(t)
	default:
		switch t {
		case "tinyint", "smallint", "bigint", "double", "float", "boolean", "timestamp", "date":
			return strings.ToUpper(t)
		case "int":
			return "INTEGER"
		case "binary":
			return "BLOB"
		default:
			return "VARCHAR"
		}
	}
}

func parquetFiles(dir string) ([]string, error) {
	var files []string
	err := filepath.WalkDir(dir, func(path string, d fs.DirEntry, err error) error {
		if errors.Is(err, fs.ErrNotExist) && path == dir {
			return filepath.SkipDir // a partition whose files are gone reads as empty
		}
		if err != nil {
			return err
		}
		// Athena, like Hive, ignores files and folders whose name starts with _ or .
		if path != dir && (strings.HasPrefix(d.Name(), "_") || strings.HasPrefix(d.Name(), ".")) {
			if d.IsDir() {
				return filepath.SkipDir
			}
			return nil
		}
		if !d.IsDir() && strings.HasSuffix(d.Name(), ".parquet") {
			files = append(files, path)
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	slices.Sort(files)
	return files, nil
}

func parseLocation(loc string) (bucket, prefix string, err error) {
	rest, ok := strings.CutPrefix(loc, "s3://")
	if !ok {
		return "", "", fmt.Errorf("location %q is not an s3:// URL", loc)
	}
	bucket, prefix, _ = strings.Cut(rest, "/")
	if bucket == "" {
		return "", "", fmt.Errorf("location %q has no bucket", loc)
	}
	if prefix != "" && !strings.HasSuffix(prefix, "/") {
		prefix += "/"
	}
	return bucket, prefix, nil
}

func collect(rows *sql.Rows) (Result, error) {
	types, err := rows.ColumnTypes()
	if err != nil {
		return Result{}, fmt.Errorf("read result columns: %w", err)
	}
	res := Result{Columns: make([]string, len(types)), Types: make([]string, len(types)), Rows: [][]any{}}
	for i, ct := range types {
		res.Columns[i] = ct.Name()
		res.Types[i] = ct.DatabaseTypeName()
	}
	for rows.Next() {
		row := make([]any, len(types))
		ptrs := make([]any, len(types))
		for i := range row {
			ptrs[i] = &row[i]
		}
		if err := rows.Scan(ptrs...); err != nil {
			return Result{}, fmt.Errorf("read result row %d: %w", len(res.Rows)+1, err)
		}
		res.Rows = append(res.Rows, row)
	}
	if err := rows.Err(); err != nil {
		return Result{}, err
	}
	return res, nil
}

// missingTable matches DuckDB's catalog error for an unknown table or view.
var missingTable = regexp.MustCompile(`Table with name (\S+?) does not exist`)

// queryError turns DuckDB's unknown-table error into an *UnknownTableError and keeps
// DuckDB's own message for every other failure.
func queryError(err error, query string, tables []string) error {
	var de *duckdb.Error
	if errors.As(err, &de) && de.Type == duckdb.ErrorTypeCatalog {
		if m := missingTable.FindStringSubmatch(de.Msg); m != nil {
			return &UnknownTableError{Name: qualifiedName(query, m[1]), Tables: tables}
		}
	}
	return fmt.Errorf("run query: %w", err)
}

// qualifiedName finds how the query wrote table name (DuckDB's message drops the
// database), so the error names warehouse.nope rather than nope.
func qualifiedName(query, name string) string {
	id := `(?:"` + regexp.QuoteMeta(strings.ReplaceAll(name, `"`, `""`)) + `"|` + regexp.QuoteMeta(name) + `)`
	re, err := regexp.Compile(`(?i)(?:("(?:[^"]|"")+"|[\w$]+)\s*\.\s*)?` + id + `(?:[^\w$"]|$)`)
	if err != nil {
		return name
	}
	for _, m := range re.FindAllStringSubmatch(query, -1) {
		if db := m[1]; db != "" {
			if strings.HasPrefix(db, `"`) {
				db = strings.ReplaceAll(db[1:len(db)-1], `""`, `"`)
			}
			return db + "." + name
		}
	}
	return name
}

func ident(s string) string   { return `"` + strings.ReplaceAll(s, `"`, `""`) + `"` }
func literal(s string) string { return "'" + strings.ReplaceAll(s, "'", "''") + "'" }

func firstLine(s string) string {
	if len(s) > 120 {
		s = s[:120] + "..."
	}
	return s
}
