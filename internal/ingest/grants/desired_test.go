package grants

import (
	"errors"
	"slices"
	"strings"
	"testing"

	"github.com/snaplake/snaplake/internal/ingest"
)

const account = "111122223333"

var roleARN = RoleARN("aws", account)

func arn(name string) string { return "arn:aws:iam::" + account + ":role/" + name }

func strs(grants []Grant) []string {
	out := make([]string, len(grants))
	for i, g := range grants {
		out[i] = g.String()
	}
	return out
}

func TestDesired(t *testing.T) {
	analyst, support := arn("analyst"), arn("support")
	tests := []struct {
		name   string
		access []ingest.Access
		want   []string
	}{
		{
			name:   "database DESCRIBE and table SELECT under lake names",
			access: []ingest.Access{{Role: "analyst", Tables: []string{"Orders", "customers", "orders"}}},
			want: []string{
				analyst + " DESCRIBE on database sales",
				analyst + " SELECT on table sales.customers",
				analyst + " SELECT on table sales.orders",
			},
		},
		{
			name:   "role by ARN passes through",
			access: []ingest.Access{{Role: "arn:aws:iam::444455556666:role/team/bi", Tables: []string{"orders"}}},
			want: []string{
				"arn:aws:iam::444455556666:role/team/bi DESCRIBE on database sales",
				"arn:aws:iam::444455556666:role/team/bi SELECT on table sales.orders",
			},
		},
		{
			name:   "role name with a path",
			access: []ingest.Access{{Role: "team/bi", Tables: []string{"orders"}}},
			want: []string{
				arn("team/bi") + " DESCRIBE on database sales",
				arn("team/bi") + " SELECT on table sales.orders",
			},
		},
		{
			name: "columns limit a table, sorted and in lower case",
			access: []ingest.Access{{Role: "support", Tables: []string{"orders", "order_items"},
				Columns: map[string][]string{"orders": {"Status", "id", "status"}}}},
			want: []string{
				support + " DESCRIBE on database sales",
				support + " SELECT on table sales.order_items",
				support + " SELECT on columns sales.orders(id,status)",
			},
		},
		{
			name: "columns are granted under their lake names, as the loads write them",
			access: []ingest.Access{{Role: "support", Tables: []string{"orders"},
				Columns: map[string][]string{"orders": {"Order Date", "x.y", "CamelCase"}}}},
			want: []string{
				support + " DESCRIBE on database sales",
				support + " SELECT on columns sales.orders(camelcase,order_date,x_y)",
			},
		},
		{
			name:   "wildcard covers the tables listed by name",
			access: []ingest.Access{{Role: "analyst", Tables: []string{"orders", "*"}}},
			want: []string{
				analyst + " DESCRIBE on database sales",
				analyst + " SELECT on table sales.*",
			},
		},
		{
			name: "a role by name and by ARN is one role; its rules join",
			access: []ingest.Access{
				{Role: "analyst", Tables: []string{"orders"}},
				{Role: "support", Tables: []string{"orders"}},
				{Role: analyst, Tables: []string{"customers"}},
				{Role: " analyst ", Columns: map[string][]string{"customers": {"id", "name"}}},
			},
			want: []string{
				analyst + " DESCRIBE on database sales",
				analyst + " SELECT on columns sales.customers(id,name)",
				analyst + " SELECT on table sales.orders",
				support + " DESCRIBE on database sales",
				support + " SELECT on table sales.orders",
			},
		},
		{
			name: "no rules, no grants",
			want: []string{},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := Desired("Sales", tt.access, strings.ToLower, roleARN)
			if err != nil {
				t.Fatal(err)
			}
			// Every grant on the ingest database is repeated on its companion of
			// current tables (Companions); each principal's grants stay together.
			want := slices.Clone(tt.want)
			for _, w := range tt.want {
				want = append(want, strings.Replace(w, " sales", " sales_current", 1))
			}
			slices.SortStableFunc(want, func(a, b string) int { return strings.Compare(strings.Fields(a)[0], strings.Fields(b)[0]) })
			if s := strs(got); !slices.Equal(s, want) {
				t.Errorf("Desired =\n  %s\nwant\n  %s", strings.Join(s, "\n  "), strings.Join(want, "\n  "))
			}
		})
	}
}

