// Package s3obj is the small object chores every store in the lake bucket does
// alike: a JSON object written (encrypted, optionally only if new) or read, and a
// folder deleted.
package s3obj

import (
	"context"
	"fmt"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	s3types "github.com/aws/aws-sdk-go-v2/service/s3/types"
)

// DeleteAPI is the part of S3 DeletePrefix uses; *s3.Client satisfies it.
type DeleteAPI interface {
	ListObjectsV2(ctx context.Context, in *s3.ListObjectsV2Input, optFns ...func(*s3.Options)) (*s3.ListObjectsV2Output, error)
	DeleteObjects(ctx context.Context, in *s3.DeleteObjectsInput, optFns ...func(*s3.Options)) (*s3.DeleteObjectsOutput, error)
}

// DeletePrefix deletes every object under prefix (a folder, ending in "/"), a page
// of DeleteObjects at a time, reporting the first per-key error S3 returns in its
// 200 answer; it returns how many it deleted.
func DeletePrefix(ctx context.Context, api DeleteAPI, bucket, prefix string) (int, error) {
	n := 0
	p := s3.NewListObjectsV2Paginator(api, &s3.ListObjectsV2Input{Bucket: aws.String(bucket), Prefix: aws.String(prefix)})
	for p.HasMorePages() {
		page, err := p.NextPage(ctx)
		if err != nil {
			return n, fmt.Errorf("list s3://%s/%s: %w", bucket, prefix, err)
		}
		if len(page.Contents) == 0 {
			continue
		}
		objs := make([]s3types.ObjectIdentifier, len(page.Contents))
		for i, o := range page.Contents {
			objs[i] = s3types.ObjectIdentifier{Key: o.Key}
		}
		out, err := api.DeleteObjects(ctx, &s3.DeleteObjectsInput{Bucket: aws.String(bucket), Delete: &s3types.Delete{Objects: objs, Quiet: aws.Bool(true)}})
		if err != nil {
			return n, fmt.Errorf("delete under s3://%s/%s: %w", bucket, prefix, err)
		}
		if len(out.Errors) > 0 {
			e := out.Errors[0]
			return n, fmt.Errorf("delete s3://%s/%s: %s: %s (and %d more)", bucket, aws.ToString(e.Key), aws.ToString(e.Code), aws.ToString(e.Message), len(out.Errors)-1)
		}
		n += len(objs)
	}
	return n, nil
}
