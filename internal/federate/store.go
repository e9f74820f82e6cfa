package federate

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"

	"github.com/snaplake/snaplake/internal/aws/s3get"
	"github.com/snaplake/snaplake/internal/aws/s3obj"
)

// S3API is the part of S3 the Federator uses; *s3.Client satisfies it.
type S3API interface {
	s3get.API
	PutObject(ctx context.Context, in *s3.PutObjectInput, optFns ...func(*s3.Options)) (*s3.PutObjectOutput, error)
	DeleteObjects(ctx context.Context, in *s3.DeleteObjectsInput, optFns ...func(*s3.Options)) (*s3.DeleteObjectsOutput, error)
	DeleteObject(ctx context.Context, in *s3.DeleteObjectInput, optFns ...func(*s3.Options)) (*s3.DeleteObjectOutput, error)
}

// Store is the versions in one bucket.
type Store struct {
	S3       S3API
	Bucket   string
	KMSKeyID string
	// Identity is who this process calls the Data API as; it is recorded as the
	// owner of each statement it submits (nil: unknown, nothing recorded or
	// compared).
	Identity *Identity
}

// Published is one version found under a table's folder.
type Published struct {
	Name     string
	Version  Version
	Complete bool // its manifest exists
}

// Versions lists a table's versions, oldest first. A folder whose name is not a
// version's is a *VersionNameError: the table is refused until it is removed.
func (s Store) Versions(ctx context.Context, table string) ([]Published, error) {
	dir := TableDir(table)
	var out []Published
	manifests, seen := map[string]bool{}, map[string]bool{}
	var bad error
	p := s3.NewListObjectsV2Paginator(s.S3, &s3.ListObjectsV2Input{Bucket: aws.String(s.Bucket), Prefix: aws.String(dir)})
	for p.HasMorePages() {
		page, err := p.NextPage(ctx)
		if err != nil {
			return nil, fmt.Errorf("list s3://%s/%s: %w", s.Bucket, dir, err)
		}
		for _, o := range page.Contents {
			rel := strings.TrimPrefix(aws.ToString(o.Key), dir)
			name, file, ok := strings.Cut(rel, "/")
			if !ok || strings.HasPrefix(name, "_") { // _loading/ markers
				continue
			}
			if _, err := ParseVersion(table, name); err != nil {
				bad = err
				continue
			}
			if file == "manifest.json" {
				manifests[name] = true
			}
			if !seen[name] {
				seen[name] = true
				v, _ := ParseVersion(table, name)
				out = append(out, Published{Name: name, Version: v})
			}
		}
	}
	if bad != nil {
		return nil, bad
	}
	for i := range out {
		out[i].Complete = manifests[out[i].Name]
	}
	slices.SortFunc(out, func(a, b Published) int { return strings.Compare(a.Name, b.Name) })
	return out, nil
}

// Newest is the newest complete version, ok false when there is none.
func Newest(vs []Published) (Published, bool) {
	for i := len(vs) - 1; i >= 0; i-- {
		if vs[i].Complete {
			return vs[i], true
		}
	}
	return Published{}, false
}

// Manifest reads a version's manifest.
func (s Store) Manifest(ctx context.Context, table, version string) (Manifest, error) {
	var m Manifest
	found, err := s3obj.GetJSON(ctx, s.S3, s.Bucket, ManifestKey(table, version), &m)
	if err != nil {
		return m, err
	}
	if !found {
		return m, fmt.Errorf("version %s of %s has no manifest", version, table)
	}
	return m, nil
}

func (s Store) putJSON(ctx context.Context, key string, v any, onlyNew bool) error {
	return s3obj.PutJSON(ctx, s.S3, s.Bucket, key, s.KMSKeyID, v, onlyNew)
}

// deletePrefix deletes every object under prefix.
func (s Store) deletePrefix(ctx context.Context, prefix string) error {
	_, err := s3obj.DeletePrefix(ctx, s.S3, s.Bucket, prefix)
	return err
}

// Loading is a subscriber's marker while it loads a version: the publisher does not
// prune a version a subscriber is loading.
type Loading struct {
	Subscriber string    `json:"subscriber"`
	Versions   []string  `json:"versions"`
	Until      time.Time `json:"until"`
}

func loadingKey(table, subscriber string) string {
	return TableDir(table) + "_loading/" + subscriber + ".json"
}

// loadings returns the versions unexpired markers hold.
func (s Store) loadings(ctx context.Context, table string, now time.Time) (map[string]bool, error) {
	held := map[string]bool{}
	prefix := TableDir(table) + "_loading/"
	p := s3.NewListObjectsV2Paginator(s.S3, &s3.ListObjectsV2Input{Bucket: aws.String(s.Bucket), Prefix: aws.String(prefix)})
	for p.HasMorePages() {
		page, err := p.NextPage(ctx)
		if err != nil {
			return nil, fmt.Errorf("list s3://%s/%s: %w", s.Bucket, prefix, err)
		}
		for _, o := range page.Contents {
			var l Loading
			found, err := s3obj.GetJSON(ctx, s.S3, s.Bucket, aws.ToString(o.Key), &l)
			if err != nil {
				return nil, err
			}
			if found && l.Until.After(now) {
				for _, v := range l.Versions {
					held[v] = true
				}
			}
		}
	}
	return held, nil
}
