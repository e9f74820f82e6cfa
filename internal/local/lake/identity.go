package lake

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"strings"

	"github.com/snaplake/snaplake/internal/local/contract"
	"github.com/snaplake/snaplake/internal/local/glue"
	"github.com/snaplake/snaplake/internal/local/iam"
)

// Identity is the IAM side of a query as a role: the role's identity policies, which
// every call Athena makes on the caller's behalf must pass, as on AWS. With it, QueryAs
// refuses what IAM would refuse, before Lake Formation is asked:
//   - glue:GetDatabase, glue:GetTable and (for a partitioned table) glue:GetPartitions,
//     each on the catalog, the database and the table (Athena needs an action on a
//     resource and on all its ancestors in the Data Catalog);
//   - for a table whose location is registered with Lake Formation,
//     lakeformation:GetDataAccess (Lake Formation then vends the S3 credentials);
//   - for any other table, the caller's own s3:ListBucket on each listed prefix and
//     s3:GetObject on each file;
//   - for both, kms:Decrypt on the key the files are encrypted with.
//
// Databases other than the one Lake Formation governs for the query (Access.Database)
// are then visible as far as IAM allows: the account's default (IAMAllowedPrincipals)
// leaves them to IAM alone.
type Identity struct {
	Principal iam.Principal // the role, its session and its identity policies
	Account   string        // of the Glue Data Catalog
	Region    string        // of the Glue Data Catalog
	// RegisteredLocations are the S3 locations registered with Lake Formation, as
	// arn:aws:s3:::bucket/prefix (or s3://bucket/prefix).
	RegisteredLocations []string
	// KMSKeyArn is the key the lake's objects are encrypted with (SSE-KMS, the bucket's
	// default); reading one needs kms:Decrypt on it. Empty: objects are not
	// KMS-encrypted.
	KMSKeyArn string
}

// Call is one call Athena makes on the caller's behalf, for a table.
type Call struct {
	Action   string
	Resource string              // the ARN; "" for an action without a resource type
	Context  map[string][]string // condition keys, e.g. s3:prefix
	Path     string              // s3://bucket/key of an S3 call, for Athena's message
}

// AccessDeniedError is a query that Athena refuses because IAM denies a call it makes
// for the caller. Error is Athena's message for that call; Denied is the decision
// (caller, action, resource) as the offline IAM evaluator made it.
type AccessDeniedError struct {
	Role   string // as the operator named it
	Table  string // database.table the call was for
	Call   Call
	Denied *iam.AccessDeniedError
}

// requestID stands for the request ID AWS puts in its messages.
const requestID = "offline"

func (e *AccessDeniedError) Error() string {
	svc, _, _ := strings.Cut(e.Call.Action, ":")
	switch svc {
	case "glue":
		// Glue's message names the resource without quotes; Athena reports the
		// failed Data Catalog call (service AmazonDataCatalog) as the query's error.
		msg := "User: " + e.Denied.Caller + " is not authorized to perform: " + e.Denied.Action + " on resource: " + e.Denied.Resource
		return "Insufficient permissions to execute the query. " + msg + reason(e.Denied) +
			" (Service: AmazonDataCatalog; Status Code: 400; Error Code: AccessDeniedException; Request ID: " + requestID + "; Proxy: null)"
	case "lakeformation":
		return "Insufficient permissions to execute the query. " + e.Denied.ErrorMessage() +
			" (Service: AWSLakeFormation; Status Code: 400; Error Code: AccessDeniedException; Request ID: " + requestID + "; Proxy: null)"
	default:
		// An S3 call (or the KMS call S3 makes for it): Athena's reader reports S3's
		// AccessDenied with the path it was reading.
		return "com.amazonaws.services.s3.model.AmazonS3Exception: " + e.Denied.ErrorMessage() +
			" (Service: Amazon S3; Status Code: 403; Error Code: AccessDenied; Request ID: " + requestID + "; Proxy: null) (Path: " + e.Call.Path + ")"
	}
}

