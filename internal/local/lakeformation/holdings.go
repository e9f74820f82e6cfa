package lakeformation

import (
	"cmp"
	"slices"
	"strings"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/lakeformation/types"

	"github.com/snaplake/snaplake/internal/ingest/grants"
)

// allTables is the table name Lake Formation reports a grant on every table under.
const allTables = "ALL_TABLES"

// target is what one permission is held on: a database, a table, every table of a
// database, one column of a table, or every column but some.
type target struct {
	database string
	table    string // "" for the database itself, grants.TableWildcard for every table
	column   string // one column of a column grant
	excluded string // a ColumnWildcard's exclusions, sorted, joined by listSep
}

const listSep = "\x00"

// unit is one permission of one principal on one target.
type unit struct {
	principal  string
	target     target
	permission string
}

// holdings are the permissions held, each mapped to whether the grant option comes
// with it. A column grant is held column by column: Lake Formation merges the column
// grants of one principal on one table, so granting columns adds to those held and
// revoking columns takes those away (see grants.Plan).
type holdings map[unit]bool

// add records g as held, as read back from the state file.
func (h holdings) add(g grants.Grant) error {
	if g.Principal == "" || g.Database == "" {
		return invalidInput("a grant without its principal or database")
	}
	var targets []target
	switch {
	case g.Table == "":
		targets = []target{{database: g.Database}}
	case len(g.Columns) > 0:
		for _, c := range g.Columns {
			targets = append(targets, target{database: g.Database, table: g.Table, column: c})
		}
	case len(g.ExcludedColumns) > 0:
		targets = []target{{database: g.Database, table: g.Table, excluded: joinSorted(g.ExcludedColumns)}}
	default:
		targets = []target{{database: g.Database, table: g.Table}}
	}
	for _, t := range targets {
		for _, p := range g.Permissions {
			u := unit{g.Principal, t, p}
			h[u] = h[u] || slices.Contains(g.GrantOption, p)
		}
		for _, p := range g.GrantOption {
			h[unit{g.Principal, t, p}] = true
		}
	}
	return nil
}

