package offline

import (
	"context"
	"database/sql"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/lakeformation"
	lftypes "github.com/aws/aws-sdk-go-v2/service/lakeformation/types"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/scheduler"

	"github.com/snaplake/snaplake/internal/config"
	"github.com/snaplake/snaplake/internal/deploy"
	"github.com/snaplake/snaplake/internal/local/contract"
	gluelocal "github.com/snaplake/snaplake/internal/local/glue"
	"github.com/snaplake/snaplake/internal/local/iam"
	lflocal "github.com/snaplake/snaplake/internal/local/lakeformation"
	"github.com/snaplake/snaplake/internal/local/mariadb"
	"github.com/snaplake/snaplake/internal/local/mariadb/mariadbtest"
	"github.com/snaplake/snaplake/internal/local/s3server"
	"github.com/snaplake/snaplake/internal/local/sampledb"
	"github.com/snaplake/snaplake/internal/local/stepfunctions"
	"github.com/snaplake/snaplake/statemachines"
)

const ingestTestConfig = `ingest:
  source:
    instance: snaplake-demo
    database: warehouse
  timeZone: Europe/Berlin
  sets:
    daily:
      at: "02:30"
    frequent:
      tables: [file_downloads]
  tables:
    file_downloads: {mode: incremental, column: id, keyCheck: 24h}
    files: {mode: incremental, column: id}
  defaults:
    mode: full
  access:
    - role: analytics
      tables: ["*"]
    # A table the crawler creates: its grant can only follow the crawl.
    - role: support
      tables: [files]
`

