package grants

import (
	"errors"
	"fmt"
	"strconv"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/lakeformation"
	"github.com/aws/aws-sdk-go-v2/service/lakeformation/types"
)

// MaxBatch is the most entries BatchGrantPermissions and BatchRevokePermissions take.
const MaxBatch = 20

// FromListPermissions converts ListPermissions output into grants, undoing the shapes
// Lake Formation reports that differ from the ones granted: a SELECT on a table comes
// back as TableWithColumns with a ColumnWildcard, and a SELECT on every table as
// TableWithColumns named ALL_TABLES. Grants on other kinds of resources (data
// locations, the catalog, LF-tags, data cells filters) are left out: the access rules
// do not make them, and Diff could not judge them. CatalogId is dropped: the grants
// are read and applied in one catalog.
func FromListPermissions(out []types.PrincipalResourcePermissions) ([]Grant, error) {
	var grants []Grant
	for i, p := range out {
		if p.Principal == nil || aws.ToString(p.Principal.DataLakePrincipalIdentifier) == "" {
			return nil, fmt.Errorf("permissions entry %d: no principal", i)
		}
		if p.Resource == nil {
			return nil, fmt.Errorf("permissions entry %d (%s): no resource", i, aws.ToString(p.Principal.DataLakePrincipalIdentifier))
		}
		g := Grant{Principal: aws.ToString(p.Principal.DataLakePrincipalIdentifier)}
		r := p.Resource
		switch {
		case r.Database != nil:
			g.Database = aws.ToString(r.Database.Name)
		case r.Table != nil:
			g.Database = aws.ToString(r.Table.DatabaseName)
			if g.Table = aws.ToString(r.Table.Name); r.Table.TableWildcard != nil || g.Table == allTables {
				g.Table = TableWildcard
			}
		case r.TableWithColumns != nil:
			t := r.TableWithColumns
			g.Database = aws.ToString(t.DatabaseName)
			if g.Table = aws.ToString(t.Name); g.Table == allTables {
				g.Table = TableWildcard
			}
			switch {
			case len(t.ColumnNames) > 0:
				g.Columns = sortedSet(t.ColumnNames)
			case t.ColumnWildcard != nil && len(t.ColumnWildcard.ExcludedColumnNames) > 0:
				g.ExcludedColumns = sortedSet(t.ColumnWildcard.ExcludedColumnNames)
			case t.ColumnWildcard != nil:
				// Every column: the same grant as on the table.
			default:
				return nil, fmt.Errorf("permissions entry %d (%s on %s.%s): columns with neither names nor a wildcard", i, g.Principal, g.Database, g.Table)
			}
		default:
			continue
		}
		if g.Database == "" || (r.Database == nil && g.Table == "") {
			return nil, fmt.Errorf("permissions entry %d (%s): a resource without its name", i, g.Principal)
		}
		g.Permissions = permissionStrings(p.Permissions)
		g.GrantOption = permissionStrings(p.PermissionsWithGrantOption)
		if len(g.Permissions) == 0 && len(g.GrantOption) == 0 {
			continue
		}
		grants = append(grants, g)
	}
	return normalize(grants), nil
}

// Input is the GrantPermissions request for g.
func (g Grant) Input() *lakeformation.GrantPermissionsInput {
	return &lakeformation.GrantPermissionsInput{
		Principal:                  g.principal(),
		Resource:                   g.sdkResource(),
		Permissions:                sdkPermissions(g.Permissions),
		PermissionsWithGrantOption: sdkPermissions(g.GrantOption),
	}
}

// RevokeInput is the RevokePermissions request for g.
func (g Grant) RevokeInput() *lakeformation.RevokePermissionsInput {
	return &lakeformation.RevokePermissionsInput{
		Principal:                  g.principal(),
		Resource:                   g.sdkResource(),
		Permissions:                sdkPermissions(g.Permissions),
		PermissionsWithGrantOption: sdkPermissions(g.GrantOption),
	}
}

// Entry is g as an entry of a batch request, with its position in the batch as Id.
func (g Grant) Entry(id int) types.BatchPermissionsRequestEntry {
	return types.BatchPermissionsRequestEntry{
		Id:                         aws.String(strconv.Itoa(id)),
		Principal:                  g.principal(),
		Resource:                   g.sdkResource(),
		Permissions:                sdkPermissions(g.Permissions),
		PermissionsWithGrantOption: sdkPermissions(g.GrantOption),
	}
}

