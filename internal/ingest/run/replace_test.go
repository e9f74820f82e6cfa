package run

import (
	"context"
	"slices"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/glue"
	gluetypes "github.com/aws/aws-sdk-go-v2/service/glue/types"

	"github.com/snaplake/snaplake/internal/ingest"
)

// TestLoadFromBeginningDropsReplacedPartitions: the ingest crawlers delete nothing
// (DeleteBehavior LOG keeps a partition whose folder is gone), so the finish drops
// the partitions of the loads a load from the beginning replaced, as it deletes
// their folders. Afterwards the catalog lists the new load only.
func TestLoadFromBeginningDropsReplacedPartitions(t *testing.T) {
	e := newEnv(t, map[string]string{"events": "id BIGINT AUTO_INCREMENT PRIMARY KEY, seq BIGINT"})
	for i := range e.glue.Crawlers {
		e.glue.Crawlers[i].SchemaChangePolicy = &gluetypes.SchemaChangePolicy{DeleteBehavior: gluetypes.DeleteBehaviorLog, UpdateBehavior: gluetypes.UpdateBehaviorUpdateInDatabase}
	}
	crawl := func() {
		t.Helper()
		ctx := context.Background()
		if _, err := e.glue.StartCrawler(ctx, &glue.StartCrawlerInput{Name: aws.String("snaplake-ingest-daily")}); err != nil {
			t.Fatal(err)
		}
		if err := e.glue.Wait(ctx); err != nil {
			t.Fatal(err)
		}
	}
	partitions := func() []string {
		t.Helper()
		tbl, err := e.glue.Catalog.Table(ingest.CatalogDatabase(e.name), "events")
		if err != nil {
			t.Fatal(err)
		}
		return tbl.Partitions
	}
	byID := "  tables:\n    events: {mode: incremental, column: id}\n"
	e.putConfig(e.config(byID))
	var runs []string
	for i := range 2 {
		e.exec("INSERT INTO events (seq) VALUES (?)", i)
		runs = append(runs, e.run(ingest.SetDaily).Run)
		crawl()
		e.now = e.now.Add(24 * time.Hour)
	}
	if got := partitions(); !slices.Equal(got, runs) {
		t.Fatalf("partitions %v after two incremental runs %v", got, runs)
	}
	// Another watermark column: the next load starts from the beginning and replaces
	// the table.
	e.putConfig(e.config("  tables:\n    events: {mode: incremental, column: seq}\n"))
	third := e.run(ingest.SetDaily)
	crawl()
	if got := partitions(); !slices.Equal(got, []string{third.Run}) {
		t.Errorf("partitions %v after the load from the beginning %s, want only its own", got, third.Run)
	}
}
