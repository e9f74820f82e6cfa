package archive

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"path"
	"sort"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	s3types "github.com/aws/aws-sdk-go-v2/service/s3/types"

	"github.com/snaplake/snaplake/internal/aws/s3obj"
	"github.com/snaplake/snaplake/internal/deploy"
)

// Batch states, in the order a batch goes through them.
const (
	// StateWritten: the batch's Parquet object is in S3; nothing of it is deleted.
	StateWritten = "written"
	// StateVerified: the object was read back and holds exactly the rows read
	// (count and key checksum): its keys may be deleted.
	StateVerified = "verified"
	// StateDeleted: every verified key still older than the cutoff is deleted.
	StateDeleted = "deleted"
)

// Manifest is one table's run for one cutoff, kept in S3 at
// deploy.ArchiveManifestPrefix<schema>/<table>/cutoff=<stamp>.json and rewritten
// after every change of state. A run that finds an unfinished manifest for its table
// resumes it, with the manifest's cutoff.
type Manifest struct {
	Version int    `json:"version"`
	Schema  string `json:"schema"`
	Table   string `json:"table"`
	Column  string `json:"column"`
	// Key is the primary key's columns; Key values below are in this order.
	Key    []string  `json:"key"`
	Cutoff time.Time `json:"cutoff"`
	Bucket string    `json:"bucket"`
	// Folder is where the batches' objects are: <prefix><schema>/<table>/cutoff=<date>/.
	Folder string `json:"folder"`
	// KMSKeyID encrypted the objects (empty: the bucket's default).
	KMSKeyID string    `json:"kmsKeyId,omitempty"`
	Started  time.Time `json:"started"`
	Updated  time.Time `json:"updated"`
	// LastKey is the keyset position: the last key of the last batch written. The
	// next batch reads the rows after it.
	LastKey Key `json:"lastKey,omitempty"`
	// Exhausted: a read found no more rows older than the cutoff after LastKey.
	Exhausted bool `json:"exhausted"`
	// Complete: exhausted and every batch deleted.
	Complete bool    `json:"complete"`
	Batches  []Batch `json:"batches"`
}

// Batch is one Parquet object of the run and what became of its rows.
type Batch struct {
	N      int    `json:"n"`
	Object string `json:"object"`
	// First and Last bound the batch's keys (inclusive); the batch holds the rows
	// in that range that were older than the cutoff when they were read.
	First Key   `json:"first"`
	Last  Key   `json:"last"`
	Rows  int64 `json:"rows"`
	Bytes int64 `json:"bytes"`
	// Checksum is the key checksum (see keyHasher) of the rows read, 16 hex digits.
	Checksum string `json:"checksum"`
	State    string `json:"state"`
	// Deleted is the rows this run's DELETE statements removed so far; once the
	// batch is deleted, its rows no longer in the table (a statement whose count a
	// killed run did not record is counted then). Changed is the
	// verified rows still in the table, their timestamp moved past the cutoff
	// after they were read (kept, and reported).
	Deleted int64 `json:"deleted"`
	Changed int64 `json:"changed"`
	// Rewritten counts the times a resumed run found the object not matching the
	// batch (missing or different) and wrote it again from the table.
	Rewritten int `json:"rewritten,omitempty"`
}

const manifestVersion = 1

// cutoffStamp names a cutoff in keys: distinct runs have distinct cutoffs, so their
// objects never overwrite each other even within one cutoff=<date> partition.
func cutoffStamp(t time.Time) string { return t.UTC().Format("20060102T150405Z") }

func manifestFolder(schema, table string) string {
	return deploy.ArchiveManifestPrefix + schema + "/" + table + "/"
}

// ManifestKey is where the run of schema.table for cutoff keeps its manifest.
func ManifestKey(schema, table string, cutoff time.Time) string {
	return manifestFolder(schema, table) + "cutoff=" + cutoffStamp(cutoff) + ".json"
}

// completeKey marks a manifest complete, so that finding the unfinished run of a
// table takes one listing and no reads.
func completeKey(manifestKey string) string {
	return strings.TrimSuffix(manifestKey, ".json") + ".complete"
}

// ObjectKey is batch n's object: <folder>batch-<stamp>-<n>.parquet.
func (m *Manifest) ObjectKey(n int) string {
	return fmt.Sprintf("%sbatch-%s-%06d.parquet", m.Folder, cutoffStamp(m.Cutoff), n)
}

// ConcurrentRunError says another run of the same table changed the manifest: two
// runs of one table at once are refused, the later one stops.
type ConcurrentRunError struct{ Manifest string }

func (e *ConcurrentRunError) Error() string {
	return fmt.Sprintf("archive manifest %s was changed by another run of the same table: only one run per table at a time (this one stopped; nothing it had not verified was deleted)", e.Manifest)
}

// ManifestMismatchError says an unfinished manifest describes another job (its
// column or key changed): it must be finished with its own settings, or removed by
// an operator who checked it.
type ManifestMismatchError struct {
	Manifest, Field, Manifested, Job string
}

