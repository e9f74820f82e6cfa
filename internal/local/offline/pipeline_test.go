package offline

import (
	"cmp"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/glue"
	gluetypes "github.com/aws/aws-sdk-go-v2/service/glue/types"
	"github.com/aws/aws-sdk-go-v2/service/lakeformation"
	lftypes "github.com/aws/aws-sdk-go-v2/service/lakeformation/types"
	"github.com/aws/aws-sdk-go-v2/service/rds"
	rdstypes "github.com/aws/aws-sdk-go-v2/service/rds/types"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/smithy-go"

	"github.com/snaplake/snaplake/events"
	"github.com/snaplake/snaplake/internal/deploy"
	"github.com/snaplake/snaplake/internal/local/contract"
	localglue "github.com/snaplake/snaplake/internal/local/glue"
	"github.com/snaplake/snaplake/internal/local/iam"
	lflocal "github.com/snaplake/snaplake/internal/local/lakeformation"
	"github.com/snaplake/snaplake/internal/local/s3server"
	"github.com/snaplake/snaplake/internal/local/stepfunctions"
)

// These tests run statemachines/export.asl.json in the real interpreter
// (aws-local-stepfunctions), with the real Lambda handlers, the real event patterns
// on a local bus and a real S3 server. RDS and Glue are scripted stand-ins that
// write the export layout and emit real-shaped events with the outcome a test picks;
// the offline demo runs the full-fidelity stand-ins (internal/local/rdsexport, glue).

// Outcomes a scripted export or crawl can end with.
const (
	outcomeComplete = "complete"
	outcomeFail     = "fail"
	outcomeCancel   = "cancel"
	outcomeHold     = "hold"    // the test publishes the event itself
	outcomeEmpty    = "empty"   // completes without writing a file (a bucket emptied meanwhile)
	outcomeSilent   = "silent"  // completes, but RDS's event is lost (RDS sends events best-effort)
	outcomeSkipped  = "skipped" // completes with one table RDS failed to export
)

type scriptedRDS struct {
	s3      *s3.Client
	publish func(context.Context, []byte) ([]string, error)

	mu       sync.Mutex
	tasks    map[string]rdstypes.ExportTask
	outcome  map[string]string // snapshot id -> outcome
	started  []string
	finished chan string
	// quotaRefusals: that many starts meet RDS's concurrent-export quota
	// (ExportTaskLimitReachedFault) before one succeeds; -1: every start does.
	quotaRefusals int
	refused       int
}

// snapshotOf is the snapshot id an instance or cluster snapshot ARN names.
func snapshotOf(arn string) string {
	for _, sep := range []string{":cluster-snapshot:", ":snapshot:"} {
		if i := strings.Index(arn, sep); i >= 0 {
			return arn[i+len(sep):]
		}
	}
	return arn
}

func (r *scriptedRDS) StartExportTask(ctx context.Context, in *rds.StartExportTaskInput, _ ...func(*rds.Options)) (*rds.StartExportTaskOutput, error) {
	id := aws.ToString(in.ExportTaskIdentifier)
	r.mu.Lock()
	if r.quotaRefusals != 0 {
		if r.quotaRefusals > 0 {
			r.quotaRefusals--
		}
		r.refused++
		r.mu.Unlock()
		return nil, &smithy.GenericAPIError{Code: "ExportTaskLimitReachedFault", Message: "You have reached the limit of 5 concurrent export tasks", Fault: smithy.FaultClient}
	}
	if _, ok := r.tasks[id]; ok {
		r.mu.Unlock()
		return nil, &rdstypes.ExportTaskAlreadyExistsFault{Message: aws.String("Cannot start export task because a task with the identifier " + id + " already exists")}
	}
	r.tasks[id] = rdstypes.ExportTask{ExportTaskIdentifier: in.ExportTaskIdentifier, SourceArn: in.SourceArn, Status: aws.String("STARTING")}
	r.started = append(r.started, id)
	snap := snapshotOf(aws.ToString(in.SourceArn))
	outcome := r.outcome[snap]
	r.mu.Unlock()

	// The documented layout: table files under <db>/<db>.<table>/, metadata at the root.
	prefix := aws.ToString(in.S3Prefix) + "/" + id + "/"
	keys := []string{"export_info_" + id + ".json"}
	tables := map[string]string{}
	for _, db := range in.ExportOnly {
		tables[db+".customer"], tables[db+".customer_address"] = "COMPLETE", "COMPLETE"
		if outcome == outcomeSkipped {
			tables[db+".audit_log"] = "FAILED"
		}
	}
	if outcome == outcomeEmpty {
		tables = nil
	}
	info, _ := json.Marshal(map[string]any{"perTableStatus": func() []map[string]string {
		var out []map[string]string
		for t, st := range tables {
			e := map[string]string{"target": t, "status": st}
			if st != "COMPLETE" {
				e["warningMessage"] = "Table has a column whose name contains a character the export does not support"
			}
			out = append(out, e)
		}
		return out
	}()})
	if outcome != outcomeEmpty {
		if _, err := r.s3.PutObject(ctx, &s3.PutObjectInput{Bucket: in.S3BucketName, Key: aws.String(prefix + "export_tables_info_" + id + "_from_1_to_2.json"), Body: strings.NewReader(string(info))}); err != nil {
			return nil, err
		}
	}
	for _, db := range in.ExportOnly {
		keys = append(keys,
			db+"/"+db+".customer/1/part-00000-aaaa-c000.gz.parquet",
			db+"/"+db+".customer/_SUCCESS",
			db+"/"+db+".customer_address/1/part-00000-bbbb-c000.gz.parquet",
			db+"/"+db+".customer_address/2/part-00003-cccc-c000.gz.parquet",
		)
	}
	if outcome == outcomeEmpty {
		keys, outcome = nil, outcomeComplete
	}
	if outcome == outcomeSkipped {
		outcome = outcomeComplete
	}
	for _, k := range keys {
		if _, err := r.s3.PutObject(ctx, &s3.PutObjectInput{Bucket: in.S3BucketName, Key: aws.String(prefix + k), Body: strings.NewReader("bytes of " + k)}); err != nil {
			return nil, err
		}
	}
	switch outcome {
	case outcomeHold:
	case outcomeSilent:
		// Done after the wait's first look at RDS, and no event: only a re-check finds it.
		go func() {
			time.Sleep(500 * time.Millisecond)
			r.complete(id)
		}()
	default:
		go func() {
			time.Sleep(50 * time.Millisecond)
			r.finish(context.Background(), id, outcome)
		}()
	}
	return &rds.StartExportTaskOutput{ExportTaskIdentifier: in.ExportTaskIdentifier, Status: aws.String("STARTING")}, nil
}

