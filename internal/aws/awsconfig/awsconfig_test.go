package awsconfig_test

import (
	"bytes"
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/johannesboyne/gofakes3"
	"github.com/johannesboyne/gofakes3/backend/s3mem"

	"github.com/snaplake/snaplake/internal/aws/awsconfig"
)

// isolate keeps the developer's own AWS files and variables out of the test.
func isolate(t *testing.T) {
	t.Helper()
	dir := t.TempDir()
	t.Setenv("AWS_CONFIG_FILE", filepath.Join(dir, "config"))
	t.Setenv("AWS_SHARED_CREDENTIALS_FILE", filepath.Join(dir, "credentials"))
	t.Setenv("AWS_PROFILE", "")
	t.Setenv("AWS_ACCESS_KEY_ID", "snaplake-test")
	t.Setenv("AWS_SECRET_ACCESS_KEY", "snaplake-test-secret")
	t.Setenv("AWS_SESSION_TOKEN", "")
	t.Setenv("AWS_REGION", "eu-west-1")
	t.Setenv("AWS_EC2_METADATA_DISABLED", "true")
	t.Setenv("AWS_IGNORE_CONFIGURED_ENDPOINT_URLS", "")
	t.Setenv("AWS_ENDPOINT_URL", "")
	t.Setenv("AWS_ENDPOINT_URL_S3", "")
}

// requestLog records the host and path of every request the fake S3 server receives.
type requestLog struct {
	mu    sync.Mutex
	hosts []string
	paths []string
}

func (l *requestLog) wrap(h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		l.mu.Lock()
		l.hosts = append(l.hosts, r.Host)
		l.paths = append(l.paths, r.URL.Path)
		l.mu.Unlock()
		h.ServeHTTP(w, r)
	})
}

func startFakeS3(t *testing.T) (*httptest.Server, *requestLog) {
	t.Helper()
	log := &requestLog{}
	srv := httptest.NewServer(log.wrap(gofakes3.New(s3mem.New()).Server()))
	t.Cleanup(srv.Close)
	return srv, log
}

func TestS3ClientReachesCustomEndpointPathStyle(t *testing.T) {
	tests := []struct {
		name     string
		variable string
	}{
		{"service-specific variable", "AWS_ENDPOINT_URL_S3"},
		{"global variable", "AWS_ENDPOINT_URL"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			isolate(t)
			srv, log := startFakeS3(t)
			t.Setenv(tc.variable, srv.URL)
			if !awsconfig.CustomS3Endpoint() {
				t.Fatalf("CustomS3Endpoint() = false with %s set", tc.variable)
			}

			ctx := context.Background()
			cfg, err := awsconfig.Load(ctx)
			if err != nil {
				t.Fatal(err)
			}
			client := awsconfig.NewS3(cfg)
			if !client.Options().UsePathStyle {
				t.Error("client does not use path-style addressing with a custom endpoint")
			}

			const bucket, key = "snaplake-exports", "data/sales/orders/snapshot_date=2026-11-20/part-00000.gz.parquet"
			body := []byte("PAR1 not really parquet PAR1")
			if _, err := client.CreateBucket(ctx, &s3.CreateBucketInput{Bucket: aws.String(bucket)}); err != nil {
				t.Fatalf("create bucket %s: %v", bucket, err)
			}
			if _, err := client.PutObject(ctx, &s3.PutObjectInput{Bucket: aws.String(bucket), Key: aws.String(key), Body: bytes.NewReader(body)}); err != nil {
				t.Fatalf("put s3://%s/%s: %v", bucket, key, err)
			}
			out, err := client.GetObject(ctx, &s3.GetObjectInput{Bucket: aws.String(bucket), Key: aws.String(key)})
			if err != nil {
				t.Fatalf("get s3://%s/%s: %v", bucket, key, err)
			}
			got, err := io.ReadAll(out.Body)
			out.Body.Close()
			if err != nil {
				t.Fatalf("read s3://%s/%s: %v", bucket, key, err)
			}
			if !bytes.Equal(got, body) {
				t.Errorf("got %q back, put %q", got, body)
			}

			host := strings.TrimPrefix(srv.URL, "http://")
			log.mu.Lock()
			defer log.mu.Unlock()
			if len(log.paths) < 3 {
				t.Fatalf("fake S3 saw %d requests, want at least 3", len(log.paths))
			}
			for i, p := range log.paths {
				if log.hosts[i] != host || !strings.HasPrefix(p, "/"+bucket) {
					t.Errorf("request %d went to host %s path %s, want path-style %s/%s/...", i, log.hosts[i], p, host, bucket)
				}
			}
		})
	}
}

func TestNoCustomEndpointWithoutVariables(t *testing.T) {
	isolate(t)
	if awsconfig.CustomS3Endpoint() {
		t.Fatal("CustomS3Endpoint() = true with no endpoint variable set")
	}
	cfg, err := awsconfig.Load(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if cfg.BaseEndpoint != nil {
		t.Errorf("BaseEndpoint = %q with no endpoint variable set", *cfg.BaseEndpoint)
	}
	if awsconfig.NewS3(cfg).Options().UsePathStyle {
		t.Error("real S3 client uses path-style addressing; AWS is retiring it for new buckets")
	}
}

// An endpoint given in code rather than by variable must also get path-style addressing.
func TestPathStyleForBaseEndpointOption(t *testing.T) {
	isolate(t)
	srv, _ := startFakeS3(t)
	cfg, err := awsconfig.Load(context.Background(), config.WithBaseEndpoint(srv.URL))
	if err != nil {
		t.Fatal(err)
	}
	client := awsconfig.NewS3(cfg)
	if !client.Options().UsePathStyle {
		t.Fatal("client does not use path-style addressing with config.WithBaseEndpoint")
	}
	if _, err := client.CreateBucket(context.Background(), &s3.CreateBucketInput{Bucket: aws.String("snaplake-base-endpoint")}); err != nil {
		t.Fatalf("create bucket through base endpoint: %v", err)
	}
}
