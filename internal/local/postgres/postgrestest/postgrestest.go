// Package postgrestest starts a local PostgreSQL for tests. It lives apart from package postgres so
// that only tests link "testing"; the operator binary imports postgres alone.
package postgrestest

import (
	"testing"

	"github.com/snaplake/snaplake/internal/local/postgres"
	"github.com/snaplake/snaplake/internal/local/testenv"
)

// Start starts a server in t.TempDir() and stops it when the test ends. Under -short
// it skips t instead: the fast tier starts no server.
func Start(t testing.TB) *postgres.Server {
	t.Helper()
	return testenv.StartServer(t, "postgres", postgres.Start)
}

// StartForMain starts one server for a whole test binary, from TestMain, in a new
// temporary directory; stop shuts it down and removes the directory.
// A TestMain that calls it under -short should not: see testenv.SkipPackage.
func StartForMain(name string) (s *postgres.Server, stop func(), err error) {
	return testenv.StartServerForMain(name, postgres.Start)
}
