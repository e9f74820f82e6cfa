package federate

import (
	"context"
	"testing"

	"github.com/snaplake/snaplake/internal/federate/redshift"
	"github.com/snaplake/snaplake/internal/local/postgres/postgrestest"
)

// hostile are values that try to leave a literal: a quote, a backslash before a
// quote, a trailing backslash, a doubled backslash.
var hostile = []string{`it's`, `x\'; DROP TABLE t; --`, `trailing\`, `a\\b`, `\`, `'`, `IAMR:Snaplake-Publish\Role`}

// TestLiteralQuotesAsRedshiftReads: quotes and backslashes are doubled (Redshift
// reads a backslash as an escape), pinned here...
func TestLiteralQuotesAsRedshiftReads(t *testing.T) {
	for in, want := range map[string]string{
		`it's`:                  `'it''s'`,
		`x\'; DROP TABLE t; --`: `'x\\''; DROP TABLE t; --'`,
		`trailing\`:             `'trailing\\'`,
		`a\\b`:                  `'a\\\\b'`,
	} {
		if got := literal(in); got != want {
			t.Errorf("literal(%q) = %s, want %s", in, got, want)
		}
	}
}

// ... and read back, byte for byte, by the PostgreSQL stand-in, which reads literals
// as Redshift does: the value, never a second statement.
func TestLiteralRoundTripsOnTheStandIn(t *testing.T) {
	ctx := context.Background()
	pg := postgrestest.Start(t)
	wh, err := redshift.Open(ctx, pg.DSN("postgres"), redshift.Deps{})
	if err != nil {
		t.Fatal(err)
	}
	defer wh.Close()
	for _, v := range hostile {
		rows, err := wh.Query(ctx, "SELECT "+literal(v))
		if err != nil {
			t.Errorf("%q: %v", v, err)
			continue
		}
		if len(rows) != 1 || rows[0][0] == nil || *rows[0][0] != v {
			t.Errorf("%q read back as %v", v, rows)
		}
	}
}
