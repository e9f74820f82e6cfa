// Package demo runs one night of the snaplake pipeline on this machine: a real
// MariaDB, a real S3 server, the deployed state machine and Lambda code, then a query.
package demo

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/rds"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	s3types "github.com/aws/aws-sdk-go-v2/service/s3/types"
	"github.com/go-sql-driver/mysql"

	"github.com/snaplake/snaplake/events"
	"github.com/snaplake/snaplake/internal/callback"
	"github.com/snaplake/snaplake/internal/export"
	"github.com/snaplake/snaplake/internal/local/glue"
	"github.com/snaplake/snaplake/internal/local/lake"
	"github.com/snaplake/snaplake/internal/local/mariadb"
	"github.com/snaplake/snaplake/internal/local/offline"
	"github.com/snaplake/snaplake/internal/local/rdsexport"
	"github.com/snaplake/snaplake/internal/local/s3server"
	"github.com/snaplake/snaplake/internal/local/stepfunctions"
	"github.com/snaplake/snaplake/internal/local/warehouse"
)

// Fixed names of the offline deployment.
const (
	Bucket     = "snaplake-lake"
	InstanceID = "snaplake-demo"
	Crawler    = offline.CrawlerPrefix + warehouse.Database
)

// DefaultRows is the default size of the sample database.
const DefaultRows = 1_000_000

// Options configure a run.
type Options struct {
	Home        string // state between runs: MariaDB data, S3 data, catalog
	Rows        int    // sample database size when it is created
	Out         io.Writer
	NodeModules string // aws-local-stepfunctions; empty: found by the runner

	// Test hooks.
	FailExport   string // non-empty: this night's export fails with this reason (RDS-EVENT-0159)
	DeliverTwice bool   // the snapshot-created event arrives twice, with two event ids
}

// Report says what a run did.
type Report struct {
	SnapshotID    string
	SnapshotDate  string
	SnapshotARN   string
	SnapshotDB    string           // the MariaDB schema holding the snapshot
	SourceCounts  map[string]int64 // rows per table in the snapshot
	Executions    []stepfunctions.Result
	Notifications []offline.Notification
	ExportsRun    int
	Stages        []Stage
}

// Stage is one timed step of the run.
type Stage struct {
	Name     string
	Detail   string
	Duration time.Duration
}

// HomeInUseError says another demo runs with the same home.
type HomeInUseError struct{ Home string }

func (e *HomeInUseError) Error() string {
	return fmt.Sprintf("another snaplake demo is running with home %s: wait for it to finish, or pass another --home", e.Home)
}

// ExecutionFailedError says the nightly execution did not succeed.
type ExecutionFailedError struct{ Status, Name, Cause string }

func (e *ExecutionFailedError) Error() string {
	return fmt.Sprintf("nightly execution %s: %s: %s", e.Status, e.Name, e.Cause)
}

type state struct {
	LastNight string `json:"lastNight"`         // the last night that ran to its end, YYYY-MM-DD
	Pending   string `json:"pending,omitempty"` // a night that started and never ended (a killed run)
	Nights    int    `json:"nights"`
}

