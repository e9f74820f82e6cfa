package localcli

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"testing"
)

// TestQueryAsPublishedAnalystPolicyReadsIngestedTables: issue 12 item 2 end to end.
// A role named in the access rules, with nothing but the analyst policy the stack
// publishes (the contract's, no --policy), reads an ingested table it was granted:
// the policy carries raw_<db>'s Data Catalog entries and lakeformation:GetDataAccess
// (infra/analyst.go). Before, the same query was refused for glue:GetDatabase.
func TestQueryAsPublishedAnalystPolicyReadsIngestedTables(t *testing.T) {
	home := queryTestHome(t)
	cfg := filepath.Join(t.TempDir(), "snaplake.yaml")
	if err := os.WriteFile(cfg, []byte(accessConfig), 0o644); err != nil {
		t.Fatal(err)
	}
	var stdout, stderr bytes.Buffer
	err := Query(context.Background(), []string{"--home", home, "--format", "csv", "--as", "analytics", "--config", cfg, latestCount}, &stdout, &stderr)
	if err != nil {
		t.Fatalf("the published analyst policy cannot query the ingested table: %v\n%s", err, stderr.String())
	}
	if got := stdout.String(); got != "n\n3\n" {
		t.Errorf("stdout = %q, want %q", got, "n\n3\n")
	}
}
