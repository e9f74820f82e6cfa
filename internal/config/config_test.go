package config

import (
	"errors"
	"fmt"
	"io/fs"
	"maps"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"
)

// problems lists the Error() of each *Error joined in err, checking that every part is one.
func problems(t *testing.T, err error) []string {
	t.Helper()
	if err == nil {
		return nil
	}
	parts := []error{err}
	if j, ok := err.(interface{ Unwrap() []error }); ok {
		parts = j.Unwrap()
	}
	var out []string
	for _, p := range parts {
		var e *Error
		if !errors.As(p, &e) || e != p {
			t.Errorf("%T %v is not a *config.Error", p, p)
		}
		out = append(out, p.Error())
	}
	return out
}

const source = `ingest:
  source:
    instance: shop-db
    database: shop
`

// shapeFile is a file of test-local sections shaped like ingest's and federate's
// (their names, fields, and required fields), so that the engine's messages are
// checked on a realistic file without the engine knowing a capability. The real
// sections' rules are tested through the loader in internal/opscli.
type shapeFile struct {
	Ingest   *shapeIngest   `yaml:"ingest,omitempty" json:"ingest,omitempty"`
	Federate *shapeFederate `yaml:"federate,omitempty" json:"federate,omitempty"`
}

type shapeIngest struct {
	Source   shapeSource           `yaml:"source" json:"source"`
	TimeZone string                `yaml:"timeZone,omitempty" json:"timeZone,omitempty"`
	Sets     map[string]shapeSet   `yaml:"sets,omitempty" json:"sets,omitempty"`
	Tables   map[string]shapeTable `yaml:"tables,omitempty" json:"tables,omitempty"`
	Defaults shapeTable            `yaml:"defaults,omitempty" json:"defaults,omitempty"`
	Access   []shapeAccess         `yaml:"access,omitempty" json:"access,omitempty"`
}

type shapeSource struct {
	Instance string `yaml:"instance" json:"instance"`
	Database string `yaml:"database" json:"database"`
}

type shapeSet struct {
	Tables  []string `yaml:"tables,omitempty" json:"tables,omitempty"`
	Every   string   `yaml:"every,omitempty" json:"every,omitempty"`
	At      string   `yaml:"at,omitempty" json:"at,omitempty"`
	Between string   `yaml:"between,omitempty" json:"between,omitempty"`
	Days    []string `yaml:"days,omitempty" json:"days,omitempty"`
}

type shapeTable struct {
	Mode         string `yaml:"mode,omitempty" json:"mode,omitempty"`
	Column       string `yaml:"column,omitempty" json:"column,omitempty"`
	RowsPerRange int64  `yaml:"rowsPerRange,omitempty" json:"rowsPerRange,omitempty"`
}

type shapeAccess struct {
	Role    string              `yaml:"role" json:"role"`
	Tables  []string            `yaml:"tables,omitempty" json:"tables,omitempty"`
	Columns map[string][]string `yaml:"columns,omitempty" json:"columns,omitempty"`
}

type shapeFederate struct {
	Tables []struct {
		Table string `yaml:"table" json:"table"`
	} `yaml:"tables" json:"tables"`
}

// shapeRules is a Validate for shapeIngest that fails on a marked value, to show which
// sections were validated.
func (s shapeIngest) Validate() []error {
	if s.TimeZone == "invalid" {
		return []error{fieldError{[]string{"timeZone"}, "is invalid"}}
	}
	return nil
}

