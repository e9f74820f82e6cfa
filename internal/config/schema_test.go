package config

import (
	"bytes"
	"encoding/json"
	"reflect"
	"testing"

	"github.com/santhosh-tekuri/jsonschema/v6"
	"gopkg.in/yaml.v3"

	"github.com/snaplake/snaplake/internal/config/sourcedoc"
)

// TestSchemaGeneratorRefusesWhatItCannotSay: a type the loader and the schema would
// read differently fails the generation instead of publishing a wrong schema.
func TestSchemaGeneratorRefusesWhatItCannotSay(t *testing.T) {
	type (
		namesDiffer struct {
			A string `yaml:"a" json:"b"`
		}
		omitemptyDiffers struct {
			A string `yaml:"a,omitempty" json:"a"`
		}
		inline struct {
			A namesDiffer `yaml:"a,inline" json:"a"`
		}
		anyField struct {
			A any `yaml:"a" json:"a"`
		}
		intKeys struct {
			A map[int]string `yaml:"a" json:"a"`
		}
	)
	for _, v := range []any{namesDiffer{}, omitemptyDiffers{}, inline{}, anyField{}, intKeys{}} {
		g := &schemaGen{defs: map[string]object{}, docs: sourcedoc.New().Docs}
		if s, err := g.structSchema(reflect.TypeOf(v)); err == nil {
			t.Errorf("%T: generated %v, want an error", v, s)
		}
		if s, err := GenerateSchema(reflect.New(reflect.TypeOf(v)).Interface(), nil); err == nil {
			t.Errorf("GenerateSchema(%T) = %s, want an error", v, s)
		}
	}
}

// TestGeneratedSchemaAgreesWithTheLoader validates documents with the schema generated
// from the shape's sections, as an editor would, and checks that the loader's
// structural check agrees on each. (internal/opscli checks the published schema of the
// real sections the same way.)
func TestGeneratedSchemaAgreesWithTheLoader(t *testing.T) {
	tests := []struct {
		name  string
		doc   string
		valid bool
	}{
		{name: "the example", doc: example, valid: true},
		{name: "only the required fields", doc: source, valid: true},
		{name: "no sections", doc: "{}\n", valid: true},
		{name: "unknown field", doc: source + "  shedule: {}\n"},
		{name: "unknown section", doc: source + "replicate: {}\n"},
		{name: "a list for a string", doc: source + "  timeZone: [Europe/Berlin]\n"},
		{name: "a number for a string", doc: source + "  sets: {frequent: {every: 15}}\n"},
		{name: "a string for a list", doc: source + "  sets: {daily: {tables: all}}\n"},
		{name: "a list for a map", doc: source + "  tables: [orders]\n"},
		{name: "a required field missing", doc: source + "  access: [{tables: [orders]}]\n"},
		{name: "a map value of the wrong type", doc: source + "  access: [{role: r, columns: {orders: id}}]\n"},
		{name: "no value", doc: source + "  defaults:\n"},
	}
	generated, err := GenerateSchema(new(shapeFile), sourcedoc.New().Docs)
	if err != nil {
		t.Fatal(err)
	}
	sch := compileSchema(t, generated)
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			schemaErr := validateWithSchema(t, sch, tt.doc)
			if (schemaErr == nil) != tt.valid {
				t.Errorf("schema: %v, want valid %v", schemaErr, tt.valid)
			}
			loaderErr := parse("snaplake.yaml", []byte(tt.doc), new(shapeFile), false)
			if (loaderErr == nil) != tt.valid {
				t.Errorf("loader: %v, want valid %v", loaderErr, tt.valid)
			}
		})
	}
}

// TestGeneratedSchemaDescribes: the docs of the types and fields become the
// descriptions of their $defs and properties.
func TestGeneratedSchemaDescribes(t *testing.T) {
	docs := func(t reflect.Type, field string) string {
		if field == "" {
			return "type " + t.Name()
		}
		return "field " + t.Name() + "." + field
	}
	generated, err := GenerateSchema(new(demoFile), docs)
	if err != nil {
		t.Fatal(err)
	}
	var s struct {
		Properties map[string]struct{ Description string }
		Defs       map[string]struct {
			Description string
			Properties  map[string]struct{ Description string }
		} `json:"$defs"`
	}
	if err := json.Unmarshal(generated, &s); err != nil {
		t.Fatal(err)
	}
	section := s.Defs["config.demoSection"]
	switch {
	case s.Properties["demo"].Description != "field demoFile.Demo":
		t.Errorf("properties: %+v", s.Properties)
	case section.Description != "type demoSection" || section.Properties["every"].Description != "field demoSection.Every":
		t.Errorf("config.demoSection: %+v", section)
	}
}

// compileSchema compiles a JSON Schema document, checking it against the
// 2020-12 metaschema.
func compileSchema(t *testing.T, schema []byte) *jsonschema.Schema {
	t.Helper()
	doc, err := jsonschema.UnmarshalJSON(bytes.NewReader(schema))
	if err != nil {
		t.Fatalf("the schema is not JSON: %v", err)
	}
	c := jsonschema.NewCompiler()
	if err := c.AddResource("snaplake.schema.json", doc); err != nil {
		t.Fatal(err)
	}
	sch, err := c.Compile("snaplake.schema.json")
	if err != nil {
		t.Fatalf("compile the schema: %v", err)
	}
	return sch
}

// validateWithSchema validates the YAML document doc with sch.
func validateWithSchema(t *testing.T, sch *jsonschema.Schema, doc string) error {
	t.Helper()
	var v any
	if err := yaml.Unmarshal([]byte(doc), &v); err != nil {
		t.Fatal(err)
	}
	j, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	inst, err := jsonschema.UnmarshalJSON(bytes.NewReader(j))
	if err != nil {
		t.Fatal(err)
	}
	return sch.Validate(inst)
}
