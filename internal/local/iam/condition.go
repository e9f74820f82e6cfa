package iam

import (
	"bytes"
	"encoding/json"
	"fmt"
	"net/netip"
	"slices"
	"strconv"
	"strings"
	"time"
)

// baseOp is a condition operator stripped of its negation, its IfExists suffix
// and its set prefix: negated operators are evaluated as the complement of their
// positive form, which is what makes an absent key satisfy StringNotEquals.
type baseOp uint8

const (
	opString baseOp = iota
	opStringIgnoreCase
	opStringLike
	opNumericEquals
	opNumericLessThan
	opNumericLessThanEquals
	opNumericGreaterThan
	opNumericGreaterThanEquals
	opDateEquals
	opDateLessThan
	opDateLessThanEquals
	opDateGreaterThan
	opDateGreaterThanEquals
	opBool
	opBinary
	opIPAddress
	opARN
	opNull
)

type operatorInfo struct {
	base    baseOp
	negated bool
}

// operators lists every condition operator of the IAM policy grammar (without
// the IfExists suffix and the ForAnyValue:/ForAllValues: prefixes). Names are
// case-sensitive, as IAM spells them.
var operators = map[string]operatorInfo{
	"StringEquals":              {opString, false},
	"StringNotEquals":           {opString, true},
	"StringEqualsIgnoreCase":    {opStringIgnoreCase, false},
	"StringNotEqualsIgnoreCase": {opStringIgnoreCase, true},
	"StringLike":                {opStringLike, false},
	"StringNotLike":             {opStringLike, true},
	"NumericEquals":             {opNumericEquals, false},
	"NumericNotEquals":          {opNumericEquals, true},
	"NumericLessThan":           {opNumericLessThan, false},
	"NumericLessThanEquals":     {opNumericLessThanEquals, false},
	"NumericGreaterThan":        {opNumericGreaterThan, false},
	"NumericGreaterThanEquals":  {opNumericGreaterThanEquals, false},
	"DateEquals":                {opDateEquals, false},
	"DateNotEquals":             {opDateEquals, true},
	"DateLessThan":              {opDateLessThan, false},
	"DateLessThanEquals":        {opDateLessThanEquals, false},
	"DateGreaterThan":           {opDateGreaterThan, false},
	"DateGreaterThanEquals":     {opDateGreaterThanEquals, false},
	"Bool":                      {opBool, false},
	"BinaryEquals":              {opBinary, false},
	"IpAddress":                 {opIPAddress, false},
	"NotIpAddress":              {opIPAddress, true},
	// IAM documents ArnEquals and ArnLike as the same comparison (both accept
	// wildcards), and likewise their negations.
	"ArnEquals":    {opARN, false},
	"ArnLike":      {opARN, false},
	"ArnNotEquals": {opARN, true},
	"ArnNotLike":   {opARN, true},
	"Null":         {opNull, false},
}

// setKind is the set prefix of an operator.
type setKind uint8

const (
	setNone setKind = iota
	setAnyValue
	setAllValues
)

// condition is one (operator, key) pair of a statement's Condition block, with
// its policy values already parsed for the operator.
type condition struct {
	operator string // as written, for messages
	key      string // lower-cased: condition key names are case-insensitive
	operatorInfo
	ifExists bool
	set      setKind

	strs     []pattern // String*, Arn*, BinaryEquals
	nums     []float64
	times    []time.Time
	prefixes []netip.Prefix
	bools    []bool // Bool and Null
}

// parseConditions reads a statement's Condition element:
// {operator: {key: value | [values]}}. The result is sorted by operator and key
// so that evaluation and error messages do not depend on map order.
func parseConditions(raw json.RawMessage, vars bool) ([]condition, error) {
	var block map[string]json.RawMessage
	if err := json.Unmarshal(raw, &block); err != nil || block == nil {
		return nil, fmt.Errorf("Condition must be an object of {operator: {key: values}}")
	}
	var out []condition
	for _, op := range sortedKeys(block) {
		info, ifExists, set, err := parseOperator(op)
		if err != nil {
			return nil, err
		}
		var keys map[string]json.RawMessage
		if err := json.Unmarshal(block[op], &keys); err != nil || keys == nil {
			return nil, fmt.Errorf("condition operator %s must map condition keys to values", op)
		}
		for _, key := range sortedKeys(keys) {
			c := condition{operator: op, key: strings.ToLower(key), operatorInfo: info, ifExists: ifExists, set: set}
			values, err := scalarStrings(keys[key])
			if err != nil {
				return nil, fmt.Errorf("%s %q: %w", op, key, err)
			}
			if len(values) == 0 {
				return nil, fmt.Errorf("%s %q: no values", op, key)
			}
			if err := c.parseValues(values, vars); err != nil {
				return nil, fmt.Errorf("%s %q: %w", op, key, err)
			}
			out = append(out, c)
		}
	}
	return out, nil
}

