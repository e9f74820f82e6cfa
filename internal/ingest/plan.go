package ingest

import (
	"cmp"
	"errors"
	"fmt"
	"github.com/snaplake/snaplake/internal/deploy"
	"maps"
	"slices"
	"strings"
	"time"
)

// State is what the lake knows of the tables, filled by the caller from the
// watermark store.
//
// There is ONE watermark per table, not per set: the daily and the frequent set
// read and advance the same one, so a table in both sets loads each row once
// (Glue's own job bookmarks are per job, which is how the two workflows this
// replaces loaded the same rows twice). A table being loaded by one run is skipped
// by any other, never loaded concurrently.
type State struct {
	// Tables by source table name.
	Tables map[string]TableState `json:"tables,omitempty"`
}

// TableState is the lake's record of one table.
type TableState struct {
	// LakeName is the name the table was loaded under; kept while the table exists
	// so that its folder never moves (see LakeNames).
	LakeName string `json:"lakeName,omitempty"`
	// Column is the watermark's column; a watermark of another column than the
	// plan's is not used.
	Column string `json:"column,omitempty"`
	// Watermark is the greatest value of Column loaded so far (nil: never loaded).
	Watermark *string `json:"watermark,omitempty"`
	// Generation is the folder the table's entry in the current database points
	// at; "" while it has none (a table without a primary key, or not built yet).
	Generation string `json:"generation,omitempty"`
	// LoadingBy names the run loading the table now ("" when none).
	LoadingBy    string    `json:"loadingBy,omitempty"`
	LoadingSince time.Time `json:"loadingSince,omitzero"`
}

// Plan is what one run of a set loads.
type Plan struct {
	Set      string    `json:"set"`
	At       time.Time `json:"at"`
	TimeZone string    `json:"timeZone"`
	// Due says whether the set runs at At. When false the scheduler's run does
	// nothing; Tables still shows what a due run would load.
	Due      bool      `json:"due"`
	NextRun  time.Time `json:"nextRun,omitzero"`
	Schedule Schedule  `json:"schedule"`

	Source Source `json:"source"`
	// LakeDatabase is the normalized source database: the folder under raw/.
	LakeDatabase string `json:"lakeDatabase"`
	// CatalogDatabase is the Glue database of the loaded tables (CatalogDatabase).
	CatalogDatabase string `json:"catalogDatabase"`
	// CurrentDatabase is the Glue database of the current tables: one per loaded
	// table, each key once (deploy.IngestCurrentCatalogDatabase).
	CurrentDatabase string `json:"currentDatabase"`
	// Bucket is set by InBucket; without it the crawler targets are left out.
	Bucket string `json:"bucket,omitempty"`

	Tables  []PlannedTable `json:"tables"`
	Skipped []SkippedTable `json:"skipped"`
	// Refused are the set's tables that the config names something of that the
	// source does not have: they fail, alone, and the other tables load.
	Refused []RefusedTable `json:"refused,omitempty"`
	// Unchecked are the access rules' snapshot tables that `snaplake ingest plan`
	// could not check against the source (SnapshotAccess); a run leaves it empty.
	Unchecked []UncheckedTable `json:"unchecked,omitempty"`
	// CrawlerTargets are the exact include paths of this run's tables, one folder
	// each and ending in "/": the crawler crawls nothing else.
	CrawlerTargets []string `json:"crawlerTargets,omitempty"`
	// Renamed maps every source table whose lake name differs from its name.
	Renamed map[string]string `json:"renamed"`
	// Dropped lists tables the state knows that the source no longer has: they are
	// not loaded, and their lake copy stays as it was.
	Dropped []string `json:"dropped,omitempty"`
}

// Schedule is a set's effective schedule, as the plan reports it.
type Schedule struct {
	Every      string   `json:"every,omitempty"`
	At         string   `json:"at,omitempty"`
	Between    string   `json:"between,omitempty"`
	Days       []string `json:"days,omitempty"`
	Expression string   `json:"expression"` // EventBridge Scheduler cron in TimeZone
}

