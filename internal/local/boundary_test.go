// Package local holds the offline stand-ins; this test keeps them out of production.
package local

import (
	"os/exec"
	"strings"
	"testing"
)

// TestProductionNeverImportsTheStandIns checks the dependency graph of everything
// that is deployed: the Lambdas and the CDK app.
func TestProductionNeverImportsTheStandIns(t *testing.T) {
	out, err := exec.Command("go", "list", "-deps", "github.com/snaplake/snaplake/functions/...", "github.com/snaplake/snaplake/infra").CombinedOutput()
	if err != nil {
		t.Fatalf("go list: %v\n%s", err, out)
	}
	deps := strings.Fields(string(out))
	if len(deps) < 20 {
		t.Fatalf("go list printed too little to judge: %q", out)
	}
	for _, d := range deps {
		if strings.HasPrefix(d, "github.com/snaplake/snaplake/internal/local") {
			t.Errorf("production code imports %s", d)
		}
		if strings.Contains(d, "gofakes3") || strings.Contains(d, "duckdb") {
			t.Errorf("production code imports %s", d)
		}
	}
}