// TestIngestWorkflowStates runs the ingest state machine from its schedules through
// every state with the real handlers, the job played as its role, and every call
// authorized by the synthesized policies: a set that is not due, a good run, a run
// with a table that fails during the load, and a config that does not parse.
func TestIngestWorkflowStates(t *testing.T) {
	ctx := context.Background()
	db := ingestSource(t)
	w := newIngestWorld(t, db, nil)
	ing, admin, c, cat := w.ing, w.admin, w.c, w.cat
	putConfig, wait := w.putConfig, w.wait
	pool := w.pool
	var dropBeforeLoad string
	w.beforeLoad = func() {
		if dropBeforeLoad != "" {
			if _, err := pool.Exec("DROP TABLE warehouse." + dropBeforeLoad); err != nil {
				t.Error(err)
			}
			dropBeforeLoad = ""
		}
	}
	acct := w.acct
	berlin, _ := time.LoadLocation("Europe/Berlin")
	visited := map[string]bool{}
	record := func(res stepfunctions.Result) {
		for _, s := range res.States {
			visited[s] = true
		}
	}
	// Before config/snaplake.yaml is uploaded the schedules already fire: each run is
	// a quiet no-op that succeeds, notifies nobody and changes nothing.
	early := wait(ing.RunSet(ctx, "frequent", time.Date(2026, 12, 4, 9, 15, 0, 0, berlin), false))
	record(early)
	if early.Status != stepfunctions.StatusSucceeded || !slices.Contains(early.States, "NothingToLoad") || !strings.Contains(string(early.Output), "is not in the bucket yet") {
		t.Fatalf("run before the config exists: %s %s %s %v %s", early.Status, early.Error, early.Cause, early.States, early.Output)
	}
	if ns := ing.Notifications(); len(ns) != 0 {
		t.Fatalf("a run before the config exists notified: %+v", ns)
	}
	if k := keys(t, admin, c.Bucket, "state/"); len(k) != 0 {
		t.Fatalf("a run before the config exists wrote %v", k)
	}

	putConfig(ingestTestConfig)

	// A data lake administrator, named in the account's settings only, holds grants of
	// its own on the raw database: no run revokes them.
	lakeAdmin := "arn:aws:iam::" + c.Account + ":role/lake-admin"
	settings, err := w.lf.GetDataLakeSettings(ctx, &lakeformation.GetDataLakeSettingsInput{})
	if err != nil {
		t.Fatal(err)
	}
	settings.DataLakeSettings.DataLakeAdmins = append(settings.DataLakeSettings.DataLakeAdmins, lftypes.DataLakePrincipal{DataLakePrincipalIdentifier: aws.String(lakeAdmin)})
	if _, err := w.lf.PutDataLakeSettings(ctx, &lakeformation.PutDataLakeSettingsInput{DataLakeSettings: settings.DataLakeSettings}); err != nil {
		t.Fatal(err)
	}
	adminGrants := []lftypes.Resource{
		{Database: &lftypes.DatabaseResource{Name: aws.String("raw_warehouse")}},
		{Table: &lftypes.TableResource{DatabaseName: aws.String("raw_warehouse"), TableWildcard: &lftypes.TableWildcard{}}},
	}
	for i, r := range adminGrants {
		perm := lftypes.PermissionDescribe
		if i == 1 {
			perm = lftypes.PermissionSelect
		}
		if _, err := w.lf.AsPrincipal(lakeAdmin).GrantPermissions(ctx, &lakeformation.GrantPermissionsInput{
			Principal: &lftypes.DataLakePrincipal{DataLakePrincipalIdentifier: aws.String(lakeAdmin)}, Resource: &r, Permissions: []lftypes.Permission{perm}}); err != nil {
			t.Fatal(err)
		}
	}
	adminHolds := func() []string {
		t.Helper()
		gs, err := w.lf.Grants()
		if err != nil {
			t.Fatal(err)
		}
		var out []string
		for _, g := range gs {
			if g.Principal == lakeAdmin {
				out = append(out, g.String())
			}
		}
		return out
	}
	heldByAdmin := adminHolds()
	if len(heldByAdmin) != 2 {
		t.Fatalf("the administrator's grants: %v", heldByAdmin)
	}

	// Saturday 09:15: the frequent set is not due.
	sat := wait(ing.RunSet(ctx, "frequent", time.Date(2026, 12, 5, 9, 15, 0, 0, berlin), false))
	record(sat)
	if sat.Status != stepfunctions.StatusSucceeded || !slices.Contains(sat.States, "NothingToLoad") {
		t.Fatalf("frequent set on a Saturday: %s %v", sat.Status, sat.States)
	}
	// The run brought the daily schedule to the config's 02:30.
	got, err := ing.Scheduler.GetSchedule(ctx, &scheduler.GetScheduleInput{Name: aws.String(deploy.IngestScheduleName("daily")), GroupName: aws.String(deploy.IngestScheduleGroup)})
	if err != nil || aws.ToString(got.ScheduleExpression) != "cron(30 2-3 * * ? *)" {
		t.Fatalf("daily schedule after a run: %v %v", aws.ToString(got.ScheduleExpression), err)
	}

	// Monday: the Scheduler fires the daily set at 02:30, as the config now says.
	execs, err := ing.Fire(ctx, time.Date(2026, 12, 7, 2, 0, 0, 0, berlin), time.Date(2026, 12, 7, 2, 45, 0, 0, berlin))
	if err != nil || len(execs) != 1 {
		t.Fatalf("firings between 02:00 and 02:45: %d, %v", len(execs), err)
	}
	good := wait(execs[0], nil)
	record(good)
	if good.Status != stepfunctions.StatusSucceeded || !slices.Contains(good.States, "Crawl") || !slices.Contains(good.States, "Done") {
		t.Fatalf("daily run: %s %s %s %v", good.Status, good.Error, good.Cause, good.States)
	}
	if tbl, err := cat.Table("raw_warehouse", "file_downloads"); err != nil || len(tbl.Partitions) != 1 || tbl.PartitionKeys[0].Name != "load" {
		t.Errorf("file_downloads after the crawl: %+v %v", tbl, err)
	}
	if got := adminHolds(); !slices.Equal(got, heldByAdmin) {
		t.Errorf("the administrator's grants after the run: %v, want %v kept", got, heldByAdmin)
	}

	// A table dropped while the job runs fails alone: the others are committed, and
	// the run ends TablesFailed with a notification naming it.
	dropBeforeLoad = "files"
	bad := wait(ing.RunSet(ctx, "daily", time.Date(2026, 12, 8, 2, 30, 0, 0, berlin), false))
	record(bad)
	if bad.Status != stepfunctions.StatusFailed || bad.Error != "TablesFailed" {
		t.Fatalf("run with a dropped table: %s %s %v", bad.Status, bad.Error, bad.States)
	}
	ns := ing.Notifications()
	if len(ns) != 1 || ns[0].Subject != "snaplake ingest: tables failed" || !strings.Contains(ns[0].Message, `"source":"files","lake":"files","mode":"incremental","status":"failed"`) {
		t.Fatalf("notifications %+v", ns)
	}

	// The config still names files, which the source no longer has (issue 15, item
	// 4): the next run fails that table alone, with the file:line of its entry, loads
	// the others, and ends TablesFailed with a notification. Before, the whole run was
	// refused and nothing loaded.
	isolated := wait(ing.RunSet(ctx, "daily", time.Date(2026, 12, 8, 12, 0, 0, 0, berlin), true))
	record(isolated)
	if isolated.Status != stepfunctions.StatusFailed || isolated.Error != "TablesFailed" {
		t.Fatalf("run with a config naming a dropped table: %s %s %s %v", isolated.Status, isolated.Error, isolated.Cause, isolated.States)
	}
	ns = ing.Notifications()
	if len(ns) != 2 || ns[1].Subject != "snaplake ingest: tables failed" ||
		!strings.Contains(ns[1].Message, `"source":"files","lake":"files","status":"failed","rows":0,"config":"s3://`+c.Bucket+`/config/snaplake.yaml:13"`) ||
		!strings.Contains(ns[1].Message, `"source":"file_downloads","lake":"file_downloads","mode":"incremental","status":"loaded"`) {
		t.Fatalf("notification of the isolated table: %+v", ns)
	}

	// A config that does not parse: the run fails before it changes anything, and the
	// notification names the line.
	before := keys(t, admin, c.Bucket, "state/")
	putConfig(strings.Replace(ingestTestConfig, "  sets:\n", "  sets: [\n", 1))
	refused := wait(ing.RunSet(ctx, "daily", time.Date(2026, 12, 9, 2, 30, 0, 0, berlin), false))
	record(refused)
	if refused.Status != stepfunctions.StatusFailed || refused.Error != "RefusedError" {
		t.Fatalf("run with a broken config: %s %s %v", refused.Status, refused.Error, refused.States)
	}
	ns = ing.Notifications()
	if len(ns) != 3 || ns[2].Subject != "snaplake ingest failed" || !strings.Contains(ns[2].Message, "config/snaplake.yaml:8: did not find expected") {
		t.Fatalf("notification of the refused config: %+v", ns[len(ns)-1])
	}
	if after := keys(t, admin, c.Bucket, "state/"); !slices.Equal(before, after) {
		t.Errorf("the refused run changed the state:\nbefore %v\nafter  %v", before, after)
	}
	if got, _ := ing.Scheduler.GetSchedule(ctx, &scheduler.GetScheduleInput{Name: aws.String(deploy.IngestScheduleName("daily")), GroupName: aws.String(deploy.IngestScheduleGroup)}); aws.ToString(got.ScheduleExpression) != "cron(30 2-3 * * ? *)" {
		t.Errorf("the refused config changed the schedule to %s", aws.ToString(got.ScheduleExpression))
	}

	// A crawl that fails: the run fails, and the notification carries Glue's account of
	// the crawl. Before the fix the workflow never looked at the crawl's outcome.
	// (The table files is gone: the frequent set's file_downloads is crawled, by hand.)
	putConfig(strings.NewReplacer("    files: {mode: incremental, column: id}\n", "", "tables: [files]", "tables: [file_downloads]").Replace(ingestTestConfig))
	ing.Glue.FailNext = func(string) string { return "Internal Service Exception" }
	crawlFailed := wait(ing.RunSet(ctx, "frequent", time.Date(2026, 12, 10, 10, 0, 0, 0, berlin), true))
	ing.Glue.FailNext = nil
	record(crawlFailed)
	if crawlFailed.Status != stepfunctions.StatusFailed || crawlFailed.Error != "CrawlerFailed" || !strings.Contains(crawlFailed.Cause, "Internal Service Exception") {
		t.Fatalf("run whose crawl failed: %s %s %s %v", crawlFailed.Status, crawlFailed.Error, crawlFailed.Cause, crawlFailed.States)
	}
	if ns = ing.Notifications(); len(ns) != 4 || ns[3].Subject != "snaplake ingest failed" || !strings.Contains(ns[3].Message, "Internal Service Exception") {
		t.Fatalf("notification of the failed crawl: %+v", ns[len(ns)-1])
	}

	// A crawl that outlasts the timeout: the run fails, and it is notified.
	ing.Glue.Duration = ingestCrawlTimeout + 2*time.Second
	slow := wait(ing.RunSet(ctx, "frequent", time.Date(2026, 12, 11, 10, 0, 0, 0, berlin), true))
	ing.Glue.Duration = 0
	record(slow)
	if slow.Status != stepfunctions.StatusFailed || slow.Error != "CrawlTimedOut" {
		t.Fatalf("run whose crawl outlasted the timeout: %s %s %s %v", slow.Status, slow.Error, slow.Cause, slow.States)
	}
	if ns = ing.Notifications(); len(ns) != 5 || ns[4].Subject != "snaplake ingest failed" || !strings.Contains(ns[4].Message, "CrawlTimedOut") {
		t.Fatalf("notification of the crawl timeout: %+v", ns[len(ns)-1])
	}

	// Every state of the workflow ran.
	var def struct{ States map[string]json.RawMessage }
	if err := json.Unmarshal(statemachines.Ingest, &def); err != nil {
		t.Fatal(err)
	}
	for name := range def.States {
		if !visited[name] {
			t.Errorf("state %s was never executed", name)
		}
	}
	if d := acct.IAM.Denied(); len(d) > 0 {
		t.Errorf("denied: %+v", d)
	}
}

