package glue

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"reflect"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/glue"
	gluetypes "github.com/aws/aws-sdk-go-v2/service/glue/types"
	"github.com/aws/aws-sdk-go-v2/service/s3"
)

// crawlerAPI is the part of the Glue API the pipeline calls on crawlers; the stand-in
// must have the SDK's own signatures, as the real client does.
type crawlerAPI interface {
	StartCrawler(ctx context.Context, in *glue.StartCrawlerInput, optFns ...func(*glue.Options)) (*glue.StartCrawlerOutput, error)
	GetCrawler(ctx context.Context, in *glue.GetCrawlerInput, optFns ...func(*glue.Options)) (*glue.GetCrawlerOutput, error)
	UpdateCrawler(ctx context.Context, in *glue.UpdateCrawlerInput, optFns ...func(*glue.Options)) (*glue.UpdateCrawlerOutput, error)
}

var (
	_ crawlerAPI = (*glue.Client)(nil)
	_ crawlerAPI = (*Service)(nil)
	_ S3API      = (*s3.Client)(nil)
)

// TestPartitionKeysFromFolderLevels: as a Glue crawler does, every folder level between
// an include path and its data files is a partition key.
func TestPartitionKeysFromFolderLevels(t *testing.T) {
	tests := []struct {
		name       string
		files      []string // relative to the include path; each gets a Parquet file
		other      []string // relative to the include path; non-data objects
		keys       []string
		partitions []string
		values     [][]string
		warning    string // part of the Succeeded event's warningMessage
	}{
		{
			name:       "flat layout relocation writes",
			files:      []string{"snapshot_date=2026-11-19/1_part-00000-a-c000.gz.parquet", "snapshot_date=2026-11-20/part-00000-b.gz.parquet", "snapshot_date=2026-11-20/1_part-00001-b-c000.gz.parquet"},
			other:      []string{"snapshot_date=2026-11-20/_SUCCESS", "snapshot_date=2026-11-20/.x.gz.parquet", "_temporary/0/part-0.gz.parquet", "snapshot_date=2026-11-20/notes.txt"},
			keys:       []string{"snapshot_date"},
			partitions: []string{"2026-11-19", "2026-11-20"},
		},
		{
			name:       "nested layout keeps RDS's batch folder",
			files:      []string{"snapshot_date=2026-11-19/1/part-00000-a-c000.gz.parquet", "snapshot_date=2026-11-20/1/part-00000-b-c000.gz.parquet", "snapshot_date=2026-11-20/2/part-00000-b-c000.gz.parquet"},
			keys:       []string{"snapshot_date", "partition_1"},
			partitions: []string{"2026-11-19", "2026-11-20"},
			values:     [][]string{{"2026-11-19", "1"}, {"2026-11-20", "1"}, {"2026-11-20", "2"}},
		},
		{
			name:       "files directly under the include path",
			files:      []string{"part-0.gz.parquet", "part-1.gz.parquet"},
			keys:       []string{},
			partitions: []string{},
		},
		{
			name:       "plain folders",
			files:      []string{"2026/11/part-0.gz.parquet", "2026/12/part-0.gz.parquet"},
			keys:       []string{"partition_0", "partition_1"},
			partitions: []string{"2026"},
			values:     [][]string{{"2026", "11"}, {"2026", "12"}},
		},
		{
			name:       "key names disagree at one level",
			files:      []string{"region=eu/part-0.gz.parquet", "zone=b/part-0.gz.parquet"},
			keys:       []string{"partition_0"},
			partitions: []string{"region=eu", "zone=b"},
		},
		{
			name:       "key names are lower-cased",
			files:      []string{"Snapshot_Date=2026-11-20/part-0.gz.parquet"},
			keys:       []string{"snapshot_date"},
			partitions: []string{"2026-11-20"},
		},
		{
			name:       "files at different depths",
			files:      []string{"snapshot_date=2026-11-19/1/part-0.gz.parquet", "snapshot_date=2026-11-20/part-0.gz.parquet"},
			keys:       []string{"snapshot_date", "partition_1"},
			partitions: []string{"2026-11-19", "2026-11-20"},
			values:     [][]string{{"2026-11-19", "1"}, {"2026-11-20", defaultPartition}},
			warning:    "1 of 2 files sit above the deepest folder level",
		},
	}
	for i, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			client := newS3(t)
			prefix := fmt.Sprintf("data/case%d/Things/", i)
			for _, f := range tt.files {
				put(t, client, prefix+f, parquetFile(t, customers(1)))
			}
			for _, f := range tt.other {
				put(t, client, prefix+f, []byte("not data"))
			}
			ev := &published{}
			s := newService(t, client, ev)
			s.Crawlers[0].Targets = []string{"s3://" + lakeBucket + "/" + prefix}
			crawl(t, s, "snaplake-warehouse")
			d := checkEnvelope(t, ev.last(t))
			if d["state"] != "Succeeded" {
				t.Fatalf("crawl %v: %v", d["state"], d["errorMessage"])
			}
			tb, err := s.Catalog.Table("warehouse", "things")
			if err != nil {
				t.Fatalf("the table is named after the include path's last folder, lower-cased: %v", err)
			}
			var keys []string
			for _, k := range tb.PartitionKeys {
				keys = append(keys, k.Name)
				if k.Type != "string" {
					t.Errorf("partition key %s has type %s, want string", k.Name, k.Type)
				}
			}
			if !slices.Equal(keys, tt.keys) || (keys == nil) != (len(tt.keys) == 0) {
				t.Errorf("partition keys %v, want %v", keys, tt.keys)
			}
			if !slices.Equal(tb.Partitions, tt.partitions) || tb.Partitions == nil {
				t.Errorf("partitions %v, want %v", tb.Partitions, tt.partitions)
			}
			if !reflect.DeepEqual(tb.PartitionValues, tt.values) {
				t.Errorf("partition values %v, want %v", tb.PartitionValues, tt.values)
			}
			if tb.Location != "s3://"+lakeBucket+"/"+prefix || len(tb.Columns) != 6 {
				t.Errorf("location %s, %d columns", tb.Location, len(tb.Columns))
			}
			if w := fmt.Sprint(d["warningMessage"]); (tt.warning == "" && w != "N/A") || !strings.Contains(w, tt.warning) {
				t.Errorf("warningMessage %q, want %q", w, tt.warning)
			}
			created := len(tt.partitions)
			if tt.values != nil {
				created = len(tt.values)
			}
			if d["partitionsCreated"] != fmt.Sprint(created) {
				t.Errorf("partitionsCreated %v, want %d", d["partitionsCreated"], created)
			}
		})
	}
}

