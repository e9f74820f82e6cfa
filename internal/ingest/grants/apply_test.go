package grants

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/lakeformation"
	"github.com/aws/aws-sdk-go-v2/service/lakeformation/types"
)

var _ LakeFormation = (*lakeformation.Client)(nil)

// fakeLF is Lake Formation in memory: it holds grants as Grant values, lists them two
// to a page, applies batches entry by entry, and records every call in order.
type fakeLF struct {
	held  map[string]Grant // by String()
	calls []string
	// fail, when set, fails the batch entry of op ("grant" or "revoke") for g.
	fail func(op string, g Grant) *types.ErrorDetail
	// callErr, when set, fails whole calls of op.
	callErr map[string]error
	listErr error
	// admins and readOnlyAdmins are the data lake settings' administrators.
	admins, readOnlyAdmins []string
	settingsErr            error
}

func (f *fakeLF) GetDataLakeSettings(_ context.Context, _ *lakeformation.GetDataLakeSettingsInput, _ ...func(*lakeformation.Options)) (*lakeformation.GetDataLakeSettingsOutput, error) {
	f.calls = append(f.calls, "read settings")
	if f.settingsErr != nil {
		return nil, f.settingsErr
	}
	principals := func(arns []string) []types.DataLakePrincipal {
		var out []types.DataLakePrincipal
		for _, a := range arns {
			out = append(out, types.DataLakePrincipal{DataLakePrincipalIdentifier: aws.String(a)})
		}
		return out
	}
	return &lakeformation.GetDataLakeSettingsOutput{DataLakeSettings: &types.DataLakeSettings{
		DataLakeAdmins: principals(f.admins), ReadOnlyAdmins: principals(f.readOnlyAdmins)}}, nil
}

const fakePageSize = 2

func newFakeLF(held ...Grant) *fakeLF {
	f := &fakeLF{held: map[string]Grant{}}
	for _, g := range held {
		f.held[g.String()] = g
	}
	return f
}

func (f *fakeLF) ListPermissions(_ context.Context, in *lakeformation.ListPermissionsInput, _ ...func(*lakeformation.Options)) (*lakeformation.ListPermissionsOutput, error) {
	f.calls = append(f.calls, fmt.Sprintf("list %s from %s", in.ResourceType, aws.ToString(in.NextToken)))
	if f.listErr != nil {
		return nil, f.listErr
	}
	if in.Principal != nil || in.Resource != nil {
		return nil, errors.New("fake: Apply must list by resource type alone")
	}
	var all []types.PrincipalResourcePermissions
	for _, key := range slices.Sorted(mapKeys(f.held)) {
		g := f.held[key]
		e := g.Entry(0)
		isDB := e.Resource.Database != nil
		if isDB != (in.ResourceType == types.DataLakeResourceTypeDatabase) {
			continue
		}
		all = append(all, types.PrincipalResourcePermissions{Principal: e.Principal, Resource: e.Resource,
			Permissions: e.Permissions, PermissionsWithGrantOption: e.PermissionsWithGrantOption})
	}
	start := 0
	if in.NextToken != nil {
		n, err := strconv.Atoi(*in.NextToken)
		if err != nil {
			return nil, &types.InvalidInputException{Message: aws.String("bad token")}
		}
		start = n
	}
	end := min(start+fakePageSize, len(all))
	out := &lakeformation.ListPermissionsOutput{PrincipalResourcePermissions: all[start:end]}
	if end < len(all) {
		out.NextToken = aws.String(strconv.Itoa(end))
	}
	return out, nil
}

func (f *fakeLF) BatchGrantPermissions(_ context.Context, in *lakeformation.BatchGrantPermissionsInput, _ ...func(*lakeformation.Options)) (*lakeformation.BatchGrantPermissionsOutput, error) {
	failures, err := f.batch("grant", in.Entries)
	if err != nil {
		return nil, err
	}
	return &lakeformation.BatchGrantPermissionsOutput{Failures: failures}, nil
}

func (f *fakeLF) BatchRevokePermissions(_ context.Context, in *lakeformation.BatchRevokePermissionsInput, _ ...func(*lakeformation.Options)) (*lakeformation.BatchRevokePermissionsOutput, error) {
	failures, err := f.batch("revoke", in.Entries)
	if err != nil {
		return nil, err
	}
	return &lakeformation.BatchRevokePermissionsOutput{Failures: failures}, nil
}

