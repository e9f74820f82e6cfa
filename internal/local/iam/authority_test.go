package iam

import (
	"errors"
	"fmt"
	"reflect"
	"strings"
	"sync"
	"testing"

	"github.com/aws/smithy-go"
)

const exporterPolicy = `{"Version":"2012-10-17","Statement":[
	{"Sid":"Read","Effect":"Allow","Action":["s3:GetObject","s3:ListBucket"],"Resource":["arn:aws:s3:::lake","arn:aws:s3:::lake/*"]},
	{"Sid":"Export","Effect":"Allow","Action":"rds:StartExportTask","Resource":"*"},
	{"Sid":"NoDelete","Effect":"Deny","Action":"s3:DeleteObject","Resource":"*"}
]}`

const passRolePolicy = `{"Version":"2012-10-17","Statement":[
	{"Effect":"Allow","Action":"iam:PassRole","Resource":"arn:aws:iam::000000000000:role/ExportRole",
	 "Condition":{"StringEquals":{"iam:PassedToService":"export.rds.amazonaws.com"}}},
	{"Effect":"Allow","Action":"s3:*","Resource":"*","Condition":{"ArnEquals":{"aws:PrincipalArn":"arn:aws:iam::000000000000:role/ExporterRole"}}}
]}`

func newTestAuthority(t *testing.T) *Authority {
	t.Helper()
	a := NewAuthority()
	ps, err := ParsePolicies([]byte(exporterPolicy), []byte(passRolePolicy))
	if err != nil {
		t.Fatal(err)
	}
	if err := a.Add(Principal{Name: "Exporter", RoleName: "ExporterRole", SessionName: "exporter-fn", Account: "000000000000", Policies: ps}); err != nil {
		t.Fatal(err)
	}
	if err := a.Add(Principal{Name: "Nobody", RoleName: "NobodyRole", SessionName: "nobody", Account: "000000000000"}); err != nil {
		t.Fatal(err)
	}
	return a
}

func TestPrincipalARN(t *testing.T) {
	p := Principal{RoleName: "R", SessionName: "S", Account: "000000000000"}
	if got, want := p.ARN(), "arn:aws:sts::000000000000:assumed-role/R/S"; got != want {
		t.Errorf("ARN = %q, want %q", got, want)
	}
	if got, want := p.RoleARN(), "arn:aws:iam::000000000000:role/R"; got != want {
		t.Errorf("RoleARN = %q, want %q", got, want)
	}
}

func TestAuthorityAdd(t *testing.T) {
	a := newTestAuthority(t)
	if err := a.Add(Principal{Name: "Exporter"}); err == nil || !strings.Contains(err.Error(), `"Exporter" is already added`) {
		t.Errorf("duplicate Add: %v", err)
	}
	if err := a.Add(Principal{}); err == nil {
		t.Error("Add without Name succeeded")
	}
	if got, want := a.Principals(), []string{"Exporter", "Nobody"}; !reflect.DeepEqual(got, want) {
		t.Errorf("Principals = %v, want %v", got, want)
	}
	p, ok := a.Principal("Exporter")
	if !ok || p.RoleName != "ExporterRole" || len(p.Policies) != 2 {
		t.Fatalf("Principal(Exporter) = %+v, %v", p, ok)
	}
	p.Policies[0] = Policy{} // the returned copy is the caller's to change
	if a.StatementCount("Exporter") != 5 {
		t.Errorf("changing a returned Principal changed the Authority")
	}
	if _, ok := a.Principal("Ghost"); ok {
		t.Error("Principal(Ghost) found")
	}
	var zero Authority // the zero value works too
	if err := zero.Add(Principal{Name: "x"}); err != nil {
		t.Error(err)
	}
}

