package s3server_test

import (
	"bytes"
	"context"
	"errors"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"

	"github.com/snaplake/snaplake/internal/local/s3server"
	"github.com/snaplake/snaplake/internal/local/testenv"
)

func TestServersStoreAndServeObjects(t *testing.T) {
	ctx := context.Background()
	tests := []struct {
		name  string
		start func(t *testing.T) *s3server.Server
	}{
		{"versitygw", func(t *testing.T) *s3server.Server {
			testenv.NeedsServers(t)
			s, err := s3server.StartVersityGW(ctx, t.TempDir(), nil)
			if err != nil {
				t.Fatalf("start versitygw: %v", err)
			}
			return s
		}},
		{"gofakes3", func(t *testing.T) *s3server.Server {
			s, err := s3server.StartFake()
			if err != nil {
				t.Fatalf("start fake: %v", err)
			}
			return s
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := tt.start(t)
			t.Cleanup(s.Stop)
			if err := s.CreateBucket(ctx, "lake"); err != nil {
				t.Fatal(err)
			}
			body := []byte("PAR1 not really parquet")
			key := "data/shop/customer/snapshot_date=2026-01-02/1/part-00000-a b.gz.parquet"
			c := s.Client()
			if _, err := c.PutObject(ctx, &s3.PutObjectInput{Bucket: aws.String("lake"), Key: aws.String(key), Body: bytes.NewReader(body)}); err != nil {
				t.Fatalf("put %s: %v", key, err)
			}
			out, err := c.GetObject(ctx, &s3.GetObjectInput{Bucket: aws.String("lake"), Key: aws.String(key)})
			if err != nil {
				t.Fatalf("get %s: %v", key, err)
			}
			got, _ := io.ReadAll(out.Body)
			out.Body.Close()
			if !bytes.Equal(got, body) {
				t.Fatalf("get %s = %q, want %q", key, got, body)
			}
			env := strings.Join(s.Env(), "\n")
			for _, want := range []string{"AWS_ENDPOINT_URL_S3=" + s.Endpoint, "AWS_ACCESS_KEY_ID=" + s.AccessKey, "AWS_SECRET_ACCESS_KEY=" + s.Secret, "AWS_REGION=us-east-1"} {
				if !strings.Contains(env, want) {
					t.Errorf("Env() lacks %q: %s", want, env)
				}
			}
			if s.Dir == "" {
				return
			}
			// The demo's DuckDB reads Parquet straight from versitygw's directory.
			onDisk, err := os.ReadFile(s.ObjectPath("lake", key))
			if err != nil {
				t.Fatalf("read object file: %v", err)
			}
			if !bytes.Equal(onDisk, body) {
				t.Fatalf("object file holds %q, want %q", onDisk, body)
			}
		})
	}
}

func TestStopKillsVersityGW(t *testing.T) {
	testenv.NeedsServers(t)
	s, err := s3server.StartVersityGW(context.Background(), t.TempDir(), nil)
	if err != nil {
		t.Fatal(err)
	}
	s.Stop()
	s.Stop()
	client := &http.Client{Timeout: time.Second}
	if resp, err := client.Get(s.Endpoint + "/"); err == nil {
		resp.Body.Close()
		t.Fatalf("versitygw at %s still answers after Stop", s.Endpoint)
	}
}

func TestMissingVersityGWSaysHowToInstall(t *testing.T) {
	empty := t.TempDir()
	t.Setenv("PATH", empty)
	t.Setenv("GOPATH", empty)
	t.Setenv("HOME", empty)
	_, err := s3server.StartVersityGW(context.Background(), filepath.Join(empty, "root"), nil)
	if !errors.Is(err, s3server.ErrVersityGWNotFound) {
		t.Fatalf("err = %v, want ErrVersityGWNotFound", err)
	}
	if !strings.Contains(err.Error(), "go install github.com/versity/versitygw/cmd/versitygw@v1.8.0") {
		t.Fatalf("error does not say how to install: %v", err)
	}
}

func TestLatencyProxyDelaysAndForwardsSignedRequests(t *testing.T) {
	testenv.NeedsServers(t)
	ctx := context.Background()
	// versitygw checks SigV4, so this also proves the proxy keeps the Host header.
	s, err := s3server.StartVersityGW(ctx, t.TempDir(), nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(s.Stop)
	if err := s.CreateBucket(ctx, "lake"); err != nil {
		t.Fatal(err)
	}
	const delay = 30 * time.Millisecond
	p, err := s3server.NewLatencyProxy(s.Endpoint, delay)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { p.Close() })
	proxied := *s
	proxied.Endpoint = p.URL
	c := proxied.Client()
	start := time.Now()
	if _, err := c.ListObjectsV2(ctx, &s3.ListObjectsV2Input{Bucket: aws.String("lake")}); err != nil {
		t.Fatalf("list through proxy: %v", err)
	}
	if elapsed := time.Since(start); elapsed < delay {
		t.Errorf("request through proxy took %v, want at least %v", elapsed, delay)
	}
	if p.Requests() != 1 {
		t.Errorf("proxy saw %d requests, want 1", p.Requests())
	}
}

// Two writers side by side under one prefix, each deleting its key after writing it
// (the Federator's subscriber leases): versitygw's posix backend removes the emptied
// directory while the other's write links its file into it and answers 409
// ExistingObjectIsDirectory, which S3 never does for a key that is no prefix. The
// server must answer as S3 does.
func TestSiblingKeysWrittenAndDeletedSideBySide(t *testing.T) {
	testenv.NeedsServers(t)
	ctx := context.Background()
	s, err := s3server.StartVersityGW(ctx, t.TempDir(), nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(s.Stop)
	if err := s.CreateBucket(ctx, "lake"); err != nil {
		t.Fatal(err)
	}
	client := s.Client()
	errs := make(chan error, 2)
	for _, name := range []string{"a", "b"} {
		go func(key string) {
			for i := 0; i < 300; i++ {
				if _, err := client.PutObject(ctx, &s3.PutObjectInput{Bucket: aws.String("lake"), Key: aws.String(key),
					Body: bytes.NewReader([]byte(`{"run":"x"}`)), IfNoneMatch: aws.String("*")}); err != nil {
					errs <- err
					return
				}
				if _, err := client.DeleteObject(ctx, &s3.DeleteObjectInput{Bucket: aws.String("lake"), Key: aws.String(key)}); err != nil {
					errs <- err
					return
				}
			}
			errs <- nil
		}("federator/.leases/subscribers/" + name)
	}
	for i := 0; i < 2; i++ {
		if err := <-errs; err != nil {
			t.Fatal(err)
		}
	}
}