// complete ends export id without the event RDS would send.
func (r *scriptedRDS) complete(id string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	task := r.tasks[id]
	task.Status = aws.String("COMPLETE")
	r.tasks[id] = task
}

// DescribeDBSnapshots reads the creation time from an automated snapshot's name.
func (r *scriptedRDS) DescribeDBSnapshots(_ context.Context, in *rds.DescribeDBSnapshotsInput, _ ...func(*rds.Options)) (*rds.DescribeDBSnapshotsOutput, error) {
	id := aws.ToString(in.DBSnapshotIdentifier)
	if len(id) < 16 {
		return nil, &rdstypes.DBSnapshotNotFoundFault{Message: aws.String("DBSnapshot " + id + " not found.")}
	}
	created, err := time.Parse("2006-01-02-15-04", id[len(id)-16:])
	if err != nil {
		return nil, &rdstypes.DBSnapshotNotFoundFault{Message: aws.String("DBSnapshot " + id + " not found.")}
	}
	return &rds.DescribeDBSnapshotsOutput{DBSnapshots: []rdstypes.DBSnapshot{{
		DBSnapshotIdentifier: in.DBSnapshotIdentifier, SnapshotCreateTime: aws.Time(created), Status: aws.String("available"), SnapshotType: aws.String("automated"),
	}}}, nil
}

// DescribeDBClusterSnapshots reads the creation time from an automated cluster snapshot's name.
func (r *scriptedRDS) DescribeDBClusterSnapshots(ctx context.Context, in *rds.DescribeDBClusterSnapshotsInput, _ ...func(*rds.Options)) (*rds.DescribeDBClusterSnapshotsOutput, error) {
	out, err := r.DescribeDBSnapshots(ctx, &rds.DescribeDBSnapshotsInput{DBSnapshotIdentifier: in.DBClusterSnapshotIdentifier})
	if err != nil {
		return nil, &rdstypes.DBClusterSnapshotNotFoundFault{Message: aws.String("DBClusterSnapshot " + aws.ToString(in.DBClusterSnapshotIdentifier) + " not found.")}
	}
	s := out.DBSnapshots[0]
	return &rds.DescribeDBClusterSnapshotsOutput{DBClusterSnapshots: []rdstypes.DBClusterSnapshot{{
		DBClusterSnapshotIdentifier: s.DBSnapshotIdentifier, SnapshotCreateTime: s.SnapshotCreateTime, Status: s.Status, SnapshotType: s.SnapshotType,
	}}}, nil
}

// finish ends export id with outcome and emits RDS's event for it.
func (r *scriptedRDS) finish(ctx context.Context, id, outcome string) {
	o := map[string]struct{ status, eventID, msg string }{
		outcomeComplete: {"COMPLETE", events.EventExportCompleted, "The snapshot export task completed."},
		outcomeFail:     {"FAILED", events.EventExportFailed, "The snapshot export task failed."},
		outcomeCancel:   {"CANCELED", events.EventExportCanceled, "The snapshot export task was canceled."},
	}[outcome]
	eventID, msg := o.eventID, o.msg
	r.mu.Lock()
	task := r.tasks[id]
	task.Status = aws.String(o.status)
	if outcome == outcomeFail {
		// What RDS says in DescribeExportTasks; the event itself does not say why.
		task.FailureCause = aws.String("The IAM role cannot write to the S3 bucket snaplake-lake")
	}
	r.tasks[id] = task
	r.mu.Unlock()
	arn := aws.ToString(task.SourceArn)
	snap := snapshotOf(arn)
	detailType, sourceType := events.DetailTypeRDSSnapshot, "SNAPSHOT"
	if strings.Contains(arn, ":cluster-snapshot:") {
		// RDS reports a cluster snapshot's export with the cluster event ids.
		detailType, sourceType = events.DetailTypeRDSClusterSnapshot, "CLUSTER_SNAPSHOT"
		eventID = map[string]string{events.EventExportCompleted: events.EventClusterExportCompleted, events.EventExportFailed: events.EventClusterExportFailed,
			events.EventExportCanceled: events.EventClusterExportCanceled}[eventID]
		msg = strings.Replace(msg, "The snapshot", "The cluster snapshot", 1)
	}
	ev := fmt.Sprintf(`{"version":"0","id":"%s","detail-type":"%s","source":"aws.rds","account":"%s","time":"%s","region":"%s",
		"resources":["%s"],"detail":{"EventCategories":["notification"],"SourceType":"%s","SourceArn":"%s","Date":"%s",
		"SourceIdentifier":"%s","Message":"%s","EventID":"%s"}}`,
		"ev-"+id+"-"+outcome, detailType, contract.Account, time.Now().UTC().Format(time.RFC3339), contract.Region, arn, sourceType, arn, time.Now().UTC().Format(time.RFC3339Nano), snap, msg, eventID)
	if _, err := r.publish(ctx, []byte(ev)); err != nil {
		panic(err)
	}
	if r.finished != nil {
		r.finished <- id
	}
}

