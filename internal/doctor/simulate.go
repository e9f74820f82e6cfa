package doctor

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"

	"github.com/aws/aws-sdk-go-v2/aws"
	awsiam "github.com/aws/aws-sdk-go-v2/service/iam"
	iamtypes "github.com/aws/aws-sdk-go-v2/service/iam/types"
	"github.com/aws/aws-sdk-go-v2/service/kms"
	kmstypes "github.com/aws/aws-sdk-go-v2/service/kms/types"

	"github.com/snaplake/snaplake/internal/deploy"
)

// Condition keys whose values are not strings: the simulator compares a value
// typed "string" with Bool or Numeric operators as a mismatch.
var (
	booleanKeys = []string{"kms:grantisforawsresource", "aws:securetransport", "aws:multifactorauthpresent", "aws:viaawsservice", "aws:principalisawsservice"}
	numericKeys = []string{"s3:max-keys", "s3:signatureage", "aws:multifactorauthage"}
)

// contextEntries types each key for the simulator: boolean and numeric keys as
// such, other keys "string", or "stringList" when they have several values.
func contextEntries(cvs []ContextValue) []iamtypes.ContextEntry {
	var out []iamtypes.ContextEntry
	for _, c := range cvs {
		e := iamtypes.ContextEntry{ContextKeyName: aws.String(c.Key), ContextKeyValues: c.Values}
		multi := len(c.Values) > 1
		switch k := strings.ToLower(c.Key); {
		case slices.Contains(booleanKeys, k) && multi:
			e.ContextKeyType = iamtypes.ContextKeyTypeEnumBooleanList
		case slices.Contains(booleanKeys, k):
			e.ContextKeyType = iamtypes.ContextKeyTypeEnumBoolean
		case slices.Contains(numericKeys, k) && multi:
			e.ContextKeyType = iamtypes.ContextKeyTypeEnumNumericList
		case slices.Contains(numericKeys, k):
			e.ContextKeyType = iamtypes.ContextKeyTypeEnumNumeric
		case multi:
			e.ContextKeyType = iamtypes.ContextKeyTypeEnumStringList
		default:
			e.ContextKeyType = iamtypes.ContextKeyTypeEnumString
		}
		out = append(out, e)
	}
	return out
}

// verdict is the simulator's answer for one action on the one resource asked about.
type verdict struct {
	decision iamtypes.PolicyEvaluationDecisionType
	missing  []string // context keys the policies use but the request did not give
	why      string   // "denied by ...", when the simulator says which policy type denied
}

func (v verdict) allowed() bool { return v.decision == iamtypes.PolicyEvaluationDecisionTypeAllowed }

// describe is "implicitDeny; missing context values: a, b; denied by ...".
func (v verdict) describe() string {
	s := string(v.decision)
	if s == "" {
		s = "no result"
	}
	if len(v.missing) > 0 {
		s += "; missing context values: " + strings.Join(v.missing, ", ")
	}
	if v.why != "" {
		s += "; " + v.why
	}
	return s
}