// Run runs one night. Every process it starts is stopped before it returns, also on
// error or when ctx is canceled.
func Run(ctx context.Context, opts Options) (rep Report, err error) {
	if opts.Out == nil {
		opts.Out = io.Discard
	}
	if opts.Rows <= 0 {
		opts.Rows = DefaultRows
	}
	home, err := filepath.Abs(opts.Home)
	if err != nil {
		return rep, fmt.Errorf("resolve home %s: %w", opts.Home, err)
	}
	if err := os.MkdirAll(home, 0o755); err != nil {
		return rep, fmt.Errorf("create home %s: %w", home, err)
	}
	unlock, err := lockHome(home)
	if err != nil {
		return rep, err
	}
	defer unlock()
	logFile, err := os.OpenFile(filepath.Join(home, "demo.log"), os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return rep, fmt.Errorf("open log: %w", err)
	}
	defer logFile.Close()
	log := slog.New(slog.NewJSONHandler(logFile, &slog.HandlerOptions{Level: slog.LevelInfo}))
	// The MySQL driver's own messages (a connection cut by Ctrl-C) go to the log too.
	_ = mysql.SetLogger(mysqlLogger{log})
	p := &printer{out: opts.Out, rep: &rep}
	total := time.Now()
	p.line("snaplake demo: home %s (log: %s)", home, filepath.Join(home, "demo.log"))

	// Servers.
	t := time.Now()
	db, err := mariadb.Start(ctx, filepath.Join(home, "mysql"), log.With("component", "mariadb"))
	if err != nil {
		return rep, fmt.Errorf("start MariaDB: %w", err)
	}
	defer db.Stop()
	p.stage("MariaDB", fmt.Sprintf("127.0.0.1:%d", db.Port), time.Since(t))
	t = time.Now()
	s3srv, err := s3server.StartVersityGW(ctx, filepath.Join(home, "s3"), log.With("component", "versitygw"))
	if err != nil {
		return rep, fmt.Errorf("start the S3 server: %w", err)
	}
	defer s3srv.Stop()
	client := s3srv.Client()
	if err := ensureBucket(ctx, client, Bucket); err != nil {
		return rep, err
	}
	p.stage("S3 server (versitygw)", s3srv.Endpoint+", bucket "+Bucket, time.Since(t))

	pool, err := db.DB("")
	if err != nil {
		return rep, err
	}
	defer pool.Close()

	// The source database and tonight's activity.
	t = time.Now()
	exists, err := warehouse.Exists(ctx, pool)
	if err != nil {
		return rep, err
	}
	if !exists {
		sizes := warehouse.SizesFor(opts.Rows)
		if err := warehouse.Create(ctx, pool, sizes); err != nil {
			return rep, err
		}
		p.stage("sample database "+warehouse.Database, fmt.Sprintf("%s rows created", thousands(int64(sizes.Total()))), time.Since(t))
	}
	st, err := loadState(home)
	if err != nil {
		return rep, err
	}
	night := time.Now().UTC().Truncate(24 * time.Hour)
	switch {
	case st.Pending != "":
		// An earlier run was killed mid-night: remove what it left and run that night again.
		if night, err = time.Parse("2006-01-02", st.Pending); err != nil {
			return rep, fmt.Errorf("read %s: pending %q: %w", filepath.Join(home, "state.json"), st.Pending, err)
		}
		t = time.Now()
		n, err := removeNight(ctx, client, night)
		if err != nil {
			return rep, err
		}
		p.stage("recover unfinished night "+st.Pending, fmt.Sprintf("an earlier run stopped midway: %d partial objects removed, night runs again", n), time.Since(t))
	case st.LastNight != "":
		last, err := time.Parse("2006-01-02", st.LastNight)
		if err != nil {
			return rep, fmt.Errorf("read %s: lastNight %q: %w", filepath.Join(home, "state.json"), st.LastNight, err)
		}
		night = last.AddDate(0, 0, 1)
	}
	st.Pending = night.Format("2006-01-02")
	if err := saveState(home, st); err != nil {
		return rep, err
	}
	// The night has ended, well or not, once its execution has: it is not run again
	// (as in RDS, its export id cannot be reused).
	nightEnded := func() error {
		st.LastNight, st.Pending, st.Nights = st.Pending, "", st.Nights+1
		return saveState(home, st)
	}
	if exists {
		t = time.Now()
		n, err := warehouse.AddDay(ctx, pool, night)
		if err != nil {
			return rep, err
		}
		p.stage("day of activity", fmt.Sprintf("%s new file downloads on %s", thousands(int64(n)), night.Format("2006-01-02")), time.Since(t))
	}

	// The nightly automated snapshot.
	t = time.Now()
	rep.SnapshotDate = night.Format("2006-01-02")
	rep.SnapshotID = fmt.Sprintf("rds:%s-%s-03-00", InstanceID, rep.SnapshotDate)
	rep.SnapshotARN = fmt.Sprintf("arn:aws:rds:%s:%s:snapshot:%s", offline.Region, offline.Account, rep.SnapshotID)
	rep.SnapshotDB = "snap_" + strings.ReplaceAll(rep.SnapshotDate, "-", "") + "_" + warehouse.Database
	if err := dropOldSnapshots(ctx, pool, rep.SnapshotDB); err != nil {
		return rep, err
	}
	if err := warehouse.Snapshot(ctx, pool, warehouse.Database, rep.SnapshotDB); err != nil {
		return rep, err
	}
	if rep.SourceCounts, err = warehouse.Counts(ctx, pool, rep.SnapshotDB); err != nil {
		return rep, err
	}
	p.stage("snapshot "+rep.SnapshotID, fmt.Sprintf("%s rows in %d tables", thousands(sum(rep.SourceCounts)), len(rep.SourceCounts)), time.Since(t))

	// The deployment: stand-ins for RDS export, Glue, SNS and Step Functions around the real code.
	catalog, err := glue.OpenCatalog(filepath.Join(home, "catalog.json"))
	if err != nil {
		return rep, err
	}
	var pipeline *offline.Pipeline
	publish := func(ctx context.Context, ev []byte) error {
		_, err := pipeline.Publish(ctx, ev)
		return err
	}
	snapshots := snapshotResolver{rdsexport.Snapshot{
		ID: rep.SnapshotID, Arn: rep.SnapshotARN, Created: night.Add(3 * time.Hour),
		Databases: map[string]string{warehouse.Database: rep.SnapshotDB},
	}}
	exportPool, err := db.DB("")
	if err != nil {
		return rep, err
	}
	defer exportPool.Close()
	rdsSvc := &rdsexport.Service{
		DB: exportPool, Snapshots: snapshots, S3: client, Publish: publish,
		Progress: p.exportProgress, Log: log.With("component", "rds-export"),
		Account: offline.Account, Region: offline.Region,
	}
	if opts.FailExport != "" {
		rdsSvc.FailNext = func(string) string { return opts.FailExport }
	}
	glueSvc := &glue.Service{
		S3: client, Catalog: catalog, Publish: publish, Log: log.With("component", "glue"),
		Account: offline.Account, Region: offline.Region,
		Crawlers: []glue.Crawler{{Name: Crawler, Database: warehouse.Database, Bucket: Bucket, Prefix: "data/" + warehouse.Database + "/"}},
	}
	counted := &countingRDS{RDS: rdsSvc}
	pipeline, err = offline.New(offline.Config{
		S3: client, Bucket: Bucket, RDS: counted, Glue: glueSvc,
		DBInstanceIDs: []string{InstanceID}, Databases: []string{warehouse.Database}, Retention: 7,
		ExportTimeout: 20 * time.Minute, CrawlTimeout: 10 * time.Minute,
		NodeModules: opts.NodeModules, RetryInterval: 200 * time.Millisecond,
		Log: log, Observe: p.observe,
	})
	if err != nil {
		return rep, err
	}

	// RDS announces the snapshot; the rule starts the state machine.
	p.start = time.Now()
	deliveries := 1
	if opts.DeliverTwice {
		deliveries = 2
	}
	for i := 0; i < deliveries; i++ {
		ev := snapshotCreatedEvent(rep, night, i)
		rules, err := pipeline.Publish(ctx, ev)
		if err != nil {
			return rep, err
		}
		p.line("→ RDS-EVENT-0091 \"Automated snapshot created\" for %s matched rule %v", rep.SnapshotID, rules)
	}
	errs := pipeline.Wait()
	if err := rdsSvc.Wait(ctx); err != nil {
		log.Warn("waiting for exports", "error", err)
	}
	if err := glueSvc.Wait(ctx); err != nil {
		log.Warn("waiting for crawls", "error", err)
	}
	if ctx.Err() != nil {
		// Stopped from here (Ctrl-C), not a failure of the night: it stays pending,
		// and the next run removes its partial output and runs it again.
		return rep, fmt.Errorf("stopped before the night ended (it runs again next time): %w", ctx.Err())
	}
	if len(errs) > 0 {
		return rep, fmt.Errorf("event delivery failed: %w", errors.Join(errs...))
	}
	for _, e := range pipeline.Executions() {
		r, err := e.Wait()
		if err != nil {
			return rep, fmt.Errorf("execution %s: %w", e.ARN(), err)
		}
		rep.Executions = append(rep.Executions, r)
	}
	rep.Notifications = pipeline.Notifications()
	rep.ExportsRun = int(counted.started.Load())
	if err := nightEnded(); err != nil {
		return rep, err
	}
	if err := saveNotifications(home, rep.Notifications); err != nil {
		return rep, err
	}
	var failed *ExecutionFailedError
	for _, r := range rep.Executions {
		p.line("%s execution %s: %s", mark(r.Status == stepfunctions.StatusSucceeded), r.Status, strings.Join(r.States, " → "))
		if r.Status != stepfunctions.StatusSucceeded && failed == nil {
			failed = &ExecutionFailedError{Status: r.Status, Name: r.Error, Cause: r.Cause}
		}
	}
	for _, n := range rep.Notifications {
		p.line("✉ notification %q to %s (saved in %s)", n.Subject, n.TopicArn, filepath.Join(home, "notifications.jsonl"))
	}
	if failed != nil {
		return rep, failed
	}

	// The analyst's view.
	t = time.Now()
	lk := &lake.Lake{Catalog: catalog, Root: filepath.Join(home, "s3")}
	if err := p.analystQuery(ctx, lk); err != nil {
		return rep, err
	}
	p.stage("query", "DuckDB over the lake's Parquet files", time.Since(t))
	p.line("done in %.1fs. Try: snaplake query \"SELECT * FROM warehouse.projects LIMIT 5\"  (run make demo again for the next night)", time.Since(total).Seconds())
	return rep, nil
}

