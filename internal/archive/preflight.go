package archive

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"maps"
	"slices"
	"strings"
	"time"

	"github.com/go-sql-driver/mysql"

	"github.com/snaplake/snaplake/internal/deploy"
)

// Querier is what Preflight and Sizes need of the source: *sql.DB, *sql.Conn or *sql.Tx.
type Querier interface {
	QueryContext(ctx context.Context, query string, args ...any) (*sql.Rows, error)
}

// RunSettings are what a run fixes at its start, beside the config.
type RunSettings struct {
	// Now is the run's start: each table's Cutoff is its retention before it
	// (Retention.Cutoff). Zero: time.Now().
	Now time.Time
	// Bucket and KMSKeyID are where the archive goes (Job.Bucket, Job.KMSKeyID);
	// Job.Prefix is deploy.ArchivePrefix.
	Bucket, KMSKeyID string
	// Budget is every Job's time budget (Limits.Budget; zero: no limit).
	Budget time.Duration
	// Tables limits the run to these configured tables ("database.table"); empty:
	// every configured table.
	Tables []string
}

// NotConfiguredError says a run was asked for a table the archive section does not
// configure (snaplake archive run --table).
type NotConfiguredError struct {
	Table      string
	Configured []string
}

func (e *NotConfiguredError) Error() string {
	return fmt.Sprintf("table %s is not configured for archiving (archive.tables has %s)", e.Table, strings.Join(e.Configured, ", "))
}

// Preflight checks every table of the run against the source, changing nothing,
// and returns the Jobs a run executes, in the tables' name order. A table passes
// when:
//   - it exists as a base table (not a view);
//   - its column exists and is DATETIME, TIMESTAMP or DATE;
//   - it has a PRIMARY KEY (Job.Key, its columns in index order);
//   - no foreign key the user can see deletes or changes rows of another table when
//     one of its rows is deleted (ON DELETE CASCADE, SET NULL, SET DEFAULT): those
//     rows would change without being archived;
//   - the connected user may SELECT every column and DELETE rows: the server itself
//     answers, to SELECT * ... LIMIT 0 (which reads no row) and EXPLAIN DELETE
//     (EXPLAIN needs the privileges of the statement it explains, and executes
//     nothing), so grants on the database or the table, column grants and roles
//     all count as the run's statements will see them.
//
// Each table that fails is a *FieldError naming it (with the file and line of its
// entry when the section was read from a file) wrapping one of ErrNoTable,
// ErrNoColumn, ErrNotTemporal, ErrNoKey, ErrCascade or ErrPrivilege; the error
// joins them. Tables are independent: the Jobs returned are those of the tables
// that passed, and a caller that must change nothing unless every table passes
// checks the error first. A section that does not validate, or RunSettings naming a
// table it does not configure, returns no Jobs. A failed query (the source
// unreachable) is returned as it is, with no Jobs.
func Preflight(ctx context.Context, q Querier, c *Config, r RunSettings) ([]Job, error) {
	if errs := c.Validate(); len(errs) > 0 {
		for _, err := range errs {
			var fe *FieldError
			if errors.As(err, &fe) {
				c.place(fe)
			}
		}
		return nil, errors.Join(errs...)
	}
	names, err := c.runTables(r.Tables)
	if err != nil {
		return nil, err
	}
	now := r.Now
	if now.IsZero() {
		now = time.Now()
	}
	var (
		jobs []Job
		errs []error
	)
	for _, name := range names {
		job, err := c.preflightTable(ctx, q, name, now)
		var fe *FieldError
		switch {
		case errors.As(err, &fe):
			errs = append(errs, c.place(fe))
			continue
		case err != nil:
			return nil, fmt.Errorf("preflight of table %s: %w", name, err)
		}
		job.Bucket, job.Prefix, job.KMSKeyID = r.Bucket, deploy.ArchivePrefix, r.KMSKeyID
		job.Budget = r.Budget
		jobs = append(jobs, job)
	}
	return jobs, errors.Join(errs...)
}