// parseOperator splits "ForAllValues:StringLikeIfExists" into its parts.
func parseOperator(op string) (info operatorInfo, ifExists bool, set setKind, err error) {
	name := op
	if rest, ok := strings.CutPrefix(name, "ForAnyValue:"); ok {
		name, set = rest, setAnyValue
	} else if rest, ok := strings.CutPrefix(name, "ForAllValues:"); ok {
		name, set = rest, setAllValues
	}
	if rest, ok := strings.CutSuffix(name, "IfExists"); ok {
		name, ifExists = rest, true
	}
	info, known := operators[name]
	if !known {
		return info, false, 0, fmt.Errorf("condition operator %q is not supported", op)
	}
	if info.base == opNull && ifExists {
		// IAM: "...IfExists" applies to every operator except Null, which
		// already asks whether the key exists.
		return info, false, 0, fmt.Errorf("condition operator %q is not valid: Null has no IfExists form", op)
	}
	return info, ifExists, set, nil
}

// parseValues checks and converts the policy values for the operator, so that a
// typo such as NumericLessThan "ten" fails when the policy is parsed, not by
// silently never matching.
func (c *condition) parseValues(values []string, vars bool) error {
	for _, v := range values {
		switch c.base {
		case opString, opStringIgnoreCase, opBinary:
			p, err := compilePattern(v, compileOptions{vars: vars})
			if err != nil {
				return err
			}
			c.strs = append(c.strs, p)
		case opStringLike, opARN:
			p, err := compilePattern(v, compileOptions{wildcards: true, vars: vars})
			if err != nil {
				return err
			}
			c.strs = append(c.strs, p)
		case opNumericEquals, opNumericLessThan, opNumericLessThanEquals, opNumericGreaterThan, opNumericGreaterThanEquals:
			n, err := strconv.ParseFloat(v, 64)
			if err != nil {
				return fmt.Errorf("value %q is not a number", v)
			}
			c.nums = append(c.nums, n)
		case opDateEquals, opDateLessThan, opDateLessThanEquals, opDateGreaterThan, opDateGreaterThanEquals:
			t, ok := parseDate(v)
			if !ok {
				return fmt.Errorf("value %q is not a date (ISO 8601 or epoch seconds)", v)
			}
			c.times = append(c.times, t)
		case opBool, opNull:
			b, ok := parseBool(v)
			if !ok {
				return fmt.Errorf("value %q is not true or false", v)
			}
			c.bools = append(c.bools, b)
		case opIPAddress:
			p, err := parsePrefix(v)
			if err != nil {
				return fmt.Errorf("value %q is not an IP address or CIDR block", v)
			}
			c.prefixes = append(c.prefixes, p)
		}
	}
	return nil
}

// eval evaluates the condition against the request's keys.
//
// Absent key (or a key with no values): IfExists makes the condition true; a
// ForAllValues condition is true (every one of no values satisfies it); a
// ForAnyValue condition is false; otherwise positive operators are false and
// negated ones true, because a negated operator is the complement of its
// positive form. Null asks only whether the key is present.
//
// Present key without a set prefix: true when any request value matches any
// policy value, i.e. a multi-valued key is treated as ForAnyValue; a negated
// operator is the complement (no request value matches any policy value).
func (c *condition) eval(keys requestKeys) bool {
	vals := keys[c.key]
	present := len(vals) > 0
	if c.base == opNull {
		// Null: {"k": "true"} holds when k is absent, "false" when present;
		// several policy values OR together like any other operator's.
		return slices.Contains(c.bools, !present)
	}
	if !present {
		switch {
		case c.ifExists:
			return true
		case c.set == setAllValues:
			return true
		case c.set == setAnyValue:
			return false
		}
		return c.negated
	}
	switch c.set {
	case setAnyValue:
		return slices.ContainsFunc(vals, func(r string) bool { return c.positive(r, keys) != c.negated })
	case setAllValues:
		return !slices.ContainsFunc(vals, func(r string) bool { return c.positive(r, keys) == c.negated })
	}
	return slices.ContainsFunc(vals, func(r string) bool { return c.positive(r, keys) }) != c.negated
}

