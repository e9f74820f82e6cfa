package localcli

import (
	"bytes"
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/snaplake/snaplake/internal/local/contract"
)

// analystPolicy is the analyst policy of the synthesized template (the offline
// contract's), as a document to edit.
func analystPolicy(t *testing.T) map[string]any {
	t.Helper()
	c := contract.MustLoad()
	if c.AnalystPolicy == nil {
		t.Fatal("the offline contract has no analyst policy")
	}
	var doc map[string]any
	if err := json.Unmarshal(c.AnalystPolicy.Policy, &doc); err != nil {
		t.Fatal(err)
	}
	return doc
}

func list(v any) []any {
	switch x := v.(type) {
	case []any:
		return x
	case nil:
		return nil
	default:
		return []any{x}
	}
}

// edit rewrites every Allow statement of doc: keepAction and keepResource decide
// which of its actions and resources stay; a statement left with none goes.
func edit(doc map[string]any, keepAction, keepResource func(string) bool) map[string]any {
	var out []any
	for _, st := range list(doc["Statement"]) {
		s := st.(map[string]any)
		if s["Effect"] != "Allow" || s["Action"] == nil || s["Resource"] == nil {
			out = append(out, s)
			continue
		}
		var actions, resources []any
		for _, a := range list(s["Action"]) {
			if keepAction(a.(string)) {
				actions = append(actions, a)
			}
		}
		for _, r := range list(s["Resource"]) {
			if keepResource(r.(string)) {
				resources = append(resources, r)
			}
		}
		if len(actions) == 0 || len(resources) == 0 {
			continue
		}
		c := map[string]any{}
		for k, v := range s {
			c[k] = v
		}
		c["Action"], c["Resource"] = actions, resources
		out = append(out, c)
	}
	return map[string]any{"Version": doc["Version"], "Statement": out}
}

// withoutRaw is doc less any access to the ingested database (raw_<db>) and less
// lakeformation:GetDataAccess: the analyst policy as the template had it when issue
// 12 was filed (item 2).
func withoutRaw(doc map[string]any) map[string]any {
	raw := contract.MustLoad().Ingest.Database
	return edit(doc,
		func(a string) bool {
			return !strings.EqualFold(a, "lakeformation:GetDataAccess") && !strings.EqualFold(a, "lakeformation:*")
		},
		func(r string) bool {
			return !strings.Contains(r, ":database/"+raw) && !strings.Contains(r, ":table/"+raw+"/")
		})
}

// rawCatalog is the statement that lets analysts read the Data Catalog entries of the
// ingested database; getDataAccess lets Lake Formation vend them credentials.
func rawCatalog() map[string]any {
	c := contract.MustLoad()
	arn := "arn:aws:glue:" + c.Region + ":" + c.Account + ":"
	return map[string]any{"Effect": "Allow", "Action": []any{"glue:GetDatabase", "glue:GetTable", "glue:GetPartitions"},
		"Resource": []any{arn + "database/" + c.Ingest.Database, arn + "table/" + c.Ingest.Database + "/*"}}
}

var getDataAccess = map[string]any{"Effect": "Allow", "Action": "lakeformation:GetDataAccess", "Resource": "*"}

func with(doc map[string]any, statements ...map[string]any) map[string]any {
	out := map[string]any{"Version": doc["Version"], "Statement": slices.Clone(list(doc["Statement"]))}
	for _, s := range statements {
		out["Statement"] = append(out["Statement"].([]any), s)
	}
	return out
}

// withRaw is the analyst policy as issue 12 (item 2) has the stack publish it: the
// Data Catalog entries of raw_<db> and lakeformation:GetDataAccess.
func withRaw(doc map[string]any) map[string]any {
	return with(withoutRaw(doc), rawCatalog(), getDataAccess)
}

func writePolicy(t *testing.T, doc map[string]any) string {
	t.Helper()
	b, err := json.Marshal(doc)
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(t.TempDir(), "policy.json")
	if err := os.WriteFile(path, b, 0o644); err != nil {
		t.Fatal(err)
	}
	return path
}

