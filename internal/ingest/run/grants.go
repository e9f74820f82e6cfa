package run

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"strings"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/glue"
	gluetypes "github.com/aws/aws-sdk-go-v2/service/glue/types"
	"github.com/aws/aws-sdk-go-v2/service/s3"

	"github.com/snaplake/snaplake/internal/aws/awserr"
	"github.com/snaplake/snaplake/internal/config"
	"github.com/snaplake/snaplake/internal/deploy"
	"github.com/snaplake/snaplake/internal/ingest"
	"github.com/snaplake/snaplake/internal/ingest/grants"
	"github.com/snaplake/snaplake/internal/ingest/watermark"
)

// GrantsApplier is the applygrants Lambda: it makes the Lake Formation grants on the
// raw database what the config's access rules say, revoking first.
type GrantsApplier struct {
	S3     S3API
	Bucket string
	LF     grants.LakeFormation
	// Account and Partition turn role names into ARNs.
	Account, Partition string
	// Database, when set, is the source database the stack ingests.
	Database string
	// Keep are principals whose grants the stack makes (never revoked).
	Keep []string
	// Config reads the config; nil: LoadConfig from the bucket.
	Config func(ctx context.Context) (*ingest.Config, error)
	Log    *slog.Logger
	// SnapshotDatabases are the nightly snapshots' Glue databases the rules govern
	// (with their companions, grants.Companions): every grant on them is the
	// rules'. Empty: rules naming snapshot tables are refused.
	SnapshotDatabases []string
	// SnapshotPrefix names a source database's snapshot database
	// (deploy.GlueDatabaseName). Set with SnapshotDatabases, the stack catalogs new
	// databases at runtime: every database folder under data/ has its snapshot
	// database governed too, once it is cataloged.
	SnapshotPrefix string
	// Glue lists the tables of the snapshot databases: a rule naming a table that
	// is not there yet (before its first night) is pending, like an ingested table
	// not loaded yet.
	Glue TableLister
}

// TableLister is the Glue call that lists a database's tables.
type TableLister interface {
	GetTables(ctx context.Context, in *glue.GetTablesInput, optFns ...func(*glue.Options)) (*glue.GetTablesOutput, error)
}

// GrantsRequest is the workflow's call: the run it follows, for the logs.
type GrantsRequest struct {
	Run string `json:"run"`
}

// GrantsResult is what changed.
type GrantsResult struct {
	Added   int `json:"added"`
	Revoked int `json:"revoked"`
	// Pending are tables the rules name that no run has loaded yet: their grants
	// follow the run that creates them.
	Pending []string `json:"pending,omitempty"`
}

// GrantsNotAppliedError says the grants on Database could not all be brought in
// line with the access rules. Lambda names a handler's error after its Go type, and
// the workflow's failure carries that name: this one reads as what happened,
// where a wrapped error would read "wrapError".
type GrantsNotAppliedError struct {
	Database string // the Glue database; empty when the config could not be read
	Err      error
}

func (e *GrantsNotAppliedError) Error() string {
	if e.Database == "" {
		return "the grants were not applied: " + e.Err.Error()
	}
	return "the grants on " + e.Database + " were not applied: " + e.Err.Error()
}
func (e *GrantsNotAppliedError) Unwrap() error { return e.Err }

// Handle applies the grants. A refused config stays a *config.RefusedError and throttling a
// ThrottledError (which the workflow retries); every other failure is a
// *GrantsNotAppliedError.
func (a *GrantsApplier) Handle(ctx context.Context, in GrantsRequest) (GrantsResult, error) {
	res, err := a.Apply(ctx, false)
	if err != nil {
		a.logger().ErrorContext(ctx, "grants not applied", "run", in.Run, "error", err)
	}
	var refused *config.RefusedError
	var notApplied *GrantsNotAppliedError
	if err != nil && !errors.As(err, &refused) && !errors.As(err, &notApplied) {
		err = &GrantsNotAppliedError{Err: err}
	}
	return res, awserr.Surface(err)
}

