package glue

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/glue"
	gluetypes "github.com/aws/aws-sdk-go-v2/service/glue/types"
	"github.com/aws/aws-sdk-go-v2/service/s3"
)

// PartitionKey is the partition column relocation writes for every lake table, a
// string as the crawler infers it from snapshot_date=YYYY-MM-DD folder names.
const PartitionKey = "snapshot_date"

// Crawler is the configuration of one crawler, the part of Glue's CreateCrawler and
// UpdateCrawler fields that matter for S3 targets.
type Crawler struct {
	Name string
	// Role is the IAM role the crawler runs as. The stand-in does not assume it: every
	// S3 request goes through Service.S3, which the offline run builds to act as this
	// role, so a grant the role lacks fails the crawl as in AWS.
	Role string
	// Database is the catalog database the crawler writes its tables to.
	Database string
	// Targets are the S3 include paths, like "s3://lake/data/shop/customer/". Each is
	// one table named after its last folder (lower-cased); every folder level between
	// the path and a data file is a partition key: key=value folders give the column
	// "key", other folders give partition_<depth> (depth 0 is the first folder below
	// the path). A path without a trailing '/' is a folder all the same, so
	// .../customer never reads .../customer_address/.
	Targets []string
	// Configuration is the crawler's JSON configuration, kept for GetCrawler.
	Configuration string
	// SchemaChangePolicy and RecrawlPolicy are kept for GetCrawler. A table whose
	// include path has lost all its files is deleted unless DeleteBehavior is LOG.
	SchemaChangePolicy *gluetypes.SchemaChangePolicy
	RecrawlPolicy      *gluetypes.RecrawlPolicy
}

// SchemaChangePolicyOf is the policy of a crawler as the template declares it
// (CloudFormation's SchemaChangePolicy strings); nil when it declares none.
func SchemaChangePolicyOf(deleteBehavior, updateBehavior string) *gluetypes.SchemaChangePolicy {
	if deleteBehavior == "" && updateBehavior == "" {
		return nil
	}
	return &gluetypes.SchemaChangePolicy{DeleteBehavior: gluetypes.DeleteBehavior(deleteBehavior), UpdateBehavior: gluetypes.UpdateBehavior(updateBehavior)}
}

// S3API is what a crawl needs from S3; *s3.Client satisfies it. A crawl lists each
// include path with that path as Prefix and reads Parquet footers with ranged GetObject.
type S3API interface {
	ListObjectsV2(ctx context.Context, params *s3.ListObjectsV2Input, optFns ...func(*s3.Options)) (*s3.ListObjectsV2Output, error)
	GetObject(ctx context.Context, params *s3.GetObjectInput, optFns ...func(*s3.Options)) (*s3.GetObjectOutput, error)
}

// Service runs crawls the way the Glue API does: StartCrawler returns at once, the
// crawl runs in the background and its end is announced by an EventBridge-shaped
// event. GetCrawler and UpdateCrawler read and change a crawler's configuration.
type Service struct {
	S3      S3API
	Catalog *Catalog
	// Crawlers is the configuration of every crawler. Set it before the first call;
	// afterwards it changes only through UpdateCrawler and CreateCrawler.
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
	// Duration is how long a crawl runs before it reads anything: nothing of it shows
	// (no table, no partition, no event, the crawler RUNNING) until it has passed, as a
	// crawl in AWS takes a minute or more after StartCrawler returned. Zero is
	// DefaultCrawlDuration; a negative value crawls at once.
	Duration time.Duration

	mu     sync.Mutex // guards Crawlers and states
	states map[string]*crawlerState
	wg     sync.WaitGroup
}

// DefaultCrawlDuration is a crawl's Duration when none is set: long enough that a
// workflow which goes on right after StartCrawler, without waiting for the crawl to
// end, reads the catalog before the crawl has written it, as it would in AWS.
const DefaultCrawlDuration = 300 * time.Millisecond

// crawlerState is what GetCrawler reports beyond the configuration.
type crawlerState struct {
	running     bool
	version     int64
	lastUpdated time.Time
	last        *gluetypes.LastCrawlInfo
}

// state returns the state of the named crawler; s.mu must be held.
func (s *Service) state(name string) *crawlerState {
	if s.states == nil {
		s.states = map[string]*crawlerState{}
	}
	st := s.states[name]
	if st == nil {
		st = &crawlerState{version: 1}
		s.states[name] = st
	}
	return st
}

