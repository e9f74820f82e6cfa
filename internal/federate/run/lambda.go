// Package federaterun is the Federator's Lambdas: the publish and subscribe
// workflows call them to list their items, run one, and sum a run up.
package run

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	neturl "net/url"
	"slices"
	"strings"
	"sync"
	"time"
	"unicode/utf8"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/sts"

	"github.com/snaplake/snaplake/internal/aws/awserr"
	"github.com/snaplake/snaplake/internal/aws/lambdamain"
	"github.com/snaplake/snaplake/internal/config"
	"github.com/snaplake/snaplake/internal/deploy"
	"github.com/snaplake/snaplake/internal/federate"
	"github.com/snaplake/snaplake/internal/federate/redshift"
)

// The publish and subscribe Lambdas. Each workflow calls its function three ways:
// "list" (what the Map iterates over), one item, and "summary" (counts, metrics and
// the failure the workflow notifies). An item's failure is its result, never the
// Map's: one table or subscriber never stops the others.

// Request is a workflow's call.
type Request struct {
	Mode       string            `json:"mode"` // list | table | poll | failed | summary
	Table      string            `json:"table,omitempty"`
	Subscriber string            `json:"subscriber,omitempty"`
	Results    []federate.Result `json:"results,omitempty"`
	// Run names the run in the leases and statement records: the workflow passes its
	// execution's id, the same in every step and retry of one execution.
	Run string `json:"run,omitempty"`
	// Started (table, poll) is when the item's execution started
	// ($$.Execution.StartTime): a subscriber's table waits for the subscriber's lease
	// until federate.statementTimeout after it (federate.SubscriberRun.Started).
	Started *time.Time `json:"started,omitempty"`
	// Nested are the subscribe workflow's results, a list per subscriber.
	Nested [][]federate.Result `json:"nested,omitempty"`
	// Input (list) is the execution's input, which says what started the run: see
	// Trigger.
	Input json.RawMessage `json:"input,omitempty"`
	// Error (failed) is the error a step of the item's workflow caught: {Error, Cause}.
	Error *StepError `json:"error,omitempty"`
}

// StepError is an error a workflow caught (its Catch's ResultPath): its name and its
// cause, which Step Functions allows up to 32,768 characters.
type StepError struct {
	Error string `json:"Error"`
	Cause string `json:"Cause"`
}

// Trigger is what started a run, the execution's input. A schedule's
// ({"scheduledTime": ...}) names nothing: every table, every subscriber.
type Trigger struct {
	// Tables (schema.table) limit the run to these: the detail of a transform's
	// "Transform Finished" event (the rule passes the detail as the input), or
	// `snaplake federate publish --now --table`. A table the config does not list is
	// ignored. None: every table.
	Tables []string `json:"tables,omitempty"`
	// Manifest (subscribe) is the version manifest whose creation started the run
	// (the federate-manifest-created rule's input transformer): the run loads its
	// table only, into the subscribers that take it.
	Manifest *ManifestRef `json:"manifest,omitempty"`
}

// ManifestRef names an object of an S3 "Object Created" event.
type ManifestRef struct {
	Bucket string `json:"bucket"`
	Key    string `json:"key"`
}

// TriggerError is an execution input the list step cannot read: the run fails (and
// notifies) rather than guess which tables were meant.
type TriggerError struct {
	Input  string
	Reason string
}

func (e *TriggerError) Error() string {
	return fmt.Sprintf("execution input %s: %s (want {\"tables\": [\"schema.table\", ...]}, or nothing for every table)", e.Input, e.Reason)
}

func parseTrigger(raw json.RawMessage) (Trigger, error) {
	var t Trigger
	if len(raw) == 0 || string(raw) == "null" {
		return t, nil
	}
	if err := json.Unmarshal(raw, &t); err != nil {
		return Trigger{}, &TriggerError{Input: string(raw), Reason: err.Error()}
	}
	if t.Manifest != nil && (t.Manifest.Bucket == "" || t.Manifest.Key == "") {
		return Trigger{}, &TriggerError{Input: string(raw), Reason: "manifest lacks bucket or key"}
	}
	return t, nil
}

