package glue

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"maps"
	"path/filepath"
	"slices"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/glue"
	gluetypes "github.com/aws/aws-sdk-go-v2/service/glue/types"
	"github.com/aws/aws-sdk-go-v2/service/s3"
)

// The lake as relocation writes it: files directly in their snapshot_date partition.
const (
	customerOld = "data/warehouse/customer/snapshot_date=2026-11-19/1_part-00000-aaa-c000.gz.parquet"
	customerNew = "data/warehouse/customer/snapshot_date=2026-11-20/1_part-00000-bbb-c000.gz.parquet"
	addressNew  = "data/warehouse/customer_address/snapshot_date=2026-11-20/1_part-00000-ccc-c000.gz.parquet"

	customerPath = "s3://" + lakeBucket + "/data/warehouse/customer/"
	addressPath  = "s3://" + lakeBucket + "/data/warehouse/customer_address/"
)

// seedLake writes two tables (customer and customer_address, a prefix trap) and the
// non-table files an export leaves around.
func seedLake(t *testing.T, client *s3.Client) {
	t.Helper()
	put(t, client, customerOld, parquetFile(t, customers(2)))
	put(t, client, customerNew, parquetFile(t, customers(3)))
	put(t, client, "data/warehouse/customer/snapshot_date=2026-11-20/_SUCCESS", nil)
	put(t, client, "data/warehouse/customer/snapshot_date=2026-11-20/.part-00000-bbb-c000.gz.parquet.crc", []byte("crc"))
	put(t, client, addressNew, parquetFile(t, []addressRow{{ID: 1, CustomerID: 1, City: "Lyon", Lat: 45.76}}))
	put(t, client, "data/warehouse/customer_address/snapshot_date=2026-11-20/_SUCCESS", nil)
	// Export metadata: never a table, wherever it lands.
	put(t, client, "data/warehouse/export_info_snap-1.json", []byte(`{"status":"COMPLETE"}`))
	put(t, client, "data/warehouse/export_tables_info_snap-1_from_1_to_2.json", []byte(`{"perTableStatus":[]}`))
	put(t, client, "data/warehouse/customer/export_tables_info.json", []byte(`{}`))
	put(t, client, "data/warehouse/metadata/snapshot_date=2026-11-20/export_info.json", []byte(`{}`))
	put(t, client, "exports/snap-1/export_info_snap-1.json", []byte(`{}`))
	// Another database's table: outside this crawler's prefix.
	put(t, client, "data/other/orders/snapshot_date=2026-11-20/1/part-00000.gz.parquet", parquetFile(t, customers(1)))
}

func newService(t testing.TB, client S3API, ev *published) *Service {
	t.Helper()
	cat, err := OpenCatalog(filepath.Join(t.TempDir(), "catalog.json"))
	if err != nil {
		t.Fatal(err)
	}
	return &Service{
		S3:      client,
		Catalog: cat,
		Crawlers: []Crawler{
			{Name: "snaplake-warehouse", Role: "arn:aws:iam::111122223333:role/snaplake-crawler", Database: "warehouse",
				Targets: []string{customerPath, addressPath}},
			{Name: "snaplake-missing", Database: "missing", Targets: []string{"s3://no-such-bucket/data/missing/t/"}},
		},
		Publish: ev.publish,
		Log:     slog.New(slog.NewTextHandler(io.Discard, nil)),
		Account: "111122223333",
		Region:  "eu-west-1",
	}
}

func crawl(t testing.TB, s *Service, name string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if _, err := s.StartCrawler(ctx, &glue.StartCrawlerInput{Name: aws.String(name)}); err != nil {
		t.Fatalf("start crawler %s: %v", name, err)
	}
	if err := s.Wait(ctx); err != nil {
		t.Fatal(err)
	}
}

var succeededKeys = []string{
	"accountId", "cloudWatchLogLink", "completionDate", "crawlerName", "message",
	"partitionsCreated", "partitionsDeleted", "partitionsUpdated", "runningTime (sec)",
	"state", "tablesCreated", "tablesDeleted", "tablesUpdated", "warningMessage",
}

