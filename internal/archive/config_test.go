package archive_test

import (
	"errors"
	"maps"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/snaplake/snaplake/internal/archive"
	"github.com/snaplake/snaplake/internal/config"
	"github.com/snaplake/snaplake/internal/deploy"
)

// problems lists the Error() of each problem joined in err.
func problems(err error) []string {
	if err == nil {
		return nil
	}
	parts := []error{err}
	if j, ok := err.(interface{ Unwrap() []error }); ok {
		parts = j.Unwrap()
	}
	var out []string
	for _, p := range parts {
		out = append(out, p.Error())
	}
	return out
}

const goodTable = `archive:
  tables:
    shop.audit_log:
      retention: 730d
      column: created_at
`

func parse(doc string) (*archive.Config, error) {
	return config.ParseSection[archive.Config]("snaplake.yaml", []byte(doc), deploy.SectionArchive)
}

// TestBadSectionsAtTheirLines: every setting that cannot work is refused at its
// line, with a reason naming the table.
func TestBadSectionsAtTheirLines(t *testing.T) {
	table := func(name, body string) string {
		return "archive:\n  tables:\n    " + name + ":\n" + body
	}
	const ok = "      retention: 2y\n      column: created_at\n"
	tests := []struct {
		name string
		doc  string
		want []string
	}{
		{"no tables", "archive:\n  tables: {}\n", []string{
			`snaplake.yaml:2:3: archive.tables: lists no table: name each table to archive as database.table, with its retention and column`}},
		{"tables missing", "archive:\n  defaults: {batchRows: 5000}\n", []string{
			`snaplake.yaml:1:1: archive.tables: is required but missing`}},
		{"a table without its database", table("audit_log", ok), []string{
			`snaplake.yaml:3:5: archive.tables.audit_log: "audit_log" is not database.table: two names of 1 to 64 characters joined by one dot, without quotes, backticks, backslashes or whitespace`}},
		{"three parts", table("shop.audit.log", ok), []string{
			`snaplake.yaml:3:5: archive.tables["shop.audit.log"]: "shop.audit.log" is not database.table: two names of 1 to 64 characters joined by one dot, without quotes, backticks, backslashes or whitespace`}},
		{"backticks", table("'shop.`audit`'", ok), []string{
			"snaplake.yaml:3:5: archive.tables[\"shop.`audit`\"]: \"shop.`audit`\" is not database.table: two names of 1 to 64 characters joined by one dot, without quotes, backticks, backslashes or whitespace"}},
		{"quotes", table(`"shop.'audit'"`, ok), []string{
			`snaplake.yaml:3:5: archive.tables["shop.'audit'"]: "shop.'audit'" is not database.table: two names of 1 to 64 characters joined by one dot, without quotes, backticks, backslashes or whitespace`}},
		{"double quotes", table(`'shop."audit"'`, ok), []string{
			`snaplake.yaml:3:5: archive.tables["shop.\"audit\""]: "shop.\"audit\"" is not database.table: two names of 1 to 64 characters joined by one dot, without quotes, backticks, backslashes or whitespace`}},
		{"whitespace", table(`"shop.audit log"`, ok), []string{
			`snaplake.yaml:3:5: archive.tables["shop.audit log"]: "shop.audit log" is not database.table: two names of 1 to 64 characters joined by one dot, without quotes, backticks, backslashes or whitespace`}},
		{"a name longer than MySQL's 64", table("shop."+strings.Repeat("t", 65), ok), []string{
			`snaplake.yaml:3:5: archive.tables["shop.` + strings.Repeat("t", 65) + `"]: "shop.` + strings.Repeat("t", 65) + `" is not database.table: two names of 1 to 64 characters joined by one dot, without quotes, backticks, backslashes or whitespace`}},
		{"the same table in two cases", "archive:\n  tables:\n    shop.audit: {retention: 1y, column: c}\n    shop.Audit: {retention: 1y, column: c}\n", []string{
			`snaplake.yaml:3:5: archive.tables["shop.audit"]: table shop.audit is already configured as shop.Audit: table names differ only in case, which a server with lower_case_table_names reads as one table`}},
		{"retention zero", table("shop.audit_log", "      retention: 0d\n      column: created_at\n"), []string{
			`snaplake.yaml:4:7: archive.tables["shop.audit_log"].retention: table shop.audit_log: retention "0d" is zero: every row would be archived and deleted; write days (730d), months (6mo) or years (2y)`}},
		{"retention negative", table("shop.audit_log", "      retention: -30d\n      column: created_at\n"), []string{
			`snaplake.yaml:4:7: archive.tables["shop.audit_log"].retention: table shop.audit_log: retention "-30d" is negative: rows are kept for a positive period; write days (730d), months (6mo) or years (2y)`}},
		{"retention without a unit", table("shop.audit_log", "      retention: \"730\"\n      column: created_at\n"), []string{
			`snaplake.yaml:4:7: archive.tables["shop.audit_log"].retention: table shop.audit_log: retention "730" has no unit: write days (730d), months (6mo) or years (2y)`}},
		{"retention as a number", table("shop.audit_log", "      retention: 730\n      column: created_at\n"), []string{
			`snaplake.yaml:4:18: archive.tables["shop.audit_log"].retention: expected a string, got the number 730 (write "730" if it is meant as text)`}},
		{"retention in hours", table("shop.audit_log", "      retention: 17520h\n      column: created_at\n"), []string{
			`snaplake.yaml:4:7: archive.tables["shop.audit_log"].retention: table shop.audit_log: retention "17520h" has the unit "h": write days (730d), months (6mo) or years (2y)`}},
		{"retention in m", table("shop.audit_log", "      retention: 6m\n      column: created_at\n"), []string{
			`snaplake.yaml:4:7: archive.tables["shop.audit_log"].retention: table shop.audit_log: retention "6m" is ambiguous (minutes or months?): write 6mo for months, or days (6d)`}},
		{"retention of a thousand years", table("shop.audit_log", "      retention: 1000y\n      column: created_at\n"), []string{
			`snaplake.yaml:4:7: archive.tables["shop.audit_log"].retention: table shop.audit_log: retention "1000y" is more than 100 years: no row that old can be archived`}},
		{"retention not a period", table("shop.audit_log", "      retention: two years\n      column: created_at\n"), []string{
			`snaplake.yaml:4:7: archive.tables["shop.audit_log"].retention: table shop.audit_log: retention "two years" is not a period: write days (730d), months (6mo) or years (2y)`}},
		{"retention missing", table("shop.audit_log", "      column: created_at\n"), []string{
			`snaplake.yaml:3:5: archive.tables["shop.audit_log"].retention: is required but missing`}},
		{"column with a backtick", table("shop.audit_log", "      retention: 2y\n      column: created`at\n"), []string{
			"snaplake.yaml:5:7: archive.tables[\"shop.audit_log\"].column: table shop.audit_log: \"created`at\" is not a column name (1 to 64 characters, without quotes, backticks, dots or whitespace): name its DATETIME, TIMESTAMP or DATE column"}},
		{"batch too small", table("shop.audit_log", ok+"      batchRows: 10\n"), []string{
			`snaplake.yaml:6:7: archive.tables["shop.audit_log"].batchRows: table shop.audit_log: 10 is outside 100 to 1000000: a batch is held in memory while S3 verifies it, and a smaller one costs more in S3 requests than it spares (default 10000)`}},
		{"batch too large", "archive:\n  defaults:\n    batchRows: 5000000\n" + goodTable[len("archive:\n"):], []string{
			`snaplake.yaml:3:5: archive.defaults.batchRows: 5000000 is outside 100 to 1000000: a batch is held in memory while S3 verifies it, and a smaller one costs more in S3 requests than it spares (default 10000)`}},
		{"negative batch", table("shop.audit_log", ok+"      batchRows: -1\n"), []string{
			`snaplake.yaml:6:7: archive.tables["shop.audit_log"].batchRows: table shop.audit_log: -1 is outside 100 to 1000000: a batch is held in memory while S3 verifies it, and a smaller one costs more in S3 requests than it spares (default 10000)`}},
		{"delete statement too large", table("shop.audit_log", ok+"      deleteRows: 50000\n"), []string{
			`snaplake.yaml:6:7: archive.tables["shop.audit_log"].deleteRows: table shop.audit_log: 50000 is outside 1 to 10000: one DELETE holds its rows' locks until it commits, and replicas apply it as one event (default 1000)`}},
		{"pause not a duration", table("shop.audit_log", ok+"      pause: half a second\n"), []string{
			`snaplake.yaml:6:7: archive.tables["shop.audit_log"].pause: table shop.audit_log: "half a second" is not a pause from 0s to 1m0s: write a Go duration such as 500ms or 2s (default 500ms)`}},
		{"pause too long", "archive:\n  defaults: {pause: 5m}\n" + goodTable[len("archive:\n"):], []string{
			`snaplake.yaml:2:14: archive.defaults.pause: "5m" is not a pause from 0s to 1m0s: write a Go duration such as 500ms or 2s (default 500ms)`}},
		{"lag below a second", "archive:\n  defaults:\n    maxReplicaLag: 100ms\n" + goodTable[len("archive:\n"):], []string{
			`snaplake.yaml:3:5: archive.defaults.maxReplicaLag: "100ms" is not a lag from 1s to 1h0m0s: write a Go duration such as 1s or 30s; replicas report whole seconds (default 1s)`}},
		{"threads negative", table("shop.audit_log", ok+"      maxThreadsRunning: -5\n"), []string{
			`snaplake.yaml:6:7: archive.tables["shop.audit_log"].maxThreadsRunning: table shop.audit_log: -5 is outside 1 to 100000 (default 25)`}},
		{"unknown field", table("shop.audit_log", ok+"      retension: 2y\n"), []string{
			`snaplake.yaml:6:7: archive.tables["shop.audit_log"].retension: unknown field (known: retention, column, batchRows, deleteRows, pause, maxReplicaLag, maxThreadsRunning)`}},
		{"replica with both", goodTable + "  replica: {host: replica-1, instance: shop-db-replica}\n", []string{
			`snaplake.yaml:6:3: archive.replica: set one of host (SHOW REPLICA STATUS on the replica) or instance (the RDS ReplicaLag metric), or leave replica out`}},
		{"replica with neither", goodTable + "  replica: {}\n", []string{
			`snaplake.yaml:6:3: archive.replica: set one of host (SHOW REPLICA STATUS on the replica) or instance (the RDS ReplicaLag metric), or leave replica out`}},
		{"replica host with a bad port", goodTable + "  replica:\n    host: replica-1:99999\n", []string{
			`snaplake.yaml:7:5: archive.replica.host: "replica-1:99999" is not host or host:port`}},
		{"replica instance not an identifier", goodTable + "  replica:\n    instance: shop_db\n", []string{
			`snaplake.yaml:7:5: archive.replica.instance: "shop_db" is not an RDS DB instance identifier (1 to 63 letters, digits and hyphens, starting with a letter)`}},
		{"several problems, in line order", `archive:
  defaults:
    deleteRows: 0
    pause: 1x
  tables:
    shop.a: {retention: 0y, column: c}
    b: {retention: 1y, column: c}
`, []string{
			`snaplake.yaml:4:5: archive.defaults.pause: "1x" is not a pause from 0s to 1m0s: write a Go duration such as 500ms or 2s (default 500ms)`,
			`snaplake.yaml:6:14: archive.tables["shop.a"].retention: table shop.a: retention "0y" is zero: every row would be archived and deleted; write days (730d), months (6mo) or years (2y)`,
			`snaplake.yaml:7:5: archive.tables.b: "b" is not database.table: two names of 1 to 64 characters joined by one dot, without quotes, backticks, backslashes or whitespace`,
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := parse(tt.doc)
			if got := problems(err); !slices.Equal(got, tt.want) {
				t.Errorf("problems:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(tt.want, "\n"))
			}
		})
	}
}

// TestSentinelsNameTheTable: a caller (the CLI, the Lambda) can tell the kind of
// problem and the table from the loader's error.
func TestSentinelsNameTheTable(t *testing.T) {
	_, err := parse("archive:\n  tables:\n    shop.audit_log: {retention: 0d, column: created_at}\n")
	var fe *archive.FieldError
	if !errors.As(err, &fe) || fe.Table != "shop.audit_log" || !errors.Is(err, archive.ErrRetention) {
		t.Errorf("err %v: want a *archive.FieldError about shop.audit_log wrapping ErrRetention", err)
	}
	var ce *config.Error
	if !errors.As(err, &ce) || ce.File != "snaplake.yaml" || ce.Line != 3 {
		t.Errorf("err %v: want a *config.Error at snaplake.yaml:3", err)
	}
}

func TestLimitsResolveTableThenDefaultsThenDeploy(t *testing.T) {
	c, err := parse(`archive:
  defaults:
    batchRows: 20000
    pause: 1s
    maxReplicaLag: 5s
  replica:
    instance: shop-db-replica
  tables:
    shop.events:
      retention: 6mo
      column: occurred_at
      batchRows: 500
      maxThreadsRunning: 10
    shop.audit_log:
      retention: 2y
      column: created_at
      maxReplicaLag: 30s
`)
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		table string
		want  archive.Limits
	}{
		// deleteRows 1000 from deploy, at most the table's batch of 500.
		{"shop.events", archive.Limits{BatchRows: 500, DeleteRows: 500, Pause: time.Second, MaxReplicaLag: 5 * time.Second, MaxThreadsRunning: 10}},
		{"shop.audit_log", archive.Limits{BatchRows: 20000, DeleteRows: deploy.DefaultArchiveDeleteRows, Pause: time.Second, MaxReplicaLag: 30 * time.Second, MaxThreadsRunning: deploy.DefaultArchiveMaxThreadsRunning}},
	}
	for _, tt := range tests {
		if got := c.Limits(tt.table); got != tt.want {
			t.Errorf("%s: limits %+v, want %+v", tt.table, got, tt.want)
		}
	}

	// Without a replica, lag is not checked (zero), whatever maxReplicaLag says.
	c, err = parse(goodTable)
	if err != nil {
		t.Fatal(err)
	}
	want := archive.Limits{BatchRows: deploy.DefaultArchiveBatchRows, DeleteRows: deploy.DefaultArchiveDeleteRows,
		Pause: deploy.DefaultArchivePause, MaxThreadsRunning: deploy.DefaultArchiveMaxThreadsRunning}
	if got := c.Limits("shop.audit_log"); got != want {
		t.Errorf("defaults: %+v, want %+v", got, want)
	}
	// An explicit pause of 0s is no pause, not the default.
	c, err = parse("archive:\n  defaults: {pause: 0s}\n" + goodTable[len("archive:\n"):])
	if err != nil {
		t.Fatal(err)
	}
	if got := c.Limits("shop.audit_log").Pause; got != 0 {
		t.Errorf("pause 0s: %s, want 0", got)
	}
}

