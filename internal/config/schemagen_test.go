package config

import (
	"bytes"
	"encoding/json"
	"fmt"
	"go/ast"
	"go/parser"
	"go/token"
	"maps"
	"os"
	"path"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
)

// This file generates snaplake.schema.json from File: run
// `go test ./internal/config -update-schema`. It is test code so that the CLI and the
// Lambdas carry only the generated file.

const schemaDraft = "https://json-schema.org/draft/2020-12/schema"

// generateSchema reflects over File: json names, omitempty (not required), nested
// structs as $defs, maps as additionalProperties, slices as arrays, and the doc comments
// of the types and fields (read from their source) as descriptions.
func generateSchema() ([]byte, error) {
	g := &schemaGen{defs: map[string]object{}, docs: map[string]*typeDocs{}}
	root, err := g.structSchema(reflectFile)
	if err != nil {
		return nil, err
	}
	out := object{
		{"$schema", schemaDraft},
		{"title", "snaplake.yaml"},
		{"description", "The runtime config of every snaplake capability, one section each. Check it with `snaplake config validate FILE`."},
	}
	out = append(out, root...)
	var defs object
	for _, name := range slices.Sorted(maps.Keys(g.defs)) {
		defs = append(defs, member{name, g.defs[name]})
	}
	if len(defs) > 0 {
		out = append(out, member{"$defs", defs})
	}
	var b bytes.Buffer
	enc := json.NewEncoder(&b)
	enc.SetEscapeHTML(false) // "table -> columns", not "table -\u003e columns"
	enc.SetIndent("", "  ")
	if err := enc.Encode(out); err != nil {
		return nil, err
	}
	return b.Bytes(), nil
}

var reflectFile = reflect.TypeFor[File]()

type schemaGen struct {
	defs map[string]object
	docs map[string]*typeDocs // by package path
}

// schemaOf is the schema of a value of type t.
func (g *schemaGen) schemaOf(t reflect.Type) (object, error) {
	for t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	if isString(t) {
		return object{{"type", "string"}}, nil
	}
	switch t.Kind() {
	case reflect.Bool:
		return object{{"type", "boolean"}}, nil
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64:
		return object{{"type", "integer"}}, nil
	case reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64:
		return object{{"type", "integer"}, {"minimum", 0}}, nil
	case reflect.Float32, reflect.Float64:
		return object{{"type", "number"}}, nil
	case reflect.Slice, reflect.Array:
		items, err := g.schemaOf(t.Elem())
		if err != nil {
			return nil, err
		}
		return object{{"type", "array"}, {"items", items}}, nil
	case reflect.Map:
		if t.Key().Kind() != reflect.String {
			return nil, fmt.Errorf("%s: map keys must be strings", t)
		}
		values, err := g.schemaOf(t.Elem())
		if err != nil {
			return nil, err
		}
		return object{{"type", "object"}, {"additionalProperties", values}}, nil
	case reflect.Struct:
		if t.Name() == "" {
			return g.structSchema(t)
		}
		name := path.Base(t.PkgPath()) + "." + t.Name()
		if _, done := g.defs[name]; !done {
			g.defs[name] = nil // a recursive type refers to itself
			s, err := g.structSchema(t)
			if err != nil {
				return nil, err
			}
			if doc := g.typeDocs(t.PkgPath()).types[t.Name()]; doc != "" {
				s = append(object{{"description", doc}}, s...)
			}
			g.defs[name] = s
		}
		return object{{"$ref", "#/$defs/" + name}}, nil
	}
	return nil, fmt.Errorf("%s: no JSON Schema for a %s (the loader does not decode it either)", t, t.Kind())
}

// structSchema: a closed object whose required properties are the fields without omitempty.
func (g *schemaGen) structSchema(t reflect.Type) (object, error) {
	var props object
	var required []string
	for _, f := range fieldsOf(t) {
		sf := t.Field(f.index)
		jsonName, jsonOpts, _ := strings.Cut(sf.Tag.Get("json"), ",")
		yamlOpts := strings.SplitN(sf.Tag.Get("yaml"), ",", 2)
		switch {
		case jsonName != f.name:
			return nil, fmt.Errorf("%s.%s: json name %q, yaml name %q: they must agree", t, sf.Name, jsonName, f.name)
		case slices.Contains(strings.Split(jsonOpts, ","), "omitempty") == f.required:
			return nil, fmt.Errorf("%s.%s: omitempty in one of its json and yaml tags only", t, sf.Name)
		case len(yamlOpts) > 1 && strings.Contains(yamlOpts[1], "inline"), sf.Anonymous:
			return nil, fmt.Errorf("%s.%s: embedded and inline fields are not supported", t, sf.Name)
		}
		s, err := g.schemaOf(sf.Type)
		if err != nil {
			return nil, fmt.Errorf("%s.%s: %w", t, sf.Name, err)
		}
		if doc := g.typeDocs(t.PkgPath()).fields[t.Name()+"."+sf.Name]; doc != "" {
			s = append(object{{"description", doc}}, s...)
		}
		props = append(props, member{f.name, s})
		if f.required {
			required = append(required, f.name)
		}
	}
	s := object{{"type", "object"}, {"properties", props}}
	if len(required) > 0 {
		s = append(s, member{"required", required})
	}
	return append(s, member{"additionalProperties", false}), nil
}

// typeDocs are the doc comments of a package's struct types and their fields.
type typeDocs struct {
	types  map[string]string // type name -> doc
	fields map[string]string // type.Field -> doc
}

// typeDocs reads the doc comments of the module's package pkgPath from its source.
func (g *schemaGen) typeDocs(pkgPath string) *typeDocs {
	if d := g.docs[pkgPath]; d != nil {
		return d
	}
	d := &typeDocs{types: map[string]string{}, fields: map[string]string{}}
	g.docs[pkgPath] = d
	rel, ok := strings.CutPrefix(pkgPath, modulePath+"/")
	if !ok {
		return d
	}
	dir := filepath.Join(moduleRoot(), filepath.FromSlash(rel))
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

// object is a JSON object that keeps its members' order, so that the schema reads in
// the order of the Go declarations.
type object []member

type member struct {
	key   string
	value any
}

func (o object) MarshalJSON() ([]byte, error) {
	var b bytes.Buffer
	b.WriteByte('{')
	for i, m := range o {
		if i > 0 {
			b.WriteByte(',')
		}
		enc := json.NewEncoder(&b)
		enc.SetEscapeHTML(false)
		if err := enc.Encode(m.key); err != nil {
			return nil, err
		}
		b.WriteByte(':')
		if err := enc.Encode(m.value); err != nil {
			return nil, err
		}
	}
	b.WriteByte('}')
	return b.Bytes(), nil
}