// checkEnvelope asserts the EventBridge envelope of a Glue crawler event and returns its detail.
func checkEnvelope(t *testing.T, ev map[string]any) map[string]any {
	t.Helper()
	want := []string{"account", "detail", "detail-type", "id", "region", "resources", "source", "time", "version"}
	if got := slices.Sorted(maps.Keys(ev)); !slices.Equal(got, want) {
		t.Errorf("envelope keys = %v, want %v", got, want)
	}
	for k, v := range map[string]any{"version": "0", "source": "aws.glue", "detail-type": "Glue Crawler State Change",
		"account": "111122223333", "region": "eu-west-1"} {
		if ev[k] != v {
			t.Errorf("envelope %s = %v, want %v", k, ev[k], v)
		}
	}
	if r, ok := ev["resources"].([]any); !ok || len(r) != 0 {
		t.Errorf("resources = %#v, want []", ev["resources"])
	}
	if _, err := time.Parse(time.RFC3339, fmt.Sprint(ev["time"])); err != nil {
		t.Errorf("time %v is not RFC3339: %v", ev["time"], err)
	}
	d, ok := ev["detail"].(map[string]any)
	if !ok {
		t.Fatalf("detail = %#v", ev["detail"])
	}
	return d
}

func TestCrawlBuildsCatalogAndPublishesEvent(t *testing.T) {
	client := newS3(t)
	seedLake(t, client)
	ev := &published{}
	s := newService(t, client, ev)

	crawl(t, s, "snaplake-warehouse")

	tables, err := s.Catalog.Tables("warehouse")
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, tb := range tables {
		names = append(names, tb.Name)
	}
	if want := []string{"customer", "customer_address"}; !slices.Equal(names, want) {
		t.Fatalf("tables = %v, want %v", names, want)
	}
	if dbs, _ := s.Catalog.Databases(); !slices.Equal(dbs, []string{"warehouse"}) {
		t.Errorf("databases = %v, want [warehouse]", dbs)
	}

	tests := []struct {
		table      string
		location   string
		columns    []Column
		partitions []string
	}{
		{
			table:    "customer",
			location: "s3://snaplake-lake/data/warehouse/customer/",
			columns: []Column{
				{"id", "bigint"}, {"name", "string"}, {"email", "string"},
				{"balance", "decimal(12,2)"}, {"created_at", "timestamp"}, {"active", "boolean"},
			},
			partitions: []string{"2026-11-19", "2026-11-20"},
		},
		{
			table:      "customer_address",
			location:   "s3://snaplake-lake/data/warehouse/customer_address/",
			columns:    []Column{{"id", "bigint"}, {"customer_id", "int"}, {"city", "string"}, {"lat", "double"}},
			partitions: []string{"2026-11-20"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.table, func(t *testing.T) {
			tb, err := s.Catalog.Table("warehouse", tt.table)
			if err != nil {
				t.Fatal(err)
			}
			if tb.Location != tt.location {
				t.Errorf("location = %s, want %s", tb.Location, tt.location)
			}
			if !slices.Equal(tb.Columns, tt.columns) {
				t.Errorf("columns = %v, want %v", tb.Columns, tt.columns)
			}
			if want := []Column{{"snapshot_date", "string"}}; !slices.Equal(tb.PartitionKeys, want) {
				t.Errorf("partition keys = %v, want %v", tb.PartitionKeys, want)
			}
			if !slices.Equal(tb.Partitions, tt.partitions) {
				t.Errorf("partitions = %v, want %v", tb.Partitions, tt.partitions)
			}
			if tb.UpdatedAt.IsZero() {
				t.Error("UpdatedAt not set")
			}
		})
	}

	if n := len(ev.all()); n != 1 {
		t.Fatalf("published %d events, want 1", n)
	}
	d := checkEnvelope(t, ev.last(t))
	if got := slices.Sorted(maps.Keys(d)); !slices.Equal(got, succeededKeys) {
		t.Errorf("detail keys = %v, want %v", got, succeededKeys)
	}
	for k, v := range map[string]string{
		"crawlerName": "snaplake-warehouse", "state": "Succeeded", "message": "Crawler Succeeded",
		"accountId": "111122223333", "tablesCreated": "2", "tablesUpdated": "0", "tablesDeleted": "0",
		"partitionsCreated": "3", "partitionsUpdated": "0", "partitionsDeleted": "0", "warningMessage": "N/A",
		"runningTime (sec)": "0",
		"cloudWatchLogLink": "https://console.aws.amazon.com/cloudwatch/home?region=eu-west-1#logEventViewer:group=/aws-glue/crawlers;stream=snaplake-warehouse",
	} {
		if d[k] != v { // also fails when a count is a JSON number instead of a string
			t.Errorf("detail %s = %#v, want %q", k, d[k], v)
		}
	}
	if _, err := time.Parse(time.RFC3339, fmt.Sprint(d["completionDate"])); err != nil {
		t.Errorf("completionDate %v: %v", d["completionDate"], err)
	}
}

func TestRecrawlDropsVanishedPartitionsAndTables(t *testing.T) {
	client := newS3(t)
	seedLake(t, client)
	ev := &published{}
	s := newService(t, client, ev)
	crawl(t, s, "snaplake-warehouse")
	before, err := s.Catalog.Table("warehouse", "customer_address")
	if err != nil {
		t.Fatal(err)
	}

	steps := []struct {
		name      string
		change    func()
		counts    map[string]string
		customer  []string
		addressOK bool
	}{
		{
			name:   "nothing changed",
			change: func() {},
			counts: map[string]string{"tablesCreated": "0", "tablesUpdated": "0", "tablesDeleted": "0",
				"partitionsCreated": "0", "partitionsDeleted": "0"},
			customer: []string{"2026-11-19", "2026-11-20"}, addressOK: true,
		},
		{
			name: "partition removed, one added",
			change: func() {
				del(t, client, customerOld)
				put(t, client, "data/warehouse/customer/snapshot_date=2026-11-21/1_part-00000-ddd.gz.parquet", parquetFile(t, customers(4)))
			},
			counts: map[string]string{"tablesCreated": "0", "tablesUpdated": "1", "tablesDeleted": "0",
				"partitionsCreated": "1", "partitionsDeleted": "1"},
			customer: []string{"2026-11-20", "2026-11-21"}, addressOK: true,
		},
		{
			name: "table folder removed",
			change: func() {
				del(t, client, addressNew)
			},
			counts: map[string]string{"tablesCreated": "0", "tablesUpdated": "0", "tablesDeleted": "1",
				"partitionsCreated": "0", "partitionsDeleted": "1"},
			customer: []string{"2026-11-20", "2026-11-21"}, addressOK: false,
		},
	}
	for _, step := range steps {
		t.Run(step.name, func(t *testing.T) {
			step.change()
			crawl(t, s, "snaplake-warehouse")
			d := checkEnvelope(t, ev.last(t))
			for k, v := range step.counts {
				if d[k] != v {
					t.Errorf("detail %s = %#v, want %q", k, d[k], v)
				}
			}
			cust, err := s.Catalog.Table("warehouse", "customer")
			if err != nil {
				t.Fatal(err)
			}
			if !slices.Equal(cust.Partitions, step.customer) {
				t.Errorf("customer partitions = %v, want %v", cust.Partitions, step.customer)
			}
			addr, err := s.Catalog.Table("warehouse", "customer_address")
			var nf *TableNotFoundError
			switch {
			case step.addressOK && err != nil:
				t.Errorf("customer_address: %v", err)
			case step.addressOK && !addr.UpdatedAt.Equal(before.UpdatedAt):
				t.Errorf("unchanged table's UpdatedAt moved from %v to %v", before.UpdatedAt, addr.UpdatedAt)
			case !step.addressOK && !errors.As(err, &nf):
				t.Errorf("customer_address lookup error = %v, want *TableNotFoundError", err)
			}
		})
	}
}

// TestCrawlLeavesOtherTablesAlone: a crawl never touches a table another crawler or
// the API wrote, and a table of its own whose include path it no longer has is
// treated by DroppedTargetAssumption: deleted unless the delete behavior is LOG.
func TestCrawlLeavesOtherTablesAlone(t *testing.T) {
	for _, tc := range []struct {
		behavior    gluetypes.DeleteBehavior
		keepsOwnOld bool
	}{
		{gluetypes.DeleteBehaviorLog, true},
		{gluetypes.DeleteBehaviorDeleteFromDatabase, false},
	} {
		t.Run(string(tc.behavior), func(t *testing.T) {
			client := newS3(t)
			seedLake(t, client)
			s := newService(t, client, &published{})
			s.Crawlers[0].SchemaChangePolicy = &gluetypes.SchemaChangePolicy{DeleteBehavior: tc.behavior}
			crawl(t, s, "snaplake-warehouse")
			address, err := s.Catalog.Table("warehouse", "customer_address")
			if err != nil {
				t.Fatal(err)
			}
			// A table another crawler owns must survive this crawler's deletions.
			other := Table{Database: "warehouse", Name: "manual", Location: "s3://elsewhere/manual/"}
			if err := s.Catalog.Put(other); err != nil {
				t.Fatal(err)
			}
			// The next run crawls customer only: customer_address is not looked at,
			// even though its files are gone.
			if _, err := s.UpdateCrawler(context.Background(), &glue.UpdateCrawlerInput{Name: aws.String("snaplake-warehouse"),
				Targets: &gluetypes.CrawlerTargets{S3Targets: []gluetypes.S3Target{{Path: aws.String(customerPath)}}}}); err != nil {
				t.Fatal(err)
			}
			del(t, client, addressNew)
			put(t, client, "data/warehouse/customer/snapshot_date=2026-11-21/part-0.gz.parquet", parquetFile(t, customers(1)))
			crawl(t, s, "snaplake-warehouse")

			if _, err := s.Catalog.Table("warehouse", "manual"); err != nil {
				t.Errorf("table written through the API was touched: %v", err)
			}
			got, err := s.Catalog.Table("warehouse", "customer_address")
			switch {
			case tc.keepsOwnOld && (err != nil || !got.UpdatedAt.Equal(address.UpdatedAt) || !slices.Equal(got.Partitions, address.Partitions)):
				t.Errorf("LOG: customer_address, no longer a target, changed: %+v, %v", got, err)
			case !tc.keepsOwnOld && err == nil:
				t.Errorf("DELETE_FROM_DATABASE: customer_address, no longer a target, is kept (%+v): the stand-in must take the costlier reading, %s", got, DroppedTargetAssumption)
			}
			if c, _ := s.Catalog.Table("warehouse", "customer"); !slices.Equal(c.Partitions, []string{"2026-11-19", "2026-11-20", "2026-11-21"}) {
				t.Errorf("customer partitions %v after its recrawl", c.Partitions)
			}
			if _, err := s.Catalog.Table("warehouse", "orders"); err == nil {
				t.Error("table of data/other/ crawled into warehouse")
			}
		})
	}
}

// TestDeleteBehaviorLogKeepsGonePartitions: under LOG a partition whose folder is
// gone stays in the catalog ("do not delete it, only log"); under
// DELETE_FROM_DATABASE it goes.
func TestDeleteBehaviorLogKeepsGonePartitions(t *testing.T) {
	for _, tc := range []struct {
		behavior gluetypes.DeleteBehavior
		want     []string
	}{
		{gluetypes.DeleteBehaviorLog, []string{"2026-11-19", "2026-11-20", "2026-11-21"}},
		{gluetypes.DeleteBehaviorDeleteFromDatabase, []string{"2026-11-20", "2026-11-21"}},
	} {
		t.Run(string(tc.behavior), func(t *testing.T) {
			client := newS3(t)
			seedLake(t, client)
			s := newService(t, client, &published{})
			s.Crawlers[0].SchemaChangePolicy = &gluetypes.SchemaChangePolicy{DeleteBehavior: tc.behavior}
			crawl(t, s, "snaplake-warehouse")
			before, err := s.Catalog.Table("warehouse", "customer")
			if err != nil || !slices.Contains(before.Partitions, "2026-11-19") {
				t.Fatalf("customer before: %+v, %v", before, err)
			}
			del(t, client, customerOld)
			put(t, client, "data/warehouse/customer/snapshot_date=2026-11-21/part-0.gz.parquet", parquetFile(t, customers(1)))
			crawl(t, s, "snaplake-warehouse")
			if c, _ := s.Catalog.Table("warehouse", "customer"); !slices.Equal(c.Partitions, tc.want) {
				t.Errorf("customer partitions %v, want %v", c.Partitions, tc.want)
			}
		})
	}
}

func TestCrawlPaginatesListing(t *testing.T) {
	client := newS3(t)
	// 1100 keys that sort before the only data file: it is on the second listing page.
	for i := range 1100 {
		put(t, client, fmt.Sprintf("data/warehouse/zzz/snapshot_date=2026-11-20/%04d.json", i), nil)
	}
	put(t, client, "data/warehouse/zzz/snapshot_date=2026-11-20/part-0.gz.parquet", parquetFile(t, customers(1)))
	s := newService(t, client, &published{})
	s.Crawlers[0].Targets = []string{"s3://" + lakeBucket + "/data/warehouse/zzz/"}
	crawl(t, s, "snaplake-warehouse")
	tables, err := s.Catalog.Tables("warehouse")
	if err != nil {
		t.Fatal(err)
	}
	if len(tables) != 1 || tables[0].Name != "zzz" || !slices.Equal(tables[0].Partitions, []string{"2026-11-20"}) {
		t.Fatalf("tables = %+v, want only zzz with partition 2026-11-20", tables)
	}
}

// gatedS3 holds every listing until open is closed, so a crawl stays running.
type gatedS3 struct {
	S3API
	open chan struct{}
}

func (g *gatedS3) ListObjectsV2(ctx context.Context, in *s3.ListObjectsV2Input, optFns ...func(*s3.Options)) (*s3.ListObjectsV2Output, error) {
	<-g.open
	return g.S3API.ListObjectsV2(ctx, in, optFns...)
}

func TestStartCrawlerErrors(t *testing.T) {
	client := newS3(t)
	seedLake(t, client)
	gate := &gatedS3{S3API: client, open: make(chan struct{})}
	s := newService(t, gate, &published{})
	ctx := context.Background()

	if _, err := s.StartCrawler(ctx, &glue.StartCrawlerInput{Name: aws.String("snaplake-warehouse")}); err != nil {
		t.Fatal(err)
	}
	if !s.Running("snaplake-warehouse") {
		t.Error("Running = false during a crawl")
	}
	tests := []struct {
		name    string
		crawler string
		check   func(error) bool
		message string
	}{
		{"running", "snaplake-warehouse", func(err error) bool {
			var e *gluetypes.CrawlerRunningException
			return errors.As(err, &e)
		}, "Crawler with name snaplake-warehouse has already started"},
		{"unknown", "snaplake-nope", func(err error) bool {
			var e *gluetypes.EntityNotFoundException
			return errors.As(err, &e)
		}, "Crawler entry with name snaplake-nope does not exist"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := s.StartCrawler(ctx, &glue.StartCrawlerInput{Name: aws.String(tt.crawler)})
			if err == nil || !tt.check(err) {
				t.Fatalf("error = %T %v", err, err)
			}
			if !strings.Contains(err.Error(), tt.message) {
				t.Errorf("error %q does not say %q", err, tt.message)
			}
		})
	}
	close(gate.open)
	if err := s.Wait(ctx); err != nil {
		t.Fatal(err)
	}
	if s.Running("snaplake-warehouse") {
		t.Error("Running = true after Wait")
	}
	// Once finished, the crawler can start again.
	crawl(t, s, "snaplake-warehouse")
}

