package s3obj

import (
	"context"
	"fmt"
	"io"
	"os"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	s3types "github.com/aws/aws-sdk-go-v2/service/s3/types"
)

// Staged is an object written to a local temporary file and uploaded on Close, so
// that memory never holds a whole file (a Parquet file of a table export, say).
type Staged struct {
	*os.File
	ctx         context.Context
	api         PutAPI
	bucket, key string
	kmsKeyID    string
}

// NewStaged starts an object for bucket/key in a temporary file in dir ("" is
// os.TempDir()); kmsKeyID, when set, encrypts it with SSE-KMS.
func NewStaged(ctx context.Context, api PutAPI, dir, bucket, key, kmsKeyID string) (*Staged, error) {
	f, err := os.CreateTemp(dir, "staged-*")
	if err != nil {
		return nil, fmt.Errorf("create a staging file for s3://%s/%s: %w", bucket, key, err)
	}
	return &Staged{File: f, ctx: ctx, api: api, bucket: bucket, key: key, kmsKeyID: kmsKeyID}, nil
}

// Close uploads what was written and removes the temporary file.
func (o *Staged) Close() error {
	defer os.Remove(o.Name())
	defer o.File.Close()
	size, err := o.Seek(0, io.SeekCurrent)
	if err != nil {
		return fmt.Errorf("size staging file %s: %w", o.Name(), err)
	}
	in := &s3.PutObjectInput{Bucket: aws.String(o.bucket), Key: aws.String(o.key), Body: io.NewSectionReader(o.File, 0, size), ContentLength: aws.Int64(size)}
	if o.kmsKeyID != "" {
		in.ServerSideEncryption, in.SSEKMSKeyId = s3types.ServerSideEncryptionAwsKms, aws.String(o.kmsKeyID)
	}
	if _, err := o.api.PutObject(o.ctx, in); err != nil {
		return fmt.Errorf("put s3://%s/%s: %w", o.bucket, o.key, err)
	}
	return nil
}
