package demo

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync/atomic"
	"time"

	"github.com/aws/aws-sdk-go-v2/service/rds"

	"github.com/snaplake/snaplake/events"
	"github.com/snaplake/snaplake/internal/deploy"
	"github.com/snaplake/snaplake/internal/export"
	"github.com/snaplake/snaplake/internal/local/contract"
	"github.com/snaplake/snaplake/internal/local/glue"
	"github.com/snaplake/snaplake/internal/local/offline"
	"github.com/snaplake/snaplake/internal/local/rdsexport"
)

// deployment is the offline pipeline around the real code, with its stand-ins for RDS
// export, Glue, SNS and Step Functions.
type deployment struct {
	c          *contract.Contract
	home       string
	account    *offline.Account
	pipeline   *offline.Pipeline
	rds        *rdsexport.Service
	glue       *glue.Service
	counted    *countingRDS
	catalog    *glue.Catalog
	exportPool *sql.DB
	// crawlers are the crawlers Glue had when the night began.
	crawlers []string
}

// deploy builds the deployment for tonight's snapshot.
func deployNight(home string, opts Options, srv *servers, log *slog.Logger, p *printer, rep Report, night time.Time) (_ *deployment, err error) {
	c := opts.contract()
	d := &deployment{c: c, home: home}
	if d.catalog, err = glue.OpenCatalog(filepath.Join(home, "catalog.json")); err != nil {
		return nil, err
	}
	publish := func(ctx context.Context, ev []byte) error {
		_, err := d.pipeline.Publish(ctx, ev)
		return err
	}
	snapshots := snapshotResolver{rdsexport.Snapshot{
		ID: rep.SnapshotID, Arn: rep.SnapshotARN, Created: night.Add(3 * time.Hour),
		Databases: rep.SnapshotSchemas,
	}}
	if d.exportPool, err = srv.db.DB(""); err != nil {
		return nil, err
	}
	// Every call below is authorized as the role that makes it: RDS writes the export
	// as the export role, the crawler reads as the crawler role, each function as its own.
	if d.account, err = offline.NewAccount(srv.s3, offline.AccountOptions{Contract: c, Log: log}); err != nil {
		d.close()
		return nil, err
	}
	d.rds = &rdsexport.Service{
		DB: d.exportPool, Snapshots: snapshots, S3: d.account.S3(deploy.RoleExport), Publish: publish,
		Progress: p.exportProgress, Log: log.With("component", "rds-export"),
		Account: c.Account, Region: c.Region,
	}
	if opts.FailExport != "" {
		d.rds.FailNext = func(string) string { return opts.FailExport }
	}
	var crawlers []glue.Crawler
	for _, cr := range c.Crawlers {
		// No include paths yet: the crawl wait sets one per table folder before each run.
		crawlers = append(crawlers, glue.Crawler{Name: cr.Name, Role: cr.RoleArn, Database: cr.Database, Configuration: cr.Configuration,
			SchemaChangePolicy: glue.SchemaChangePolicyOf(cr.DeleteBehavior, cr.UpdateBehavior)})
	}
	// And those earlier nights created, which Glue keeps.
	created, err := loadCreatedCrawlers(home)
	if err != nil {
		d.close()
		return nil, err
	}
	for _, cr := range created {
		if !slices.ContainsFunc(crawlers, func(k glue.Crawler) bool { return k.Name == cr.Name }) {
			crawlers = append(crawlers, cr)
		}
	}
	for _, cr := range crawlers {
		d.crawlers = append(d.crawlers, cr.Name)
	}
	d.glue = &glue.Service{
		S3: d.account.S3(deploy.RoleCrawler), Catalog: d.catalog, Publish: publish, Log: log.With("component", "glue"),
		Account: c.Account, Region: c.Region, Crawlers: crawlers,
	}
	// The stack's Glue databases exist from the deploy on, as CloudFormation creates them.
	if err := offline.CreateDatabases(c, d.catalog); err != nil {
		d.close()
		return nil, err
	}
	d.counted = &countingRDS{RDS: d.rds}
	d.pipeline, err = offline.New(offline.Config{
		Account: d.account, RDS: d.counted, Glue: d.glue, Catalog: d.glue,
		// A lost completion event is found within 30 s rather than the deployed 15 min.
		Timing:      offline.Timing{ExportTimeout: 20 * time.Minute, ExportRecheck: 30 * time.Second, CrawlTimeout: 10 * time.Minute},
		NodeModules: opts.NodeModules, RetryInterval: 200 * time.Millisecond,
		Log: log, Observe: p.observe,
	})
	if err != nil {
		d.close()
		return nil, err
	}
	return d, nil
}

func (d *deployment) close() {
	if d.account != nil {
		d.account.Close()
	}
	if d.exportPool != nil {
		d.exportPool.Close()
	}
}

