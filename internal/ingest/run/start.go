// Package ingestrun runs the config-driven loads that internal/ingest plans: the
// reconfigure Lambda's start of a run (read and check the config, discover the
// source tables, plan, take the leases, point the crawler at exactly the run's
// tables, write the job's plan), the Go loader that does what the Glue job does,
// and the finish (commit the watermarks, switch fully reloaded tables to their new
// generation, clean up what failed, release the leases, report the run).
package run

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/glue"
	gluetypes "github.com/aws/aws-sdk-go-v2/service/glue/types"
	"github.com/aws/aws-sdk-go-v2/service/s3"

	"github.com/snaplake/snaplake/internal/aws/awserr"
	"github.com/snaplake/snaplake/internal/aws/crawlers"
	"github.com/snaplake/snaplake/internal/aws/s3get"
	"github.com/snaplake/snaplake/internal/aws/s3obj"
	"github.com/snaplake/snaplake/internal/config"
	"github.com/snaplake/snaplake/internal/deploy"
	"github.com/snaplake/snaplake/internal/ingest"
	"github.com/snaplake/snaplake/internal/ingest/schedules"
	"github.com/snaplake/snaplake/internal/ingest/watermark"
)

// S3API is the part of S3 a run uses; *s3.Client satisfies it.
type S3API interface {
	watermark.S3API
	DeleteObjects(ctx context.Context, in *s3.DeleteObjectsInput, optFns ...func(*s3.Options)) (*s3.DeleteObjectsOutput, error)
}

// CrawlerAPI reads and changes the set's crawler.
type CrawlerAPI interface {
	GetCrawler(ctx context.Context, in *glue.GetCrawlerInput, optFns ...func(*glue.Options)) (*glue.GetCrawlerOutput, error)
	UpdateCrawler(ctx context.Context, in *glue.UpdateCrawlerInput, optFns ...func(*glue.Options)) (*glue.UpdateCrawlerOutput, error)
}

// Starter starts runs: the reconfigure Lambda.
type Starter struct {
	S3     S3API
	Bucket string
	// KMSKeyID encrypts what the run writes (plan, state); empty: the bucket's default.
	KMSKeyID string
	// Config reads the config; nil: LoadConfig from the bucket.
	Config func(ctx context.Context) (*ingest.Config, error)
	// Glue points the crawler; nil: no crawler (a run by hand, without a catalog).
	Glue CrawlerAPI
	// Schedules, when set, are brought in line with the config's sets at each run
	// (ScheduleGroup is their group): the config's schedules take effect without a
	// deployment.
	Schedules     schedules.API
	ScheduleGroup string
	// Crawler names the crawler of a set (one per set, so that two sets' runs never
	// point one crawler at different tables).
	Crawler func(set string) string
	// MySQL opens the source database (in AWS from the Secrets Manager secret).
	MySQL func(ctx context.Context) (*sql.DB, error)
	// JDBCURL and SecretID are handed to the job.
	JDBCURL, SecretID string
	// LeaseTTL bounds how long a dead run keeps its tables (default deploy.DefaultLeaseTTL).
	LeaseTTL time.Duration
	// CrawlPoll and CrawlTimeout pace and bound the workflow's wait for the crawl
	// (defaults deploy.DefaultIngestCrawlPoll and DefaultIngestCrawlTimeout).
	CrawlPoll, CrawlTimeout time.Duration
	// Database, when set, is the only source database the config may name: the one
	// the stack was deployed for.
	Database string
	// Now is the leases' clock (default time.Now).
	Now func() time.Time
	Log *slog.Logger
}

// StartInput is what the workflow hands the reconfigure function: the execution's
// input (from the set's schedule, {"set": "frequent"}) and its start time.
type StartInput struct {
	Event RunRequest `json:"event"`
	Time  time.Time  `json:"time"`
}

// RunRequest is the input of an ingest execution.
type RunRequest struct {
	Set string `json:"set"`
	// Force runs the set even when its schedule says it is not due (an operator's
	// run by hand).
	Force bool `json:"force,omitempty"`
	// ScheduledTime is the time the schedule meant (Scheduler's
	// <aws.scheduler.scheduled-time>, RFC 3339): the run is planned for it, not for
	// when a retry or a delay started it. Without it, the execution's start time.
	ScheduledTime string `json:"scheduledTime,omitempty"`
}