// PlannedTable is one table a run loads.
type PlannedTable struct {
	Source string `json:"source"`
	Lake   string `json:"lake"`
	Mode   string `json:"mode"`
	// Column is the watermark column of an incremental load: the run loads the rows
	// whose Column is greater than From, and records the greatest value it loaded.
	Column string `json:"column,omitempty"`
	// From is the watermark the load starts after; null: from the beginning.
	From *string `json:"from"`
	// Replace: the load replaces the lake copy atomically instead of adding to it.
	// True for a full reload and for an incremental load from the beginning, so
	// that a lost or changed watermark never duplicates rows.
	Replace bool `json:"replace"`
	// Why this mode and column.
	Reason string `json:"reason"`
	// Destination is the table's folder in the bucket: raw/<database>/<table>/.
	Destination   string `json:"destination"`
	CrawlerTarget string `json:"crawlerTarget,omitempty"`
	// Columns are the table's columns in table order, each with its lake name
	// (LakeColumns): the files, the catalog and Athena use the lake names.
	Columns []ColumnName `json:"columns"`
	// RangeColumn and Ranges split a large table: the load reads each range through
	// a connection of its own, in parallel. None: the table is read in one query.
	RangeColumn string     `json:"rangeColumn,omitempty"`
	Ranges      []KeyRange `json:"ranges,omitempty"`
	// Split says how the table is read and why: its ranges, or one range.
	Split string `json:"split"`
	// Current is how the run keeps the current table of an incremental table; nil
	// for a full reload (whose generation is current already) and for a table
	// without a primary key, for which NoCurrent says why only the log is kept.
	Current   *CurrentPlan `json:"current,omitempty"`
	NoCurrent string       `json:"noCurrent,omitempty"`
}

// CurrentPlan is how a run builds an incremental table's current generation
// (internal/ingest/current): the previous one, minus the keys the run's load has,
// plus the newest loaded row of each, deletes applied.
type CurrentPlan struct {
	// Key is the table's primary key, in key order.
	Key []ColumnName `json:"key"`
	// Order is the lake name of the watermark column, which tells the newest of a
	// key's rows within one load.
	Order string `json:"order"`
	// SoftDelete, when set, is the column that marks a row deleted.
	SoftDelete *ColumnName `json:"softDelete,omitempty"`
	// KeyCheckSeconds is how often the key check (every primary key read from the
	// source, keys it lacks dropped) runs; 0: never.
	KeyCheckSeconds int64 `json:"keyCheckSeconds,omitempty"`
	// Destination is the folder of the table's generations: current/<db>/<table>/.
	Destination string `json:"destination"`
}

// SkippedTable is a table of the set that this run does not load.
type SkippedTable struct {
	Source string `json:"source"`
	Lake   string `json:"lake"`
	Reason string `json:"reason"`
}

// RefusedTable is a table of the set that the run fails without loading it: the
// config names a table or column of it that the source no longer has (dropped or
// renamed since the config was written), or asks a load its columns cannot give.
// Its watermark and lease are not touched, so the run after the config is fixed
// goes on where the last good one ended.
type RefusedTable struct {
	Source string `json:"source"`
	// Lake is the table's lake name: the state's for a table the source no longer
	// has; empty for one never loaded.
	Lake string `json:"lake,omitempty"`
	// Config is where the first entry naming the problem is written: file:line
	// (empty for a config built in Go).
	Config string `json:"config,omitempty"`
	// Reason is every problem, each as file:line:column: field: problem.
	Reason string `json:"reason"`
}

// refusedTables sorts the problems found against the source's tables by the table
// each is about, keeping those of set's tables: a problem written under another
// set's list is that set's, and one under tables or access is every set's that has
// the table. A problem about no table (none is made today) is returned as an error:
// it refuses the run.
func (c Config) refusedTables(set string, s Set, errs []error) ([]RefusedTable, error) {
	all := slices.Equal(s.Tables, []string{AllTables})
	byTable := map[string]*RefusedTable{}
	var order []string
	var whole []error
	for _, err := range errs {
		var fe *FieldError
		if !errors.As(err, &fe) || fe.Table == "" {
			whole = append(whole, err)
			continue
		}
		if len(fe.Path) > 1 && fe.Path[0] == "sets" && fe.Path[1] != set {
			continue
		}
		if fe.Path[0] != "sets" && !all && !slices.Contains(s.Tables, fe.Table) {
			continue
		}
		r := byTable[fe.Table]
		if r == nil {
			r = &RefusedTable{Source: fe.Table, Config: fe.place()}
			byTable[fe.Table] = r
			order = append(order, fe.Table)
		}
		if r.Reason != "" {
			r.Reason += "; "
		}
		r.Reason += fe.Error()
	}
	if len(whole) > 0 {
		return nil, errors.Join(whole...)
	}
	out := make([]RefusedTable, 0, len(order))
	for _, n := range slices.Sorted(slices.Values(order)) {
		out = append(out, *byTable[n])
	}
	return out, nil
}

