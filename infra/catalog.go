package main

import (
	"encoding/json"
	"strings"

	"github.com/aws/aws-cdk-go/awscdk/v2/awsathena"
	"github.com/aws/aws-cdk-go/awscdk/v2/awsglue"
	"github.com/aws/aws-cdk-go/awscdk/v2/awsiam"
	"github.com/aws/jsii-runtime-go"
)

// WorkGroupName is the Athena workgroup analysts query the lake with.
const WorkGroupName = "snaplake"

// CrawlerConfiguration makes every table folder one table partitioned by its
// snapshot_date=... folders. Table level counts from the bucket (level 1):
// s3://bucket(1)/data(2)/<db>(3)/<table>(4)/snapshot_date=.../. New partitions
// inherit the table's schema, so a day's export never forks the table.
var CrawlerConfiguration = mustJSON(map[string]any{
	"Version":       1.0,
	"Grouping":      map[string]any{"TableLevelConfiguration": 4},
	"CrawlerOutput": map[string]any{"Partitions": map[string]any{"AddOrUpdateBehavior": "InheritFromTable"}},
})

func mustJSON(v any) string {
	b, err := json.Marshal(v)
	if err != nil {
		panic(err)
	}
	return string(b)
}

// addCatalog creates one Glue database and crawler per source database and returns
// the Glue database names.
func (s *snaplake) addCatalog() []string {
	keyArn := s.key.KeyArn()
	sec := awsglue.NewCfnSecurityConfiguration(s.stack, jsii.String("GlueSecurity"), &awsglue.CfnSecurityConfigurationProps{
		Name: jsii.String(s.name + "-snaplake"),
		EncryptionConfiguration: &awsglue.CfnSecurityConfiguration_EncryptionConfigurationProperty{
			CloudWatchEncryption:   &awsglue.CfnSecurityConfiguration_CloudWatchEncryptionProperty{CloudWatchEncryptionMode: jsii.String("SSE-KMS"), KmsKeyArn: keyArn},
			JobBookmarksEncryption: &awsglue.CfnSecurityConfiguration_JobBookmarksEncryptionProperty{JobBookmarksEncryptionMode: jsii.String("CSE-KMS"), KmsKeyArn: keyArn},
			S3Encryptions: []*awsglue.CfnSecurityConfiguration_S3EncryptionProperty{
				{S3EncryptionMode: jsii.String("SSE-KMS"), KmsKeyArn: keyArn},
			},
		},
	})

	role := awsiam.NewRole(s.stack, jsii.String("CrawlerRole"), &awsiam.RoleProps{
		Description: jsii.String("snaplake Glue crawlers: read data/<database>/ and update the catalog"),
		AssumedBy:   awsiam.NewServicePrincipal(jsii.String("glue.amazonaws.com"), nil),
		ManagedPolicies: &[]awsiam.IManagedPolicy{
			awsiam.ManagedPolicy_FromAwsManagedPolicyName(jsii.String("service-role/AWSGlueServiceRole")),
		},
	})
	var dataPrefixes []any
	var objects []string
	for _, db := range s.cfg.Databases {
		dataPrefixes = append(dataPrefixes, DataPrefix+db+"/*")
		objects = append(objects, *s.bucket.ArnForObjects(jsii.String(DataPrefix + db + "/*")))
	}
	role.AddToPolicy(statement([]string{"s3:GetObject"}, objects...))
	role.AddToPolicy(awsiam.NewPolicyStatement(&awsiam.PolicyStatementProps{
		Actions:    jsii.Strings("s3:ListBucket"),
		Resources:  jsii.Strings(*s.bucket.BucketArn()),
		Conditions: &map[string]any{"StringLike": map[string]any{"s3:prefix": dataPrefixes}},
	}))
	role.AddToPolicy(statement([]string{"kms:Decrypt", "kms:Encrypt", "kms:GenerateDataKey"}, *keyArn))
	// The security configuration encrypts the crawler's log group, which Glue names
	// after the role and the configuration; associating the key needs this.
	role.AddToPolicy(statement([]string{"logs:AssociateKmsKey"}, s.arn("logs", "log-group:"+glueCrawlerLogGroupPrefix+"*")))
	s.suppress(role,
		nagRule("AwsSolutions-IAM4", "AWSGlueServiceRole is the AWS-maintained crawler policy (catalog updates, its own /aws-glue/ logs); S3 and KMS access are granted inline for this bucket and key only.").withAppliesTo(
			"Policy::arn:<AWS::Partition>:iam::aws:policy/service-role/AWSGlueServiceRole"),
		wildcards("Crawlers read every file under their own database's data/<database>/ prefix; Glue names the encrypted crawler log group after the role.",
			`regex:/^Resource::<Lake[A-Za-z0-9]+\.Arn>\/data\/.*\/\*$/g`,
			"Resource::arn:<AWS::Partition>:logs:<AWS::Region>:<AWS::AccountId>:log-group:"+glueCrawlerLogGroupPrefix+"*"))

	var names []string
	for _, db := range s.cfg.Databases {
		name := s.cfg.GlueDatabaseName(db)
		names = append(names, name)
		gdb := awsglue.NewCfnDatabase(s.stack, jsii.String("GlueDatabase-"+strings.ToLower(db)), &awsglue.CfnDatabaseProps{
			CatalogId: s.stack.Account(),
			DatabaseInput: &awsglue.CfnDatabase_DatabaseInputProperty{
				Name:        jsii.String(name),
				Description: jsii.String("snaplake: nightly snapshots of MySQL database " + db),
			},
		})
		awsglue.NewCfnCrawler(s.stack, jsii.String("Crawler-"+strings.ToLower(db)), &awsglue.CfnCrawlerProps{
			Name:         jsii.String(CrawlerName(db)),
			Description:  jsii.String("Catalogs data/" + db + "/: one table per folder, partitioned by snapshot_date"),
			Role:         role.RoleArn(),
			DatabaseName: gdb.Ref(),
			Targets: &awsglue.CfnCrawler_TargetsProperty{
				S3Targets: []*awsglue.CfnCrawler_S3TargetProperty{{Path: jsii.String("s3://" + *s.bucket.BucketName() + "/" + DataPrefix + db + "/")}},
			},
			SchemaChangePolicy: &awsglue.CfnCrawler_SchemaChangePolicyProperty{
				UpdateBehavior: jsii.String("UPDATE_IN_DATABASE"),
				DeleteBehavior: jsii.String("DELETE_FROM_DATABASE"),
			},
			// Pruned partitions must leave the catalog too, so every run looks at all.
			RecrawlPolicy:                &awsglue.CfnCrawler_RecrawlPolicyProperty{RecrawlBehavior: jsii.String("CRAWL_EVERYTHING")},
			Configuration:                jsii.String(CrawlerConfiguration),
			CrawlerSecurityConfiguration: sec.Ref(),
			// No schedule: the state machine starts the crawler after relocation.
		})
	}
	return names
}

