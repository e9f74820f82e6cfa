package relocate_test

import (
	"bytes"
	"context"
	"crypto/sha256"
	"math/rand/v2"
	"net/http"
	"strings"
	"sync"
	"testing"

	"github.com/aws/aws-sdk-go-v2/service/s3"

	"github.com/snaplake/snaplake/internal/deploy"
	"github.com/snaplake/snaplake/internal/export/relocate"
	"github.com/snaplake/snaplake/internal/local/offline"
	"github.com/snaplake/snaplake/internal/local/s3server"
)

// largeExport has objects on both sides of a 1 MiB threshold with 5 MiB parts:
// 3 parts, 2 parts with a 1-byte tail, exactly the threshold (CopyObject), tiny.
func largeExport(id string) export {
	e := export{id: id, objects: map[string][]byte{}}
	rng := rand.New(rand.NewPCG(1, 2))
	add := func(rel string, size int) {
		b := make([]byte, size)
		for i := range b {
			b[i] = byte(rng.UintN(256))
		}
		e.objects[rel] = b
		e.tableFiles = append(e.tableFiles, rel)
	}
	add("shop/shop.customer/1/part-00000-big-c000.gz.parquet", 12<<20+123)
	add("shop/shop.customer/1/part-00001-edge-c000.gz.parquet", 5<<20+1)
	add("shop/shop.customer_address/part-00000-a=b c+d.gz.parquet", 1<<20)
	add("crm/crm.notes/2/part-00000-tiny=1 2-c000.gz.parquet", 100)
	e.objects["export_info_"+id+".json"] = []byte(`{"status":"COMPLETE"}`)
	e.kept = append(e.kept, "export_info_"+id+".json")
	return e
}

func TestRunMultipartCopyOnVersityGW(t *testing.T) {
	s := startVersity(t)
	c := s.Client()
	e := largeExport("db-big")
	seed(t, s, e)
	o := opts(e.id, "2026-05-01")
	o.MultipartThreshold = 1 << 20
	o.PartSize = relocate.MinPartSize
	o.Concurrency = 3 // fewer slots than parts: parts of both objects must share them
	sum, err := relocate.Run(context.Background(), c, o, nil)
	if err != nil {
		t.Fatalf("Run: %v", err)
	}
	if sum.Moved != 4 || sum.Bytes != 12<<20+123+5<<20+1+1<<20+100 {
		t.Fatalf("summary %+v, want 4 files moved", sum)
	}
	want := e.expectedDest("2026-05-01")
	got := contents(t, c, "data/")
	for k, body := range want {
		if sha256.Sum256(got[k]) != sha256.Sum256(body) {
			t.Errorf("%s: %d bytes after the move, want identical %d bytes", k, len(got[k]), len(body))
		}
	}
	assertRelocated(t, c, e, "data/", want)
	uploads, err := c.ListMultipartUploads(context.Background(), &s3.ListMultipartUploadsInput{Bucket: strp(bucket)})
	if err != nil {
		t.Fatal(err)
	}
	if len(uploads.Uploads) != 0 {
		t.Errorf("%d multipart uploads left open", len(uploads.Uploads))
	}
}