func TestParseReportsEachProblemAtItsLine(t *testing.T) {
	tests := []struct {
		name string
		doc  string
		want []string
	}{
		{
			name: "syntax: an unclosed list",
			doc:  source + "  access: [\n",
			want: []string{"snaplake.yaml:5: did not find expected node content"},
		},
		{
			// yaml.v3 names line 1, where the mapping starts; the problem is on line 5.
			name: "syntax: a key indented wrongly",
			doc:  source + "  sets:\n     daily: {}\n    frequent: {}\n",
			want: []string{"snaplake.yaml:7: did not find expected key"},
		},
		{
			name: "syntax: a tab",
			doc:  source + "\ttimeZone: UTC\n",
			want: []string{"snaplake.yaml:5: found a tab character that violates indentation"},
		},
		{
			name: "syntax: on the first line",
			doc:  "ingest: source: x\n",
			want: []string{"snaplake.yaml:1: mapping values are not allowed in this context"},
		},
		{
			name: "unknown field",
			doc:  source + "  timezone: UTC\n",
			want: []string{"snaplake.yaml:5:3: ingest.timezone: unknown field (known: source, timeZone, sets, tables, defaults, access)"},
		},
		{
			name: "unknown field deep down",
			doc:  source + "  sets:\n    frequent:\n      evry: 15m\n",
			want: []string{"snaplake.yaml:7:7: ingest.sets.frequent.evry: unknown field (known: tables, every, at, between, days)"},
		},
		{
			name: "unknown section",
			doc:  source + "replicate: {}\n",
			want: []string{"snaplake.yaml:5:1: replicate: unknown section (known: export, ingest, federate, archive)"},
		},
		{
			name: "a list where a string is expected",
			doc:  source + "  timeZone: [Europe/Berlin]\n",
			want: []string{"snaplake.yaml:5:13: ingest.timeZone: expected a string, got a list"},
		},
		{
			name: "a number where a string is expected",
			doc:  source + "  sets: {frequent: {every: 15}}\n",
			want: []string{`snaplake.yaml:5:28: ingest.sets.frequent.every: expected a string, got the number 15 (write "15" if it is meant as text)`},
		},
		{
			name: "a string where a list is expected",
			doc:  source + "  sets:\n    daily:\n      tables: all\n",
			want: []string{`snaplake.yaml:7:15: ingest.sets.daily.tables: expected a list, got "all"`},
		},
		{
			name: "a list element of the wrong type",
			doc:  source + "  access:\n    - role: r\n      tables: [orders, {name: x}]\n",
			want: []string{"snaplake.yaml:7:24: ingest.access[0].tables[1]: expected a string, got a mapping"},
		},
		{
			name: "no value",
			doc:  source + "  defaults:\n",
			want: []string{"snaplake.yaml:5:12: ingest.defaults: expected a mapping, got no value"},
		},
		{
			name: "duplicate field",
			doc:  source + "  timeZone: UTC\n  timeZone: Europe/Berlin\n",
			want: []string{"snaplake.yaml:6:3: ingest.timeZone: duplicate key (first at line 5)"},
		},
		{
			name: "duplicate map key",
			doc:  source + "  tables:\n    orders: {mode: full}\n    audit_log: {}\n    orders: {}\n",
			want: []string{"snaplake.yaml:8:5: ingest.tables.orders: duplicate key (first at line 6)"},
		},
		{
			name: "duplicate section",
			doc:  source + "ingest: {}\n",
			want: []string{"snaplake.yaml:5:1: ingest: duplicate key (first at line 1)"},
		},
		{
			name: "a required field missing",
			doc:  source + "  access:\n    - role: r\n    - tables: [orders]\n",
			want: []string{"snaplake.yaml:7:7: ingest.access[1].role: is required but missing"},
		},
		{
			name: "a map key that is not a word",
			doc:  source + "  tables:\n    \"order items\": {mode: [full]}\n",
			want: []string{`snaplake.yaml:6:27: ingest.tables["order items"].mode: expected a string, got a list`},
		},
		{
			// Found in walking order (line 7, then line 2, 6, 1), reported in line order.
			name: "several problems, in line order",
			doc: `ingest:
  source:
    instance: [shop-db]
  sets:
    frequent:
      every: 15
      days: MON
  tables:
    orders: {mode: full, colunm: id}
`,
			want: []string{
				"snaplake.yaml:2:3: ingest.source.database: is required but missing",
				"snaplake.yaml:3:15: ingest.source.instance: expected a string, got a list",
				`snaplake.yaml:6:14: ingest.sets.frequent.every: expected a string, got the number 15 (write "15" if it is meant as text)`,
				`snaplake.yaml:7:13: ingest.sets.frequent.days: expected a list, got "MON"`,
				"snaplake.yaml:9:26: ingest.tables.orders.colunm: unknown field (known: mode, column, rowsPerRange)",
			},
		},
		{
			name: "not a mapping",
			doc:  "- ingest\n",
			want: []string{"snaplake.yaml:1:1: expected a mapping of sections (export, ingest, federate, archive), got a list"},
		},
		{
			name: "a second document",
			doc:  source + "---\ningest: {}\n",
			want: []string{"snaplake.yaml:5:1: a second YAML document: the file holds one (remove the ---)"},
		},
		{
			name: "a merge key",
			doc:  source + "  tables:\n    <<: {orders: {}}\n",
			want: []string{"snaplake.yaml:6:5: ingest.tables: merge keys (<<) are not supported: write the keys out"},
		},
		{name: "an alias", doc: source + "  sets:\n    daily: &weekdays {days: [MON, TUE]}\n    frequent: *weekdays\n"},
		{name: "a date where a string is expected, as the schema reads it", doc: source + "  timeZone: 2024-01-01\n"},
		{name: "empty", doc: ""},
		{name: "only comments", doc: "# nothing configured yet\n"},
		{name: "a lone document marker", doc: "---\n"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var f shapeFile
			err := parse("snaplake.yaml", []byte(tt.doc), &f, false)
			if got := problems(t, err); !slices.Equal(got, tt.want) {
				t.Errorf("problems:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(tt.want, "\n"))
			}
		})
	}
}

