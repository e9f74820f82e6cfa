package s3iam

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/s3/types"
	"github.com/aws/smithy-go"
)

const (
	lakeARN  = "arn:aws:s3:::lake"
	vaultARN = "arn:aws:s3:::vault"
)

// opCase is one S3 operation and the IAM actions it needs.
type opCase struct {
	name string
	// prepare seeds what run needs (through the backend) and returns its state; it
	// runs before every attempt, with a fresh attempt number n.
	prepare func(t *testing.T, e *testEnv, n int) map[string]string
	run     func(ctx context.Context, c *s3.Client, st map[string]string) error
	// need lists the required actions; "{k}" in a resource is replaced by st[k].
	need []grant
	head bool
}

func mpu(t *testing.T, e *testEnv, bucket, key string, parts int) string {
	t.Helper()
	ctx := context.Background()
	out, err := e.admin.CreateMultipartUpload(ctx, &s3.CreateMultipartUploadInput{Bucket: aws.String(bucket), Key: aws.String(key)})
	if err != nil {
		t.Fatalf("create multipart upload: %v", err)
	}
	for i := 1; i <= parts; i++ {
		if _, err := e.admin.UploadPart(ctx, &s3.UploadPartInput{Bucket: aws.String(bucket), Key: aws.String(key), UploadId: out.UploadId,
			PartNumber: aws.Int32(int32(i)), Body: strings.NewReader("part")}); err != nil {
			t.Fatalf("upload part: %v", err)
		}
	}
	return *out.UploadId
}

