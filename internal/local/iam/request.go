// Package iam evaluates AWS IAM identity policies offline, so that every call a
// handler or a service role makes in the offline run is allowed or denied as AWS would.
//
// ParsePolicy reads a policy document as IAM (or a CloudFormation template, once
// its intrinsics are resolved) holds it; Evaluate applies IAM's logic for identity
// policies (an explicit Deny wins, else an Allow allows, else implicit deny) with
// Action/NotAction, Resource/NotResource, wildcards, policy variables and the
// condition operators. An Authority holds the principals of the run (the roles of
// the synthesized template), answers each call with nil or an *AccessDeniedError
// shaped like AWS's, and records every decision, so that tests can check which
// grants a run needed and that removing any one statement breaks some test.
//
// Semantic choices where IAM leaves room or the offline run needs one:
//   - A Principal or NotPrincipal element is an error: IAM rejects it in an
//     identity policy, and it usually means a trust policy was passed by mistake.
//   - A statement without Resource/NotResource is an error, as in IAM.
//   - In Resource, NotResource and ArnLike, a '*' followed by more of its
//     colon-delimited ARN segment does not match ':'; a segment-final '*' matches
//     anything (see matchResource).
//   - Actions the Service Authorization Reference lists without a resource type
//     (see NoResourceType) are evaluated against the resource "*".
//   - A condition key that is absent from Request.Context, or present with no
//     values, is absent. A multi-valued key under an operator without a set
//     prefix is matched as ForAnyValue; a negated operator (StringNotEquals,
//     ArnNotLike, NotIpAddress, ...) is the complement of its positive form, so
//     it holds when the key is absent.
//   - A policy variable whose key is absent (without a default) or multi-valued
//     makes its pattern match nothing.
package iam

// Request is one authorization question: may the principal perform Action on
// Resource, given the request's condition keys?
type Request struct {
	// Action is "service:Operation", e.g. "s3:GetObject".
	Action string
	// Resource is the ARN the action is performed on. For actions the IAM Service
	// Authorization Reference lists without a resource type, callers pass the real
	// ARN anyway; the evaluator then authorizes only statements with Resource "*".
	Resource string
	// Context holds the request's condition keys (names case-insensitive, e.g.
	// "s3:prefix", "kms:GrantIsForAWSResource", "iam:PassedToService"). A key that
	// is absent from the request is absent here, not empty.
	Context map[string][]string
}
