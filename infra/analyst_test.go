package main

import (
	"fmt"
	"sort"
	"testing"
)

// analystGrants lists "action on resource" for every statement of the analyst policy.
func analystGrants(t *testing.T, s *synthesized) []string {
	t.Helper()
	var out []string
	policies := s.resources("AWS::IAM::ManagedPolicy")
	if len(policies) != 1 {
		t.Fatalf("%d managed policies, want the analyst policy only", len(policies))
	}
	for _, r := range policies {
		for _, st := range props(r)["PolicyDocument"].(map[string]any)["Statement"].([]any) {
			stmt := st.(map[string]any)
			if stmt["Effect"] != "Allow" || stmt["Condition"] != nil && stmt["Action"] != "s3:ListBucket" {
				t.Errorf("analyst statement %v: want an unconditional Allow", stmt)
			}
			for _, a := range asList(stmt["Action"]) {
				for _, res := range asList(stmt["Resource"]) {
					out = append(out, fmt.Sprintf("%s on %s", a, render(res)))
				}
			}
		}
	}
	sort.Strings(out)
	return out
}

// TestAnalystPolicyQueriesIngestedData pins the published analyst policy with and
// without the ingestion. With it, analysts named in the config's access rules read
// raw_<db>'s and raw_<db>_current's catalog (IAM and Lake Formation must both allow a request) and call
// lakeformation:GetDataAccess, which Athena needs for data registered with Lake
// Formation and which has no resource type ("*"). They get no S3 or KMS access to
// raw/: Lake Formation vends credentials of the registration role for it.
func TestAnalystPolicyQueriesIngestedData(t *testing.T) {
	glueRead := "glue:GetDatabase,glue:GetDatabases,glue:GetTable,glue:GetTables,glue:GetPartition,glue:GetPartitions,glue:BatchGetPartition"
	athena := "athena:StartQueryExecution,athena:GetQueryExecution,athena:GetQueryResults,athena:StopQueryExecution,athena:GetWorkGroup,athena:ListQueryExecutions,athena:BatchGetQueryExecution"
	base := []string{
		athena + " on " + arnOf("athena", "workgroup/${WorkGroup}"),
		"s3:GetObject,s3:PutObject,s3:AbortMultipartUpload,s3:ListMultipartUploadParts on ${Lake.Arn}/athena-results/*",
		"s3:GetBucketLocation on ${Lake.Arn}",
		"kms:Decrypt,kms:GenerateDataKey on ${Key.Arn}",
	}
	snapshots := glueRead + " on " + arnOf("glue", "catalog") + " " + arnOf("glue", "database/shop") + " " + arnOf("glue", "table/shop/*") +
		" " + arnOf("glue", "database/shop_latest") + " " + arnOf("glue", "table/shop_latest/*")
	for name, want := range map[string][]string{
		// IAM governs the snapshots: the analyst reads data/ directly.
		"none": grantSet(append(base, snapshots, "s3:GetObject on ${Lake.Arn}/data/*")...),
		// The access rules govern them through Lake Formation: no S3 access to data/
		// (it would bypass the column grants), GetDataAccess instead.
		"utc": grantSet(append(base,
			snapshots+" "+arnOf("glue", "database/raw_warehouse")+" "+arnOf("glue", "table/raw_warehouse/*")+
				" "+arnOf("glue", "database/raw_warehouse_current")+" "+arnOf("glue", "table/raw_warehouse_current/*"),
			"lakeformation:GetDataAccess on *")...),
	} {
		got := analystGrants(t, ingestStackFor(t, name))
		// s3:ListBucket is granted with an s3:prefix condition (listUnder): checked apart.
		var unconditional []string
		for _, g := range got {
			if g != "s3:ListBucket on ${Lake.Arn}" {
				unconditional = append(unconditional, g)
			}
		}
		missing, extra := diffSets(unconditional, want)
		for _, m := range missing {
			t.Errorf("%s: the analyst policy lacks %s", name, m)
		}
		for _, e := range extra {
			t.Errorf("%s: the analyst policy also grants %s", name, e)
		}
	}
}