func TestDesiredErrors(t *testing.T) {
	tests := []struct {
		name      string
		access    []ingest.Access
		want      error
		index     int
		role      string
		table     string
		fieldPath string
		message   string
	}{
		{
			name:      "role with no tables",
			access:    []ingest.Access{{Role: "analyst", Tables: []string{"orders"}}, {Role: "support"}},
			want:      ErrNoTables,
			index:     1,
			role:      "support",
			fieldPath: "access.1.tables",
			message:   `ingest.access[1] (role "support"): the role is given no tables`,
		},
		{
			name:   "role with only column limits",
			access: []ingest.Access{{Role: "support", Columns: map[string][]string{"orders": {"id"}}}},
			want:   ErrNoTables,
			role:   "support",
		},
		{
			name: "columns for a table the role was not given",
			access: []ingest.Access{{Role: "support", Tables: []string{"orders"},
				Columns: map[string][]string{"customers": {"id"}}}},
			want:      ErrColumnsNotGranted,
			role:      "support",
			table:     "customers",
			fieldPath: "access.0.columns.customers",
			message:   `ingest.access[0] (role "support", table "customers"): columns limit a table the role is not given`,
		},
		{
			name: "columns given to another role's table",
			access: []ingest.Access{
				{Role: "analyst", Tables: []string{"customers"}},
				{Role: "support", Tables: []string{"orders"}, Columns: map[string][]string{"customers": {"id"}}},
			},
			want:  ErrColumnsNotGranted,
			index: 1,
			role:  "support",
			table: "customers",
		},
		{
			name: "columns under the wildcard",
			access: []ingest.Access{{Role: "analyst", Tables: []string{"*", "orders"},
				Columns: map[string][]string{"orders": {"id"}}}},
			want:  ErrColumnsUnderWildcard,
			role:  "analyst",
			table: "orders",
		},
		{
			name:   "columns of the wildcard",
			access: []ingest.Access{{Role: "analyst", Tables: []string{"*"}, Columns: map[string][]string{"*": {"id"}}}},
			want:   ErrColumnsUnderWildcard,
			role:   "analyst",
			table:  "*",
		},
		{
			name: "empty column list",
			access: []ingest.Access{{Role: "support", Tables: []string{"orders"},
				Columns: map[string][]string{"orders": {}}}},
			want:  ErrNoColumns,
			role:  "support",
			table: "orders",
		},
		{
			name:   "empty table name",
			access: []ingest.Access{{Role: "support", Tables: []string{"orders", " "}}},
			want:   ErrEmptyName,
			role:   "support",
		},
		{
			name: "a table the lake does not have",
			access: []ingest.Access{
				{Role: "support", Tables: []string{"orders"}},
				{Role: "support", Tables: []string{"dropped"}},
			},
			want:      ErrUnknownTable,
			index:     1,
			role:      "support",
			table:     "dropped",
			fieldPath: "access.1.tables",
		},
		{
			name:      "no role",
			access:    []ingest.Access{{Role: "analyst", Tables: []string{"orders"}}, {Tables: []string{"orders"}}},
			want:      ErrNoRole,
			index:     1,
			fieldPath: "access.1.role",
		},
		{
			name:    "IAM_ALLOWED_PRINCIPALS",
			access:  []ingest.Access{{Role: "arn:aws:iam::111122223333:role/x", Tables: []string{"orders"}}, {Role: "IAM_ALLOWED_PRINCIPALS", Tables: []string{"*"}}},
			want:    ErrIAMAllowedPrincipals,
			index:   1,
			role:    "IAM_ALLOWED_PRINCIPALS",
			message: "IAM_ALLOWED_PRINCIPALS cannot be given access",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			lakeName := func(source string) string {
				if source == "dropped" {
					return "" // not among the source's tables
				}
				return strings.ToLower(source)
			}
			got, err := Desired("sales", tt.access, lakeName, roleARN)
			if !errors.Is(err, tt.want) {
				t.Fatalf("Desired = %v, %v; want %v", got, err, tt.want)
			}
			var ae *AccessError
			if !errors.As(err, &ae) {
				t.Fatalf("error %T is not an *AccessError", err)
			}
			if ae.Index != tt.index || ae.Role != tt.role || ae.Table != tt.table {
				t.Errorf("error names rule %d, role %q, table %q; want %d, %q, %q", ae.Index, ae.Role, ae.Table, tt.index, tt.role, tt.table)
			}
			if tt.fieldPath != "" {
				if got := strings.Join(ae.FieldPath(), "."); got != tt.fieldPath {
					t.Errorf("FieldPath = %s, want %s", got, tt.fieldPath)
				}
			}
			if r := ae.Reason(); strings.Contains(r, "ingest.access") || !strings.Contains(r, tt.want.Error()) {
				t.Errorf("Reason %q: want the error without its field path", r)
			}
			if !strings.Contains(err.Error(), tt.message) {
				t.Errorf("error %q, want it to contain %q", err, tt.message)
			}
		})
	}

	if _, err := Desired(" ", []ingest.Access{{Role: "a", Tables: []string{"t"}}}, strings.ToLower, roleARN); err == nil {
		t.Error("Desired without a database: no error")
	}
}

func TestRoleARN(t *testing.T) {
	for role, want := range map[string]string{
		"analyst":                           "arn:aws:iam::111122223333:role/analyst",
		"/team/analyst":                     "arn:aws:iam::111122223333:role/team/analyst",
		"arn:aws:iam::444455556666:role/bi": "arn:aws:iam::444455556666:role/bi",
	} {
		if got := roleARN(role); got != want {
			t.Errorf("RoleARN(%q) = %q, want %q", role, got, want)
		}
	}
	if got := RoleARN("aws-cn", "111122223333")("bi"); got != "arn:aws-cn:iam::111122223333:role/bi" {
		t.Errorf("RoleARN in aws-cn = %q", got)
	}
}
