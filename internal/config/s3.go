package config

import (
	"context"
	"fmt"
	"io"

	"github.com/snaplake/snaplake/internal/aws/s3get"
)

// RefusedError says the config in the bucket cannot be used: it is missing or does
// not parse (Err names the file, line and field). A run refuses it and changes
// nothing; reading errors are not RefusedErrors.
type RefusedError struct{ Err error }

func (e *RefusedError) Error() string { return e.Err.Error() }
func (e *RefusedError) Unwrap() error { return e.Err }

// MissingError says the config is not in the bucket (S3 answered NoSuchKey, not a
// denied read): it is wrapped in a RefusedError, and a scheduled run that has no
// config yet may treat it as "nothing to do".
type MissingError struct{ Name string }

func (e *MissingError) Error() string {
	return e.Name + " does not exist: upload the config there (snaplake config validate checks it first)"
}

// FromS3 reads and parses the deployment's config, s3://bucket/S3Key.
func FromS3(ctx context.Context, api s3get.API, bucket string) (*File, error) {
	name := "s3://" + bucket + "/" + S3Key
	out, err := s3get.Optional(ctx, api, bucket, S3Key)
	if err != nil {
		return nil, fmt.Errorf("read %s: %w", name, err)
	}
	if out == nil {
		return nil, &RefusedError{Err: &MissingError{Name: name}}
	}
	defer out.Body.Close()
	data, err := io.ReadAll(out.Body)
	if err != nil {
		return nil, fmt.Errorf("read %s: %w", name, err)
	}
	f, err := Parse(name, data)
	if err != nil {
		return nil, &RefusedError{Err: err}
	}
	return f, nil
}
