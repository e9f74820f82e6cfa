package opscli

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"github.com/snaplake/snaplake/internal/ingest"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/snaplake/snaplake/internal/ingest/grants"
	"github.com/snaplake/snaplake/internal/local/mariadb/mariadbtest"
)

const grantsConfig = `ingest:
  source:
    instance: shop-db
    database: Shop-EU
  access:
    - role: analytics
      tables: ["*"]
    - role: arn:aws:iam::123456789012:role/support
      tables: [orders, Order-Items, customers]
      columns:
        customers: [id, Name]
`

// listPermissions is what `aws lakeformation list-permissions` prints for an account
// where the crawler made the tables (IAM_ALLOWED_PRINCIPALS holds ALL, reported as
// the non-SELECT part on Table and SELECT on TableWithColumns), support was given
// orders and every column of customers by hand, and an admin holds ALL. LastUpdated
// comes in both of the AWS CLI's timestamp formats.
const listPermissions = `{
    "PrincipalResourcePermissions": [
        {
            "Principal": {"DataLakePrincipalIdentifier": "IAM_ALLOWED_PRINCIPALS"},
            "Resource": {"Database": {"CatalogId": "123456789012", "Name": "raw_shop_eu"}},
            "Permissions": ["ALL"],
            "PermissionsWithGrantOption": [],
            "LastUpdated": "2026-01-29T18:05:29.122000+13:00",
            "LastUpdatedBy": "arn:aws:iam::123456789012:role/lake-admin"
        },
        {
            "Principal": {"DataLakePrincipalIdentifier": "IAM_ALLOWED_PRINCIPALS"},
            "Resource": {"Table": {"CatalogId": "123456789012", "DatabaseName": "raw_shop_eu", "Name": "orders"}},
            "Permissions": ["ALL", "ALTER", "DELETE", "DESCRIBE", "DROP", "INSERT"],
            "PermissionsWithGrantOption": [],
            "LastUpdated": 1769663129.122
        },
        {
            "Principal": {"DataLakePrincipalIdentifier": "IAM_ALLOWED_PRINCIPALS"},
            "Resource": {"TableWithColumns": {"CatalogId": "123456789012", "DatabaseName": "raw_shop_eu", "Name": "orders", "ColumnWildcard": {}}},
            "Permissions": ["SELECT"],
            "PermissionsWithGrantOption": []
        },
        {
            "Principal": {"DataLakePrincipalIdentifier": "arn:aws:iam::123456789012:role/support"},
            "Resource": {"Database": {"CatalogId": "123456789012", "Name": "raw_shop_eu"}},
            "Permissions": ["DESCRIBE"],
            "PermissionsWithGrantOption": []
        },
        {
            "Principal": {"DataLakePrincipalIdentifier": "arn:aws:iam::123456789012:role/support"},
            "Resource": {"TableWithColumns": {"CatalogId": "123456789012", "DatabaseName": "raw_shop_eu", "Name": "orders", "ColumnWildcard": {}}},
            "Permissions": ["SELECT"],
            "PermissionsWithGrantOption": []
        },
        {
            "Principal": {"DataLakePrincipalIdentifier": "arn:aws:iam::123456789012:role/support"},
            "Resource": {"TableWithColumns": {"CatalogId": "123456789012", "DatabaseName": "raw_shop_eu", "Name": "customers", "ColumnWildcard": {}}},
            "Permissions": ["SELECT"],
            "PermissionsWithGrantOption": []
        },
        {
            "Principal": {"DataLakePrincipalIdentifier": "arn:aws:iam::123456789012:role/lake-admin"},
            "Resource": {"Database": {"CatalogId": "123456789012", "Name": "raw_shop_eu"}},
            "Permissions": ["ALL"],
            "PermissionsWithGrantOption": ["ALL"]
        },
        {
            "Principal": {"DataLakePrincipalIdentifier": "arn:aws:iam::123456789012:role/support"},
            "Resource": {"Table": {"CatalogId": "123456789012", "DatabaseName": "hr", "Name": "staff"}},
            "Permissions": ["SELECT"],
            "PermissionsWithGrantOption": []
        },
        {
            "Principal": {"DataLakePrincipalIdentifier": "arn:aws:iam::123456789012:role/snaplake-crawler"},
            "Resource": {"DataLocation": {"CatalogId": "123456789012", "ResourceArn": "arn:aws:s3:::lake"}},
            "Permissions": ["DATA_LOCATION_ACCESS"],
            "PermissionsWithGrantOption": []
        }
    ]
}
`

