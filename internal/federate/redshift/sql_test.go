package redshift

import (
	"errors"
	"flag"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

var update = flag.Bool("update", false, "rewrite the golden files under testdata/ from the code")

const (
	role   = "arn:aws:iam::123456789012:role/snaplake-redshift"
	kmsKey = "arn:aws:kms:eu-central-1:123456789012:key/1234abcd-12ab-34cd-56ef-1234567890ab"
	// lakeRegion is the lake bucket's Region, which UNLOAD and COPY name.
	lakeRegion = "eu-central-1"
)

// golden compares got with testdata/<name>, or rewrites it with -update.
func golden(t *testing.T, name, got string) {
	t.Helper()
	p := filepath.Join("testdata", name)
	if *update {
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(got), 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(p)
	if err != nil {
		t.Fatalf("%v (run go test -update to write it)", err)
	}
	if got != string(want) {
		t.Errorf("%s differs from the code's output (go test -update rewrites it)\n--- got:\n%s\n--- want:\n%s", p, got, want)
	}
}

// The awkward names and query of the injection cases: each tries to leave its
// literal or identifier (a doubled quote, a backslash before a quote, a trailing
// backslash), then to run a second statement or comment out the rest.
const (
	evilSchema = `sa"les\`
	evilTable  = `o'r"d\"; DROP TABLE x; --`
	evilColumn = `up\"dated'; --`
	evilQuery  = "SELECT id, 'it''s' AS a, '\\' AS b, '\\'' AS c, E'x' AS d\nFROM \"we\"\"ird\" -- line; comment\nWHERE note LIKE '%;DROP TABLE t;--%' /* ' */ ;\n ;"
	evilPrefix = `s3://bucket/fed/v1/it's\/`
	evilRole   = `arn:aws:iam::1:role/x'; DELETE FROM t; --`
	evilKey    = `key\' ENCRYPTED; DROP TABLE t; --`
)

// unloaded are the files testdata/unload_manifest.json lists.
var unloaded = []File{
	{URL: "s3://lake/federate/orders/v3/0000_part_00.gz", Rows: 10, Bytes: 32295},
	{URL: "s3://lake/federate/orders/v3/0001_part_00.gz", Rows: 20, Bytes: 32771},
	{URL: "s3://lake/federate/orders/v3/0002_part_00.gz", Rows: 0, Bytes: 20},
}

type sqlCase struct {
	golden string
	sql    func() (string, error)
}

func sqlCases() []sqlCase {
	return []sqlCase{
		{"sql/stats.sql", func() (string, error) { return StatsSQL("sales", "orders", "created_at", "updated_at") }},
		{"sql/stats_count_only.sql", func() (string, error) { return StatsSQL("sales", "orders", "", "") }},
		{"sql/stats_updated_only.sql", func() (string, error) { return StatsSQL("sales", "orders", "", "updated_at") }},
		{"sql/stats_injection.sql", func() (string, error) { return StatsSQL(evilSchema, evilTable, evilColumn, "") }},
		{"sql/columns.sql", func() (string, error) { return ColumnsSQL("sales", "orders") }},
		{"sql/columns_injection.sql", func() (string, error) { return ColumnsSQL(evilSchema, evilTable) }},
		{"sql/unload.sql", func() (string, error) {
			return UnloadSQL("SELECT id, amount, created_at FROM sales.orders WHERE created_at >= '2024-01-01'", "s3://lake/federate/orders/v3/", role, kmsKey, lakeRegion)
		}},
		{"sql/unload_injection.sql", func() (string, error) { return UnloadSQL(evilQuery, evilPrefix, evilRole, evilKey, lakeRegion) }},
		{"sql/unload_default_role.sql", func() (string, error) {
			return UnloadSQL("SELECT 1", "s3://lake/federate/one/v1/", "default", "", lakeRegion)
		}},
		{"sql/copy.sql", func() (string, error) {
			manifestURL, _, err := CopyManifest("sales", "orders", unloaded)
			if err != nil {
				return "", err
			}
			return CopySQL("sales", "orders", manifestURL, role, lakeRegion)
		}},
		{"sql/copy_injection.sql", func() (string, error) {
			return CopySQL(evilSchema, evilTable, `s3://lake/x'y\z.json`, evilRole, lakeRegion)
		}},
	}
}

func TestSQLGolden(t *testing.T) {
	for _, c := range sqlCases() {
		t.Run(c.golden, func(t *testing.T) {
			got, err := c.sql()
			if err != nil {
				t.Fatal(err)
			}
			golden(t, c.golden, got)
		})
	}
}

// token is a piece of a statement as Redshift's lexer sees it.
type token struct {
	kind byte   // 'l' string literal, 'i' quoted identifier, 'k' anything else
	text string // a literal's or identifier's value, or the raw text
}

// lex splits sql the way Redshift does for what matters here: single-quoted
// literals (a doubled quote, or a backslash, escapes the next character),
// double-quoted identifiers (a doubled double quote escapes one), and the rest. It
// fails on an unterminated literal or identifier.
func lex(t *testing.T, sql string) []token {
	t.Helper()
	var toks []token
	var raw strings.Builder
	flush := func() {
		if raw.Len() > 0 {
			toks = append(toks, token{'k', raw.String()})
			raw.Reset()
		}
	}
	for i := 0; i < len(sql); {
		switch c := sql[i]; c {
		case '\'', '"':
			flush()
			var v strings.Builder
			j := i + 1
			for {
				if j >= len(sql) {
					t.Fatalf("unterminated %c...%c in:\n%s", c, c, sql)
				}
				if c == '\'' && sql[j] == '\\' && j+1 < len(sql) {
					v.WriteByte(sql[j+1])
					j += 2
					continue
				}
				if sql[j] == c {
					if j+1 < len(sql) && sql[j+1] == c {
						v.WriteByte(c)
						j += 2
						continue
					}
					break
				}
				v.WriteByte(sql[j])
				j++
			}
			kind := byte('l')
			if c == '"' {
				kind = 'i'
			}
			toks = append(toks, token{kind, v.String()})
			i = j + 1
		default:
			raw.WriteByte(c)
			i++
		}
	}
	flush()
	return toks
}

// skeleton is the statement with every literal and identifier replaced by a
// placeholder: what the server parses as SQL.
func skeleton(toks []token) string {
	var b strings.Builder
	for _, tk := range toks {
		switch tk.kind {
		case 'l':
			b.WriteString("'?'")
		case 'i':
			b.WriteString(`"?"`)
		default:
			b.WriteString(tk.text)
		}
	}
	return b.String()
}

func values(toks []token, kind byte) []string {
	var out []string
	for _, tk := range toks {
		if tk.kind == kind {
			out = append(out, tk.text)
		}
	}
	return out
}

func equal(a, b []string) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

// TestInjectionStaysInsideLiteralsAndIdentifiers checks, for hostile names and a
// hostile query, that the statement parses to the same skeleton as with plain ones
// (nothing leaked out as SQL: no second statement, no comment), and that each
// literal and identifier reads back as exactly the value put in.
func TestInjectionStaysInsideLiteralsAndIdentifiers(t *testing.T) {
	// Trailing semicolons dropped; a newline ends its last line, which has a "--".
	wantQuery := strings.TrimRight(evilQuery, " \n;") + "\n"
	cases := []struct {
		name        string
		plain, evil func() (string, error)
		literals    []string
		identifiers []string
	}{
		{"stats",
			func() (string, error) { return StatsSQL("s", "t", "c", "") },
			func() (string, error) { return StatsSQL(evilSchema, evilTable, evilColumn, "") },
			nil, []string{evilColumn, evilSchema, evilTable}},
		{"columns",
			func() (string, error) { return ColumnsSQL("s", "t") },
			func() (string, error) { return ColumnsSQL(evilSchema, evilTable) },
			[]string{evilSchema, evilTable}, nil},
		{"unload",
			func() (string, error) { return UnloadSQL("SELECT 1", "s3://b/p/", role, kmsKey, lakeRegion) },
			func() (string, error) { return UnloadSQL(evilQuery, evilPrefix, evilRole, evilKey, lakeRegion) },
			[]string{wantQuery, evilPrefix, evilRole, lakeRegion, evilKey, NullAs}, nil},
		{"copy",
			func() (string, error) { return CopySQL("s", "t", "s3://b/m.json", role, lakeRegion) },
			func() (string, error) {
				return CopySQL(evilSchema, evilTable, `s3://lake/x'y\z.json`, evilRole, lakeRegion)
			},
			[]string{`s3://lake/x'y\z.json`, evilRole, lakeRegion, NullAs, "auto"}, []string{evilSchema, evilTable}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			plain, err := c.plain()
			if err != nil {
				t.Fatal(err)
			}
			evil, err := c.evil()
			if err != nil {
				t.Fatal(err)
			}
			pt, et := lex(t, plain), lex(t, evil)
			if skeleton(et) != skeleton(pt) {
				t.Errorf("the hostile input changed the statement's SQL:\n%s\nwant the shape of:\n%s", skeleton(et), skeleton(pt))
			}
			sk := skeleton(et)
			for _, bad := range []string{";", "--", "/*"} {
				if strings.Contains(sk, bad) {
					t.Errorf("%q outside literals and identifiers:\n%s", bad, sk)
				}
			}
			if got := values(et, 'l'); !equal(got, c.literals) {
				t.Errorf("literals read back as\n%q\nwant\n%q", got, c.literals)
			}
			if got := values(et, 'i'); !equal(got, c.identifiers) {
				t.Errorf("identifiers read back as\n%q\nwant\n%q", got, c.identifiers)
			}
		})
	}
}

// TestUnloadQueryRoundTrip: the query UNLOAD's literal carries is, once the server
// has read the literal, the query given, byte for byte (trailing semicolons dropped,
// a trailing line comment ended).
func TestUnloadQueryRoundTrip(t *testing.T) {
	for q, want := range map[string]string{
		`SELECT '\\d+' ~ x FROM t`:            `SELECT '\\d+' ~ x FROM t`,
		`SELECT 'a\'b'`:                       `SELECT 'a\'b'`,
		`SELECT '\'`:                          `SELECT '\'`,
		`SELECT 1 \`:                          `SELECT 1 \`,
		"SELECT 1;\n ; ":                      "SELECT 1",
		"SELECT 'ünï''cødé'\n-- the end":      "SELECT 'ünï''cødé'\n-- the end\n",
		"SELECT 1 -- one\nFROM t -- the end;": "SELECT 1 -- one\nFROM t -- the end\n",
		"SELECT '--' AS a\nFROM t":            "SELECT '--' AS a\nFROM t",
	} {
		sql, err := UnloadSQL(q, "s3://b/p/", role, "", lakeRegion)
		if err != nil {
			t.Fatal(err)
		}
		if got := values(lex(t, sql), 'l')[0]; got != want {
			t.Errorf("query %q came back as %q, want %q", q, got, want)
		}
	}
}

func TestSQLRefusesWhatCannotBeQuoted(t *testing.T) {
	for name, f := range map[string]func() (string, error){
		"empty schema":           func() (string, error) { return StatsSQL("", "t", "", "") },
		"empty table":            func() (string, error) { return CopySQL("s", "", "s3://b/m", role, lakeRegion) },
		"NUL in a name":          func() (string, error) { return StatsSQL("s", "t\x00", "", "") },
		"NUL in the query":       func() (string, error) { return UnloadSQL("SELECT '\x00'", "s3://b/p/", role, "", lakeRegion) },
		"empty query":            func() (string, error) { return UnloadSQL(" ;\n", "s3://b/p/", role, "", lakeRegion) },
		"prefix without slash":   func() (string, error) { return UnloadSQL("SELECT 1", "s3://b/p", role, "", lakeRegion) },
		"prefix at bucket root":  func() (string, error) { return UnloadSQL("SELECT 1", "s3://b/", role, "", lakeRegion) },
		"prefix not s3":          func() (string, error) { return UnloadSQL("SELECT 1", "https://b/p/", role, "", lakeRegion) },
		"no role":                func() (string, error) { return UnloadSQL("SELECT 1", "s3://b/p/", "", "", lakeRegion) },
		"manifest not s3":        func() (string, error) { return CopySQL("s", "t", "/tmp/m.json", role, lakeRegion) },
		"columns without schema": func() (string, error) { return ColumnsSQL("", "t") },
		"unload without Region":  func() (string, error) { return UnloadSQL("SELECT 1", "s3://b/p/", role, "", "") },
		"copy without Region":    func() (string, error) { return CopySQL("s", "t", "s3://b/m", role, "") },
		"Region not a Region":    func() (string, error) { return CopySQL("s", "t", "s3://b/m", role, "eu-west-1'; DROP TABLE t; --") },
	} {
		sql, err := f()
		var ie *InvalidSQLInputError
		if !errors.As(err, &ie) {
			t.Errorf("%s: got %q, %v; want an *InvalidSQLInputError", name, sql, err)
		}
	}
}
