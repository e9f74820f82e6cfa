package archive_test

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"github.com/snaplake/snaplake/internal/local/testenv"
	"net/http"
	"net/http/httptest"
	"sort"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/service/cloudwatch"
	cwtypes "github.com/aws/aws-sdk-go-v2/service/cloudwatch/types"
	"github.com/go-sql-driver/mysql"

	"github.com/snaplake/snaplake/internal/archive"
	"github.com/snaplake/snaplake/internal/aws/awsconfig"
)

// point is one stored datapoint of AWS/RDS ReplicaLag: the one-minute period
// starting at At, its Maximum V.
type point struct {
	At time.Time
	V  float64
}

// fakeCloudWatch answers GetMetricData as CloudWatch does for one metric query over
// stored datapoints: it refuses a request without StartTime, EndTime or a valid
// query Id, returns nothing (not an error) for a metric or dimension it does not
// hold, keeps the datapoints in [StartTime, EndTime), orders them by ScanBy
// (TimestampAscending when unset), pages them by MaxDatapoints with an opaque
// NextToken (PartialData on every page but the last, Complete on the last), and
// refuses a token it did not issue.
type fakeCloudWatch struct {
	mu       sync.Mutex
	instance string
	points   []point
	// pageSize is MaxDatapoints when the request leaves it out (CloudWatch's
	// default is 100,800; tests set it low to force pages).
	pageSize int
	// before, when set, answers a call in place of the store (call is 0-based).
	before func(call int, in *cloudwatch.GetMetricDataInput) (*cloudwatch.GetMetricDataOutput, error, bool)
	calls  []cloudwatch.GetMetricDataInput
	tokens map[string]int
}

var errThrottled = errors.New("api error Throttling: Rate exceeded")

func (f *fakeCloudWatch) GetMetricData(ctx context.Context, in *cloudwatch.GetMetricDataInput, _ ...func(*cloudwatch.Options)) (*cloudwatch.GetMetricDataOutput, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	call := len(f.calls)
	f.calls = append(f.calls, *in)
	if f.before != nil {
		if out, err, ok := f.before(call, in); ok {
			return out, err
		}
	}
	if in.StartTime == nil || in.EndTime == nil || len(in.MetricDataQueries) == 0 {
		return nil, errors.New("api error ValidationError: StartTime, EndTime and MetricDataQueries are required")
	}
	if !in.StartTime.Before(*in.EndTime) {
		return nil, errors.New("api error ValidationError: The parameter StartTime must be less than the parameter EndTime.")
	}
	if len(in.MetricDataQueries) != 1 {
		return nil, errors.New("fake: one query only")
	}
	q := in.MetricDataQueries[0]
	id := aws.ToString(q.Id)
	if id == "" || id[0] < 'a' || id[0] > 'z' {
		return nil, fmt.Errorf("api error ValidationError: The value %s for parameter MetricDataQueries.member.1.Id is invalid: it must start with a lowercase letter", id)
	}
	if q.MetricStat == nil || q.MetricStat.Period == nil || *q.MetricStat.Period < 1 || aws.ToString(q.MetricStat.Stat) == "" {
		return nil, errors.New("api error ValidationError: MetricStat needs Metric, Period and Stat")
	}
	m := q.MetricStat.Metric
	matches := aws.ToString(m.Namespace) == "AWS/RDS" && aws.ToString(m.MetricName) == "ReplicaLag" &&
		len(m.Dimensions) == 1 && aws.ToString(m.Dimensions[0].Name) == "DBInstanceIdentifier" &&
		aws.ToString(m.Dimensions[0].Value) == f.instance &&
		*q.MetricStat.Period == 60 && aws.ToString(q.MetricStat.Stat) == "Maximum" &&
		(q.MetricStat.Unit == "" || q.MetricStat.Unit == cwtypes.StandardUnitSeconds)
	var sel []point
	if matches {
		for _, p := range f.points {
			if !p.At.Before(*in.StartTime) && p.At.Before(*in.EndTime) {
				sel = append(sel, p)
			}
		}
	}
	sort.Slice(sel, func(i, j int) bool {
		if in.ScanBy == cwtypes.ScanByTimestampDescending {
			return sel[i].At.After(sel[j].At)
		}
		return sel[i].At.Before(sel[j].At)
	})
	from := 0
	if in.NextToken != nil {
		at, ok := f.tokens[*in.NextToken]
		if !ok {
			return nil, errors.New("api error InvalidNextToken: The service cannot process the NextToken")
		}
		from = at
	}
	size := f.pageSize
	if in.MaxDatapoints != nil {
		size = int(*in.MaxDatapoints)
	}
	if size <= 0 {
		size = 100800
	}
	to := min(from+size, len(sel))
	res := cwtypes.MetricDataResult{Id: q.Id, Label: aws.String("ReplicaLag"), StatusCode: cwtypes.StatusCodeComplete,
		Timestamps: []time.Time{}, Values: []float64{}}
	for _, p := range sel[from:to] {
		res.Timestamps = append(res.Timestamps, p.At)
		res.Values = append(res.Values, p.V)
	}
	out := &cloudwatch.GetMetricDataOutput{MetricDataResults: []cwtypes.MetricDataResult{res}}
	if to < len(sel) {
		if f.tokens == nil {
			f.tokens = map[string]int{}
		}
		tok := "tok-" + strconv.Itoa(len(f.tokens)+1)
		f.tokens[tok] = to
		out.NextToken = aws.String(tok)
		out.MetricDataResults[0].StatusCode = cwtypes.StatusCodePartialData
	}
	return out, nil
}

