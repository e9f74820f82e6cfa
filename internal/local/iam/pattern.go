package iam

import (
	"fmt"
	"strings"
	"unicode"
)

// tokKind is what one token of a compiled policy string stands for.
type tokKind uint8

const (
	tokLit      tokKind = iota // one literal character
	tokStar                    // '*': any run of characters, possibly empty
	tokQuestion                // '?': exactly one character
	tokVar                     // ${key} or ${key, 'default'}: a request context value
)

type token struct {
	kind   tokKind
	r      rune   // tokLit
	name   string // tokVar: the context key, lower-cased (keys are case-insensitive)
	def    string // tokVar: the default when the key is absent
	hasDef bool
}

// pattern is one string of a policy (an Action, a Resource, a condition value),
// compiled once when the policy is parsed so that evaluation does not re-parse it.
type pattern struct {
	raw     string
	toks    []token
	hasVars bool
}

// compileOptions say how a policy string is read.
type compileOptions struct {
	wildcards bool // '*' and '?' are wildcards, not literal characters
	vars      bool // ${...} is a policy variable (Version 2012-10-17 only)
	fold      bool // literal characters are lower-cased (action names)
}

// compilePattern turns s into tokens. Policy variables follow the IAM grammar:
// ${key}, ${key, 'default'}, and the escapes ${*}, ${?}, ${$} for the literal
// characters, which is how a policy matches a real '*' or '?' in a resource name.
func compilePattern(s string, o compileOptions) (pattern, error) {
	p := pattern{raw: s, toks: make([]token, 0, len(s))}
	lit := func(r rune) {
		if o.fold {
			r = unicode.ToLower(r)
		}
		p.toks = append(p.toks, token{kind: tokLit, r: r})
	}
	rs := []rune(s)
	for i := 0; i < len(rs); i++ {
		r := rs[i]
		switch {
		case o.vars && r == '$' && i+1 < len(rs) && rs[i+1] == '{':
			end := -1
			for j := i + 2; j < len(rs); j++ {
				if rs[j] == '}' {
					end = j
					break
				}
			}
			if end < 0 {
				return pattern{}, fmt.Errorf("%q: policy variable opened with ${ is never closed", s)
			}
			inner := strings.TrimSpace(string(rs[i+2 : end]))
			i = end
			switch inner {
			case "*", "?", "$":
				// Escapes stand for the literal character, never a wildcard.
				lit([]rune(inner)[0])
				continue
			}
			t, err := parseVariable(inner)
			if err != nil {
				return pattern{}, fmt.Errorf("%q: %w", s, err)
			}
			p.toks = append(p.toks, t)
			p.hasVars = true
		case o.wildcards && r == '*':
			p.toks = append(p.toks, token{kind: tokStar})
		case o.wildcards && r == '?':
			p.toks = append(p.toks, token{kind: tokQuestion})
		default:
			lit(r)
		}
	}
	return p, nil
}

// parseVariable reads the inside of ${...}: "key" or "key, 'default'".
func parseVariable(inner string) (token, error) {
	name, def, hasDef := strings.Cut(inner, ",")
	name = strings.TrimSpace(name)
	if name == "" {
		return token{}, fmt.Errorf("policy variable ${%s} names no condition key", inner)
	}
	t := token{kind: tokVar, name: strings.ToLower(name)}
	if hasDef {
		def = strings.TrimSpace(def)
		if len(def) < 2 || def[0] != '\'' || def[len(def)-1] != '\'' {
			return token{}, fmt.Errorf("policy variable ${%s}: the default value must be in single quotes", inner)
		}
		t.def, t.hasDef = def[1:len(def)-1], true
	}
	return t, nil
}

// resolve replaces policy variables by the request's values, as literal
// characters: a '*' inside a tag value is not a wildcard. It reports false when a
// variable's key is absent (and has no default) or has several values; such a
// pattern then matches nothing, which is the IAM behaviour for an unresolvable
// variable in a Resource or a condition value.
func (p pattern) resolve(ctx requestKeys) ([]token, bool) {
	if !p.hasVars {
		return p.toks, true
	}
	out := make([]token, 0, len(p.toks))
	for _, t := range p.toks {
		if t.kind != tokVar {
			out = append(out, t)
			continue
		}
		v, ok := "", false
		switch vals := ctx[t.name]; {
		case len(vals) == 1:
			v, ok = vals[0], true
		case len(vals) == 0 && t.hasDef:
			v, ok = t.def, true
		}
		if !ok {
			return nil, false
		}
		for _, r := range v {
			out = append(out, token{kind: tokLit, r: r})
		}
	}
	return out, true
}

// literal is the string a wildcard-free token list stands for.
func literal(toks []token) string {
	var b strings.Builder
	for _, t := range toks {
		switch t.kind {
		case tokStar:
			b.WriteByte('*')
		case tokQuestion:
			b.WriteByte('?')
		default:
			b.WriteRune(t.r)
		}
	}
	return b.String()
}