// LatestCountsSQL is the analyst's first query: row counts of the newest snapshot,
// the same SQL in Athena and in snaplake query.
const LatestCountsSQL = `SELECT p.name AS project, count(*) AS downloads, sum(d.bytes) AS bytes
FROM warehouse.file_downloads d
JOIN warehouse.projects p ON p.id = d.project_id AND p.snapshot_date = d.snapshot_date
WHERE d.snapshot_date = (SELECT max(snapshot_date) FROM "warehouse"."file_downloads$partitions")
GROUP BY p.name
ORDER BY downloads DESC, project
LIMIT 5`

func (p *printer) analystQuery(ctx context.Context, lk *lake.Lake) error {
	parts, err := lk.Query(ctx, `SELECT snapshot_date FROM "warehouse"."file_downloads$partitions" ORDER BY snapshot_date`)
	if err != nil {
		return fmt.Errorf("list partitions: %w", err)
	}
	var dates []string
	for _, r := range parts.Rows {
		dates = append(dates, fmt.Sprint(r[0]))
	}
	p.line("snapshot_date partitions of warehouse.file_downloads: %s", strings.Join(dates, ", "))
	p.line("\nAnalyst query (the same SQL runs in Athena):\n%s\n", LatestCountsSQL)
	res, err := lk.Query(ctx, LatestCountsSQL)
	if err != nil {
		return fmt.Errorf("analyst query: %w", err)
	}
	if err := lake.Format(p.out, res, "table"); err != nil {
		return err
	}
	fmt.Fprintln(p.out)
	return nil
}

