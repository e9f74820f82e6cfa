package grants

import (
	"bytes"
	"encoding/json"
	"flag"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/snaplake/snaplake/internal/config"
	"github.com/snaplake/snaplake/internal/deploy"
	"github.com/snaplake/snaplake/internal/ingest"
)

var update = flag.Bool("update", false, "rewrite testdata/*.golden.json from the code")

// TestPlanGolden plans a config change: the account holds what testdata/before.yaml
// granted plus what testdata/found.json lists (the defaults of a new database, an
// admin's grants, a grant made by hand, another database's grants), and
// testdata/after.yaml is the new config. The plan is testdata/plan.golden.json;
// rewrite it with `go test ./internal/ingest/grants -run Golden -update` and review the diff.
func TestPlanGolden(t *testing.T) {
	const account = "123456789012"
	desired := func(file string) []Grant {
		t.Helper()
		in, err := config.LoadSection[ingest.Config](filepath.Join("testdata", file), deploy.SectionIngest)
		if err != nil {
			t.Fatal(err)
		}
		g, err := Desired(strings.ToLower(in.Source.Database), in.Access, strings.ToLower, RoleARN("aws", account))
		if err != nil {
			t.Fatal(err)
		}
		return g
	}
	data, err := os.ReadFile(filepath.Join("testdata", "found.json"))
	if err != nil {
		t.Fatal(err)
	}
	var found []Grant
	if err := json.Unmarshal(data, &found); err != nil {
		t.Fatal(err)
	}

	current := append(desired("before.yaml"), found...)
	add, revoke := Diff(desired("after.yaml"), current, Scope{
		Databases: []string{"shop"},
		Keep:      []string{"arn:aws:iam::" + account + ":role/lake-admin"},
	})
	got, err := Plan{Add: add, Revoke: revoke}.JSON()
	if err != nil {
		t.Fatal(err)
	}

	golden := filepath.Join("testdata", "plan.golden.json")
	if *update {
		if err := os.WriteFile(golden, got, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(golden)
	if err != nil {
		t.Fatalf("%v (create it with -update)", err)
	}
	if !bytes.Equal(got, want) {
		t.Errorf("plan differs from %s (rerun with -update and review the diff):\n%s", golden, got)
	}
}
