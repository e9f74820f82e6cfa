package lakeformation

import (
	"context"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"regexp"
	"slices"
	"strconv"
	"strings"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/lakeformation"
	"github.com/aws/aws-sdk-go-v2/service/lakeformation/types"
	"github.com/aws/smithy-go"

	"github.com/snaplake/snaplake/internal/ingest/grants"
	gluelocal "github.com/snaplake/snaplake/internal/local/glue"
)

var _ grants.LakeFormation = (*Service)(nil)

// Messages Lake Formation answers with, where a public source shows them.
const (
	// msgNoPermissionsRevoked answers a revoke of permissions the grantee does not
	// hold (aws-samples/aws-glue-samples#78, tokern/lakecli#10).
	msgNoPermissionsRevoked = "No permissions revoked. Grantee has no permissions and no grantable permissions on resource."
	// msgAccessDenied answers a grant or revoke by a principal who is neither a data
	// lake administrator nor holds the grant option (terraform-provider-aws#35160,
	// aws-solutions-library-samples/data-lakes-on-aws#513).
	msgAccessDenied = "Resource does not exist or requester is not authorized to access requested permissions."
	// msgEntityNotFound answers a grant or revoke on a database or table the Data
	// Catalog does not hold: "AWS Lake Formation has updated the resource specific
	// exceptions to general EntityNotFound error message for the following API
	// operations ... RevokePermissions, GrantPermissions"
	// (https://docs.aws.amazon.com/lake-formation/latest/dg/error-message-update.html).
	msgEntityNotFound = "Entity not found"
)

// Bounds of the API reference.
const (
	maxListResults     = 1000 // ListPermissions MaxResults
	defaultListResults = 100  // when MaxResults is not given (the service's own default is not documented)
)

// caller is the principal a call is made by; nil is the account's administrator.
type caller struct{ arn string }

// GrantPermissions grants permissions on a database, a table, every table of a
// database, or columns of a table. Granting a permission already held succeeds and
// changes nothing.
func (s *Service) GrantPermissions(ctx context.Context, in *lakeformation.GrantPermissionsInput, _ ...func(*lakeformation.Options)) (*lakeformation.GrantPermissionsOutput, error) {
	return grantPermissions(s, nil, in)
}

// RevokePermissions revokes permissions; revoking permissions not held fails with
// InvalidInputException "No permissions revoked...".
func (s *Service) RevokePermissions(ctx context.Context, in *lakeformation.RevokePermissionsInput, _ ...func(*lakeformation.Options)) (*lakeformation.RevokePermissionsOutput, error) {
	return revokePermissions(s, nil, in)
}

// BatchGrantPermissions grants up to grants.MaxBatch entries: the valid ones are
// applied, the others reported in Failures with their entry and the error.
func (s *Service) BatchGrantPermissions(ctx context.Context, in *lakeformation.BatchGrantPermissionsInput, _ ...func(*lakeformation.Options)) (*lakeformation.BatchGrantPermissionsOutput, error) {
	return batchGrant(s, nil, in)
}

// BatchRevokePermissions revokes up to grants.MaxBatch entries, as BatchGrantPermissions.
func (s *Service) BatchRevokePermissions(ctx context.Context, in *lakeformation.BatchRevokePermissionsInput, _ ...func(*lakeformation.Options)) (*lakeformation.BatchRevokePermissionsOutput, error) {
	return batchRevoke(s, nil, in)
}

// ListPermissions lists the grants, filtered by Principal, ResourceType and Resource,
// a page at a time.
func (s *Service) ListPermissions(ctx context.Context, in *lakeformation.ListPermissionsInput, _ ...func(*lakeformation.Options)) (*lakeformation.ListPermissionsOutput, error) {
	return listPermissions(s, nil, in)
}

func grantPermissions(s *Service, c *caller, in *lakeformation.GrantPermissionsInput) (*lakeformation.GrantPermissionsOutput, error) {
	if in == nil {
		in = &lakeformation.GrantPermissionsInput{}
	}
	err := s.update(func(st *state) (bool, error) {
		return st.change(c, true, in.Principal, in.Resource, in.Permissions, in.PermissionsWithGrantOption)
	})
	if err != nil {
		return nil, err
	}
	return &lakeformation.GrantPermissionsOutput{}, nil
}

