package config

import (
	"bytes"
	"encoding"
	"errors"
	"fmt"
	"io"
	"reflect"
	"regexp"
	"slices"
	"sort"
	"strconv"
	"strings"
	"time"

	"gopkg.in/yaml.v3"

	"github.com/snaplake/snaplake/internal/deploy"
)

// parse decodes data into out, a pointer to a struct of sections, checking the YAML
// tree against out's type itself: yaml.v3's KnownFields gives neither
// columns nor field paths, knows no required fields, and decodes a number into a string
// field where the schema (and so an editor) wants a string.
func parse(name string, data []byte, out any, validate bool) error {
	d := &decoder{file: name}
	root := d.document(data)
	if root == nil {
		return d.err() // a syntax error, or an empty file: no sections
	}
	v := reflect.ValueOf(out).Elem()
	d.check(root, root, v.Type(), "")
	if root.Kind != yaml.MappingNode {
		return d.err()
	}
	for _, fld := range fieldsOf(v.Type()) {
		key, val := lookup(root, fld.name)
		if key == nil || d.failed(fld.name) {
			continue
		}
		if err := val.Decode(v.Field(fld.index).Addr().Interface()); err != nil {
			// Not expected once check passed; reported all the same.
			msgs := []string{err.Error()}
			var te *yaml.TypeError
			if errors.As(err, &te) {
				msgs = te.Errors
			}
			for _, msg := range msgs {
				d.errs = append(d.errs, yamlError(d.file, msg))
			}
			continue
		}
		setLocator(v.Field(fld.index), func(path []string) (string, int, int) {
			at := locate(key, val, path)
			return d.file, at.Line, at.Column
		})
		if validate {
			for _, p := range validateSection(fld.name, v.Field(fld.index)) {
				at := locate(key, val, p.path)
				d.errs = append(d.errs, &Error{File: d.file, Line: at.Line, Column: at.Column, Field: p.field, Reason: p.reason, err: p.err})
			}
		}
	}
	return d.err()
}

// setLocator hands a section (held in v, a field of a struct of sections) the place
// of its fields, if it has a method SetLocator(F) with F a func([]string) (string,
// int, int) type of its own package (which does not import config): the problems it
// finds after loading (against a database, say) then name the file and line as the
// loader's do.
func setLocator(v reflect.Value, locate func([]string) (string, int, int)) {
	if v.Kind() == reflect.Pointer && v.IsNil() {
		return
	}
	if v.Kind() != reflect.Pointer && v.CanAddr() {
		v = v.Addr()
	}
	m := v.MethodByName("SetLocator")
	if !m.IsValid() || m.Type().NumIn() != 1 {
		return
	}
	in := m.Type().In(0)
	if in.Kind() != reflect.Func || !reflect.TypeOf(locate).ConvertibleTo(in) {
		return
	}
	m.Call([]reflect.Value{reflect.ValueOf(locate).Convert(in)})
}

type decoder struct {
	file    string
	errs    []*Error
	visited int // values checked, aliases expanded: bounded against alias bombs
}

// maxValues bounds the values check visits; a real config has hundreds.
const maxValues = 1_000_000

func (d *decoder) add(at *yaml.Node, field, format string, args ...any) {
	e := &Error{File: d.file, Field: field, Reason: fmt.Sprintf(format, args...)}
	if at != nil {
		e.Line, e.Column = at.Line, at.Column
	}
	d.errs = append(d.errs, e)
}

// failed reports whether a problem was found at or below the top-level key section.
func (d *decoder) failed(section string) bool {
	return slices.ContainsFunc(d.errs, func(e *Error) bool {
		rest, ok := strings.CutPrefix(e.Field, section)
		return ok && (rest == "" || rest[0] == '.' || rest[0] == '[')
	})
}

func (d *decoder) err() error {
	slices.SortStableFunc(d.errs, func(a, b *Error) int {
		if a.Line != b.Line {
			return a.Line - b.Line
		}
		return a.Column - b.Column
	})
	errs := make([]error, len(d.errs))
	for i, e := range d.errs {
		errs[i] = e
	}
	return errors.Join(errs...)
}