// Apply reads the config and the lake's tables and applies the difference (or, in a
// dry run, reports it).
func (a *GrantsApplier) Apply(ctx context.Context, dryRun bool) (GrantsResult, error) {
	load := a.Config
	if load == nil {
		load = func(ctx context.Context) (*ingest.Config, error) { return LoadConfig(ctx, a.S3, a.Bucket) }
	}
	c, err := load(ctx)
	if err != nil {
		return GrantsResult{}, err
	}
	if err := CheckSource(c, a.Database); err != nil {
		return GrantsResult{}, err
	}
	st, err := watermark.Store{S3: a.S3, Bucket: a.Bucket}.Load(ctx, c.Source.Database)
	if err != nil {
		return GrantsResult{}, &GrantsNotAppliedError{Database: ingest.CatalogDatabase(c.Source.Database), Err: err}
	}
	// The lake names are the ones the tables were loaded under; a table the rules
	// name that was never loaded has no catalog entry to grant on yet.
	var pending []string
	lakeName := func(source string) string {
		if ts, ok := st.Tables[source]; ok && ts.LakeName != "" {
			return ts.LakeName
		}
		return ""
	}
	db := ingest.CatalogDatabase(c.Source.Database)
	dbs := grants.Databases{Ingest: db}
	// The rules govern the ingest database's companion (its _current tables) alike.
	scope := append([]string{db}, grants.Companions(db, false)...)
	if len(a.SnapshotDatabases) > 0 {
		dbs.Snapshot = func(source string) string { return deploy.GlueDatabaseName(a.SnapshotPrefix, source) }
		// On every _archive companion that exists (existingSnapshotTables drops the
		// others): the rows archived from a table are governed as its snapshots.
		dbs.Archived = func(string) bool { return true }
	}
	desired, err := grants.DesiredIn(dbs, c.Access, func(source string) string {
		if n := lakeName(source); n != "" {
			return n
		}
		if !slices.Contains(pending, source) {
			pending = append(pending, source)
		}
		return ingest.NormalizeName(source)
	}, grants.RoleARN(a.Partition, a.Account))
	if err != nil {
		return GrantsResult{}, &config.RefusedError{Err: err}
	}
	desired = slices.DeleteFunc(desired, func(g grants.Grant) bool {
		return (g.Database == db || slices.Contains(grants.Companions(db, false), g.Database)) && g.Table != "" && g.Table != grants.TableWildcard && slices.ContainsFunc(pending, func(p string) bool { return ingest.NormalizeName(p) == g.Table })
	})
	// A table is granted in the current database once its current table exists (a
	// full reload's generation, or a built current generation); a table without a
	// primary key never has one. Lake Formation refuses a grant on a missing table.
	noCurrent := map[string]bool{}
	for _, ts := range st.Tables {
		if ts.LakeName != "" && ts.Generation == "" {
			noCurrent[ts.LakeName] = true
		}
	}
	desired = slices.DeleteFunc(desired, func(g grants.Grant) bool {
		return slices.Contains(grants.Companions(db, false), g.Database) && g.Table != "" && g.Table != grants.TableWildcard && noCurrent[g.Table]
	})
	if desired, err = a.existingSnapshotTables(ctx, desired, dbs, &pending); err != nil {
		return GrantsResult{}, &GrantsNotAppliedError{Database: db, Err: err}
	}
	// Every grant on the governed snapshot databases (and their companions) is the
	// rules', as on the ingest database; one not created yet has none to revoke.
	if len(a.SnapshotDatabases) > 0 && a.Glue == nil {
		return GrantsResult{}, &GrantsNotAppliedError{Database: db, Err: errors.New("no Glue client to list the snapshot databases' tables")}
	}
	snapshots, err := a.snapshotDatabases(ctx)
	if err != nil {
		return GrantsResult{}, &GrantsNotAppliedError{Database: db, Err: err}
	}
	for _, s := range snapshots {
		for _, d := range append([]string{s}, grants.Companions(s, true)...) {
			ts, err := listTables(ctx, a.Glue, d)
			if err != nil {
				return GrantsResult{}, &GrantsNotAppliedError{Database: d, Err: err}
			}
			if ts != nil {
				scope = append(scope, d)
			}
		}
	}
	applied, err := grants.Apply(ctx, a.LF, desired, grants.Scope{Databases: scope, Keep: a.Keep}, grants.ApplyOptions{DryRun: dryRun})
	res := GrantsResult{Added: len(applied.Added), Revoked: len(applied.Revoked), Pending: pending}
	if err != nil {
		return res, &GrantsNotAppliedError{Database: db, Err: err}
	}
	a.logger().InfoContext(ctx, "grants applied", "databases", scope, "added", res.Added, "revoked", res.Revoked, "pending", pending)
	return res, nil
}

