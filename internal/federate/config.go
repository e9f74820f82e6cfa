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
	"strings"
	"time"

	"github.com/snaplake/snaplake/internal/deploy"
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
	// StatementTimeout bounds one UNLOAD or COPY (a Go duration: 90m, 12h; default
	// 12h). The workflow waits for a statement, polling it, up to this long; then it
	// cancels the statement and reports the table failed.
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

// DefaultKeepVersions is how many versions of a table are kept.
const DefaultKeepVersions = 3

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
	names := map[string]bool{}
	for i, s := range c.Subscribers {
		path := []string{"subscribers", fmt.Sprint(i), "name"}
		switch {
		case !subscriberRE.MatchString(s.Name):
			add(path, "%q is not a subscriber name (lower case letters, digits and -)", s.Name)
		case names[s.Name]:
			add(path, "subscriber %s is listed twice", s.Name)
		}
		names[s.Name] = true
		if !validOnDefinitionChange(s.OnDefinitionChange) {
			add([]string{"subscribers", fmt.Sprint(i), "onDefinitionChange"}, "%q is neither %s nor %s", s.OnDefinitionChange, Rebuild, Refuse)
		}
	}
	if _, err := parseDuration(c.StatementTimeout, time.Second); err != nil {
		add([]string{"statementTimeout"}, "%s", err)
	}
	if _, err := parseDuration(c.StatementPoll, time.Second); err != nil {
		add([]string{"statementPoll"}, "%s", err)
	}
	if c.KeepVersions < 0 {
		add([]string{"keepVersions"}, "%d is not a number of versions", c.KeepVersions)
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