// selects says the trigger's run includes table.
func (t Trigger) selects(table string) bool {
	return len(t.Tables) == 0 || slices.Contains(t.Tables, table)
}

// ignoredTables logs the tables a trigger names that the config does not list.
func (h *Handler) ignoredTables(ctx context.Context, run string, t Trigger, c *federate.Config) {
	for _, name := range t.Tables {
		if _, ok := c.TableNamed(name); !ok {
			h.log().WarnContext(ctx, "the trigger names a table the config does not list: ignored", "run", run, "table", name)
		}
	}
}

// Item is one table of the publish workflow's list.
type Item struct {
	Table      string `json:"table"`
	Subscriber string `json:"subscriber,omitempty"`
}

// Summary is a run's sum.
type Summary struct {
	Tables  int    `json:"tables"`
	Changed int    `json:"changed"`
	Failed  int    `json:"failed"`
	Rows    int64  `json:"rows"`
	Message string `json:"message"`
	// AbandonedDeleted (publish) counts the version folders without a manifest the
	// run's cleanup deleted.
	AbandonedDeleted int `json:"abandonedDeleted,omitempty"`
	// Notification is what the workflow publishes when tables failed: the message
	// and the failed results, at most MaxNotification bytes (SNS takes 256 KB).
	Notification string `json:"notification,omitempty"`
}

// MaxNotification bounds a run's notification: "The maximum size of an Amazon SNS
// message is 256 KB" (SNS quotas), and a workflow state holds 256 KiB.
const MaxNotification = 200 * 1024

// notification is the run's message and its failed results, as many as fit in
// MaxNotification, and how many did not.
func notification(s Summary, results []federate.Result) string {
	type note struct {
		Summary string            `json:"summary"`
		Failed  []federate.Result `json:"failed"`
		Omitted int               `json:"omitted,omitempty"`
	}
	n := note{Summary: s.Message, Failed: []federate.Result{}}
	size := len(s.Message) + 64
	for i, r := range results {
		if r.Action != federate.ActionFailed {
			continue
		}
		r.Error, r.Reason, r.Wait = truncated(r.Error, MaxResultText), truncated(r.Reason, MaxResultText), nil
		b, _ := json.Marshal(r)
		if size+len(b)+1 > MaxNotification-64 {
			for _, rest := range results[i:] {
				if rest.Action == federate.ActionFailed {
					n.Omitted++
				}
			}
			break
		}
		size += len(b) + 1
		n.Failed = append(n.Failed, r)
	}
	b, _ := json.Marshal(n)
	return string(b)
}

// Handler serves both functions.
type Handler struct {
	S3     federate.S3API
	Bucket string
	KMSKey string
	// Open connects to a warehouse by URL (redshift.Open with the function's AWS
	// configuration).
	Open func(ctx context.Context, url string) (redshift.Warehouse, error)
	// Config reads the federate section; nil: config/snaplake.yaml in the bucket.
	Config func(ctx context.Context) (*federate.Config, error)
	Now    func() time.Time
	Log    *slog.Logger
	// Identity says who the function calls AWS as (STS GetCallerIdentity), recorded
	// as the owner of each statement it submits; nil: nothing recorded.
	Identity func(ctx context.Context) (federate.Identity, error)

	whoMu sync.Mutex
	who   *federate.Identity
}

// identity is Identity's answer, asked once per process (a failure is asked again
// next time, and the statements are recorded without an owner meanwhile).
func (h *Handler) identity(ctx context.Context) *federate.Identity {
	if h.Identity == nil {
		return nil
	}
	h.whoMu.Lock()
	defer h.whoMu.Unlock()
	if h.who == nil {
		id, err := h.Identity(ctx)
		if err != nil {
			h.log().WarnContext(ctx, "who am I (sts:GetCallerIdentity) failed: statements are recorded without their owner", "error", err)
			return nil
		}
		h.who = &id
	}
	return h.who
}

