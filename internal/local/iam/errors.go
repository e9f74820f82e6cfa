package iam

import (
	"net/http"
	"strings"

	"github.com/aws/smithy-go"
)

// AccessDeniedError is the error an AWS service returns when IAM denies a call,
// with AWS's code and message, so that code handling a denied call offline sees
// what it would see on AWS (errors.As with smithy.APIError, ErrorCode, message).
type AccessDeniedError struct {
	Code     string // CodeFor(Action): AccessDenied, AccessDeniedException, ...
	Caller   string // the caller's ARN (arn:aws:sts::<account>:assumed-role/<role>/<session>)
	Action   string // as the caller named it, e.g. "s3:GetObject"
	Resource string // the ARN the caller passed, also for NoResourceType actions
	Explicit bool   // a Deny statement matched (else no statement allowed)

	// UnknownPrincipal says the Authority has no principal named Caller: a wiring
	// mistake of the offline run, not a policy decision, and the message says so.
	UnknownPrincipal bool
}

var _ smithy.APIError = (*AccessDeniedError)(nil)

// Error is "<Code>: <message>", the shape smithy's GenericAPIError prints.
func (e *AccessDeniedError) Error() string { return e.Code + ": " + e.ErrorMessage() }

// ErrorCode is the AWS error code.
func (e *AccessDeniedError) ErrorCode() string { return e.Code }

// ErrorFault is always a client fault: the caller lacks permission.
func (e *AccessDeniedError) ErrorFault() smithy.ErrorFault { return smithy.FaultClient }

// HTTPStatusCode is 403, the status every AWS service answers a denied call with
// (useful to an offline HTTP stand-in that serializes this error).
func (e *AccessDeniedError) HTTPStatusCode() int { return http.StatusForbidden }

// ErrorMessage is AWS's message for a call denied by identity policies:
//
//	User: <caller> is not authorized to perform: <action> on resource: "<resource>" because no identity-based policy allows the <action> action
//	User: <caller> is not authorized to perform: <action> on resource: "<resource>" with an explicit deny in an identity-based policy
//
// The "on resource" part is left out when Resource is empty, as AWS does for
// calls that name no resource.
func (e *AccessDeniedError) ErrorMessage() string {
	var b strings.Builder
	b.WriteString("User: ")
	b.WriteString(e.Caller)
	b.WriteString(" is not authorized to perform: ")
	b.WriteString(e.Action)
	if e.Resource != "" {
		b.WriteString(` on resource: "`)
		b.WriteString(e.Resource)
		b.WriteString(`"`)
	}
	switch {
	case e.UnknownPrincipal:
		b.WriteString(` because the principal "`)
		b.WriteString(e.Caller)
		b.WriteString(`" is unknown to the offline IAM authority (no role of that name was added)`)
	case e.Explicit:
		b.WriteString(" with an explicit deny in an identity-based policy")
	default:
		b.WriteString(" because no identity-based policy allows the ")
		b.WriteString(e.Action)
		b.WriteString(" action")
	}
	return b.String()
}

// deniedCodes holds the services whose access-denied error code is not
// "AccessDeniedException" (the code of the JSON-protocol services: glue, states,
// kms, lambda, logs, events, dynamodb, secretsmanager, ssm, ...). Keyed by the
// lower-case service prefix of the action.
var deniedCodes = map[string]string{
	// S3's REST-XML API and the Query-protocol APIs (RDS, IAM, STS, CloudWatch)
	// answer "AccessDenied"; SQS kept that code when it moved to JSON, through
	// its query-compatibility header.
	"s3":         "AccessDenied",
	"rds":        "AccessDenied",
	"iam":        "AccessDenied",
	"sts":        "AccessDenied",
	"cloudwatch": "AccessDenied",
	"sqs":        "AccessDenied",
	// SNS: "An error occurred (AuthorizationError) when calling the Publish operation".
	"sns": "AuthorizationError",
	// EC2 has its own code for a denied call.
	"ec2": "UnauthorizedOperation",
}

// CodeFor is the error code AWS answers a denied action with, which depends on
// the service (its protocol): "AccessDenied" for s3, rds, iam, sts, cloudwatch
// and sqs, "AuthorizationError" for sns, "UnauthorizedOperation" for ec2, and
// "AccessDeniedException" for every other service.
//
// Note that for an action checked by another service on the caller's behalf
// (iam:PassRole during lambda:CreateFunction), AWS answers with the code of the
// service called, which only the caller knows.
func CodeFor(action string) string {
	svc, _, _ := strings.Cut(action, ":")
	if code, ok := deniedCodes[strings.ToLower(svc)]; ok {
		return code
	}
	return "AccessDeniedException"
}
