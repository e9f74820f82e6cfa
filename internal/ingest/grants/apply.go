package grants

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/lakeformation"
	"github.com/aws/aws-sdk-go-v2/service/lakeformation/types"
)

// LakeFormation is the part of *lakeformation.Client that Apply calls.
type LakeFormation interface {
	// GetDataLakeSettings names the data lake administrators, whose grants are kept.
	GetDataLakeSettings(ctx context.Context, params *lakeformation.GetDataLakeSettingsInput, optFns ...func(*lakeformation.Options)) (*lakeformation.GetDataLakeSettingsOutput, error)
	ListPermissions(ctx context.Context, params *lakeformation.ListPermissionsInput, optFns ...func(*lakeformation.Options)) (*lakeformation.ListPermissionsOutput, error)
	BatchGrantPermissions(ctx context.Context, params *lakeformation.BatchGrantPermissionsInput, optFns ...func(*lakeformation.Options)) (*lakeformation.BatchGrantPermissionsOutput, error)
	BatchRevokePermissions(ctx context.Context, params *lakeformation.BatchRevokePermissionsInput, optFns ...func(*lakeformation.Options)) (*lakeformation.BatchRevokePermissionsOutput, error)
}

// ApplyOptions tune Apply.
type ApplyOptions struct {
	// DryRun reads the account and plans, and writes nothing: Applied then holds what
	// would be added and revoked.
	DryRun bool
}

// Applied is what Apply did: the grants added and revoked (in a dry run, the ones it
// would add and revoke), and one error per grant that failed, naming the grant.
type Applied struct {
	Added   []Grant
	Revoked []Grant
	Failed  []error
}

// Apply makes the account's grants on the databases of scope (and of desired) match
// desired: it lists the current grants, diffs them (Diff), then revokes and grants in
// batches of MaxBatch, revokes first (see Plan). A grant that fails is reported in
// Failed and the other batches still go; the error is then non-nil too, wrapping every
// failure, so that a caller that only checks it does not take a partial apply for a
// whole one. A revoke of a grant that is already gone (by another hand, or with its
// table) counts as revoked. The data lake administrators (GetDataLakeSettings) are
// kept, as scope.Keep is. An error from reading the settings or listing stops Apply
// before any write.
func Apply(ctx context.Context, lf LakeFormation, desired []Grant, scope Scope, opts ApplyOptions) (Applied, error) {
	admins, err := administrators(ctx, lf)
	if err != nil {
		return Applied{}, err
	}
	scope.Keep = append(slices.Clone(scope.Keep), admins...)
	current, err := listCurrent(ctx, lf, managedDatabases(desired, scope))
	if err != nil {
		return Applied{}, err
	}
	add, revoke := Diff(desired, current, scope)
	if opts.DryRun {
		return Applied{Added: add, Revoked: revoke}, nil
	}

	applied := Applied{Added: []Grant{}, Revoked: []Grant{}}
	for _, batch := range Batches(revoke, MaxBatch) {
		if err := ctx.Err(); err != nil {
			return applied, fmt.Errorf("apply grants: stopped before revoking %s and the rest: %w", batch[0], err)
		}
		out, err := lf.BatchRevokePermissions(ctx, BatchRevokeInput(batch))
		var failures []types.BatchPermissionsFailureEntry
		if out != nil {
			failures = out.Failures
		}
		done, failed := settle("revoke", batch, failures, err, alreadyRevoked)
		applied.Revoked = append(applied.Revoked, done...)
		applied.Failed = append(applied.Failed, failed...)
	}
	for _, batch := range Batches(add, MaxBatch) {
		if err := ctx.Err(); err != nil {
			return applied, fmt.Errorf("apply grants: stopped before granting %s and the rest: %w", batch[0], err)
		}
		out, err := lf.BatchGrantPermissions(ctx, BatchGrantInput(batch))
		var failures []types.BatchPermissionsFailureEntry
		if out != nil {
			failures = out.Failures
		}
		done, failed := settle("grant", batch, failures, err, nil)
		applied.Added = append(applied.Added, done...)
		applied.Failed = append(applied.Failed, failed...)
	}
	if n := len(applied.Failed); n > 0 {
		return applied, fmt.Errorf("apply grants: %d of %d changes failed: %w", n, len(add)+len(revoke), errors.Join(applied.Failed...))
	}
	return applied, nil
}

// settle sorts the grants of one batch call into done and failed. A failed call fails
// every grant of the batch; otherwise a grant fails when Failures names it, unless
// harmless says the failure leaves the grant as the call wanted it.
func settle(op string, batch []Grant, failures []types.BatchPermissionsFailureEntry, callErr error, harmless func(*FailedError) bool) (done []Grant, failed []error) {
	if callErr != nil {
		for _, g := range batch {
			failed = append(failed, fmt.Errorf("%s %s: %w", op, g, callErr))
		}
		return nil, failed
	}
	bad := map[string]bool{}
	for _, err := range unjoin(BatchFailures(batch, failures)) {
		var fe *FailedError
		if !errors.As(err, &fe) {
			// An entry Lake Formation reported under an id it was not sent: which
			// grant it was is unknown, so the failure is kept without one.
			failed = append(failed, fmt.Errorf("%s: %w", op, err))
			continue
		}
		if harmless != nil && harmless(fe) {
			continue
		}
		bad[fe.Grant.String()] = true
		failed = append(failed, fmt.Errorf("%s %w", op, fe)) // "grant <grant>: <code>: <message>"
	}
	for _, g := range batch {
		if !bad[g.String()] {
			done = append(done, g)
		}
	}
	return done, failed
}

