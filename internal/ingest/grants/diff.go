package grants

import (
	"bytes"
	"cmp"
	"encoding/json"
	"fmt"
	"slices"
	"strings"
)

// Scope says which of an account's grants the config owns.
type Scope struct {
	// Databases are the Glue databases snaplake manages. On them every grant the
	// config does not ask for is revoked, whoever holds it; on any other database
	// nothing is. The databases of the desired grants are always managed.
	Databases []string
	// Keep are principals whose grants are never revoked: the stack's own roles
	// (crawler, Glue job), whose grants the stack makes, not the config. Apply adds
	// the data lake administrators, read from the account's settings (revoking their
	// implicit permissions fails with "No permissions revoked").
	Keep []string
}

// Plan is what makes an account's grants match the config. Apply Revoke before Add:
// Lake Formation does not edit a grant in place, and it merges column grants of one
// principal on one table, so a column change applied as add-then-revoke would revoke
// the columns just granted.
type Plan struct {
	Add    []Grant `json:"add"`
	Revoke []Grant `json:"revoke"`
}

// JSON is p as the operator reads it: indented, one grant per line, so that a plan
// and its golden files diff line by line.
func (p Plan) JSON() ([]byte, error) {
	var b bytes.Buffer
	b.WriteString("{\n")
	for i, part := range []struct {
		name   string
		grants []Grant
	}{{"add", p.Add}, {"revoke", p.Revoke}} {
		fmt.Fprintf(&b, "  %q: [", part.name)
		for j, g := range part.grants {
			line, err := json.Marshal(g)
			if err != nil {
				return nil, fmt.Errorf("grant %s: %w", g, err)
			}
			if j > 0 {
				b.WriteByte(',')
			}
			b.WriteString("\n    ")
			b.Write(line)
		}
		if len(part.grants) > 0 {
			b.WriteString("\n  ")
		}
		b.WriteByte(']')
		if i == 0 {
			b.WriteByte(',')
		}
		b.WriteByte('\n')
	}
	b.WriteString("}\n")
	return b.Bytes(), nil
}

// unit is one permission of one principal on one resource: the granularity at which
// Diff compares, so that a principal holding DESCRIBE and ALTER where the config asks
// for DESCRIBE loses ALTER and keeps DESCRIBE throughout.
type unit struct {
	principal  string
	resource   resourceKey
	permission string
	grantable  bool // held with the grant option: a different grant from the plain one
}

// Diff is the exact set difference of desired and current grants, compared one
// permission at a time on their canonical forms: add is what desired has and current
// lacks, revoke what current has and desired lacks within scope. A column grant whose
// columns change is a revoke of the old columns plus an add of the new ones. Both are
// sorted and merged back to one Grant per principal and resource.
func Diff(desired, current []Grant, scope Scope) (add, revoke []Grant) {
	want := units(desired)
	have := units(current)

	managed := map[string]bool{}
	for _, db := range scope.Databases {
		managed[strings.ToLower(db)] = true
	}
	for _, g := range desired {
		managed[g.Database] = true
	}
	keep := map[string]bool{}
	for _, p := range scope.Keep {
		keep[p] = true
	}

	var adds, revokes []unit
	for u := range want {
		if !have[u] {
			adds = append(adds, u)
		}
	}
	for u := range have {
		switch {
		case want[u]:
		case !managed[u.resource.database]:
			// Another database: not the config's to judge.
		case u.principal == IAMAllowedPrincipals:
			// New databases and tables grant ALL to IAM_ALLOWED_PRINCIPALS by default,
			// which tells Lake Formation to leave access to IAM policies: while that
			// grant stands, the grants below have no effect and any principal whose IAM
			// policy allows Glue and S3 reads the tables. So it is always revoked on the
			// managed databases and their tables, even if Keep names it.
			revokes = append(revokes, u)
		case keep[u.principal]:
		default:
			// Also principals the config never mentions: on its databases the config is
			// the one source of truth.
			revokes = append(revokes, u)
		}
	}
	return merge(adds), merge(revokes)
}

// units splits grants into their permissions.
func units(grants []Grant) map[unit]bool {
	set := map[unit]bool{}
	for _, g := range grants {
		r := g.resource()
		grantable := map[string]bool{}
		for _, p := range g.GrantOption {
			grantable[p] = true
		}
		for _, p := range g.Permissions {
			set[unit{principal: g.Principal, resource: r, permission: p, grantable: grantable[p]}] = true
		}
		// A grant option implies the permission.
		for p := range grantable {
			set[unit{principal: g.Principal, resource: r, permission: p, grantable: true}] = true
		}
	}
	// A permission held both plainly and with the grant option is held with it.
	for u := range set {
		if u.grantable {
			plain := u
			plain.grantable = false
			delete(set, plain)
		}
	}
	return set
}

// merge groups units back into grants, one per principal and resource, sorted by
// principal, database, table and columns.
func merge(us []unit) []Grant {
	type key struct {
		principal string
		resource  resourceKey
	}
	byKey := map[key]*Grant{}
	var order []key
	for _, u := range us {
		k := key{u.principal, u.resource}
		g := byKey[k]
		if g == nil {
			g = &Grant{Principal: u.principal, Database: u.resource.database, Table: u.resource.table,
				Columns: splitList(u.resource.columns), ExcludedColumns: splitList(u.resource.excluded)}
			byKey[k] = g
			order = append(order, k)
		}
		g.Permissions = append(g.Permissions, u.permission)
		if u.grantable {
			g.GrantOption = append(g.GrantOption, u.permission)
		}
	}
	out := make([]Grant, 0, len(order))
	for _, k := range order {
		g := byKey[k]
		g.Permissions = sortedSet(g.Permissions)
		g.GrantOption = sortedSet(g.GrantOption)
		out = append(out, *g)
	}
	slices.SortFunc(out, compare)
	return out
}

// normalize is grants in canonical order, one per principal and resource.
func normalize(grants []Grant) []Grant {
	var us []unit
	for u := range units(grants) {
		us = append(us, u)
	}
	return merge(us)
}

func compare(a, b Grant) int {
	ra, rb := a.resource(), b.resource()
	return cmp.Or(
		cmp.Compare(a.Principal, b.Principal),
		cmp.Compare(ra.database, rb.database),
		cmp.Compare(ra.table, rb.table),
		cmp.Compare(ra.columns, rb.columns),
		cmp.Compare(ra.excluded, rb.excluded),
	)
}

func splitList(s string) []string {
	if s == "" {
		return nil
	}
	return strings.Split(s, listSep)
}
