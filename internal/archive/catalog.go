package archive

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/glue"
	gluetypes "github.com/aws/aws-sdk-go-v2/service/glue/types"

	"github.com/snaplake/snaplake/internal/aws/mysqlparquet"
	"github.com/snaplake/snaplake/internal/deploy"
)

// CatalogAPI is the part of Glue that catalogs an archive: *glue.Client satisfies it.
type CatalogAPI interface {
	GetTable(ctx context.Context, in *glue.GetTableInput, optFns ...func(*glue.Options)) (*glue.GetTableOutput, error)
	CreateTable(ctx context.Context, in *glue.CreateTableInput, optFns ...func(*glue.Options)) (*glue.CreateTableOutput, error)
	UpdateTable(ctx context.Context, in *glue.UpdateTableInput, optFns ...func(*glue.Options)) (*glue.UpdateTableOutput, error)
	BatchCreatePartition(ctx context.Context, in *glue.BatchCreatePartitionInput, optFns ...func(*glue.Options)) (*glue.BatchCreatePartitionOutput, error)
}

// CatalogEntry is where a table's archive is cataloged.
type CatalogEntry struct {
	// Database is the archive's Glue database (deploy.ArchiveDatabaseName of the
	// source database's snapshot database), Table the source table's name in Glue.
	Database, Table string
	// Location is the table's folder, s3://bucket/archive/<schema>/<table>/.
	Location string
	// Columns are the source table's, as the archive's Parquet files hold them.
	Columns []mysqlparquet.Column
	// Cutoff is the run's: its partition cutoff=<YYYY-MM-DD>.
	Cutoff time.Time
}

// CatalogError says the archive was written and verified but its Glue table or
// partition could not be made: the rows are safe in S3 and queryable once the next
// run catalogs them.
type CatalogError struct {
	Database, Table string
	Err             error
}

func (e *CatalogError) Error() string {
	return fmt.Sprintf("catalog the archive of %s.%s: %v", e.Database, e.Table, e.Err)
}
func (e *CatalogError) Unwrap() error { return e.Err }

// Catalog makes the archive of one table queryable: its Glue table (created the
// first time, its columns brought up to date otherwise, partitioned by cutoff) and
// the run's partition. Idempotent: a partition that exists is left as it is.
func Catalog(ctx context.Context, api CatalogAPI, e CatalogEntry) error {
	fail := func(err error) error { return &CatalogError{Database: e.Database, Table: e.Table, Err: err} }
	loc := strings.TrimSuffix(e.Location, "/") + "/"
	sd := func(location string) *gluetypes.StorageDescriptor {
		d := &gluetypes.StorageDescriptor{
			Location:     aws.String(location),
			InputFormat:  aws.String("org.apache.hadoop.hive.ql.io.parquet.MapredParquetInputFormat"),
			OutputFormat: aws.String("org.apache.hadoop.hive.ql.io.parquet.MapredParquetOutputFormat"),
			SerdeInfo:    &gluetypes.SerDeInfo{SerializationLibrary: aws.String("org.apache.hadoop.hive.ql.io.parquet.serde.ParquetHiveSerDe")},
		}
		for i := range e.Columns {
			d.Columns = append(d.Columns, gluetypes.Column{Name: aws.String(strings.ToLower(e.Columns[i].Name)), Type: aws.String(e.Columns[i].HiveType())})
		}
		return d
	}
	if len(e.Columns) == 0 {
		return fail(errors.New("no columns"))
	}
	input := &gluetypes.TableInput{
		Name:              aws.String(e.Table),
		TableType:         aws.String("EXTERNAL_TABLE"),
		Parameters:        map[string]string{"classification": "parquet", "snaplake:archive": "true"},
		StorageDescriptor: sd(loc),
		PartitionKeys:     []gluetypes.Column{{Name: aws.String(deploy.ArchivePartitionKey), Type: aws.String("string")}},
	}
	db := aws.String(e.Database)
	got, err := api.GetTable(ctx, &glue.GetTableInput{DatabaseName: db, Name: input.Name})
	var notFound *gluetypes.EntityNotFoundException
	switch {
	case errors.As(err, &notFound):
		_, err = api.CreateTable(ctx, &glue.CreateTableInput{DatabaseName: db, TableInput: input})
		var exists *gluetypes.AlreadyExistsException
		if err != nil && !errors.As(err, &exists) { // another run's catalog won the race
			return fail(err)
		}
	case err != nil:
		return fail(err)
	default:
		// The source's columns may have changed since the first archive: the table
		// takes today's (a column dropped since is NULL in the newer partitions, an
		// old partition's extra column is not read). UpdateTable replaces the table's
		// definition, so the parameters an operator set on it (say, for Athena to
		// read objects restored from Glacier) are carried over. SkipArchive: no
		// version kept.
		if got != nil && got.Table != nil {
			for k, v := range got.Table.Parameters {
				if _, ours := input.Parameters[k]; !ours {
					input.Parameters[k] = v
				}
			}
		}
		if _, err := api.UpdateTable(ctx, &glue.UpdateTableInput{DatabaseName: db, TableInput: input, SkipArchive: aws.Bool(true)}); err != nil {
			return fail(err)
		}
	}
	cutoff := e.Cutoff.UTC().Format("2006-01-02")
	out, err := api.BatchCreatePartition(ctx, &glue.BatchCreatePartitionInput{DatabaseName: db, TableName: input.Name,
		PartitionInputList: []gluetypes.PartitionInput{{
			Values:            []string{cutoff},
			StorageDescriptor: sd(loc + deploy.ArchivePartitionKey + "=" + cutoff + "/"),
		}}})
	if err != nil {
		return fail(err)
	}
	for _, pe := range out.Errors {
		if pe.ErrorDetail != nil && aws.ToString(pe.ErrorDetail.ErrorCode) == "AlreadyExistsException" {
			continue
		}
		msg := "unknown error"
		if pe.ErrorDetail != nil {
			msg = aws.ToString(pe.ErrorDetail.ErrorCode) + ": " + aws.ToString(pe.ErrorDetail.ErrorMessage)
		}
		return fail(fmt.Errorf("partition %s=%s: %s", deploy.ArchivePartitionKey, cutoff, msg))
	}
	return nil
}
