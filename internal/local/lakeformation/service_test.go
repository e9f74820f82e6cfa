package lakeformation

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/lakeformation"
	"github.com/aws/aws-sdk-go-v2/service/lakeformation/types"

	"github.com/snaplake/snaplake/internal/ingest/grants"
	gluelocal "github.com/snaplake/snaplake/internal/local/glue"
)

var ctx = context.Background()

func role(name string) string { return "arn:aws:iam::111122223333:role/" + name }

func open(t *testing.T) *Service {
	t.Helper()
	s, err := Open(filepath.Join(t.TempDir(), "lakeformation.json"))
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func principal(arn string) *types.DataLakePrincipal {
	return &types.DataLakePrincipal{DataLakePrincipalIdentifier: aws.String(arn)}
}

func database(name string) *types.Resource {
	return &types.Resource{Database: &types.DatabaseResource{Name: aws.String(name)}}
}

func table(db, name string) *types.Resource {
	return &types.Resource{Table: &types.TableResource{DatabaseName: aws.String(db), Name: aws.String(name)}}
}

func columns(db, name string, cols ...string) *types.Resource {
	return &types.Resource{TableWithColumns: &types.TableWithColumnsResource{DatabaseName: aws.String(db), Name: aws.String(name), ColumnNames: cols}}
}

func perms(ps ...types.Permission) []types.Permission { return ps }

func grant(t *testing.T, lf interface {
	GrantPermissions(context.Context, *lakeformation.GrantPermissionsInput, ...func(*lakeformation.Options)) (*lakeformation.GrantPermissionsOutput, error)
}, p string, r *types.Resource, ps ...types.Permission) {
	t.Helper()
	if _, err := lf.GrantPermissions(ctx, &lakeformation.GrantPermissionsInput{Principal: principal(p), Resource: r, Permissions: ps}); err != nil {
		t.Fatalf("GrantPermissions %s: %v", p, err)
	}
}

// listed is every page of a listing, each entry as JSON.
func listed(t *testing.T, lf grants.LakeFormation, in lakeformation.ListPermissionsInput) []string {
	t.Helper()
	var out []string
	for {
		page, err := lf.ListPermissions(ctx, &in)
		if err != nil {
			t.Fatalf("ListPermissions: %v", err)
		}
		for _, e := range page.PrincipalResourcePermissions {
			out = append(out, asJSON(e))
		}
		if page.NextToken == nil {
			return out
		}
		in.NextToken = page.NextToken
	}
}

func asJSON(v any) string {
	b, _ := json.Marshal(v)
	return string(b)
}

func wantInvalidInput(t *testing.T, err error, contains string) {
	t.Helper()
	var invalid *types.InvalidInputException
	if !errors.As(err, &invalid) {
		t.Fatalf("error %v (%T), want an *InvalidInputException", err, err)
	}
	if !strings.Contains(invalid.ErrorMessage(), contains) {
		t.Errorf("message %q, want it to contain %q", invalid.ErrorMessage(), contains)
	}
}

func TestGrantListRevoke(t *testing.T) {
	s := open(t)
	analyst := role("analyst")
	grant(t, s, analyst, database("sales"), types.PermissionDescribe)
	grant(t, s, analyst, table("sales", "orders"), types.PermissionSelect, types.PermissionAlter)
	grant(t, s, analyst, table("sales", "orders"), types.PermissionSelect) // held already: no change
	grant(t, s, analyst, &types.Resource{Table: &types.TableResource{DatabaseName: aws.String("sales"), TableWildcard: &types.TableWildcard{}}}, types.PermissionSelect)
	grant(t, s, analyst, columns("sales", "customers", "name", "id"), types.PermissionSelect)

	// The shapes Lake Formation lists grants in (grants.FromListPermissions undoes them):
	// DESCRIBE on the database, ALTER on orders, SELECT on orders, SELECT on every
	// table, SELECT on two columns.
	if got := listed(t, s, lakeformation.ListPermissionsInput{}); len(got) != 5 {
		t.Fatalf("listed %d entries, want 5:\n  %s", len(got), strings.Join(got, "\n  "))
	}
	gs, err := grants.FromListPermissions(mustList(t, s))
	if err != nil {
		t.Fatal(err)
	}
	wantGrants := []string{
		analyst + " DESCRIBE on database sales",
		analyst + " SELECT on table sales.*",
		analyst + " SELECT on columns sales.customers(id,name)",
		analyst + " ALTER,SELECT on table sales.orders",
	}
	if s := strGrants(gs); !slices.Equal(s, wantGrants) {
		t.Errorf("grants listed:\n  %s\nwant\n  %s", strings.Join(s, "\n  "), strings.Join(wantGrants, "\n  "))
	}
	shapes := map[string]bool{}
	for _, e := range mustList(t, s) {
		switch r := e.Resource; {
		case r.Table != nil && r.Table.TableWildcard != nil:
			shapes["Table ALL_TABLES wildcard "+string(e.Permissions[0])+" name="+aws.ToString(r.Table.Name)] = true
		case r.Table != nil:
			shapes["Table "+aws.ToString(r.Table.Name)+" "+fmt.Sprint(e.Permissions)] = true
		case r.TableWithColumns != nil && r.TableWithColumns.ColumnWildcard != nil:
			shapes["TableWithColumns wildcard "+aws.ToString(r.TableWithColumns.Name)+" "+fmt.Sprint(e.Permissions)] = true
		case r.TableWithColumns != nil:
			shapes["TableWithColumns "+fmt.Sprint(r.TableWithColumns.ColumnNames)] = true
		}
	}
	for _, s := range []string{
		"Table orders [ALTER]",                          // SELECT is listed apart...
		"TableWithColumns wildcard orders [SELECT]",     // ...on every column
		"TableWithColumns wildcard ALL_TABLES [SELECT]", // every table
		"TableWithColumns [id name]",
	} {
		if !shapes[s] {
			t.Errorf("no %s among %v", s, shapes)
		}
	}

	// Revoke what was listed, as grants.Apply does.
	for _, g := range gs {
		if _, err := s.RevokePermissions(ctx, g.RevokeInput()); err != nil {
			t.Fatalf("RevokePermissions %s: %v", g, err)
		}
	}
	if got := listed(t, s, lakeformation.ListPermissionsInput{}); len(got) != 0 {
		t.Errorf("after revoking every grant, listed %v", got)
	}
	_, err = s.RevokePermissions(ctx, gs[0].RevokeInput())
	wantInvalidInput(t, err, "No permissions revoked. Grantee has no permissions and no grantable permissions on resource.")
}

func TestColumnGrantsMerge(t *testing.T) {
	s := open(t)
	analyst := role("analyst")
	grant(t, s, analyst, columns("sales", "customers", "id"), types.PermissionSelect)
	grant(t, s, analyst, columns("sales", "customers", "name", "id"), types.PermissionSelect)
	if got := strGrants(mustGrants(t, s)); !slices.Equal(got, []string{analyst + " SELECT on columns sales.customers(id,name)"}) {
		t.Errorf("after two column grants: %v", got)
	}
	if _, err := s.RevokePermissions(ctx, &lakeformation.RevokePermissionsInput{Principal: principal(analyst),
		Resource: columns("sales", "customers", "id"), Permissions: perms(types.PermissionSelect)}); err != nil {
		t.Fatal(err)
	}
	if got := strGrants(mustGrants(t, s)); !slices.Equal(got, []string{analyst + " SELECT on columns sales.customers(name)"}) {
		t.Errorf("after revoking a column: %v", got)
	}
}

func TestGrantOption(t *testing.T) {
	s := open(t)
	analyst := role("analyst")
	if _, err := s.GrantPermissions(ctx, &lakeformation.GrantPermissionsInput{Principal: principal(analyst), Resource: table("sales", "orders"),
		Permissions: perms(types.PermissionSelect), PermissionsWithGrantOption: perms(types.PermissionSelect)}); err != nil {
		t.Fatal(err)
	}
	// Revoking the grant option alone keeps the permission.
	if _, err := s.RevokePermissions(ctx, &lakeformation.RevokePermissionsInput{Principal: principal(analyst), Resource: table("sales", "orders"),
		Permissions: perms(), PermissionsWithGrantOption: perms(types.PermissionSelect)}); err != nil {
		t.Fatal(err)
	}
	if got := strGrants(mustGrants(t, s)); !slices.Equal(got, []string{analyst + " SELECT on table sales.orders"}) {
		t.Errorf("grants %v", got)
	}
}

func TestValidation(t *testing.T) {
	s := open(t)
	analyst := role("analyst")
	tests := []struct {
		name      string
		principal string
		resource  *types.Resource
		perms     []types.Permission
		grantable []types.Permission
		want      string
	}{
		{"a role name, not an ARN", "analyst", database("sales"), perms(types.PermissionDescribe), nil, "Invalid principal, arn: analyst"},
		{"an S3 ARN", "arn:aws:s3:::bucket", database("sales"), perms(types.PermissionDescribe), nil, "Invalid principal"},
		{"no principal", "", database("sales"), perms(types.PermissionDescribe), nil, "Principal is required"},
		{"an unknown permission", analyst, database("sales"), perms("READ"), nil, "Please grant only valid Lake Formation permissions. [READ] are not all valid"},
		{"no permissions", analyst, database("sales"), nil, nil, "Permissions is required"},
		{"SELECT on a database", analyst, database("sales"), perms(types.PermissionSelect), nil, "SELECT is not a permission on a database"},
		{"ALTER on columns", analyst, columns("sales", "orders", "id"), perms(types.PermissionAlter), nil, "ALTER is not a permission on a table with columns"},
		{"no resource", analyst, &types.Resource{}, perms(types.PermissionDescribe), nil, "Resource must name"},
		{"a data location", analyst, &types.Resource{DataLocation: &types.DataLocationResource{ResourceArn: aws.String("arn:aws:s3:::lake")}},
			perms(types.PermissionDataLocationAccess), nil, "Resource must name a database, a table or a table with columns"},
		{"two resources", analyst, &types.Resource{Database: database("sales").Database, Table: table("sales", "orders").Table},
			perms(types.PermissionDescribe), nil, "one resource"},
		{"table name and wildcard", analyst, &types.Resource{Table: &types.TableResource{DatabaseName: aws.String("sales"), Name: aws.String("orders"), TableWildcard: &types.TableWildcard{}}},
			perms(types.PermissionSelect), nil, "cannot both be present"},
		{"database without a name", analyst, &types.Resource{Database: &types.DatabaseResource{}}, perms(types.PermissionDescribe), nil, "Name is required"},
		{"grant option beyond the permissions", analyst, table("sales", "orders"), perms(types.PermissionSelect), perms(types.PermissionAlter), "not in Permissions"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			in := &lakeformation.GrantPermissionsInput{Resource: tt.resource, Permissions: tt.perms, PermissionsWithGrantOption: tt.grantable}
			if tt.principal != "" {
				in.Principal = principal(tt.principal)
			}
			_, err := s.GrantPermissions(ctx, in)
			wantInvalidInput(t, err, tt.want)
		})
	}
	if got := mustGrants(t, s); len(got) != 0 {
		t.Errorf("invalid grants were kept: %v", got)
	}
	// IAM_ALLOWED_PRINCIPALS and IAM users are principals.
	grant(t, s, grants.IAMAllowedPrincipals, database("sales"), types.PermissionAll)
	grant(t, s, "arn:aws:iam::111122223333:user/alice", database("sales"), types.PermissionDescribe)
}

