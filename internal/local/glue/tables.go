package glue

import (
	"context"
	"fmt"
	"maps"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/glue"
	gluetypes "github.com/aws/aws-sdk-go-v2/service/glue/types"
)

// CreateDatabase adds a database to the catalog, as the stack's AWS::Glue::Database
// does; an existing one is left as it is.
func (c *Catalog) CreateDatabase(name string) error {
	return c.update(func(st *catalogFile) error {
		st.ensureDatabase(name)
		return nil
	})
}

// GetTable has the signature of (*glue.Client).GetTable: the table as the catalog
// holds it, or *gluetypes.EntityNotFoundException.
func (s *Service) GetTable(_ context.Context, in *glue.GetTableInput, _ ...func(*glue.Options)) (*glue.GetTableOutput, error) {
	db, name := strings.ToLower(aws.ToString(in.DatabaseName)), strings.ToLower(aws.ToString(in.Name))
	t, err := s.Catalog.Table(db, name)
	if err != nil {
		return nil, &gluetypes.EntityNotFoundException{Message: aws.String(fmt.Sprintf("Table %s not found.", name))}
	}
	return &glue.GetTableOutput{Table: apiTable(t)}, nil
}

// apiTable is t as Glue's API returns it.
func apiTable(t Table) *gluetypes.Table {
	out := &gluetypes.Table{Name: aws.String(t.Name), DatabaseName: aws.String(t.Database), TableType: aws.String("EXTERNAL_TABLE"),
		StorageDescriptor: &gluetypes.StorageDescriptor{Location: aws.String(t.Location)}, UpdateTime: aws.Time(t.UpdatedAt),
		Parameters: maps.Clone(t.Parameters)}
	for _, c := range t.Columns {
		out.StorageDescriptor.Columns = append(out.StorageDescriptor.Columns, gluetypes.Column{Name: aws.String(c.Name), Type: aws.String(c.Type)})
	}
	for _, c := range t.PartitionKeys {
		out.PartitionKeys = append(out.PartitionKeys, gluetypes.Column{Name: aws.String(c.Name), Type: aws.String(c.Type)})
	}
	return out
}

// pageSize is how many items a Get* list call returns per page offline: small, so
// that callers' pagination is exercised (Glue's own pages hold up to 100 tables).
const pageSize = 25

// page returns the items of one page of n items and the next page's token ("" for
// the last page). The token is the offset; a token that does not parse is Glue's
// InvalidInputException.
func page(n int, token *string) (lo, hi int, next *string, err error) {
	if tok := aws.ToString(token); tok != "" {
		if lo, err = strconv.Atoi(tok); err != nil || lo < 0 || lo > n {
			return 0, 0, nil, &gluetypes.InvalidInputException{Message: aws.String("Invalid pagination token")}
		}
	}
	hi = min(lo+pageSize, n)
	if hi < n {
		next = aws.String(strconv.Itoa(hi))
	}
	return lo, hi, next, nil
}

// GetTables has the signature of (*glue.Client).GetTables: the database's tables
// sorted by name, in pages; a database that does not exist is
// EntityNotFoundException, as in Glue.
func (s *Service) GetTables(_ context.Context, in *glue.GetTablesInput, _ ...func(*glue.Options)) (*glue.GetTablesOutput, error) {
	db := strings.ToLower(aws.ToString(in.DatabaseName))
	dbs, err := s.Catalog.Databases()
	if err != nil {
		return nil, err
	}
	if !slices.Contains(dbs, db) {
		return nil, &gluetypes.EntityNotFoundException{Message: aws.String(fmt.Sprintf("Database %s not found.", db))}
	}
	tables, err := s.Catalog.Tables(db)
	if err != nil {
		return nil, err
	}
	lo, hi, next, err := page(len(tables), in.NextToken)
	if err != nil {
		return nil, err
	}
	out := &glue.GetTablesOutput{NextToken: next}
	for _, t := range tables[lo:hi] {
		out.TableList = append(out.TableList, *apiTable(t))
	}
	return out, nil
}