type mysqlLogger struct{ log *slog.Logger }

func (l mysqlLogger) Print(v ...any) { l.log.Warn("mysql driver", "message", fmt.Sprint(v...)) }

// countingRDS counts the exports that really started.
type countingRDS struct {
	export.RDS
	started atomic.Int32
}

func (c *countingRDS) StartExportTask(ctx context.Context, in *rds.StartExportTaskInput, optFns ...func(*rds.Options)) (*rds.StartExportTaskOutput, error) {
	out, err := c.RDS.StartExportTask(ctx, in, optFns...)
	if err == nil {
		c.started.Add(1)
	}
	return out, err
}

type snapshotResolver struct{ snap rdsexport.Snapshot }

func (r snapshotResolver) ResolveSnapshot(_ context.Context, arn string) (rdsexport.Snapshot, error) {
	if arn != r.snap.Arn {
		return rdsexport.Snapshot{}, fmt.Errorf("snapshot %s not found (this run took %s)", arn, r.snap.Arn)
	}
	return r.snap, nil
}

func snapshotCreatedEvent(rep Report, night time.Time, n int) []byte {
	ev := events.NewRDSSnapshotEvent(fmt.Sprintf("snaplake-demo-%s-%d", rep.SnapshotDate, n), offline.Account, offline.Region,
		night.Add(3*time.Hour+2*time.Minute), events.RDSSnapshotDetail{
			EventCategories:  []string{"creation"},
			SourceArn:        rep.SnapshotARN,
			SourceIdentifier: rep.SnapshotID,
			Message:          "Automated snapshot created",
			EventID:          events.EventAutomatedSnapshotCreated,
		})
	b, _ := json.Marshal(ev)
	return b
}