func rank(d iamtypes.PolicyEvaluationDecisionType) int {
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

// simulate runs in (one resource) to the end of its pages and returns the
// verdict per action, by lower-cased action name.
//
// It reads both shapes of the answer: per action with ResourceSpecificResults
// (the current API), and one result per action and resource (older answers).
func simulate(ctx context.Context, c IAM, in *awsiam.SimulatePrincipalPolicyInput) (map[string]verdict, error) {
	out := map[string]verdict{}
	merge := func(action string, v verdict) {
		old, seen := out[action]
		if seen && rank(old.decision) >= rank(v.decision) {
			v.decision = old.decision
		}
		v.missing = slices.Concat(old.missing, v.missing)
		slices.Sort(v.missing)
		v.missing = slices.Compact(v.missing)
		if v.why == "" {
			v.why = old.why
		}
		out[action] = v
	}
	req := *in
	for {
		res, err := c.SimulatePrincipalPolicy(ctx, &req)
		if err != nil {
			return nil, err
		}
		for _, er := range res.EvaluationResults {
			action := strings.ToLower(aws.ToString(er.EvalActionName))
			v := verdict{decision: er.EvalDecision, missing: slices.Clone(er.MissingContextValues)}
			if d := er.OrganizationsDecisionDetail; d != nil && !d.AllowedByOrganizations {
				v.why = "denied by an SCP of the organization"
			}
			if d := er.PermissionsBoundaryDecisionDetail; d != nil && !d.AllowedByPermissionsBoundary {
				v.why = "denied by the role's permissions boundary"
			}
			for _, rr := range er.ResourceSpecificResults {
				// Only one resource is asked about, so every resource result is ours;
				// the most restrictive wins, as in the top-level decision.
				if rank(rr.EvalResourceDecision) > rank(v.decision) || v.decision == "" {
					v.decision = rr.EvalResourceDecision
				}
				v.missing = append(v.missing, rr.MissingContextValues...)
				if d := rr.PermissionsBoundaryDecisionDetail; d != nil && !d.AllowedByPermissionsBoundary {
					v.why = "denied by the role's permissions boundary"
				}
			}
			merge(action, v)
		}
		if !res.IsTruncated || aws.ToString(res.Marker) == "" {
			return out, nil
		}
		req.Marker = res.Marker
	}
}

// roleName is the last part of a role ARN.
func roleName(arn string) string { return arn[strings.LastIndex(arn, "/")+1:] }

// simulationFix says what to do when a simulation could not run.
func simulationFix(err error, roleArn string) string {
	var nse *iamtypes.NoSuchEntityException
	if errors.As(err, &nse) {
		return "role " + roleArn + " does not exist: deploy the stack again (cdk deploy)"
	}
	return "give the caller iam:SimulatePrincipalPolicy on the stack's roles (and kms:GetKeyPolicy on its key)"
}

// deniedFix says what to do about a denied grant.
func deniedFix(v verdict, g Grant, roleArn string) string {
	switch {
	case len(v.missing) > 0 && g.Line > 0:
		return fmt.Sprintf("the policies test context keys the permission list does not give: add %s to permissions.txt line %d", strings.Join(v.missing, ", "), g.Line)
	case len(v.missing) > 0:
		return "the policies test context keys doctor does not give (" + strings.Join(v.missing, ", ") + "): report it as a snaplake bug"
	case strings.Contains(v.why, "SCP"):
		return "ask the organization's administrators to allow it for role " + roleName(roleArn)
	case strings.Contains(v.why, "boundary"):
		return "widen the permissions boundary of role " + roleName(roleArn)
	case v.decision == iamtypes.PolicyEvaluationDecisionTypeExplicitDeny:
		return "a Deny statement blocks it: find it in the policies of role " + roleName(roleArn) + ", its permissions boundary or the organization's SCPs"
	}
	return "no policy of role " + roleName(roleArn) + " allows it: deploy this version of snaplake (cdk deploy); if it is deployed, check the role's permissions boundary and the organization's SCPs"
}

// readRoleIDs reads, with iam:GetRole, the unique id of each deployed role whose
// aws:userid a line names ({userid:<principal>}): the Federator's Data API
// permissions are limited to statements its own role submitted. A role whose id
// cannot be read fails its lines (Expand names them).
func (r *run) readRoleIDs(ctx context.Context, st *stack, deployed func(string) bool) {
	st.values.RoleIDs = map[string]string{}
	for _, principal := range UserIDPrincipals(r.cfg.Permissions) {
		arn := st.values.Roles[principal]
		if arn == "" || !deployed(principal) {
			continue
		}
		name := arn[strings.LastIndex(arn, "/")+1:]
		out, err := r.c.IAM.GetRole(ctx, &awsiam.GetRoleInput{RoleName: aws.String(name)})
		if err != nil || out.Role == nil || aws.ToString(out.Role.RoleId) == "" {
			r.fail("permission", principal, fmt.Sprintf("cannot read the unique id of role %s: %v", name, err),
				"doctor needs iam:GetRole on the stack's roles (the Federator's statements are limited to their role's id)")
			continue
		}
		st.values.RoleIDs[principal] = aws.ToString(out.Role.RoleId)
	}
}

// checkPermissions simulates every expanded grant of the permission list on its
// principal's role, batching the actions that share a resource and a context.
func (r *run) checkPermissions(ctx context.Context, st *stack) {
	if lack := st.lacks(append([]string{"StackId"}, RequiredOutputs...)...); len(lack) > 0 {
		r.skip("permissions", "all roles", "needs the outputs "+strings.Join(lack, ", ")+" (see the stack check)")
		return
	}
	// The ingestion's lines are simulated when the stack deploys it (checkIngest
	// says when it does not) and its outputs can be read.
	ingestLack := st.lacks(IngestOutputs...)
	if st.ingest && len(ingestLack) > 0 {
		r.skip("permissions", "ingestion", "needs the outputs "+strings.Join(ingestLack, ", ")+" (see the stack check)")
	}
	// Likewise the Federator's (checkFederate says when it is not deployed, and that
	// the lines naming its warehouses, which no output names, are not simulated).
	federateLack := st.lacks(FederateOutputs...)
	if st.federate && len(federateLack) > 0 {
		r.skip("permissions", "Federator", "needs the outputs "+strings.Join(federateLack, ", ")+" (see the stack check)")
	}
	// And the archive's.
	archiveLack := st.lacks(ArchiveOutputs...)
	if st.archive && len(archiveLack) > 0 {
		r.skip("permissions", "archive", "needs the outputs "+strings.Join(archiveLack, ", ")+" (see the stack check)")
	}
	r.readRoleIDs(ctx, st, func(principal string) bool {
		return !(ingestPrincipal(principal) && (!st.ingest || len(ingestLack) > 0)) &&
			!(federatePrincipal(principal) && (!st.federate || len(federateLack) > 0)) &&
			!(archivePrincipal(principal) && (!st.archive || len(archiveLack) > 0))
	})
	type batch struct {
		resource, context string
		grants            []Grant
	}
	var order []string
	batches := map[string][]*batch{}
	for _, p := range r.cfg.Permissions {
		if ingestPrincipal(p.Principal) && (!st.ingest || len(ingestLack) > 0) {
			continue
		}
		if federatePrincipal(p.Principal) && (!st.federate || len(federateLack) > 0) {
			continue
		}
		if archivePrincipal(p.Principal) && (!st.archive || len(archiveLack) > 0) {
			continue
		}
		if p.namesWarehouse() {
			continue
		}
		grants, err := p.Expand(st.values)
		if err != nil {
			r.fail("permission", p.Principal, err.Error(), "deploy this version of snaplake (cdk deploy): its outputs name every role and function")
			continue
		}
		for _, g := range grants {
			if !slices.Contains(order, g.Principal) {
				order = append(order, g.Principal)
			}
			bs := batches[g.Principal]
			i := slices.IndexFunc(bs, func(b *batch) bool { return b.resource == g.Resource && b.context == g.ContextString() })
			if i < 0 {
				bs = append(bs, &batch{resource: g.Resource, context: g.ContextString()})
				i = len(bs) - 1
				batches[g.Principal] = bs
			}
			if !slices.ContainsFunc(bs[i].grants, func(o Grant) bool { return sameGrant(o, g) }) {
				bs[i].grants = append(bs[i].grants, g)
			}
		}
	}
	for _, principal := range order {
		roleArn := st.values.Roles[principal]
		if roleArn == "" {
			r.fail("permissions", principal, "the "+roleOutput(principal)+" output names no role for it", "deploy this version of snaplake (cdk deploy)")
			continue
		}
		total, allowed := 0, 0
		var denied []Result
		var simErr error
		for _, b := range batches[principal] {
			var actions []string
			for _, g := range b.grants {
				if !slices.Contains(actions, g.Action) {
					actions = append(actions, g.Action)
				}
			}
			verdicts, err := simulate(ctx, r.c.IAM, &awsiam.SimulatePrincipalPolicyInput{
				PolicySourceArn: aws.String(roleArn),
				ActionNames:     actions,
				ResourceArns:    []string{b.resource},
				ContextEntries:  contextEntries(b.grants[0].Context),
			})
			if err != nil {
				simErr = err
				break
			}
			for _, g := range b.grants {
				total++
				v := verdicts[strings.ToLower(g.Action)]
				if v.allowed() {
					allowed++
					continue
				}
				denied = append(denied, Result{
					Status: Fail, Check: "permission", Subject: principal,
					Detail: fmt.Sprintf("%s: %s (permissions.txt line %d)", g, v.describe(), g.Line),
					Fix:    deniedFix(v, g, roleArn),
					Grant:  &g,
				})
			}
		}
		if simErr != nil {
			r.fail("permissions", principal, "could not simulate the policies of role "+roleName(roleArn)+": "+simErr.Error(), simulationFix(simErr, roleArn))
			continue
		}
		switch {
		case len(denied) == 0:
			r.pass("permissions", principal, fmt.Sprintf("%s allowed to role %s", grants(total, true), roleName(roleArn)))
		case allowed > 0:
			r.pass("permissions", principal, fmt.Sprintf("%d of %s allowed to role %s; the %d denied follow", allowed, grants(total, false), roleName(roleArn), len(denied)))
		}
		for _, d := range denied {
			r.add(d)
		}
	}
}

// grants is "all 5 grants", "the 1 grant" (all) or "5 grants", "1 grant".
func grants(n int, all bool) string {
	switch {
	case n == 1 && all:
		return "the 1 grant"
	case n == 1:
		return "1 grant"
	case all:
		return fmt.Sprintf("all %d grants", n)
	}
	return fmt.Sprintf("%d grants", n)
}

// keyUses are what the lake key must allow, and to whom: the export role writes
// the export's files encrypted; startexport has RDS create a grant on the key for
// the export task (kms:GrantIsForAWSResource) and checks the key exists.
var keyUses = []struct {
	principal string
	actions   []string
	context   []ContextValue
}{
	{deploy.RoleExport, []string{"kms:Encrypt", "kms:Decrypt", "kms:GenerateDataKey", "kms:DescribeKey"}, nil},
	{deploy.FnStartExport, []string{"kms:CreateGrant", "kms:DescribeKey"}, []ContextValue{{Key: "kms:GrantIsForAWSResource", Values: []string{"true"}}}},
}

// checkKey checks the key is enabled and usable, simulating the roles' policies
// together with the key policy.
//
// The key policy goes in as ResourcePolicy. SimulatePrincipalPolicy then needs
// CallerArn when the policy source is not an IAM user (so that the key policy's
// Principal has someone to match): doctor passes the role's own ARN, the same as
// PolicySourceArn, which the current API reference allows ("the ARN of an IAM
// user, group, or role"), so the key policy is evaluated for the role that makes
// the calls. (Older documentation allowed only an IAM user there: if IAM refuses
// the role with InvalidInput, doctor simulates the identity policies alone and
// says so on the line.) ResourceOwner is left out: the key is in the stack's
// account, the default owner.
func (r *run) checkKey(ctx context.Context, st *stack) {
	if lack := st.lacks("StackId", deploy.OutputKeyArn, deploy.OutputRoleArns); len(lack) > 0 {
		r.skip("kms", "key", "needs the outputs "+strings.Join(lack, ", ")+" (see the stack check)")
		return
	}
	key := st.values.KMSKey
	desc, err := r.c.KMS.DescribeKey(ctx, &kms.DescribeKeyInput{KeyId: aws.String(key)})
	switch {
	case err != nil:
		r.fail("kms", key, "could not describe the key: "+err.Error(), "give the caller kms:DescribeKey on the key")
	case desc.KeyMetadata == nil:
		r.fail("kms", key, "DescribeKey returned no key metadata", "check the key in the KMS console")
	case !desc.KeyMetadata.Enabled || desc.KeyMetadata.KeyState != kmstypes.KeyStateEnabled:
		fix := "aws kms enable-key --key-id " + key
		switch desc.KeyMetadata.KeyState {
		case kmstypes.KeyStatePendingDeletion:
			fix = "aws kms cancel-key-deletion --key-id " + key + " && aws kms enable-key --key-id " + key
		case kmstypes.KeyStateDisabled:
		default:
			fix = "wait until the key is Enabled, or look at it in the KMS console"
		}
		r.fail("kms", key, fmt.Sprintf("is %s: nothing in the lake can be written or read", desc.KeyMetadata.KeyState), fix)
	default:
		r.pass("kms", key, "Enabled")
	}

	var policy *string
	note := "with the key policy"
	kp, err := r.c.KMS.GetKeyPolicy(ctx, &kms.GetKeyPolicyInput{KeyId: aws.String(key), PolicyName: aws.String("default")})
	if err != nil {
		r.fail("kms", key, "could not read the key policy: "+err.Error(), "give the caller kms:GetKeyPolicy on the key")
		note = "identity policies only: the key policy could not be read"
	} else {
		policy = kp.Policy
	}
	for _, use := range keyUses {
		roleArn := st.values.Roles[use.principal]
		if roleArn == "" {
			r.fail("kms", use.principal, "the RoleArns output names no role for it", "deploy this version of snaplake (cdk deploy)")
			continue
		}
		in := &awsiam.SimulatePrincipalPolicyInput{
			PolicySourceArn: aws.String(roleArn),
			ActionNames:     use.actions,
			ResourceArns:    []string{key},
			ContextEntries:  contextEntries(use.context),
		}
		useNote := note
		if policy != nil {
			in.ResourcePolicy, in.CallerArn = policy, aws.String(roleArn)
		}
		verdicts, err := simulate(ctx, r.c.IAM, in)
		var invalid *iamtypes.InvalidInputException
		if errors.As(err, &invalid) && policy != nil {
			in.ResourcePolicy, in.CallerArn = nil, nil
			useNote = "identity policies only: IAM refused the key policy in the simulation (" + invalid.ErrorMessage() + ")"
			verdicts, err = simulate(ctx, r.c.IAM, in)
		}
		if err != nil {
			r.fail("kms", use.principal, "could not simulate the use of the key by role "+roleName(roleArn)+": "+err.Error(), simulationFix(err, roleArn))
			continue
		}
		var bad []string
		fix := ""
		for _, a := range use.actions {
			v := verdicts[strings.ToLower(a)]
			if v.allowed() {
				continue
			}
			bad = append(bad, a+" ("+v.describe()+")")
			switch {
			case fix != "":
			case v.decision == iamtypes.PolicyEvaluationDecisionTypeImplicitDeny && v.why == "" && len(v.missing) == 0:
				fix = "the key policy must allow the account (the CDK default key policy does) and the policies of role " +
					roleName(roleArn) + " must allow these actions on the key: deploy this version of snaplake (cdk deploy)"
			default:
				fix = deniedFix(v, Grant{Action: a, Resource: key}, roleArn)
			}
		}
		with := ""
		if len(use.context) > 0 {
			with = " with " + (Grant{Context: use.context}).ContextString()
		}
		if len(bad) > 0 {
			r.fail("kms", use.principal, fmt.Sprintf("role %s may not use the key%s: %s [%s]", roleName(roleArn), with, strings.Join(bad, ", "), useNote), fix)
			continue
		}
		r.pass("kms", use.principal, fmt.Sprintf("role %s may %s the key%s [%s]", roleName(roleArn), strings.Join(use.actions, ", "), with, useNote))
	}
}
