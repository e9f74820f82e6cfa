package relocate

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"

	"github.com/snaplake/snaplake/internal/aws/s3get"
)

// manifestVersion 2 is the flat layout: a file's destination is its partition plus
// partitionFileName of its path. Version 1 manifests were written by relocations that
// kept RDS's batch folders below the partition, so their moved files are elsewhere.
const manifestVersion = 2

// manifest is the export's file set as first seen, kept at the export root.
type manifest struct {
	Version      int             `json:"version"`
	ExportID     string          `json:"exportId"`
	SnapshotDate string          `json:"snapshotDate"`
	DestPrefix   string          `json:"destPrefix"`
	Files        []manifestEntry `json:"files"`
}

type manifestEntry struct {
	Key  string `json:"key"` // relative to the export root
	Size int64  `json:"size"`
}

// syncManifest merges the stored manifest (files already moved by an earlier run)
// into the file set. It returns the write of the manifest (a no-op when the stored
// one is complete), which must finish before anything is deleted, so a manifest
// always covers every file a run deletes.
func (r *run) syncManifest(ctx context.Context) (func(context.Context) error, error) {
	key := r.exportPrefix + manifestName
	changed := !r.manifestFound
	if r.manifestFound {
		m, err := r.readManifest(ctx, key)
		if err != nil {
			return nil, err
		}
		if m.SnapshotDate != r.o.SnapshotDate || m.DestPrefix != r.o.DestPrefix {
			return nil, &InvalidOptionError{Field: "SnapshotDate", Value: r.o.SnapshotDate,
				Reason: fmt.Sprintf("export %s was already relocated to %ssnapshot_date=%s (manifest s3://%s/%s); run again with those options",
					r.o.ExportID, m.DestPrefix, m.SnapshotDate, r.o.Bucket, key)}
		}
		inSource, seen := len(r.files), 0
		for _, e := range m.Files {
			if i, ok := r.byRel[e.Key]; ok {
				seen++
				if r.files[i].size != e.Size {
					changed = true // the export rewrote a file: record its new size
				}
				continue
			}
			db, name, _, ok := tableFile(e.Key)
			if !ok {
				return nil, fmt.Errorf("read manifest s3://%s/%s: %q is not a table file", r.o.Bucket, key, e.Key)
			}
			r.addFile(e.Key, db, name, e.Size, false)
		}
		if seen < inSource {
			changed = true // files in the export that the manifest lacks
		}
	}
	if !changed {
		return func(context.Context) error { return nil }, nil
	}
	return func(ctx context.Context) error { return r.writeManifest(ctx, key) }, nil
}

// errNoManifest says the export has no manifest (yet).
var errNoManifest = errors.New("no manifest")

// readManifest reads the export's manifest; errNoManifest when there is none. The
// function may list only exports/ and data/, so S3 answers a GET of a missing
// manifest with 403: s3get.Optional tells that from a denied read.
func (r *run) readManifest(ctx context.Context, key string) (*manifest, error) {
	out, err := s3get.Optional(ctx, r.api, r.o.Bucket, key)
	if err != nil {
		return nil, fmt.Errorf("read manifest s3://%s/%s: %w", r.o.Bucket, key, r.s3err(err))
	}
	if out == nil {
		return nil, errNoManifest
	}
	defer out.Body.Close()
	var m manifest
	if err := json.NewDecoder(out.Body).Decode(&m); err != nil {
		return nil, fmt.Errorf("decode manifest s3://%s/%s: %w", r.o.Bucket, key, err)
	}
	switch m.Version {
	case manifestVersion:
	case 1:
		return nil, fmt.Errorf("read manifest s3://%s/%s: version 1 was written by a relocation that kept RDS's batch folders "+
			"below snapshot_date=%s, while this release writes files directly in the partition; finish export %s with the release that started it",
			r.o.Bucket, key, m.SnapshotDate, r.o.ExportID)
	default:
		return nil, fmt.Errorf("read manifest s3://%s/%s: unknown version %d (this release writes %d)", r.o.Bucket, key, m.Version, manifestVersion)
	}
	return &m, nil
}

// writeManifest stores the manifest of every file this run knows. A manifest only
// ever grows: what is stored already (another run of the same export, started by a
// re-delivered event, may have written it and moved files since) is merged first,
// so no moved file ever drops out of it and is later taken for an earlier export's.
func (r *run) writeManifest(ctx context.Context, key string) error {
	stored, err := r.readManifest(ctx, key)
	switch {
	case err == nil:
		if stored.SnapshotDate != r.o.SnapshotDate || stored.DestPrefix != r.o.DestPrefix {
			return &InvalidOptionError{Field: "SnapshotDate", Value: r.o.SnapshotDate,
				Reason: fmt.Sprintf("another run relocates export %s to %ssnapshot_date=%s", r.o.ExportID, stored.DestPrefix, stored.SnapshotDate)}
		}
		for _, e := range stored.Files {
			if _, ok := r.byRel[e.Key]; ok {
				continue
			}
			db, name, _, ok := tableFile(e.Key)
			if !ok {
				return fmt.Errorf("read manifest s3://%s/%s: %q is not a table file", r.o.Bucket, key, e.Key)
			}
			r.addFile(e.Key, db, name, e.Size, false)
		}
		r.describe()
	case !errors.Is(err, errNoManifest):
		return err
	}
	m := manifest{Version: manifestVersion, ExportID: r.o.ExportID, SnapshotDate: r.o.SnapshotDate, DestPrefix: r.o.DestPrefix,
		Files: make([]manifestEntry, len(r.files))}
	for i := range r.files {
		m.Files[i] = manifestEntry{Key: r.files[i].rel, Size: r.files[i].size}
	}
	body, err := json.Marshal(&m)
	if err != nil {
		return fmt.Errorf("encode manifest of export %s: %w", r.o.ExportID, err)
	}
	in := &s3.PutObjectInput{
		Bucket:        aws.String(r.o.Bucket),
		Key:           aws.String(key),
		Body:          bytes.NewReader(body),
		ContentLength: aws.Int64(int64(len(body))),
		ContentType:   aws.String("application/json"),
	}
	in.ServerSideEncryption, in.SSEKMSKeyId, in.BucketKeyEnabled = r.sse()
	if _, err := r.api.PutObject(ctx, in); err != nil {
		return fmt.Errorf("write manifest s3://%s/%s: %w", r.o.Bucket, key, r.s3err(err))
	}
	r.log.Info("relocate wrote manifest", slog.String("key", key), slog.Int("files", len(r.files)), slog.Int("bytes", len(body)))
	return nil
}
