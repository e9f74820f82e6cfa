package redshift

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/redshiftdata"
	rdtypes "github.com/aws/aws-sdk-go-v2/service/redshiftdata/types"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	s3types "github.com/aws/aws-sdk-go-v2/service/s3/types"
)

// fakeStatement is how one submitted statement (or batch) behaves.
type fakeStatement struct {
	// statuses are what successive DescribeStatement calls answer; the last repeats.
	statuses   []rdtypes.StatusString
	errMsg     string
	subs       []rdtypes.SubStatementData
	resultRows int64
	// pages of GetStatementResult; none: no result set.
	pages [][][]rdtypes.Field
	// describeErr fails DescribeStatement.
	describeErr error

	described int
}

// fakeDataAPI is an in-memory Redshift Data API: each submission gets an id and the
// behaviour script chooses for its SQL.
type fakeDataAPI struct {
	mu       sync.Mutex
	script   func(sqls []string) *fakeStatement
	stmts    map[string]*fakeStatement
	executes []*redshiftdata.ExecuteStatementInput
	batches  []*redshiftdata.BatchExecuteStatementInput
	tokens   []string // NextToken of each GetStatementResult call ("" for none)
	cancels  []string
	// cancel answers CancelStatement (nil: Status true).
	cancel func(id string) (*redshiftdata.CancelStatementOutput, error)
}

func newFake(script func(sqls []string) *fakeStatement) *fakeDataAPI {
	return &fakeDataAPI{script: script, stmts: map[string]*fakeStatement{}}
}

func finished() *fakeStatement {
	return &fakeStatement{statuses: []rdtypes.StatusString{rdtypes.StatusStringFinished}, resultRows: -1}
}

func (f *fakeDataAPI) submit(sqls []string) string {
	id := fmt.Sprintf("stmt-%d", len(f.stmts)+1)
	f.stmts[id] = f.script(sqls)
	return id
}

func (f *fakeDataAPI) ExecuteStatement(ctx context.Context, in *redshiftdata.ExecuteStatementInput, _ ...func(*redshiftdata.Options)) (*redshiftdata.ExecuteStatementOutput, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.executes = append(f.executes, in)
	return &redshiftdata.ExecuteStatementOutput{Id: aws.String(f.submit([]string{aws.ToString(in.Sql)}))}, nil
}

func (f *fakeDataAPI) BatchExecuteStatement(ctx context.Context, in *redshiftdata.BatchExecuteStatementInput, _ ...func(*redshiftdata.Options)) (*redshiftdata.BatchExecuteStatementOutput, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.batches = append(f.batches, in)
	return &redshiftdata.BatchExecuteStatementOutput{Id: aws.String(f.submit(in.Sqls))}, nil
}

func (f *fakeDataAPI) DescribeStatement(ctx context.Context, in *redshiftdata.DescribeStatementInput, _ ...func(*redshiftdata.Options)) (*redshiftdata.DescribeStatementOutput, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	s, ok := f.stmts[aws.ToString(in.Id)]
	if !ok {
		return nil, &rdtypes.ResourceNotFoundException{Message: aws.String("no statement " + aws.ToString(in.Id))}
	}
	if s.describeErr != nil {
		return nil, s.describeErr
	}
	status := s.statuses[min(s.described, len(s.statuses)-1)]
	s.described++
	out := &redshiftdata.DescribeStatementOutput{Id: in.Id, Status: status, ResultRows: s.resultRows, SubStatements: s.subs}
	if status == rdtypes.StatusStringFinished {
		out.HasResultSet = aws.Bool(len(s.pages) > 0)
	}
	if status == rdtypes.StatusStringFailed || status == rdtypes.StatusStringAborted {
		out.Error = aws.String(s.errMsg)
	}
	return out, nil
}

func (f *fakeDataAPI) GetStatementResult(ctx context.Context, in *redshiftdata.GetStatementResultInput, _ ...func(*redshiftdata.Options)) (*redshiftdata.GetStatementResultOutput, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	tok := aws.ToString(in.NextToken)
	f.tokens = append(f.tokens, tok)
	s := f.stmts[aws.ToString(in.Id)]
	page := 0
	if tok != "" {
		if _, err := fmt.Sscanf(tok, "page-%d", &page); err != nil {
			return nil, fmt.Errorf("bad token %q", tok)
		}
	}
	out := &redshiftdata.GetStatementResultOutput{Records: s.pages[page]}
	if page+1 < len(s.pages) {
		out.NextToken = aws.String(fmt.Sprintf("page-%d", page+1))
	}
	return out, nil
}

func (f *fakeDataAPI) CancelStatement(ctx context.Context, in *redshiftdata.CancelStatementInput, _ ...func(*redshiftdata.Options)) (*redshiftdata.CancelStatementOutput, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.cancels = append(f.cancels, aws.ToString(in.Id))
	if f.cancel != nil {
		return f.cancel(aws.ToString(in.Id))
	}
	return &redshiftdata.CancelStatementOutput{Status: aws.Bool(true)}, nil
}