// lagNow is the probe's clock in these tests: 03:00:30, half a minute into a period.
var lagNow = time.Date(2026, 12, 8, 3, 0, 30, 0, time.UTC)

// minutesAgo is the start of the one-minute period n minutes before lagNow's.
func minutesAgo(n int) time.Time {
	return lagNow.Truncate(time.Minute).Add(-time.Duration(n) * time.Minute)
}

func probe(f *fakeCloudWatch) archive.RDSReplicaLag {
	return archive.RDSReplicaLag{CW: f, Instance: f.instance, Now: func() time.Time { return lagNow }}
}

func TestRDSReplicaLagReadsTheNewestDatapoint(t *testing.T) {
	cases := []struct {
		name   string
		points []point
		want   archive.Lag
	}{
		// The newest is neither the largest nor the first in time order.
		{"newest of several", []point{{minutesAgo(3), 40}, {minutesAgo(0), 2}, {minutesAgo(1), 9}, {minutesAgo(2), 0}}, archive.Lag{Behind: 2 * time.Second}},
		{"caught up", []point{{minutesAgo(1), 7}, {minutesAgo(0), 0}}, archive.Lag{}},
		{"only an older minute has reached CloudWatch", []point{{minutesAgo(10), 1}, {minutesAgo(4), 12}}, archive.Lag{Behind: 12 * time.Second}},
		{"-1 is replication stopped", []point{{minutesAgo(2), 3}, {minutesAgo(1), -1}}, archive.Lag{Stopped: true}},
		{"stopped before, replicating now", []point{{minutesAgo(2), -1}, {minutesAgo(1), 3}}, archive.Lag{Behind: 3 * time.Second}},
		{"fractional Maximum", []point{{minutesAgo(0), 1.5}}, archive.Lag{Behind: 1500 * time.Millisecond}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			f := &fakeCloudWatch{instance: "orders-replica-1", points: c.points}
			got, err := probe(f).ReplicaLag(context.Background())
			if err != nil {
				t.Fatal(err)
			}
			if got != c.want {
				t.Fatalf("lag %+v, want %+v", got, c.want)
			}
		})
	}
}

