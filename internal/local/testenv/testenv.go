// Package testenv splits the tests in two tiers. `go test -short ./...` is the fast
// tier: it starts no server (MariaDB, PostgreSQL, versitygw) and no node process
// (aws-local-stepfunctions, asl-validator, the IAM simulator, jsii for CDK synth).
// `make test` runs without -short and so runs everything.
//
// A test that starts one of them calls the helper for its kind first; a package whose
// tests all need one checks SkipPackage from TestMain. Only tests import this package.
package testenv

import (
	"flag"
	"fmt"
	"os"
	"testing"
)

// NeedsServers skips t under -short: it starts MariaDB, PostgreSQL or versitygw.
func NeedsServers(t testing.TB) {
	t.Helper()
	if testing.Short() {
		t.Skip("starts a database or S3 server: integration tier, skipped by -short (run `make test`)")
	}
}

// NeedsNode skips t under -short: it runs node (a state machine, asl-validator, the
// IAM simulator or a CDK synth through jsii).
func NeedsNode(t testing.TB) {
	t.Helper()
	if testing.Short() {
		t.Skip("runs node: integration tier, skipped by -short (run `make test`)")
	}
}

// SkipPackage reports, from TestMain, whether -short is set, printing why the whole
// package is skipped; the caller then returns without m.Run. what names what every
// test of the package starts ("node (jsii synth)", "MariaDB", ...).
func SkipPackage(what string) bool {
	if !flag.Parsed() {
		flag.Parse()
	}
	if !testing.Short() {
		return false
	}
	fmt.Fprintf(os.Stdout, "skipping package: every test starts %s: integration tier, skipped by -short (run `make test`)\n", what)
	return true
}

// Short reports -short from TestMain, before m.Run has parsed the flags: a TestMain
// that starts a shared server skips the start, and the tests that need it call
// NeedsServers.
func Short() bool {
	if !flag.Parsed() {
		flag.Parse()
	}
	return testing.Short()
}
