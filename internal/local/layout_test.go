package local

import (
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"testing"
)

// capabilities are the rooms of internal/ that hold one capability each: its logic at
// the top, its run package and its own helpers below it.
var capabilities = []string{"export", "ingest", "federate", "archive"}

// floor is where a package of internal/ stands: the lower floors never import the
// higher ones (ARCHITECTURE.md, "What may import what").
func floor(rel string) int {
	top, _, _ := strings.Cut(rel, "/")
	switch {
	case top == "deploy":
		return 0
	case top == "aws":
		return 1
	case top == "config":
		return 2
	case slices.Contains(capabilities, top):
		return 3
	case top == "doctor":
		return 4
	default: // opscli, local
		return 5
	}
}

// TestImportsRunOneWay reads the import graph of internal/ and fails on an import that
// runs back up a floor, or from one capability into another: each capability stands
// alone on the shared floors beneath it.
func TestImportsRunOneWay(t *testing.T) {
	out, err := exec.Command("go", "list", "-json=ImportPath,Imports", module+"/internal/...").Output()
	if err != nil {
		t.Fatalf("go list: %v", err)
	}
	dec := json.NewDecoder(strings.NewReader(string(out)))
	checked := 0
	for dec.More() {
		var p struct {
			ImportPath string
			Imports    []string
		}
		if err := dec.Decode(&p); err != nil {
			t.Fatal(err)
		}
		from, ok := strings.CutPrefix(p.ImportPath, module+"/internal/")
		if !ok {
			continue
		}
		for _, imp := range p.Imports {
			to, ok := strings.CutPrefix(imp, module+"/internal/")
			if !ok {
				continue
			}
			checked++
			fromTop, _, _ := strings.Cut(from, "/")
			toTop, _, _ := strings.Cut(to, "/")
			switch {
			case floor(to) > floor(from):
				t.Errorf("internal/%s (floor %d) imports internal/%s (floor %d): an import runs back up", from, floor(from), to, floor(to))
			case fromTop != toTop && slices.Contains(capabilities, fromTop) && slices.Contains(capabilities, toTop):
				t.Errorf("internal/%s imports internal/%s: one capability reaches into another", from, to)
			}
		}
	}
	if checked < 50 {
		t.Fatalf("only %d imports inside internal/ checked: too few to judge", checked)
	}
}

// TestFewTopLevelRooms keeps internal/ a short list of rooms: a new package goes under
// its capability (or under aws/ when every capability shares it), not beside them.
func TestFewTopLevelRooms(t *testing.T) {
	_, file, _, _ := runtime.Caller(0)
	entries, err := os.ReadDir(filepath.Join(filepath.Dir(file), ".."))
	if err != nil {
		t.Fatal(err)
	}
	var rooms []string
	for _, e := range entries {
		if e.IsDir() && e.Name() != "local" {
			rooms = append(rooms, e.Name())
		}
	}
	if len(rooms) == 0 || len(rooms) > 10 {
		t.Errorf("internal/ has %d top-level packages besides local/ (%v), want at most 10", len(rooms), rooms)
	}
}
