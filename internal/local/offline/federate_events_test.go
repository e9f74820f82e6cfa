package offline

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"

	"github.com/snaplake/snaplake/events"
	"github.com/snaplake/snaplake/internal/config"
	"github.com/snaplake/snaplake/internal/deploy"
	"github.com/snaplake/snaplake/internal/federate"
	"github.com/snaplake/snaplake/internal/federate/redshift"
	"github.com/snaplake/snaplake/internal/local/contract"
	"github.com/snaplake/snaplake/internal/local/postgres"
	"github.com/snaplake/snaplake/internal/local/s3server"
	"github.com/snaplake/snaplake/internal/local/scheduler"
	"github.com/snaplake/snaplake/internal/local/stepfunctions"
)

// eventChain is a deployed Federator whose workflows only the stack's event rules
// start: no schedule runs.
type eventChain struct {
	t          testing.TB
	ctx        context.Context
	pg         *postgres.Server
	srv        *s3server.Server
	c          *contract.Contract
	acct       *Account
	f          *Federate
	seen       int // executions already checked
	eventCount int
}

func startEventChain(t testing.TB, eventRules bool, subscribers string, seedSQL ...string) *eventChain {
	t.Helper()
	return startEventChainLog(t, eventRules, subscribers, io.Discard, seedSQL...)
}

// startEventChainLog is startEventChain with the functions' and workflows' logs
// written to logs.
func startEventChainLog(t testing.TB, eventRules bool, subscribers string, logs io.Writer, seedSQL ...string) *eventChain {
	t.Helper()
	ctx := context.Background()
	pg, c, srv := startFederatorServers(t, "transform", "reporting", "archive")
	ch := &eventChain{t: t, ctx: ctx, pg: pg, srv: srv, c: c}
	ch.exec("transform", seedSQL...)
	cfg := fmt.Sprintf("federate:\n  publisher: %s\n  statementPoll: 1s\n  tables:\n    - {table: sales.dim}\n    - {table: sales.fact, inserted: inserted_at, append: true}\n  subscribers:\n%s",
		pg.DSN("transform"), fmt.Sprintf(subscribers, pg.DSN("reporting"), pg.DSN("archive")))
	if _, err := srv.Client().PutObject(ctx, &s3.PutObjectInput{Bucket: aws.String(c.Bucket), Key: aws.String(config.S3Key), Body: strings.NewReader(cfg)}); err != nil {
		t.Fatal(err)
	}
	log := slog.New(slog.NewTextHandler(logs, nil))
	var err error
	if ch.acct, err = NewAccount(srv, AccountOptions{Contract: c, Log: log}); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(ch.acct.Close)
	// Both subscribers' databases stand in for the reporting cluster (signed into
	// with its secret).
	warehouses := map[string]string{
		pg.DSN("transform"): "arn:aws:redshift-serverless:us-east-1:000000000000:workgroup/00000000-0000-4000-8000-000000000001",
		pg.DSN("reporting"): "arn:aws:redshift:eu-west-1:000000000000:cluster:reporting",
		pg.DSN("archive"):   "arn:aws:redshift:eu-west-1:000000000000:cluster:reporting",
	}
	if ch.f, err = NewFederate(FederateConfig{Account: ch.acct, Warehouses: warehouses, RetryInterval: 50 * time.Millisecond, EventRules: eventRules, Log: log}); err != nil {
		t.Fatal(err)
	}
	return ch
}

func (ch *eventChain) exec(db string, stmts ...string) {
	ch.t.Helper()
	if len(stmts) == 0 {
		return
	}
	wh, err := redshift.Open(ch.ctx, ch.pg.DSN(db), redshift.Deps{S3: ch.srv.Client()})
	if err != nil {
		ch.t.Fatal(err)
	}
	defer wh.Close()
	if err := wh.Exec(ch.ctx, stmts...); err != nil {
		ch.t.Fatal(err)
	}
}

