package main

import (
	"go/parser"
	"go/token"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
)

// allowedImports are the packages of this module the CDK app may import: the names
// (internal/deploy) and the embedded artefacts it deploys (state machines, event
// patterns, the Glue job script). internal/ingest is there only for the cron
// expression of the default ingest sets (ingest.DefaultSets, Set.ScheduleExpression),
// which is the ingestion's schedule logic, not a name; it can go once that logic has
// a leaf package of its own.
var allowedImports = []string{
	"github.com/snaplake/snaplake/internal/deploy",
	"github.com/snaplake/snaplake/statemachines",
	"github.com/snaplake/snaplake/events",
	"github.com/snaplake/snaplake/internal/ingest/job",
	"github.com/snaplake/snaplake/internal/ingest",
}

// TestInfraImportsNamesNotLogic keeps the CDK app off the capabilities' code: what it
// needs from them is names, and those live in internal/deploy.
func TestInfraImportsNamesNotLogic(t *testing.T) {
	files, err := filepath.Glob("*.go")
	if err != nil {
		t.Fatal(err)
	}
	fset := token.NewFileSet()
	for _, f := range files {
		if strings.HasSuffix(f, "_test.go") {
			continue
		}
		parsed, err := parser.ParseFile(fset, f, nil, parser.ImportsOnly)
		if err != nil {
			t.Fatal(err)
		}
		for _, imp := range parsed.Imports {
			path, _ := strconv.Unquote(imp.Path.Value)
			if strings.HasPrefix(path, "github.com/snaplake/snaplake/") && !slices.Contains(allowedImports, path) {
				t.Errorf("%s imports %s: the CDK app takes names from internal/deploy", f, path)
			}
		}
	}
}