// recordingS3 records the Prefix of every listing.
type recordingS3 struct {
	S3API
	mu       sync.Mutex
	prefixes []string
}

func (r *recordingS3) ListObjectsV2(ctx context.Context, in *s3.ListObjectsV2Input, optFns ...func(*s3.Options)) (*s3.ListObjectsV2Output, error) {
	r.mu.Lock()
	r.prefixes = append(r.prefixes, aws.ToString(in.Bucket)+"/"+aws.ToString(in.Prefix))
	r.mu.Unlock()
	return r.S3API.ListObjectsV2(ctx, in, optFns...)
}

// TestIncludePathsAreTables: customer/ and customer_address/ are two tables and neither
// sees the other's files, with or without a trailing '/' in the path; every listing
// stays within an include path (what a crawler role scoped to them may list).
func TestIncludePathsAreTables(t *testing.T) {
	for _, slash := range []string{"/", ""} {
		t.Run("path ends with "+fmt.Sprintf("%q", slash), func(t *testing.T) {
			client := newS3(t)
			seedLake(t, client)
			rec := &recordingS3{S3API: client}
			s := newService(t, rec, &published{})
			s.Crawlers[0].Targets = []string{strings.TrimSuffix(customerPath, "/") + slash, strings.TrimSuffix(addressPath, "/") + slash}
			crawl(t, s, "snaplake-warehouse")
			cust, err := s.Catalog.Table("warehouse", "customer")
			if err != nil {
				t.Fatal(err)
			}
			addr, err := s.Catalog.Table("warehouse", "customer_address")
			if err != nil {
				t.Fatal(err)
			}
			if !slices.Equal(cust.Partitions, []string{"2026-11-19", "2026-11-20"}) || len(cust.Columns) != 6 || cust.Location != customerPath {
				t.Errorf("customer: partitions %v, %d columns, location %s", cust.Partitions, len(cust.Columns), cust.Location)
			}
			if !slices.Equal(addr.Partitions, []string{"2026-11-20"}) || len(addr.Columns) != 4 || addr.Location != addressPath {
				t.Errorf("customer_address: partitions %v, %d columns, location %s", addr.Partitions, len(addr.Columns), addr.Location)
			}
			for _, p := range rec.prefixes {
				if !strings.HasPrefix(p, lakeBucket+"/data/warehouse/customer/") && !strings.HasPrefix(p, lakeBucket+"/data/warehouse/customer_address/") {
					t.Errorf("listed %s, outside every include path", p)
				}
			}
			if len(rec.prefixes) != 2 {
				t.Errorf("listings %v, want one per include path", rec.prefixes)
			}
		})
	}
}