// TestRDSReplicaLagQuery pins the query: one-minute Maximum of AWS/RDS ReplicaLag for
// the instance, newest first, over the last five whole minutes plus the current one.
func TestRDSReplicaLagQuery(t *testing.T) {
	f := &fakeCloudWatch{instance: "orders-replica-1", points: []point{{minutesAgo(0), 1}}}
	if _, err := probe(f).ReplicaLag(context.Background()); err != nil {
		t.Fatal(err)
	}
	if len(f.calls) != 1 {
		t.Fatalf("%d calls, want 1", len(f.calls))
	}
	in := f.calls[0]
	if in.ScanBy != cwtypes.ScanByTimestampDescending {
		t.Errorf("ScanBy %q, want TimestampDescending", in.ScanBy)
	}
	wantEnd := minutesAgo(0).Add(time.Minute)
	if !in.EndTime.Equal(wantEnd) || !in.StartTime.Equal(wantEnd.Add(-archive.LagWindow)) {
		t.Errorf("window %s to %s, want %s to %s", in.StartTime, in.EndTime, wantEnd.Add(-archive.LagWindow), wantEnd)
	}
	ms := in.MetricDataQueries[0].MetricStat
	if aws.ToInt32(ms.Period) != 60 || aws.ToString(ms.Stat) != "Maximum" || aws.ToString(ms.Metric.Namespace) != "AWS/RDS" ||
		aws.ToString(ms.Metric.MetricName) != "ReplicaLag" || aws.ToString(ms.Metric.Dimensions[0].Name) != "DBInstanceIdentifier" ||
		aws.ToString(ms.Metric.Dimensions[0].Value) != "orders-replica-1" {
		t.Errorf("query %+v %+v", ms, ms.Metric)
	}
}

// TestRDSReplicaLagUnknownWaits: no datapoint in the window is not "caught up" but
// an error naming the instance, which the run counts as PauseLagUnknown and waits.
func TestRDSReplicaLagUnknownWaits(t *testing.T) {
	cases := map[string]*fakeCloudWatch{
		"nothing published":       {instance: "orders-replica-1"},
		"only older than window":  {instance: "orders-replica-1", points: []point{{minutesAgo(6), 0}, {minutesAgo(30), 0}}},
		"another instance's data": {instance: "orders-replica-2", points: []point{{minutesAgo(0), 0}}},
	}
	for name, f := range cases {
		t.Run(name, func(t *testing.T) {
			p := archive.RDSReplicaLag{CW: f, Instance: "orders-replica-1", Now: func() time.Time { return lagNow }}
			lag, err := p.ReplicaLag(context.Background())
			var nd *archive.NoLagDataError
			if !errors.As(err, &nd) || nd.Instance != "orders-replica-1" {
				t.Fatalf("lag %+v, err %v; want a *NoLagDataError for orders-replica-1", lag, err)
			}
		})
	}
}

// TestRDSReplicaLagPages follows NextToken: CloudWatch may answer InternalError or
// PartialData with no datapoint and a token to ask again with.
func TestRDSReplicaLagPages(t *testing.T) {
	for _, status := range []cwtypes.StatusCode{cwtypes.StatusCodeInternalError, cwtypes.StatusCodePartialData} {
		t.Run(string(status), func(t *testing.T) {
			f := &fakeCloudWatch{instance: "orders-replica-1", points: []point{{minutesAgo(2), 30}, {minutesAgo(1), 4}}}
			f.before = func(call int, in *cloudwatch.GetMetricDataInput) (*cloudwatch.GetMetricDataOutput, error, bool) {
				if call > 0 {
					return nil, nil, false
				}
				if f.tokens == nil {
					f.tokens = map[string]int{}
				}
				f.tokens["retry-1"] = 0
				return &cloudwatch.GetMetricDataOutput{
					MetricDataResults: []cwtypes.MetricDataResult{{Id: in.MetricDataQueries[0].Id, StatusCode: status, Timestamps: []time.Time{}, Values: []float64{}}},
					NextToken:         aws.String("retry-1"),
				}, nil, true
			}
			got, err := probe(f).ReplicaLag(context.Background())
			if err != nil {
				t.Fatal(err)
			}
			if got != (archive.Lag{Behind: 4 * time.Second}) {
				t.Fatalf("lag %+v, want 4s", got)
			}
			if len(f.calls) != 2 || aws.ToString(f.calls[1].NextToken) != "retry-1" {
				t.Fatalf("calls %d, second token %q; want 2 calls, the second with retry-1", len(f.calls), aws.ToString(f.calls[1].NextToken))
			}
		})
	}
	t.Run("newest on the first page: no more pages", func(t *testing.T) {
		f := &fakeCloudWatch{instance: "orders-replica-1", pageSize: 1,
			points: []point{{minutesAgo(3), 1}, {minutesAgo(2), 2}, {minutesAgo(1), 3}, {minutesAgo(0), 5}}}
		got, err := probe(f).ReplicaLag(context.Background())
		if err != nil || got != (archive.Lag{Behind: 5 * time.Second}) {
			t.Fatalf("lag %+v, err %v; want 5s", got, err)
		}
		if len(f.calls) != 1 {
			t.Fatalf("%d calls, want 1: newest first, the first page holds the answer", len(f.calls))
		}
	})
	t.Run("a token that never ends", func(t *testing.T) {
		f := &fakeCloudWatch{instance: "orders-replica-1"}
		f.before = func(call int, in *cloudwatch.GetMetricDataInput) (*cloudwatch.GetMetricDataOutput, error, bool) {
			return &cloudwatch.GetMetricDataOutput{
				MetricDataResults: []cwtypes.MetricDataResult{{Id: in.MetricDataQueries[0].Id, StatusCode: cwtypes.StatusCodePartialData}},
				NextToken:         aws.String("again"),
			}, nil, true
		}
		if _, err := probe(f).ReplicaLag(context.Background()); err == nil {
			t.Fatal("no error after endless pages")
		}
		if len(f.calls) > 50 {
			t.Fatalf("%d calls: the probe must bound its pages", len(f.calls))
		}
	})
}

