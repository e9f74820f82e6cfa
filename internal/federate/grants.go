package federate

import (
	"fmt"
	"slices"
	"strings"
)

// The database privileges the Federator's database users need, in one place: the
// README shows them as GRANT statements, `snaplake doctor` checks them on the
// warehouses, and the offline run grants exactly these to users created without
// privileges, as Redshift creates the user IAMR:<role name> of an IAM sign-in.
//
// The publisher's user reads each published table: USAGE on its schema, SELECT on
// it. A subscriber's user creates the control schema snaplake_federator, each
// table's schema and table, and a staging table beside each: CREATE on the database
// is enough when it creates them (it then owns them). A schema that exists already
// needs USAGE and CREATE (the staging tables live in it), and a table that exists
// already SELECT, INSERT and DELETE (a full version replaces its rows).

// Need is one privilege a database user needs.
type Need struct {
	// On is "database", "schema" or "table".
	On string `json:"on"`
	// Object is the schema's name or the table's schema.table; "" for the database
	// (the one signed into).
	Object     string   `json:"object,omitempty"`
	Privileges []string `json:"privileges"`
	// IfExists: needed only when the schema or table exists already (else CREATE
	// on the database covers it).
	IfExists bool   `json:"ifExists,omitempty"`
	Why      string `json:"why"`
}

// PublisherNeeds are the privileges of the publisher's user.
func PublisherNeeds(c Config) []Need {
	var out []Need
	var schemas []string
	for _, t := range c.Tables {
		schema, _ := t.Split()
		if !slices.Contains(schemas, schema) {
			schemas = append(schemas, schema)
			out = append(out, Need{On: "schema", Object: schema, Privileges: []string{"USAGE"}, Why: "to reach the published tables of schema " + schema})
		}
		out = append(out, Need{On: "table", Object: t.Table, Privileges: []string{"SELECT"}, Why: "to read " + t.Table + "'s state and UNLOAD it"})
	}
	return out
}

// SubscriberNeeds are the privileges of subscriber s's user: those of the tables it
// takes (c.TablesOf).
func SubscriberNeeds(c Config, s Subscriber) []Need {
	out := []Need{{On: "database", Privileges: []string{"CREATE"},
		Why: "to create the schemas " + ControlSchema + " and those of the published tables (it then owns them and what it creates in them)"}}
	schemas := []string{ControlSchema}
	tables := []string{ControlSchema + "." + ControlTable}
	for _, t := range c.TablesOf(s) {
		schema, _ := t.Split()
		if !slices.Contains(schemas, schema) {
			schemas = append(schemas, schema)
		}
		tables = append(tables, t.Table)
	}
	for _, s := range schemas {
		out = append(out, Need{On: "schema", Object: s, Privileges: []string{"USAGE", "CREATE"}, IfExists: true,
			Why: "schema " + s + " exists: the staging tables are created in it"})
	}
	for _, t := range tables {
		out = append(out, Need{On: "table", Object: t, Privileges: []string{"SELECT", "INSERT", "DELETE"}, IfExists: true,
			Why: "table " + t + " exists: versions are swapped into it"})
	}
	return out
}

// GrantSQL is the GRANT statements that give user the needs (those IfExists are
// left out: they are for objects someone else created), for database.
func GrantSQL(needs []Need, database, user string) []string {
	var out []string
	for _, n := range needs {
		if n.IfExists {
			continue
		}
		privs := strings.Join(n.Privileges, ", ")
		switch n.On {
		case "database":
			out = append(out, fmt.Sprintf("GRANT %s ON DATABASE %s TO %s", privs, quoteIdent(database), quoteIdent(user)))
		case "schema":
			out = append(out, fmt.Sprintf("GRANT %s ON SCHEMA %s TO %s", privs, quoteIdent(n.Object), quoteIdent(user)))
		case "table":
			schema, name := Table{Table: n.Object}.Split()
			out = append(out, fmt.Sprintf("GRANT %s ON TABLE %s TO %s", privs, qualified(schema, name), quoteIdent(user)))
		}
	}
	return out
}

// NeedSQL is one query whose one row and column says (true/t) whether user has the
// need, with Redshift's HAS_DATABASE_PRIVILEGE, HAS_SCHEMA_PRIVILEGE and
// HAS_TABLE_PRIVILEGE (also PostgreSQL's); user "" is the user signed in. A need
// IfExists holds when its object does not exist.
func NeedSQL(n Need, user string) string {
	arg := ""
	if user != "" {
		arg = literal(user) + ", "
	}
	var checks []string
	for _, p := range n.Privileges {
		switch n.On {
		case "database":
			checks = append(checks, "HAS_DATABASE_PRIVILEGE("+arg+"current_database(), "+literal(p)+")")
		case "schema":
			checks = append(checks, "HAS_SCHEMA_PRIVILEGE("+arg+literal(n.Object)+", "+literal(p)+")")
		case "table":
			schema, name := Table{Table: n.Object}.Split()
			checks = append(checks, "HAS_TABLE_PRIVILEGE("+arg+literal(qualified(schema, name))+", "+literal(p)+")")
		}
	}
	all := strings.Join(checks, " AND ")
	if !n.IfExists {
		return "SELECT " + all
	}
	var exists string
	switch n.On {
	case "schema":
		exists = "EXISTS (SELECT 1 FROM pg_namespace WHERE nspname = " + literal(n.Object) + ")"
	case "table":
		schema, name := Table{Table: n.Object}.Split()
		exists = "EXISTS (SELECT 1 FROM pg_class c JOIN pg_namespace s ON s.oid = c.relnamespace WHERE s.nspname = " +
			literal(schema) + " AND c.relname = " + literal(name) + ")"
	}
	return "SELECT CASE WHEN " + exists + " THEN " + all + " ELSE TRUE END"
}
