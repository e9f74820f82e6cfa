// Package lakeformation is the offline stand-in of AWS Lake Formation: one account's
// grants, data lake settings and registered locations, with the SDK client's method
// signatures, kept in a JSON file that other offline processes read.
package lakeformation

import (
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"sync"

	"github.com/aws/aws-sdk-go-v2/service/lakeformation/types"

	"github.com/snaplake/snaplake/internal/ingest/grants"
	gluelocal "github.com/snaplake/snaplake/internal/local/glue"
	"github.com/snaplake/snaplake/internal/local/jsonfile"
)

// Service is Lake Formation persisted as one JSON file. Every call reads the file, so
// a process sees what another one granted; every change rewrites it atomically (temp
// file + rename), so readers never see half a state. Calls on one Service are
// serialized; two processes writing at once may lose one of the writes, as with the
// offline Glue catalog.
//
// Calls on a Service are made by the account's administrator: nothing is refused for
// want of permissions. AsPrincipal gives a Client whose calls are made by a principal
// and checked as Lake Formation checks them.
type Service struct {
	path string
	mu   sync.Mutex
	// catalog, when set, is the account's Glue Data Catalog (SetCatalog).
	catalog Catalog
}

// Catalog is the part of the account's Glue Data Catalog Lake Formation looks a
// grant's database and table up in; *glue.Catalog (internal/local/glue) has it.
type Catalog interface {
	Databases() ([]string, error)
	Tables(database string) ([]gluelocal.Table, error)
}

// SetCatalog makes grants and revokes look their database and table up in c, as
// Lake Formation does in the account's Data Catalog: one on a database or table that
// is not there fails with EntityNotFoundException. Without a catalog nothing is
// looked up (a Service that only holds grants, as `snaplake query` reads them).
func (s *Service) SetCatalog(c Catalog) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.catalog = c
}

// Open opens the state stored at path. A missing file is a new account (no grants,
// the default settings); it is created on the first change.
func Open(path string) (*Service, error) {
	s := &Service{path: path}
	if _, err := s.load(); err != nil {
		return nil, err
	}
	return s, nil
}

// Path is the JSON file the state lives in.
func (s *Service) Path() string { return s.path }

// Grants are the grants held on databases, tables and columns, one per principal and
// resource, in the canonical order of the grants package: what `snaplake query --as`
// enforces.
func (s *Service) Grants() ([]grants.Grant, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	st, err := s.load()
	if err != nil {
		return nil, err
	}
	return st.grants()
}

// stateFile is the JSON file.
type stateFile struct {
	// Settings are the data lake settings as last put; absent until then, when the
	// defaults of a new account apply.
	Settings  *types.DataLakeSettings `json:"settings,omitempty"`
	Grants    []grants.Grant          `json:"grants"`
	Resources []registered            `json:"resources"`
}

// state is the file in the form the operations work on.
type state struct {
	settings  *types.DataLakeSettings
	held      holdings
	resources []registered
	catalog   Catalog // the Service's, for the operations to look resources up
}

// read runs fn on the current state.
func (s *Service) read(fn func(st *state) error) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	st, err := s.load()
	if err != nil {
		return err
	}
	return fn(st)
}

// update runs fn on the current state and saves the result as one change. fn reports
// whether it changed anything; an unchanged state is not written.
func (s *Service) update(fn func(st *state) (bool, error)) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	st, err := s.load()
	if err != nil {
		return err
	}
	changed, err := fn(st)
	if !changed {
		return err
	}
	if serr := s.save(st); serr != nil {
		return serr
	}
	return err
}

func (s *Service) load() (*state, error) {
	st := &state{held: holdings{}, catalog: s.catalog}
	b, err := os.ReadFile(s.path)
	if errors.Is(err, fs.ErrNotExist) {
		return st, nil
	}
	if err != nil {
		return nil, fmt.Errorf("read Lake Formation state %s: %w", s.path, err)
	}
	var f stateFile
	if err := json.Unmarshal(b, &f); err != nil {
		return nil, fmt.Errorf("parse Lake Formation state %s: %w", s.path, err)
	}
	for i, g := range f.Grants {
		if err := st.held.add(g); err != nil {
			return nil, fmt.Errorf("Lake Formation state %s: grant %d (%s): %w", s.path, i, g, err)
		}
	}
	st.settings, st.resources, st.catalog = f.Settings, f.Resources, s.catalog
	return st, nil
}

func (s *Service) save(st *state) error {
	gs, err := st.grants()
	if err != nil {
		return fmt.Errorf("save Lake Formation state %s: %w", s.path, err)
	}
	f := stateFile{Settings: st.settings, Grants: gs, Resources: st.resources}
	if f.Grants == nil {
		f.Grants = []grants.Grant{}
	}
	if f.Resources == nil {
		f.Resources = []registered{}
	}
	if err := jsonfile.Write(s.path, f); err != nil {
		return fmt.Errorf("save Lake Formation state: %w", err)
	}
	return nil
}

// grants are the holdings as the grants package reads them from ListPermissions: the
// file holds exactly what a listing reports.
func (st *state) grants() ([]grants.Grant, error) {
	gs, err := grants.FromListPermissions(st.held.entries())
	if err != nil {
		return nil, err
	}
	return gs, nil
}
