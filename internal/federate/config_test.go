package federate_test

import (
	"errors"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/snaplake/snaplake/internal/config"
	"github.com/snaplake/snaplake/internal/deploy"
	"github.com/snaplake/snaplake/internal/federate"
)

const subscriberTablesConfig = `federate:
  tables:
    - {table: sales.dim}
    - {table: sales.fact}
    - {table: hr.staff}
  subscribers:
    - name: all
    - name: sales
      tables: [sales.fact, sales.dim]
      maxLag: 90m
    - name: hr
      tables: [hr.staff]
`

// TestSubscriberTables: a subscriber takes the tables it lists, in the section's order,
// or every table without a list; its lag limit is its maxLag or the default; its
// database user needs privileges on its own tables only.
func TestSubscriberTables(t *testing.T) {
	f, err := config.ParseSection[federate.Config]("snaplake.yaml", []byte(subscriberTablesConfig), deploy.SectionFederate)
	if err != nil {
		t.Fatal(err)
	}
	c := *f
	names := func(ts []federate.Table) []string {
		var out []string
		for _, t := range ts {
			out = append(out, t.Table)
		}
		return out
	}
	for sub, want := range map[string][]string{
		"all":   {"sales.dim", "sales.fact", "hr.staff"},
		"sales": {"sales.dim", "sales.fact"},
		"hr":    {"hr.staff"},
	} {
		s, _ := c.Subscriber(sub)
		if got := names(c.TablesOf(s)); !slices.Equal(got, want) {
			t.Errorf("subscriber %s takes %v, want %v", sub, got, want)
		}
		var needed []string
		for _, n := range federate.SubscriberNeeds(c, s) {
			if n.On == "table" {
				needed = append(needed, n.Object)
			}
		}
		if want := append([]string{federate.ControlSchema + "." + federate.ControlTable}, want...); !slices.Equal(needed, want) {
			t.Errorf("subscriber %s's user needs privileges on %v, want %v", sub, needed, want)
		}
	}
	hr, _ := c.Subscriber("hr")
	for _, n := range federate.SubscriberNeeds(c, hr) {
		if n.On == "schema" && n.Object == "sales" {
			t.Errorf("subscriber hr's user needs %v on schema sales, which it takes no table of", n.Privileges)
		}
	}
	if s, _ := c.Subscriber("sales"); s.Lag() != 90*time.Minute {
		t.Errorf("subscriber sales's lag limit is %s, want its maxLag 90m", s.Lag())
	}
	if s, _ := c.Subscriber("all"); s.Lag() != federate.DefaultMaxLag {
		t.Errorf("subscriber all's lag limit is %s, want the default %s", s.Lag(), federate.DefaultMaxLag)
	}
	if c.Abandoned() != federate.DefaultAbandonAfter {
		t.Errorf("the grace of abandoned folders is %s, want the default %s", c.Abandoned(), federate.DefaultAbandonAfter)
	}
}

// TestSubscriberTablesRefused: a listed table that is not published, one listed
// twice, an empty list, a bad maxLag and a short abandonAfter are each an error at
// their own line, naming the field (the config's FieldPath contract).
func TestSubscriberTablesRefused(t *testing.T) {
	_, err := config.ParseSection[federate.Config]("snaplake.yaml", []byte(`federate:
  abandonAfter: 30m
  tables:
    - {table: sales.dim}
    - {table: sales.fact}
  subscribers:
    - name: a
      tables:
        - sales.dim
        - sales.orders
        - sales.dim
    - name: b
      tables: []
      maxLag: soon
    - name: c
      maxLag: 10s
`), deploy.SectionFederate)
	if err == nil {
		t.Fatal("the config was accepted")
	}
	want := []string{
		`snaplake.yaml:2:3: federate.abandonAfter: 30m is shorter than 2h0m0s: a folder a run is still writing could be deleted`,
		`snaplake.yaml:10:11: federate.subscribers[0].tables[1]: "sales.orders" is not one of the published tables (federate.tables: sales.dim, sales.fact)`,
		`snaplake.yaml:11:11: federate.subscribers[0].tables[2]: sales.dim is listed twice`,
		`snaplake.yaml:13:7: federate.subscribers[1].tables: lists no table: leave tables out for a subscriber that takes every published table`,
		`snaplake.yaml:14:7: federate.subscribers[1].maxLag: "soon" is not a duration (such as 90m or 6h)`,
		`snaplake.yaml:16:7: federate.subscribers[2].maxLag: 10s is shorter than 1m0s: the alarm would fire on every publish`,
	}
	got := strings.Split(err.Error(), "\n")
	if !slices.Equal(got, want) {
		t.Errorf("errors:\n  %s\nwant:\n  %s", strings.Join(got, "\n  "), strings.Join(want, "\n  "))
	}
	var ce *config.Error
	var fe *federate.FieldError
	if !errors.As(err, &ce) || !errors.As(err, &fe) {
		t.Errorf("%T: want *config.Error wrapping *federate.FieldError", err)
	}
}

// TestAbandonAfterOutlastsTheStatementLimit: a folder an UNLOAD is still writing has
// no manifest, so the cleanup's grace must be longer than the statement limit.
func TestAbandonAfterOutlastsTheStatementLimit(t *testing.T) {
	_, err := config.ParseSection[federate.Config]("snaplake.yaml", []byte("federate:\n  statementTimeout: 20h\n  abandonAfter: 20h\n  tables:\n    - {table: sales.dim}\n"), deploy.SectionFederate)
	if err == nil || !strings.Contains(err.Error(), "federate.abandonAfter: 20h0m0s is not longer than the statement limit (statementTimeout 20h0m0s)") {
		t.Fatalf("got %v, want the abandonAfter refusal", err)
	}
	if _, err := config.ParseSection[federate.Config]("snaplake.yaml", []byte("federate:\n  statementTimeout: 24h\n  tables:\n    - {table: sales.dim}\n"), deploy.SectionFederate); err != nil {
		t.Fatalf("the default abandonAfter over the longest statement limit (24h): %v", err)
	}
}

// TestStatementTimeoutIsAtMostTheDataAPIsLimit: "The maximum duration of a query is
// 24 hours" (Data API considerations): a longer statementTimeout is refused, naming
// the file, the line and the field.
func TestStatementTimeoutIsAtMostTheDataAPIsLimit(t *testing.T) {
	_, err := config.ParseSection[federate.Config]("snaplake.yaml", []byte("federate:\n  statementTimeout: 30h\n  abandonAfter: 36h\n  tables:\n    - {table: sales.dim}\n"), deploy.SectionFederate)
	if err == nil || !strings.Contains(err.Error(), "snaplake.yaml:2:3: federate.statementTimeout: 30h is longer than 24h0m0s: the Data API ends a query after 24 hours") {
		t.Fatalf("got %v, want statementTimeout refused at its line", err)
	}
}