func (r *scriptedRDS) DescribeExportTasks(_ context.Context, in *rds.DescribeExportTasksInput, _ ...func(*rds.Options)) (*rds.DescribeExportTasksOutput, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	t, ok := r.tasks[aws.ToString(in.ExportTaskIdentifier)]
	if !ok {
		return &rds.DescribeExportTasksOutput{}, nil
	}
	return &rds.DescribeExportTasksOutput{ExportTasks: []rdstypes.ExportTask{t}}, nil
}

type scriptedGlue struct {
	publish func(context.Context, []byte) ([]string, error)
	s3      *s3.Client        // as the crawler role: a crawl lists and reads each table folder
	fail    map[string]string // crawler -> error message
	// catalog holds the databases CreateDatabase makes (the latest function's).
	catalog *localglue.Service

	mu       sync.Mutex
	crawlers map[string]bool      // the crawlers that exist: the contract's, then the created ones
	owners   map[string][2]string // crawler -> its role and Glue database, as GetCrawler answers
	created  []string             // CreateCrawler's, in order
	running  map[string]bool
	runs     []string
	targets  map[string][]string // crawler -> its include paths
}

func (g *scriptedGlue) exists(name string) error {
	if !g.crawlers[name] {
		return &gluetypes.EntityNotFoundException{Message: aws.String("Crawler entry with name " + name + " does not exist")}
	}
	return nil
}

// CreateDatabase is the Glue stand-in's, on the catalog the latest function uses.
func (g *scriptedGlue) CreateDatabase(ctx context.Context, in *glue.CreateDatabaseInput, optFns ...func(*glue.Options)) (*glue.CreateDatabaseOutput, error) {
	return g.catalog.CreateDatabase(ctx, in, optFns...)
}

func (g *scriptedGlue) CreateCrawler(_ context.Context, in *glue.CreateCrawlerInput, _ ...func(*glue.Options)) (*glue.CreateCrawlerOutput, error) {
	g.mu.Lock()
	defer g.mu.Unlock()
	name := aws.ToString(in.Name)
	if g.crawlers[name] {
		return nil, &gluetypes.AlreadyExistsException{Message: aws.String(name + " already exists")}
	}
	g.crawlers[name] = true
	g.owners[name] = [2]string{aws.ToString(in.Role), aws.ToString(in.DatabaseName)}
	g.created = append(g.created, name)
	return &glue.CreateCrawlerOutput{}, nil
}

func (g *scriptedGlue) GetCrawler(_ context.Context, in *glue.GetCrawlerInput, _ ...func(*glue.Options)) (*glue.GetCrawlerOutput, error) {
	name := aws.ToString(in.Name)
	g.mu.Lock()
	err := g.exists(name)
	owner := g.owners[name]
	g.mu.Unlock()
	if err != nil {
		return nil, err
	}
	return &glue.GetCrawlerOutput{Crawler: &gluetypes.Crawler{Name: in.Name, Role: aws.String(owner[0]), DatabaseName: aws.String(owner[1]),
		Targets: &gluetypes.CrawlerTargets{S3Targets: []gluetypes.S3Target{{Path: aws.String("s3://b/data/warehouse/"), Exclusions: []string{"**"}}}}}}, nil
}

func (g *scriptedGlue) UpdateCrawler(_ context.Context, in *glue.UpdateCrawlerInput, _ ...func(*glue.Options)) (*glue.UpdateCrawlerOutput, error) {
	g.mu.Lock()
	defer g.mu.Unlock()
	name := aws.ToString(in.Name)
	if err := g.exists(name); err != nil {
		return nil, err
	}
	if g.running[name] {
		return nil, &gluetypes.CrawlerRunningException{Message: aws.String("Crawler with name " + name + " is running")}
	}
	var paths []string
	for _, t := range in.Targets.S3Targets {
		paths = append(paths, aws.ToString(t.Path))
	}
	g.targets[name] = paths
	return &glue.UpdateCrawlerOutput{}, nil
}