// rows is the row count of table in db, -1 when it does not exist.
func (ch *eventChain) rows(db, table string) int {
	ch.t.Helper()
	wh, err := redshift.Open(ch.ctx, ch.pg.DSN(db), redshift.Deps{S3: ch.srv.Client()})
	if err != nil {
		ch.t.Fatal(err)
	}
	defer wh.Close()
	out, err := wh.Query(ch.ctx, "SELECT count(*) FROM "+table)
	if err != nil {
		if strings.Contains(err.Error(), "does not exist") {
			return -1
		}
		ch.t.Fatal(err)
	}
	var n int
	fmt.Sscan(*out[0][0], &n)
	return n
}

// transformFinished puts the transform's event, as its PutEvents would.
func (ch *eventChain) transformFinished(tables ...string) {
	ch.t.Helper()
	ch.eventCount++
	ev := events.Event[events.TransformFinishedDetail]{
		Version: "0", ID: fmt.Sprintf("3c1f7a52-6b0e-4d8f-9a21-%012d", ch.eventCount), DetailType: events.DetailTypeTransformFinished,
		Source: events.SourceTransform, Account: ch.c.Account, Time: time.Now().UTC().Format(time.RFC3339), Region: ch.c.Region,
		Resources: []string{}, Detail: events.TransformFinishedDetail{Tables: tables},
	}
	b, _ := json.Marshal(ev)
	ch.put(b)
}

func (ch *eventChain) put(event []byte) {
	ch.t.Helper()
	rules, err := ch.f.PutEvents(ch.ctx, event)
	if err != nil || len(rules) != 1 {
		ch.t.Fatalf("PutEvents: rules %v, %v", rules, err)
	}
}

// settle waits for the chain and returns the new executions by workflow, each with
// the tables and subscribers its list step listed.
func (ch *eventChain) settle() map[string][]EventExecution {
	ch.t.Helper()
	execs, errs := ch.f.WaitEvents()
	if len(errs) > 0 {
		ch.t.Fatalf("the chain's errors: %v", errs)
	}
	out := map[string][]EventExecution{}
	for _, e := range execs[ch.seen:] {
		if e.Result.Status != stepfunctions.StatusSucceeded {
			ch.t.Errorf("%s execution %s: %s %s %s", e.Workflow, e.Execution.ARN(), e.Result.Status, e.Result.Error, e.Result.Cause)
		}
		out[e.Workflow] = append(out[e.Workflow], e)
	}
	ch.seen = len(execs)
	if d := ch.acct.IAM.Denied(); len(d) > 0 {
		ch.t.Fatalf("denied: %+v", d)
	}
	return out
}

// listed is what an execution's list step listed (its output's list.items).
func listed(t *testing.T, e EventExecution) string {
	t.Helper()
	var out struct {
		List struct {
			Items []struct {
				Table      string   `json:"table"`
				Subscriber string   `json:"subscriber"`
				Tables     []string `json:"tables"`
			} `json:"items"`
		} `json:"list"`
	}
	if err := json.Unmarshal(e.Result.Output, &out); err != nil {
		t.Fatalf("%s output %s: %v", e.Workflow, e.Result.Output, err)
	}
	var parts []string
	for _, it := range out.List.Items {
		if it.Subscriber != "" {
			parts = append(parts, it.Subscriber+"="+strings.Join(it.Tables, "+"))
		} else {
			parts = append(parts, it.Table)
		}
	}
	return strings.Join(parts, ",")
}

const (
	chainSubscribers = "    - {name: reporting, redshift: %q, tables: [sales.dim]}\n    - {name: archive, redshift: %q, tables: [sales.fact]}\n"
	createDim        = "CREATE TABLE sales.dim (id INTEGER NOT NULL, name TEXT)"
	createFact       = "CREATE TABLE sales.fact (id BIGINT NOT NULL, amount NUMERIC(10,2), inserted_at TIMESTAMP NOT NULL)"
)