// document parses data into its one YAML document's top node; nil when there is none or
// on a syntax error (recorded).
func (d *decoder) document(data []byte) *yaml.Node {
	doc, next, err := documents(data)
	switch {
	case err != nil:
		e := yamlError(d.file, err.Error())
		e.Line = syntaxLine(data, e)
		d.errs = append(d.errs, e)
		return nil
	case !empty(next):
		d.add(next, "", "a second YAML document: the file holds one (remove the ---)")
		return nil
	case empty(doc):
		return nil
	}
	return doc.Content[0]
}

// empty: no document, or one without a value (only comments, or a lone ---).
func empty(doc *yaml.Node) bool {
	return doc == nil || len(doc.Content) == 0 || doc.Content[0].Kind == yaml.ScalarNode && doc.Content[0].ShortTag() == "!!null"
}

// documents parses the first YAML document of data and the start of a second one.
func documents(data []byte) (doc, next *yaml.Node, err error) {
	dec := yaml.NewDecoder(bytes.NewReader(data))
	doc, next = new(yaml.Node), new(yaml.Node)
	if err := dec.Decode(doc); err != nil {
		if errors.Is(err, io.EOF) {
			err = nil
		}
		return nil, nil, err
	}
	if err := dec.Decode(next); err != nil {
		if errors.Is(err, io.EOF) {
			err = nil
		}
		return doc, nil, err
	}
	return doc, next, nil
}

// syntaxLine finds the line of a syntax error. yaml.v3 reports the line where the
// enclosing structure starts (a mapping 30 lines up), or none on the first line; the
// problem is on the first line from there whose prefix of the file fails the same way
// (found by bisection: a prefix that ends past the problem fails there too).
func syntaxLine(data []byte, e *Error) int {
	lines := bytes.SplitAfter(data, []byte("\n"))
	from := max(e.Line, 1)
	if from > len(lines) {
		return e.Line
	}
	k := from + sort.Search(len(lines)-from+1, func(i int) bool {
		_, _, err := documents(bytes.Join(lines[:from+i], nil))
		return err != nil && yamlError("", err.Error()).Reason == e.Reason
	})
	if k > len(lines) {
		return e.Line
	}
	return k
}

var yamlLine = regexp.MustCompile(`^(?:yaml: )?line (\d+): (.*)$`)

// yamlError reads a message of yaml.v3, which carries a line but no column.
func yamlError(file, msg string) *Error {
	e := &Error{File: file, Reason: strings.TrimPrefix(msg, "yaml: ")}
	if m := yamlLine.FindStringSubmatch(msg); m != nil {
		e.Line, _ = strconv.Atoi(m[1])
		e.Reason = m[2]
	}
	return e
}

var (
	durationType        = reflect.TypeFor[time.Duration]()
	textUnmarshalerType = reflect.TypeFor[encoding.TextUnmarshaler]()
)