func (h *Handler) config(ctx context.Context) (*federate.Config, error) {
	if h.Config != nil {
		return h.Config(ctx)
	}
	// The other capabilities' sections are not the Federator's: a mistake there does
	// not stop it. One here (or none) is a *config.RefusedError naming the line.
	c, err := config.SectionFromS3[federate.Config](ctx, h.S3, h.Bucket, deploy.SectionFederate)
	var refused *config.RefusedError
	var missing *config.MissingError
	switch {
	case errors.As(err, &missing):
		return nil, &NoConfigError{Name: missing.Name}
	case errors.As(err, &refused):
		return nil, refused
	case err != nil:
		return nil, awserr.Surface(err)
	}
	return c, nil
}

// NoConfigError says config/snaplake.yaml is not in the bucket yet: the schedules
// run from the deploy on, before the operator uploads it. A run then does nothing,
// logs why, and succeeds (no failure, no notification); a config that exists but
// does not validate is a *config.RefusedError and fails the run.
type NoConfigError struct{ Name string }

func (e *NoConfigError) Error() string {
	return e.Name + " does not exist yet: nothing to do (upload it to start the Federator)"
}

// noConfig answers a call of a run that found no config: an empty list, an empty
// summary.
func (h *Handler) noConfig(ctx context.Context, what string, req Request, err *NoConfigError) (any, error) {
	h.log().InfoContext(ctx, "no config yet: nothing to do", "run", what, "mode", req.Mode, "config", err.Name)
	switch req.Mode {
	case "list":
		return map[string]any{"items": []Item{}}, nil
	case "summary":
		return Summary{Message: fmt.Sprintf("federate %s: %s", what, err.Error())}, nil
	}
	return federate.Result{Table: req.Table, Subscriber: req.Subscriber, Action: federate.ActionFailed, Error: err.Error()}, nil
}

func (h *Handler) store(ctx context.Context) federate.Store {
	return federate.Store{S3: h.S3, Bucket: h.Bucket, KMSKeyID: h.KMSKey, Identity: h.identity(ctx)}
}

func (h *Handler) log() *slog.Logger {
	if h.Log != nil {
		return h.Log
	}
	return slog.Default()
}

// Publish is the publish function.
func (h *Handler) Publish(ctx context.Context, req Request) (any, error) {
	if req.Mode == "failed" {
		return h.failed(ctx, req), nil
	}
	c, err := h.config(ctx)
	var none *NoConfigError
	if errors.As(err, &none) {
		return h.noConfig(ctx, "publish", req, none)
	}
	if err != nil {
		return nil, err
	}
	switch req.Mode {
	case "list":
		trig, err := parseTrigger(req.Input)
		if err != nil {
			return nil, err
		}
		h.ignoredTables(ctx, "publish", trig, c)
		items := []Item{}
		for _, t := range c.Tables {
			if trig.selects(t.Table) {
				items = append(items, Item{Table: t.Table})
			}
		}
		return map[string]any{"items": items}, nil
	case "table", "poll":
		// "table" decides and submits the UNLOAD, "poll" follows it: neither waits for
		// it (the workflow does, between the calls).
		t, ok := c.TableNamed(req.Table)
		if !ok {
			return federate.Result{Table: req.Table, Action: federate.ActionFailed, Error: "not in the config's federate.tables"}, nil
		}
		wh, err := h.Open(ctx, c.Publisher)
		if err != nil {
			return federate.Result{Table: req.Table, Action: federate.ActionFailed, Error: "the publisher: " + err.Error()}, nil
		}
		defer wh.Close()
		p := &federate.Publisher{Warehouse: wh, Store: h.store(ctx), Now: h.Now, Log: h.log(), Run: req.Run, Limits: c.Limits()}
		if req.Mode == "poll" {
			return h.bounded(ctx, p.Poll(ctx, t, c.Keep())), nil
		}
		return h.bounded(ctx, p.Start(ctx, t, c.Keep())), nil
	case "summary":
		// After every table's run (and its prune): the UNLOAD folders of runs that
		// died. Publish's function runs it: its role deletes under federator/.
		p := &federate.Publisher{Store: h.store(ctx), Now: h.Now, Log: h.log()}
		cleaned := p.CleanupAfter(ctx, *c)
		s := h.summary("publish", req.Results, nil)
		s.AbandonedDeleted = cleaned.Deleted()
		if s.AbandonedDeleted > 0 {
			s.Message += fmt.Sprintf(", %d abandoned version folders deleted", s.AbandonedDeleted)
		}
		return s, nil
	}
	return nil, fmt.Errorf("unknown mode %q", req.Mode)
}