// alreadyRevoked reports a revoke failure that means the grant is no longer held:
//   - InvalidInputException "No permissions revoked. Grantee has no permissions and no
//     grantable permissions on resource." (aws-samples/aws-glue-samples#78,
//     tokern/lakecli#10; terraform-provider-aws treats it as a completed delete);
//   - InvalidInputException "cannot grant/revoke permission on non-existent column": the
//     column went with a schema change (terraform-provider-aws, permissions.go, likewise);
//   - EntityNotFoundException: the database or table itself is gone, and its grants with it.
func alreadyRevoked(fe *FailedError) bool {
	switch fe.Code {
	case "EntityNotFoundException":
		return true
	case "InvalidInputException":
		return strings.HasPrefix(fe.Message, "No permissions revoked") ||
			strings.Contains(fe.Message, "non-existent column")
	}
	return false
}

func unjoin(err error) []error {
	if err == nil {
		return nil
	}
	if j, ok := err.(interface{ Unwrap() []error }); ok {
		return j.Unwrap()
	}
	return []error{err}
}

// administrators are the data lake administrators. Their grants are theirs, not the
// config's: an administrator holds implicit permissions on everything (revoking them
// fails with "No permissions revoked") and may grant itself anything again, so a
// revoke only breaks what an administrator set up by hand. Read-only administrators
// are not among them: they grant nothing, and what they may read is the config's to
// say.
func administrators(ctx context.Context, lf LakeFormation) ([]string, error) {
	out, err := lf.GetDataLakeSettings(ctx, &lakeformation.GetDataLakeSettingsInput{})
	if err != nil {
		return nil, fmt.Errorf("read the data lake administrators, whose grants are kept: %w", err)
	}
	var admins []string
	if out.DataLakeSettings != nil {
		for _, p := range out.DataLakeSettings.DataLakeAdmins {
			if id := aws.ToString(p.DataLakePrincipalIdentifier); id != "" {
				admins = append(admins, id)
			}
		}
	}
	return admins, nil
}

// managedDatabases are the databases Diff judges, as it names them: the scope's in
// lower case and the desired grants'.
func managedDatabases(desired []Grant, scope Scope) []string {
	var dbs []string
	for _, db := range scope.Databases {
		dbs = append(dbs, strings.ToLower(db))
	}
	for _, g := range desired {
		dbs = append(dbs, g.Database)
	}
	slices.Sort(dbs)
	return slices.Compact(dbs)
}

// listCurrent reads the grants held on the databases and on their tables, every page.
//
// The listing is by resource type (DATABASE, then TABLE), with no principal and no
// resource, and is narrowed to the databases here:
//   - a Principal would narrow it to one principal, while every principal's grants
//     must be seen (IAM_ALLOWED_PRINCIPALS and hand-made grants included); and with
//     both Principal and Resource, ListPermissions returns effective permissions
//     rather than the explicit grants (API reference; the service team's answer in
//     terraform-provider-aws#44574);
//   - a Resource names one database or one table (Table needs a Name or the
//     TableWildcard, which is itself a grant), so the tables of a database cannot be
//     asked for by a resource without knowing them, and TableWithColumns is not
//     accepted at all (API reference).
func listCurrent(ctx context.Context, lf LakeFormation, databases []string) ([]Grant, error) {
	managed := map[string]bool{}
	for _, db := range databases {
		managed[db] = true
	}
	var listed []types.PrincipalResourcePermissions
	for _, rt := range []types.DataLakeResourceType{types.DataLakeResourceTypeDatabase, types.DataLakeResourceTypeTable} {
		var token *string
		seen := map[string]bool{}
		for page := 1; ; page++ {
			out, err := lf.ListPermissions(ctx, &lakeformation.ListPermissionsInput{ResourceType: rt, NextToken: token})
			if err != nil {
				return nil, fmt.Errorf("list %s permissions, page %d: %w", rt, page, err)
			}
			for _, p := range out.PrincipalResourcePermissions {
				if managed[strings.ToLower(resourceDatabase(p.Resource))] {
					listed = append(listed, p)
				}
			}
			token = out.NextToken
			if aws.ToString(token) == "" {
				break
			}
			if seen[*token] {
				return nil, fmt.Errorf("list %s permissions, page %d: Lake Formation returned a NextToken it had already returned", rt, page)
			}
			seen[*token] = true
		}
	}
	current, err := FromListPermissions(listed)
	if err != nil {
		return nil, fmt.Errorf("read current grants: %w", err)
	}
	return current, nil
}

// resourceDatabase is the database a listed resource is in, "" for a resource outside
// any database (the catalog, a data location, an LF-tag).
func resourceDatabase(r *types.Resource) string {
	switch {
	case r == nil:
		return ""
	case r.Database != nil:
		return aws.ToString(r.Database.Name)
	case r.Table != nil:
		return aws.ToString(r.Table.DatabaseName)
	case r.TableWithColumns != nil:
		return aws.ToString(r.TableWithColumns.DatabaseName)
	}
	return ""
}
