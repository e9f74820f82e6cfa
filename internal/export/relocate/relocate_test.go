package relocate_test

import (
	"context"
	"errors"
	"maps"
	"reflect"
	"slices"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"

	"github.com/snaplake/snaplake/internal/deploy"
	"github.com/snaplake/snaplake/internal/export/relocate"
	"github.com/snaplake/snaplake/internal/local/s3server"
)

func TestRunMovesExportAndRerunIsNoop(t *testing.T) {
	ctx := context.Background()
	s := startFake(t)
	c := s.Client()
	e := makeExport("db-2026-03-01-04-05", standardTables)
	seed(t, s, e)
	want := e.expectedDest("2026-03-01")
	var wantBytes int64
	for _, b := range want {
		wantBytes += int64(len(b))
	}

	sum, err := relocate.Run(ctx, c, opts(e.id, "2026-03-01"), nil)
	if err != nil {
		t.Fatalf("Run: %v", err)
	}
	if len(e.tableFiles) != 2570 {
		t.Fatalf("fixture has %d table files, want 2570", len(e.tableFiles))
	}
	// Skipped: 5 _SUCCESS markers, export_info, 2 tables-info files, the root _SUCCESS and 2 strays.
	wantSum := relocate.Summary{Moved: 2570, Skipped: 11, Bytes: wantBytes, Databases: []string{"crm", "shop"}, Tables: 5,
		Crawl: standardCrawl, Problems: []relocate.TableProblem{}}
	if !summaryEqual(sum, wantSum) {
		t.Fatalf("summary = %+v, want %+v", sum, wantSum)
	}
	assertRelocated(t, c, e, "data/", want)

	again, err := relocate.Run(ctx, c, opts(e.id, "2026-03-01"), nil)
	if err != nil {
		t.Fatalf("second Run: %v", err)
	}
	if want := (relocate.Summary{Skipped: 11, Databases: []string{"crm", "shop"}, Tables: 5, Crawl: standardCrawl,
		Problems: []relocate.TableProblem{}}); !summaryEqual(again, want) {
		t.Fatalf("second summary = %+v, want %+v", again, want)
	}
	assertRelocated(t, c, e, "data/", want)
}

// standardCrawl is what the crawlers must crawl after relocating standardTables.
var standardCrawl = []relocate.CrawlTarget{
	{Database: "crm", Folder: "crm", Tables: []string{"contacts", "notes"}},
	{Database: "shop", Folder: "shop", Tables: []string{"customer", "customer_address", "orders"}},
}

// summaryEqual compares everything but the duration; nil and empty slices differ, so
// it also catches a null where the state machine expects an array.
func summaryEqual(a, b relocate.Summary) bool {
	a.Seconds, b.Seconds = 0, 0
	return reflect.DeepEqual(a, b)
}

// interrupting is the real client with a trip wire: it cancels the run's context at
// a chosen point, as a killed Lambda would stop.
type interrupting struct {
	relocate.API
	cancel context.CancelFunc
	trip

	copies, puts, deletes atomic.Int64
}

// trip says when to cancel; zero fields never fire.
type trip struct {
	afterCopies  int64
	afterPuts    int64
	beforeDelete bool
	afterDeletes int64
}

func (a *interrupting) CopyObject(ctx context.Context, in *s3.CopyObjectInput, f ...func(*s3.Options)) (*s3.CopyObjectOutput, error) {
	out, err := a.API.CopyObject(ctx, in, f...)
	if a.copies.Add(1) == a.afterCopies {
		a.cancel()
	}
	return out, err
}

func (a *interrupting) PutObject(ctx context.Context, in *s3.PutObjectInput, f ...func(*s3.Options)) (*s3.PutObjectOutput, error) {
	out, err := a.API.PutObject(ctx, in, f...)
	if a.puts.Add(1) == a.afterPuts {
		a.cancel()
	}
	return out, err
}