// ingestCrawlTimeout bounds the offline wait for a crawl (the crawler stand-in's
// crawls take glue.DefaultCrawlDuration).
const ingestCrawlTimeout = 4 * time.Second

// ingestSource starts a MariaDB with the sample warehouse (2,000 rows).
func ingestSource(t *testing.T) *mariadb.Server {
	t.Helper()
	db := mariadbtest.Start(t)
	pool, err := db.DB("")
	if err != nil {
		t.Fatal(err)
	}
	defer pool.Close()
	if err := sampledb.Create(context.Background(), pool, sampledb.SizesFor(2000)); err != nil {
		t.Fatal(err)
	}
	return db
}

// ingestWorld is one offline deployment of the ingestion over a source database:
// its own S3 server, catalog and Lake Formation, and the account's IAM (auth, or the
// contract's policies).
type ingestWorld struct {
	ing        *Ingest
	acct       *Account
	admin      *s3.Client
	c          *contract.Contract
	cat        *gluelocal.Catalog
	lf         *lflocal.Service
	pool       *sql.DB
	beforeLoad func()
	putConfig  func(string)
	wait       func(*stepfunctions.Execution, error) stepfunctions.Result
}

func newIngestWorld(t *testing.T, db *mariadb.Server, auth *iam.Authority) *ingestWorld {
	t.Helper()
	ctx := context.Background()
	w := &ingestWorld{}
	var err error
	if w.pool, err = db.DB(""); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { w.pool.Close() })
	if w.c, err = contract.Load(); err != nil {
		t.Fatal(err)
	}
	srv, err := s3server.StartFake()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(srv.Stop)
	if err := srv.CreateBucket(ctx, w.c.Bucket); err != nil {
		t.Fatal(err)
	}
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	if testing.Verbose() {
		log = slog.New(slog.NewTextHandler(os.Stderr, nil))
	}
	if w.acct, err = NewAccount(srv, AccountOptions{Contract: w.c, IAM: auth, Log: log}); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(w.acct.Close)
	if w.cat, err = gluelocal.OpenCatalog(filepath.Join(t.TempDir(), "catalog.json")); err != nil {
		t.Fatal(err)
	}
	lf, err := lflocal.Open(filepath.Join(t.TempDir(), "lakeformation.json"))
	if err != nil {
		t.Fatal(err)
	}
	w.lf = lf
	secret, _ := json.Marshal(map[string]string{"username": "root", "password": ""})
	w.ing, err = NewIngest(IngestConfig{
		Account: w.acct, Catalog: w.cat, LakeFormation: lf, MySQLEndpoint: fmt.Sprintf("127.0.0.1:%d", db.Port),
		Secret:        Secret{Arn: w.c.Functions[deploy.FnReconfigure].Environment[deploy.EnvSecretArn], Value: string(secret)},
		RetryInterval: 100 * time.Millisecond, CrawlPoll: time.Second, CrawlTimeout: ingestCrawlTimeout, Log: log,
		Observe: func(o Observation) {
			if o.Kind == "task-start" && o.State == "Load" && w.beforeLoad != nil {
				w.beforeLoad()
			}
		},
	})
	if err != nil {
		t.Fatal(err)
	}
	w.admin = srv.Client()
	w.putConfig = func(body string) {
		if _, err := w.admin.PutObject(ctx, &s3.PutObjectInput{Bucket: aws.String(w.c.Bucket), Key: aws.String(config.S3Key), Body: strings.NewReader(body)}); err != nil {
			t.Fatal(err)
		}
	}
	w.wait = func(e *stepfunctions.Execution, err error) stepfunctions.Result {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
		res, err := e.Wait()
		if err != nil {
			t.Fatal(err)
		}
		if err := w.ing.Glue.Wait(ctx); err != nil {
			t.Fatal(err)
		}
		return res
	}
	return w
}