// Started is what the workflow carries from the start to the finish.
type Started struct {
	Run string `json:"run"`
	Set string `json:"set"`
	Due bool   `json:"due"`
	// Load says the job runs; when false, Reason says why not.
	Load   bool   `json:"load"`
	Reason string `json:"reason,omitempty"`
	// Crawler is the set's crawler, pointed at CrawlerTargets; Crawl says it has any.
	Crawler        string   `json:"crawler,omitempty"`
	Crawl          bool     `json:"crawl"`
	CrawlerTargets []string `json:"crawlerTargets,omitempty"`
	// CrawlPollSeconds and CrawlTimeoutSeconds pace and bound the workflow's wait for
	// the crawl: its grants need the tables the crawl creates, and a crawl that fails
	// must fail the run.
	CrawlPollSeconds    int `json:"crawlPollSeconds,omitempty"`
	CrawlTimeoutSeconds int `json:"crawlTimeoutSeconds,omitempty"`
	// Arguments are the Glue job run's arguments.
	Arguments map[string]string `json:"arguments,omitempty"`
	// Database is the source database; Planned, Skipped and Renamed are the plan's.
	Database string                `json:"database,omitempty"`
	Planned  int                   `json:"planned"`
	Skipped  []ingest.SkippedTable `json:"skipped,omitempty"`
	// Refused are the tables the config names something of that the source does not
	// have: they fail, the finish reports them, and the other tables load.
	Refused []ingest.RefusedTable `json:"refused,omitempty"`
	Renamed map[string]string     `json:"renamed,omitempty"`
	Dropped []string              `json:"dropped,omitempty"`
	// ScheduleChanges are the sets' schedules this run changed to follow the config.
	ScheduleChanges []schedules.Change `json:"scheduleChanges,omitempty"`
	// Current lists the tables whose current table the workflow builds after the
	// load (CurrentBuilder), one Map iteration each: {"run", "table"}.
	Current []CurrentInput `json:"current"`
}

// InputError says the execution's input is not a run request.
type InputError struct{ Reason string }

func (e *InputError) Error() string { return "the run's input is refused: " + e.Reason }

// TablesRefusedError says a due run has nothing to load but tables whose config
// names what the source does not have: the run fails, so that it is notified (a run
// with tables to load reports them in its summary instead). Nothing was changed.
type TablesRefusedError struct {
	Database string
	Tables   []ingest.RefusedTable
}

func (e *TablesRefusedError) Error() string {
	var b strings.Builder
	fmt.Fprintf(&b, "no table of %s loaded: the config names what the source does not have of each of the set's tables:", e.Database)
	for _, t := range e.Tables {
		fmt.Fprintf(&b, " %s (%s);", t.Source, t.Reason)
	}
	return strings.TrimSuffix(b.String(), ";")
}

// LoadConfig reads config/snaplake.yaml from the bucket and returns its ingest
// section; the other capabilities' sections are not this run's, and a mistake there
// does not stop it. A missing file, an ingest section that does not validate, or none
// is a *config.RefusedError naming the file, line and field.
func LoadConfig(ctx context.Context, api s3get.API, bucket string) (*ingest.Config, error) {
	return config.SectionFromS3[ingest.Config](ctx, api, bucket, deploy.SectionIngest)
}

func (s *Starter) log() *slog.Logger {
	if s.Log != nil {
		return s.Log
	}
	return slog.Default()
}

func (s *Starter) store() watermark.Store {
	return watermark.Store{S3: s.S3, Bucket: s.Bucket, KMSKeyID: s.KMSKeyID, Now: s.Now}
}

// Handle is the reconfigure Lambda's handler.
func (s *Starter) Handle(ctx context.Context, in StartInput) (Started, error) {
	out, err := s.Start(ctx, in)
	if err != nil {
		s.log().ErrorContext(ctx, "run refused", "set", in.Event.Set, "error", err)
	}
	return out, awserr.Surface(err)
}