func revokePermissions(s *Service, c *caller, in *lakeformation.RevokePermissionsInput) (*lakeformation.RevokePermissionsOutput, error) {
	if in == nil {
		in = &lakeformation.RevokePermissionsInput{}
	}
	err := s.update(func(st *state) (bool, error) {
		return st.change(c, false, in.Principal, in.Resource, in.Permissions, in.PermissionsWithGrantOption)
	})
	if err != nil {
		return nil, err
	}
	return &lakeformation.RevokePermissionsOutput{}, nil
}

func batchGrant(s *Service, c *caller, in *lakeformation.BatchGrantPermissionsInput) (*lakeformation.BatchGrantPermissionsOutput, error) {
	if in == nil {
		in = &lakeformation.BatchGrantPermissionsInput{}
	}
	failures, err := batch(s, c, true, in.Entries)
	if err != nil {
		return nil, err
	}
	return &lakeformation.BatchGrantPermissionsOutput{Failures: failures}, nil
}

func batchRevoke(s *Service, c *caller, in *lakeformation.BatchRevokePermissionsInput) (*lakeformation.BatchRevokePermissionsOutput, error) {
	if in == nil {
		in = &lakeformation.BatchRevokePermissionsInput{}
	}
	failures, err := batch(s, c, false, in.Entries)
	if err != nil {
		return nil, err
	}
	return &lakeformation.BatchRevokePermissionsOutput{Failures: failures}, nil
}

// batch applies each entry on its own, in one change of the state.
func batch(s *Service, c *caller, grant bool, entries []types.BatchPermissionsRequestEntry) ([]types.BatchPermissionsFailureEntry, error) {
	switch {
	case entries == nil:
		return nil, invalidInput("Entries is required")
	case len(entries) > grants.MaxBatch:
		// The API reference: "A list of up to 20 entries". The whole call is refused;
		// its message here is this stand-in's.
		return nil, invalidInput("a batch takes at most %d entries, not %d", grants.MaxBatch, len(entries))
	}
	var failures []types.BatchPermissionsFailureEntry
	err := s.update(func(st *state) (bool, error) {
		changed := false
		for _, e := range entries {
			err := error(nil)
			if aws.ToString(e.Id) == "" {
				err = invalidInput("Id is required")
			} else {
				var ok bool
				ok, err = st.change(c, grant, e.Principal, e.Resource, e.Permissions, e.PermissionsWithGrantOption)
				changed = changed || ok
			}
			if err != nil {
				entry := e
				failures = append(failures, types.BatchPermissionsFailureEntry{RequestEntry: &entry, Error: errorDetail(err)})
			}
		}
		return changed, nil
	})
	if err != nil {
		return nil, err
	}
	return failures, nil
}

// change grants or revokes, and reports whether the holdings changed.
func (st *state) change(c *caller, grant bool, p *types.DataLakePrincipal, r *types.Resource, perms, grantable []types.Permission) (bool, error) {
	principal, err := checkPrincipal(p)
	if err != nil {
		return false, err
	}
	k, targets, err := parseResource(r)
	if err != nil {
		return false, err
	}
	if err := checkPermissions(k, grant, perms, grantable); err != nil {
		return false, err
	}
	if err := st.inCatalog(targets); err != nil {
		return false, err
	}
	if c != nil && !st.isAdmin(c.arn) {
		for _, t := range targets {
			for _, p := range slices.Concat(perms, grantable) {
				if !st.grantableBy(c.arn, t, string(p)) {
					return false, &types.AccessDeniedException{Message: aws.String(msgAccessDenied)}
				}
			}
		}
	}
	if grant {
		return st.grant(principal, targets, perms, grantable), nil
	}
	if !st.revoke(principal, targets, perms, grantable) {
		return false, invalidInput(msgNoPermissionsRevoked)
	}
	return true, nil
}

