package federate

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"os"
	"time"

	"github.com/snaplake/snaplake/internal/aws/lease"
)

// A run of publish or subscribe holds a lease (internal/aws/lease) while it works: one
// per subscriber, so that two overlapping runs never load one subscriber's tables at
// once, and one per published table, so that two never UNLOAD it at once. The other
// run reports the table as skipped.

// newRunID names a run in the leases it takes: the host and a random suffix.
func newRunID() string {
	b := make([]byte, 6)
	_, _ = rand.Read(b)
	host, _ := os.Hostname()
	if host == "" {
		host = "run"
	}
	return host + "-" + hex.EncodeToString(b)
}

// leaseTTL is how long a run's lease lasts: until the run's own deadline and a minute
// (a Lambda's context ends at its timeout: a run killed there frees the lease soon
// after), else fallback.
func leaseTTL(ctx context.Context, now time.Time, fallback time.Duration) time.Duration {
	if d, ok := ctx.Deadline(); ok {
		return d.Sub(now) + time.Minute
	}
	return fallback
}

func (s Store) leases(now func() time.Time) lease.Store {
	return lease.Store{S3: s.S3, Bucket: s.Bucket, KMSKeyID: s.KMSKeyID, Now: now}
}
