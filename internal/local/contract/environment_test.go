package contract

import (
	"go/ast"
	"go/parser"
	"go/token"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"testing"
)

const module = "github.com/snaplake/snaplake"

// TestEveryEnvironmentVariableIsRead: each variable the stack sets on a function
// must be named (a deploy.Env* constant) by the code that function links: a variable
// set and never read promises a setting that does nothing (LOG_LEVEL, INGEST_JOB and
// METRICS_NAMESPACE once were).
func TestEveryEnvironmentVariableIsRead(t *testing.T) {
	root, err := filepath.Abs("../../..")
	if err != nil {
		t.Fatal(err)
	}
	envNames := deployEnvConstants(t, filepath.Join(root, "internal", "deploy"))
	c := MustLoad()
	fns := c.Functions // every function, the ingestion's and the Federator's too
	if len(fns) == 0 {
		t.Fatal("the contract deploys no function")
	}
	for name, f := range fns {
		read := map[string]bool{}
		for _, ident := range deployIdentsLinkedBy(t, root, module+"/functions/"+name) {
			if v, ok := envNames[ident]; ok {
				read[v] = true
			}
		}
		var unread []string
		for k := range f.Environment {
			if !read[k] {
				unread = append(unread, k)
			}
		}
		sort.Strings(unread)
		if len(unread) > 0 {
			t.Errorf("function %s: the stack sets %v, which no package it links names (as a deploy.Env* constant)", name, unread)
		}
	}
}

// deployEnvConstants maps each deploy.Env* constant's name to its value.
func deployEnvConstants(t *testing.T, dir string) map[string]string {
	t.Helper()
	out := map[string]string{}
	for _, f := range parseDir(t, dir) {
		for _, d := range f.Decls {
			g, ok := d.(*ast.GenDecl)
			if !ok || g.Tok != token.CONST {
				continue
			}
			for _, s := range g.Specs {
				vs := s.(*ast.ValueSpec)
				for i, n := range vs.Names {
					if !strings.HasPrefix(n.Name, "Env") || i >= len(vs.Values) {
						continue
					}
					if lit, ok := vs.Values[i].(*ast.BasicLit); ok && lit.Kind == token.STRING {
						v, _ := strconv.Unquote(lit.Value)
						out[n.Name] = v
					}
				}
			}
		}
	}
	if len(out) == 0 {
		t.Fatal("no deploy.Env* constants found")
	}
	return out
}

// deployIdentsLinkedBy returns every deploy.X the module's packages that pkg
// links (itself included) refer to.
func deployIdentsLinkedBy(t *testing.T, root, pkg string) []string {
	t.Helper()
	seen := map[string]bool{}
	var idents []string
	var visit func(string)
	visit = func(p string) {
		if seen[p] {
			return
		}
		seen[p] = true
		for _, f := range parseDir(t, filepath.Join(root, strings.TrimPrefix(p, module))) {
			local := "" // the name deploy is imported as
			for _, imp := range f.Imports {
				path, _ := strconv.Unquote(imp.Path.Value)
				if !strings.HasPrefix(path, module+"/") {
					continue
				}
				visit(path)
				if path == module+"/internal/deploy" {
					local = "deploy"
					if imp.Name != nil {
						local = imp.Name.Name
					}
				}
			}
			if local == "" {
				continue
			}
			ast.Inspect(f, func(n ast.Node) bool {
				if sel, ok := n.(*ast.SelectorExpr); ok {
					if x, ok := sel.X.(*ast.Ident); ok && x.Name == local {
						idents = append(idents, sel.Sel.Name)
					}
				}
				return true
			})
		}
	}
	visit(pkg)
	if len(seen) < 2 {
		t.Fatalf("%s links no package of the module", pkg)
	}
	return idents
}

// parseDir parses the non-test Go files of a package.
func parseDir(t *testing.T, dir string) []*ast.File {
	t.Helper()
	entries, err := os.ReadDir(dir)
	if err != nil {
		t.Fatalf("read package %s: %v", dir, err)
	}
	var files []*ast.File
	for _, e := range entries {
		if !strings.HasSuffix(e.Name(), ".go") || strings.HasSuffix(e.Name(), "_test.go") {
			continue
		}
		f, err := parser.ParseFile(token.NewFileSet(), filepath.Join(dir, e.Name()), nil, parser.SkipObjectResolution)
		if err != nil {
			t.Fatal(err)
		}
		files = append(files, f)
	}
	return files
}