func TestRetentionCutoff(t *testing.T) {
	at := func(s string) time.Time {
		t.Helper()
		v, err := time.Parse(time.RFC3339, s)
		if err != nil {
			t.Fatal(err)
		}
		return v
	}
	tests := []struct {
		retention, now, want string
	}{
		{"730d", "2026-12-08T01:41:33Z", "2024-12-08T00:00:00Z"},
		{"1d", "2026-03-01T23:59:59Z", "2026-02-28T00:00:00Z"},
		// The run's day is UTC's: 00:30 in Berlin is still the 7th in UTC.
		{"1d", "2026-12-08T00:30:00+01:00", "2026-12-06T00:00:00Z"},
		{"6mo", "2026-12-08T10:00:00Z", "2026-06-08T00:00:00Z"},
		{"1mo", "2026-01-15T10:00:00Z", "2025-12-15T00:00:00Z"},
		// A day the earlier month lacks: its last day, never later.
		{"1mo", "2026-03-31T10:00:00Z", "2026-02-28T00:00:00Z"},
		{"6mo", "2026-08-31T10:00:00Z", "2026-02-28T00:00:00Z"},
		{"1y", "2028-02-29T10:00:00Z", "2027-02-28T00:00:00Z"},
		{"2y", "2026-12-08T10:00:00Z", "2024-12-08T00:00:00Z"},
		{"100y", "2026-12-08T10:00:00Z", "1926-12-08T00:00:00Z"},
	}
	for _, tt := range tests {
		r, err := archive.ParseRetention(tt.retention)
		if err != nil {
			t.Fatalf("%s: %v", tt.retention, err)
		}
		if got := r.Cutoff(at(tt.now)); !got.Equal(at(tt.want)) || got.Location() != time.UTC {
			t.Errorf("%s before %s: cutoff %s, want %s", tt.retention, tt.now, got, tt.want)
		}
		if r.String() != tt.retention {
			t.Errorf("String %q, want %q", r, tt.retention)
		}
	}
}

// TestDocumentedExample: the README's example section loads, and says what its
// comments say.
func TestDocumentedExample(t *testing.T) {
	c, err := config.LoadSection[archive.Config]("testdata/snaplake.yaml", deploy.SectionArchive)
	if err != nil {
		t.Fatalf("the example does not load:\n%v", err)
	}
	if got := slices.Sorted(maps.Keys(c.Tables)); !slices.Equal(got, []string{"shop.audit_log", "shop.order_events", "shop.sessions"}) {
		t.Errorf("tables %v", got)
	}
	want := archive.Limits{BatchRows: deploy.DefaultArchiveBatchRows, DeleteRows: deploy.DefaultArchiveDeleteRows, Pause: deploy.DefaultArchivePause,
		MaxReplicaLag: deploy.DefaultArchiveMaxReplicaLag, MaxThreadsRunning: deploy.DefaultArchiveMaxThreadsRunning}
	if got := c.Limits("shop.audit_log"); got != want {
		t.Errorf("the example's defaults %+v are not deploy's %+v", got, want)
	}
	want.BatchRows, want.Pause = 50000, 200*time.Millisecond
	if got := c.Limits("shop.sessions"); got != want {
		t.Errorf("shop.sessions %+v, want %+v", got, want)
	}
}
