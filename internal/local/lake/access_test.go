package lake

import (
	"context"
	"errors"
	"slices"
	"strings"
	"testing"

	"github.com/snaplake/snaplake/internal/ingest/grants"
)

func TestQueryAs(t *testing.T) {
	l := newLake(t)
	support := &Access{Role: "support", Database: "warehouse", Tables: map[string][]string{"customer": {"id", "balance"}}}
	downloads := &Access{Role: "downloads", Database: "warehouse", Tables: map[string][]string{"file_downloads": nil}}
	everything := &Access{Role: "analytics", Database: "warehouse", AllTables: true}
	tests := []struct {
		name   string
		access *Access
		sql    string
		cols   []string // result columns, when the query succeeds
		rows   []string
		errMsg string // the whole error message, when the query fails
		errHas string // a part of it, for DuckDB's own messages
	}{
		{name: "granted columns read fine", access: support,
			sql:  "SELECT id, balance FROM warehouse.customer ORDER BY id",
			cols: []string{"id", "balance"}, rows: []string{"1|10.50", "2|-0.07"}},
		{name: "star gives only the granted columns", access: support,
			sql:  "SELECT * FROM warehouse.customer ORDER BY id",
			cols: []string{"id", "balance"}, rows: []string{"1|10.50", "2|-0.07"}},
		{name: "unqualified granted table", access: support,
			sql: "SELECT count(*) AS n FROM customer", cols: []string{"n"}, rows: []string{"2"}},
		{name: "partitions of a granted table", access: support,
			sql:  `SELECT * FROM "warehouse"."customer$partitions"`,
			cols: []string{"snapshot_date"}, rows: []string{"2026-11-20"}},
		{name: "ungranted column", access: support,
			sql:    "SELECT email FROM warehouse.customer",
			errMsg: "column warehouse.customer.email is not granted to role support (Lake Formation)"},
		{name: "ungranted qualified column", access: support,
			sql:    "SELECT c.id, c.email FROM warehouse.customer AS c",
			errMsg: "column warehouse.customer.email is not granted to role support (Lake Formation)"},
		{name: "ungranted column in WHERE", access: support,
			sql:    "SELECT id FROM warehouse.customer WHERE created_at > TIMESTAMP '2020-01-01'",
			errMsg: "column warehouse.customer.created_at is not granted to role support (Lake Formation)"},
		{name: "partition key left out of a column grant", access: support,
			sql:    "SELECT snapshot_date FROM warehouse.customer",
			errMsg: "column warehouse.customer.snapshot_date is not granted to role support (Lake Formation)"},
		{name: "ungranted table", access: support,
			sql:    "SELECT count(*) FROM warehouse.file_downloads",
			errMsg: "table warehouse.file_downloads is not granted to role support (Lake Formation)"},
		{name: "ungranted table, unqualified", access: support,
			sql:    "SELECT count(*) FROM file_downloads",
			errMsg: "table warehouse.file_downloads is not granted to role support (Lake Formation)"},
		{name: "ungranted table in a join", access: support,
			sql:    "SELECT c.id FROM warehouse.customer c JOIN warehouse.file_downloads d ON d.id = c.id",
			errMsg: "table warehouse.file_downloads is not granted to role support (Lake Formation)"},
		{name: "partitions of an ungranted table", access: support,
			sql:    `SELECT * FROM "warehouse"."file_downloads$partitions"`,
			errMsg: "table warehouse.file_downloads$partitions is not granted to role support (Lake Formation)"},
		{name: "table of another database", access: everything,
			sql:    "SELECT * FROM sales.orders",
			errMsg: "table sales.orders is not granted to role analytics (Lake Formation)"},
		{name: "unknown table lists the granted ones only", access: support,
			sql:    "SELECT * FROM warehouse.nope",
			errMsg: "table warehouse.nope does not exist; tables: warehouse.customer"},
		{name: "unknown column keeps DuckDB's message", access: support,
			sql: "SELECT nope FROM warehouse.customer", errHas: `Referenced column "nope" not found`},
		{name: "table grant gives every column", access: downloads,
			sql:  "SELECT * FROM warehouse.file_downloads ORDER BY snapshot_date, id LIMIT 1",
			cols: []string{"id", "file_id", "agent", "snapshot_date"}, rows: []string{"0|0|curl|2026-11-18"}},
		{name: "wildcard sees every table of the database", access: everything,
			sql:  "SELECT (SELECT count(*) FROM warehouse.file_downloads) AS d, (SELECT count(email) FROM customer) AS c",
			cols: []string{"d", "c"}, rows: []string{"16|1"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			res, err := l.QueryAs(context.Background(), tt.sql, tt.access)
			switch {
			case tt.errMsg != "":
				if err == nil || err.Error() != tt.errMsg {
					t.Fatalf("error = %v (rows %q), want %q", err, rowsText(res), tt.errMsg)
				}
				var ng *NotGrantedError
				if strings.Contains(tt.errMsg, "not granted") && !errors.As(err, &ng) {
					t.Errorf("error %T, want *NotGrantedError", err)
				}
				return
			case tt.errHas != "":
				if err == nil || !strings.Contains(err.Error(), tt.errHas) {
					t.Fatalf("error = %v, want it to contain %q", err, tt.errHas)
				}
				var ng *NotGrantedError
				if errors.As(err, &ng) {
					t.Errorf("error %v is a NotGrantedError", err)
				}
				return
			case err != nil:
				t.Fatal(err)
			}
			if !slices.Equal(res.Columns, tt.cols) {
				t.Errorf("columns = %q, want %q", res.Columns, tt.cols)
			}
			if got := rowsText(res); !slices.Equal(got, tt.rows) {
				t.Errorf("rows = %q, want %q", got, tt.rows)
			}
		})
	}
}

func TestAccessOf(t *testing.T) {
	const arn = "arn:aws:iam::000000000000:role/support"
	gs := []grants.Grant{
		{Principal: arn, Database: "warehouse", Permissions: []string{grants.Describe}},
		{Principal: arn, Database: "warehouse", Table: "customer", Columns: []string{"id"}, Permissions: []string{grants.Select}},
		{Principal: arn, Database: "warehouse", Table: "customer", Columns: []string{"balance"}, Permissions: []string{grants.Select}},
		{Principal: arn, Database: "warehouse", Table: "file_downloads", Permissions: []string{grants.Select}},
		{Principal: arn, Database: "sales", Table: "orders", Permissions: []string{grants.Select}},
		{Principal: "arn:aws:iam::000000000000:role/other", Database: "warehouse", Table: grants.TableWildcard, Permissions: []string{grants.Select}},
	}
	a := AccessOf("support", "warehouse", arn, gs)
	if a.AllTables || len(a.Tables) != 2 || !slices.Equal(a.Tables["customer"], []string{"id", "balance"}) ||
		a.Tables["file_downloads"] != nil {
		t.Errorf("AccessOf = %+v", a)
	}
	if o := AccessOf("other", "warehouse", "arn:aws:iam::000000000000:role/other", gs); !o.AllTables {
		t.Errorf("wildcard grant: AccessOf = %+v", o)
	}
}
