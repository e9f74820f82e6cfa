// Package watermark keeps what the lake knows of each ingested table: the greatest
// value of its monotonic column loaded so far, and which run is loading it now. There
// is one watermark per table, whatever set loads it, so a table in two sets loads
// each row once; a lease makes sure no two runs load one table at the same time.
package watermark

import (
	"context"
	"errors"
	"fmt"
	"github.com/snaplake/snaplake/internal/deploy"
	"net/url"
	"strings"
	"sync"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"

	"github.com/snaplake/snaplake/internal/aws/lease"
	"github.com/snaplake/snaplake/internal/aws/s3get"
	"github.com/snaplake/snaplake/internal/aws/s3obj"
	"github.com/snaplake/snaplake/internal/ingest"
)

// Prefix is where the state lives in the lake bucket: Prefix<database>/<table>/.
const Prefix = deploy.IngestStatePrefix

// S3API is the part of S3 the store uses; *s3.Client satisfies it.
type S3API interface {
	s3get.API
	PutObject(ctx context.Context, in *s3.PutObjectInput, optFns ...func(*s3.Options)) (*s3.PutObjectOutput, error)
	DeleteObject(ctx context.Context, in *s3.DeleteObjectInput, optFns ...func(*s3.Options)) (*s3.DeleteObjectOutput, error)
}

// Store reads and writes the state of one lake bucket.
type Store struct {
	S3       S3API
	Bucket   string
	KMSKeyID string // SSE-KMS for the state objects; empty: the bucket's default
	Now      func() time.Time
}

// Mark is a table's watermark object.
type Mark struct {
	LakeName string    `json:"lakeName"`
	Mode     string    `json:"mode,omitempty"`
	Column   string    `json:"column,omitempty"`
	Value    *string   `json:"value,omitempty"` // nil: loaded whole (a full reload)
	Run      string    `json:"run"`
	LoadedAt time.Time `json:"loadedAt"`
	// Generation is the folder a fully reloaded table's catalog entry points at, or
	// an incremental table's current generation (current/<db>/<table>/gen=<run>/),
	// which its entry in the current database points at.
	Generation string `json:"generation,omitempty"`
	// KeyCheckedAt is when the current table's keys were last compared with every
	// key of the source (a key check, or a load from the beginning).
	KeyCheckedAt time.Time `json:"keyCheckedAt,omitzero"`
	// Retired are earlier generations, kept until no running query can still read
	// them, then deleted.
	Retired []Retired `json:"retired,omitempty"`
	// Reset, when set, says an operator reset the table (`snaplake ingest reset`):
	// the next run loads it from the beginning, and its commit replaces this record.
	Reset *Reset `json:"reset,omitempty"`
}

// Reset records a reset and the watermark it cleared, for whoever reads the record.
type Reset struct {
	By string    `json:"by"`
	At time.Time `json:"at"`
	// Column, Value and Run are the cleared watermark's.
	Column string  `json:"column,omitempty"`
	Value  *string `json:"value,omitempty"`
	Run    string  `json:"run,omitempty"`
}

// Cleared is the record a reset by `by` at `at` leaves of m: nothing but what
// says where the table's files are (its lake name, so that its folder never moves;
// a fully reloaded table's generation and retired generations, so that the next
// reload retires and deletes them), and the Reset. Every other field, including
// those other steps keep in the record, is dropped: the next run starts over.
func (m Mark) Cleared(by string, at time.Time) Mark {
	return Mark{LakeName: m.LakeName, Run: by, LoadedAt: at, Generation: m.Generation, Retired: m.Retired,
		Reset: &Reset{By: by, At: at, Column: m.Column, Value: m.Value, Run: m.Run}}
}

// Retired is a generation the catalog no longer points at.
type Retired struct {
	Folder string    `json:"folder"`
	Since  time.Time `json:"since"`
}

// Lease says a run is loading a table until it commits or the lease expires.
type Lease = lease.Lease

// HeldError says another run holds the table's lease: the table is skipped, never
// loaded concurrently.
type HeldError struct {
	Table string
	Lease Lease
}

func (e *HeldError) Error() string {
	return fmt.Sprintf("table %s is being loaded by run %s since %s", e.Table, e.Lease.Run, e.Lease.Since.Format(time.RFC3339))
}

func (s Store) now() time.Time {
	if s.Now != nil {
		return s.Now().UTC()
	}
	return time.Now().UTC()
}

func dir(database, table string) string {
	return Prefix + url.PathEscape(database) + "/" + url.PathEscape(table) + "/"
}