// entries are the holdings in the shapes ListPermissions reports them, sorted by
// principal and resource:
//   - a database's permissions on Database;
//   - a table's SELECT on TableWithColumns with a ColumnWildcard, its other
//     permissions on Table (terraform-provider-aws, filter.go, documents the split);
//   - every table's likewise, under the name ALL_TABLES, the Table entry with a
//     TableWildcard;
//   - columns on TableWithColumns with ColumnNames, one entry per principal and table
//     (per set of permissions, if its columns are held differently);
//   - every column but some on TableWithColumns with a ColumnWildcard that excludes them.
func (h holdings) entries() []types.PrincipalResourcePermissions {
	type group struct {
		principal string
		target    target                     // column unset
		perms     map[string]bool            // permission -> grantable, for a non-column target
		colPerms  map[string]map[string]bool // column -> its permissions, for a column grant
	}
	// A table's column grants group apart from its grants on the whole table.
	type groupKey struct {
		principal string
		target    target
		columns   bool
	}
	groups := map[groupKey]*group{}
	for u, grantable := range h {
		isColumn := u.target.column != ""
		k := groupKey{principal: u.principal, target: u.target, columns: isColumn}
		k.target.column = ""
		g := groups[k]
		if g == nil {
			g = &group{principal: u.principal, target: k.target, perms: map[string]bool{}, colPerms: map[string]map[string]bool{}}
			groups[k] = g
		}
		if !isColumn {
			g.perms[u.permission] = grantable
			continue
		}
		if g.colPerms[u.target.column] == nil {
			g.colPerms[u.target.column] = map[string]bool{}
		}
		g.colPerms[u.target.column][u.permission] = grantable
	}

	var out []types.PrincipalResourcePermissions
	entry := func(principal string, r *types.Resource, perms map[string]bool) {
		var ps, gs []types.Permission
		for _, p := range slices.Sorted(mapKeys(perms)) {
			ps = append(ps, types.Permission(p))
			if perms[p] {
				gs = append(gs, types.Permission(p))
			}
		}
		out = append(out, types.PrincipalResourcePermissions{
			Principal:                  &types.DataLakePrincipal{DataLakePrincipalIdentifier: aws.String(principal)},
			Resource:                   r,
			Permissions:                ps,
			PermissionsWithGrantOption: gs,
		})
	}
	for _, g := range groups {
		t := g.target
		db := aws.String(t.database)
		name := t.table
		if name == grants.TableWildcard {
			name = allTables
		}
		switch {
		case t.table == "":
			entry(g.principal, &types.Resource{Database: &types.DatabaseResource{Name: db}}, g.perms)
		case len(g.colPerms) > 0:
			bySig := map[string][]string{}
			sigPerms := map[string]map[string]bool{}
			for c, perms := range g.colPerms {
				sig := signature(perms)
				bySig[sig] = append(bySig[sig], c)
				sigPerms[sig] = perms
			}
			for sig, cols := range bySig {
				slices.Sort(cols)
				entry(g.principal, &types.Resource{TableWithColumns: &types.TableWithColumnsResource{
					DatabaseName: db, Name: aws.String(name), ColumnNames: cols}}, sigPerms[sig])
			}
		case t.excluded != "":
			entry(g.principal, &types.Resource{TableWithColumns: &types.TableWithColumnsResource{
				DatabaseName: db, Name: aws.String(name),
				ColumnWildcard: &types.ColumnWildcard{ExcludedColumnNames: strings.Split(t.excluded, listSep)}}}, g.perms)
		default:
			rest := map[string]bool{}
			for p, grantable := range g.perms {
				if p != grants.Select {
					rest[p] = grantable
				}
			}
			if len(rest) > 0 {
				table := &types.TableResource{DatabaseName: db, Name: aws.String(name)}
				if t.table == grants.TableWildcard {
					table.TableWildcard = &types.TableWildcard{}
				}
				entry(g.principal, &types.Resource{Table: table}, rest)
			}
			if grantable, ok := g.perms[grants.Select]; ok {
				entry(g.principal, &types.Resource{TableWithColumns: &types.TableWithColumnsResource{
					DatabaseName: db, Name: aws.String(name), ColumnWildcard: &types.ColumnWildcard{}}},
					map[string]bool{grants.Select: grantable})
			}
		}
	}
	slices.SortFunc(out, func(a, b types.PrincipalResourcePermissions) int {
		return cmp.Or(
			strings.Compare(aws.ToString(a.Principal.DataLakePrincipalIdentifier), aws.ToString(b.Principal.DataLakePrincipalIdentifier)),
			strings.Compare(sortKey(a.Resource), sortKey(b.Resource)),
		)
	})
	return out
}

// sortKey orders resources by database, table, then shape.
func sortKey(r *types.Resource) string {
	switch {
	case r.Database != nil:
		return aws.ToString(r.Database.Name)
	case r.Table != nil:
		return aws.ToString(r.Table.DatabaseName) + listSep + aws.ToString(r.Table.Name) + listSep + "1"
	default:
		t := r.TableWithColumns
		key := aws.ToString(t.DatabaseName) + listSep + aws.ToString(t.Name) + listSep
		switch {
		case len(t.ColumnNames) > 0:
			return key + "3" + strings.Join(t.ColumnNames, ",")
		case len(t.ColumnWildcard.ExcludedColumnNames) > 0:
			return key + "4" + strings.Join(t.ColumnWildcard.ExcludedColumnNames, ",")
		default:
			return key + "2"
		}
	}
}

func signature(perms map[string]bool) string {
	var b strings.Builder
	for _, p := range slices.Sorted(mapKeys(perms)) {
		b.WriteString(p)
		if perms[p] {
			b.WriteString("+")
		}
		b.WriteString(",")
	}
	return b.String()
}

func joinSorted(s []string) string {
	s = slices.Clone(s)
	slices.Sort(s)
	return strings.Join(slices.Compact(s), listSep)
}

func mapKeys[V any](m map[string]V) func(func(string) bool) {
	return func(yield func(string) bool) {
		for k := range m {
			if !yield(k) {
				return
			}
		}
	}
}
