package iam

import (
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"strings"

	"github.com/aws/aws-sdk-go-v2/aws"
	awsiam "github.com/aws/aws-sdk-go-v2/service/iam"
	iamtypes "github.com/aws/aws-sdk-go-v2/service/iam/types"
)

// SimulatePrincipalPolicy answers iam:SimulatePrincipalPolicy for the principal
// whose RoleARN is in.PolicySourceArn, with the IAM client's signature, so that
// `snaplake doctor` can run against the offline account.
//
// Each action is evaluated on each resource of in.ResourceArns ("*" when none)
// with the request context built from in.ContextEntries plus the keys Authorize
// adds for an assumed role (aws:PrincipalArn, ...), so that a grant Authorize
// allows is also allowed here. The output has the current API's shape: one
// EvaluationResult per action, its EvalDecision the most restrictive across the
// resources, and one ResourceSpecificResult per resource. MissingContextValues
// lists the condition keys of the statements that match the action and resource
// but that the request did not supply.
//
// A simulation is not a call: nothing is recorded in Allowed or Denied.
//
// in.ResourcePolicy, when given, is evaluated for same-account callers only
// (the offline account is one account). Its statements count when their
// Principal is "*", the caller (in.CallerArn, else the source role) or the
// account ("<account>" or "arn:aws:iam::<account>:root"):
//   - an explicit Deny in the identity or resource policy denies;
//   - an Allow naming the caller or "*" allows by itself;
//   - an Allow for the account delegates to IAM: it allows nothing alone, and the
//     identity policies decide;
//   - for a KMS key (arn:...:kms:...:key/...), an identity Allow counts only
//     if the key policy delegates to the account, as KMS requires; for other
//     resources an identity Allow suffices, as in IAM's same-account logic.
//
// NotPrincipal in the resource policy is not supported (an InvalidInputException),
// nor are permissions boundaries, SCPs or PolicyInputList.
//
// Errors: an unknown PolicySourceArn is a *iamtypes.NoSuchEntityException; a
// missing PolicySourceArn or ActionNames, an action not of the form
// "service:Operation" or a malformed ResourcePolicy is an
// *iamtypes.InvalidInputException, as IAM answers them.
func (a *Authority) SimulatePrincipalPolicy(ctx context.Context, in *awsiam.SimulatePrincipalPolicyInput, optFns ...func(*awsiam.Options)) (*awsiam.SimulatePrincipalPolicyOutput, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	if in == nil || aws.ToString(in.PolicySourceArn) == "" {
		return nil, invalidInput("PolicySourceArn is required")
	}
	if len(in.ActionNames) == 0 {
		return nil, invalidInput("ActionNames is required")
	}
	for _, act := range in.ActionNames {
		if svc, op, ok := strings.Cut(act, ":"); !ok || svc == "" || op == "" {
			return nil, invalidInput(fmt.Sprintf("action %q is not of the form service:Operation", act))
		}
	}
	p, ok := a.principalByRoleARN(aws.ToString(in.PolicySourceArn))
	if !ok {
		return nil, &iamtypes.NoSuchEntityException{Message: aws.String(fmt.Sprintf("The role with name %s cannot be found.", roleNameOf(aws.ToString(in.PolicySourceArn))))}
	}
	caller := aws.ToString(in.CallerArn)
	if caller == "" {
		caller = p.RoleARN()
	}
	var rp *resourcePolicy
	if doc := aws.ToString(in.ResourcePolicy); doc != "" {
		var err error
		if rp, err = parseResourcePolicy(doc, p.Account, caller); err != nil {
			return nil, invalidInput("ResourcePolicy: " + err.Error())
		}
	}

	keys := make(map[string][]string, len(in.ContextEntries))
	for _, e := range in.ContextEntries {
		k := aws.ToString(e.ContextKeyName)
		keys[k] = append(keys[k], e.ContextKeyValues...)
	}
	resources := in.ResourceArns
	if len(resources) == 0 {
		resources = []string{"*"}
	}

	out := &awsiam.SimulatePrincipalPolicyOutput{}
	for _, act := range in.ActionNames {
		res := iamtypes.EvaluationResult{EvalActionName: aws.String(act)}
		var missing []string
		for _, r := range resources {
			req := p.withIdentityKeys(Request{Action: act, Resource: r, Context: keys})
			d := simulate(p.Policies, rp, req)
			m := missingContextKeys(p.Policies, rp, req)
			res.ResourceSpecificResults = append(res.ResourceSpecificResults, iamtypes.ResourceSpecificResult{
				EvalResourceDecision: d,
				EvalResourceName:     aws.String(r),
				MissingContextValues: m,
			})
			res.EvalDecision = mostRestrictive(res.EvalDecision, d)
			missing = append(missing, m...)
		}
		if len(resources) == 1 {
			res.EvalResourceName = aws.String(resources[0])
		} else {
			res.EvalResourceName = aws.String("*")
		}
		slices.Sort(missing)
		res.MissingContextValues = slices.Compact(missing)
		out.EvaluationResults = append(out.EvaluationResults, res)
	}
	return out, nil
}