// TestSameFolderNameTwice: two include paths ending in the same folder cannot both be
// table "customer": the second gets a hashed suffix, as Glue does, with a warning.
func TestSameFolderNameTwice(t *testing.T) {
	client := newS3(t)
	put(t, client, "data/a/customer/snapshot_date=2026-11-20/part-0.gz.parquet", parquetFile(t, customers(1)))
	put(t, client, "data/b/customer/snapshot_date=2026-11-20/part-0.gz.parquet", parquetFile(t, customers(2)))
	ev := &published{}
	s := newService(t, client, ev)
	s.Crawlers[0].Targets = []string{"s3://" + lakeBucket + "/data/a/customer/", "s3://" + lakeBucket + "/data/b/customer/"}
	for range 2 { // the second crawl keeps both names
		crawl(t, s, "snaplake-warehouse")
		tables, err := s.Catalog.Tables("warehouse")
		if err != nil {
			t.Fatal(err)
		}
		if len(tables) != 2 || tables[0].Name != "customer" || !strings.HasPrefix(tables[1].Name, "customer_") ||
			tables[0].Location == tables[1].Location {
			t.Fatalf("tables %+v, want customer and customer_<hash> at two locations", tables)
		}
	}
	if w := fmt.Sprint(checkEnvelope(t, ev.first(t))["warningMessage"]); !strings.Contains(w, "exists with another location") {
		t.Errorf("first crawl's warningMessage %q does not say why the name changed", w)
	}
}

// first decodes the first published event.
func (e *published) first(t *testing.T) map[string]any {
	t.Helper()
	all := e.all()
	if len(all) == 0 {
		t.Fatal("no event published")
	}
	var m map[string]any
	if err := json.Unmarshal(all[0], &m); err != nil {
		t.Fatalf("decode event %s: %v", all[0], err)
	}
	return m
}

func TestDeleteBehaviorLogKeepsTable(t *testing.T) {
	client := newS3(t)
	seedLake(t, client)
	s := newService(t, client, &published{})
	crawl(t, s, "snaplake-warehouse")
	if _, err := s.UpdateCrawler(context.Background(), &glue.UpdateCrawlerInput{Name: aws.String("snaplake-warehouse"),
		SchemaChangePolicy: &gluetypes.SchemaChangePolicy{DeleteBehavior: gluetypes.DeleteBehaviorLog}}); err != nil {
		t.Fatal(err)
	}
	del(t, client, addressNew)
	crawl(t, s, "snaplake-warehouse")
	if _, err := s.Catalog.Table("warehouse", "customer_address"); err != nil {
		t.Errorf("DeleteBehavior LOG: table deleted: %v", err)
	}
}