func TestCrawlFailures(t *testing.T) {
	tests := []struct {
		name     string
		crawler  string
		failNext func(string) string
		errorHas string
	}{
		{"FailNext hook", "snaplake-warehouse", func(string) string { return "Internal Service Exception" }, "Internal Service Exception"},
		{"S3 error", "snaplake-missing", nil, "NoSuchBucket"},
		{"unreadable Parquet", "snaplake-warehouse", nil, "read Parquet footer"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			client := newS3(t)
			seedLake(t, client)
			if tt.name == "unreadable Parquet" {
				put(t, client, "data/warehouse/customer/snapshot_date=2026-11-21/part-0.gz.parquet", []byte("not parquet at all"))
			}
			ev := &published{}
			s := newService(t, client, ev)
			s.FailNext = tt.failNext
			crawl(t, s, tt.crawler)

			d := checkEnvelope(t, ev.last(t))
			want := []string{"accountId", "cloudWatchLogLink", "crawlerName", "errorMessage", "message", "state"}
			if got := slices.Sorted(maps.Keys(d)); !slices.Equal(got, want) {
				t.Errorf("detail keys = %v, want %v", got, want)
			}
			if d["state"] != "Failed" || d["message"] != "Crawler Failed" || d["crawlerName"] != tt.crawler {
				t.Errorf("detail = %v", d)
			}
			if msg := fmt.Sprint(d["errorMessage"]); !strings.Contains(msg, tt.errorHas) {
				t.Errorf("errorMessage %q does not contain %q", msg, tt.errorHas)
			}
			if tables, _ := s.Catalog.Tables("warehouse"); len(tables) != 0 {
				t.Errorf("failed crawl recorded tables: %+v", tables)
			}
		})
	}
}

