package iam

import (
	"testing"
)

// ctx builds a request context; "k" alone is the usual key of these tests.
type ctx = map[string][]string

// TestConditions evaluates one Allow statement with the given Condition block:
// want true means the condition holds (Allow), false that it does not
// (ImplicitDeny).
func TestConditions(t *testing.T) {
	absent := ctx(nil)
	one := func(v ...string) ctx { return ctx{"k": v} }
	tests := []struct {
		name      string
		condition string
		ctx       ctx
		want      bool
	}{
		// StringEquals / StringNotEquals: case-sensitive values, case-insensitive keys.
		{"StringEquals match", `{"StringEquals":{"k":"v"}}`, one("v"), true},
		{"StringEquals value case", `{"StringEquals":{"k":"v"}}`, one("V"), false},
		{"StringEquals key case", `{"StringEquals":{"K":"v"}}`, ctx{"k": {"v"}}, true},
		{"StringEquals key case in request", `{"StringEquals":{"aws:PrincipalTag/Team":"v"}}`, ctx{"AWS:principaltag/team": {"v"}}, true},
		{"StringEquals no wildcard", `{"StringEquals":{"k":"v*"}}`, one("vv"), false},
		{"StringEquals literal star", `{"StringEquals":{"k":"v*"}}`, one("v*"), true},
		{"StringEquals values OR", `{"StringEquals":{"k":["a","b"]}}`, one("b"), true},
		{"StringEquals values none", `{"StringEquals":{"k":["a","b"]}}`, one("c"), false},
		{"StringEquals absent", `{"StringEquals":{"k":"v"}}`, absent, false},
		{"StringEquals empty list is absent", `{"StringEquals":{"k":"v"}}`, ctx{"k": {}}, false},
		{"StringEquals other key", `{"StringEquals":{"k":"v"}}`, ctx{"j": {"v"}}, false},
		{"StringEquals number value", `{"StringEquals":{"k":10}}`, one("10"), true},
		{"StringNotEquals other", `{"StringNotEquals":{"k":"v"}}`, one("w"), true},
		{"StringNotEquals same", `{"StringNotEquals":{"k":"v"}}`, one("v"), false},
		{"StringNotEquals case differs", `{"StringNotEquals":{"k":"v"}}`, one("V"), true},
		{"StringNotEquals list none", `{"StringNotEquals":{"k":["a","b"]}}`, one("c"), true},
		{"StringNotEquals list one", `{"StringNotEquals":{"k":["a","b"]}}`, one("a"), false},
		{"StringNotEquals absent", `{"StringNotEquals":{"k":"v"}}`, absent, true},

		// IgnoreCase.
		{"StringEqualsIgnoreCase", `{"StringEqualsIgnoreCase":{"k":"Data"}}`, one("dATA"), true},
		{"StringEqualsIgnoreCase differs", `{"StringEqualsIgnoreCase":{"k":"Data"}}`, one("date"), false},
		{"StringEqualsIgnoreCase absent", `{"StringEqualsIgnoreCase":{"k":"Data"}}`, absent, false},
		{"StringNotEqualsIgnoreCase same", `{"StringNotEqualsIgnoreCase":{"k":"Data"}}`, one("DATA"), false},
		{"StringNotEqualsIgnoreCase other", `{"StringNotEqualsIgnoreCase":{"k":"Data"}}`, one("web"), true},
		{"StringNotEqualsIgnoreCase absent", `{"StringNotEqualsIgnoreCase":{"k":"Data"}}`, absent, true},

		// StringLike / StringNotLike.
		{"StringLike star", `{"StringLike":{"s3:prefix":"exports/*"}}`, ctx{"s3:prefix": {"exports/2024/x"}}, true},
		{"StringLike star empty", `{"StringLike":{"s3:prefix":"exports/*"}}`, ctx{"s3:prefix": {"exports/"}}, true},
		{"StringLike question", `{"StringLike":{"k":"a?c"}}`, one("abc"), true},
		{"StringLike question needs one", `{"StringLike":{"k":"a?c"}}`, one("ac"), false},
		{"StringLike case-sensitive", `{"StringLike":{"k":"a*"}}`, one("Abc"), false},
		{"StringLike list", `{"StringLike":{"k":["x*","a*"]}}`, one("abc"), true},
		{"StringLike absent", `{"StringLike":{"k":"*"}}`, absent, false},
		{"StringLike empty value matches star", `{"StringLike":{"k":"*"}}`, one(""), true},
		{"StringNotLike match", `{"StringNotLike":{"k":"a*"}}`, one("abc"), false},
		{"StringNotLike no match", `{"StringNotLike":{"k":"a*"}}`, one("xbc"), true},
		{"StringNotLike absent", `{"StringNotLike":{"k":"a*"}}`, absent, true},

		// Arn operators: wildcards, per-component matching, case-sensitive.
		{"ArnEquals exact", `{"ArnEquals":{"aws:SourceArn":"arn:aws:s3:::b"}}`, ctx{"aws:SourceArn": {"arn:aws:s3:::b"}}, true},
		{"ArnEquals wildcard", `{"ArnEquals":{"aws:SourceArn":"arn:aws:s3:::*"}}`, ctx{"aws:SourceArn": {"arn:aws:s3:::b"}}, true},
		{"ArnLike", `{"ArnLike":{"k":"arn:aws:lambda:*:000000000000:function:f*"}}`, one("arn:aws:lambda:eu-west-1:000000000000:function:fx"), true},
		{"ArnLike other account", `{"ArnLike":{"k":"arn:aws:lambda:*:000000000000:function:*"}}`, one("arn:aws:lambda:eu-west-1:111111111111:function:fx"), false},
		{"ArnLike star stays in its component", `{"ArnLike":{"k":"arn:aws:lambda:*:000000000000:function:f"}}`, one("arn:aws:lambda:eu-west-1:x:000000000000:function:f"), false},
		{"ArnLike short pattern is a whole-string match", `{"ArnLike":{"k":"arn:aws:*:function:f"}}`, one("arn:aws:lambda:eu-west-1:000000000000:function:f"), true},
		{"ArnLike resource keeps colons", `{"ArnLike":{"k":"arn:aws:rds:*:*:snapshot:*"}}`, one("arn:aws:rds:eu-west-1:000000000000:snapshot:rds:db-1"), true},
		{"ArnLike mid-segment star stays in its segment", `{"ArnLike":{"k":"arn:aws:logs:*:*:log-group:f*x"}}`, one("arn:aws:logs:eu-west-1:000000000000:log-group:f:x"), false},
		{"ArnLike segment-final star crosses colons", `{"ArnLike":{"k":"arn:aws:logs:*:*:log-group:f*"}}`, one("arn:aws:logs:eu-west-1:000000000000:log-group:f:log-stream:x"), true},
		{"ArnLike case-sensitive", `{"ArnLike":{"k":"arn:aws:s3:::B"}}`, one("arn:aws:s3:::b"), false},
		{"ArnLike non-ARN value", `{"ArnLike":{"k":"arn:aws:s3:::*"}}`, one("bucket"), false},
		{"ArnLike bare star", `{"ArnLike":{"k":"*"}}`, one("arn:aws:s3:::b"), true},
		{"ArnLike absent", `{"ArnLike":{"k":"*"}}`, absent, false},
		{"ArnNotEquals match", `{"ArnNotEquals":{"k":"arn:aws:s3:::b"}}`, one("arn:aws:s3:::b"), false},
		{"ArnNotEquals other", `{"ArnNotEquals":{"k":"arn:aws:s3:::b"}}`, one("arn:aws:s3:::c"), true},
		{"ArnNotEquals absent", `{"ArnNotEquals":{"k":"arn:aws:s3:::b"}}`, absent, true},
		{"ArnNotLike match", `{"ArnNotLike":{"k":"arn:aws:s3:::*"}}`, one("arn:aws:s3:::b"), false},
		{"ArnNotLike absent", `{"ArnNotLike":{"k":"arn:aws:s3:::*"}}`, absent, true},

		// Bool: JSON booleans or strings, request values in any case.
		{"Bool JSON true", `{"Bool":{"aws:SecureTransport":true}}`, ctx{"aws:SecureTransport": {"true"}}, true},
		{"Bool string true", `{"Bool":{"aws:SecureTransport":"true"}}`, ctx{"aws:SecureTransport": {"true"}}, true},
		{"Bool string TRUE", `{"Bool":{"aws:SecureTransport":"TRUE"}}`, ctx{"aws:SecureTransport": {"True"}}, true},
		{"Bool JSON false vs true", `{"Bool":{"aws:SecureTransport":false}}`, ctx{"aws:SecureTransport": {"true"}}, false},
		{"Bool string false", `{"Bool":{"aws:SecureTransport":"false"}}`, ctx{"aws:SecureTransport": {"false"}}, true},
		{"Bool request not a bool", `{"Bool":{"k":"true"}}`, one("yes"), false},
		{"Bool absent", `{"Bool":{"k":"false"}}`, absent, false},
		{"BoolIfExists absent", `{"BoolIfExists":{"k":"false"}}`, absent, true},
		{"BoolIfExists present", `{"BoolIfExists":{"k":"false"}}`, one("true"), false},

		// Null.
		{"Null true absent", `{"Null":{"k":"true"}}`, absent, true},
		{"Null true present", `{"Null":{"k":"true"}}`, one("v"), false},
		{"Null true empty list", `{"Null":{"k":true}}`, ctx{"k": {}}, true},
		{"Null false present", `{"Null":{"k":"false"}}`, one("v"), true},
		{"Null false absent", `{"Null":{"k":false}}`, absent, false},

		// Numeric.
		{"NumericEquals", `{"NumericEquals":{"s3:max-keys":"10"}}`, ctx{"s3:max-keys": {"10"}}, true},
		{"NumericEquals as float", `{"NumericEquals":{"k":10}}`, one("10.0"), true},
		{"NumericEquals differs", `{"NumericEquals":{"k":10}}`, one("11"), false},
		{"NumericEquals not a number", `{"NumericEquals":{"k":10}}`, one("ten"), false},
		{"NumericEquals absent", `{"NumericEquals":{"k":10}}`, absent, false},
		{"NumericNotEquals", `{"NumericNotEquals":{"k":10}}`, one("11"), true},
		{"NumericNotEquals same", `{"NumericNotEquals":{"k":10}}`, one("10"), false},
		{"NumericNotEquals absent", `{"NumericNotEquals":{"k":10}}`, absent, true},
		{"NumericLessThan below", `{"NumericLessThan":{"k":"10"}}`, one("9"), true},
		{"NumericLessThan equal", `{"NumericLessThan":{"k":"10"}}`, one("10"), false},
		{"NumericLessThan absent", `{"NumericLessThan":{"k":"10"}}`, absent, false},
		{"NumericLessThanEquals equal", `{"NumericLessThanEquals":{"k":"10"}}`, one("10"), true},
		{"NumericLessThanEquals above", `{"NumericLessThanEquals":{"k":"10"}}`, one("10.5"), false},
		{"NumericGreaterThan above", `{"NumericGreaterThan":{"k":"10"}}`, one("11"), true},
		{"NumericGreaterThan equal", `{"NumericGreaterThan":{"k":"10"}}`, one("10"), false},
		{"NumericGreaterThanEquals equal", `{"NumericGreaterThanEquals":{"k":"10"}}`, one("10"), true},
		{"NumericGreaterThanEquals below", `{"NumericGreaterThanEquals":{"k":"10"}}`, one("-3"), false},
		{"NumericLessThan values OR", `{"NumericLessThan":{"k":["1","100"]}}`, one("50"), true},
		{"NumericLessThanIfExists absent", `{"NumericLessThanIfExists":{"k":"10"}}`, absent, true},
		{"NumericLessThanIfExists present", `{"NumericLessThanIfExists":{"k":"10"}}`, one("20"), false},

		// Date.
		{"DateLessThan", `{"DateLessThan":{"aws:CurrentTime":"2030-01-01T00:00:00Z"}}`, ctx{"aws:CurrentTime": {"2026-11-01T12:00:00Z"}}, true},
		{"DateLessThan after", `{"DateLessThan":{"aws:CurrentTime":"2020-01-01T00:00:00Z"}}`, ctx{"aws:CurrentTime": {"2026-11-01T12:00:00Z"}}, false},
		{"DateGreaterThan epoch", `{"DateGreaterThan":{"aws:EpochTime":1600000000}}`, ctx{"aws:EpochTime": {"1700000000"}}, true},
		{"DateEquals across forms", `{"DateEquals":{"k":"2024-01-01T00:00:00Z"}}`, one("1704067200"), true},
		{"DateNotEquals absent", `{"DateNotEquals":{"k":"2024-01-01"}}`, absent, true},
		{"DateLessThanEquals equal", `{"DateLessThanEquals":{"k":"2024-01-01"}}`, one("2024-01-01T00:00:00Z"), true},
		{"DateGreaterThanEquals equal", `{"DateGreaterThanEquals":{"k":"2024-01-01"}}`, one("2024-01-01T00:00:00+00:00"), true},

		// IpAddress, BinaryEquals.
		{"IpAddress in", `{"IpAddress":{"aws:SourceIp":"10.0.0.0/8"}}`, ctx{"aws:SourceIp": {"10.1.2.3"}}, true},
		{"IpAddress out", `{"IpAddress":{"aws:SourceIp":["192.168.0.0/16","10.0.0.1"]}}`, ctx{"aws:SourceIp": {"10.0.0.2"}}, false},
		{"IpAddress single", `{"IpAddress":{"aws:SourceIp":"10.0.0.1"}}`, ctx{"aws:SourceIp": {"10.0.0.1"}}, true},
		{"IpAddress v6", `{"IpAddress":{"aws:SourceIp":"2001:db8::/32"}}`, ctx{"aws:SourceIp": {"2001:db8::1"}}, true},
		{"NotIpAddress out", `{"NotIpAddress":{"aws:SourceIp":"10.0.0.0/8"}}`, ctx{"aws:SourceIp": {"192.168.1.1"}}, true},
		{"NotIpAddress in", `{"NotIpAddress":{"aws:SourceIp":"10.0.0.0/8"}}`, ctx{"aws:SourceIp": {"10.0.0.1"}}, false},
		{"BinaryEquals", `{"BinaryEquals":{"k":"QmluYXJ5"}}`, one("QmluYXJ5"), true},

		// IfExists on every family: absent key holds, present key is compared.
		{"StringEqualsIfExists absent", `{"StringEqualsIfExists":{"k":"v"}}`, absent, true},
		{"StringEqualsIfExists present match", `{"StringEqualsIfExists":{"k":"v"}}`, one("v"), true},
		{"StringEqualsIfExists present other", `{"StringEqualsIfExists":{"k":"v"}}`, one("w"), false},
		{"StringNotEqualsIfExists absent", `{"StringNotEqualsIfExists":{"k":"v"}}`, absent, true},
		{"StringNotEqualsIfExists present same", `{"StringNotEqualsIfExists":{"k":"v"}}`, one("v"), false},
		{"StringLikeIfExists absent", `{"StringLikeIfExists":{"k":"a*"}}`, absent, true},
		{"ArnLikeIfExists absent", `{"ArnLikeIfExists":{"k":"arn:aws:s3:::*"}}`, absent, true},
		{"ArnLikeIfExists present other", `{"ArnLikeIfExists":{"k":"arn:aws:s3:::*"}}`, one("arn:aws:sqs:eu-west-1:0:q"), false},

		// Several keys in one operator AND; several operators AND.
		{"keys AND both", `{"StringEquals":{"a":"1","b":"2"}}`, ctx{"a": {"1"}, "b": {"2"}}, true},
		{"keys AND one", `{"StringEquals":{"a":"1","b":"2"}}`, ctx{"a": {"1"}, "b": {"3"}}, false},
		{"keys AND one absent", `{"StringEquals":{"a":"1","b":"2"}}`, ctx{"a": {"1"}}, false},
		{"operators AND both", `{"StringEquals":{"a":"1"},"Bool":{"b":"true"}}`, ctx{"a": {"1"}, "b": {"true"}}, true},
		{"operators AND one", `{"StringEquals":{"a":"1"},"Bool":{"b":"true"}}`, ctx{"a": {"1"}, "b": {"false"}}, false},
		{"empty operator block", `{}`, absent, true},

		// Multi-valued request key without a set prefix: ForAnyValue for positive
		// operators, the complement for negated ones.
		{"multi StringEquals any", `{"StringEquals":{"k":"b"}}`, one("a", "b"), true},
		{"multi StringEquals none", `{"StringEquals":{"k":"c"}}`, one("a", "b"), false},
		{"multi StringNotEquals one matches", `{"StringNotEquals":{"k":"b"}}`, one("a", "b"), false},
		{"multi StringNotEquals none matches", `{"StringNotEquals":{"k":"c"}}`, one("a", "b"), true},
		{"multi request keys merged across case", `{"StringEquals":{"k":"b"}}`, ctx{"k": {"a"}, "K": {"b"}}, true},

		// ForAnyValue.
		{"ForAnyValue:StringEquals one", `{"ForAnyValue:StringEquals":{"aws:TagKeys":["env","team"]}}`, ctx{"aws:TagKeys": {"team", "cost"}}, true},
		{"ForAnyValue:StringEquals none", `{"ForAnyValue:StringEquals":{"aws:TagKeys":["env","team"]}}`, ctx{"aws:TagKeys": {"cost"}}, false},
		{"ForAnyValue:StringEquals absent", `{"ForAnyValue:StringEquals":{"aws:TagKeys":"env"}}`, absent, false},
		{"ForAnyValue:StringEquals empty set", `{"ForAnyValue:StringEquals":{"aws:TagKeys":"env"}}`, ctx{"aws:TagKeys": {}}, false},
		{"ForAnyValue:StringLike", `{"ForAnyValue:StringLike":{"k":"e*"}}`, one("x", "env"), true},
		{"ForAnyValue:StringNotEquals some differs", `{"ForAnyValue:StringNotEquals":{"k":"a"}}`, one("a", "b"), true},
		{"ForAnyValue:StringNotEquals all same", `{"ForAnyValue:StringNotEquals":{"k":"a"}}`, one("a", "a"), false},
		{"ForAnyValue:StringNotEquals absent", `{"ForAnyValue:StringNotEquals":{"k":"a"}}`, absent, false},
		{"ForAnyValue:StringEqualsIfExists absent", `{"ForAnyValue:StringEqualsIfExists":{"k":"a"}}`, absent, true},
		{"ForAnyValue:NumericGreaterThan", `{"ForAnyValue:NumericGreaterThan":{"k":"5"}}`, one("1", "7"), true},

		// ForAllValues.
		{"ForAllValues:StringEquals all", `{"ForAllValues:StringEquals":{"aws:TagKeys":["env","team"]}}`, ctx{"aws:TagKeys": {"team", "env"}}, true},
		{"ForAllValues:StringEquals one outside", `{"ForAllValues:StringEquals":{"aws:TagKeys":["env","team"]}}`, ctx{"aws:TagKeys": {"team", "cost"}}, false},
		{"ForAllValues:StringEquals absent", `{"ForAllValues:StringEquals":{"aws:TagKeys":"env"}}`, absent, true},
		{"ForAllValues:StringEquals empty set", `{"ForAllValues:StringEquals":{"aws:TagKeys":"env"}}`, ctx{"aws:TagKeys": {}}, true},
		{"ForAllValues:StringLike", `{"ForAllValues:StringLike":{"k":["a*","b*"]}}`, one("ax", "by"), true},
		{"ForAllValues:StringLike one outside", `{"ForAllValues:StringLike":{"k":["a*","b*"]}}`, one("ax", "cy"), false},
		{"ForAllValues:StringNotEquals none listed", `{"ForAllValues:StringNotEquals":{"k":["x","y"]}}`, one("a", "b"), true},
		{"ForAllValues:StringNotEquals one listed", `{"ForAllValues:StringNotEquals":{"k":["x","y"]}}`, one("a", "x"), false},
		{"ForAllValues:StringNotEquals absent", `{"ForAllValues:StringNotEquals":{"k":"x"}}`, absent, true},
		{"ForAllValues:StringEqualsIgnoreCase", `{"ForAllValues:StringEqualsIgnoreCase":{"k":["ENV"]}}`, one("env", "Env"), true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			doc := `{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"s3:GetObject","Resource":"*","Condition":` + tt.condition + `}]}`
			p := mustParse(t, doc)
			want := ImplicitDeny
			if tt.want {
				want = Allow
			}
			if got := p.Evaluate(Request{Action: "s3:GetObject", Resource: "arn:aws:s3:::b/k", Context: tt.ctx}); got != want {
				t.Errorf("Condition %s with context %v = %v, want %v", tt.condition, tt.ctx, got, want)
			}
		})
	}
}

