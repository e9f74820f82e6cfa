package iam

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
)

// Policy versions of the IAM grammar. Only 2012-10-17 has policy variables; a
// policy without a Version is read as 2008-10-17, as IAM does.
const (
	Version2012 = "2012-10-17"
	Version2008 = "2008-10-17"
)

// Policy is a parsed IAM identity policy. It is immutable: Without returns a new
// Policy, so a Policy can be shared between goroutines and Authorities.
type Policy struct {
	version    string
	id         string
	statements []*statement
}

// statement is one parsed Statement element.
type statement struct {
	sid         string
	deny        bool
	actions     []pattern // Action, or NotAction when notAction
	notAction   bool
	resources   []pattern // Resource, or NotResource when notResource
	notResource bool
	conditions  []condition
	text        string // the statement's JSON, compacted, for diagnostics
}

// ParsePolicy parses an IAM identity policy document: the JSON that IAM accepts,
// which is also what a CloudFormation template holds in a PolicyDocument once its
// intrinsic functions are resolved.
//
// It rejects what IAM rejects when the policy is created, so that a template bug
// fails the offline run rather than being evaluated some other way: an unknown
// element, an Effect other than Allow or Deny, a statement without Action or
// NotAction, or without Resource or NotResource, both Action and NotAction (or
// Resource and NotResource), an action without a service prefix, an unknown
// condition operator, and a Principal or NotPrincipal, which belong in resource
// policies and trust policies, never in an identity policy.
func ParsePolicy(doc []byte) (Policy, error) {
	var top map[string]json.RawMessage
	if err := json.Unmarshal(doc, &top); err != nil {
		return Policy{}, fmt.Errorf("iam: policy is not a JSON object: %w", err)
	}
	if top == nil {
		return Policy{}, errors.New("iam: policy is null")
	}
	var p Policy
	for _, k := range sortedKeys(top) {
		switch k {
		case "Version":
			if err := json.Unmarshal(top[k], &p.version); err != nil {
				return Policy{}, fmt.Errorf("iam: policy Version must be a string, got %s", compact(top[k]))
			}
			if p.version != Version2012 && p.version != Version2008 {
				return Policy{}, fmt.Errorf("iam: policy Version %q is not %s or %s", p.version, Version2012, Version2008)
			}
		case "Id":
			if err := json.Unmarshal(top[k], &p.id); err != nil {
				return Policy{}, fmt.Errorf("iam: policy Id must be a string, got %s", compact(top[k]))
			}
		case "Statement":
		default:
			return Policy{}, fmt.Errorf("iam: policy has unknown element %q (want Version, Id, Statement)", k)
		}
	}
	if p.version == "" {
		p.version = Version2008
	}
	raw, ok := top["Statement"]
	if !ok {
		return Policy{}, errors.New("iam: policy has no Statement")
	}
	var list []json.RawMessage
	if t := bytes.TrimSpace(raw); len(t) > 0 && t[0] == '{' {
		list = []json.RawMessage{raw} // a single statement may stand without a list
	} else if err := json.Unmarshal(raw, &list); err != nil || list == nil {
		return Policy{}, fmt.Errorf("iam: policy Statement must be an object or a list of objects, got %s", compact(raw))
	}
	for i, r := range list {
		s, err := parseStatement(r, p.version == Version2012)
		if err != nil {
			return Policy{}, fmt.Errorf("iam: statement %s: %w", describe(i, s), err)
		}
		p.statements = append(p.statements, s)
	}
	return p, nil
}

// ParsePolicies parses several documents, for a role with several policies.
func ParsePolicies(docs ...[]byte) ([]Policy, error) {
	out := make([]Policy, 0, len(docs))
	for i, d := range docs {
		p, err := ParsePolicy(d)
		if err != nil {
			return nil, fmt.Errorf("policy %d: %w", i, err)
		}
		out = append(out, p)
	}
	return out, nil
}

// describe names a statement in messages: its index, and its Sid when it has one.
// s may be partly parsed (or nil).
func describe(i int, s *statement) string {
	if s != nil && s.sid != "" {
		return fmt.Sprintf("%d (Sid %q)", i, s.sid)
	}
	return fmt.Sprint(i)
}

