package rdsexport_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http/httptest"
	"os"
	"regexp"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/rds"
	rdstypes "github.com/aws/aws-sdk-go-v2/service/rds/types"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/smithy-go"
	"github.com/johannesboyne/gofakes3"
	"github.com/johannesboyne/gofakes3/backend/s3mem"
	"github.com/parquet-go/parquet-go"

	"github.com/snaplake/snaplake/internal/local/mariadb"
	"github.com/snaplake/snaplake/internal/local/mariadb/mariadbtest"
	"github.com/snaplake/snaplake/internal/local/rdsexport"
	"github.com/snaplake/snaplake/internal/local/testenv"
)

// exportAPI is the interface the production start-export code declares;
// the stand-in must satisfy it, as the real *rds.Client does.
type exportAPI interface {
	StartExportTask(ctx context.Context, in *rds.StartExportTaskInput, optFns ...func(*rds.Options)) (*rds.StartExportTaskOutput, error)
	DescribeExportTasks(ctx context.Context, in *rds.DescribeExportTasksInput, optFns ...func(*rds.Options)) (*rds.DescribeExportTasksOutput, error)
}

var (
	_ exportAPI                  = (*rdsexport.Service)(nil)
	_ exportAPI                  = (*rds.Client)(nil)
	_ rdsexport.S3API            = (*s3.Client)(nil)
	_ rdsexport.SnapshotResolver = rdsexport.StaticSnapshots(nil)
)

const (
	bucket  = "snaplake-exports"
	snapArn = "arn:aws:rds:eu-west-1:123456789012:snapshot:rds:shop-db-2026-11-20-03-05"
	snapID  = "rds:shop-db-2026-11-20-03-05"
)

var server *mariadb.Server

func TestMain(m *testing.M) {
	os.Exit(run(m))
}

func run(m *testing.M) int {
	if testenv.Short() {
		return m.Run() // no server: the tests that need it skip
	}
	var stop func()
	var err error
	server, stop, err = mariadbtest.StartForMain("rdsexport-test")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	defer stop()
	db, err := server.DB("")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	defer db.Close()
	for _, q := range []string{
		"CREATE DATABASE snap_shop",
		"CREATE TABLE snap_shop.customers (id INT PRIMARY KEY, name VARCHAR(50) NOT NULL, email VARCHAR(100))",
		"INSERT INTO snap_shop.customers VALUES (1, 'Zoë', 'zoe@example.com'), (2, 'Ødegaard', NULL), (3, 'Li 李', 'li@example.com')",
		"CREATE TABLE snap_shop.orders (id BIGINT PRIMARY KEY, customer_id INT NOT NULL, amount DECIMAL(12,2) NOT NULL, created_at DATETIME(3) NOT NULL)",
		"INSERT INTO snap_shop.orders SELECT seq, 1 + seq MOD 3, seq * 1.25, '2026-11-01' + INTERVAL seq MINUTE FROM snap_shop.seq_1_to_2500",
		"CREATE VIEW snap_shop.big_orders AS SELECT * FROM snap_shop.orders WHERE amount > 100",
		"CREATE DATABASE snap_audit",
		"CREATE TABLE snap_audit.log (id INT, at TIMESTAMP NULL, what TEXT)",
		"INSERT INTO snap_audit.log VALUES (1, '2026-11-20 01:00:00', 'login'), (2, NULL, 'logout')",
	} {
		if _, err := db.Exec(q); err != nil {
			fmt.Fprintf(os.Stderr, "%s: %v\n", q, err)
			return 1
		}
	}
	return m.Run()
}

// fixture is a Service wired to the shared MariaDB and a fresh in-memory S3.
type fixture struct {
	svc    *rdsexport.Service
	s3     *s3.Client
	mu     sync.Mutex
	events [][]byte
	steps  []int
}