// printer shows progress: a line per stage with its duration.
type printer struct {
	out   io.Writer
	rep   *Report
	start time.Time

	mu          sync.Mutex
	exportStart time.Time
	crawlStart  map[string]time.Time // by execution
	lastTables  int
}

func (p *printer) line(format string, args ...any) {
	p.mu.Lock()
	defer p.mu.Unlock()
	fmt.Fprintf(p.out, format+"\n", args...)
}

func (p *printer) stage(name, detail string, d time.Duration) {
	p.mu.Lock()
	p.rep.Stages = append(p.rep.Stages, Stage{Name: name, Detail: detail, Duration: d})
	p.mu.Unlock()
	p.line("✓ %-44s %7.2fs  %s", name, d.Seconds(), detail)
}

func (p *printer) exportProgress(exportID string, tablesDone, tablesTotal int, rowsDone int64) {
	p.mu.Lock()
	if tablesDone == p.lastTables && tablesDone != 0 {
		p.mu.Unlock()
		return
	}
	p.lastTables = tablesDone
	p.mu.Unlock()
	const width = 20
	filled := 0
	if tablesTotal > 0 {
		filled = width * tablesDone / tablesTotal
	}
	p.line("  export %s [%s%s] %d/%d tables, %s rows", exportID, strings.Repeat("#", filled), strings.Repeat(".", width-filled), tablesDone, tablesTotal, thousands(rowsDone))
}

