// Package local holds the offline stand-ins; this test keeps them out of production.
package local

import (
	"os/exec"
	"slices"
	"strings"
	"testing"
)

const module = "github.com/snaplake/snaplake"

// production is everything that is deployed or run against the deployment: the
// Lambdas, the CDK app and the CLI's operator commands.
var production = []string{module + "/functions/...", module + "/infra", module + "/internal/opscli/..."}

// TestProductionNeverImportsTheStandIns checks the dependency graph of production.
func TestProductionNeverImportsTheStandIns(t *testing.T) {
	for _, d := range standIns(t, production...) {
		t.Errorf("production code imports %s", d)
	}
}

// TestBoundaryScanSeesTheDemoInTheCLI is the control: the CLI binary carries the demo
// (snaplake demo and query are offline commands), so the same scan must find it there.
func TestBoundaryScanSeesTheDemoInTheCLI(t *testing.T) {
	if found := standIns(t, module+"/cmd/snaplake"); !slices.Contains(found, module+"/internal/local/demo") {
		t.Errorf("the scan found %v in cmd/snaplake's dependencies, want internal/local/demo among them", found)
	}
}

// standIns lists the offline environment's packages (internal/local, gofakes3, duckdb)
// among the dependencies of pkgs.
func standIns(t *testing.T, pkgs ...string) []string {
	t.Helper()
	out, err := exec.Command("go", append([]string{"list", "-deps"}, pkgs...)...).CombinedOutput()
	if err != nil {
		t.Fatalf("go list: %v\n%s", err, out)
	}
	deps := strings.Fields(string(out))
	if len(deps) < 20 {
		t.Fatalf("go list printed too little to judge: %q", out)
	}
	var found []string
	for _, d := range deps {
		if strings.HasPrefix(d, module+"/internal/local") || strings.Contains(d, "gofakes3") || strings.Contains(d, "duckdb") {
			found = append(found, d)
		}
	}
	return found
}
