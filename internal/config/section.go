package config

import (
	"context"
	"reflect"

	"github.com/snaplake/snaplake/internal/aws/s3get"
)

// NoSectionError says the file has no section called Section, which the caller needs.
type NoSectionError struct{ File, Section string }

func (e *NoSectionError) Error() string { return e.File + ": no " + e.Section + " section" }

// ParseSection decodes the section called section (one of deploy.ConfigSections) of
// data, the contents of the file called name, into a new T and applies its Validate;
// the other capabilities' sections are skipped (see the package doc). A file without
// the section is a *NoSectionError; its problems are *Errors, as Parse's.
func ParseSection[T any](name string, data []byte, section string) (*T, error) {
	v := sectionOf[T](section)
	if err := parse(name, data, v.Interface(), true); err != nil {
		return nil, err
	}
	got := v.Elem().Field(0)
	if got.IsNil() {
		return nil, &NoSectionError{File: name, Section: section}
	}
	return got.Interface().(*T), nil
}

// LoadSection reads the file at path and decodes its section called section; see
// ParseSection.
func LoadSection[T any](path, section string) (*T, error) {
	data, err := read(path)
	if err != nil {
		return nil, err
	}
	return ParseSection[T](path, data, section)
}

// SectionFromS3 reads the deployment's config, s3://bucket/S3Key, and decodes its
// section called section: how a capability's run takes its section. A config the run
// cannot use (missing, not valid, without the section) is a *RefusedError; a
// failed read is not.
func SectionFromS3[T any](ctx context.Context, api s3get.API, bucket, section string) (*T, error) {
	name, data, err := fromS3(ctx, api, bucket)
	if err != nil {
		return nil, err
	}
	out, err := ParseSection[T](name, data, section)
	if err != nil {
		return nil, &RefusedError{Err: err}
	}
	return out, nil
}

// sectionOf is a new struct of one section, T under the name section:
// struct{ Section *T `yaml:"<section>,omitempty" json:"<section>,omitempty"` }.
func sectionOf[T any](section string) reflect.Value {
	tag := `yaml:"` + section + `,omitempty" json:"` + section + `,omitempty"`
	t := reflect.StructOf([]reflect.StructField{{Name: "Section", Type: reflect.TypeFor[*T](), Tag: reflect.StructTag(tag)}})
	return reflect.New(t)
}
