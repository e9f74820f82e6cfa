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

	"github.com/snaplake/snaplake/internal/local/glue"
	"github.com/snaplake/snaplake/internal/local/iam"
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
	Tables []string // database.table of every catalog table (visible to Role)
	Role   string   // the role the query ran as, when its grants or policies hide every table
}

func (e *UnknownTableError) Error() string {
	if len(e.Tables) == 0 && e.Role != "" {
		return fmt.Sprintf("table %s does not exist; role %s sees no tables", e.Name, e.Role)
	}
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
	return l.run(ctx, query, nil)
}

// QueryAs runs sql as Query does, but as the role of a: only the tables and columns
// Lake Formation grants it on a.Database are defined (see Access). A query naming a
// table or column of the catalog that is not granted fails with a *NotGrantedError.
func (l *Lake) QueryAs(ctx context.Context, query string, a *Access) (Result, error) {
	if a == nil {
		return Result{}, errors.New("query as a role: no access given")
	}
	return l.run(ctx, query, a)
}

func (l *Lake) run(ctx context.Context, query string, a *Access) (Result, error) {
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

	sc, err := l.define(ctx, conn, a)
	if err != nil {
		return Result{}, err
	}
	if a != nil && a.IAM != nil {
		if err := sc.authorizeData(ctx, conn, query); err != nil {
			return Result{}, err
		}
	}

	rows, err := conn.QueryContext(ctx, query)
	if err != nil {
		return Result{}, sc.queryError(err, query)
	}
	defer rows.Close()
	res, err := collect(rows)
	if err != nil {
		return Result{}, sc.queryError(err, query)
	}
	return res, nil
}

// schema is what one query's DuckDB holds: the visible tables, and the whole catalog
// (to tell a table or column that is not granted from one that does not exist).
type schema struct {
	visible []string              // database.table of the views defined
	catalog map[string]glue.Table // database.table -> every catalog table
	access  *Access               // nil: every table and column
	// With access.IAM: the tables whose Data Catalog calls IAM denies (database.table
	// -> Athena's error), the files of the visible ones, the search path, and the
	// evaluator.
	denied map[string]error
	files  map[string]tableFiles
	path   []string
	auth   *iam.Authority
}

// define creates the schemas and views of every catalog table (of the granted ones
// only, with a) and returns what it defined.
func (l *Lake) define(ctx context.Context, conn *sql.Conn, a *Access) (*schema, error) {
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
	sc := &schema{catalog: map[string]glue.Table{}, access: a, denied: map[string]error{}, files: map[string]tableFiles{}}
	withIAM := a != nil && a.IAM != nil
	if withIAM {
		if sc.auth, err = a.IAM.authority(); err != nil {
			return nil, err
		}
	}
	var pathDBs []string
	for _, db := range dbs {
		tables, err := l.Catalog.Tables(db)
		if err != nil {
			return nil, fmt.Errorf("list tables of catalog database %s: %w", db, err)
		}
		for _, t := range tables {
			sc.catalog[t.Database+"."+t.Name] = t
		}
		if a != nil && a.governs(db) == nil && !withIAM {
			continue // Lake Formation governs a's databases only: the rest is not visible
		}
		pathDBs = append(pathDBs, db)
		stmts = append(stmts, "CREATE SCHEMA IF NOT EXISTS "+ident(db))
		for _, t := range tables {
			if withIAM {
				// IAM first: Glue authorizes the call before Lake Formation is asked.
				if err := a.IAM.decide(sc.auth, a.Role, t, a.IAM.metadataCalls(t)); err != nil {
					sc.denied[t.Database+"."+t.Name] = err
					continue
				}
			}
			var cols []string
			if g := a.governs(db); g != nil {
				granted, ok := g.columns(t.Name)
				if !ok {
					continue
				}
				if cols, err = grantedColumns(t, granted); err != nil {
					return nil, fmt.Errorf("role %s: %w", a.Role, err)
				}
			}
			files, err := l.tableFiles(t)
			if err != nil {
				return nil, err
			}
			sc.files[t.Database+"."+t.Name] = files
			view, err := l.tableView(t, cols, files)
			if err != nil {
				return nil, err
			}
			stmts = append(stmts, view, partitionsView(t))
			sc.visible = append(sc.visible, t.Database+"."+t.Name)
		}
	}
	sc.path = pathDBs
	if len(pathDBs) > 0 {
		// Unqualified names resolve in the catalog databases, like Athena's current database.
		path := strings.Join(append(pathDBs, "main"), ",")
		stmts = append(stmts, "SET search_path = "+literal(path))
	}
	for _, s := range stmts {
		if _, err := conn.ExecContext(ctx, s); err != nil {
			return nil, fmt.Errorf("define the lake in DuckDB (%s): %w", firstLine(s), err)
		}
	}
	return sc, nil
}