// GetPartitions has the signature of (*glue.Client).GetPartitions: every partition
// of the table (no expression filtering offline), in pages, each located at its
// folder below the table's location, as the crawler catalogs them.
func (s *Service) GetPartitions(_ context.Context, in *glue.GetPartitionsInput, _ ...func(*glue.Options)) (*glue.GetPartitionsOutput, error) {
	if aws.ToString(in.Expression) != "" {
		return nil, &gluetypes.InvalidInputException{Message: aws.String("offline: GetPartitions with an Expression is not supported")}
	}
	db, name := strings.ToLower(aws.ToString(in.DatabaseName)), strings.ToLower(aws.ToString(in.TableName))
	t, err := s.Catalog.Table(db, name)
	if err != nil {
		return nil, &gluetypes.EntityNotFoundException{Message: aws.String(fmt.Sprintf("Table %s not found.", name))}
	}
	values := t.PartitionValues
	if len(values) == 0 {
		for _, p := range t.Partitions {
			values = append(values, []string{p})
		}
	}
	lo, hi, next, err := page(len(values), in.NextToken)
	if err != nil {
		return nil, err
	}
	out := &glue.GetPartitionsOutput{NextToken: next}
	base := strings.TrimSuffix(t.Location, "/") + "/"
	for _, v := range values[lo:hi] {
		loc := base
		for i, k := range t.PartitionKeys {
			if i < len(v) {
				loc += k.Name + "=" + v[i] + "/"
			}
		}
		out.Partitions = append(out.Partitions, gluetypes.Partition{DatabaseName: aws.String(t.Database), TableName: aws.String(t.Name),
			Values: slices.Clone(v), StorageDescriptor: &gluetypes.StorageDescriptor{Location: aws.String(loc)}})
	}
	return out, nil
}

// DeleteTable has the signature of (*glue.Client).DeleteTable; a table that does
// not exist is EntityNotFoundException, as in Glue.
func (s *Service) DeleteTable(_ context.Context, in *glue.DeleteTableInput, _ ...func(*glue.Options)) (*glue.DeleteTableOutput, error) {
	db, name := strings.ToLower(aws.ToString(in.DatabaseName)), strings.ToLower(aws.ToString(in.Name))
	return &glue.DeleteTableOutput{}, s.Catalog.update(func(st *catalogFile) error {
		if _, ok := st.table(db, name); !ok {
			return &gluetypes.EntityNotFoundException{Message: aws.String(fmt.Sprintf("Table %s not found.", name))}
		}
		st.deleteTable(db, name)
		return nil
	})
}

// CreateTable has the signature of (*glue.Client).CreateTable. Like Glue it refuses
// a table in a database that does not exist (EntityNotFoundException), an existing
// table (AlreadyExistsException), and a table input without a name, an S3 location
// or columns (InvalidInputException). A partitioned table starts with no partition
// (BatchCreatePartition adds them).
func (s *Service) CreateTable(_ context.Context, in *glue.CreateTableInput, _ ...func(*glue.Options)) (*glue.CreateTableOutput, error) {
	t, err := tableOf(aws.ToString(in.DatabaseName), in.TableInput)
	if err != nil {
		return nil, err
	}
	return &glue.CreateTableOutput{}, s.Catalog.update(func(st *catalogFile) error {
		if !slices.Contains(st.Databases, t.Database) {
			return &gluetypes.EntityNotFoundException{Message: aws.String(fmt.Sprintf("Database %s not found.", t.Database))}
		}
		if _, ok := st.table(t.Database, t.Name); ok {
			return &gluetypes.AlreadyExistsException{Message: aws.String("Table already exists.")}
		}
		st.putTable(t)
		return nil
	})
}

