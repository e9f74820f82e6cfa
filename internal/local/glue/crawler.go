package glue

import (
	"context"
	"fmt"
	"log/slog"
	"maps"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/glue"
	gluetypes "github.com/aws/aws-sdk-go-v2/service/glue/types"
	"github.com/aws/aws-sdk-go-v2/service/s3"
)

// PartitionKey is the one partition column of every lake table, a string as the
// crawler infers it from snapshot_date=YYYY-MM-DD folder names.
const PartitionKey = "snapshot_date"

// Crawler is the configuration of one crawler: it crawls s3://Bucket/Prefix into Database.
type Crawler struct {
	Name     string
	Database string
	Bucket   string
	Prefix   string // like "data/warehouse/"
}

// S3API is what a crawl needs from S3; *s3.Client satisfies it.
type S3API interface {
	ListObjectsV2(ctx context.Context, params *s3.ListObjectsV2Input, optFns ...func(*s3.Options)) (*s3.ListObjectsV2Output, error)
	GetObject(ctx context.Context, params *s3.GetObjectInput, optFns ...func(*s3.Options)) (*s3.GetObjectOutput, error)
}

// Service runs crawls the way the Glue API does: StartCrawler returns at once, the
// crawl runs in the background and its end is announced by an EventBridge-shaped event.
type Service struct {
	S3       S3API
	Catalog  *Catalog
	Crawlers []Crawler
	// Publish receives each "Glue Crawler State Change" event, as EventBridge JSON.
	// Nil drops them.
	Publish func(ctx context.Context, event []byte) error
	Log     *slog.Logger
	Account string // defaults to 123456789012
	Region  string // defaults to us-east-1
	// FailNext, when set, is asked at the start of each crawl; a non-empty answer
	// makes that crawl fail with this error message (a test hook).
	FailNext func(crawler string) string
	// PublishStarted also publishes the "Started" event AWS sends when a crawl begins.
	PublishStarted bool

	mu      sync.Mutex
	running map[string]bool
	wg      sync.WaitGroup
}

// StartCrawler starts the named crawler. It has the signature of (*glue.Client).StartCrawler,
// which the Step Functions aws-sdk:glue:startCrawler integration calls, and returns the same
// errors: *gluetypes.EntityNotFoundException for an unknown crawler and
// *gluetypes.CrawlerRunningException while that crawler runs.
func (s *Service) StartCrawler(ctx context.Context, in *glue.StartCrawlerInput, _ ...func(*glue.Options)) (*glue.StartCrawlerOutput, error) {
	if s.S3 == nil || s.Catalog == nil {
		return nil, fmt.Errorf("start crawler: glue.Service needs both S3 and Catalog")
	}
	var name string
	if in != nil {
		name = aws.ToString(in.Name)
	}
	i := slices.IndexFunc(s.Crawlers, func(c Crawler) bool { return c.Name == name })
	if i < 0 {
		return nil, &gluetypes.EntityNotFoundException{
			Message: aws.String(fmt.Sprintf("Crawler entry with name %s does not exist", name)),
		}
	}
	cr := s.Crawlers[i]

	s.mu.Lock()
	if s.running[name] {
		s.mu.Unlock()
		return nil, &gluetypes.CrawlerRunningException{
			Message: aws.String(fmt.Sprintf("Crawler with name %s has already started", name)),
		}
	}
	if s.running == nil {
		s.running = map[string]bool{}
	}
	s.running[name] = true
	s.wg.Add(1)
	s.mu.Unlock()

	// The crawl outlives the API call that started it, as in AWS.
	crawlCtx := context.WithoutCancel(ctx)
	go func() {
		defer s.wg.Done()
		defer func() {
			s.mu.Lock()
			delete(s.running, name)
			s.mu.Unlock()
		}()
		s.crawl(crawlCtx, cr)
	}()
	return &glue.StartCrawlerOutput{}, nil
}

// Running reports whether the named crawler is crawling.
func (s *Service) Running(name string) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.running[name]
}

// Wait blocks until no crawl runs, or ctx ends. Crawl failures are not returned:
// as in AWS they are reported by the "Failed" event (and logged).
func (s *Service) Wait(ctx context.Context) error {
	done := make(chan struct{})
	go func() {
		s.wg.Wait()
		close(done)
	}()
	select {
	case <-done:
		return nil
	case <-ctx.Done():
		return fmt.Errorf("wait for running crawls: %w", ctx.Err())
	}
}