// TestConditionPolicyVariables: String and Arn operators resolve ${...} in their
// values from the request (Version 2012-10-17).
func TestConditionPolicyVariables(t *testing.T) {
	tests := []struct {
		name      string
		condition string
		ctx       ctx
		want      bool
	}{
		{"StringEquals with variable", `{"StringEquals":{"s3:prefix":"${aws:username}"}}`, ctx{"s3:prefix": {"ana"}, "aws:username": {"ana"}}, true},
		{"StringEquals with variable other", `{"StringEquals":{"s3:prefix":"${aws:username}"}}`, ctx{"s3:prefix": {"bob"}, "aws:username": {"ana"}}, false},
		{"StringLike with variable and wildcard", `{"StringLike":{"s3:prefix":"home/${aws:username}/*"}}`, ctx{"s3:prefix": {"home/ana/x"}, "aws:username": {"ana"}}, true},
		{"variable key absent", `{"StringLike":{"s3:prefix":"home/${aws:username}/*"}}`, ctx{"s3:prefix": {"home/ana/x"}}, false},
		{"ArnEquals with variable", `{"ArnEquals":{"aws:SourceArn":"arn:aws:iam::${aws:PrincipalAccount}:role/r"}}`, ctx{"aws:SourceArn": {"arn:aws:iam::000000000000:role/r"}, "aws:PrincipalAccount": {"000000000000"}}, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := mustParse(t, `{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"s3:ListBucket","Resource":"*","Condition":`+tt.condition+`}]}`)
			want := ImplicitDeny
			if tt.want {
				want = Allow
			}
			if got := p.Evaluate(Request{Action: "s3:ListBucket", Resource: "arn:aws:s3:::b", Context: tt.ctx}); got != want {
				t.Errorf("= %v, want %v", got, want)
			}
		})
	}
}

func TestRequestContextIsNotModified(t *testing.T) {
	p := mustParse(t, `{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"s3:GetObject","Resource":"*","Condition":{"StringEquals":{"k":"v"}}}]}`)
	c := ctx{"K": {"v"}, "k": {"w"}}
	if got := p.Evaluate(Request{Action: "s3:GetObject", Resource: "r", Context: c}); got != Allow {
		t.Fatalf("Evaluate = %v, want Allow", got)
	}
	if len(c) != 2 || len(c["K"]) != 1 || len(c["k"]) != 1 || c["k"][0] != "w" {
		t.Errorf("Evaluate modified the request context: %v", c)
	}
}