func (g *scriptedGlue) StartCrawler(_ context.Context, in *glue.StartCrawlerInput, _ ...func(*glue.Options)) (*glue.StartCrawlerOutput, error) {
	name := aws.ToString(in.Name)
	g.mu.Lock()
	defer g.mu.Unlock()
	if err := g.exists(name); err != nil {
		return nil, err
	}
	if g.running[name] {
		return nil, &gluetypes.CrawlerRunningException{Message: aws.String("Crawler with name " + name + " has already started")}
	}
	g.running[name] = true
	g.runs = append(g.runs, name)
	go func() {
		time.Sleep(30 * time.Millisecond) // a crawl faster than any real one
		g.mu.Lock()
		delete(g.running, name)
		errMsg := g.fail[name]
		targets := g.targets[name]
		g.mu.Unlock()
		// Read what a crawler reads, as its role: a denied read fails the crawl as it
		// would in Glue.
		for _, path := range targets {
			if errMsg != "" {
				break
			}
			bucket, prefix, _ := strings.Cut(strings.TrimPrefix(path, "s3://"), "/")
			out, err := g.s3.ListObjectsV2(context.Background(), &s3.ListObjectsV2Input{Bucket: aws.String(bucket), Prefix: aws.String(prefix)})
			if err == nil && len(out.Contents) > 0 {
				var obj *s3.GetObjectOutput
				if obj, err = g.s3.GetObject(context.Background(), &s3.GetObjectInput{Bucket: aws.String(bucket), Key: out.Contents[0].Key}); err == nil {
					obj.Body.Close()
				}
			}
			if err != nil {
				errMsg = strings.ReplaceAll(err.Error(), `"`, `'`)
			}
		}
		state := "Succeeded"
		if errMsg != "" {
			state = "Failed"
		}
		ev := fmt.Sprintf(`{"version":"0","id":"gl-%d","detail-type":"Glue Crawler State Change","source":"aws.glue","account":"%s","time":"%s","region":"%s","resources":[],
			"detail":{"crawlerName":"%s","state":"%s","message":"Crawler %s","errorMessage":"%s","completionDate":"%s","tablesCreated":"2","tablesUpdated":"0","tablesDeleted":"0",
			"partitionsCreated":"2","partitionsUpdated":"0","partitionsDeleted":"0","runningTime (sec)":"0","accountId":"%s"}}`,
			time.Now().UnixNano(), contract.Account, time.Now().UTC().Format(time.RFC3339), contract.Region, name, state, state, errMsg, time.Now().UTC().Format(time.RFC3339Nano), contract.Account)
		if _, err := g.publish(context.Background(), []byte(ev)); err != nil {
			panic(err)
		}
	}()
	return &glue.StartCrawlerOutput{}, nil
}

type fixture struct {
	p      *Pipeline
	acct   *Account
	admin  *s3.Client // the bucket owner: reads what the test checks, outside any role
	bucket string
	rds    *scriptedRDS
	glue   *scriptedGlue
	lake   *lflocal.Service // with fixtureOptions.lakeAdmins
}

type fixtureOptions struct {
	contract *contract.Contract // nil: contract.Load()
	iam      *iam.Authority     // nil: the contract's policies
	recheck  time.Duration      // EXPORT_RECHECK_SECONDS offline (default 30 s: never within a test)
	timeout  time.Duration      // EXPORT_TIMEOUT_SECONDS offline (default 60 s)
	crawl    time.Duration      // CRAWL_TIMEOUT_SECONDS offline (default 30 s)
	// lakeAdmins, when set, gives the account a Lake Formation (fixture.lake) whose
	// administrators are these before the stack's are added.
	lakeAdmins []string
}

// newFixture deploys the contract offline on a fresh S3 server: every handler reaches
// S3, RDS, Glue and Step Functions as its own role, and the scripted RDS writes the
// export as the export role.
func newFixture(t *testing.T, opts ...fixtureOptions) *fixture {
	t.Helper()
	var o fixtureOptions
	if len(opts) > 0 {
		o = opts[0]
	}
	c, err := contract.Load()
	if err != nil {
		t.Fatal(err)
	}
	if o.contract != nil {
		c = o.contract
	}
	srv, err := s3server.StartFake()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(srv.Stop)
	if err := srv.CreateBucket(context.Background(), c.Bucket); err != nil {
		t.Fatal(err)
	}
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	if testing.Verbose() {
		log = slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelInfo}))
	}
	acct, err := NewAccount(srv, AccountOptions{Contract: c, IAM: o.iam, Log: log})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(acct.Close)
	f := &fixture{acct: acct, admin: srv.Client(), bucket: c.Bucket}
	f.rds = &scriptedRDS{s3: acct.S3(deploy.RoleExport), tasks: map[string]rdstypes.ExportTask{}, outcome: map[string]string{}}
	f.glue = &scriptedGlue{s3: acct.S3(deploy.RoleCrawler), fail: map[string]string{}, running: map[string]bool{}, targets: map[string][]string{}, crawlers: map[string]bool{}, owners: map[string][2]string{}}
	for _, cr := range c.Crawlers {
		f.glue.crawlers[cr.Name] = true
		f.glue.owners[cr.Name] = [2]string{cr.RoleArn, cr.Database}
	}
	timing := Timing{ExportTimeout: cmp.Or(o.timeout, 60*time.Second), ExportRecheck: cmp.Or(o.recheck, 30*time.Second), CrawlTimeout: cmp.Or(o.crawl, 30*time.Second)}
	// The catalog holds the stack's databases (the scripted crawls add no tables).
	cat, err := localglue.OpenCatalog(filepath.Join(t.TempDir(), "catalog.json"))
	if err != nil {
		t.Fatal(err)
	}
	if err := CreateDatabases(c, cat); err != nil {
		t.Fatal(err)
	}
	f.glue.catalog = &localglue.Service{Catalog: cat}
	if len(o.lakeAdmins) > 0 {
		if f.lake, err = lflocal.Open(filepath.Join(t.TempDir(), "lakeformation.json")); err != nil {
			t.Fatal(err)
		}
		f.lake.SetCatalog(cat)
		var admins []lftypes.DataLakePrincipal
		for _, a := range o.lakeAdmins {
			admins = append(admins, lftypes.DataLakePrincipal{DataLakePrincipalIdentifier: aws.String(a)})
		}
		if _, err := f.lake.PutDataLakeSettings(context.Background(), &lakeformation.PutDataLakeSettingsInput{DataLakeSettings: &lftypes.DataLakeSettings{DataLakeAdmins: admins}}); err != nil {
			t.Fatal(err)
		}
	}
	p, err := New(Config{
		Account: acct, RDS: f.rds, Glue: f.glue, Timing: timing, Catalog: f.glue.catalog, LakeFormation: f.lake,
		RetryInterval: 200 * time.Millisecond, // 60 crawler retries: 12 s for the other crawl to end
		Log:           log,
	})
	if err != nil {
		t.Fatal(err)
	}
	f.rds.publish, f.glue.publish = p.Publish, p.Publish
	f.p = p
	return f
}