// crawler finds the named crawler's index; s.mu must be held.
func (s *Service) crawler(name string) (int, error) {
	i := slices.IndexFunc(s.Crawlers, func(c Crawler) bool { return c.Name == name })
	if i < 0 {
		return -1, &gluetypes.EntityNotFoundException{
			Message: aws.String(fmt.Sprintf("Crawler entry with name %s does not exist", name)),
		}
	}
	return i, nil
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
	s.mu.Lock()
	i, err := s.crawler(name)
	if err != nil {
		s.mu.Unlock()
		return nil, err
	}
	st := s.state(name)
	if st.running {
		s.mu.Unlock()
		return nil, &gluetypes.CrawlerRunningException{
			Message: aws.String(fmt.Sprintf("Crawler with name %s has already started", name)),
		}
	}
	cr := s.Crawlers[i]
	cr.Targets = slices.Clone(cr.Targets) // an UpdateCrawler after the crawl ends must not change this one
	st.running = true
	s.wg.Add(1)
	s.mu.Unlock()

	// The crawl outlives the API call that started it, as in AWS.
	crawlCtx := context.WithoutCancel(ctx)
	go func() {
		defer s.wg.Done()
		start := time.Now()
		errMsg := s.crawl(crawlCtx, cr, start)
		s.mu.Lock()
		defer s.mu.Unlock()
		st := s.state(name)
		st.running = false
		st.last = &gluetypes.LastCrawlInfo{
			Status:    gluetypes.LastCrawlStatusSucceeded,
			StartTime: aws.Time(start.UTC()),
			LogGroup:  aws.String(logGroup),
			LogStream: aws.String(name),
		}
		if errMsg != "" {
			st.last.Status = gluetypes.LastCrawlStatusFailed
			st.last.ErrorMessage = aws.String(errMsg)
		}
	}()
	return &glue.StartCrawlerOutput{}, nil
}

