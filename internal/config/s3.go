package config

import (
	"context"
	"fmt"
	"io"

	"github.com/snaplake/snaplake/internal/aws/s3get"
)

// RefusedError says a run cannot use the config: it is missing, does not parse or
// validate, has not the run's section, or does not fit what the run finds (the
// database the stack was deployed for, the source's tables). Err names the file,
// line and field. The run changes nothing. Reading errors (a denied or throttled
// read) are not RefusedErrors.
//
// It is the one config error of every capability's handlers: Lambda reports it by its
// type name, RefusedError, which is what a workflow's failure and its tests see.
type RefusedError struct{ Err error }

func (e *RefusedError) Error() string {
	return "the config is refused, nothing was changed: " + e.Err.Error()
}
func (e *RefusedError) Unwrap() error { return e.Err }

// MissingError says the config is not in the bucket (S3 answered NoSuchKey, not a
// denied read): it is wrapped in a RefusedError, and a scheduled run that has no
// config yet may treat it as "nothing to do".
type MissingError struct{ Name string }

func (e *MissingError) Error() string {
	return e.Name + " does not exist: upload the config there (snaplake config validate checks it first)"
}

// FromS3 reads the deployment's config, s3://bucket/S3Key, into sections (a pointer
// to a struct of sections); see Parse. A config that is missing or does not validate
// is a *RefusedError; a failed read is not.
func FromS3(ctx context.Context, api s3get.API, bucket string, sections any) error {
	name, data, err := fromS3(ctx, api, bucket)
	if err != nil {
		return err
	}
	if err := Parse(name, data, sections); err != nil {
		return &RefusedError{Err: err}
	}
	return nil
}

// fromS3 reads s3://bucket/S3Key, its name and contents.
func fromS3(ctx context.Context, api s3get.API, bucket string) (string, []byte, error) {
	name := "s3://" + bucket + "/" + S3Key
	out, err := s3get.Optional(ctx, api, bucket, S3Key)
	if err != nil {
		return name, nil, fmt.Errorf("read %s: %w", name, err)
	}
	if out == nil {
		return name, nil, &RefusedError{Err: &MissingError{Name: name}}
	}
	defer out.Body.Close()
	data, err := io.ReadAll(out.Body)
	if err != nil {
		return name, nil, fmt.Errorf("read %s: %w", name, err)
	}
	return name, data, nil
}
