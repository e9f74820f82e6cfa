package lakeformation

import (
	"context"
	"encoding/json"
	"regexp"
	"slices"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/lakeformation"
	"github.com/aws/aws-sdk-go-v2/service/lakeformation/types"

	"github.com/snaplake/snaplake/internal/ingest/grants"
)

// GetDataLakeSettings returns the settings as last put, or those of a new account:
// no administrators, and ALL to IAM_ALLOWED_PRINCIPALS on new databases and tables.
func (s *Service) GetDataLakeSettings(ctx context.Context, in *lakeformation.GetDataLakeSettingsInput, _ ...func(*lakeformation.Options)) (*lakeformation.GetDataLakeSettingsOutput, error) {
	return getSettings(s)
}

// PutDataLakeSettings replaces the settings, all of them: a field left out is
// cleared, so change them by reading, editing and putting back.
func (s *Service) PutDataLakeSettings(ctx context.Context, in *lakeformation.PutDataLakeSettingsInput, _ ...func(*lakeformation.Options)) (*lakeformation.PutDataLakeSettingsOutput, error) {
	return putSettings(s, nil, in)
}

// RegisterResource registers an S3 location with Lake Formation.
func (s *Service) RegisterResource(ctx context.Context, in *lakeformation.RegisterResourceInput, _ ...func(*lakeformation.Options)) (*lakeformation.RegisterResourceOutput, error) {
	return registerResource(s, nil, in)
}

// DescribeResource describes a registered location, or fails with
// EntityNotFoundException.
func (s *Service) DescribeResource(ctx context.Context, in *lakeformation.DescribeResourceInput, _ ...func(*lakeformation.Options)) (*lakeformation.DescribeResourceOutput, error) {
	return describeResource(s, in)
}

// defaultSettings are a new account's: "new databases/tables grant ALL to
// IAM_ALLOWED_PRINCIPALS" until an administrator changes it.
func defaultSettings() *types.DataLakeSettings {
	iamAllowed := []types.PrincipalPermissions{{
		Principal:   &types.DataLakePrincipal{DataLakePrincipalIdentifier: aws.String(grants.IAMAllowedPrincipals)},
		Permissions: []types.Permission{types.PermissionAll},
	}}
	return &types.DataLakeSettings{
		DataLakeAdmins:                   []types.DataLakePrincipal{},
		CreateDatabaseDefaultPermissions: iamAllowed,
		CreateTableDefaultPermissions:    slices.Clone(iamAllowed),
	}
}

func (st *state) currentSettings() *types.DataLakeSettings {
	if st.settings == nil {
		return defaultSettings()
	}
	return st.settings
}

func (st *state) isAdmin(arn string) bool {
	return hasPrincipal(st.currentSettings().DataLakeAdmins, arn)
}

func (st *state) isReadOnlyAdmin(arn string) bool {
	return hasPrincipal(st.currentSettings().ReadOnlyAdmins, arn)
}

func hasPrincipal(ps []types.DataLakePrincipal, arn string) bool {
	return slices.ContainsFunc(ps, func(p types.DataLakePrincipal) bool { return aws.ToString(p.DataLakePrincipalIdentifier) == arn })
}

func getSettings(s *Service) (*lakeformation.GetDataLakeSettingsOutput, error) {
	var out *types.DataLakeSettings
	err := s.read(func(st *state) error {
		var err error
		out, err = copySettings(st.currentSettings())
		return err
	})
	if err != nil {
		return nil, err
	}
	return &lakeformation.GetDataLakeSettingsOutput{DataLakeSettings: out}, nil
}

func putSettings(s *Service, c *caller, in *lakeformation.PutDataLakeSettingsInput) (*lakeformation.PutDataLakeSettingsOutput, error) {
	if in == nil || in.DataLakeSettings == nil {
		return nil, invalidInput("DataLakeSettings is required")
	}
	settings, err := copySettings(in.DataLakeSettings)
	if err != nil {
		return nil, err
	}
	// "Supported principals are IAM users or IAM roles" (API reference, DataLakeAdmins
	// and ReadOnlyAdmins).
	for _, p := range slices.Concat(settings.DataLakeAdmins, settings.ReadOnlyAdmins) {
		if id := aws.ToString(p.DataLakePrincipalIdentifier); !iamPrincipal.MatchString(id) {
			return nil, invalidInput("Invalid principal, arn: %s: administrators are IAM users or roles", id)
		}
	}
	// "The only permitted values are an empty array or an array that contains a single
	// JSON object that grants ALL to IAM_ALLOWED_PRINCIPALS" (API reference).
	for name, defaults := range map[string][]types.PrincipalPermissions{
		"CreateDatabaseDefaultPermissions": settings.CreateDatabaseDefaultPermissions,
		"CreateTableDefaultPermissions":    settings.CreateTableDefaultPermissions,
	} {
		if len(defaults) == 0 {
			continue
		}
		d := defaults[0]
		if len(defaults) > 1 || d.Principal == nil || aws.ToString(d.Principal.DataLakePrincipalIdentifier) != grants.IAMAllowedPrincipals ||
			!slices.Equal(d.Permissions, []types.Permission{types.PermissionAll}) {
			return nil, invalidInput("%s takes only an empty list or ALL to %s", name, grants.IAMAllowedPrincipals)
		}
	}
	err = s.update(func(st *state) (bool, error) {
		// Offline there is no IAM to say who may change the settings: an administrator
		// may, and anyone may name the first administrators.
		if c != nil && len(st.currentSettings().DataLakeAdmins) > 0 && !st.isAdmin(c.arn) {
			return false, &types.AccessDeniedException{Message: aws.String(c.arn + " is not a data lake administrator")}
		}
		st.settings = settings
		return true, nil
	})
	if err != nil {
		return nil, err
	}
	return &lakeformation.PutDataLakeSettingsOutput{}, nil
}