func TestPublishStarted(t *testing.T) {
	client := newS3(t)
	seedLake(t, client)
	ev := &published{}
	s := newService(t, client, ev)
	s.PublishStarted = true
	crawl(t, s, "snaplake-warehouse")
	all := ev.all()
	if len(all) != 2 {
		t.Fatalf("published %d events, want Started then Succeeded", len(all))
	}
	for i, state := range []string{"Started", "Succeeded"} {
		if !strings.Contains(string(all[i]), `"state":"`+state+`"`) {
			t.Errorf("event %d = %s, want state %s", i, all[i], state)
		}
	}
}

// countingS3 counts the bytes GetObject returns, to show that schemas are read from
// the footer alone.
type countingS3 struct {
	S3API
	calls, ranged atomic.Int64
	bytes         atomic.Int64
}

func (c *countingS3) GetObject(ctx context.Context, in *s3.GetObjectInput, optFns ...func(*s3.Options)) (*s3.GetObjectOutput, error) {
	c.calls.Add(1)
	if in.Range != nil {
		c.ranged.Add(1)
	}
	out, err := c.S3API.GetObject(ctx, in, optFns...)
	if err == nil {
		c.bytes.Add(aws.ToInt64(out.ContentLength))
	}
	return out, err
}

func TestSchemaReadUsesRangedReads(t *testing.T) {
	client := newS3(t)
	rows := make([]addressRow, 200_000)
	for i := range rows {
		rows[i] = addressRow{ID: int64(i), CustomerID: int32(i * 7), City: fmt.Sprintf("city-%d", i*7919), Lat: float64(i) / 3}
	}
	body := parquetFile(t, rows)
	put(t, client, addressNew, body)
	counter := &countingS3{S3API: client}
	s := newService(t, counter, &published{})
	crawl(t, s, "snaplake-warehouse")

	if _, err := s.Catalog.Table("warehouse", "customer_address"); err != nil {
		t.Fatal(err)
	}
	if counter.calls.Load() == 0 || counter.ranged.Load() != counter.calls.Load() {
		t.Errorf("GetObject calls = %d, ranged = %d: want only ranged reads", counter.calls.Load(), counter.ranged.Load())
	}
	got, size := counter.bytes.Load(), int64(len(body))
	t.Logf("schema of a %d-byte file read with %d ranged GetObject calls, %d bytes", size, counter.calls.Load(), got)
	if got*4 > size {
		t.Errorf("read %d bytes of a %d-byte file to get its schema", got, size)
	}
}

