package lake

import (
	"context"
	"errors"
	"slices"
	"strings"
	"testing"

	"github.com/snaplake/snaplake/internal/local/glue"
	"github.com/snaplake/snaplake/internal/local/iam"
)

const (
	testKey    = "arn:aws:kms:us-east-1:000000000000:key/1111"
	testCaller = "arn:aws:sts::000000000000:assumed-role/analytics/snaplake-query"
)

// analystStatements is a policy like the published analyst policy: Glue reads on the
// warehouse database, the data/ files and their key, and listing under data/.
var analystStatements = []string{
	`{"Effect":"Allow","Action":["glue:GetDatabase","glue:GetTable","glue:GetPartitions"],"Resource":["arn:aws:glue:us-east-1:000000000000:catalog","arn:aws:glue:us-east-1:000000000000:database/warehouse","arn:aws:glue:us-east-1:000000000000:table/warehouse/*"]}`,
	`{"Effect":"Allow","Action":"s3:GetObject","Resource":"arn:aws:s3:::snaplake-lake/data/*"}`,
	`{"Effect":"Allow","Action":"s3:ListBucket","Resource":"arn:aws:s3:::snaplake-lake","Condition":{"StringLike":{"s3:prefix":["data/*"]}}}`,
	`{"Effect":"Allow","Action":"kms:Decrypt","Resource":"` + testKey + `"}`,
}

// rawGlue lets the analyst read the Data Catalog entries of raw_warehouse, and
// getDataAccess lets Lake Formation vend it credentials for registered locations.
const (
	rawGlue       = `{"Effect":"Allow","Action":["glue:GetDatabase","glue:GetTable","glue:GetPartitions"],"Resource":["arn:aws:glue:us-east-1:000000000000:database/raw_warehouse","arn:aws:glue:us-east-1:000000000000:table/raw_warehouse/*"]}`
	getDataAccess = `{"Effect":"Allow","Action":"lakeformation:GetDataAccess","Resource":"*"}`
)

func policyOf(t *testing.T, statements ...string) iam.Policy {
	t.Helper()
	p, err := iam.ParsePolicy([]byte(`{"Version":"2012-10-17","Statement":[` + strings.Join(statements, ",") + `]}`))
	if err != nil {
		t.Fatal(err)
	}
	return p
}

// without is statements less the ones containing drop.
func without(statements []string, drop string) []string {
	return slices.DeleteFunc(slices.Clone(statements), func(s string) bool { return strings.Contains(s, drop) })
}

func identityOf(t *testing.T, statements ...string) *Identity {
	return &Identity{
		Principal: iam.Principal{RoleName: "analytics", SessionName: "snaplake-query", Account: "000000000000",
			Policies: []iam.Policy{policyOf(t, statements...)}},
		Account: "000000000000", Region: "us-east-1",
		RegisteredLocations: []string{"arn:aws:s3:::snaplake-lake/raw"},
		KMSKeyArn:           testKey,
	}
}