func writeFile(t *testing.T, dir, name, content string) string {
	t.Helper()
	p := filepath.Join(dir, name)
	if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

// TestGrantsPlan runs the command end to end: config and current grants from files,
// the plan on stdout.
func TestGrantsPlan(t *testing.T) {
	dir := t.TempDir()
	cfg := writeFile(t, dir, "snaplake.yaml", grantsConfig)
	current := writeFile(t, dir, "current.json", listPermissions)

	const (
		analytics = `"principal":"arn:aws:iam::123456789012:role/analytics","database":"raw_shop_eu"`
		support   = `"principal":"arn:aws:iam::123456789012:role/support","database":"raw_shop_eu"`
		// The same rules govern the current tables' database.
		analyticsCur = `"principal":"arn:aws:iam::123456789012:role/analytics","database":"raw_shop_eu_current"`
		supportCur   = `"principal":"arn:aws:iam::123456789012:role/support","database":"raw_shop_eu_current"`
	)
	allDesired := `{
  "add": [
    {` + analytics + `,"permissions":["DESCRIBE"]},
    {` + analytics + `,"table":"*","permissions":["SELECT"]},
    {` + analyticsCur + `,"permissions":["DESCRIBE"]},
    {` + analyticsCur + `,"table":"*","permissions":["SELECT"]},
    {` + support + `,"permissions":["DESCRIBE"]},
    {` + support + `,"table":"customers","columns":["id","name"],"permissions":["SELECT"]},
    {` + support + `,"table":"order_items","permissions":["SELECT"]},
    {` + support + `,"table":"orders","permissions":["SELECT"]},
    {` + supportCur + `,"permissions":["DESCRIBE"]},
    {` + supportCur + `,"table":"customers","columns":["id","name"],"permissions":["SELECT"]},
    {` + supportCur + `,"table":"order_items","permissions":["SELECT"]},
    {` + supportCur + `,"table":"orders","permissions":["SELECT"]}
  ],
  "revoke": []
}
`
	tests := []struct {
		name      string
		args      []string
		want      string
		stderrHas string
	}{
		{
			name:      "without --current every grant is to add",
			args:      []string{"plan", "--config", cfg, "--account", "123456789012"},
			want:      allDesired,
			stderrHas: "grants plan: database raw_shop_eu, 12 to add, 0 to revoke",
		},
		{
			name: "against list-permissions output",
			args: []string{"plan", "--config", cfg, "--current", current, "--account", "123456789012",
				"--keep", "arn:aws:iam::123456789012:role/lake-admin"},
			want: `{
  "add": [
    {` + analytics + `,"permissions":["DESCRIBE"]},
    {` + analytics + `,"table":"*","permissions":["SELECT"]},
    {` + analyticsCur + `,"permissions":["DESCRIBE"]},
    {` + analyticsCur + `,"table":"*","permissions":["SELECT"]},
    {` + support + `,"table":"customers","columns":["id","name"],"permissions":["SELECT"]},
    {` + support + `,"table":"order_items","permissions":["SELECT"]},
    {` + supportCur + `,"permissions":["DESCRIBE"]},
    {` + supportCur + `,"table":"customers","columns":["id","name"],"permissions":["SELECT"]},
    {` + supportCur + `,"table":"order_items","permissions":["SELECT"]},
    {` + supportCur + `,"table":"orders","permissions":["SELECT"]}
  ],
  "revoke": [
    {"principal":"IAM_ALLOWED_PRINCIPALS","database":"raw_shop_eu","permissions":["ALL"]},
    {"principal":"IAM_ALLOWED_PRINCIPALS","database":"raw_shop_eu","table":"orders","permissions":["ALL","ALTER","DELETE","DESCRIBE","DROP","INSERT","SELECT"]},
    {` + support + `,"table":"customers","permissions":["SELECT"]}
  ]
}
`,
			stderrHas: "10 to add, 3 to revoke",
		},
		{
			name: "another Glue database: nothing of raw_shop_eu is revoked",
			args: []string{"plan", "--config", cfg, "--current", current, "--account", "123456789012", "--database", "hr"},
			want: `{
  "add": [
    {"principal":"arn:aws:iam::123456789012:role/analytics","database":"hr","permissions":["DESCRIBE"]},
    {"principal":"arn:aws:iam::123456789012:role/analytics","database":"hr","table":"*","permissions":["SELECT"]},
    {"principal":"arn:aws:iam::123456789012:role/analytics","database":"hr_current","permissions":["DESCRIBE"]},
    {"principal":"arn:aws:iam::123456789012:role/analytics","database":"hr_current","table":"*","permissions":["SELECT"]},
    {"principal":"arn:aws:iam::123456789012:role/support","database":"hr","permissions":["DESCRIBE"]},
    {"principal":"arn:aws:iam::123456789012:role/support","database":"hr","table":"customers","columns":["id","name"],"permissions":["SELECT"]},
    {"principal":"arn:aws:iam::123456789012:role/support","database":"hr","table":"order_items","permissions":["SELECT"]},
    {"principal":"arn:aws:iam::123456789012:role/support","database":"hr","table":"orders","permissions":["SELECT"]},
    {"principal":"arn:aws:iam::123456789012:role/support","database":"hr_current","permissions":["DESCRIBE"]},
    {"principal":"arn:aws:iam::123456789012:role/support","database":"hr_current","table":"customers","columns":["id","name"],"permissions":["SELECT"]},
    {"principal":"arn:aws:iam::123456789012:role/support","database":"hr_current","table":"order_items","permissions":["SELECT"]},
    {"principal":"arn:aws:iam::123456789012:role/support","database":"hr_current","table":"orders","permissions":["SELECT"]}
  ],
  "revoke": [
    {"principal":"arn:aws:iam::123456789012:role/support","database":"hr","table":"staff","permissions":["SELECT"]}
  ]
}
`,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var stdout, stderr bytes.Buffer
			if err := Grants(context.Background(), tt.args, &stdout, &stderr); err != nil {
				t.Fatalf("Grants: %v (stderr %q)", err, stderr.String())
			}
			if stdout.String() != tt.want {
				t.Errorf("stdout\n%s\nwant\n%s", stdout.String(), tt.want)
			}
			if !json.Valid(stdout.Bytes()) {
				t.Error("stdout is not JSON")
			}
			if !strings.Contains(stderr.String(), tt.stderrHas) {
				t.Errorf("stderr %q, want it to contain %q", stderr.String(), tt.stderrHas)
			}
		})
	}

	// The plan's own output, applied, is the next --current: nothing left to do.
	t.Run("a list of grants as --current: applied, the plan is empty", func(t *testing.T) {
		var plan grants.Plan
		if err := json.Unmarshal([]byte(allDesired), &plan); err != nil {
			t.Fatal(err)
		}
		applied, err := json.Marshal(plan.Add)
		if err != nil {
			t.Fatal(err)
		}
		var stdout, stderr bytes.Buffer
		args := []string{"plan", "--config", cfg, "--account", "123456789012", "--current", writeFile(t, dir, "applied.json", string(applied))}
		if err := Grants(context.Background(), args, &stdout, &stderr); err != nil {
			t.Fatalf("Grants: %v (stderr %q)", err, stderr.String())
		}
		if want := "{\n  \"add\": [],\n  \"revoke\": []\n}\n"; stdout.String() != want {
			t.Errorf("stdout %q, want %q", stdout.String(), want)
		}
	})
}

