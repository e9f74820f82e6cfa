// Package federate is the Federator: a transform warehouse publishes tables to S3
// once, as versions whose names say the table's row count and its greatest insert
// and update times, and any number of reporting warehouses subscribe. Deciding reads
// no data: each side compares one metadata query (publish) or one control-table row
// (subscribe) with the newest complete version's name. A version is complete once its
// manifest, written last, exists.
package federate

import (
	"fmt"
	"regexp"
	"slices"
	"strings"
	"time"

	"github.com/snaplake/snaplake/internal/deploy"
	"github.com/snaplake/snaplake/internal/federate/redshift"
)

// Config is the `federate` section of snaplake.yaml.
type Config struct {
	// Tables are the tables the transform warehouse publishes.
	Tables []Table `yaml:"tables" json:"tables"`
	// Subscribers are the reporting warehouses.
	Subscribers []Subscriber `yaml:"subscribers,omitempty" json:"subscribers,omitempty"`
	// Publisher is the transform warehouse's URL (redshift://... or postgres://...);
	// the command line's --redshift replaces it.
	Publisher string `yaml:"publisher,omitempty" json:"publisher,omitempty"`
	// KeepVersions is how many complete versions of each table are kept (default 3);
	// older ones are deleted unless a subscriber is loading them.
	KeepVersions int `yaml:"keepVersions,omitempty" json:"keepVersions,omitempty"`
	// AbandonAfter is how old a version folder without a manifest (an UNLOAD whose
	// run died) must be before a publish run deletes it: a duration such as 36h
	// (default 26h, at least 2h, longer than any statement of a run: the Data API
	// ends a statement after 24 hours).
	AbandonAfter string `yaml:"abandonAfter,omitempty" json:"abandonAfter,omitempty"`
	// StatementTimeout bounds one UNLOAD, COPY or swap (a Go duration: 90m, 12h;
	// default 12h; at most 24h, the Data API's limit on a query). The workflow waits
	// for a statement, polling it, up to this long; then it cancels the statement and
	// reports the table failed.
	StatementTimeout string `yaml:"statementTimeout,omitempty" json:"statementTimeout,omitempty"`
	// StatementPoll is the first pause between two checks of a running statement (a
	// Go duration of whole seconds, at least 1s; default 10s). The pauses grow with the
	// time the statement has run, up to a 48th of StatementTimeout.
	StatementPoll string `yaml:"statementPoll,omitempty" json:"statementPoll,omitempty"`
}

// Table is one published table.
type Table struct {
	// Table is schema.table.
	Table string `yaml:"table" json:"table"`
	// Inserted and Updated are the table's insert and update timestamp columns; with
	// neither, only the row count tells a change.
	Inserted string `yaml:"inserted,omitempty" json:"inserted,omitempty"`
	Updated  string `yaml:"updated,omitempty" json:"updated,omitempty"`
	// Append publishes only the rows inserted since the previous version, for large
	// insert-only tables (needs Inserted): subscribers apply them in order.
	Append bool `yaml:"append,omitempty" json:"append,omitempty"`
	// OnDefinitionChange (rebuild or refuse) is what a subscriber does when the
	// table's published definition changed in a way it cannot apply in place (a
	// column dropped, renamed, moved or retyped, nullability changed): rebuild the
	// table from the newest full version, or refuse (the table fails with the
	// differences, the others go on). Additive changes (new nullable columns, wider
	// VARCHARs) are always applied. Default rebuild; refuse here or on the
	// subscriber wins.
	OnDefinitionChange string `yaml:"onDefinitionChange,omitempty" json:"onDefinitionChange,omitempty"`
}

