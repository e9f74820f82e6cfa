package rdsexport_test

import (
	"context"
	"encoding/json"
	"strings"
	"testing"

	"github.com/snaplake/snaplake/internal/local/rdsexport"
)

// TestTableOutcomes: the hook makes tables come out of an export skipped or failed in
// export_tables_info, the way the relocation reads them, and only for the export it names.
func TestTableOutcomes(t *testing.T) {
	f := newFixture(t)
	const withProblems, clean = "shop-db-2026-11-20-03-05", "shop-db-2026-11-21-03-05"
	f.svc.S3 = rdsexport.WithTableOutcomes(f.s3, func(exportID, target string) (rdsexport.TableOutcome, bool) {
		if exportID != withProblems {
			return rdsexport.TableOutcome{}, false
		}
		switch target {
		case "audit.log":
			return rdsexport.TableOutcome{Status: "SKIPPED", Warning: "Column 'a b' contains a space", NoFiles: true}, true
		case "shop.orders":
			return rdsexport.TableOutcome{Status: "FAILED", Warning: "BLOB too large"}, true
		}
		return rdsexport.TableOutcome{}, false
	})
	want := map[string]map[string]struct {
		status, warning string
		files           bool
	}{
		withProblems: {
			"shop.customers": {"COMPLETE", "", true},
			"shop.orders":    {"FAILED", "BLOB too large", true},
			"audit.log":      {"SKIPPED", "Column 'a b' contains a space", false},
		},
		clean: {
			"shop.customers": {"COMPLETE", "", true},
			"shop.orders":    {"COMPLETE", "", true},
			"audit.log":      {"COMPLETE", "", true},
		},
	}
	for _, id := range []string{withProblems, clean} { // one at a time: one snapshot exports once at a time
		t.Run(id, func(t *testing.T) {
			if _, err := f.svc.StartExportTask(context.Background(), startInput(id)); err != nil {
				t.Fatal(err)
			}
			f.waitDone(t, id)
			var infos []string
			files := map[string]int{}
			for _, k := range f.keys(t, "exports/"+id+"/") {
				rel := strings.TrimPrefix(k, "exports/"+id+"/")
				if strings.HasPrefix(rel, "export_tables_info_") {
					infos = append(infos, k)
				}
				if db, rest, ok := strings.Cut(rel, "/"); ok {
					if table, _, ok := strings.Cut(rest, "/"); ok && strings.HasPrefix(table, db+".") {
						files[table]++
					}
				}
			}
			if len(infos) != 1 {
				t.Fatalf("tables info files %v, want one", infos)
			}
			var info rdsexport.TablesInfo
			if err := json.Unmarshal(f.get(t, infos[0]), &info); err != nil {
				t.Fatal(err)
			}
			if len(info.PerTableStatus) != len(want[id]) {
				t.Fatalf("perTableStatus has %d entries, want %d", len(info.PerTableStatus), len(want[id]))
			}
			for _, st := range info.PerTableStatus {
				w, ok := want[id][st.Target]
				if !ok {
					t.Errorf("unexpected target %s", st.Target)
					continue
				}
				if st.Status != w.status || st.WarningMessage != w.warning {
					t.Errorf("%s: status %q warning %q, want %q %q", st.Target, st.Status, st.WarningMessage, w.status, w.warning)
				}
				if got := files[st.Target] > 0; got != w.files {
					t.Errorf("%s: %d objects in the export, want files %v", st.Target, files[st.Target], w.files)
				}
				if !w.files && (st.TableStatistics.ExtractedRows != 0 || st.TableStatistics.ExtractedFilesCount != 0) {
					t.Errorf("%s: statistics %+v for a table without files", st.Target, st.TableStatistics)
				}
				if w.files && st.TableStatistics.ExtractedRows == 0 {
					t.Errorf("%s: statistics lost: %+v", st.Target, st.TableStatistics)
				}
			}
		})
	}
}
