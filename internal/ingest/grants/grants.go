// Package grants turns the access rules of snaplake.yaml into Lake Formation grants and
// plans the grants and revokes that make an account match them: the config is the one
// source of truth for the databases snaplake manages.
package grants

import (
	"errors"
	"fmt"
	"maps"
	"slices"
	"strconv"
	"strings"

	"github.com/snaplake/snaplake/internal/deploy"
	"github.com/snaplake/snaplake/internal/ingest"
)

// Principals and names with a meaning of their own to Lake Formation.
const (
	// IAMAllowedPrincipals is the group that Lake Formation grants ALL on every new
	// database and table by default, which leaves access to IAM alone (see Diff).
	IAMAllowedPrincipals = deploy.IAMAllowedPrincipals
	// TableWildcard as a Grant's Table is every table of the database.
	TableWildcard = "*"
	// allTables is the table name ListPermissions reports a table-wildcard SELECT under.
	allTables = "ALL_TABLES"
)

// Permissions the access rules grant.
const (
	Describe = "DESCRIBE"
	Select   = "SELECT"
)

// Grant is one Lake Formation grant: permissions of a principal on a database, a table,
// every table, or some columns of a table.
type Grant struct {
	// Principal is the DataLakePrincipalIdentifier: an IAM role ARN for the access
	// rules; ListPermissions may also report IAM_ALLOWED_PRINCIPALS, users, groups.
	Principal string `json:"principal"`
	// Database is the Glue database.
	Database string `json:"database"`
	// Table is "" for a grant on the database itself, "*" (TableWildcard) for every
	// table of the database, else a table's name in the catalog.
	Table string `json:"table,omitempty"`
	// Columns limits a SELECT to these columns (TableWithColumns); nil is every column.
	Columns []string `json:"columns,omitempty"`
	// ExcludedColumns is every column but these (a ColumnWildcard with exclusions). The
	// access rules never produce it; it is kept from ListPermissions so that such a
	// grant can be revoked exactly.
	ExcludedColumns []string `json:"excludedColumns,omitempty"`
	// Permissions are Lake Formation permissions: "SELECT", "DESCRIBE", "ALL"...
	Permissions []string `json:"permissions"`
	// GrantOption are the permissions the principal may grant on (a subset of
	// Permissions). The access rules never grant it.
	GrantOption []string `json:"grantOption,omitempty"`
}

// String is the grant's canonical form: equal grants print the same, whatever the
// order of their permissions or columns.
//
//	arn:aws:iam::111122223333:role/analyst DESCRIBE on database sales
//	arn:aws:iam::111122223333:role/analyst SELECT on table sales.orders
//	arn:aws:iam::111122223333:role/analyst SELECT on table sales.*
//	arn:aws:iam::111122223333:role/analyst SELECT on columns sales.customers(id,name)
//	arn:aws:iam::111122223333:role/analyst SELECT on columns sales.customers(* except ssn)
func (g Grant) String() string {
	var b strings.Builder
	b.WriteString(g.Principal)
	b.WriteByte(' ')
	b.WriteString(strings.Join(sortedSet(g.Permissions), ","))
	if len(g.GrantOption) > 0 {
		b.WriteString(" grantable ")
		b.WriteString(strings.Join(sortedSet(g.GrantOption), ","))
	}
	b.WriteString(" on ")
	b.WriteString(g.resource().String())
	return b.String()
}

// resourceKey identifies what a grant is on, in canonical form.
type resourceKey struct {
	database, table string
	columns         string // sorted, joined by listSep; "" is every column
	excluded        string // sorted, joined by listSep: ColumnWildcard exclusions
}

// listSep joins column names in a resourceKey: a byte no catalog name holds.
const listSep = "\x00"

func (g Grant) resource() resourceKey {
	return resourceKey{
		database: g.Database,
		table:    g.Table,
		columns:  strings.Join(sortedSet(g.Columns), listSep),
		excluded: strings.Join(sortedSet(g.ExcludedColumns), listSep),
	}
}