func (f *fakeLF) batch(op string, entries []types.BatchPermissionsRequestEntry) ([]types.BatchPermissionsFailureEntry, error) {
	f.calls = append(f.calls, fmt.Sprintf("%s %d", op, len(entries)))
	if len(entries) > MaxBatch {
		return nil, &types.InvalidInputException{Message: aws.String("too many entries")}
	}
	if err := f.callErr[op]; err != nil {
		return nil, err
	}
	var failures []types.BatchPermissionsFailureEntry
	for _, e := range entries {
		gs, err := FromListPermissions([]types.PrincipalResourcePermissions{{Principal: e.Principal, Resource: e.Resource,
			Permissions: e.Permissions, PermissionsWithGrantOption: e.PermissionsWithGrantOption}})
		if err != nil || len(gs) != 1 {
			return nil, fmt.Errorf("fake: entry %s: %v", aws.ToString(e.Id), err)
		}
		g := gs[0]
		if f.fail != nil {
			if detail := f.fail(op, g); detail != nil {
				failures = append(failures, types.BatchPermissionsFailureEntry{RequestEntry: &e, Error: detail})
				continue
			}
		}
		if op == "grant" {
			f.held[g.String()] = g
		} else {
			delete(f.held, g.String())
		}
	}
	return failures, nil
}

func (f *fakeLF) writes() []string {
	var w []string
	for _, c := range f.calls {
		if !strings.HasPrefix(c, "list ") && !strings.HasPrefix(c, "read ") {
			w = append(w, c)
		}
	}
	return w
}

func mapKeys[V any](m map[string]V) func(func(string) bool) {
	return func(yield func(string) bool) {
		for k := range m {
			if !yield(k) {
				return
			}
		}
	}
}

func dbGrant(p string) Grant {
	return Grant{Principal: p, Database: "sales", Permissions: []string{Describe}}
}

func tableGrant(p, table string) Grant {
	return Grant{Principal: p, Database: "sales", Table: table, Permissions: []string{Select}}
}

// manyRoles is n principals, each with DESCRIBE on the database.
func manyRoles(prefix string, n int) []Grant {
	out := make([]Grant, n)
	for i := range out {
		out[i] = dbGrant(arn(fmt.Sprintf("%s%02d", prefix, i)))
	}
	return out
}

var salesScope = Scope{Databases: []string{"sales"}}