func operationCases() []opCase {
	seed := func(bucket, key string) func(t *testing.T, e *testEnv, n int) map[string]string {
		return func(t *testing.T, e *testEnv, n int) map[string]string {
			k := fmt.Sprintf("%s-%d", key, n)
			e.put(t, bucket, k, "hello "+k)
			return map[string]string{"key": k}
		}
	}
	fresh := func(key string) func(t *testing.T, e *testEnv, n int) map[string]string {
		return func(t *testing.T, e *testEnv, n int) map[string]string {
			return map[string]string{"key": fmt.Sprintf("%s-%d", key, n)}
		}
	}
	upload := func(bucket, key string, parts int) func(t *testing.T, e *testEnv, n int) map[string]string {
		return func(t *testing.T, e *testEnv, n int) map[string]string {
			k := fmt.Sprintf("%s-%d", key, n)
			return map[string]string{"key": k, "upload": mpu(t, e, bucket, k, parts)}
		}
	}
	get := func(bucket string) func(ctx context.Context, c *s3.Client, st map[string]string) error {
		return func(ctx context.Context, c *s3.Client, st map[string]string) error {
			body, err := readAll(c.GetObject(ctx, &s3.GetObjectInput{Bucket: aws.String(bucket), Key: aws.String(st["key"])}))
			if err == nil && body != "hello "+st["key"] {
				return fmt.Errorf("GetObject body = %q", body)
			}
			return err
		}
	}
	head := func(bucket string) func(ctx context.Context, c *s3.Client, st map[string]string) error {
		return func(ctx context.Context, c *s3.Client, st map[string]string) error {
			_, err := c.HeadObject(ctx, &s3.HeadObjectInput{Bucket: aws.String(bucket), Key: aws.String(st["key"])})
			return err
		}
	}
	put := func(bucket string, mod func(*s3.PutObjectInput)) func(ctx context.Context, c *s3.Client, st map[string]string) error {
		return func(ctx context.Context, c *s3.Client, st map[string]string) error {
			in := &s3.PutObjectInput{Bucket: aws.String(bucket), Key: aws.String(st["key"]), Body: strings.NewReader("new object")}
			if mod != nil {
				mod(in)
			}
			_, err := c.PutObject(ctx, in)
			return err
		}
	}
	cp := func(srcBucket, dstBucket string) func(ctx context.Context, c *s3.Client, st map[string]string) error {
		return func(ctx context.Context, c *s3.Client, st map[string]string) error {
			_, err := c.CopyObject(ctx, &s3.CopyObjectInput{Bucket: aws.String(dstBucket), Key: aws.String(st["key"] + ".copy"),
				CopySource: aws.String(srcBucket + "/" + st["key"])})
			return err
		}
	}
	obj := func(bucket string) string { return "arn:aws:s3:::" + bucket + "/{key}" }

	return []opCase{
		{
			name:    "ListObjectsV2",
			prepare: seed("lake", "list/a"),
			run: func(ctx context.Context, c *s3.Client, st map[string]string) error {
				_, err := c.ListObjectsV2(ctx, &s3.ListObjectsV2Input{Bucket: aws.String("lake"), Prefix: aws.String("list/")})
				return err
			},
			need: []grant{{action: "s3:ListBucket", resource: lakeARN}},
		},
		{
			name:    "ListObjects",
			prepare: seed("lake", "list/b"),
			run: func(ctx context.Context, c *s3.Client, st map[string]string) error {
				_, err := c.ListObjects(ctx, &s3.ListObjectsInput{Bucket: aws.String("lake")})
				return err
			},
			need: []grant{{action: "s3:ListBucket", resource: lakeARN}},
		},
		{
			name: "GetObject", prepare: seed("lake", "get"), run: get("lake"),
			need: []grant{{action: "s3:GetObject", resource: obj("lake")}},
		},
		{
			name: "GetObject from a KMS bucket", prepare: seed("vault", "get"), run: get("vault"),
			need: []grant{{action: "s3:GetObject", resource: obj("vault")}, {action: "kms:Decrypt", resource: vaultKey}},
		},
		{
			name: "HeadObject", prepare: seed("lake", "head"), run: head("lake"), head: true,
			need: []grant{{action: "s3:GetObject", resource: obj("lake")}},
		},
		{
			name: "HeadObject in a KMS bucket needs no kms:Decrypt", prepare: seed("vault", "head"), run: head("vault"), head: true,
			need: []grant{{action: "s3:GetObject", resource: obj("vault")}},
		},
		{
			name: "PutObject", prepare: fresh("put"), run: put("lake", nil),
			need: []grant{{action: "s3:PutObject", resource: obj("lake")}},
		},
		{
			name: "PutObject to a KMS bucket", prepare: fresh("put"), run: put("vault", nil),
			need: []grant{{action: "s3:PutObject", resource: obj("vault")}, {action: "kms:GenerateDataKey", resource: vaultKey}},
		},
		{
			name: "PutObject with tagging and ACL", prepare: fresh("put-tagged"),
			run: put("lake", func(in *s3.PutObjectInput) {
				in.Tagging = aws.String("team=data")
				in.ACL = types.ObjectCannedACLBucketOwnerFullControl
			}),
			need: []grant{
				{action: "s3:PutObject", resource: obj("lake")},
				{action: "s3:PutObjectTagging", resource: obj("lake")},
				{action: "s3:PutObjectAcl", resource: obj("lake")},
			},
		},
		{
			name: "PutObject naming its own KMS key", prepare: fresh("put-kms"),
			run: put("vault", func(in *s3.PutObjectInput) {
				in.ServerSideEncryption = types.ServerSideEncryptionAwsKms
				in.SSEKMSKeyId = aws.String(otherKey)
			}),
			need: []grant{{action: "s3:PutObject", resource: obj("vault")}, {action: "kms:GenerateDataKey", resource: otherKey}},
		},
		{
			name: "PutObject asking for AES256 in a KMS bucket", prepare: fresh("put-aes"),
			run:  put("vault", func(in *s3.PutObjectInput) { in.ServerSideEncryption = types.ServerSideEncryptionAes256 }),
			need: []grant{{action: "s3:PutObject", resource: obj("vault")}},
		},
		{
			name: "CopyObject into a KMS bucket", prepare: seed("lake", "copy"), run: cp("lake", "vault"),
			need: []grant{
				{action: "s3:GetObject", resource: obj("lake")},
				{action: "s3:PutObject", resource: obj("vault") + ".copy"},
				{action: "kms:GenerateDataKey", resource: vaultKey},
			},
		},
		{
			name: "CopyObject out of a KMS bucket", prepare: seed("vault", "copy"), run: cp("vault", "lake"),
			need: []grant{
				{action: "s3:GetObject", resource: obj("vault")},
				{action: "kms:Decrypt", resource: vaultKey},
				{action: "s3:PutObject", resource: obj("lake") + ".copy"},
			},
		},
		{
			name: "CopyObject with tagging", prepare: seed("lake", "copy-tag"),
			run: func(ctx context.Context, c *s3.Client, st map[string]string) error {
				_, err := c.CopyObject(ctx, &s3.CopyObjectInput{Bucket: aws.String("lake"), Key: aws.String(st["key"] + ".copy"),
					CopySource: aws.String("/lake/" + st["key"]), Tagging: aws.String("a=b"), TaggingDirective: types.TaggingDirectiveReplace})
				return err
			},
			need: []grant{
				{action: "s3:GetObject", resource: obj("lake")},
				{action: "s3:PutObject", resource: obj("lake") + ".copy"},
				{action: "s3:PutObjectTagging", resource: obj("lake") + ".copy"},
			},
		},
		{
			name: "CreateMultipartUpload in a KMS bucket", prepare: fresh("mpu"),
			run: func(ctx context.Context, c *s3.Client, st map[string]string) error {
				_, err := c.CreateMultipartUpload(ctx, &s3.CreateMultipartUploadInput{Bucket: aws.String("vault"), Key: aws.String(st["key"])})
				return err
			},
			need: []grant{{action: "s3:PutObject", resource: obj("vault")}, {action: "kms:GenerateDataKey", resource: vaultKey}},
		},
		{
			name: "UploadPart", prepare: upload("vault", "part", 0),
			run: func(ctx context.Context, c *s3.Client, st map[string]string) error {
				_, err := c.UploadPart(ctx, &s3.UploadPartInput{Bucket: aws.String("vault"), Key: aws.String(st["key"]),
					UploadId: aws.String(st["upload"]), PartNumber: aws.Int32(1), Body: strings.NewReader("part one")})
				return err
			},
			need: []grant{{action: "s3:PutObject", resource: obj("vault")}},
		},
		{
			name: "CompleteMultipartUpload in a KMS bucket", prepare: upload("vault", "complete", 1),
			run: func(ctx context.Context, c *s3.Client, st map[string]string) error {
				parts, err := c.ListParts(ctx, &s3.ListPartsInput{Bucket: aws.String("vault"), Key: aws.String(st["key"]), UploadId: aws.String(st["upload"])})
				if err != nil {
					return fmt.Errorf("ListParts (allowed here): %w", err)
				}
				var done []types.CompletedPart
				for _, p := range parts.Parts {
					done = append(done, types.CompletedPart{ETag: p.ETag, PartNumber: p.PartNumber})
				}
				_, err = c.CompleteMultipartUpload(ctx, &s3.CompleteMultipartUploadInput{Bucket: aws.String("vault"), Key: aws.String(st["key"]),
					UploadId: aws.String(st["upload"]), MultipartUpload: &types.CompletedMultipartUpload{Parts: done}})
				return err
			},
			need: []grant{
				{action: "s3:ListMultipartUploadParts", resource: obj("vault")},
				{action: "s3:PutObject", resource: obj("vault")},
				{action: "kms:Decrypt", resource: vaultKey},
			},
		},
		{
			name: "AbortMultipartUpload", prepare: upload("lake", "abort", 0),
			run: func(ctx context.Context, c *s3.Client, st map[string]string) error {
				_, err := c.AbortMultipartUpload(ctx, &s3.AbortMultipartUploadInput{Bucket: aws.String("lake"), Key: aws.String(st["key"]), UploadId: aws.String(st["upload"])})
				return err
			},
			need: []grant{{action: "s3:AbortMultipartUpload", resource: obj("lake")}},
		},
		{
			name: "ListParts", prepare: upload("lake", "parts", 1),
			run: func(ctx context.Context, c *s3.Client, st map[string]string) error {
				_, err := c.ListParts(ctx, &s3.ListPartsInput{Bucket: aws.String("lake"), Key: aws.String(st["key"]), UploadId: aws.String(st["upload"])})
				return err
			},
			need: []grant{{action: "s3:ListMultipartUploadParts", resource: obj("lake")}},
		},
		{
			name: "ListMultipartUploads", prepare: upload("lake", "uploads", 0),
			run: func(ctx context.Context, c *s3.Client, st map[string]string) error {
				_, err := c.ListMultipartUploads(ctx, &s3.ListMultipartUploadsInput{Bucket: aws.String("lake")})
				return err
			},
			need: []grant{{action: "s3:ListBucketMultipartUploads", resource: lakeARN}},
		},
		{
			name: "DeleteObject", prepare: seed("lake", "delete"),
			run: func(ctx context.Context, c *s3.Client, st map[string]string) error {
				_, err := c.DeleteObject(ctx, &s3.DeleteObjectInput{Bucket: aws.String("lake"), Key: aws.String(st["key"])})
				return err
			},
			need: []grant{{action: "s3:DeleteObject", resource: obj("lake")}},
		},
		{
			name: "CreateBucket",
			prepare: func(t *testing.T, e *testEnv, n int) map[string]string {
				return map[string]string{"bucket": fmt.Sprintf("created-%d", n)}
			},
			run: func(ctx context.Context, c *s3.Client, st map[string]string) error {
				_, err := c.CreateBucket(ctx, &s3.CreateBucketInput{Bucket: aws.String(st["bucket"])})
				return err
			},
			need: []grant{{action: "s3:CreateBucket", resource: "arn:aws:s3:::{bucket}"}},
		},
		{
			name: "GetBucketLocation", prepare: fresh("unused"),
			run: func(ctx context.Context, c *s3.Client, st map[string]string) error {
				_, err := c.GetBucketLocation(ctx, &s3.GetBucketLocationInput{Bucket: aws.String("lake")})
				return err
			},
			need: []grant{{action: "s3:GetBucketLocation", resource: lakeARN}},
		},
		{
			name: "HeadBucket", prepare: fresh("unused"), head: true,
			run: func(ctx context.Context, c *s3.Client, st map[string]string) error {
				_, err := c.HeadBucket(ctx, &s3.HeadBucketInput{Bucket: aws.String("lake")})
				return err
			},
			need: []grant{{action: "s3:ListBucket", resource: lakeARN}},
		},
		{
			name: "ListBuckets", prepare: fresh("unused"),
			run: func(ctx context.Context, c *s3.Client, st map[string]string) error {
				_, err := c.ListBuckets(ctx, &s3.ListBucketsInput{})
				return err
			},
			need: []grant{{action: "s3:ListAllMyBuckets", resource: "*"}},
		},
	}
}

