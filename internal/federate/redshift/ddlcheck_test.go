package redshift

import (
	"context"
	"errors"
	"strings"
	"testing"

	"github.com/snaplake/snaplake/internal/local/postgres/postgrestest"
)

// TestStandInRefusesWhatRedshiftRefuses: each ALTER TABLE that Redshift refuses
// fails on the PostgreSQL stand-in with a *RefusedStatementError carrying Redshift's
// words, and changes nothing; what Redshift accepts runs.
func TestStandInRefusesWhatRedshiftRefuses(t *testing.T) {
	ctx := context.Background()
	pg := postgrestest.Start(t)
	wh, err := OpenPostgres(ctx, pg.DSN("postgres"), nil)
	if err != nil {
		t.Fatal(err)
	}
	defer wh.Close()
	if err := wh.Exec(ctx, "CREATE SCHEMA s"); err != nil {
		t.Fatal(err)
	}
	if err := wh.Exec(ctx,
		`CREATE TABLE s."T" (id integer NOT NULL, note varchar(10), amount numeric(12,2))`,
		`INSERT INTO s."T" VALUES (1, 'ten chars!', 1.5)`); err != nil {
		t.Fatal(err)
	}
	cols := func() string {
		t.Helper()
		c, err := wh.Columns(ctx, "s", "T")
		if err != nil {
			t.Fatal(err)
		}
		var out []string
		for _, col := range c {
			out = append(out, col.Name+" "+col.Type)
		}
		return strings.Join(out, ", ")
	}
	before := cols()

	for _, c := range []struct {
		name  string
		stmts []string
		want  string // in the error
	}{
		{"two ADD COLUMNs in one statement", []string{`ALTER TABLE s."T" ADD COLUMN a integer, ADD COLUMN b integer`}, `syntax error at or near ","`},
		{"ADD COLUMN NOT NULL without DEFAULT", []string{`ALTER TABLE s."T" ADD COLUMN a integer NOT NULL`}, "NOT NULL column needs a DEFAULT"},
		{"ALTER COLUMN TYPE in a transaction block", []string{`SELECT 1`, `ALTER TABLE s."T" ALTER COLUMN note TYPE varchar(20)`}, msgAlterColumnInBlock},
		{"ALTER COLUMN TYPE after a semicolon", []string{`SELECT 1; ALTER TABLE s."T" ALTER COLUMN note TYPE varchar(20)`}, msgAlterColumnInBlock},
		{"ALTER COLUMN TYPE to another type", []string{`ALTER TABLE s."T" ALTER COLUMN note TYPE text`}, "changes only the size of a VARCHAR"},
		{"ALTER COLUMN TYPE of a numeric", []string{`ALTER TABLE s."T" ALTER COLUMN amount TYPE numeric(14,2)`}, "changes only the size of a VARCHAR"},
		{"ALTER COLUMN TYPE of an integer to a VARCHAR", []string{`ALTER TABLE s."T" ALTER COLUMN id TYPE varchar(20)`}, "the column is integer"},
		{"ALTER COLUMN TYPE with USING", []string{`ALTER TABLE s."T" ALTER COLUMN note TYPE varchar(20) USING note::varchar(20)`}, msgAlterColumnUsing},
		{"SET DATA TYPE in a block", []string{`ALTER TABLE s."T" ALTER note SET DATA TYPE varchar(20)`, `SELECT 1`}, msgAlterColumnInBlock},
		{"SET NOT NULL", []string{`ALTER TABLE s."T" ALTER COLUMN note SET NOT NULL`}, msgSetNotNull},
		{"DROP DEFAULT", []string{`ALTER TABLE s."T" ALTER COLUMN note DROP DEFAULT`}, msgSetDefault},
	} {
		t.Run(c.name, func(t *testing.T) {
			err := wh.Exec(ctx, c.stmts...)
			var refused *RefusedStatementError
			if !errors.As(err, &refused) || !strings.Contains(err.Error(), c.want) {
				t.Fatalf("Exec = %v, want a *RefusedStatementError with %q", err, c.want)
			}
			if got := cols(); got != before {
				t.Errorf("a refused statement changed the table: %s, was %s", got, before)
			}
		})
	}
	// Query reads statements the same way.
	if _, err := wh.Query(ctx, `ALTER TABLE s."T" ALTER COLUMN amount TYPE numeric(14,2)`); err == nil || !strings.Contains(err.Error(), "VARCHAR") {
		t.Errorf("Query of a refused ALTER: %v", err)
	}

	// What Redshift runs, the stand-in runs: one ADD COLUMN per statement (nullable,
	// or NOT NULL with a DEFAULT), in a transaction; a VARCHAR widened alone.
	if err := wh.Exec(ctx,
		`ALTER TABLE s."T" ADD COLUMN a integer`,
		`ALTER TABLE "s"."T" ADD b varchar(5) DEFAULT 'x' NOT NULL`,
		`INSERT INTO s."T" (id) VALUES (2)`); err != nil {
		t.Fatalf("ADD COLUMNs in a transaction: %v", err)
	}
	if err := wh.Exec(ctx, `ALTER TABLE "s"."T" ALTER COLUMN "note" TYPE character varying(300)`); err != nil {
		t.Fatalf("VARCHAR widened alone: %v", err)
	}
	if got, want := cols(), "id integer, note character varying(300), amount numeric(12,2), a integer, b character varying(5)"; got != want {
		t.Errorf("after the accepted changes: %s, want %s", got, want)
	}
	// A narrowing below the longest value fails (PostgreSQL's own check, as Redshift's).
	if err := wh.Exec(ctx, `ALTER TABLE s."T" ALTER COLUMN note TYPE varchar(5)`); err == nil {
		t.Error("a VARCHAR narrowed below its longest value")
	}
}

// TestParseAlterTable pins the reading of the statements the checks rely on.
func TestParseAlterTable(t *testing.T) {
	for sql, want := range map[string]string{
		`ALTER TABLE "s"."t" ADD COLUMN "we""ird" character varying(256)`:           `s.t add:we"ird:character varying(256):false:false`,
		`alter table t add x numeric(12, 2) default 0 not null`:                     `.t add:x:numeric(12,2):true:true`,
		`ALTER TABLE s.t ALTER COLUMN c TYPE VARCHAR(20)`:                           `s.t type:c:varchar(20):false:false`,
		`ALTER TABLE s.t ADD COLUMN a int, ADD COLUMN b int -- comment, with comma`: `s.t add:a:int:false:false add:b:int:false:false`,
		`ALTER TABLE s.t RENAME TO u`:                                               `s.t other:::false:false`,
	} {
		stmts := lexStatements(sql)
		at, ok := parseAlterTable(stmts[0])
		if !ok {
			t.Errorf("%s: not read as ALTER TABLE", sql)
			continue
		}
		got := at.schema + "." + at.table
		for _, a := range at.actions {
			got += " " + a.kind + ":" + a.column + ":" + a.typ + ":" + boolText(a.hasDefault) + ":" + boolText(a.notNull)
		}
		if got != want {
			t.Errorf("%s:\n got %s\nwant %s", sql, got, want)
		}
	}
}

func boolText(b bool) string {
	if b {
		return "true"
	}
	return "false"
}