// inCatalog fails with EntityNotFoundException when a target's database, or its
// table (every table of a database needs only the database), is not in the catalog.
func (st *state) inCatalog(targets []target) error {
	if st.catalog == nil {
		return nil
	}
	dbs, err := st.catalog.Databases()
	if err != nil {
		return err
	}
	tables := map[string][]gluelocal.Table{}
	for _, t := range targets {
		if !slices.Contains(dbs, t.database) {
			return &types.EntityNotFoundException{Message: aws.String(msgEntityNotFound)}
		}
		if t.table == "" || t.table == grants.TableWildcard {
			continue
		}
		if _, ok := tables[t.database]; !ok {
			if tables[t.database], err = st.catalog.Tables(t.database); err != nil {
				return err
			}
		}
		if !slices.ContainsFunc(tables[t.database], func(x gluelocal.Table) bool { return x.Name == t.table }) {
			return &types.EntityNotFoundException{Message: aws.String(msgEntityNotFound)}
		}
	}
	return nil
}

func (st *state) grant(principal string, targets []target, perms, grantable []types.Permission) bool {
	changed := false
	for _, t := range targets {
		for _, p := range perms {
			u := unit{principal, t, string(p)}
			with := slices.Contains(grantable, p)
			if held, ok := st.held[u]; !ok || (with && !held) {
				st.held[u] = held || with
				changed = true
			}
		}
	}
	return changed
}

// revoke takes away perms (with their grant option) and the grant option of grantable,
// where held, and reports whether anything was held. Revoking columns of which only
// some are held takes those away (the service's behaviour there is not documented).
func (st *state) revoke(principal string, targets []target, perms, grantable []types.Permission) bool {
	changed := false
	for _, t := range targets {
		for _, p := range perms {
			u := unit{principal, t, string(p)}
			if _, ok := st.held[u]; ok {
				delete(st.held, u)
				changed = true
			}
		}
		for _, p := range grantable {
			u := unit{principal, t, string(p)}
			if st.held[u] {
				st.held[u] = false
				changed = true
			}
		}
	}
	return changed
}

// grantableBy reports whether principal holds the grant option of permission on t.
func (st *state) grantableBy(principal string, t target, permission string) bool {
	return st.holds(principal, t, permission, true)
}

// holds reports whether principal holds permission (with the grant option, if
// grantable) on t, or on what t is part of: a table for its columns, every table for
// one table or its columns.
func (st *state) holds(principal string, t target, permission string, grantable bool) bool {
	covering := []target{t}
	if t.column != "" || t.excluded != "" {
		covering = append(covering, target{database: t.database, table: t.table})
	}
	if t.table != "" && t.table != grants.TableWildcard {
		covering = append(covering, target{database: t.database, table: grants.TableWildcard})
	}
	// ALL is Lake Formation's Super: every permission on the resource, and with the
	// grant option the right to grant any of them.
	for _, c := range covering {
		for _, p := range []string{permission, "ALL"} {
			if with, ok := st.held[unit{principal, c, p}]; ok && (with || !grantable) {
				return true
			}
		}
	}
	return false
}

// visibleTo is what principal sees of the holdings: ListPermissions "returns a list
// of the principal permissions on the resource, filtered by the permissions of the
// caller. For example, if you are granted an ALTER permission, you are able to see
// only the principal permissions for ALTER" (API reference): here, the permissions the
// caller holds on the same resource or on what contains it. Administrators, read-only
// ones included, see everything.
func (st *state) visibleTo(c *caller) holdings {
	if c == nil || st.isAdmin(c.arn) || st.isReadOnlyAdmin(c.arn) {
		return st.held
	}
	out := holdings{}
	for u, grantable := range st.held {
		if st.holds(c.arn, u.target, u.permission, false) {
			out[u] = grantable
		}
	}
	return out
}

// kind is what a resource of a grant is, for the permissions it takes.
type kind int

const (
	onDatabase kind = iota
	onTable         // a table, every table, or every column of a table
	onColumns       // some columns, or every column but some
)

func (k kind) String() string {
	return [...]string{"database", "table", "table with columns"}[k]
}