func TestAuthorize(t *testing.T) {
	tests := []struct {
		name      string
		principal string
		req       Request
		wantErr   string // "" for allowed; else the exact Error()
	}{
		{"allowed", "Exporter", Request{Action: "s3:GetObject", Resource: "arn:aws:s3:::lake/k"}, ""},
		{"NoResourceType allowed by star", "Exporter", Request{Action: "rds:StartExportTask", Resource: "arn:aws:rds:eu-west-1:000000000000:snapshot:s"}, ""},
		// Allowed only by the statement conditioned on aws:PrincipalArn, which
		// Authorize sets to the role's ARN.
		{"allowed through aws:PrincipalArn", "Exporter", Request{Action: "s3:GetObject", Resource: "arn:aws:s3:::other/k"}, ""},
		{
			"explicit deny", "Exporter", Request{Action: "s3:DeleteObject", Resource: "arn:aws:s3:::lake/k"},
			`AccessDenied: User: arn:aws:sts::000000000000:assumed-role/ExporterRole/exporter-fn is not authorized to perform: s3:DeleteObject on resource: "arn:aws:s3:::lake/k" with an explicit deny in an identity-based policy`,
		},
		{"condition met", "Exporter", Request{Action: "iam:PassRole", Resource: "arn:aws:iam::000000000000:role/ExportRole", Context: map[string][]string{"iam:PassedToService": {"export.rds.amazonaws.com"}}}, ""},
		{
			"condition not met", "Exporter", Request{Action: "iam:PassRole", Resource: "arn:aws:iam::000000000000:role/ExportRole", Context: map[string][]string{"iam:PassedToService": {"glue.amazonaws.com"}}},
			`AccessDenied: User: arn:aws:sts::000000000000:assumed-role/ExporterRole/exporter-fn is not authorized to perform: iam:PassRole on resource: "arn:aws:iam::000000000000:role/ExportRole" because no identity-based policy allows the iam:PassRole action`,
		},
		{
			"caller's aws:PrincipalArn wins", "Exporter", Request{Action: "s3:GetObject", Resource: "arn:aws:s3:::other/k", Context: map[string][]string{"AWS:PRINCIPALARN": {"arn:aws:iam::000000000000:role/Else"}}},
			`AccessDenied: User: arn:aws:sts::000000000000:assumed-role/ExporterRole/exporter-fn is not authorized to perform: s3:GetObject on resource: "arn:aws:s3:::other/k" because no identity-based policy allows the s3:GetObject action`,
		},
		{
			"no policies", "Nobody", Request{Action: "glue:GetTable", Resource: "arn:aws:glue:eu-west-1:000000000000:table/d/t"},
			`AccessDeniedException: User: arn:aws:sts::000000000000:assumed-role/NobodyRole/nobody is not authorized to perform: glue:GetTable on resource: "arn:aws:glue:eu-west-1:000000000000:table/d/t" because no identity-based policy allows the glue:GetTable action`,
		},
		{
			"NoResourceType prints the real resource", "Nobody", Request{Action: "rds:StartExportTask", Resource: "arn:aws:rds:eu-west-1:000000000000:snapshot:s"},
			`AccessDenied: User: arn:aws:sts::000000000000:assumed-role/NobodyRole/nobody is not authorized to perform: rds:StartExportTask on resource: "arn:aws:rds:eu-west-1:000000000000:snapshot:s" because no identity-based policy allows the rds:StartExportTask action`,
		},
		{
			"unknown principal", "Ghost", Request{Action: "s3:GetObject", Resource: "arn:aws:s3:::lake/k"},
			`AccessDenied: User: Ghost is not authorized to perform: s3:GetObject on resource: "arn:aws:s3:::lake/k" because the principal "Ghost" is unknown to the offline IAM authority (no role of that name was added)`,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			a := newTestAuthority(t)
			err := a.Authorize(tt.principal, tt.req)
			if tt.wantErr == "" {
				if err != nil {
					t.Fatalf("Authorize: %v", err)
				}
				return
			}
			if err == nil {
				t.Fatal("Authorize allowed the call")
			}
			if err.Error() != tt.wantErr {
				t.Errorf("error =\n%s\nwant\n%s", err, tt.wantErr)
			}
			var api smithy.APIError
			var ade *AccessDeniedError
			if !errors.As(err, &api) || !errors.As(err, &ade) {
				t.Fatalf("error %T is not a smithy.APIError and *AccessDeniedError", err)
			}
			if api.ErrorCode() != CodeFor(tt.req.Action) {
				t.Errorf("code %q, want %q", api.ErrorCode(), CodeFor(tt.req.Action))
			}
		})
	}
}

func TestAuthorizeRejectsMalformedAction(t *testing.T) {
	a := newTestAuthority(t)
	for _, action := range []string{"", "GetObject", ":GetObject", "s3:"} {
		err := a.Authorize("Exporter", Request{Action: action, Resource: "*"})
		var ade *AccessDeniedError
		if err == nil || errors.As(err, &ade) || !strings.Contains(err.Error(), "service:Operation") {
			t.Errorf("Authorize(%q) = %v, want a malformed-action error", action, err)
		}
	}
	if len(a.Allowed())+len(a.Denied()) != 0 {
		t.Errorf("malformed calls were recorded: %v %v", a.Allowed(), a.Denied())
	}
}

