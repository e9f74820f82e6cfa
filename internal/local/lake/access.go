package lake

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"regexp"
	"slices"
	"strings"

	"github.com/duckdb/duckdb-go/v2"

	"github.com/snaplake/snaplake/internal/ingest/grants"
	"github.com/snaplake/snaplake/internal/local/glue"
)

// Access is what Lake Formation lets one role read of one Glue database, as QueryAs
// enforces it offline: the granted tables, each with every column or only some.
// Tables of other databases are not visible at all: Lake Formation governs Database.
type Access struct {
	Role     string // as the operator named it, for messages
	Database string
	// AllTables is SELECT on every table of Database (the "*" wildcard).
	AllTables bool
	// Tables maps a granted table's lake name to its granted columns; nil is every column.
	Tables map[string][]string
	// IAM, when set, is the role's IAM policies: the calls Athena makes for the query
	// must pass them too (see Identity), and the databases Lake Formation does not
	// govern are visible as far as IAM allows.
	IAM *Identity
	// Others are the further databases Lake Formation governs for the query (the
	// nightly snapshot databases and their companions), each with the role's
	// grants there in Database, AllTables and Tables.
	Others []*Access
}

// governs returns the grants of the database db when Lake Formation governs it for
// the query, else nil.
func (a *Access) governs(db string) *Access {
	if a == nil {
		return nil
	}
	if db == a.Database {
		return a
	}
	for _, o := range a.Others {
		if o.Database == db {
			return o
		}
	}
	return nil
}

// AccessIn gathers the SELECT grants of principal on each of databases, which Lake
// Formation governs: the first is Access.Database (where unqualified names
// resolve), the others Access.Others.
func AccessIn(role, principal string, gs []grants.Grant, databases ...string) *Access {
	if len(databases) == 0 {
		return &Access{Role: role, Tables: map[string][]string{}}
	}
	a := AccessOf(role, databases[0], principal, gs)
	for _, db := range databases[1:] {
		if a.governs(db) == nil {
			a.Others = append(a.Others, AccessOf(role, db, principal, gs))
		}
	}
	return a
}

// AccessOf gathers the SELECT grants of principal on database into an Access for role.
// Grants add up, as in Lake Formation: a table grant wins over a column grant, and the
// columns of several column grants on one table are joined.
func AccessOf(role, database, principal string, gs []grants.Grant) *Access {
	a := &Access{Role: role, Database: database, Tables: map[string][]string{}}
	all := map[string]bool{}
	for _, g := range gs {
		if g.Principal != principal || g.Database != database || g.Table == "" ||
			!(slices.Contains(g.Permissions, grants.Select) || slices.Contains(g.Permissions, "ALL")) {
			continue
		}
		switch {
		case g.Table == grants.TableWildcard:
			a.AllTables = true
		case len(g.Columns) == 0 && len(g.ExcludedColumns) == 0:
			all[g.Table] = true
			a.Tables[g.Table] = nil
		case len(g.Columns) > 0 && !all[g.Table]:
			a.Tables[g.Table] = append(a.Tables[g.Table], g.Columns...)
		}
		// A ColumnWildcard with exclusions never comes from the access rules: it grants nothing here.
	}
	return a
}

// columns reports whether table is granted, and its granted columns (nil: every one).
func (a *Access) columns(table string) ([]string, bool) {
	if a.AllTables {
		return nil, true
	}
	cols, ok := a.Tables[table]
	return cols, ok
}

// grantedColumns is the catalog columns (partition keys included) of t that granted
// lists, in catalog order; nil for every column.
func grantedColumns(t glue.Table, granted []string) ([]string, error) {
	if granted == nil {
		return nil, nil
	}
	var cols []string
	for _, c := range append(slices.Clone(t.Columns), t.PartitionKeys...) {
		if slices.ContainsFunc(granted, func(g string) bool { return strings.EqualFold(g, c.Name) }) {
			cols = append(cols, c.Name)
		}
	}
	if len(cols) == 0 {
		return nil, fmt.Errorf("table %s.%s has none of its granted columns (%s)", t.Database, t.Name, strings.Join(granted, ", "))
	}
	return cols, nil
}

// NotGrantedError reports a query naming a catalog table or column that Lake Formation
// does not grant the role: an error, never an empty result.
type NotGrantedError struct {
	Role   string
	Table  string // database.table as the catalog names it (with $partitions when the query named that)
	Column string // "" for a table
}

func (e *NotGrantedError) Error() string {
	if e.Column != "" {
		return fmt.Sprintf("column %s.%s is not granted to role %s (Lake Formation)", e.Table, e.Column, e.Role)
	}
	return fmt.Sprintf("table %s is not granted to role %s (Lake Formation)", e.Table, e.Role)
}

var (
	// missingTable matches DuckDB's catalog error for an unknown table or view.
	missingTable = regexp.MustCompile(`Table with name (\S+?) does not exist`)
	// missingColumn matches DuckDB's binder errors for an unknown column, bare or qualified.
	missingColumn = regexp.MustCompile(`(?:Referenced column "((?:[^"]|"")+)" not found|does not have a column named "((?:[^"]|"")+)")`)
)