// allowed are the permissions each kind of resource takes: the Lake Formation
// permissions reference lists ALTER, CREATE_TABLE, DESCRIBE, DROP (and ALL) for a
// database, ALTER, DELETE, DESCRIBE, DROP, INSERT, SELECT (and ALL) for a table; a
// TableWithColumns with names or exclusions takes SELECT only.
var allowed = map[kind][]types.Permission{
	onDatabase: {types.PermissionAll, types.PermissionAlter, types.PermissionCreateTable, types.PermissionDescribe, types.PermissionDrop},
	onTable: {types.PermissionAll, types.PermissionAlter, types.PermissionDelete, types.PermissionDescribe, types.PermissionDrop,
		types.PermissionInsert, types.PermissionSelect},
	onColumns: {types.PermissionSelect},
}

func checkPermissions(k kind, grant bool, perms, grantable []types.Permission) error {
	switch {
	case grant && len(perms) == 0:
		return invalidInput("Permissions is required")
	case len(perms)+len(grantable) == 0:
		return invalidInput("Permissions is required")
	}
	var unknown []string
	for _, p := range slices.Concat(perms, grantable) {
		if !slices.Contains(p.Values(), p) {
			unknown = append(unknown, string(p))
		}
	}
	if len(unknown) > 0 {
		// The message of boto/boto3#2894.
		return invalidInput("Please grant only valid Lake Formation permissions. [%s] are not all valid Lake Formation permissions.", strings.Join(unknown, ", "))
	}
	for _, p := range slices.Concat(perms, grantable) {
		if !slices.Contains(allowed[k], p) {
			return invalidInput("%s is not a permission on a %s", p, k)
		}
	}
	if grant {
		// PermissionsWithGrantOption "may only be a subset of the permissions granted"
		// (API reference).
		for _, p := range grantable {
			if !slices.Contains(perms, p) {
				return invalidInput("%s is in PermissionsWithGrantOption but not in Permissions", p)
			}
		}
	}
	return nil
}

// iamPrincipal is an IAM role or user ARN.
var iamPrincipal = regexp.MustCompile(`^arn:aws[a-z-]*:iam::[0-9]{12}:(role|user)/[A-Za-z0-9+=,.@_/-]+$`)

// checkPrincipal accepts the principals the access rules grant to: IAM roles and
// users, and IAM_ALLOWED_PRINCIPALS, whose grants are revoked. Lake Formation also
// takes accounts, organizations, SAML and Identity Center principals, which this
// stand-in does not.
func checkPrincipal(p *types.DataLakePrincipal) (string, error) {
	id := ""
	if p != nil {
		id = aws.ToString(p.DataLakePrincipalIdentifier)
	}
	switch {
	case id == "":
		return "", invalidInput("Principal is required")
	case id == grants.IAMAllowedPrincipals || iamPrincipal.MatchString(id):
		return id, nil
	}
	// The message of aws-samples/data-lake-as-code#17.
	return "", invalidInput("Invalid principal, arn: %s", id)
}

