package grants

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"reflect"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/lakeformation"
	"github.com/aws/aws-sdk-go-v2/service/lakeformation/types"
)

func TestFromListPermissions(t *testing.T) {
	principal := func(p string) *types.DataLakePrincipal {
		return &types.DataLakePrincipal{DataLakePrincipalIdentifier: aws.String(p)}
	}
	perms := func(ps ...types.Permission) []types.Permission { return ps }
	analyst := arn("analyst")
	// The shapes ListPermissions reports, as the AWS CLI prints them
	// (terraform-provider-aws, internal/service/lakeformation/filter.go, documents the
	// SELECT ones): SELECT comes back apart from the other permissions of a grant.
	out := []types.PrincipalResourcePermissions{
		{Principal: principal(analyst), Permissions: perms(types.PermissionDescribe),
			Resource: &types.Resource{Database: &types.DatabaseResource{CatalogId: aws.String(account), Name: aws.String("sales")}}},
		// ALL, ... on a table: the non-SELECT part on Table...
		{Principal: principal(IAMAllowedPrincipals), Permissions: perms(types.PermissionAll, types.PermissionAlter, types.PermissionDescribe),
			Resource: &types.Resource{Table: &types.TableResource{DatabaseName: aws.String("sales"), Name: aws.String("orders")}}},
		// ...and SELECT on TableWithColumns with a ColumnWildcard.
		{Principal: principal(IAMAllowedPrincipals), Permissions: perms(types.PermissionSelect),
			Resource: &types.Resource{TableWithColumns: &types.TableWithColumnsResource{DatabaseName: aws.String("sales"), Name: aws.String("orders"), ColumnWildcard: &types.ColumnWildcard{}}}},
		// SELECT on every table: TableWithColumns named ALL_TABLES.
		{Principal: principal(analyst), Permissions: perms(types.PermissionSelect),
			Resource: &types.Resource{TableWithColumns: &types.TableWithColumnsResource{DatabaseName: aws.String("sales"), Name: aws.String("ALL_TABLES"), ColumnWildcard: &types.ColumnWildcard{}}}},
		// DESCRIBE on every table: Table with a TableWildcard (and the name ALL_TABLES).
		{Principal: principal(analyst), Permissions: perms(types.PermissionDescribe),
			Resource: &types.Resource{Table: &types.TableResource{DatabaseName: aws.String("sales"), Name: aws.String("ALL_TABLES"), TableWildcard: &types.TableWildcard{}}}},
		{Principal: principal(analyst), Permissions: perms(types.PermissionSelect),
			Resource: &types.Resource{TableWithColumns: &types.TableWithColumnsResource{DatabaseName: aws.String("sales"), Name: aws.String("customers"), ColumnNames: []string{"name", "id"}}}},
		{Principal: principal(analyst), Permissions: perms(types.PermissionSelect), PermissionsWithGrantOption: perms(types.PermissionSelect),
			Resource: &types.Resource{TableWithColumns: &types.TableWithColumnsResource{DatabaseName: aws.String("sales"), Name: aws.String("people"),
				ColumnWildcard: &types.ColumnWildcard{ExcludedColumnNames: []string{"ssn"}}}}},
		// Not a catalog grant: left out.
		{Principal: principal(arn("snaplake-crawler")), Permissions: perms(types.PermissionDataLocationAccess),
			Resource: &types.Resource{DataLocation: &types.DataLocationResource{ResourceArn: aws.String("arn:aws:s3:::lake")}}},
	}
	got, err := FromListPermissions(out)
	if err != nil {
		t.Fatal(err)
	}
	want := []string{
		"IAM_ALLOWED_PRINCIPALS ALL,ALTER,DESCRIBE,SELECT on table sales.orders",
		analyst + " DESCRIBE on database sales",
		analyst + " DESCRIBE,SELECT on table sales.*",
		analyst + " SELECT on columns sales.customers(id,name)",
		analyst + " SELECT grantable SELECT on columns sales.people(* except ssn)",
	}
	if s := strs(got); !slices.Equal(s, want) {
		t.Errorf("FromListPermissions =\n  %s\nwant\n  %s", strings.Join(s, "\n  "), strings.Join(want, "\n  "))
	}

	// What the access rules ask for is what ListPermissions reports once granted.
	desired := []Grant{
		{Principal: analyst, Database: "sales", Permissions: []string{Describe}},
		{Principal: analyst, Database: "sales", Table: "*", Permissions: []string{Select}},
		{Principal: analyst, Database: "sales", Table: "customers", Columns: []string{"id", "name"}, Permissions: []string{Select}},
	}
	add, _ := Diff(desired, got, Scope{})
	if len(add) != 0 {
		t.Errorf("granted grants still to add: %v", add)
	}

	for name, bad := range map[string]types.PrincipalResourcePermissions{
		"no principal": {Resource: &types.Resource{Database: &types.DatabaseResource{Name: aws.String("sales")}}, Permissions: perms(types.PermissionDescribe)},
		"no resource":  {Principal: principal(analyst), Permissions: perms(types.PermissionDescribe)},
		"no table name": {Principal: principal(analyst), Permissions: perms(types.PermissionSelect),
			Resource: &types.Resource{Table: &types.TableResource{DatabaseName: aws.String("sales")}}},
		"no columns": {Principal: principal(analyst), Permissions: perms(types.PermissionSelect),
			Resource: &types.Resource{TableWithColumns: &types.TableWithColumnsResource{DatabaseName: aws.String("sales"), Name: aws.String("orders")}}},
	} {
		if g, err := FromListPermissions([]types.PrincipalResourcePermissions{bad}); err == nil {
			t.Errorf("%s: %v, no error", name, g)
		}
	}
}

