package relocate

import (
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/snaplake/snaplake/internal/deploy"
)

// Defaults applied by Run to zero-valued Options fields.
const (
	DefaultSourcePrefix             = deploy.ExportPrefix
	DefaultDestPrefix               = deploy.DataPrefix
	DefaultConcurrency              = 64
	DefaultMultipartThreshold int64 = MaxCopyObjectSize
	DefaultPartSize           int64 = 512 << 20
	// DefaultRetention is what the CLI and the Lambda use when not told otherwise.
	// Options.Retention itself is 0 = keep all, so a zero Options never prunes.
	DefaultRetention = deploy.DefaultRetentionDays
)

// S3 limits that shape the copy.
const (
	MaxCopyObjectSize int64 = 5 << 30 // 5368709120: the largest object CopyObject accepts
	MinPartSize       int64 = 5 << 20 // every part but the last must be at least 5 MiB
	MaxPartSize       int64 = 5 << 30
	MaxParts                = 10000
	maxDeleteBatch          = 1000 // DeleteObjects keys per call
)

// Options says which export to move where. Zero values take the defaults above.
type Options struct {
	Bucket string
	// ExportID is the export task identifier: the folder below SourcePrefix.
	ExportID string
	// SnapshotDate (YYYY-MM-DD) names the destination partition snapshot_date=....
	SnapshotDate string
	// SourcePrefix is where exports land ("exports/"); it must end with "/".
	SourcePrefix string
	// DestPrefix is the crawled lake root ("data/"); it must end with "/".
	DestPrefix string
	// Concurrency bounds in-flight S3 requests (copies and part copies together);
	// 0 means DefaultConcurrency, negative is invalid.
	Concurrency int
	// MultipartThreshold: objects larger than this are copied in parts; at most 5 GiB.
	MultipartThreshold int64
	// PartSize of multipart copies (5 MiB..5 GiB); grown for an object that would
	// need more than 10,000 parts.
	PartSize int64
	// KMSKeyID, when set, makes every copy SSE-KMS with this key. Without it copies
	// take the bucket's default encryption (offline runs leave it empty).
	KMSKeyID string
	// Retention keeps the newest Retention snapshot_date partitions of each table
	// relocated, and deletes older ones. 0 keeps all; negative is invalid. The
	// partition being written is never pruned, even when backfilling an old date.
	Retention int
	// Exclude lists source databases ("db") and tables ("db.table"), matched
	// case-insensitively, that the run leaves out of DestPrefix: their files in the
	// export folder are deleted, never copied, and they are not crawled.
	Exclude []string
}

// OptionsFromEnv reads the Lambda's configuration: BUCKET (required), SOURCE_PREFIX,
// DEST_PREFIX, KMS_KEY_ID, RETENTION (default 7), CONCURRENCY, MULTIPART_THRESHOLD, PART_SIZE.
func OptionsFromEnv(getenv func(string) string) (Options, error) {
	o := Options{
		Bucket:       getenv(deploy.EnvBucket),
		SourcePrefix: getenv(deploy.EnvSourcePrefix),
		DestPrefix:   getenv(deploy.EnvDestPrefix),
		KMSKeyID:     getenv(deploy.EnvKMSKeyID),
		Retention:    DefaultRetention,
	}
	if o.Bucket == "" {
		return o, &deploy.EnvError{Var: deploy.EnvBucket, Problem: "is not set: it must name the export bucket"}
	}
	ints := []struct {
		name string
		set  func(int64)
	}{
		{deploy.EnvRetention, func(v int64) { o.Retention = int(v) }},
		{deploy.EnvConcurrency, func(v int64) { o.Concurrency = int(v) }},
		{deploy.EnvMultipartThreshold, func(v int64) { o.MultipartThreshold = v }},
		{deploy.EnvPartSize, func(v int64) { o.PartSize = v }},
	}
	for _, iv := range ints {
		s := getenv(iv.name)
		if s == "" {
			continue
		}
		v, err := strconv.ParseInt(s, 10, 64)
		if err != nil {
			return o, &deploy.EnvError{Var: iv.name, Problem: fmt.Sprintf("%q is not an integer", s)}
		}
		iv.set(v)
	}
	return o, nil
}

// normalize fills defaults and checks every field, before any request is made.
func (o Options) normalize() (Options, error) {
	bad := func(field, value, reason string) (Options, error) {
		return o, &InvalidOptionError{Field: field, Value: value, Reason: reason}
	}
	if o.SourcePrefix == "" {
		o.SourcePrefix = DefaultSourcePrefix
	}
	if o.DestPrefix == "" {
		o.DestPrefix = DefaultDestPrefix
	}
	if o.Concurrency == 0 {
		o.Concurrency = DefaultConcurrency
	}
	if o.MultipartThreshold == 0 {
		o.MultipartThreshold = DefaultMultipartThreshold
	}
	if o.PartSize == 0 {
		o.PartSize = DefaultPartSize
	}
	switch {
	case o.Bucket == "":
		return bad("Bucket", o.Bucket, "must name the export bucket")
	case strings.ContainsAny(o.Bucket, "/ "):
		return bad("Bucket", o.Bucket, "must be a bucket name, not a path")
	case o.ExportID == "":
		return bad("ExportID", o.ExportID, "must name the export task")
	case strings.Contains(o.ExportID, "/"):
		return bad("ExportID", o.ExportID, "must be one folder name, without '/'")
	case o.ExportID == "." || o.ExportID == "..":
		return bad("ExportID", o.ExportID, "must be a folder name")
	}
	if d, err := time.Parse(time.DateOnly, o.SnapshotDate); err != nil || d.Format(time.DateOnly) != o.SnapshotDate {
		return bad("SnapshotDate", o.SnapshotDate, "must be a date written YYYY-MM-DD")
	}
	for _, p := range []struct{ field, value string }{{"SourcePrefix", o.SourcePrefix}, {"DestPrefix", o.DestPrefix}} {
		if !strings.HasSuffix(p.value, "/") || strings.HasPrefix(p.value, "/") {
			return bad(p.field, p.value, "must be a key prefix ending with '/' and not starting with '/'")
		}
	}
	exportPrefix := o.SourcePrefix + o.ExportID + "/"
	if strings.HasPrefix(exportPrefix, o.DestPrefix) || strings.HasPrefix(o.DestPrefix, exportPrefix) {
		return bad("DestPrefix", o.DestPrefix, fmt.Sprintf("must not overlap the export folder %s", exportPrefix))
	}
	switch {
	case o.Concurrency < 1:
		return bad("Concurrency", strconv.Itoa(o.Concurrency), "must be at least 1")
	case o.MultipartThreshold < 0 || o.MultipartThreshold > MaxCopyObjectSize:
		return bad("MultipartThreshold", strconv.FormatInt(o.MultipartThreshold, 10), "must be between 1 and 5368709120 (CopyObject's limit)")
	case o.PartSize < MinPartSize || o.PartSize > MaxPartSize:
		return bad("PartSize", strconv.FormatInt(o.PartSize, 10), "must be between 5 MiB and 5 GiB")
	case o.Retention < 0:
		return bad("Retention", strconv.Itoa(o.Retention), "must be 0 (keep all) or a number of partitions to keep")
	}
	return o, nil
}

// partSize is the part size for an object of size bytes: the configured size, grown
// (in whole MiB) so the object needs at most MaxParts parts.
func (o Options) partSize(size int64) int64 {
	ps := o.PartSize
	if size > ps*MaxParts {
		ps = (size + MaxParts - 1) / MaxParts
		ps = (ps + 1<<20 - 1) &^ (1<<20 - 1)
	}
	return ps
}