func TestListPermissionsPages(t *testing.T) {
	s := open(t)
	for i := range 5 {
		grant(t, s, role(fmt.Sprintf("r%d", i)), database("sales"), types.PermissionDescribe)
	}
	in := lakeformation.ListPermissionsInput{MaxResults: aws.Int32(2)}
	var sizes []int
	var seen []string
	var tokens []string
	for {
		page, err := s.ListPermissions(ctx, &in)
		if err != nil {
			t.Fatal(err)
		}
		sizes = append(sizes, len(page.PrincipalResourcePermissions))
		for _, e := range page.PrincipalResourcePermissions {
			seen = append(seen, aws.ToString(e.Principal.DataLakePrincipalIdentifier))
		}
		if page.NextToken == nil {
			break
		}
		tokens = append(tokens, *page.NextToken)
		in.NextToken = page.NextToken
	}
	if !slices.Equal(sizes, []int{2, 2, 1}) {
		t.Errorf("page sizes %v, want [2 2 1]", sizes)
	}
	if want := []string{role("r0"), role("r1"), role("r2"), role("r3"), role("r4")}; !slices.Equal(seen, want) {
		t.Errorf("listed %v, want each principal once, in order", seen)
	}

	for _, tt := range []struct {
		name string
		in   lakeformation.ListPermissionsInput
		want string
	}{
		{"a made-up token", lakeformation.ListPermissionsInput{NextToken: aws.String("page-2")}, "Invalid NextToken"},
		{"another listing's token", lakeformation.ListPermissionsInput{ResourceType: types.DataLakeResourceTypeTable, MaxResults: aws.Int32(2), NextToken: &tokens[0]}, "Invalid NextToken"},
		{"MaxResults 0", lakeformation.ListPermissionsInput{MaxResults: aws.Int32(0)}, "MaxResults"},
		{"MaxResults 1001", lakeformation.ListPermissionsInput{MaxResults: aws.Int32(1001)}, "MaxResults"},
		{"an unknown resource type", lakeformation.ListPermissionsInput{ResourceType: "VIEW"}, "ResourceType"},
		{"a table with columns", lakeformation.ListPermissionsInput{Resource: columns("sales", "orders", "id")}, "table with columns"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			_, err := s.ListPermissions(ctx, &tt.in)
			wantInvalidInput(t, err, tt.want)
		})
	}
}