func expand(s string, st map[string]string) string {
	for k, v := range st {
		s = strings.ReplaceAll(s, "{"+k+"}", v)
	}
	return s
}

// TestOperationsNeedTheirActions runs each operation with exactly its required actions
// allowed (it works), then with each one removed (403 AccessDenied naming it).
func TestOperationsNeedTheirActions(t *testing.T) {
	e := newEnv(t, "gofakes3")
	ctx := context.Background()
	for _, tc := range operationCases() {
		t.Run(tc.name, func(t *testing.T) {
			grants := func(st map[string]string, skip int) []grant {
				var gs []grant
				for i, g := range tc.need {
					if i != skip {
						gs = append(gs, grant{action: g.action, resource: expand(g.resource, st), cond: g.cond})
					}
				}
				return gs
			}
			st := tc.prepare(t, e, 0)
			e.auth.set(grants(st, -1)...)
			if err := tc.run(ctx, e.client, st); err != nil {
				t.Fatalf("with %v allowed: %v", tc.need, err)
			}
			asked, _ := e.auth.requests()
			for _, g := range tc.need {
				found := false
				for _, a := range asked {
					found = found || a.Action == g.action && a.Resource == expand(g.resource, st)
				}
				if !found {
					t.Errorf("authorizer was never asked for %s on %s; asked %+v", g.action, expand(g.resource, st), asked)
				}
			}
			for i, g := range tc.need {
				st := tc.prepare(t, e, i+1)
				e.auth.set(grants(st, i)...)
				err := tc.run(ctx, e.client, st)
				wantAccessDenied(t, err, e.auth, tc.head, g.action, expand(g.resource, st))
			}
		})
	}
}