// reason is the end of IAM's message: why nothing allowed the call.
func reason(d *iam.AccessDeniedError) string {
	if d.Explicit {
		return " with an explicit deny in an identity-based policy"
	}
	return " because no identity-based policy allows the " + d.Action + " action"
}

// authority is the offline IAM evaluator holding the one principal of the query.
func (id *Identity) authority() (*iam.Authority, error) {
	a := iam.NewAuthority()
	p := id.Principal
	if p.Name == "" {
		p.Name = p.RoleName
	}
	if err := a.Add(p); err != nil {
		return nil, fmt.Errorf("query as role %s: %w", p.RoleName, err)
	}
	return a, nil
}

// decide evaluates the calls in order and returns the first denial as Athena reports it.
func (id *Identity) decide(a *iam.Authority, role string, t glue.Table, calls []Call) error {
	name := id.Principal.Name
	if name == "" {
		name = id.Principal.RoleName
	}
	for _, c := range calls {
		err := a.Decide(name, iam.Request{Action: c.Action, Resource: c.Resource, Context: c.Context})
		var denied *iam.AccessDeniedError
		if errors.As(err, &denied) {
			return &AccessDeniedError{Role: role, Table: t.Database + "." + t.Name, Call: c, Denied: denied}
		}
		if err != nil {
			return err
		}
	}
	return nil
}

// metadataCalls are the Data Catalog calls Athena makes to plan a query on t, each on
// the resource and its ancestors.
func (id *Identity) metadataCalls(t glue.Table) []Call {
	arn := func(res string) string { return "arn:aws:glue:" + id.Region + ":" + id.Account + ":" + res }
	catalog, database, table := arn("catalog"), arn("database/"+t.Database), arn("table/"+t.Database+"/"+t.Name)
	calls := []Call{
		{Action: "glue:GetDatabase", Resource: catalog},
		{Action: "glue:GetDatabase", Resource: database},
	}
	for _, r := range []string{catalog, database, table} {
		calls = append(calls, Call{Action: "glue:GetTable", Resource: r})
	}
	if len(t.PartitionKeys) > 0 {
		for _, r := range []string{catalog, database, table} {
			calls = append(calls, Call{Action: "glue:GetPartitions", Resource: r})
		}
	}
	return calls
}

// registered reports whether the location s3://bucket/prefix lies under a location
// registered with Lake Formation (a registered location covers its whole prefix).
func (id *Identity) registered(bucket, prefix string) bool {
	for _, loc := range id.RegisteredLocations {
		rest, ok := strings.CutPrefix(loc, "arn:aws:s3:::")
		if !ok {
			if rest, ok = strings.CutPrefix(loc, "s3://"); !ok {
				continue
			}
		}
		b, p, _ := strings.Cut(rest, "/")
		if b != bucket {
			continue
		}
		p = strings.TrimSuffix(p, "/")
		if p == "" || prefix == p || strings.HasPrefix(prefix, p+"/") {
			return true
		}
	}
	return false
}

// dataCalls are the calls Athena makes to read t's files: one GetDataAccess when
// Lake Formation vends the credentials, else the caller's own listing and reads; and
// in both cases the caller's kms:Decrypt on the key of KMS-encrypted files (Athena's
// docs ask it of users of registered locations too).
func (id *Identity) dataCalls(t glue.Table, files tableFiles) []Call {
	bucketArn := "arn:aws:s3:::" + files.bucket
	registered := id.registered(files.bucket, files.prefix)
	var calls []Call
	if registered {
		calls = append(calls, Call{Action: "lakeformation:GetDataAccess"})
	} else {
		for _, p := range files.listed {
			calls = append(calls, Call{Action: "s3:ListBucket", Resource: bucketArn,
				Context: map[string][]string{"s3:prefix": {p}}, Path: "s3://" + files.bucket + "/" + p})
		}
	}
	for _, k := range files.keys {
		path := "s3://" + files.bucket + "/" + k
		if !registered {
			calls = append(calls, Call{Action: "s3:GetObject", Resource: bucketArn + "/" + k, Path: path})
		}
		if id.KMSKeyArn != "" {
			calls = append(calls, Call{Action: "kms:Decrypt", Resource: id.KMSKeyArn, Path: path})
		}
	}
	return calls
}