func newFixture(t *testing.T) *fixture {
	t.Helper()
	testenv.NeedsServers(t)
	backend := s3mem.New()
	if err := backend.CreateBucket(bucket); err != nil {
		t.Fatal(err)
	}
	ts := httptest.NewServer(gofakes3.New(backend).Server())
	t.Cleanup(ts.Close)
	client := s3.New(s3.Options{
		BaseEndpoint:               aws.String(ts.URL),
		UsePathStyle:               true,
		Region:                     "eu-west-1",
		Credentials:                credentials.NewStaticCredentialsProvider("test", "test", ""),
		RequestChecksumCalculation: aws.RequestChecksumCalculationWhenRequired,
		ResponseChecksumValidation: aws.ResponseChecksumValidationWhenRequired,
	})
	db, err := server.DB("")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	f := &fixture{s3: client}
	f.svc = &rdsexport.Service{
		DB: db,
		Snapshots: rdsexport.StaticSnapshots{snapArn: {
			ID: snapID, Arn: snapArn, Created: time.Date(2026, 11, 20, 3, 5, 0, 0, time.UTC),
			Databases: map[string]string{"shop": "snap_shop", "audit": "snap_audit"},
		}},
		S3:      client,
		Account: "123456789012",
		Region:  "eu-west-1",
		Log:     slog.New(slog.NewTextHandler(io.Discard, nil)),
		TempDir: t.TempDir(),
		Publish: func(ctx context.Context, event []byte) error {
			f.mu.Lock()
			defer f.mu.Unlock()
			f.events = append(f.events, event)
			return nil
		},
		Progress: func(exportID string, done, total int, rows int64) {
			f.mu.Lock()
			defer f.mu.Unlock()
			f.steps = append(f.steps, done)
		},
		RowsPerFile: 1000,
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		defer cancel()
		if err := f.svc.Wait(ctx); err != nil {
			t.Error(err)
		}
	})
	return f
}

func startInput(id string, only ...string) *rds.StartExportTaskInput {
	return &rds.StartExportTaskInput{
		ExportTaskIdentifier: aws.String(id),
		SourceArn:            aws.String(snapArn),
		S3BucketName:         aws.String(bucket),
		S3Prefix:             aws.String("exports"),
		IamRoleArn:           aws.String("arn:aws:iam::123456789012:role/snaplake-export"),
		KmsKeyId:             aws.String("arn:aws:kms:eu-west-1:123456789012:key/1234abcd"),
		ExportOnly:           only,
	}
}

// waitDone polls DescribeExportTasks as production code would.
func (f *fixture) waitDone(t *testing.T, id string) rdstypes.ExportTask {
	t.Helper()
	deadline := time.Now().Add(time.Minute)
	for time.Now().Before(deadline) {
		out, err := f.svc.DescribeExportTasks(context.Background(), &rds.DescribeExportTasksInput{ExportTaskIdentifier: aws.String(id)})
		if err != nil {
			t.Fatalf("describe %s: %v", id, err)
		}
		if len(out.ExportTasks) != 1 {
			t.Fatalf("describe %s: %d tasks", id, len(out.ExportTasks))
		}
		if st := aws.ToString(out.ExportTasks[0].Status); st == rdsexport.StatusComplete || st == rdsexport.StatusFailed {
			return out.ExportTasks[0]
		}
		time.Sleep(20 * time.Millisecond)
	}
	t.Fatalf("export %s did not finish", id)
	return rdstypes.ExportTask{}
}

func (f *fixture) keys(t *testing.T, prefix string) []string {
	t.Helper()
	var keys []string
	p := s3.NewListObjectsV2Paginator(f.s3, &s3.ListObjectsV2Input{Bucket: aws.String(bucket), Prefix: aws.String(prefix)})
	for p.HasMorePages() {
		page, err := p.NextPage(context.Background())
		if err != nil {
			t.Fatal(err)
		}
		for _, o := range page.Contents {
			keys = append(keys, *o.Key)
		}
	}
	slices.Sort(keys)
	return keys
}