// parseResource turns a resource into the targets its permissions are held on.
// Lake Formation's messages for a malformed resource are not documented; these are
// this stand-in's (the table ones as moto words them).
func parseResource(r *types.Resource) (kind, []target, error) {
	if r == nil {
		return 0, nil, invalidInput("Resource is required")
	}
	others := r.Catalog != nil || r.DataCellsFilter != nil || r.DataLocation != nil || r.LFTag != nil ||
		r.LFTagExpression != nil || r.LFTagPolicy != nil
	set := 0
	for _, ok := range []bool{r.Database != nil, r.Table != nil, r.TableWithColumns != nil, others} {
		if ok {
			set++
		}
	}
	switch {
	case set == 0 || (set == 1 && others):
		return 0, nil, invalidInput("Resource must name a database, a table or a table with columns")
	case set > 1:
		return 0, nil, invalidInput("Resource must name one resource")
	}

	switch {
	case r.Database != nil:
		db := aws.ToString(r.Database.Name)
		if db == "" {
			return 0, nil, invalidInput("Database.Name is required")
		}
		return onDatabase, []target{{database: db}}, nil

	case r.Table != nil:
		t := r.Table
		db, name := aws.ToString(t.DatabaseName), aws.ToString(t.Name)
		switch {
		case db == "":
			return 0, nil, invalidInput("Table.DatabaseName is required")
		case name == allTables:
			name = grants.TableWildcard
		case name == "" && t.TableWildcard == nil:
			return 0, nil, invalidInput("Table name and table wildcard cannot both be empty.")
		case name != "" && t.TableWildcard != nil:
			return 0, nil, invalidInput("Table name and table wildcard cannot both be present.")
		case t.TableWildcard != nil:
			name = grants.TableWildcard
		}
		return onTable, []target{{database: db, table: name}}, nil

	default:
		t := r.TableWithColumns
		db, name := aws.ToString(t.DatabaseName), aws.ToString(t.Name)
		switch {
		case db == "" || name == "":
			return 0, nil, invalidInput("TableWithColumns.DatabaseName and Name are required")
		case len(t.ColumnNames) > 0 && t.ColumnWildcard != nil:
			return 0, nil, invalidInput("Column names and column wildcard cannot both be present.")
		case len(t.ColumnNames) == 0 && t.ColumnWildcard == nil:
			return 0, nil, invalidInput("Column names and column wildcard cannot both be empty.")
		}
		if name == allTables {
			name = grants.TableWildcard
		}
		if t.ColumnWildcard != nil {
			if len(t.ColumnWildcard.ExcludedColumnNames) == 0 {
				// Every column: the table itself.
				return onTable, []target{{database: db, table: name}}, nil
			}
			return onColumns, []target{{database: db, table: name, excluded: joinSorted(t.ColumnWildcard.ExcludedColumnNames)}}, nil
		}
		var targets []target
		for _, c := range t.ColumnNames {
			if c == "" {
				return 0, nil, invalidInput("an empty column name")
			}
			tg := target{database: db, table: name, column: c}
			if !slices.Contains(targets, tg) {
				targets = append(targets, tg)
			}
		}
		return onColumns, targets, nil
	}
}

