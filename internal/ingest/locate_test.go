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
	// Since issue 15 such a table fails alone, and its reason keeps the line.
	refused := func(c ingest.Config) string {
		t.Helper()
		var reasons []string
		for _, set := range []string{ingest.SetFrequent, ingest.SetDaily} {
			p, err := ingest.PlanRun(c, set, time.Date(2026, 3, 30, 10, 0, 0, 0, time.UTC), tables, ingest.State{})
			if err != nil {
				t.Fatalf("PlanRun(%s) refused the run: %v", set, err)
			}
			for _, r := range p.Refused {
				reasons = append(reasons, r.Config+" "+r.Reason)
			}
		}
		return strings.Join(reasons, "\n")
	}
	got := refused(*in)
	for _, want := range []string{
		`snaplake.yaml:7 snaplake.yaml:7:24: ingest.sets.frequent.tables[1]: unknown table "nope"`,
		`snaplake.yaml:10 snaplake.yaml:10:7: ingest.tables.orders.column: unknown column "updated"`,
		`snaplake.yaml:11 snaplake.yaml:11:5: ingest.tables.missing: unknown table "missing"`,
	} {
		if !strings.Contains(got, want) {
			t.Errorf("refused tables\n%v\ndo not contain\n%s", got, want)
		}
	}
	errs := in.CheckTables(tables)
	var fe *ingest.FieldError
	if len(errs) == 0 || !errors.As(errs[0], &fe) || !errors.Is(errs[0], ingest.ErrUnknownTable) {
		t.Errorf("the problem is no longer an *ingest.FieldError wrapping ErrUnknownTable: %v", errs)
	}
	// A config built in Go, not read from a file, has no lines to name.
	c := *in
	c.SetLocator(nil)
	if got := refused(c); strings.Contains(got, "snaplake.yaml") || !strings.Contains(got, `ingest.tables.missing: unknown table "missing"`) {
		t.Errorf("without a locator: %v", got)
	}
}

// The current tables' settings are placed like the others: a key check that is
// not a duration is refused by the loader at its line, a soft-delete column the
// table lacks by the planner at its line (which fails that table alone).
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
	p, err := ingest.PlanRun(*in, ingest.SetDaily, time.Date(2026, 3, 30, 10, 0, 0, 0, time.UTC), tables, ingest.State{})
	if err != nil {
		t.Fatal(err)
	}
	want := `snaplake.yaml:9:9: ingest.tables.orders.softDelete.column: unknown column "deleted"`
	if len(p.Refused) != 1 || p.Refused[0].Source != "orders" || p.Refused[0].Config != "snaplake.yaml:9" || !strings.Contains(p.Refused[0].Reason, want) {
		t.Errorf("refused tables %+v, want orders refused with\n%s", p.Refused, want)
	}
}
