package iam

import (
	"errors"
	"fmt"
	"testing"

	"github.com/aws/smithy-go"
)

func TestAccessDeniedErrorMessage(t *testing.T) {
	const caller = "arn:aws:sts::000000000000:assumed-role/R/S"
	tests := []struct {
		name      string
		err       AccessDeniedError
		wantMsg   string
		wantError string
	}{
		{
			"implicit",
			AccessDeniedError{Code: "AccessDenied", Caller: caller, Action: "s3:GetObject", Resource: "arn:aws:s3:::b/k"},
			`User: arn:aws:sts::000000000000:assumed-role/R/S is not authorized to perform: s3:GetObject on resource: "arn:aws:s3:::b/k" because no identity-based policy allows the s3:GetObject action`,
			`AccessDenied: User: arn:aws:sts::000000000000:assumed-role/R/S is not authorized to perform: s3:GetObject on resource: "arn:aws:s3:::b/k" because no identity-based policy allows the s3:GetObject action`,
		},
		{
			"explicit",
			AccessDeniedError{Code: "AccessDeniedException", Caller: caller, Action: "kms:Decrypt", Resource: "arn:aws:kms:eu-west-1:000000000000:key/k", Explicit: true},
			`User: arn:aws:sts::000000000000:assumed-role/R/S is not authorized to perform: kms:Decrypt on resource: "arn:aws:kms:eu-west-1:000000000000:key/k" with an explicit deny in an identity-based policy`,
			`AccessDeniedException: User: arn:aws:sts::000000000000:assumed-role/R/S is not authorized to perform: kms:Decrypt on resource: "arn:aws:kms:eu-west-1:000000000000:key/k" with an explicit deny in an identity-based policy`,
		},
		{
			"no resource",
			AccessDeniedError{Code: "AccessDenied", Caller: caller, Action: "cloudwatch:PutMetricData"},
			`User: arn:aws:sts::000000000000:assumed-role/R/S is not authorized to perform: cloudwatch:PutMetricData because no identity-based policy allows the cloudwatch:PutMetricData action`,
			`AccessDenied: User: arn:aws:sts::000000000000:assumed-role/R/S is not authorized to perform: cloudwatch:PutMetricData because no identity-based policy allows the cloudwatch:PutMetricData action`,
		},
		{
			"unknown principal",
			AccessDeniedError{Code: "AccessDeniedException", Caller: "Ghost", Action: "glue:GetTable", Resource: "arn:aws:glue:eu-west-1:000000000000:table/d/t", UnknownPrincipal: true},
			`User: Ghost is not authorized to perform: glue:GetTable on resource: "arn:aws:glue:eu-west-1:000000000000:table/d/t" because the principal "Ghost" is unknown to the offline IAM authority (no role of that name was added)`,
			`AccessDeniedException: User: Ghost is not authorized to perform: glue:GetTable on resource: "arn:aws:glue:eu-west-1:000000000000:table/d/t" because the principal "Ghost" is unknown to the offline IAM authority (no role of that name was added)`,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := tt.err
			if got := e.ErrorMessage(); got != tt.wantMsg {
				t.Errorf("ErrorMessage =\n%s\nwant\n%s", got, tt.wantMsg)
			}
			if got := e.Error(); got != tt.wantError {
				t.Errorf("Error =\n%s\nwant\n%s", got, tt.wantError)
			}
			if e.ErrorCode() != tt.err.Code || e.ErrorFault() != smithy.FaultClient || e.HTTPStatusCode() != 403 {
				t.Errorf("ErrorCode %q, ErrorFault %v, HTTPStatusCode %d", e.ErrorCode(), e.ErrorFault(), e.HTTPStatusCode())
			}
		})
	}
}

func TestAccessDeniedErrorIsASmithyAPIError(t *testing.T) {
	var err error = fmt.Errorf("get b/k: %w", &AccessDeniedError{Code: CodeFor("s3:GetObject"), Caller: "c", Action: "s3:GetObject", Resource: "r"})
	var api smithy.APIError
	if !errors.As(err, &api) {
		t.Fatalf("errors.As(%v, *smithy.APIError) = false", err)
	}
	if api.ErrorCode() != "AccessDenied" || api.ErrorFault() != smithy.FaultClient {
		t.Errorf("ErrorCode %q ErrorFault %v", api.ErrorCode(), api.ErrorFault())
	}
	var ade *AccessDeniedError
	if !errors.As(err, &ade) || ade.Explicit {
		t.Errorf("errors.As *AccessDeniedError: %v %+v", errors.As(err, &ade), ade)
	}
}

func TestCodeFor(t *testing.T) {
	tests := map[string]string{
		"s3:GetObject":             "AccessDenied",
		"S3:PutObject":             "AccessDenied",
		"rds:StartExportTask":      "AccessDenied",
		"rds:DescribeDBSnapshots":  "AccessDenied",
		"iam:PassRole":             "AccessDenied",
		"sts:AssumeRole":           "AccessDenied",
		"cloudwatch:PutMetricData": "AccessDenied",
		"sqs:SendMessage":          "AccessDenied",
		"sns:Publish":              "AuthorizationError",
		"SNS:Publish":              "AuthorizationError",
		"ec2:DescribeInstances":    "UnauthorizedOperation",
		"glue:StartJobRun":         "AccessDeniedException",
		"states:StartExecution":    "AccessDeniedException",
		"kms:Decrypt":              "AccessDeniedException",
		"lambda:InvokeFunction":    "AccessDeniedException",
		"logs:PutLogEvents":        "AccessDeniedException",
		"events:PutEvents":         "AccessDeniedException",
		"xray:PutTraceSegments":    "AccessDeniedException",
		"s3express:CreateSession":  "AccessDeniedException",
		"malformed":                "AccessDeniedException",
	}
	for action, want := range tests {
		if got := CodeFor(action); got != want {
			t.Errorf("CodeFor(%q) = %q, want %q", action, got, want)
		}
	}
}