func TestRDSReplicaLagErrors(t *testing.T) {
	t.Run("the call fails", func(t *testing.T) {
		f := &fakeCloudWatch{instance: "orders-replica-1", before: func(int, *cloudwatch.GetMetricDataInput) (*cloudwatch.GetMetricDataOutput, error, bool) {
			return nil, errThrottled, true
		}}
		_, err := probe(f).ReplicaLag(context.Background())
		if !errors.Is(err, errThrottled) {
			t.Fatalf("err %v, want it to wrap %v", err, errThrottled)
		}
	})
	t.Run("Forbidden", func(t *testing.T) {
		f := &fakeCloudWatch{instance: "orders-replica-1", before: func(_ int, in *cloudwatch.GetMetricDataInput) (*cloudwatch.GetMetricDataOutput, error, bool) {
			return &cloudwatch.GetMetricDataOutput{MetricDataResults: []cwtypes.MetricDataResult{{
				Id: in.MetricDataQueries[0].Id, StatusCode: cwtypes.StatusCodeForbidden,
				Messages: []cwtypes.MessageData{{Code: aws.String("Forbidden"), Value: aws.String("not authorized")}},
			}}}, nil, true
		}}
		_, err := probe(f).ReplicaLag(context.Background())
		var se *archive.MetricStatusError
		if !errors.As(err, &se) || se.Status != cwtypes.StatusCodeForbidden {
			t.Fatalf("err %v, want a *MetricStatusError Forbidden", err)
		}
	})
	t.Run("timestamps and values disagree", func(t *testing.T) {
		f := &fakeCloudWatch{instance: "orders-replica-1", before: func(_ int, in *cloudwatch.GetMetricDataInput) (*cloudwatch.GetMetricDataOutput, error, bool) {
			return &cloudwatch.GetMetricDataOutput{MetricDataResults: []cwtypes.MetricDataResult{{
				Id: in.MetricDataQueries[0].Id, StatusCode: cwtypes.StatusCodeComplete,
				Timestamps: []time.Time{minutesAgo(0), minutesAgo(1)}, Values: []float64{0},
			}}}, nil, true
		}}
		if _, err := probe(f).ReplicaLag(context.Background()); err == nil {
			t.Fatal("no error for 2 timestamps and 1 value")
		}
	})
}