// runTables are the configured tables a run takes, sorted.
func (c *Config) runTables(only []string) ([]string, error) {
	all := slices.Sorted(maps.Keys(c.Tables))
	if len(only) == 0 {
		return all, nil
	}
	var out []string
	for _, name := range only {
		if _, ok := c.Tables[name]; !ok {
			return nil, &NotConfiguredError{Table: name, Configured: all}
		}
		if !slices.Contains(out, name) {
			out = append(out, name)
		}
	}
	slices.Sort(out)
	return out, nil
}

// preflightTable checks one configured table (see Preflight): a *FieldError for a
// problem of the table, any other error for a failed query.
func (c *Config) preflightTable(ctx context.Context, q Querier, name string, now time.Time) (Job, error) {
	tc := c.Tables[name]
	schema, table, _ := SplitTable(name) // Validate passed
	retention, _ := ParseRetention(tc.Retention)
	path := []string{"tables", name}
	fail := func(field string, sentinel error, format string, args ...any) error {
		p := path
		if field != "" {
			p = append(slices.Clone(path), field)
		}
		return &FieldError{Path: p, Table: name, Err: sentinel, Problem: fmt.Sprintf("table %s: ", name) + fmt.Sprintf(format, args...)}
	}

	// denied is the refusal of a statement for a missing privilege, else err.
	denied := func(err error) error {
		var me *mysql.MySQLError
		if errors.As(err, &me) && deniedErrors[me.Number] {
			user := currentUser(ctx, q)
			return fail("", ErrPrivilege, "the user %s may not SELECT and DELETE its rows (%s): a DBA runs GRANT SELECT, DELETE ON %s TO %s", user, me.Message, quoteTable(schema, table), user)
		}
		return err
	}
	info, err := describe(ctx, q, schema, table)
	if err != nil {
		return Job{}, err
	}
	switch {
	case info == nil:
		hint := ""
		if other, err := similarTable(ctx, q, schema, table); err != nil {
			return Job{}, err
		} else if other != "" {
			hint = fmt.Sprintf(" (did you mean %s? table names are case-sensitive on this server)", other)
		}
		return Job{}, fail("", ErrNoTable, "no such table, or the user has no privilege on it (information_schema lists only the tables a user may use)%s", hint)
	case info.kind != "BASE TABLE":
		return Job{}, fail("", ErrNoTable, "is a %s, not a base table: rows are archived from the table they are stored in", strings.ToLower(info.kind))
	}
	// Before the columns: information_schema hides the columns a user may not
	// read, and "no such column" would hide the missing grant.
	if err := checkSelect(ctx, q, schema, table); err != nil {
		return Job{}, denied(err)
	}
	col := info.column(tc.Column)
	switch {
	case col == nil:
		return Job{}, fail("column", ErrNoColumn, "no column %s, or the user cannot see it; its DATETIME, TIMESTAMP and DATE columns: %s", tc.Column, info.temporalColumns())
	case !temporalTypes[col.dataType]:
		return Job{}, fail("column", ErrNotTemporal, "column %s is %s, not DATETIME, TIMESTAMP or DATE: rows are archived by a date, compared with the cutoff; its DATETIME, TIMESTAMP and DATE columns: %s", col.name, col.columnType, info.temporalColumns())
	}
	if len(info.key) == 0 {
		return Job{}, fail("", ErrNoKey, "has no PRIMARY KEY: a run reads and deletes rows by their key, in key order, so that a row is deleted exactly when its copy is verified in S3 (add one, e.g. ALTER TABLE ... ADD PRIMARY KEY)")
	}
	if len(info.cascades) > 0 {
		return Job{}, fail("", ErrCascade, "deleting its rows would change rows of other tables that are not archived: %s (archive those tables first, or change their foreign keys to ON DELETE RESTRICT)", strings.Join(info.cascades, "; "))
	}
	if err := checkDelete(ctx, q, schema, table, col.name); err != nil {
		return Job{}, denied(err)
	}
	return Job{
		Schema: schema, Table: table, Column: col.name,
		Cutoff: retention.Cutoff(now),
		Key:    info.key,
		Limits: c.Limits(name),
	}, nil
}

