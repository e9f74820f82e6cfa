// Package s3get reads an S3 object that may not exist, correctly whether or not the
// caller may list the bucket: S3 answers a GET of a missing key with 404 NoSuchKey
// only to callers with s3:ListBucket, and with 403 AccessDenied to everyone else.
package s3get

import (
	"context"
	"errors"
	"fmt"
	"slices"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	s3types "github.com/aws/aws-sdk-go-v2/service/s3/types"
	"github.com/aws/smithy-go"
)

// API is the part of S3 Optional uses; *s3.Client satisfies it.
type API interface {
	GetObject(ctx context.Context, in *s3.GetObjectInput, optFns ...func(*s3.Options)) (*s3.GetObjectOutput, error)
	ListObjectsV2(ctx context.Context, in *s3.ListObjectsV2Input, optFns ...func(*s3.Options)) (*s3.ListObjectsV2Output, error)
}

// Optional gets bucket/key; it returns (nil, nil) when the object does not exist.
//
// A 403 may mean "missing" for a caller whose s3:ListBucket is limited by an
// s3:prefix condition (whether S3 counts such a grant for the 404 rule is not
// documented), so on AccessDenied the key is listed, with the key itself as the
// prefix: not listed means missing; listed means the object exists, and a second GET
// tells whether it appeared in between or the read really is denied.
func Optional(ctx context.Context, api API, bucket, key string) (*s3.GetObjectOutput, error) {
	// An object written and deleted again while it is read (a wait parked and resumed
	// meanwhile) makes a GET denied, a listing find it, and the next GET denied again:
	// a few rounds settle it.
	var err error
	for range 3 {
		var out *s3.GetObjectOutput
		out, err = api.GetObject(ctx, &s3.GetObjectInput{Bucket: aws.String(bucket), Key: aws.String(key)})
		if err == nil {
			return out, nil
		}
		var nsk *s3types.NoSuchKey
		if errors.As(err, &nsk) {
			return nil, nil
		}
		var ae smithy.APIError
		if !errors.As(err, &ae) || ae.ErrorCode() != "AccessDenied" {
			return nil, fmt.Errorf("get s3://%s/%s: %w", bucket, key, err)
		}
		list, lerr := api.ListObjectsV2(ctx, &s3.ListObjectsV2Input{Bucket: aws.String(bucket), Prefix: aws.String(key), MaxKeys: aws.Int32(1)})
		if lerr != nil {
			return nil, fmt.Errorf("get s3://%s/%s: %w (and listing the key to tell a missing object from a denied one failed: %v)", bucket, key, err, lerr)
		}
		if !slices.ContainsFunc(list.Contents, func(o s3types.Object) bool { return aws.ToString(o.Key) == key }) {
			return nil, nil // not listed: missing
		}
		// Listed: either the GET really is denied, or the object was written between
		// the GET and the listing. Ask again: a denial repeats every round.
	}
	return nil, fmt.Errorf("get s3://%s/%s: %w", bucket, key, err)
}