func (e *ManifestMismatchError) Error() string {
	return fmt.Sprintf("archive manifest %s is unfinished and has %s %s, the job %s: finish it with its settings first (or, after checking it, remove it)", e.Manifest, e.Field, e.Manifested, e.Job)
}

// manifestStore reads and writes one manifest with conditional writes: the first
// write only if no object is there, each later one only over the version this run
// wrote last.
type manifestStore struct {
	api    S3API
	bucket string
	key    string
	kms    string
	etag   string
}

// findUnfinished lists the table's manifests and returns the key of the unfinished
// one (no .complete marker), "" when there is none, and whether a complete manifest
// exists for cutoff.
func findUnfinished(ctx context.Context, api S3API, bucket, schema, table string, cutoff time.Time) (unfinished string, doneForCutoff bool, err error) {
	folder := manifestFolder(schema, table)
	manifests := map[string]bool{}
	complete := map[string]bool{}
	var token *string
	for {
		out, err := api.ListObjectsV2(ctx, &s3.ListObjectsV2Input{Bucket: aws.String(bucket), Prefix: aws.String(folder), ContinuationToken: token})
		if err != nil {
			return "", false, fmt.Errorf("list archive manifests s3://%s/%s: %w", bucket, folder, err)
		}
		for _, o := range out.Contents {
			k := aws.ToString(o.Key)
			switch path.Ext(k) {
			case ".json":
				manifests[k] = true
			case ".complete":
				complete[strings.TrimSuffix(k, ".complete")+".json"] = true
			}
		}
		if !aws.ToBool(out.IsTruncated) {
			break
		}
		token = out.NextContinuationToken
	}
	var open []string
	for k := range manifests {
		if !complete[k] {
			open = append(open, k)
		}
	}
	sort.Strings(open)
	if len(open) > 0 {
		// Only one run of a table is ever unfinished (a run resumes it before it
		// starts another); if an operator made two, the oldest cutoff goes first.
		unfinished = open[0]
	}
	return unfinished, complete[ManifestKey(schema, table, cutoff)], nil
}

func (s *manifestStore) load(ctx context.Context) (*Manifest, error) {
	out, err := s.api.GetObject(ctx, &s3.GetObjectInput{Bucket: aws.String(s.bucket), Key: aws.String(s.key)})
	if err != nil {
		return nil, fmt.Errorf("read archive manifest s3://%s/%s: %w", s.bucket, s.key, err)
	}
	defer out.Body.Close()
	body, err := io.ReadAll(out.Body)
	if err != nil {
		return nil, fmt.Errorf("read archive manifest s3://%s/%s: %w", s.bucket, s.key, err)
	}
	var m Manifest
	if err := json.Unmarshal(body, &m); err != nil {
		return nil, fmt.Errorf("archive manifest s3://%s/%s is not valid JSON: %w", s.bucket, s.key, err)
	}
	if m.Version != manifestVersion {
		return nil, fmt.Errorf("archive manifest s3://%s/%s has version %d, this snaplake reads %d", s.bucket, s.key, m.Version, manifestVersion)
	}
	s.etag = aws.ToString(out.ETag)
	return &m, nil
}

// save writes m over the version this store last read or wrote.
func (s *manifestStore) save(ctx context.Context, m *Manifest) error {
	body, err := json.MarshalIndent(m, "", " ")
	if err != nil {
		return fmt.Errorf("encode archive manifest %s: %w", s.key, err)
	}
	in := &s3.PutObjectInput{Bucket: aws.String(s.bucket), Key: aws.String(s.key), Body: bytes.NewReader(body),
		ContentLength: aws.Int64(int64(len(body))), ContentType: aws.String("application/json")}
	s.sse(in)
	if s.etag == "" {
		in.IfNoneMatch = aws.String("*")
	} else {
		in.IfMatch = aws.String(s.etag)
	}
	out, err := s.api.PutObject(ctx, in)
	if err != nil {
		if s3obj.ReplacedOrGone(err) {
			return &ConcurrentRunError{Manifest: "s3://" + s.bucket + "/" + s.key}
		}
		return fmt.Errorf("write archive manifest s3://%s/%s: %w", s.bucket, s.key, err)
	}
	s.etag = aws.ToString(out.ETag)
	if s.etag == "" {
		return errors.New("write archive manifest " + s.key + ": S3 returned no ETag")
	}
	return nil
}

// markComplete writes the marker that closes the run.
func (s *manifestStore) markComplete(ctx context.Context) error {
	key := completeKey(s.key)
	in := &s3.PutObjectInput{Bucket: aws.String(s.bucket), Key: aws.String(key), Body: bytes.NewReader(nil),
		ContentLength: aws.Int64(0)}
	s.sse(in)
	if _, err := s.api.PutObject(ctx, in); err != nil {
		return fmt.Errorf("mark archive run complete s3://%s/%s: %w", s.bucket, key, err)
	}
	return nil
}

func (s *manifestStore) sse(in *s3.PutObjectInput) {
	if s.kms != "" {
		in.ServerSideEncryption, in.SSEKMSKeyId = s3types.ServerSideEncryptionAwsKms, aws.String(s.kms)
	}
}
