// Package latest keeps the companion database <snapshot database>_latest: one
// unpartitioned Glue table per snapshot table, same name and columns (without
// snapshot_date), whose location is that table's newest snapshot_date folder.
//
// A real table, not an Athena view: Lake Formation grants no columns on views, and
// a view runs with its invoker's permissions on the tables below it, so an analyst
// limited to some columns could not read a view at all. A table can be granted
// column by column like the partitioned one.
package latest

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"slices"
	"strings"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/glue"
	gluetypes "github.com/aws/aws-sdk-go-v2/service/glue/types"

	"github.com/snaplake/snaplake/internal/aws/awserr"
	"github.com/snaplake/snaplake/internal/deploy"
)

// Catalog is the part of the Glue Data Catalog the night's latest step calls.
type Catalog interface {
	GetTables(ctx context.Context, in *glue.GetTablesInput, optFns ...func(*glue.Options)) (*glue.GetTablesOutput, error)
	GetPartitions(ctx context.Context, in *glue.GetPartitionsInput, optFns ...func(*glue.Options)) (*glue.GetPartitionsOutput, error)
	CreateTable(ctx context.Context, in *glue.CreateTableInput, optFns ...func(*glue.Options)) (*glue.CreateTableOutput, error)
	UpdateTable(ctx context.Context, in *glue.UpdateTableInput, optFns ...func(*glue.Options)) (*glue.UpdateTableOutput, error)
	DeleteTable(ctx context.Context, in *glue.DeleteTableInput, optFns ...func(*glue.Options)) (*glue.DeleteTableOutput, error)
}

// Request is what the workflow sends after the crawls: the relocation's crawl list
// (only Database is read), one entry per source database the night exported.
type Request struct {
	Crawl []struct {
		Database string `json:"database"`
	} `json:"crawl"`
}

// Result says what changed, per latest database.
type Result struct {
	Databases []DatabaseResult `json:"databases"`
}

// DatabaseResult is one latest database's changes.
type DatabaseResult struct {
	Database  string   `json:"database"` // the <snapshot database>_latest name
	Created   []string `json:"created,omitempty"`
	Updated   []string `json:"updated,omitempty"`
	Unchanged int      `json:"unchanged"`
	Deleted   []string `json:"deleted,omitempty"`
	// Empty are snapshot tables with no partition in the catalog (nothing to point at).
	Empty []string `json:"empty,omitempty"`
}

// NotUpdatedError says a latest table could not be brought to its newest folder.
// Lambda names a handler's error after its Go type, so the workflow's failure reads
// as what happened.
type NotUpdatedError struct {
	Database string // the latest database
	Table    string // "" when the snapshot database itself could not be read
	Err      error
}

func (e *NotUpdatedError) Error() string {
	if e.Table == "" {
		return "latest tables of " + e.Database + " not updated: " + e.Err.Error()
	}
	return "latest table " + e.Database + "." + e.Table + " not updated: " + e.Err.Error()
}
func (e *NotUpdatedError) Unwrap() error { return e.Err }

// Handler is the latest Lambda.
type Handler struct {
	Glue Catalog
	// DatabasePrefix is the snapshot databases' prefix (deploy.GlueDatabaseName).
	DatabasePrefix string
	Log            *slog.Logger
}

// Handle is Update with throttling surfaced as awserr.ThrottledError, which the
// state machine retries with a long backoff.
func (h Handler) Handle(ctx context.Context, req Request) (Result, error) {
	res, err := h.Update(ctx, req)
	return res, awserr.Surface(err)
}

// Update points every latest table of the requested databases at its snapshot
// table's newest partition, creates the missing ones and deletes those whose
// snapshot table the crawler deleted. The newest partition comes from the catalog,
// so a table this night did not export keeps its last good folder.
func (h Handler) Update(ctx context.Context, req Request) (Result, error) {
	res := Result{Databases: []DatabaseResult{}}
	var dbs []string
	for _, c := range req.Crawl {
		if db := strings.ToLower(strings.TrimSpace(c.Database)); db != "" && !slices.Contains(dbs, db) {
			dbs = append(dbs, db)
		}
	}
	slices.Sort(dbs)
	for _, db := range dbs {
		r, err := h.database(ctx, deploy.GlueDatabaseName(h.DatabasePrefix, db))
		res.Databases = append(res.Databases, r)
		if err != nil {
			return res, err
		}
	}
	return res, nil
}