// sent is every SQL submitted, a batch as its statements joined by "\n;\n".
func (f *fakeDataAPI) sent() []string {
	f.mu.Lock()
	defer f.mu.Unlock()
	var out []string
	for _, e := range f.executes {
		out = append(out, aws.ToString(e.Sql))
	}
	for _, b := range f.batches {
		out = append(out, strings.Join(b.Sqls, "\n;\n"))
	}
	return out
}

// fakeS3 keeps objects in memory, keyed bucket/key.
type fakeS3 struct {
	mu      sync.Mutex
	objects map[string][]byte
	types   map[string]string
}

func newFakeS3() *fakeS3 { return &fakeS3{objects: map[string][]byte{}, types: map[string]string{}} }

func (f *fakeS3) ListObjectsV2(ctx context.Context, in *s3.ListObjectsV2Input, _ ...func(*s3.Options)) (*s3.ListObjectsV2Output, error) {
	return &s3.ListObjectsV2Output{}, nil
}

func (f *fakeS3) GetObject(ctx context.Context, in *s3.GetObjectInput, _ ...func(*s3.Options)) (*s3.GetObjectOutput, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	b, ok := f.objects[aws.ToString(in.Bucket)+"/"+aws.ToString(in.Key)]
	if !ok {
		return nil, &s3types.NoSuchKey{Message: aws.String("no such key")}
	}
	return &s3.GetObjectOutput{Body: io.NopCloser(bytes.NewReader(b))}, nil
}