// Start starts a run of set at in.Time. A config that cannot be used fails the run
// with a *config.RefusedError and changes nothing. A table the config names
// something of that the source does not have (an unknown table, column...) fails
// alone: it is in Refused, for the finish to report, and the others load; when
// no other table is left to load, the run fails with a *TablesRefusedError. A run
// that is not due, whose set is still being run, that has nothing to load, or that
// finds no config in the bucket yet returns Load false.
func (s *Starter) Start(ctx context.Context, in StartInput) (Started, error) {
	if in.Event.ScheduledTime != "" {
		at, err := time.Parse(time.RFC3339, in.Event.ScheduledTime)
		if err != nil {
			return Started{}, &InputError{Reason: fmt.Sprintf("scheduledTime %q is not an RFC 3339 time", in.Event.ScheduledTime)}
		}
		in.Time = at
	}
	if in.Time.IsZero() {
		in.Time = time.Now()
	}
	set := in.Event.Set
	if set != ingest.SetDaily && set != ingest.SetFrequent {
		return Started{}, &InputError{Reason: fmt.Sprintf("set %q is not %s or %s", set, ingest.SetDaily, ingest.SetFrequent)}
	}
	run := ingest.RunID(set, in.Time)
	log := s.log().With("run", run, "set", set)
	load := s.Config
	if load == nil {
		load = func(ctx context.Context) (*ingest.Config, error) { return LoadConfig(ctx, s.S3, s.Bucket) }
	}
	c, err := load(ctx)
	var missing *config.MissingError
	if errors.As(err, &missing) {
		// The schedules fire from the deployment on, the config may come days later:
		// until it does, a run has nothing to do, and nothing to alarm about.
		out := Started{Run: run, Set: set, Reason: missing.Name + " is not in the bucket yet: nothing to load until it is uploaded"}
		log.InfoContext(ctx, "no config yet: nothing loaded", "config", missing.Name)
		return out, nil
	}
	if err != nil {
		return Started{}, err
	}
	if err := CheckSource(c, s.Database); err != nil {
		return Started{}, err
	}
	db, err := s.MySQL(ctx)
	if err != nil {
		return Started{}, fmt.Errorf("connect to the source database %s: %w", c.Source.Database, err)
	}
	tables, err := ingest.Discover(ctx, db, c.Source.Database)
	if err != nil {
		return Started{}, err
	}
	st := s.store()
	state, err := st.Load(ctx, c.Source.Database)
	if err != nil {
		return Started{}, err
	}
	plan, err := ingest.PlanRun(*c, set, in.Time, tables, state)
	if err != nil {
		return Started{}, &config.RefusedError{Err: err}
	}
	plan = plan.InBucket(s.Bucket)
	out := Started{Run: run, Set: set, Due: plan.Due, Database: c.Source.Database,
		Skipped: plan.Skipped, Renamed: plan.Renamed, Dropped: plan.Dropped}
	if s.Schedules != nil {
		if out.ScheduleChanges, err = s.syncSchedules(ctx, c); err != nil {
			return Started{}, err
		}
		for _, ch := range out.ScheduleChanges {
			log.InfoContext(ctx, "schedule follows the config", "schedule", ch.Name, "from", ch.FromExpression+" "+ch.FromTimeZone, "to", ch.ToExpression+" "+ch.ToTimeZone)
		}
	}
	if !plan.Due && !in.Event.Force {
		out.Reason = fmt.Sprintf("not due at %s (%s in %s); next run %s", plan.At.Format(time.RFC3339), plan.Schedule.Expression, plan.TimeZone, plan.NextRun.Format(time.RFC3339))
		log.InfoContext(ctx, "set not due: nothing loaded", "reason", out.Reason)
		return out, nil
	}
	// Reported by due runs only: a set that is not due loads nothing either way.
	out.Refused = plan.Refused
	for _, r := range plan.Refused {
		log.ErrorContext(ctx, "table refused: the config names what the source does not have", "table", r.Source, "config", r.Config, "reason", r.Reason)
	}
	ttl := s.LeaseTTL
	if ttl <= 0 {
		ttl = deploy.DefaultLeaseTTL
	}
	if _, err := st.AcquireSet(ctx, c.Source.Database, set, run, ttl); err != nil {
		var held *watermark.HeldError
		if errors.As(err, &held) {
			out.Reason = fmt.Sprintf("the previous run %s of set %s is still running (since %s): this run loads nothing",
				held.Lease.Run, set, held.Lease.Since.Format(time.RFC3339))
			log.WarnContext(ctx, "set busy: nothing loaded", "reason", out.Reason)
			return out, nil
		}
		return Started{}, err
	}

	// Take each table's lease, 16 at a time. A table another run is loading is
	// skipped; one a dead run held is taken over, and what that run wrote (never
	// committed) removed.
	type taken struct {
		held *watermark.HeldError
		err  error
		// changed: the table's watermark is not the one the plan was made from.
		changed bool
	}
	results := make([]taken, len(plan.Tables))
	sem := make(chan struct{}, 16)
	var wg sync.WaitGroup
	for i, t := range plan.Tables {
		wg.Add(1)
		sem <- struct{}{}
		go func() {
			defer wg.Done()
			defer func() { <-sem }()
			expired, err := st.Acquire(ctx, c.Source.Database, t.Source, run, ttl)
			if errors.As(err, &results[i].held) {
				return
			}
			if err == nil && expired != nil {
				log.WarnContext(ctx, "took over the table from a run that died; removing what it wrote", "table", t.Source, "deadRun", expired.Run)
				for _, dead := range []string{t.Destination + ingest.LoadKey + "=" + expired.Run + "/", t.Destination + ingest.GenerationKey + "=" + expired.Run + "/"} {
					if _, derr := deletePrefix(ctx, s.S3, s.Bucket, dead); derr != nil {
						err = derr
						break
					}
				}
			}
			if err == nil {
				// Under the lease the watermark can no longer change; before it, a
				// reset (or another run's commit) may have changed it since the state
				// was read. A plan from a stale watermark would load the wrong rows.
				m, found, merr := st.Mark(ctx, c.Source.Database, t.Source)
				err = merr
				results[i].changed = merr == nil && !sameWatermark(state.Tables[t.Source], m, found)
			}
			results[i].err = err
		}()
	}
	wg.Wait()
	var planned, leased []ingest.PlannedTable
	var errs []error
	for i, t := range plan.Tables {
		switch r := results[i]; {
		case r.changed:
			if err := st.Release(ctx, c.Source.Database, t.Source, run); err != nil {
				errs = append(errs, err)
			}
			out.Skipped = append(out.Skipped, ingest.SkippedTable{Source: t.Source, Lake: t.Lake,
				Reason: "its watermark changed while this run was being planned (a reset, or another run's commit): the next run loads it"})
		case r.held != nil:
			out.Skipped = append(out.Skipped, ingest.SkippedTable{Source: t.Source, Lake: t.Lake,
				Reason: fmt.Sprintf("being loaded by run %s since %s: a table is never loaded by two runs at once", r.held.Lease.Run, r.held.Lease.Since.Format(time.RFC3339))})
		case r.err != nil:
			errs = append(errs, r.err)
			leased = append(leased, t) // it may hold the lease
		default:
			planned = append(planned, t)
			leased = append(leased, t)
		}
	}
	if len(errs) > 0 {
		s.abandon(ctx, log, c.Source.Database, set, run, leased)
		return Started{}, errors.Join(errs...)
	}
	plan.Tables = planned
	plan = plan.InBucket(s.Bucket)
	out.Planned = len(plan.Tables)
	if len(plan.Tables) == 0 && len(out.Refused) > 0 {
		if err := st.ReleaseSet(ctx, c.Source.Database, set, run); err != nil {
			return Started{}, err
		}
		return Started{}, &TablesRefusedError{Database: c.Source.Database, Tables: out.Refused}
	}
	if len(plan.Tables) == 0 {
		out.Reason = "every table of the set is being loaded by another run"
		if err := st.ReleaseSet(ctx, c.Source.Database, set, run); err != nil {
			return Started{}, err
		}
		log.WarnContext(ctx, "nothing to load", "skipped", len(out.Skipped))
		return out, nil
	}

	if len(plan.CrawlerTargets) > 0 && s.Glue != nil {
		out.Crawler, out.Crawl, out.CrawlerTargets = s.Crawler(set), true, plan.CrawlerTargets
		out.CrawlPollSeconds, out.CrawlTimeoutSeconds = seconds(s.CrawlPoll, deploy.DefaultIngestCrawlPoll), seconds(s.CrawlTimeout, deploy.DefaultIngestCrawlTimeout)
		if err := s.pointCrawler(ctx, out.Crawler, plan.CrawlerTargets); err != nil {
			s.abandon(ctx, log, c.Source.Database, set, run, planned)
			return Started{}, err
		}
	}
	// The plan is written only if it does not exist: a run ID is a set and a second,
	// and a second run of a set in the same second must not write the first one's
	// folders.
	job := plan.Job(run, s.Bucket)
	if err := s3obj.PutJSON(ctx, s.S3, s.Bucket, ingest.PlanKey(run), s.KMSKeyID, job, true); err != nil {
		s.abandon(ctx, log, c.Source.Database, set, run, planned)
		if s3obj.PreconditionFailed(err) {
			return Started{}, &InputError{Reason: fmt.Sprintf("run %s has run already (its plan is s3://%s/%s): start runs of a set at least a second apart", run, s.Bucket, ingest.PlanKey(run))}
		}
		return Started{}, err
	}
	out.Load = true
	out.Current = CurrentTables(job)
	out.Arguments = map[string]string{
		ingest.ArgRunID:    run,
		ingest.ArgPlan:     "s3://" + s.Bucket + "/" + ingest.PlanKey(run),
		ingest.ArgJDBCURL:  s.JDBCURL,
		ingest.ArgSecretID: s.SecretID,
	}
	log.InfoContext(ctx, "run started", "database", c.Source.Database, "tables", len(plan.Tables),
		"skipped", len(out.Skipped), "crawlerTargets", len(plan.CrawlerTargets), "renamed", plan.Renamed)
	return out, nil
}

