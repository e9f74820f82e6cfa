package main

import (
	"github.com/aws/aws-cdk-go/awscdk/v2/awsglue"
	"github.com/aws/jsii-runtime-go"
)

// glueSecurityConfiguration encrypts what a Glue job or crawler writes with the key:
// its CloudWatch logs, its job bookmarks and its S3 output.
func (b *Base) glueSecurityConfiguration(id, name string) awsglue.CfnSecurityConfiguration {
	keyArn := b.key.KeyArn()
	return awsglue.NewCfnSecurityConfiguration(b.stack, jsii.String(id), &awsglue.CfnSecurityConfigurationProps{
		Name: jsii.String(name),
		EncryptionConfiguration: &awsglue.CfnSecurityConfiguration_EncryptionConfigurationProperty{
			CloudWatchEncryption:   &awsglue.CfnSecurityConfiguration_CloudWatchEncryptionProperty{CloudWatchEncryptionMode: jsii.String("SSE-KMS"), KmsKeyArn: keyArn},
			JobBookmarksEncryption: &awsglue.CfnSecurityConfiguration_JobBookmarksEncryptionProperty{JobBookmarksEncryptionMode: jsii.String("CSE-KMS"), KmsKeyArn: keyArn},
			S3Encryptions: []*awsglue.CfnSecurityConfiguration_S3EncryptionProperty{
				{S3EncryptionMode: jsii.String("SSE-KMS"), KmsKeyArn: keyArn},
			},
		},
	})
}

// crawlerCatalogActions are what a crawler does in the databases it owns: read and
// change their tables and partitions (no AWSGlueServiceRole, which grants glue:*).
var crawlerCatalogActions = []string{
	"glue:GetDatabase", "glue:GetTable", "glue:GetTables", "glue:CreateTable", "glue:UpdateTable", "glue:DeleteTable",
	"glue:GetPartition", "glue:GetPartitions", "glue:BatchGetPartition", "glue:CreatePartition", "glue:BatchCreatePartition",
	"glue:UpdatePartition", "glue:BatchUpdatePartition", "glue:DeletePartition", "glue:BatchDeletePartition",
}
