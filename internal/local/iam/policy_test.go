package iam

import (
	"strings"
	"testing"
)

func mustParse(t testing.TB, doc string) Policy {
	t.Helper()
	p, err := ParsePolicy([]byte(doc))
	if err != nil {
		t.Fatalf("ParsePolicy(%s): %v", doc, err)
	}
	return p
}

func TestParsePolicyAcceptsTheForms(t *testing.T) {
	tests := []struct {
		name       string
		doc        string
		statements int
		version    string
	}{
		{"statement object, strings", `{"Version":"2012-10-17","Statement":{"Effect":"Allow","Action":"s3:GetObject","Resource":"*"}}`, 1, Version2012},
		{"statement list, lists", `{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":["s3:GetObject","s3:PutObject"],"Resource":["arn:aws:s3:::b/*","arn:aws:s3:::b"]},{"Effect":"Deny","NotAction":"s3:*","NotResource":"arn:aws:s3:::b"}]}`, 2, Version2012},
		{"no Version reads as 2008", `{"Statement":[{"Effect":"Allow","Action":"*","Resource":"*"}]}`, 1, Version2008},
		{"Id and Sid", `{"Version":"2008-10-17","Id":"x","Statement":[{"Sid":"One","Effect":"Allow","Action":"*","Resource":"*"}]}`, 1, Version2008},
		{"empty statement list", `{"Version":"2012-10-17","Statement":[]}`, 0, Version2012},
		{
			// What a CDK/CloudFormation template holds once Fn::Join and Ref are
			// resolved: plain JSON, numbers and booleans in conditions.
			"CloudFormation resolved form",
			`{
			  "Statement": [
			    {"Action": ["kms:Decrypt", "kms:GenerateDataKey*"], "Effect": "Allow",
			     "Resource": "arn:aws:kms:eu-west-1:000000000000:key/1234",
			     "Condition": {"Bool": {"aws:SecureTransport": true}, "NumericLessThan": {"s3:max-keys": 10}}},
			    {"Action": "iam:PassRole", "Effect": "Allow", "Resource": "arn:aws:iam::000000000000:role/Export",
			     "Condition": {"StringEquals": {"iam:PassedToService": ["export.rds.amazonaws.com"]}}}
			  ],
			  "Version": "2012-10-17"
			}`, 2, Version2012,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := mustParse(t, tt.doc)
			if got := p.StatementCount(); got != tt.statements {
				t.Errorf("StatementCount = %d, want %d", got, tt.statements)
			}
			if got := p.Version(); got != tt.version {
				t.Errorf("Version = %q, want %q", got, tt.version)
			}
		})
	}
}

