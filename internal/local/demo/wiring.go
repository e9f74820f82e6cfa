package demo

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"path/filepath"
	"sync/atomic"
	"time"

	"github.com/aws/aws-sdk-go-v2/service/rds"

	"github.com/snaplake/snaplake/events"
	"github.com/snaplake/snaplake/internal/export"
	"github.com/snaplake/snaplake/internal/local/glue"
	"github.com/snaplake/snaplake/internal/local/offline"
	"github.com/snaplake/snaplake/internal/local/rdsexport"
	"github.com/snaplake/snaplake/internal/local/warehouse"
)

// deployment is the offline pipeline around the real code, with its stand-ins for RDS
// export, Glue, SNS and Step Functions.
type deployment struct {
	pipeline   *offline.Pipeline
	rds        *rdsexport.Service
	glue       *glue.Service
	counted    *countingRDS
	catalog    *glue.Catalog
	exportPool *sql.DB
}

// deploy builds the deployment for tonight's snapshot.
func deploy(home string, opts Options, srv *servers, log *slog.Logger, p *printer, rep Report, night time.Time) (_ *deployment, err error) {
	d := &deployment{}
	if d.catalog, err = glue.OpenCatalog(filepath.Join(home, "catalog.json")); err != nil {
		return nil, err
	}
	publish := func(ctx context.Context, ev []byte) error {
		_, err := d.pipeline.Publish(ctx, ev)
		return err
	}
	snapshots := snapshotResolver{rdsexport.Snapshot{
		ID: rep.SnapshotID, Arn: rep.SnapshotARN, Created: night.Add(3 * time.Hour),
		Databases: map[string]string{warehouse.Database: rep.SnapshotDB},
	}}
	if d.exportPool, err = srv.db.DB(""); err != nil {
		return nil, err
	}
	d.rds = &rdsexport.Service{
		DB: d.exportPool, Snapshots: snapshots, S3: srv.client, Publish: publish,
		Progress: p.exportProgress, Log: log.With("component", "rds-export"),
		Account: offline.Account, Region: offline.Region,
	}
	if opts.FailExport != "" {
		d.rds.FailNext = func(string) string { return opts.FailExport }
	}
	d.glue = &glue.Service{
		S3: srv.client, Catalog: d.catalog, Publish: publish, Log: log.With("component", "glue"),
		Account: offline.Account, Region: offline.Region,
		Crawlers: []glue.Crawler{{Name: Crawler, Database: warehouse.Database, Bucket: Bucket, Prefix: "data/" + warehouse.Database + "/"}},
	}
	d.counted = &countingRDS{RDS: d.rds}
	d.pipeline, err = offline.New(offline.Config{
		S3: srv.client, Bucket: Bucket, RDS: d.counted, Glue: d.glue,
		DBInstanceIDs: []string{InstanceID}, Databases: []string{warehouse.Database}, Retention: 7,
		ExportTimeout: 20 * time.Minute, CrawlTimeout: 10 * time.Minute,
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
		ev := snapshotCreatedEvent(rep, night, i)
		rules, err := d.pipeline.Publish(ctx, ev)
		if err != nil {
			return err
		}
		p.line("→ RDS-EVENT-0091 \"Automated snapshot created\" for %s matched rule %v", rep.SnapshotID, rules)
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
	rep.ExportsRun = int(d.counted.started.Load())
	return nil
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
