package demo

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"time"

	"github.com/snaplake/snaplake/internal/archive"
	archiverun "github.com/snaplake/snaplake/internal/archive/run"
	"github.com/snaplake/snaplake/internal/config"
	"github.com/snaplake/snaplake/internal/deploy"
	"github.com/snaplake/snaplake/internal/local/glue"
	"github.com/snaplake/snaplake/internal/local/iam"
	"github.com/snaplake/snaplake/internal/local/lake"
	"github.com/snaplake/snaplake/internal/local/offline"
	"github.com/snaplake/snaplake/internal/local/sampledb"
	"github.com/snaplake/snaplake/internal/local/stepfunctions"
)

// demoArchiveSection is the archive section the demo adds to <home>/snaplake.yaml
// when it has none: the sample's downloads older than two years leave production.
const demoArchiveSection = `
# Retention archiving (snaplake demo archive): downloads older than two years move
# to the lake, verified, then deleted from warehouse in gentle batches.
archive:
  tables:
    warehouse.file_downloads:
      retention: 2y
      column: downloaded_at
  defaults:
    batchRows: 20000
    deleteRows: 2000
    pause: 5ms
`

// The archiving user the demo creates, with SELECT and DELETE on the archived table
// only, as the README tells a DBA to.
const (
	demoArchiverUser     = "snaplake_archiver"
	demoArchiverPassword = "demo-archiver"
)

// ArchiveReport says what a demo archive did.
type ArchiveReport struct {
	Result  stepfunctions.Result
	Summary archiverun.TableResult
	Allowed []iam.Grant
	// Before and After count the table's rows in MariaDB; Archived the archive's.
	Before, After, Archived int64
	Stages                  []Stage
}