func TestErrorFields(t *testing.T) {
	err := Parse("conf/snaplake.yaml", []byte(source+"  sets:\n    frequent:\n      every: [15m]\n"), new(shapeFile))
	var e *Error
	if !errors.As(err, &e) {
		t.Fatalf("err = %v, want a *config.Error", err)
	}
	want := Error{File: "conf/snaplake.yaml", Line: 7, Column: 14, Field: "ingest.sets.frequent.every", Reason: "expected a string, got a list"}
	if *e != want {
		t.Errorf("error %+v, want %+v", *e, want)
	}
}

func TestErrorFormat(t *testing.T) {
	tests := []struct {
		err  Error
		want string
	}{
		{Error{File: "snaplake.yaml", Line: 12, Column: 5, Field: "ingest.sets.frequent.every", Reason: `"15x" is not a duration`},
			`snaplake.yaml:12:5: ingest.sets.frequent.every: "15x" is not a duration`},
		{Error{File: "snaplake.yaml", Line: 3, Reason: "did not find expected key"}, "snaplake.yaml:3: did not find expected key"},
		{Error{File: "snaplake.yaml", Reason: "cannot read: permission denied"}, "snaplake.yaml: cannot read: permission denied"},
		{Error{Field: "ingest.access[2].role", Reason: "is empty"}, "ingest.access[2].role: is empty"},
	}
	for _, tt := range tests {
		if got := tt.err.Error(); got != tt.want {
			t.Errorf("Error() = %q, want %q", got, tt.want)
		}
	}
}

// demoFile is a file of test-only sections that follow the section contract.
type demoFile struct {
	Demo  *demoSection `yaml:"demo,omitempty" json:"demo,omitempty"`
	Other *demoSection `yaml:"other,omitempty" json:"other,omitempty"`
}

type demoSection struct {
	Every string              `yaml:"every,omitempty" json:"every,omitempty"`
	Items []demoItem          `yaml:"items,omitempty" json:"items,omitempty"`
	Named map[string]demoItem `yaml:"named,omitempty" json:"named,omitempty"`
}

type demoItem struct {
	Name string `yaml:"name" json:"name"`
	Size int    `yaml:"size,omitempty" json:"size,omitempty"`
}

// fieldError is a section's own error type: its Error() repeats the path, as a message
// read alone must.
type fieldError struct {
	path    []string
	problem string
}

func (e fieldError) Error() string       { return strings.Join(e.path, ".") + ": " + e.problem }
func (e fieldError) FieldPath() []string { return e.path }

// reasonError has its reason apart, which config prefers to its Error().
type reasonError struct{ fieldError }

func (e reasonError) Reason() string { return "(reason) " + e.problem }

func (s demoSection) Validate() []error {
	var errs []error
	switch _, err := time.ParseDuration(s.Every); {
	case s.Every == "whole":
		errs = append(errs, errors.New("the section as a whole is wrong"))
	case s.Every == "":
		errs = append(errs, fieldError{[]string{"every"}, "is required"})
	case err != nil:
		errs = append(errs, fmt.Errorf("check: %w", fieldError{[]string{"every"}, fmt.Sprintf("%q is not a duration", s.Every)}))
	}
	for i, it := range s.Items {
		if it.Size < 0 {
			errs = append(errs, fieldError{[]string{"items", strconv.Itoa(i), "size"}, "must not be negative"})
		}
		if it.Name == "deep" {
			errs = append(errs, fieldError{[]string{"items", strconv.Itoa(i), "size", "unit"}, "is not written: reported at the nearest field that is"})
		}
	}
	for _, k := range slices.Sorted(maps.Keys(s.Named)) {
		if s.Named[k].Name != k {
			errs = append(errs, reasonError{fieldError{[]string{"named", k, "name"}, "must be the key"}})
		}
	}
	return append(errs, nil) // nil entries are no problem
}