func (s *Service) logger() *slog.Logger {
	if s.Log != nil {
		return s.Log
	}
	return slog.Default()
}

// crawlStats are the counts the Succeeded event reports.
type crawlStats struct {
	tablesCreated, tablesUpdated, tablesDeleted             int
	partitionsCreated, partitionsUpdated, partitionsDeleted int
}

func (s *Service) crawl(ctx context.Context, cr Crawler) {
	log := s.logger().With("crawler", cr.Name, "database", cr.Database, "location", "s3://"+cr.Bucket+"/"+cr.Prefix)
	start := time.Now()
	log.InfoContext(ctx, "crawl started")
	if s.PublishStarted {
		ev, err := s.startedEvent(cr, start)
		s.publish(ctx, log, ev, err)
	}

	if s.FailNext != nil {
		if msg := s.FailNext(cr.Name); msg != "" {
			log.ErrorContext(ctx, "crawl failed", "error", msg, "cause", "FailNext hook")
			ev, err := s.failedEvent(cr, time.Now(), msg)
			s.publish(ctx, log, ev, err)
			return
		}
	}

	stats, err := s.run(ctx, log, cr)
	end := time.Now()
	if err != nil {
		log.ErrorContext(ctx, "crawl failed", "error", err)
		ev, encErr := s.failedEvent(cr, end, err.Error())
		s.publish(ctx, log, ev, encErr)
		return
	}
	log.InfoContext(ctx, "crawl succeeded",
		"tables_created", stats.tablesCreated, "tables_updated", stats.tablesUpdated,
		"tables_deleted", stats.tablesDeleted, "partitions_created", stats.partitionsCreated,
		"partitions_deleted", stats.partitionsDeleted, "duration", end.Sub(start))
	ev, encErr := s.succeededEvent(cr, start, end, stats)
	s.publish(ctx, log, ev, encErr)
}

func (s *Service) publish(ctx context.Context, log *slog.Logger, event []byte, err error) {
	if err != nil {
		log.ErrorContext(ctx, "encode crawler event", "error", err)
		return
	}
	if s.Publish == nil {
		return
	}
	if err := s.Publish(ctx, event); err != nil {
		log.ErrorContext(ctx, "publish crawler event", "error", err)
	}
}

// object is one listed Parquet file.
type object struct {
	key  string
	size int64
}

// foundTable is a table folder as the listing shows it.
type foundTable struct {
	folder     string
	partitions map[string][]object // snapshot_date -> files
}

func (s *Service) run(ctx context.Context, log *slog.Logger, cr Crawler) (crawlStats, error) {
	prefix := cr.Prefix
	if prefix != "" && !strings.HasSuffix(prefix, "/") {
		prefix += "/" // data/db/customer must not also crawl data/db/customer_address
	}
	found, err := s.list(ctx, log, cr.Bucket, prefix)
	if err != nil {
		return crawlStats{}, err
	}

	now := time.Now().UTC()
	crawled := map[string]Table{}
	for _, ft := range found {
		name := strings.ToLower(ft.folder)
		dates := slices.Sorted(maps.Keys(ft.partitions))
		newest := ft.partitions[dates[len(dates)-1]]
		slices.SortFunc(newest, func(a, b object) int { return strings.Compare(a.key, b.key) })
		cols, err := readSchema(ctx, s.S3, cr.Bucket, newest[0].key, newest[0].size)
		if err != nil {
			return crawlStats{}, fmt.Errorf("infer schema of table %s.%s: %w", cr.Database, name, err)
		}
		crawled[name] = Table{
			Database:      cr.Database,
			Name:          name,
			Location:      "s3://" + cr.Bucket + "/" + prefix + ft.folder + "/",
			Columns:       cols,
			PartitionKeys: []Column{{Name: PartitionKey, Type: "string"}},
			Partitions:    dates,
			UpdatedAt:     now,
		}
	}

	var stats crawlStats
	owned := "s3://" + cr.Bucket + "/" + prefix
	err = s.Catalog.update(func(st *catalogFile) error {
		st.ensureDatabase(cr.Database)
		old := map[string]Table{}
		for _, t := range st.Tables {
			if t.Database == cr.Database && strings.HasPrefix(t.Location, owned) {
				old[t.Name] = t
			}
		}
		for _, name := range slices.Sorted(maps.Keys(old)) {
			if _, ok := crawled[name]; !ok {
				stats.tablesDeleted++
				stats.partitionsDeleted += len(old[name].Partitions)
				st.deleteTable(cr.Database, name)
				log.InfoContext(ctx, "table deleted: its folder is gone", "table", name)
			}
		}
		for _, name := range slices.Sorted(maps.Keys(crawled)) {
			t := crawled[name]
			prev, existed := old[name]
			if !existed {
				stats.tablesCreated++
				stats.partitionsCreated += len(t.Partitions)
				st.putTable(t)
				continue
			}
			added, removed := diff(prev.Partitions, t.Partitions)
			stats.partitionsCreated += added
			stats.partitionsDeleted += removed
			if added == 0 && removed == 0 && slices.Equal(prev.Columns, t.Columns) && prev.Location == t.Location {
				t.UpdatedAt = prev.UpdatedAt
			} else {
				stats.tablesUpdated++
			}
			st.putTable(t)
		}
		return nil
	})
	if err != nil {
		return crawlStats{}, fmt.Errorf("record tables of crawler %s: %w", cr.Name, err)
	}
	return stats, nil
}

