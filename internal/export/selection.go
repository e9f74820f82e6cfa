package export

import (
	"fmt"
	"regexp"
	"slices"
	"strings"

	"github.com/snaplake/snaplake/internal/deploy"
)

// Selection is the export section of snaplake.yaml: which source databases and
// tables the night exports. It is read by the start-export function on every night,
// so a change takes effect at the next snapshot without a redeploy.
type Selection struct {
	// Databases lists the source databases to export (RDS's ExportOnly). Leave it out
	// to export every database of the snapshot. Only the listed databases are written
	// to S3 at all.
	Databases []string `yaml:"databases,omitempty" json:"databases,omitempty"`
	// Exclude lists databases ("db") and tables ("db.table") the night leaves out of
	// the lake: not relocated into data/, not crawled, and their exported files deleted
	// from exports/ once the export completed. Names match case-insensitively. RDS
	// cannot export "all but": without databases, excluded tables are still written to
	// exports/ (encrypted) until the night's relocation deletes them.
	Exclude []string `yaml:"exclude,omitempty" json:"exclude,omitempty"`
}

// SelectionFieldError is one problem of the export section, naming its field.
type SelectionFieldError struct {
	Path    []string
	Problem string
}

func (e *SelectionFieldError) Error() string {
	var b strings.Builder
	b.WriteString(deploy.SectionExport)
	for _, p := range e.Path {
		if p != "" && strings.Trim(p, "0123456789") == "" {
			b.WriteString("[" + p + "]")
		} else {
			b.WriteString("." + p)
		}
	}
	return b.String() + ": " + e.Problem
}
func (e *SelectionFieldError) FieldPath() []string { return e.Path }
func (e *SelectionFieldError) Reason() string      { return e.Problem }

// mysqlName is a MySQL database or table name as RDS exports it into a folder name:
// no '.', '/' or whitespace (ExportOnly splits on '.'), at most 64 characters.
var mysqlName = regexp.MustCompile(`^[^./\s*]{1,64}$`)

// Validate checks the section: every problem, each a *SelectionFieldError.
func (s Selection) Validate() []error {
	var errs []error
	add := func(path []string, format string, args ...any) {
		errs = append(errs, &SelectionFieldError{Path: path, Problem: fmt.Sprintf(format, args...)})
	}
	if s.Databases != nil && len(s.Databases) == 0 {
		add([]string{"databases"}, "lists no database: leave databases out to export every database")
	}
	seen := map[string]bool{}
	for i, db := range s.Databases {
		at := []string{"databases", fmt.Sprint(i)}
		switch {
		case !mysqlName.MatchString(db):
			add(at, "%q is not a database name (no '.', '/', '*' or spaces; at most 64 characters)", db)
		case seen[strings.ToLower(db)]:
			add(at, "%s is listed twice", db)
		}
		seen[strings.ToLower(db)] = true
	}
	excluded := map[string]bool{}
	for i, e := range s.Exclude {
		at := []string{"exclude", fmt.Sprint(i)}
		db, table, isTable := strings.Cut(e, ".")
		switch {
		case !mysqlName.MatchString(db) || (isTable && !mysqlName.MatchString(table)):
			add(at, "%q is neither a database (db) nor a table (db.table)", e)
			continue
		case excluded[strings.ToLower(e)]:
			add(at, "%s is listed twice", e)
		case isTable && excluded[strings.ToLower(db)]:
			add(at, "%s is already excluded with its database %s", e, db)
		case s.Databases != nil && !seen[strings.ToLower(db)]:
			add(at, "%s is not among the databases exported (databases), so there is nothing to exclude", db)
		}
		excluded[strings.ToLower(e)] = true
	}
	if len(s.Databases) > 0 && len(s.exportOnly()) == 0 && len(errs) == 0 {
		add([]string{"exclude"}, "excludes every database listed in databases: the night would export nothing")
	}
	return errs
}

// exportOnly is RDS's ExportOnly for the selection: the listed databases less the
// excluded ones (nil: every database). ExportOnly cannot say "all but", so
// exclusions without a databases list are applied at relocation only.
func (s Selection) exportOnly() []string {
	if len(s.Databases) == 0 {
		return nil
	}
	out := []string{}
	for _, db := range s.Databases {
		if !slices.ContainsFunc(s.Exclude, func(e string) bool { return strings.EqualFold(e, db) }) {
			out = append(out, db)
		}
	}
	return out
}

// relocateExclude is what relocation must still leave out: every exclusion whose
// database RDS exports (an excluded database that ExportOnly already leaves out is
// not written at all). Never nil, as the state machine passes it on.
func (s Selection) relocateExclude() []string {
	only := s.exportOnly()
	out := []string{}
	for _, e := range s.Exclude {
		db, _, _ := strings.Cut(e, ".")
		if only == nil || slices.ContainsFunc(only, func(d string) bool { return strings.EqualFold(d, db) }) {
			out = append(out, e)
		}
	}
	return out
}