func (a *interrupting) DeleteObjects(ctx context.Context, in *s3.DeleteObjectsInput, f ...func(*s3.Options)) (*s3.DeleteObjectsOutput, error) {
	if a.beforeDelete {
		a.cancel()
	}
	out, err := a.API.DeleteObjects(ctx, in, f...)
	if a.deletes.Add(1) == a.afterDeletes {
		a.cancel()
	}
	return out, err
}

func TestRunConvergesAfterInterruption(t *testing.T) {
	tests := []struct {
		name string
		trip trip
		// concurrency 1 makes "mid deletes" deterministic: one batch done, two to go.
		concurrency int
		// earlier export in the same partitions, so stale deletion is interrupted too
		earlier bool
	}{
		{name: "after manifest written", trip: trip{afterPuts: 1}},
		{name: "after first copy", trip: trip{afterCopies: 1}},
		{name: "after 1000 copies", trip: trip{afterCopies: 1000}},
		{name: "after copies before deletes", trip: trip{beforeDelete: true}},
		{name: "mid source deletes", trip: trip{afterDeletes: 1}, concurrency: 1},
		{name: "mid replacement of earlier export", trip: trip{afterDeletes: 1}, concurrency: 1, earlier: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := startFake(t)
			c := s.Client()
			const date = "2026-03-02"
			if tt.earlier {
				old := makeExport("db-old", standardTables)
				seed(t, s, old)
				if _, err := relocate.Run(context.Background(), c, opts(old.id, date), nil); err != nil {
					t.Fatalf("relocate earlier export: %v", err)
				}
			}
			e := makeExport("db-2026-03-02-04-05", standardTables)
			seed(t, s, e)
			o := opts(e.id, date)
			o.Concurrency = tt.concurrency

			ctx, cancel := context.WithCancel(context.Background())
			defer cancel()
			api := &interrupting{API: c, cancel: cancel, trip: tt.trip}
			first, err := relocate.Run(ctx, api, o, nil)
			if !errors.Is(err, context.Canceled) {
				t.Fatalf("interrupted Run: err = %v, want context.Canceled", err)
			}
			if tt.name == "mid source deletes" {
				left := 0
				for k := range sizes(t, c, "exports/"+e.id+"/") {
					if strings.HasSuffix(k, ".gz.parquet") && !strings.Contains(k, "stray") {
						left++
					}
				}
				if left != 2570-1000 || first.Moved != 1000 {
					t.Fatalf("after one delete batch: %d sources left, moved %d; want 1570 and 1000", left, first.Moved)
				}
			}

			second, err := relocate.Run(context.Background(), c, o, nil)
			if err != nil {
				t.Fatalf("rerun: %v", err)
			}
			if got := first.Moved + second.Moved; got != 2570 {
				t.Errorf("moved %d + %d = %d over both runs, want each file moved once (2570)", first.Moved, second.Moved, got)
			}
			if !slices.Equal(second.Databases, []string{"crm", "shop"}) || second.Tables != 5 {
				t.Errorf("rerun databases %v tables %d, want [crm shop] and 5", second.Databases, second.Tables)
			}
			if !reflect.DeepEqual(second.Crawl, standardCrawl) {
				t.Errorf("rerun crawl targets %+v, want %+v", second.Crawl, standardCrawl)
			}
			if tt.earlier && first.Replaced+second.Replaced != 2570 {
				t.Errorf("replaced %d + %d, want 2570 (the earlier export's files)", first.Replaced, second.Replaced)
			}
			assertRelocated(t, c, e, "data/", e.expectedDest(date))
		})
	}
}

func TestRunReplacesEarlierExportOfSameDate(t *testing.T) {
	ctx := context.Background()
	s := startFake(t)
	c := s.Client()
	const date = "2026-03-03"
	legacy := tableSpec{db: "crm", table: "legacy", files: 5, batches: 1}
	first := makeExport("db-first", append([]tableSpec{legacy}, standardTables[2:]...))
	seed(t, s, first)
	if _, err := relocate.Run(ctx, c, opts(first.id, date), nil); err != nil {
		t.Fatal(err)
	}
	second := makeExport("db-second", standardTables[2:])
	seed(t, s, second)
	sum, err := relocate.Run(ctx, c, opts(second.id, date), nil)
	if err != nil {
		t.Fatal(err)
	}
	// orders, contacts and notes of the first export are replaced; legacy is not in
	// the second export, so its partition is left alone.
	if sum.Replaced != 400+150+20 || sum.Moved != 570 {
		t.Fatalf("summary %+v, want replaced 570 moved 570", sum)
	}
	want := second.expectedDest(date)
	for k, v := range first.expectedDest(date) {
		if strings.Contains(k, "/legacy/") {
			want[k] = v
		}
	}
	assertRelocated(t, c, second, "data/", want)
}

