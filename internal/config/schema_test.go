package config

import (
	"bytes"
	"encoding/json"
	"flag"
	"os"
	"reflect"
	"strings"
	"testing"

	"github.com/santhosh-tekuri/jsonschema/v6"
	"gopkg.in/yaml.v3"
)

var updateSchema = flag.Bool("update-schema", false, "write snaplake.schema.json from the Go types")

const schemaFile = "snaplake.schema.json"

// TestPublishedSchemaIsGenerated keeps the published schema the generator's output, so
// that it is never a second copy kept by hand.
func TestPublishedSchemaIsGenerated(t *testing.T) {
	got, err := generateSchema()
	if err != nil {
		t.Fatalf("generate the schema: %v", err)
	}
	if *updateSchema {
		if err := os.WriteFile(schemaFile, got, 0o644); err != nil {
			t.Fatal(err)
		}
		t.Logf("wrote %s", schemaFile)
		return
	}
	if !bytes.Equal(Schema(), got) {
		t.Errorf("%s is not what the Go types generate: run `go test ./internal/config -update-schema` and commit it.\ngenerated:\n%s", schemaFile, got)
	}
}

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
		g := &schemaGen{defs: map[string]object{}, docs: map[string]*typeDocs{}}
		if s, err := g.structSchema(reflect.TypeOf(v)); err == nil {
			t.Errorf("%T: generated %v, want an error", v, s)
		}
	}
}

// TestSchemaCoversTheTypes spot-checks what the generator makes of the ingest types.
func TestSchemaCoversTheTypes(t *testing.T) {
	var s struct {
		Properties           map[string]json.RawMessage
		AdditionalProperties bool
		Defs                 map[string]struct {
			Description          string
			Properties           map[string]map[string]any
			Required             []string
			AdditionalProperties bool
		} `json:"$defs"`
	}
	if err := json.Unmarshal(Schema(), &s); err != nil {
		t.Fatal(err)
	}
	if _, ok := s.Properties["ingest"]; !ok || s.AdditionalProperties {
		t.Errorf("top level: properties %v, additionalProperties %v; want ingest and no others", s.Properties, s.AdditionalProperties)
	}
	cfg := s.Defs["ingest.Config"]
	if !strings.Contains(cfg.Description, "ingest") || cfg.AdditionalProperties || strings.Join(cfg.Required, ",") != "source" {
		t.Errorf("ingest.Config: %+v; want a description, no additional properties, source required", cfg)
	}
	if got := s.Defs["ingest.Source"].Required; strings.Join(got, ",") != "instance,database" {
		t.Errorf("ingest.Source required %v", got)
	}
	if tables := cfg.Properties["tables"]; tables["type"] != "object" || !reflect.DeepEqual(tables["additionalProperties"], map[string]any{"$ref": "#/$defs/ingest.TableConfig"}) {
		t.Errorf("ingest.tables: %v, want a map of ingest.TableConfig", tables)
	}
	if days := s.Defs["ingest.Set"].Properties["days"]; days["type"] != "array" || !strings.Contains(days["description"].(string), "MON") {
		t.Errorf("ingest.sets.*.days: %v, want a described array", days)
	}
}

// TestExamplesAgainstTheSchema validates documents with the published schema, as an
// editor would, and checks that the loader's structural check agrees on each.
func TestExamplesAgainstTheSchema(t *testing.T) {
	example, err := os.ReadFile("testdata/snaplake.yaml")
	if err != nil {
		t.Fatal(err)
	}
	const source = "ingest:\n  source: {instance: db, database: shop}\n"
	tests := []struct {
		name  string
		doc   string
		valid bool
	}{
		{name: "the example", doc: string(example), valid: true},
		{name: "only the required fields", doc: source, valid: true},
		{name: "no sections", doc: "{}\n", valid: true},
		{name: "unknown field", doc: source + "  shedule: {}\n"},
		{name: "unknown section", doc: source + "federate: {}\n"},
		{name: "a list for a string", doc: source + "  timeZone: [Europe/Berlin]\n"},
		{name: "a number for a string", doc: source + "  sets: {frequent: {every: 15}}\n"},
		{name: "a string for a list", doc: source + "  sets: {daily: {tables: all}}\n"},
		{name: "a list for a map", doc: source + "  tables: [orders]\n"},
		{name: "a required field missing", doc: source + "  access: [{tables: [orders]}]\n"},
		{name: "a map value of the wrong type", doc: source + "  access: [{role: r, columns: {orders: id}}]\n"},
		{name: "no value", doc: source + "  defaults:\n"},
	}
	sch := compileSchema(t)
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var v any
			if err := yaml.Unmarshal([]byte(tt.doc), &v); err != nil {
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
			schemaErr := sch.Validate(inst)
			if (schemaErr == nil) != tt.valid {
				t.Errorf("schema: %v, want valid %v", schemaErr, tt.valid)
			}
			var f File
			loaderErr := parse("snaplake.yaml", []byte(tt.doc), &f, false)
			if (loaderErr == nil) != tt.valid {
				t.Errorf("loader: %v, want valid %v", loaderErr, tt.valid)
			}
		})
	}
}

func compileSchema(t *testing.T) *jsonschema.Schema {
	t.Helper()
	doc, err := jsonschema.UnmarshalJSON(bytes.NewReader(Schema()))
	if err != nil {
		t.Fatalf("the schema is not JSON: %v", err)
	}
	c := jsonschema.NewCompiler()
	if err := c.AddResource(schemaFile, doc); err != nil {
		t.Fatal(err)
	}
	sch, err := c.Compile(schemaFile) // checks it against the 2020-12 metaschema too
	if err != nil {
		t.Fatalf("compile the schema: %v", err)
	}
	return sch
}
