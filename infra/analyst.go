package main

import (
	"github.com/aws/aws-cdk-go/awscdk/v2/awsiam"
	"github.com/aws/jsii-runtime-go"

	"github.com/snaplake/snaplake/internal/deploy"
)

// addAnalystPolicy is what an analyst needs to query the lake out of the box: the
// workgroup, read access to these Glue databases, the data/ files and their key, and
// the workgroup's result location (Athena writes results with the caller's
// credentials). Attach it to analysts' roles or groups (the AnalystPolicyArn output).
func (s *snaplake) addAnalystPolicy(workgroup string, glueDatabases []string) awsiam.ManagedPolicy {
	catalog := []string{s.arn("glue", "catalog")}
	for _, name := range glueDatabases {
		catalog = append(catalog, s.arn("glue", "database/"+name), s.arn("glue", "table/"+name+"/*"))
	}
	results := *s.bucket.ArnForObjects(jsii.String(deploy.AthenaResultsPrefix + "*"))
	p := awsiam.NewManagedPolicy(s.stack, jsii.String("AnalystPolicy"), &awsiam.ManagedPolicyProps{
		Description: jsii.String("snaplake " + s.name + ": query the lake with Athena in the " + workgroup + " workgroup"),
		Statements: &[]awsiam.PolicyStatement{
			statement([]string{
				"athena:StartQueryExecution", "athena:GetQueryExecution", "athena:GetQueryResults", "athena:StopQueryExecution",
				"athena:GetWorkGroup", "athena:ListQueryExecutions", "athena:BatchGetQueryExecution",
			}, s.arn("athena", "workgroup/"+workgroup)),
			statement([]string{"glue:GetDatabase", "glue:GetDatabases", "glue:GetTable", "glue:GetTables", "glue:GetPartition", "glue:GetPartitions", "glue:BatchGetPartition"}, catalog...),
			statement([]string{"s3:GetObject"}, *s.bucket.ArnForObjects(jsii.String(deploy.DataPrefix + "*"))),
			statement([]string{"s3:GetObject", "s3:PutObject", "s3:AbortMultipartUpload", "s3:ListMultipartUploadParts"}, results),
			statement([]string{"s3:GetBucketLocation"}, *s.bucket.BucketArn()),
			s.listUnder(deploy.DataPrefix, deploy.AthenaResultsPrefix),
			statement([]string{"kms:Decrypt", "kms:GenerateDataKey"}, *s.key.KeyArn()),
		},
	})
	s.suppress(p, wildcards("Analysts read every table of this stack's Glue databases and every file under data/, and Athena writes their results under athena-results/.",
		objectsUnder(deploy.DataPrefix), objectsUnder(deploy.AthenaResultsPrefix),
		arnFinding("glue", `table\/.*\/\*`)))
	return p
}