func (h Handler) database(ctx context.Context, snapshotDB string) (DatabaseResult, error) {
	latestDB := deploy.LatestDatabaseName(snapshotDB)
	res := DatabaseResult{Database: latestDB}
	log := h.logger().With("database", snapshotDB, "latest", latestDB)
	fail := func(table string, err error) (DatabaseResult, error) {
		return res, &NotUpdatedError{Database: latestDB, Table: table, Err: err}
	}
	source, err := h.tables(ctx, snapshotDB)
	if err != nil {
		return fail("", fmt.Errorf("list the tables of %s: %w", snapshotDB, err))
	}
	existing, err := h.tables(ctx, latestDB)
	if err != nil {
		return fail("", fmt.Errorf("list the tables of %s: %w", latestDB, err))
	}
	for _, name := range slices.Sorted(maps.Keys(source)) {
		t := source[name]
		newest, err := h.newestPartition(ctx, snapshotDB, t)
		if err != nil {
			return fail(name, err)
		}
		if newest == nil {
			res.Empty = append(res.Empty, name)
			continue
		}
		input := latestInput(t, *newest)
		cur, ok := existing[name]
		switch {
		case !ok:
			if _, err := h.Glue.CreateTable(ctx, &glue.CreateTableInput{DatabaseName: aws.String(latestDB), TableInput: input}); err != nil {
				return fail(name, fmt.Errorf("create: %w", err))
			}
			res.Created = append(res.Created, name)
		case same(cur, input):
			res.Unchanged++
		default:
			// SkipArchive: a nightly switch is not a schema change worth a table
			// version, and Glue keeps a bounded number of versions per table.
			if _, err := h.Glue.UpdateTable(ctx, &glue.UpdateTableInput{DatabaseName: aws.String(latestDB), TableInput: input, SkipArchive: aws.Bool(true)}); err != nil {
				return fail(name, fmt.Errorf("update: %w", err))
			}
			res.Updated = append(res.Updated, name)
		}
	}
	// A snapshot table the crawler deleted (its folder is gone) leaves the latest
	// database too; a latest table must never outlive what it mirrors.
	for _, name := range slices.Sorted(maps.Keys(existing)) {
		if _, ok := source[name]; ok {
			continue
		}
		_, err := h.Glue.DeleteTable(ctx, &glue.DeleteTableInput{DatabaseName: aws.String(latestDB), Name: aws.String(name)})
		var gone *gluetypes.EntityNotFoundException
		if err != nil && !errors.As(err, &gone) {
			return fail(name, fmt.Errorf("delete: %w", err))
		}
		res.Deleted = append(res.Deleted, name)
	}
	log.InfoContext(ctx, "latest tables updated", "created", len(res.Created), "updated", len(res.Updated),
		"unchanged", res.Unchanged, "deleted", len(res.Deleted), "empty", res.Empty)
	return res, nil
}

// tables lists a database's tables by name (all pages).
func (h Handler) tables(ctx context.Context, db string) (map[string]gluetypes.Table, error) {
	out := map[string]gluetypes.Table{}
	in := &glue.GetTablesInput{DatabaseName: aws.String(db)}
	for {
		page, err := h.Glue.GetTables(ctx, in)
		if err != nil {
			return nil, err
		}
		for _, t := range page.TableList {
			out[strings.ToLower(aws.ToString(t.Name))] = t
		}
		if aws.ToString(page.NextToken) == "" {
			return out, nil
		}
		in.NextToken = page.NextToken
	}
}

// partition is a snapshot table's newest partition.
type partition struct {
	date, location string
}