// TestRDSReplicaLagHonoursCloudWatchEndpoint: a client built from awsconfig.Load
// sends GetMetricData to AWS_ENDPOINT_URL_CLOUDWATCH, so an offline stand-in can serve it.
func TestRDSReplicaLagHonoursCloudWatchEndpoint(t *testing.T) {
	var mu sync.Mutex
	var paths []string
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		paths = append(paths, r.URL.Path)
		mu.Unlock()
		w.WriteHeader(http.StatusBadRequest)
	}))
	t.Cleanup(srv.Close)
	t.Setenv("AWS_ENDPOINT_URL", "")
	t.Setenv("AWS_ENDPOINT_URL_CLOUDWATCH", srv.URL)
	t.Setenv("AWS_ACCESS_KEY_ID", "test")
	t.Setenv("AWS_SECRET_ACCESS_KEY", "test")
	t.Setenv("AWS_REGION", "eu-west-1")
	t.Setenv("AWS_CONFIG_FILE", "/dev/null")
	t.Setenv("AWS_SHARED_CREDENTIALS_FILE", "/dev/null")
	cfg, err := awsconfig.Load(context.Background(), config.WithRetryMaxAttempts(1))
	if err != nil {
		t.Fatal(err)
	}
	p := archive.RDSReplicaLag{CW: cloudwatch.NewFromConfig(cfg), Instance: "orders-replica-1"}
	if _, err := p.ReplicaLag(context.Background()); err == nil {
		t.Fatal("no error from a server that answers 400")
	}
	mu.Lock()
	defer mu.Unlock()
	if len(paths) != 1 || paths[0] != "/service/GraniteServiceVersion20100801/operation/GetMetricData" {
		t.Fatalf("requests to the endpoint: %q; want one GetMetricData", paths)
	}
}

func TestLagProbeFor(t *testing.T) {
	ctx := context.Background()
	cw := &fakeCloudWatch{instance: "orders-replica-1"}
	t.Run("no replica", func(t *testing.T) {
		p, closeFn, err := archive.LagProbeFor(ctx, nil, nil, nil)
		if err != nil || p != nil || closeFn() != nil {
			t.Fatalf("probe %v, err %v; want none", p, err)
		}
	})
	t.Run("instance", func(t *testing.T) {
		p, _, err := archive.LagProbeFor(ctx, &archive.ReplicaConfig{Instance: "orders-replica-1"}, nil, cw)
		if err != nil {
			t.Fatal(err)
		}
		c, ok := p.(*archive.CachedLag)
		if !ok || c.For != 30*time.Second {
			t.Fatalf("probe %#v, want RDSReplicaLag kept 30 s", p)
		}
		if r, ok := c.Next.(archive.RDSReplicaLag); !ok || r.Instance != "orders-replica-1" || r.CW != cw {
			t.Fatalf("probe %#v, want RDSReplicaLag of orders-replica-1", c.Next)
		}
		if _, _, err := archive.LagProbeFor(ctx, &archive.ReplicaConfig{Instance: "orders-replica-1"}, nil, nil); err == nil {
			t.Fatal("no error for an instance without a CloudWatch client")
		}
	})
	t.Run("host", func(t *testing.T) {
		var opened []string
		db, err := sql.Open("mysql", "u:p@tcp(127.0.0.1:1)/x")
		if err != nil {
			t.Fatal(err)
		}
		open := func(_ context.Context, addr string) (*sql.DB, error) { opened = append(opened, addr); return db, nil }
		p, closeFn, err := archive.LagProbeFor(ctx, &archive.ReplicaConfig{Host: "replica.internal"}, open, cw)
		if err != nil {
			t.Fatal(err)
		}
		if r, ok := p.(archive.ReplicaStatus); !ok || r.DB != db {
			t.Fatalf("probe %#v, want ReplicaStatus over the opened pool", p)
		}
		if len(opened) != 1 || opened[0] != "replica.internal:3306" {
			t.Fatalf("opened %q, want replica.internal:3306", opened)
		}
		if err := closeFn(); err != nil {
			t.Fatal(err)
		}
		if err := db.Ping(); err == nil || err.Error() != "sql: database is closed" {
			t.Fatalf("the pool is not closed by closeFn: %v", err)
		}
		boom := errors.New("boom")
		_, _, err = archive.LagProbeFor(ctx, &archive.ReplicaConfig{Host: "replica.internal:3307"},
			func(context.Context, string) (*sql.DB, error) { return nil, boom }, cw)
		if !errors.Is(err, boom) {
			t.Fatalf("err %v, want it to wrap the opener's", err)
		}
	})
}