// TestGrantsPlanSnapshotTables: the plan covers the snapshot databases the rules
// govern as the grants function does (one engine): the snapshot table and its
// _latest (without snapshot_date), and every other grant there revoked.
func TestGrantsPlanSnapshotTables(t *testing.T) {
	dir := t.TempDir()
	cfg := writeFile(t, dir, "snaplake.yaml", `ingest:
  source:
    instance: shop-db
    database: shop
  access:
    - role: arn:aws:iam::123456789012:role/support
      tables: ["snapshots:shop.customers"]
      columns:
        "snapshots:shop.customers": [id, snapshot_date]
`)
	current := writeFile(t, dir, "current.json", `[{"principal":"IAM_ALLOWED_PRINCIPALS","database":"p_shop","permissions":["ALL"]}]`)
	support := `"principal":"arn:aws:iam::123456789012:role/support"`
	want := `{
  "add": [
    {` + support + `,"database":"p_shop","permissions":["DESCRIBE"]},
    {` + support + `,"database":"p_shop","table":"customers","columns":["id","snapshot_date"],"permissions":["SELECT"]},
    {` + support + `,"database":"p_shop_latest","permissions":["DESCRIBE"]},
    {` + support + `,"database":"p_shop_latest","table":"customers","columns":["id"],"permissions":["SELECT"]}
  ],
  "revoke": [
    {"principal":"IAM_ALLOWED_PRINCIPALS","database":"p_shop","permissions":["ALL"]}
  ]
}
`
	var stdout, stderr bytes.Buffer
	args := []string{"plan", "--config", cfg, "--current", current, "--snapshot-databases", "p_shop", "--glue-database-prefix", "p_"}
	if err := Grants(context.Background(), args, &stdout, &stderr); err != nil {
		t.Fatalf("Grants: %v (stderr %q)", err, stderr.String())
	}
	if stdout.String() != want {
		t.Errorf("stdout\n%s\nwant\n%s", stdout.String(), want)
	}
	// Without the snapshot databases the rule cannot be placed: refused, naming it.
	stdout.Reset()
	err := Grants(context.Background(), []string{"plan", "--config", cfg}, &stdout, &stderr)
	if err == nil || !strings.Contains(err.Error(), "snapshots:shop.customers") || !strings.Contains(err.Error(), "governs no nightly snapshot databases") {
		t.Errorf("err = %v", err)
	}
}

