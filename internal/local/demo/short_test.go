package demo_test

import (
	"os"
	"testing"

	"github.com/snaplake/snaplake/internal/local/testenv"
)

// TestMain leaves this package out of the fast tier: its tests run state machines
// in node (aws-local-stepfunctions) and start servers.
func TestMain(m *testing.M) {
	if testenv.SkipPackage("node (aws-local-stepfunctions) or a server") {
		return
	}
	os.Exit(m.Run())
}
