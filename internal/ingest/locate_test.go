package ingest_test

import (
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/snaplake/snaplake/internal/config"
	"github.com/snaplake/snaplake/internal/deploy"
	"github.com/snaplake/snaplake/internal/ingest"
)

// Item 14 of issue 12: a table the config names and the source does not have was
// refused with its field path but no file:line, while every other config error has
// one. The check needs the source's tables, so it is made after loading (by the
// planner); the section, loaded as a run loads it, remembers where its fields are
// written.
func TestLaterErrorsNameTheLine(t *testing.T) {
	const file = `ingest:
  source:
    instance: shop-db
    database: shop
  sets:
    frequent:
      tables: [orders, nope]
  tables:
    orders:
      column: updated
    missing:
      mode: full
`
	in, err := config.ParseSection[ingest.Config]("snaplake.yaml", []byte(file), deploy.SectionIngest)
	if err != nil {
		t.Fatal(err)
	}
	tables := []ingest.Table{{Name: "orders", Columns: []ingest.Column{{Name: "id", DataType: "bigint", ColumnType: "bigint"}}}}
	_, err = ingest.PlanRun(*in, ingest.SetFrequent, time.Date(2026, 3, 30, 10, 0, 0, 0, time.UTC), tables, ingest.State{})
	if err == nil {
		t.Fatal("PlanRun accepted a config naming tables the source does not have")
	}
	for _, want := range []string{
		`snaplake.yaml:7:24: ingest.sets.frequent.tables[1]: unknown table "nope"`,
		`snaplake.yaml:10:7: ingest.tables.orders.column: unknown column "updated"`,
		`snaplake.yaml:11:5: ingest.tables.missing: unknown table "missing"`,
	} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("PlanRun error\n%v\ndoes not contain\n%s", err, want)
		}
	}
	var fe *ingest.FieldError
	if !errors.As(err, &fe) || !errors.Is(err, ingest.ErrUnknownTable) {
		t.Errorf("the error is no longer an *ingest.FieldError wrapping ErrUnknownTable: %v", err)
	}
	// A config built in Go, not read from a file, has no lines to name.
	c := *in
	c.SetLocator(nil)
	_, err = ingest.PlanRun(c, ingest.SetFrequent, time.Date(2026, 3, 30, 10, 0, 0, 0, time.UTC), tables, ingest.State{})
	if err == nil || strings.Contains(err.Error(), "snaplake.yaml") || !strings.Contains(err.Error(), `ingest.tables.missing: unknown table "missing"`) {
		t.Errorf("without a locator: %v", err)
	}
}

// The current tables' settings are placed like the others: a key check that is
// not a duration is refused by the loader at its line, a soft-delete column the
// table lacks by the planner at its line.
func TestCurrentSettingsNameTheLine(t *testing.T) {
	const bad = `ingest:
  source:
    instance: shop-db
    database: shop
  tables:
    orders:
      keyCheck: weekly
`
	_, err := config.ParseSection[ingest.Config]("snaplake.yaml", []byte(bad), deploy.SectionIngest)
	if err == nil || !strings.Contains(err.Error(), `snaplake.yaml:7`) || !strings.Contains(err.Error(), `"weekly" is not a duration`) {
		t.Errorf("keyCheck: weekly: %v", err)
	}
	const file = `ingest:
  source:
    instance: shop-db
    database: shop
  tables:
    orders:
      column: id
      softDelete:
        column: deleted
`
	in, err := config.ParseSection[ingest.Config]("snaplake.yaml", []byte(file), deploy.SectionIngest)
	if err != nil {
		t.Fatal(err)
	}
	tables := []ingest.Table{{Name: "orders", Columns: []ingest.Column{{Name: "id", DataType: "bigint", ColumnType: "bigint"}}, PrimaryKey: []string{"id"}}}
	_, err = ingest.PlanRun(*in, ingest.SetDaily, time.Date(2026, 3, 30, 10, 0, 0, 0, time.UTC), tables, ingest.State{})
	if want := `snaplake.yaml:9:9: ingest.tables.orders.softDelete.column: unknown column "deleted"`; err == nil || !strings.Contains(err.Error(), want) {
		t.Errorf("PlanRun error\n%v\ndoes not contain\n%s", err, want)
	}
}
