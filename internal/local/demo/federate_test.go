package demo

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/snaplake/snaplake/internal/federate"
)

// TestFederateEndToEnd runs the Federator demo twice in one home against a real
// PostgreSQL and a real S3 server: each run changes the transform's rows, and both
// subscribers end holding what the transform holds; the insert-only fact table is
// published as append versions.
func TestFederateEndToEnd(t *testing.T) {
	ctx := context.Background()
	home := t.TempDir()
	var runs []FederateReport
	for run := range 2 {
		var out bytes.Buffer
		rep, err := RunFederate(ctx, Options{Home: home, Out: &out})
		if testing.Verbose() {
			t.Logf("demo federate output:\n%s", out.String())
		}
		if err != nil {
			t.Fatalf("run %d: %v\n%s", run+1, err, out.String())
		}
		runs = append(runs, rep)
		if len(rep.Checksums) != 4 {
			t.Fatalf("run %d: %d checksums, want 2 tables × 2 subscribers: %+v", run+1, len(rep.Checksums), rep.Checksums)
		}
		for _, c := range rep.Checksums {
			if !c.Converged || c.Copy.Rows == 0 {
				t.Errorf("run %d: %s holds %s as %+v, the transform %+v", run+1, c.Subscriber, c.Table, c.Copy, c.Transform)
			}
		}
		for _, st := range rep.Status {
			for _, ss := range st.Subscribers {
				if ss.Version != st.Version || ss.LagRows != 0 {
					t.Errorf("run %d: status of %s: %s holds %q, newest %q", run+1, st.Table, ss.Subscriber, ss.Version, st.Version)
				}
			}
		}
		if !strings.Contains(out.String(), "$ snaplake federate status") {
			t.Errorf("run %d printed no status:\n%s", run+1, out.String())
		}
		// The table lines are words for a person; JSON only with --format json.
		if strings.Contains(out.String(), `{"table"`) || !strings.Contains(out.String(), "published ") {
			t.Errorf("run %d: table lines are not human text:\n%s", run+1, out.String())
		}
	}
	first, second := runs[0], runs[1]
	if !first.Created || second.Created {
		t.Errorf("created the transform's tables: run 1 %v, run 2 %v; want only the first", first.Created, second.Created)
	}
	if _, err := os.Stat(filepath.Join(home, FederateConfigFile)); err != nil {
		t.Errorf("the config was not written: %v", err)
	}

	// Run 1: everything is new, then the fact table grows by an append version and
	// the dimension, count-only, by a full one.
	expect(t, "run 1 first publish", first.Rounds[0].Published, map[string]string{FactTable: "published full", DimTable: "published full"})
	expect(t, "run 1 second publish", first.Rounds[1].Published, map[string]string{FactTable: "published append", DimTable: "published full"})
	// Run 2 starts where run 1 ended: nothing to publish or load. Then the same again.
	expect(t, "run 2 first publish", second.Rounds[0].Published, map[string]string{FactTable: "unchanged append", DimTable: "unchanged full"})
	expect(t, "run 2 second publish", second.Rounds[1].Published, map[string]string{FactTable: "published append", DimTable: "published full"})
	for _, sub := range []string{"reporting-eu", "reporting-us"} {
		expect(t, "run 1 first subscribe "+sub, first.Rounds[0].Subscribed[sub], map[string]string{FactTable: "loaded full", DimTable: "loaded full"})
		expect(t, "run 2 first subscribe "+sub, second.Rounds[0].Subscribed[sub], map[string]string{FactTable: "unchanged append", DimTable: "unchanged full"})
		for _, r := range second.Rounds[1].Subscribed[sub] {
			if r.Table == FactTable && (r.Action != federate.ActionLoaded || r.Kind != federate.KindAppend || r.Rows != ordersPerRun) {
				t.Errorf("run 2: %s applied %+v, want the append version's %d rows", sub, r, ordersPerRun)
			}
		}
	}
	for _, r := range second.Rounds[1].Published {
		if r.Table == FactTable && r.Rows != ordersPerRun {
			t.Errorf("run 2's append version holds %d rows, want the %d inserted", r.Rows, ordersPerRun)
		}
	}
	for _, c := range second.Checksums {
		want := map[string]int64{FactTable: firstOrders + 2*ordersPerRun, DimTable: firstCustomers + 2}[c.Table]
		if c.Transform.Rows != want {
			t.Errorf("after two runs %s has %d rows, want %d", c.Table, c.Transform.Rows, want)
		}
	}
}

// expect checks each table's action and kind ("published append").
func expect(t *testing.T, what string, rs []federate.Result, want map[string]string) {
	t.Helper()
	got := map[string]string{}
	for _, r := range rs {
		got[r.Table] = r.Action + " " + r.Kind
		if r.Error != "" {
			got[r.Table] += ": " + r.Error
		}
	}
	for table, w := range want {
		if got[table] != w {
			t.Errorf("%s: %s %q, want %q", what, table, got[table], w)
		}
	}
}