// TestFederatorEventDrivenChain: with no schedule running, a change on the transform
// reaches exactly the subscribers that take the table. The transform's event starts
// publish (the real rule, its deployed input), the publish UNLOADs the named tables,
// each version's manifest.json reaches the manifest rule as S3's Object Created (the
// UNLOAD's own files do not), and each subscribe execution loads that table into the
// subscribers that take it, every call authorized as deployed (the rules' starts as
// their roles).
func TestFederatorEventDrivenChain(t *testing.T) {
	t.Parallel() // its own PostgreSQL and S3 servers; it mostly waits on statements
	ch := startEventChain(t, true, chainSubscribers, "CREATE SCHEMA sales", createDim, createFact,
		"INSERT INTO sales.dim SELECT g, 'n' || g FROM generate_series(1, 50) g",
		"INSERT INTO sales.fact SELECT g, g / 4.0, TIMESTAMP '2026-12-01' + g * INTERVAL '1 minute' FROM generate_series(1, 300) g")

	// The transform says it changed sales.dim: that table only, into reporting only.
	ch.transformFinished("sales.dim")
	got := ch.settle()
	if len(got["publish"]) != 1 || listed(t, got["publish"][0]) != "sales.dim" {
		t.Fatalf("publish executions %d, listing %v; want one, of sales.dim", len(got["publish"]), got["publish"])
	}
	if len(got["subscribe"]) != 1 || listed(t, got["subscribe"][0]) != "reporting=sales.dim" {
		t.Fatalf("subscribe executions %v; want one, for reporting's sales.dim", got["subscribe"])
	}
	if n := ch.rows("reporting", "sales.dim"); n != 50 {
		t.Errorf("reporting holds %d rows of sales.dim, want 50", n)
	}
	if n := ch.rows("archive", "sales.dim"); n != -1 {
		t.Errorf("archive, which does not take sales.dim, holds it (%d rows)", n)
	}
	if n := ch.rows("archive", "sales.fact"); n != -1 {
		t.Errorf("archive holds sales.fact (%d rows) although nothing published it", n)
	}

	// A change of both tables and an event naming none (every table): one publish,
	// a subscribe per published table, each into its taker only.
	ch.exec("transform", "INSERT INTO sales.dim VALUES (51, 'new')",
		"INSERT INTO sales.fact SELECT g, 1, TIMESTAMP '2026-12-02' + g * INTERVAL '1 minute' FROM generate_series(301, 320) g")
	ch.transformFinished()
	got = ch.settle()
	if len(got["publish"]) != 1 || listed(t, got["publish"][0]) != "sales.dim,sales.fact" {
		t.Fatalf("publish executions %v; want one, of both tables", got["publish"])
	}
	var subs []string
	for _, e := range got["subscribe"] {
		subs = append(subs, listed(t, e))
	}
	if strings.Join(subs, " ") != "reporting=sales.dim archive=sales.fact" && strings.Join(subs, " ") != "archive=sales.fact reporting=sales.dim" {
		t.Fatalf("subscribe executions listed %v; want one per table, each for its taker", subs)
	}
	if n, m := ch.rows("reporting", "sales.dim"), ch.rows("archive", "sales.fact"); n != 51 || m != 320 {
		t.Errorf("reporting holds %d rows of sales.dim (want 51), archive %d of sales.fact (want 320)", n, m)
	}
	if n := ch.rows("reporting", "sales.fact"); n != -1 {
		t.Errorf("reporting, which does not take sales.fact, holds it (%d rows)", n)
	}

	// EventBridge delivers at least once: the same event again starts nothing.
	ch.eventCount--
	ch.transformFinished()
	if got = ch.settle(); len(got["publish"])+len(got["subscribe"]) != 0 {
		t.Errorf("a re-delivered event started %v", got)
	}
	// Two transforms finishing at once start two publish runs: the table's lease and
	// the version's match keep them from publishing it twice, so one version and one
	// subscribe run follow.
	before := ch.manifests("sales.dim")
	ch.exec("transform", "INSERT INTO sales.dim VALUES (52, 'newer')")
	ch.transformFinished("sales.dim")
	ch.transformFinished("sales.dim")
	got = ch.settle()
	if len(got["publish"]) != 2 || ch.manifests("sales.dim") != before+1 || len(got["subscribe"]) != 1 {
		t.Errorf("two overlapping publishes: %d publish runs, %d new versions, %d subscribe runs; want 2, 1, 1",
			len(got["publish"]), ch.manifests("sales.dim")-before, len(got["subscribe"]))
	}
	if n := ch.rows("reporting", "sales.dim"); n != 52 {
		t.Errorf("reporting holds %d rows of sales.dim, want 52", n)
	}
	// The chain's calls are in the reviewed list (`make permissions`).
	added, _, err := ComparePermissions(ch.c, ch.acct.IAM.Allowed(), filepath.Join("..", "..", "..", PermissionsFile), *updatePermissions)
	if err != nil {
		t.Fatal(err)
	}
	if len(added) > 0 {
		t.Errorf("calls missing from %s (review them, then `make permissions`):\n  %s", PermissionsFile, strings.Join(added, "\n  "))
	}
	// The rules started the workflows as their own roles.
	allowed := map[string]bool{}
	for _, g := range ch.acct.IAM.Allowed() {
		allowed[g.Principal+" "+g.Action+" "+g.Resource] = true
	}
	for _, want := range []string{
		deploy.RoleFederatePublishEvents + " states:StartExecution " + ch.c.Federate.PublishStateMachineArn,
		deploy.RoleFederateSubscribeEvents + " states:StartExecution " + ch.c.Federate.SubscribeStateMachineArn,
	} {
		if !allowed[want] {
			t.Errorf("no %s was made and allowed", want)
		}
	}
}

