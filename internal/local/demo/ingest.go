package demo

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/snaplake/snaplake/internal/config"
	"github.com/snaplake/snaplake/internal/deploy"
	"github.com/snaplake/snaplake/internal/ingest"
	ingestrun "github.com/snaplake/snaplake/internal/ingest/run"
	"github.com/snaplake/snaplake/internal/local/glue"
	"github.com/snaplake/snaplake/internal/local/iam"
	"github.com/snaplake/snaplake/internal/local/lake"
	lflocal "github.com/snaplake/snaplake/internal/local/lakeformation"
	"github.com/snaplake/snaplake/internal/local/offline"
	"github.com/snaplake/snaplake/internal/local/sampledb"
	"github.com/snaplake/snaplake/internal/local/stepfunctions"
)

// IngestConfigFile is the demo's snaplake.yaml, in the home; the demo uploads it to
// the bucket's config/snaplake.yaml as an operator would. Edit it and run the demo
// again: the next runs follow it (schedules, tables, grants).
const IngestConfigFile = "snaplake.yaml"

// LakeFormationFile is the offline Lake Formation's state in the home: the grants
// the applygrants function made, which `snaplake query --as` enforces.
const LakeFormationFile = "lakeformation.json"

// demoIngestConfig is the config the demo starts with.
const demoIngestConfig = `# The demo's config-driven ingestion (snaplake demo ingest). Edit and run again.
ingest:
  source:
    instance: snaplake-demo
    database: warehouse
  timeZone: Europe/Berlin
  sets:
    daily:
      at: "02:00"
      tables: [all]
    frequent:
      every: 15m
      between: "08:00-18:00"
      days: [MON, TUE, WED, THU, FRI]
      tables: [file_downloads]
  tables:
    file_downloads:
      mode: incremental
      column: id            # ids only grow
    files:
      mode: incremental
      column: id
  defaults:
    mode: full              # projects and users change in place: reloaded whole
  access:
    - role: analytics
      tables: ["*"]
    - role: support
      tables: [users, projects]
      columns:
        users: [id, user_name, created_on]
`

// IngestReport says what a demo ingest did.
type IngestReport struct {
	Day        string
	Executions []stepfunctions.Result
	Summaries  []ingestrun.Summary
	Allowed    []iam.Grant
	Stages     []Stage
}

// ingestState is which day the next demo ingest plays.
type ingestState struct {
	Day string `json:"day"`
}

