package main

import (
	"encoding/json"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
)

// nagAction is an IAM action named in a suppression's reason (service:Action, or a
// wildcard such as ec2:Describe*).
var nagAction = regexp.MustCompile(`\b(rds|redshift|redshift-data|redshift-serverless|lakeformation|ec2|glue|s3|kms|states|events|logs|xray|lambda|sns|sqs|secretsmanager|iam|athena|sts):[A-Z][A-Za-z]*\*?`)

// TestNagReasonsNameGrantedActions reads every golden template (each one equal to
// its synthesis, TestTemplatesUnchanged): a cdk-nag suppression on a role, or on its
// policy, names only actions that role is granted, and lists each finding once. A
// reason naming actions the role does not have tells a reviewer something false.
func TestNagReasonsNameGrantedActions(t *testing.T) {
	files, err := filepath.Glob(filepath.Join("testdata", "templates", "*.json"))
	if err != nil || len(files) == 0 {
		t.Fatalf("no golden templates (%v)", err)
	}
	type resource struct {
		Type       string          `json:"Type"`
		Properties json.RawMessage `json:"Properties"`
		Metadata   struct {
			Nag struct {
				Rules []struct {
					ID        string            `json:"id"`
					Reason    string            `json:"reason"`
					AppliesTo []json.RawMessage `json:"applies_to"`
				} `json:"rules_to_suppress"`
			} `json:"cdk_nag"`
		} `json:"Metadata"`
	}
	type statements struct {
		Statement []struct {
			Action any `json:"Action"`
		} `json:"Statement"`
	}
	actionsOf := func(doc statements) []string {
		var out []string
		for _, st := range doc.Statement {
			switch a := st.Action.(type) {
			case string:
				out = append(out, a)
			case []any:
				for _, x := range a {
					out = append(out, x.(string))
				}
			}
		}
		return out
	}
	checked := 0
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		var tmpl struct {
			Resources map[string]resource `json:"Resources"`
		}
		if err := json.Unmarshal(b, &tmpl); err != nil {
			t.Fatal(err)
		}
		// What each role is granted: its inline policies and every policy naming it.
		granted := map[string][]string{}
		policyRoles := map[string][]string{}
		for id, r := range tmpl.Resources {
			switch r.Type {
			case "AWS::IAM::Role":
				var p struct {
					Policies []struct {
						PolicyDocument statements `json:"PolicyDocument"`
					} `json:"Policies"`
				}
				_ = json.Unmarshal(r.Properties, &p)
				for _, pol := range p.Policies {
					granted[id] = append(granted[id], actionsOf(pol.PolicyDocument)...)
				}
			case "AWS::IAM::Policy":
				var p struct {
					PolicyDocument statements `json:"PolicyDocument"`
					Roles          []struct {
						Ref string `json:"Ref"`
					} `json:"Roles"`
				}
				_ = json.Unmarshal(r.Properties, &p)
				for _, role := range p.Roles {
					granted[role.Ref] = append(granted[role.Ref], actionsOf(p.PolicyDocument)...)
					policyRoles[id] = append(policyRoles[id], role.Ref)
				}
			}
		}
		for id, r := range tmpl.Resources {
			var roles []string
			switch r.Type {
			case "AWS::IAM::Role":
				roles = []string{id}
			case "AWS::IAM::Policy":
				roles = policyRoles[id]
			default:
				continue
			}
			for _, rule := range r.Metadata.Nag.Rules {
				checked++
				seen := map[string]bool{}
				for _, a := range rule.AppliesTo {
					if seen[string(a)] {
						t.Errorf("%s: %s's %s suppression lists %s twice", filepath.Base(f), id, rule.ID, a)
					}
					seen[string(a)] = true
				}
				for _, named := range nagAction.FindAllString(rule.Reason, -1) {
					ok := false
					for _, role := range roles {
						for _, g := range granted[role] {
							if g == named || strings.HasSuffix(named, "*") && strings.HasPrefix(g, strings.TrimSuffix(named, "*")) ||
								strings.HasSuffix(g, "*") && strings.HasPrefix(named, strings.TrimSuffix(g, "*")) {
								ok = true
							}
						}
					}
					if !ok {
						t.Errorf("%s: %s's %s suppression names %s, which its role is not granted: %q", filepath.Base(f), id, rule.ID, named, rule.Reason)
					}
				}
			}
		}
	}
	if checked < 50 {
		t.Fatalf("checked only %d suppressions on roles and policies", checked)
	}
}
