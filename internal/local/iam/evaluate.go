package iam

import (
	_ "embed"
	"fmt"
	"strings"
)

// Decision is the outcome of evaluating identity policies for one request.
type Decision uint8

const (
	// ImplicitDeny: no statement allows the request (and none denies it). It is
	// the zero value, so a forgotten decision denies.
	ImplicitDeny Decision = iota
	// Allow: some statement allows the request and none denies it.
	Allow
	// ExplicitDeny: a Deny statement matches; it wins over every Allow.
	ExplicitDeny
)

func (d Decision) String() string {
	switch d {
	case Allow:
		return "Allow"
	case ExplicitDeny:
		return "ExplicitDeny"
	case ImplicitDeny:
		return "ImplicitDeny"
	}
	return fmt.Sprintf("Decision(%d)", uint8(d))
}

// wildcardOnlyFile lists the actions whose row in the Service Authorization
// Reference has an empty "Resource types" column, one service:Action a line. It
// is generated from a pinned copy of the Reference (`make iam-data`), never
// written by hand: the Reference changes (rds:StartExportTask gained optional
// resource types), and a stale entry evaluates a scoped Allow or Deny wrongly.
// TestWildcardOnlyActionsMatchIAMData fails when it is stale.
//
// Such an action is authorized against the resource "*" whatever ARN the call
// names, so only a statement whose Resource matches the literal "*" can allow
// (or deny) it: a statement scoped to arn:aws:lakeformation:... does NOT allow
// lakeformation:GetDataAccess.
const wildcardOnlyFile = "wildcard_only_actions.txt"

//go:embed wildcard_only_actions.txt
var wildcardOnlyTable []byte

// resourceLevelDespiteReference are the actions the Reference lists without a
// resource type that the service nevertheless authorizes against a resource, each
// with its evidence. Keep it to what a real account has shown; every entry is a
// listed disagreement of TestDifferentialAgainstIAMSimulate.
//
//   - states:SendTaskSuccess, SendTaskFailure, SendTaskHeartbeat: Step Functions
//     authorizes them against the state machine that issued the task token (its
//     AccessDeniedException reads "... is not authorized to perform:
//     states:SendTaskFailure on resource: arn:aws:states:<region>:<account>:stateMachine:<name>"),
//     and CDK's grantTaskResponse scopes them to the state machine, as infra does
//     (infra/workflow.go). Needs one real run to be proven here.
var resourceLevelDespiteReference = map[string]bool{
	"states:sendtasksuccess":   true,
	"states:sendtaskfailure":   true,
	"states:sendtaskheartbeat": true,
}

// inReference reports (case-insensitively) whether the Reference lists action
// without a resource type, overrides aside.
func inReference(action string) bool {
	return noResourceType[strings.ToLower(action)]
}

// noResourceType is the table keyed by lower-case name.
var noResourceType = func() map[string]bool {
	m := make(map[string]bool, 8192)
	for _, line := range strings.Split(string(wildcardOnlyTable), "\n") {
		if line = strings.TrimSpace(line); line != "" && !strings.HasPrefix(line, "#") {
			m[strings.ToLower(line)] = true
		}
	}
	return m
}()

// NoResourceType reports (case-insensitively) whether the IAM Service
// Authorization Reference lists action without a resource type, in which case
// only Resource "*" authorizes it (except resourceLevelDespiteReference).
func NoResourceType(action string) bool {
	a := strings.ToLower(action)
	return noResourceType[a] && !resourceLevelDespiteReference[a]
}

// requestKeys is a request's condition keys with lower-cased names, built once
// per evaluation because key names are case-insensitive.
type requestKeys map[string][]string

func newRequestKeys(ctx map[string][]string) requestKeys {
	keys := make(requestKeys, len(ctx))
	for k, v := range ctx {
		lk := strings.ToLower(k)
		keys[lk] = append(keys[lk], v...)
	}
	return keys
}

// evalRequest is a Request prepared once for all statements.
type evalRequest struct {
	action   string // lower-cased
	resource string // "*" for NoResourceType actions
	keys     requestKeys
}

func prepare(req Request) evalRequest {
	r := evalRequest{action: strings.ToLower(req.Action), resource: req.Resource, keys: newRequestKeys(req.Context)}
	if NoResourceType(req.Action) {
		r.resource = "*"
	}
	return r
}

// Evaluate decides req against one policy alone.
func (p Policy) Evaluate(req Request) Decision {
	return Evaluate([]Policy{p}, req)
}

// Evaluate decides req against all the identity policies of one principal, with
// IAM's logic for identity policies: an explicit Deny in any statement wins,
// otherwise any matching Allow allows, otherwise the request is implicitly denied.
// (There are no resource policies, permissions boundaries, session policies or
// SCPs in the offline run.)
func Evaluate(policies []Policy, req Request) Decision {
	r := prepare(req)
	allowed := false
	for _, p := range policies {
		for _, s := range p.statements {
			if !s.matches(r) {
				continue
			}
			if s.deny {
				return ExplicitDeny
			}
			allowed = true
		}
	}
	if allowed {
		return Allow
	}
	return ImplicitDeny
}

// matches reports whether the statement applies to the request: its action, its
// resource and all its conditions match.
func (s *statement) matches(r evalRequest) bool {
	actionIn := false
	for _, p := range s.actions {
		if p.matchGlob(r.action, r.keys) {
			actionIn = true
			break
		}
	}
	if actionIn == s.notAction {
		return false
	}
	resourceIn := false
	for _, p := range s.resources {
		if p.matchResource(r.resource, r.keys) {
			resourceIn = true
			break
		}
	}
	if resourceIn == s.notResource {
		return false
	}
	for i := range s.conditions {
		if !s.conditions[i].eval(r.keys) {
			return false
		}
	}
	return true
}
