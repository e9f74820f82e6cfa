package ingest

import (
	"errors"
	"slices"
	"strings"
	"testing"
)

func validConfig() Config {
	return Config{
		Source:   Source{Instance: "shop-db", Database: "shop"},
		TimeZone: "Europe/Berlin",
		Sets: map[string]Set{
			SetFrequent: {Tables: []string{"orders", "order_items"}},
		},
		Tables: map[string]TableConfig{
			"customer": {Mode: ModeFull},
			"events":   {Mode: ModeIncremental, Column: "id"},
		},
		Access: []Access{
			{Role: "finance", Tables: []string{"orders", "order_items"}, Columns: map[string][]string{"orders": {"id", "total"}}},
			{Role: "analysts", Tables: []string{"*"}, Columns: map[string][]string{"customer": {"id", "country"}}},
		},
	}
}

func TestValidate(t *testing.T) {
	tests := []struct {
		name   string
		change func(c *Config)
		// want: path -> a part of the message, for every error expected
		want map[string]string
	}{
		{"valid", func(c *Config) {}, nil},
		{"snapshot tables beside the wildcard, with columns", func(c *Config) {
			c.Access[1].Tables = []string{"*", "snapshots:shop.*", "snapshots:billing.invoices"}
			c.Access[1].Columns["snapshots:billing.invoices"] = []string{"id", "snapshot_date"}
		}, nil},
		{"malformed snapshot table", func(c *Config) { c.Access[0].Tables = append(c.Access[0].Tables, "snapshots:shop") }, map[string]string{
			"access.0.tables.2": `"snapshots:shop" is no snapshot table`}},
		{"snapshot columns for a table not given", func(c *Config) {
			c.Access[1].Columns["snapshots:shop.orders"] = []string{"id"}
		}, map[string]string{"access.1.columns.snapshots:shop.orders": "not among the role's tables"}},
		{"the zero config but the source", func(c *Config) { *c = Config{Source: c.Source} }, nil},
		{"no source", func(c *Config) { c.Source = Source{} }, map[string]string{
			"source.instance": "missing", "source.database": "missing"}},
		{"unknown time zone", func(c *Config) { c.TimeZone = "Europe/Berln" }, map[string]string{
			"timeZone": `"Europe/Berln" is not an IANA zone name`}},
		{"machine time zone", func(c *Config) { c.TimeZone = "Local" }, map[string]string{"timeZone": "depends on the machine"}},
		{"every does not parse", func(c *Config) { c.Sets[SetFrequent] = Set{Every: "15x"} }, map[string]string{
			"sets.frequent.every": `"15x" is not a duration`}},
		{"every zero", func(c *Config) { c.Sets[SetFrequent] = Set{Every: "0m"} }, map[string]string{"sets.frequent.every": "must be positive"}},
		{"every beyond a day", func(c *Config) { c.Sets[SetDaily] = Set{Every: "48h"} }, map[string]string{"sets.daily.every": "longer than a day"}},
		{"every not dividing a day", func(c *Config) { c.Sets[SetFrequent] = Set{Every: "7m"} }, map[string]string{"sets.frequent.every": "does not divide 24h"}},
		{"every in seconds", func(c *Config) { c.Sets[SetFrequent] = Set{Every: "90s"} }, map[string]string{"sets.frequent.every": "whole number of minutes"}},
		{"at does not parse", func(c *Config) { c.Sets[SetDaily] = Set{At: "2am"} }, map[string]string{"sets.daily.at": `"2am" is not a time of day`}},
		{"at out of range", func(c *Config) { c.Sets[SetDaily] = Set{At: "24:00"} }, map[string]string{"sets.daily.at": "00:00 to 23:59"}},
		{"between backwards", func(c *Config) { c.Sets[SetFrequent] = Set{Every: "15m", Between: "18:00-08:00"} }, map[string]string{
			"sets.frequent.between": "the start must be before the end"}},
		{"between not a window", func(c *Config) { c.Sets[SetFrequent] = Set{Every: "15m", Between: "08:00"} }, map[string]string{
			"sets.frequent.between": "not a window"}},
		{"bad day", func(c *Config) { c.Sets[SetFrequent] = Set{Every: "15m", Days: []string{"MON", "Funday"}} }, map[string]string{
			"sets.frequent.days.1": `"Funday" is not a day`}},
		{"a set that never runs", func(c *Config) { c.Sets[SetDaily] = Set{At: "02:00", Between: "08:00-18:00"} }, map[string]string{
			"sets.daily": "never runs"}},
		{"no schedule", func(c *Config) { c.Sets[SetFrequent] = Set{Between: "08:00-18:00"} }, map[string]string{
			"sets.frequent.every": "needs every"}},
		{"unknown set", func(c *Config) { c.Sets["dayly"] = Set{} }, map[string]string{"sets.dayly": `unknown set "dayly"`}},
		{"all with others", func(c *Config) { c.Sets[SetDaily] = Set{Tables: []string{"all", "orders"}} }, map[string]string{
			"sets.daily.tables.0": "must be the only entry"}},
		{"table twice, empty name", func(c *Config) { c.Sets[SetFrequent] = Set{Tables: []string{"orders", "", "orders"}} }, map[string]string{
			"sets.frequent.tables.1": "empty table name", "sets.frequent.tables.2": "listed twice"}},
		{"bad mode", func(c *Config) { c.Tables["orders"] = TableConfig{Mode: "append"} }, map[string]string{
			`tables.orders.mode`: `"append" is not a load mode`}},
		{"bad default mode", func(c *Config) { c.Defaults.Mode = "merge" }, map[string]string{"defaults.mode": `"merge" is not a load mode`}},
		{"full with a column", func(c *Config) { c.Tables["orders"] = TableConfig{Mode: ModeFull, Column: "id"} }, map[string]string{
			"tables.orders.column": "a full reload takes no column"}},
		{"soft delete without a column", func(c *Config) { c.Tables["orders"] = TableConfig{SoftDelete: &SoftDelete{}} }, map[string]string{
			"tables.orders.softDelete.column": "missing"}},
		{"key check not a duration", func(c *Config) { c.Defaults.KeyCheck = "weekly" }, map[string]string{
			"defaults.keyCheck": `"weekly" is not a duration`}},
		{"key check too often", func(c *Config) { c.Tables["orders"] = TableConfig{KeyCheck: "1m"} }, map[string]string{
			"tables.orders.keyCheck": "below 15m0s"}},
		{"soft delete and key check", func(c *Config) {
			c.Tables["orders"] = TableConfig{SoftDelete: &SoftDelete{Column: "deleted_at"}, KeyCheck: "168h"}
		}, nil},
		{"incremental without column passes (checked at plan time)", func(c *Config) { c.Tables["orders"] = TableConfig{Mode: ModeIncremental} }, nil},
		{"role without name", func(c *Config) { c.Access[0].Role = "" }, map[string]string{"access.0.role": "missing"}},
		{"role with no tables", func(c *Config) { c.Access[1].Tables = nil; c.Access[1].Columns = nil }, map[string]string{
			"access.1.tables": `role "analysts" has no tables`}},
		{"role twice", func(c *Config) { c.Access[1].Role = "finance" }, map[string]string{
			"access.1.role": `role "finance" is already granted in access[0]`}},
		{"columns of a table the role lacks", func(c *Config) { c.Access[0].Columns["customer"] = []string{"id"} }, map[string]string{
			"access.0.columns.customer": "not among the role's tables"}},
		{"empty columns", func(c *Config) { c.Access[0].Columns["orders"] = nil }, map[string]string{
			"access.0.columns.orders": "no columns listed"}},
		{"every problem at once", func(c *Config) {
			c.Source.Database = ""
			c.TimeZone = "Mars/Olympus"
			c.Sets[SetFrequent] = Set{Every: "15x"}
			c.Access[0].Tables = nil
		}, map[string]string{
			"source.database": "missing", "timeZone": "not an IANA", "sets.frequent.every": "not a duration",
			"access.0.tables": "no tables", "access.0.columns.orders": "not among the role's tables",
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := validConfig()
			tt.change(&c)
			got := map[string]string{}
			for _, err := range c.Validate() {
				var fe *FieldError
				if !errors.As(err, &fe) {
					t.Fatalf("error %v is not a *FieldError", err)
				}
				if !strings.HasPrefix(err.Error(), FormatPath(fe.FieldPath())+": ") {
					t.Errorf("%q does not start with its field %s", err, FormatPath(fe.FieldPath()))
				}
				got[strings.Join(fe.FieldPath(), ".")] = err.Error()
			}
			for path, part := range tt.want {
				if !strings.Contains(got[path], part) {
					t.Errorf("at %s: got %q, want it to contain %q", path, got[path], part)
				}
			}
			for path, msg := range got {
				if _, ok := tt.want[path]; !ok {
					t.Errorf("unexpected error %s", msg)
				}
			}
		})
	}
}