// tableFiles is where a table's data is: the prefixes Athena lists (the table's
// location, or each catalog partition's) and the keys of the files it reads there.
type tableFiles struct {
	bucket, prefix string
	listed         []string
	keys           []string
}

// tableFiles finds the Parquet files of t's catalog partitions; files in partitions
// the crawler has not seen yet stay invisible, as in Athena.
func (l *Lake) tableFiles(t glue.Table) (tableFiles, error) {
	bucket, prefix, err := parseLocation(t.Location)
	if err != nil {
		return tableFiles{}, fmt.Errorf("table %s.%s: %w", t.Database, t.Name, err)
	}
	tf := tableFiles{bucket: bucket, prefix: prefix}
	base := filepath.Join(l.Root, bucket)
	add := func(dir string) error {
		found, err := parquetFiles(ObjectPath(l.Root, bucket, dir))
		if err != nil {
			return err
		}
		tf.listed = append(tf.listed, dir)
		for _, f := range found {
			rel, err := filepath.Rel(base, f)
			if err != nil {
				return err
			}
			tf.keys = append(tf.keys, filepath.ToSlash(rel))
		}
		return nil
	}
	if len(t.PartitionKeys) == 0 {
		// An unpartitioned table (a fully reloaded one) is the files at its location.
		if err := add(prefix); err != nil {
			return tf, fmt.Errorf("list files of table %s.%s: %w", t.Database, t.Name, err)
		}
	}
	key := partitionKey(t)
	for _, p := range t.Partitions {
		if err := add(prefix + key + "=" + p + "/"); err != nil {
			return tf, fmt.Errorf("list files of table %s.%s partition %s: %w", t.Database, t.Name, p, err)
		}
	}
	return tf, nil
}

// tableView is the view of one table over its files (see tableFiles). With cols, the
// view has only those columns (a column grant).
func (l *Lake) tableView(t glue.Table, cols []string, tf tableFiles) (string, error) {
	key := partitionKey(t)
	files := make([]string, len(tf.keys))
	for i, k := range tf.keys {
		files[i] = ObjectPath(l.Root, tf.bucket, k)
	}
	create := "CREATE VIEW " + ident(t.Database) + "." + ident(t.Name) + " AS "
	if cols != nil {
		quoted := make([]string, len(cols))
		for i, c := range cols {
			quoted[i] = ident(c)
		}
		create += "SELECT " + strings.Join(quoted, ", ") + " FROM ("
	}
	end := ""
	if cols != nil {
		end = ") AS granted"
	}
	if len(files) == 0 {
		return create + emptySelect(t) + end, nil
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
	hive := "hive_partitioning = true, hive_types = {" + literal(key) + ": VARCHAR}, hive_types_autocast = false"
	if len(t.PartitionKeys) == 0 {
		hive = "hive_partitioning = false" // a gen=<run> folder is not a column
	}
	return create + sel + " FROM read_parquet([" + strings.Join(quoted, ", ") + "], " +
		hive + ", union_by_name = true)" + end, nil
}

// partitionKey is the table's (first) partition key: snapshot_date for the nightly
// snapshots, load for the ingested incremental tables.
func partitionKey(t glue.Table) string {
	if len(t.PartitionKeys) > 0 {
		return t.PartitionKeys[0].Name
	}
	return glue.PartitionKey
}

// partitionsView is Athena's "table$partitions" metadata table.
func partitionsView(t glue.Table) string {
	name := ident(t.Database) + "." + ident(t.Name+"$partitions")
	if len(t.Partitions) == 0 {
		return "CREATE VIEW " + name + " AS SELECT CAST(NULL AS VARCHAR) AS " + ident(partitionKey(t)) + " WHERE false"
	}
	values := make([]string, len(t.Partitions))
	for i, p := range t.Partitions {
		values[i] = "(" + literal(p) + ")"
	}
	return "CREATE VIEW " + name + " AS SELECT * FROM (VALUES " + strings.Join(values, ", ") + ") AS p(" + ident(partitionKey(t)) + ")"
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
