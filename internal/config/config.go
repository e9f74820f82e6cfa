// Package config loads snaplake.yaml, the one runtime config of every capability; an
// error names the file, the line and the field. It knows no capability: a caller
// passes the sections it wants, and the whole file's type (every section, with its
// published JSON Schema) lives with `snaplake config validate` in internal/opscli.
//
// A struct of sections is a struct whose fields are sections, each a pointer with
// omitempty and identical yaml and json names (the section's name, one of
// deploy.ConfigSections):
//
//	var f struct {
//		Ingest *ingest.Config `yaml:"ingest,omitempty" json:"ingest,omitempty"`
//	}
//	err := config.Load("snaplake.yaml", &f)
//
// Decoding is strict: unknown keys, wrong types, duplicate keys and missing required
// fields are errors. A top-level key that is another capability's section (in
// deploy.ConfigSections but not a field) is skipped, neither decoded nor validated, so
// that a mistake in one capability's section stops only that capability; any other
// top-level key is a typo, and an error. ParseSection, LoadSection and SectionFromS3
// read one section alone.
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
//
// A section that has a method SetLocator(F), with F a func([]string) (string, int, int)
// type of its own package, is handed the place of its fields after decoding, so that
// the problems it finds later (against a database, say) name the file and line too.
package config

import (
	"bytes"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"reflect"
	"strconv"

	"github.com/snaplake/snaplake/internal/deploy"
)

// S3Key is where a deployment keeps snaplake.yaml: this key of the lake bucket, beside
// the prefixes of internal/deploy and outside data/, so that no crawler or table reads
// it. A run reads it at its start and refuses a version that does not validate,
// changing nothing.
const S3Key = deploy.ConfigKey

// Load reads and parses the file at path into sections; see Parse.
func Load(path string, sections any) error {
	data, err := read(path)
	if err != nil {
		return err
	}
	return Parse(path, data, sections)
}

// read reads the file at path; a failure is an *Error naming it.
func read(path string) ([]byte, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		reason := err.Error()
		var pe *fs.PathError
		if errors.As(err, &pe) {
			reason = pe.Err.Error() // the path is already the Error's File
		}
		return nil, &Error{File: path, Reason: "cannot read: " + reason, err: err}
	}
	return data, nil
}

// Parse decodes data, the contents of the file called name, strictly into sections (a
// pointer to a struct of sections, see the package doc) and applies the Validate of
// every section it decoded. The error joins one *Error per problem, in the order of
// their lines. Parse panics when sections is not a pointer to a struct: that is a bug
// of the caller, not of the file.
func Parse(name string, data []byte, sections any) error {
	return parse(name, data, sectionsValue(sections).Addr().Interface(), true)
}

// Validate applies the Validate of every present section of sections (a pointer to a
// struct of sections): the rules a schema cannot say. Parse has already applied it;
// this is for sections built in Go. Its errors carry the field but no file or line.
func Validate(sections any) error {
	return validateSections(sectionsValue(sections))
}

// Present names the sections present in sections (a pointer to a struct of sections),
// in the order its fields declare them.
func Present(sections any) []string {
	var names []string
	v := sectionsValue(sections)
	for _, fld := range fieldsOf(v.Type()) {
		if f := v.Field(fld.index); f.Kind() != reflect.Pointer || !f.IsNil() {
			names = append(names, fld.name)
		}
	}
	return names
}

// sectionsValue is the struct sections points to.
func sectionsValue(sections any) reflect.Value {
	v := reflect.ValueOf(sections)
	if v.Kind() != reflect.Pointer || v.IsNil() || v.Elem().Kind() != reflect.Struct {
		panic(fmt.Sprintf("config: sections is a %T, want a non-nil pointer to a struct of sections", sections))
	}
	return v.Elem()
}

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
