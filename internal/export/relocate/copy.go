package relocate

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/s3/types"
	"github.com/aws/smithy-go"
)

// copyJob is one object to copy. It carries its own keys so that copies can run
// while the listing is still adding files.
type copyJob struct {
	src, dst string
	size     int64
}

func (r *run) job(i int32) copyJob {
	f := &r.files[i]
	return copyJob{src: r.exportPrefix + f.rel, dst: r.destKey(f), size: f.size}
}

// copyAll copies the jobs it receives until jobs is closed, with at most Concurrency
// requests in flight, counting each part of a multipart copy as one request.
func (r *run) copyAll(ctx context.Context, jobs <-chan copyJob) error {
	g := newGroup(ctx)
	requests := make(chan struct{}, r.o.Concurrency)
	// Multipart coordinators hold no request slot while their parts run (that could
	// deadlock); this bounds how many of them exist at once.
	coordinators := make(chan struct{}, r.o.Concurrency)
	for j := range jobs {
		var started bool
		if j.size > r.o.MultipartThreshold {
			started = g.Go(coordinators, func(ctx context.Context) error { return r.copyMultipart(ctx, requests, j) })
		} else {
			started = g.Go(requests, func(ctx context.Context) error { return r.copyObject(ctx, j) })
		}
		if !started {
			break
		}
	}
	return g.Wait()
}

func (r *run) sse() (types.ServerSideEncryption, *string, *bool) {
	if r.o.KMSKeyID == "" {
		return "", nil, nil
	}
	// The bucket key cuts KMS requests from one per object to one per bucket key
	// period; without it 64 parallel copies can hit KMS request quotas.
	return types.ServerSideEncryptionAwsKms, aws.String(r.o.KMSKeyID), aws.Bool(true)
}

func (r *run) copyObject(ctx context.Context, j copyJob) error {
	src, dst := j.src, j.dst
	in := &s3.CopyObjectInput{
		Bucket:     aws.String(r.o.Bucket),
		Key:        aws.String(dst),
		CopySource: aws.String(copySource(r.o.Bucket, src)),
	}
	in.ServerSideEncryption, in.SSEKMSKeyId, in.BucketKeyEnabled = r.sse()
	if _, err := r.api.CopyObject(ctx, in); err != nil {
		if isNoSuchKey(err) {
			// Another run of the same export (a re-delivered event) moved it first.
			if moved, lerr := r.atDestination(ctx, j); lerr == nil && moved {
				r.log.Info("relocate source already moved by another run", slog.String("source", src), slog.String("dest", dst))
				return nil
			}
		}
		return fmt.Errorf("copy s3://%s/%s to %s: %w", r.o.Bucket, src, dst, r.s3err(err))
	}
	return nil
}

// atDestination reports whether j's destination holds an object of j's size.
func (r *run) atDestination(ctx context.Context, j copyJob) (bool, error) {
	out, err := r.api.ListObjectsV2(ctx, &s3.ListObjectsV2Input{Bucket: aws.String(r.o.Bucket), Prefix: aws.String(j.dst), MaxKeys: aws.Int32(1)})
	if err != nil {
		return false, err
	}
	return len(out.Contents) == 1 && aws.ToString(out.Contents[0].Key) == j.dst && aws.ToInt64(out.Contents[0].Size) == j.size, nil
}

func isNoSuchKey(err error) bool {
	var nsk *types.NoSuchKey
	var api smithy.APIError
	return errors.As(err, &nsk) || (errors.As(err, &api) && api.ErrorCode() == "NoSuchKey")
}

// copyMultipart copies one large object with UploadPartCopy, its parts running
// concurrently within the shared request bound, and aborts the upload on failure.
func (r *run) copyMultipart(ctx context.Context, requests chan struct{}, j copyJob) error {
	src, dst := j.src, j.dst
	f := &j
	if !acquire(ctx, requests) {
		return context.Cause(ctx)
	}
	in := &s3.CreateMultipartUploadInput{Bucket: aws.String(r.o.Bucket), Key: aws.String(dst)}
	in.ServerSideEncryption, in.SSEKMSKeyId, in.BucketKeyEnabled = r.sse()
	created, err := r.api.CreateMultipartUpload(ctx, in)
	<-requests
	if err != nil {
		return fmt.Errorf("start multipart copy of s3://%s/%s to %s: %w", r.o.Bucket, src, dst, r.s3err(err))
	}
	uploadID := created.UploadId
	partSize := r.o.partSize(f.size)
	n := int((f.size + partSize - 1) / partSize)
	log := r.log.With(slog.String("source", src), slog.String("dest", dst), slog.String("uploadId", aws.ToString(uploadID)))
	log.Info("relocate multipart copy", slog.Int64("size", f.size), slog.Int64("partSize", partSize), slog.Int("parts", n))

	abort := func(cause error) error {
		// The run's context may be what failed: abort on a fresh deadline so the
		// parts do not linger (and bill) until a lifecycle rule removes them.
		actx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 30*time.Second)
		defer cancel()
		if _, err := r.api.AbortMultipartUpload(actx, &s3.AbortMultipartUploadInput{
			Bucket: aws.String(r.o.Bucket), Key: aws.String(dst), UploadId: uploadID,
		}); err != nil {
			log.Warn("relocate abort multipart copy failed", slog.Any("error", err))
		}
		return cause
	}

	parts := make([]types.CompletedPart, n)
	g := newGroup(ctx)
	source := aws.String(copySource(r.o.Bucket, src))
	for k := 0; k < n; k++ {
		if !g.Go(requests, func(ctx context.Context) error {
			first := int64(k) * partSize
			last := min(first+partSize, f.size) - 1
			num := aws.Int32(int32(k + 1))
			out, err := r.api.UploadPartCopy(ctx, &s3.UploadPartCopyInput{
				Bucket:          aws.String(r.o.Bucket),
				Key:             aws.String(dst),
				UploadId:        uploadID,
				PartNumber:      num,
				CopySource:      source,
				CopySourceRange: aws.String(fmt.Sprintf("bytes=%d-%d", first, last)),
			})
			if err != nil {
				return fmt.Errorf("copy part %d (bytes %d-%d) of s3://%s/%s to %s: %w", k+1, first, last, r.o.Bucket, src, dst, r.s3err(err))
			}
			part := types.CompletedPart{PartNumber: num}
			if out.CopyPartResult != nil {
				part.ETag = out.CopyPartResult.ETag
			}
			parts[k] = part
			return nil
		}) {
			break
		}
	}
	if err := g.Wait(); err != nil {
		return abort(err)
	}
	if !acquire(ctx, requests) {
		return abort(context.Cause(ctx))
	}
	_, err = r.api.CompleteMultipartUpload(ctx, &s3.CompleteMultipartUploadInput{
		Bucket:          aws.String(r.o.Bucket),
		Key:             aws.String(dst),
		UploadId:        uploadID,
		MultipartUpload: &types.CompletedMultipartUpload{Parts: parts},
	})
	<-requests
	if err != nil {
		return abort(fmt.Errorf("complete multipart copy of s3://%s/%s to %s: %w", r.o.Bucket, src, dst, r.s3err(err)))
	}
	return nil
}