// list reads every key under prefix and groups the Parquet files by table folder and
// snapshot_date. Anything else (export metadata, _SUCCESS markers, stray files) is skipped.
func (s *Service) list(ctx context.Context, log *slog.Logger, bucket, prefix string) ([]foundTable, error) {
	tables := map[string]*foundTable{}
	ignored := 0
	in := &s3.ListObjectsV2Input{Bucket: aws.String(bucket), Prefix: aws.String(prefix)}
	for {
		out, err := s.S3.ListObjectsV2(ctx, in)
		if err != nil {
			return nil, fmt.Errorf("list s3://%s/%s: %w", bucket, prefix, err)
		}
		for _, o := range out.Contents {
			key := aws.ToString(o.Key)
			if strings.HasSuffix(key, "/") {
				continue // folder marker
			}
			folder, date, why := classify(strings.TrimPrefix(key, prefix))
			if why != "" {
				log.DebugContext(ctx, "object ignored", "key", key, "reason", why)
				ignored++
				continue
			}
			ft := tables[folder]
			if ft == nil {
				ft = &foundTable{folder: folder, partitions: map[string][]object{}}
				tables[folder] = ft
			}
			ft.partitions[date] = append(ft.partitions[date], object{key: key, size: aws.ToInt64(o.Size)})
		}
		if !aws.ToBool(out.IsTruncated) || out.NextContinuationToken == nil {
			break
		}
		in.ContinuationToken = out.NextContinuationToken
	}
	if ignored > 0 {
		log.InfoContext(ctx, "objects ignored: not Parquet files of a snapshot_date= partition", "count", ignored)
	}
	out := make([]foundTable, 0, len(tables))
	for _, name := range slices.Sorted(maps.Keys(tables)) {
		out = append(out, *tables[name])
	}
	return out, nil
}

// classify places a key (relative to the crawl prefix) in a table partition, or says why not.
func classify(rel string) (folder, date, why string) {
	parts := strings.Split(rel, "/")
	if len(parts) < 3 {
		return "", "", "not inside a table's snapshot_date= folder"
	}
	if !strings.HasSuffix(parts[len(parts)-1], ".parquet") {
		return "", "", "not a .parquet file"
	}
	value, ok := strings.CutPrefix(parts[1], PartitionKey+"=")
	if !ok || value == "" {
		return "", "", "second level is not a snapshot_date= folder"
	}
	if parts[0] == "" {
		return "", "", "empty table folder name"
	}
	return parts[0], value, ""
}

// diff counts the values of b missing from a (added) and of a missing from b (removed).
func diff(a, b []string) (added, removed int) {
	for _, v := range b {
		if !slices.Contains(a, v) {
			added++
		}
	}
	for _, v := range a {
		if !slices.Contains(b, v) {
			removed++
		}
	}
	return added, removed
}
