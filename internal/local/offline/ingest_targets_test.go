package offline

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/snaplake/snaplake/internal/deploy"
	"github.com/snaplake/snaplake/internal/ingest"
	"github.com/snaplake/snaplake/internal/ingest/watermark"
	gluelocal "github.com/snaplake/snaplake/internal/local/glue"
	"github.com/snaplake/snaplake/internal/local/stepfunctions"
)

// TestIngestFrequentRunKeepsSkippedTables: a frequent run whose plan skips one of
// the set's incremental tables (the daily run holds its lease) points the crawler at
// the other tables only. The table it skipped, and its grant, stay in the catalog
// even under the costlier reading of how Glue treats an include path dropped from a
// crawler's targets (gluelocal.DroppedTargetAssumption): the ingest crawlers delete
// nothing (DeleteBehavior LOG).
func TestIngestFrequentRunKeepsSkippedTables(t *testing.T) {
	ctx := context.Background()
	db := ingestSource(t)
	w := newIngestWorld(t, db, nil)
	w.putConfig(strings.Replace(ingestTestConfig, "tables: [file_downloads]", "tables: [file_downloads, files]", 1))

	hasFiles := func(when string) {
		t.Helper()
		if _, err := w.cat.Table("raw_warehouse", "files"); err != nil {
			t.Errorf("%s: files is not in the catalog (%v); %s", when, err, gluelocal.DroppedTargetAssumption)
		}
		gs, err := w.lf.Grants()
		if err != nil {
			t.Fatal(err)
		}
		for _, g := range gs {
			if g.Table == "files" && strings.HasSuffix(g.Principal, ":role/support") {
				return
			}
		}
		t.Errorf("%s: the support role's grant on files is gone: %v", when, gs)
	}

	at := time.Date(2026, 12, 7, 10, 0, 0, 0, time.UTC)
	first := w.wait(w.ing.RunSet(ctx, "frequent", at, true))
	if first.Status != stepfunctions.StatusSucceeded {
		t.Fatalf("first frequent run: %s %s %s %v", first.Status, first.Error, first.Cause, first.States)
	}
	hasFiles("after the first frequent run")

	// The daily run is loading files: the next frequent run skips it.
	env := w.c.Functions[deploy.FnReconfigure].Environment
	st := watermark.Store{S3: w.admin, Bucket: w.c.Bucket, KMSKeyID: env[deploy.EnvKMSKeyID]}
	daily := ingest.RunID("daily", at.Add(5*time.Minute))
	if _, err := st.Acquire(ctx, "warehouse", "files", daily, time.Hour); err != nil {
		t.Fatal(err)
	}
	if _, err := w.pool.Exec("INSERT INTO warehouse.file_downloads (id, file_id, project_id, user_id, downloaded_at, client, bytes) " +
		"SELECT MAX(id)+1, 1, 1, 1, NOW(), 'web', 1 FROM warehouse.file_downloads"); err != nil {
		t.Fatal(err)
	}
	next := w.wait(w.ing.RunSet(ctx, "frequent", at.Add(15*time.Minute), true))
	if next.Status != stepfunctions.StatusSucceeded || !strings.Contains(string(next.Output), `"crawl":true`) {
		t.Fatalf("frequent run with files leased: %s %s %s %v %s", next.Status, next.Error, next.Cause, next.States, next.Output)
	}
	if !strings.Contains(string(next.Output), "being loaded by run "+daily) {
		t.Fatalf("the frequent run did not skip files: %s", next.Output)
	}
	hasFiles("after a frequent run that skipped it")
	if d := w.acct.IAM.Denied(); len(d) > 0 {
		t.Errorf("denied: %+v", d)
	}
}