func TestFormatPath(t *testing.T) {
	for path, want := range map[string]string{
		"sets frequent every":  "ingest.sets.frequent.every",
		"access 2 role":        "ingest.access[2].role",
		"tables order-items":   `ingest.tables["order-items"]`,
		"sets daily tables 10": "ingest.sets.daily.tables[10]",
	} {
		if got := FormatPath(strings.Fields(path)); got != want {
			t.Errorf("FormatPath(%q) = %q, want %q", path, got, want)
		}
	}
}

func TestCheckTables(t *testing.T) {
	tables := []Table{
		{Name: "orders", Columns: []Column{{Name: "id"}, {Name: "total"}}},
		{Name: "order_items", Columns: []Column{{Name: "id"}}},
		{Name: "Customer", Columns: []Column{{Name: "id"}, {Name: "country"}}},
		{Name: "events", Columns: []Column{{Name: "id"}}},
	}
	c := validConfig()
	c.Tables["Customer"] = c.Tables["customer"]
	delete(c.Tables, "customer")
	c.Access[1].Columns = map[string][]string{"Customer": {"id", "country"}}
	if errs := c.CheckTables(tables); len(errs) > 0 {
		t.Fatalf("valid config: %v", errs)
	}

	c = validConfig() // names "customer", which the database spells "Customer"
	c.Sets[SetFrequent] = Set{Tables: []string{"orders", "order_itmes"}}
	c.Tables["events"] = TableConfig{Column: "seq"}
	c.Tables["orders"] = TableConfig{SoftDelete: &SoftDelete{Column: "deleted_at"}}
	c.Access[0].Columns["orders"] = []string{"id", "amount"}
	var got []string
	for _, err := range c.CheckTables(tables) {
		var fe *FieldError
		if !errors.As(err, &fe) {
			t.Fatalf("%v is not a *FieldError", err)
		}
		got = append(got, strings.Join(fe.Path, ".")+" "+kind(err)+": "+fe.Problem)
	}
	want := []string{
		`sets.frequent.tables.1 table: unknown table "order_itmes": database "shop" has no base table of that name`,
		`tables.customer table: unknown table "customer": database "shop" has no base table of that name (did you mean "Customer"? table names are case-sensitive)`,
		`tables.events.column column: unknown column "seq": table "events" has columns id`,
		`tables.orders.softDelete.column column: unknown column "deleted_at": table "orders" has columns id, total`,
		`access.0.columns.orders.1 column: unknown column "amount": table "orders" has columns id, total`,
		`access.1.columns.customer table: unknown table "customer": database "shop" has no base table of that name (did you mean "Customer"? table names are case-sensitive)`,
	}
	if !slices.Equal(got, want) {
		t.Errorf("CheckTables:\n%s\nwant\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
}

func kind(err error) string {
	switch {
	case errors.Is(err, ErrUnknownTable):
		return "table"
	case errors.Is(err, ErrUnknownColumn):
		return "column"
	}
	return "other"
}