func (p *printer) observe(o offline.Observation) {
	switch o.Kind {
	case "task-start":
		if o.State == "Crawl" {
			p.mu.Lock()
			if p.crawlStart == nil {
				p.crawlStart = map[string]time.Time{}
			}
			p.crawlStart[o.Execution] = time.Now()
			p.mu.Unlock()
		}
	case "execution-started":
		p.line("→ state machine execution started: %s", o.Execution)
	case "task-end":
		switch o.State {
		case "StartExport":
			var r struct{ ExportID, Action string }
			_ = json.Unmarshal(o.Output, &r)
			if o.Err == nil {
				p.mu.Lock()
				p.exportStart = time.Now()
				p.mu.Unlock()
				p.line("→ StartExport: export %s (%s)", r.ExportID, r.Action)
			}
		case "Relocate":
			var r struct {
				Moved   int     `json:"moved"`
				Skipped int     `json:"skipped"`
				Bytes   int64   `json:"bytes"`
				Seconds float64 `json:"seconds"`
			}
			if o.Err == nil && json.Unmarshal(o.Output, &r) == nil {
				p.stage("relocate", fmt.Sprintf("%d files (%.1f MB) to data/<db>/<table>/snapshot_date=%s/, %d metadata files left in exports/", r.Moved, float64(r.Bytes)/1e6, p.rep.SnapshotDate, r.Skipped), o.Duration)
			}
		}
	case "resumed":
		switch {
		case o.Resume.Kind == callback.KindExport && o.Resume.Outcome == callback.OutcomeSucceeded:
			p.mu.Lock()
			d := time.Since(p.exportStart)
			p.mu.Unlock()
			p.stage("export (Parquet to S3, RDS layout)", "RDS-EVENT-0161 → resume → execution continues", d)
		case o.Resume.Kind == callback.KindCrawl && o.Resume.Outcome == callback.OutcomeSucceeded:
			p.mu.Lock()
			d := time.Since(p.crawlStart[o.Resume.Execution])
			p.mu.Unlock()
			p.stage("crawl "+o.Resume.Key, "Glue Crawler State Change: Succeeded → resume", d)
		case o.Resume.Outcome == callback.OutcomeFailed:
			p.line("✗ %s %s failed → the execution is told", o.Resume.Kind, o.Resume.Key)
		}
	case "execution-ended":
		if o.Result != nil {
			p.stage("state machine execution", o.Result.Status, time.Since(p.start))
		}
	}
}

func mark(ok bool) string {
	if ok {
		return "✓"
	}
	return "✗"
}

func sum(m map[string]int64) int64 {
	var n int64
	for _, v := range m {
		n += v
	}
	return n
}

func thousands(n int64) string {
	s := fmt.Sprint(n)
	var b strings.Builder
	for i, c := range s {
		if i > 0 && (len(s)-i)%3 == 0 && c != '-' {
			b.WriteByte(',')
		}
		b.WriteRune(c)
	}
	return b.String()
}

func ensureBucket(ctx context.Context, client *s3.Client, bucket string) error {
	_, err := client.CreateBucket(ctx, &s3.CreateBucketInput{Bucket: aws.String(bucket)})
	var owned *s3types.BucketAlreadyOwnedByYou
	var exists *s3types.BucketAlreadyExists
	if err == nil || errors.As(err, &owned) || errors.As(err, &exists) {
		return nil
	}
	if _, herr := client.HeadBucket(ctx, &s3.HeadBucketInput{Bucket: aws.String(bucket)}); herr == nil {
		return nil
	}
	return fmt.Errorf("create bucket %s: %w", bucket, err)
}

// dropOldSnapshots removes earlier nights' snapshot schemas: like RDS automated
// snapshots, only the newest is kept once a new one is taken.
func dropOldSnapshots(ctx context.Context, db *sql.DB, keep string) error {
	rows, err := db.QueryContext(ctx, `SELECT SCHEMA_NAME FROM information_schema.SCHEMATA WHERE SCHEMA_NAME LIKE 'snap\_%'`)
	if err != nil {
		return fmt.Errorf("list snapshot schemas: %w", err)
	}
	var old []string
	for rows.Next() {
		var s string
		if err := rows.Scan(&s); err != nil {
			rows.Close()
			return fmt.Errorf("list snapshot schemas: %w", err)
		}
		if s != keep {
			old = append(old, s)
		}
	}
	rows.Close()
	sort.Strings(old)
	for _, s := range old {
		if err := warehouse.DropSchema(ctx, db, s); err != nil {
			return err
		}
	}
	return nil
}