// RunIngest runs the config-driven ingestion against the home of the nightly demo:
// the Scheduler's clock plays one workday, firing the daily set at 02:00 and the
// frequent set at 09:15 (Europe/Berlin); between them a morning's downloads arrive.
// Then it shows the grants at work with a role-limited query.
func RunIngest(ctx context.Context, opts Options) (rep IngestReport, err error) {
	s, err := openSession(&opts, "snaplake demo ingest", &Report{})
	if err != nil {
		return rep, err
	}
	defer s.close()
	home, log, p, total := s.home, s.log, s.p, s.start
	defer func() { rep.Stages = p.rep.Stages }()
	srv, err := startWarehouse(ctx, home, opts.Rows, log, p)
	if err != nil {
		return rep, err
	}
	defer srv.stop()

	// The operator's config, uploaded where the functions read it.
	t := time.Now()
	cfgPath := filepath.Join(home, IngestConfigFile)
	if _, err := os.Stat(cfgPath); errors.Is(err, os.ErrNotExist) {
		if err := os.WriteFile(cfgPath, []byte(demoIngestConfig), 0o644); err != nil {
			return rep, err
		}
	}
	data, err := os.ReadFile(cfgPath)
	if err != nil {
		return rep, err
	}
	if _, err := config.ParseSection[ingest.Config](cfgPath, data, deploy.SectionIngest); err != nil {
		return rep, err // names the line: nothing is uploaded
	}
	if err := srv.uploadConfig(ctx, data); err != nil {
		return rep, err
	}
	p.stage("config", cfgPath+" → s3://"+lakeBucket()+"/"+config.S3Key, time.Since(t))

	day, err := nextIngestDay(home)
	if err != nil {
		return rep, err
	}
	rep.Day = day.Format("2006-01-02 (Mon)")

	acct, err := offline.NewAccount(srv.s3, offline.AccountOptions{Contract: deployed(), Log: log})
	if err != nil {
		return rep, err
	}
	defer acct.Close()
	catalog, err := glue.OpenCatalog(filepath.Join(home, "catalog.json"))
	if err != nil {
		return rep, err
	}
	lf, err := lflocal.Open(filepath.Join(home, LakeFormationFile))
	if err != nil {
		return rep, err
	}
	secret, _ := json.Marshal(map[string]string{"username": "root", "password": ""})
	ing, err := offline.NewIngest(offline.IngestConfig{
		Account: acct, Catalog: catalog, LakeFormation: lf,
		MySQLEndpoint: fmt.Sprintf("127.0.0.1:%d", srv.db.Port),
		Secret:        offline.Secret{Arn: deployed().Functions[deploy.FnReconfigure].Environment[deploy.EnvSecretArn], Value: string(secret)},
		NodeModules:   opts.NodeModules, RetryInterval: 200 * time.Millisecond, Log: log,
		// The crawl's end is seen within a second rather than the deployed 30 s.
		CrawlPoll: time.Second, CrawlTimeout: 10 * time.Minute,
	})
	if err != nil {
		return rep, err
	}

	berlin, _ := time.LoadLocation("Europe/Berlin")
	windows := []struct {
		what     string
		from, to time.Time
	}{
		{"daily set", time.Date(day.Year(), day.Month(), day.Day(), 1, 59, 0, 0, berlin), time.Date(day.Year(), day.Month(), day.Day(), 2, 0, 0, 0, berlin)},
		{"frequent set", time.Date(day.Year(), day.Month(), day.Day(), 9, 0, 0, 0, berlin), time.Date(day.Year(), day.Month(), day.Day(), 9, 15, 0, 0, berlin)},
	}
	for i, w := range windows {
		if i == 1 {
			t := time.Now()
			n, err := sampledb.AddDay(ctx, srv.pool, day)
			if err != nil {
				return rep, err
			}
			p.stage("morning's activity", fmt.Sprintf("%s new file downloads", thousands(int64(n))), time.Since(t))
		}
		t := time.Now()
		execs, err := ing.Fire(ctx, w.from, w.to)
		if err != nil {
			return rep, err
		}
		if len(execs) == 0 {
			return rep, fmt.Errorf("the schedules fired nothing between %s and %s", w.from, w.to)
		}
		for _, e := range execs {
			res, err := e.Wait()
			if err != nil {
				return rep, err
			}
			rep.Executions = append(rep.Executions, res)
			if err := ing.Glue.Wait(ctx); err != nil {
				return rep, err
			}
			sum := summaryOf(res)
			rep.Summaries = append(rep.Summaries, sum)
			detail := fmt.Sprintf("%s at %s: %s", strings.TrimPrefix(e.ARN()[strings.LastIndex(e.ARN(), ":")+1:], ""), w.to.Format("15:04 MST"), res.Status)
			if sum.Run != "" {
				detail = fmt.Sprintf("%s %s: %d tables loaded, %d skipped, %d failed, %s rows; %s", res.Status, sum.Run, sum.Loaded, sum.Skipped, sum.Failed, thousands(sum.Rows), strings.Join(tableLines(sum), ", "))
			}
			p.stage(w.what+" (scheduled "+w.to.Format("15:04 MST")+")", detail, time.Since(t))
			if res.Status != stepfunctions.StatusSucceeded {
				return rep, &ExecutionFailedError{Status: res.Status, Name: res.Error, Cause: res.Cause}
			}
		}
	}
	rep.Allowed = acct.IAM.Allowed()
	if denied := acct.IAM.Denied(); len(denied) > 0 {
		return rep, fmt.Errorf("%d calls were denied by the deployed policies, first: %s %s as %s", len(denied), denied[0].Action, denied[0].Resource, denied[0].Principal)
	}
	p.permissions(Report{Allowed: rep.Allowed}, nil)
	if err := saveIngestDay(home, day); err != nil {
		return rep, err
	}

	// Lake Formation at work: the same table, as two roles.
	gs, err := lf.Grants()
	if err != nil {
		return rep, err
	}
	l := &lake.Lake{Catalog: catalog, Root: filepath.Join(home, "s3")}
	db := ingest.CatalogDatabase(sampledb.Database)
	cur := db + deploy.IngestCurrentSuffix
	for _, q := range []struct{ role, db, sql string }{
		{"analytics", db, "SELECT count(*) AS downloads, count(DISTINCT load) AS loads FROM " + db + ".file_downloads"},
		// The current table: each download once, whatever the loads.
		{"analytics", cur, "SELECT count(*) AS downloads, count(DISTINCT id) AS ids FROM " + cur + ".file_downloads"},
		{"support", db, "SELECT * FROM " + db + ".users ORDER BY id LIMIT 3"},
		{"support", db, "SELECT display_name FROM " + db + ".users LIMIT 1"},
	} {
		access := lake.AccessOf(q.role, q.db, "arn:aws:iam::"+deployed().Account+":role/"+q.role, gs)
		// As `snaplake query --as`: the role has the published analyst policy too.
		if access.IAM, err = lake.AnalystIdentity(deployed(), q.role, nil); err != nil {
			return rep, err
		}
		p.line("$ snaplake query --as %s %q", q.role, q.sql)
		res, err := l.QueryAs(ctx, q.sql, access)
		if err != nil {
			p.line("snaplake query: %v", err)
			continue
		}
		if err := lake.Format(opts.Out, res, "table"); err != nil {
			return rep, err
		}
	}
	p.line("done in %.1fs. Edit %s and run `snaplake demo ingest` again for the next workday.", time.Since(total).Seconds(), cfgPath)
	return rep, nil
}