// RawPrefix is where the loads write, below the bucket.
const RawPrefix = deploy.RawPrefix

// CatalogDatabase is the Glue database the loaded tables of a source database are
// in: raw_<normalized name>, apart from the nightly snapshots' database of the same
// source (which has the source's own name and the same table names).
func CatalogDatabase(source string) string { return deploy.IngestCatalogDatabase(source) }

// PlanRun plans the run of set at the instant at, over the tables discovery found
// and the lake's state. It refuses (with every problem, each a *FieldError) a
// config that does not validate in itself. A config that names a table or column
// the source does not have, or asks an incremental load of a table without a
// usable column, fails only that table: it is in Refused, with the file and line
// of the entry, and the set's other tables are planned.
//
// A table is planned whenever discovery finds it, with no change to the config: a
// new table joins the next run of a set listing "all", and a dropped one leaves.
func PlanRun(c Config, set string, at time.Time, tables []Table, state State) (Plan, error) {
	if errs := c.Validate(); len(errs) > 0 {
		c.place(errs)
		return Plan{}, fmt.Errorf("the ingest config is not valid: %w", errors.Join(errs...))
	}
	s, ok := c.Set(set)
	if !ok {
		return Plan{}, fmt.Errorf("unknown set %q: the sets are %q and %q", set, SetDaily, SetFrequent)
	}
	loc, _ := c.Location() // validated
	expr, _ := s.ScheduleExpression(loc)
	p := Plan{
		Set:             set,
		At:              at.In(loc),
		TimeZone:        loc.String(),
		Due:             s.Due(at, loc),
		NextRun:         s.NextRun(at, loc),
		Schedule:        Schedule{Every: s.Every, At: s.At, Between: s.Between, Days: s.Days, Expression: expr},
		Source:          c.Source,
		LakeDatabase:    NormalizeName(c.Source.Database),
		CatalogDatabase: CatalogDatabase(c.Source.Database),
		CurrentDatabase: deploy.IngestCurrentCatalogDatabase(c.Source.Database),
		Tables:          []PlannedTable{},
		Skipped:         []SkippedTable{},
		Renamed:         map[string]string{},
	}

	// What the config names that the source does not have (a table or column dropped
	// or renamed since the config was written) fails the tables it is about, not the
	// run: the other tables load.
	errs := c.CheckTables(tables)
	loads := make(map[string]load, len(tables))
	for i := range tables {
		l, err := c.chooseLoad(&tables[i])
		var fe *FieldError
		if errors.As(err, &fe) {
			fe.Table = tables[i].Name
		}
		if err != nil {
			errs = append(errs, err)
		}
		loads[tables[i].Name] = l
	}
	c.place(errs)
	refused, err := c.refusedTables(set, s, errs)
	if err != nil {
		return Plan{}, fmt.Errorf("the ingest config does not fit database %q: %w", c.Source.Database, err)
	}

	// Names are given over all tables, whatever the set, so that both sets agree.
	names := make([]string, len(tables))
	kept := map[string]string{}
	for i, t := range tables {
		names[i] = t.Name
		if ts, ok := state.Tables[t.Name]; ok && ts.LakeName != "" {
			kept[t.Name] = ts.LakeName
		}
	}
	lake, err := LakeNames(names, kept)
	if err != nil {
		return Plan{}, err
	}
	for _, n := range names {
		if lake[n] != n {
			p.Renamed[n] = lake[n]
		}
	}
	for _, n := range slices.Sorted(maps.Keys(state.Tables)) {
		if _, ok := loads[n]; !ok {
			p.Dropped = append(p.Dropped, n)
		}
	}

	byName := make(map[string]*Table, len(tables))
	for i := range tables {
		byName[tables[i].Name] = &tables[i]
	}
	var collisions []error
	members := slices.Sorted(slices.Values(names))
	if !slices.Equal(s.Tables, []string{AllTables}) {
		members = slices.Sorted(slices.Values(s.Tables))
	}
	for _, r := range refused {
		// A table the source no longer has keeps the name the lake knows it by.
		r.Lake = cmp.Or(lake[r.Source], state.Tables[r.Source].LakeName)
		p.Refused = append(p.Refused, r)
	}
	for _, n := range members {
		if slices.ContainsFunc(refused, func(r RefusedTable) bool { return r.Source == n }) {
			continue
		}
		ts := state.Tables[n]
		if ts.LoadingBy != "" {
			reason := fmt.Sprintf("being loaded by run %s", ts.LoadingBy)
			if !ts.LoadingSince.IsZero() {
				reason += " since " + ts.LoadingSince.UTC().Format(time.RFC3339)
			}
			p.Skipped = append(p.Skipped, SkippedTable{Source: n, Lake: lake[n], Reason: reason + ": a table is never loaded by two runs at once"})
			continue
		}
		l := loads[n]
		cols, err := LakeColumns(n, byName[n].columnNames())
		if err != nil {
			collisions = append(collisions, err)
			continue
		}
		pt := PlannedTable{
			Source:      n,
			Lake:        lake[n],
			Mode:        l.mode,
			Column:      l.column,
			Reason:      l.reason,
			Replace:     true,
			Destination: RawPrefix + p.LakeDatabase + "/" + lake[n] + "/",
			Columns:     cols,
		}
		if l.mode == ModeIncremental {
			switch {
			case ts.Watermark == nil:
				pt.Reason += "; no watermark yet: loads every row, replacing the lake copy"
			case !strings.EqualFold(ts.Column, l.column):
				pt.Reason += fmt.Sprintf("; the watermark is of column %q, not %q: loads every row again, replacing the lake copy", ts.Column, l.column)
			default:
				from := *ts.Watermark
				pt.From, pt.Replace = &from, false
			}
		}
		if l.mode == ModeIncremental {
			pt.Current, pt.NoCurrent = c.currentPlan(byName[n], cols, pt.Column, p.LakeDatabase, lake[n])
		}
		rows := cmp.Or(c.Tables[n].RowsPerRange, c.Defaults.RowsPerRange, DefaultRowsPerRange)
		sp := splitTable(byName[n], rows, pt.Column, pt.From)
		pt.Ranges, pt.Split = sp.ranges, sp.why
		if sp.column != nil {
			pt.RangeColumn = sp.column.Name
		}
		p.Tables = append(p.Tables, pt)
	}
	if len(collisions) > 0 {
		return Plan{}, fmt.Errorf("the tables of set %s have columns that cannot be told apart in the lake: %w", set, errors.Join(collisions...))
	}
	return p, nil
}

