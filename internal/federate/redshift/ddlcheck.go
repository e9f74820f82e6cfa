package redshift

import (
	"context"
	"fmt"
	"strings"
	"unicode"

	"github.com/jackc/pgx/v5"
)

// Redshift's ALTER TABLE is narrower than PostgreSQL's, and the PostgreSQL stand-in
// runs what it is sent: left alone, an offline run would pass where Redshift fails.
// So the stand-in reads each ALTER TABLE it receives and refuses, before PostgreSQL
// sees it, what Redshift refuses (Redshift DG "ALTER TABLE",
// https://docs.aws.amazon.com/redshift/latest/dg/r_ALTER_TABLE.html):
//   - ADD COLUMN: "You can add only one column in each ALTER TABLE statement."
//   - ADD COLUMN ... NOT NULL with no DEFAULT: existing rows would hold NULL; Redshift
//     has no way to add such a column to a table (nor SET NOT NULL afterwards).
//   - ALTER COLUMN ... TYPE: "A clause that changes the size of a column defined as a
//     VARCHAR data type" -- any other type, or a column that is not a VARCHAR, is
//     refused; and "You can't alter columns within a transaction block (BEGIN ...
//     END)": in Exec's transaction (several statements, as BatchExecuteStatement runs
//     them) it fails with Redshift's "ALTER TABLE ALTER COLUMN cannot run inside a
//     transaction block". USING is refused ("ALTER TABLE ALTER COLUMN does not
//     support USING expression").
//   - ALTER COLUMN ... SET/DROP NOT NULL and SET/DROP DEFAULT: not supported.
//   - ALTER COLUMN ... TYPE of a column encoded BYTEDICT, RUNLENGTH, TEXT255 or
//     TEXT32K ("You can't alter a column with compression encodings ...": the
//     stand-in reads the encoding from the column's comment, "ENCODE BYTEDICT"), or
//     of a column with a default ("You can't alter columns with default values").
// A narrowing below the longest value PostgreSQL refuses itself, as Redshift does
// ("You can't decrease the size less than maximum size of existing data").

// RefusedStatementError is a statement Redshift refuses, refused by the PostgreSQL
// stand-in before PostgreSQL runs it. Message is Redshift's error text where it is
// known.
type RefusedStatementError struct {
	Warehouse string
	Statement string
	Message   string
}

func (e *RefusedStatementError) Error() string {
	return fmt.Sprintf("ERROR: %s (statement %q on %s; refused as Redshift refuses it)", e.Message, abbreviate(e.Statement), e.Warehouse)
}

// Redshift's messages (as its clients report them; see the package comment above).
const (
	msgAlterColumnInBlock = "ALTER TABLE ALTER COLUMN cannot run inside a transaction block"
	msgAlterColumnUsing   = "ALTER TABLE ALTER COLUMN does not support USING expression"
	msgSetNotNull         = "ALTER COLUMN SET NOT NULL is not supported"
	msgSetDefault         = "ALTER COLUMN SET/DROP DEFAULT is not supported"
)

// ddlToken is one lexical token of a statement: a word (lower-cased unless quoted), a
// quoted identifier, a literal, or one punctuation character.
type ddlToken struct {
	text   string
	quoted bool // a "quoted identifier": its text is kept as written
	lit    bool // a 'string literal'
}