// positive reports whether the request value r matches any of the policy values
// under the operator's positive form.
func (c *condition) positive(r string, keys requestKeys) bool {
	switch c.base {
	case opString, opBinary:
		return slices.ContainsFunc(c.strs, func(p pattern) bool { return p.matchLiteral(r, keys, false) })
	case opStringIgnoreCase:
		return slices.ContainsFunc(c.strs, func(p pattern) bool { return p.matchLiteral(r, keys, true) })
	case opStringLike:
		return slices.ContainsFunc(c.strs, func(p pattern) bool { return p.matchGlob(r, keys) })
	case opARN:
		return slices.ContainsFunc(c.strs, func(p pattern) bool { return p.matchARN(r, keys) })
	case opBool:
		b, ok := parseBool(r)
		return ok && slices.Contains(c.bools, b)
	case opIPAddress:
		ip, err := netip.ParseAddr(r)
		return err == nil && slices.ContainsFunc(c.prefixes, func(p netip.Prefix) bool { return p.Contains(ip.Unmap()) })
	case opNumericEquals, opNumericLessThan, opNumericLessThanEquals, opNumericGreaterThan, opNumericGreaterThanEquals:
		n, err := strconv.ParseFloat(r, 64)
		return err == nil && slices.ContainsFunc(c.nums, func(v float64) bool { return compare(c.base, cmpFloat(n, v)) })
	case opDateEquals, opDateLessThan, opDateLessThanEquals, opDateGreaterThan, opDateGreaterThanEquals:
		t, ok := parseDate(r)
		return ok && slices.ContainsFunc(c.times, func(v time.Time) bool { return compare(c.base, t.Compare(v)) })
	}
	return false
}

// compare applies a numeric or date operator to the sign of (request - policy).
func compare(op baseOp, sign int) bool {
	switch op {
	case opNumericEquals, opDateEquals:
		return sign == 0
	case opNumericLessThan, opDateLessThan:
		return sign < 0
	case opNumericLessThanEquals, opDateLessThanEquals:
		return sign <= 0
	case opNumericGreaterThan, opDateGreaterThan:
		return sign > 0
	case opNumericGreaterThanEquals, opDateGreaterThanEquals:
		return sign >= 0
	}
	return false
}

func cmpFloat(a, b float64) int {
	switch {
	case a < b:
		return -1
	case a > b:
		return 1
	}
	return 0
}

// parseBool accepts what IAM accepts for Bool and Null: true or false, in any case.
func parseBool(s string) (bool, bool) {
	switch strings.ToLower(s) {
	case "true":
		return true, true
	case "false":
		return false, true
	}
	return false, false
}

// dateLayouts are the ISO 8601 forms IAM documents for Date operators
// (aws:CurrentTime is "2006-01-02T15:04:05Z"); epoch seconds are accepted too.
var dateLayouts = []string{time.RFC3339Nano, "2006-01-02T15:04:05Z0700", "2006-01-02T15:04:05", "2006-01-02T15:04Z07:00", "2006-01-02"}

func parseDate(s string) (time.Time, bool) {
	for _, l := range dateLayouts {
		if t, err := time.Parse(l, s); err == nil {
			return t, true
		}
	}
	if n, err := strconv.ParseInt(s, 10, 64); err == nil {
		return time.Unix(n, 0).UTC(), true
	}
	return time.Time{}, false
}

func parsePrefix(s string) (netip.Prefix, error) {
	if strings.Contains(s, "/") {
		p, err := netip.ParsePrefix(s)
		return p.Masked(), err
	}
	a, err := netip.ParseAddr(s)
	if err != nil {
		return netip.Prefix{}, err
	}
	a = a.Unmap()
	return netip.PrefixFrom(a, a.BitLen()), nil
}

// scalarStrings reads a condition value: a string, a boolean, a number, or a
// list of those. Booleans and numbers become their JSON text ("true", "10"),
// which is how CloudFormation templates often carry them.
func scalarStrings(raw json.RawMessage) ([]string, error) {
	d := json.NewDecoder(bytes.NewReader(raw))
	d.UseNumber()
	var v any
	if err := d.Decode(&v); err != nil {
		return nil, err
	}
	list, isList := v.([]any)
	if !isList {
		list = []any{v}
	}
	out := make([]string, 0, len(list))
	for _, e := range list {
		switch e := e.(type) {
		case string:
			out = append(out, e)
		case bool:
			out = append(out, strconv.FormatBool(e))
		case json.Number:
			out = append(out, e.String())
		default:
			return nil, fmt.Errorf("value %s is not a string, boolean or number", compact(raw))
		}
	}
	return out, nil
}

func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	return keys
}