func TestGetAndUpdateCrawler(t *testing.T) {
	client := newS3(t)
	seedLake(t, client)
	gate := &gatedS3{S3API: client, open: make(chan struct{})}
	s := newService(t, gate, &published{})
	ctx := context.Background()
	const name = "snaplake-warehouse"

	got, err := s.GetCrawler(ctx, &glue.GetCrawlerInput{Name: aws.String(name)})
	if err != nil {
		t.Fatal(err)
	}
	c := got.Crawler
	if aws.ToString(c.Name) != name || aws.ToString(c.Role) != "arn:aws:iam::111122223333:role/snaplake-crawler" ||
		aws.ToString(c.DatabaseName) != "warehouse" || c.State != gluetypes.CrawlerStateReady || c.LastCrawl != nil ||
		!slices.Equal(s3Paths(c), []string{customerPath, addressPath}) {
		t.Fatalf("GetCrawler = %+v", c)
	}

	orders := "s3://" + lakeBucket + "/data/warehouse/orders/"
	update := &glue.UpdateCrawlerInput{
		Name:               aws.String(name),
		Role:               aws.String("arn:aws:iam::111122223333:role/other"),
		Targets:            &gluetypes.CrawlerTargets{S3Targets: []gluetypes.S3Target{{Path: aws.String(customerPath)}, {Path: aws.String(orders)}}},
		Configuration:      aws.String(`{"Version":1.0,"Grouping":{"TableGroupingPolicy":"CombineCompatibleSchemas"}}`),
		SchemaChangePolicy: &gluetypes.SchemaChangePolicy{DeleteBehavior: gluetypes.DeleteBehaviorDeleteFromDatabase, UpdateBehavior: gluetypes.UpdateBehaviorUpdateInDatabase},
		RecrawlPolicy:      &gluetypes.RecrawlPolicy{RecrawlBehavior: gluetypes.RecrawlBehaviorCrawlEverything},
	}
	if _, err := s.UpdateCrawler(ctx, update); err != nil {
		t.Fatal(err)
	}
	// Fields left nil stay as they were.
	if _, err := s.UpdateCrawler(ctx, &glue.UpdateCrawlerInput{Name: aws.String(name), Description: aws.String("nightly")}); err != nil {
		t.Fatal(err)
	}
	got, err = s.GetCrawler(ctx, &glue.GetCrawlerInput{Name: aws.String(name)})
	if err != nil {
		t.Fatal(err)
	}
	c = got.Crawler
	if aws.ToString(c.Role) != "arn:aws:iam::111122223333:role/other" || aws.ToString(c.DatabaseName) != "warehouse" ||
		!slices.Equal(s3Paths(c), []string{customerPath, orders}) ||
		aws.ToString(c.Configuration) != aws.ToString(update.Configuration) ||
		!reflect.DeepEqual(c.SchemaChangePolicy, update.SchemaChangePolicy) || !reflect.DeepEqual(c.RecrawlPolicy, update.RecrawlPolicy) ||
		c.Version != 3 || c.LastUpdated == nil {
		t.Fatalf("after UpdateCrawler, GetCrawler = %+v", c)
	}

	if _, err := s.StartCrawler(ctx, &glue.StartCrawlerInput{Name: aws.String(name)}); err != nil {
		t.Fatal(err)
	}
	if got, _ := s.GetCrawler(ctx, &glue.GetCrawlerInput{Name: aws.String(name)}); got.Crawler.State != gluetypes.CrawlerStateRunning {
		t.Errorf("state during a crawl = %s, want RUNNING", got.Crawler.State)
	}
	errs := []struct {
		name  string
		call  func() error
		check func(error) bool
		says  string
	}{
		{"update running", func() error { _, err := s.UpdateCrawler(ctx, update); return err }, isErr[*gluetypes.CrawlerRunningException], "StopCrawler"},
		{"update unknown", func() error {
			_, err := s.UpdateCrawler(ctx, &glue.UpdateCrawlerInput{Name: aws.String("snaplake-nope")})
			return err
		}, isErr[*gluetypes.EntityNotFoundException], "snaplake-nope does not exist"},
		{"get unknown", func() error {
			_, err := s.GetCrawler(ctx, &glue.GetCrawlerInput{Name: aws.String("snaplake-nope")})
			return err
		},
			isErr[*gluetypes.EntityNotFoundException], "snaplake-nope does not exist"},
		{"not an S3 path", func() error {
			_, err := s.UpdateCrawler(ctx, &glue.UpdateCrawlerInput{Name: aws.String("snaplake-missing"),
				Targets: &gluetypes.CrawlerTargets{S3Targets: []gluetypes.S3Target{{Path: aws.String("data/warehouse/orders/")}}}})
			return err
		}, isErr[*gluetypes.InvalidInputException], "does not start with s3://"},
		{"exclusions", func() error {
			_, err := s.UpdateCrawler(ctx, &glue.UpdateCrawlerInput{Name: aws.String("snaplake-missing"),
				Targets: &gluetypes.CrawlerTargets{S3Targets: []gluetypes.S3Target{{Path: aws.String(orders), Exclusions: []string{"**/_SUCCESS"}}}}})
			return err
		}, isErr[*gluetypes.InvalidInputException], "implements Path only"},
		{"JDBC target", func() error {
			_, err := s.UpdateCrawler(ctx, &glue.UpdateCrawlerInput{Name: aws.String("snaplake-missing"),
				Targets: &gluetypes.CrawlerTargets{JdbcTargets: []gluetypes.JdbcTarget{{Path: aws.String("db/%")}}}})
			return err
		}, isErr[*gluetypes.InvalidInputException], "S3 targets only"},
		{"table prefix", func() error {
			_, err := s.UpdateCrawler(ctx, &glue.UpdateCrawlerInput{Name: aws.String("snaplake-missing"), TablePrefix: aws.String("x_")})
			return err
		}, isErr[*gluetypes.InvalidInputException], "TablePrefix"},
	}
	for _, tt := range errs {
		t.Run(tt.name, func(t *testing.T) {
			err := tt.call()
			if err == nil || !tt.check(err) || !strings.Contains(err.Error(), tt.says) {
				t.Fatalf("error = %T %v, want one saying %q", err, err, tt.says)
			}
		})
	}
	close(gate.open)
	if err := s.Wait(ctx); err != nil {
		t.Fatal(err)
	}
	got, err = s.GetCrawler(ctx, &glue.GetCrawlerInput{Name: aws.String(name)})
	if err != nil {
		t.Fatal(err)
	}
	if c := got.Crawler; c.State != gluetypes.CrawlerStateReady || c.LastCrawl == nil || c.LastCrawl.Status != gluetypes.LastCrawlStatusSucceeded || c.Version != 3 {
		t.Errorf("after the crawl: state %s, last crawl %+v, version %d (a rejected update must not count)", c.State, c.LastCrawl, c.Version)
	}
	// The crawl used the updated targets: orders has no files, customer_address is not one.
	tables, _ := s.Catalog.Tables("warehouse")
	if len(tables) != 1 || tables[0].Name != "customer" {
		t.Errorf("tables after crawling the updated targets: %+v", tables)
	}
}