func invalidInput(msg string) error { return &iamtypes.InvalidInputException{Message: aws.String(msg)} }

// roleNameOf is the last path element of a role ARN, for messages.
func roleNameOf(arn string) string {
	if i := strings.LastIndex(arn, "/"); i >= 0 {
		return arn[i+1:]
	}
	return arn
}

// principalByRoleARN finds the principal whose role is arn.
// GetRole answers IAM's GetRole for a role of the offline account: its name, ARN
// and unique id. An unknown role is a *iamtypes.NoSuchEntityException, as IAM
// answers it.
func (a *Authority) GetRole(ctx context.Context, in *awsiam.GetRoleInput, optFns ...func(*awsiam.Options)) (*awsiam.GetRoleOutput, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	name := aws.ToString(in.RoleName)
	if name == "" {
		return nil, invalidInput("RoleName is required")
	}
	for _, n := range a.Principals() {
		if p, ok := a.Principal(n); ok && p.RoleName == name && p.RoleID != "" {
			return &awsiam.GetRoleOutput{Role: &iamtypes.Role{RoleName: aws.String(name), Arn: aws.String(p.RoleARN()), RoleId: aws.String(p.RoleID)}}, nil
		}
	}
	return nil, &iamtypes.NoSuchEntityException{Message: aws.String(fmt.Sprintf("The role with name %s cannot be found.", name))}
}

func (a *Authority) principalByRoleARN(arn string) (Principal, bool) {
	for _, name := range a.Principals() {
		if p, ok := a.Principal(name); ok && p.RoleARN() == arn {
			return p, true
		}
	}
	return Principal{}, false
}

// decisionRank orders decisions from least to most restrictive.
func decisionRank(d iamtypes.PolicyEvaluationDecisionType) int {
	switch d {
	case iamtypes.PolicyEvaluationDecisionTypeAllowed:
		return 1
	case iamtypes.PolicyEvaluationDecisionTypeImplicitDeny:
		return 2
	case iamtypes.PolicyEvaluationDecisionTypeExplicitDeny:
		return 3
	}
	return 0
}

func mostRestrictive(a, b iamtypes.PolicyEvaluationDecisionType) iamtypes.PolicyEvaluationDecisionType {
	if decisionRank(b) > decisionRank(a) {
		return b
	}
	return a
}

// resourcePolicy is a resource policy reduced to the statements that apply to
// the caller, parsed as identity policies (Principal removed): those naming the
// caller (or "*") and those naming the caller's account.
type resourcePolicy struct {
	direct, account []Policy
}

// parseResourcePolicy splits doc's statements by whom they name.
func parseResourcePolicy(doc, account, caller string) (*resourcePolicy, error) {
	var top map[string]json.RawMessage
	if err := json.Unmarshal([]byte(doc), &top); err != nil {
		return nil, fmt.Errorf("not a JSON object: %w", err)
	}
	var list []map[string]json.RawMessage
	if raw := top["Statement"]; len(raw) > 0 && strings.HasPrefix(strings.TrimSpace(string(raw)), "{") {
		var one map[string]json.RawMessage
		if err := json.Unmarshal(raw, &one); err != nil {
			return nil, fmt.Errorf("statement: %w", err)
		}
		list = append(list, one)
	} else if err := json.Unmarshal(raw, &list); err != nil {
		return nil, fmt.Errorf("Statement must be an object or a list of objects: %w", err)
	}
	var direct, acct []json.RawMessage
	for i, st := range list {
		if _, ok := st["NotPrincipal"]; ok {
			return nil, fmt.Errorf("statement %d: NotPrincipal is not supported offline", i)
		}
		raw, ok := st["Principal"]
		if !ok {
			return nil, fmt.Errorf("statement %d has no Principal", i)
		}
		who, err := principalMatch(raw, account, caller)
		if err != nil {
			return nil, fmt.Errorf("statement %d: %w", i, err)
		}
		delete(st, "Principal")
		b, err := json.Marshal(st)
		if err != nil {
			return nil, err
		}
		switch who {
		case matchCaller:
			direct = append(direct, b)
		case matchAccount:
			acct = append(acct, b)
		}
	}
	version := Version2012
	if v, ok := top["Version"]; ok {
		if err := json.Unmarshal(v, &version); err != nil {
			return nil, fmt.Errorf("Version must be a string: %w", err)
		}
	}
	rp := &resourcePolicy{}
	for _, part := range []struct {
		stmts []json.RawMessage
		into  *[]Policy
	}{{direct, &rp.direct}, {acct, &rp.account}} {
		if len(part.stmts) == 0 {
			continue
		}
		b, err := json.Marshal(map[string]any{"Version": version, "Statement": part.stmts})
		if err != nil {
			return nil, err
		}
		pol, err := ParsePolicy(b)
		if err != nil {
			return nil, err
		}
		*part.into = []Policy{pol}
	}
	return rp, nil
}

