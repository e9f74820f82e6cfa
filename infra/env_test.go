package main

import (
	"fmt"
	"maps"
	"regexp"
	"strings"
	"testing"

	"github.com/aws/aws-cdk-go/awscdk/v2/assertions"
	"github.com/aws/jsii-runtime-go"
)

// The environment the CDK CLI sets when it finds credentials (cdk deploy does).
const (
	testAccount = "123456789012"
	testRegion  = "eu-central-1"
)

// envTestContexts are the context sections a deployment may combine: the base stack,
// with the ingestion (in a VPC: its network findings are suppressed too), with the
// Federator, with both, and with retention archiving (without and with the ingestion).
var envTestContexts = map[string]func() map[string]any{
	"base":            func() map[string]any { return map[string]any{} },
	"ingest":          func() map[string]any { return map[string]any{KeyIngest: ingestContext(true)} },
	"ingest-vpcsetup": func() map[string]any { return ingestTestContexts["vpcsetup"]() },
	"federate":        func() map[string]any { return map[string]any{KeyFederate: federateContext()} },
	"federate-cmk":    func() map[string]any { return federateTestContexts["cmk"]() },
	"both": func() map[string]any {
		return map[string]any{KeyIngest: ingestContext(true), KeyFederate: federateContext()}
	},
	// Retention archiving in a VPC, IAM governing its databases (no ingestion)...
	"archive": func() map[string]any { return archiveTestContexts["vpc"]() },
	// ... and governed by Lake Formation with the ingestion, its secret under a
	// customer managed key.
	"archive-governed": func() map[string]any { return archiveTestContexts["governed"]() },
}

// TestNagCleanWithAndWithoutEnvironment synthesizes each combination of sections
// environment-agnostic (no credentials) and pinned to an account and region (what
// `cdk deploy` with credentials does: the CLI sets CDK_DEFAULT_ACCOUNT and
// CDK_DEFAULT_REGION), and requires cdk-nag to find no error in either: the
// suppressions must match the literal account, region and partition as well as
// their tokens.
func TestNagCleanWithAndWithoutEnvironment(t *testing.T) {
	dir := t.TempDir()
	writeDummyAssets(t, dir)
	envs := map[string]map[string]string{
		"agnostic": {},
		"pinned":   {"CDK_DEFAULT_ACCOUNT": testAccount, "CDK_DEFAULT_REGION": testRegion},
	}
	for name, sections := range envTestContexts {
		for envName, vars := range envs {
			t.Run(fmt.Sprintf("%s/%s", name, envName), func(t *testing.T) {
				ctx := map[string]any{
					KeyDBInstanceIDs: []any{"orders-prod"}, KeyDatabases: []any{"Shop"},
					KeyNotificationEmail: "ops@example.com", KeyLambdaAssetDir: dir,
				}
				maps.Copy(ctx, sections())
				cfg, err := ParseConfig(lookupFrom(ctx))
				if err != nil {
					t.Fatalf("ParseConfig: %v", err)
				}
				env := StackEnvironment(func(k string) string { return vars[k] })
				if (env == nil) != (len(vars) == 0) {
					t.Fatalf("StackEnvironment(%v) = %v", vars, env)
				}
				if env != nil && (*env.Account != testAccount || *env.Region != testRegion) {
					t.Fatalf("StackEnvironment(%v) = %s/%s", vars, *env.Account, *env.Region)
				}
				s := synthIn(t, cfg, env)
				if env != nil && *s.stack.Region() != testRegion {
					t.Fatalf("stack region %s, want %s", *s.stack.Region(), testRegion)
				}
				found := assertions.Annotations_FromStack(s.stack).FindError(jsii.String("*"), assertions.Match_StringLikeRegexp(jsii.String("AwsSolutions-.*")))
				for _, msg := range *found {
					t.Errorf("cdk-nag error at %s: %v", *msg.Id, msg.Entry.Data)
				}
			})
		}
	}
}

// TestARNFindingsMatchBothForms checks the suppression patterns against the two ways
// cdk-nag spells one ARN, without a synth: tokens (environment-agnostic) and literals
// (pinned; the partition stays a token, as CDK leaves it).
func TestARNFindingsMatchBothForms(t *testing.T) {
	for _, tc := range []struct {
		pattern string
		match   []string
		not     []string
	}{
		{literalFinding("logs", "log-group:/aws-glue/crawlers-role/*"),
			[]string{
				"Resource::arn:<AWS::Partition>:logs:<AWS::Region>:<AWS::AccountId>:log-group:/aws-glue/crawlers-role/*",
				"Resource::arn:<AWS::Partition>:logs:eu-central-1:123456789012:log-group:/aws-glue/crawlers-role/*",
				"Resource::arn:aws-us-gov:logs:us-gov-west-1:123456789012:log-group:/aws-glue/crawlers-role/*",
			},
			[]string{
				"Resource::arn:<AWS::Partition>:logs:eu-central-1:123456789012:log-group:/aws-glue/crawlers-roleX*",
				"Resource::arn:<AWS::Partition>:logs:eu-central-1:*:log-group:/aws-glue/crawlers-role/*",
				"Resource::arn:<AWS::Partition>:logs:*:123456789012:log-group:/aws-glue/crawlers-role/*",
				"Resource::arn:<AWS::Partition>:s3:eu-central-1:123456789012:log-group:/aws-glue/crawlers-role/*",
			}},
		{arnFinding("glue", `table\/raw_[a-z0-9_]+\/\*`),
			[]string{
				"Resource::arn:<AWS::Partition>:glue:<AWS::Region>:<AWS::AccountId>:table/raw_warehouse/*",
				"Resource::arn:<AWS::Partition>:glue:eu-central-1:123456789012:table/raw_warehouse/*",
			},
			[]string{"Resource::arn:<AWS::Partition>:glue:eu-central-1:123456789012:table/*/*"}},
		{objectsUnder("data/"),
			[]string{"Resource::<LakeF2E4E43A.Arn>/data/*"},
			[]string{"Resource::<LakeF2E4E43A.Arn>/data2/*", "Resource::<LakeF2E4E43A.Arn>/*"}},
	} {
		body := strings.TrimSuffix(strings.TrimPrefix(tc.pattern, "regex:/"), "/g")
		re, err := regexp.Compile(body)
		if err != nil {
			t.Fatalf("%s: %v", tc.pattern, err)
		}
		for _, s := range tc.match {
			if !re.MatchString(s) {
				t.Errorf("%s does not match %s", tc.pattern, s)
			}
		}
		for _, s := range tc.not {
			if re.MatchString(s) {
				t.Errorf("%s matches %s", tc.pattern, s)
			}
		}
	}
}