func TestSectionValidateContract(t *testing.T) {
	tests := []struct {
		name string
		doc  string
		want []string
	}{
		{
			name: "valid",
			doc:  "demo:\n  every: 15m\n",
		},
		{
			name: "each problem at its field",
			doc: `demo:
  every: 15x
  items:
    - name: a
    - name: b
      size: -1
    - name: deep
  named:
    x: {name: x}
    "my y": {name: z}
`,
			want: []string{
				`s.yaml:2:3: demo.every: "15x" is not a duration`,
				"s.yaml:6:7: demo.items[1].size: must not be negative",
				"s.yaml:7:7: demo.items[2].size.unit: is not written: reported at the nearest field that is",
				`s.yaml:10:14: demo.named["my y"].name: (reason) must be the key`,
			},
		},
		{
			name: "a field left out is reported at its section",
			doc:  "other: {items: []}\n",
			want: []string{"s.yaml:1:1: other.every: is required"},
		},
		{
			name: "an error without a field is the section's",
			doc:  "demo:\n  every: whole\n",
			want: []string{"s.yaml:1:1: demo: the section as a whole is wrong"},
		},
		{
			// A section that does not decode is not validated; the others still are.
			name: "validation after structural problems",
			doc:  "demo:\n  every: [15m]\nother:\n  every: 15x\n",
			want: []string{
				"s.yaml:2:10: demo.every: expected a string, got a list",
				`s.yaml:4:3: other.every: "15x" is not a duration`,
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var f demoFile
			err := parse("s.yaml", []byte(tt.doc), &f, true)
			if got := problems(t, err); !slices.Equal(got, tt.want) {
				t.Errorf("problems:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(tt.want, "\n"))
			}
		})
	}
}

// TestSectionErrorsStayReachable: an *Error made from a section's error unwraps to it.
func TestSectionErrorsStayReachable(t *testing.T) {
	err := parse("s.yaml", []byte("demo:\n  every: 15x\n"), new(demoFile), true)
	var fe fieldError
	if !errors.As(err, &fe) || !slices.Equal(fe.FieldPath(), []string{"every"}) {
		t.Errorf("errors.As(%v, fieldError) = %v, %+v; want the section's error", err, errors.As(err, &fe), fe)
	}
}

// TestValidateWithoutAFile: the sections' rules on values built in Go name the field.
func TestValidateWithoutAFile(t *testing.T) {
	f := demoFile{Demo: &demoSection{Every: "15x", Items: []demoItem{{Name: "a", Size: -1}}}}
	want := []string{`demo.every: "15x" is not a duration`, "demo.items[0].size: must not be negative"}
	if got := problems(t, Validate(&f)); !slices.Equal(got, want) {
		t.Errorf("problems %q, want %q", got, want)
	}
}

func TestLoadMissingFile(t *testing.T) {
	err := Load("testdata/absent.yaml", new(shapeFile))
	var e *Error
	if !errors.As(err, &e) || e.File != "testdata/absent.yaml" || !errors.Is(err, fs.ErrNotExist) {
		t.Fatalf("err = %#v, want a *config.Error naming the file that is fs.ErrNotExist", err)
	}
	if want := "testdata/absent.yaml: cannot read: no such file or directory"; err.Error() != want {
		t.Errorf("err = %q, want %q", err, want)
	}
}

func TestParseEmptyHasNoSections(t *testing.T) {
	var f demoFile
	err := Parse("snaplake.yaml", nil, &f)
	if err != nil || len(Present(&f)) != 0 || Validate(&f) != nil {
		t.Errorf("Parse(empty) = %+v, %v; want no sections", f, err)
	}
}

// FuzzParse: whatever the bytes, Parse returns nil or *Errors, never panics, and
// ParseSection a section or an error.
func FuzzParse(f *testing.F) {
	for _, seed := range []string{example, source, "", "---\n", "ingest: [\n", "a: &x [*x]\n", "ingest: {tables: {<<: {}}}\n", "federate: {tables: [{table: a}]}\n"} {
		f.Add([]byte(seed))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		problems(t, Parse("f.yaml", data, new(shapeFile)))
		in, err := ParseSection[shapeIngest]("f.yaml", data, "ingest")
		if (in == nil) == (err == nil) {
			t.Fatalf("ParseSection = %v, %v: want a section or an error", in, err)
		}
		var none *NoSectionError
		if !errors.As(err, &none) {
			problems(t, err)
		}
	})
}

// example is a file with every field of the shape's ingest section written.
const example = `ingest:
  source:
    instance: shop-db
    database: shop
  timeZone: Europe/Berlin
  sets:
    daily:
      at: "02:00"
      tables: [all]
    frequent:
      every: 15m
      between: 08:00-18:00
      days: [MON, TUE, WED, THU, FRI]
      tables: [orders, order_items]
  tables:
    orders: {column: updated_at, rowsPerRange: 100000}
    audit_log: {mode: full}
  defaults: {mode: full}
  access:
    - role: analyst
      tables: [orders]
    - role: finance
      columns:
        orders: [id, total, currency, updated_at]
`