func (r resourceKey) String() string {
	switch {
	case r.table == "":
		return "database " + r.database
	case r.columns != "":
		return "columns " + r.database + "." + r.table + "(" + strings.ReplaceAll(r.columns, listSep, ",") + ")"
	case r.excluded != "":
		return "columns " + r.database + "." + r.table + "(* except " + strings.ReplaceAll(r.excluded, listSep, ",") + ")"
	default:
		return "table " + r.database + "." + r.table
	}
}

// Errors of the access rules, wrapped in an *AccessError that names the rule.
var (
	ErrNoRole               = errors.New("no role")
	ErrNoTables             = errors.New(`the role is given no tables: list them, or "*" for every table`)
	ErrEmptyName            = errors.New("an empty table or column name")
	ErrNoColumns            = errors.New("an empty column list: leave the table out of columns to grant every column")
	ErrColumnsNotGranted    = errors.New("columns limit a table the role is not given: list the table under tables too")
	ErrColumnsUnderWildcard = errors.New(`columns have no effect on a role that reads every table ("*"): Lake Formation grants add up`)
	ErrUnknownTable         = errors.New("the table has no name in the lake: it is not among the source's tables")
	ErrIAMAllowedPrincipals = errors.New(IAMAllowedPrincipals + " cannot be given access: it hands the tables to every IAM principal and switches Lake Formation off for them")
	ErrSnapshotTable        = errors.New(`a snapshot table is written ` + ingest.SnapshotTablePrefix + `<database>.<table> (or ` + ingest.SnapshotTablePrefix + `<database>.*)`)
	ErrNoSnapshots          = errors.New("this stack governs no nightly snapshot databases: snapshot tables cannot be granted here")
)

// AccessError is an access rule that cannot become grants.
type AccessError struct {
	Index int    // position of the rule in ingest.access
	Role  string // the role as written
	Table string // the table at fault, if one is
	Err   error  // one of the Err* values above
}

func (e *AccessError) Error() string {
	where := fmt.Sprintf("ingest.access[%d] (role %q", e.Index, e.Role)
	if e.Table != "" {
		where += fmt.Sprintf(", table %q", e.Table)
	}
	return where + "): " + e.Err.Error()
}

func (e *AccessError) Unwrap() error { return e.Err }

// FieldPath is the field at fault relative to the ingest section, as internal/config
// takes it to find the line: ["access", "2", "columns", "orders"].
func (e *AccessError) FieldPath() []string {
	path := []string{"access", strconv.Itoa(e.Index)}
	switch {
	case errors.Is(e.Err, ErrNoRole), errors.Is(e.Err, ErrIAMAllowedPrincipals):
		return append(path, "role")
	case errors.Is(e.Err, ErrUnknownTable):
		return append(path, "tables")
	case e.Table != "":
		return append(path, "columns", e.Table)
	default:
		return append(path, "tables")
	}
}

// Reason is the error without its field path, for internal/config.
func (e *AccessError) Reason() string {
	if e.Table != "" {
		return fmt.Sprintf("role %q, table %q: %v", e.Role, e.Table, e.Err)
	}
	return fmt.Sprintf("role %q: %v", e.Role, e.Err)
}

// roleRules are the merged rules of one principal.
type roleRules struct {
	index     int    // first rule naming the principal
	role      string // as first written
	principal string
	tables    map[string]bool // source names
	tableIdx  map[string]int  // source table -> first rule giving it
	wildcard  bool
	columns   map[string][]string // source table -> source columns
	colIndex  map[string]int      // source table -> rule that limited its columns
	// snapshots are the snapshot tables given, by source database: table -> true,
	// "*" for every table.
	snapshots map[string]map[string]bool
	snapIdx   map[string]int // "snapshots:<db>.<table>" as written -> first rule giving it
}