func TestListPermissionsFilters(t *testing.T) {
	s := open(t)
	analyst, support := role("analyst"), role("support")
	grant(t, s, analyst, database("sales"), types.PermissionDescribe)
	grant(t, s, analyst, table("sales", "orders"), types.PermissionSelect, types.PermissionAlter)
	grant(t, s, analyst, columns("sales", "customers", "id"), types.PermissionSelect)
	grant(t, s, support, database("hr"), types.PermissionDescribe)
	grant(t, s, support, table("hr", "payroll"), types.PermissionSelect)

	count := func(in lakeformation.ListPermissionsInput) int { return len(listed(t, s, in)) }
	for _, tt := range []struct {
		name string
		in   lakeformation.ListPermissionsInput
		want int
	}{
		{"everything", lakeformation.ListPermissionsInput{}, 6},
		{"databases", lakeformation.ListPermissionsInput{ResourceType: types.DataLakeResourceTypeDatabase}, 2},
		{"tables, with their columns", lakeformation.ListPermissionsInput{ResourceType: types.DataLakeResourceTypeTable}, 4},
		{"data locations", lakeformation.ListPermissionsInput{ResourceType: types.DataLakeResourceTypeDataLocation}, 0},
		{"one principal", lakeformation.ListPermissionsInput{Principal: principal(support)}, 2},
		{"one database", lakeformation.ListPermissionsInput{Resource: database("sales")}, 1},
		{"one table: the table and its column grants", lakeformation.ListPermissionsInput{Resource: table("sales", "orders")}, 2},
		{"a table's columns under the table", lakeformation.ListPermissionsInput{Resource: table("sales", "customers")}, 1},
		{"principal and type", lakeformation.ListPermissionsInput{Principal: principal(analyst), ResourceType: types.DataLakeResourceTypeTable}, 3},
	} {
		if got := count(tt.in); got != tt.want {
			t.Errorf("%s: %d entries, want %d", tt.name, got, tt.want)
		}
	}
}