// TestQueryAsIAM runs queries as a role under its IAM policies as well as its Lake
// Formation grants: the raw database is governed by Lake Formation and registered, the
// warehouse database (the nightly snapshots) by IAM alone.
func TestQueryAsIAM(t *testing.T) {
	l := newLake(t)
	writeParquet(t, l.Root, "raw/warehouse/users/gen=1/part-00000.parquet", []customerRow{{ID: 1, Email: &email, CreatedAt: created}})
	if err := l.Catalog.Put(glue.Table{Database: "raw_warehouse", Name: "users", Location: "s3://snaplake-lake/raw/warehouse/users/",
		Columns: []glue.Column{{Name: "id", Type: "bigint"}, {Name: "email", Type: "string"}}}); err != nil {
		t.Fatal(err)
	}
	if err := l.Catalog.Put(glue.Table{Database: "raw_warehouse", Name: "secrets", Location: "s3://snaplake-lake/raw/warehouse/secrets/",
		Columns: []glue.Column{{Name: "id", Type: "bigint"}}}); err != nil {
		t.Fatal(err)
	}
	as := func(id *Identity) *Access {
		return &Access{Role: "analytics", Database: "raw_warehouse", Tables: map[string][]string{"users": {"id"}}, IAM: id}
	}
	granted := identityOf(t, append(slices.Clone(analystStatements), rawGlue, getDataAccess)...)
	glueDenied := func(action, resource string) string {
		return "Insufficient permissions to execute the query. User: " + testCaller + " is not authorized to perform: " + action +
			" on resource: " + resource + " because no identity-based policy allows the " + action + " action" +
			" (Service: AmazonDataCatalog; Status Code: 400; Error Code: AccessDeniedException; Request ID: offline; Proxy: null)"
	}
	s3Denied := func(action, resource, path string) string {
		return "com.amazonaws.services.s3.model.AmazonS3Exception: User: " + testCaller + " is not authorized to perform: " + action +
			` on resource: "` + resource + `" because no identity-based policy allows the ` + action + " action" +
			" (Service: Amazon S3; Status Code: 403; Error Code: AccessDenied; Request ID: offline; Proxy: null) (Path: " + path + ")"
	}
	const firstFile = "snaplake-lake/data/warehouse/file_downloads/snapshot_date=2026-11-18/1/part-00000-a.gz.parquet"
	tests := []struct {
		name   string
		access *Access
		sql    string
		rows   []string
		errMsg string
		errHas string // a part of it, for DuckDB's own messages
	}{
		{name: "the nightly snapshots are IAM's: analysts read them", access: as(identityOf(t, analystStatements...)),
			sql: "SELECT count(*) FROM warehouse.file_downloads", rows: []string{"16"}},
		{name: "the raw database without Glue access is refused at GetDatabase", access: as(identityOf(t, analystStatements...)),
			sql:    "SELECT id FROM raw_warehouse.users",
			errMsg: glueDenied("glue:GetDatabase", "arn:aws:glue:us-east-1:000000000000:database/raw_warehouse")},
		{name: "unqualified, too", access: as(identityOf(t, analystStatements...)),
			sql:    "SELECT id FROM users",
			errMsg: glueDenied("glue:GetDatabase", "arn:aws:glue:us-east-1:000000000000:database/raw_warehouse")},
		{name: "a registered location without GetDataAccess is refused", access: as(identityOf(t, append(slices.Clone(analystStatements), rawGlue)...)),
			sql: "SELECT id FROM raw_warehouse.users",
			errMsg: "Insufficient permissions to execute the query. User: " + testCaller + " is not authorized to perform: lakeformation:GetDataAccess" +
				" because no identity-based policy allows the lakeformation:GetDataAccess action" +
				" (Service: AWSLakeFormation; Status Code: 400; Error Code: AccessDeniedException; Request ID: offline; Proxy: null)"},
		{name: "with GetDataAccess Lake Formation vends the credentials: no s3:GetObject on raw/ needed", access: as(granted),
			sql: "SELECT id FROM raw_warehouse.users", rows: []string{"1"}},
		{name: "a registered location still needs the caller's kms:Decrypt", access: as(identityOf(t, append(without(analystStatements, "kms:"), rawGlue, getDataAccess)...)),
			sql:    "SELECT id FROM raw_warehouse.users",
			errMsg: s3Denied("kms:Decrypt", testKey, "s3://snaplake-lake/raw/warehouse/users/gen=1/part-00000.parquet")},
		{name: "Lake Formation still governs the columns", access: as(granted),
			sql:    "SELECT email FROM raw_warehouse.users",
			errMsg: "column raw_warehouse.users.email is not granted to role analytics (Lake Formation)"},
		{name: "and the tables", access: as(granted),
			sql:    "SELECT * FROM raw_warehouse.secrets",
			errMsg: "table raw_warehouse.secrets is not granted to role analytics (Lake Formation)"},
		{name: "catalog access is needed on the ancestors too", access: as(identityOf(t,
			`{"Effect":"Allow","Action":["glue:GetDatabase","glue:GetTable","glue:GetPartitions"],"Resource":["arn:aws:glue:us-east-1:000000000000:database/warehouse","arn:aws:glue:us-east-1:000000000000:table/warehouse/*"]}`)),
			sql:    "SELECT count(*) FROM warehouse.file_downloads",
			errMsg: glueDenied("glue:GetDatabase", "arn:aws:glue:us-east-1:000000000000:catalog")},
		{name: "GetPartitions for a partitioned table", access: as(identityOf(t, append(without(analystStatements, "glue:"),
			`{"Effect":"Allow","Action":["glue:GetDatabase","glue:GetTable"],"Resource":["arn:aws:glue:us-east-1:000000000000:catalog","arn:aws:glue:us-east-1:000000000000:database/warehouse","arn:aws:glue:us-east-1:000000000000:table/warehouse/*"]}`)...)),
			sql:    `SELECT * FROM "warehouse"."file_downloads$partitions"`,
			errMsg: glueDenied("glue:GetPartitions", "arn:aws:glue:us-east-1:000000000000:catalog")},
		{name: "an explicit deny on one table", access: as(identityOf(t, append(slices.Clone(analystStatements),
			`{"Effect":"Deny","Action":"glue:GetTable","Resource":"arn:aws:glue:us-east-1:000000000000:table/warehouse/customer"}`)...)),
			sql: "SELECT count(*) FROM warehouse.customer",
			errMsg: "Insufficient permissions to execute the query. User: " + testCaller + " is not authorized to perform: glue:GetTable" +
				" on resource: arn:aws:glue:us-east-1:000000000000:table/warehouse/customer with an explicit deny in an identity-based policy" +
				" (Service: AmazonDataCatalog; Status Code: 400; Error Code: AccessDeniedException; Request ID: offline; Proxy: null)"},
		{name: "an unregistered location needs the caller's s3:GetObject", access: as(identityOf(t, without(analystStatements, `"s3:GetObject"`)...)),
			sql:    "SELECT count(*) FROM warehouse.file_downloads",
			errMsg: s3Denied("s3:GetObject", "arn:aws:s3:::"+firstFile, "s3://"+firstFile)},
		{name: "and its listing", access: as(identityOf(t, without(analystStatements, "s3:ListBucket")...)),
			sql: "SELECT count(*) FROM warehouse.file_downloads",
			errMsg: s3Denied("s3:ListBucket", "arn:aws:s3:::snaplake-lake",
				"s3://snaplake-lake/data/warehouse/file_downloads/snapshot_date=2026-11-18/")},
		{name: "and the key", access: as(identityOf(t, without(analystStatements, "kms:")...)),
			sql:    "SELECT count(*) FROM warehouse.file_downloads",
			errMsg: s3Denied("kms:Decrypt", testKey, "s3://"+firstFile)},
		{name: "$partitions reads no files", access: as(identityOf(t, without(analystStatements, `"s3:GetObject"`)...)),
			sql: `SELECT count(*) FROM "warehouse"."file_downloads$partitions"`, rows: []string{"3"}},
		{name: "DESCRIBE reads no files", access: as(identityOf(t, without(analystStatements, `"s3:GetObject"`)...)),
			sql: "SELECT count(*) FROM (DESCRIBE warehouse.file_downloads)", rows: []string{"4"}},
		{name: "a syntax error is DuckDB's", access: as(identityOf(t, analystStatements...)),
			sql: "SELEC 1", errHas: "syntax error"},
		{name: "a statement that is not a SELECT cannot be checked", access: as(identityOf(t, analystStatements...)),
			sql: "CREATE TABLE copy AS SELECT * FROM warehouse.file_downloads", errMsg: "query as role analytics: only SELECT statements are checked against IAM; this one is not"},
		{name: "a CTE is not a table", access: as(identityOf(t, analystStatements...)),
			sql: "WITH users AS (SELECT 7 AS id) SELECT id FROM users", rows: []string{"7"}},
		{name: "a table error comes before a data error (Athena plans, then reads)", access: as(identityOf(t, append(without(analystStatements, `"s3:GetObject"`), rawGlue, getDataAccess)...)),
			sql:    "SELECT count(*) FROM warehouse.file_downloads, raw_warehouse.secrets",
			errMsg: "table raw_warehouse.secrets is not granted to role analytics (Lake Formation)"},
		{name: "a table IAM hides is not listed as one that exists", access: as(identityOf(t, analystStatements...)),
			sql:    "SELECT * FROM warehouse.nope",
			errMsg: "table warehouse.nope does not exist; tables: warehouse.customer, warehouse.file_downloads"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			res, err := l.QueryAs(context.Background(), tt.sql, tt.access)
			if tt.errHas != "" {
				if err == nil || !strings.Contains(err.Error(), tt.errHas) {
					t.Fatalf("error = %v, want it to contain %q", err, tt.errHas)
				}
				return
			}
			if tt.errMsg != "" {
				if err == nil || err.Error() != tt.errMsg {
					t.Fatalf("error = %v (rows %q)\nwant    %s", err, rowsText(res), tt.errMsg)
				}
				var denied *AccessDeniedError
				if strings.Contains(tt.errMsg, "not authorized") && !errors.As(err, &denied) {
					t.Errorf("error %T, want *AccessDeniedError", err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if got := rowsText(res); !slices.Equal(got, tt.rows) {
				t.Errorf("rows = %q, want %q", got, tt.rows)
			}
		})
	}
}

func TestRegistered(t *testing.T) {
	id := &Identity{RegisteredLocations: []string{"arn:aws:s3:::lake/raw", "s3://other/x/"}}
	for _, tt := range []struct {
		bucket, prefix string
		want           bool
	}{
		{"lake", "raw/warehouse/users/", true},
		{"lake", "raw/", true},
		{"lake", "rawdata/users/", false}, // a registered prefix is a folder, not a string prefix
		{"lake", "data/warehouse/", false},
		{"other", "x/t/", true},
		{"another", "raw/t/", false},
	} {
		if got := id.registered(tt.bucket, tt.prefix); got != tt.want {
			t.Errorf("registered(%s, %s) = %v, want %v", tt.bucket, tt.prefix, got, tt.want)
		}
	}
}