// Databases says where the access rules' grants land.
type Databases struct {
	// Ingest is the Glue database of the ingested tables.
	Ingest string
	// Snapshot is the Glue database of a source database's nightly snapshots
	// (deploy.GlueDatabaseName); nil: a rule naming a snapshot table is an error.
	Snapshot func(source string) string
	// Archived says whether a source database's snapshot grants are repeated on its
	// _archive companion (the stack archives it); nil: on no _archive.
	Archived func(source string) bool
}

// Companions are the databases that hold a table of db under the same name, and on
// which every grant on db is repeated: a snapshot database's _latest tables (the
// newest night of each table) and _archive tables (the rows retention archiving
// moved out of the source, partitioned by cutoff), and an ingest database's
// _current tables (each key once). Keep this the one place that maps a governed
// database to its companions.
func Companions(db string, snapshot bool) []string {
	if snapshot {
		return []string{deploy.LatestDatabaseName(db), deploy.ArchiveDatabaseName(db)}
	}
	return []string{db + deploy.IngestCurrentSuffix}
}

// IsArchive says whether db is a snapshot database's _archive companion, which
// exists only where the stack archives that database.
func IsArchive(db string) bool { return strings.HasSuffix(db, deploy.ArchiveDatabaseSuffix) }

// Desired is DesiredIn for rules that name only the ingested tables of database db.
func Desired(db string, access []ingest.Access, lakeName func(source string) string, principalArn func(role string) string) ([]Grant, error) {
	return DesiredIn(Databases{Ingest: db}, access, lakeName, principalArn)
}

