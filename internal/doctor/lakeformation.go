package doctor

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"

	"github.com/aws/aws-sdk-go-v2/aws"
	awsiam "github.com/aws/aws-sdk-go-v2/service/iam"
	iamtypes "github.com/aws/aws-sdk-go-v2/service/iam/types"
	"github.com/aws/aws-sdk-go-v2/service/lakeformation"
	lftypes "github.com/aws/aws-sdk-go-v2/service/lakeformation/types"

	"github.com/snaplake/snaplake/internal/deploy"
)

// LakeFormation reads the account's data lake settings.
type LakeFormation interface {
	GetDataLakeSettings(ctx context.Context, in *lakeformation.GetDataLakeSettingsInput, optFns ...func(*lakeformation.Options)) (*lakeformation.GetDataLakeSettingsOutput, error)
}

// checkLakeAdmin: the role CloudFormation deploys the stack as is a data lake
// administrator. The stack grants Lake Formation permissions on the snapshot
// databases (and, with the ingestion, registers raw/ and grants on raw_<db>), and
// only an administrator may; the principal that makes those calls is the stack's
// service role (the CDK's execution role), not whoever runs `cdk deploy`. Without it
// the next deploy fails and rolls back.
func (r *run) checkLakeAdmin(ctx context.Context, st *stack) {
	const check = "lake-admin"
	v := st.values
	role := st.deployRole
	if role == "" {
		r.fail(check, st.name, "the stack has no service role: CloudFormation deploys it with the credentials of whoever runs cdk deploy, so doctor cannot tell which principal must be a Lake Formation data lake administrator",
			fmt.Sprintf("deploy with the CDK's default synthesizer after `cdk bootstrap`: CloudFormation then deploys as %s, which must be a data lake administrator", deploy.CDKExecutionRoleName(v.Account, v.Region)))
		return
	}
	out, err := r.c.LakeFormation.GetDataLakeSettings(ctx, &lakeformation.GetDataLakeSettingsInput{})
	if err != nil {
		r.fail(check, role, "could not read the data lake settings: "+err.Error(), "give the caller lakeformation:GetDataLakeSettings")
		return
	}
	var admins []lftypes.DataLakePrincipal
	if out.DataLakeSettings != nil {
		admins = out.DataLakeSettings.DataLakeAdmins
	}
	r.checkStaleAdmins(ctx, admins)
	isAdmin := func(arn string) bool {
		return slices.ContainsFunc(admins, func(p lftypes.DataLakePrincipal) bool { return aws.ToString(p.DataLakePrincipalIdentifier) == arn })
	}
	// A governed stack that catalogs new databases at runtime made its crawl wait an
	// administrator (DataLakeSettings, APPEND); anything that puts the settings
	// back without it (another stack, Terraform, the console) stops that.
	if wait := st.outputs[deploy.OutputRuntimeCatalogAdministrator]; wait != "" {
		if isAdmin(wait) {
			r.pass(check, wait, "the crawl wait is a data lake administrator: it grants on a database cataloged at runtime")
		} else {
			r.fail(check, wait, "the crawl wait is not a data lake administrator: a database that appears in the export is relocated but the night fails with CatalogGrantError",
				"redeploy the stack (its DataLakeSettings appends the role), or add it under Lake Formation > Administrative roles and tasks > Data lake administrators")
		}
	}
	if isAdmin(role) {
		r.pass(check, role, "CloudFormation deploys the stack as this role, a data lake administrator")
		return
	}
	r.fail(check, role, fmt.Sprintf("CloudFormation deploys the stack as this role, which is not a data lake administrator (the account has %d): the stack's Lake Formation grants fail and the next deploy rolls back", len(admins)),
		"add it under Lake Formation > Administrative roles and tasks > Data lake administrators; with the CLI, read the settings (aws lakeformation get-data-lake-settings), add the role to DataLakeAdmins and put them all back (put-data-lake-settings replaces every setting)")
}

// checkStaleAdmins: no data lake administrator is a role that no longer exists.
// Lake Formation keeps a deleted role in the list, and every later
// PutDataLakeSettings that sends the list back, the stack's own DataLakeSettings
// included, then fails with "Invalid principal" (aws-cdk issue 19492).
func (r *run) checkStaleAdmins(ctx context.Context, admins []lftypes.DataLakePrincipal) {
	const check = "lake-admin"
	for _, a := range admins {
		arn := aws.ToString(a.DataLakePrincipalIdentifier)
		i := strings.Index(arn, ":role/")
		if i < 0 {
			continue
		}
		name := arn[strings.LastIndex(arn, "/")+1:]
		_, err := r.c.IAM.GetRole(ctx, &awsiam.GetRoleInput{RoleName: aws.String(name)})
		var gone *iamtypes.NoSuchEntityException
		if errors.As(err, &gone) {
			r.fail(check, arn, "is a data lake administrator but the role no longer exists: every put-data-lake-settings that sends the list back fails with \"Invalid principal\", the stack's own included",
				"read the settings (aws lakeformation get-data-lake-settings), remove this ARN from DataLakeAdmins and put them all back (put-data-lake-settings)")
		}
	}
}