// TestDeniedWritesDoNotReachTheBackend checks that the proxy decides before forwarding.
func TestDeniedWritesDoNotReachTheBackend(t *testing.T) {
	e := newEnv(t, "gofakes3")
	ctx := context.Background()
	e.auth.set(grant{action: "s3:PutObject", resource: "arn:aws:s3:::vault/*"}) // no kms:GenerateDataKey
	_, err := e.client.PutObject(ctx, &s3.PutObjectInput{Bucket: aws.String("vault"), Key: aws.String("k"), Body: strings.NewReader("x")})
	wantAccessDenied(t, err, e.auth, false, "kms:GenerateDataKey", vaultKey)
	if e.exists(t, "vault", "k") {
		t.Fatal("a denied PutObject reached the backend")
	}
	e.put(t, "lake", "victim", "v")
	e.auth.set()
	_, err = e.client.DeleteObject(ctx, &s3.DeleteObjectInput{Bucket: aws.String("lake"), Key: aws.String("victim")})
	wantAccessDenied(t, err, e.auth, false, "s3:DeleteObject", "arn:aws:s3:::lake/victim")
	if !e.exists(t, "lake", "victim") {
		t.Fatal("a denied DeleteObject reached the backend")
	}
}

// TestVersionedRequestsNeedVersionActions checks the versionId variants (the local
// backends keep no versions, so only the denials are checked).
func TestVersionedRequestsNeedVersionActions(t *testing.T) {
	e := newEnv(t, "gofakes3")
	ctx := context.Background()
	e.put(t, "lake", "v", "v")
	e.auth.set(grant{action: "s3:GetObject", resource: "*"}, grant{action: "s3:DeleteObject", resource: "*"}, grant{action: "s3:PutObject", resource: "*"})
	_, err := e.client.GetObject(ctx, &s3.GetObjectInput{Bucket: aws.String("lake"), Key: aws.String("v"), VersionId: aws.String("3")})
	wantAccessDenied(t, err, e.auth, false, "s3:GetObjectVersion", "arn:aws:s3:::lake/v")
	_, err = e.client.DeleteObject(ctx, &s3.DeleteObjectInput{Bucket: aws.String("lake"), Key: aws.String("v"), VersionId: aws.String("3")})
	wantAccessDenied(t, err, e.auth, false, "s3:DeleteObjectVersion", "arn:aws:s3:::lake/v")
	_, err = e.client.CopyObject(ctx, &s3.CopyObjectInput{Bucket: aws.String("lake"), Key: aws.String("w"), CopySource: aws.String("lake/v?versionId=3")})
	wantAccessDenied(t, err, e.auth, false, "s3:GetObjectVersion", "arn:aws:s3:::lake/v")
}