// check compares the node n with the Go type t and records every difference. at is where
// the value is named (its key, or the list element): missing fields are reported there.
func (d *decoder) check(at, n *yaml.Node, t reflect.Type, field string) {
	if d.visited++; d.visited > maxValues {
		if d.visited == maxValues+1 {
			d.add(n, field, "more than %d values (aliases expanding?)", maxValues)
		}
		return
	}
	n = dealias(n)
	for t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	if !fits(n, t) {
		got := describeNode(n)
		if n.Kind == yaml.ScalarNode && n.ShortTag() != "!!null" && isString(t) {
			got += fmt.Sprintf(` (write "%s" if it is meant as text)`, n.Value)
		}
		want := describeType(t)
		if field == "" {
			want = "a mapping of sections (" + strings.Join(sectionNames(t), ", ") + ")"
		}
		d.add(n, field, "expected %s, got %s", want, got)
		return
	}
	switch {
	case t == durationType:
		if _, err := time.ParseDuration(n.Value); err != nil {
			d.add(n, field, "%q is not a duration (such as 90s, 15m or 24h)", n.Value)
		}
		return
	case reflect.PointerTo(t).Implements(textUnmarshalerType):
		if err := reflect.New(t).Interface().(encoding.TextUnmarshaler).UnmarshalText([]byte(n.Value)); err != nil {
			d.add(n, field, "%v", err)
		}
		return
	}
	switch t.Kind() {
	case reflect.Struct:
		fields := fieldsOf(t)
		seen := d.keys(n, field, func(key, val *yaml.Node) {
			i := slices.IndexFunc(fields, func(f fieldInfo) bool { return f.name == key.Value })
			switch {
			case i < 0 && field == "" && slices.Contains(deploy.ConfigSections, key.Value):
				// Another capability's section: its own run (and `snaplake config
				// validate`) checks it, so that a mistake there stops only that one.
				return
			case i < 0 && field == "":
				d.add(key, child(field, key.Value), "unknown section (known: %s)", strings.Join(sectionNames(t), ", "))
				return
			case i < 0:
				d.add(key, child(field, key.Value), "unknown field (known: %s)", names(fields))
				return
			}
			d.check(key, val, t.Field(fields[i].index).Type, child(field, key.Value))
		})
		for _, f := range fields {
			if f.required && !seen[f.name] {
				d.add(at, child(field, f.name), "is required but missing")
			}
		}
	case reflect.Map:
		d.keys(n, field, func(key, val *yaml.Node) {
			d.check(key, val, t.Elem(), child(field, key.Value))
		})
	case reflect.Slice, reflect.Array:
		for i, el := range n.Content {
			d.check(el, el, t.Elem(), field+"["+strconv.Itoa(i)+"]")
		}
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64,
		reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64:
		if err := n.Decode(reflect.New(t).Interface()); err != nil {
			d.add(n, field, "%s is out of range", n.Value)
		}
	}
}

// keys walks the entries of the mapping n, recording duplicate and non-scalar keys, and
// returns the keys seen.
func (d *decoder) keys(n *yaml.Node, field string, each func(key, val *yaml.Node)) map[string]bool {
	first := map[string]*yaml.Node{}
	seen := map[string]bool{}
	for i := 0; i+1 < len(n.Content); i += 2 {
		key, val := dealias(n.Content[i]), n.Content[i+1]
		switch {
		case key.Kind != yaml.ScalarNode:
			d.add(key, field, "a key must be a plain value, got %s", describeNode(key))
			continue
		case key.ShortTag() == "!!merge":
			d.add(key, field, "merge keys (<<) are not supported: write the keys out")
			continue
		case first[key.Value] != nil:
			d.add(key, child(field, key.Value), "duplicate key (first at line %d)", first[key.Value].Line)
			continue
		}
		first[key.Value] = key
		seen[key.Value] = true
		each(key, val)
	}
	return seen
}

// fits reports whether the kind of node n (and a scalar's tag) is what type t needs.
func fits(n *yaml.Node, t reflect.Type) bool {
	if isString(t) {
		return n.Kind == yaml.ScalarNode && (n.ShortTag() == "!!str" || n.ShortTag() == "!!timestamp")
	}
	switch t.Kind() {
	case reflect.Struct, reflect.Map:
		return n.Kind == yaml.MappingNode
	case reflect.Slice, reflect.Array:
		return n.Kind == yaml.SequenceNode
	case reflect.Bool:
		return n.Kind == yaml.ScalarNode && n.ShortTag() == "!!bool"
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64,
		reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64:
		return n.Kind == yaml.ScalarNode && n.ShortTag() == "!!int"
	case reflect.Float32, reflect.Float64:
		return n.Kind == yaml.ScalarNode && (n.ShortTag() == "!!int" || n.ShortTag() == "!!float")
	}
	return false // a type the schema generator refuses too
}

// isString: the Go types written as a YAML (and JSON) string.
func isString(t reflect.Type) bool {
	return t.Kind() == reflect.String || t == durationType || reflect.PointerTo(t).Implements(textUnmarshalerType)
}

