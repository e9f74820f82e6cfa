package config

import (
	"bytes"
	"encoding/json"
	"fmt"
	"maps"
	"path"
	"reflect"
	"slices"
	"strings"
)

const schemaDraft = "https://json-schema.org/draft/2020-12/schema"

// Docs is the doc comment of the struct type t (field "") or of its field called field
// (the Go name), for a schema's descriptions; "" when there is none.
// internal/config/sourcedoc reads them from the module's source.
type Docs func(t reflect.Type, field string) string

// GenerateSchema is the JSON Schema (draft 2020-12) of a file read into sections (a
// pointer to a struct of sections), as the loader reads it: json names, omitempty (not
// required), nested structs as $defs, maps as additionalProperties, slices as arrays,
// docs as descriptions. A type the loader and the schema would read differently (names
// or omitempty that differ between the yaml and json tags, inline fields, interfaces,
// maps with other than string keys) is an error instead of a wrong schema. It is meant
// for a test that keeps the published schema this function's output.
func GenerateSchema(sections any, docs Docs) ([]byte, error) {
	if docs == nil {
		docs = func(reflect.Type, string) string { return "" }
	}
	g := &schemaGen{defs: map[string]object{}, docs: docs}
	root, err := g.structSchema(sectionsValue(sections).Type())
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

type schemaGen struct {
	defs map[string]object
	docs Docs
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
			if doc := g.docs(t, ""); doc != "" {
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
		if doc := g.docs(t, sf.Name); doc != "" {
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
