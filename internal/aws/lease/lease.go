// Package lease is a run's exclusive hold on one thing in the lake bucket (an
// ingested table, an ingest set, a Federator subscriber or published table), kept as
// a small JSON object that S3's conditional writes make exclusive: it is created only
// if absent (If-None-Match: *), and an expired one is taken over only if it is still
// the object that was read (If-Match: its ETag).
package lease

import (
	"context"
	"fmt"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"

	"github.com/snaplake/snaplake/internal/aws/s3get"
	"github.com/snaplake/snaplake/internal/aws/s3obj"
)

// API is the part of S3 the leases use; *s3.Client satisfies it.
type API interface {
	s3get.API
	PutObject(ctx context.Context, in *s3.PutObjectInput, optFns ...func(*s3.Options)) (*s3.PutObjectOutput, error)
	DeleteObject(ctx context.Context, in *s3.DeleteObjectInput, optFns ...func(*s3.Options)) (*s3.DeleteObjectOutput, error)
}

// Lease says a run holds something until it releases it or the lease expires.
type Lease struct {
	Run       string    `json:"run"`
	Since     time.Time `json:"since"`
	ExpiresAt time.Time `json:"expiresAt"`
}

// HeldError says another run holds the lease: the caller skips its work, never does
// it concurrently.
type HeldError struct {
	What  string // what the lease guards, for messages
	Lease Lease
}

func (e *HeldError) Error() string {
	return fmt.Sprintf("%s is held by run %s since %s (until %s)", e.What, e.Lease.Run,
		e.Lease.Since.Format(time.RFC3339), e.Lease.ExpiresAt.Format(time.RFC3339))
}

// Store keeps leases in one bucket.
type Store struct {
	S3       API
	Bucket   string
	KMSKeyID string // SSE-KMS for the lease objects; empty: the bucket's default
	Now      func() time.Time
}

func (s Store) now() time.Time {
	if s.Now != nil {
		return s.Now().UTC()
	}
	return time.Now().UTC()
}

// Acquire takes the lease at key for run until ttl from now. A live lease of another
// run is *HeldError; run's own lease (a retried call) is kept. An expired lease (its
// run died) is taken over and returned, so that the caller can clean up after it.
//
// Of several runs racing, exactly one wins: creating the object is conditional on its
// absence, and taking an expired one over is conditional on its ETag, so two runs
// that both saw it expired cannot both replace it (a delete-then-create would let the
// slower one delete the faster one's fresh lease).
func (s Store) Acquire(ctx context.Context, key, what, run string, ttl time.Duration) (expired *Lease, err error) {
	now := s.now()
	mine := Lease{Run: run, Since: now, ExpiresAt: now.Add(ttl)}
	var held Lease
	for attempt := 0; attempt < 3; attempt++ {
		err := s3obj.PutJSON(ctx, s.S3, s.Bucket, key, s.KMSKeyID, mine, true)
		if err == nil {
			return nil, nil
		}
		if !s3obj.PreconditionFailed(err) {
			return nil, fmt.Errorf("take the lease of %s: %w", what, err)
		}
		var etag string
		var found bool
		held = Lease{}
		found, etag, err = s3obj.GetJSONWithETag(ctx, s.S3, s.Bucket, key, &held)
		switch {
		case err != nil:
			return nil, fmt.Errorf("read the lease of %s: %w", what, err)
		case !found:
			continue // released meanwhile: create it again
		case held.Run == run:
			return nil, nil
		case held.ExpiresAt.After(now):
			return nil, &HeldError{What: what, Lease: held}
		}
		err = s3obj.ReplaceJSON(ctx, s.S3, s.Bucket, key, s.KMSKeyID, mine, etag)
		if err == nil {
			taken := held
			return &taken, nil
		}
		if !s3obj.ReplacedOrGone(err) {
			return nil, fmt.Errorf("take over the expired lease of %s: %w", what, err)
		}
		// Another run took it over or released it first: look again.
	}
	return nil, &HeldError{What: what, Lease: held}
}

// Read returns the lease at key; found is false when none is held.
func (s Store) Read(ctx context.Context, key string) (l Lease, found bool, err error) {
	found, err = s3obj.GetJSON(ctx, s.S3, s.Bucket, key, &l)
	return l, found, err
}

// Release drops run's lease at key; a lease of another run (run's expired and was
// taken over) is left alone.
func (s Store) Release(ctx context.Context, key, what, run string) error {
	held, found, err := s.Read(ctx, key)
	if err != nil {
		return fmt.Errorf("read the lease of %s: %w", what, err)
	}
	if !found || held.Run != run {
		return nil
	}
	if _, err := s.S3.DeleteObject(ctx, &s3.DeleteObjectInput{Bucket: aws.String(s.Bucket), Key: aws.String(key)}); err != nil {
		return fmt.Errorf("release the lease of %s: %w", what, err)
	}
	return nil
}

// Renew extends run's lease at key to ttl from now: a run that works longer than its
// lease (it waits for a statement, step after step) renews it at each step, so that a
// run that dies frees it within one step's ttl. A lease run no longer holds (it
// expired and another run took it over) is *HeldError; one that is gone is taken
// again.
func (s Store) Renew(ctx context.Context, key, what, run string, ttl time.Duration) error {
	var held Lease
	found, etag, err := s3obj.GetJSONWithETag(ctx, s.S3, s.Bucket, key, &held)
	switch {
	case err != nil:
		return fmt.Errorf("read the lease of %s: %w", what, err)
	case !found:
		_, err := s.Acquire(ctx, key, what, run, ttl)
		return err
	case held.Run != run:
		return &HeldError{What: what, Lease: held}
	}
	held.ExpiresAt = s.now().Add(ttl)
	if err := s3obj.ReplaceJSON(ctx, s.S3, s.Bucket, key, s.KMSKeyID, held, etag); err != nil {
		if s3obj.ReplacedOrGone(err) {
			_, err := s.Acquire(ctx, key, what, run, ttl)
			return err
		}
		return fmt.Errorf("renew the lease of %s: %w", what, err)
	}
	return nil
}