func TestAuthorizeDoesNotModifyTheContext(t *testing.T) {
	a := newTestAuthority(t)
	c := map[string][]string{"iam:PassedToService": {"export.rds.amazonaws.com"}}
	if err := a.Authorize("Exporter", Request{Action: "iam:PassRole", Resource: "arn:aws:iam::000000000000:role/ExportRole", Context: c}); err != nil {
		t.Fatal(err)
	}
	if len(c) != 1 {
		t.Errorf("Authorize added keys to the caller's context: %v", c)
	}
}

func TestAuthorityRecordsGrants(t *testing.T) {
	a := newTestAuthority(t)
	calls := []struct {
		principal, action, resource string
	}{
		{"Exporter", "s3:ListBucket", "arn:aws:s3:::lake"},
		{"Exporter", "s3:GetObject", "arn:aws:s3:::lake/b"},
		{"Exporter", "s3:GetObject", "arn:aws:s3:::lake/a"},
		{"Exporter", "s3:GetObject", "arn:aws:s3:::lake/a"}, // duplicate
		{"Exporter", "rds:StartExportTask", "arn:aws:rds:eu-west-1:000000000000:snapshot:s"},
		{"Exporter", "s3:DeleteObject", "arn:aws:s3:::lake/a"}, // denied
		{"Nobody", "glue:GetTable", "t"},                       // denied
		{"Nobody", "glue:GetTable", "t"},                       // denied, duplicate
		{"Ghost", "s3:GetObject", "arn:aws:s3:::lake/a"},       // unknown: denied
	}
	for _, c := range calls {
		_ = a.Authorize(c.principal, Request{Action: c.action, Resource: c.resource})
	}
	wantAllowed := []Grant{
		{"Exporter", "rds:StartExportTask", "arn:aws:rds:eu-west-1:000000000000:snapshot:s", ""}, // the real ARN, not "*"
		{"Exporter", "s3:GetObject", "arn:aws:s3:::lake/a", ""},
		{"Exporter", "s3:GetObject", "arn:aws:s3:::lake/b", ""},
		{"Exporter", "s3:ListBucket", "arn:aws:s3:::lake", ""},
	}
	if got := a.Allowed(); !reflect.DeepEqual(got, wantAllowed) {
		t.Errorf("Allowed =\n%v\nwant\n%v", got, wantAllowed)
	}
	wantDenied := []Grant{
		{"Exporter", "s3:DeleteObject", "arn:aws:s3:::lake/a", ""},
		{"Ghost", "s3:GetObject", "arn:aws:s3:::lake/a", ""},
		{"Nobody", "glue:GetTable", "t", ""},
	}
	if got := a.Denied(); !reflect.DeepEqual(got, wantDenied) {
		t.Errorf("Denied =\n%v\nwant\n%v", got, wantDenied)
	}
	a.Reset()
	if len(a.Allowed()) != 0 || len(a.Denied()) != 0 {
		t.Errorf("after Reset: %v %v", a.Allowed(), a.Denied())
	}
	if _, ok := a.Principal("Exporter"); !ok {
		t.Error("Reset dropped the principals")
	}
}

