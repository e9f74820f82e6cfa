package doctor

import (
	"context"
	"fmt"
	"slices"

	"github.com/aws/aws-sdk-go-v2/aws"
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