// TestListBucketConditionKeys checks the s3:prefix, s3:delimiter and s3:max-keys
// condition keys the proxy passes, and that a prefix-scoped grant works.
func TestListBucketConditionKeys(t *testing.T) {
	e := newEnv(t, "gofakes3")
	ctx := context.Background()
	tests := []struct {
		name string
		in   s3.ListObjectsV2Input
		want map[string][]string
	}{
		{"no parameters", s3.ListObjectsV2Input{}, nil},
		{"empty prefix", s3.ListObjectsV2Input{Prefix: aws.String("")}, map[string][]string{"s3:prefix": {""}}},
		{"all", s3.ListObjectsV2Input{Prefix: aws.String("data/"), Delimiter: aws.String("/"), MaxKeys: aws.Int32(10)},
			map[string][]string{"s3:prefix": {"data/"}, "s3:delimiter": {"/"}, "s3:max-keys": {"10"}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e.auth.set(grant{action: "s3:ListBucket", resource: lakeARN})
			in := tt.in
			in.Bucket = aws.String("lake")
			if _, err := e.client.ListObjectsV2(ctx, &in); err != nil {
				t.Fatal(err)
			}
			asked, _ := e.auth.requests()
			if len(asked) != 1 {
				t.Fatalf("asked %+v, want one s3:ListBucket", asked)
			}
			if fmt.Sprint(asked[0].Context) != fmt.Sprint(tt.want) || (tt.want == nil) != (asked[0].Context == nil) {
				t.Fatalf("context = %#v, want %#v", asked[0].Context, tt.want)
			}
		})
	}
	e.auth.set(grant{action: "s3:ListBucket", resource: lakeARN, cond: map[string]string{"s3:prefix": "data/"}})
	if _, err := e.client.ListObjectsV2(ctx, &s3.ListObjectsV2Input{Bucket: aws.String("lake"), Prefix: aws.String("data/")}); err != nil {
		t.Fatalf("list with the granted prefix: %v", err)
	}
	_, err := e.client.ListObjectsV2(ctx, &s3.ListObjectsV2Input{Bucket: aws.String("lake"), Prefix: aws.String("other/")})
	wantAccessDenied(t, err, e.auth, false, "s3:ListBucket", lakeARN)
}

