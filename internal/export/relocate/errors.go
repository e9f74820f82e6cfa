package relocate

import (
	"fmt"
	"strings"
)

// InvalidOptionError reports an option Run cannot work with; nothing was changed.
type InvalidOptionError struct {
	Field, Value, Reason string
}

func (e *InvalidOptionError) Error() string {
	return fmt.Sprintf("invalid option %s=%q: %s", e.Field, e.Value, e.Reason)
}

// ExportNotFoundError means the export folder holds no object at all: wrong export
// id, wrong prefix, or an export that has not written anything yet.
type ExportNotFoundError struct {
	Bucket, Prefix string
}

func (e *ExportNotFoundError) Error() string {
	return fmt.Sprintf("export not found: no object under s3://%s/%s", e.Bucket, e.Prefix)
}

// BucketNotFoundError means the bucket does not exist (S3 NoSuchBucket).
type BucketNotFoundError struct {
	Bucket string
}

func (e *BucketNotFoundError) Error() string {
	return fmt.Sprintf("bucket %s does not exist", e.Bucket)
}

// VerifyError means some copies were not found at their destination with the source's
// size after copying; no source was deleted.
type VerifyError struct {
	Bucket string
	// Missing holds up to 10 destination keys that failed verification.
	Missing []string
	Count   int
}

func (e *VerifyError) Error() string {
	return fmt.Sprintf("verify copies in s3://%s: %d destination objects missing or of the wrong size (e.g. %s); no source deleted",
		e.Bucket, e.Count, strings.Join(e.Missing, ", "))
}

// LostFileError means a file recorded in the export's manifest is neither in the
// export folder nor at its destination: something outside snaplake removed it.
type LostFileError struct {
	Bucket, Source, Dest string
}

func (e *LostFileError) Error() string {
	return fmt.Sprintf("export file s3://%s/%s is neither in the export nor at s3://%s/%s", e.Bucket, e.Source, e.Bucket, e.Dest)
}

// DeleteError reports the keys a DeleteObjects call answered with per-key errors.
type DeleteError struct {
	Bucket string
	Failed int
	// Key, Code and Message describe the first failure.
	Key, Code, Message string
}

func (e *DeleteError) Error() string {
	return fmt.Sprintf("delete objects in s3://%s: %d keys failed, first %s: %s %s", e.Bucket, e.Failed, e.Key, e.Code, e.Message)
}