// queryError turns DuckDB's unknown-table error into an *UnknownTableError, or into a
// *NotGrantedError for a catalog table or column the role is not granted, and keeps
// DuckDB's own message for every other failure.
func (sc *schema) queryError(err error, query string) error {
	var de *duckdb.Error
	if !errors.As(err, &de) {
		return fmt.Errorf("run query: %w", err)
	}
	if m := missingTable.FindStringSubmatch(de.Msg); m != nil && de.Type == duckdb.ErrorTypeCatalog {
		name := qualifiedName(query, m[1])
		if sc.access != nil {
			if full, ok := sc.inCatalog(name); ok {
				if denied, ok := sc.denied[strings.TrimSuffix(full, "$partitions")]; ok {
					return denied // IAM refused Athena's Data Catalog calls for it
				}
				if sc.access.governs(full[:strings.IndexByte(full, '.')]) == nil && sc.access.IAM != nil {
					// Not governed by Lake Formation and allowed by IAM, so defined: DuckDB
					// lost it some other way; keep its message.
					return fmt.Errorf("run query: %w", err)
				}
				return &NotGrantedError{Role: sc.access.Role, Table: full}
			}
		}
		unknown := &UnknownTableError{Name: name, Tables: sc.visible}
		if sc.access != nil && len(sc.visible) == 0 && len(sc.catalog) > 0 {
			unknown.Role = sc.access.Role
		}
		return unknown
	}
	if m := missingColumn.FindStringSubmatch(de.Msg); m != nil && sc.access != nil {
		col := m[1] + m[2]
		if table, ok := sc.deniedColumn(query, strings.ReplaceAll(col, `""`, `"`)); ok {
			return &NotGrantedError{Role: sc.access.Role, Table: table, Column: col}
		}
	}
	return fmt.Errorf("run query: %w", err)
}

// inCatalog finds the catalog table a query's name (database.table or table, perhaps
// with $partitions) stands for; an unqualified name resolves in the role's database.
func (sc *schema) inCatalog(name string) (string, bool) {
	db, table, ok := strings.Cut(name, ".")
	if !ok {
		db, table = sc.access.Database, name
	}
	base := strings.TrimSuffix(table, "$partitions")
	for _, key := range []string{db + "." + base, strings.ToLower(db + "." + base)} {
		if t, ok := sc.catalog[key]; ok {
			return t.Database + "." + t.Name + table[len(base):], true
		}
	}
	return "", false
}

// deniedColumn finds the visible table whose catalog has column col but whose grant
// leaves it out, preferring a table the query names; it reports false when col is a
// column of no visible table (a plain unknown column).
func (sc *schema) deniedColumn(query, col string) (string, bool) {
	var candidates []string
	for _, name := range sc.visible {
		t := sc.catalog[name]
		g := sc.access.governs(t.Database)
		if g == nil {
			continue // not governed by Lake Formation: every column is there
		}
		granted, _ := g.columns(t.Name)
		if granted == nil {
			continue
		}
		has := func(c glue.Column) bool { return strings.EqualFold(c.Name, col) }
		if !slices.ContainsFunc(t.Columns, has) && !slices.ContainsFunc(t.PartitionKeys, has) {
			continue
		}
		if slices.ContainsFunc(granted, func(g string) bool { return strings.EqualFold(g, col) }) {
			continue
		}
		candidates = append(candidates, name)
	}
	// A table the query names with its database first: two governed databases may
	// hold a table of the same name (a snapshot table and its _latest).
	for _, name := range candidates {
		db, table, _ := strings.Cut(name, ".")
		re := regexp.MustCompile(`(?i)(?:^|[^\w$])"?` + regexp.QuoteMeta(db) + `"?\s*\.\s*"?` + regexp.QuoteMeta(table) + `"?(?:[^\w$]|$)`)
		if re.MatchString(query) {
			return name, true
		}
	}
	for _, name := range candidates {
		table := name[strings.IndexByte(name, '.')+1:]
		re := regexp.MustCompile(`(?i)(?:^|[^\w$])"?` + regexp.QuoteMeta(table) + `"?(?:[^\w$]|$)`)
		if re.MatchString(query) {
			return name, true
		}
	}
	if len(candidates) > 0 {
		return candidates[0], true
	}
	return "", false
}

// authorizeData makes the data calls Athena makes for the tables the query reads (see
// Identity), once the query binds: Athena plans (Data Catalog and Lake Formation) before
// it reads, so a table or column error comes first.
func (sc *schema) authorizeData(ctx context.Context, conn *sql.Conn, query string) error {
	if _, err := conn.ExecContext(ctx, "EXPLAIN "+query); err != nil {
		return sc.queryError(err, query)
	}
	refs, ok, err := referencedTables(ctx, conn, query)
	if err != nil {
		return err
	}
	if !ok {
		// Not a statement DuckDB can serialize (a SELECT is): the tables it reads are
		// unknown, so IAM cannot be checked for them.
		return fmt.Errorf("query as role %s: only SELECT statements are checked against IAM; this one is not", sc.access.Role)
	}
	seen := map[string]bool{}
	for _, r := range refs {
		name, ok := sc.resolve(r)
		if !ok || seen[name] {
			continue // a view of DuckDB's own, or $partitions (metadata only)
		}
		seen[name] = true
		t := sc.catalog[name]
		if err := sc.access.IAM.decide(sc.auth, sc.access.Role, t, sc.access.IAM.dataCalls(t, sc.files[name])); err != nil {
			return err
		}
	}
	return nil
}

// resolve finds the visible table (database.table) a query's reference reads; an
// unqualified name resolves along the search path. It reports false for names that
// are no visible table, and for table$partitions, which reads no data.
func (sc *schema) resolve(r tableRef) (string, bool) {
	dbs := sc.path
	if r.database != "" {
		dbs = []string{r.database}
	}
	for _, db := range dbs {
		for _, name := range sc.visible {
			d, t, _ := strings.Cut(name, ".")
			if strings.EqualFold(d, db) && strings.EqualFold(t, r.table) {
				return name, true
			}
		}
	}
	return "", false
}