func TestBatch(t *testing.T) {
	s := open(t)
	analyst := role("analyst")
	entry := func(id string, p string, r *types.Resource, ps ...types.Permission) types.BatchPermissionsRequestEntry {
		return types.BatchPermissionsRequestEntry{Id: aws.String(id), Principal: principal(p), Resource: r, Permissions: ps}
	}
	out, err := s.BatchGrantPermissions(ctx, &lakeformation.BatchGrantPermissionsInput{Entries: []types.BatchPermissionsRequestEntry{
		entry("0", analyst, database("sales"), types.PermissionDescribe),
		entry("1", "not-a-principal", database("sales"), types.PermissionDescribe),
		entry("2", analyst, table("sales", "orders"), types.PermissionSelect),
	}})
	if err != nil {
		t.Fatal(err)
	}
	if len(out.Failures) != 1 {
		t.Fatalf("Failures = %s, want one", asJSON(out.Failures))
	}
	f := out.Failures[0]
	if aws.ToString(f.RequestEntry.Id) != "1" || aws.ToString(f.Error.ErrorCode) != "InvalidInputException" ||
		!strings.Contains(aws.ToString(f.Error.ErrorMessage), "Invalid principal, arn: not-a-principal") {
		t.Errorf("failure %s", asJSON(f))
	}
	if got := strGrants(mustGrants(t, s)); !slices.Equal(got, []string{analyst + " DESCRIBE on database sales", analyst + " SELECT on table sales.orders"}) {
		t.Errorf("the valid entries were not applied: %v", got)
	}

	// Revoking what is not held is an entry's failure too; the rest is revoked.
	rev, err := s.BatchRevokePermissions(ctx, &lakeformation.BatchRevokePermissionsInput{Entries: []types.BatchPermissionsRequestEntry{
		entry("a", analyst, database("sales"), types.PermissionDescribe),
		entry("b", analyst, database("hr"), types.PermissionDescribe),
	}})
	if err != nil {
		t.Fatal(err)
	}
	if len(rev.Failures) != 1 || aws.ToString(rev.Failures[0].RequestEntry.Id) != "b" ||
		!strings.HasPrefix(aws.ToString(rev.Failures[0].Error.ErrorMessage), "No permissions revoked") {
		t.Errorf("revoke Failures = %s", asJSON(rev.Failures))
	}

	// Over 20 entries: the call is refused and nothing is applied.
	many := make([]types.BatchPermissionsRequestEntry, grants.MaxBatch+1)
	for i := range many {
		many[i] = entry(fmt.Sprint(i), role(fmt.Sprintf("r%d", i)), database("sales"), types.PermissionDescribe)
	}
	_, err = s.BatchGrantPermissions(ctx, &lakeformation.BatchGrantPermissionsInput{Entries: many})
	wantInvalidInput(t, err, "at most 20 entries")
	if got := mustGrants(t, s); len(got) != 1 {
		t.Errorf("an oversized batch changed the grants: %v", strGrants(got))
	}
	_, err = s.BatchGrantPermissions(ctx, &lakeformation.BatchGrantPermissionsInput{})
	wantInvalidInput(t, err, "Entries is required")
}

