package s3iam

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"regexp"
	"strings"
	"sync"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	awshttp "github.com/aws/aws-sdk-go-v2/aws/transport/http"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/smithy-go"

	"github.com/snaplake/snaplake/internal/local/iam"
	"github.com/snaplake/snaplake/internal/local/s3server"
	"github.com/snaplake/snaplake/internal/local/testenv"
)

// grant allows principal to perform action on the resources matching resource (a
// pattern where * matches anything), when every condition key in cond is present in
// the request with that value (StringEquals).
type grant struct {
	action   string
	resource string
	cond     map[string]string
}

// fakeAuth is a tiny Authorizer: one principal's list of grants; everything else is
// denied with AWS's wording. It records every request it decides.
type fakeAuth struct {
	mu     sync.Mutex
	grants []grant
	asked  []iam.Request
	denied []iam.Request
}

func (a *fakeAuth) set(grants ...grant) {
	a.mu.Lock()
	defer a.mu.Unlock()
	a.grants = grants
	a.asked = nil
	a.denied = nil
}

func (a *fakeAuth) requests() (asked, denied []iam.Request) {
	a.mu.Lock()
	defer a.mu.Unlock()
	return append([]iam.Request(nil), a.asked...), append([]iam.Request(nil), a.denied...)
}

func (a *fakeAuth) Authorize(principal string, req iam.Request) error {
	a.mu.Lock()
	defer a.mu.Unlock()
	a.asked = append(a.asked, req)
	for _, g := range a.grants {
		if !globMatch(g.action, req.Action) || !globMatch(g.resource, req.Resource) {
			continue
		}
		ok := true
		for k, want := range g.cond {
			found := false
			for _, v := range req.Context[k] {
				found = found || v == want
			}
			ok = ok && found
		}
		if ok {
			return nil
		}
	}
	a.denied = append(a.denied, req)
	return &deniedError{msg: fmt.Sprintf("User: %s is not authorized to perform: %s on resource: \"%s\" because no identity-based policy allows the %s action",
		principal, req.Action, req.Resource, req.Action)}
}

var globCache sync.Map

func globMatch(pattern, s string) bool {
	re, ok := globCache.Load(pattern)
	if !ok {
		re = regexp.MustCompile("^" + strings.ReplaceAll(regexp.QuoteMeta(pattern), `\*`, ".*") + "$")
		globCache.Store(pattern, re)
	}
	return re.(*regexp.Regexp).MatchString(s)
}

type deniedError struct{ msg string }

func (e *deniedError) Error() string                 { return "AccessDenied: " + e.msg }
func (e *deniedError) ErrorCode() string             { return "AccessDenied" }
func (e *deniedError) ErrorMessage() string          { return e.msg }
func (e *deniedError) ErrorFault() smithy.ErrorFault { return smithy.FaultClient }

const (
	principal = "arn:aws:iam::111122223333:role/service-role/snaplake-relocate,fn"
	vaultKey  = "arn:aws:kms:us-east-1:111122223333:key/vault-key"
	otherKey  = "arn:aws:kms:us-east-1:111122223333:key/other-key"
)

// testEnv is a proxy in front of a backend with buckets "lake" (no KMS key) and
// "vault" (KMS key vaultKey).
type testEnv struct {
	backend *s3server.Server
	proxy   *Proxy
	auth    *fakeAuth
	// admin talks to the backend directly, to seed and inspect.
	admin *s3.Client
	// client talks to the proxy as principal.
	client *s3.Client
}

func startBackend(t *testing.T, name string) *s3server.Server {
	t.Helper()
	var s *s3server.Server
	var err error
	switch name {
	case "gofakes3":
		s, err = s3server.StartFake()
	case "versitygw":
		testenv.NeedsServers(t)
		s, err = s3server.StartVersityGW(context.Background(), t.TempDir(), nil)
		if errors.Is(err, s3server.ErrVersityGWNotFound) {
			t.Fatalf("versitygw is not installed: run `make deps` (%v)", err)
		}
	default:
		t.Fatalf("unknown backend %q", name)
	}
	if err != nil {
		t.Fatalf("start %s: %v", name, err)
	}
	t.Cleanup(s.Stop)
	return s
}