// TestMissingKeyRule: GetObject/HeadObject of a missing key is 404 only with
// s3:ListBucket on the bucket (checked without s3:prefix), else 403.
func TestMissingKeyRule(t *testing.T) {
	e := newEnv(t, "gofakes3")
	ctx := context.Background()
	getObject := grant{action: "s3:GetObject", resource: "arn:aws:s3:::lake/*"}
	tests := []struct {
		name     string
		list     []grant
		want404  bool
		wantDeny bool
	}{
		{"without ListBucket", nil, false, true},
		{"with ListBucket", []grant{{action: "s3:ListBucket", resource: lakeARN}}, true, false},
		{"with ListBucket only for an s3:prefix", []grant{{action: "s3:ListBucket", resource: lakeARN, cond: map[string]string{"s3:prefix": "missing"}}}, false, true},
		{"with ListBucket on the objects, not the bucket", []grant{{action: "s3:ListBucket", resource: "arn:aws:s3:::lake/*"}}, false, true},
	}
	for _, tt := range tests {
		for _, method := range []string{"GET", "HEAD"} {
			t.Run(tt.name+"/"+method, func(t *testing.T) {
				e.auth.set(append([]grant{getObject}, tt.list...)...)
				var err error
				if method == "GET" {
					_, err = readAll(e.client.GetObject(ctx, &s3.GetObjectInput{Bucket: aws.String("lake"), Key: aws.String("missing")}))
				} else {
					_, err = e.client.HeadObject(ctx, &s3.HeadObjectInput{Bucket: aws.String("lake"), Key: aws.String("missing")})
				}
				if tt.wantDeny {
					wantAccessDenied(t, err, e.auth, method == "HEAD", "s3:ListBucket", lakeARN)
					asked, _ := e.auth.requests()
					if last := asked[len(asked)-1]; last.Context != nil {
						t.Fatalf("missing-key ListBucket check carried context %v, want none", last.Context)
					}
					return
				}
				if got := httpStatus(err); got != 404 {
					t.Fatalf("status %d, want 404: %v", got, err)
				}
				if method == "GET" {
					var nsk *types.NoSuchKey
					if !errors.As(err, &nsk) {
						t.Fatalf("GetObject error %T %v, want *types.NoSuchKey", err, err)
					}
				} else {
					var nf *types.NotFound
					if !errors.As(err, &nf) {
						t.Fatalf("HeadObject error %T %v, want *types.NotFound", err, err)
					}
				}
			})
		}
	}
	// An existing key never needs ListBucket.
	e.put(t, "lake", "present", "p")
	e.auth.set(getObject)
	if _, err := readAll(e.client.GetObject(ctx, &s3.GetObjectInput{Bucket: aws.String("lake"), Key: aws.String("present")})); err != nil {
		t.Fatal(err)
	}
	// A denied GetObject is 403 for a missing key too, without asking about ListBucket.
	e.auth.set(grant{action: "s3:ListBucket", resource: lakeARN})
	_, err := readAll(e.client.GetObject(ctx, &s3.GetObjectInput{Bucket: aws.String("lake"), Key: aws.String("missing")}))
	wantAccessDenied(t, err, e.auth, false, "s3:GetObject", "arn:aws:s3:::lake/missing")
}