// GetCrawler returns the named crawler's configuration and state, with the signature
// of (*glue.Client).GetCrawler and its *gluetypes.EntityNotFoundException.
func (s *Service) GetCrawler(_ context.Context, in *glue.GetCrawlerInput, _ ...func(*glue.Options)) (*glue.GetCrawlerOutput, error) {
	var name string
	if in != nil {
		name = aws.ToString(in.Name)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	i, err := s.crawler(name)
	if err != nil {
		return nil, err
	}
	cr := s.Crawlers[i]
	st := s.state(name)
	out := &gluetypes.Crawler{
		Name:               aws.String(cr.Name),
		Role:               aws.String(cr.Role),
		DatabaseName:       aws.String(cr.Database),
		Targets:            &gluetypes.CrawlerTargets{S3Targets: make([]gluetypes.S3Target, len(cr.Targets))},
		SchemaChangePolicy: clonePtr(cr.SchemaChangePolicy),
		RecrawlPolicy:      clonePtr(cr.RecrawlPolicy),
		State:              gluetypes.CrawlerStateReady,
		Version:            st.version,
	}
	for j, p := range cr.Targets {
		out.Targets.S3Targets[j] = gluetypes.S3Target{Path: aws.String(p)}
	}
	if cr.Configuration != "" {
		out.Configuration = aws.String(cr.Configuration)
	}
	if st.running {
		out.State = gluetypes.CrawlerStateRunning
	}
	if !st.lastUpdated.IsZero() {
		out.LastUpdated = aws.Time(st.lastUpdated)
	}
	if st.last != nil {
		last := *st.last
		out.LastCrawl = &last
	}
	return &glue.GetCrawlerOutput{Crawler: out}, nil
}

// UpdateCrawler changes the named crawler, with the signature of
// (*glue.Client).UpdateCrawler: the fields given replace the configured ones (Targets
// as a whole), the fields left nil stay. It returns *gluetypes.EntityNotFoundException
// for an unknown crawler, *gluetypes.CrawlerRunningException while it runs, and
// *gluetypes.InvalidInputException for an invalid S3 path or for a setting the stand-in
// does not implement (other target kinds, exclusions, a table prefix, classifiers, a
// schedule, Lake Formation credentials...), so a configuration that would crawl
// differently in AWS fails loudly here. Description is accepted and not kept.
func (s *Service) UpdateCrawler(_ context.Context, in *glue.UpdateCrawlerInput, _ ...func(*glue.Options)) (*glue.UpdateCrawlerOutput, error) {
	if in == nil {
		in = &glue.UpdateCrawlerInput{}
	}
	name := aws.ToString(in.Name)
	invalid := func(format string, args ...any) error {
		return &gluetypes.InvalidInputException{Message: aws.String(fmt.Sprintf("crawler %s: ", name) + fmt.Sprintf(format, args...))}
	}
	// Read-modify-write callers send back every field GetCrawler returned, so only a
	// value that would change the crawl counts as set.
	for _, f := range []struct {
		field string
		set   bool
	}{
		{"CatalogId", aws.ToString(in.CatalogId) != ""},
		{"Classifiers", len(in.Classifiers) > 0},
		{"CrawlerSecurityConfiguration", aws.ToString(in.CrawlerSecurityConfiguration) != ""},
		{"LakeFormationConfiguration", in.LakeFormationConfiguration != nil && aws.ToBool(in.LakeFormationConfiguration.UseLakeFormationCredentials)},
		{"LineageConfiguration", in.LineageConfiguration != nil && in.LineageConfiguration.CrawlerLineageSettings == gluetypes.CrawlerLineageSettingsEnable},
		{"Schedule", aws.ToString(in.Schedule) != ""},
		{"TablePrefix", aws.ToString(in.TablePrefix) != ""},
	} {
		if f.set {
			return nil, invalid("the offline Glue stand-in does not implement %s", f.field)
		}
	}
	var targets []string
	if in.Targets != nil {
		t := in.Targets
		if len(t.CatalogTargets)+len(t.DeltaTargets)+len(t.DynamoDBTargets)+len(t.HudiTargets)+
			len(t.IcebergTargets)+len(t.JdbcTargets)+len(t.MongoDBTargets) > 0 {
			return nil, invalid("the offline Glue stand-in crawls S3 targets only")
		}
		for _, st := range t.S3Targets {
			p := aws.ToString(st.Path)
			if len(st.Exclusions) > 0 || st.SampleSize != nil || st.EventQueueArn != nil || st.DlqEventQueueArn != nil || st.ConnectionName != nil {
				return nil, invalid("S3 target %s: the offline Glue stand-in implements Path only", p)
			}
			if _, err := parseTarget(p); err != nil {
				return nil, invalid("%v", err)
			}
			targets = append(targets, p)
		}
	}
	if in.Configuration != nil && !json.Valid([]byte(*in.Configuration)) {
		return nil, invalid("Configuration is not valid JSON")
	}

	s.mu.Lock()
	defer s.mu.Unlock()
	i, err := s.crawler(name)
	if err != nil {
		return nil, err
	}
	st := s.state(name)
	if st.running {
		return nil, &gluetypes.CrawlerRunningException{
			Message: aws.String(fmt.Sprintf("Crawler with name %s is running; you must stop it using StopCrawler before updating it", name)),
		}
	}
	cr := s.Crawlers[i]
	if in.Targets != nil {
		cr.Targets = targets
	}
	if in.Role != nil {
		cr.Role = *in.Role
	}
	if in.DatabaseName != nil {
		cr.Database = *in.DatabaseName
	}
	if in.Configuration != nil {
		cr.Configuration = *in.Configuration
	}
	if in.SchemaChangePolicy != nil {
		cr.SchemaChangePolicy = clonePtr(in.SchemaChangePolicy)
	}
	if in.RecrawlPolicy != nil {
		cr.RecrawlPolicy = clonePtr(in.RecrawlPolicy)
	}
	s.Crawlers[i] = cr
	st.version++
	st.lastUpdated = time.Now().UTC()
	s.logger().Info("crawler updated", "crawler", name, "database", cr.Database, "targets", len(cr.Targets), "version", st.version)
	return &glue.UpdateCrawlerOutput{}, nil
}

func clonePtr[T any](p *T) *T {
	if p == nil {
		return nil
	}
	v := *p
	return &v
}

// Running reports whether the named crawler is crawling.
func (s *Service) Running(name string) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	st := s.states[name]
	return st != nil && st.running
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

// pause lets a crawl's Duration pass: the crawler is RUNNING and has written nothing.
func (s *Service) pause() {
	d := s.Duration
	if d == 0 {
		d = DefaultCrawlDuration
	}
	if d > 0 {
		time.Sleep(d)
	}
}

func (s *Service) logger() *slog.Logger {
	if s.Log != nil {
		return s.Log
	}
	return slog.Default()
}

// crawl runs one crawl and publishes its events. It returns the error message of a
// failed crawl, "" on success.
func (s *Service) crawl(ctx context.Context, cr Crawler, start time.Time) string {
	log := s.logger().With("crawler", cr.Name, "database", cr.Database, "targets", strings.Join(cr.Targets, ","))
	log.InfoContext(ctx, "crawl started")
	if s.PublishStarted {
		ev, err := s.startedEvent(cr, start)
		s.publish(ctx, log, ev, err)
	}
	s.pause()

	if s.FailNext != nil {
		if msg := s.FailNext(cr.Name); msg != "" {
			log.ErrorContext(ctx, "crawl failed", "error", msg, "cause", "FailNext hook")
			ev, err := s.failedEvent(cr, time.Now(), msg)
			s.publish(ctx, log, ev, err)
			return msg
		}
	}

	stats, err := s.run(ctx, log, cr)
	end := time.Now()
	if err != nil {
		log.ErrorContext(ctx, "crawl failed", "error", err)
		ev, encErr := s.failedEvent(cr, end, err.Error())
		s.publish(ctx, log, ev, encErr)
		return err.Error()
	}
	log.InfoContext(ctx, "crawl succeeded",
		"tables_created", stats.tablesCreated, "tables_updated", stats.tablesUpdated,
		"tables_deleted", stats.tablesDeleted, "partitions_created", stats.partitionsCreated,
		"partitions_deleted", stats.partitionsDeleted, "warnings", len(stats.warnings), "duration", end.Sub(start))
	ev, encErr := s.succeededEvent(cr, start, end, stats)
	s.publish(ctx, log, ev, encErr)
	return ""
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