func TestGrantsPlanErrors(t *testing.T) {
	dir := t.TempDir()
	cfg := writeFile(t, dir, "snaplake.yaml", grantsConfig)
	arnsOnly := writeFile(t, dir, "arns.yaml", strings.Replace(grantsConfig, "role: analytics", "role: arn:aws:iam::123456789012:role/analytics", 1))
	noIngest := writeFile(t, dir, "empty.yaml", "# nothing configured yet\n")
	badLine := writeFile(t, dir, "bad.yaml", strings.Replace(grantsConfig, "tables: [\"*\"]", "tabels: [\"*\"]", 1))
	plan := func(args ...string) []string { return append([]string{"plan"}, args...) }
	tests := []struct {
		name      string
		args      []string
		wantUsage bool
		errHas    string // in the error, or in stderr for a usage error
	}{
		{name: "no subcommand", args: nil, wantUsage: true, errHas: "Usage: snaplake grants plan"},
		{name: "unknown subcommand", args: []string{"apply"}, wantUsage: true, errHas: `unknown subcommand "apply"`},
		{name: "no config", args: plan(), wantUsage: true, errHas: "missing --config"},
		{name: "argument", args: plan("--config", cfg, "now"), wantUsage: true, errHas: `unexpected argument "now"`},
		{name: "bad account", args: plan("--config", cfg, "--account", "12345"), wantUsage: true, errHas: `--account "12345" is not a 12-digit`},
		{name: "role name without account", args: plan("--config", cfg), wantUsage: true, errHas: `role "analytics" is a name: give --account`},
		{name: "config error names the line", args: plan("--config", badLine, "--account", "123456789012"), errHas: "bad.yaml:7:"},
		{name: "no ingest section", args: plan("--config", noIngest), errHas: "no ingest section"},
		{name: "missing current", args: plan("--config", arnsOnly, "--current", filepath.Join(dir, "none.json")), errHas: "read the current grants"},
		{name: "current neither format", args: plan("--config", arnsOnly, "--current", writeFile(t, dir, "plan.json", `{"add":[],"revoke":[]}`)),
			errHas: "no PrincipalResourcePermissions"},
		{name: "current list with unknown fields", args: plan("--config", arnsOnly, "--current", writeFile(t, dir, "odd.json", `[{"role":"x"}]`)),
			errHas: "not a list of grants"},
		{name: "current grant incomplete", args: plan("--config", arnsOnly, "--current", writeFile(t, dir, "part.json", `[{"principal":"x","database":"d"}]`)),
			errHas: "grant 0: principal, database and permissions are required"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var stdout, stderr bytes.Buffer
			err := Grants(context.Background(), tt.args, &stdout, &stderr)
			if got := errors.Is(err, ErrUsage); got != tt.wantUsage {
				t.Fatalf("err = %v, want usage error %v (stderr %q)", err, tt.wantUsage, stderr.String())
			}
			if err == nil {
				t.Fatal("no error")
			}
			msg := err.Error()
			if tt.wantUsage {
				msg = stderr.String()
			}
			if !strings.Contains(msg, tt.errHas) {
				t.Errorf("%q, want it to contain %q", msg, tt.errHas)
			}
			if stdout.Len() > 0 {
				t.Errorf("stdout %q on an error", stdout.String())
			}
		})
	}

	var stdout, stderr bytes.Buffer
	if err := Grants(context.Background(), []string{"plan", "-h"}, &stdout, &stderr); err != nil || !strings.Contains(stderr.String(), "Usage: snaplake grants plan") {
		t.Errorf("plan -h: %v, stderr %q", err, stderr.String())
	}
}