// copySettings is a deep copy, so that neither the caller nor the state shares slices
// with the other.
func copySettings(in *types.DataLakeSettings) (*types.DataLakeSettings, error) {
	b, err := json.Marshal(in)
	if err != nil {
		return nil, invalidInput("DataLakeSettings: %v", err)
	}
	var out types.DataLakeSettings
	if err := json.Unmarshal(b, &out); err != nil {
		return nil, invalidInput("DataLakeSettings: %v", err)
	}
	return &out, nil
}

// registered is a location registered with Lake Formation.
type registered struct {
	ResourceArn          string    `json:"resourceArn"`
	RoleArn              string    `json:"roleArn,omitempty"`
	UseServiceLinkedRole bool      `json:"useServiceLinkedRole,omitempty"`
	HybridAccessEnabled  bool      `json:"hybridAccessEnabled,omitempty"`
	WithFederation       bool      `json:"withFederation,omitempty"`
	WithPrivilegedAccess bool      `json:"withPrivilegedAccess,omitempty"`
	LastModified         time.Time `json:"lastModified"`
}

var (
	s3ARN   = regexp.MustCompile(`^arn:aws[a-z-]*:s3:::[a-z0-9][a-z0-9.-]{1,61}[a-z0-9](/.*)?$`)
	roleARN = regexp.MustCompile(`^arn:aws[a-z-]*:iam::[0-9]{12}:role/[A-Za-z0-9+=,.@_/-]+$`)
)

func registerResource(s *Service, c *caller, in *lakeformation.RegisterResourceInput) (*lakeformation.RegisterResourceOutput, error) {
	if in == nil {
		in = &lakeformation.RegisterResourceInput{}
	}
	arn, role := aws.ToString(in.ResourceArn), aws.ToString(in.RoleArn)
	switch {
	case arn == "":
		return nil, invalidInput("ResourceArn is required")
	case !s3ARN.MatchString(arn):
		return nil, invalidInput("ResourceArn %s is not an S3 bucket or prefix ARN", arn)
	case role != "" && !roleARN.MatchString(role):
		return nil, invalidInput("RoleArn %s is not an IAM role ARN", role)
	}
	err := s.update(func(st *state) (bool, error) {
		if c != nil && !st.isAdmin(c.arn) {
			return false, &types.AccessDeniedException{Message: aws.String(c.arn + " is not a data lake administrator")}
		}
		if slices.ContainsFunc(st.resources, func(r registered) bool { return r.ResourceArn == arn }) {
			// AlreadyExistsException is among RegisterResource's errors (API reference);
			// the message is moto's.
			return false, &types.AlreadyExistsException{Message: aws.String("Resource is already registered")}
		}
		st.resources = append(st.resources, registered{
			ResourceArn:          arn,
			RoleArn:              role,
			UseServiceLinkedRole: aws.ToBool(in.UseServiceLinkedRole),
			HybridAccessEnabled:  aws.ToBool(in.HybridAccessEnabled),
			WithFederation:       aws.ToBool(in.WithFederation),
			WithPrivilegedAccess: in.WithPrivilegedAccess,
			LastModified:         time.Now().UTC(),
		})
		slices.SortFunc(st.resources, func(a, b registered) int { return strings.Compare(a.ResourceArn, b.ResourceArn) })
		return true, nil
	})
	if err != nil {
		return nil, err
	}
	return &lakeformation.RegisterResourceOutput{}, nil
}

func describeResource(s *Service, in *lakeformation.DescribeResourceInput) (*lakeformation.DescribeResourceOutput, error) {
	arn := ""
	if in != nil {
		arn = aws.ToString(in.ResourceArn)
	}
	if arn == "" {
		return nil, invalidInput("ResourceArn is required")
	}
	var info *types.ResourceInfo
	err := s.read(func(st *state) error {
		for _, r := range st.resources {
			if r.ResourceArn == arn {
				info = &types.ResourceInfo{
					ResourceArn:          aws.String(r.ResourceArn),
					HybridAccessEnabled:  aws.Bool(r.HybridAccessEnabled),
					WithFederation:       aws.Bool(r.WithFederation),
					WithPrivilegedAccess: aws.Bool(r.WithPrivilegedAccess),
					LastModified:         aws.Time(r.LastModified),
				}
				if r.RoleArn != "" {
					info.RoleArn = aws.String(r.RoleArn)
				}
				return nil
			}
		}
		return &types.EntityNotFoundException{Message: aws.String("Entity not found")}
	})
	if err != nil {
		return nil, err
	}
	return &lakeformation.DescribeResourceOutput{ResourceInfo: info}, nil
}
