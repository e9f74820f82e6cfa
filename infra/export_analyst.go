package main

import (
	"slices"

	"github.com/aws/aws-cdk-go/awscdk/v2/awsiam"
	"github.com/aws/jsii-runtime-go"

	"github.com/snaplake/snaplake/internal/deploy"
)

// addAnalystPolicy is what an analyst needs to query the lake out of the box: the
// workgroup, read access to these Glue databases, the data/ files and their key, and
// the workgroup's result location (Athena writes results with the caller's
// credentials). Attach it to analysts' roles or groups (the AnalystPolicyArn output).
//
// lakeDatabases are databases whose tables point into a location registered with
// Lake Formation (raw_<db> of the ingestion): a query needs the Glue read in IAM as
// well as the table's Lake Formation grant ("the request must pass permission checks
// by both IAM and Lake Formation"), and lakeformation:GetDataAccess, with which
// Athena obtains credentials for the registered location. No S3 or KMS access to
// that location: Lake Formation vends the registration role's credentials, so only
// the principals it granted read the files.
func (x *Export) addAnalystPolicy(workgroup string, glueDatabases, lakeDatabases []string) awsiam.ManagedPolicy {
	var runtimeFindings []string
	if x.catalogsAtRuntime() {
		// A database the night catalogs at runtime is queryable that night.
		glueDatabases = x.snapshotDatabaseNames()
		runtimeFindings = []string{arnFinding("glue", `database\/.*\*`)}
	}
	catalog := []string{x.arn("glue", "catalog")}
	for _, name := range slices.Concat(glueDatabases, lakeDatabases) {
		catalog = append(catalog, x.arn("glue", "database/"+name), x.arn("glue", "table/"+name+"/*"))
	}
	results := x.objects(deploy.AthenaResultsPrefix + "*")
	statements := []awsiam.PolicyStatement{
		statement([]string{
			"athena:StartQueryExecution", "athena:GetQueryExecution", "athena:GetQueryResults", "athena:StopQueryExecution",
			"athena:GetWorkGroup", "athena:ListQueryExecutions", "athena:BatchGetQueryExecution",
		}, x.arn("athena", "workgroup/"+workgroup)),
		statement([]string{"glue:GetDatabase", "glue:GetDatabases", "glue:GetTable", "glue:GetTables", "glue:GetPartition", "glue:GetPartitions", "glue:BatchGetPartition"}, catalog...),
		statement([]string{"s3:GetObject", "s3:PutObject", "s3:AbortMultipartUpload", "s3:ListMultipartUploadParts"}, results),
		statement([]string{"s3:GetBucketLocation"}, *x.bucket.BucketArn()),
		statement([]string{"kms:Decrypt", "kms:GenerateDataKey"}, *x.key.KeyArn()),
	}
	findings := []string{objectsUnder(deploy.AthenaResultsPrefix), arnFinding("glue", `table\/.*\/\*`)}
	findings = append(findings, runtimeFindings...)
	reason := "Analysts read the catalog of this stack's Glue databases (Lake Formation decides which tables and columns they see), and Athena writes their results under athena-results/."
	if x.governed {
		// data/ is registered with Lake Formation: Athena reads it with the
		// credentials Lake Formation vends for exactly the granted tables and
		// columns. A direct s3:GetObject on data/ would bypass the column grants.
		statements = append(statements, x.listUnder(deploy.AthenaResultsPrefix))
	} else {
		statements = append(statements, statement([]string{"s3:GetObject"}, x.objects(deploy.DataPrefix+"*")), x.listUnder(deploy.DataPrefix, deploy.AthenaResultsPrefix))
		findings = append(findings, objectsUnder(deploy.DataPrefix))
		reason = "Analysts read every table of this stack's Glue databases and every file under data/, and Athena writes their results under athena-results/."
	}
	if len(lakeDatabases) > 0 || x.governed {
		// The Service Authorization Reference lists no resource type for it: "*" only.
		statements = append(statements, statement([]string{"lakeformation:GetDataAccess"}, "*"))
		findings = append(findings, findingStarResource)
		reason += " lakeformation:GetDataAccess has no resource type (only \"*\"); Lake Formation's grants decide which tables it vends credentials for."
	}
	p := awsiam.NewManagedPolicy(x.stack, jsii.String("AnalystPolicy"), &awsiam.ManagedPolicyProps{
		Description: jsii.String("snaplake " + x.name + ": query the lake with Athena in the " + workgroup + " workgroup"),
		Statements:  &statements,
	})
	x.suppress(p, wildcards(reason, findings...))
	return p
}