func keys(t *testing.T, api *s3.Client, bucket, prefix string) []string {
	t.Helper()
	var out []string
	p := s3.NewListObjectsV2Paginator(api, &s3.ListObjectsV2Input{Bucket: aws.String(bucket), Prefix: aws.String(prefix)})
	for p.HasMorePages() {
		page, err := p.NextPage(context.Background())
		if err != nil {
			t.Fatal(err)
		}
		for _, o := range page.Contents {
			out = append(out, aws.ToString(o.Key))
		}
	}
	return out
}

// ingestNotExercised are the statements of the ingest roles no offline workday can
// need: the services' own logs, traces and dead letters, the VPC network interfaces
// (the offline context has no subnets), the crawler's and job's catalog and
// security-configuration reads (the stand-ins do not authorize them), and the
// deletes that only a dead run, a failed table or an expired generation cause
// (TestIngestWorkflowStates and internal/ingestrun's tests take those paths).
func ingestNotExercised(principal, stmt string) bool {
	var s struct{ Action any }
	if err := json.Unmarshal([]byte(stmt), &s); err != nil {
		return false
	}
	var actions []string
	switch a := s.Action.(type) {
	case string:
		actions = append(actions, a)
	case []any:
		for _, x := range a {
			actions = append(actions, fmt.Sprint(x))
		}
	}
	for _, a := range actions {
		switch {
		case strings.HasPrefix(a, "logs:"), strings.HasPrefix(a, "xray:"), strings.HasPrefix(a, "sqs:"), strings.HasPrefix(a, "ec2:"):
		case strings.HasPrefix(a, "glue:") && (principal == deploy.RoleIngestCrawler || principal == deploy.RoleIngestJob):
		case principal == deploy.RoleIngestMachine && (a == "glue:GetJobRuns" || a == "glue:BatchStopJobRun"):
		case a == "s3:DeleteObject" || a == "s3:AbortMultipartUpload":
		case strings.HasPrefix(a, "kms:") && principal == deploy.RoleIngestScheduler:
		// Lake Formation may look the resources up as the grantor; the stand-in does
		// not (see the README's "What offline cannot prove").
		case strings.HasPrefix(a, "glue:Get") && principal == deploy.FnApplyGrants:
		// Glue reads the job's script as the job role; the Go loader has no script.
		case a == "s3:GetObject" && principal == deploy.RoleIngestJob && strings.Contains(stmt, "cdk-hnb659fds-assets-"):
		default:
			return false
		}
	}
	return true
}