func TestPersistence(t *testing.T) {
	path := filepath.Join(t.TempDir(), "state", "lakeformation.json")
	s, err := Open(path)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(path); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("Open created %s before any change (%v)", path, err)
	}
	analyst := role("analyst")
	grant(t, s, analyst, columns("sales", "customers", "id", "name"), types.PermissionSelect)
	if _, err := s.PutDataLakeSettings(ctx, &lakeformation.PutDataLakeSettingsInput{DataLakeSettings: &types.DataLakeSettings{
		DataLakeAdmins: []types.DataLakePrincipal{*principal(role("lake-admin"))}}}); err != nil {
		t.Fatal(err)
	}
	if _, err := s.RegisterResource(ctx, &lakeformation.RegisterResourceInput{ResourceArn: aws.String("arn:aws:s3:::lake/tables"), RoleArn: aws.String(role("lf-access"))}); err != nil {
		t.Fatal(err)
	}

	// Another process opens the same file.
	other, err := Open(path)
	if err != nil {
		t.Fatal(err)
	}
	if got := strGrants(mustGrants(t, other)); !slices.Equal(got, []string{analyst + " SELECT on columns sales.customers(id,name)"}) {
		t.Errorf("grants after reopening: %v", got)
	}
	settings, err := other.GetDataLakeSettings(ctx, &lakeformation.GetDataLakeSettingsInput{})
	if err != nil || len(settings.DataLakeSettings.DataLakeAdmins) != 1 {
		t.Errorf("settings after reopening: %s, %v", asJSON(settings), err)
	}
	res, err := other.DescribeResource(ctx, &lakeformation.DescribeResourceInput{ResourceArn: aws.String("arn:aws:s3:::lake/tables")})
	if err != nil || aws.ToString(res.ResourceInfo.RoleArn) != role("lf-access") {
		t.Errorf("DescribeResource after reopening: %s, %v", asJSON(res), err)
	}

	// The file is the grants as the grants package writes them, and nothing is left
	// of the temporary files.
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var f struct{ Grants []grants.Grant }
	if err := json.Unmarshal(b, &f); err != nil || len(f.Grants) != 1 || !slices.Equal(f.Grants[0].Columns, []string{"id", "name"}) {
		t.Errorf("state file %s: %v", b, err)
	}
	if entries, _ := os.ReadDir(filepath.Dir(path)); len(entries) != 1 {
		t.Errorf("files beside the state: %v", entries)
	}
}

func TestConcurrentGrants(t *testing.T) {
	s := open(t)
	var wg sync.WaitGroup
	for i := range 20 {
		wg.Go(func() {
			if _, err := s.GrantPermissions(ctx, &lakeformation.GrantPermissionsInput{Principal: principal(role(fmt.Sprintf("r%02d", i))),
				Resource: database("sales"), Permissions: perms(types.PermissionDescribe)}); err != nil {
				t.Error(err)
			}
		})
	}
	wg.Wait()
	if got := mustGrants(t, s); len(got) != 20 {
		t.Errorf("%d grants after 20 concurrent grants", len(got))
	}
}

func TestSettings(t *testing.T) {
	s := open(t)
	out, err := s.GetDataLakeSettings(ctx, &lakeformation.GetDataLakeSettingsInput{})
	if err != nil {
		t.Fatal(err)
	}
	d := out.DataLakeSettings
	if len(d.DataLakeAdmins) != 0 || len(d.CreateDatabaseDefaultPermissions) != 1 ||
		aws.ToString(d.CreateTableDefaultPermissions[0].Principal.DataLakePrincipalIdentifier) != grants.IAMAllowedPrincipals {
		t.Errorf("a new account's settings: %s", asJSON(d))
	}
	for _, tt := range []struct {
		name     string
		settings *types.DataLakeSettings
		want     string
	}{
		{"no settings", nil, "DataLakeSettings is required"},
		{"SELECT by default", &types.DataLakeSettings{CreateTableDefaultPermissions: []types.PrincipalPermissions{
			{Principal: principal(grants.IAMAllowedPrincipals), Permissions: perms(types.PermissionSelect)}}}, "CreateTableDefaultPermissions"},
		{"a role by default", &types.DataLakeSettings{CreateDatabaseDefaultPermissions: []types.PrincipalPermissions{
			{Principal: principal(role("x")), Permissions: perms(types.PermissionAll)}}}, "CreateDatabaseDefaultPermissions"},
		{"IAM_ALLOWED_PRINCIPALS as admin", &types.DataLakeSettings{DataLakeAdmins: []types.DataLakePrincipal{*principal(grants.IAMAllowedPrincipals)}}, "Invalid principal"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			_, err := s.PutDataLakeSettings(ctx, &lakeformation.PutDataLakeSettingsInput{DataLakeSettings: tt.settings})
			wantInvalidInput(t, err, tt.want)
		})
	}
	// Put replaces everything: the defaults left out are cleared.
	if _, err := s.PutDataLakeSettings(ctx, &lakeformation.PutDataLakeSettingsInput{DataLakeSettings: &types.DataLakeSettings{
		DataLakeAdmins: []types.DataLakePrincipal{*principal(role("lake-admin"))}}}); err != nil {
		t.Fatal(err)
	}
	out, _ = s.GetDataLakeSettings(ctx, &lakeformation.GetDataLakeSettingsInput{})
	if len(out.DataLakeSettings.CreateDatabaseDefaultPermissions) != 0 || len(out.DataLakeSettings.DataLakeAdmins) != 1 {
		t.Errorf("settings after put: %s", asJSON(out.DataLakeSettings))
	}
}