// newestPartition is the partition with the greatest snapshot_date (the dates are
// YYYY-MM-DD, so the greatest string is the newest), or nil when the table has none
// or is not partitioned by snapshot_date.
func (h Handler) newestPartition(ctx context.Context, db string, t gluetypes.Table) (*partition, error) {
	if len(t.PartitionKeys) != 1 || !strings.EqualFold(aws.ToString(t.PartitionKeys[0].Name), deploy.SnapshotPartitionKey) {
		return nil, nil
	}
	var best *partition
	in := &glue.GetPartitionsInput{DatabaseName: aws.String(db), TableName: t.Name}
	for {
		page, err := h.Glue.GetPartitions(ctx, in)
		if err != nil {
			return nil, fmt.Errorf("list partitions: %w", err)
		}
		for _, p := range page.Partitions {
			if len(p.Values) != 1 || (best != nil && p.Values[0] <= best.date) {
				continue
			}
			loc := ""
			if p.StorageDescriptor != nil {
				loc = aws.ToString(p.StorageDescriptor.Location)
			}
			if loc == "" && t.StorageDescriptor != nil {
				loc = strings.TrimSuffix(aws.ToString(t.StorageDescriptor.Location), "/") + "/" + deploy.SnapshotPartitionKey + "=" + p.Values[0] + "/"
			}
			best = &partition{date: p.Values[0], location: loc}
		}
		if aws.ToString(page.NextToken) == "" {
			return best, nil
		}
		in.NextToken = page.NextToken
	}
}

// Parameters of a latest table, besides the copied classification.
const (
	ParamSnapshotDate = "snaplake:snapshot_date"
	ParamSourceTable  = "snaplake:source_table"
)

// latestInput is the latest table of t: t's columns and formats, no partition
// keys, located at the newest partition's folder.
func latestInput(t gluetypes.Table, p partition) *gluetypes.TableInput {
	sd := gluetypes.StorageDescriptor{}
	if t.StorageDescriptor != nil {
		sd = *t.StorageDescriptor
	}
	var cols []gluetypes.Column
	for _, c := range sd.Columns {
		if !strings.EqualFold(aws.ToString(c.Name), deploy.SnapshotPartitionKey) {
			cols = append(cols, gluetypes.Column{Name: c.Name, Type: c.Type})
		}
	}
	loc := p.location
	if !strings.HasSuffix(loc, "/") {
		loc += "/"
	}
	params := map[string]string{
		"classification":  "parquet",
		ParamSnapshotDate: p.date,
		ParamSourceTable:  aws.ToString(t.DatabaseName) + "." + aws.ToString(t.Name),
	}
	if c := t.Parameters["classification"]; c != "" {
		params["classification"] = c
	}
	serde := sd.SerdeInfo
	if serde == nil || aws.ToString(serde.SerializationLibrary) == "" {
		serde = &gluetypes.SerDeInfo{SerializationLibrary: aws.String("org.apache.hadoop.hive.ql.io.parquet.serde.ParquetHiveSerDe")}
	}
	input, output := sd.InputFormat, sd.OutputFormat
	if aws.ToString(input) == "" {
		input = aws.String("org.apache.hadoop.hive.ql.io.parquet.MapredParquetInputFormat")
	}
	if aws.ToString(output) == "" {
		output = aws.String("org.apache.hadoop.hive.ql.io.parquet.MapredParquetOutputFormat")
	}
	return &gluetypes.TableInput{
		Name:        t.Name,
		Description: aws.String("snaplake: the newest snapshot_date of " + aws.ToString(t.DatabaseName) + "." + aws.ToString(t.Name)),
		TableType:   aws.String("EXTERNAL_TABLE"),
		Parameters:  params,
		StorageDescriptor: &gluetypes.StorageDescriptor{
			Columns: cols, Location: aws.String(loc), InputFormat: input, OutputFormat: output,
			SerdeInfo: &gluetypes.SerDeInfo{SerializationLibrary: serde.SerializationLibrary, Parameters: serde.Parameters},
		},
	}
}

// same reports whether the latest table cur already is input (location, snapshot
// date and columns), so an unchanged night writes nothing.
func same(cur gluetypes.Table, input *gluetypes.TableInput) bool {
	if cur.StorageDescriptor == nil || aws.ToString(cur.StorageDescriptor.Location) != aws.ToString(input.StorageDescriptor.Location) ||
		cur.Parameters[ParamSnapshotDate] != input.Parameters[ParamSnapshotDate] || len(cur.PartitionKeys) > 0 {
		return false
	}
	return slices.EqualFunc(cur.StorageDescriptor.Columns, input.StorageDescriptor.Columns, func(a, b gluetypes.Column) bool {
		return strings.EqualFold(aws.ToString(a.Name), aws.ToString(b.Name)) && aws.ToString(a.Type) == aws.ToString(b.Type)
	})
}

func (h Handler) logger() *slog.Logger {
	if h.Log != nil {
		return h.Log
	}
	return slog.Default()
}
