package s3iam

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"hash/crc32"
	"io"
	"net/http"
	"net/http/httptest"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	v4 "github.com/aws/aws-sdk-go-v2/aws/signer/v4"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/s3/types"
	"github.com/aws/smithy-go"
	"github.com/johannesboyne/gofakes3"
	"github.com/johannesboyne/gofakes3/backend/s3mem"

	"github.com/snaplake/snaplake/internal/local/s3server"
)

var backends = []string{"gofakes3", "versitygw"}

// onlyReader hides a reader's Seek, like a pipe or an HTTP body.
type onlyReader struct{ r io.Reader }

func (o onlyReader) Read(p []byte) (int, error) { return o.r.Read(p) }

// TestResignedRequestsReachBothBackends drives the SDK's default requests (flexible
// checksums, content-sha256) through the proxy to gofakes3 and to versitygw, which
// verifies the proxy's signatures.
func TestResignedRequestsReachBothBackends(t *testing.T) {
	for _, backend := range backends {
		t.Run(backend, func(t *testing.T) {
			e := newEnv(t, backend)
			ctx := context.Background()
			e.auth.set(grant{action: "s3:*", resource: "*"}, grant{action: "kms:*", resource: vaultKey})
			c := e.client
			// A key that needs escaping in the path and in the copy source.
			key := "data/shop/snapshot_date=2026-01-02/part a+b,c(1)~!.parquet"

			t.Run("PutObject seekable", func(t *testing.T) {
				if _, err := c.PutObject(ctx, &s3.PutObjectInput{Bucket: aws.String("vault"), Key: aws.String(key),
					Body: bytes.NewReader([]byte("seekable")), ContentType: aws.String("application/octet-stream"),
					Metadata: map[string]string{"origin": "test"}}); err != nil {
					t.Fatal(err)
				}
				if got := e.get(t, "vault", key); got != "seekable" {
					t.Fatalf("backend holds %q", got)
				}
				out, err := c.HeadObject(ctx, &s3.HeadObjectInput{Bucket: aws.String("vault"), Key: aws.String(key)})
				if err != nil {
					t.Fatal(err)
				}
				if aws.ToInt64(out.ContentLength) != 8 || out.Metadata["origin"] != "test" {
					t.Fatalf("HeadObject = length %d metadata %v", aws.ToInt64(out.ContentLength), out.Metadata)
				}
			})

			t.Run("PutObject with SSE-KMS headers", func(t *testing.T) {
				if _, err := c.PutObject(ctx, &s3.PutObjectInput{Bucket: aws.String("vault"), Key: aws.String("sse"),
					Body: strings.NewReader("kms"), ServerSideEncryption: types.ServerSideEncryptionAwsKms,
					SSEKMSKeyId: aws.String(vaultKey), BucketKeyEnabled: aws.Bool(true)}); err != nil {
					t.Fatal(err)
				}
				if got := e.get(t, "vault", "sse"); got != "kms" {
					t.Fatalf("backend holds %q", got)
				}
			})

			t.Run("PutObject non-seekable", func(t *testing.T) {
				// Over plain HTTP the SDK cannot hash or checksum a stream it cannot
				// rewind: it refuses before sending.
				_, err := c.PutObject(ctx, &s3.PutObjectInput{Bucket: aws.String("lake"), Key: aws.String("stream-default"),
					Body: onlyReader{strings.NewReader("stream")}, ContentLength: aws.Int64(6)})
				if err == nil {
					t.Log("the SDK sent a non-seekable body with default options")
					if got := e.get(t, "lake", "stream-default"); got != "stream" {
						t.Fatalf("backend holds %q", got)
					}
				} else if httpStatus(err) != 0 {
					t.Fatalf("non-seekable PutObject reached the proxy and failed: %v", err)
				}
				// What a streaming caller does over HTTP: unsigned payload, no checksum.
				unsigned := e.proxy.Client(principal, func(o *s3.Options) {
					o.RequestChecksumCalculation = aws.RequestChecksumCalculationWhenRequired
					o.APIOptions = append(o.APIOptions, v4.SwapComputePayloadSHA256ForUnsignedPayloadMiddleware)
				})
				if _, err := unsigned.PutObject(ctx, &s3.PutObjectInput{Bucket: aws.String("lake"), Key: aws.String("stream"),
					Body: onlyReader{strings.NewReader("stream")}, ContentLength: aws.Int64(6)}); err != nil {
					t.Fatal(err)
				}
				if got := e.get(t, "lake", "stream"); got != "stream" {
					t.Fatalf("backend holds %q", got)
				}
			})

			t.Run("aws-chunked body with a trailing checksum", func(t *testing.T) {
				if backend == "gofakes3" {
					t.Skip("gofakes3 stores an aws-chunked body undecoded; versitygw decodes it")
				}
				putChunked(t, e, "lake", "chunked", "chunked body")
				if got := e.get(t, "lake", "chunked"); got != "chunked body" {
					t.Fatalf("backend holds %q", got)
				}
			})

			t.Run("multipart", func(t *testing.T) {
				big := bytes.Repeat([]byte("0123456789abcdef"), 5<<20/16) // S3's minimum part size
				mk := key + ".mp"
				mp, err := c.CreateMultipartUpload(ctx, &s3.CreateMultipartUploadInput{Bucket: aws.String("vault"), Key: aws.String(mk)})
				if err != nil {
					t.Fatal(err)
				}
				part := func(n int32, body []byte) types.CompletedPart {
					t.Helper()
					out, err := c.UploadPart(ctx, &s3.UploadPartInput{Bucket: aws.String("vault"), Key: aws.String(mk),
						UploadId: mp.UploadId, PartNumber: aws.Int32(n), Body: bytes.NewReader(body)})
					if err != nil {
						t.Fatalf("UploadPart %d: %v", n, err)
					}
					return types.CompletedPart{ETag: out.ETag, PartNumber: aws.Int32(n)}
				}
				parts := []types.CompletedPart{part(1, big)}
				want := string(big)
				if backend == "versitygw" {
					// gofakes3 does not implement UploadPartCopy.
					if _, err := c.PutObject(ctx, &s3.PutObjectInput{Bucket: aws.String("lake"), Key: aws.String(key + ".big"), Body: bytes.NewReader(big)}); err != nil {
						t.Fatal(err)
					}
					out, err := c.UploadPartCopy(ctx, &s3.UploadPartCopyInput{Bucket: aws.String("vault"), Key: aws.String(mk),
						UploadId: mp.UploadId, PartNumber: aws.Int32(2), CopySource: aws.String("lake/" + urlPathEscape(key+".big"))})
					if err != nil {
						t.Fatalf("UploadPartCopy: %v", err)
					}
					parts = append(parts, types.CompletedPart{ETag: out.CopyPartResult.ETag, PartNumber: aws.Int32(2)})
					want += string(big)
				}
				parts = append(parts, part(int32(len(parts)+1), []byte("tail")))
				want += "tail"
				if _, err := c.CompleteMultipartUpload(ctx, &s3.CompleteMultipartUploadInput{Bucket: aws.String("vault"), Key: aws.String(mk),
					UploadId: mp.UploadId, MultipartUpload: &types.CompletedMultipartUpload{Parts: parts}}); err != nil {
					t.Fatal(err)
				}
				got, err := readAll(c.GetObject(ctx, &s3.GetObjectInput{Bucket: aws.String("vault"), Key: aws.String(mk)}))
				if err != nil {
					t.Fatal(err)
				}
				if got != want {
					t.Fatalf("multipart object has %d bytes, want %d", len(got), len(want))
				}
			})

			t.Run("CopyObject", func(t *testing.T) {
				if _, err := c.CopyObject(ctx, &s3.CopyObjectInput{Bucket: aws.String("lake"), Key: aws.String(key + ".copy"),
					CopySource: aws.String("/vault/" + urlPathEscape(key))}); err != nil {
					t.Fatal(err)
				}
				if got := e.get(t, "lake", key+".copy"); got != "seekable" {
					t.Fatalf("copy holds %q", got)
				}
			})

			t.Run("ranged GetObject", func(t *testing.T) {
				out, err := c.GetObject(ctx, &s3.GetObjectInput{Bucket: aws.String("vault"), Key: aws.String(key), Range: aws.String("bytes=2-4")})
				got, err := readAll(out, err)
				if err != nil || got != "eka" {
					t.Fatalf("range read = %q, %v", got, err)
				}
			})

			t.Run("ListObjectsV2", func(t *testing.T) {
				out, err := c.ListObjectsV2(ctx, &s3.ListObjectsV2Input{Bucket: aws.String("vault"), Prefix: aws.String("data/shop/"), Delimiter: aws.String("/")})
				if err != nil {
					t.Fatal(err)
				}
				if len(out.CommonPrefixes) != 1 || aws.ToString(out.CommonPrefixes[0].Prefix) != "data/shop/snapshot_date=2026-01-02/" {
					t.Fatalf("common prefixes %+v", out.CommonPrefixes)
				}
			})

			t.Run("missing key", func(t *testing.T) {
				_, err := readAll(c.GetObject(ctx, &s3.GetObjectInput{Bucket: aws.String("lake"), Key: aws.String("nothing here")}))
				var nsk *types.NoSuchKey
				if !errors.As(err, &nsk) {
					t.Fatalf("err = %v, want NoSuchKey", err)
				}
			})

			t.Run("presigned", func(t *testing.T) {
				pc := s3.NewPresignClient(c)
				put, err := pc.PresignPutObject(ctx, &s3.PutObjectInput{Bucket: aws.String("lake"), Key: aws.String("presigned/" + key)})
				if err != nil {
					t.Fatal(err)
				}
				req, _ := http.NewRequest(put.Method, put.URL, strings.NewReader("via presigned URL"))
				for k, v := range put.SignedHeader {
					if k != "Host" {
						req.Header[k] = v
					}
				}
				resp, err := http.DefaultClient.Do(req)
				if err != nil {
					t.Fatal(err)
				}
				body, _ := io.ReadAll(resp.Body)
				resp.Body.Close()
				if resp.StatusCode != 200 {
					t.Fatalf("presigned PUT: %d %s", resp.StatusCode, body)
				}
				get, err := pc.PresignGetObject(ctx, &s3.GetObjectInput{Bucket: aws.String("lake"), Key: aws.String("presigned/" + key)})
				if err != nil {
					t.Fatal(err)
				}
				resp, err = http.Get(get.URL)
				if err != nil {
					t.Fatal(err)
				}
				body, _ = io.ReadAll(resp.Body)
				resp.Body.Close()
				if resp.StatusCode != 200 || string(body) != "via presigned URL" {
					t.Fatalf("presigned GET: %d %q", resp.StatusCode, body)
				}
				// The principal is the presigner's, and its policy applies.
				e.auth.set(grant{action: "s3:ListBucket", resource: "*"})
				defer e.auth.set(grant{action: "s3:*", resource: "*"}, grant{action: "kms:*", resource: vaultKey})
				resp, err = http.Get(get.URL)
				if err != nil {
					t.Fatal(err)
				}
				body, _ = io.ReadAll(resp.Body)
				resp.Body.Close()
				if resp.StatusCode != 403 || !strings.Contains(string(body), "s3:GetObject") || !strings.Contains(string(body), principal) {
					t.Fatalf("denied presigned GET: %d %s", resp.StatusCode, body)
				}
			})

			t.Run("expired presigned URL", func(t *testing.T) {
				pc := s3.NewPresignClient(c, s3.WithPresignExpires(time.Second))
				get, err := pc.PresignGetObject(ctx, &s3.GetObjectInput{Bucket: aws.String("lake"), Key: aws.String("stream")},
					func(o *s3.PresignOptions) {
						o.Presigner = timeShift{o.Presigner, -time.Minute}
					})
				if err != nil {
					t.Fatal(err)
				}
				resp, err := http.Get(get.URL)
				if err != nil {
					t.Fatal(err)
				}
				body, _ := io.ReadAll(resp.Body)
				resp.Body.Close()
				if resp.StatusCode != 403 || !strings.Contains(string(body), "Request has expired") {
					t.Fatalf("expired presigned GET: %d %s", resp.StatusCode, body)
				}
			})

			t.Run("DeleteObjects", func(t *testing.T) {
				testDeleteObjects(t, e)
			})
		})
	}
}