func TestResources(t *testing.T) {
	s := open(t)
	in := &lakeformation.RegisterResourceInput{ResourceArn: aws.String("arn:aws:s3:::lake"), UseServiceLinkedRole: aws.Bool(true), HybridAccessEnabled: aws.Bool(true)}
	if _, err := s.RegisterResource(ctx, in); err != nil {
		t.Fatal(err)
	}
	var exists *types.AlreadyExistsException
	if _, err := s.RegisterResource(ctx, in); !errors.As(err, &exists) {
		t.Errorf("registering twice: %v", err)
	}
	out, err := s.DescribeResource(ctx, &lakeformation.DescribeResourceInput{ResourceArn: in.ResourceArn})
	if err != nil || !aws.ToBool(out.ResourceInfo.HybridAccessEnabled) || out.ResourceInfo.LastModified == nil {
		t.Errorf("DescribeResource = %s, %v", asJSON(out), err)
	}
	var notFound *types.EntityNotFoundException
	if _, err := s.DescribeResource(ctx, &lakeformation.DescribeResourceInput{ResourceArn: aws.String("arn:aws:s3:::other")}); !errors.As(err, &notFound) {
		t.Errorf("DescribeResource of an unregistered location: %v", err)
	}
	_, err = s.RegisterResource(ctx, &lakeformation.RegisterResourceInput{ResourceArn: aws.String("lake")})
	wantInvalidInput(t, err, "not an S3")
}

func TestAsPrincipal(t *testing.T) {
	s := open(t)
	admin, analyst, support := role("lake-admin"), role("analyst"), role("support")
	var denied *types.AccessDeniedException

	// No administrator yet: nobody may grant, anyone may name the first one.
	_, err := s.AsPrincipal(admin).GrantPermissions(ctx, &lakeformation.GrantPermissionsInput{Principal: principal(analyst),
		Resource: database("sales"), Permissions: perms(types.PermissionDescribe)})
	if !errors.As(err, &denied) || !strings.Contains(err.Error(), msgAccessDenied) {
		t.Fatalf("grant by a non-administrator: %v", err)
	}
	if _, err := s.AsPrincipal(admin).PutDataLakeSettings(ctx, &lakeformation.PutDataLakeSettingsInput{DataLakeSettings: &types.DataLakeSettings{
		DataLakeAdmins: []types.DataLakePrincipal{*principal(admin)}}}); err != nil {
		t.Fatal(err)
	}
	if _, err := s.AsPrincipal(analyst).PutDataLakeSettings(ctx, &lakeformation.PutDataLakeSettingsInput{DataLakeSettings: &types.DataLakeSettings{}}); !errors.As(err, &denied) {
		t.Errorf("settings put by a non-administrator: %v", err)
	}
	if _, err := s.AsPrincipal(analyst).RegisterResource(ctx, &lakeformation.RegisterResourceInput{ResourceArn: aws.String("arn:aws:s3:::lake")}); !errors.As(err, &denied) {
		t.Errorf("register by a non-administrator: %v", err)
	}

	// The administrator grants; one grant comes with the grant option.
	grant(t, s.AsPrincipal(admin), analyst, database("sales"), types.PermissionDescribe)
	if _, err := s.AsPrincipal(admin).GrantPermissions(ctx, &lakeformation.GrantPermissionsInput{Principal: principal(analyst),
		Resource: table("sales", "orders"), Permissions: perms(types.PermissionSelect), PermissionsWithGrantOption: perms(types.PermissionSelect)}); err != nil {
		t.Fatal(err)
	}
	grant(t, s.AsPrincipal(admin), support, table("hr", "payroll"), types.PermissionSelect)

	// The grant option lets the analyst pass SELECT on the table and its columns on, and nothing else.
	grant(t, s.AsPrincipal(analyst), support, columns("sales", "orders", "id"), types.PermissionSelect)
	out, err := s.AsPrincipal(analyst).BatchGrantPermissions(ctx, &lakeformation.BatchGrantPermissionsInput{Entries: []types.BatchPermissionsRequestEntry{
		{Id: aws.String("0"), Principal: principal(support), Resource: table("sales", "orders"), Permissions: perms(types.PermissionSelect)},
		{Id: aws.String("1"), Principal: principal(support), Resource: database("sales"), Permissions: perms(types.PermissionDescribe)},
	}})
	if err != nil {
		t.Fatal(err)
	}
	if len(out.Failures) != 1 || aws.ToString(out.Failures[0].RequestEntry.Id) != "1" || aws.ToString(out.Failures[0].Error.ErrorCode) != "AccessDeniedException" {
		t.Errorf("batch by a grant option holder: Failures %s", asJSON(out.Failures))
	}

	// A non-administrator lists only the permissions it holds itself: the analyst holds
	// DESCRIBE on sales and SELECT on sales.orders (which covers its columns), not
	// SELECT on hr.payroll.
	var seen []string
	for _, e := range mustListAs(t, s.AsPrincipal(analyst)) {
		gs, _ := grants.FromListPermissions([]types.PrincipalResourcePermissions{e})
		seen = append(seen, strGrants(gs)...)
	}
	want := []string{
		analyst + " DESCRIBE on database sales",
		analyst + " SELECT grantable SELECT on table sales.orders",
		support + " SELECT on table sales.orders",
		support + " SELECT on columns sales.orders(id)",
	}
	if !slices.Equal(seen, want) {
		t.Errorf("the analyst sees\n  %s\nwant\n  %s", strings.Join(seen, "\n  "), strings.Join(want, "\n  "))
	}
	if all := mustListAs(t, s.AsPrincipal(admin)); len(all) != len(mustList(t, s)) {
		t.Errorf("the administrator sees %d entries of %d", len(all), len(mustList(t, s)))
	}
}

