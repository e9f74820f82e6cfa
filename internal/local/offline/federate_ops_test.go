package offline

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"

	"github.com/snaplake/snaplake/internal/aws/lease"
	"github.com/snaplake/snaplake/internal/config"
	"github.com/snaplake/snaplake/internal/deploy"
	"github.com/snaplake/snaplake/internal/federate"
	"github.com/snaplake/snaplake/internal/federate/redshift"
	"github.com/snaplake/snaplake/internal/local/contract"
	"github.com/snaplake/snaplake/internal/local/s3server"
	"github.com/snaplake/snaplake/internal/local/stepfunctions"
)

// The deployed warehouses of the contract (internal/local/contract): the subscribers'
// databases are databases of the one reporting cluster.
const (
	contractTransformArn = "arn:aws:redshift-serverless:us-east-1:000000000000:workgroup/00000000-0000-4000-8000-000000000001"
	contractReportingArn = "arn:aws:redshift:eu-west-1:000000000000:cluster:reporting"
)

// federatorWorld is a PostgreSQL with a transform database and subscriber databases,
// a real S3 with the contract's lake bucket, and the deployed Federator over them.
type federatorWorld struct {
	t      *testing.T
	ctx    context.Context
	pg     interface{ DSN(string) string }
	srv    *s3server.Server
	c      *contract.Contract
	logBuf *bytes.Buffer
	log    *slog.Logger
}

func newFederatorWorld(t *testing.T, subscriberDBs ...string) *federatorWorld {
	t.Helper()
	ctx := context.Background()
	pg, c, srv := startFederatorServers(t, append([]string{"transform"}, subscriberDBs...)...)
	var buf bytes.Buffer
	return &federatorWorld{t: t, ctx: ctx, pg: pg, srv: srv, c: c, logBuf: &buf, log: slog.New(slog.NewJSONHandler(&buf, nil))}
}

func (w *federatorWorld) exec(db string, stmts ...string) {
	w.t.Helper()
	wh, err := redshift.Open(w.ctx, w.pg.DSN(db), redshift.Deps{S3: w.srv.Client()})
	if err != nil {
		w.t.Fatal(err)
	}
	defer wh.Close()
	if err := wh.Exec(w.ctx, stmts...); err != nil {
		w.t.Fatal(err)
	}
}

func (w *federatorWorld) put(key, body string) {
	w.t.Helper()
	if _, err := w.srv.Client().PutObject(w.ctx, &s3.PutObjectInput{Bucket: aws.String(w.c.Bucket), Key: aws.String(key), Body: strings.NewReader(body)}); err != nil {
		w.t.Fatal(err)
	}
}

// run runs a workflow as deployed, every call authorized, and fails the test on a
// denied call or a failed execution.
func (w *federatorWorld) run(workflow string, subscriberDBs ...string) stepfunctions.Result {
	w.t.Helper()
	acct, err := NewAccount(w.srv, AccountOptions{Contract: w.c, Log: w.log})
	if err != nil {
		w.t.Fatal(err)
	}
	w.t.Cleanup(acct.Close)
	warehouses := map[string]string{w.pg.DSN("transform"): contractTransformArn}
	for _, db := range subscriberDBs {
		warehouses[w.pg.DSN(db)] = contractReportingArn
	}
	f, err := NewFederate(FederateConfig{Account: acct, Warehouses: warehouses, RetryInterval: 50 * time.Millisecond, Log: w.log})
	if err != nil {
		w.t.Fatal(err)
	}
	res, err := f.Run(w.ctx, workflow, time.Now())
	if err != nil {
		w.t.Fatal(err)
	}
	if res.Status != stepfunctions.StatusSucceeded {
		w.t.Fatalf("%s: %s %s %s (notified %+v)", workflow, res.Status, res.Error, res.Cause, f.Notifications())
	}
	if d := acct.IAM.Denied(); len(d) > 0 {
		w.t.Errorf("%s: denied %+v", workflow, d)
	}
	return res
}

