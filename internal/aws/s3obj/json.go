package s3obj

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	s3types "github.com/aws/aws-sdk-go-v2/service/s3/types"
	"github.com/aws/smithy-go"

	"github.com/snaplake/snaplake/internal/aws/s3get"
)

// PutAPI is the part of S3 PutJSON uses.
type PutAPI interface {
	PutObject(ctx context.Context, in *s3.PutObjectInput, optFns ...func(*s3.Options)) (*s3.PutObjectOutput, error)
}

// PutJSON writes v as an indented JSON object, SSE-KMS with kmsKeyID when it is set
// (else the bucket's default). With onlyNew the write is conditional (If-None-Match:
// *): an existing object makes it fail with an error PreconditionFailed recognizes.
func PutJSON(ctx context.Context, api PutAPI, bucket, key, kmsKeyID string, v any, onlyNew bool) error {
	ifNoneMatch := ""
	if onlyNew {
		ifNoneMatch = "*"
	}
	return putJSON(ctx, api, bucket, key, kmsKeyID, v, ifNoneMatch, "")
}

// ReplaceJSON writes v over the object only if it is still the one whose ETag is etag
// (If-Match): an object changed or removed since it was read makes it fail with an
// error ReplacedOrGone recognizes. S3 applies If-Match on PutObject atomically
// ("Conditional writes", S3 User Guide), so of two writers that read the same object
// exactly one replaces it.
func ReplaceJSON(ctx context.Context, api PutAPI, bucket, key, kmsKeyID string, v any, etag string) error {
	if etag == "" {
		return fmt.Errorf("replace s3://%s/%s: no ETag to match", bucket, key)
	}
	return putJSON(ctx, api, bucket, key, kmsKeyID, v, "", etag)
}

func putJSON(ctx context.Context, api PutAPI, bucket, key, kmsKeyID string, v any, ifNoneMatch, ifMatch string) error {
	body, err := json.MarshalIndent(v, "", "  ")
	if err != nil {
		return fmt.Errorf("encode s3://%s/%s: %w", bucket, key, err)
	}
	in := &s3.PutObjectInput{Bucket: aws.String(bucket), Key: aws.String(key), Body: bytes.NewReader(body),
		ContentLength: aws.Int64(int64(len(body))), ContentType: aws.String("application/json")}
	if kmsKeyID != "" {
		in.ServerSideEncryption, in.SSEKMSKeyId = s3types.ServerSideEncryptionAwsKms, aws.String(kmsKeyID)
	}
	if ifNoneMatch != "" {
		in.IfNoneMatch = aws.String(ifNoneMatch)
	}
	if ifMatch != "" {
		in.IfMatch = aws.String(ifMatch)
	}
	if _, err := api.PutObject(ctx, in); err != nil {
		return fmt.Errorf("put s3://%s/%s: %w", bucket, key, err)
	}
	return nil
}

// PreconditionFailed says a conditional write found the object there (or lost a
// race for it).
func PreconditionFailed(err error) bool {
	var ae smithy.APIError
	return errors.As(err, &ae) && (ae.ErrorCode() == "PreconditionFailed" || ae.ErrorCode() == "ConditionalRequestConflict")
}

// ReplacedOrGone says a write with If-Match lost: the object changed since it was
// read (412 PreconditionFailed, or 409 ConditionalRequestConflict for a concurrent
// write), or it is gone (404 NoSuchKey: If-Match on a missing key).
func ReplacedOrGone(err error) bool {
	var ae smithy.APIError
	return PreconditionFailed(err) || (errors.As(err, &ae) && ae.ErrorCode() == "NoSuchKey")
}

// GetJSON reads a JSON object into v; found is false when it does not exist (a
// missing key is told from a denied one as s3get.Optional does).
func GetJSON(ctx context.Context, api s3get.API, bucket, key string, v any) (found bool, err error) {
	found, _, err = GetJSONWithETag(ctx, api, bucket, key, v)
	return found, err
}

// GetJSONWithETag is GetJSON that also returns the object's ETag, for a later
// ReplaceJSON.
func GetJSONWithETag(ctx context.Context, api s3get.API, bucket, key string, v any) (found bool, etag string, err error) {
	out, err := s3get.Optional(ctx, api, bucket, key)
	if err != nil || out == nil {
		return false, "", err
	}
	defer out.Body.Close()
	if err := json.NewDecoder(out.Body).Decode(v); err != nil {
		return false, "", fmt.Errorf("decode s3://%s/%s: %w", bucket, key, err)
	}
	return true, aws.ToString(out.ETag), nil
}