// manifests counts the published versions of table.
func (ch *eventChain) manifests(table string) int {
	ch.t.Helper()
	out, err := ch.srv.Client().ListObjectsV2(ch.ctx, &s3.ListObjectsV2Input{Bucket: aws.String(ch.c.Bucket), Prefix: aws.String(deploy.FederatePrefix + strings.Replace(table, ".", "/", 1) + "/")})
	if err != nil {
		ch.t.Fatal(err)
	}
	n := 0
	for _, o := range out.Contents {
		if strings.HasSuffix(aws.ToString(o.Key), "/manifest.json") {
			n++
		}
	}
	return n
}

// BenchmarkFederateDelivery (make bench) measures, offline, the time from a change on
// the publisher to the subscriber holding it. Event-driven: the change, the
// transform's event, and the chain it starts, measured end to end. On schedules: the
// publish and subscribe runs measured the same way, plus the waits for the deployed
// schedules (the contract's expressions, stepped by the Scheduler stand-in's Next):
// the change waits for publish's next firing, the published version for subscribe's
// next one. A wait depends on when the change happens and on the two schedules'
// phases, so it is the mean over changes spread across a day and phases spread across
// a period: with the default rate(15 minutes) twice, about 15 minutes in all.
func BenchmarkFederateDelivery(b *testing.B) {
	seed := []string{"CREATE SCHEMA sales", createDim, createFact, "INSERT INTO sales.dim SELECT g, 'n' || g FROM generate_series(1, 50) g"}
	ev := startEventChain(b, true, chainSubscribers, seed...)
	ev.transformFinished("sales.dim") // the first version, not measured
	ev.settle()
	var eventDriven time.Duration
	n := 0
	for i := 0; i < b.N; i++ {
		start := time.Now()
		ev.exec("transform", fmt.Sprintf("INSERT INTO sales.dim VALUES (%d, 'changed')", 1000+i))
		ev.transformFinished("sales.dim")
		ev.settle()
		eventDriven += time.Since(start)
		n++
		if got := ev.rows("reporting", "sales.dim"); got != 51+i {
			b.Fatalf("reporting holds %d rows, want %d", got, 51+i)
		}
	}
	sch := startEventChain(b, false, chainSubscribers, seed...)
	at := time.Date(2026, 12, 3, 10, 0, 0, 0, time.UTC)
	run := func(workflow string) time.Duration {
		start := time.Now()
		at = at.Add(time.Minute)
		if res, err := sch.f.Run(sch.ctx, workflow, at); err != nil || res.Status != stepfunctions.StatusSucceeded {
			b.Fatalf("%s: %v %s %s", workflow, err, res.Status, res.Cause)
		}
		return time.Since(start)
	}
	run(deploy.FnPublish) // the first version, not measured
	run(deploy.FnSubscribe)
	var pubRun, subRun time.Duration
	for i := 0; i < b.N; i++ {
		sch.exec("transform", fmt.Sprintf("INSERT INTO sales.dim VALUES (%d, 'changed')", 1000+i))
		pubRun += run(deploy.FnPublish)
		subRun += run(deploy.FnSubscribe)
		if got := sch.rows("reporting", "sales.dim"); got != 51+i {
			b.Fatalf("reporting holds %d rows, want %d", got, 51+i)
		}
	}
	pubRun, subRun = pubRun/time.Duration(b.N), subRun/time.Duration(b.N)
	var pub, sub contract.Schedule
	for _, s := range sch.c.Federate.Schedules {
		switch s.TargetArn {
		case sch.c.Federate.PublishStateMachineArn:
			pub = s
		case sch.c.Federate.SubscribeStateMachineArn:
			sub = s
		}
	}
	wait, err := meanScheduledDelivery(pub, sub, pubRun, subRun)
	if err != nil {
		b.Fatal(err)
	}
	event := eventDriven / time.Duration(n)
	fmt.Printf("federate delivery (how): event-driven measured end to end; schedules: publish run %.1f s + subscribe run %.1f s measured, the rest the mean wait for %s then %s (the deployed schedules, changes across a day)\n",
		pubRun.Seconds(), subRun.Seconds(), pub.Expression, sub.Expression)
	fmt.Printf("federate delivery: change to subscriber in %.1f s (event-driven), %.0f s (schedules)\n", event.Seconds(), wait.Seconds())
}

