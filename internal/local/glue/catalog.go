// Package glue is the offline stand-in of the AWS Glue crawler and Data Catalog: it crawls
// relocated Parquet tables in a local S3 and records their schema and partitions in a JSON file.
package glue

import (
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/snaplake/snaplake/internal/local/jsonfile"
)

// Column is one column of a table, typed with the Glue/Hive type names Athena reads:
// int, bigint, smallint, tinyint, double, float, boolean, decimal(p,s), timestamp,
// date, string, binary (and array<...>, map<...>, struct<...> for nested data).
type Column struct {
	Name string `json:"name"`
	Type string `json:"type"`
}

// Table is a catalog table: one include path of a crawler, one table folder of the lake.
type Table struct {
	Database string   `json:"database"`
	Name     string   `json:"name"`
	Location string   `json:"location"` // s3://bucket/prefix/table/
	Columns  []Column `json:"columns"`
	// PartitionKeys are the partition columns, one per folder level below Location:
	// [snapshot_date] for a table relocation wrote.
	PartitionKeys []Column `json:"partitionKeys"`
	// Partitions holds the distinct values of the first partition key (snapshot_date
	// in the lake), sorted ascending: all a reader of a one-key table needs.
	Partitions []string `json:"partitions"`
	// PartitionValues holds, for a table with more than one partition key, every
	// partition's values in PartitionKeys order, sorted; absent otherwise.
	PartitionValues [][]string `json:"partitionValues,omitempty"`
	UpdatedAt       time.Time  `json:"updatedAt"`
	// Crawler is the crawler that last wrote the table (Glue's UPDATED_BY_CRAWLER
	// table parameter); empty for a table written through the API. It decides which
	// tables a crawler's dropped include paths can cost (DroppedTargetAssumption).
	Crawler string `json:"crawler,omitempty"`
	// Parameters are the table's parameters as written through the API (CreateTable,
	// UpdateTable); the crawler's own are not kept.
	Parameters map[string]string `json:"parameters,omitempty"`
}

// TableNotFoundError reports a lookup of a table the catalog does not hold.
type TableNotFoundError struct {
	Database, Name string
}

func (e *TableNotFoundError) Error() string {
	return fmt.Sprintf("table %s.%s not found in the catalog", e.Database, e.Name)
}

// Catalog is the Data Catalog persisted as one JSON file. Every read goes to the file, so
// a process that only queries sees what another process's crawler wrote; writes replace
// the file atomically (temp file + rename), so readers never see half a catalog.
type Catalog struct {
	path string
	mu   sync.Mutex
}

type catalogFile struct {
	Databases []string `json:"databases"`
	Tables    []Table  `json:"tables"`
}

// OpenCatalog opens the catalog stored at path. A missing file is an empty catalog;
// it is created on the first write.
func OpenCatalog(path string) (*Catalog, error) {
	c := &Catalog{path: path}
	if _, err := c.load(); err != nil {
		return nil, err
	}
	return c, nil
}

// Path is the JSON file the catalog lives in.
func (c *Catalog) Path() string { return c.path }

// Databases lists the database names, sorted.
func (c *Catalog) Databases() ([]string, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	st, err := c.load()
	if err != nil {
		return nil, err
	}
	return st.Databases, nil
}

// Tables lists the tables of database, sorted by name. An unknown database has no tables.
func (c *Catalog) Tables(database string) ([]Table, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	st, err := c.load()
	if err != nil {
		return nil, err
	}
	var out []Table
	for _, t := range st.Tables {
		if t.Database == database {
			out = append(out, t)
		}
	}
	return out, nil
}

// Table returns one table, or a *TableNotFoundError.
func (c *Catalog) Table(database, name string) (Table, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	st, err := c.load()
	if err != nil {
		return Table{}, err
	}
	for _, t := range st.Tables {
		if t.Database == database && t.Name == name {
			return t, nil
		}
	}
	return Table{}, &TableNotFoundError{Database: database, Name: name}
}

// Put creates or replaces a table (and its database).
func (c *Catalog) Put(t Table) error {
	return c.update(func(st *catalogFile) error {
		st.putTable(t)
		return nil
	})
}

// Delete removes a table; deleting a missing table is not an error, as in a crawler
// that finds nothing to remove.
func (c *Catalog) Delete(database, name string) error {
	return c.update(func(st *catalogFile) error {
		st.deleteTable(database, name)
		return nil
	})
}

// update applies fn to the current catalog and saves the result as one atomic change.
func (c *Catalog) update(fn func(st *catalogFile) error) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	st, err := c.load()
	if err != nil {
		return err
	}
	if err := fn(&st); err != nil {
		return err
	}
	st.normalize()
	return c.save(st)
}

func (c *Catalog) load() (catalogFile, error) {
	var st catalogFile
	b, err := os.ReadFile(c.path)
	if errors.Is(err, fs.ErrNotExist) {
		return st, nil
	}
	if err != nil {
		return st, fmt.Errorf("read catalog %s: %w", c.path, err)
	}
	if err := json.Unmarshal(b, &st); err != nil {
		return st, fmt.Errorf("parse catalog %s: %w", c.path, err)
	}
	st.normalize()
	return st, nil
}

func (c *Catalog) save(st catalogFile) error {
	if err := jsonfile.Write(c.path, st); err != nil {
		return fmt.Errorf("save catalog: %w", err)
	}
	return nil
}

func (st *catalogFile) ensureDatabase(name string) {
	if !slices.Contains(st.Databases, name) {
		st.Databases = append(st.Databases, name)
	}
}

func (st *catalogFile) putTable(t Table) {
	st.ensureDatabase(t.Database)
	for i := range st.Tables {
		if st.Tables[i].Database == t.Database && st.Tables[i].Name == t.Name {
			st.Tables[i] = t
			return
		}
	}
	st.Tables = append(st.Tables, t)
}

func (st *catalogFile) deleteTable(database, name string) {
	st.Tables = slices.DeleteFunc(st.Tables, func(t Table) bool {
		return t.Database == database && t.Name == name
	})
}

// normalize keeps the file stable across writes, so diffs and readers see a fixed order.
func (st *catalogFile) normalize() {
	for _, t := range st.Tables {
		st.ensureDatabase(t.Database)
	}
	slices.Sort(st.Databases)
	st.Databases = slices.Compact(st.Databases)
	slices.SortFunc(st.Tables, func(a, b Table) int {
		if c := strings.Compare(a.Database, b.Database); c != 0 {
			return c
		}
		return strings.Compare(a.Name, b.Name)
	})
	if st.Databases == nil {
		st.Databases = []string{}
	}
	if st.Tables == nil {
		st.Tables = []Table{}
	}
}