// ErrCascade marks a table whose deletes would change other tables' rows.
var ErrCascade = errors.New("deletes cascade to other tables")

// temporalTypes are information_schema's DATA_TYPE of the columns a cutoff compares with.
var temporalTypes = map[string]bool{"datetime": true, "timestamp": true, "date": true}

// deniedErrors are the server's refusals for a missing privilege:
// ER_TABLEACCESS_DENIED_ERROR, ER_COLUMNACCESS_DENIED_ERROR, ER_DBACCESS_DENIED_ERROR
// (MySQL and MariaDB share the numbers).
var deniedErrors = map[uint16]bool{1142: true, 1143: true, 1044: true}

// tableInfo is what information_schema says of a table.
type tableInfo struct {
	kind     string // TABLE_TYPE: BASE TABLE, VIEW, SYSTEM VIEW, SEQUENCE...
	columns  []columnInfo
	key      []string // the PRIMARY KEY's columns, in index order
	cascades []string // foreign keys whose ON DELETE changes another table's rows
	// TABLE_ROWS (an estimate for InnoDB), DATA_LENGTH, INDEX_LENGTH, DATA_FREE
	rows, data, index, free int64
}

type columnInfo struct{ name, dataType, columnType string }

// column finds a column by name; MySQL column names are case-insensitive.
func (t *tableInfo) column(name string) *columnInfo {
	for i := range t.columns {
		if strings.EqualFold(t.columns[i].name, name) {
			return &t.columns[i]
		}
	}
	return nil
}

func (t *tableInfo) temporalColumns() string {
	var names []string
	for _, c := range t.columns {
		if temporalTypes[c.dataType] {
			names = append(names, c.name)
		}
	}
	if len(names) == 0 {
		return "none"
	}
	return strings.Join(names, ", ")
}

// describe reads the table's kind, columns, primary key and the foreign keys that
// act on delete; nil when information_schema does not list it (it does not exist,
// or the user has no privilege on it). Names compare as the server compares them
// (exactly on a server with lower_case_table_names=0).
func describe(ctx context.Context, q Querier, schema, table string) (*tableInfo, error) {
	var info *tableInfo
	err := each(ctx, q, `SELECT TABLE_NAME, TABLE_TYPE, COALESCE(TABLE_ROWS, 0), COALESCE(DATA_LENGTH, 0), COALESCE(INDEX_LENGTH, 0), COALESCE(DATA_FREE, 0)
		FROM information_schema.TABLES WHERE TABLE_SCHEMA = ? AND TABLE_NAME = ?`, []any{schema, table}, func(rows *sql.Rows) error {
		var name string
		t := &tableInfo{}
		if err := rows.Scan(&name, &t.kind, &t.rows, &t.data, &t.index, &t.free); err != nil {
			return err
		}
		// A server whose information_schema compares names without case would
		// answer for another spelling: the statements would then name another table.
		if name == table {
			info = t
		}
		return nil
	})
	if err != nil || info == nil {
		return nil, err
	}
	err = each(ctx, q, `SELECT COLUMN_NAME, DATA_TYPE, COLUMN_TYPE FROM information_schema.COLUMNS
		WHERE TABLE_SCHEMA = ? AND TABLE_NAME = ? ORDER BY ORDINAL_POSITION`, []any{schema, table}, func(rows *sql.Rows) error {
		var c columnInfo
		if err := rows.Scan(&c.name, &c.dataType, &c.columnType); err != nil {
			return err
		}
		c.dataType = strings.ToLower(c.dataType)
		info.columns = append(info.columns, c)
		return nil
	})
	if err != nil {
		return nil, err
	}
	err = each(ctx, q, `SELECT COLUMN_NAME FROM information_schema.STATISTICS
		WHERE TABLE_SCHEMA = ? AND TABLE_NAME = ? AND INDEX_NAME = 'PRIMARY' ORDER BY SEQ_IN_INDEX`, []any{schema, table}, func(rows *sql.Rows) error {
		var c string
		if err := rows.Scan(&c); err != nil {
			return err
		}
		info.key = append(info.key, c)
		return nil
	})
	if err != nil {
		return nil, err
	}
	// Only the foreign keys of tables the user may use are listed: a least-privileged
	// archiving user does not see a child table it has no grant on (see the README).
	err = each(ctx, q, `SELECT CONSTRAINT_SCHEMA, TABLE_NAME, CONSTRAINT_NAME, DELETE_RULE FROM information_schema.REFERENTIAL_CONSTRAINTS
		WHERE UNIQUE_CONSTRAINT_SCHEMA = ? AND REFERENCED_TABLE_NAME = ? AND DELETE_RULE IN ('CASCADE', 'SET NULL', 'SET DEFAULT')
		ORDER BY CONSTRAINT_SCHEMA, TABLE_NAME, CONSTRAINT_NAME`, []any{schema, table}, func(rows *sql.Rows) error {
		var s, t, name, rule string
		if err := rows.Scan(&s, &t, &name, &rule); err != nil {
			return err
		}
		info.cascades = append(info.cascades, fmt.Sprintf("%s.%s (foreign key %s, ON DELETE %s)", s, t, name, rule))
		return nil
	})
	if err != nil {
		return nil, err
	}
	return info, nil
}