// meanScheduledDelivery is the mean time from a change to the subscriber holding it
// on the two schedules: the change waits for publish's next firing, the publish runs
// pubRun, the version waits for subscribe's next firing, the subscribe runs subRun.
// Each schedule's firings are stepped with the Scheduler stand-in from an anchor (a
// rate counts from the schedule's creation, so its phase is any): the mean is over
// 16 phases of each and changes every 97 s of a day.
func meanScheduledDelivery(pub, sub contract.Schedule, pubRun, subRun time.Duration) (time.Duration, error) {
	day := time.Date(2026, 12, 3, 0, 0, 0, 0, time.UTC)
	firings := func(s contract.Schedule, anchor time.Time) ([]time.Time, error) {
		var out []time.Time
		t := anchor
		for t.Before(day.Add(50 * time.Hour)) {
			out = append(out, t)
			next, err := scheduler.Next(s.Expression, s.TimeZone, t)
			if err != nil {
				return nil, err
			}
			t = next
		}
		return out, nil
	}
	first := func(fs []time.Time, after time.Time) time.Time {
		i := sort.Search(len(fs), func(i int) bool { return !fs[i].Before(after) })
		return fs[i]
	}
	var total time.Duration
	n := 0
	for p := 0; p < 16; p++ {
		for q := 0; q < 16; q++ {
			// Anchors spread over the first period of each schedule.
			pp, err := period(pub, day)
			if err != nil {
				return 0, err
			}
			sp, err := period(sub, day)
			if err != nil {
				return 0, err
			}
			pf, err := firings(pub, day.Add(pp*time.Duration(p)/16))
			if err != nil {
				return 0, err
			}
			sf, err := firings(sub, day.Add(sp*time.Duration(q)/16+sp/32))
			if err != nil {
				return 0, err
			}
			for c := day.Add(time.Hour); c.Before(day.Add(25 * time.Hour)); c = c.Add(97 * time.Second) {
				published := first(pf, c).Add(pubRun)
				held := first(sf, published).Add(subRun)
				total += held.Sub(c)
				n++
			}
		}
	}
	return total / time.Duration(n), nil
}