// DesiredIn is the set of grants the access rules ask for:
//   - DESCRIBE on each database a role is given tables of, so the role can see it;
//   - SELECT on each ingested table the role is given, in the Ingest database under
//     its name in the lake (lakeName, the ingest planner's normalization of a source
//     name; "" for a table the lake does not have is an error; sources that share a
//     lake name share its grants);
//   - SELECT on the listed columns only (TableWithColumns) for a table under columns;
//   - SELECT on every ingested table (TableWildcard) for "*", which covers the
//     tables also listed by name;
//   - for "snapshots:<database>.<table>", the same on the table of the snapshot
//     database of <database> ("snapshots:<database>.*": every table), and on each
//     of its Companions (their tables have no snapshot_date: a column list loses it).
//
// principalArn turns a role as written into its principal (a role name into
// arn:aws:iam::<account>:role/<name>; RoleARN builds one). Rules whose roles have the
// same principal merge, so a role written by name and by ARN is one role: their
// tables and column limits are joined as if written in one rule (a table limited in
// one rule and listed in another is limited). Glue keeps names in lower case, and so
// does DesiredIn for databases and snapshot tables; ingested columns get
// ingest.NormalizeName, as the loads do.
//
// An error is an *AccessError naming the rule, the role and the table.
func DesiredIn(dbs Databases, access []ingest.Access, lakeName func(source string) string, principalArn func(role string) string) ([]Grant, error) {
	db := strings.ToLower(strings.TrimSpace(dbs.Ingest))
	if db == "" {
		return nil, errors.New("desired grants: no Glue database name")
	}
	var order []*roleRules
	byPrincipal := map[string]*roleRules{}
	for i, a := range access {
		role := strings.TrimSpace(a.Role)
		if role == "" {
			return nil, &AccessError{Index: i, Role: a.Role, Err: ErrNoRole}
		}
		principal := principalArn(role)
		if role == IAMAllowedPrincipals || principal == IAMAllowedPrincipals {
			return nil, &AccessError{Index: i, Role: role, Err: ErrIAMAllowedPrincipals}
		}
		r := byPrincipal[principal]
		if r == nil {
			r = &roleRules{index: i, role: role, principal: principal,
				tables: map[string]bool{}, tableIdx: map[string]int{}, columns: map[string][]string{}, colIndex: map[string]int{},
				snapshots: map[string]map[string]bool{}, snapIdx: map[string]int{}}
			byPrincipal[principal] = r
			order = append(order, r)
		}
		for _, t := range a.Tables {
			t = strings.TrimSpace(t)
			if sdb, stable, snap := ingest.SnapshotTable(t); snap {
				switch {
				case sdb == "" || stable == "":
					return nil, &AccessError{Index: i, Role: role, Table: t, Err: ErrSnapshotTable}
				case dbs.Snapshot == nil:
					return nil, &AccessError{Index: i, Role: role, Table: t, Err: ErrNoSnapshots}
				}
				if r.snapshots[sdb] == nil {
					r.snapshots[sdb] = map[string]bool{}
				}
				r.snapshots[sdb][stable] = true
				key := ingest.SnapshotTablePrefix + sdb + "." + stable
				if _, seen := r.snapIdx[key]; !seen {
					r.snapIdx[key] = i
				}
				continue
			}
			switch t {
			case "":
				return nil, &AccessError{Index: i, Role: role, Err: ErrEmptyName}
			case TableWildcard:
				r.wildcard = true
			default:
				if !r.tables[t] {
					r.tables[t], r.tableIdx[t] = true, i
				}
			}
		}
		for _, t := range slices.Sorted(maps.Keys(a.Columns)) {
			cols := a.Columns[t]
			t = strings.TrimSpace(t)
			sdb, stable, snap := ingest.SnapshotTable(t)
			switch {
			case t == "":
				return nil, &AccessError{Index: i, Role: role, Err: ErrEmptyName}
			case t == TableWildcard || (snap && stable == TableWildcard):
				return nil, &AccessError{Index: i, Role: role, Table: t, Err: ErrColumnsUnderWildcard}
			case snap && (sdb == "" || stable == ""):
				return nil, &AccessError{Index: i, Role: role, Table: t, Err: ErrSnapshotTable}
			case len(cols) == 0:
				return nil, &AccessError{Index: i, Role: role, Table: t, Err: ErrNoColumns}
			}
			if snap {
				t = ingest.SnapshotTablePrefix + sdb + "." + stable
			}
			for _, c := range cols {
				c = strings.TrimSpace(c)
				if c == "" {
					return nil, &AccessError{Index: i, Role: role, Table: t, Err: ErrEmptyName}
				}
				// Rules name source columns; the lake holds them under the ingest's
				// normalized names ("Order Date" is order_date), as it does tables.
				// A snapshot's columns are as RDS exported them, lower-cased by Glue.
				if snap {
					r.columns[t] = append(r.columns[t], strings.ToLower(c))
				} else {
					r.columns[t] = append(r.columns[t], ingest.NormalizeName(c))
				}
			}
			if _, seen := r.colIndex[t]; !seen {
				r.colIndex[t] = i
			}
		}
	}

	var out []Grant
	for _, r := range order {
		if !r.wildcard && len(r.tables) == 0 && len(r.snapshots) == 0 {
			return nil, &AccessError{Index: r.index, Role: r.role, Err: ErrNoTables}
		}
		limited := slices.Sorted(maps.Keys(r.columns))
		for _, t := range limited {
			if sdb, stable, snap := ingest.SnapshotTable(t); snap {
				if !r.snapshots[sdb][stable] {
					if r.snapshots[sdb][TableWildcard] {
						return nil, &AccessError{Index: r.colIndex[t], Role: r.role, Table: t, Err: ErrColumnsUnderWildcard}
					}
					return nil, &AccessError{Index: r.colIndex[t], Role: r.role, Table: t, Err: ErrColumnsNotGranted}
				}
				if r.snapshots[sdb][TableWildcard] {
					return nil, &AccessError{Index: r.colIndex[t], Role: r.role, Table: t, Err: ErrColumnsUnderWildcard}
				}
				continue
			}
			switch {
			case r.wildcard:
				return nil, &AccessError{Index: r.colIndex[t], Role: r.role, Table: t, Err: ErrColumnsUnderWildcard}
			case !r.tables[t]:
				return nil, &AccessError{Index: r.colIndex[t], Role: r.role, Table: t, Err: ErrColumnsNotGranted}
			}
		}
		if r.wildcard || len(r.tables) > 0 {
			grants, err := r.ingestGrants(db, lakeName)
			if err != nil {
				return nil, err
			}
			out = append(out, grants...)
		}
		for _, sdb := range slices.Sorted(maps.Keys(r.snapshots)) {
			out = append(out, r.snapshotGrants(sdb, dbs.Snapshot(sdb), dbs.Archived != nil && dbs.Archived(sdb))...)
		}
	}
	return normalize(out), nil
}

