package lakeformation

import (
	"context"

	"github.com/aws/aws-sdk-go-v2/service/lakeformation"

	"github.com/snaplake/snaplake/internal/ingest/grants"
)

var _ grants.LakeFormation = (*Client)(nil)

// Client is the service as one principal calls it, checked as Lake Formation checks
// it: grants and revokes need a data lake administrator or the grant option on what
// is granted (AccessDeniedException otherwise), ListPermissions shows a principal who
// is not an administrator only the permissions it holds itself, registering a location
// and changing the settings need an administrator.
type Client struct {
	svc    *Service
	caller *caller
}

// AsPrincipal is the service as the IAM role or user arn calls it.
func (s *Service) AsPrincipal(arn string) *Client {
	return &Client{svc: s, caller: &caller{arn: arn}}
}

// GrantPermissions is Service.GrantPermissions, made by the client's principal.
func (c *Client) GrantPermissions(ctx context.Context, in *lakeformation.GrantPermissionsInput, _ ...func(*lakeformation.Options)) (*lakeformation.GrantPermissionsOutput, error) {
	return grantPermissions(c.svc, c.caller, in)
}

// RevokePermissions is Service.RevokePermissions, made by the client's principal.
func (c *Client) RevokePermissions(ctx context.Context, in *lakeformation.RevokePermissionsInput, _ ...func(*lakeformation.Options)) (*lakeformation.RevokePermissionsOutput, error) {
	return revokePermissions(c.svc, c.caller, in)
}

// BatchGrantPermissions is Service.BatchGrantPermissions, made by the client's
// principal: an entry it may not grant fails on its own.
func (c *Client) BatchGrantPermissions(ctx context.Context, in *lakeformation.BatchGrantPermissionsInput, _ ...func(*lakeformation.Options)) (*lakeformation.BatchGrantPermissionsOutput, error) {
	return batchGrant(c.svc, c.caller, in)
}

// BatchRevokePermissions is Service.BatchRevokePermissions, made by the client's principal.
func (c *Client) BatchRevokePermissions(ctx context.Context, in *lakeformation.BatchRevokePermissionsInput, _ ...func(*lakeformation.Options)) (*lakeformation.BatchRevokePermissionsOutput, error) {
	return batchRevoke(c.svc, c.caller, in)
}

// ListPermissions is Service.ListPermissions, as the client's principal may see it.
func (c *Client) ListPermissions(ctx context.Context, in *lakeformation.ListPermissionsInput, _ ...func(*lakeformation.Options)) (*lakeformation.ListPermissionsOutput, error) {
	return listPermissions(c.svc, c.caller, in)
}

// GetDataLakeSettings is Service.GetDataLakeSettings.
func (c *Client) GetDataLakeSettings(ctx context.Context, in *lakeformation.GetDataLakeSettingsInput, _ ...func(*lakeformation.Options)) (*lakeformation.GetDataLakeSettingsOutput, error) {
	return getSettings(c.svc)
}

// PutDataLakeSettings is Service.PutDataLakeSettings, for an administrator (or anyone,
// while the account has none).
func (c *Client) PutDataLakeSettings(ctx context.Context, in *lakeformation.PutDataLakeSettingsInput, _ ...func(*lakeformation.Options)) (*lakeformation.PutDataLakeSettingsOutput, error) {
	return putSettings(c.svc, c.caller, in)
}

// RegisterResource is Service.RegisterResource, for an administrator.
func (c *Client) RegisterResource(ctx context.Context, in *lakeformation.RegisterResourceInput, _ ...func(*lakeformation.Options)) (*lakeformation.RegisterResourceOutput, error) {
	return registerResource(c.svc, c.caller, in)
}

// DescribeResource is Service.DescribeResource.
func (c *Client) DescribeResource(ctx context.Context, in *lakeformation.DescribeResourceInput, _ ...func(*lakeformation.Options)) (*lakeformation.DescribeResourceOutput, error) {
	return describeResource(c.svc, in)
}