// snapshotDatabases are the snapshot databases the rules govern: the deployed
// ones, and where the stack catalogs new databases at runtime (a prefix), the
// snapshot database of every folder under data/ (one not cataloged yet has no
// tables and drops out of the scope).
func (a *GrantsApplier) snapshotDatabases(ctx context.Context) ([]string, error) {
	out := slices.Clone(a.SnapshotDatabases)
	if len(out) == 0 || a.SnapshotPrefix == "" {
		return out, nil
	}
	in := &s3.ListObjectsV2Input{Bucket: aws.String(a.Bucket), Prefix: aws.String(deploy.DataPrefix), Delimiter: aws.String("/")}
	for p := s3.NewListObjectsV2Paginator(a.S3, in); p.HasMorePages(); {
		page, err := p.NextPage(ctx)
		if err != nil {
			return nil, fmt.Errorf("list the database folders under %s: %w", deploy.DataPrefix, err)
		}
		for _, cp := range page.CommonPrefixes {
			folder := strings.TrimSuffix(strings.TrimPrefix(aws.ToString(cp.Prefix), deploy.DataPrefix), "/")
			if name := deploy.GlueDatabaseName(a.SnapshotPrefix, folder); folder != "" && !slices.Contains(out, name) {
				out = append(out, name)
			}
		}
	}
	return out, nil
}

// existingSnapshotTables drops the grants on snapshot tables (and databases) the
// catalog does not hold yet, adding them to pending as "snapshots:<db>.<table>":
// Lake Formation refuses a grant on a table that does not exist, and the next run
// after the night that creates it grants it.
func (a *GrantsApplier) existingSnapshotTables(ctx context.Context, desired []grants.Grant, dbs grants.Databases, pending *[]string) ([]grants.Grant, error) {
	if dbs.Snapshot == nil {
		return desired, nil
	}
	tables := map[string]map[string]bool{} // database -> its tables; nil: no such database
	exists := func(db, table string) (bool, error) {
		ts, seen := tables[db]
		if !seen {
			if a.Glue == nil {
				return false, errors.New("no Glue client to list the snapshot tables")
			}
			var err error
			if ts, err = listTables(ctx, a.Glue, db); err != nil {
				return false, err
			}
			tables[db] = ts
		}
		return ts != nil && (table == "" || table == grants.TableWildcard || ts[table]), nil
	}
	out := desired[:0:0]
	for _, g := range desired {
		if g.Database == dbs.Ingest || slices.Contains(grants.Companions(dbs.Ingest, false), g.Database) {
			out = append(out, g)
			continue
		}
		ok, err := exists(g.Database, g.Table)
		if err != nil {
			return nil, err
		}
		if !ok && grants.IsArchive(g.Database) {
			// A database the stack does not archive, or a table not archived yet: the
			// run that archives it creates its table, and the next grants run grants it.
			continue
		}
		if !ok {
			name := ingest.SnapshotTablePrefix + g.Database + "." + cmp.Or(g.Table, grants.TableWildcard)
			if !slices.Contains(*pending, name) {
				*pending = append(*pending, name)
			}
			continue
		}
		out = append(out, g)
	}
	return out, nil
}

// listTables lists the tables of db; nil when the database does not exist.
func listTables(ctx context.Context, g TableLister, db string) (map[string]bool, error) {
	out := map[string]bool{}
	in := &glue.GetTablesInput{DatabaseName: aws.String(db)}
	for {
		page, err := g.GetTables(ctx, in)
		var nf *gluetypes.EntityNotFoundException
		if errors.As(err, &nf) {
			return nil, nil
		}
		if err != nil {
			return nil, fmt.Errorf("list the tables of %s: %w", db, err)
		}
		for _, t := range page.TableList {
			out[strings.ToLower(aws.ToString(t.Name))] = true
		}
		if aws.ToString(page.NextToken) == "" {
			return out, nil
		}
		in.NextToken = page.NextToken
	}
}

func (a *GrantsApplier) logger() *slog.Logger {
	if a.Log != nil {
		return a.Log
	}
	return slog.Default()
}