// lexStatements splits sql into tokens, dropping comments; it also reports each top-level
// statement's end (a ';' outside quotes and comments).
func lexStatements(sql string) [][]ddlToken {
	var stmts [][]ddlToken
	var cur []ddlToken
	r := []rune(sql)
	for i := 0; i < len(r); {
		c := r[i]
		switch {
		case unicode.IsSpace(c):
			i++
		case c == '-' && i+1 < len(r) && r[i+1] == '-':
			for i < len(r) && r[i] != '\n' {
				i++
			}
		case c == '/' && i+1 < len(r) && r[i+1] == '*':
			i += 2
			for i+1 < len(r) && (r[i] != '*' || r[i+1] != '/') {
				i++
			}
			i += 2
		case c == '"' || c == '\'':
			var b strings.Builder
			i++
			for i < len(r) {
				if r[i] == c {
					if i+1 < len(r) && r[i+1] == c {
						b.WriteRune(c)
						i += 2
						continue
					}
					i++
					break
				}
				if c == '\'' && r[i] == '\\' && i+1 < len(r) {
					b.WriteRune(r[i+1])
					i += 2
					continue
				}
				b.WriteRune(r[i])
				i++
			}
			cur = append(cur, ddlToken{text: b.String(), quoted: c == '"', lit: c == '\''})
		case c == ';':
			if len(cur) > 0 {
				stmts = append(stmts, cur)
			}
			cur = nil
			i++
		case unicode.IsLetter(c) || c == '_' || unicode.IsDigit(c) || c == '$':
			j := i
			for j < len(r) && (unicode.IsLetter(r[j]) || unicode.IsDigit(r[j]) || r[j] == '_' || r[j] == '$') {
				j++
			}
			cur = append(cur, ddlToken{text: strings.ToLower(string(r[i:j]))})
			i = j
		default:
			cur = append(cur, ddlToken{text: string(c)})
			i++
		}
	}
	if len(cur) > 0 {
		stmts = append(stmts, cur)
	}
	return stmts
}

// is says t is the keyword (or punctuation) w.
func (t ddlToken) is(w string) bool { return !t.quoted && !t.lit && t.text == w }

// alterAction is one comma-separated action of an ALTER TABLE.
type alterAction struct {
	kind       string // "add", "type", "notnull", "default", "other"
	column     string
	typ        string // ADD's column type or ALTER COLUMN's new type, as written
	notNull    bool
	hasDefault bool
	using      bool
}

// alterTable is an ALTER TABLE statement, read as far as the checks need.
type alterTable struct {
	schema, table string // schema "" when not qualified
	actions       []alterAction
}

// parseAlterTable reads an ALTER TABLE statement; ok is false for any other statement.
func parseAlterTable(toks []ddlToken) (alterTable, bool) {
	if len(toks) < 3 || !toks[0].is("alter") || !toks[1].is("table") {
		return alterTable{}, false
	}
	i := 2
	if toks[i].is("if") && i+1 < len(toks) && toks[i+1].is("exists") {
		i += 2
	}
	if i < len(toks) && toks[i].is("only") {
		i++
	}
	var at alterTable
	if i >= len(toks) {
		return at, true
	}
	at.table = toks[i].text
	i++
	if i+1 < len(toks) && toks[i].is(".") {
		at.schema, at.table = at.table, toks[i+1].text
		i += 2
	}
	// The actions, split at commas outside parentheses.
	var parts [][]ddlToken
	depth, start := 0, i
	for j := i; j <= len(toks); j++ {
		if j == len(toks) || (depth == 0 && toks[j].is(",")) {
			if j > start {
				parts = append(parts, toks[start:j])
			}
			start = j + 1
			continue
		}
		switch {
		case toks[j].is("("):
			depth++
		case toks[j].is(")"):
			depth--
		}
	}
	for _, p := range parts {
		at.actions = append(at.actions, parseAction(p))
	}
	return at, true
}

