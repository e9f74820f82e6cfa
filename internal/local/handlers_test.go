package local

import (
	"go/ast"
	"go/parser"
	"go/token"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"testing"
)

// The Lambda handlers' types: only their run package's constructor builds one. The
// offline run and the demo must build each with it, from the deployed environment,
// so that what they prove is the handler as its main builds it.
var handlerTypes = map[string][]string{
	module + "/internal/export":          {"Handler"},
	module + "/internal/export/callback": {"AwaitHandler", "ResumeHandler"},
	module + "/internal/export/relocate": {"Handler"},
	module + "/internal/ingest/run":      {"Starter", "Finisher", "GrantsApplier"},
	module + "/internal/federate/run":    {"Handler"},
}

// constructors are the run packages' New<Fn>: the offline run names each of them.
var constructors = map[string][]string{
	module + "/internal/export/run":   {"NewStartExport", "NewAwaitCallback", "NewResume", "NewRelocate"},
	module + "/internal/ingest/run":   {"NewReconfigure", "NewFinishIngest", "NewApplyGrants"},
	module + "/internal/federate/run": {"NewPublish", "NewSubscribe"},
	module + "/internal/archive/run":  {"NewArchivePlan", "NewArchiveTable"},
}

// TestOnlyTheConstructorsBuildHandlers scans the stand-ins' source (internal/local)
// and the operator commands' (internal/opscli), tests excluded, for any mention of a handler type: a literal, a variable or a
// field of one means the handler is built some other way than its constructor.
func TestOnlyTheConstructorsBuildHandlers(t *testing.T) {
	files := append(sources(t, "."), sources(t, "../opscli")...)
	if len(files) < 30 {
		t.Fatalf("found %d source files under internal/local, too few to judge", len(files))
	}
	for _, f := range files {
		for _, m := range handlerMentions(t, f.name, f.src) {
			t.Errorf("%s builds or holds a Lambda handler without its constructor: %s", f.name, m)
		}
	}
}

// TestTheOfflineRunUsesEveryConstructor checks that the offline run builds each of
// the nine Lambdas with its constructor.
func TestTheOfflineRunUsesEveryConstructor(t *testing.T) {
	used := map[string]bool{}
	for _, f := range sources(t, "offline") {
		for _, r := range selectors(t, f.name, f.src) {
			used[r] = true
		}
	}
	for pkg, names := range constructors {
		for _, n := range names {
			if !used[pkg+"."+n] {
				t.Errorf("internal/local/offline never calls %s.%s: the offline run does not build that Lambda as its main does", pkg, n)
			}
		}
	}
}

// TestHandlerScanSeesAHandBuiltHandler is the control: the scan finds a handler built
// by hand, under an import alias too.
func TestHandlerScanSeesAHandBuiltHandler(t *testing.T) {
	src := `package x
import (
	exp "github.com/snaplake/snaplake/internal/export"
	ingestrun "github.com/snaplake/snaplake/internal/ingest/run"
)
var h = exp.Handler{}
func f() { _ = &ingestrun.Starter{Bucket: "b"}; _ = ingestrun.Local{} }
`
	got := handlerMentions(t, "control.go", src)
	want := []string{module + "/internal/export.Handler", module + "/internal/ingest/run.Starter"}
	if strings.Join(got, ",") != strings.Join(want, ",") {
		t.Fatalf("scan found %v, want %v", got, want)
	}
}

type source struct{ name, src string }

func sources(t *testing.T, dir string) []source {
	t.Helper()
	var out []source
	err := filepath.WalkDir(dir, func(path string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() || !strings.HasSuffix(path, ".go") || strings.HasSuffix(path, "_test.go") {
			return err
		}
		b, err := os.ReadFile(path)
		out = append(out, source{path, string(b)})
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// handlerMentions lists the handler types a file mentions, as package.Type.
func handlerMentions(t *testing.T, name, src string) []string {
	var out []string
	for _, r := range selectors(t, name, src) {
		i := strings.LastIndex(r, ".")
		for _, n := range handlerTypes[r[:i]] {
			if n == r[i+1:] {
				out = append(out, r)
			}
		}
	}
	sort.Strings(out)
	return out
}

// selectors lists every package-qualified identifier a file uses (import path, dot,
// name), whatever name the file imports the package under.
func selectors(t *testing.T, name, src string) []string {
	t.Helper()
	f, err := parser.ParseFile(token.NewFileSet(), name, src, parser.SkipObjectResolution)
	if err != nil {
		t.Fatal(err)
	}
	imports := map[string]string{}
	for _, im := range f.Imports {
		path, _ := strconv.Unquote(im.Path.Value)
		local := path[strings.LastIndex(path, "/")+1:]
		if im.Name != nil {
			local = im.Name.Name
		}
		imports[local] = path
	}
	var out []string
	ast.Inspect(f, func(n ast.Node) bool {
		if sel, ok := n.(*ast.SelectorExpr); ok {
			if id, ok := sel.X.(*ast.Ident); ok && imports[id.Name] != "" {
				out = append(out, imports[id.Name]+"."+sel.Sel.Name)
			}
		}
		return true
	})
	return out
}
