// Package config loads snaplake.yaml, the one runtime config of every capability, and
// publishes its JSON Schema; an error names the file, the line and the field.
//
// Each capability owns one top-level section (ingest, later federate, archive...): its
// Go type lives in the capability's package and is a field of File. Decoding is strict
// (unknown keys, wrong types, duplicate keys and missing required fields are errors).
//
// A section checks its own rules by implementing
//
//	Validate() []error
//
// with a value or pointer receiver. The section's package does not import config: an
// error that has a method
//
//	FieldPath() []string
//
// names the field it is about, relative to the section, with map keys and list indexes
// (from 0) as strings: ["sets", "frequent", "every"], ["access", "2", "role"]. Config
// finds that field's line in the file (or the nearest enclosing one that is written
// there) and reports it as an *Error. The reason is the error's Reason() string when it
// has that method, else its Error() text without a leading "sets.frequent.every: ".
// (The error carrying FieldPath gives the reason, not the errors that wrap it.) Any
// other error is about the section as a whole and is reported at its key.
package config

import (
	"bytes"
	_ "embed"
	"errors"
	"github.com/snaplake/snaplake/internal/deploy"
	"io/fs"
	"os"
	"reflect"
	"slices"
	"strconv"

	"github.com/snaplake/snaplake/internal/federate"
	"github.com/snaplake/snaplake/internal/ingest"
)

// S3Key is where a deployment keeps snaplake.yaml: this key of the lake bucket, beside
// the prefixes of internal/deploy and outside data/, so that no crawler or table reads
// it. A run reads it at its start and refuses a version that does not validate,
// changing nothing.
const S3Key = deploy.ConfigKey

// File is the whole of snaplake.yaml. Each capability adds its section here, as a
// pointer with omitempty (an absent section is nil) and identical yaml and json names;
// the published schema follows after `go test ./internal/config -update-schema`.
type File struct {
	// Ingest configures the config-driven loads of MySQL/MariaDB tables into the lake.
	Ingest *ingest.Config `yaml:"ingest,omitempty" json:"ingest,omitempty"`
	// Federate configures the Federator: Redshift tables published to S3 once and
	// subscribed by any number of reporting warehouses.
	Federate *federate.Config `yaml:"federate,omitempty" json:"federate,omitempty"`
}

// Load reads and parses the file at path; see Parse.
func Load(path string) (*File, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		reason := err.Error()
		var pe *fs.PathError
		if errors.As(err, &pe) {
			reason = pe.Err.Error() // the path is already the Error's File
		}
		return nil, &Error{File: path, Reason: "cannot read: " + reason, err: err}
	}
	return Parse(path, data)
}

// Parse decodes data, the contents of the file called name, strictly and applies every
// section's Validate. The error joins one *Error per problem, in the order of their lines.
func Parse(name string, data []byte) (*File, error) {
	var f File
	if err := parse(name, data, &f, true); err != nil {
		return nil, err
	}
	return &f, nil
}

// Validate applies every present section's Validate: the rules a schema cannot say.
// Parse has already applied it; this is for a File built in Go. Its errors carry the
// field but no file or line.
func (f *File) Validate() error {
	return validateSections(reflect.ValueOf(f).Elem())
}

// Sections names the sections present in f, in the order File declares them.
func (f *File) Sections() []string {
	var names []string
	v := reflect.ValueOf(f).Elem()
	for _, fld := range fieldsOf(v.Type()) {
		if !v.Field(fld.index).IsNil() {
			names = append(names, fld.name)
		}
	}
	return names
}

//go:embed snaplake.schema.json
var schema []byte

// Schema is the JSON Schema (draft 2020-12) of snaplake.yaml, generated from File by
// `go test ./internal/config -update-schema`. Editors use it to complete and check the
// file; it says the structure, Parse also applies the sections' own rules.
func Schema() []byte { return slices.Clone(schema) }

// Error is one problem with a config file.
type Error struct {
	File   string // as given to Parse or Load
	Line   int    // 1-based; 0 when unknown
	Column int    // 1-based; 0 when unknown
	Field  string // e.g. ingest.sets.frequent.every, ingest.access[2].role; empty for syntax
	Reason string

	err error // the cause: a failed read, or the error of a section's Validate
}

// Error reads `snaplake.yaml:12:5: ingest.sets.frequent.every: "15x" is not a duration`,
// the form editors and CI logs link to the line.
func (e *Error) Error() string {
	var b bytes.Buffer
	b.WriteString(e.File)
	if e.Line > 0 {
		b.WriteString(":" + strconv.Itoa(e.Line))
		if e.Column > 0 {
			b.WriteString(":" + strconv.Itoa(e.Column))
		}
	}
	if b.Len() > 0 {
		b.WriteString(": ")
	}
	if e.Field != "" {
		b.WriteString(e.Field + ": ")
	}
	b.WriteString(e.Reason)
	return b.String()
}

// Unwrap is the cause: errors.Is(err, fs.ErrNotExist) after a failed read; the
// section's own error (errors.As(err, &fieldErr)) after its Validate.
func (e *Error) Unwrap() error { return e.err }