// parseStatement parses one statement. On error it still returns the statement
// with its Sid, so that the message can name it.
func parseStatement(raw json.RawMessage, vars bool) (*statement, error) {
	var el map[string]json.RawMessage
	if err := json.Unmarshal(raw, &el); err != nil || el == nil {
		return nil, fmt.Errorf("must be a JSON object, got %s", compact(raw))
	}
	s := &statement{text: compact(raw)}
	if v, ok := el["Sid"]; ok {
		if err := json.Unmarshal(v, &s.sid); err != nil {
			return nil, fmt.Errorf("Sid must be a string, got %s", compact(v))
		}
	}
	for _, k := range sortedKeys(el) {
		switch k {
		case "Sid", "Effect", "Action", "NotAction", "Resource", "NotResource", "Condition":
		case "Principal", "NotPrincipal":
			return s, fmt.Errorf("%s is not allowed in an identity policy (it belongs in a resource or trust policy)", k)
		default:
			return s, fmt.Errorf("unknown element %q", k)
		}
	}

	var effect string
	if v, ok := el["Effect"]; !ok {
		return s, errors.New("has no Effect")
	} else if err := json.Unmarshal(v, &effect); err != nil {
		return s, fmt.Errorf("Effect must be a string, got %s", compact(v))
	}
	switch effect {
	case "Allow":
	case "Deny":
		s.deny = true
	default:
		return s, fmt.Errorf("Effect %q is neither Allow nor Deny", effect)
	}

	var err error
	s.actions, s.notAction, err = parsePatterns(el, "Action", "NotAction", func(v string) (pattern, error) {
		if v != "*" {
			if svc, op, ok := strings.Cut(v, ":"); !ok || svc == "" || op == "" {
				return pattern{}, fmt.Errorf("action %q has no service prefix (want \"service:Operation\")", v)
			}
		}
		// Action names are case-insensitive and take no policy variables.
		return compilePattern(v, compileOptions{wildcards: true, fold: true})
	})
	if err != nil {
		return s, err
	}
	s.resources, s.notResource, err = parsePatterns(el, "Resource", "NotResource", func(v string) (pattern, error) {
		return compilePattern(v, compileOptions{wildcards: true, vars: vars})
	})
	if err != nil {
		return s, err
	}
	if c, ok := el["Condition"]; ok {
		if s.conditions, err = parseConditions(c, vars); err != nil {
			return s, err
		}
	}
	return s, nil
}

// parsePatterns reads the element name or its negation notName (exactly one of
// them must be present): a string or a non-empty list of strings.
func parsePatterns(el map[string]json.RawMessage, name, notName string, compile func(string) (pattern, error)) ([]pattern, bool, error) {
	raw, has := el[name]
	rawNot, hasNot := el[notName]
	switch {
	case has && hasNot:
		return nil, false, fmt.Errorf("has both %s and %s", name, notName)
	case !has && !hasNot:
		return nil, false, fmt.Errorf("has neither %s nor %s", name, notName)
	case hasNot:
		name, raw = notName, rawNot
	}
	var values []string
	var one string
	if bytes.Equal(bytes.TrimSpace(raw), []byte("null")) {
		return nil, false, fmt.Errorf("%s must be a string or a list of strings, got null", name)
	} else if err := json.Unmarshal(raw, &one); err == nil {
		values = []string{one}
	} else if err := json.Unmarshal(raw, &values); err != nil {
		return nil, false, fmt.Errorf("%s must be a string or a list of strings, got %s", name, compact(raw))
	}
	if len(values) == 0 {
		return nil, false, fmt.Errorf("%s is empty", name)
	}
	out := make([]pattern, 0, len(values))
	for _, v := range values {
		p, err := compile(v)
		if err != nil {
			return nil, false, fmt.Errorf("%s: %w", name, err)
		}
		out = append(out, p)
	}
	return out, hasNot, nil
}

// Version is the policy's Version element (2008-10-17 when it had none).
func (p Policy) Version() string { return p.version }

// StatementCount is the number of statements in the policy.
func (p Policy) StatementCount() int { return len(p.statements) }

// StatementJSON is statement i as compact JSON, for messages such as "removing
// statement 3 ({...}) did not make any test fail". It panics if i is out of range.
func (p Policy) StatementJSON(i int) string { return p.statements[i].text }

// Without returns a copy of the policy without statement i (0-based).
func (p Policy) Without(i int) (Policy, error) {
	if i < 0 || i >= len(p.statements) {
		return Policy{}, fmt.Errorf("iam: statement %d out of range: the policy has %d", i, len(p.statements))
	}
	q := p
	q.statements = make([]*statement, 0, len(p.statements)-1)
	q.statements = append(q.statements, p.statements[:i]...)
	q.statements = append(q.statements, p.statements[i+1:]...)
	return q, nil
}

func compact(raw []byte) string {
	var b bytes.Buffer
	if json.Compact(&b, raw) != nil {
		return string(raw)
	}
	return b.String()
}