// countingLF counts the writes grants.Apply makes.
type countingLF struct {
	grants.LakeFormation
	writes int
}

func (c *countingLF) BatchGrantPermissions(ctx context.Context, in *lakeformation.BatchGrantPermissionsInput, opts ...func(*lakeformation.Options)) (*lakeformation.BatchGrantPermissionsOutput, error) {
	c.writes++
	return c.LakeFormation.BatchGrantPermissions(ctx, in, opts...)
}

func (c *countingLF) BatchRevokePermissions(ctx context.Context, in *lakeformation.BatchRevokePermissionsInput, opts ...func(*lakeformation.Options)) (*lakeformation.BatchRevokePermissionsOutput, error) {
	c.writes++
	return c.LakeFormation.BatchRevokePermissions(ctx, in, opts...)
}

func TestApplyConverges(t *testing.T) {
	s := open(t)
	admin, analyst, support, stranger := role("lake-admin"), role("analyst"), role("support"), role("stranger")
	// A new database and its tables as Lake Formation leaves them, a grant made by
	// hand, an administrator's grant and another database's grant.
	grant(t, s, grants.IAMAllowedPrincipals, database("sales"), types.PermissionAll)
	grant(t, s, grants.IAMAllowedPrincipals, table("sales", "orders"), types.PermissionAll, types.PermissionSelect)
	grant(t, s, stranger, columns("sales", "customers", "ssn"), types.PermissionSelect)
	grant(t, s, admin, database("sales"), types.PermissionAll)
	grant(t, s, stranger, database("hr"), types.PermissionDescribe)
	// The analyst holds other columns than the config now gives it.
	grant(t, s, analyst, columns("sales", "customers", "id", "name"), types.PermissionSelect)

	desired := []grants.Grant{
		{Principal: analyst, Database: "sales", Permissions: []string{grants.Describe}},
		{Principal: analyst, Database: "sales", Table: "orders", Permissions: []string{grants.Select}},
		{Principal: analyst, Database: "sales", Table: "customers", Columns: []string{"city", "id"}, Permissions: []string{grants.Select}},
		{Principal: support, Database: "sales", Permissions: []string{grants.Describe}},
		{Principal: support, Database: "sales", Table: grants.TableWildcard, Permissions: []string{grants.Select}},
	}
	scope := grants.Scope{Databases: []string{"sales"}, Keep: []string{admin}}
	lf := &countingLF{LakeFormation: s}

	first, err := grants.Apply(ctx, lf, desired, scope, grants.ApplyOptions{})
	if err != nil {
		t.Fatalf("first Apply: %v", err)
	}
	if len(first.Added) != 5 || len(first.Revoked) != 4 || lf.writes != 2 {
		t.Errorf("first Apply: added %v, revoked %v, %d writes", strGrants(first.Added), strGrants(first.Revoked), lf.writes)
	}
	want := []string{
		analyst + " DESCRIBE on database sales",
		analyst + " SELECT on columns sales.customers(city,id)",
		analyst + " SELECT on table sales.orders",
		admin + " ALL on database sales",
		stranger + " DESCRIBE on database hr",
		support + " DESCRIBE on database sales",
		support + " SELECT on table sales.*",
	}
	if got := strGrants(mustGrants(t, s)); !slices.Equal(got, want) {
		t.Errorf("after Apply:\n  %s\nwant\n  %s", strings.Join(got, "\n  "), strings.Join(want, "\n  "))
	}

	lf.writes = 0
	second, err := grants.Apply(ctx, lf, desired, scope, grants.ApplyOptions{})
	if err != nil {
		t.Fatalf("second Apply: %v", err)
	}
	if lf.writes != 0 || len(second.Added)+len(second.Revoked)+len(second.Failed) != 0 {
		t.Errorf("second Apply: %d writes, %+v; want none", lf.writes, second)
	}
}

