package iam

import (
	"cmp"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
)

// Principal is a caller of AWS APIs in the offline run: a role (say, a Lambda's
// execution role) assumed under a session name, with the identity policies the
// template gives that role.
type Principal struct {
	Name     string // the key in the Authority, e.g. the function's or role's logical name
	RoleName string
	// RoleID is the role's unique id (RoleId, "AROA..."), the first part of an
	// assumed role's aws:userid; GetRole answers it.
	RoleID      string
	SessionName string
	Account     string
	Policies    []Policy
}

// ARN is how AWS names an assumed-role caller in AccessDenied messages.
func (p Principal) ARN() string {
	return "arn:aws:sts::" + p.Account + ":assumed-role/" + p.RoleName + "/" + p.SessionName
}

// RoleARN is the ARN of the role itself, the value of aws:PrincipalArn.
func (p Principal) RoleARN() string {
	return "arn:aws:iam::" + p.Account + ":role/" + p.RoleName
}

// withIdentityKeys returns req with the global condition keys AWS sets for every
// call by an assumed role, unless the caller set them: aws:PrincipalArn (the
// role's ARN, not the session's), aws:PrincipalAccount and aws:PrincipalType.
// The caller's Context map is not modified.
func (p Principal) withIdentityKeys(req Request) Request {
	add := map[string]string{
		"aws:PrincipalArn":     p.RoleARN(),
		"aws:PrincipalAccount": p.Account,
		"aws:PrincipalType":    "AssumedRole",
	}
	ctx := make(map[string][]string, len(req.Context)+len(add))
	for k, v := range req.Context {
		ctx[k] = v
		for a := range add {
			if strings.EqualFold(k, a) {
				delete(add, a)
			}
		}
	}
	for k, v := range add {
		if v != "" {
			ctx[k] = []string{v}
		}
	}
	req.Context = ctx
	return req
}

// Grant is one authorization decision the Authority recorded: Principal may (or,
// in Denied, may not) perform Action on Resource, as the caller named them.
type Grant struct {
	Principal string
	Action    string
	Resource  string
	// Context is the request's condition keys as the caller passed them, canonical:
	// "key=v1,v2;key2=v" with keys lower-cased and sorted ("" when none).
	Context string
}

// canonicalContext writes a request context as Grant.Context.
func canonicalContext(ctx map[string][]string) string {
	var parts []string
	for k, vs := range ctx {
		if len(vs) == 0 {
			continue
		}
		parts = append(parts, strings.ToLower(k)+"="+strings.Join(vs, ","))
	}
	slices.Sort(parts)
	return strings.Join(parts, ";")
}

// Authority authorizes the calls of the offline run's principals and records the
// decisions. It is safe for concurrent use. The zero value is ready to use.
type Authority struct {
	mu         sync.Mutex
	principals map[string]Principal
	allowed    map[Grant]struct{}
	denied     map[Grant]struct{}
}

// NewAuthority returns an empty Authority.
func NewAuthority() *Authority { return &Authority{} }

// Add registers a principal. Its Name must be non-empty and not yet added.
func (a *Authority) Add(p Principal) error {
	if p.Name == "" {
		return errors.New("iam: principal has no Name")
	}
	a.mu.Lock()
	defer a.mu.Unlock()
	if _, dup := a.principals[p.Name]; dup {
		return fmt.Errorf("iam: principal %q is already added", p.Name)
	}
	if a.principals == nil {
		a.principals = make(map[string]Principal)
	}
	p.Policies = slices.Clone(p.Policies) // the caller may reuse its slice
	a.principals[p.Name] = p
	return nil
}

// Principal returns the principal added under name.
func (a *Authority) Principal(name string) (Principal, bool) {
	a.mu.Lock()
	defer a.mu.Unlock()
	p, ok := a.principals[name]
	p.Policies = slices.Clone(p.Policies)
	return p, ok
}

// Principals returns the names of all principals, sorted.
func (a *Authority) Principals() []string {
	a.mu.Lock()
	defer a.mu.Unlock()
	names := make([]string, 0, len(a.principals))
	for n := range a.principals {
		names = append(names, n)
	}
	slices.Sort(names)
	return names
}

// Authorize decides whether the named principal may make the call. It returns
// nil when its identity policies allow it, and otherwise an *AccessDeniedError
// with AWS's code and message (also for an unknown principal, with a message
// that says so). req.Action must be "service:Operation".
//
// The request is evaluated with the global keys AWS adds for an assumed role
// (aws:PrincipalArn, aws:PrincipalAccount, aws:PrincipalType) unless
// req.Context sets them.
//
// Every decision is recorded, with the action and resource as passed: see
// Allowed and Denied.
func (a *Authority) Authorize(principal string, req Request) error {
	err := a.Decide(principal, req)
	var denied *AccessDeniedError
	if err == nil || errors.As(err, &denied) {
		a.record(Grant{Principal: principal, Action: req.Action, Resource: req.Resource, Context: canonicalContext(req.Context)}, err == nil)
	}
	return err
}

