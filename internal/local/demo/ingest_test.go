package demo

import (
	"bytes"
	"context"
	"fmt"
	"path/filepath"
	"strings"
	"testing"

	ingestrun "github.com/snaplake/snaplake/internal/ingest/run"
	"github.com/snaplake/snaplake/internal/local/glue"
	"github.com/snaplake/snaplake/internal/local/iam"
	"github.com/snaplake/snaplake/internal/local/lake"
	lflocal "github.com/snaplake/snaplake/internal/local/lakeformation"
	"github.com/snaplake/snaplake/internal/local/stepfunctions"
)

// TestIngestEndToEnd plays two workdays of config-driven ingestion against a real
// MariaDB, a real S3 server and the real ingest state machine, started by the
// Scheduler stand-in from the synthesized schedules, every call authorized as the
// role that makes it, and checks what the lake holds and who may read it.
func TestIngestEndToEnd(t *testing.T) {
	ctx := context.Background()
	home := t.TempDir()
	var allowed []iam.Grant
	var days []IngestReport
	for day := range 2 {
		var out bytes.Buffer
		rep, err := RunIngest(ctx, Options{Home: home, Rows: 20_000, Out: &out})
		if testing.Verbose() {
			t.Logf("demo ingest output:\n%s", out.String())
		}
		if err != nil {
			t.Fatalf("day %d: %v\n%s", day+1, err, out.String())
		}
		allowed = append(allowed, rep.Allowed...)
		days = append(days, rep)
		if len(rep.Executions) != 2 {
			t.Fatalf("day %d: %d executions, want the daily and the frequent set's", day+1, len(rep.Executions))
		}
		for i, res := range rep.Executions {
			if states := strings.Join(res.States, " "); res.Status != stepfunctions.StatusSucceeded || !strings.Contains(states, "Load BuildCurrentTables") || !strings.Contains(states, " Finish ") {
				t.Errorf("day %d execution %d: %s %s %s, states %v", day+1, i, res.Status, res.Error, res.Cause, res.States)
			}
		}
		if !strings.Contains(out.String(), "column raw_warehouse.users.display_name is not granted to role support (Lake Formation)") {
			t.Errorf("day %d: the role-limited query was not refused:\n%s", day+1, out.String())
		}
	}
	if days[0].Day == days[1].Day {
		t.Errorf("both runs played %s: the second should play the next workday", days[0].Day)
	}
	table := func(s ingestrun.Summary, name string) ingestrun.TableSummary {
		for _, ts := range s.Tables {
			if ts.Source == name {
				return ts
			}
		}
		t.Fatalf("run %s has no table %s: %+v", s.Run, name, s.Tables)
		return ingestrun.TableSummary{}
	}
	// Day 1: the daily set loads every table; the frequent set, after the morning's
	// downloads, loads exactly those. Day 2: the daily set finds nothing new in
	// file_downloads, which the frequent set loaded: one watermark per table.
	var loaded int64
	for _, d := range days {
		for _, s := range d.Summaries {
			if s.Failed != 0 {
				t.Errorf("run %s: %d tables failed: %+v", s.Run, s.Failed, s.Tables)
			}
			loaded += table(s, "file_downloads").Rows
		}
	}
	if d1 := days[0].Summaries[0]; d1.Loaded != 4 || table(d1, "file_downloads").Rows < 10_000 {
		t.Errorf("first daily run: %+v", d1)
	}
	if d2 := days[1].Summaries[0]; table(d2, "file_downloads").Rows != 0 || table(d2, "users").Rows == 0 {
		t.Errorf("second daily run loaded %d file_downloads rows the frequent set had loaded already (or no users): %+v", table(d2, "file_downloads").Rows, d2.Tables)
	}

	// What the lake holds, read under the grants applygrants made.
	cat, err := glue.OpenCatalog(filepath.Join(home, "catalog.json"))
	if err != nil {
		t.Fatal(err)
	}
	lf, err := lflocal.Open(filepath.Join(home, LakeFormationFile))
	if err != nil {
		t.Fatal(err)
	}
	gs, err := lf.Grants()
	if err != nil {
		t.Fatal(err)
	}
	lk := &lake.Lake{Catalog: cat, Root: filepath.Join(home, "s3")}
	analytics := lake.AccessOf("analytics", "raw_warehouse", "arn:aws:iam::"+deployed().Account+":role/analytics", gs)
	if analytics.IAM, err = lake.AnalystIdentity(deployed(), "analytics", nil); err != nil {
		t.Fatal(err)
	}
	res, err := lk.QueryAs(ctx, "SELECT count(*), count(DISTINCT id), count(DISTINCT load) FROM raw_warehouse.file_downloads", analytics)
	if err != nil {
		t.Fatal(err)
	}
	row := fmt.Sprint(res.Rows[0]...)
	if want := fmt.Sprint(loaded, loaded, 3); row != want { // day 1's daily and frequent loads, day 2's frequent
		t.Errorf("file_downloads in the lake: count, distinct ids, loads = %s, want %s (each loaded row once)", row, want)
	}
	support := lake.AccessOf("support", "raw_warehouse", "arn:aws:iam::"+deployed().Account+":role/support", gs)
	if support.IAM, err = lake.AnalystIdentity(deployed(), "support", nil); err != nil {
		t.Fatal(err)
	}
	if _, err := lk.QueryAs(ctx, "SELECT count(*) FROM raw_warehouse.files", support); err == nil || !strings.Contains(err.Error(), "table raw_warehouse.files is not granted to role support") {
		t.Errorf("support reading files: %v", err)
	}
	users, err := lk.QueryAs(ctx, "SELECT count(*) FROM raw_warehouse.users", support)
	if err != nil || fmt.Sprint(users.Rows[0]...) != fmt.Sprint(table(days[1].Summaries[0], "users").Rows) {
		t.Errorf("users (fully reloaded) as support: %v %v, want the last reload's %d rows", users.Rows, err, table(days[1].Summaries[0], "users").Rows)
	}
	// The current tables, under the same grants: file_downloads holds each id once,
	// and support sees only the columns of users it is granted there too.
	analyticsCur := lake.AccessOf("analytics", "raw_warehouse_current", "arn:aws:iam::"+deployed().Account+":role/analytics", gs)
	analyticsCur.IAM = analytics.IAM
	cur, err := lk.QueryAs(ctx, "SELECT count(*), count(DISTINCT id) FROM raw_warehouse_current.file_downloads", analyticsCur)
	if err != nil || fmt.Sprint(cur.Rows[0]...) != fmt.Sprint(loaded, loaded) {
		t.Errorf("file_downloads' current table: %v %v, want %d rows, each id once", cur.Rows, err, loaded)
	}
	supportCur := lake.AccessOf("support", "raw_warehouse_current", "arn:aws:iam::"+deployed().Account+":role/support", gs)
	supportCur.IAM = support.IAM
	if _, err := lk.QueryAs(ctx, "SELECT display_name FROM raw_warehouse_current.users", supportCur); err == nil {
		t.Error("support read a column of users it is not granted, in the current database")
	}
	if res, err := lk.QueryAs(ctx, "SELECT count(*) FROM raw_warehouse_current.users", supportCur); err != nil || fmt.Sprint(res.Rows[0]...) != fmt.Sprint(table(days[1].Summaries[0], "users").Rows) {
		t.Errorf("users' current table (its generation) as support: %v %v", res, err)
	}
	checkPermissions(t, allowed)
}