// Subscriber is one reporting warehouse.
type Subscriber struct {
	// Name identifies the subscriber in S3 and in reports: lower case, digits, '-'.
	Name string `yaml:"name" json:"name"`
	// Redshift is its URL; the command line's --redshift replaces it.
	Redshift string `yaml:"redshift,omitempty" json:"redshift,omitempty"`
	// OnDefinitionChange (rebuild or refuse) is the subscriber's choice for every
	// table whose definition changed in a way it cannot apply in place (see the
	// table's setting; refuse on either wins): refuse keeps its tables from ever being
	// dropped and re-created (views bound to them, grants given by hand).
	OnDefinitionChange string `yaml:"onDefinitionChange,omitempty" json:"onDefinitionChange,omitempty"`
	// Tables are the published tables it takes (each schema.table one of the
	// section's tables); without the list it takes all of them.
	Tables []string `yaml:"tables,omitempty" json:"tables,omitempty"`
	// MaxLag is how long a newer version of one of its tables may wait before the
	// subscriber holds it: a duration such as 90m or 6h (default 4h). Beyond it the
	// subscriber's lag alarm fires.
	MaxLag string `yaml:"maxLag,omitempty" json:"maxLag,omitempty"`
}

// What a subscriber does with a definition change it cannot apply in place.
const (
	// Rebuild re-creates the table from the newest full version, in one
	// transaction with the swap (DROP TABLE, then the staging table renamed).
	Rebuild = "rebuild"
	// Refuse fails the table with the differences; the other tables go on.
	Refuse = "refuse"
)

// DefaultOnDefinitionChange is Rebuild: the subscribers' tables are copies the
// Federator owns and can re-create from S3 at any time, and an operator repairing
// drift by hand at 3 a.m. is what the Federator exists to avoid. A subscriber whose
// tables carry views or grants that a re-created table would lose sets refuse.
const DefaultOnDefinitionChange = Rebuild

// OnDefinitionChange is what subscriber does with an in-place-inapplicable change
// of table's definition: refuse when the table's or the subscriber's setting says
// so, else rebuild.
func OnDefinitionChange(table, subscriber string) string {
	if table == Refuse || subscriber == Refuse {
		return Refuse
	}
	return DefaultOnDefinitionChange
}

// Takes says the subscriber takes the published table (every table when it lists
// none).
func (s Subscriber) Takes(table string) bool {
	return s.Tables == nil || slices.Contains(s.Tables, table)
}

// Lag is the subscriber's MaxLag, or DefaultMaxLag.
func (s Subscriber) Lag() time.Duration {
	if d, err := time.ParseDuration(s.MaxLag); err == nil && s.MaxLag != "" {
		return d
	}
	return DefaultMaxLag
}

// TablesOf are the tables the subscriber takes, in the section's order.
func (c Config) TablesOf(s Subscriber) []Table {
	var out []Table
	for _, t := range c.Tables {
		if s.Takes(t.Table) {
			out = append(out, t)
		}
	}
	return out
}

// Abandoned is AbandonAfter, or DefaultAbandonAfter.
func (c Config) Abandoned() time.Duration {
	if d, err := time.ParseDuration(c.AbandonAfter); err == nil && c.AbandonAfter != "" {
		return d
	}
	return DefaultAbandonAfter
}

// DefaultKeepVersions is how many versions of a table are kept.
const DefaultKeepVersions = 3

const (
	// DefaultMaxLag is how long a subscriber may be behind before its alarm fires:
	// a few schedule periods of 15 minutes and a long COPY.
	DefaultMaxLag = 4 * time.Hour
	// DefaultAbandonAfter is when a version folder without a manifest is abandoned:
	// longer than the Data API's longest statement (24 h, so an UNLOAD nobody polls
	// any more has ended), with a margin.
	DefaultAbandonAfter = 26 * time.Hour
	// MinAbandonAfter bounds AbandonAfter from below: longer than a publish run's
	// lease when it has no deadline (2 h) and than a function's 15 minutes, so that
	// no folder a run still writes is ever old enough.
	MinAbandonAfter = 2 * time.Hour
	// MinMaxLag: a lag shorter than a minute would alarm on every publish.
	MinMaxLag = time.Minute
)