// results waits for every execution and returns their results by execution ARN.
func (f *fixture) results(t *testing.T) []stepfunctions.Result {
	t.Helper()
	done := make(chan []error)
	go func() { done <- f.p.Wait() }()
	select {
	case errs := <-done:
		if len(errs) > 0 {
			t.Fatalf("event targets failed: %v", errs)
		}
	case <-time.After(60 * time.Second):
		t.Fatal("executions did not end within 60 s")
	}
	var out []stepfunctions.Result
	for _, e := range f.p.Executions() {
		r, err := e.Wait()
		if err != nil {
			t.Fatalf("execution %s: %v", e.ARN(), err)
		}
		out = append(out, r)
	}
	return out
}

func (f *fixture) keys(t *testing.T, prefix string) []string {
	t.Helper()
	var keys []string
	pg := s3.NewListObjectsV2Paginator(f.admin, &s3.ListObjectsV2Input{Bucket: aws.String(f.bucket), Prefix: aws.String(prefix)})
	for pg.HasMorePages() {
		page, err := pg.NextPage(context.Background())
		if err != nil {
			t.Fatal(err)
		}
		for _, o := range page.Contents {
			keys = append(keys, aws.ToString(o.Key))
		}
	}
	sort.Strings(keys)
	return keys
}

func snapshotEvent(t *testing.T, eventID, instance string) []byte {
	t.Helper()
	raw, err := events.Sample("snapshot-created-automated")
	if err != nil {
		t.Fatal(err)
	}
	s := strings.ReplaceAll(string(raw), "warehouse-prod", instance)
	s = inDeployment(s)
	var m map[string]any
	if err := json.Unmarshal([]byte(s), &m); err != nil {
		t.Fatal(err)
	}
	m["id"] = eventID
	b, _ := json.Marshal(m)
	return b
}

// inDeployment moves a sample event into the offline deployment's account and
// Region: RDS puts a snapshot's events on the default bus of the snapshot's own
// account and Region, and the start function may export only that account's
// snapshots (its rds:StartExportTask is scoped to them).
func inDeployment(event string) string {
	event = strings.ReplaceAll(event, ":eu-west-1:123456789012:", ":"+contract.Region+":"+contract.Account+":")
	event = strings.ReplaceAll(event, `"account": "123456789012"`, `"account": "`+contract.Account+`"`)
	return strings.ReplaceAll(event, `"region": "eu-west-1"`, `"region": "`+contract.Region+`"`)
}

func publish(t *testing.T, f *fixture, ev []byte, wantRules ...string) {
	t.Helper()
	rules, err := f.p.Publish(context.Background(), ev)
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(rules, wantRules) {
		t.Fatalf("event matched rules %v, want %v", rules, wantRules)
	}
}

func TestHappyPath(t *testing.T) {
	f := newFixture(t)
	f.rds.outcome["rds:warehouse-prod-2026-11-20-03-10"] = outcomeComplete
	publish(t, f, snapshotEvent(t, "ev-1", "warehouse-prod"), events.SnapshotCreated)
	res := f.results(t)
	if len(res) != 1 || res[0].Status != stepfunctions.StatusSucceeded {
		t.Fatalf("results = %+v", res)
	}
	for _, s := range []string{"StartExport", "WaitForExport", "Relocate", "CrawlDatabases", "Crawl", "Done"} {
		if !slices.Contains(res[0].States, s) {
			t.Errorf("state %s not entered: %v", s, res[0].States)
		}
	}
	id := "warehouse-prod-2026-11-20-03-10"
	// Files land directly in the partition: RDS's batch folders are folded into the
	// name, or a real crawler would add a partition_1 column.
	wantData := []string{
		"data/warehouse/customer/snapshot_date=2026-11-20/1_part-00000-aaaa-c000.gz.parquet",
		"data/warehouse/customer_address/snapshot_date=2026-11-20/1_part-00000-bbbb-c000.gz.parquet",
		"data/warehouse/customer_address/snapshot_date=2026-11-20/2_part-00003-cccc-c000.gz.parquet",
	}
	if got := f.keys(t, "data/"); !slices.Equal(got, wantData) {
		t.Errorf("data/ = %v\nwant %v", got, wantData)
	}
	wantLeft := []string{
		"exports/" + id + "/_snaplake_relocate_manifest.json",
		"exports/" + id + "/export_info_" + id + ".json",
		"exports/" + id + "/export_tables_info_" + id + "_from_1_to_2.json",
		"exports/" + id + "/warehouse/warehouse.customer/_SUCCESS",
	}
	if got := f.keys(t, "exports/"); !slices.Equal(got, wantLeft) {
		t.Errorf("exports/ = %v\nwant only metadata and the relocation manifest %v", got, wantLeft)
	}
	if got := f.keys(t, "callbacks/"); len(got) != 0 {
		t.Errorf("tokens left behind: %v", got)
	}
	if n := f.p.Notifications(); len(n) != 0 {
		t.Errorf("notifications on success: %+v", n)
	}
	if !slices.Equal(f.glue.runs, []string{"snaplake-warehouse"}) {
		t.Errorf("crawler runs = %v", f.glue.runs)
	}
	// One include path per table folder: customer/ never takes in customer_address/.
	wantTargets := []string{"s3://" + f.bucket + "/data/warehouse/customer/", "s3://" + f.bucket + "/data/warehouse/customer_address/"}
	if got := f.glue.targets["snaplake-warehouse"]; !slices.Equal(got, wantTargets) {
		t.Errorf("crawler include paths = %v, want %v", got, wantTargets)
	}
	for _, d := range f.acct.IAM.Denied() {
		t.Errorf("call denied on the happy path: %+v", d)
	}
}