func TestParsePolicyRejects(t *testing.T) {
	stmt := func(s string) string { return `{"Version":"2012-10-17","Statement":[` + s + `]}` }
	tests := []struct {
		name string
		doc  string
		want []string // substrings of the error
	}{
		{"not JSON", `{`, []string{"not a JSON object"}},
		{"not an object", `[]`, []string{"not a JSON object"}},
		{"null", `null`, []string{"null"}},
		{"no Statement", `{"Version":"2012-10-17"}`, []string{"no Statement"}},
		{"Statement a string", `{"Statement":"x"}`, []string{"Statement must be"}},
		{"unknown top element", `{"Statement":[],"Versoin":"2012-10-17"}`, []string{`unknown element "Versoin"`}},
		{"bad Version", `{"Version":"2020-01-01","Statement":[]}`, []string{`Version "2020-01-01"`}},
		{"unknown Effect", stmt(`{"Sid":"S1","Effect":"Permit","Action":"s3:*","Resource":"*"}`), []string{"statement 0", `Sid "S1"`, `Effect "Permit"`}},
		{"lower-case Effect", stmt(`{"Effect":"allow","Action":"s3:*","Resource":"*"}`), []string{`Effect "allow"`}},
		{"no Effect", stmt(`{"Action":"s3:*","Resource":"*"}`), []string{"no Effect"}},
		{"no Action", stmt(`{"Effect":"Allow","Resource":"*"}`), []string{"neither Action nor NotAction"}},
		{"Action and NotAction", stmt(`{"Effect":"Allow","Action":"s3:*","NotAction":"s3:Get*","Resource":"*"}`), []string{"both Action and NotAction"}},
		{"no Resource", stmt(`{"Effect":"Allow","Action":"s3:*"}`), []string{"neither Resource nor NotResource"}},
		{"Resource and NotResource", stmt(`{"Effect":"Allow","Action":"s3:*","Resource":"*","NotResource":"x"}`), []string{"both Resource and NotResource"}},
		{"empty Action list", stmt(`{"Effect":"Allow","Action":[],"Resource":"*"}`), []string{"Action is empty"}},
		{"Action null", stmt(`{"Effect":"Allow","Action":null,"Resource":"*"}`), []string{"Action must be a string or a list of strings, got null"}},
		{"Action number", stmt(`{"Effect":"Allow","Action":[3],"Resource":"*"}`), []string{"Action must be a string or a list of strings"}},
		{"action without service", stmt(`{"Effect":"Allow","Action":"GetObject","Resource":"*"}`), []string{`action "GetObject" has no service prefix`}},
		{"Principal", stmt(`{"Effect":"Allow","Principal":{"Service":"lambda.amazonaws.com"},"Action":"sts:AssumeRole","Resource":"*"}`), []string{"Principal is not allowed in an identity policy"}},
		{"NotPrincipal", stmt(`{"Effect":"Deny","NotPrincipal":{"AWS":"x"},"Action":"s3:*","Resource":"*"}`), []string{"NotPrincipal is not allowed"}},
		{"unknown statement element", stmt(`{"Effect":"Allow","Action":"s3:*","Resource":"*","Conditions":{}}`), []string{`unknown element "Conditions"`}},
		{"statement not an object", stmt(`"x"`), []string{"statement 0", "must be a JSON object"}},
		{"second statement named by index", stmt(`{"Effect":"Allow","Action":"s3:*","Resource":"*"},{"Sid":"Bad","Effect":"Allow","Action":"s3:*","Resource":"*","Condition":{"StringEqualz":{"k":"v"}}}`), []string{"statement 1", `Sid "Bad"`, `operator "StringEqualz" is not supported`}},
		{"operator case matters", stmt(`{"Effect":"Allow","Action":"s3:*","Resource":"*","Condition":{"stringequals":{"k":"v"}}}`), []string{`"stringequals" is not supported`}},
		{"unknown set prefix", stmt(`{"Effect":"Allow","Action":"s3:*","Resource":"*","Condition":{"ForSomeValues:StringEquals":{"k":"v"}}}`), []string{`"ForSomeValues:StringEquals" is not supported`}},
		{"NullIfExists", stmt(`{"Effect":"Allow","Action":"s3:*","Resource":"*","Condition":{"NullIfExists":{"k":"true"}}}`), []string{`"NullIfExists" is not valid`}},
		{"Condition not an object", stmt(`{"Effect":"Allow","Action":"s3:*","Resource":"*","Condition":[]}`), []string{"Condition must be an object"}},
		{"operator not an object", stmt(`{"Effect":"Allow","Action":"s3:*","Resource":"*","Condition":{"StringEquals":"v"}}`), []string{"StringEquals must map condition keys"}},
		{"condition value object", stmt(`{"Effect":"Allow","Action":"s3:*","Resource":"*","Condition":{"StringEquals":{"k":{"a":1}}}}`), []string{`StringEquals "k"`, "not a string, boolean or number"}},
		{"condition value null", stmt(`{"Effect":"Allow","Action":"s3:*","Resource":"*","Condition":{"StringEquals":{"k":null}}}`), []string{"not a string, boolean or number"}},
		{"condition no values", stmt(`{"Effect":"Allow","Action":"s3:*","Resource":"*","Condition":{"StringEquals":{"k":[]}}}`), []string{"no values"}},
		{"numeric not a number", stmt(`{"Effect":"Allow","Action":"s3:*","Resource":"*","Condition":{"NumericLessThan":{"s3:max-keys":"ten"}}}`), []string{`value "ten" is not a number`}},
		{"bool not a bool", stmt(`{"Effect":"Allow","Action":"s3:*","Resource":"*","Condition":{"Bool":{"aws:SecureTransport":"yes"}}}`), []string{`value "yes" is not true or false`}},
		{"date not a date", stmt(`{"Effect":"Allow","Action":"s3:*","Resource":"*","Condition":{"DateLessThan":{"aws:CurrentTime":"soon"}}}`), []string{`value "soon" is not a date`}},
		{"ip not an ip", stmt(`{"Effect":"Allow","Action":"s3:*","Resource":"*","Condition":{"IpAddress":{"aws:SourceIp":"10.0.0.0/33"}}}`), []string{"not an IP address"}},
		{"unclosed variable", stmt(`{"Effect":"Allow","Action":"s3:*","Resource":"arn:aws:s3:::b/${aws:username"}`), []string{"never closed"}},
		{"default not quoted", stmt(`{"Effect":"Allow","Action":"s3:*","Resource":"arn:aws:s3:::b/${aws:username, anon}"}`), []string{"single quotes"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := ParsePolicy([]byte(tt.doc))
			if err == nil {
				t.Fatalf("ParsePolicy accepted %s", tt.doc)
			}
			for _, w := range tt.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q does not contain %q", err, w)
				}
			}
		})
	}
}

