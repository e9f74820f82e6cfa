// Command infra is snaplake's CDK app: it reads the deployment's configuration from the
// CDK context (cdk.json) and synthesizes the export pipeline stack, checked by cdk-nag.
package main

import (
	"fmt"
	"os"

	"github.com/aws/aws-cdk-go/awscdk/v2"
	"github.com/aws/jsii-runtime-go"
	"github.com/cdklabs/cdk-nag-go/cdknag/v2"

	"github.com/snaplake/snaplake/internal/deploy"
)

// FeatureFlags are the CDK feature flags the stack relies on; the app sets them unless
// the context already does, so cdk.json need not repeat them and tests get the same.
var FeatureFlags = map[string]any{
	// Server access logs are delivered through a bucket policy, since the log bucket
	// enforces bucket-owner object ownership (ACLs disabled).
	"@aws-cdk/aws-s3:serverAccessLogsUseBucketPolicy": true,
}

// NewApp creates the app with the feature flags set and context on top.
func NewApp(context map[string]any) awscdk.App {
	ctx := map[string]any{}
	for k, v := range FeatureFlags {
		ctx[k] = v
	}
	for k, v := range context {
		ctx[k] = v
	}
	return awscdk.NewApp(&awscdk.AppProps{Context: &ctx})
}

// AddNagChecks runs cdk-nag's AWS Solutions rules on everything in the app.
func AddNagChecks(app awscdk.App) {
	awscdk.Aspects_Of(app).Add(cdknag.NewAwsSolutionsChecks(&cdknag.NagPackProps{Verbose: jsii.Bool(true)}), nil)
}

// StackEnvironment pins the stack to the account and region the CDK CLI found
// credentials for (it sets CDK_DEFAULT_ACCOUNT and CDK_DEFAULT_REGION, as `cdk deploy`
// does); without them the template is environment-agnostic (account and region
// resolve at deploy time). The stack must synthesize cleanly both ways.
func StackEnvironment(getenv func(string) string) *awscdk.Environment {
	account, region := getenv("CDK_DEFAULT_ACCOUNT"), getenv("CDK_DEFAULT_REGION")
	if account == "" || region == "" {
		return nil
	}
	return &awscdk.Environment{Account: jsii.String(account), Region: jsii.String(region)}
}

func main() {
	code := run()
	jsii.Close()
	os.Exit(code)
}

func run() int {
	// Context from cdk.json and -c reaches the app through CDK_CONTEXT_JSON, which
	// NewApp reads; AppProps.Context only supplies what those leave unset.
	app := NewApp(nil)
	cfg, err := ParseConfig(func(key string) any { return app.Node().TryGetContext(jsii.String(key)) })
	if err != nil {
		fmt.Fprintf(os.Stderr, "snaplake infra: invalid configuration (cdk.json context):\n%v\n", err)
		return 1
	}
	if err := cfg.CheckLambdaAssets(); err != nil {
		fmt.Fprintf(os.Stderr, "snaplake infra: Lambda code missing (run the Makefile's lambda build first):\n%v\n", err)
		return 1
	}
	NewSnaplakeStack(app, deploy.StackName, &SnaplakeStackProps{
		StackProps: awscdk.StackProps{
			Env:         StackEnvironment(os.Getenv),
			Description: jsii.String("snaplake: nightly RDS MySQL snapshots exported to S3 as Parquet, catalogued by Glue, queried with Athena"),
		},
		Config: cfg,
	})
	AddNagChecks(app)
	app.Synth(nil)
	return 0
}
