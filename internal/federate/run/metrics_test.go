package run

import (
	"bytes"
	"context"
	"encoding/json"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/snaplake/snaplake/internal/deploy"
	"github.com/snaplake/snaplake/internal/federate"
)

// TestSubscribeSummaryWritesLagMetrics: the subscribe summary writes, per subscriber,
// its greatest lag and that lag minus its maxLag in CloudWatch's embedded metric
// format, with the namespace, dimension and names the stack's lag alarm queries
// (internal/deploy); a failed table counts when its lag is known, and a subscriber
// whose lag is unknown writes nothing.
func TestSubscribeSummaryWritesLagMetrics(t *testing.T) {
	var buf bytes.Buffer
	cfg := &federate.Config{
		Tables: []federate.Table{{Table: "sales.dim"}, {Table: "sales.fact"}},
		Subscribers: []federate.Subscriber{
			{Name: "fast", MaxLag: "1h"},
			{Name: "slow"},
			{Name: "down"},
		},
	}
	h := &Handler{
		Config: func(context.Context) (*federate.Config, error) { return cfg, nil },
		Now:    func() time.Time { return time.Date(2026, 12, 3, 10, 0, 0, 0, time.UTC) },
		Log:    slog.New(slog.NewJSONHandler(&buf, nil)),
	}
	_, err := h.Subscribe(context.Background(), Request{Mode: "summary", Nested: [][]federate.Result{
		{
			{Subscriber: "fast", Table: "sales.dim", Action: federate.ActionUnchanged},
			{Subscriber: "fast", Table: "sales.fact", Action: federate.ActionFailed, LagSeconds: 5400, Error: "COPY failed"},
		},
		{{Subscriber: "slow", Table: "sales.dim", Action: federate.ActionSkipped, LagSeconds: 600}},
		{{Subscriber: "down", Table: "sales.dim", Action: federate.ActionFailed, Error: "unreachable"}},
	}})
	if err != nil {
		t.Fatal(err)
	}
	got := map[string][2]float64{}
	for _, line := range strings.Split(strings.TrimSpace(buf.String()), "\n") {
		var rec map[string]any
		if err := json.Unmarshal([]byte(line), &rec); err != nil {
			t.Fatal(err)
		}
		emf, ok := rec["_aws"].(map[string]any)
		if !ok {
			continue
		}
		def := emf["CloudWatchMetrics"].([]any)[0].(map[string]any)
		dims, _ := json.Marshal(def["Dimensions"])
		if def["Namespace"] != deploy.FederateMetricsNamespace || string(dims) != `[["`+deploy.FederateDimensionSubscriber+`"]]` {
			continue
		}
		names, _ := json.Marshal(def["Metrics"])
		if !strings.Contains(string(names), `"`+deploy.FederateMetricLagOverMaxLag+`"`) {
			t.Errorf("the per-subscriber metrics %s do not define %s", names, deploy.FederateMetricLagOverMaxLag)
		}
		sub, _ := rec[deploy.FederateDimensionSubscriber].(string)
		lag, _ := rec[deploy.FederateMetricLag].(float64)
		over, _ := rec[deploy.FederateMetricLagOverMaxLag].(float64)
		got[sub] = [2]float64{lag, over}
	}
	want := map[string][2]float64{
		"fast": {5400, 5400 - 3600},                           // over its 1h: the alarm fires
		"slow": {600, 600 - federate.DefaultMaxLag.Seconds()}, // within the default 4h
	}
	if len(got) != len(want) || got["fast"] != want["fast"] || got["slow"] != want["slow"] {
		t.Errorf("per-subscriber lag metrics %v, want %v (none for down, whose lag is unknown)", got, want)
	}
}