// period is the time between two firings of s after at.
func period(s contract.Schedule, at time.Time) (time.Duration, error) {
	a, err := scheduler.Next(s.Expression, s.TimeZone, at)
	if err != nil {
		return 0, err
	}
	b, err := scheduler.Next(s.Expression, s.TimeZone, a)
	return b.Sub(a), err
}

// TestFederatorEventDrivenOneSubscriberTwoTables: one publish of two tables writes
// two manifests, and each starts a subscribe run for its table into the one
// subscriber that takes both. The subscriber's lease covers all its tables, and the
// first run holds it while its swap runs (4 s: a trigger on the control table
// sleeps); the other run's item waits for the lease in its workflow's wait-and-poll
// loop and loads its table when the lease is free. Both tables end loaded, once
// each, with no schedule run.
func TestFederatorEventDrivenOneSubscriberTwoTables(t *testing.T) {
	t.Parallel() // its own PostgreSQL and S3 servers; it mostly waits on statements
	var logs lockedBuffer
	ch := startEventChainLog(t, true, "    - {name: reporting, redshift: %[1]q, tables: [sales.dim, sales.fact]}\n", &logs,
		"CREATE SCHEMA sales", createDim, createFact,
		"INSERT INTO sales.dim SELECT g, 'n' || g FROM generate_series(1, 50) g",
		"INSERT INTO sales.fact SELECT g, g / 4.0, TIMESTAMP '2026-12-01' + g * INTERVAL '1 minute' FROM generate_series(1, 300) g")
	// Every swap records its version in the control table: the trigger makes each
	// swap run 4 s, longer than the first pause (statementPoll 1s), so the workflow
	// waits for it while its run holds the lease.
	ch.exec("reporting", append(federate.ControlSQL(),
		"CREATE FUNCTION snaplake_federator.nap() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN PERFORM pg_sleep(4); RETURN NEW; END $$",
		"CREATE TRIGGER nap BEFORE INSERT ON snaplake_federator.loaded FOR EACH ROW EXECUTE FUNCTION snaplake_federator.nap()")...)
	before := ch.f.Statements.Submitted()

	ch.transformFinished()
	got := ch.settle()
	if len(got["publish"]) != 1 || listed(t, got["publish"][0]) != "sales.dim,sales.fact" {
		t.Fatalf("publish executions %v; want one, of both tables", got["publish"])
	}
	var subs []string
	for _, e := range got["subscribe"] {
		subs = append(subs, listed(t, e))
	}
	sort.Strings(subs)
	if strings.Join(subs, " ") != "reporting=sales.dim reporting=sales.fact" {
		t.Fatalf("subscribe executions listed %v; want one per table, both for reporting", subs)
	}
	if n, m := ch.rows("reporting", "sales.dim"), ch.rows("reporting", "sales.fact"); n != 50 || m != 300 {
		t.Errorf("reporting holds %d rows of sales.dim (want 50) and %d of sales.fact (want 300): a table skipped because the other's run held the subscriber waits for the next schedule", n, m)
	}
	// The lease was contended: one table's item waited for it, none was skipped.
	if !strings.Contains(logs.String(), "table waits: another run holds the subscriber") {
		t.Errorf("no item waited for the subscriber's lease: the test did not make the runs overlap")
	}
	if strings.Contains(logs.String(), "table skipped") {
		t.Errorf("a table was skipped")
	}
	// Each table loaded once: 2 UNLOADs, then a COPY and a swap per table.
	if n := ch.f.Statements.Submitted() - before; n != 6 {
		t.Errorf("%d statements submitted, want 6 (2 UNLOADs, a COPY and a swap per table)", n)
	}
}

// lockedBuffer is a log's writer that the functions' goroutines share.
type lockedBuffer struct {
	mu sync.Mutex
	b  strings.Builder
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}