func (f *fixture) get(t *testing.T, key string) []byte {
	t.Helper()
	out, err := f.s3.GetObject(context.Background(), &s3.GetObjectInput{Bucket: aws.String(bucket), Key: aws.String(key)})
	if err != nil {
		t.Fatalf("get %s: %v", key, err)
	}
	defer out.Body.Close()
	b, err := io.ReadAll(out.Body)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func (f *fixture) parquetRows(t *testing.T, key string) int64 {
	t.Helper()
	b := f.get(t, key)
	pf, err := parquet.OpenFile(bytes.NewReader(b), int64(len(b)))
	if err != nil {
		t.Fatalf("open %s as parquet: %v", key, err)
	}
	return pf.NumRows()
}

var partRE = regexp.MustCompile(`^exports/(\w[\w-]*)/(\w+)/(\w+)\.(\w+)/1/part-(\d{5})-[0-9a-f-]{36}-c000\.gz\.parquet$`)

func TestExportLayoutAndMetadata(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	const id = "shop-db-2026-11-20-03-05"
	out, err := f.svc.StartExportTask(ctx, startInput(id))
	if err != nil {
		t.Fatal(err)
	}
	if aws.ToString(out.Status) != rdsexport.StatusStarting || aws.ToString(out.ExportTaskIdentifier) != id {
		t.Fatalf("start returned status %q id %q, want STARTING %s", aws.ToString(out.Status), aws.ToString(out.ExportTaskIdentifier), id)
	}
	task := f.waitDone(t, id)
	if aws.ToString(task.Status) != rdsexport.StatusComplete || aws.ToInt32(task.PercentProgress) != 100 ||
		aws.ToString(task.SourceArn) != snapArn || aws.ToString(task.S3Bucket) != bucket || aws.ToString(task.S3Prefix) != "exports" {
		t.Fatalf("finished task %+v", task)
	}

	keys := f.keys(t, "exports/")
	wantRows := map[string]int64{"shop.customers": 3, "shop.orders": 2500, "audit.log": 2}
	gotRows := map[string]int64{}
	parts := map[string]int{}
	success := map[string]bool{}
	var other []string
	for _, k := range keys {
		if m := partRE.FindStringSubmatch(k); m != nil {
			if m[1] != id || m[2] != m[3] {
				t.Errorf("part %s: export id or database folder wrong", k)
			}
			gotRows[m[3]+"."+m[4]] += f.parquetRows(t, k)
			parts[m[3]+"."+m[4]]++
			continue
		}
		if strings.HasSuffix(k, "/_SUCCESS") {
			success[strings.TrimSuffix(strings.TrimPrefix(k, "exports/"+id+"/"), "/_SUCCESS")] = true
			continue
		}
		other = append(other, k)
	}
	for target, n := range wantRows {
		if gotRows[target] != n {
			t.Errorf("%s: %d rows in Parquet, table has %d", target, gotRows[target], n)
		}
		db, _, _ := strings.Cut(target, ".")
		if !success[db+"/"+target] {
			t.Errorf("%s: no _SUCCESS in its table folder", target)
		}
	}
	if len(gotRows) != len(wantRows) {
		t.Errorf("exported tables %v, want %v (views are not exported)", gotRows, wantRows)
	}
	if parts["shop.orders"] != 3 {
		t.Errorf("shop.orders in %d parts, want 3 at 1000 rows per file", parts["shop.orders"])
	}
	wantOther := []string{
		"exports/" + id + "/export_info_" + id + ".json",
		"exports/" + id + "/export_tables_info_" + id + "_from_1_to_3.json",
	}
	if !slices.Equal(other, wantOther) {
		t.Fatalf("metadata keys %q, want %q", other, wantOther)
	}

	var info map[string]any
	if err := json.Unmarshal(f.get(t, wantOther[0]), &info); err != nil {
		t.Fatal(err)
	}
	for k, v := range map[string]any{
		"exportTaskIdentifier": id, "sourceArn": snapArn, "s3Bucket": bucket, "s3Prefix": "exports",
		"exportedFilesPath": "exports/" + id, "status": "COMPLETE", "percentProgress": 100.0,
		"iamRoleArn": "arn:aws:iam::123456789012:role/snaplake-export", "snapshotTime": "2026-11-20T03:05:00.000Z",
	} {
		if info[k] != v {
			t.Errorf("export_info %s = %#v, want %#v", k, info[k], v)
		}
	}
	for _, k := range []string{"taskStartTime", "taskEndTime", "kmsKeyId", "totalExportedDataInGB", "exportOnly"} {
		if _, ok := info[k]; !ok {
			t.Errorf("export_info lacks %s", k)
		}
	}

	var tables rdsexport.TablesInfo
	if err := json.Unmarshal(f.get(t, wantOther[1]), &tables); err != nil {
		t.Fatal(err)
	}
	var targets []string
	for _, ts := range tables.PerTableStatus {
		targets = append(targets, ts.Target)
		if ts.Status != "COMPLETE" || ts.TableStatistics.ExtractedRows != wantRows[ts.Target] {
			t.Errorf("%s: status %s, extractedRows %d, want COMPLETE %d", ts.Target, ts.Status, ts.TableStatistics.ExtractedRows, wantRows[ts.Target])
		}
		if ts.Target == "shop.orders" {
			want := []rdsexport.TypeMapping{
				{ColumnName: "id", OriginalType: "bigint", ExpectedExportedType: "int64", OriginalNumPrecision: 19},
				{ColumnName: "customer_id", OriginalType: "int", ExpectedExportedType: "int32", OriginalNumPrecision: 10},
				{ColumnName: "amount", OriginalType: "decimal", ExpectedExportedType: "int64 (DECIMAL(12,2))", OriginalNumPrecision: 12},
				{ColumnName: "created_at", OriginalType: "datetime", ExpectedExportedType: "int64 (TIMESTAMP_MICROS)", OriginalDateTimePrecision: 3},
			}
			if !slices.Equal(ts.SchemaMetadata.OriginalTypeMappings, want) {
				t.Errorf("shop.orders type mappings\n got %+v\nwant %+v", ts.SchemaMetadata.OriginalTypeMappings, want)
			}
		}
	}
	if !slices.Equal(targets, []string{"audit.log", "shop.customers", "shop.orders"}) {
		t.Errorf("perTableStatus targets %q", targets)
	}

	f.mu.Lock()
	events, steps := f.events, f.steps
	f.mu.Unlock()
	if len(events) != 1 {
		t.Fatalf("%d events, want 1", len(events))
	}
	checkEvent(t, events[0], "RDS-EVENT-0161", "The snapshot export task completed.")
	if !slices.Equal(steps, []int{1, 2, 3}) {
		t.Errorf("progress steps %v, want [1 2 3]", steps)
	}
}

func checkEvent(t *testing.T, raw []byte, eventID, messagePrefix string) {
	t.Helper()
	var ev struct {
		Source     string   `json:"source"`
		DetailType string   `json:"detail-type"`
		Account    string   `json:"account"`
		Region     string   `json:"region"`
		Time       string   `json:"time"`
		Resources  []string `json:"resources"`
		Detail     struct {
			EventCategories  []string
			SourceType       string
			SourceArn        string
			Date             string
			SourceIdentifier string
			Message          string
			EventID          string
		} `json:"detail"`
	}
	if err := json.Unmarshal(raw, &ev); err != nil {
		t.Fatalf("event %s: %v", raw, err)
	}
	d := ev.Detail
	if ev.Source != "aws.rds" || ev.DetailType != "RDS DB Snapshot Event" || ev.Account != "123456789012" || ev.Region != "eu-west-1" ||
		!slices.Equal(ev.Resources, []string{snapArn}) || !slices.Equal(d.EventCategories, []string{"notification"}) ||
		d.SourceType != "SNAPSHOT" || d.SourceArn != snapArn || d.SourceIdentifier != snapID || d.EventID != eventID ||
		!strings.HasPrefix(d.Message, messagePrefix) {
		t.Fatalf("event %s", raw)
	}
	if _, err := time.Parse(time.RFC3339, d.Date); err != nil {
		t.Errorf("detail.Date %q: %v", d.Date, err)
	}
	if _, err := time.Parse(time.RFC3339, ev.Time); err != nil {
		t.Errorf("time %q: %v", ev.Time, err)
	}
}

func TestExportOnly(t *testing.T) {
	tests := []struct {
		name        string
		only        []string
		wantTargets []string
	}{
		{"one database", []string{"audit"}, []string{"audit.log"}},
		{"one table", []string{"shop.orders"}, []string{"shop.orders"}},
		{"database and table", []string{"audit", "shop.customers"}, []string{"audit.log", "shop.customers"}},
	}
	for i, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := newFixture(t)
			id := fmt.Sprintf("only-%d", i)
			if _, err := f.svc.StartExportTask(context.Background(), startInput(id, tt.only...)); err != nil {
				t.Fatal(err)
			}
			task := f.waitDone(t, id)
			if aws.ToString(task.Status) != rdsexport.StatusComplete || !slices.Equal(task.ExportOnly, tt.only) {
				t.Fatalf("task %s status %s ExportOnly %v", id, aws.ToString(task.Status), task.ExportOnly)
			}
			var targets []string
			for _, k := range f.keys(t, "exports/"+id+"/") {
				if m := partRE.FindStringSubmatch(k); m != nil && m[5] == "00000" {
					targets = append(targets, m[3]+"."+m[4])
				}
			}
			slices.Sort(targets)
			if !slices.Equal(targets, tt.wantTargets) {
				t.Fatalf("exported %q, want %q", targets, tt.wantTargets)
			}
			var tables rdsexport.TablesInfo
			key := fmt.Sprintf("exports/%s/export_tables_info_%s_from_1_to_%d.json", id, id, len(tt.wantTargets))
			if err := json.Unmarshal(f.get(t, key), &tables); err != nil {
				t.Fatal(err)
			}
			if len(tables.PerTableStatus) != len(tt.wantTargets) {
				t.Fatalf("%s lists %d tables", key, len(tables.PerTableStatus))
			}
		})
	}
}