func mustList(t *testing.T, s *Service) []types.PrincipalResourcePermissions {
	t.Helper()
	out, err := s.ListPermissions(ctx, &lakeformation.ListPermissionsInput{MaxResults: aws.Int32(maxListResults)})
	if err != nil {
		t.Fatal(err)
	}
	return out.PrincipalResourcePermissions
}

func mustListAs(t *testing.T, c *Client) []types.PrincipalResourcePermissions {
	t.Helper()
	out, err := c.ListPermissions(ctx, &lakeformation.ListPermissionsInput{MaxResults: aws.Int32(maxListResults)})
	if err != nil {
		t.Fatal(err)
	}
	return out.PrincipalResourcePermissions
}

func mustGrants(t *testing.T, s *Service) []grants.Grant {
	t.Helper()
	gs, err := s.Grants()
	if err != nil {
		t.Fatal(err)
	}
	return gs
}

func strGrants(gs []grants.Grant) []string {
	out := make([]string, len(gs))
	for i, g := range gs {
		out[i] = g.String()
	}
	return out
}

// TestGrantsNeedTheCatalogEntry: with the account's catalog set, a grant or revoke on a
// database or table the catalog does not hold fails with EntityNotFoundException, in a
// single call and as a batch entry, and succeeds once the crawler has created it.
func TestGrantsNeedTheCatalogEntry(t *testing.T) {
	s := open(t)
	cat, err := gluelocal.OpenCatalog(filepath.Join(t.TempDir(), "catalog.json"))
	if err != nil {
		t.Fatal(err)
	}
	if err := cat.CreateDatabase("raw_shop"); err != nil {
		t.Fatal(err)
	}
	s.SetCatalog(cat)
	wantNotFound := func(what string, err error) {
		t.Helper()
		var nf *types.EntityNotFoundException
		if !errors.As(err, &nf) || nf.ErrorMessage() != msgEntityNotFound {
			t.Errorf("%s: %v (%T), want EntityNotFoundException %q", what, err, err, msgEntityNotFound)
		}
	}
	analyst := principal(role("analyst"))
	_, err = s.GrantPermissions(ctx, &lakeformation.GrantPermissionsInput{Principal: analyst, Resource: table("raw_shop", "orders"), Permissions: perms(types.PermissionSelect)})
	wantNotFound("grant on a table not crawled yet", err)
	_, err = s.GrantPermissions(ctx, &lakeformation.GrantPermissionsInput{Principal: analyst, Resource: columns("raw_shop", "orders", "id"), Permissions: perms(types.PermissionSelect)})
	wantNotFound("grant on columns of a table not crawled yet", err)
	_, err = s.GrantPermissions(ctx, &lakeformation.GrantPermissionsInput{Principal: analyst, Resource: database("raw_other"), Permissions: perms(types.PermissionDescribe)})
	wantNotFound("grant on a database that does not exist", err)
	_, err = s.RevokePermissions(ctx, &lakeformation.RevokePermissionsInput{Principal: analyst, Resource: table("raw_shop", "orders"), Permissions: perms(types.PermissionSelect)})
	wantNotFound("revoke on a table that does not exist", err)
	out, err := s.BatchGrantPermissions(ctx, &lakeformation.BatchGrantPermissionsInput{Entries: []types.BatchPermissionsRequestEntry{
		{Id: aws.String("1"), Principal: analyst, Resource: table("raw_shop", "orders"), Permissions: perms(types.PermissionSelect)},
		{Id: aws.String("2"), Principal: analyst, Resource: database("raw_shop"), Permissions: perms(types.PermissionDescribe)},
		{Id: aws.String("3"), Principal: analyst, Resource: &types.Resource{Table: &types.TableResource{DatabaseName: aws.String("raw_shop"), TableWildcard: &types.TableWildcard{}}}, Permissions: perms(types.PermissionSelect)},
	}})
	if err != nil || len(out.Failures) != 1 || aws.ToString(out.Failures[0].RequestEntry.Id) != "1" ||
		aws.ToString(out.Failures[0].Error.ErrorCode) != "EntityNotFoundException" || aws.ToString(out.Failures[0].Error.ErrorMessage) != msgEntityNotFound {
		t.Fatalf("batch with a table not crawled yet: %s %v", asJSON(out), err)
	}
	if err := cat.Put(gluelocal.Table{Database: "raw_shop", Name: "orders", Location: "s3://lake/raw/shop/orders/"}); err != nil {
		t.Fatal(err)
	}
	grant(t, s, role("analyst"), table("raw_shop", "orders"), types.PermissionSelect)
}