func TestParsePoliciesNamesTheBadDocument(t *testing.T) {
	good := `{"Statement":[{"Effect":"Allow","Action":"*","Resource":"*"}]}`
	ps, err := ParsePolicies([]byte(good), []byte(good))
	if err != nil || len(ps) != 2 {
		t.Fatalf("ParsePolicies = %d policies, %v", len(ps), err)
	}
	_, err = ParsePolicies([]byte(good), []byte(`{"Statement":[{"Effect":"Allow","Resource":"*"}]}`))
	if err == nil || !strings.HasPrefix(err.Error(), "policy 1: ") {
		t.Fatalf("error %v does not name policy 1", err)
	}
}

func TestPolicyWithoutAndStatementJSON(t *testing.T) {
	p := mustParse(t, `{"Version":"2012-10-17","Statement":[
		{"Sid":"A","Effect":"Allow","Action":"s3:GetObject","Resource":"*"},
		{"Sid":"B","Effect":"Allow","Action":"s3:PutObject","Resource":"*"},
		{"Sid":"C","Effect":"Allow","Action":"s3:DeleteObject","Resource":"*"}]}`)
	if got, want := p.StatementJSON(1), `{"Sid":"B","Effect":"Allow","Action":"s3:PutObject","Resource":"*"}`; got != want {
		t.Errorf("StatementJSON(1) = %s, want %s", got, want)
	}
	q, err := p.Without(1)
	if err != nil {
		t.Fatal(err)
	}
	if q.StatementCount() != 2 || p.StatementCount() != 3 {
		t.Fatalf("counts after Without: copy %d (want 2), original %d (want 3)", q.StatementCount(), p.StatementCount())
	}
	if q.StatementJSON(0) != p.StatementJSON(0) || q.StatementJSON(1) != p.StatementJSON(2) {
		t.Errorf("Without(1) kept the wrong statements: %s, %s", q.StatementJSON(0), q.StatementJSON(1))
	}
	put := Request{Action: "s3:PutObject", Resource: "arn:aws:s3:::b/k"}
	if p.Evaluate(put) != Allow || q.Evaluate(put) != ImplicitDeny {
		t.Errorf("PutObject: original %v (want Allow), copy %v (want ImplicitDeny)", p.Evaluate(put), q.Evaluate(put))
	}
	for _, i := range []int{-1, 3} {
		if _, err := p.Without(i); err == nil {
			t.Errorf("Without(%d) succeeded", i)
		}
	}
}
