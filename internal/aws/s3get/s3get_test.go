package s3get

import (
	"context"
	"errors"
	"io"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	s3types "github.com/aws/aws-sdk-go-v2/service/s3/types"
	"github.com/aws/smithy-go"
)

// s3Like answers like S3 to a caller without s3:ListBucket on the bucket but with a
// prefix-scoped listing: a GET of a missing key is 403. appearAfterGet writes the
// object right after the first GET (a racing writer); denyGet denies reading it.
type s3Like struct {
	objects        map[string]string
	appearAfterGet string
	denyGet        bool
	gets           int
}

var denied = &smithy.GenericAPIError{Code: "AccessDenied", Message: "not authorized to perform: s3:ListBucket"}

func (f *s3Like) GetObject(_ context.Context, in *s3.GetObjectInput, _ ...func(*s3.Options)) (*s3.GetObjectOutput, error) {
	f.gets++
	defer func() {
		if f.appearAfterGet != "" {
			f.objects[f.appearAfterGet] = "late"
			f.appearAfterGet = ""
		}
	}()
	body, ok := f.objects[aws.ToString(in.Key)]
	if !ok || f.denyGet {
		return nil, denied
	}
	return &s3.GetObjectOutput{Body: io.NopCloser(strings.NewReader(body))}, nil
}

func (f *s3Like) ListObjectsV2(_ context.Context, in *s3.ListObjectsV2Input, _ ...func(*s3.Options)) (*s3.ListObjectsV2Output, error) {
	var out s3.ListObjectsV2Output
	for k := range f.objects {
		if strings.HasPrefix(k, aws.ToString(in.Prefix)) {
			out.Contents = append(out.Contents, s3types.Object{Key: aws.String(k)})
		}
	}
	return &out, nil
}

func TestOptional(t *testing.T) {
	ctx := context.Background()
	t.Run("missing behind a 403", func(t *testing.T) {
		out, err := Optional(ctx, &s3Like{objects: map[string]string{"k2": "x"}}, "b", "k")
		if out != nil || err != nil {
			t.Fatalf("got %v, %v; want absent", out, err)
		}
	})
	t.Run("present", func(t *testing.T) {
		out, err := Optional(ctx, &s3Like{objects: map[string]string{"k": "x"}}, "b", "k")
		if err != nil || out == nil {
			t.Fatalf("got %v, %v", out, err)
		}
	})
	t.Run("written between the GET and the listing", func(t *testing.T) {
		f := &s3Like{objects: map[string]string{}, appearAfterGet: "k"}
		out, err := Optional(ctx, f, "b", "k")
		if err != nil || out == nil {
			t.Fatalf("got %v, %v; want the object that appeared", out, err)
		}
		if b, _ := io.ReadAll(out.Body); string(b) != "late" || f.gets != 2 {
			t.Errorf("body %q after %d GETs, want late after 2", b, f.gets)
		}
	})
	t.Run("really denied", func(t *testing.T) {
		_, err := Optional(ctx, &s3Like{objects: map[string]string{"k": "x"}, denyGet: true}, "b", "k")
		var ae smithy.APIError
		if !errors.As(err, &ae) || ae.ErrorCode() != "AccessDenied" {
			t.Fatalf("got %v, want AccessDenied", err)
		}
	})
}