func TestApplyRevokesBeforeGranting(t *testing.T) {
	analyst := arn("analyst")
	lf := newFakeLF(
		Grant{Principal: analyst, Database: "sales", Table: "customers", Columns: []string{"id", "name"}, Permissions: []string{Select}},
		dbGrant(analyst),
	)
	desired := []Grant{dbGrant(analyst), {Principal: analyst, Database: "sales", Table: "customers", Columns: []string{"city", "id"}, Permissions: []string{Select}}}

	applied, err := Apply(context.Background(), lf, desired, salesScope, ApplyOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if got, want := lf.writes(), []string{"revoke 1", "grant 1"}; !slices.Equal(got, want) {
		t.Errorf("writes %v, want %v (revoke first)", got, want)
	}
	if got := strs(applied.Revoked); !slices.Equal(got, []string{analyst + " SELECT on columns sales.customers(id,name)"}) {
		t.Errorf("Revoked = %v", got)
	}
	if got := strs(applied.Added); !slices.Equal(got, []string{analyst + " SELECT on columns sales.customers(city,id)"}) {
		t.Errorf("Added = %v", got)
	}
}

func TestApplyBatches(t *testing.T) {
	stale := manyRoles("old", 45)
	desired := manyRoles("new", 45)
	lf := newFakeLF(stale...)

	applied, err := Apply(context.Background(), lf, desired, salesScope, ApplyOptions{})
	if err != nil {
		t.Fatal(err)
	}
	want := []string{"revoke 20", "revoke 20", "revoke 5", "grant 20", "grant 20", "grant 5"}
	if got := lf.writes(); !slices.Equal(got, want) {
		t.Errorf("writes %v, want %v", got, want)
	}
	if len(applied.Added) != 45 || len(applied.Revoked) != 45 || len(applied.Failed) != 0 {
		t.Errorf("Applied: %d added, %d revoked, %d failed", len(applied.Added), len(applied.Revoked), len(applied.Failed))
	}
	if got := slices.Sorted(mapKeys(lf.held)); !slices.Equal(got, strs(desired)) {
		t.Errorf("held after Apply:\n  %s", strings.Join(got, "\n  "))
	}
}

func TestApplyEntryFailure(t *testing.T) {
	desired := manyRoles("new", 45)
	bad := desired[27] // in the second batch
	stale := tableGrant(arn("gone"), "orders")
	lf := newFakeLF(stale)
	lf.fail = func(op string, g Grant) *types.ErrorDetail {
		switch {
		case op == "grant" && g.Principal == bad.Principal:
			return &types.ErrorDetail{ErrorCode: aws.String("InvalidInputException"), ErrorMessage: aws.String("Invalid principal")}
		case op == "revoke":
			// Revoked meanwhile by another hand: not a failure.
			return &types.ErrorDetail{ErrorCode: aws.String("InvalidInputException"),
				ErrorMessage: aws.String("No permissions revoked. Grantee has no permissions and no grantable permissions on resource.")}
		}
		return nil
	}

	applied, err := Apply(context.Background(), lf, desired, salesScope, ApplyOptions{})
	if err == nil {
		t.Fatal("Apply with a failed entry: no error")
	}
	if got, want := lf.writes(), []string{"revoke 1", "grant 20", "grant 20", "grant 5"}; !slices.Equal(got, want) {
		t.Errorf("writes %v, want %v: the batches after the failure still go", got, want)
	}
	if len(applied.Failed) != 1 {
		t.Fatalf("Failed = %v, want one", applied.Failed)
	}
	var fe *FailedError
	if !errors.As(applied.Failed[0], &fe) || fe.Grant.String() != bad.String() || fe.Code != "InvalidInputException" {
		t.Fatalf("Failed[0] = %v, want a *FailedError for %s", applied.Failed[0], bad)
	}
	for _, msg := range []string{applied.Failed[0].Error(), err.Error()} {
		if !strings.Contains(msg, "grant "+bad.Principal) || !strings.Contains(msg, "database sales") {
			t.Errorf("error %q does not name the principal and the resource", msg)
		}
	}
	if !errors.As(err, &fe) {
		t.Errorf("the returned error does not wrap the *FailedError: %v", err)
	}
	if len(applied.Added) != 44 || slices.Contains(strs(applied.Added), bad.String()) {
		t.Errorf("Added %d grants, want the 44 that did not fail", len(applied.Added))
	}
	if got := strs(applied.Revoked); !slices.Equal(got, []string{stale.String()}) {
		t.Errorf("Revoked = %v, want the grant already gone", got)
	}
}

func TestApplyCallFailure(t *testing.T) {
	desired := manyRoles("new", 25)
	lf := newFakeLF()
	lf.callErr = map[string]error{"grant": errors.New("ThrottlingException: slow down")}

	applied, err := Apply(context.Background(), lf, desired, salesScope, ApplyOptions{})
	if err == nil || !strings.Contains(err.Error(), "25 of 25 changes failed") {
		t.Fatalf("Apply = %v", err)
	}
	if got := lf.writes(); !slices.Equal(got, []string{"grant 20", "grant 5"}) {
		t.Errorf("writes %v", got)
	}
	if len(applied.Failed) != 25 || !strings.Contains(applied.Failed[0].Error(), "grant "+desired[0].String()+": ThrottlingException") {
		t.Errorf("Failed = %v", applied.Failed)
	}
}

func TestApplyNoChange(t *testing.T) {
	analyst := arn("analyst")
	desired := []Grant{dbGrant(analyst), tableGrant(analyst, "orders"), tableGrant(analyst, "*")}
	// Another database's grants and the scope's kept principal are not the config's.
	lf := newFakeLF(append(slices.Clone(desired),
		Grant{Principal: arn("stranger"), Database: "hr", Permissions: []string{"ALL"}},
		dbGrant(arn("lake-admin")))...)

	applied, err := Apply(context.Background(), lf, desired, Scope{Databases: []string{"Sales"}, Keep: []string{arn("lake-admin")}}, ApplyOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if w := lf.writes(); len(w) != 0 {
		t.Errorf("writes %v, want none", w)
	}
	if len(applied.Added)+len(applied.Revoked)+len(applied.Failed) != 0 {
		t.Errorf("Applied = %+v, want nothing", applied)
	}
}

func TestApplyDryRun(t *testing.T) {
	analyst, stranger := arn("analyst"), arn("stranger")
	lf := newFakeLF(dbGrant(stranger))

	applied, err := Apply(context.Background(), lf, []Grant{dbGrant(analyst)}, salesScope, ApplyOptions{DryRun: true})
	if err != nil {
		t.Fatal(err)
	}
	if w := lf.writes(); len(w) != 0 {
		t.Errorf("dry run wrote %v", w)
	}
	if got := strs(applied.Added); !slices.Equal(got, []string{dbGrant(analyst).String()}) {
		t.Errorf("Added = %v", got)
	}
	if got := strs(applied.Revoked); !slices.Equal(got, []string{dbGrant(stranger).String()}) {
		t.Errorf("Revoked = %v", got)
	}
}

func TestApplyReadsEveryPage(t *testing.T) {
	// Five database grants and three table grants: three pages and two at two a page.
	held := manyRoles("r", 4)
	held = append(held, tableGrant(arn("r00"), "orders"), tableGrant(arn("r01"), "orders"), tableGrant(arn("r02"), "orders"))
	desired := slices.Clone(held)
	// The last grant of each listing is one the config no longer asks for: only a
	// listing that reads the last page revokes it.
	lastDB, lastTable := dbGrant(arn("zz")), tableGrant(arn("zz"), "orders")
	lf := newFakeLF(append(slices.Clone(held), lastDB, lastTable)...)

	applied, err := Apply(context.Background(), lf, desired, salesScope, ApplyOptions{})
	if err != nil {
		t.Fatal(err)
	}
	wantCalls := []string{
		"read settings",
		"list DATABASE from ", "list DATABASE from 2", "list DATABASE from 4",
		"list TABLE from ", "list TABLE from 2",
		"revoke 2",
	}
	if !slices.Equal(lf.calls, wantCalls) {
		t.Errorf("calls\n  %s\nwant\n  %s", strings.Join(lf.calls, "\n  "), strings.Join(wantCalls, "\n  "))
	}
	if got, want := strs(applied.Revoked), strs([]Grant{lastDB, lastTable}); !slices.Equal(got, want) {
		t.Errorf("Revoked = %v, want %v", got, want)
	}
	if len(applied.Added) != 0 {
		t.Errorf("Added = %v: a grant on an unread page was granted again", strs(applied.Added))
	}
}

func TestApplyListError(t *testing.T) {
	lf := newFakeLF()
	lf.listErr = &types.AccessDeniedException{Message: aws.String("no")}
	_, err := Apply(context.Background(), lf, []Grant{dbGrant(arn("analyst"))}, salesScope, ApplyOptions{})
	var denied *types.AccessDeniedException
	if !errors.As(err, &denied) || !strings.Contains(err.Error(), "list DATABASE permissions") {
		t.Errorf("Apply = %v", err)
	}
	if w := lf.writes(); len(w) != 0 {
		t.Errorf("wrote %v after a failed listing", w)
	}
}

// TestApplyKeepsTheDataLakeAdministrators: the administrators are read from the data
// lake settings, and their grants on the managed databases are never revoked, though
// Keep does not name them (the stack cannot know who they are). A read-only
// administrator grants nothing: what it may read is the config's to say.
func TestApplyKeepsTheDataLakeAdministrators(t *testing.T) {
	analyst, admin, readOnly, stranger := arn("analyst"), arn("lake-admin"), arn("auditor"), arn("stranger")
	desired := []Grant{dbGrant(analyst)}
	lf := newFakeLF(dbGrant(analyst), dbGrant(admin), tableGrant(admin, "orders"), dbGrant(readOnly), dbGrant(stranger))
	lf.admins = []string{admin}
	lf.readOnlyAdmins = []string{readOnly}

	applied, err := Apply(context.Background(), lf, desired, salesScope, ApplyOptions{})
	if err != nil {
		t.Fatal(err)
	}
	var revoked []string
	for _, g := range applied.Revoked {
		revoked = append(revoked, g.Principal)
	}
	if !slices.Equal(revoked, []string{readOnly, stranger}) {
		t.Errorf("revoked grants of %v, want the read-only administrator's and the stranger's: the administrators' are kept", revoked)
	}
	if lf.calls[0] != "read settings" {
		t.Errorf("calls %v: the settings are read first", lf.calls)
	}

	// Settings that cannot be read stop Apply before any write: without them an
	// administrator's grant would be revoked.
	lf = newFakeLF(dbGrant(admin))
	lf.settingsErr = &types.AccessDeniedException{Message: aws.String("no")}
	if _, err := Apply(context.Background(), lf, desired, salesScope, ApplyOptions{}); err == nil || !strings.Contains(err.Error(), "data lake administrators") {
		t.Errorf("Apply with unreadable settings = %v", err)
	}
	if w := lf.writes(); len(w) != 0 {
		t.Errorf("writes %v, want none", w)
	}
}