func parseAction(p []ddlToken) alterAction {
	a := alterAction{kind: "other"}
	switch {
	case len(p) >= 2 && p[0].is("add"):
		i := 1
		if p[i].is("column") {
			i++
		}
		if i < len(p) && (p[i].is("constraint") || p[i].is("primary") || p[i].is("unique") || p[i].is("foreign") || p[i].is("check")) {
			return a // ADD table_constraint
		}
		if i+1 < len(p) && p[i].is("if") && p[i+1].is("not") {
			i += 3 // IF NOT EXISTS: PostgreSQL's, refused below as an unknown column name
		}
		if i >= len(p) {
			return a
		}
		a.kind, a.column = "add", p[i].text
		i++
		// The type runs until the first constraint keyword.
		end := i
		for end < len(p) && !p[end].is("default") && !p[end].is("not") && !p[end].is("null") && !p[end].is("encode") &&
			!p[end].is("collate") && !p[end].is("constraint") && !p[end].is("references") && !p[end].is("primary") && !p[end].is("unique") {
			end++
		}
		a.typ = typeText(p[i:end])
		for j := end; j < len(p); j++ {
			switch {
			case p[j].is("default"):
				a.hasDefault = true
			case p[j].is("not") && j+1 < len(p) && p[j+1].is("null"):
				a.notNull = true
			}
		}
	case len(p) >= 3 && p[0].is("alter"):
		i := 1
		if p[i].is("column") {
			i++
		}
		if i+1 >= len(p) {
			return a
		}
		a.column = p[i].text
		rest := p[i+1:]
		switch {
		case rest[0].is("type"), len(rest) >= 3 && rest[0].is("set") && rest[1].is("data") && rest[2].is("type"):
			from := 1
			if !rest[0].is("type") {
				from = 3
			}
			a.kind = "type"
			end := from
			for end < len(rest) && !rest[end].is("using") && !rest[end].is("collate") {
				end++
			}
			a.typ = typeText(rest[from:end])
			a.using = end < len(rest) && rest[end].is("using")
		case (rest[0].is("set") || rest[0].is("drop")) && len(rest) >= 2 && rest[1].is("not"):
			a.kind = "notnull"
		case (rest[0].is("set") || rest[0].is("drop")) && len(rest) >= 2 && rest[1].is("default"):
			a.kind = "default"
		}
	}
	return a
}

// typeText spells type tokens back as text: character varying(20).
func typeText(toks []ddlToken) string {
	var b strings.Builder
	for i, t := range toks {
		if i > 0 && !t.is("(") && !t.is(")") && !t.is(",") && !toks[i-1].is("(") && !toks[i-1].is(",") {
			b.WriteString(" ")
		}
		b.WriteString(t.text)
	}
	return b.String()
}

// isVarchar says a normalized type is a VARCHAR (character varying, with or
// without a length).
func isVarchar(normalized string) bool {
	return normalized == "character varying" || strings.HasPrefix(normalized, "character varying(")
}

// columnInfo is what the checks read of a column: its type (normalized; "" when
// there is no such column), whether it has a default, and its comment.
type columnInfo struct {
	typ        string
	hasDefault bool
	comment    string
}

// columnTypeFunc reads a column.
type columnTypeFunc func(ctx context.Context, schema, table, column string) (columnInfo, error)

