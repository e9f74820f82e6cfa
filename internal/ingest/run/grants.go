package run

import (
	"context"
	"errors"
	"log/slog"
	"slices"

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
	// The same rules govern the current database: an analyst sees there what the
	// rules grant in the raw database. A table is granted there once its current
	// table exists (a full reload's, or a built current generation); a table
	// without a primary key never has one.
	curDB := deploy.IngestCurrentCatalogDatabase(c.Source.Database)
	var desired []grants.Grant
	for _, d := range []string{db, curDB} {
		var missing []string
		ds, err := grants.Desired(d, c.Access, func(source string) string {
			if n := lakeName(source); n != "" && (d == db || st.Tables[source].Generation != "") {
				return n
			}
			if n := lakeName(source); n == "" && !slices.Contains(pending, source) {
				pending = append(pending, source)
			}
			missing = append(missing, source)
			return ingest.NormalizeName(source)
		}, grants.RoleARN(a.Partition, a.Account))
		if err != nil {
			return GrantsResult{}, &config.RefusedError{Err: err}
		}
		ds = slices.DeleteFunc(ds, func(g grants.Grant) bool {
			return g.Table != "" && g.Table != grants.TableWildcard && slices.ContainsFunc(missing, func(p string) bool { return ingest.NormalizeName(p) == g.Table })
		})
		desired = append(desired, ds...)
	}
	applied, err := grants.Apply(ctx, a.LF, desired, grants.Scope{Databases: []string{db, curDB}, Keep: a.Keep}, grants.ApplyOptions{DryRun: dryRun})
	res := GrantsResult{Added: len(applied.Added), Revoked: len(applied.Revoked), Pending: pending}
	if err != nil {
		return res, &GrantsNotAppliedError{Database: db, Err: err}
	}
	a.logger().InfoContext(ctx, "grants applied", "databases", []string{db, curDB}, "added", res.Added, "revoked", res.Revoked, "pending", pending)
	return res, nil
}

func (a *GrantsApplier) logger() *slog.Logger {
	if a.Log != nil {
		return a.Log
	}
	return slog.Default()
}