type principalKind uint8

const (
	matchNone    principalKind = iota
	matchAccount               // the caller's account: delegation to IAM
	matchCaller                // the caller itself, or everyone
)

// principalMatch reads a Principal element: "*" or {"AWS"|"Service"|...: value(s)}.
func principalMatch(raw json.RawMessage, account, caller string) (principalKind, error) {
	var star string
	if json.Unmarshal(raw, &star) == nil {
		if star == "*" {
			return matchCaller, nil
		}
		return matchNone, fmt.Errorf("Principal %q: want \"*\" or an object", star)
	}
	var byType map[string]json.RawMessage
	if err := json.Unmarshal(raw, &byType); err != nil {
		return matchNone, fmt.Errorf("Principal: %w", err)
	}
	raw, ok := byType["AWS"]
	if !ok {
		return matchNone, nil // a service or federated principal is never an IAM caller
	}
	var values []string
	var one string
	if json.Unmarshal(raw, &one) == nil {
		values = []string{one}
	} else if err := json.Unmarshal(raw, &values); err != nil {
		return matchNone, fmt.Errorf("Principal AWS: %w", err)
	}
	best := matchNone
	for _, v := range values {
		switch {
		case v == "*" || v == caller:
			return matchCaller, nil
		case v == account || (strings.HasPrefix(v, "arn:") && strings.HasSuffix(v, ":iam::"+account+":root")):
			best = matchAccount
		}
	}
	return best, nil
}

// isKMSKey reports whether arn names a KMS key, whose key policy must allow
// every use, directly or by delegating to the account.
func isKMSKey(arn string) bool {
	parts := strings.SplitN(arn, ":", 6)
	return len(parts) == 6 && parts[0] == "arn" && parts[2] == "kms" && strings.HasPrefix(parts[5], "key/")
}

// simulate combines the identity policies and the resource policy (nil: none)
// as described on SimulatePrincipalPolicy.
func simulate(identity []Policy, rp *resourcePolicy, req Request) iamtypes.PolicyEvaluationDecisionType {
	id := Evaluate(identity, req)
	if rp == nil {
		return decisionType(id)
	}
	direct := Evaluate(rp.direct, req)
	acct := Evaluate(rp.account, req)
	switch {
	case id == ExplicitDeny || direct == ExplicitDeny || acct == ExplicitDeny:
		return iamtypes.PolicyEvaluationDecisionTypeExplicitDeny
	case direct == Allow:
		return iamtypes.PolicyEvaluationDecisionTypeAllowed
	case id == Allow && (acct == Allow || !isKMSKey(req.Resource)):
		return iamtypes.PolicyEvaluationDecisionTypeAllowed
	}
	return iamtypes.PolicyEvaluationDecisionTypeImplicitDeny
}

func decisionType(d Decision) iamtypes.PolicyEvaluationDecisionType {
	switch d {
	case Allow:
		return iamtypes.PolicyEvaluationDecisionTypeAllowed
	case ExplicitDeny:
		return iamtypes.PolicyEvaluationDecisionTypeExplicitDeny
	}
	return iamtypes.PolicyEvaluationDecisionTypeImplicitDeny
}

// missingContextKeys lists the condition keys of the statements whose action
// and resource match req but which req does not supply, sorted.
func missingContextKeys(identity []Policy, rp *resourcePolicy, req Request) []string {
	r := prepare(req)
	pols := identity
	if rp != nil {
		pols = slices.Concat(identity, rp.direct, rp.account)
	}
	var out []string
	for _, p := range pols {
		for _, s := range p.statements {
			if !s.matchesActionAndResource(r) {
				continue
			}
			for _, c := range s.conditions {
				if _, ok := r.keys[c.key]; !ok && !slices.Contains(out, c.key) {
					out = append(out, c.key)
				}
			}
		}
	}
	slices.Sort(out)
	return out
}

// matchesActionAndResource is matches without the conditions.
func (s *statement) matchesActionAndResource(r evalRequest) bool {
	c := *s
	c.conditions = nil
	return c.matches(r)
}