// Subscribe is the subscribe function.
func (h *Handler) Subscribe(ctx context.Context, req Request) (any, error) {
	if req.Mode == "failed" {
		return h.failed(ctx, req), nil
	}
	c, err := h.config(ctx)
	var none *NoConfigError
	if errors.As(err, &none) {
		return h.noConfig(ctx, "subscribe", req, none)
	}
	if err != nil {
		return nil, err
	}
	switch req.Mode {
	case "list":
		type subscriberItem struct {
			Subscriber string   `json:"subscriber"`
			Tables     []string `json:"tables"`
		}
		items := []subscriberItem{}
		trig, err := parseTrigger(req.Input)
		if err != nil {
			return nil, err
		}
		if trig.Manifest != nil {
			// A version was published: its table only. Any other object the rule
			// let through (a bucket's or a key's near miss) starts nothing.
			table, ok := federate.ManifestTable(trig.Manifest.Key)
			if trig.Manifest.Bucket != h.Bucket || !ok {
				h.log().InfoContext(ctx, "not a published version's manifest in the lake bucket: nothing to subscribe", "bucket", trig.Manifest.Bucket, "key", trig.Manifest.Key)
				return map[string]any{"items": items}, nil
			}
			trig.Tables = []string{table}
		}
		h.ignoredTables(ctx, "subscribe", trig, c)
		for _, s := range c.Subscribers {
			it := subscriberItem{Subscriber: s.Name, Tables: []string{}}
			for _, t := range c.TablesOf(s) {
				if trig.selects(t.Table) {
					it.Tables = append(it.Tables, t.Table)
				}
			}
			// A triggered run leaves out the subscribers that take none of its tables;
			// a scheduled one lists every subscriber (its summary counts them).
			if len(it.Tables) == 0 && len(trig.Tables) > 0 {
				continue
			}
			items = append(items, it)
		}
		return map[string]any{"items": items}, nil
	case "table", "poll":
		res := federate.Result{Table: req.Table, Subscriber: req.Subscriber, Action: federate.ActionFailed}
		t, ok := c.TableNamed(req.Table)
		s, sok := c.Subscriber(req.Subscriber)
		if !ok || !sok {
			res.Error = "not in the config's federate section"
			return res, nil
		}
		if !s.Takes(t.Table) {
			// The config changed after the list was made: not a failure.
			res.Action, res.Reason = federate.ActionSkipped, "subscriber "+s.Name+" does not take "+t.Table+" (federate.subscribers[].tables)"
			return res, nil
		}
		wh, err := h.Open(ctx, s.Redshift)
		if err != nil {
			res.Error = "subscriber " + s.Name + " is unreachable: " + err.Error()
			return res, nil
		}
		defer wh.Close()
		run := &federate.SubscriberRun{Name: s.Name, Warehouse: wh, Store: h.store(ctx), Now: h.Now, Log: h.log(), Run: req.Run, Limits: c.Limits(), OnDefinitionChange: s.OnDefinitionChange}
		if req.Started != nil {
			run.Started = *req.Started
		}
		if req.Mode == "poll" {
			return h.bounded(ctx, run.Poll(ctx, t)), nil
		}
		return h.bounded(ctx, run.Start(ctx, t)), nil
	case "summary":
		var all []federate.Result
		for _, rs := range req.Nested {
			all = append(all, rs...)
		}
		return h.summary("subscribe", append(all, req.Results...), c), nil
	}
	return nil, fmt.Errorf("unknown mode %q", req.Mode)
}