// UpdateTable has the signature of (*glue.Client).UpdateTable: the table input
// replaces the table whole, in one change readers see at once.
func (s *Service) UpdateTable(_ context.Context, in *glue.UpdateTableInput, _ ...func(*glue.Options)) (*glue.UpdateTableOutput, error) {
	t, err := tableOf(aws.ToString(in.DatabaseName), in.TableInput)
	if err != nil {
		return nil, err
	}
	return &glue.UpdateTableOutput{}, s.Catalog.update(func(st *catalogFile) error {
		was, ok := st.table(t.Database, t.Name)
		if !ok {
			return &gluetypes.EntityNotFoundException{Message: aws.String(fmt.Sprintf("Table %s not found.", t.Name))}
		}
		keepPartitions(&t, was)
		st.putTable(t)
		return nil
	})
}

func tableOf(database string, in *gluetypes.TableInput) (Table, error) {
	invalid := func(format string, args ...any) error {
		return &gluetypes.InvalidInputException{Message: aws.String(fmt.Sprintf(format, args...))}
	}
	if in == nil || aws.ToString(in.Name) == "" {
		return Table{}, invalid("TableInput.Name is required")
	}
	if database == "" {
		return Table{}, invalid("DatabaseName is required")
	}
	sd := in.StorageDescriptor
	if sd == nil || !strings.HasPrefix(aws.ToString(sd.Location), "s3://") || len(sd.Columns) == 0 {
		return Table{}, invalid("table %s: a StorageDescriptor with an s3:// Location and columns is required", aws.ToString(in.Name))
	}
	t := Table{Database: strings.ToLower(database), Name: strings.ToLower(aws.ToString(in.Name)), Location: aws.ToString(sd.Location), UpdatedAt: time.Now().UTC(),
		Parameters: maps.Clone(in.Parameters)}
	for _, c := range sd.Columns {
		t.Columns = append(t.Columns, Column{Name: strings.ToLower(aws.ToString(c.Name)), Type: aws.ToString(c.Type)})
	}
	for _, k := range in.PartitionKeys {
		name := strings.ToLower(aws.ToString(k.Name))
		if name == "" || slices.ContainsFunc(t.Columns, func(c Column) bool { return c.Name == name }) {
			return Table{}, invalid("table %s: partition key %q is empty or also a column", t.Name, name)
		}
		t.PartitionKeys = append(t.PartitionKeys, Column{Name: name, Type: aws.ToString(k.Type)})
	}
	return t, nil
}

// keepPartitions carries the partitions of the table as it was into its new
// definition: Glue's UpdateTable changes the table, not its partitions (they are
// dropped only by the partition APIs), as long as the partition keys stay.
func keepPartitions(t *Table, was Table) {
	if slices.Equal(t.PartitionKeys, was.PartitionKeys) {
		t.Partitions, t.PartitionValues = was.Partitions, was.PartitionValues
	}
}

