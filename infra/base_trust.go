package main

import (
	"fmt"

	"github.com/aws/aws-cdk-go/awscdk/v2/awsiam"
	"github.com/aws/jsii-runtime-go"
)

// sourceAccountOperator is how a service role's trust compares aws:SourceAccount with
// this account, per service principal. StringEquals where the service's own page
// documents the key in the trust of the roles it assumes; StringEqualsIfExists where no
// page does: a service that does not send the key would otherwise fail to assume the
// role on every run ("If the key that you specify in a policy condition is not present
// in the request context, the values do not match and the condition is false", IAM UG,
// condition operators), while IfExists still checks it whenever it is sent. TestServiceRoleTrusts lists the page
// behind each entry; a service missing here is a programming error (serviceRole panics).
var sourceAccountOperator = map[string]string{
	"states.amazonaws.com":              "StringEquals", // Step Functions: "Prevent cross-service confused deputy issue"
	"events.amazonaws.com":              "StringEquals", // EventBridge: confused deputy, rule targets
	"scheduler.amazonaws.com":           "StringEquals", // Scheduler: execution role trust policy
	"export.rds.amazonaws.com":          "StringEquals", // RDS: "Preventing cross-service confused deputy problems"
	"glue.amazonaws.com":                "StringEqualsIfExists",
	"lakeformation.amazonaws.com":       "StringEqualsIfExists",
	"redshift.amazonaws.com":            "StringEqualsIfExists",
	"redshift-serverless.amazonaws.com": "StringEqualsIfExists",
}

// serviceRole creates a role that the services assume on behalf of this account only;
// the first service is the role's principal, the others get statements of their own
// with the same condition form.
func (b *Base) serviceRole(id, description string, services ...string) awsiam.Role {
	trust := func(svc string) *map[string]any {
		op, ok := sourceAccountOperator[svc]
		if !ok {
			panic(fmt.Sprintf("role %s: no aws:SourceAccount trust form decided for service %s", id, svc))
		}
		return &map[string]any{op: map[string]any{"aws:SourceAccount": b.stack.Account()}}
	}
	role := awsiam.NewRole(b.stack, jsii.String(id), &awsiam.RoleProps{
		Description: jsii.String(description),
		AssumedBy:   awsiam.NewServicePrincipal(jsii.String(services[0]), &awsiam.ServicePrincipalOpts{Conditions: trust(services[0])}),
	})
	for _, svc := range services[1:] {
		role.AssumeRolePolicy().AddStatements(awsiam.NewPolicyStatement(&awsiam.PolicyStatementProps{
			Actions:    jsii.Strings("sts:AssumeRole"),
			Principals: &[]awsiam.IPrincipal{awsiam.NewServicePrincipal(jsii.String(svc), nil)},
			Conditions: trust(svc),
		}))
	}
	return role
}