func TestRunPrunesOldPartitions(t *testing.T) {
	ctx := context.Background()
	s := startFake(t)
	c := s.Client()
	tables := []tableSpec{
		{db: "shop", table: "customer", files: 3, batches: 1},
		{db: "shop", table: "customer_address", files: 2},
	}
	partitions := func() map[string][]string {
		m := map[string][]string{}
		for k := range sizes(t, c, "data/") {
			parts := strings.Split(k, "/")
			if p := parts[3]; strings.HasPrefix(p, "snapshot_date=") && !slices.Contains(m[parts[2]], p) {
				m[parts[2]] = append(m[parts[2]], p)
			}
		}
		for _, v := range m {
			slices.Sort(v)
		}
		return m
	}
	// A folder that is not a partition must survive pruning.
	stray := map[string][]byte{}
	if _, err := c.PutObject(ctx, &s3.PutObjectInput{Bucket: strp(bucket), Key: strp("data/shop/customer/notes/readme.txt"), Body: strings.NewReader("x")}); err != nil {
		t.Fatal(err)
	}
	_ = stray
	steps := []struct {
		date       string
		wantPruned int
		want       []string
	}{
		{"2026-04-01", 0, []string{"2026-04-01"}},
		{"2026-04-02", 0, []string{"2026-04-01", "2026-04-02"}},
		{"2026-04-03", 2, []string{"2026-04-02", "2026-04-03"}},
		// A backfill of an old date keeps the partition it just wrote.
		{"2026-03-15", 0, []string{"2026-03-15", "2026-04-02", "2026-04-03"}},
		{"2026-04-04", 4, []string{"2026-04-03", "2026-04-04"}},
	}
	for _, st := range steps {
		e := makeExport("db-"+st.date, tables)
		seed(t, s, e)
		o := opts(e.id, st.date)
		o.Retention = 2
		sum, err := relocate.Run(ctx, c, o, nil)
		if err != nil {
			t.Fatalf("relocate %s: %v", st.date, err)
		}
		if sum.PrunedPartitions != st.wantPruned {
			t.Errorf("relocate %s pruned %d partitions, want %d", st.date, sum.PrunedPartitions, st.wantPruned)
		}
		got := partitions()
		for _, table := range []string{"customer", "customer_address"} {
			var want []string
			for _, d := range st.want {
				want = append(want, "snapshot_date="+d)
			}
			if !slices.Equal(got[table], want) {
				t.Errorf("after %s, %s partitions = %v, want %v", st.date, table, got[table], want)
			}
		}
	}
	if _, ok := sizes(t, c, "data/shop/customer/notes/")["data/shop/customer/notes/readme.txt"]; !ok {
		t.Error("pruning deleted a folder that is not a snapshot_date partition")
	}
}

func strp(s string) *string { return &s }

// counting is the real client counting every call, to prove bad options make none.
type counting struct {
	relocate.API
	calls atomic.Int64
}

func (c *counting) ListObjectsV2(ctx context.Context, in *s3.ListObjectsV2Input, f ...func(*s3.Options)) (*s3.ListObjectsV2Output, error) {
	c.calls.Add(1)
	return c.API.ListObjectsV2(ctx, in, f...)
}

