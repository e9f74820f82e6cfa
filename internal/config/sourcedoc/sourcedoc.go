// Package sourcedoc reads the doc comments of the module's struct types and fields
// from their Go source, as config.Docs for the schema generator. Only tests use it
// (they run inside the module): the CLI and the Lambdas carry the generated schema,
// not the parser.
package sourcedoc

import (
	"bytes"
	"go/ast"
	"go/parser"
	"go/token"
	"os"
	"path/filepath"
	"reflect"
	"strings"
)

// Reader reads and caches the docs of one package at a time.
type Reader struct {
	root string               // the module's directory
	pkgs map[string]*typeDocs // by package path
}

// New reads docs from the module that holds the current directory (a test runs in its
// package's directory).
func New() *Reader { return &Reader{root: moduleRoot(), pkgs: map[string]*typeDocs{}} }

// Docs is the doc comment of the struct type t (field "") or of its field called field,
// on one line; "" when it has none or t is not declared in the module.
func (r *Reader) Docs(t reflect.Type, field string) string {
	if t.Name() == "" {
		return ""
	}
	d := r.pkg(t.PkgPath())
	if field == "" {
		return d.types[t.Name()]
	}
	return d.fields[t.Name()+"."+field]
}

// typeDocs are the doc comments of a package's struct types and their fields.
type typeDocs struct {
	types  map[string]string // type name -> doc
	fields map[string]string // type.Field -> doc
}

// pkg reads the doc comments of the module's package pkgPath from its source.
func (r *Reader) pkg(pkgPath string) *typeDocs {
	if d := r.pkgs[pkgPath]; d != nil {
		return d
	}
	d := &typeDocs{types: map[string]string{}, fields: map[string]string{}}
	r.pkgs[pkgPath] = d
	rel, ok := strings.CutPrefix(pkgPath, modulePath+"/")
	if !ok || r.root == "" {
		return d
	}
	dir := filepath.Join(r.root, filepath.FromSlash(rel))
	entries, _ := os.ReadDir(dir)
	fset := token.NewFileSet()
	for _, e := range entries {
		if !strings.HasSuffix(e.Name(), ".go") || strings.HasSuffix(e.Name(), "_test.go") {
			continue
		}
		f, err := parser.ParseFile(fset, filepath.Join(dir, e.Name()), nil, parser.ParseComments)
		if err != nil {
			continue
		}
		for _, decl := range f.Decls {
			gd, ok := decl.(*ast.GenDecl)
			if !ok || gd.Tok != token.TYPE {
				continue
			}
			for _, spec := range gd.Specs {
				ts := spec.(*ast.TypeSpec)
				st, ok := ts.Type.(*ast.StructType)
				if !ok {
					continue
				}
				doc := ts.Doc
				if doc == nil && len(gd.Specs) == 1 {
					doc = gd.Doc
				}
				d.types[ts.Name.Name] = oneLine(doc)
				for _, fld := range st.Fields.List {
					for _, n := range fld.Names {
						d.fields[ts.Name.Name+"."+n.Name] = oneLine(fld.Doc)
					}
				}
			}
		}
	}
	return d
}

func oneLine(c *ast.CommentGroup) string {
	if c == nil {
		return ""
	}
	return strings.Join(strings.Fields(c.Text()), " ")
}

const modulePath = "github.com/snaplake/snaplake"

// moduleRoot is the directory of go.mod; tests run in their package's directory.
func moduleRoot() string {
	dir, _ := os.Getwd()
	for {
		if data, err := os.ReadFile(filepath.Join(dir, "go.mod")); err == nil && bytes.HasPrefix(data, []byte("module "+modulePath+"\n")) {
			return dir
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return ""
		}
		dir = parent
	}
}