// Batches splits grants into batches of at most size (MaxBatch when size is not
// positive or above it), in order.
func Batches(grants []Grant, size int) [][]Grant {
	if size <= 0 || size > MaxBatch {
		size = MaxBatch
	}
	var out [][]Grant
	for len(grants) > 0 {
		n := min(size, len(grants))
		out = append(out, grants[:n:n])
		grants = grants[n:]
	}
	return out
}

// BatchGrantInput is the BatchGrantPermissions request for a batch from Batches.
func BatchGrantInput(batch []Grant) *lakeformation.BatchGrantPermissionsInput {
	return &lakeformation.BatchGrantPermissionsInput{Entries: entries(batch)}
}

// BatchRevokeInput is the BatchRevokePermissions request for a batch from Batches.
func BatchRevokeInput(batch []Grant) *lakeformation.BatchRevokePermissionsInput {
	return &lakeformation.BatchRevokePermissionsInput{Entries: entries(batch)}
}

// FailedError is a grant a batch call reported in its Failures.
type FailedError struct {
	Grant   Grant
	Code    string // ErrorDetail.ErrorCode, such as "InvalidInputException"
	Message string
}

func (e *FailedError) Error() string {
	return fmt.Sprintf("%s: %s: %s", e.Grant, e.Code, e.Message)
}

// BatchFailures maps the Failures of a successful batch call back to the grants of
// batch: nil when there are none, else one *FailedError per failed entry, joined.
func BatchFailures(batch []Grant, failures []types.BatchPermissionsFailureEntry) error {
	var errs []error
	for _, f := range failures {
		e := &FailedError{}
		if f.Error != nil {
			e.Code, e.Message = aws.ToString(f.Error.ErrorCode), aws.ToString(f.Error.ErrorMessage)
		}
		id := -1
		if f.RequestEntry != nil {
			if n, err := strconv.Atoi(aws.ToString(f.RequestEntry.Id)); err == nil {
				id = n
			}
		}
		if id < 0 || id >= len(batch) {
			errs = append(errs, fmt.Errorf("a batch entry without a known id: %s: %s", e.Code, e.Message))
			continue
		}
		e.Grant = batch[id]
		errs = append(errs, e)
	}
	return errors.Join(errs...)
}

func entries(batch []Grant) []types.BatchPermissionsRequestEntry {
	out := make([]types.BatchPermissionsRequestEntry, len(batch))
	for i, g := range batch {
		out[i] = g.Entry(i)
	}
	return out
}

func (g Grant) principal() *types.DataLakePrincipal {
	return &types.DataLakePrincipal{DataLakePrincipalIdentifier: aws.String(g.Principal)}
}

// sdkResource is the resource of g in the shape GrantPermissions takes. Every column
// of a table is granted on the Table (the same grant as TableWithColumns with a
// ColumnWildcard, and the only shape that takes non-SELECT permissions).
func (g Grant) sdkResource() *types.Resource {
	name := g.Table
	if name == TableWildcard {
		name = allTables
	}
	switch {
	case g.Table == "":
		return &types.Resource{Database: &types.DatabaseResource{Name: aws.String(g.Database)}}
	case len(g.Columns) > 0:
		return &types.Resource{TableWithColumns: &types.TableWithColumnsResource{
			DatabaseName: aws.String(g.Database), Name: aws.String(name), ColumnNames: sortedSet(g.Columns)}}
	case len(g.ExcludedColumns) > 0:
		return &types.Resource{TableWithColumns: &types.TableWithColumnsResource{
			DatabaseName: aws.String(g.Database), Name: aws.String(name),
			ColumnWildcard: &types.ColumnWildcard{ExcludedColumnNames: sortedSet(g.ExcludedColumns)}}}
	case g.Table == TableWildcard:
		return &types.Resource{Table: &types.TableResource{DatabaseName: aws.String(g.Database), TableWildcard: &types.TableWildcard{}}}
	default:
		return &types.Resource{Table: &types.TableResource{DatabaseName: aws.String(g.Database), Name: aws.String(g.Table)}}
	}
}

func sdkPermissions(ps []string) []types.Permission {
	if len(ps) == 0 {
		return nil
	}
	out := make([]types.Permission, 0, len(ps))
	for _, p := range sortedSet(ps) {
		out = append(out, types.Permission(p))
	}
	return out
}

func permissionStrings(ps []types.Permission) []string {
	out := make([]string, 0, len(ps))
	for _, p := range ps {
		out = append(out, string(p))
	}
	return sortedSet(out)
}
