package main

import (
	"fmt"
	"strings"

	"github.com/aws/aws-cdk-go/awscdk/v2/awsiam"
	"github.com/aws/jsii-runtime-go"
)

// arn is the ARN of a resource of service in this stack's account and region.
func (b *Base) arn(service, resource string) string {
	return fmt.Sprintf("arn:%s:%s:%s:%s:%s", *b.stack.Partition(), service, *b.stack.Region(), *b.stack.Account(), resource)
}

// statement allows actions on resources.
func statement(actions []string, resources ...string) awsiam.PolicyStatement {
	return awsiam.NewPolicyStatement(&awsiam.PolicyStatementProps{
		Actions:   jsii.Strings(actions...),
		Resources: jsii.Strings(resources...),
	})
}

// objects is the ARN of the lake bucket's objects matching pattern.
func (b *Base) objects(pattern string) string {
	return *b.bucket.ArnForObjects(jsii.String(pattern))
}

// listMatching allows ListBucket on the lake bucket for the s3:prefix patterns only.
func (b *Base) listMatching(patterns ...string) awsiam.PolicyStatement {
	return awsiam.NewPolicyStatement(&awsiam.PolicyStatementProps{
		Actions:    jsii.Strings("s3:ListBucket"),
		Resources:  jsii.Strings(*b.bucket.BucketArn()),
		Conditions: &map[string]any{"StringLike": map[string]any{"s3:prefix": patterns}},
	})
}

// listUnder is listMatching for every key under the prefixes.
func (b *Base) listUnder(prefixes ...string) awsiam.PolicyStatement {
	var patterns []string
	for _, p := range prefixes {
		patterns = append(patterns, p+"*")
	}
	return b.listMatching(patterns...)
}

// passRole allows passing role to the services only (iam:PassedToService).
func passRole(role awsiam.IRole, services ...string) awsiam.PolicyStatement {
	var to any = services[0]
	if len(services) > 1 {
		to = services
	}
	return awsiam.NewPolicyStatement(&awsiam.PolicyStatementProps{
		Actions:    jsii.Strings("iam:PassRole"),
		Resources:  jsii.Strings(*role.RoleArn()),
		Conditions: &map[string]any{"StringEquals": map[string]any{"iam:PassedToService": to}},
	})
}

// secretRef is a Secrets Manager secret and the customer managed key it is
// encrypted with ("" for Secrets Manager's own key).
type secretRef struct{ arn, keyArn string }

// readSecrets lets a role read the secrets and decrypt those encrypted with a
// customer managed key (decryptSecret).
func readSecrets(add func(awsiam.PolicyStatement), secrets ...secretRef) {
	var arns []string
	for _, s := range secrets {
		arns = append(arns, s.arn)
	}
	if len(arns) > 0 {
		add(statement([]string{"secretsmanager:GetSecretValue"}, arns...))
	}
	for _, s := range secrets {
		if s.keyArn != "" {
			add(decryptSecret(s.arn, s.keyArn))
		}
	}
}

// decryptSecret lets a role decrypt the secret secretArn encrypted with the customer
// managed key keyArn: Secrets Manager calls kms:Decrypt with the caller's
// permissions. The permission holds only through Secrets Manager (in the secret's
// region) and for this secret (Secrets Manager's encryption context names it).
func decryptSecret(secretArn, keyArn string) awsiam.PolicyStatement {
	return awsiam.NewPolicyStatement(&awsiam.PolicyStatementProps{
		Actions:   jsii.Strings("kms:Decrypt"),
		Resources: jsii.Strings(keyArn),
		Conditions: &map[string]any{"StringEquals": map[string]any{
			"kms:ViaService":                  "secretsmanager." + arnRegion(secretArn) + ".amazonaws.com",
			"kms:EncryptionContext:SecretARN": secretArn,
		}},
	})
}

// arnRegion is the region field of an ARN.
func arnRegion(arn string) string {
	if parts := strings.SplitN(arn, ":", 5); len(parts) == 5 {
		return parts[3]
	}
	return ""
}