// With the source's tables, a table whose normalized name collides with another's is
// granted under the suffixed lake name the planner gives it, never under the other
// table's name.
func TestGrantsPlanNamesTablesAsTheLake(t *testing.T) {
	srv := mariadbtest.Start(t)
	db, err := srv.DB("")
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	for _, q := range []string{
		"CREATE DATABASE shop",
		"CREATE TABLE shop.customer_address (id BIGINT PRIMARY KEY)",
		"CREATE TABLE shop.`customer-address` (id BIGINT PRIMARY KEY)",
	} {
		if _, err := db.Exec(q); err != nil {
			t.Fatalf("%s: %v", q, err)
		}
	}
	cfg := writeFile(t, t.TempDir(), "snaplake.yaml", `ingest:
  source: {instance: shop-db, database: shop}
  access:
    - role: arn:aws:iam::123456789012:role/support
      tables: [customer-address]
`)
	var stdout, stderr bytes.Buffer
	if err := Grants(context.Background(), []string{"plan", "--config", cfg, "--mysql-dsn", srv.DSN("")}, &stdout, &stderr); err != nil {
		t.Fatalf("grants plan: %v\n%s", err, stderr.String())
	}
	names, err := ingest.LakeNames([]string{"customer_address", "customer-address"}, nil)
	if err != nil {
		t.Fatal(err)
	}
	want := names["customer-address"]
	if want == "customer_address" || !strings.Contains(stdout.String(), `"table":"`+want+`"`) {
		t.Errorf("the grant for customer-address is not on its lake table %q:\n%s", want, stdout.String())
	}
	if strings.Contains(stdout.String(), `"table":"customer_address"`) {
		t.Errorf("the grant for customer-address landed on the other table customer_address:\n%s", stdout.String())
	}
}