func TestReplicaDSN(t *testing.T) {
	got, err := archive.ReplicaDSN("archiver:s3cr@t@tcp(source.internal:3306)/shop?tls=true&parseTime=true", "replica.internal:3306")
	if err != nil {
		t.Fatal(err)
	}
	c, err := mysql.ParseDSN(got)
	if err != nil {
		t.Fatal(err)
	}
	if c.User != "archiver" || c.Passwd != "s3cr@t" || c.Addr != "replica.internal:3306" || c.DBName != "shop" || c.TLSConfig != "true" || !c.ParseTime {
		t.Fatalf("replica DSN %q: %+v", got, c)
	}
}

// TestRunWaitsOnRDSReplicaLag: a run whose replica is watched through the ReplicaLag
// metric deletes nothing while CloudWatch holds no datapoint (lag unknown) or the
// newest is -1 (replication stopped), then goes on once the replica reports it has
// caught up.
func TestRunWaitsOnRDSReplicaLag(t *testing.T) {
	testenv.NeedsServers(t)
	db, schema := newSchema(t,
		"CREATE TABLE t (id INT NOT NULL PRIMARY KEY, created_at DATETIME NOT NULL)",
		"INSERT INTO t SELECT seq, '2020-01-01' FROM seq_1_to_10")
	clock := newClock()
	f := &fakeCloudWatch{instance: "orders-replica-1"}
	f.before = func(call int, in *cloudwatch.GetMetricDataInput) (*cloudwatch.GetMetricDataOutput, error, bool) {
		// Rows must still all be there while the probe has not said "caught up".
		if n := count(t, db, "SELECT COUNT(*) FROM t"); n != 10 {
			t.Errorf("call %d: %d rows left before the replica reported its lag", call, n)
		}
		now := in.EndTime.Add(-time.Minute)
		switch call {
		case 0, 1: // nothing published yet
		case 2, 3:
			f.points = []point{{now, -1}}
		default:
			f.points = []point{{now.Add(-time.Minute), -1}, {now, 0}}
			f.before = nil
		}
		return nil, nil, false
	}
	d := archive.Deps{DB: db, S3: s3client(t), Clock: clock, Log: testLog(t),
		Lag: archive.RDSReplicaLag{CW: f, Instance: "orders-replica-1", Now: clock.Now}}
	j := job(schema, "t", cutoff, "id")
	j.MaxReplicaLag = time.Second
	sum, err := archive.Run(context.Background(), j, d)
	if err != nil {
		t.Fatal(err)
	}
	if !sum.Complete || sum.RowsDeleted != 10 {
		t.Fatalf("summary %+v", sum)
	}
	if sum.Pauses[archive.PauseLagUnknown] != 2 || sum.Pauses[archive.PauseReplicaStopped] != 2 {
		t.Fatalf("pauses %v, want 2 for the unknown lag and 2 for the stopped replica", sum.Pauses)
	}
}

// A metric published once a minute is not read before every DELETE: CachedLag
// keeps a reading for its time, and asks again after it or after an error.
func TestCachedLagKeepsAReadingForItsTime(t *testing.T) {
	now := time.Date(2026, 12, 8, 3, 0, 0, 0, time.UTC)
	calls, fail := 0, false
	c := &archive.CachedLag{For: 30 * time.Second, Now: func() time.Time { return now },
		Next: archive.LagFunc(func(context.Context) (archive.Lag, error) {
			calls++
			if fail {
				return archive.Lag{}, errors.New("throttled")
			}
			return archive.Lag{Behind: time.Duration(calls) * time.Second}, nil
		})}
	read := func() archive.Lag {
		t.Helper()
		l, err := c.ReplicaLag(context.Background())
		if err != nil {
			t.Fatal(err)
		}
		return l
	}
	if l := read(); l.Behind != time.Second || calls != 1 {
		t.Fatalf("first reading %v after %d calls", l, calls)
	}
	now = now.Add(29 * time.Second)
	if l := read(); l.Behind != time.Second || calls != 1 {
		t.Errorf("within 30 s: %v after %d calls, want the kept reading", l, calls)
	}
	now = now.Add(2 * time.Second)
	fail = true
	if _, err := c.ReplicaLag(context.Background()); err == nil || calls != 2 {
		t.Errorf("after 30 s a failing probe: %v after %d calls, want its error", err, calls)
	}
	fail = false
	if l := read(); l.Behind != 3*time.Second || calls != 3 {
		t.Errorf("after an error: %v after %d calls, want a new reading", l, calls)
	}
}