// Load reads the state of every table of database: one listing, then the objects it
// found, read concurrently.
func (s Store) Load(ctx context.Context, database string) (ingest.State, error) {
	st := ingest.State{Tables: map[string]ingest.TableState{}}
	prefix := Prefix + url.PathEscape(database) + "/"
	var keys []string
	p := s3.NewListObjectsV2Paginator(s.S3, &s3.ListObjectsV2Input{Bucket: aws.String(s.Bucket), Prefix: aws.String(prefix)})
	for p.HasMorePages() {
		page, err := p.NextPage(ctx)
		if err != nil {
			return st, fmt.Errorf("list ingest state s3://%s/%s: %w", s.Bucket, prefix, err)
		}
		for _, o := range page.Contents {
			keys = append(keys, aws.ToString(o.Key))
		}
	}
	var mu sync.Mutex
	var errs []error
	sem := make(chan struct{}, 16)
	var wg sync.WaitGroup
	for _, k := range keys {
		rel := strings.TrimPrefix(k, prefix)
		tableEsc, file, ok := strings.Cut(rel, "/")
		table, err := url.PathUnescape(tableEsc)
		if !ok || err != nil || (file != "watermark.json" && file != "lease.json") {
			continue
		}
		wg.Add(1)
		sem <- struct{}{}
		go func() {
			defer wg.Done()
			defer func() { <-sem }()
			var m Mark
			var l Lease
			target := any(&m)
			if file == "lease.json" {
				target = &l
			}
			found, err := s.read(ctx, k, target)
			mu.Lock()
			defer mu.Unlock()
			if err != nil {
				errs = append(errs, err)
				return
			}
			if !found {
				return
			}
			ts := st.Tables[table]
			if file == "watermark.json" {
				ts.LakeName, ts.Column, ts.Watermark, ts.Generation = m.LakeName, m.Column, m.Value, m.Generation
			} else if l.ExpiresAt.After(s.now()) {
				ts.LoadingBy, ts.LoadingSince = l.Run, l.Since
			}
			st.Tables[table] = ts
		}()
	}
	wg.Wait()
	return st, errors.Join(errs...)
}

func (s Store) read(ctx context.Context, key string, v any) (bool, error) {
	return s3obj.GetJSON(ctx, s.S3, s.Bucket, key, v)
}

func (s Store) put(ctx context.Context, key string, v any, onlyNew bool) error {
	return s3obj.PutJSON(ctx, s.S3, s.Bucket, key, s.KMSKeyID, v, onlyNew)
}

// Acquire takes the table's lease for run until ttl from now. An expired lease of
// another run is taken over and returned (that run died: what it wrote is not
// committed, and the caller removes it); a live one gives *HeldError. The lease is
// created with an S3 conditional write, so of two runs racing for it exactly one wins.
func (s Store) Acquire(ctx context.Context, database, table, run string, ttl time.Duration) (expired *Lease, err error) {
	return s.acquire(ctx, dir(database, table)+"lease.json", database+"."+table, run, ttl)
}

// AcquireSet takes the lease of a set of database for run: two runs of one set
// never overlap (the second is reported and does nothing).
func (s Store) AcquireSet(ctx context.Context, database, set, run string, ttl time.Duration) (expired *Lease, err error) {
	return s.acquire(ctx, setKey(database, set), "set "+set+" of "+database, run, ttl)
}

// ReleaseSet drops the run's lease of the set.
func (s Store) ReleaseSet(ctx context.Context, database, set, run string) error {
	return s.release(ctx, setKey(database, set), "set "+set+" of "+database, run)
}

// SetsPrefix holds the sets' leases, apart from the tables' state.
const SetsPrefix = deploy.IngestSetsPrefix

func setKey(database, set string) string {
	return SetsPrefix + url.PathEscape(database) + "/" + url.PathEscape(set) + "/lease.json"
}

// acquire takes a lease through the shared lease code, reporting a held one as this
// package's *HeldError.
func (s Store) acquire(ctx context.Context, key, what, run string, ttl time.Duration) (*Lease, error) {
	expired, err := s.leases().Acquire(ctx, key, what, run, ttl)
	var held *lease.HeldError
	if errors.As(err, &held) {
		return nil, &HeldError{Table: what, Lease: held.Lease}
	}
	return expired, err
}

func (s Store) leases() lease.Store {
	return lease.Store{S3: s.S3, Bucket: s.Bucket, KMSKeyID: s.KMSKeyID, Now: s.Now}
}

// Commit records the table's new watermark, then releases the run's lease. A run
// that does not hold the lease may not commit: its rows would race another run's.
func (s Store) Commit(ctx context.Context, database, table string, m Mark) error {
	key := dir(database, table) + "lease.json"
	var held Lease
	found, err := s.read(ctx, key, &held)
	if err != nil {
		return err
	}
	if !found || held.Run != m.Run {
		return &HeldError{Table: database + "." + table, Lease: held}
	}
	if m.LoadedAt.IsZero() {
		m.LoadedAt = s.now()
	}
	if err := s.put(ctx, dir(database, table)+"watermark.json", m, false); err != nil {
		return fmt.Errorf("record the watermark of %s.%s: %w", database, table, err)
	}
	// The lease was read above and is this run's: drop it without reading it again.
	if _, err := s.S3.DeleteObject(ctx, &s3.DeleteObjectInput{Bucket: aws.String(s.Bucket), Key: aws.String(key)}); err != nil {
		return fmt.Errorf("release the lease of %s.%s: %w", database, table, err)
	}
	return nil
}

// Release drops the run's lease (a run that loaded nothing, or failed).
func (s Store) Release(ctx context.Context, database, table, run string) error {
	return s.release(ctx, dir(database, table)+"lease.json", database+"."+table, run)
}

func (s Store) release(ctx context.Context, key, what, run string) error {
	return s.leases().Release(ctx, key, what, run)
}

// Lease reads the table's lease; found is false when none is held. An expired
// lease is returned as found: its ExpiresAt says so.
func (s Store) Lease(ctx context.Context, database, table string) (l Lease, found bool, err error) {
	return s.leases().Read(ctx, dir(database, table)+"lease.json")
}

// Key is the key of the table's watermark object.
func Key(database, table string) string { return dir(database, table) + "watermark.json" }

// Mark reads a table's watermark object; found is false when the table was never
// committed.
func (s Store) Mark(ctx context.Context, database, table string) (m Mark, found bool, err error) {
	found, err = s.read(ctx, dir(database, table)+"watermark.json", &m)
	return m, found, err
}