func s3Paths(c *gluetypes.Crawler) []string {
	if c.Targets == nil {
		return nil
	}
	var out []string
	for _, t := range c.Targets.S3Targets {
		out = append(out, aws.ToString(t.Path))
	}
	return out
}

func isErr[T error](err error) bool {
	var target T
	return errors.As(err, &target)
}

func TestFailedCrawlIsLastCrawl(t *testing.T) {
	client := newS3(t)
	s := newService(t, client, &published{})
	crawl(t, s, "snaplake-missing")
	got, err := s.GetCrawler(context.Background(), &glue.GetCrawlerInput{Name: aws.String("snaplake-missing")})
	if err != nil {
		t.Fatal(err)
	}
	last := got.Crawler.LastCrawl
	if last == nil || last.Status != gluetypes.LastCrawlStatusFailed || !strings.Contains(aws.ToString(last.ErrorMessage), "NoSuchBucket") {
		t.Errorf("last crawl %+v, want FAILED with the S3 error", last)
	}
}

// TestUpdateCrawlerAcceptsReadModifyWrite: callers send back every field GetCrawler
// returned (UpdateCrawler's handling of omitted fields is undocumented); settings left
// at their zero value must not count as unsupported ones.
func TestUpdateCrawlerAcceptsReadModifyWrite(t *testing.T) {
	client := newS3(t)
	seedLake(t, client)
	s := newService(t, client, &published{})
	ctx := context.Background()
	got, err := s.GetCrawler(ctx, &glue.GetCrawlerInput{Name: aws.String("snaplake-warehouse")})
	if err != nil {
		t.Fatal(err)
	}
	cr := got.Crawler
	targets := *cr.Targets
	targets.S3Targets = []gluetypes.S3Target{{Path: aws.String(addressPath)}}
	in := &glue.UpdateCrawlerInput{
		Name: cr.Name, Role: cr.Role, DatabaseName: cr.DatabaseName, Description: cr.Description, Targets: &targets,
		Classifiers: []string{}, TablePrefix: aws.String(""), SchemaChangePolicy: cr.SchemaChangePolicy, RecrawlPolicy: cr.RecrawlPolicy,
		LineageConfiguration:       &gluetypes.LineageConfiguration{CrawlerLineageSettings: gluetypes.CrawlerLineageSettingsDisable},
		LakeFormationConfiguration: &gluetypes.LakeFormationConfiguration{UseLakeFormationCredentials: aws.Bool(false)},
		Configuration:              cr.Configuration, CrawlerSecurityConfiguration: cr.CrawlerSecurityConfiguration,
	}
	if _, err := s.UpdateCrawler(ctx, in); err != nil {
		t.Fatalf("UpdateCrawler with GetCrawler's own fields: %v", err)
	}
	crawl(t, s, "snaplake-warehouse")
	if tables, _ := s.Catalog.Tables("warehouse"); len(tables) != 1 || tables[0].Name != "customer_address" {
		t.Errorf("tables %+v, want customer_address only", tables)
	}
}
