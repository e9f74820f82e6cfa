package federate

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"

	"github.com/snaplake/snaplake/internal/aws/lease"
	"github.com/snaplake/snaplake/internal/deploy"
	"github.com/snaplake/snaplake/internal/local/s3server"
)

// TestCleanupDeletesOnlyAbandonedFolders: of the version folders without a manifest,
// the cleanup deletes those started longer ago than the grace, through a listing of
// more than one page, and keeps a young one, one with a manifest, one whose table a
// live publish lease holds, one a subscriber's loading marker names, and folders that
// are not versions; an expired lease does not protect a folder.
func TestCleanupDeletesOnlyAbandonedFolders(t *testing.T) {
	ctx := context.Background()
	srv, err := s3server.StartFake()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(srv.Stop)
	if err := srv.CreateBucket(ctx, "lake"); err != nil {
		t.Fatal(err)
	}
	client := srv.Client()
	now := time.Date(2026, 12, 3, 10, 0, 0, 0, time.UTC)
	store := Store{S3: client, Bucket: "lake"}
	put := func(key, body string) {
		t.Helper()
		if _, err := client.PutObject(ctx, &s3.PutObjectInput{Bucket: aws.String("lake"), Key: aws.String(key), Body: strings.NewReader(body)}); err != nil {
			t.Fatal(err)
		}
	}
	folder := func(table string, age time.Duration, files int, manifest bool) string {
		t.Helper()
		name := Version{Published: now.Add(-age), Kind: KindFull, Rows: int64(files)}.Name()
		for i := range files {
			put(fmt.Sprintf("%s%04d_part_00.parquet", VersionDir(table, name), i), "rows")
		}
		if manifest {
			put(ManifestKey(table, name), `{"table":"`+table+`","version":"`+name+`","kind":"full"}`)
		}
		return name
	}
	grace := 24 * time.Hour
	// 1,200 files: the listing takes two pages, and so does the delete.
	abandoned := folder("sales.fact", 30*time.Hour, 1200, false)
	gone := folder("old.table", 72*time.Hour, 2, false) // a table no longer in any config
	young := folder("sales.fact", 2*time.Hour, 3, false)
	complete := folder("sales.fact", 40*time.Hour, 3, true)
	leased := folder("sales.dim", 30*time.Hour, 3, false)
	loading := folder("sales.orders", 30*time.Hour, 3, false)
	expiredLease := folder("sales.items", 30*time.Hour, 3, false)
	put(TableDir("sales.fact")+"by-hand/notes.txt", "kept: not a version")

	leases := lease.Store{S3: client, Bucket: "lake", Now: func() time.Time { return now }}
	if _, err := leases.Acquire(ctx, deploy.FederatePublishLeaseKey("sales.dim"), "the publishing of sales.dim", "other-run", time.Hour); err != nil {
		t.Fatal(err)
	}
	oldLeases := lease.Store{S3: client, Bucket: "lake", Now: func() time.Time { return now.Add(-5 * time.Hour) }}
	if _, err := oldLeases.Acquire(ctx, deploy.FederatePublishLeaseKey("sales.items"), "the publishing of sales.items", "dead-run", time.Hour); err != nil {
		t.Fatal(err)
	}
	if err := store.putJSON(ctx, loadingKey("sales.orders", "reporting"), Loading{Subscriber: "reporting", Versions: []string{loading}, Until: now.Add(time.Hour)}, false); err != nil {
		t.Fatal(err)
	}

	listed := &listingS3{S3API: client}
	p := &Publisher{Store: Store{S3: listed, Bucket: "lake"}, Now: func() time.Time { return now }, Log: slog.New(slog.NewTextHandler(io.Discard, nil))}
	res, err := p.Cleanup(ctx, grace)
	if err != nil {
		t.Fatal(err)
	}
	exists := func(table, version string) bool {
		out, err := client.ListObjectsV2(ctx, &s3.ListObjectsV2Input{Bucket: aws.String("lake"), Prefix: aws.String(VersionDir(table, version))})
		if err != nil {
			t.Fatal(err)
		}
		return len(out.Contents) > 0
	}
	for _, c := range []struct {
		table, version, why string
		kept                bool
	}{
		{"sales.fact", abandoned, "no manifest, 30 h old", false},
		{"old.table", gone, "no manifest, 72 h old, its table in no config", false},
		{"sales.items", expiredLease, "no manifest, 30 h old, its table's lease expired", false},
		{"sales.fact", young, "no manifest but 2 h old", true},
		{"sales.fact", complete, "a manifest", true},
		{"sales.dim", leased, "a live publish lease on its table", true},
		{"sales.orders", loading, "a subscriber's loading marker", true},
	} {
		if got := exists(c.table, c.version); got != c.kept {
			t.Errorf("%s %s (%s): exists %v, want %v", c.table, c.version, c.why, got, c.kept)
		}
	}
	if !exists("sales.fact", "by-hand") {
		t.Error("a folder whose name is not a version's was deleted")
	}
	var deleted, kept []string
	for _, a := range res.Abandoned {
		if a.Deleted {
			deleted = append(deleted, a.Table+" "+fmt.Sprint(a.Objects))
		} else {
			kept = append(kept, a.Table+": "+a.Kept)
		}
	}
	slices.Sort(deleted)
	if want := []string{"old.table 2", "sales.fact 1200", "sales.items 3"}; !slices.Equal(deleted, want) {
		t.Errorf("deleted %v, want %v", deleted, want)
	}
	slices.Sort(kept)
	if want := []string{
		"sales.dim: run other-run holds the publishing of sales.dim until 2026-12-03T11:00:00Z",
		"sales.orders: a subscriber's loading marker names it",
	}; !slices.Equal(kept, want) {
		t.Errorf("kept %q, want %q", kept, want)
	}
	if res.Young != 1 || res.Deleted() != 3 {
		t.Errorf("young %d, deleted %d; want 1 and 3", res.Young, res.Deleted())
	}
	// The listing is O(version folders): apart from the delete of the abandoned
	// 1,200-file folder, no listing returns a file of a version.
	if n := listed.keysOutside(VersionDir("sales.fact", abandoned)); n > 20 {
		t.Errorf("the cleanup's listings returned %d keys outside the folder it deleted: it listed the files of every version", n)
	}
	// The leases themselves are not version folders.
	if l, found, err := leases.Read(ctx, deploy.FederatePublishLeaseKey("sales.dim")); err != nil || !found || l.Run != "other-run" {
		t.Errorf("the live lease after the cleanup: %+v %v %v", l, found, err)
	}
}

// listingS3 counts the keys each ListObjectsV2 returns, by prefix.
type listingS3 struct {
	S3API
	mu   sync.Mutex
	keys map[string]int
}

func (l *listingS3) ListObjectsV2(ctx context.Context, in *s3.ListObjectsV2Input, optFns ...func(*s3.Options)) (*s3.ListObjectsV2Output, error) {
	out, err := l.S3API.ListObjectsV2(ctx, in, optFns...)
	if err == nil {
		l.mu.Lock()
		if l.keys == nil {
			l.keys = map[string]int{}
		}
		l.keys[aws.ToString(in.Prefix)] += len(out.Contents)
		l.mu.Unlock()
	}
	return out, err
}

func (l *listingS3) keysOutside(prefix string) int {
	l.mu.Lock()
	defer l.mu.Unlock()
	n := 0
	for p, k := range l.keys {
		if p != prefix {
			n += k
		}
	}
	return n
}