// Keep is the number of versions kept.
func (c Config) Keep() int {
	if c.KeepVersions > 0 {
		return c.KeepVersions
	}
	return DefaultKeepVersions
}

// FieldError is a problem of one field of the section.
type FieldError struct {
	Path    []string
	Problem string
}

func (e *FieldError) Error() string       { return formatPath(e.Path) + ": " + e.Problem }
func (e *FieldError) FieldPath() []string { return e.Path }
func (e *FieldError) Reason() string      { return e.Problem }

// formatPath names a field as the config's messages do: federate.tables[0].table.
func formatPath(path []string) string {
	var b strings.Builder
	b.WriteString("federate")
	for _, p := range path {
		if p != "" && strings.Trim(p, "0123456789") == "" {
			b.WriteString("[" + p + "]")
		} else {
			b.WriteString("." + p)
		}
	}
	return b.String()
}

var (
	identRE      = regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_$]{0,126}$`)
	subscriberRE = regexp.MustCompile(`^[a-z0-9][a-z0-9-]{0,62}$`)
)

// Split returns the table's schema and name.
func (t Table) Split() (schema, name string) {
	schema, name, _ = strings.Cut(t.Table, ".")
	return schema, name
}

// Validate checks the section: every problem, each a *FieldError.
func (c Config) Validate() []error {
	var errs []error
	add := func(path []string, format string, args ...any) {
		errs = append(errs, &FieldError{Path: path, Problem: fmt.Sprintf(format, args...)})
	}
	if len(c.Tables) == 0 {
		add([]string{"tables"}, "no tables to publish")
	}
	seen := map[string]bool{}
	for i, t := range c.Tables {
		path := []string{"tables", fmt.Sprint(i)}
		schema, name, ok := strings.Cut(t.Table, ".")
		switch {
		case !ok || !identRE.MatchString(schema) || !identRE.MatchString(name):
			add(append(path, "table"), "%q is not schema.table (letters, digits, _ and $; at most 127 characters each)", t.Table)
		case seen[strings.ToLower(t.Table)]:
			add(append(path, "table"), "%s is listed twice", t.Table)
		}
		seen[strings.ToLower(t.Table)] = true
		for _, col := range []struct{ field, name string }{{"inserted", t.Inserted}, {"updated", t.Updated}} {
			if col.name != "" && !identRE.MatchString(col.name) {
				add(append(path, col.field), "%q is not a column name", col.name)
			}
		}
		if t.Append && t.Inserted == "" {
			add(append(path, "append"), "append versions need the table's insert timestamp column (inserted)")
		}
		if !validOnDefinitionChange(t.OnDefinitionChange) {
			add(append(path, "onDefinitionChange"), "%q is neither %s nor %s", t.OnDefinitionChange, Rebuild, Refuse)
		}
	}
	published := make([]string, len(c.Tables))
	for i, t := range c.Tables {
		published[i] = t.Table
	}
	names := map[string]bool{}
	for i, s := range c.Subscribers {
		at := func(field ...string) []string { return append([]string{"subscribers", fmt.Sprint(i)}, field...) }
		switch {
		case !subscriberRE.MatchString(s.Name):
			add(at("name"), "%q is not a subscriber name (lower case letters, digits and -)", s.Name)
		case names[s.Name]:
			add(at("name"), "subscriber %s is listed twice", s.Name)
		}
		names[s.Name] = true
		if !validOnDefinitionChange(s.OnDefinitionChange) {
			add([]string{"subscribers", fmt.Sprint(i), "onDefinitionChange"}, "%q is neither %s nor %s", s.OnDefinitionChange, Rebuild, Refuse)
		}
		if s.Tables != nil && len(s.Tables) == 0 {
			add(at("tables"), "lists no table: leave tables out for a subscriber that takes every published table")
		}
		for j, name := range s.Tables {
			switch {
			case !slices.Contains(published, name):
				add(at("tables", fmt.Sprint(j)), "%q is not one of the published tables (federate.tables: %s)", name, strings.Join(published, ", "))
			case slices.Index(s.Tables, name) < j:
				add(at("tables", fmt.Sprint(j)), "%s is listed twice", name)
			}
		}
		if s.MaxLag != "" {
			switch d, err := time.ParseDuration(s.MaxLag); {
			case err != nil:
				add(at("maxLag"), "%q is not a duration (such as 90m or 6h)", s.MaxLag)
			case d < MinMaxLag:
				add(at("maxLag"), "%s is shorter than %s: the alarm would fire on every publish", s.MaxLag, MinMaxLag)
			}
		}
	}
	switch d, err := parseDuration(c.StatementTimeout, time.Second); {
	case err != nil:
		add([]string{"statementTimeout"}, "%s", err)
	case d > redshift.MaxStatementDuration:
		// "The maximum duration of a query is 24 hours." (Redshift Management Guide,
		// Data API considerations): a longer limit would never be reached.
		add([]string{"statementTimeout"}, "%s is longer than %s: the Data API ends a query after 24 hours", c.StatementTimeout, redshift.MaxStatementDuration)
	}
	if _, err := parseDuration(c.StatementPoll, time.Second); err != nil {
		add([]string{"statementPoll"}, "%s", err)
	}
	if c.KeepVersions < 0 {
		add([]string{"keepVersions"}, "%d is not a number of versions", c.KeepVersions)
	}
	abandonOK := true
	if c.AbandonAfter != "" {
		switch d, err := time.ParseDuration(c.AbandonAfter); {
		case err != nil:
			add([]string{"abandonAfter"}, "%q is not a duration (such as 36h)", c.AbandonAfter)
			abandonOK = false
		case d < MinAbandonAfter:
			add([]string{"abandonAfter"}, "%s is shorter than %s: a folder a run is still writing could be deleted", c.AbandonAfter, MinAbandonAfter)
			abandonOK = false
		}
	}
	// An UNLOAD writes its folder's files before its manifest for as long as the
	// statement runs: the folder must not look abandoned before the statement's limit.
	if limit := c.Limits().Timeout; abandonOK && c.Abandoned() <= limit {
		add([]string{"abandonAfter"}, "%s is not longer than the statement limit (statementTimeout %s): an UNLOAD still running could lose its folder", c.Abandoned(), limit)
	}
	return errs
}

func validOnDefinitionChange(v string) bool { return v == "" || v == Rebuild || v == Refuse }

// Subscriber returns the named subscriber.
func (c Config) Subscriber(name string) (Subscriber, bool) {
	for _, s := range c.Subscribers {
		if s.Name == name {
			return s, true
		}
	}
	return Subscriber{}, false
}

// TableNamed returns the table of that schema.table name.
func (c Config) TableNamed(name string) (Table, bool) {
	for _, t := range c.Tables {
		if t.Table == name {
			return t, true
		}
	}
	return Table{}, false
}

// Limits are the bounds of the statements' waits the section sets.
func (c Config) Limits() Limits {
	l := Limits{Timeout: deploy.FederateStatementTimeout, Poll: deploy.FederateStatementPoll}
	if d, err := parseDuration(c.StatementTimeout, time.Second); err == nil && d > 0 {
		l.Timeout = d
	}
	if d, err := parseDuration(c.StatementPoll, time.Second); err == nil && d > 0 {
		l.Poll = d
	}
	return l
}

// parseDuration reads an optional duration of at least least ("" is 0).
func parseDuration(s string, least time.Duration) (time.Duration, error) {
	if s == "" {
		return 0, nil
	}
	d, err := time.ParseDuration(s)
	if err != nil {
		return 0, fmt.Errorf("%q is not a duration (write 30s, 90m or 12h)", s)
	}
	if d < least {
		return 0, fmt.Errorf("%q is shorter than %s", s, least)
	}
	return d, nil
}