// removeNight deletes what a killed run left of one night in the lake: the export
// folder, the night's partitions and its task tokens.
func removeNight(ctx context.Context, client *s3.Client, night time.Time) (int, error) {
	date := night.Format("2006-01-02")
	exportID := InstanceID + "-" + date + "-03-00"
	var keys []s3types.ObjectIdentifier
	for _, prefix := range []string{"exports/" + exportID + "/", "data/", "callbacks/"} {
		pg := s3.NewListObjectsV2Paginator(client, &s3.ListObjectsV2Input{Bucket: aws.String(Bucket), Prefix: aws.String(prefix)})
		for pg.HasMorePages() {
			page, err := pg.NextPage(ctx)
			if err != nil {
				return 0, fmt.Errorf("list s3://%s/%s: %w", Bucket, prefix, err)
			}
			for _, o := range page.Contents {
				k := aws.ToString(o.Key)
				if prefix == "data/" && !strings.Contains(k, "/snapshot_date="+date+"/") {
					continue
				}
				keys = append(keys, s3types.ObjectIdentifier{Key: o.Key})
			}
		}
	}
	total := len(keys)
	for len(keys) > 0 {
		n := min(len(keys), 1000)
		out, err := client.DeleteObjects(ctx, &s3.DeleteObjectsInput{Bucket: aws.String(Bucket), Delete: &s3types.Delete{Objects: keys[:n], Quiet: aws.Bool(true)}})
		if err != nil {
			return 0, fmt.Errorf("remove the unfinished night %s: %w", date, err)
		}
		if len(out.Errors) > 0 {
			return 0, fmt.Errorf("remove the unfinished night %s: %s: %s", date, aws.ToString(out.Errors[0].Key), aws.ToString(out.Errors[0].Message))
		}
		keys = keys[n:]
	}
	return total, nil
}

func loadState(home string) (state, error) {
	var st state
	b, err := os.ReadFile(filepath.Join(home, "state.json"))
	if errors.Is(err, os.ErrNotExist) {
		return st, nil
	}
	if err != nil {
		return st, fmt.Errorf("read demo state: %w", err)
	}
	if err := json.Unmarshal(b, &st); err != nil {
		return st, fmt.Errorf("read %s: %w (delete the file to start the nights over)", filepath.Join(home, "state.json"), err)
	}
	return st, nil
}

func saveState(home string, st state) error {
	b, _ := json.MarshalIndent(st, "", "  ")
	tmp := filepath.Join(home, "state.json.tmp")
	if err := os.WriteFile(tmp, b, 0o644); err != nil {
		return fmt.Errorf("save demo state: %w", err)
	}
	return os.Rename(tmp, filepath.Join(home, "state.json"))
}

func saveNotifications(home string, ns []offline.Notification) error {
	if len(ns) == 0 {
		return nil
	}
	f, err := os.OpenFile(filepath.Join(home, "notifications.jsonl"), os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return fmt.Errorf("save notifications: %w", err)
	}
	defer f.Close()
	enc := json.NewEncoder(f)
	for _, n := range ns {
		if err := enc.Encode(n); err != nil {
			return fmt.Errorf("save notifications: %w", err)
		}
	}
	return nil
}

// lockHome takes an exclusive lock on home for this process's lifetime; the kernel
// releases it if the process dies, so a crashed run never blocks the next.
func lockHome(home string) (func(), error) {
	path := filepath.Join(home, "lock")
	f, err := os.OpenFile(path, os.O_CREATE|os.O_RDWR, 0o644)
	if err != nil {
		return nil, fmt.Errorf("open lock %s: %w", path, err)
	}
	if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB); err != nil {
		f.Close()
		return nil, &HomeInUseError{Home: home}
	}
	_ = f.Truncate(0)
	fmt.Fprintf(f, "%d\n", os.Getpid())
	return func() {
		_ = syscall.Flock(int(f.Fd()), syscall.LOCK_UN)
		f.Close()
	}, nil
}