// TestFederatorSubscriberTables: two subscribers with different table lists (and one
// without a list) each hold exactly their tables after the deployed workflows, the
// status says which tables each holds and which it does not take, and the subscribe
// function writes each subscriber's lag metrics, the lag alarm's.
func TestFederatorSubscriberTables(t *testing.T) {
	t.Parallel() // its own PostgreSQL and S3 servers; it mostly waits on statements
	subs := []string{"sales_db", "hr_db", "all_db"}
	w := newFederatorWorld(t, subs...)
	w.exec("transform",
		"CREATE SCHEMA sales", "CREATE SCHEMA hr",
		"CREATE TABLE sales.dim (id INTEGER NOT NULL, name TEXT)", "INSERT INTO sales.dim SELECT g, 'n' || g FROM generate_series(1, 20) g",
		"CREATE TABLE sales.fact (id INTEGER NOT NULL, amount NUMERIC(10,2))", "INSERT INTO sales.fact SELECT g, g / 3.0 FROM generate_series(1, 70) g",
		"CREATE TABLE hr.staff (id INTEGER NOT NULL, name TEXT)", "INSERT INTO hr.staff SELECT g, 's' || g FROM generate_series(1, 5) g")
	cfg := fmt.Sprintf(`federate:
  publisher: %q
  tables:
    - {table: sales.dim}
    - {table: sales.fact}
    - {table: hr.staff}
  subscribers:
    - {name: sales, redshift: %q, tables: [sales.fact, sales.dim], maxLag: 2h}
    - {name: hr, redshift: %q, tables: [hr.staff]}
    - {name: all, redshift: %q}
`, w.pg.DSN("transform"), w.pg.DSN("sales_db"), w.pg.DSN("hr_db"), w.pg.DSN("all_db"))
	w.put(config.S3Key, cfg)
	w.run(deploy.FnPublish, subs...)
	w.run(deploy.FnSubscribe, subs...)

	want := map[string][]string{
		"sales_db": {"sales.dim", "sales.fact"},
		"hr_db":    {"hr.staff"},
		"all_db":   {"hr.staff", "sales.dim", "sales.fact"},
	}
	for db, tables := range want {
		wh, err := redshift.Open(w.ctx, w.pg.DSN(db), redshift.Deps{S3: w.srv.Client()})
		if err != nil {
			t.Fatal(err)
		}
		rows, err := wh.Query(w.ctx, "SELECT table_schema || '.' || table_name FROM information_schema.tables WHERE table_schema NOT IN ('pg_catalog', 'information_schema', '"+federate.ControlSchema+"') ORDER BY 1")
		if err != nil {
			t.Fatal(err)
		}
		var got []string
		for _, r := range rows {
			got = append(got, *r[0])
		}
		if !slices.Equal(got, tables) {
			t.Errorf("%s holds %v, want exactly %v", db, got, tables)
		}
		wh.Close()
	}

	parsed, err := config.ParseSection[federate.Config]("snaplake.yaml", []byte(cfg), deploy.SectionFederate)
	if err != nil {
		t.Fatal(err)
	}
	var runs []*federate.SubscriberRun
	for _, s := range parsed.Subscribers {
		wh, err := redshift.Open(w.ctx, s.Redshift, redshift.Deps{S3: w.srv.Client()})
		if err != nil {
			t.Fatal(err)
		}
		defer wh.Close()
		runs = append(runs, &federate.SubscriberRun{Name: s.Name, Warehouse: wh, Store: federate.Store{S3: w.srv.Client(), Bucket: w.c.Bucket}})
	}
	states := map[string]string{}
	for _, st := range federate.Status(w.ctx, federate.Store{S3: w.srv.Client(), Bucket: w.c.Bucket}, *parsed, runs, time.Now()) {
		if st.Error != "" {
			t.Errorf("status of %s: %s", st.Table, st.Error)
		}
		for _, ss := range st.Subscribers {
			states[ss.Subscriber+" "+st.Table] = ss.State
			if ss.State == federate.StateNotSubscribed && (ss.Version != "" || ss.LagSeconds != 0) {
				t.Errorf("status of %s for %s: not subscribed, yet version %q lag %v", st.Table, ss.Subscriber, ss.Version, ss.LagSeconds)
			}
		}
	}
	wantStates := map[string]string{
		"sales sales.dim": federate.StateCurrent, "sales sales.fact": federate.StateCurrent, "sales hr.staff": federate.StateNotSubscribed,
		"hr sales.dim": federate.StateNotSubscribed, "hr sales.fact": federate.StateNotSubscribed, "hr hr.staff": federate.StateCurrent,
		"all sales.dim": federate.StateCurrent, "all sales.fact": federate.StateCurrent, "all hr.staff": federate.StateCurrent,
	}
	if fmt.Sprint(states) != fmt.Sprint(wantStates) {
		t.Errorf("status states %v, want %v", states, wantStates)
	}

	// The subscribe function wrote each subscriber's lag against its own maxLag.
	over := map[string]float64{}
	for _, line := range strings.Split(w.logBuf.String(), "\n") {
		if !strings.Contains(line, `"`+deploy.FederateMetricLagOverMaxLag+`"`) || !strings.Contains(line, `"_aws"`) {
			continue
		}
		var rec map[string]any
		if err := json.Unmarshal([]byte(line), &rec); err != nil {
			t.Fatal(err)
		}
		if rec["function"] != deploy.FnSubscribe {
			t.Errorf("lag metrics written by %v, want the subscribe function", rec["function"])
		}
		over[rec[deploy.FederateDimensionSubscriber].(string)] = rec[deploy.FederateMetricLagOverMaxLag].(float64)
	}
	wantOver := map[string]float64{"sales": -2 * 3600, "hr": -federate.DefaultMaxLag.Seconds(), "all": -federate.DefaultMaxLag.Seconds()}
	if fmt.Sprint(over) != fmt.Sprint(wantOver) {
		t.Errorf("lag over maxLag per subscriber %v, want %v (each holds the newest: lag 0 minus its maxLag)", over, wantOver)
	}
}