// TestRunMultipartAsTheRelocateRole moves the large export as the relocate Lambda
// would in AWS: with its deployed environment (SSE-KMS with the stack's key) and every
// request authorized against its deployed policy, multipart copies and their KMS use
// included, on versitygw (which implements UploadPartCopy).
func TestRunMultipartAsTheRelocateRole(t *testing.T) {
	s := startVersity(t)
	acct, err := offline.NewAccount(s, offline.AccountOptions{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(acct.Close)
	e := largeExport("db-big-as-role")
	seed(t, s, e)
	o, err := relocate.OptionsFromEnv(acct.Contract.Functions[deploy.FnRelocate].Getenv)
	if err != nil {
		t.Fatal(err)
	}
	if o.KMSKeyID == "" || o.Bucket != bucket {
		t.Fatalf("deployed options %+v: want the stack's key and the lake bucket %s", o, bucket)
	}
	o.ExportID, o.SnapshotDate = e.id, "2026-05-02"
	o.MultipartThreshold, o.PartSize, o.Concurrency = 1<<20, relocate.MinPartSize, 3
	sum, err := relocate.Run(context.Background(), acct.S3(deploy.FnRelocate), o, nil)
	if err != nil {
		t.Fatalf("Run as the relocate role: %v", err)
	}
	if sum.Moved != 4 {
		t.Fatalf("summary %+v, want 4 files moved", sum)
	}
	assertRelocated(t, s.Client(), e, "data/", e.expectedDest("2026-05-02"))
	if denied := acct.IAM.Denied(); len(denied) > 0 {
		t.Errorf("the relocate role was denied %v", denied)
	}
	// The copies read and wrote KMS-encrypted objects with the stack's key.
	used := map[string]bool{}
	for _, g := range acct.IAM.Allowed() {
		if g.Principal == deploy.FnRelocate && g.Resource == acct.Contract.KMSKeyArn {
			used[g.Action] = true
		}
	}
	if !used["kms:Decrypt"] || !used["kms:GenerateDataKey"] {
		t.Errorf("KMS actions authorized for relocate: %v, want Decrypt and GenerateDataKey", used)
	}
	uploads, err := s.Client().ListMultipartUploads(context.Background(), &s3.ListMultipartUploadsInput{Bucket: strp(bucket)})
	if err != nil {
		t.Fatal(err)
	}
	if len(uploads.Uploads) != 0 {
		t.Errorf("%d multipart uploads left open", len(uploads.Uploads))
	}
}

// recorder keeps the headers of every request that reaches the wire.
type recorder struct {
	next http.RoundTripper
	mu   sync.Mutex
	reqs []recorded
}

type recorded struct {
	method, query string
	header        http.Header
}

func (r *recorder) RoundTrip(req *http.Request) (*http.Response, error) {
	r.mu.Lock()
	r.reqs = append(r.reqs, recorded{req.Method, req.URL.RawQuery, req.Header.Clone()})
	r.mu.Unlock()
	return r.next.RoundTrip(req)
}

func (r *recorder) Do(req *http.Request) (*http.Response, error) {
	return (&http.Client{Transport: r}).Do(req)
}

func TestRunEncryptsCopiesWithKMSKey(t *testing.T) {
	s := startVersity(t)
	e := largeExport("db-kms")
	seed(t, s, e)
	rec := &recorder{next: s3server.NewHTTPClient(16).GetTransport()}
	c := s.Client(func(o *s3.Options) { o.HTTPClient = rec })
	o := opts(e.id, "2026-05-02")
	o.MultipartThreshold = 1 << 20
	o.PartSize = relocate.MinPartSize
	o.KMSKeyID = "arn:aws:kms:us-east-1:111122223333:key/1234abcd-12ab-34cd-56ef-1234567890ab"
	if _, err := relocate.Run(context.Background(), c, o, nil); err != nil {
		t.Fatalf("Run: %v", err)
	}
	var copies, creates, parts, puts int
	for _, r := range rec.reqs {
		kind := ""
		switch {
		case r.method == http.MethodPut && r.header.Get("X-Amz-Copy-Source") != "" && strings.Contains(r.query, "partNumber="):
			parts++
			for h := range r.header {
				if strings.HasPrefix(strings.ToLower(h), "x-amz-server-side-encryption") {
					t.Errorf("UploadPartCopy carries %s: S3 rejects SSE-KMS headers on parts", h)
				}
			}
			continue
		case r.method == http.MethodPut && r.header.Get("X-Amz-Copy-Source") != "":
			kind, copies = "CopyObject", copies+1
		case r.method == http.MethodPost && strings.HasPrefix(r.query, "uploads"):
			kind, creates = "CreateMultipartUpload", creates+1
		case r.method == http.MethodPut:
			kind, puts = "PutObject", puts+1
		default:
			continue
		}
		if got := r.header.Get("X-Amz-Server-Side-Encryption"); got != "aws:kms" {
			t.Errorf("%s: x-amz-server-side-encryption = %q, want aws:kms", kind, got)
		}
		if got := r.header.Get("X-Amz-Server-Side-Encryption-Aws-Kms-Key-Id"); got != o.KMSKeyID {
			t.Errorf("%s: x-amz-server-side-encryption-aws-kms-key-id = %q, want %s", kind, got, o.KMSKeyID)
		}
	}
	if copies != 2 || creates != 2 || parts != 5 || puts != 1 {
		t.Fatalf("saw %d CopyObject, %d CreateMultipartUpload, %d UploadPartCopy, %d PutObject; want 2, 2, 5, 1", copies, creates, parts, puts)
	}
	got := contents(t, s.Client(), "data/")
	for k, body := range e.expectedDest("2026-05-02") {
		if !bytes.Equal(got[k], body) {
			t.Errorf("%s differs after the encrypted move", k)
		}
	}
}