// The results pass through the workflow: a run's Map holds every item's, and a
// state may hold 262,144 bytes ("Maximum input or output size for a task, state, or
// execution", Step Functions quotas). Exceeding it fails the execution with
// States.DataLimitExceeded, which no Catch can catch. Each result the functions
// return is therefore bounded (its error and reason to MaxResultText bytes; the
// function's log has them whole), so that a run of 70 tables into 4 subscribers, all
// failing with long errors, stays well under the limit.

// MaxResultText bounds a result's error and reason.
const MaxResultText = 400

// truncated is s cut to at most n bytes on character boundaries, saying so. It
// keeps the start (what was being done) and the end: a wrapped error ends with its
// innermost cause, the service's own message.
func truncated(s string, n int) string {
	if len(s) <= n {
		return s
	}
	const more = " [...] "
	head := min(80, (n-len(more))/2)
	for head > 0 && !utf8.RuneStart(s[head]) {
		head--
	}
	tail := len(s) - (n - len(more) - head)
	for tail < len(s) && !utf8.RuneStart(s[tail]) {
		tail++
	}
	return s[:head] + more + s[tail:]
}

// bounded is res as the workflow receives it: its error and reason bounded, the
// whole of them logged when they were cut.
func (h *Handler) bounded(ctx context.Context, res federate.Result) federate.Result {
	if len(res.Error) > MaxResultText || len(res.Reason) > MaxResultText {
		h.log().WarnContext(ctx, "result text shortened for the workflow", "table", res.Table, "subscriber", res.Subscriber, "error", res.Error, "reason", res.Reason)
	}
	res.Error = truncated(res.Error, MaxResultText)
	res.Reason = truncated(res.Reason, MaxResultText)
	return res
}

// failed is the result of an item whose step failed as a function (a timeout, a
// crash, out of memory): Step Functions caught the error, whose cause may be 32 KB;
// the item's workflow asks for it here, bounded, instead of carrying it itself.
func (h *Handler) failed(ctx context.Context, req Request) federate.Result {
	res := federate.Result{Table: req.Table, Subscriber: req.Subscriber, Action: federate.ActionFailed, Error: "the function failed"}
	if e := req.Error; e != nil {
		res.Error = e.Error
		// A function's own error arrives as its payload, {errorMessage, errorType}.
		var payload struct {
			Message string `json:"errorMessage"`
			Type    string `json:"errorType"`
		}
		switch {
		case json.Unmarshal([]byte(e.Cause), &payload) == nil && payload.Message != "":
			res.Error = e.Error + ": " + payload.Message
		case e.Cause != "":
			res.Error = e.Error + ": " + e.Cause
		}
	}
	h.log().ErrorContext(ctx, "the item's function failed", "run", req.Run, "table", req.Table, "subscriber", req.Subscriber, "error", res.Error)
	return h.bounded(ctx, res)
}