func TestLostCompletionEventIsFoundByTheRecheck(t *testing.T) {
	f := newFixture(t, fixtureOptions{recheck: 2 * time.Second})
	f.rds.outcome["rds:warehouse-prod-2026-11-20-03-10"] = outcomeSilent
	publish(t, f, snapshotEvent(t, "ev-1", "warehouse-prod"), events.SnapshotCreated)
	res := f.results(t)
	if len(res) != 1 || res[0].Status != stepfunctions.StatusSucceeded {
		t.Fatalf("results = %+v", res)
	}
	// The first wait timed out after the re-check interval; the second asked RDS.
	if !slices.Contains(res[0].States, "CountExportWait") || !slices.Contains(res[0].States, "Done") {
		t.Errorf("states %v, want a re-check (CountExportWait) and Done", res[0].States)
	}
	if len(f.keys(t, "data/")) != 3 {
		t.Errorf("data/ = %v", f.keys(t, "data/"))
	}
}

func TestExportThatNeverEndsTimesOutWithNotification(t *testing.T) {
	f := newFixture(t, fixtureOptions{recheck: 1 * time.Second, timeout: 3 * time.Second})
	f.rds.outcome["rds:warehouse-prod-2026-11-20-03-10"] = outcomeHold
	publish(t, f, snapshotEvent(t, "ev-1", "warehouse-prod"), events.SnapshotCreated)
	res := f.results(t)
	if len(res) != 1 || res[0].Status != stepfunctions.StatusFailed || res[0].Error != "ExportTimedOut" {
		t.Fatalf("results = %+v", res)
	}
	if n := f.p.Notifications(); len(n) != 1 || !strings.Contains(n[0].Message, "did not finish within 3 seconds") {
		t.Errorf("notifications = %+v", n)
	}
}

func TestTablesRDSSkippedAreReportedOnce(t *testing.T) {
	f := newFixture(t)
	f.rds.outcome["rds:warehouse-prod-2026-11-20-03-10"] = outcomeSkipped
	// Yesterday audit_log was exported; tonight RDS fails it.
	if _, err := f.admin.PutObject(context.Background(), &s3.PutObjectInput{Bucket: aws.String(f.bucket),
		Key: aws.String("data/warehouse/audit_log/snapshot_date=2026-11-19/1_part-00000-dddd-c000.gz.parquet"), Body: strings.NewReader("yesterday")}); err != nil {
		t.Fatal(err)
	}
	publish(t, f, snapshotEvent(t, "ev-1", "warehouse-prod"), events.SnapshotCreated)
	res := f.results(t)
	if len(res) != 1 || res[0].Status != stepfunctions.StatusSucceeded {
		t.Fatalf("results = %+v", res)
	}
	if !strings.Contains(string(res[0].Output), "warehouse.audit_log") || !strings.Contains(string(res[0].Output), "FAILED") {
		t.Errorf("the execution's output does not name the skipped table: %s", res[0].Output)
	}
	n := f.p.Notifications()
	if len(n) != 1 || n[0].Subject != "snaplake export: tables not exported" || !strings.Contains(n[0].Message, "warehouse.audit_log") {
		t.Errorf("notifications = %+v, want one warning naming warehouse.audit_log", n)
	}
	// The crawler still crawls the table RDS skipped tonight: every table folder is an
	// include path, so no table's catalog entry depends on Glue's treatment of tables
	// outside the include paths.
	if got := f.glue.targets["snaplake-warehouse"]; !slices.Contains(got, "s3://"+f.bucket+"/data/warehouse/audit_log/") || len(got) != 3 {
		t.Errorf("include paths %v, want customer, customer_address and audit_log", got)
	}
}

func TestFailurePaths(t *testing.T) {
	tests := []struct {
		name        string
		export      string
		crawlerFail string
		wantError   string
		wantCause   string
	}{
		{"export failed", outcomeFail, "", "ExportFailed", "cannot write to the S3 bucket"}, // RDS's FailureCause, not the event's text
		{"export canceled", outcomeCancel, "", "ExportCanceled", "canceled"},
		{"crawler failed", outcomeComplete, "Insufficient Lake Formation permission(s) on warehouse", "CrawlerFailed", "Lake Formation"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := newFixture(t)
			f.rds.outcome["rds:warehouse-prod-2026-11-20-03-10"] = tt.export
			if tt.crawlerFail != "" {
				f.glue.fail["snaplake-warehouse"] = tt.crawlerFail
			}
			publish(t, f, snapshotEvent(t, "ev-1", "warehouse-prod"), events.SnapshotCreated)
			res := f.results(t)
			if len(res) != 1 {
				t.Fatalf("%d executions", len(res))
			}
			r := res[0]
			if r.Status != stepfunctions.StatusFailed || r.Error != tt.wantError || !strings.Contains(r.Cause, tt.wantCause) {
				t.Errorf("result = %s %s %q, want FAILED %s containing %q", r.Status, r.Error, r.Cause, tt.wantError, tt.wantCause)
			}
			// Promptly: the wait ended on the event, not on its timeout.
			if slices.Contains(res[0].States, "Relocate") && tt.export != outcomeComplete {
				t.Errorf("a failed export went on to Relocate: %v", res[0].States)
			}
			n := f.p.Notifications()
			if len(n) != 1 || n[0].Subject != "snaplake export failed" || !strings.Contains(n[0].Message, tt.wantError) ||
				!strings.Contains(n[0].Message, "rds:warehouse-prod-2026-11-20-03-10") {
				t.Errorf("notifications = %+v", n)
			}
			if !slices.Contains(r.States, "NotifyFailure") {
				t.Errorf("NotifyFailure not entered: %v", r.States)
			}
			if tt.export != outcomeComplete {
				if got := f.keys(t, "data/"); len(got) != 0 {
					t.Errorf("a failed export was relocated: %v", got)
				}
			}
		})
	}
}