func TestDuplicateIdentifier(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	if _, err := f.svc.StartExportTask(ctx, startInput("dup-1", "audit")); err != nil {
		t.Fatal(err)
	}
	// While running, and after completion: identifiers are never reusable.
	for _, phase := range []string{"running", "finished"} {
		if phase == "finished" {
			f.waitDone(t, "dup-1")
		}
		_, err := f.svc.StartExportTask(ctx, startInput("dup-1", "audit"))
		var exists *rdstypes.ExportTaskAlreadyExistsFault
		if !errors.As(err, &exists) || !strings.Contains(exists.ErrorMessage(), "dup-1") {
			t.Fatalf("%s: second start with the same identifier: %v, want ExportTaskAlreadyExistsFault", phase, err)
		}
	}
}

func TestFailureHook(t *testing.T) {
	f := newFixture(t)
	f.svc.FailNext = func(id string) string {
		if id == "doomed" {
			return "simulated restore failure"
		}
		return ""
	}
	if _, err := f.svc.StartExportTask(context.Background(), startInput("doomed")); err != nil {
		t.Fatal(err)
	}
	task := f.waitDone(t, "doomed")
	if aws.ToString(task.Status) != rdsexport.StatusFailed || !strings.Contains(aws.ToString(task.FailureCause), "simulated restore failure") {
		t.Fatalf("task status %s cause %q", aws.ToString(task.Status), aws.ToString(task.FailureCause))
	}
	if keys := f.keys(t, "exports/doomed/"); len(keys) != 0 {
		t.Errorf("failed export left %q", keys)
	}
	f.mu.Lock()
	events := f.events
	f.mu.Unlock()
	if len(events) != 1 {
		t.Fatalf("%d events, want 1", len(events))
	}
	checkEvent(t, events[0], "RDS-EVENT-0159", "The snapshot export task failed.")
	// As RDS does, the event only says the export failed; the reason is the task's
	// FailureCause (checked above), which the resume function reads.
	if strings.Contains(string(events[0]), "simulated restore failure") {
		t.Errorf("failure event carries the reason, which RDS's event never does: %s", events[0])
	}
	// A different export of the same snapshot still works.
	if _, err := f.svc.StartExportTask(context.Background(), startInput("retry-1", "audit")); err != nil {
		t.Fatal(err)
	}
	if st := aws.ToString(f.waitDone(t, "retry-1").Status); st != rdsexport.StatusComplete {
		t.Fatalf("retry status %s", st)
	}
}