// summary sums a run up and writes its metrics (CloudWatch embedded metric format):
// per table the failures, and per subscriber and table the lag.
func (h *Handler) summary(what string, results []federate.Result, c *federate.Config) Summary {
	var s Summary
	for _, r := range results {
		s.Tables++
		switch r.Action {
		case federate.ActionFailed:
			s.Failed++
		case federate.ActionPublished, federate.ActionLoaded:
			s.Changed++
			s.Rows += r.Rows
		}
	}
	s.Message = fmt.Sprintf("federate %s: %d tables, %d changed, %d failed, %d rows", what, s.Tables, s.Changed, s.Failed, s.Rows)
	if s.Failed > 0 {
		s.Notification = notification(s, results)
	}
	log := h.log()
	level := slog.LevelInfo
	if s.Failed > 0 {
		level = slog.LevelError
	}
	log.Log(context.Background(), level, "run finished", "summary", s, "results", results)
	now := time.Now()
	if h.Now != nil {
		now = h.Now()
	}
	log.Info("run metrics", slog.Any("_aws", map[string]any{
		"Timestamp": now.UnixMilli(),
		"CloudWatchMetrics": []any{map[string]any{"Namespace": MetricsNamespace, "Dimensions": [][]string{{"Run"}},
			"Metrics": []map[string]string{{"Name": "TablesFailed", "Unit": "Count"}, {"Name": "TablesChanged", "Unit": "Count"}}}},
	}), "Run", what, "TablesFailed", s.Failed, "TablesChanged", s.Changed)
	if c != nil {
		h.lagMetrics(now, results, c)
		// The age of each subscriber table's newest version (the one it holds once loaded).
		for _, r := range results {
			if r.Subscriber == "" || r.Action == federate.ActionFailed {
				continue
			}
			lag := 0.0
			if r.Version != "" {
				if v, err := federate.ParseVersion(r.Table, r.Version); err == nil {
					lag = now.Sub(v.Published).Seconds()
				}
			}
			log.Info("lag metrics", slog.Any("_aws", map[string]any{
				"Timestamp": now.UnixMilli(),
				"CloudWatchMetrics": []any{map[string]any{"Namespace": MetricsNamespace, "Dimensions": [][]string{{"Subscriber", "Table"}},
					"Metrics": []map[string]string{{"Name": "VersionAgeSeconds", "Unit": "Seconds"}}}},
			}), "Subscriber", r.Subscriber, "Table", r.Table, "VersionAgeSeconds", lag)
		}
	}
	return s
}

// lagMetrics writes, per subscriber of the run's results, its greatest lag and that
// lag minus its maxLag (CloudWatch embedded metric format): the stack's lag alarm
// fires on the second above 0 for each subscriber, so that the threshold is the
// config's, read here at run time. A failed table counts when its lag is known (its
// versions were listed); a subscriber with no known lag writes nothing.
func (h *Handler) lagMetrics(now time.Time, results []federate.Result, c *federate.Config) {
	lag := map[string]float64{}
	var order []string
	for _, r := range results {
		if r.Subscriber == "" || (r.Action == federate.ActionFailed && r.LagSeconds == 0) {
			continue
		}
		if _, seen := lag[r.Subscriber]; !seen {
			order = append(order, r.Subscriber)
		}
		lag[r.Subscriber] = max(lag[r.Subscriber], r.LagSeconds)
	}
	for _, name := range order {
		sub, _ := c.Subscriber(name)
		over := lag[name] - sub.Lag().Seconds()
		level := slog.LevelInfo
		if over > 0 {
			level = slog.LevelWarn
		}
		h.log().Log(context.Background(), level, "subscriber lag", slog.Any("_aws", map[string]any{
			"Timestamp": now.UnixMilli(),
			"CloudWatchMetrics": []any{map[string]any{"Namespace": MetricsNamespace, "Dimensions": [][]string{{deploy.FederateDimensionSubscriber}},
				"Metrics": []map[string]string{{"Name": deploy.FederateMetricLag, "Unit": "Seconds"}, {"Name": deploy.FederateMetricLagOverMaxLag, "Unit": "Seconds"}}}},
		}), deploy.FederateDimensionSubscriber, name, deploy.FederateMetricLag, lag[name], deploy.FederateMetricLagOverMaxLag, over, "maxLag", sub.Lag().String())
	}
}

// MetricsNamespace is where the Federator's metrics go.
const MetricsNamespace = deploy.FederateMetricsNamespace

// Opener opens a warehouse by URL with deps: the Lambda's calls redshift.Open with
// its AWS configuration and S3 client added, the offline run's opens its stand-in
// as the function.
type Opener func(ctx context.Context, url string, deps redshift.Deps) (redshift.Warehouse, error)