// InBucket returns the plan with its crawler targets in bucket: the folder of each
// incremental table, whose loads the crawler registers as partitions. A fully
// reloaded table is not crawled: its catalog entry is switched to the new
// generation in one UpdateTable when the load is complete.
func (p Plan) InBucket(bucket string) Plan {
	p.Bucket = bucket
	p.Tables = slices.Clone(p.Tables)
	p.CrawlerTargets = []string{}
	for i := range p.Tables {
		if p.Tables[i].Mode != ModeIncremental {
			continue
		}
		target := "s3://" + bucket + "/" + p.Tables[i].Destination
		p.Tables[i].CrawlerTarget = target
		p.CrawlerTargets = append(p.CrawlerTargets, target)
	}
	return p
}

// load is how a table loads.
type load struct {
	mode, column, reason string
}

// watermarkTypes are the column types a watermark can be read from and compared.
var watermarkTypes = []string{
	"tinyint", "smallint", "mediumint", "int", "integer", "bigint", "decimal", "numeric",
	"date", "datetime", "timestamp",
}

// chooseLoad decides a table's mode and watermark column.
//
// Without configuration, a table loads incrementally by its AUTO_INCREMENT column,
// else by a full reload. An AUTO_INCREMENT value is given at insert and never
// changes, so new rows load and rows updated later are not re-read: a table whose
// rows change needs mode: full (or a column that changes with them). A column such
// as updated_at is never chosen by itself: it is not strictly monotonic (rows of one
// second tie, a transaction committing late carries an earlier time), and a
// "greater than the watermark" load can miss such rows; configuring it accepts that.
func (c Config) chooseLoad(t *Table) (load, error) {
	tc := c.Tables[t.Name]
	mode, modePath := tc.Mode, []string{"tables", t.Name, "mode"}
	if mode == "" {
		mode, modePath = c.Defaults.Mode, []string{"defaults", "mode"}
	}
	if mode == ModeFull {
		return load{mode: ModeFull, reason: "mode full set in " + FormatPath(modePath)}, nil
	}
	column, columnPath := tc.Column, []string{"tables", t.Name, "column"}
	if column == "" && c.Defaults.Column != "" && t.Column(c.Defaults.Column) != nil {
		column, columnPath = c.Defaults.Column, []string{"defaults", "column"}
	}
	if column != "" {
		col := t.Column(column)
		if col == nil {
			return load{}, nil // CheckTables reports it
		}
		if !slices.Contains(watermarkTypes, col.DataType) {
			return load{}, fieldErr(columnPath,
				"column %q of %q is %s: a watermark needs a number or a date/time column", col.Name, t.Name, col.ColumnType)
		}
		reason := "column " + col.Name + " set in " + FormatPath(columnPath)
		if col.Nullable {
			reason += "; rows where it is NULL are not loaded"
		}
		return load{mode: ModeIncremental, column: col.Name, reason: reason}, nil
	}
	if t.AutoIncrement != "" {
		return load{mode: ModeIncremental, column: t.AutoIncrement,
			reason: "AUTO_INCREMENT column " + t.AutoIncrement + ": new rows load, later updates to old rows are not re-read (set mode: full where rows change)"}, nil
	}
	hint := updateTimeColumn(t)
	if mode == ModeIncremental {
		suggestion := "a number or date/time column"
		if hint != "" {
			suggestion = "e.g. " + hint
		}
		return load{}, fieldErr(modePath,
			"incremental load of %q needs a monotonic column, and it has no AUTO_INCREMENT column: set %s (%s), or mode: full",
			t.Name, FormatPath([]string{"tables", t.Name, "column"}), suggestion)
	}
	reason := "full reload: no AUTO_INCREMENT column"
	if hint != "" {
		reason += "; " + hint + " is not chosen by itself, as it is not strictly monotonic: set it as the table's column to load incrementally"
	}
	return load{mode: ModeFull, reason: reason}, nil
}