// announce publishes RDS's snapshot-created event (twice with twice set); the rule
// starts the state machine.
func (d *deployment) announce(ctx context.Context, rep Report, night time.Time, twice bool, p *printer) error {
	p.start = time.Now()
	deliveries := 1
	if twice {
		deliveries = 2
	}
	for i := 0; i < deliveries; i++ {
		ev := snapshotCreatedEvent(d.c, rep, night, i)
		rules, err := d.pipeline.Publish(ctx, ev)
		if err != nil {
			return err
		}
		id, message, _ := createdEvent(rep)
		p.line("→ %s %q for %s matched rule %v", id, strings.TrimSuffix(message, "."), rep.SnapshotID, rules)
	}
	return nil
}

// wait waits for the executions, exports and crawls to end and records them in rep.
func (d *deployment) wait(ctx context.Context, rep *Report, log *slog.Logger) error {
	errs := d.pipeline.Wait()
	if err := d.rds.Wait(ctx); err != nil {
		log.Warn("waiting for exports", "error", err)
	}
	if err := d.glue.Wait(ctx); err != nil {
		log.Warn("waiting for crawls", "error", err)
	}
	if ctx.Err() != nil {
		// Stopped from here (Ctrl-C), not a failure of the night: it stays pending,
		// and the next run removes its partial output and runs it again.
		return fmt.Errorf("stopped before the night ended (it runs again next time): %w", ctx.Err())
	}
	if len(errs) > 0 {
		return fmt.Errorf("event delivery failed: %w", errors.Join(errs...))
	}
	for _, e := range d.pipeline.Executions() {
		r, err := e.Wait()
		if err != nil {
			return fmt.Errorf("execution %s: %w", e.ARN(), err)
		}
		rep.Executions = append(rep.Executions, r)
	}
	rep.Notifications = d.pipeline.Notifications()
	rep.Allowed = d.account.IAM.Allowed()
	rep.Denied = d.account.IAM.Denied()
	rep.ExportsRun = int(d.counted.started.Load())
	var created []glue.Crawler
	for _, cr := range d.glue.Crawlers {
		if !slices.ContainsFunc(d.c.Crawlers, func(k contract.Crawler) bool { return k.Name == cr.Name }) {
			created = append(created, cr)
		}
		if !slices.Contains(d.crawlers, cr.Name) {
			rep.CreatedCrawlers = append(rep.CreatedCrawlers, cr.Name)
		}
	}
	return saveCreatedCrawlers(d.home, created)
}

// createdCrawlersFile keeps, in the demo's home, the crawlers the nights created
// (the crawl wait creates one for a database the stack was not deployed with): Glue
// keeps them between nights, as catalog.json keeps its databases and tables.
const createdCrawlersFile = "crawlers.json"

func loadCreatedCrawlers(home string) ([]glue.Crawler, error) {
	var crs []glue.Crawler
	path := filepath.Join(home, createdCrawlersFile)
	b, err := os.ReadFile(path)
	if errors.Is(err, os.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("read the created crawlers: %w", err)
	}
	if err := json.Unmarshal(b, &crs); err != nil {
		return nil, fmt.Errorf("read %s: %w (delete the file to forget the crawlers the nights created)", path, err)
	}
	return crs, nil
}

func saveCreatedCrawlers(home string, crs []glue.Crawler) error {
	if len(crs) == 0 {
		return nil
	}
	b, err := json.MarshalIndent(crs, "", "  ")
	if err != nil {
		return fmt.Errorf("save the created crawlers: %w", err)
	}
	tmp := filepath.Join(home, createdCrawlersFile+".tmp")
	if err := os.WriteFile(tmp, b, 0o644); err != nil {
		return fmt.Errorf("save the created crawlers: %w", err)
	}
	return os.Rename(tmp, filepath.Join(home, createdCrawlersFile))
}

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

// createdEvent is the event id, message and category RDS announces the night's
// snapshot with: an instance's automated snapshot, or an Aurora cluster's (RDS UG,
// Amazon RDS event categories and event messages).
func createdEvent(rep Report) (id, message, category string) {
	if strings.Contains(rep.SnapshotARN, ":cluster-snapshot:") {
		return events.EventAutomatedClusterSnapshotCreated, "Automated cluster snapshot created.", "backup"
	}
	return events.EventAutomatedSnapshotCreated, "Automated snapshot created.", "creation"
}

func snapshotCreatedEvent(c *contract.Contract, rep Report, night time.Time, n int) []byte {
	id, message, category := createdEvent(rep)
	ev := events.NewRDSSnapshotEvent(fmt.Sprintf("snaplake-demo-%s-%d", rep.SnapshotDate, n), c.Account, c.Region,
		night.Add(3*time.Hour+2*time.Minute), events.RDSSnapshotDetail{
			EventCategories:  []string{category},
			SourceArn:        rep.SnapshotARN,
			SourceIdentifier: rep.SnapshotID,
			Message:          message,
			EventID:          id,
		})
	b, _ := json.Marshal(ev)
	return b
}