// TestFederatorCleanup: the deployed publish workflow deletes, after its tables, a
// version folder without a manifest older than the grace, and keeps a young one, an
// old one with a manifest, and an old one whose table a live publish lease holds;
// every call is authorized as the publish function.
func TestFederatorCleanup(t *testing.T) {
	t.Parallel() // its own PostgreSQL and S3 servers; it mostly waits on statements
	w := newFederatorWorld(t, "reporting_db")
	w.exec("transform", "CREATE SCHEMA sales",
		"CREATE TABLE sales.dim (id INTEGER NOT NULL)", "INSERT INTO sales.dim SELECT g FROM generate_series(1, 10) g")
	w.put(config.S3Key, fmt.Sprintf("federate:\n  publisher: %q\n  abandonAfter: 36h\n  tables:\n    - {table: sales.dim}\n  subscribers:\n    - {name: reporting, redshift: %q}\n",
		w.pg.DSN("transform"), w.pg.DSN("reporting_db")))
	// The handlers run on the real clock: the folders' names are relative to it.
	now := time.Now().UTC()
	folder := func(table string, age time.Duration, manifest bool) string {
		name := federate.Version{Published: now.Add(-age), Kind: federate.KindFull, Rows: 1}.Name()
		w.put(federate.VersionDir(table, name)+"0000_part_00", "1\n")
		if manifest {
			w.put(federate.ManifestKey(table, name), `{"table":"`+table+`","version":"`+name+`","kind":"full","columns":[],"files":[],"rows":1}`)
		}
		return name
	}
	abandoned := folder("sales.dim", 40*time.Hour, false)
	young := folder("sales.dim", 30*time.Hour, false) // older than the 24h default, younger than the config's 36h
	complete := folder("sales.gone", 90*time.Hour, true)
	leased := folder("sales.busy", 40*time.Hour, false)
	leases := lease.Store{S3: w.srv.Client(), Bucket: w.c.Bucket}
	if _, err := leases.Acquire(w.ctx, deploy.FederatePublishLeaseKey("sales.busy"), "the publishing of sales.busy", "a-running-publish", 2*time.Hour); err != nil {
		t.Fatal(err)
	}

	res := w.run(deploy.FnPublish)
	exists := func(table, version string) bool {
		out, err := w.srv.Client().ListObjectsV2(w.ctx, &s3.ListObjectsV2Input{Bucket: aws.String(w.c.Bucket), Prefix: aws.String(federate.VersionDir(table, version))})
		if err != nil {
			t.Fatal(err)
		}
		return len(out.Contents) > 0
	}
	for _, c := range []struct {
		table, version, what string
		kept                 bool
	}{
		{"sales.dim", abandoned, "no manifest, 40 h old", false},
		{"sales.dim", young, "no manifest, 30 h old, within abandonAfter 36h", true},
		{"sales.gone", complete, "a manifest", true},
		{"sales.busy", leased, "a live publish lease on its table", true},
	} {
		if got := exists(c.table, c.version); got != c.kept {
			t.Errorf("%s %s (%s): exists %v, want %v", c.table, c.version, c.what, got, c.kept)
		}
	}
	// The run published sales.dim meanwhile (its first complete version) and says
	// what it deleted.
	var out struct {
		Summary struct {
			Summary struct {
				Changed          int    `json:"changed"`
				AbandonedDeleted int    `json:"abandonedDeleted"`
				Message          string `json:"message"`
			} `json:"summary"`
		} `json:"summary"`
	}
	if err := json.Unmarshal(res.Output, &out); err != nil {
		t.Fatal(err)
	}
	if s := out.Summary.Summary; s.Changed != 1 || s.AbandonedDeleted != 1 || !strings.Contains(s.Message, "1 abandoned version folders deleted") {
		t.Errorf("publish summary %+v, want sales.dim published and 1 abandoned folder deleted", s)
	}
	if n := strings.Count(w.logBuf.String(), `"msg":"abandoned version folder deleted"`); n != 1 {
		t.Errorf("deleted-folder log lines: %d, want 1", n)
	}
}
