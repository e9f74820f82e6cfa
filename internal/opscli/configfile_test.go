package opscli

import (
	"bytes"
	"encoding/json"
	"errors"
	"flag"
	"os"
	"reflect"
	"slices"
	"strings"
	"testing"

	"github.com/santhosh-tekuri/jsonschema/v6"
	"gopkg.in/yaml.v3"

	"github.com/snaplake/snaplake/internal/config"
	"github.com/snaplake/snaplake/internal/config/sourcedoc"
	"github.com/snaplake/snaplake/internal/deploy"
)

// These tests run the real sections (ingest's and federate's rules) through the
// loader; internal/config tests the loader itself on test-local sections.

var updateSchema = flag.Bool("update-schema", false, "write snaplake.schema.json from the Go types")

const schemaFile = "snaplake.schema.json"

const source = `ingest:
  source:
    instance: shop-db
    database: shop
`

// configErrors lists the *config.Error joined in err, checking that every part is one.
func configErrors(t *testing.T, err error) []*config.Error {
	t.Helper()
	if err == nil {
		return nil
	}
	parts := []error{err}
	if j, ok := err.(interface{ Unwrap() []error }); ok {
		parts = j.Unwrap()
	}
	var out []*config.Error
	for _, p := range parts {
		e, ok := p.(*config.Error)
		if !ok {
			t.Errorf("%T %v is not a *config.Error", p, p)
			continue
		}
		out = append(out, e)
	}
	return out
}

// TestFileHasEverySection: File, what `snaplake config validate` checks, has one
// field per capability's section, and no other: a section deploy.ConfigSections
// lists but File lacks would be skipped by validate, and one File has but the list
// lacks would be a typo to every run.
func TestFileHasEverySection(t *testing.T) {
	ft := reflect.TypeFor[File]()
	var names []string
	for i := range ft.NumField() {
		name, _, _ := strings.Cut(ft.Field(i).Tag.Get("yaml"), ",")
		names = append(names, name)
	}
	if !slices.Equal(names, deploy.ConfigSections) {
		t.Errorf("File's sections %v, deploy.ConfigSections %v: they must be the same, in the same order", names, deploy.ConfigSections)
	}
}

// TestEverySectionIsAnOptionalPointer holds File to the convention config.Present
// and the schema rely on: a section is a pointer, absent when nil, with agreeing names.
func TestEverySectionIsAnOptionalPointer(t *testing.T) {
	ft := reflect.TypeFor[File]()
	for i := range ft.NumField() {
		sf := ft.Field(i)
		y, j := sf.Tag.Get("yaml"), sf.Tag.Get("json")
		if sf.Type.Kind() != reflect.Pointer || !strings.HasSuffix(y, ",omitempty") || y != j {
			t.Errorf("File.%s: %s `yaml:%q json:%q`; want a pointer with equal yaml and json tags ending in omitempty", sf.Name, sf.Type, y, j)
		}
	}
}

// TestIngestRulesAtTheirLines runs the ingest section's own Validate through Parse. The
// reasons are ingest's; what config owns is the field, the line and the column.
func TestIngestRulesAtTheirLines(t *testing.T) {
	doc := source + `  sets:
    frequent:
      every: 15x
      days: [MON, FUNDAY]
  tables:
    order-items: {mode: sometimes}
  access:
    - role: ""
      tables: [orders]
`
	want := []config.Error{
		{Line: 7, Column: 7, Field: "ingest.sets.frequent.every"},
		{Line: 8, Column: 19, Field: "ingest.sets.frequent.days[1]"},
		{Line: 10, Column: 19, Field: `ingest.tables["order-items"].mode`},
		{Line: 12, Column: 7, Field: "ingest.access[0].role"},
	}
	err := config.Parse("snaplake.yaml", []byte(doc), new(File))
	var got []config.Error
	for _, ce := range configErrors(t, err) {
		if ce.File != "snaplake.yaml" || ce.Reason == "" || strings.HasPrefix(ce.Reason, "ingest") {
			t.Errorf("%q: want the file and a reason that does not repeat the field", ce.Error())
		}
		got = append(got, config.Error{Line: ce.Line, Column: ce.Column, Field: ce.Field})
	}
	if !slices.Equal(got, want) {
		t.Errorf("problems at\n%+v\nwant\n%+v\n(all: %v)", got, want, err)
	}
}