func TestMissingExportFailsWithNotification(t *testing.T) {
	f := newFixture(t)
	f.rds.outcome["rds:warehouse-prod-2026-11-20-03-10"] = outcomeEmpty
	publish(t, f, snapshotEvent(t, "ev-1", "warehouse-prod"), events.SnapshotCreated)
	res := f.results(t)
	if len(res) != 1 || res[0].Status != stepfunctions.StatusFailed || res[0].Error != "ExportNotFoundError" {
		t.Fatalf("results = %+v", res)
	}
	if n := f.p.Notifications(); len(n) != 1 || !strings.Contains(n[0].Message, "ExportNotFoundError") {
		t.Errorf("notifications = %+v", n)
	}
	if len(f.glue.runs) != 0 || len(f.keys(t, "data/")) != 0 {
		t.Errorf("crawled %v / relocated %v after a missing export", f.glue.runs, f.keys(t, "data/"))
	}
}

func TestDuplicateSnapshotEvent(t *testing.T) {
	f := newFixture(t)
	f.rds.outcome["rds:warehouse-prod-2026-11-20-03-10"] = outcomeHold
	f.rds.finished = make(chan string, 1)
	// EventBridge re-delivers the very same event (same id): StartExecution is idempotent.
	publish(t, f, snapshotEvent(t, "ev-1", "warehouse-prod"), events.SnapshotCreated)
	publish(t, f, snapshotEvent(t, "ev-1", "warehouse-prod"), events.SnapshotCreated)
	waitUntil(t, "the first execution waits for the export", func() bool { return len(f.p.Tokens.Waiting()) == 1 })
	// The event sent again by hand (another id): a second execution finds the export
	// running and waits for it too; the first, older one is ended as superseded, so
	// the export never depends on an execution that may already be gone.
	publish(t, f, snapshotEvent(t, "ev-2", "warehouse-prod"), events.SnapshotCreated)
	waitUntil(t, "two executions started and one ended as superseded", func() bool {
		if len(f.p.Executions()) != 2 {
			return false
		}
		for _, e := range f.p.Executions() {
			select {
			case <-e.Done():
				return len(f.p.Tokens.Waiting()) == 1
			default:
			}
		}
		return false
	})
	f.rds.finish(context.Background(), "warehouse-prod-2026-11-20-03-10", outcomeComplete)
	res := f.results(t)
	if len(res) != 2 {
		t.Fatalf("%d executions, want 2", len(res))
	}
	var done, superseded int
	for _, r := range res {
		if r.Status != stepfunctions.StatusSucceeded {
			t.Errorf("execution %s %s: %s", r.Status, r.Error, r.Cause)
		}
		switch {
		case slices.Contains(r.States, "Done"):
			done++
		case slices.Contains(r.States, "Superseded"):
			superseded++
			if slices.Contains(r.States, "Relocate") {
				t.Errorf("the superseded execution relocated: %v", r.States)
			}
		}
	}
	if done != 1 || superseded != 1 {
		t.Errorf("done=%d superseded=%d, want 1 and 1", done, superseded)
	}
	if len(f.rds.started) != 1 {
		t.Errorf("exports started: %v, want one", f.rds.started)
	}
	if len(f.glue.runs) != 1 {
		t.Errorf("crawls: %v, want one", f.glue.runs)
	}
	if len(f.p.Notifications()) != 0 {
		t.Errorf("notifications: %+v", f.p.Notifications())
	}
}

