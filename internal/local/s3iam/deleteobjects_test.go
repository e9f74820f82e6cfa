package s3iam

import (
	"context"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/s3/types"
)

func TestDeleteBodySurgery(t *testing.T) {
	body := `<?xml version="1.0" encoding="UTF-8"?>
<Delete xmlns="http://s3.amazonaws.com/doc/2006-03-01/"><Quiet>true</Quiet><Object><Key>a &amp; b</Key></Object>` +
		`<Object><Key>c</Key><VersionId>v1</VersionId></Object><Object><Key>d</Key><ETag>"e"</ETag></Object></Delete>`
	keys, err := parseDeleteBody([]byte(body))
	if err != nil {
		t.Fatal(err)
	}
	if len(keys) != 3 || keys[0].key != "a & b" || keys[1].key != "c" || keys[1].version != "v1" || keys[2].key != "d" {
		t.Fatalf("keys = %+v", keys)
	}
	keys[1].denied = true
	got := string(cutDenied([]byte(body), keys))
	want := strings.Replace(body, `<Object><Key>c</Key><VersionId>v1</VersionId></Object>`, "", 1)
	if got != want {
		t.Fatalf("cut body\n%s\nwant\n%s", got, want)
	}
	for _, tt := range []struct{ result, want string }{
		{`<?xml version="1.0"?><DeleteResult xmlns="x"><Deleted><Key>a</Key></Deleted></DeleteResult>`,
			`<?xml version="1.0"?><DeleteResult xmlns="x"><Deleted><Key>a</Key></Deleted><Error><Key>c</Key><VersionId>v1</VersionId><Code>AccessDenied</Code><Message>Access Denied</Message></Error></DeleteResult>`},
		{`<DeleteResult xmlns="x"/>`,
			`<DeleteResult xmlns="x"><Error><Key>c</Key><VersionId>v1</VersionId><Code>AccessDenied</Code><Message>Access Denied</Message></Error></DeleteResult>`},
	} {
		merged, ok := mergeDeleteErrors([]byte(tt.result), keys)
		if !ok || string(merged) != tt.want {
			t.Errorf("merge(%s) = %s %v\nwant %s", tt.result, merged, ok, tt.want)
		}
	}
	if _, ok := mergeDeleteErrors([]byte(`<Error/>`), keys); ok {
		t.Error("merged into a result without <DeleteResult>")
	}
	for _, bad := range []string{"", "<Delete></Delete>", "<Other><Object><Key>k</Key></Object></Other>", "<Delete><Object><Key>k</Key>"} {
		if _, err := parseDeleteBody([]byte(bad)); err == nil {
			t.Errorf("parseDeleteBody(%q) succeeded", bad)
		}
	}
}

func TestDeleteObjectsVersionsNeedDeleteObjectVersion(t *testing.T) {
	e := newEnv(t, "gofakes3")
	e.put(t, "lake", "v", "v")
	e.put(t, "lake", "w", "w")
	e.auth.set(grant{action: "s3:DeleteObject", resource: "*"})
	out, err := e.client.DeleteObjects(context.Background(), &s3.DeleteObjectsInput{Bucket: aws.String("lake"), Delete: &types.Delete{
		Objects: []types.ObjectIdentifier{{Key: aws.String("v"), VersionId: aws.String("3")}, {Key: aws.String("w")}}}})
	if err != nil {
		t.Fatal(err)
	}
	if len(out.Errors) != 1 || aws.ToString(out.Errors[0].Key) != "v" || aws.ToString(out.Errors[0].VersionId) != "3" ||
		aws.ToString(out.Errors[0].Code) != "AccessDenied" {
		t.Fatalf("errors %+v, want AccessDenied for v version 3", out.Errors)
	}
	if _, denied := e.auth.requests(); len(denied) != 1 || denied[0].Action != "s3:DeleteObjectVersion" {
		t.Fatalf("denied %+v", denied)
	}
	if !e.exists(t, "lake", "v") || e.exists(t, "lake", "w") {
		t.Fatal("wrong objects deleted")
	}
}

// TestEnvPointsAChildAtTheProxy: the variables a child process gets name the
// principal, and that principal is known to the proxy.
func TestEnvPointsAChildAtTheProxy(t *testing.T) {
	e := newEnv(t, "gofakes3")
	e.auth.set(grant{action: "s3:ListBucket", resource: lakeARN})
	const child = "arn:aws:iam::111122223333:role/snaplake-callback"
	vars := map[string]string{}
	for _, kv := range e.proxy.Env(child) {
		k, v, _ := strings.Cut(kv, "=")
		vars[k] = v
	}
	want := map[string]string{"AWS_ENDPOINT_URL_S3": e.proxy.URL(), "AWS_ACCESS_KEY_ID": child, "AWS_SECRET_ACCESS_KEY": Secret, "AWS_REGION": "us-east-1"}
	for k, v := range want {
		if vars[k] != v {
			t.Errorf("%s = %q, want %q", k, vars[k], v)
		}
	}
	c := s3.New(s3.Options{Region: vars["AWS_REGION"], BaseEndpoint: aws.String(vars["AWS_ENDPOINT_URL_S3"]), UsePathStyle: true,
		Credentials: credentials.NewStaticCredentialsProvider(vars["AWS_ACCESS_KEY_ID"], vars["AWS_SECRET_ACCESS_KEY"], "")})
	if _, err := c.ListObjectsV2(context.Background(), &s3.ListObjectsV2Input{Bucket: aws.String("lake")}); err != nil {
		t.Fatal(err)
	}
}