// checkRedshiftDDL refuses the statements Redshift would refuse (see the top of this
// file). statements are those of one Exec: more than one (after splitting each at
// its semicolons) run inside a transaction block, as BatchExecuteStatement runs them.
func checkRedshiftDDL(ctx context.Context, warehouse string, statements []string, columnType columnTypeFunc) error {
	var all [][]ddlToken
	var texts []string
	for _, s := range statements {
		for _, toks := range lexStatements(s) {
			all = append(all, toks)
			texts = append(texts, s)
		}
	}
	inBlock := len(all) > 1
	for k, toks := range all {
		at, ok := parseAlterTable(toks)
		if !ok {
			continue
		}
		refuse := func(msg string) error {
			return &RefusedStatementError{Warehouse: warehouse, Statement: texts[k], Message: msg}
		}
		adds := 0
		for _, a := range at.actions {
			if a.kind == "add" {
				adds++
			}
		}
		if adds > 0 && len(at.actions) > 1 {
			// Redshift's grammar has one ADD COLUMN per statement: the comma is where
			// its parser stops.
			return refuse(`syntax error at or near ","` + " (Redshift: \"You can add only one column in each ALTER TABLE statement\")")
		}
		for _, a := range at.actions {
			switch a.kind {
			case "add":
				if a.notNull && !a.hasDefault {
					return refuse(fmt.Sprintf("ALTER TABLE ADD COLUMN %q: a NOT NULL column needs a DEFAULT (Redshift cannot add a NOT NULL column without one, nor set NOT NULL later)", a.column))
				}
			case "notnull":
				return refuse(msgSetNotNull)
			case "default":
				return refuse(msgSetDefault)
			case "type":
				if inBlock {
					return refuse(msgAlterColumnInBlock)
				}
				if a.using {
					return refuse(msgAlterColumnUsing)
				}
				if nt := NormalizeType(a.typ); !isVarchar(nt) {
					return refuse(fmt.Sprintf("ALTER TABLE ALTER COLUMN %q TYPE %s: Redshift changes only the size of a VARCHAR column", a.column, a.typ))
				}
				cur, err := columnType(ctx, at.schema, at.table, a.column)
				if err != nil {
					return err
				}
				if cur.typ != "" && !isVarchar(cur.typ) {
					return refuse(fmt.Sprintf("ALTER TABLE ALTER COLUMN %q TYPE %s: the column is %s, and Redshift changes only the size of a VARCHAR column", a.column, a.typ, cur.typ))
				}
				// "You can't alter a column with compression encodings BYTEDICT,
				// RUNLENGTH, TEXT255, or TEXT32K." / "You can't alter columns with default
				// values." (Redshift DG "ALTER TABLE"). PostgreSQL has no encodings: the
				// stand-in reads a column's encoding from its comment ("ENCODE BYTEDICT").
				// The texts are the stand-in's own, quoting the guide.
				if enc := strings.ToUpper(strings.TrimSpace(strings.TrimPrefix(strings.ToUpper(cur.comment), "ENCODE"))); strings.HasPrefix(strings.ToUpper(cur.comment), "ENCODE") &&
					(enc == "BYTEDICT" || enc == "RUNLENGTH" || enc == "TEXT255" || enc == "TEXT32K") {
					return refuse(fmt.Sprintf("ALTER TABLE ALTER COLUMN %q TYPE %s: the column is encoded %s (\"You can't alter a column with compression encodings BYTEDICT, RUNLENGTH, TEXT255, or TEXT32K\")", a.column, a.typ, enc))
				}
				if cur.hasDefault {
					return refuse(fmt.Sprintf("ALTER TABLE ALTER COLUMN %q TYPE %s: the column has a default (\"You can't alter columns with default values\")", a.column, a.typ))
				}
			}
		}
	}
	return nil
}

// columnTypeOn reads a column's type through conn (information_schema, normalized as
// Columns does); a schema "" is the search path's first.
func columnTypeOn(conn *pgx.Conn) columnTypeFunc {
	return func(ctx context.Context, schema, table, column string) (columnInfo, error) {
		q := `SELECT data_type, character_maximum_length, numeric_precision, numeric_scale, column_default IS NOT NULL,
				COALESCE(col_description(format('%I.%I', table_schema, table_name)::regclass, ordinal_position::int), '')
			FROM information_schema.columns
			WHERE table_schema = COALESCE(NULLIF($1, ''), current_schema()) AND table_name = $2 AND column_name = $3`
		var dataType string
		var length, precision, scale *int64
		var info columnInfo
		err := conn.QueryRow(ctx, q, schema, table, column).Scan(&dataType, &length, &precision, &scale, &info.hasDefault, &info.comment)
		if err == pgx.ErrNoRows {
			return columnInfo{}, nil
		}
		if err != nil {
			return columnInfo{}, fmt.Errorf("read the type of column %s of %s.%s: %w", column, schema, table, err)
		}
		str := func(p *int64) *string {
			if p == nil {
				return nil
			}
			s := fmt.Sprint(*p)
			return &s
		}
		info.typ = NormalizeType(catalogType(dataType, str(length), str(precision), str(scale)))
		return info, nil
	}
}