// tableRef is a table a query names: database "" when unqualified.
type tableRef struct{ database, table string }

// referencedTables is every table the query names (CTE names left out), as DuckDB's
// own parser reads it. ok is false when the parser cannot serialize the query (a
// syntax error, which running it reports, or a statement that is not a SELECT).
func referencedTables(ctx context.Context, conn *sql.Conn, query string) (refs []tableRef, ok bool, err error) {
	var out string
	if err := conn.QueryRowContext(ctx, "SELECT CAST(json_serialize_sql(?::VARCHAR) AS VARCHAR)", query).Scan(&out); err != nil {
		return nil, false, fmt.Errorf("parse the query: %w", err)
	}
	var tree any
	if err := json.Unmarshal([]byte(out), &tree); err != nil {
		return nil, false, fmt.Errorf("read DuckDB's parse of the query: %w", err)
	}
	if m, _ := tree.(map[string]any); m == nil || m["error"] == true {
		return nil, false, nil
	}
	ctes := map[string]bool{}
	var walk func(v any)
	walk = func(v any) {
		switch x := v.(type) {
		case map[string]any:
			if cm, ok := x["cte_map"].(map[string]any); ok {
				for _, e := range asSlice(cm["map"]) {
					if k, ok := e.(map[string]any)["key"].(string); ok {
						ctes[strings.ToLower(k)] = true
					}
				}
			}
			if x["type"] == "SHOW_REF" {
				return // DESCRIBE reads the Data Catalog only
			}
			if x["type"] == "BASE_TABLE" {
				db, _ := x["schema_name"].(string)
				tb, _ := x["table_name"].(string)
				refs = append(refs, tableRef{database: db, table: tb})
			}
			for _, c := range x {
				walk(c)
			}
		case []any:
			for _, c := range x {
				walk(c)
			}
		}
	}
	walk(tree)
	kept := refs[:0]
	for _, r := range refs {
		if r.database == "" && ctes[strings.ToLower(r.table)] {
			continue
		}
		kept = append(kept, r)
	}
	return kept, true, nil
}

func asSlice(v any) []any {
	s, _ := v.([]any)
	return s
}

// QuerySession is the session name of the role a query as a role assumes, as it
// appears in the caller's ARN (arn:aws:sts::<account>:assumed-role/<role>/<session>).
const QuerySession = "snaplake-query"

// AnalystIdentity is role with the analyst policy attached, in the deployment of c:
// policy is the policy document to evaluate, nil for the one the stack publishes (the
// AnalystPolicyArn output). role is a name or a role ARN (its account is then the
// caller's).
func AnalystIdentity(c *contract.Contract, role string, policy []byte) (*Identity, error) {
	if policy == nil {
		if c.AnalystPolicy == nil {
			return nil, errors.New("the offline contract has no analyst policy: regenerate it with `make contract`")
		}
		policy = c.AnalystPolicy.Policy
	}
	p, err := iam.ParsePolicy(policy)
	if err != nil {
		return nil, fmt.Errorf("analyst policy: %w", err)
	}
	account, name := c.Account, role
	if rest, ok := strings.CutPrefix(role, "arn:"); ok {
		// arn:<partition>:iam::<account>:role/<path/>name
		parts := strings.SplitN(rest, ":", 5)
		if len(parts) != 5 || parts[1] != "iam" || !strings.HasPrefix(parts[4], "role/") {
			return nil, fmt.Errorf("role %s is not a role ARN (arn:aws:iam::<account>:role/<name>)", role)
		}
		account, name = parts[3], parts[4]
	}
	name = name[strings.LastIndexByte(name, '/')+1:] // a role's path is not in its session ARN
	return &Identity{
		Principal: iam.Principal{Name: name, RoleName: name, SessionName: QuerySession, Account: account, Policies: []iam.Policy{p}},
		Account:   c.Account, Region: c.Region,
		RegisteredLocations: c.RegisteredLocations,
		KMSKeyArn:           c.KMSKeyArn,
	}, nil
}