// updateTimeColumn names a column that looks like a last-update time, for messages.
func updateTimeColumn(t *Table) string {
	for _, name := range []string{"updated_at", "modified_at", "last_updated", "updated", "modified"} {
		if col := t.Column(name); col != nil && (col.DataType == "datetime" || col.DataType == "timestamp") {
			return col.Name
		}
	}
	return ""
}

// currentPlan is how an incremental table's current table is kept, or why it is
// not: a table without a primary key has no key to keep once.
func (c Config) currentPlan(t *Table, cols []ColumnName, order, lakeDatabase, lake string) (*CurrentPlan, string) {
	if len(t.PrimaryKey) == 0 {
		return nil, "no primary key: only the log (every loaded version) is kept, no current table"
	}
	lakeOf := func(source string) ColumnName {
		for _, col := range cols {
			if strings.EqualFold(col.Source, source) {
				return col
			}
		}
		return ColumnName{Source: source, Lake: NormalizeName(source)}
	}
	cp := &CurrentPlan{Order: lakeOf(order).Lake, Destination: deploy.IngestCurrentDestination(lakeDatabase, lake)}
	for _, k := range t.PrimaryKey {
		cp.Key = append(cp.Key, lakeOf(k))
	}
	tc := c.Tables[t.Name]
	sd := tc.SoftDelete
	if sd == nil && c.Defaults.SoftDelete != nil && t.Column(c.Defaults.SoftDelete.Column) != nil {
		sd = c.Defaults.SoftDelete
	}
	if sd != nil && t.Column(sd.Column) != nil {
		col := lakeOf(t.Column(sd.Column).Name)
		cp.SoftDelete = &col
	}
	if every := cmp.Or(tc.KeyCheck, c.Defaults.KeyCheck); every != "" {
		if d, err := ParseKeyCheck(every); err == nil { // validated
			cp.KeyCheckSeconds = int64(d / time.Second)
		}
	}
	return cp, ""
}