// TestKMSDecryptIsCheckedOnlyForExistingObjects: a missing key in a KMS bucket is a
// plain 404 even without kms:Decrypt.
func TestKMSDecryptIsCheckedOnlyForExistingObjects(t *testing.T) {
	e := newEnv(t, "gofakes3")
	ctx := context.Background()
	e.auth.set(grant{action: "s3:GetObject", resource: "arn:aws:s3:::vault/*"}, grant{action: "s3:ListBucket", resource: vaultARN})
	_, err := readAll(e.client.GetObject(ctx, &s3.GetObjectInput{Bucket: aws.String("vault"), Key: aws.String("missing")}))
	var nsk *types.NoSuchKey
	if !errors.As(err, &nsk) {
		t.Fatalf("err = %v, want NoSuchKey", err)
	}
	e.put(t, "vault", "present", "secret")
	_, err = readAll(e.client.GetObject(ctx, &s3.GetObjectInput{Bucket: aws.String("vault"), Key: aws.String("present")}))
	wantAccessDenied(t, err, e.auth, false, "kms:Decrypt", vaultKey)
	e.auth.set(grant{action: "s3:GetObject", resource: "arn:aws:s3:::vault/*"}, grant{action: "kms:Decrypt", resource: vaultKey})
	out, err := e.client.GetObject(ctx, &s3.GetObjectInput{Bucket: aws.String("vault"), Key: aws.String("present")})
	if err != nil {
		t.Fatal(err)
	}
	out.Body.Close()
	if out.ServerSideEncryption != types.ServerSideEncryptionAwsKms || aws.ToString(out.SSEKMSKeyId) != vaultKey {
		t.Errorf("GetObject SSE = %q %q, want aws:kms %s", out.ServerSideEncryption, aws.ToString(out.SSEKMSKeyId), vaultKey)
	}
	asked, _ := e.auth.requests()
	if got := asked[len(asked)-1]; got.Action != "kms:Decrypt" || got.Context["kms:ViaService"][0] != "s3.us-east-1.amazonaws.com" {
		t.Errorf("last request %+v, want kms:Decrypt via s3", got)
	}
}

// TestAuthentication: unknown access key ids, unsigned requests and SigV2 are refused.
func TestAuthentication(t *testing.T) {
	e := newEnv(t, "gofakes3")
	ctx := context.Background()
	e.auth.set(grant{action: "*", resource: "*"})
	stranger := s3.New(s3.Options{
		Region: "us-east-1", BaseEndpoint: aws.String(e.proxy.URL()), UsePathStyle: true,
		Credentials: aws.CredentialsProviderFunc(func(context.Context) (aws.Credentials, error) {
			return aws.Credentials{AccessKeyID: "stranger", SecretAccessKey: Secret}, nil
		}),
	})
	_, err := stranger.ListObjectsV2(ctx, &s3.ListObjectsV2Input{Bucket: aws.String("lake")})
	var apiErr smithy.APIError
	if !errors.As(err, &apiErr) || apiErr.ErrorCode() != "InvalidAccessKeyId" || httpStatus(err) != 403 {
		t.Fatalf("unknown access key id: err = %v, want 403 InvalidAccessKeyId", err)
	}
	// The backend's own credentials are not a principal either.
	_, err = e.backend.Client(func(o *s3.Options) { o.BaseEndpoint = aws.String(e.proxy.URL()) }).
		ListObjectsV2(ctx, &s3.ListObjectsV2Input{Bucket: aws.String("lake")})
	if !errors.As(err, &apiErr) || apiErr.ErrorCode() != "InvalidAccessKeyId" {
		t.Fatalf("backend credentials at the proxy: err = %v, want InvalidAccessKeyId", err)
	}
	if asked, _ := e.auth.requests(); len(asked) != 0 {
		t.Fatalf("authorizer asked %+v for unauthenticated requests", asked)
	}
	for _, tc := range []struct{ name, auth string }{
		{"anonymous", ""},
		{"SigV2", "AWS " + principal + ":c2lnbmF0dXJl"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			req, _ := http.NewRequest("GET", e.proxy.URL()+"/lake?list-type=2", nil)
			if tc.auth != "" {
				req.Header.Set("Authorization", tc.auth)
			}
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			body, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			if resp.StatusCode != 403 || !strings.Contains(string(body), "<Code>AccessDenied</Code>") ||
				resp.Header.Get("Content-Type") != "application/xml" || !strings.HasPrefix(string(body), `<?xml version="1.0" encoding="UTF-8"?>`+"\n<Error>") {
				t.Fatalf("status %d %q body %s, want 403 AccessDenied XML", resp.StatusCode, resp.Header.Get("Content-Type"), body)
			}
		})
	}
}