// PublishClients are what the publish function calls: the lake bucket and the
// warehouses.
type PublishClients struct {
	S3         federate.S3API
	Warehouses Opener
	// Identity is who the function calls AWS as (STSIdentity in AWS); nil: unknown.
	Identity func(ctx context.Context) (federate.Identity, error)
}

// CallerIdentity is the part of STS the functions call; *sts.Client satisfies it.
// GetCallerIdentity needs no permission ("No permissions are required to perform
// this operation", STS API reference).
type CallerIdentity interface {
	GetCallerIdentity(ctx context.Context, in *sts.GetCallerIdentityInput, optFns ...func(*sts.Options)) (*sts.GetCallerIdentityOutput, error)
}

// STSIdentity asks STS who the caller is: its aws:userid (UserId) and ARN.
func STSIdentity(c CallerIdentity) func(ctx context.Context) (federate.Identity, error) {
	return func(ctx context.Context) (federate.Identity, error) {
		out, err := c.GetCallerIdentity(ctx, &sts.GetCallerIdentityInput{})
		if err != nil {
			return federate.Identity{}, fmt.Errorf("sts:GetCallerIdentity: %w", err)
		}
		return federate.Identity{UserID: aws.ToString(out.UserId), Arn: aws.ToString(out.Arn)}, nil
	}
}

// SubscribeClients are what the subscribe function calls.
type SubscribeClients = PublishClients

// NewPublish builds the publish function (deploy.FnPublish).
func NewPublish(getenv func(string) string, c PublishClients, log *slog.Logger) (lambdamain.Func, error) {
	h, err := newHandler(getenv, c, log)
	if err != nil {
		return nil, err
	}
	return lambdamain.Handler(h.Publish), nil
}

// NewSubscribe builds the subscribe function (deploy.FnSubscribe).
func NewSubscribe(getenv func(string) string, c SubscribeClients, log *slog.Logger) (lambdamain.Func, error) {
	h, err := newHandler(getenv, c, log)
	if err != nil {
		return nil, err
	}
	return lambdamain.Handler(h.Subscribe), nil
}

// newHandler builds the functions' handler from their deployed environment: the
// bucket, its key and its Region, and the role UNLOAD and COPY name, added to each
// warehouse URL that does not name one.
func newHandler(getenv func(string) string, c PublishClients, log *slog.Logger) (*Handler, error) {
	// The bucket's Region goes into every UNLOAD and COPY (REGION): without it a
	// warehouse in another Region cannot reach the bucket.
	if err := deploy.Require(getenv, deploy.EnvBucket, deploy.EnvBucketRegion); err != nil {
		return nil, err
	}
	bucket, bucketRegion := getenv(deploy.EnvBucket), getenv(deploy.EnvBucketRegion)
	role, key := getenv(deploy.EnvWarehouseRoleArn), getenv(deploy.EnvKMSKeyID)
	return &Handler{
		S3: c.S3, Bucket: bucket, KMSKey: key, Log: log, Identity: c.Identity,
		Open: func(ctx context.Context, url string) (redshift.Warehouse, error) {
			if role != "" && strings.HasPrefix(url, "redshift://") && !strings.Contains(url, "iam_role=") {
				sep := "?"
				if strings.Contains(url, "?") {
					sep = "&"
				}
				url += sep + "iam_role=" + neturl.QueryEscape(role)
			}
			// UNLOAD writes SSE-KMS with the lake's key, as everything else in it is.
			return c.Warehouses(ctx, url, redshift.Deps{KMSKeyID: key, BucketRegion: bucketRegion})
		},
	}, nil
}

// AWSWarehouses is the Lambdas' Opener: redshift.Open with the function's AWS
// configuration and S3 client.
func AWSWarehouses(cfg aws.Config, s3c *s3.Client) Opener {
	return func(ctx context.Context, url string, deps redshift.Deps) (redshift.Warehouse, error) {
		deps.AWS, deps.S3 = cfg, s3c
		return redshift.Open(ctx, url, deps)
	}
}