// seconds is d (def when d is not positive) in whole seconds, at least 1: a Wait
// state takes whole seconds.
func seconds(d, def time.Duration) int {
	if d <= 0 {
		d = def
	}
	return max(1, int(d/time.Second))
}

// syncSchedules brings both sets' schedules in line with the config.
func (s *Starter) syncSchedules(ctx context.Context, c *ingest.Config) ([]schedules.Change, error) {
	loc, err := c.Location()
	if err != nil {
		return nil, &config.RefusedError{Err: c.ErrorAt([]string{"timeZone"}, "%v", err)}
	}
	var want []schedules.Want
	for _, name := range []string{ingest.SetDaily, ingest.SetFrequent} {
		set, _ := c.Set(name)
		expr, err := set.ScheduleExpression(loc)
		if err != nil {
			return nil, &config.RefusedError{Err: c.ErrorAt([]string{"sets", name}, "%v", err)}
		}
		want = append(want, schedules.Want{Name: deploy.IngestScheduleName(name), Group: s.ScheduleGroup, Expression: expr, TimeZone: loc.String()})
	}
	changes, err := schedules.Sync(ctx, s.Schedules, want)
	if err != nil {
		return changes, fmt.Errorf("bring the schedules in line with the config: %w", err)
	}
	return changes, nil
}