// TestUnmappedOperationsAreNotImplemented: an S3 API the proxy does not map is 501,
// even for a principal allowed everything.
func TestUnmappedOperationsAreNotImplemented(t *testing.T) {
	e := newEnv(t, "gofakes3")
	ctx := context.Background()
	e.put(t, "lake", "k", "v")
	e.auth.set(grant{action: "*", resource: "*"})
	c := e.client
	tests := []struct {
		name string
		run  func() error
		want string
	}{
		{"GetObjectTagging", func() error {
			_, err := c.GetObjectTagging(ctx, &s3.GetObjectTaggingInput{Bucket: aws.String("lake"), Key: aws.String("k")})
			return err
		}, "GET /lake/k?tagging"},
		{"PutObjectTagging", func() error {
			_, err := c.PutObjectTagging(ctx, &s3.PutObjectTaggingInput{Bucket: aws.String("lake"), Key: aws.String("k"),
				Tagging: &types.Tagging{TagSet: []types.Tag{{Key: aws.String("a"), Value: aws.String("b")}}}})
			return err
		}, "PUT /lake/k?tagging"},
		{"ListObjectVersions", func() error {
			_, err := c.ListObjectVersions(ctx, &s3.ListObjectVersionsInput{Bucket: aws.String("lake")})
			return err
		}, "GET /lake?versions"},
		{"PutBucketVersioning", func() error {
			_, err := c.PutBucketVersioning(ctx, &s3.PutBucketVersioningInput{Bucket: aws.String("lake"),
				VersioningConfiguration: &types.VersioningConfiguration{Status: types.BucketVersioningStatusEnabled}})
			return err
		}, "PUT /lake?versioning"},
		{"DeleteBucket", func() error {
			_, err := c.DeleteBucket(ctx, &s3.DeleteBucketInput{Bucket: aws.String("lake")})
			return err
		}, "DELETE /lake"},
		{"GetObjectAttributes", func() error {
			_, err := c.GetObjectAttributes(ctx, &s3.GetObjectAttributesInput{Bucket: aws.String("lake"), Key: aws.String("k"),
				ObjectAttributes: []types.ObjectAttributes{types.ObjectAttributesEtag}})
			return err
		}, "GET /lake/k?attributes"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e.auth.set(grant{action: "*", resource: "*"})
			err := tt.run()
			var apiErr smithy.APIError
			if !errors.As(err, &apiErr) || apiErr.ErrorCode() != "NotImplemented" || httpStatus(err) != 501 {
				t.Fatalf("err = %v, want 501 NotImplemented", err)
			}
			if !strings.Contains(apiErr.ErrorMessage(), tt.want) {
				t.Fatalf("message %q does not name %q", apiErr.ErrorMessage(), tt.want)
			}
			if asked, _ := e.auth.requests(); len(asked) != 0 {
				t.Fatalf("authorizer asked %+v for an unmapped operation", asked)
			}
		})
	}
	if !e.exists(t, "lake", "k") {
		t.Fatal("an unmapped request reached the backend")
	}
}
