// Package callback parks a Step Functions task token under the thing it waits for
// (a snapshot's export, a crawler's run) and resumes exactly that wait when its event arrives.
package callback

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/url"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	s3types "github.com/aws/aws-sdk-go-v2/service/s3/types"
	"github.com/aws/smithy-go"

	"github.com/snaplake/snaplake/internal/aws/s3get"
	"github.com/snaplake/snaplake/internal/deploy"
)

// Kinds of waits, each with its own correlation key.
const (
	KindExport = "export" // key: the snapshot identifier (export events name the snapshot)
	KindCrawl  = "crawl"  // key: the crawler name
)

// Wait is one execution waiting for one thing.
type Wait struct {
	Kind         string    `json:"kind"`
	Key          string    `json:"key"`
	Token        string    `json:"token"`
	Execution    string    `json:"execution"`
	RegisteredAt time.Time `json:"registeredAt"`
	// ExpiresAt is when the waiting state times out; a wait past it is abandoned.
	ExpiresAt time.Time `json:"expiresAt,omitzero"`
	// ExportID is the export an export wait waits for: a failure's cause is read from it.
	ExportID string `json:"exportId,omitempty"`
	// ExecutionStartedAt orders two executions waiting for one export: the newer wins.
	ExecutionStartedAt time.Time `json:"executionStartedAt,omitzero"`
}

// ErrWaitExists says PutNew found a wait already stored for the key.
var ErrWaitExists = errors.New("a wait is already stored for this key")

// S3API is the part of S3 the store uses.
type S3API interface {
	PutObject(ctx context.Context, in *s3.PutObjectInput, optFns ...func(*s3.Options)) (*s3.PutObjectOutput, error)
	GetObject(ctx context.Context, in *s3.GetObjectInput, optFns ...func(*s3.Options)) (*s3.GetObjectOutput, error)
	DeleteObject(ctx context.Context, in *s3.DeleteObjectInput, optFns ...func(*s3.Options)) (*s3.DeleteObjectOutput, error)
	// ListObjectsV2 tells a missing wait from a denied read (see s3get.Optional).
	ListObjectsV2(ctx context.Context, in *s3.ListObjectsV2Input, optFns ...func(*s3.Options)) (*s3.ListObjectsV2Output, error)
}

// Store keeps one object per correlation key under Prefix: two executions waiting
// for two snapshots never share a place, unlike the published design's single key.
type Store struct {
	S3       S3API
	Bucket   string
	Prefix   string // "callbacks/"
	KMSKeyID string // SSE-KMS key for the token objects; empty offline
}

// InvalidWaitError names what is wrong with a wait request.
type InvalidWaitError struct{ Field, Reason string }

func (e *InvalidWaitError) Error() string {
	return fmt.Sprintf("invalid wait: %s %s", e.Field, e.Reason)
}

func validate(kind, key string) error {
	if kind != KindExport && kind != KindCrawl {
		return &InvalidWaitError{Field: "kind", Reason: fmt.Sprintf("%q is not %q or %q", kind, KindExport, KindCrawl)}
	}
	if key == "" || len(key) > 512 {
		return &InvalidWaitError{Field: "key", Reason: "must be 1 to 512 characters"}
	}
	return nil
}

// objectKey maps a correlation key to its object; escaping keeps any key one path segment.
func (s Store) objectKey(kind, key string) string {
	p := s.Prefix
	if p != "" && !strings.HasSuffix(p, "/") {
		p += "/"
	}
	return p + kind + "/" + url.PathEscape(key) + ".json"
}

// Put stores w, replacing an earlier wait for the same key.
func (s Store) Put(ctx context.Context, w Wait) error { return s.put(ctx, w, false) }

// PutNew stores w only if no wait is stored for its key (an S3 conditional write),
// else it returns ErrWaitExists.
func (s Store) PutNew(ctx context.Context, w Wait) error { return s.put(ctx, w, true) }

func (s Store) put(ctx context.Context, w Wait, onlyNew bool) error {
	if err := validate(w.Kind, w.Key); err != nil {
		return err
	}
	if w.Token == "" {
		return &InvalidWaitError{Field: "token", Reason: "is empty"}
	}
	body, err := json.Marshal(w)
	if err != nil {
		return fmt.Errorf("encode wait %s/%s: %w", w.Kind, w.Key, err)
	}
	in := &s3.PutObjectInput{
		Bucket:      aws.String(s.Bucket),
		Key:         aws.String(s.objectKey(w.Kind, w.Key)),
		Body:        bytes.NewReader(body),
		ContentType: aws.String("application/json"),
	}
	if s.KMSKeyID != "" {
		in.ServerSideEncryption = s3types.ServerSideEncryptionAwsKms
		in.SSEKMSKeyId = aws.String(s.KMSKeyID)
	}
	if onlyNew {
		in.IfNoneMatch = aws.String("*")
	}
	if _, err := s.S3.PutObject(ctx, in); err != nil {
		var ae smithy.APIError
		if onlyNew && errors.As(err, &ae) && (ae.ErrorCode() == "PreconditionFailed" || ae.ErrorCode() == "ConditionalRequestConflict") {
			return ErrWaitExists
		}
		return fmt.Errorf("store wait %s/%s in s3://%s/%s: %w", w.Kind, w.Key, s.Bucket, *in.Key, err)
	}
	return nil
}

// Get returns the wait stored for kind/key; ok is false when nobody waits.
func (s Store) Get(ctx context.Context, kind, key string) (w Wait, ok bool, err error) {
	if err := validate(kind, key); err != nil {
		return Wait{}, false, err
	}
	k := s.objectKey(kind, key)
	out, err := s3get.Optional(ctx, s.S3, s.Bucket, k)
	if err != nil {
		return Wait{}, false, fmt.Errorf("read wait %s/%s: %w", kind, key, err)
	}
	if out == nil {
		return Wait{}, false, nil
	}
	defer out.Body.Close()
	if err := json.NewDecoder(out.Body).Decode(&w); err != nil {
		return Wait{}, false, fmt.Errorf("decode wait s3://%s/%s: %w", s.Bucket, k, err)
	}
	return w, true, nil
}

// Delete removes the wait for kind/key (absent is fine).
func (s Store) Delete(ctx context.Context, kind, key string) error {
	k := s.objectKey(kind, key)
	if _, err := s.S3.DeleteObject(ctx, &s3.DeleteObjectInput{Bucket: aws.String(s.Bucket), Key: aws.String(k)}); err != nil {
		return fmt.Errorf("delete wait s3://%s/%s: %w", s.Bucket, k, err)
	}
	return nil
}

// StoreFromEnv builds the store the await and resume functions share from their
// environment: BUCKET (required), CALLBACK_PREFIX (default deploy.CallbackPrefix), KMS_KEY_ID.
func StoreFromEnv(getenv func(string) string, s3 S3API) (Store, error) {
	st := Store{S3: s3, Bucket: getenv(deploy.EnvBucket), Prefix: getenv(deploy.EnvCallbackPrefix), KMSKeyID: getenv(deploy.EnvKMSKeyID)}
	if st.Bucket == "" {
		return Store{}, &deploy.EnvError{Var: deploy.EnvBucket, Problem: "is not set"}
	}
	if st.Prefix == "" {
		st.Prefix = deploy.CallbackPrefix
	}
	return st, nil
}

// DataPrefixFromEnv is where the await function finds the table folders it points a
// crawler at: DEST_PREFIX, default deploy.DataPrefix.
func DataPrefixFromEnv(getenv func(string) string) string {
	if p := getenv(deploy.EnvDestPrefix); p != "" {
		return p
	}
	return deploy.DataPrefix
}