func (f *fakeS3) PutObject(ctx context.Context, in *s3.PutObjectInput, _ ...func(*s3.Options)) (*s3.PutObjectOutput, error) {
	b, err := io.ReadAll(in.Body)
	if err != nil {
		return nil, err
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	k := aws.ToString(in.Bucket) + "/" + aws.ToString(in.Key)
	f.objects[k] = b
	f.types[k] = aws.ToString(in.ContentType)
	return &s3.PutObjectOutput{}, nil
}

func openFake(t *testing.T, api *fakeDataAPI, store *fakeS3) *DataAPI {
	t.Helper()
	cfg := DataAPIConfig{
		Client: api, WorkgroupName: "analytics", Database: "dev",
		SecretArn: "arn:aws:secretsmanager:eu-west-1:123456789012:secret:redshift-AbCdEf",
		IAMRole:   role, KMSKeyID: kmsKey, BucketRegion: lakeRegion,
		PollInterval: time.Millisecond, Timeout: 5 * time.Second,
	}
	if store != nil {
		cfg.S3 = store
	}
	d, err := OpenDataAPI(cfg)
	if err != nil {
		t.Fatal(err)
	}
	return d
}

func str(s string) rdtypes.Field   { return &rdtypes.FieldMemberStringValue{Value: s} }
func long(n int64) rdtypes.Field   { return &rdtypes.FieldMemberLongValue{Value: n} }
func null() rdtypes.Field          { return &rdtypes.FieldMemberIsNull{Value: true} }
func boolean(b bool) rdtypes.Field { return &rdtypes.FieldMemberBooleanValue{Value: b} }

func readGolden(t *testing.T, name string) string {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("testdata", name))
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// TestEachOperationSendsItsGoldenSQL runs every operation against the fake and
// compares the statement sent with the golden file sql_test.go pins, and checks the
// connection parameters of each call.
func TestEachOperationSendsItsGoldenSQL(t *testing.T) {
	manifest := readGolden(t, "unload_manifest.json")
	api := newFake(func(sqls []string) *fakeStatement {
		s := finished()
		switch {
		case strings.HasPrefix(sqls[0], "SELECT COUNT(*)"):
			s.pages = [][][]rdtypes.Field{{{long(30), str("2024-05-01 10:00:00"), null()}}}
		case strings.Contains(sqls[0], "svv_columns"):
			s.pages = [][][]rdtypes.Field{{{str("id"), str("bigint"), null(), long(64), long(0), str("NO")}}}
		case strings.HasPrefix(sqls[0], "COPY"):
			s.resultRows = 30
		}
		return s
	})
	store := newFakeS3()
	store.objects["lake/federate/orders/v3/manifest"] = []byte(manifest)
	d := openFake(t, api, store)
	ctx := context.Background()

	if _, err := d.Stats(ctx, "sales", "orders", "created_at", "updated_at"); err != nil {
		t.Fatal(err)
	}
	if _, err := d.Columns(ctx, "sales", "orders"); err != nil {
		t.Fatal(err)
	}
	files, err := d.Unload(ctx, "SELECT id, amount, created_at FROM sales.orders WHERE created_at >= '2024-01-01'", "s3://lake/federate/orders/v3/")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := d.Copy(ctx, "sales", "orders", files); err != nil {
		t.Fatal(err)
	}
	want := []string{
		readGolden(t, "sql/stats.sql"),
		readGolden(t, "sql/columns.sql"),
		readGolden(t, "sql/unload.sql"),
		readGolden(t, "sql/copy.sql"),
	}
	got := api.sent()
	if len(got) != len(want) {
		t.Fatalf("sent %d statements, want %d: %q", len(got), len(want), got)
	}
	for i := range want {
		if got[i] != want[i] {
			t.Errorf("statement %d:\n%s\nwant (golden):\n%s", i+1, got[i], want[i])
		}
	}
	for _, in := range api.executes {
		if aws.ToString(in.Database) != "dev" || aws.ToString(in.WorkgroupName) != "analytics" || in.ClusterIdentifier != nil ||
			aws.ToString(in.SecretArn) != "arn:aws:secretsmanager:eu-west-1:123456789012:secret:redshift-AbCdEf" || in.DbUser != nil {
			t.Errorf("connection parameters: database %q workgroup %q cluster %v secret %q user %v",
				aws.ToString(in.Database), aws.ToString(in.WorkgroupName), in.ClusterIdentifier, aws.ToString(in.SecretArn), in.DbUser)
		}
	}
}

func TestClusterWithDbUser(t *testing.T) {
	api := newFake(func([]string) *fakeStatement { return finished() })
	d, err := OpenDataAPI(DataAPIConfig{Client: api, ClusterIdentifier: "warehouse-1", Database: "prod", DbUser: "federator", PollInterval: time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	if d.Name() != "warehouse-1/prod" {
		t.Errorf("Name() = %q", d.Name())
	}
	if err := d.Exec(context.Background(), "ANALYZE sales.orders"); err != nil {
		t.Fatal(err)
	}
	in := api.executes[0]
	if aws.ToString(in.ClusterIdentifier) != "warehouse-1" || in.WorkgroupName != nil || aws.ToString(in.DbUser) != "federator" || in.SecretArn != nil {
		t.Errorf("cluster %q workgroup %v user %q secret %v", aws.ToString(in.ClusterIdentifier), in.WorkgroupName, aws.ToString(in.DbUser), in.SecretArn)
	}
}

func TestOpenDataAPIRefusesBadConfigs(t *testing.T) {
	api := newFake(nil)
	for name, cfg := range map[string]DataAPIConfig{
		"no client":            {WorkgroupName: "w", Database: "dev"},
		"neither":              {Client: api, Database: "dev"},
		"both":                 {Client: api, WorkgroupName: "w", ClusterIdentifier: "c", Database: "dev"},
		"no database":          {Client: api, WorkgroupName: "w"},
		"secret and user":      {Client: api, ClusterIdentifier: "c", Database: "dev", SecretArn: "s", DbUser: "u"},
		"user with serverless": {Client: api, WorkgroupName: "w", Database: "dev", DbUser: "u"},
	} {
		if _, err := OpenDataAPI(cfg); err == nil {
			t.Errorf("%s: opened", name)
		}
	}
}

func TestExecIsOneTransaction(t *testing.T) {
	api := newFake(func([]string) *fakeStatement { return finished() })
	d := openFake(t, api, nil)
	ctx := context.Background()

	if err := d.Exec(ctx); err != nil || len(api.sent()) != 0 {
		t.Fatalf("no statements: err %v, sent %q", err, api.sent())
	}
	if err := d.Exec(ctx, "DELETE FROM s.t WHERE id = 1"); err != nil {
		t.Fatal(err)
	}
	if len(api.executes) != 1 || len(api.batches) != 0 {
		t.Fatalf("one statement: %d ExecuteStatement, %d BatchExecuteStatement; want 1, 0", len(api.executes), len(api.batches))
	}
	stmts := []string{"CREATE TEMP TABLE stage (LIKE s.t)", "INSERT INTO stage SELECT * FROM s.u", "DELETE FROM s.t USING stage WHERE s.t.id = stage.id", "INSERT INTO s.t SELECT * FROM stage"}
	if err := d.Exec(ctx, stmts...); err != nil {
		t.Fatal(err)
	}
	if len(api.executes) != 1 || len(api.batches) != 1 {
		t.Fatalf("four statements: %d ExecuteStatement, %d BatchExecuteStatement; want 1, 1", len(api.executes), len(api.batches))
	}
	b := api.batches[0]
	if !equal(b.Sqls, stmts) {
		t.Errorf("batch Sqls %q, want %q in order", b.Sqls, stmts)
	}
	if aws.ToString(b.Database) != "dev" || aws.ToString(b.WorkgroupName) != "analytics" || b.SecretArn == nil {
		t.Errorf("batch connection parameters: %q %q %v", aws.ToString(b.Database), aws.ToString(b.WorkgroupName), b.SecretArn)
	}
	many := make([]string, 41)
	for i := range many {
		many[i] = "SELECT 1"
	}
	if err := d.Exec(ctx, many...); err == nil || !strings.Contains(err.Error(), "at most 40") {
		t.Errorf("41 statements: %v", err)
	}
	if len(api.batches) != 1 {
		t.Errorf("41 statements were submitted")
	}
}

func TestPollsUntilFinished(t *testing.T) {
	api := newFake(func([]string) *fakeStatement {
		return &fakeStatement{statuses: []rdtypes.StatusString{
			rdtypes.StatusStringSubmitted, rdtypes.StatusStringPicked, rdtypes.StatusStringStarted, rdtypes.StatusStringStarted, rdtypes.StatusStringFinished,
		}, resultRows: 7}
	})
	d := openFake(t, api, nil)
	if err := d.Exec(context.Background(), "UPDATE s.t SET x = 1"); err != nil {
		t.Fatal(err)
	}
	if n := api.stmts["stmt-1"].described; n != 5 {
		t.Errorf("DescribeStatement called %d times, want 5 (until FINISHED)", n)
	}
	if len(api.cancels) != 0 {
		t.Errorf("cancelled %q", api.cancels)
	}
}

func TestFailedAndAbortedStatementsAreTypedErrors(t *testing.T) {
	for _, status := range []rdtypes.StatusString{rdtypes.StatusStringFailed, rdtypes.StatusStringAborted} {
		api := newFake(func([]string) *fakeStatement {
			return &fakeStatement{statuses: []rdtypes.StatusString{rdtypes.StatusStringStarted, status}, errMsg: `ERROR: relation "s.t" does not exist`}
		})
		d := openFake(t, api, nil)
		_, err := d.Query(context.Background(), "SELECT x\nFROM s.t\nWHERE y")
		var se *StatementError
		if !errors.As(err, &se) {
			t.Fatalf("%s: got %v, want a *StatementError", status, err)
		}
		if se.Status != string(status) || se.Message != `ERROR: relation "s.t" does not exist` || se.SQL != "SELECT x …" || se.ID != "stmt-1" || se.Warehouse != "analytics/dev" {
			t.Errorf("%s: %+v", status, se)
		}
		if !strings.Contains(err.Error(), "does not exist") || !strings.Contains(err.Error(), "SELECT x") {
			t.Errorf("message %q lacks Redshift's error or the SQL", err)
		}
	}
}

func TestFailedBatchNamesItsFailingStatement(t *testing.T) {
	api := newFake(func(sqls []string) *fakeStatement {
		return &fakeStatement{
			statuses: []rdtypes.StatusString{rdtypes.StatusStringFailed},
			errMsg:   "batch failed",
			subs: []rdtypes.SubStatementData{
				{Id: aws.String("stmt-1:1"), Status: rdtypes.StatementStatusStringFinished},
				{Id: aws.String("stmt-1:2"), Status: rdtypes.StatementStatusStringFailed, Error: aws.String(`ERROR: column "nope" does not exist`)},
				{Id: aws.String("stmt-1:3"), Status: rdtypes.StatementStatusStringAborted},
			},
		}
	})
	d := openFake(t, api, nil)
	err := d.Exec(context.Background(), "DELETE FROM s.t", "INSERT INTO s.t (nope)\nSELECT 1", "ANALYZE s.t")
	var se *StatementError
	if !errors.As(err, &se) {
		t.Fatalf("got %v, want a *StatementError", err)
	}
	if se.ID != "stmt-1:2" || se.SQL != "INSERT INTO s.t (nope) …" || se.Message != `ERROR: column "nope" does not exist` {
		t.Errorf("%+v", se)
	}
}

func TestWaitTimesOutAndCancels(t *testing.T) {
	api := newFake(func([]string) *fakeStatement {
		return &fakeStatement{statuses: []rdtypes.StatusString{rdtypes.StatusStringStarted}}
	})
	d, err := OpenDataAPI(DataAPIConfig{Client: api, WorkgroupName: "w", Database: "dev", PollInterval: time.Millisecond, Timeout: 30 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	err = d.Exec(context.Background(), "VACUUM s.t")
	var te *StatementTimeoutError
	if !errors.As(err, &te) || !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("got %v, want a *StatementTimeoutError", err)
	}
	if el := time.Since(start); el > 2*time.Second {
		t.Errorf("the wait took %s", el)
	}
	if te.ID != "stmt-1" || te.SQL != "VACUUM s.t" || !strings.Contains(err.Error(), "outcome unknown") {
		t.Errorf("%+v: %v", te, err)
	}
	if len(api.cancels) != 1 || api.cancels[0] != "stmt-1" {
		t.Errorf("cancels %q, want [stmt-1]", api.cancels)
	}
}

func TestWaitHonoursTheCallersContext(t *testing.T) {
	api := newFake(func([]string) *fakeStatement {
		return &fakeStatement{statuses: []rdtypes.StatusString{rdtypes.StatusStringStarted}}
	})
	d := openFake(t, api, nil)
	ctx, cancel := context.WithCancel(context.Background())
	time.AfterFunc(20*time.Millisecond, cancel)
	_, err := d.Query(ctx, "SELECT pg_sleep(100)")
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("got %v, want context.Canceled", err)
	}
	if len(api.cancels) != 1 {
		t.Errorf("cancels %q, want the statement cancelled", api.cancels)
	}
}

func TestLosingTrackOfAStatementCancelsIt(t *testing.T) {
	denied := errors.New("AccessDeniedException: not allowed to describe")
	api := newFake(func([]string) *fakeStatement { return &fakeStatement{describeErr: denied} })
	err := openFake(t, api, nil).Exec(context.Background(), "DELETE FROM s.t")
	if !errors.Is(err, denied) || !strings.Contains(err.Error(), "outcome unknown") {
		t.Errorf("got %v", err)
	}
	if len(api.cancels) != 1 {
		t.Errorf("cancels %q, want the statement cancelled", api.cancels)
	}
}

func TestQueryReadsEveryPage(t *testing.T) {
	api := newFake(func([]string) *fakeStatement {
		s := finished()
		s.pages = [][][]rdtypes.Field{
			{{long(1), str("a"), boolean(true)}, {long(2), null(), boolean(false)}},
			{{long(3), str("c"), null()}},
			{{&rdtypes.FieldMemberDoubleValue{Value: 2.5}, &rdtypes.FieldMemberBlobValue{Value: []byte{0xca, 0xfe}}, str("")}},
		}
		return s
	})
	d := openFake(t, api, nil)
	rows, err := d.Query(context.Background(), "SELECT a, b, c FROM s.t")
	if err != nil {
		t.Fatal(err)
	}
	want := [][]string{{"1", "a", "t"}, {"2", "NULL", "f"}, {"3", "c", "NULL"}, {"2.5", "cafe", ""}}
	if len(rows) != len(want) {
		t.Fatalf("%d rows, want %d", len(rows), len(want))
	}
	for i := range want {
		if got := texts(rows[i]); !equal(got, want[i]) {
			t.Errorf("row %d: %q, want %q", i+1, got, want[i])
		}
	}
	if !equal(api.tokens, []string{"", "page-1", "page-2"}) {
		t.Errorf("GetStatementResult tokens %q, want each page once, in order", api.tokens)
	}
}

func TestQueryWithoutResultSet(t *testing.T) {
	api := newFake(func([]string) *fakeStatement { return finished() })
	d := openFake(t, api, nil)
	rows, err := d.Query(context.Background(), "CREATE TABLE s.t (a int)")
	if err != nil || rows != nil || len(api.tokens) != 0 {
		t.Errorf("rows %v err %v result calls %d", rows, err, len(api.tokens))
	}
}

func TestStatsParsesCountAndTimestamps(t *testing.T) {
	cases := []struct {
		name     string
		ins, upd string
		row      []rdtypes.Field
		want     Stats
	}{
		{"count only", "", "", []rdtypes.Field{long(0)}, Stats{Rows: 0}},
		{"both", "created_at", "updated_at",
			[]rdtypes.Field{long(1234), str("2024-05-01 10:00:00.123456"), str("2024-05-02 08:30:00+00")},
			Stats{Rows: 1234, MaxInserted: ptime("2024-05-01T10:00:00.123456Z"), MaxUpdated: ptime("2024-05-02T08:30:00Z")}},
		{"empty table", "created_at", "updated_at", []rdtypes.Field{long(0), null(), null()}, Stats{Rows: 0}},
		{"updated only, a date, an offset", "", "updated_on", []rdtypes.Field{long(3), str("2024-05-02")}, Stats{Rows: 3, MaxUpdated: ptime("2024-05-02T00:00:00Z")}},
		{"zone offset", "ts", "", []rdtypes.Field{long(3), str("2024-05-02 10:00:00+02")}, Stats{Rows: 3, MaxInserted: ptime("2024-05-02T08:00:00Z")}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			api := newFake(func([]string) *fakeStatement {
				s := finished()
				s.pages = [][][]rdtypes.Field{{c.row}}
				return s
			})
			got, err := openFake(t, api, nil).Stats(context.Background(), "s", "t", c.ins, c.upd)
			if err != nil {
				t.Fatal(err)
			}
			if got.Rows != c.want.Rows || !sameTime(got.MaxInserted, c.want.MaxInserted) || !sameTime(got.MaxUpdated, c.want.MaxUpdated) {
				t.Errorf("got %+v (%v, %v), want %+v", got, got.MaxInserted, got.MaxUpdated, c.want)
			}
			want, _ := StatsSQL("s", "t", c.ins, c.upd)
			if api.sent()[0] != want {
				t.Errorf("sent %q, want %q", api.sent()[0], want)
			}
		})
	}
}

func ptime(s string) *time.Time {
	t, err := time.Parse(time.RFC3339Nano, s)
	if err != nil {
		panic(err)
	}
	return &t
}

func sameTime(a, b *time.Time) bool {
	if a == nil || b == nil {
		return a == b
	}
	return a.Equal(*b) && a.Location() == time.UTC
}

func TestColumns(t *testing.T) {
	api := newFake(func([]string) *fakeStatement {
		s := finished()
		s.pages = [][][]rdtypes.Field{{
			{str("id"), str("bigint"), null(), long(64), long(0), str("NO")},
			{str("amount"), str("numeric"), null(), long(12), long(2), str("YES")},
			{str("note"), str("character varying"), long(256), null(), null(), str("YES")},
			{str("created_at"), str("timestamp without time zone"), null(), null(), null(), str("NO")},
			{str("n"), str("integer"), null(), long(32), long(0), str("YES")},
		}}
		return s
	})
	cols, err := openFake(t, api, nil).Columns(context.Background(), "sales", "orders")
	if err != nil {
		t.Fatal(err)
	}
	want := []Column{
		{"id", "bigint", false},
		{"amount", "numeric(12,2)", true},
		{"note", "character varying(256)", true},
		{"created_at", "timestamp without time zone", false},
		{"n", "integer", true},
	}
	if len(cols) != len(want) {
		t.Fatalf("%+v", cols)
	}
	for i := range want {
		if cols[i] != want[i] {
			t.Errorf("column %d: %+v, want %+v", i+1, cols[i], want[i])
		}
	}
}

func TestColumnsOfAMissingTable(t *testing.T) {
	api := newFake(func([]string) *fakeStatement {
		s := finished()
		s.pages = [][][]rdtypes.Field{{}}
		return s
	})
	_, err := openFake(t, api, nil).Columns(context.Background(), "sales", "nope")
	var nf *TableNotFoundError
	if !errors.As(err, &nf) || nf.Schema != "sales" || nf.Table != "nope" || nf.Database != "analytics/dev" {
		t.Errorf("got %v, want a *TableNotFoundError", err)
	}
}

func TestUnloadReadsTheVerboseManifest(t *testing.T) {
	api := newFake(func([]string) *fakeStatement { return finished() })
	store := newFakeS3()
	store.objects["lake/federate/orders/v3/manifest"] = []byte(readGolden(t, "unload_manifest.json"))
	files, err := openFake(t, api, store).Unload(context.Background(), "SELECT * FROM sales.orders", "s3://lake/federate/orders/v3/")
	if err != nil {
		t.Fatal(err)
	}
	if len(files) != len(unloaded) {
		t.Fatalf("files %+v, want %+v", files, unloaded)
	}
	for i := range unloaded {
		if files[i] != unloaded[i] {
			t.Errorf("file %d: %+v, want %+v", i+1, files[i], unloaded[i])
		}
	}
}

func TestUnloadManifestProblems(t *testing.T) {
	for name, body := range map[string]string{
		"not verbose":   `{"entries":[{"url":"s3://lake/p/0000_part_00.gz","meta":{"content_length":10}}]}`,
		"no meta":       `{"entries":[{"url":"s3://lake/p/0000_part_00.gz"}]}`,
		"no url":        `{"entries":[{"meta":{"content_length":10,"record_count":1}}]}`,
		"no entries":    `{"meta":{"content_length":0,"record_count":0}}`,
		"rows disagree": `{"entries":[{"url":"s3://lake/p/0000_part_00.gz","meta":{"content_length":10,"record_count":1}}],"meta":{"content_length":10,"record_count":2}}`,
		"size disagree": `{"entries":[{"url":"s3://lake/p/0000_part_00.gz","meta":{"content_length":10,"record_count":1}}],"meta":{"content_length":11,"record_count":1}}`,
		"not JSON":      `entries`,
	} {
		api := newFake(func([]string) *fakeStatement { return finished() })
		store := newFakeS3()
		store.objects["lake/p/manifest"] = []byte(body)
		if files, err := openFake(t, api, store).Unload(context.Background(), "SELECT 1", "s3://lake/p/"); err == nil {
			t.Errorf("%s: files %+v, want an error", name, files)
		}
	}
	// A missing manifest (the UNLOAD wrote elsewhere) is an error naming it.
	api := newFake(func([]string) *fakeStatement { return finished() })
	_, err := openFake(t, api, newFakeS3()).Unload(context.Background(), "SELECT 1", "s3://lake/p/")
	if err == nil || !strings.Contains(err.Error(), "s3://lake/p/manifest") {
		t.Errorf("missing manifest: %v", err)
	}
}

func TestUnloadThatFailsReadsNoManifest(t *testing.T) {
	api := newFake(func([]string) *fakeStatement {
		return &fakeStatement{statuses: []rdtypes.StatusString{rdtypes.StatusStringFailed}, errMsg: "ERROR: Specified unload destination on S3 is not empty. Consider using a different bucket / prefix, manually removing the target files in S3, or using the ALLOWOVERWRITE option."}
	})
	_, err := openFake(t, api, newFakeS3()).Unload(context.Background(), "SELECT 1", "s3://lake/p/")
	var se *StatementError
	if !errors.As(err, &se) || !strings.HasPrefix(se.SQL, "UNLOAD ('SELECT 1')") {
		t.Errorf("got %v, want a *StatementError for the UNLOAD", err)
	}
}

func TestCopyWritesItsManifestThenCopies(t *testing.T) {
	api := newFake(func([]string) *fakeStatement {
		s := finished()
		s.resultRows = 30
		return s
	})
	store := newFakeS3()
	d := openFake(t, api, store)
	n, err := d.Copy(context.Background(), "sales", "orders", unloaded)
	if err != nil {
		t.Fatal(err)
	}
	if n != 30 {
		t.Errorf("rows %d, want 30 (COPY's ResultRows)", n)
	}
	manifestURL, _, err := CopyManifest("sales", "orders", unloaded)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(manifestURL, "s3://lake/federate/orders/v3/copy-manifest-sales.orders-") || !strings.HasSuffix(manifestURL, ".json") {
		t.Errorf("manifest URL %s", manifestURL)
	}
	_, key, _ := splitS3URL(manifestURL)
	body, ok := store.objects["lake/"+key]
	if !ok {
		t.Fatalf("no manifest at %s; objects: %v", manifestURL, store.objects)
	}
	if ct := store.types["lake/"+key]; ct != "application/json" {
		t.Errorf("content type %q", ct)
	}
	golden(t, "copy_manifest.json", string(body))
	if got, want := api.sent()[0], readGolden(t, "sql/copy.sql"); got != want {
		t.Errorf("sent\n%s\nwant\n%s", got, want)
	}

	// Deterministic: the same load names the same key; another table or file set another.
	again, _, _ := CopyManifest("sales", "orders", unloaded)
	other, _, _ := CopyManifest("sales", "orders_copy", unloaded)
	fewer, _, _ := CopyManifest("sales", "orders", unloaded[:2])
	if again != manifestURL || other == manifestURL || fewer == manifestURL {
		t.Errorf("keys: %s %s %s %s", manifestURL, again, other, fewer)
	}
	// Names that are not key-safe are tamed in the key, and still kept apart.
	odd, _, _ := CopyManifest(`we"ird`, "a/b c", unloaded)
	if !strings.HasPrefix(odd, "s3://lake/federate/orders/v3/copy-manifest-we_ird.a_b_c-") {
		t.Errorf("odd names: %s", odd)
	}
}

func TestCopyWithoutRowCountFallsBackToTheFiles(t *testing.T) {
	api := newFake(func([]string) *fakeStatement { return finished() }) // ResultRows -1
	n, err := openFake(t, api, newFakeS3()).Copy(context.Background(), "sales", "orders", unloaded)
	if err != nil || n != 30 {
		t.Errorf("rows %d err %v, want 30", n, err)
	}
}

func TestCopyOfNoFilesRunsNothing(t *testing.T) {
	api := newFake(func([]string) *fakeStatement { return finished() })
	store := newFakeS3()
	n, err := openFake(t, api, store).Copy(context.Background(), "sales", "orders", nil)
	if err != nil || n != 0 || len(api.sent()) != 0 || len(store.objects) != 0 {
		t.Errorf("rows %d err %v sent %q objects %d", n, err, api.sent(), len(store.objects))
	}
}

func TestUnloadAndCopyNeedARole(t *testing.T) {
	api := newFake(func([]string) *fakeStatement { return finished() })
	d, err := OpenDataAPI(DataAPIConfig{Client: api, S3: newFakeS3(), WorkgroupName: "w", Database: "dev"})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := d.Unload(context.Background(), "SELECT 1", "s3://b/p/"); err == nil || !strings.Contains(err.Error(), "iam_role") {
		t.Errorf("unload without a role: %v", err)
	}
	if _, err := d.Copy(context.Background(), "s", "t", unloaded); err == nil || !strings.Contains(err.Error(), "iam_role") {
		t.Errorf("copy without a role: %v", err)
	}
	if len(api.sent()) != 0 {
		t.Errorf("sent %q", api.sent())
	}
}

// TestCancelOfAStatementThatIsNotRunning: CancelStatement "Cancels a running query. To
// be canceled, a query must be running" (API CancelStatement); whether it answers
// Status false or a ValidationException for one that ended is not documented, so both
// are a *NotRunningError (the caller describes the statement again), a
// ResourceNotFoundException is a *StatementNotFoundError, and only Status true is a
// cancel.
func TestCancelOfAStatementThatIsNotRunning(t *testing.T) {
	for _, c := range []struct {
		name   string
		answer func(id string) (*redshiftdata.CancelStatementOutput, error)
		check  func(error) bool
	}{
		{"status true", func(string) (*redshiftdata.CancelStatementOutput, error) {
			return &redshiftdata.CancelStatementOutput{Status: aws.Bool(true)}, nil
		}, func(err error) bool { return err == nil }},
		{"status false", func(string) (*redshiftdata.CancelStatementOutput, error) {
			return &redshiftdata.CancelStatementOutput{Status: aws.Bool(false)}, nil
		}, func(err error) bool {
			var e *NotRunningError
			return errors.As(err, &e) && strings.Contains(e.Reason, "Status false")
		}},
		{"no status", func(string) (*redshiftdata.CancelStatementOutput, error) {
			return &redshiftdata.CancelStatementOutput{}, nil
		}, func(err error) bool { var e *NotRunningError; return errors.As(err, &e) }},
		{"validation exception", func(string) (*redshiftdata.CancelStatementOutput, error) {
			return nil, &rdtypes.ValidationException{Message: aws.String("Could not cancel a query that is already in FINISHED state.")}
		}, func(err error) bool {
			var e *NotRunningError
			return errors.As(err, &e) && strings.Contains(e.Error(), "already in FINISHED state")
		}},
		{"not found", func(string) (*redshiftdata.CancelStatementOutput, error) {
			return nil, &rdtypes.ResourceNotFoundException{Message: aws.String("Query does not exist.")}
		}, func(err error) bool { var e *StatementNotFoundError; return errors.As(err, &e) }},
		{"other error", func(string) (*redshiftdata.CancelStatementOutput, error) {
			return nil, &rdtypes.InternalServerException{Message: aws.String("boom")}
		}, func(err error) bool {
			var nr *NotRunningError
			return err != nil && !errors.As(err, &nr) && strings.Contains(err.Error(), "cancel statement stmt-1")
		}},
	} {
		t.Run(c.name, func(t *testing.T) {
			api := newFake(func([]string) *fakeStatement { return finished() })
			api.cancel = c.answer
			d := openFake(t, api, nil)
			id, err := d.SubmitExec(context.Background(), "tok", "SELECT 1")
			if err != nil {
				t.Fatal(err)
			}
			if err := d.Cancel(context.Background(), id); !c.check(err) {
				t.Errorf("Cancel: %v (%T)", err, err)
			}
		})
	}
}

// TestSubmitExecSendsTheTokenAndWaitsForNothing: one statement is ExecuteStatement,
// several a BatchExecuteStatement, each with the ClientToken, answered with the id at
// once (no DescribeStatement); a FAILED batch described later names the
// sub-statement that failed.
func TestSubmitExecSendsTheTokenAndWaitsForNothing(t *testing.T) {
	api := newFake(func(sqls []string) *fakeStatement {
		if len(sqls) == 1 {
			return finished()
		}
		return &fakeStatement{statuses: []rdtypes.StatusString{rdtypes.StatusStringFailed}, errMsg: "batch failed",
			subs: []rdtypes.SubStatementData{
				{Id: aws.String("stmt-2:1"), Status: rdtypes.StatementStatusStringFinished},
				{Id: aws.String("stmt-2:2"), Status: rdtypes.StatementStatusStringFailed, Error: aws.String("ERROR: divide by zero"), QueryString: aws.String("SELECT 1 / 0")},
			}}
	})
	d := openFake(t, api, nil)
	ctx := context.Background()
	if _, err := d.SubmitExec(ctx, "one", "ALTER TABLE s.t ADD COLUMN c INT"); err != nil {
		t.Fatal(err)
	}
	id, err := d.SubmitExec(ctx, "two", "DELETE FROM s.t", "SELECT 1 / 0")
	if err != nil {
		t.Fatal(err)
	}
	if len(api.executes) != 1 || aws.ToString(api.executes[0].ClientToken) != "one" || len(api.batches) != 1 || aws.ToString(api.batches[0].ClientToken) != "two" {
		t.Fatalf("executes %+v, batches %+v: want the tokens sent", api.executes, api.batches)
	}
	for _, s := range api.stmts {
		if s.described != 0 {
			t.Fatalf("a submission described its statement: it must not wait")
		}
	}
	st, err := d.Describe(ctx, id)
	if err != nil {
		t.Fatal(err)
	}
	var se *StatementError
	if !errors.As(st.Err(), &se) || se.ID != "stmt-2:2" || se.Message != "ERROR: divide by zero" {
		t.Errorf("the failed batch: %v", st.Err())
	}
	if _, err := d.SubmitExec(ctx, "none"); err == nil {
		t.Error("no statements submitted something")
	}
}