func TestStartValidation(t *testing.T) {
	f := newFixture(t)
	apiCode := func(code string) func(error) bool {
		return func(err error) bool {
			var ae smithy.APIError
			return errors.As(err, &ae) && ae.ErrorCode() == code
		}
	}
	tests := []struct {
		name   string
		modify func(in *rds.StartExportTaskInput)
		want   func(error) bool
	}{
		{"starts with digit", func(in *rds.StartExportTaskInput) { in.ExportTaskIdentifier = aws.String("1shop") }, apiCode("InvalidParameterValue")},
		{"double hyphen", func(in *rds.StartExportTaskInput) { in.ExportTaskIdentifier = aws.String("shop--db") }, apiCode("InvalidParameterValue")},
		{"trailing hyphen", func(in *rds.StartExportTaskInput) { in.ExportTaskIdentifier = aws.String("shop-") }, apiCode("InvalidParameterValue")},
		{"colon from snapshot id", func(in *rds.StartExportTaskInput) { in.ExportTaskIdentifier = aws.String("rds:shop-db") }, apiCode("InvalidParameterValue")},
		{"61 characters", func(in *rds.StartExportTaskInput) {
			in.ExportTaskIdentifier = aws.String("a" + strings.Repeat("b", 60))
		}, apiCode("InvalidParameterValue")},
		{"prefix with colon", func(in *rds.StartExportTaskInput) { in.S3Prefix = aws.String("a:b") }, apiCode("InvalidParameterValue")},
		{"missing KMS key", func(in *rds.StartExportTaskInput) { in.KmsKeyId = nil }, func(err error) bool {
			var ip smithy.InvalidParamsError
			return errors.As(err, &ip) && strings.Contains(err.Error(), "KmsKeyId")
		}},
		{"bad bucket name", func(in *rds.StartExportTaskInput) { in.S3BucketName = aws.String("Bad_Bucket") }, func(err error) bool {
			var e *rdstypes.InvalidS3BucketFault
			return errors.As(err, &e)
		}},
		{"unknown snapshot", func(in *rds.StartExportTaskInput) { in.SourceArn = aws.String(snapArn + "x") }, func(err error) bool {
			var e *rdstypes.DBSnapshotNotFoundFault
			return errors.As(err, &e)
		}},
		{"ExportOnly unknown database", func(in *rds.StartExportTaskInput) { in.ExportOnly = []string{"billing"} }, func(err error) bool {
			var e *rdstypes.InvalidExportOnlyFault
			return errors.As(err, &e)
		}},
	}
	for i, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			in := startInput(fmt.Sprintf("valid-%d", i))
			tt.modify(in)
			out, err := f.svc.StartExportTask(context.Background(), in)
			if err == nil || out != nil || !tt.want(err) {
				t.Fatalf("got %v, %v", out, err)
			}
		})
	}
	// The longest valid identifier is accepted, and rejected requests left no task behind.
	longest := "a" + strings.Repeat("b", 59)
	if _, err := f.svc.StartExportTask(context.Background(), startInput(longest, "audit")); err != nil {
		t.Fatalf("60-character identifier: %v", err)
	}
	f.waitDone(t, longest)
	out, err := f.svc.DescribeExportTasks(context.Background(), &rds.DescribeExportTasksInput{SourceArn: aws.String(snapArn)})
	if err != nil || len(out.ExportTasks) != 1 {
		t.Fatalf("describe by source ARN: %v, %d tasks, want 1", err, len(out.ExportTasks))
	}
	_, err = f.svc.DescribeExportTasks(context.Background(), &rds.DescribeExportTasksInput{ExportTaskIdentifier: aws.String("nope")})
	var nf *rdstypes.ExportTaskNotFoundFault
	if !errors.As(err, &nf) {
		t.Fatalf("describe unknown: %v, want ExportTaskNotFoundFault", err)
	}
}