// ingestGrants are r's grants on the ingest database and its companions.
func (r *roleRules) ingestGrants(db string, lakeName func(source string) string) ([]Grant, error) {
	var out []Grant
	for _, d := range append([]string{db}, Companions(db, false)...) {
		out = append(out, Grant{Principal: r.principal, Database: d, Permissions: []string{Describe}})
		if r.wildcard {
			out = append(out, Grant{Principal: r.principal, Database: d, Table: TableWildcard, Permissions: []string{Select}})
			continue
		}
		for _, t := range slices.Sorted(maps.Keys(r.tables)) {
			name := lakeName(t)
			if name == "" || name == TableWildcard {
				return nil, &AccessError{Index: r.tableIdx[t], Role: r.role, Table: t, Err: ErrUnknownTable}
			}
			g := Grant{Principal: r.principal, Database: d, Table: name, Permissions: []string{Select}}
			if cols, ok := r.columns[t]; ok {
				g.Columns = sortedSet(cols)
			}
			out = append(out, g)
		}
	}
	return out, nil
}

// snapshotGrants are r's grants on the snapshot database glueDB of source database
// sdb and on its companions, whose tables lack snapshot_date.
func (r *roleRules) snapshotGrants(sdb, glueDB string, archived bool) []Grant {
	var out []Grant
	glueDB = strings.ToLower(glueDB)
	for i, d := range append([]string{glueDB}, Companions(glueDB, true)...) {
		if IsArchive(d) && !archived {
			continue
		}
		out = append(out, Grant{Principal: r.principal, Database: d, Permissions: []string{Describe}})
		if r.snapshots[sdb][TableWildcard] {
			out = append(out, Grant{Principal: r.principal, Database: d, Table: TableWildcard, Permissions: []string{Select}})
			continue
		}
		for _, t := range slices.Sorted(maps.Keys(r.snapshots[sdb])) {
			g := Grant{Principal: r.principal, Database: d, Table: t, Permissions: []string{Select}}
			if cols, ok := r.columns[ingest.SnapshotTablePrefix+sdb+"."+t]; ok {
				cols = sortedSet(cols)
				if i > 0 {
					cols = slices.DeleteFunc(slices.Clone(cols), func(c string) bool { return c == deploy.SnapshotPartitionKey })
					if len(cols) == 0 {
						continue // only snapshot_date, which a companion does not have
					}
					if IsArchive(d) {
						// The archive is partitioned by cutoff: the date a row was archived
						// before, no data of the source's.
						cols = sortedSet(append(cols, deploy.ArchivePartitionKey))
					}
				}
				g.Columns = cols
			}
			out = append(out, g)
		}
	}
	return out
}

// RoleARN returns the principalArn of Desired for roles of one account: a role name
// (with its path, if any: "team/analyst") becomes arn:<partition>:iam::<account>:role/<name>;
// an ARN passes through.
func RoleARN(partition, account string) func(role string) string {
	return func(role string) string {
		if strings.HasPrefix(role, "arn:") {
			return role
		}
		return "arn:" + partition + ":iam::" + account + ":role/" + strings.TrimPrefix(role, "/")
	}
}

// sortedSet is the sorted distinct values of s, nil when s is empty.
func sortedSet(s []string) []string {
	if len(s) == 0 {
		return nil
	}
	out := slices.Clone(s)
	slices.Sort(out)
	return slices.Compact(out)
}
