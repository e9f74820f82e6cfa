package main

import (
	"fmt"
	"regexp"
	"slices"
	"sort"
	"strings"

	"github.com/aws/constructs-go/constructs/v10"
	"github.com/aws/jsii-runtime-go"
	"github.com/cdklabs/cdk-nag-go/cdknag/v2"
)

// suppression is one cdk-nag rule that does not apply to a construct, with why.
// appliesTo narrows it to named findings ("Resource::*", "Action::s3:PutObject*"); an
// entry starting with "regex:" is a JavaScript regular expression literal.
type suppression struct {
	id        string
	reason    string
	appliesTo []string
}

func nagRule(id, reason string) suppression { return suppression{id: id, reason: reason} }

func (r suppression) withAppliesTo(findings ...string) suppression {
	r.appliesTo = append(r.appliesTo, findings...)
	return r
}

// wildcards suppresses AwsSolutions-IAM5 for the listed wildcard findings only.
func wildcards(reason string, findings ...string) suppression {
	return suppression{id: "AwsSolutions-IAM5", reason: reason, appliesTo: findings}
}

// findingARN is how an IAM5 finding spells the start of an ARN built by arn() in
// this account and region. Environment-agnostic, the partition, region and account
// are tokens (<AWS::Partition>, <AWS::Region>, <AWS::AccountId>); with an
// environment (cdk deploy with credentials sets CDK_DEFAULT_ACCOUNT/REGION) they are
// literals. One pattern matches both, so a suppression cannot hold in one form only.
const findingARN = `arn:(<AWS::Partition>|aws[a-z-]*):%s:(<AWS::Region>|[a-z]{2}(-[a-z]+)+-[0-9]+):(<AWS::AccountId>|[0-9]{12}):`

// arnFinding matches the IAM5 finding for an ARN of service in this account and
// region whose resource part matches resourceRE (a JavaScript regular expression,
// slashes escaped).
func arnFinding(service, resourceRE string) string {
	return `regex:/^Resource::` + fmt.Sprintf(findingARN, service) + resourceRE + `$/g`
}

// literalFinding is arnFinding for a resource written out, wildcards included.
func literalFinding(service, resource string) string {
	return arnFinding(service, jsRegexpQuote(resource))
}

// jsRegexpQuote escapes s for a JavaScript regular expression literal.
func jsRegexpQuote(s string) string {
	return strings.ReplaceAll(regexp.QuoteMeta(s), "/", `\/`)
}

// objectsUnder matches the IAM5 finding for the lake bucket's objects under prefix.
func objectsUnder(prefix string) string {
	return `regex:/^Resource::<Lake[A-Za-z0-9]+\.Arn>\/` + jsRegexpQuote(strings.TrimSuffix(prefix, "/")) + `\/\*$/g`
}

// lakeObjectsFinding matches the IAM5 finding for the lake bucket's objects anywhere
// below one of the prefixes.
func lakeObjectsFinding(prefixes ...string) string {
	alts := make([]string, len(prefixes))
	for i, p := range prefixes {
		alts[i] = jsRegexpQuote(strings.TrimSuffix(p, "/"))
	}
	return `regex:/^Resource::<Lake[A-Za-z0-9]+\.Arn>\/(` + strings.Join(alts, "|") + `)\/.*$/g`
}

// findingStarResource is the IAM5 finding of an action granted on "*".
const findingStarResource = "Resource::*"

// workflowLogsAndTracing suppresses what every workflow's role is granted on "*" by the
// CDK for its logging and tracing.
func workflowLogsAndTracing() suppression {
	return wildcards("Log delivery (logs:CreateLogDelivery, GetLogDelivery, UpdateLogDelivery, DeleteLogDelivery, ListLogDeliveries, PutResourcePolicy, DescribeResourcePolicies, DescribeLogGroups) and X-Ray (PutTraceSegments, PutTelemetryRecords, GetSamplingRules, GetSamplingTargets) support only Resource \"*\"; CDK adds them for logging level ALL and tracing.",
		findingStarResource)
}

// invokesQualified is the IAM5 finding of lambda:InvokeFunction on the qualified
// ARNs (ARN:*) of the functions whose construct ids are ids.
func invokesQualified(reason string, ids ...string) suppression {
	return wildcards(reason, `regex:/^Resource::<(`+strings.Join(ids, "|")+`)[A-Za-z0-9]+\.Arn>:\*$/g`)
}

type pendingSuppression struct {
	construct constructs.IConstruct
	rules     []suppression
}

// suppress records suppressions; applySuppressions attaches them once per construct,
// merging those of one rule, because cdk-nag keeps only one entry per rule id.
func (b *Base) suppress(c constructs.IConstruct, rules ...suppression) {
	b.pending = append(b.pending, pendingSuppression{construct: c, rules: rules})
}

func (b *Base) applySuppressions() {
	type merged struct {
		construct constructs.IConstruct
		byID      map[string]*suppression
		order     []string
	}
	byPath := map[string]*merged{}
	var paths []string
	for _, p := range b.pending {
		path := *p.construct.Node().Path()
		m := byPath[path]
		if m == nil {
			m = &merged{construct: p.construct, byID: map[string]*suppression{}}
			byPath[path] = m
			paths = append(paths, path)
		}
		for _, r := range p.rules {
			cur := m.byID[r.id]
			if cur == nil {
				r := r
				m.byID[r.id] = &r
				m.order = append(m.order, r.id)
				continue
			}
			cur.reason += " " + r.reason
			// Each finding once: several statements of one role may be on "*".
			for _, a := range r.appliesTo {
				if !slices.Contains(cur.appliesTo, a) {
					cur.appliesTo = append(cur.appliesTo, a)
				}
			}
		}
	}
	sort.Strings(paths)
	for _, path := range paths {
		m := byPath[path]
		var list []*cdknag.NagPackSuppression
		for _, id := range m.order {
			r := m.byID[id]
			sup := &cdknag.NagPackSuppression{Id: jsii.String(r.id), Reason: jsii.String(r.reason)}
			if len(r.appliesTo) > 0 {
				var applies []any
				for _, a := range r.appliesTo {
					if re, ok := strings.CutPrefix(a, "regex:"); ok {
						applies = append(applies, &cdknag.RegexAppliesTo{Regex: jsii.String(re)})
					} else {
						applies = append(applies, jsii.String(a))
					}
				}
				sup.AppliesTo = &applies
			}
			list = append(list, sup)
		}
		// Children too: a role's findings are reported on its DefaultPolicy.
		cdknag.NagSuppressions_AddResourceSuppressions(m.construct, &list, jsii.Bool(true))
	}
}