func listPermissions(s *Service, c *caller, in *lakeformation.ListPermissionsInput) (*lakeformation.ListPermissionsOutput, error) {
	if in == nil {
		in = &lakeformation.ListPermissionsInput{}
	}
	size := defaultListResults
	if in.MaxResults != nil {
		if n := *in.MaxResults; n < 1 || n > maxListResults {
			return nil, invalidInput("MaxResults must be from 1 to %d, not %d", maxListResults, n)
		}
		size = int(*in.MaxResults)
	}
	if rt := in.ResourceType; rt != "" && !slices.Contains(rt.Values(), rt) {
		return nil, invalidInput("unknown ResourceType %q", rt)
	}
	match, err := listFilter(in)
	if err != nil {
		return nil, err
	}
	fingerprint := listFingerprint(c, in)
	start := 0
	if in.NextToken != nil {
		if start, err = readToken(*in.NextToken, fingerprint); err != nil {
			return nil, err
		}
	}

	var all []types.PrincipalResourcePermissions
	err = s.read(func(st *state) error {
		for _, e := range st.visibleTo(c).entries() {
			if match(e) {
				all = append(all, e)
			}
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	// The grants may have changed since the previous page: a token past the end is an
	// empty last page.
	start = min(start, len(all))
	end := min(start+size, len(all))
	out := &lakeformation.ListPermissionsOutput{PrincipalResourcePermissions: all[start:end]}
	if end < len(all) {
		out.NextToken = aws.String(makeToken(fingerprint, end))
	}
	return out, nil
}

// listFilter is the entries a listing keeps. With both Principal and Resource, Lake
// Formation returns effective permissions rather than the grants (API reference): the
// implicit permissions of administrators and the ones through groups, which this
// stand-in does not model, so it returns the grants there too.
func listFilter(in *lakeformation.ListPermissionsInput) (func(types.PrincipalResourcePermissions) bool, error) {
	principal := ""
	if in.Principal != nil {
		if principal = aws.ToString(in.Principal.DataLakePrincipalIdentifier); principal == "" {
			return nil, invalidInput("Principal.DataLakePrincipalIdentifier is required")
		}
	}
	onResource := func(*types.Resource) bool { return true }
	if r := in.Resource; r != nil {
		switch {
		case r.TableWithColumns != nil:
			// "This operation does not support getting privileges on a table with
			// columns. Instead, call this operation on the table" (API reference).
			return nil, invalidInput("ListPermissions does not take a table with columns: list the table, which returns its columns too")
		case r.Database != nil:
			db := aws.ToString(r.Database.Name)
			if db == "" {
				return nil, invalidInput("Database.Name is required")
			}
			onResource = func(x *types.Resource) bool { return x.Database != nil && aws.ToString(x.Database.Name) == db }
		case r.Table != nil:
			_, targets, err := parseResource(&types.Resource{Table: r.Table})
			if err != nil {
				return nil, err
			}
			want := targets[0]
			onResource = func(x *types.Resource) bool {
				db, table := tableOf(x)
				return db == want.database && table == want.table
			}
		default:
			// The catalog, data locations, LF-tags: this stand-in holds no grants on them.
			onResource = func(*types.Resource) bool { return false }
		}
	}
	return func(e types.PrincipalResourcePermissions) bool {
		if principal != "" && aws.ToString(e.Principal.DataLakePrincipalIdentifier) != principal {
			return false
		}
		switch in.ResourceType {
		case "":
		case types.DataLakeResourceTypeDatabase:
			if e.Resource.Database == nil {
				return false
			}
		case types.DataLakeResourceTypeTable:
			// A table with columns is a table: ResourceType has no value of its own for it.
			if e.Resource.Table == nil && e.Resource.TableWithColumns == nil {
				return false
			}
		default:
			return false
		}
		return onResource(e.Resource)
	}, nil
}

// tableOf is the database and table (grants.TableWildcard for every table) of a listed
// table resource; "" for a database.
func tableOf(r *types.Resource) (db, table string) {
	switch {
	case r.Table != nil:
		db, table = aws.ToString(r.Table.DatabaseName), aws.ToString(r.Table.Name)
	case r.TableWithColumns != nil:
		db, table = aws.ToString(r.TableWithColumns.DatabaseName), aws.ToString(r.TableWithColumns.Name)
	default:
		return "", ""
	}
	if table == allTables {
		table = grants.TableWildcard
	}
	return db, table
}

// A NextToken carries the offset of the next page and a fingerprint of the listing
// it continues, so that a token of another listing, or made up, is refused.

func listFingerprint(c *caller, in *lakeformation.ListPermissionsInput) string {
	who := ""
	if c != nil {
		who = c.arn
	}
	b, _ := json.Marshal(struct {
		Caller, Principal string
		ResourceType      types.DataLakeResourceType
		Resource          *types.Resource
	}{who, aws.ToString(principalID(in.Principal)), in.ResourceType, in.Resource})
	sum := sha256.Sum256(b)
	return hex.EncodeToString(sum[:8])
}

func principalID(p *types.DataLakePrincipal) *string {
	if p == nil {
		return nil
	}
	return p.DataLakePrincipalIdentifier
}

func makeToken(fingerprint string, offset int) string {
	return base64.RawURLEncoding.EncodeToString([]byte(fingerprint + ":" + strconv.Itoa(offset)))
}

// readToken is the offset a NextToken continues from. Lake Formation's answer to a
// bad token is not documented; InvalidInputException is this stand-in's choice.
func readToken(token, fingerprint string) (int, error) {
	b, err := base64.RawURLEncoding.DecodeString(token)
	if err == nil {
		fp, offset, ok := strings.Cut(string(b), ":")
		if n, err := strconv.Atoi(offset); ok && err == nil && n >= 0 && fp == fingerprint {
			return n, nil
		}
	}
	return 0, invalidInput("Invalid NextToken: it does not continue this listing")
}

func invalidInput(format string, args ...any) error {
	msg := format
	if len(args) > 0 {
		msg = fmt.Sprintf(format, args...)
	}
	return &types.InvalidInputException{Message: aws.String(msg)}
}

// errorDetail is err as a batch failure entry reports it.
func errorDetail(err error) *types.ErrorDetail {
	var api smithy.APIError
	if errors.As(err, &api) {
		return &types.ErrorDetail{ErrorCode: aws.String(api.ErrorCode()), ErrorMessage: aws.String(api.ErrorMessage())}
	}
	return &types.ErrorDetail{ErrorCode: aws.String("InternalServiceException"), ErrorMessage: aws.String(err.Error())}
}