func newEnv(t *testing.T, backend string) *testEnv {
	t.Helper()
	b := startBackend(t, backend)
	auth := &fakeAuth{}
	p, err := Start(Config{
		Backend: b,
		Auth:    auth,
		Buckets: map[string]Bucket{"vault": {KMSKeyArn: vaultKey}},
		Log:     slog.New(slog.NewTextHandler(testWriter{t}, &slog.HandlerOptions{Level: slog.LevelWarn})),
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(p.Stop)
	e := &testEnv{backend: b, proxy: p, auth: auth, admin: b.Client(), client: p.Client(principal)}
	for _, bucket := range []string{"lake", "vault"} {
		if err := b.CreateBucket(context.Background(), bucket); err != nil {
			t.Fatal(err)
		}
	}
	return e
}

// testWriter sends the proxy's warnings to the test log.
type testWriter struct{ t *testing.T }

func (w testWriter) Write(p []byte) (int, error) {
	w.t.Helper()
	w.t.Log(strings.TrimSpace(string(p)))
	return len(p), nil
}

func (e *testEnv) put(t *testing.T, bucket, key, body string) {
	t.Helper()
	if _, err := e.admin.PutObject(context.Background(), &s3.PutObjectInput{
		Bucket: aws.String(bucket), Key: aws.String(key), Body: strings.NewReader(body),
	}); err != nil {
		t.Fatalf("seed %s/%s: %v", bucket, key, err)
	}
}

func (e *testEnv) exists(t *testing.T, bucket, key string) bool {
	t.Helper()
	_, err := e.admin.HeadObject(context.Background(), &s3.HeadObjectInput{Bucket: aws.String(bucket), Key: aws.String(key)})
	if err == nil {
		return true
	}
	var re *awshttp.ResponseError
	if errors.As(err, &re) && re.HTTPStatusCode() == 404 {
		return false
	}
	t.Fatalf("head %s/%s on the backend: %v", bucket, key, err)
	return false
}

func (e *testEnv) get(t *testing.T, bucket, key string) string {
	t.Helper()
	out, err := e.admin.GetObject(context.Background(), &s3.GetObjectInput{Bucket: aws.String(bucket), Key: aws.String(key)})
	if err != nil {
		t.Fatalf("get %s/%s on the backend: %v", bucket, key, err)
	}
	defer out.Body.Close()
	b, err := io.ReadAll(out.Body)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// readAll drains a GetObject output.
func readAll(out *s3.GetObjectOutput, err error) (string, error) {
	if err != nil {
		return "", err
	}
	defer out.Body.Close()
	var b bytes.Buffer
	_, err = io.Copy(&b, out.Body)
	return b.String(), err
}

// httpStatus returns the HTTP status of an SDK error, or 0.
func httpStatus(err error) int {
	var re *awshttp.ResponseError
	if errors.As(err, &re) {
		return re.HTTPStatusCode()
	}
	return 0
}

// wantAccessDenied checks that err is S3's 403 AccessDenied naming action (for a HEAD,
// which has no body, that the proxy answered 403 after the authorizer denied action).
func wantAccessDenied(t *testing.T, err error, auth *fakeAuth, head bool, action, resource string) {
	t.Helper()
	if err == nil {
		t.Fatalf("request succeeded, want 403 AccessDenied for %s", action)
	}
	if got := httpStatus(err); got != 403 {
		t.Fatalf("HTTP status %d, want 403 (%v)", got, err)
	}
	if _, denied := auth.requests(); len(denied) == 0 || denied[len(denied)-1].Action != action || denied[len(denied)-1].Resource != resource {
		t.Fatalf("last denial = %+v, want %s on %s", denied, action, resource)
	}
	if head {
		return
	}
	var apiErr smithy.APIError
	if !errors.As(err, &apiErr) {
		t.Fatalf("error %T %v is not a smithy.APIError", err, err)
	}
	if apiErr.ErrorCode() != "AccessDenied" {
		t.Fatalf("ErrorCode() = %q, want AccessDenied (%v)", apiErr.ErrorCode(), err)
	}
	want := fmt.Sprintf("is not authorized to perform: %s on resource: \"%s\"", action, resource)
	if !strings.Contains(apiErr.ErrorMessage(), want) {
		t.Fatalf("ErrorMessage() = %q, want it to contain %q", apiErr.ErrorMessage(), want)
	}
}