// timeShift presigns as if at another time.
type timeShift struct {
	s3.HTTPPresignerV4
	by time.Duration
}

func (s timeShift) PresignHTTP(ctx context.Context, credentials aws.Credentials, r *http.Request, payloadHash string, service string, region string,
	signingTime time.Time, optFns ...func(*v4.SignerOptions)) (string, http.Header, error) {
	return s.HTTPPresignerV4.PresignHTTP(ctx, credentials, r, payloadHash, service, region, signingTime.Add(s.by), optFns...)
}

func urlPathEscape(key string) string {
	var b strings.Builder
	for _, seg := range strings.Split(key, "/") {
		if b.Len() > 0 {
			b.WriteByte('/')
		}
		for i := 0; i < len(seg); i++ {
			c := seg[i]
			if c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || strings.IndexByte("-_.~", c) >= 0 {
				b.WriteByte(c)
			} else {
				fmt.Fprintf(&b, "%%%02X", c)
			}
		}
	}
	return b.String()
}

// putChunked sends a PutObject the way the SDK does over TLS: an aws-chunked body with
// unsigned chunks and a trailing CRC32, signed with STREAMING-UNSIGNED-PAYLOAD-TRAILER.
func putChunked(t *testing.T, e *testEnv, bucket, key, body string) {
	t.Helper()
	sum := crc32.ChecksumIEEE([]byte(body))
	crc := base64.StdEncoding.EncodeToString([]byte{byte(sum >> 24), byte(sum >> 16), byte(sum >> 8), byte(sum)})
	chunked := fmt.Sprintf("%x\r\n%s\r\n0\r\nx-amz-checksum-crc32:%s\r\n\r\n", len(body), body, crc)
	req, _ := http.NewRequest("PUT", e.proxy.URL()+"/"+bucket+"/"+key+"?x-id=PutObject", strings.NewReader(chunked))
	req.Header.Set("Content-Encoding", "aws-chunked")
	req.Header.Set("X-Amz-Content-Sha256", "STREAMING-UNSIGNED-PAYLOAD-TRAILER")
	req.Header.Set("X-Amz-Decoded-Content-Length", fmt.Sprint(len(body)))
	req.Header.Set("X-Amz-Trailer", "x-amz-checksum-crc32")
	req.Header.Set("X-Amz-Sdk-Checksum-Algorithm", "CRC32")
	creds := e.proxy.Credentials(principal)
	if err := v4.NewSigner().SignHTTP(context.Background(), creds, req, "STREAMING-UNSIGNED-PAYLOAD-TRAILER", "s3", "us-east-1", time.Now()); err != nil {
		t.Fatal(err)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	out, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 200 {
		t.Fatalf("aws-chunked PUT: %d %s", resp.StatusCode, out)
	}
}

// testDeleteObjects: DeleteObjects is authorized per key; denied keys come back as
// AccessDenied errors in a 200 response and stay in the bucket.
func testDeleteObjects(t *testing.T, e *testEnv) {
	ctx := context.Background()
	ids := func(keys ...string) *types.Delete {
		d := &types.Delete{}
		for _, k := range keys {
			d.Objects = append(d.Objects, types.ObjectIdentifier{Key: aws.String(k)})
		}
		return d
	}
	tests := []struct {
		name        string
		quiet       bool
		keys        []string
		wantDeleted []string
		wantDenied  []string
	}{
		{"partial", false, []string{"del/allowed/a", "del/denied/c", "del/allowed/b & <x>", "del/denied/d", "del/allowed/missing"},
			[]string{"del/allowed/a", "del/allowed/b & <x>", "del/allowed/missing"}, []string{"del/denied/c", "del/denied/d"}},
		{"partial quiet", true, []string{"del/allowed/a", "del/denied/c"}, nil, []string{"del/denied/c"}},
		{"all denied", false, []string{"del/denied/c", "del/denied/d"}, nil, []string{"del/denied/c", "del/denied/d"}},
		{"all allowed", false, []string{"del/allowed/a", "del/allowed/b & <x>"}, []string{"del/allowed/a", "del/allowed/b & <x>"}, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			for _, k := range []string{"del/allowed/a", "del/allowed/b & <x>", "del/denied/c", "del/denied/d"} {
				e.put(t, "lake", k, k)
			}
			e.auth.set(grant{action: "s3:DeleteObject", resource: "arn:aws:s3:::lake/del/allowed/*"})
			defer e.auth.set(grant{action: "s3:*", resource: "*"}, grant{action: "kms:*", resource: vaultKey})
			d := ids(tt.keys...)
			d.Quiet = aws.Bool(tt.quiet)
			out, err := e.client.DeleteObjects(ctx, &s3.DeleteObjectsInput{Bucket: aws.String("lake"), Delete: d})
			if err != nil {
				t.Fatal(err)
			}
			var deleted, denied []string
			for _, o := range out.Deleted {
				deleted = append(deleted, aws.ToString(o.Key))
			}
			for _, o := range out.Errors {
				if aws.ToString(o.Code) != "AccessDenied" || aws.ToString(o.Message) != "Access Denied" {
					t.Errorf("error for %s: %s %s", aws.ToString(o.Key), aws.ToString(o.Code), aws.ToString(o.Message))
				}
				denied = append(denied, aws.ToString(o.Key))
			}
			sort.Strings(deleted)
			sort.Strings(denied)
			if tt.quiet {
				// Quiet suppresses <Deleted>, which versitygw ignores: compare the errors only.
				deleted = tt.wantDeleted
			}
			if fmt.Sprint(deleted) != fmt.Sprint(tt.wantDeleted) || fmt.Sprint(denied) != fmt.Sprint(tt.wantDenied) {
				t.Fatalf("deleted %q errors %q, want %q and %q", deleted, denied, tt.wantDeleted, tt.wantDenied)
			}
			for _, k := range tt.keys {
				in := false
				for _, d := range tt.wantDenied {
					in = in || d == k
				}
				if k != "del/allowed/missing" && e.exists(t, "lake", k) != in {
					t.Errorf("%s exists = %v after DeleteObjects, want %v", k, !in, in)
				}
			}
		})
	}
}

