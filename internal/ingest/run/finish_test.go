package run

import (
	"bytes"
	"context"
	"encoding/json"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/snaplake/snaplake/internal/aws/s3obj"
	"github.com/snaplake/snaplake/internal/deploy"
	"github.com/snaplake/snaplake/internal/ingest"
	"github.com/snaplake/snaplake/internal/local/s3server"
)

// TestFinishWritesTheFreshnessMetricOnlyOnSuccess (issue 15, item 8): the set's
// freshness alarm counts RunSucceeded, which the finish writes as one embedded
// metric format line when the run committed every table it planned, and never when
// a table failed.
func TestFinishWritesTheFreshnessMetricOnlyOnSuccess(t *testing.T) {
	srv, err := s3server.StartFake()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(srv.Stop)
	ctx := context.Background()
	if err := srv.CreateBucket(ctx, "lake"); err != nil {
		t.Fatal(err)
	}
	now := time.Date(2026, 12, 7, 2, 10, 0, 0, time.UTC)
	finish := func(run string, in FinishInput) []map[string]any {
		t.Helper()
		plan := ingest.JobPlan{Run: run, Set: ingest.SetFrequent, Bucket: "lake", Database: "shop", Tables: []ingest.JobTable{}}
		if err := s3obj.PutJSON(ctx, srv.Client(), "lake", ingest.PlanKey(run), "", plan, false); err != nil {
			t.Fatal(err)
		}
		var out bytes.Buffer
		f := &Finisher{S3: srv.Client(), Bucket: "lake", Now: func() time.Time { return now }, Log: slog.New(slog.NewJSONHandler(&out, nil))}
		in.Run.Run, in.Run.Set = run, ingest.SetFrequent
		if _, err := f.Finish(ctx, in); err != nil {
			t.Fatal(err)
		}
		var emf []map[string]any
		for _, line := range strings.Split(strings.TrimSpace(out.String()), "\n") {
			var m map[string]any
			if err := json.Unmarshal([]byte(line), &m); err != nil {
				t.Fatalf("log line %q: %v", line, err)
			}
			if _, ok := m[deploy.IngestRunSucceededMetric]; ok {
				emf = append(emf, m)
			}
		}
		return emf
	}

	ok := finish("20261207T021000Z-frequent", FinishInput{})
	if len(ok) != 1 {
		t.Fatalf("a successful run wrote %d RunSucceeded lines, want 1", len(ok))
	}
	line := ok[0]
	if line[deploy.IngestRunSucceededMetric] != 1.0 || line[deploy.IngestMetricDimensionSet] != ingest.SetFrequent {
		t.Errorf("the metric line's values: %v", line)
	}
	// The embedded metric format's directive: the namespace, the dimension and the
	// metric, each naming a member of the line's root, and a timestamp in ms.
	want := map[string]any{
		"Timestamp": float64(now.UnixMilli()),
		"CloudWatchMetrics": []any{map[string]any{
			"Namespace":  deploy.IngestMetricsNamespace,
			"Dimensions": []any{[]any{deploy.IngestMetricDimensionSet}},
			"Metrics":    []any{map[string]any{"Name": deploy.IngestRunSucceededMetric, "Unit": "Count"}},
		}},
	}
	if got, _ := json.Marshal(line["_aws"]); string(got) != mustJSON(t, want) {
		t.Errorf("_aws = %s\nwant   %s", got, mustJSON(t, want))
	}

	failed := finish("20261207T023000Z-frequent", FinishInput{Run: Started{Refused: []ingest.RefusedTable{{Source: "orders", Reason: "unknown column"}}}})
	if len(failed) != 0 {
		t.Errorf("a run with a failed table wrote RunSucceeded: %v", failed)
	}
}

func mustJSON(t *testing.T, v any) string {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}