// matchGlob reports whether s matches the whole pattern. '*' crosses every
// character, '/' and ':' included, which is how IAM matches Action and StringLike.
func (p pattern) matchGlob(s string, ctx requestKeys) bool {
	toks, ok := p.resolve(ctx)
	return ok && globMatch(toks, []rune(s))
}

// matchResource is the Resource/NotResource match: IAM lets wildcards stand
// "within the individual segments of an ARN (the parts separated by colons)", and
// only a '*' that is "the last character of a resource ARN segment ... can expand
// to match beyond the colon boundaries" (IAM JSON policy elements: Resource). So a
// '*' followed by more of its segment (arn:aws:dynamodb:us*3:...) never matches a
// ':', while a segment-final one (arn:aws:s3:::b*, ...:snapshot:*) matches
// anything, '/' and ':' included.
func (p pattern) matchResource(s string, ctx requestKeys) bool {
	toks, ok := p.resolve(ctx)
	return ok && segmentGlobMatch(toks, []rune(s))
}

// matchLiteral reports whether s equals the pattern (no wildcards), optionally
// ignoring case.
func (p pattern) matchLiteral(s string, ctx requestKeys, ignoreCase bool) bool {
	toks, ok := p.resolve(ctx)
	if !ok {
		return false
	}
	if ignoreCase {
		return strings.EqualFold(literal(toks), s)
	}
	return literal(toks) == s
}

// matchARN is ArnLike/ArnEquals: "each of the six colon-delimited components of
// the ARN is checked separately", so a '*' never spans a colon between two
// components (it may within the last one, the resource, which can hold colons).
// A pattern that is not made of six components (say, a bare "*") is matched as a
// whole string.
func (p pattern) matchARN(s string, ctx requestKeys) bool {
	toks, ok := p.resolve(ctx)
	if !ok {
		return false
	}
	pparts := splitTokens(toks, 6)
	if len(pparts) < 6 {
		return globMatch(toks, []rune(s))
	}
	sparts := strings.SplitN(s, ":", 6)
	if len(sparts) < 6 {
		return false
	}
	for i := range pparts {
		// The sixth component (the resource) may hold colons of its own; a '*'
		// in it follows the same segment rule as the Resource element.
		if !segmentGlobMatch(pparts[i], []rune(sparts[i])) {
			return false
		}
	}
	return true
}

// splitTokens splits toks at literal colons into at most n parts.
func splitTokens(toks []token, n int) [][]token {
	var parts [][]token
	start := 0
	for i, t := range toks {
		if len(parts) == n-1 {
			break
		}
		if t.kind == tokLit && t.r == ':' {
			parts = append(parts, toks[start:i])
			start = i + 1
		}
	}
	return append(parts, toks[start:])
}

// globMatch is the classic linear-time wildcard match with one backtrack point:
// on a mismatch, the last '*' absorbs one more character.
func globMatch(p []token, s []rune) bool {
	pi, si := 0, 0
	star, mark := -1, 0
	for si < len(s) {
		switch {
		case pi < len(p) && (p[pi].kind == tokQuestion || (p[pi].kind == tokLit && p[pi].r == s[si])):
			pi++
			si++
		case pi < len(p) && p[pi].kind == tokStar:
			star, mark = pi, si
			pi++
		case star >= 0:
			mark++
			pi, si = star+1, mark
		default:
			return false
		}
	}
	for pi < len(p) && p[pi].kind == tokStar {
		pi++
	}
	return pi == len(p)
}

// segmentGlobMatch is globMatch for ARNs: a '*' that is not the last token of
// its colon-delimited segment (the next token is neither a literal ':' nor the end)
// does not match ':'. A single backtrack point is not enough once some stars may
// not cross a colon (an earlier, segment-final '*' may have to take it), so this
// runs the pattern as an NFA: the set of pattern positions reachable after each
// character, O(len(p)·len(s)).
func segmentGlobMatch(p []token, s []rune) bool {
	crosses := make([]bool, len(p)) // per '*': may it match ':'?
	for i, t := range p {
		if t.kind == tokStar {
			crosses[i] = i+1 == len(p) || (p[i+1].kind == tokLit && p[i+1].r == ':')
		}
	}
	cur := make([]bool, len(p)+1)
	next := make([]bool, len(p)+1)
	// closure adds the positions reachable without consuming: past any '*'.
	closure := func(set []bool) {
		for i := 0; i < len(p); i++ {
			if set[i] && p[i].kind == tokStar {
				set[i+1] = true
			}
		}
	}
	cur[0] = true
	closure(cur)
	for _, c := range s {
		clear(next)
		alive := false
		for i := 0; i < len(p); i++ {
			if !cur[i] {
				continue
			}
			switch t := p[i]; t.kind {
			case tokStar:
				if c != ':' || crosses[i] {
					next[i], alive = true, true
				}
			case tokQuestion:
				next[i+1], alive = true, true
			default:
				if t.r == c {
					next[i+1], alive = true, true
				}
			}
		}
		if !alive {
			return false
		}
		closure(next)
		cur, next = next, cur
	}
	return cur[len(p)]
}
