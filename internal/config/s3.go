package config

import (
	"context"
	"fmt"
	"io"

	"github.com/snaplake/snaplake/internal/s3get"
)

// RefusedError says the config in the bucket cannot be used: it is missing or does
// not parse (Err names the file, line and field). A run refuses it and changes
// nothing; reading errors are not RefusedErrors.
type RefusedError struct{ Err error }

func (e *RefusedError) Error() string { return e.Err.Error() }
func (e *RefusedError) Unwrap() error { return e.Err }

// FromS3 reads and parses the deployment's config, s3://bucket/S3Key.
func FromS3(ctx context.Context, api s3get.API, bucket string) (*File, error) {
	name := "s3://" + bucket + "/" + S3Key
	out, err := s3get.Optional(ctx, api, bucket, S3Key)
	if err != nil {
		return nil, fmt.Errorf("read %s: %w", name, err)
	}
	if out == nil {
		return nil, &RefusedError{Err: fmt.Errorf("%s does not exist: upload the config there (snaplake config validate checks it first)", name)}
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
