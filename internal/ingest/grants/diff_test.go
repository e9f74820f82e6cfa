package grants

import (
	"slices"
	"strings"
	"testing"
)

func TestDiff(t *testing.T) {
	analyst, support, admin, crawler := arn("analyst"), arn("support"), arn("lake-admin"), arn("snaplake-crawler")
	stranger := "arn:aws:iam::444455556666:role/stranger"
	db := func(p string, perms ...string) Grant {
		return Grant{Principal: p, Database: "sales", Permissions: perms}
	}
	table := func(p, name string, perms ...string) Grant {
		return Grant{Principal: p, Database: "sales", Table: name, Permissions: perms}
	}
	cols := func(p, name string, columns ...string) Grant {
		return Grant{Principal: p, Database: "sales", Table: name, Columns: columns, Permissions: []string{Select}}
	}
	desired := []Grant{
		db(analyst, Describe), table(analyst, "orders", Select), cols(analyst, "customers", "id", "name"),
		db(support, Describe), table(support, "*", Select),
	}
	scope := Scope{Databases: []string{"Sales"}, Keep: []string{admin, crawler, IAMAllowedPrincipals}}

	tests := []struct {
		name       string
		desired    []Grant
		current    []Grant
		scope      Scope
		add, revok []string
	}{
		{
			name:    "add only: nothing granted yet",
			desired: desired,
			scope:   scope,
			add: []string{
				analyst + " DESCRIBE on database sales",
				analyst + " SELECT on columns sales.customers(id,name)",
				analyst + " SELECT on table sales.orders",
				support + " DESCRIBE on database sales",
				support + " SELECT on table sales.*",
			},
		},
		{
			name:    "in step: the same grants in other orders and shapes",
			desired: desired,
			current: []Grant{
				table(support, "*", Select), db(support, Describe), db(analyst, Describe),
				cols(analyst, "customers", "name", "id", "name"), table(analyst, "orders", Select),
			},
			scope: scope,
		},
		{
			name:    "revoke only: a table and a permission taken away, the rest kept in place",
			desired: []Grant{db(analyst, Describe), table(analyst, "orders", Select)},
			current: []Grant{db(analyst, Describe, "ALTER"), table(analyst, "orders", Select), table(analyst, "payroll", Select)},
			scope:   scope,
			revok: []string{
				analyst + " ALTER on database sales",
				analyst + " SELECT on table sales.payroll",
			},
		},
		{
			name:    "column change: revoke the old columns, add the new",
			desired: []Grant{db(analyst, Describe), cols(analyst, "customers", "id", "city")},
			current: []Grant{db(analyst, Describe), cols(analyst, "customers", "id", "name")},
			scope:   scope,
			add:     []string{analyst + " SELECT on columns sales.customers(city,id)"},
			revok:   []string{analyst + " SELECT on columns sales.customers(id,name)"},
		},
		{
			name:    "column limit lifted: the whole table replaces the columns",
			desired: []Grant{table(analyst, "customers", Select)},
			current: []Grant{cols(analyst, "customers", "id")},
			scope:   scope,
			add:     []string{analyst + " SELECT on table sales.customers"},
			revok:   []string{analyst + " SELECT on columns sales.customers(id)"},
		},
		{
			name:    "IAM_ALLOWED_PRINCIPALS revoked on the database and its tables, though Keep names it",
			desired: []Grant{db(analyst, Describe)},
			current: []Grant{
				db(analyst, Describe),
				db(IAMAllowedPrincipals, "ALL"),
				table(IAMAllowedPrincipals, "orders", "ALL"),
				{Principal: IAMAllowedPrincipals, Database: "hr", Permissions: []string{"ALL"}},
			},
			scope: scope,
			revok: []string{
				"IAM_ALLOWED_PRINCIPALS ALL on database sales",
				"IAM_ALLOWED_PRINCIPALS ALL on table sales.orders",
			},
		},
		{
			name:    "admins and the stack's roles kept; a principal the config never mentions revoked",
			desired: []Grant{db(analyst, Describe)},
			current: []Grant{
				db(analyst, Describe),
				db(admin, "ALL"), table(admin, "*", "ALL", Select),
				db(crawler, "CREATE_TABLE", "ALTER"),
				table(stranger, "orders", Select),
			},
			scope: scope,
			revok: []string{stranger + " SELECT on table sales.orders"},
		},
		{
			name:    "an unmanaged database untouched, even for principals the config names",
			desired: []Grant{db(analyst, Describe)},
			current: []Grant{
				{Principal: analyst, Database: "hr", Table: "payroll", Permissions: []string{Select}},
				{Principal: stranger, Database: "hr", Permissions: []string{"ALL"}},
			},
			scope: scope,
			add:   []string{analyst + " DESCRIBE on database sales"},
		},
		{
			name:    "every rule removed: a managed database is revoked clean",
			current: []Grant{db(analyst, Describe), table(analyst, "orders", Select)},
			scope:   Scope{Databases: []string{"sales"}},
			revok: []string{
				analyst + " DESCRIBE on database sales",
				analyst + " SELECT on table sales.orders",
			},
		},
		{
			name:    "no scope: the desired grants' database is managed",
			desired: []Grant{db(analyst, Describe)},
			current: []Grant{db(analyst, Describe), db(support, Describe)},
			revok:   []string{support + " DESCRIBE on database sales"},
		},
		{
			name:    "a grant option the config does not give: revoked with it, granted without",
			desired: []Grant{table(analyst, "orders", Select)},
			current: []Grant{{Principal: analyst, Database: "sales", Table: "orders", Permissions: []string{Select}, GrantOption: []string{Select}}},
			scope:   scope,
			add:     []string{analyst + " SELECT on table sales.orders"},
			revok:   []string{analyst + " SELECT grantable SELECT on table sales.orders"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			add, revoke := Diff(tt.desired, tt.current, tt.scope)
			if add == nil || revoke == nil {
				t.Errorf("Diff = %v, %v: want empty lists, not nil (they print as [])", add, revoke)
			}
			if got := strs(add); !slices.Equal(got, orEmpty(tt.add)) {
				t.Errorf("add =\n  %s\nwant\n  %s", strings.Join(got, "\n  "), strings.Join(tt.add, "\n  "))
			}
			if got := strs(revoke); !slices.Equal(got, orEmpty(tt.revok)) {
				t.Errorf("revoke =\n  %s\nwant\n  %s", strings.Join(got, "\n  "), strings.Join(tt.revok, "\n  "))
			}
		})
	}
}

func orEmpty(s []string) []string {
	if s == nil {
		return []string{}
	}
	return s
}

func TestGrantString(t *testing.T) {
	a := Grant{Principal: "p", Database: "d", Table: "t", Columns: []string{"b", "a", "b"}, Permissions: []string{Select}}
	b := Grant{Principal: "p", Database: "d", Table: "t", Columns: []string{"a", "b"}, Permissions: []string{Select, Select}}
	if a.String() != b.String() || a.String() != "p SELECT on columns d.t(a,b)" {
		t.Errorf("canonical forms %q and %q", a, b)
	}
	ex := Grant{Principal: "p", Database: "d", Table: "t", ExcludedColumns: []string{"ssn"}, Permissions: []string{Select}}
	if got := ex.String(); got != "p SELECT on columns d.t(* except ssn)" {
		t.Errorf("excluded columns: %q", got)
	}
}