// Decide is Authorize without recording: for the checks a service makes on its own
// behalf while answering another call (S3's missing-key rule asks whether the caller
// may list the bucket), which are no calls of the caller's.
func (a *Authority) Decide(principal string, req Request) error {
	if svc, op, ok := strings.Cut(req.Action, ":"); !ok || svc == "" || op == "" {
		return fmt.Errorf("iam: action %q is not of the form service:Operation", req.Action)
	}
	p, ok := a.Principal(principal)
	if !ok {
		return &AccessDeniedError{Code: CodeFor(req.Action), Caller: principal, Action: req.Action, Resource: req.Resource, UnknownPrincipal: true}
	}
	d := Evaluate(p.Policies, p.withIdentityKeys(req))
	if d == Allow {
		return nil
	}
	return &AccessDeniedError{Code: CodeFor(req.Action), Caller: p.ARN(), Action: req.Action, Resource: req.Resource, Explicit: d == ExplicitDeny}
}

func (a *Authority) record(g Grant, allowed bool) {
	a.mu.Lock()
	defer a.mu.Unlock()
	m := &a.denied
	if allowed {
		m = &a.allowed
	}
	if *m == nil {
		*m = make(map[Grant]struct{})
	}
	(*m)[g] = struct{}{}
}

// Allowed returns every distinct call allowed so far, sorted by principal,
// action, resource. A test can compare it with the policies to find statements
// no call needs.
func (a *Authority) Allowed() []Grant {
	a.mu.Lock()
	defer a.mu.Unlock()
	return sortedGrants(a.allowed)
}

// Denied returns every distinct call denied so far, sorted like Allowed.
func (a *Authority) Denied() []Grant {
	a.mu.Lock()
	defer a.mu.Unlock()
	return sortedGrants(a.denied)
}

// Reset forgets the recorded decisions; the principals stay.
func (a *Authority) Reset() {
	a.mu.Lock()
	defer a.mu.Unlock()
	a.allowed, a.denied = nil, nil
}

func sortedGrants(m map[Grant]struct{}) []Grant {
	out := make([]Grant, 0, len(m))
	for g := range m {
		out = append(out, g)
	}
	slices.SortFunc(out, func(x, y Grant) int {
		return cmp.Or(cmp.Compare(x.Principal, y.Principal), cmp.Compare(x.Action, y.Action), cmp.Compare(x.Resource, y.Resource), cmp.Compare(x.Context, y.Context))
	})
	return out
}

// StatementCount is the number of statements across all the policies of the
// principal (0 for an unknown principal). Statements are numbered 0..n-1 in
// policy order, then statement order, for Without and StatementJSON.
func (a *Authority) StatementCount(principal string) int {
	p, _ := a.Principal(principal)
	n := 0
	for _, pol := range p.Policies {
		n += pol.StatementCount()
	}
	return n
}

// locate finds which policy holds the principal's statement number index.
func locate(p Principal, index int) (policy, statement int, err error) {
	total := 0
	for i, pol := range p.Policies {
		if index >= total && index < total+pol.StatementCount() {
			return i, index - total, nil
		}
		total += pol.StatementCount()
	}
	return 0, 0, fmt.Errorf("iam: principal %q has %d statements; statement %d does not exist", p.Name, total, index)
}

// StatementJSON returns the principal's statement number index as JSON, to name
// it in messages.
func (a *Authority) StatementJSON(principal string, index int) (string, error) {
	p, ok := a.Principal(principal)
	if !ok {
		return "", fmt.Errorf("iam: unknown principal %q", principal)
	}
	pi, si, err := locate(p, index)
	if err != nil {
		return "", err
	}
	return p.Policies[pi].StatementJSON(si), nil
}

// Without returns a copy of the Authority in which the principal's statement
// number index (see StatementCount) is removed, for positive controls: removing
// any one statement must make some test fail, else the statement is not needed.
// The copy has the same principals and a fresh, empty record of decisions; it
// shares nothing mutable with a.
func (a *Authority) Without(principal string, index int) (*Authority, error) {
	a.mu.Lock()
	defer a.mu.Unlock()
	p, ok := a.principals[principal]
	if !ok {
		return nil, fmt.Errorf("iam: unknown principal %q", principal)
	}
	pi, si, err := locate(p, index)
	if err != nil {
		return nil, err
	}
	c := &Authority{principals: make(map[string]Principal, len(a.principals))}
	for n, q := range a.principals {
		q.Policies = slices.Clone(q.Policies)
		c.principals[n] = q
	}
	q := c.principals[principal]
	if q.Policies[pi], err = q.Policies[pi].Without(si); err != nil {
		return nil, err
	}
	return c, nil
}