func TestExampleParses(t *testing.T) {
	var f File
	if err := config.Load("testdata/snaplake.yaml", &f); err != nil {
		t.Fatalf("the example does not load:\n%v", err)
	}
	if got := config.Present(&f); !slices.Equal(got, []string{"ingest"}) {
		t.Errorf("sections %v, want [ingest]", got)
	}
	in := f.Ingest
	frequent := in.Sets["frequent"]
	switch {
	case in.Source.Instance != "shop-db" || in.Source.Database != "shop":
		t.Errorf("source %+v", in.Source)
	case in.TimeZone != "Europe/Berlin":
		t.Errorf("timeZone %q", in.TimeZone)
	case in.Sets["daily"].At != "02:00" || !slices.Equal(in.Sets["daily"].Tables, []string{"all"}):
		t.Errorf("daily %+v", in.Sets["daily"])
	case frequent.Every != "15m" || frequent.Between != "08:00-18:00" || len(frequent.Days) != 5 || !slices.Equal(frequent.Tables, []string{"orders", "order_items"}):
		t.Errorf("frequent %+v", frequent)
	case in.Tables["orders"].Column != "updated_at" || in.Tables["audit_log"].Mode != "full" || in.Defaults.Mode != "full":
		t.Errorf("tables %+v, defaults %+v", in.Tables, in.Defaults)
	case len(in.Access) != 2 || len(in.Access[1].Columns["orders"]) != 4:
		t.Errorf("access %+v", in.Access)
	}
	if err := config.Validate(&f); err != nil {
		t.Errorf("Validate: %v", err)
	}
}

// TestWholeFileNamesEverySection: validate reads every section, so an unknown one
// lists them all, and a mistake in any is reported.
func TestWholeFileNamesEverySection(t *testing.T) {
	err := config.Parse("snaplake.yaml", []byte(source+"replicate: {}\nfederate: {tables: nope}\n"), new(File))
	var got []string
	for _, e := range configErrors(t, err) {
		got = append(got, e.Error())
	}
	want := []string{
		"snaplake.yaml:5:1: replicate: unknown section (known: export, ingest, federate, archive)",
		`snaplake.yaml:6:20: federate.tables: expected a list, got "nope"`,
	}
	if !slices.Equal(got, want) {
		t.Errorf("problems %q, want %q", got, want)
	}
	var missing *config.Error
	if err := config.Parse("s.yaml", []byte("- ingest\n"), new(File)); !errors.As(err, &missing) || missing.Reason != "expected a mapping of sections (export, ingest, federate, archive), got a list" {
		t.Errorf("not a mapping: %v", err)
	}
}

// TestPublishedSchemaIsGenerated keeps the published schema the generator's output, so
// that it is never a second copy kept by hand.
func TestPublishedSchemaIsGenerated(t *testing.T) {
	got, err := config.GenerateSchema(new(File), sourcedoc.New().Docs)
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
		t.Errorf("%s is not what the Go types generate: run `go test ./internal/opscli -run TestPublishedSchemaIsGenerated -update-schema` and commit it.\ngenerated:\n%s", schemaFile, got)
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
// editor would, and checks that the loader agrees on each.
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
		{name: "unknown section", doc: source + "replicate: {}\n"},
		{name: "a section missing its required field", doc: source + "federate: {}\n"},
		{name: "a list for a string", doc: source + "  timeZone: [Europe/Berlin]\n"},
		{name: "a number for a string", doc: source + "  sets: {frequent: {every: 15}}\n"},
		{name: "a string for a list", doc: source + "  sets: {daily: {tables: all}}\n"},
		{name: "a list for a map", doc: source + "  tables: [orders]\n"},
		{name: "a required field missing", doc: source + "  access: [{tables: [orders]}]\n"},
		{name: "a map value of the wrong type", doc: source + "  access: [{role: r, columns: {orders: id}}]\n"},
		{name: "no value", doc: source + "  defaults:\n"},
		{name: "an archive section", doc: "archive:\n  defaults: {batchRows: 5000, pause: 1s}\n  replica: {host: replica-1}\n  tables:\n    shop.audit_log: {retention: 2y, column: created_at}\n", valid: true},
		{name: "an archive table without its column", doc: "archive:\n  tables:\n    shop.audit_log: {retention: 2y}\n"},
		{name: "an archive limit of the wrong type", doc: "archive:\n  tables:\n    shop.audit_log: {retention: 2y, column: c, batchRows: many}\n"},
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
			loaderErr := config.Parse("snaplake.yaml", []byte(tt.doc), new(File))
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