func TestS3ReaderAt(t *testing.T) {
	client := newS3(t)
	body := []byte("0123456789")
	put(t, client, "obj", body)
	r := &s3ReaderAt{ctx: context.Background(), client: client, bucket: lakeBucket, key: "obj", size: int64(len(body))}
	tests := []struct {
		off     int64
		n       int
		want    string
		wantErr error
	}{
		{0, 4, "0123", nil},
		{6, 4, "6789", nil},
		{8, 4, "89", io.EOF},
		{10, 1, "", io.EOF},
	}
	for _, tt := range tests {
		t.Run(fmt.Sprintf("%d+%d", tt.off, tt.n), func(t *testing.T) {
			p := make([]byte, tt.n)
			n, err := r.ReadAt(p, tt.off)
			if string(p[:n]) != tt.want || !errors.Is(err, tt.wantErr) {
				t.Errorf("ReadAt = %q, %v; want %q, %v", p[:n], err, tt.want, tt.wantErr)
			}
		})
	}
}

// BenchmarkCrawl measures one crawl of 20 tables with 2 partitions each.
func BenchmarkCrawl(b *testing.B) {
	client := newS3(b)
	var targets []string
	for i := range 20 {
		for _, date := range []string{"2026-11-19", "2026-11-20"} {
			put(b, client, fmt.Sprintf("data/warehouse/t%02d/snapshot_date=%s/1_part-0.gz.parquet", i, date), parquetFile(b, customers(100)))
		}
		targets = append(targets, fmt.Sprintf("s3://%s/data/warehouse/t%02d/", lakeBucket, i))
	}
	s := newService(b, client, &published{})
	s.Crawlers[0].Targets = targets
	for b.Loop() {
		crawl(b, s, "snaplake-warehouse")
	}
	b.ReportMetric(20*float64(b.N)/b.Elapsed().Seconds(), "tables/s")
}