// BatchCreatePartition has the signature of (*glue.Client).BatchCreatePartition.
// Like Glue it refuses more than 100 partitions in one request
// (InvalidInputException) and a table that does not exist (EntityNotFoundException),
// and reports in Errors a partition that exists already (AlreadyExistsException) or
// whose values do not match the partition keys, creating the others. Offline a
// partition lives at its folder below the table's location
// (<location>/<key>=<value>/), whatever StorageDescriptor it is given.
func (s *Service) BatchCreatePartition(_ context.Context, in *glue.BatchCreatePartitionInput, _ ...func(*glue.Options)) (*glue.BatchCreatePartitionOutput, error) {
	if n := len(in.PartitionInputList); n == 0 || n > 100 {
		return nil, &gluetypes.InvalidInputException{Message: aws.String(fmt.Sprintf("1 validation error detected: Value at 'partitionInputList' failed to satisfy constraint: Member must have length between 1 and 100 (got %d)", n))}
	}
	db, name := strings.ToLower(aws.ToString(in.DatabaseName)), strings.ToLower(aws.ToString(in.TableName))
	out := &glue.BatchCreatePartitionOutput{}
	return out, s.Catalog.update(func(st *catalogFile) error {
		t, ok := st.table(db, name)
		if !ok {
			return &gluetypes.EntityNotFoundException{Message: aws.String(fmt.Sprintf("Table %s not found.", name))}
		}
		for _, p := range in.PartitionInputList {
			fail := func(code, msg string) {
				out.Errors = append(out.Errors, gluetypes.PartitionError{PartitionValues: p.Values,
					ErrorDetail: &gluetypes.ErrorDetail{ErrorCode: aws.String(code), ErrorMessage: aws.String(msg)}})
			}
			if len(p.Values) != len(t.PartitionKeys) || len(p.Values) == 0 {
				fail("InvalidInputException", fmt.Sprintf("The number of partition values (%d) does not match the number of partition keys (%d).", len(p.Values), len(t.PartitionKeys)))
				continue
			}
			if slices.Contains(partitionIDs(t), strings.Join(p.Values, "/")) {
				fail("AlreadyExistsException", "Partition already exists.")
				continue
			}
			if len(t.PartitionKeys) == 1 {
				t.Partitions = append(t.Partitions, p.Values[0])
				slices.Sort(t.Partitions)
			} else {
				t.PartitionValues = append(t.PartitionValues, slices.Clone(p.Values))
				slices.SortFunc(t.PartitionValues, func(a, b []string) int { return strings.Compare(strings.Join(a, "/"), strings.Join(b, "/")) })
			}
		}
		t.UpdatedAt = time.Now().UTC()
		st.putTable(t)
		return nil
	})
}

func (st *catalogFile) table(database, name string) (Table, bool) {
	for _, t := range st.Tables {
		if t.Database == database && t.Name == name {
			return t, true
		}
	}
	return Table{}, false
}

// BatchDeletePartition has the signature of (*glue.Client).BatchDeletePartition.
// Like Glue it refuses more than 25 partitions in one request (InvalidInputException)
// and a table that does not exist (EntityNotFoundException), and reports a partition
// the table does not have in Errors, deleting the others.
func (s *Service) BatchDeletePartition(_ context.Context, in *glue.BatchDeletePartitionInput, _ ...func(*glue.Options)) (*glue.BatchDeletePartitionOutput, error) {
	if n := len(in.PartitionsToDelete); n == 0 || n > 25 {
		return nil, &gluetypes.InvalidInputException{Message: aws.String(fmt.Sprintf("1 validation error detected: Value at 'partitionsToDelete' failed to satisfy constraint: Member must have length between 1 and 25 (got %d)", n))}
	}
	db, name := strings.ToLower(aws.ToString(in.DatabaseName)), strings.ToLower(aws.ToString(in.TableName))
	out := &glue.BatchDeletePartitionOutput{}
	return out, s.Catalog.update(func(st *catalogFile) error {
		t, ok := st.table(db, name)
		if !ok {
			return &gluetypes.EntityNotFoundException{Message: aws.String(fmt.Sprintf("Table %s not found.", name))}
		}
		for _, p := range in.PartitionsToDelete {
			id := strings.Join(p.Values, "/")
			ids := partitionIDs(t)
			if len(p.Values) != len(t.PartitionKeys) || !slices.Contains(ids, id) {
				out.Errors = append(out.Errors, gluetypes.PartitionError{PartitionValues: p.Values,
					ErrorDetail: &gluetypes.ErrorDetail{ErrorCode: aws.String("EntityNotFoundException"), ErrorMessage: aws.String("Partition not found.")}})
				continue
			}
			if len(t.PartitionValues) > 0 {
				t.PartitionValues = slices.DeleteFunc(t.PartitionValues, func(v []string) bool { return slices.Equal(v, p.Values) })
				t.Partitions = t.Partitions[:0]
				for _, v := range t.PartitionValues {
					if !slices.Contains(t.Partitions, v[0]) {
						t.Partitions = append(t.Partitions, v[0])
					}
				}
			} else {
				t.Partitions = slices.DeleteFunc(t.Partitions, func(v string) bool { return v == id })
			}
		}
		t.UpdatedAt = time.Now().UTC()
		st.putTable(t)
		return nil
	})
}
