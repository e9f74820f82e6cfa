package s3iam

import (
	"context"
	"encoding/json"
	"log/slog"
	"strings"
	"sync"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/s3/types"

	"github.com/snaplake/snaplake/events"
)

// A bucket with EventBridge on sends "Object Created", shaped as S3's (S3 UG,
// "EventBridge event message structure"), for each object a PutObject, CopyObject or
// CompleteMultipartUpload created; a bucket without it, a denied write, a failed
// write and a read send nothing.
func TestObjectCreatedEventsOfEnabledBuckets(t *testing.T) {
	b := startBackend(t, "gofakes3")
	auth := &fakeAuth{}
	p, err := Start(Config{
		Backend: b, Auth: auth, Account: "111122223333", Region: "eu-west-1",
		Buckets: map[string]Bucket{"lake": {EventBridge: true}},
		Log:     slog.New(slog.NewTextHandler(testWriter{t}, &slog.HandlerOptions{Level: slog.LevelWarn})),
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(p.Stop)
	ctx := context.Background()
	for _, bucket := range []string{"lake", "other"} {
		if err := b.CreateBucket(ctx, bucket); err != nil {
			t.Fatal(err)
		}
	}
	var mu sync.Mutex
	var got []events.Event[events.S3ObjectCreatedDetail]
	p.SendEventsTo(func(_ context.Context, raw []byte) {
		var ev events.Event[events.S3ObjectCreatedDetail]
		if err := json.Unmarshal(raw, &ev); err != nil {
			t.Errorf("event %s: %v", raw, err)
		}
		env, err := events.ParseEnvelope(raw)
		if err != nil {
			t.Errorf("event %s: %v", raw, err)
		} else if _, err := env.S3ObjectCreated(); err != nil {
			t.Errorf("event %s: %v", raw, err)
		}
		mu.Lock()
		got = append(got, ev)
		mu.Unlock()
	})
	auth.set(grant{action: "s3:*", resource: "*"})
	c := p.Client(principal)
	put := func(bucket, key, body string) {
		t.Helper()
		if _, err := c.PutObject(ctx, &s3.PutObjectInput{Bucket: aws.String(bucket), Key: aws.String(key), Body: strings.NewReader(body)}); err != nil {
			t.Fatal(err)
		}
	}
	put("lake", "federator/a/b/v/manifest.json", "hello")
	put("other", "x", "not sent: EventBridge is off for this bucket")
	if _, err := c.CopyObject(ctx, &s3.CopyObjectInput{Bucket: aws.String("lake"), Key: aws.String("copy"), CopySource: aws.String("lake/federator/a/b/v/manifest.json")}); err != nil {
		t.Fatal(err)
	}
	up, err := c.CreateMultipartUpload(ctx, &s3.CreateMultipartUploadInput{Bucket: aws.String("lake"), Key: aws.String("big")})
	if err != nil {
		t.Fatal(err)
	}
	part, err := c.UploadPart(ctx, &s3.UploadPartInput{Bucket: aws.String("lake"), Key: aws.String("big"), UploadId: up.UploadId, PartNumber: aws.Int32(1), Body: strings.NewReader("0123456789")})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := c.CompleteMultipartUpload(ctx, &s3.CompleteMultipartUploadInput{Bucket: aws.String("lake"), Key: aws.String("big"), UploadId: up.UploadId,
		MultipartUpload: &types.CompletedMultipartUpload{Parts: []types.CompletedPart{{ETag: part.ETag, PartNumber: aws.Int32(1)}}}}); err != nil {
		t.Fatal(err)
	}
	if _, err := c.GetObject(ctx, &s3.GetObjectInput{Bucket: aws.String("lake"), Key: aws.String("copy")}); err != nil {
		t.Fatal(err)
	}
	auth.set() // everything denied now
	if _, err := c.PutObject(ctx, &s3.PutObjectInput{Bucket: aws.String("lake"), Key: aws.String("denied"), Body: strings.NewReader("x")}); err == nil {
		t.Fatal("a denied put succeeded")
	}

	mu.Lock()
	defer mu.Unlock()
	want := []struct {
		key, reason string
		size        int64
	}{{"federator/a/b/v/manifest.json", "PutObject", 5}, {"copy", "CopyObject", 5}, {"big", "CompleteMultipartUpload", 10}}
	if len(got) != len(want) {
		t.Fatalf("%d events, want %d: %+v", len(got), len(want), got)
	}
	for i, w := range want {
		ev := got[i]
		d := ev.Detail
		if ev.Source != "aws.s3" || ev.DetailType != "Object Created" || ev.Account != "111122223333" || ev.Region != "eu-west-1" ||
			len(ev.Resources) != 1 || ev.Resources[0] != "arn:aws:s3:::lake" || ev.ID == "" || ev.Version != "0" {
			t.Errorf("event %d envelope %+v", i, ev)
		}
		if d.Version != "0" || d.Bucket.Name != "lake" || d.Object.Key != w.key || d.Object.Size != w.size || d.Reason != w.reason ||
			d.Object.ETag == "" || strings.Contains(d.Object.ETag, `"`) || len(d.Object.Sequencer) != 18 || d.RequestID == "" || d.Requester != "111122223333" || d.SourceIPAddress != "127.0.0.1" {
			t.Errorf("event %d detail %+v, want key %s size %d reason %s", i, d, w.key, w.size, w.reason)
		}
	}
}
