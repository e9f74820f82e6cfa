// Package s3server starts local S3 servers (versitygw, an in-process gofakes3) and a
// latency-adding proxy, for tests, benchmarks and the offline demo; production never imports it.
package s3server

import (
	"context"
	"net/http"
	"path/filepath"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	awshttp "github.com/aws/aws-sdk-go-v2/aws/transport/http"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/johannesboyne/gofakes3"
)

// Region is the region every local server and client agree on.
const Region = "us-east-1"

// Server is a running local S3 endpoint with the static credentials it accepts.
type Server struct {
	// Endpoint is the base URL, e.g. http://127.0.0.1:41234.
	Endpoint  string
	AccessKey string
	Secret    string
	// Dir is versitygw's posix root: the bytes of object KEY in bucket B live in the
	// plain file Dir/B/KEY (see ObjectPath). Empty for the in-process fake.
	Dir string
	// Backend is the gofakes3 storage of a fake server, for seeding large fixtures
	// without HTTP. Nil for versitygw.
	Backend gofakes3.Backend

	stop func()
}

// Client returns an S3 client for the server: path-style, static credentials, region
// us-east-1, and a connection pool large enough for highly concurrent callers (the SDK
// default keeps only 10 idle connections per host, which makes 64 workers reconnect).
func (s *Server) Client(optFns ...func(*s3.Options)) *s3.Client {
	cfg := aws.Config{
		Region:       Region,
		Credentials:  credentials.NewStaticCredentialsProvider(s.AccessKey, s.Secret, ""),
		BaseEndpoint: aws.String(s.Endpoint),
		HTTPClient:   NewHTTPClient(256),
	}
	return s3.NewFromConfig(cfg, append([]func(*s3.Options){func(o *s3.Options) {
		o.UsePathStyle = true
	}}, optFns...)...)
}

// NewHTTPClient returns the SDK's default HTTP client with room for idle connections
// to one host, so that that many concurrent requests reuse their connections.
func NewHTTPClient(idlePerHost int) *awshttp.BuildableClient {
	return awshttp.NewBuildableClient().WithTransportOptions(func(t *http.Transport) {
		t.MaxIdleConns = idlePerHost
		t.MaxIdleConnsPerHost = idlePerHost
		t.IdleConnTimeout = 30 * time.Second
	})
}

// Env returns the environment that points an SDK-based child process (snaplake, a
// Lambda bootstrap) at this server through internal/aws/awsconfig.
func (s *Server) Env() []string {
	return []string{
		"AWS_ENDPOINT_URL_S3=" + s.Endpoint,
		"AWS_ACCESS_KEY_ID=" + s.AccessKey,
		"AWS_SECRET_ACCESS_KEY=" + s.Secret,
		"AWS_REGION=" + Region,
	}
}

// ObjectPath is where versitygw's posix backend keeps the bytes of bucket/key: a
// regular file mirroring the key ("/" becomes a directory), with S3 metadata in
// extended attributes (user.*). Readers such as DuckDB can open it directly.
func (s *Server) ObjectPath(bucket, key string) string {
	return PosixPath(s.Dir, bucket, key)
}

// PosixPath is ObjectPath for a versitygw root dir that is not running (the offline
// lake read by DuckDB between demo runs): the one place that knows the mapping.
func PosixPath(dir, bucket, key string) string {
	return filepath.Join(dir, bucket, filepath.FromSlash(key))
}

// CreateBucket creates bucket on the server.
func (s *Server) CreateBucket(ctx context.Context, bucket string) error {
	if _, err := s.Client().CreateBucket(ctx, &s3.CreateBucketInput{Bucket: aws.String(bucket)}); err != nil {
		return &createBucketError{bucket: bucket, err: err}
	}
	return nil
}

type createBucketError struct {
	bucket string
	err    error
}

func (e *createBucketError) Error() string { return "create bucket " + e.bucket + ": " + e.err.Error() }
func (e *createBucketError) Unwrap() error { return e.err }

// Stop shuts the server down. It is safe to call more than once.
func (s *Server) Stop() {
	if s.stop != nil {
		s.stop()
		s.stop = nil
	}
}