// TestCrawlEndsAfterStartCrawlerReturns: as in AWS, StartCrawler only starts the crawl.
// Until it ends the crawler is RUNNING, the catalog has none of its tables and no
// event has been sent; a caller that reads the catalog right after StartCrawler
// finds nothing.
func TestCrawlEndsAfterStartCrawlerReturns(t *testing.T) {
	client := newS3(t)
	seedLake(t, client)
	ev := &published{}
	s := newService(t, client, ev)
	s.Duration = 200 * time.Millisecond
	ctx := context.Background()
	if _, err := s.StartCrawler(ctx, &glue.StartCrawlerInput{Name: aws.String("snaplake-warehouse")}); err != nil {
		t.Fatal(err)
	}
	got, err := s.GetCrawler(ctx, &glue.GetCrawlerInput{Name: aws.String("snaplake-warehouse")})
	if err != nil || got.Crawler.State != gluetypes.CrawlerStateRunning || got.Crawler.LastCrawl != nil {
		t.Fatalf("right after StartCrawler: %+v %v", got.Crawler, err)
	}
	if _, err := s.Catalog.Table("warehouse", "customer"); err == nil {
		t.Fatal("the table is in the catalog right after StartCrawler returned")
	}
	if n := len(ev.all()); n != 0 {
		t.Fatalf("%d events sent right after StartCrawler returned", n)
	}
	if err := s.Wait(ctx); err != nil {
		t.Fatal(err)
	}
	got, err = s.GetCrawler(ctx, &glue.GetCrawlerInput{Name: aws.String("snaplake-warehouse")})
	if err != nil || got.Crawler.State != gluetypes.CrawlerStateReady || got.Crawler.LastCrawl.Status != gluetypes.LastCrawlStatusSucceeded {
		t.Fatalf("after the crawl: %+v %v", got.Crawler, err)
	}
	if _, err := s.Catalog.Table("warehouse", "customer"); err != nil {
		t.Fatalf("after the crawl: %v", err)
	}
	if d := checkEnvelope(t, ev.last(t)); d["state"] != "Succeeded" {
		t.Errorf("last event %v", d)
	}
}