// TestQueryAsAnalystPolicy is the positive control of issue 12's "query --as evaluates
// the role's IAM policy": a role named in the access rules queries as that role with
// the analyst policy attached. An ingested table (raw_<db>, under the location
// registered with Lake Formation) is refused while the policy lacks the Data Catalog
// access to raw_<db> or lakeformation:GetDataAccess, as the published policy did, and
// read once the policy has both. A nightly snapshot table (data/, IAM alone) is read
// with the caller's own s3:GetObject.
func TestQueryAsAnalystPolicy(t *testing.T) {
	home := queryTestHome(t)
	c := contract.MustLoad()
	cfg := filepath.Join(t.TempDir(), "snaplake.yaml")
	if err := os.WriteFile(cfg, []byte(accessConfig), 0o644); err != nil {
		t.Fatal(err)
	}
	deployed := analystPolicy(t)
	today := withoutRaw(deployed)
	caller := "arn:aws:sts::" + c.Account + ":assumed-role/analytics/snaplake-query"
	glueArn := "arn:aws:glue:" + c.Region + ":" + c.Account + ":"
	const nightly = `SELECT count(*) AS n FROM warehouse.file_downloads
  WHERE snapshot_date = (SELECT max(snapshot_date) FROM "warehouse"."file_downloads$partitions")`
	tests := []struct {
		name   string
		policy map[string]any // nil: the published one, without --policy
		sql    string
		stdout string
		errIs  string
		// noDataObjects: the policy must allow no s3:GetObject under data/.
		noDataObjects bool
	}{
		{name: "ingested table, without Data Catalog access to raw_<db>", policy: today, sql: latestCount,
			errIs: "Insufficient permissions to execute the query. User: " + caller + " is not authorized to perform: glue:GetDatabase" +
				" on resource: " + glueArn + "database/" + c.Ingest.Database + " because no identity-based policy allows the glue:GetDatabase action" +
				" (Service: AmazonDataCatalog; Status Code: 400; Error Code: AccessDeniedException; Request ID: offline; Proxy: null)"},
		{name: "ingested table, with Data Catalog access but without GetDataAccess", policy: with(today, rawCatalog()), sql: latestCount,
			errIs: "Insufficient permissions to execute the query. User: " + caller + " is not authorized to perform: lakeformation:GetDataAccess" +
				" because no identity-based policy allows the lakeformation:GetDataAccess action" +
				" (Service: AWSLakeFormation; Status Code: 400; Error Code: AccessDeniedException; Request ID: offline; Proxy: null)"},
		{name: "ingested table, with both", policy: withRaw(deployed), sql: latestCount, stdout: "n\n3\n"},
		// data/ is registered with Lake Formation too (issue 15): the published policy
		// reads it through Lake Formation, with no S3 access of the caller's own.
		{name: "nightly snapshot table, through Lake Formation", policy: deployed, sql: nightly, stdout: "n\n3\n"},
		{name: "nightly snapshot table, without GetDataAccess", sql: nightly,
			policy: edit(deployed, func(a string) bool { return a != "lakeformation:GetDataAccess" }, func(string) bool { return true }),
			errIs: "Insufficient permissions to execute the query. User: " + caller + " is not authorized to perform: lakeformation:GetDataAccess" +
				" because no identity-based policy allows the lakeformation:GetDataAccess action" +
				" (Service: AWSLakeFormation; Status Code: 400; Error Code: AccessDeniedException; Request ID: offline; Proxy: null)"},
		{name: "the published policy reads no file of data/ itself", sql: "SELECT 1",
			policy: deployed, stdout: "1\n1\n", noDataObjects: true},
	}
	run := func(args ...string) (string, error) {
		var stdout, stderr bytes.Buffer
		err := Query(context.Background(), append([]string{"--home", home, "--format", "csv", "--as", "analytics", "--config", cfg}, args...), &stdout, &stderr)
		return stdout.String(), err
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if tt.noDataObjects {
				for _, st := range list(tt.policy["Statement"]) {
					s := st.(map[string]any)
					for _, a := range list(s["Action"]) {
						for _, r := range list(s["Resource"]) {
							if strings.HasPrefix(a.(string), "s3:") && strings.Contains(r.(string), ":::"+c.Bucket+"/data") {
								t.Errorf("the analyst policy grants %s on %s: it would bypass Lake Formation's column grants", a, r)
							}
						}
					}
				}
			}
			stdout, err := run("--policy", writePolicy(t, tt.policy), tt.sql)
			switch {
			case tt.errIs != "":
				if err == nil || err.Error() != tt.errIs {
					t.Fatalf("error = %v (stdout %q)\nwant    %s", err, stdout, tt.errIs)
				}
			case err != nil:
				t.Fatal(err)
			}
			if stdout != tt.stdout {
				t.Errorf("stdout = %q, want %q", stdout, tt.stdout)
			}
		})
	}
	// Without --policy the role has the published policy: the same answers as with the
	// contract's document given explicitly, whatever that policy grants today.
	for _, sql := range []string{latestCount, nightly} {
		wantOut, wantErr := run("--policy", writePolicy(t, deployed), sql)
		gotOut, gotErr := run(sql)
		if gotOut != wantOut || errText(gotErr) != errText(wantErr) {
			t.Errorf("%s: without --policy: %q, %v; with the published policy: %q, %v", sql, gotOut, gotErr, wantOut, wantErr)
		}
	}
}

func errText(err error) string {
	if err == nil {
		return ""
	}
	return err.Error()
}