func (s *snaplake) addAthena() string {
	wg := awsathena.NewCfnWorkGroup(s.stack, jsii.String("WorkGroup"), &awsathena.CfnWorkGroupProps{
		Name:        jsii.String(WorkGroupName),
		Description: jsii.String("snaplake: query the nightly RDS snapshots"),
		State:       jsii.String("ENABLED"),
		WorkGroupConfiguration: &awsathena.CfnWorkGroup_WorkGroupConfigurationProperty{
			EnforceWorkGroupConfiguration:   jsii.Bool(true),
			PublishCloudWatchMetricsEnabled: jsii.Bool(true),
			EngineVersion:                   &awsathena.CfnWorkGroup_EngineVersionProperty{SelectedEngineVersion: jsii.String("Athena engine version 3")},
			ResultConfiguration: &awsathena.CfnWorkGroup_ResultConfigurationProperty{
				OutputLocation: jsii.String("s3://" + *s.bucket.BucketName() + "/" + AthenaResultsPrefix),
				EncryptionConfiguration: &awsathena.CfnWorkGroup_EncryptionConfigurationProperty{
					EncryptionOption: jsii.String("SSE_KMS"),
					KmsKey:           s.key.KeyArn(),
				},
			},
		},
	})
	return *wg.Ref()
}