func TestOverlappingDatabasesResumeOnlyTheirOwnWait(t *testing.T) {
	f := newFixture(t)
	f.rds.outcome["rds:warehouse-prod-2026-11-20-03-10"] = outcomeHold
	f.rds.outcome["rds:billing-prod-2026-11-20-03-10"] = outcomeHold
	publish(t, f, snapshotEvent(t, "ev-w", "warehouse-prod"), events.SnapshotCreated)
	publish(t, f, snapshotEvent(t, "ev-b", "billing-prod"), events.SnapshotCreated)
	waitUntil(t, "both executions wait for their exports", func() bool { return len(f.p.Tokens.Waiting()) == 2 })
	// Finish in the opposite order; each event must resume only its own execution.
	f.rds.finish(context.Background(), "billing-prod-2026-11-20-03-10", outcomeComplete)
	waitUntil(t, "billing resumed", func() bool { return len(f.p.Tokens.Waiting()) <= 1 })
	if got := f.p.Tokens.Waiting(); len(got) != 1 {
		t.Fatalf("waiting = %v", got)
	}
	f.rds.finish(context.Background(), "warehouse-prod-2026-11-20-03-10", outcomeFail)
	res := f.results(t)
	if len(res) != 2 {
		t.Fatalf("%d executions", len(res))
	}
	byStatus := map[string]stepfunctions.Result{}
	for _, r := range res {
		byStatus[r.Status] = r
	}
	ok, failed := byStatus[stepfunctions.StatusSucceeded], byStatus[stepfunctions.StatusFailed]
	if !strings.Contains(string(ok.Output), "billing-prod-2026-11-20-03-10") || strings.Contains(string(ok.Output), "rds:warehouse-prod") {
		t.Errorf("succeeded execution is not billing's: %s", ok.Output)
	}
	if failed.Error != "ExportFailed" {
		t.Errorf("warehouse execution: %s %s", failed.Status, failed.Error)
	}
	// Both exported database "warehouse": the shared crawler ran for billing only.
	if len(f.glue.runs) != 1 {
		t.Errorf("crawls = %v", f.glue.runs)
	}
	if n := f.p.Notifications(); len(n) != 1 || !strings.Contains(n[0].Message, "rds:warehouse-prod-2026-11-20-03-10") {
		t.Errorf("notifications = %+v", n)
	}
}

func TestSharedCrawlerWaitsForTheRunningCrawl(t *testing.T) {
	f := newFixture(t)
	f.rds.outcome["rds:warehouse-prod-2026-11-20-03-10"] = outcomeComplete
	f.rds.outcome["rds:billing-prod-2026-11-20-03-10"] = outcomeComplete
	publish(t, f, snapshotEvent(t, "ev-w", "warehouse-prod"), events.SnapshotCreated)
	publish(t, f, snapshotEvent(t, "ev-b", "billing-prod"), events.SnapshotCreated)
	res := f.results(t)
	for _, r := range res {
		if r.Status != stepfunctions.StatusSucceeded {
			t.Errorf("execution %s %s %s", r.Status, r.Error, r.Cause)
		}
	}
	if len(f.glue.runs) != 2 {
		t.Errorf("crawler runs = %v, want one per execution", f.glue.runs)
	}
}

func TestForeignSnapshotIsIgnoredQuietly(t *testing.T) {
	f := newFixture(t)
	raw, err := events.Sample("nearmiss-replica-snapshot-created")
	if err != nil {
		t.Fatal(err)
	}
	// The prefix pattern cannot tell warehouse-prod-replica from warehouse-prod; the
	// Lambda can, and a replica's snapshot every night is no failure to notify.
	publish(t, f, raw, events.SnapshotCreated)
	res := f.results(t)
	if len(res) != 1 || res[0].Status != stepfunctions.StatusSucceeded || !slices.Contains(res[0].States, "IgnoredSnapshot") {
		t.Fatalf("results = %+v", res)
	}
	if len(f.rds.started) != 0 {
		t.Errorf("exports started: %v", f.rds.started)
	}
	if n := f.p.Notifications(); len(n) != 0 {
		t.Errorf("notifications = %+v, want none", n)
	}
}

func TestMalformedEventFailsWithNotification(t *testing.T) {
	f := newFixture(t)
	exec, err := f.p.Runner.Start(context.Background(), "malformed", f.p.Definition(), []byte(`{"source":"aws.rds","detail-type":"RDS DB Snapshot Event","detail":{"EventID":"RDS-EVENT-0091"}}`))
	if err != nil {
		t.Fatal(err)
	}
	r, err := exec.Wait()
	if err != nil {
		t.Fatal(err)
	}
	if r.Status != stepfunctions.StatusFailed || r.Error != "InvalidEventError" || len(f.p.Notifications()) != 1 || len(f.rds.started) != 0 {
		t.Errorf("result %s %s %q; notifications %d; exports %d", r.Status, r.Error, r.Cause, len(f.p.Notifications()), len(f.rds.started))
	}
}

func waitUntil(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(60 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting until %s", what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func TestFailedNotificationStillFailsWithTheOriginalError(t *testing.T) {
	c, err := contract.Load()
	if err != nil {
		t.Fatal(err)
	}
	base, err := NewAuthority(c)
	if err != nil {
		t.Fatal(err)
	}
	// Take sns:Publish away from the workflow's role: NotifyFailure itself fails.
	without := base
	for i := 0; i < base.StatementCount(deploy.RoleStateMachine); i++ {
		if st, _ := base.StatementJSON(deploy.RoleStateMachine, i); strings.Contains(st, "sns:Publish") {
			if without, err = base.Without(deploy.RoleStateMachine, i); err != nil {
				t.Fatal(err)
			}
		}
	}
	if without == base {
		t.Fatal("the workflow's role has no sns:Publish statement")
	}
	f := newFixture(t, fixtureOptions{iam: without})
	f.rds.outcome["rds:warehouse-prod-2026-11-20-03-10"] = outcomeFail
	publish(t, f, snapshotEvent(t, "ev-1", "warehouse-prod"), events.SnapshotCreated)
	res := f.results(t)
	if len(res) != 1 || res[0].Status != stepfunctions.StatusFailed || res[0].Error != "ExportFailed" {
		t.Fatalf("results = %+v, want FAILED with ExportFailed, not the notification's error", res)
	}
	if !slices.Contains(res[0].States, "NotifyFailure") || res[0].States[len(res[0].States)-1] != "Failed" {
		t.Errorf("states %v, want NotifyFailure then Failed", res[0].States)
	}
	if n := f.p.Notifications(); len(n) != 0 {
		t.Errorf("notifications = %+v, want none (publishing was denied)", n)
	}
}
