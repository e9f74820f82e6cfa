package demo

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"github.com/snaplake/snaplake/events"
	"github.com/snaplake/snaplake/internal/deploy"
	"github.com/snaplake/snaplake/internal/export/callback"
	"github.com/snaplake/snaplake/internal/local/contract"
	"github.com/snaplake/snaplake/internal/local/glue"
	"github.com/snaplake/snaplake/internal/local/iam"
	"github.com/snaplake/snaplake/internal/local/lake"
	"github.com/snaplake/snaplake/internal/local/offline"
	"github.com/snaplake/snaplake/internal/local/sampledb"
	"github.com/snaplake/snaplake/internal/local/stepfunctions"
)

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
			completed := events.EventExportCompleted
			if strings.Contains(p.rep.SnapshotARN, ":cluster-snapshot:") {
				completed = events.EventClusterExportCompleted // an Aurora cluster snapshot's export
			}
			p.stage("export (Parquet to S3, RDS layout)", completed+" → resume → execution continues", d)
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

// outcome prints each execution's states and each notification sent.
func (p *printer) outcome(rep Report, home string) {
	for _, r := range rep.Executions {
		p.line("%s execution %s: %s", mark(r.Status == stepfunctions.StatusSucceeded), r.Status, strings.Join(r.States, " → "))
	}
	for _, cr := range rep.CreatedCrawlers {
		p.line("✓ crawler %s created with its Glue databases: a database the stack was not deployed with, cataloged at runtime", cr)
	}
	for _, n := range rep.Notifications {
		p.line("✉ notification %q to %s (saved in %s)", n.Subject, n.TopicArn, filepath.Join(home, "notifications.jsonl"))
	}
}

// firstFailure is the first execution that did not succeed, or nil.
func firstFailure(rs []stepfunctions.Result) *ExecutionFailedError {
	for _, r := range rs {
		if r.Status != stepfunctions.StatusSucceeded {
			return &ExecutionFailedError{Status: r.Status, Name: r.Error, Cause: r.Cause}
		}
	}
	return nil
}

// analyst shows the analyst's view: DuckDB over the lake's Parquet files. glueDB is
// the sample database's Glue database.
func (p *printer) analyst(ctx context.Context, catalog *glue.Catalog, home, glueDB string) error {
	t := time.Now()
	lk := &lake.Lake{Catalog: catalog, Root: filepath.Join(home, "s3")}
	if err := p.analystQuery(ctx, lk, glueDB); err != nil {
		return err
	}
	p.stage("query", "DuckDB over the lake's Parquet files", time.Since(t))
	return nil
}

// LatestCountsSQL is the analyst's first query: row counts of the newest snapshot,
// the same SQL in Athena and in snaplake query. The _latest tables hold the newest
// night of each table, so it needs no snapshot_date filter.
const LatestCountsSQL = `SELECT p.name AS project, count(*) AS downloads, sum(d.bytes) AS bytes
FROM warehouse_latest.file_downloads d
JOIN warehouse_latest.projects p ON p.id = d.project_id
GROUP BY p.name
ORDER BY downloads DESC, project
LIMIT 5`

// sampleGlueDatabase is the Glue database c catalogs the sample database in: its
// name, or with the stack's Glue database prefix.
func sampleGlueDatabase(c *contract.Contract) string {
	return deploy.GlueDatabaseName(c.Functions[deploy.FnAwaitCallback].Environment[deploy.EnvGlueDatabasePrefix], sampledb.Database)
}

func (p *printer) analystQuery(ctx context.Context, lk *lake.Lake, glueDB string) error {
	parts, err := lk.Query(ctx, fmt.Sprintf(`SELECT snapshot_date FROM "%s"."file_downloads$partitions" ORDER BY snapshot_date`, glueDB))
	if err != nil {
		return fmt.Errorf("list partitions: %w", err)
	}
	var dates []string
	for _, r := range parts.Rows {
		dates = append(dates, fmt.Sprint(r[0]))
	}
	p.line("snapshot_date partitions of %s.file_downloads: %s", glueDB, strings.Join(dates, ", "))
	query := strings.ReplaceAll(LatestCountsSQL, deploy.LatestDatabaseName(sampledb.Database)+".", deploy.LatestDatabaseName(glueDB)+".")
	p.line("\nAnalyst query (the same SQL runs in Athena):\n%s\n", query)
	res, err := lk.Query(ctx, query)
	if err != nil {
		return fmt.Errorf("analyst query: %w", err)
	}
	if err := lake.Format(p.out, res, "table"); err != nil {
		return err
	}
	fmt.Fprintln(p.out)
	return nil
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

// permissions says that every call ran as its role, and what was refused: a policy
// the night needed and the stack lacks.
func (p *printer) permissions(rep Report, denied []iam.Grant) {
	roles := map[string]bool{}
	for _, g := range rep.Allowed {
		roles[g.Principal] = true
	}
	var refused []string
	for _, g := range denied {
		refused = append(refused, g.Principal+" "+g.Action+" "+g.Resource)
	}
	detail := fmt.Sprintf("%d distinct calls allowed to %d roles by their synthesized policies", len(rep.Allowed), len(roles))
	if len(refused) > 0 {
		detail += "; DENIED: " + strings.Join(refused, ", ")
	}
	p.line("%s %-44s %9s%s", mark(len(refused) == 0), "IAM (each role's policy enforced)", "", detail)
}