// TestSDKInputs checks the request of each kind of grant twice: as the SDK input
// struct, and as the JSON the real SDK client sends (through its own validation of
// required members) to a local Lake Formation endpoint.
func TestSDKInputs(t *testing.T) {
	p := arn("analyst")
	tests := []struct {
		name     string
		grant    Grant
		resource *types.Resource
		wire     string // the request's Resource member
	}{
		{
			name:     "database",
			grant:    Grant{Principal: p, Database: "sales", Permissions: []string{Describe}},
			resource: &types.Resource{Database: &types.DatabaseResource{Name: aws.String("sales")}},
			wire:     `{"Database":{"Name":"sales"}}`,
		},
		{
			name:     "table",
			grant:    Grant{Principal: p, Database: "sales", Table: "orders", Permissions: []string{Select}},
			resource: &types.Resource{Table: &types.TableResource{DatabaseName: aws.String("sales"), Name: aws.String("orders")}},
			wire:     `{"Table":{"DatabaseName":"sales","Name":"orders"}}`,
		},
		{
			name:     "every table",
			grant:    Grant{Principal: p, Database: "sales", Table: TableWildcard, Permissions: []string{Select}},
			resource: &types.Resource{Table: &types.TableResource{DatabaseName: aws.String("sales"), TableWildcard: &types.TableWildcard{}}},
			wire:     `{"Table":{"DatabaseName":"sales","TableWildcard":{}}}`,
		},
		{
			name:  "columns",
			grant: Grant{Principal: p, Database: "sales", Table: "customers", Columns: []string{"name", "id"}, Permissions: []string{Select}},
			resource: &types.Resource{TableWithColumns: &types.TableWithColumnsResource{
				DatabaseName: aws.String("sales"), Name: aws.String("customers"), ColumnNames: []string{"id", "name"}}},
			wire: `{"TableWithColumns":{"ColumnNames":["id","name"],"DatabaseName":"sales","Name":"customers"}}`,
		},
		{
			name:  "every column but some",
			grant: Grant{Principal: p, Database: "sales", Table: "people", ExcludedColumns: []string{"ssn"}, Permissions: []string{Select}},
			resource: &types.Resource{TableWithColumns: &types.TableWithColumnsResource{
				DatabaseName: aws.String("sales"), Name: aws.String("people"), ColumnWildcard: &types.ColumnWildcard{ExcludedColumnNames: []string{"ssn"}}}},
			wire: `{"TableWithColumns":{"ColumnWildcard":{"ExcludedColumnNames":["ssn"]},"DatabaseName":"sales","Name":"people"}}`,
		},
	}

	var requests []request
	client := lakeformation.New(lakeformation.Options{
		Region:       "us-east-1",
		BaseEndpoint: aws.String(fakeLakeFormation(t, &requests, `{}`)),
		Credentials:  aws.AnonymousCredentials{},
	})
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			principal := &types.DataLakePrincipal{DataLakePrincipalIdentifier: aws.String(p)}
			wantPerms := []types.Permission{types.Permission(tt.grant.Permissions[0])}
			in := tt.grant.Input()
			if want := (&lakeformation.GrantPermissionsInput{Principal: principal, Resource: tt.resource, Permissions: wantPerms}); !reflect.DeepEqual(in, want) {
				t.Errorf("Input =\n  %s\nwant\n  %s", asJSON(in), asJSON(want))
			}
			rin := tt.grant.RevokeInput()
			if want := (&lakeformation.RevokePermissionsInput{Principal: principal, Resource: tt.resource, Permissions: wantPerms}); !reflect.DeepEqual(rin, want) {
				t.Errorf("RevokeInput =\n  %s\nwant\n  %s", asJSON(rin), asJSON(want))
			}

			requests = nil
			if _, err := client.GrantPermissions(context.Background(), in); err != nil {
				t.Fatalf("GrantPermissions: %v", err)
			}
			if _, err := client.RevokePermissions(context.Background(), rin); err != nil {
				t.Fatalf("RevokePermissions: %v", err)
			}
			wantBody := `{"Permissions":["` + tt.grant.Permissions[0] + `"],"Principal":{"DataLakePrincipalIdentifier":"` + p + `"},"Resource":` + tt.wire + `}`
			for i, path := range []string{"/GrantPermissions", "/RevokePermissions"} {
				if requests[i].path != path || requests[i].body != wantBody {
					t.Errorf("request %s\n  %s\nwant %s\n  %s", requests[i].path, requests[i].body, path, wantBody)
				}
			}
		})
	}

	t.Run("grant option", func(t *testing.T) {
		g := Grant{Principal: p, Database: "sales", Table: "orders", Permissions: []string{Select}, GrantOption: []string{Select}}
		if got := g.RevokeInput().PermissionsWithGrantOption; !slices.Equal(got, []types.Permission{types.PermissionSelect}) {
			t.Errorf("PermissionsWithGrantOption = %v", got)
		}
	})
}

