package main

import (
	"reflect"
	"testing"
)

// trustForms is which aws:SourceAccount operator each service's trust uses, and the page
// that decides it: StringEquals only where the service's own page documents the key in
// the trust of the roles it assumes; StringEqualsIfExists where no page was found (the
// key is then checked when sent and cannot fail every run when it is not).
var trustForms = map[string]struct{ operator, doc string }{
	// "Prevent cross-service confused deputy issue", in the page on the state machine role.
	"states.amazonaws.com": {"StringEquals", "https://docs.aws.amazon.com/step-functions/latest/dg/procedure-create-iam-role.html"},
	// "For EventBridge event bus rule targets, the value of aws:SourceArn must be the rule ARN."
	"events.amazonaws.com": {"StringEquals", "https://docs.aws.amazon.com/eventbridge/latest/userguide/cross-service-confused-deputy-prevention.html"},
	// "...use the aws:SourceArn and aws:SourceAccount global condition context keys in your
	// schedule's execution role trust policy to prevent the confused deputy problem."
	"scheduler.amazonaws.com": {"StringEquals", "https://docs.aws.amazon.com/scheduler/latest/UserGuide/cross-service-confused-deputy-prevention.html"},
	// "To limit the permissions that Amazon RDS gives another service for a specific
	// resource, we recommend using the aws:SourceArn and aws:SourceAccount global condition
	// context keys in resource policies."
	"export.rds.amazonaws.com": {"StringEquals", "https://docs.aws.amazon.com/AmazonRDS/latest/UserGuide/cross-service-confused-deputy-prevention.html"},
	// No Glue page on the keys in a crawler's or job's role trust (its role setup pages
	// show a trust without conditions).
	"glue.amazonaws.com": {"StringEqualsIfExists", "https://docs.aws.amazon.com/IAM/latest/UserGuide/reference_policies_elements_condition_operators.html#Conditions_IfExists"},
	// No Lake Formation page on the keys in a registered location's role trust.
	"lakeformation.amazonaws.com": {"StringEqualsIfExists", "https://docs.aws.amazon.com/IAM/latest/UserGuide/reference_policies_elements_condition_operators.html#Conditions_IfExists"},
	// No Redshift page on the keys for the role UNLOAD and COPY name (h-infra's decision).
	"redshift.amazonaws.com":            {"StringEqualsIfExists", "https://docs.aws.amazon.com/IAM/latest/UserGuide/reference_policies_elements_condition_operators.html#Conditions_IfExists"},
	"redshift-serverless.amazonaws.com": {"StringEqualsIfExists", "https://docs.aws.amazon.com/IAM/latest/UserGuide/reference_policies_elements_condition_operators.html#Conditions_IfExists"},
}

// TestServiceRoleTrusts checks every role a service assumes (Lambda's function roles
// aside) in the stacks with ingestion and with the Federator: one statement per service,
// conditioned on aws:SourceAccount with the operator trustForms gives it.
func TestServiceRoleTrusts(t *testing.T) {
	seen := map[string]bool{}
	for _, s := range []*synthesized{ingestStackFor(t, "vpc"), federateStackFor(t, "federate")} {
		for id, r := range s.resources("AWS::IAM::Role") {
			doc, _ := props(r)["AssumeRolePolicyDocument"].(map[string]any)
			for _, st := range asList(doc["Statement"]) {
				st := st.(map[string]any)
				principal, _ := st["Principal"].(map[string]any)
				svc, ok := principal["Service"].(string)
				if !ok {
					t.Errorf("%s: trust statement %v names no single service", id, st)
					continue
				}
				if svc == "lambda.amazonaws.com" {
					continue
				}
				form, ok := trustForms[svc]
				if !ok {
					t.Errorf("%s: trusts %s, which trustForms does not list", id, svc)
					continue
				}
				seen[svc] = true
				want := map[string]any{form.operator: map[string]any{"aws:SourceAccount": map[string]any{"Ref": "AWS::AccountId"}}}
				if !reflect.DeepEqual(st["Condition"], want) {
					t.Errorf("%s: trust of %s has condition %v, want %v (%s)", id, svc, st["Condition"], want, form.doc)
				}
			}
		}
	}
	for svc := range trustForms {
		if !seen[svc] {
			t.Errorf("trustForms lists %s, which no role of the test stacks trusts", svc)
		}
	}
	// The code's table and this one say the same.
	for svc, form := range trustForms {
		if sourceAccountOperator[svc] != form.operator {
			t.Errorf("sourceAccountOperator[%s] = %q, want %q", svc, sourceAccountOperator[svc], form.operator)
		}
	}
}