func describeType(t reflect.Type) string {
	switch {
	case t == durationType:
		return "a duration (such as 15m)"
	case isString(t):
		return "a string"
	}
	switch t.Kind() {
	case reflect.Struct, reflect.Map:
		return "a mapping"
	case reflect.Slice, reflect.Array:
		return "a list"
	case reflect.Bool:
		return "true or false"
	case reflect.Float32, reflect.Float64:
		return "a number"
	default:
		return "an integer"
	}
}

func describeNode(n *yaml.Node) string {
	switch n.Kind {
	case yaml.MappingNode:
		return "a mapping"
	case yaml.SequenceNode:
		return "a list"
	}
	switch n.ShortTag() {
	case "!!null":
		return "no value"
	case "!!bool":
		return "the boolean " + n.Value
	case "!!int", "!!float":
		return "the number " + n.Value
	case "!!str":
		return strconv.Quote(n.Value)
	}
	return fmt.Sprintf("%s %q", n.ShortTag(), n.Value)
}

// sectionNames are the top-level keys a file read into the struct of sections t may
// have: the fields of t that are no capability's section (a test's own), then every
// capability's section (those t lacks are skipped), in the order of deploy.
func sectionNames(t reflect.Type) []string {
	var out []string
	for _, f := range fieldsOf(t) {
		if !slices.Contains(deploy.ConfigSections, f.name) {
			out = append(out, f.name)
		}
	}
	return append(out, deploy.ConfigSections...)
}

// fieldInfo is one key of a struct type, as yaml.v3 names it.
type fieldInfo struct {
	name     string
	index    int
	required bool // no omitempty: the schema requires it too
}

func fieldsOf(t reflect.Type) []fieldInfo {
	var out []fieldInfo
	for i := range t.NumField() {
		sf := t.Field(i)
		tag := sf.Tag.Get("yaml")
		if !sf.IsExported() || tag == "-" {
			continue
		}
		name, opts, _ := strings.Cut(tag, ",")
		if name == "" {
			name = strings.ToLower(sf.Name)
		}
		out = append(out, fieldInfo{name: name, index: i, required: !slices.Contains(strings.Split(opts, ","), "omitempty")})
	}
	return out
}

func names(fields []fieldInfo) string {
	var s []string
	for _, f := range fields {
		s = append(s, f.name)
	}
	return strings.Join(s, ", ")
}

func dealias(n *yaml.Node) *yaml.Node {
	for n.Kind == yaml.AliasNode && n.Alias != nil {
		n = n.Alias
	}
	return n
}

// lookup finds the first entry called name in the mapping n.
func lookup(n *yaml.Node, name string) (key, val *yaml.Node) {
	n = dealias(n)
	if n.Kind != yaml.MappingNode {
		return nil, nil
	}
	for i := 0; i+1 < len(n.Content); i += 2 {
		if k := dealias(n.Content[i]); k.Kind == yaml.ScalarNode && k.Value == name {
			return k, dealias(n.Content[i+1])
		}
	}
	return nil, nil
}

// locate follows path from a section's key and value as far as the file writes it and
// returns the node that names the last field found: a key, or a list element.
func locate(key, val *yaml.Node, path []string) *yaml.Node {
	for _, elem := range path {
		switch val = dealias(val); val.Kind {
		case yaml.MappingNode:
			k, v := lookup(val, elem)
			if k == nil {
				return key
			}
			key, val = k, v
		case yaml.SequenceNode:
			i, err := strconv.Atoi(elem)
			if err != nil || i < 0 || i >= len(val.Content) {
				return key
			}
			key, val = val.Content[i], val.Content[i]
		default:
			return key
		}
	}
	return key
}

var plainKey = regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_]*$`)

// child names the field key of field: ingest.sets, or tables["order-items"] for a key
// that is not an identifier (as ingest.FormatPath does, so that its messages match).
func child(field, key string) string {
	switch {
	case !plainKey.MatchString(key):
		return field + "[" + strconv.Quote(key) + "]"
	case field == "":
		return key
	}
	return field + "." + key
}
