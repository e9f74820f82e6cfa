package config

import (
	"errors"
	"reflect"
	"strings"
)

// validator is a section that checks its own rules (see the package doc).
type validator interface {
	Validate() []error
}

// validateSections applies the Validate of every section of root, a struct of sections.
func validateSections(root reflect.Value) error {
	var errs []error
	for _, fld := range fieldsOf(root.Type()) {
		for _, p := range validateSection(fld.name, root.Field(fld.index)) {
			errs = append(errs, &Error{Field: p.field, Reason: p.reason, err: p.err})
		}
	}
	return errors.Join(errs...)
}

// sectionProblem is one error of a section's Validate.
type sectionProblem struct {
	path   []string // in the section; nil: the section as a whole
	field  string   // the path named as check names fields: ingest.access[2].role
	reason string
	err    error // as the section returned it, for errors.Is and errors.As
}

// validateSection applies the Validate of the section called name, held in v (a field
// of a struct of sections), if it is present and has one.
func validateSection(name string, v reflect.Value) []sectionProblem {
	if v.Kind() == reflect.Pointer && v.IsNil() {
		return nil
	}
	if v.Kind() != reflect.Pointer && v.CanAddr() {
		v = v.Addr()
	}
	s, ok := v.Interface().(validator)
	if !ok {
		return nil
	}
	var out []sectionProblem
	for _, err := range s.Validate() {
		if err == nil {
			continue
		}
		p := sectionProblem{err: err}
		var fe interface{ FieldPath() []string }
		if errors.As(err, &fe) {
			p.path = fe.FieldPath()
			if e, ok := fe.(error); ok {
				err = e // its message, not a wrapper's
			}
		}
		p.field = fieldName(name, v.Type(), p.path)
		if r, ok := err.(interface{ Reason() string }); ok {
			p.reason = r.Reason()
		} else {
			// A message read alone names its field; here the Error's Field does.
			p.reason = err.Error()
			for _, prefix := range []string{p.field, strings.Join(p.path, ".")} {
				if r, ok := strings.CutPrefix(p.reason, prefix+": "); ok && prefix != "" {
					p.reason = r
					break
				}
			}
		}
		out = append(out, p)
	}
	return out
}

// fieldName names the field at path in a section the way check does, from the section's
// name and type: a list element as [2], a struct field or a map key as .name.
func fieldName(section string, t reflect.Type, path []string) string {
	name := section
	for _, elem := range path {
		for t != nil && t.Kind() == reflect.Pointer {
			t = t.Elem()
		}
		var next reflect.Type
		switch {
		case t == nil:
			name = child(name, elem)
		case t.Kind() == reflect.Slice || t.Kind() == reflect.Array:
			name += "[" + elem + "]"
			next = t.Elem()
		case t.Kind() == reflect.Map:
			name = child(name, elem)
			next = t.Elem()
		case t.Kind() == reflect.Struct:
			name = child(name, elem)
			for _, f := range fieldsOf(t) {
				if f.name == elem {
					next = t.Field(f.index).Type
				}
			}
		default:
			name = child(name, elem)
		}
		t = next
	}
	return name
}