// summaryOf is the run's summary from the execution's output.
func summaryOf(res stepfunctions.Result) ingestrun.Summary {
	var out struct {
		Run    ingestrun.Started `json:"run"`
		Finish struct {
			Summary ingestrun.Summary `json:"summary"`
		} `json:"finish"`
	}
	_ = json.Unmarshal(res.Output, &out)
	s := out.Finish.Summary
	if s.Run == "" && out.Run.Reason != "" {
		s.Message = out.Run.Reason
	}
	return s
}

func tableLines(s ingestrun.Summary) []string {
	var out []string
	for _, t := range s.Tables {
		out = append(out, fmt.Sprintf("%s %s %s", t.Lake, t.Status, thousands(t.Rows)))
	}
	return out
}

// nextIngestDay is the workday the demo plays: the first one from today, then the
// next one after the day the last run played.
func nextIngestDay(home string) (time.Time, error) {
	day := time.Now().UTC().Truncate(24 * time.Hour)
	b, err := os.ReadFile(filepath.Join(home, "ingest.json"))
	if err == nil {
		var st ingestState
		if err := json.Unmarshal(b, &st); err != nil {
			return day, fmt.Errorf("read %s: %w", filepath.Join(home, "ingest.json"), err)
		}
		last, err := time.Parse("2006-01-02", st.Day)
		if err != nil {
			return day, err
		}
		day = last.AddDate(0, 0, 1)
	} else if !errors.Is(err, os.ErrNotExist) {
		return day, err
	}
	for day.Weekday() == time.Saturday || day.Weekday() == time.Sunday {
		day = day.AddDate(0, 0, 1)
	}
	return day, nil
}

func saveIngestDay(home string, day time.Time) error {
	b, _ := json.Marshal(ingestState{Day: day.Format("2006-01-02")})
	return os.WriteFile(filepath.Join(home, "ingest.json"), b, 0o644)
}
