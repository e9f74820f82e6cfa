package iam

import (
	"encoding/json"
	"fmt"
	"testing"
)

// edgeRequest is one request of an edge case.
type edgeRequest struct {
	action, resource string
	ctx              map[string][]string
}

// edgeCase is a hand-written policy and the requests that probe it. The
// decisions are not written here: the simulator is the other opinion.
type edgeCase struct {
	name       string
	statements []string // JSON statements of one 2012-10-17 policy
	requests   []edgeRequest
}

func req(action, resource string, kv ...string) edgeRequest {
	r := edgeRequest{action: action, resource: resource}
	if len(kv) > 0 {
		r.ctx = map[string][]string{}
		for i := 0; i+1 < len(kv); i += 2 {
			r.ctx[kv[i]] = append(r.ctx[kv[i]], kv[i+1])
		}
	}
	return r
}

const (
	edgeBucket   = "arn:aws:s3:::edge-bucket"
	edgeTable    = "arn:aws:dynamodb:us-east-1:000000000003:table/x"
	edgeSnapshot = "arn:aws:rds:us-east-1:000000000000:snapshot:rds:db-2026-01-01-03-00"
	edgeGlue     = "arn:aws:glue:us-east-1:000000000000:table/raw_db/orders"
)

var edgeCases = []edgeCase{
	// Wildcards inside and at the end of ARN segments.
	{"mid-segment star in a short ARN", []string{`{"Effect":"Allow","Action":"dynamodb:GetItem","Resource":"arn:aws:dynamodb:us*3:table/x"}`},
		[]edgeRequest{req("dynamodb:GetItem", edgeTable), req("dynamodb:GetItem", "arn:aws:dynamodb:us-east-3:000000000000:table/x")}},
	{"mid-segment star in the region", []string{`{"Effect":"Allow","Action":"dynamodb:GetItem","Resource":"arn:aws:dynamodb:us*3:000000000003:table/x"}`},
		[]edgeRequest{req("dynamodb:GetItem", edgeTable), req("dynamodb:GetItem", "arn:aws:dynamodb:us-east-3:000000000003:table/x")}},
	{"segment-final star in the region", []string{`{"Effect":"Allow","Action":"dynamodb:GetItem","Resource":"arn:aws:dynamodb:us-*:000000000003:table/*"}`},
		[]edgeRequest{req("dynamodb:GetItem", edgeTable), req("dynamodb:GetItem", "arn:aws:dynamodb:eu-west-1:000000000003:table/x")}},
	{"deny with a mid-segment star", []string{`{"Effect":"Allow","Action":"dynamodb:*","Resource":"*"}`, `{"Effect":"Deny","Action":"dynamodb:GetItem","Resource":"arn:aws:dynamodb:us*3:table/x"}`},
		[]edgeRequest{req("dynamodb:GetItem", edgeTable)}},
	{"mid-segment star in the resource part", []string{`{"Effect":"Allow","Action":"logs:PutLogEvents","Resource":"arn:aws:logs:us-east-1:000000000000:log-group:g*s"}`},
		[]edgeRequest{req("logs:PutLogEvents", "arn:aws:logs:us-east-1:000000000000:log-group:g:log-stream:s"), req("logs:PutLogEvents", "arn:aws:logs:us-east-1:000000000000:log-group:g-s:log-stream:x")}},
	{"segment-final star in the resource part", []string{`{"Effect":"Allow","Action":"logs:PutLogEvents","Resource":"arn:aws:logs:us-east-1:000000000000:log-group:g*"}`},
		[]edgeRequest{req("logs:PutLogEvents", "arn:aws:logs:us-east-1:000000000000:log-group:g:log-stream:s")}},
	{"bucket prefix star", []string{`{"Effect":"Allow","Action":"s3:GetObject","Resource":"arn:aws:s3:::edge*"}`},
		[]edgeRequest{req("s3:GetObject", edgeBucket+"/k"), req("s3:GetObject", "arn:aws:s3:::other/k")}},
	{"question mark", []string{`{"Effect":"Allow","Action":"s3:GetObject","Resource":"arn:aws:s3:::edge-bucket/?"}`},
		[]edgeRequest{req("s3:GetObject", edgeBucket+"/k"), req("s3:GetObject", edgeBucket+"/kk"), req("s3:GetObject", edgeBucket+"/ab")}},
	{"star crosses slashes", []string{`{"Effect":"Allow","Action":"s3:GetObject","Resource":"arn:aws:s3:::edge-bucket/a/*/z"}`},
		[]edgeRequest{req("s3:GetObject", edgeBucket+"/a/1/2/z"), req("s3:GetObject", edgeBucket+"/a/z")}},

	// Case: actions are case-insensitive, ARNs' resource parts are not.
	{"resource case", []string{`{"Effect":"Allow","Action":"S3:GETOBJECT","Resource":"arn:aws:s3:::edge-bucket/Key"}`},
		[]edgeRequest{req("s3:GetObject", edgeBucket+"/Key"), req("s3:GetObject", edgeBucket+"/key")}},
	{"action wildcard", []string{`{"Effect":"Allow","Action":"s3:Get*Tagging","Resource":"*"}`},
		[]edgeRequest{req("s3:GetObjectTagging", edgeBucket+"/k"), req("s3:GetObject", edgeBucket+"/k")}},

	// NotAction, NotResource, Deny over Allow.
	{"NotAction allow", []string{`{"Effect":"Allow","NotAction":["iam:*","kms:*"],"Resource":"*"}`},
		[]edgeRequest{req("s3:GetObject", edgeBucket+"/k"), req("kms:Decrypt", "arn:aws:kms:us-east-1:000000000000:key/k"), req("iam:PassRole", "arn:aws:iam::000000000000:role/r")}},
	{"NotResource allow", []string{`{"Effect":"Allow","Action":"s3:GetObject","NotResource":["arn:aws:s3:::edge-bucket/secret/*"]}`},
		[]edgeRequest{req("s3:GetObject", edgeBucket+"/secret/k"), req("s3:GetObject", edgeBucket+"/open/k")}},
	{"NotResource deny", []string{`{"Effect":"Allow","Action":"s3:*","Resource":"*"}`, `{"Effect":"Deny","Action":"s3:*","NotResource":["arn:aws:s3:::edge-bucket","arn:aws:s3:::edge-bucket/*"]}`},
		[]edgeRequest{req("s3:GetObject", edgeBucket+"/k"), req("s3:GetObject", "arn:aws:s3:::other/k"), req("s3:ListBucket", edgeBucket)}},
	{"deny overrides allow", []string{`{"Effect":"Allow","Action":"s3:*","Resource":"arn:aws:s3:::edge-bucket/*"}`, `{"Effect":"Deny","Action":"s3:DeleteObject","Resource":"arn:aws:s3:::edge-bucket/locked/*"}`},
		[]edgeRequest{req("s3:DeleteObject", edgeBucket+"/locked/k"), req("s3:DeleteObject", edgeBucket+"/open/k"), req("s3:PutObject", edgeBucket+"/locked/k")}},
	{"deny with NotAction", []string{`{"Effect":"Allow","Action":"*","Resource":"*"}`, `{"Effect":"Deny","NotAction":"s3:Get*","Resource":"*"}`},
		[]edgeRequest{req("s3:GetObject", edgeBucket+"/k"), req("s3:PutObject", edgeBucket+"/k")}},

	// Actions without resource types, and actions whose resource types are optional.
	{"wildcard-only action, scoped allow", []string{`{"Effect":"Allow","Action":"lakeformation:GetDataAccess","Resource":"` + edgeGlue + `"}`},
		[]edgeRequest{req("lakeformation:GetDataAccess", "*")}},
	{"wildcard-only action, star allow and scoped deny", []string{`{"Effect":"Allow","Action":"lakeformation:*","Resource":"*"}`, `{"Effect":"Deny","Action":"lakeformation:GetDataAccess","Resource":"` + edgeGlue + `"}`},
		[]edgeRequest{req("lakeformation:GetDataAccess", "*"), req("lakeformation:BatchGrantPermissions", "*")}},
	{"optional resource types, scoped allow", []string{`{"Effect":"Allow","Action":["rds:StartExportTask","rds:DescribeExportTasks"],"Resource":"arn:aws:rds:*:*:snapshot:*"}`},
		[]edgeRequest{req("rds:StartExportTask", edgeSnapshot), req("rds:DescribeExportTasks", edgeSnapshot), req("rds:DescribeExportTasks", "*")}},
	{"optional resource types, scoped deny", []string{`{"Effect":"Allow","Action":"rds:*","Resource":"*"}`, `{"Effect":"Deny","Action":"rds:StartExportTask","Resource":"arn:aws:rds:*:*:snapshot:rds:db-*"}`},
		[]edgeRequest{req("rds:StartExportTask", edgeSnapshot), req("rds:StartExportTask", "arn:aws:rds:us-east-1:000000000000:snapshot:other"), req("rds:DescribeExportTasks", "*")}},

	// Condition operators.
	{"StringEquals on a principal tag", []string{`{"Effect":"Allow","Action":"s3:GetObject","Resource":"*","Condition":{"StringEquals":{"aws:PrincipalTag/team":"data"}}}`},
		[]edgeRequest{req("s3:GetObject", edgeBucket+"/k", "aws:PrincipalTag/team", "data"), req("s3:GetObject", edgeBucket+"/k", "aws:PrincipalTag/team", "Data"), req("s3:GetObject", edgeBucket+"/k")}},
	{"StringNotEquals with the key absent", []string{`{"Effect":"Allow","Action":"s3:GetObject","Resource":"*","Condition":{"StringNotEquals":{"aws:PrincipalTag/team":"ops"}}}`},
		[]edgeRequest{req("s3:GetObject", edgeBucket+"/k"), req("s3:GetObject", edgeBucket+"/k", "aws:PrincipalTag/team", "ops"), req("s3:GetObject", edgeBucket+"/k", "aws:PrincipalTag/team", "data")}},
	{"StringEqualsIgnoreCase", []string{`{"Effect":"Allow","Action":"s3:GetObject","Resource":"*","Condition":{"StringEqualsIgnoreCase":{"aws:PrincipalTag/team":"DATA"}}}`},
		[]edgeRequest{req("s3:GetObject", edgeBucket+"/k", "aws:PrincipalTag/team", "data"), req("s3:GetObject", edgeBucket+"/k", "aws:PrincipalTag/team", "ops")}},
	{"StringEqualsIfExists", []string{`{"Effect":"Allow","Action":"s3:GetObject","Resource":"*","Condition":{"StringEqualsIfExists":{"aws:PrincipalTag/team":"data"}}}`},
		[]edgeRequest{req("s3:GetObject", edgeBucket+"/k"), req("s3:GetObject", edgeBucket+"/k", "aws:PrincipalTag/team", "ops"), req("s3:GetObject", edgeBucket+"/k", "aws:PrincipalTag/team", "data")}},
	{"StringLike and StringNotLike on s3:prefix", []string{`{"Effect":"Allow","Action":"s3:ListBucket","Resource":"` + edgeBucket + `","Condition":{"StringLike":{"s3:prefix":["state/*","config/snaplake.yaml"]},"StringNotLike":{"s3:prefix":"state/secret*"}}}`},
		[]edgeRequest{req("s3:ListBucket", edgeBucket, "s3:prefix", "state/a/b"), req("s3:ListBucket", edgeBucket, "s3:prefix", "state/secret/x"), req("s3:ListBucket", edgeBucket, "s3:prefix", "config/snaplake.yaml"), req("s3:ListBucket", edgeBucket, "s3:prefix", "other/"), req("s3:ListBucket", edgeBucket)}},
	{"StringLikeIfExists", []string{`{"Effect":"Allow","Action":"s3:ListBucket","Resource":"` + edgeBucket + `","Condition":{"StringLikeIfExists":{"s3:prefix":"state/*"}}}`},
		[]edgeRequest{req("s3:ListBucket", edgeBucket), req("s3:ListBucket", edgeBucket, "s3:prefix", "other/")}},
	{"passed role to a service", []string{`{"Effect":"Allow","Action":"iam:PassRole","Resource":"arn:aws:iam::000000000000:role/edge-*","Condition":{"StringEquals":{"iam:PassedToService":"glue.amazonaws.com"}}}`},
		[]edgeRequest{req("iam:PassRole", "arn:aws:iam::000000000000:role/edge-crawler", "iam:PassedToService", "glue.amazonaws.com"), req("iam:PassRole", "arn:aws:iam::000000000000:role/edge-crawler", "iam:PassedToService", "lambda.amazonaws.com"), req("iam:PassRole", "arn:aws:iam::000000000000:role/edge-crawler")}},
	{"Bool deny without TLS", []string{`{"Effect":"Allow","Action":"s3:GetObject","Resource":"*"}`, `{"Effect":"Deny","Action":"*","Resource":"*","Condition":{"Bool":{"aws:SecureTransport":"false"}}}`},
		[]edgeRequest{req("s3:GetObject", edgeBucket+"/k", "aws:SecureTransport", "false"), req("s3:GetObject", edgeBucket+"/k", "aws:SecureTransport", "true"), req("s3:GetObject", edgeBucket+"/k")}},
	{"BoolIfExists", []string{`{"Effect":"Allow","Action":"kms:CreateGrant","Resource":"*","Condition":{"BoolIfExists":{"kms:GrantIsForAWSResource":"true"}}}`},
		[]edgeRequest{req("kms:CreateGrant", "arn:aws:kms:us-east-1:000000000000:key/k"), req("kms:CreateGrant", "arn:aws:kms:us-east-1:000000000000:key/k", "kms:GrantIsForAWSResource", "false"), req("kms:CreateGrant", "arn:aws:kms:us-east-1:000000000000:key/k", "kms:GrantIsForAWSResource", "true")}},
	{"Numeric", []string{`{"Effect":"Allow","Action":"s3:GetObject","Resource":"*","Condition":{"NumericLessThan":{"aws:MultiFactorAuthAge":"3600"}}}`},
		[]edgeRequest{req("s3:GetObject", edgeBucket+"/k", "aws:MultiFactorAuthAge", "60"), req("s3:GetObject", edgeBucket+"/k", "aws:MultiFactorAuthAge", "7200"), req("s3:GetObject", edgeBucket+"/k")}},
	{"NumericLessThanEqualsIfExists", []string{`{"Effect":"Allow","Action":"s3:GetObject","Resource":"*","Condition":{"NumericLessThanEqualsIfExists":{"aws:MultiFactorAuthAge":"3600"}}}`},
		[]edgeRequest{req("s3:GetObject", edgeBucket+"/k", "aws:MultiFactorAuthAge", "3600"), req("s3:GetObject", edgeBucket+"/k", "aws:MultiFactorAuthAge", "3601"), req("s3:GetObject", edgeBucket+"/k")}},
	{"Date", []string{`{"Effect":"Allow","Action":"s3:GetObject","Resource":"*","Condition":{"DateGreaterThan":{"aws:CurrentTime":"2026-01-01T00:00:00Z"},"DateLessThanEquals":{"aws:CurrentTime":"2026-12-31T23:59:59Z"}}}`},
		[]edgeRequest{req("s3:GetObject", edgeBucket+"/k", "aws:CurrentTime", "2026-06-01T12:00:00Z"), req("s3:GetObject", edgeBucket+"/k", "aws:CurrentTime", "2025-06-01T12:00:00Z"), req("s3:GetObject", edgeBucket+"/k", "aws:CurrentTime", "2027-01-01T00:00:00Z")}},
	{"IpAddress and NotIpAddress", []string{`{"Effect":"Allow","Action":"s3:GetObject","Resource":"*","Condition":{"IpAddress":{"aws:SourceIp":["10.0.0.0/8","2001:db8::/32"]}}}`, `{"Effect":"Deny","Action":"s3:GetObject","Resource":"*","Condition":{"NotIpAddress":{"aws:SourceIp":["10.0.0.0/16","2001:db8::/32"]}}}`},
		[]edgeRequest{req("s3:GetObject", edgeBucket+"/k", "aws:SourceIp", "10.0.1.2"), req("s3:GetObject", edgeBucket+"/k", "aws:SourceIp", "10.1.0.1"), req("s3:GetObject", edgeBucket+"/k", "aws:SourceIp", "192.168.0.1"), req("s3:GetObject", edgeBucket+"/k", "aws:SourceIp", "2001:db8::1"), req("s3:GetObject", edgeBucket+"/k")}},
	{"ArnLike and ArnNotEquals on the principal", []string{`{"Effect":"Allow","Action":"s3:GetObject","Resource":"*","Condition":{"ArnLike":{"aws:PrincipalArn":"arn:aws:iam::000000000000:role/Edge*"}}}`, `{"Effect":"Deny","Action":"s3:GetObject","Resource":"*","Condition":{"ArnNotEquals":{"aws:PrincipalArn":["arn:aws:iam::000000000000:role/EdgeRole","arn:aws:iam::000000000000:role/EdgeOther"]}}}`},
		[]edgeRequest{req("s3:GetObject", edgeBucket+"/k"), req("s3:GetObject", edgeBucket+"/k", "aws:PrincipalArn", "arn:aws:iam::000000000000:role/EdgeOther"), req("s3:GetObject", edgeBucket+"/k", "aws:PrincipalArn", "arn:aws:iam::000000000000:role/EdgeThird"), req("s3:GetObject", edgeBucket+"/k", "aws:PrincipalArn", "arn:aws:iam::000000000000:role/edgerole")}},
	{"Null", []string{`{"Effect":"Allow","Action":"s3:GetObject","Resource":"*","Condition":{"Null":{"aws:PrincipalTag/team":"false"}}}`, `{"Effect":"Deny","Action":"s3:GetObject","Resource":"*","Condition":{"Null":{"aws:PrincipalTag/banned":"false"}}}`},
		[]edgeRequest{req("s3:GetObject", edgeBucket+"/k", "aws:PrincipalTag/team", "data"), req("s3:GetObject", edgeBucket+"/k"), req("s3:GetObject", edgeBucket+"/k", "aws:PrincipalTag/team", "data", "aws:PrincipalTag/banned", "yes")}},
	{"ForAnyValue and ForAllValues", []string{`{"Effect":"Allow","Action":"s3:GetObject","Resource":"*","Condition":{"ForAnyValue:StringEquals":{"aws:CalledVia":["athena.amazonaws.com"]}}}`, `{"Effect":"Allow","Action":"s3:PutObject","Resource":"*","Condition":{"ForAllValues:StringLike":{"aws:CalledVia":["glue.amazonaws.com","athena.*"]}}}`},
		[]edgeRequest{req("s3:GetObject", edgeBucket+"/k", "aws:CalledVia", "athena.amazonaws.com", "aws:CalledVia", "glue.amazonaws.com"), req("s3:GetObject", edgeBucket+"/k", "aws:CalledVia", "glue.amazonaws.com"), req("s3:GetObject", edgeBucket+"/k"),
			req("s3:PutObject", edgeBucket+"/k", "aws:CalledVia", "athena.amazonaws.com", "aws:CalledVia", "glue.amazonaws.com"), req("s3:PutObject", edgeBucket+"/k", "aws:CalledVia", "glue.amazonaws.com", "aws:CalledVia", "lambda.amazonaws.com"), req("s3:PutObject", edgeBucket+"/k")}},
	{"ForAnyValue negated", []string{`{"Effect":"Allow","Action":"s3:GetObject","Resource":"*","Condition":{"ForAnyValue:StringNotEquals":{"aws:CalledVia":"athena.amazonaws.com"}}}`},
		[]edgeRequest{req("s3:GetObject", edgeBucket+"/k", "aws:CalledVia", "athena.amazonaws.com"), req("s3:GetObject", edgeBucket+"/k", "aws:CalledVia", "athena.amazonaws.com", "aws:CalledVia", "glue.amazonaws.com"), req("s3:GetObject", edgeBucket+"/k")}},
	{"ForAllValues IfExists", []string{`{"Effect":"Allow","Action":"s3:GetObject","Resource":"*","Condition":{"ForAllValues:StringEqualsIfExists":{"aws:CalledVia":"athena.amazonaws.com"}}}`},
		[]edgeRequest{req("s3:GetObject", edgeBucket+"/k"), req("s3:GetObject", edgeBucket+"/k", "aws:CalledVia", "glue.amazonaws.com")}},
	{"policy variable in the resource", []string{`{"Effect":"Allow","Action":"s3:GetObject","Resource":"arn:aws:s3:::edge-bucket/home/${aws:PrincipalTag/team}/*"}`},
		[]edgeRequest{req("s3:GetObject", edgeBucket+"/home/data/k", "aws:PrincipalTag/team", "data"), req("s3:GetObject", edgeBucket+"/home/ops/k", "aws:PrincipalTag/team", "data"), req("s3:GetObject", edgeBucket+"/home/data/k")}},
	{"policy variable with a default", []string{`{"Effect":"Allow","Action":"s3:GetObject","Resource":"arn:aws:s3:::edge-bucket/home/${aws:PrincipalTag/team, 'anyone'}/*"}`},
		[]edgeRequest{req("s3:GetObject", edgeBucket+"/home/anyone/k"), req("s3:GetObject", edgeBucket+"/home/data/k", "aws:PrincipalTag/team", "data")}},
	{"policy variable in a condition", []string{`{"Effect":"Allow","Action":"s3:ListBucket","Resource":"` + edgeBucket + `","Condition":{"StringLike":{"s3:prefix":"home/${aws:PrincipalTag/team}/*"}}}`},
		[]edgeRequest{req("s3:ListBucket", edgeBucket, "s3:prefix", "home/data/x", "aws:PrincipalTag/team", "data"), req("s3:ListBucket", edgeBucket, "s3:prefix", "home/ops/x", "aws:PrincipalTag/team", "data")}},
}

// addEdgeCases adds one principal per edge case, named "edge:<name>", and its requests.
func addEdgeCases(t *testing.T, d *differential, account string) {
	for _, ec := range edgeCases {
		doc := `{"Version":"2012-10-17","Statement":[`
		for i, s := range ec.statements {
			if i > 0 {
				doc += ","
			}
			doc += s
		}
		doc += "]}"
		pol, err := ParsePolicy([]byte(doc))
		if err != nil {
			t.Fatalf("edge case %q: %v", ec.name, err)
		}
		name := "edge:" + ec.name
		d.addPrincipal(t, name, Principal{Name: name, RoleName: "EdgeRole", SessionName: "edge", Account: account, Policies: []Policy{pol}}, []json.RawMessage{json.RawMessage(doc)})
		for i, r := range ec.requests {
			d.add(name, r.action, r.resource, r.ctx, fmt.Sprintf("edge case %q request %d", ec.name, i+1), false)
		}
	}
}