// TestConcurrentRequests: 200 parallel puts and gets through the proxy.
func TestConcurrentRequests(t *testing.T) {
	e := newEnv(t, "gofakes3")
	ctx := context.Background()
	e.auth.set(grant{action: "s3:PutObject", resource: "arn:aws:s3:::vault/*"}, grant{action: "s3:GetObject", resource: "arn:aws:s3:::vault/*"},
		grant{action: "kms:*", resource: vaultKey})
	const n = 200
	var wg sync.WaitGroup
	errs := make(chan error, n)
	for i := 0; i < n; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			key := fmt.Sprintf("par/%03d", i)
			body := strings.Repeat(key, 100+i)
			if _, err := e.client.PutObject(ctx, &s3.PutObjectInput{Bucket: aws.String("vault"), Key: aws.String(key), Body: strings.NewReader(body)}); err != nil {
				errs <- fmt.Errorf("put %s: %w", key, err)
				return
			}
			got, err := readAll(e.client.GetObject(ctx, &s3.GetObjectInput{Bucket: aws.String("vault"), Key: aws.String(key)}))
			if err != nil {
				errs <- fmt.Errorf("get %s: %w", key, err)
				return
			}
			if got != body {
				errs <- fmt.Errorf("get %s: %d bytes, want %d", key, len(got), len(body))
			}
			// A denied request in the mix.
			_, err = e.client.DeleteObject(ctx, &s3.DeleteObjectInput{Bucket: aws.String("vault"), Key: aws.String(key)})
			var apiErr smithy.APIError
			if !errors.As(err, &apiErr) || apiErr.ErrorCode() != "AccessDenied" {
				errs <- fmt.Errorf("delete %s: %v, want AccessDenied", key, err)
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
}

func TestChecksumsOfRewrittenBodies(t *testing.T) {
	// CRC-64/NVME check value (the SDK's default for new checksums).
	if got := crc64Sum([]byte("123456789")); got != 0xAE8B14860A799888 {
		t.Fatalf("crc64nvme(123456789) = %#x", got)
	}
	h := http.Header{}
	h.Set("X-Amz-Checksum-Crc32", "stale")
	h.Set("X-Amz-Sdk-Checksum-Algorithm", "CRC32")
	h.Set("X-Amz-Content-Sha256", strings.Repeat("0", 64))
	h.Set("Content-Length", "99")
	body := []byte("<Delete/>")
	if e := fixBodyHeaders(h, body); e != nil {
		t.Fatal(e.message)
	}
	s := sha256.Sum256(body)
	crc := crc32.ChecksumIEEE(body)
	wantCRC := base64.StdEncoding.EncodeToString([]byte{byte(crc >> 24), byte(crc >> 16), byte(crc >> 8), byte(crc)})
	if h.Get("X-Amz-Content-Sha256") != hex.EncodeToString(s[:]) || h.Get("X-Amz-Checksum-Crc32") != wantCRC ||
		h.Get("Content-Md5") != "" || h.Get("Content-Length") != "" || h.Get("X-Amz-Sdk-Checksum-Algorithm") != "CRC32" {
		t.Fatalf("headers after rewrite: %v", h)
	}
}

func TestParseCopySource(t *testing.T) {
	tests := []struct{ in, bucket, key, version string }{
		{"lake/a/b.parquet", "lake", "a/b.parquet", ""},
		{"/lake/a%20b%2Bc", "lake", "a b+c", ""},
		{"lake/k?versionId=abc%3D", "lake", "k", "abc="},
		{"lake/%3FversionId%3Dx", "lake", "?versionId=x", ""},
	}
	for _, tt := range tests {
		b, k, v, ok := parseCopySource(tt.in)
		if !ok || b != tt.bucket || k != tt.key || v != tt.version {
			t.Errorf("parseCopySource(%q) = %q %q %q %v", tt.in, b, k, v, ok)
		}
	}
	for _, bad := range []string{"lake", "/lake/", "%zz/k"} {
		if _, _, _, ok := parseCopySource(bad); ok {
			t.Errorf("parseCopySource(%q) ok", bad)
		}
	}
}

func TestPrincipalFromCredential(t *testing.T) {
	tests := []struct{ in, want string }{
		{"AKID/20260102/us-east-1/s3/aws4_request, SignedHeaders=host, Signature=00", "AKID"},
		{principal + "/20260102/us-east-1/s3/aws4_request, SignedHeaders=host", principal},
	}
	for _, tt := range tests {
		if got, ok := principalFromCredential(tt.in); !ok || got != tt.want {
			t.Errorf("principalFromCredential(%q) = %q %v", tt.in, got, ok)
		}
	}
	for _, bad := range []string{"AKID/20260102/us-east-1/aws4_request", "/20260102/us-east-1/s3/aws4_request", "AKID"} {
		if got, ok := principalFromCredential(bad); ok {
			t.Errorf("principalFromCredential(%q) = %q", bad, got)
		}
	}
}

// recordedRequest is what the backend received.
type recordedRequest struct {
	method, uri, host string
	header            http.Header
}

// TestBackendReceivesResignedRequests looks at what reaches the backend: its own
// credentials and host, no SSE headers, no presigning parameters.
func TestBackendReceivesResignedRequests(t *testing.T) {
	var mu sync.Mutex
	var seen []recordedRequest
	faker := gofakes3.New(s3mem.New(), gofakes3.WithoutVersioning()).Server()
	ts := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		seen = append(seen, recordedRequest{r.Method, r.RequestURI, r.Host, r.Header.Clone()})
		mu.Unlock()
		faker.ServeHTTP(w, r)
	}))
	t.Cleanup(ts.Close)
	auth := &fakeAuth{}
	auth.set(grant{action: "*", resource: "*"})
	p, err := Start(Config{Backend: &s3server.Server{Endpoint: ts.URL, AccessKey: "backend-key", Secret: "backend-secret"}, Auth: auth,
		Buckets: map[string]Bucket{"vault": {KMSKeyArn: vaultKey}}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(p.Stop)
	ctx := context.Background()
	c := p.Client(principal)
	last := func() recordedRequest {
		mu.Lock()
		defer mu.Unlock()
		return seen[len(seen)-1]
	}
	if _, err := c.CreateBucket(ctx, &s3.CreateBucketInput{Bucket: aws.String("vault")}); err != nil {
		t.Fatal(err)
	}
	if _, err := c.PutObject(ctx, &s3.PutObjectInput{Bucket: aws.String("vault"), Key: aws.String("a b"), Body: strings.NewReader("x"),
		ServerSideEncryption: types.ServerSideEncryptionAwsKms, SSEKMSKeyId: aws.String(vaultKey), BucketKeyEnabled: aws.Bool(true),
		SSEKMSEncryptionContext: aws.String(base64.StdEncoding.EncodeToString([]byte(`{"a":"b"}`)))}); err != nil {
		t.Fatal(err)
	}
	got := last()
	for k := range got.header {
		if strings.HasPrefix(strings.ToLower(k), "x-amz-server-side-encryption") {
			t.Errorf("backend received %s: %v", k, got.header[k])
		}
	}
	if !strings.HasPrefix(got.header.Get("Authorization"), "AWS4-HMAC-SHA256 Credential=backend-key/") {
		t.Errorf("backend Authorization = %q", got.header.Get("Authorization"))
	}
	if got.host != strings.TrimPrefix(ts.URL, "http://") || got.uri != "/vault/a%20b?x-id=PutObject" {
		t.Errorf("backend request host %q uri %q", got.host, got.uri)
	}
	s := sha256.Sum256([]byte("x"))
	if got.header.Get("X-Amz-Content-Sha256") != hex.EncodeToString(s[:]) {
		t.Errorf("backend X-Amz-Content-Sha256 = %q", got.header.Get("X-Amz-Content-Sha256"))
	}
	get, err := s3.NewPresignClient(c).PresignGetObject(ctx, &s3.GetObjectInput{Bucket: aws.String("vault"), Key: aws.String("a b")})
	if err != nil {
		t.Fatal(err)
	}
	resp, err := http.Get(get.URL)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	got = last()
	if resp.StatusCode != 200 || strings.Contains(got.uri, "X-Amz-") || got.header.Get("X-Amz-Content-Sha256") != "UNSIGNED-PAYLOAD" ||
		!strings.Contains(got.header.Get("Authorization"), "Credential=backend-key/") {
		t.Errorf("presigned GET: status %d; backend got %s %v", resp.StatusCode, got.uri, got.header)
	}
	if resp.Header.Get("X-Amz-Server-Side-Encryption") != "aws:kms" || resp.Header.Get("X-Amz-Server-Side-Encryption-Aws-Kms-Key-Id") != vaultKey {
		t.Errorf("GetObject response SSE headers %v", resp.Header)
	}
}
