package doctor

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"

	"github.com/snaplake/snaplake/internal/deploy"
	"github.com/snaplake/snaplake/internal/federate"
)

// Querier runs one statement on a warehouse and returns its rows as text; a
// redshift.Warehouse (the Data API, or its PostgreSQL stand-in) satisfies it.
type Querier interface {
	Query(ctx context.Context, statement string) ([][]*string, error)
}

// FederateSignIn is one warehouse a Federator function signs into, for doctor to
// check that the function's database user holds what the Federator needs.
type FederateSignIn struct {
	// Subject names it in the report: "publisher transform", "subscriber reporting".
	Subject string
	// Function is deploy.FnPublish or deploy.FnSubscribe.
	Function string
	// Warehouse is reached with the operator's credentials, signed in as the URL says.
	Warehouse Querier
	// URL is the warehouse's URL in the config (redshift://... or postgres://...):
	// checkFederate reads the warehouse's Region from it.
	URL string
	// AsIAMRole: the function signs in as its IAM identity (no secret, no db_user),
	// so it is the database user IAMR:<its role name>, which the stack's
	// FederateDatabaseUsers output names; otherwise doctor signed in the way the
	// function does (the same secret or db_user) and asks for the current user.
	AsIAMRole bool
	Needs     []federate.Need
}

// CheckFederatePrivileges asks each warehouse, with HAS_DATABASE_PRIVILEGE,
// HAS_SCHEMA_PRIVILEGE and HAS_TABLE_PRIVILEGE, whether the function's database
// user holds each privilege the Federator needs; one result per sign-in, a failure
// naming what is missing and the GRANT statements that give it. users maps a
// function to its IAM database user (the FederateDatabaseUsers output).
func CheckFederatePrivileges(ctx context.Context, signIns []FederateSignIn, users map[string]string) []Result {
	var out []Result
	for _, s := range signIns {
		user := ""
		if s.AsIAMRole {
			if user = users[s.Function]; user == "" {
				out = append(out, Result{Status: Fail, Check: "federator", Subject: s.Subject,
					Detail: "the function signs in as its IAM identity, and the stack has no " + deploy.OutputFederateDatabaseUsers + " output naming that database user",
					Fix:    "deploy the stack again (cdk deploy) to get the output"})
				continue
			}
		}
		out = append(out, checkSignIn(ctx, s, user))
	}
	return out
}

func checkSignIn(ctx context.Context, s FederateSignIn, user string) Result {
	who := user
	if who == "" {
		who = "the user doctor signed in as (the function's secret or db_user)"
	}
	db, err := s.Warehouse.Query(ctx, "SELECT current_database(), current_user")
	if err != nil || len(db) != 1 || len(db[0]) != 2 || db[0][0] == nil {
		return Result{Status: Fail, Check: "federator", Subject: s.Subject, Detail: fmt.Sprintf("cannot ask the warehouse: %v", err),
			Fix: "check the warehouse URL of the config and that your credentials may use the Data API on it"}
	}
	database := *db[0][0]
	if user == "" && db[0][1] != nil {
		who = *db[0][1]
	}
	var missing []federate.Need
	for _, n := range s.Needs {
		rows, err := s.Warehouse.Query(ctx, federate.NeedSQL(n, user))
		if err != nil {
			return Result{Status: Fail, Check: "federator", Subject: s.Subject, Detail: fmt.Sprintf("cannot check %s of %s: %v", strings.Join(n.Privileges, ", "), needObject(n, database), err),
				Fix: "check that " + who + " exists (an IAM sign-in creates it on first use: run the workflow once) and that your user may read the catalog"}
		}
		if len(rows) != 1 || len(rows[0]) != 1 || rows[0][0] == nil || !truthy(*rows[0][0]) {
			missing = append(missing, n)
		}
	}
	if len(missing) == 0 {
		return Result{Status: Pass, Check: "federator", Subject: s.Subject, Detail: fmt.Sprintf("database user %s holds the %d privileges the Federator needs in %s", who, len(s.Needs), database)}
	}
	var lacks []string
	for _, n := range missing {
		lacks = append(lacks, strings.Join(n.Privileges, ", ")+" on "+needObject(n, database)+" ("+n.Why+")")
	}
	grantTo := user
	if grantTo == "" {
		grantTo = who
	}
	var grants []federate.Need
	for _, n := range missing {
		n.IfExists = false // it exists: it is missing
		grants = append(grants, n)
	}
	return Result{Status: Fail, Check: "federator", Subject: s.Subject,
		Detail: fmt.Sprintf("database user %s lacks %s", who, strings.Join(lacks, "; ")),
		Fix:    "as an admin of " + database + ": " + strings.Join(federate.GrantSQL(grants, database, grantTo), "; ")}
}

func needObject(n federate.Need, database string) string {
	if n.On == "database" {
		return "database " + database
	}
	return n.On + " " + n.Object
}

// truthy reads a boolean as Redshift (true/false) or PostgreSQL (t/f) prints it.
func truthy(s string) bool { return s == "t" || strings.EqualFold(s, "true") }

// federateDatabaseUsers reads the FederateDatabaseUsers output ({} when absent).
func federateDatabaseUsers(outputs map[string]string) map[string]string {
	users := map[string]string{}
	if v := outputs[deploy.OutputFederateDatabaseUsers]; v != "" {
		_ = json.Unmarshal([]byte(v), &users)
	}
	return users
}