func TestRunRejectsBadOptionsBeforeAnyRequest(t *testing.T) {
	s := startFake(t)
	base := opts("db-x", "2026-03-04")
	tests := []struct {
		field string
		edit  func(*relocate.Options)
	}{
		{"Bucket", func(o *relocate.Options) { o.Bucket = "" }},
		{"ExportID", func(o *relocate.Options) { o.ExportID = "" }},
		{"ExportID", func(o *relocate.Options) { o.ExportID = "a/b" }},
		{"SnapshotDate", func(o *relocate.Options) { o.SnapshotDate = "2026-3-4" }},
		{"SnapshotDate", func(o *relocate.Options) { o.SnapshotDate = "2026-02-30" }},
		{"SnapshotDate", func(o *relocate.Options) { o.SnapshotDate = "" }},
		{"Concurrency", func(o *relocate.Options) { o.Concurrency = -1 }},
		{"MultipartThreshold", func(o *relocate.Options) { o.MultipartThreshold = 6 << 30 }},
		{"PartSize", func(o *relocate.Options) { o.PartSize = 1 << 20 }},
		{"Retention", func(o *relocate.Options) { o.Retention = -1 }},
		{"SourcePrefix", func(o *relocate.Options) { o.SourcePrefix = "exports" }},
		{"DestPrefix", func(o *relocate.Options) { o.DestPrefix = "exports/db-x/data/" }},
	}
	for _, tt := range tests {
		t.Run(tt.field, func(t *testing.T) {
			o := base
			tt.edit(&o)
			api := &counting{API: s.Client()}
			_, err := relocate.Run(context.Background(), api, o, nil)
			var ie *relocate.InvalidOptionError
			if !errors.As(err, &ie) || ie.Field != tt.field {
				t.Fatalf("err = %v, want InvalidOptionError on %s", err, tt.field)
			}
			if n := api.calls.Load(); n != 0 {
				t.Fatalf("made %d requests with invalid options", n)
			}
		})
	}
}

func TestRunReportsMissingExportAndBucket(t *testing.T) {
	s := startFake(t)
	c := s.Client()
	e := makeExport("db-present", standardTables[4:])
	seed(t, s, e)
	before := sizes(t, c, "")

	_, err := relocate.Run(context.Background(), c, opts("db-absent", "2026-03-05"), nil)
	var nf *relocate.ExportNotFoundError
	if !errors.As(err, &nf) || nf.Bucket != bucket || nf.Prefix != "exports/db-absent/" {
		t.Fatalf("unknown export: err = %v, want ExportNotFoundError{lake exports/db-absent/}", err)
	}
	// A prefix of an existing export id is not that export.
	if _, err := relocate.Run(context.Background(), c, opts("db-pres", "2026-03-05"), nil); !errors.As(err, &nf) {
		t.Fatalf("export id prefix: err = %v, want ExportNotFoundError", err)
	}
	o := opts(e.id, "2026-03-05")
	o.Bucket = "no-such-bucket"
	_, err = relocate.Run(context.Background(), c, o, nil)
	var bnf *relocate.BucketNotFoundError
	if !errors.As(err, &bnf) || bnf.Bucket != "no-such-bucket" {
		t.Fatalf("missing bucket: err = %v, want BucketNotFoundError", err)
	}
	if after := sizes(t, c, ""); !maps.Equal(before, after) {
		t.Fatalf("failed runs changed the bucket: %d objects before, %d after", len(before), len(after))
	}
}

func TestRunRefusesOtherDateForRelocatedExport(t *testing.T) {
	s := startFake(t)
	c := s.Client()
	e := makeExport("db-dated", standardTables[4:])
	seed(t, s, e)
	if _, err := relocate.Run(context.Background(), c, opts(e.id, "2026-03-06"), nil); err != nil {
		t.Fatal(err)
	}
	_, err := relocate.Run(context.Background(), c, opts(e.id, "2026-03-07"), nil)
	var ie *relocate.InvalidOptionError
	if !errors.As(err, &ie) || ie.Field != "SnapshotDate" {
		t.Fatalf("err = %v, want InvalidOptionError on SnapshotDate", err)
	}
	assertRelocated(t, c, e, "data/", e.expectedDest("2026-03-06"))
}