func TestAuthorityWithout(t *testing.T) {
	a := newTestAuthority(t)
	if got := a.StatementCount("Exporter"); got != 5 {
		t.Fatalf("StatementCount(Exporter) = %d, want 5 (3 + 2 across two policies)", got)
	}
	if a.StatementCount("Nobody") != 0 || a.StatementCount("Ghost") != 0 {
		t.Errorf("StatementCount of Nobody/Ghost = %d/%d", a.StatementCount("Nobody"), a.StatementCount("Ghost"))
	}
	// One request per statement, each allowed (or, for the Deny, denied) by that
	// statement alone.
	probes := []struct {
		req      Request
		denyStmt bool
	}{
		{Request{Action: "s3:GetObject", Resource: "arn:aws:s3:::lake/k", Context: map[string][]string{"aws:PrincipalArn": {"arn:aws:iam::000000000000:role/X"}}}, false},
		{Request{Action: "rds:StartExportTask", Resource: "arn:aws:rds:eu-west-1:000000000000:snapshot:s"}, false},
		{Request{Action: "s3:DeleteObject", Resource: "arn:aws:s3:::lake/k"}, true},
		{Request{Action: "iam:PassRole", Resource: "arn:aws:iam::000000000000:role/ExportRole", Context: map[string][]string{"iam:PassedToService": {"export.rds.amazonaws.com"}}}, false},
		{Request{Action: "s3:PutObject", Resource: "arn:aws:s3:::elsewhere/k"}, false},
	}
	_ = a.Authorize("Exporter", probes[0].req) // the original's record must not leak into copies
	for i := range a.StatementCount("Exporter") {
		t.Run(fmt.Sprint("statement ", i), func(t *testing.T) {
			c, err := a.Without("Exporter", i)
			if err != nil {
				t.Fatal(err)
			}
			if got := c.StatementCount("Exporter"); got != 4 {
				t.Errorf("copy has %d statements, want 4", got)
			}
			if got := a.StatementCount("Exporter"); got != 5 {
				t.Errorf("original has %d statements after Without, want 5", got)
			}
			if len(c.Allowed()) != 0 || len(c.Denied()) != 0 {
				t.Errorf("copy has a record: %v %v", c.Allowed(), c.Denied())
			}
			for j, p := range probes {
				orig := a.Authorize("Exporter", p.req) == nil
				got := c.Authorize("Exporter", p.req) == nil
				want := orig
				if j == i {
					want = !orig // only the removed statement's probe changes
				}
				if got != want {
					t.Errorf("probe %d (%s): allowed %v without statement %d, want %v", j, p.req.Action, got, i, want)
				}
				if j == i && p.denyStmt != !orig {
					t.Errorf("probe %d: original allowed=%v, but its statement is a Deny=%v", j, orig, p.denyStmt)
				}
			}
			if n := len(c.Principals()); n != 2 {
				t.Errorf("copy has %d principals", n)
			}
			if err := c.Add(Principal{Name: "Extra"}); err != nil {
				t.Fatal(err)
			}
			if _, ok := a.Principal("Extra"); ok {
				t.Error("Add on the copy added to the original")
			}
		})
	}
	s, err := a.StatementJSON("Exporter", 3)
	if err != nil || !strings.Contains(s, `"iam:PassRole"`) {
		t.Errorf("StatementJSON(Exporter, 3) = %s, %v; want the PassRole statement", s, err)
	}
	for _, bad := range []struct {
		p string
		i int
	}{{"Exporter", -1}, {"Exporter", 5}, {"Nobody", 0}, {"Ghost", 0}} {
		if _, err := a.Without(bad.p, bad.i); err == nil {
			t.Errorf("Without(%s, %d) succeeded", bad.p, bad.i)
		}
		if _, err := a.StatementJSON(bad.p, bad.i); err == nil {
			t.Errorf("StatementJSON(%s, %d) succeeded", bad.p, bad.i)
		}
	}
}

// TestAuthorizeConcurrently is meant for go test -race.
func TestAuthorizeConcurrently(t *testing.T) {
	a := newTestAuthority(t)
	var wg sync.WaitGroup
	for g := range 8 {
		wg.Go(func() {
			for i := range 200 {
				key := fmt.Sprintf("arn:aws:s3:::lake/%d", i%50)
				if err := a.Authorize("Exporter", Request{Action: "s3:GetObject", Resource: key}); err != nil {
					t.Errorf("goroutine %d: %v", g, err)
					return
				}
				_ = a.Authorize("Nobody", Request{Action: "s3:GetObject", Resource: key})
				if i%40 == 0 {
					_ = a.Allowed()
					_ = a.Denied()
					_ = a.StatementCount("Exporter")
					if _, err := a.Without("Exporter", 0); err != nil {
						t.Error(err)
					}
				}
			}
		})
	}
	wg.Add(1)
	go func() {
		defer wg.Done()
		for i := range 20 {
			if err := a.Add(Principal{Name: fmt.Sprint("late-", i)}); err != nil {
				t.Error(err)
			}
		}
	}()
	wg.Wait()
	if got := len(a.Allowed()); got != 50 {
		t.Errorf("Allowed has %d grants, want 50", got)
	}
	if got := len(a.Denied()); got != 50 {
		t.Errorf("Denied has %d grants, want 50", got)
	}
}