// abandon releases what a start that failed took.
func (s *Starter) abandon(ctx context.Context, log *slog.Logger, database, set, run string, tables []ingest.PlannedTable) {
	ctx = context.WithoutCancel(ctx)
	st := s.store()
	for _, t := range tables {
		if err := st.Release(ctx, database, t.Source, run); err != nil {
			log.ErrorContext(ctx, "could not release a table's lease: it expires by itself", "table", t.Source, "error", err)
		}
	}
	if err := st.ReleaseSet(ctx, database, set, run); err != nil {
		log.ErrorContext(ctx, "could not release the set's lease: it expires by itself", "error", err)
	}
}

// pointCrawler sets the crawler's include paths to exactly targets.
func (s *Starter) pointCrawler(ctx context.Context, name string, targets []string) error {
	got, err := s.Glue.GetCrawler(ctx, &glue.GetCrawlerInput{Name: aws.String(name)})
	if err != nil {
		return fmt.Errorf("read crawler %s: %w", name, err)
	}
	if _, err := s.Glue.UpdateCrawler(ctx, crawlers.UpdateInput(got.Crawler, targets)); err != nil {
		var running *gluetypes.CrawlerRunningException
		if errors.As(err, &running) {
			// Still crawling the previous run's tables: the workflow retries.
			return &crawlers.CrawlerRunningError{Crawler: name}
		}
		return fmt.Errorf("point crawler %s at %d table folders: %w", name, len(targets), err)
	}
	return nil
}

// deletePrefix deletes every object under prefix (a folder, ending in "/").
func deletePrefix(ctx context.Context, api S3API, bucket, prefix string) (int, error) {
	return s3obj.DeletePrefix(ctx, api, bucket, prefix)
}

// subfolders lists the folders directly below prefix.
func subfolders(ctx context.Context, api S3API, bucket, prefix string) ([]string, error) {
	var out []string
	p := s3.NewListObjectsV2Paginator(api, &s3.ListObjectsV2Input{Bucket: aws.String(bucket), Prefix: aws.String(prefix), Delimiter: aws.String("/")})
	for p.HasMorePages() {
		page, err := p.NextPage(ctx)
		if err != nil {
			return nil, fmt.Errorf("list s3://%s/%s: %w", bucket, prefix, err)
		}
		for _, cp := range page.CommonPrefixes {
			out = append(out, aws.ToString(cp.Prefix))
		}
	}
	return out, nil
}

// sameWatermark says the watermark record (m, found) is the one the plan read.
func sameWatermark(ts ingest.TableState, m watermark.Mark, found bool) bool {
	column, value := "", (*string)(nil)
	if found {
		column, value = m.Column, m.Value
	}
	return strings.EqualFold(ts.Column, column) && (ts.Watermark == nil) == (value == nil) &&
		(value == nil || *ts.Watermark == *value)
}