// similarTable is a table of schema whose name differs from table only in case.
func similarTable(ctx context.Context, q Querier, schema, table string) (string, error) {
	var found string
	err := each(ctx, q, `SELECT TABLE_SCHEMA, TABLE_NAME FROM information_schema.TABLES
		WHERE LOWER(TABLE_SCHEMA) = LOWER(?) AND LOWER(TABLE_NAME) = LOWER(?) LIMIT 1`, []any{schema, table}, func(rows *sql.Rows) error {
		var s, t string
		if err := rows.Scan(&s, &t); err != nil {
			return err
		}
		found = s + "." + t
		return nil
	})
	return found, err
}

// checkSelect asks the server whether the user may read every column, as a run's
// reads do, without reading a row: LIMIT 0 returns before reading. (EXPLAIN SELECT
// ... WHERE 1=0 is not enough: MariaDB 10.11 plans it without checking the grants of
// the columns * expands to.)
func checkSelect(ctx context.Context, q Querier, schema, table string) error {
	return discard(q.QueryContext(ctx, "SELECT * FROM "+quoteTable(schema, table)+" LIMIT 0"))
}

// checkDelete asks the server whether the user may delete rows by the column, as a
// run does, without deleting any: EXPLAIN needs the privileges of the statement it
// explains, and only plans it. It writes nothing to the binary log and takes no row
// locks.
func checkDelete(ctx context.Context, q Querier, schema, table, column string) error {
	return discard(q.QueryContext(ctx, "EXPLAIN DELETE FROM "+quoteTable(schema, table)+" WHERE "+quoteName(column)+" < '1970-01-02'"))
}

func discard(rows *sql.Rows, err error) error {
	if err != nil {
		return err
	}
	return rows.Close()
}

// currentUser is the account the server authenticated ('archiver'@'%'), for the
// GRANT statement a refusal suggests.
func currentUser(ctx context.Context, q Querier) string {
	user := "CURRENT_USER"
	_ = each(ctx, q, "SELECT CURRENT_USER()", nil, func(rows *sql.Rows) error {
		var u string
		if err := rows.Scan(&u); err != nil {
			return err
		}
		if name, host, ok := strings.Cut(u, "@"); ok {
			user = "'" + name + "'@'" + host + "'"
		}
		return nil
	})
	return user
}

// each runs query and calls fn for every row.
func each(ctx context.Context, q Querier, query string, args []any, fn func(*sql.Rows) error) error {
	rows, err := q.QueryContext(ctx, query, args...)
	if err != nil {
		return err
	}
	defer rows.Close()
	for rows.Next() {
		if err := fn(rows); err != nil {
			return err
		}
	}
	return rows.Err()
}

// quoteName quotes a name that mysqlName accepted (no backtick to escape).
func quoteName(name string) string { return "`" + name + "`" }

func quoteTable(schema, table string) string { return quoteName(schema) + "." + quoteName(table) }
