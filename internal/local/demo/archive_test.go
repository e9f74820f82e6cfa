package demo

import (
	"bytes"
	"context"
	"path/filepath"
	"strings"
	"testing"

	"github.com/snaplake/snaplake/internal/local/offline"
	"github.com/snaplake/snaplake/internal/local/stepfunctions"
	"github.com/snaplake/snaplake/internal/local/testenv"
)

// TestArchiveEndToEnd runs `snaplake demo archive` on a fresh home: the sample's
// downloads older than two years leave MariaDB and are in the lake, queryable, as
// many as left; every call allowed by the synthesized policies; a second run has
// nothing left to move.
func TestArchiveEndToEnd(t *testing.T) {
	testenv.NeedsServers(t)
	testenv.NeedsNode(t)
	ctx := context.Background()
	home := t.TempDir()
	var out bytes.Buffer
	rep, err := RunArchive(ctx, Options{Home: home, Rows: 20000, Out: &out})
	if err != nil {
		t.Fatalf("demo archive: %v\n%s", err, out.String())
	}
	if rep.Result.Status != stepfunctions.StatusSucceeded {
		t.Fatalf("run %s", rep.Result.Status)
	}
	moved := rep.Before - rep.After
	if moved <= 0 || rep.After <= 0 || rep.Archived != moved || rep.Summary.RowsDeleted != moved {
		t.Errorf("before %d, after %d, archived %d, deleted %d: want some rows moved, exactly as many archived as deleted, some kept", rep.Before, rep.After, rep.Archived, rep.Summary.RowsDeleted)
	}
	if !strings.Contains(out.String(), "warehouse_archive") {
		t.Errorf("the output does not show the archive queried:\n%s", out.String())
	}
	added, _, err := offline.ComparePermissions(deployed(), rep.Allowed, filepath.Join("..", "..", "..", offline.PermissionsFile), *updatePermissions)
	if err != nil {
		t.Fatal(err)
	}
	if len(added) > 0 {
		t.Errorf("calls allowed by the deployed policies but missing from %s (review them, then `make permissions`):\n  %s", offline.PermissionsFile, strings.Join(added, "\n  "))
	}

	out.Reset()
	again, err := RunArchive(ctx, Options{Home: home, Rows: 20000, Out: &out})
	if err != nil {
		t.Fatalf("second demo archive: %v\n%s", err, out.String())
	}
	if again.Before != rep.After || again.After != rep.After {
		t.Errorf("second run: before %d, after %d, want %d untouched", again.Before, again.After, rep.After)
	}
}
