package demo

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"slices"
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
		if len(rep.Checksums) != 3 {
			t.Fatalf("run %d: %d checksums, want 2 tables at reporting-eu and the fact table at reporting-us (its table list): %+v", run+1, len(rep.Checksums), rep.Checksums)
		}
		for _, c := range rep.Checksums {
			if !c.Converged || c.Copy.Rows == 0 {
				t.Errorf("run %d: %s holds %s as %+v, the transform %+v", run+1, c.Subscriber, c.Table, c.Copy, c.Transform)
			}
		}
		for _, st := range rep.Status {
			for _, ss := range st.Subscribers {
				if notTaken := ss.Subscriber == "reporting-us" && st.Table == DimTable; notTaken != (ss.State == federate.StateNotSubscribed) {
					t.Errorf("run %d: status of %s at %s: %q", run+1, st.Table, ss.Subscriber, ss.State)
					continue
				} else if notTaken {
					continue
				}
				if ss.Version != st.Version || ss.LagRows != 0 {
					t.Errorf("run %d: status of %s: %s holds %q, newest %q", run+1, st.Table, ss.Subscriber, ss.Version, st.Version)
				}
			}
		}
		if !strings.Contains(out.String(), "not subscribed") {
			t.Errorf("run %d: the status shows no table a subscriber does not take:\n%s", run+1, out.String())
		}
		for i, r := range rep.Rounds {
			if n := r.Statements; n.Unloads+n.Copies > 0 && n.Describes < n.Unloads+n.Copies {
				t.Errorf("run %d round %d: statements %+v: each submitted statement is described at least once", run+1, i+1, n)
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
	// reporting-us takes only the fact table (its table list in the config).
	if n := len(first.Rounds[0].Subscribed["reporting-us"]); n != 1 {
		t.Errorf("reporting-us subscribed %d tables, want the one it lists", n)
	}
	if n := first.Rounds[0].Statements; n.Unloads != 2 || n.Copies != 3 {
		t.Errorf("run 1's first round submitted %+v, want 2 UNLOADs and 3 COPYs", n)
	}
	// The definition change of each run's second round reaches reporting-eu in place:
	// a column added, then lengthened.
	for i, want := range []string{"column loyalty character varying(10) added", "column loyalty widened to character varying(20)"} {
		var got []string
		for _, r := range runs[i].Rounds[1].Subscribed["reporting-eu"] {
			if r.Table == DimTable {
				got = r.Definition
			}
		}
		if !slices.Equal(got, []string{want}) {
			t.Errorf("run %d: reporting-eu's %s changed its definition by %q, want %q", i+1, DimTable, got, want)
		}
	}
	if first.Rounds[0].Subscribed["reporting-eu"][0].Definition == nil {
		t.Errorf("run 1: reporting-eu's first load does not say it created the table")
	}
	for _, sub := range []string{"reporting-eu", "reporting-us"} {
		want := map[string]string{FactTable: "loaded full", DimTable: "loaded full"}
		unchanged := map[string]string{FactTable: "unchanged append", DimTable: "unchanged full"}
		if sub == "reporting-us" {
			delete(want, DimTable)
			delete(unchanged, DimTable)
		}
		expect(t, "run 1 first subscribe "+sub, first.Rounds[0].Subscribed[sub], want)
		expect(t, "run 2 first subscribe "+sub, second.Rounds[0].Subscribed[sub], unchanged)
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