// RunArchive runs retention archiving against the demo's home: the archive section
// of <home>/snaplake.yaml (added if missing) is uploaded, the archiving user is
// created, the archive's state machine runs with its real functions as their
// deployed roles, and the archive is queried beside the snapshot.
func RunArchive(ctx context.Context, opts Options) (rep ArchiveReport, err error) {
	s, err := openSession(&opts, "snaplake demo archive", &Report{})
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

	t := time.Now()
	cfgPath := filepath.Join(home, IngestConfigFile)
	data, err := os.ReadFile(cfgPath)
	if errors.Is(err, os.ErrNotExist) {
		data, err = []byte(demoIngestConfig), nil
	}
	if err != nil {
		return rep, err
	}
	if _, err := config.ParseSection[archive.Config](cfgPath, data, deploy.SectionArchive); err != nil {
		var none *config.NoSectionError
		if !errors.As(err, &none) {
			return rep, err // names the line: nothing is uploaded
		}
		data = append(data, demoArchiveSection...)
		if err := os.WriteFile(cfgPath, data, 0o644); err != nil {
			return rep, err
		}
	}
	if err := srv.uploadConfig(ctx, data); err != nil {
		return rep, err
	}
	p.stage("config", cfgPath+" (archive section) → s3://"+lakeBucket()+"/"+config.S3Key, time.Since(t))

	t = time.Now()
	for _, q := range []string{
		"CREATE USER IF NOT EXISTS '" + demoArchiverUser + "'@'%' IDENTIFIED BY '" + demoArchiverPassword + "'",
		"GRANT SELECT, DELETE ON " + sampledb.Database + ".file_downloads TO '" + demoArchiverUser + "'@'%'",
	} {
		if _, err := srv.pool.ExecContext(ctx, q); err != nil {
			return rep, fmt.Errorf("the archiving user: %w", err)
		}
	}
	p.stage("archiving user", demoArchiverUser+": SELECT, DELETE on "+sampledb.Database+".file_downloads only", time.Since(t))
	count := func(q string) (n int64) {
		if err == nil {
			err = srv.pool.QueryRowContext(ctx, q).Scan(&n)
		}
		return n
	}
	rep.Before = count("SELECT COUNT(*) FROM " + sampledb.Database + ".file_downloads")
	if err != nil {
		return rep, err
	}

	acct, err := offline.NewAccount(srv.s3, offline.AccountOptions{Contract: deployed(), Log: log})
	if err != nil {
		return rep, err
	}
	defer acct.Close()
	catalog, err := glue.OpenCatalog(filepath.Join(home, "catalog.json"))
	if err != nil {
		return rep, err
	}
	secret, _ := json.Marshal(map[string]string{"username": demoArchiverUser, "password": demoArchiverPassword})
	arc, err := offline.NewArchive(offline.ArchiveConfig{
		Account: acct, Catalog: catalog, MySQLEndpoint: fmt.Sprintf("127.0.0.1:%d", srv.db.Port),
		Secret:      offline.Secret{Arn: deployed().Functions[deploy.FnArchiveTable].Environment[deploy.EnvSecretArn], Value: string(secret)},
		NodeModules: opts.NodeModules, RetryInterval: 200 * time.Millisecond, Log: log,
	})
	if err != nil {
		return rep, err
	}
	t = time.Now()
	if rep.Result, err = arc.Run(ctx, "{}", time.Now()); err != nil {
		return rep, err
	}
	summaries := archiveSummaries(rep.Result)
	detail := string(rep.Result.Status)
	for _, sum := range summaries {
		rep.Summary = sum
		detail += fmt.Sprintf(": %s.%s, %s rows older than %s archived in %d batches (%s), verified, %s deleted, %s changed after read; cataloged as %s",
			sum.Schema, sum.Table, thousands(sum.Rows), sum.Cutoff.Format("2006-01-02"), sum.Batches, fmt.Sprintf("%.1f MiB", float64(sum.Bytes)/(1<<20)), thousands(sum.RowsDeleted), thousands(sum.ChangedAfterRead), sum.Catalog)
	}
	p.stage("archive run (state machine)", detail, time.Since(t))
	if rep.Result.Status != stepfunctions.StatusSucceeded {
		return rep, &ExecutionFailedError{Status: rep.Result.Status, Name: rep.Result.Error, Cause: rep.Result.Cause}
	}
	rep.Allowed = acct.IAM.Allowed()
	if denied := acct.IAM.Denied(); len(denied) > 0 {
		return rep, fmt.Errorf("%d calls were denied by the deployed policies, first: %s %s as %s", len(denied), denied[0].Action, denied[0].Resource, denied[0].Principal)
	}
	p.permissions(Report{Allowed: rep.Allowed}, nil)
	rep.After = count("SELECT COUNT(*) FROM " + sampledb.Database + ".file_downloads")
	if err != nil {
		return rep, err
	}

	// The archive beside the snapshot: what left production is in the lake.
	l := &lake.Lake{Catalog: catalog, Root: filepath.Join(home, "s3")}
	adb := deploy.ArchiveDatabaseName(deploy.GlueDatabaseName("", sampledb.Database))
	q := "SELECT cutoff, count(*) AS downloads, min(downloaded_at) AS oldest, max(downloaded_at) AS newest FROM " + adb + ".file_downloads GROUP BY cutoff ORDER BY cutoff"
	p.line("$ snaplake query %q", q)
	res, err := l.Query(ctx, q)
	if err != nil {
		return rep, fmt.Errorf("query the archive: %w", err)
	}
	if err := lake.Format(opts.Out, res, "table"); err != nil {
		return rep, err
	}
	if res, err = l.Query(ctx, "SELECT count(*) FROM "+adb+".file_downloads"); err == nil && len(res.Rows) == 1 {
		fmt.Sscan(fmt.Sprint(res.Rows[0][0]), &rep.Archived)
	}
	p.line("warehouse.file_downloads: %s rows before, %s after; %s in %s (the night's snapshot, %s_latest, still holds what it copied before the run)",
		thousands(rep.Before), thousands(rep.After), thousands(rep.Archived), adb, deploy.GlueDatabaseName("", sampledb.Database))
	p.line("done in %.1fs. Edit the archive section of %s and run `snaplake demo archive` again.", time.Since(total).Seconds(), cfgPath)
	return rep, nil
}

// archiveSummaries are the tables' summaries from the execution's output.
func archiveSummaries(res stepfunctions.Result) []archiverun.TableResult {
	var out struct {
		Tables []struct {
			Summary archiverun.TableResult `json:"summary"`
		} `json:"tables"`
	}
	_ = json.Unmarshal(res.Output, &out)
	var sums []archiverun.TableResult
	for _, t := range out.Tables {
		if t.Summary.Table != "" {
			sums = append(sums, t.Summary)
		}
	}
	return sums
}