func TestBatches(t *testing.T) {
	grants := make([]Grant, 45)
	for i := range grants {
		grants[i] = Grant{Principal: arn("r" + strconv.Itoa(i)), Database: "sales", Permissions: []string{Describe}}
	}
	sizes := func(bs [][]Grant) []int {
		var n []int
		for _, b := range bs {
			n = append(n, len(b))
		}
		return n
	}
	for _, tt := range []struct {
		grants []Grant
		size   int
		want   []int
	}{
		{grants, MaxBatch, []int{20, 20, 5}},
		{grants, 0, []int{20, 20, 5}},
		{grants, 100, []int{20, 20, 5}},
		{grants, 15, []int{15, 15, 15}},
		{grants[:20], 20, []int{20}},
		{nil, 20, nil},
	} {
		bs := Batches(tt.grants, tt.size)
		if got := sizes(bs); !slices.Equal(got, tt.want) {
			t.Errorf("Batches(%d grants, %d) sizes %v, want %v", len(tt.grants), tt.size, got, tt.want)
		}
		if got := slices.Concat(bs...); !slices.EqualFunc(got, tt.grants, func(a, b Grant) bool { return a.String() == b.String() }) {
			t.Errorf("Batches(%d grants, %d) lost or reordered grants", len(tt.grants), tt.size)
		}
	}
	// A batch is capped: appending to it must not overwrite the next.
	bs := Batches(grants, 20)
	_ = append(bs[0], Grant{Principal: "x"})
	if bs[1][0].Principal == "x" {
		t.Error("appending to a batch overwrote the next one")
	}
}

// TestBatchRequests sends a batch through the real SDK client to a local endpoint
// that fails one entry, and maps the failure back to its grant.
func TestBatchRequests(t *testing.T) {
	batch := []Grant{
		{Principal: arn("analyst"), Database: "sales", Permissions: []string{Describe}},
		{Principal: arn("analyst"), Database: "sales", Table: "customers", Columns: []string{"id"}, Permissions: []string{Select}},
	}
	var requests []request
	client := lakeformation.New(lakeformation.Options{
		Region: "us-east-1",
		BaseEndpoint: aws.String(fakeLakeFormation(t, &requests, `{"Failures":[{"RequestEntry":{"Id":"1"},
			"Error":{"ErrorCode":"InvalidInputException","ErrorMessage":"No permissions revoked"}}]}`)),
		Credentials: aws.AnonymousCredentials{},
	})
	out, err := client.BatchRevokePermissions(context.Background(), BatchRevokeInput(batch))
	if err != nil {
		t.Fatal(err)
	}
	var body struct {
		Entries []struct {
			Id       string
			Resource map[string]any
		}
	}
	if err := json.Unmarshal([]byte(requests[0].body), &body); err != nil {
		t.Fatal(err)
	}
	if requests[0].path != "/BatchRevokePermissions" || len(body.Entries) != 2 || body.Entries[0].Id != "0" || body.Entries[1].Id != "1" ||
		body.Entries[1].Resource["TableWithColumns"] == nil {
		t.Errorf("request %s %s", requests[0].path, requests[0].body)
	}

	err = BatchFailures(batch, out.Failures)
	var failed *FailedError
	if !errors.As(err, &failed) || failed.Grant.String() != batch[1].String() || failed.Code != "InvalidInputException" {
		t.Fatalf("BatchFailures = %v", err)
	}
	if want := batch[1].String() + ": InvalidInputException: No permissions revoked"; err.Error() != want {
		t.Errorf("error %q, want %q", err, want)
	}
	if err := BatchFailures(batch, nil); err != nil {
		t.Errorf("no failures: %v", err)
	}
	if in := BatchGrantInput(batch); len(in.Entries) != 2 || aws.ToString(in.Entries[1].Id) != "1" {
		t.Errorf("BatchGrantInput = %s", asJSON(in))
	}
}

type request struct{ path, body string }

// fakeLakeFormation is a Lake Formation endpoint that records each request and answers
// every one with reply.
func fakeLakeFormation(t *testing.T, requests *[]request, reply string) string {
	t.Helper()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		var compact bytes.Buffer
		if err := json.Compact(&compact, body); err != nil {
			compact.Write(body)
		}
		*requests = append(*requests, request{r.URL.Path, compact.String()})
		w.Header().Set("Content-Type", "application/json")
		io.WriteString(w, reply)
	}))
	t.Cleanup(srv.Close)
	return srv.URL
}

func asJSON(v any) string {
	b, _ := json.Marshal(v)
	return string(b)
}