// TestEveryIngestStatementIsNeeded removes each statement of the ingest roles in
// turn; each time, the same workday is then refused a call as that role. A statement
// the workday never needs is one the role should not have.
func TestEveryIngestStatementIsNeeded(t *testing.T) {
	c, err := contract.Load()
	if err != nil {
		t.Fatal(err)
	}
	base, err := NewAuthority(c)
	if err != nil {
		t.Fatal(err)
	}
	db := ingestSource(t)
	berlin, _ := time.LoadLocation("Europe/Berlin")
	principals := append(slices.Clone(deploy.IngestFunctions), deploy.IngestServiceRoles...)
	tested := 0
	for _, principal := range principals {
		for i := 0; i < base.StatementCount(principal); i++ {
			stmt, err := base.StatementJSON(principal, i)
			if err != nil {
				t.Fatal(err)
			}
			if ingestNotExercised(principal, stmt) {
				continue
			}
			tested++
			t.Run(fmt.Sprintf("%s/%d", principal, i), func(t *testing.T) {
				t.Parallel()
				without, err := base.Without(principal, i)
				if err != nil {
					t.Fatal(err)
				}
				w := newIngestWorld(t, db, without)
				// Two good days (the config's 02:30 updates the schedule; the second day
				// replaces the full tables), then a broken config, which is notified.
				for _, run := range []struct {
					day    int
					config string
				}{{7, ingestTestConfig}, {8, ingestTestConfig}, {9, "ingest: ["}} {
					day := run.day
					w.putConfig(run.config)
					e, err := w.ing.RunSet(context.Background(), "daily", time.Date(2026, 12, day, 2, 30, 0, 0, berlin), false)
					if err != nil {
						break // refused to the scheduler's role: below
					}
					w.wait(e, nil)
				}
				if d := denied(without, principal); len(d) == 0 {
					t.Errorf("without statement %d of %s the workday was refused nothing: the statement is not needed\n%s", i, principal, stmt)
				} else {
					t.Logf("without %s: denied %s on %s", stmt, d[0].Action, d[0].Resource)
				}
			})
		}
	}
	if tested < 20 {
		t.Fatalf("only %d statements tested: the contract's ingest roles were not found", tested)
	}
}