func TestHandlerRelocatesRequestedExport(t *testing.T) {
	s := startFake(t)
	e := makeExport("db-lambda", standardTables[3:])
	seed(t, s, e)
	h := relocate.Handler{API: s.Client(), Defaults: relocate.Options{Bucket: bucket, Retention: relocate.DefaultRetention}}
	sum, err := h.Handle(context.Background(), relocate.Request{ExportID: e.id, SnapshotDate: "2026-03-08"})
	if err != nil {
		t.Fatal(err)
	}
	if sum.Moved != 170 || !slices.Equal(sum.Databases, []string{"crm"}) {
		t.Fatalf("summary %+v, want 170 moved from [crm]", sum)
	}
	assertRelocated(t, s.Client(), e, "data/", e.expectedDest("2026-03-08"))
}

func TestOptionsFromEnv(t *testing.T) {
	tests := []struct {
		name    string
		env     map[string]string
		want    relocate.Options
		wantErr string // variable of the deploy.EnvError
	}{
		{"defaults", map[string]string{"BUCKET": "b"}, relocate.Options{Bucket: "b", Retention: 7}, ""},
		{"all", map[string]string{"BUCKET": "b", "SOURCE_PREFIX": "in/", "DEST_PREFIX": "out/", "KMS_KEY_ID": "k",
			"RETENTION": "0", "CONCURRENCY": "8", "MULTIPART_THRESHOLD": "1048576", "PART_SIZE": "5242880"},
			relocate.Options{Bucket: "b", SourcePrefix: "in/", DestPrefix: "out/", KMSKeyID: "k", Concurrency: 8,
				MultipartThreshold: 1 << 20, PartSize: 5 << 20}, ""},
		{"no bucket", map[string]string{}, relocate.Options{}, "BUCKET"},
		{"bad retention", map[string]string{"BUCKET": "b", "RETENTION": "seven"}, relocate.Options{}, "RETENTION"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := relocate.OptionsFromEnv(func(k string) string { return tt.env[k] })
			if tt.wantErr != "" {
				var ee *deploy.EnvError
				if !errors.As(err, &ee) || ee.Var != tt.wantErr {
					t.Fatalf("err = %v, want deploy.EnvError on %s", err, tt.wantErr)
				}
				return
			}
			if err != nil || !reflect.DeepEqual(got, tt.want) {
				t.Fatalf("OptionsFromEnv = %+v, %v; want %+v", got, err, tt.want)
			}
		})
	}
}

func TestLambdaReturnsGlueDatabaseNames(t *testing.T) {
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
	for _, k := range []string{"exports/e1/Shop/Shop.Orders/1/part-00000-a.gz.parquet", "exports/e1/shop/shop.items/1/part-00000-b.gz.parquet"} {
		if _, err := client.PutObject(ctx, &s3.PutObjectInput{Bucket: aws.String("lake"), Key: aws.String(k), Body: strings.NewReader("x")}); err != nil {
			t.Fatal(err)
		}
	}
	h := relocate.Handler{API: client, Defaults: relocate.Options{Bucket: "lake", Retention: 7}}
	sum, err := h.Handle(ctx, relocate.Request{ExportID: "e1", SnapshotDate: "2026-11-20"})
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(sum.Databases, []string{"shop"}) {
		t.Errorf("databases = %v, want [shop]: crawler names are snaplake-<lower-case database>", sum.Databases)
	}
}

// TestConcurrentRunsOfOneExportConverge: a re-delivered event can start a second
// relocation of the same export while the first runs; both must succeed and leave
// exactly one copy of every file.
func TestConcurrentRunsOfOneExportConverge(t *testing.T) {
	ctx := context.Background()
	s := startFake(t)
	c := s.Client()
	e := makeExport("db-2026-03-01-04-05", standardTables)
	seed(t, s, e)
	want := e.expectedDest("2026-03-01")
	errs := make(chan error, 2)
	for range 2 {
		go func() {
			_, err := relocate.Run(ctx, c, opts(e.id, "2026-03-01"), nil)
			errs <- err
		}()
	}
	for range 2 {
		if err := <-errs; err != nil {
			t.Errorf("concurrent run: %v", err)
		}
	}
	assertRelocated(t, c, e, "data/", want)
}
