package proc

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestLogMarkTailsOnlyWhatThisStartLogged(t *testing.T) {
	path := filepath.Join(t.TempDir(), "server.log")
	if got := MarkLog(path).Tail(); !strings.HasPrefix(got, "(no log: ") {
		t.Fatalf("Tail of a missing log = %q; want it to say there is no log", got)
	}
	if err := os.WriteFile(path, []byte("earlier run: port in use\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	mark := MarkLog(path)
	f, err := os.OpenFile(path, os.O_APPEND|os.O_WRONLY, 0)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := f.WriteString(strings.Repeat("x", 5000) + "this run: ready\n"); err != nil {
		t.Fatal(err)
	}
	f.Close()
	got := mark.Tail()
	if strings.Contains(got, "earlier run") || !strings.HasSuffix(got, "this run: ready\n") || len(got) != tailBytes {
		t.Fatalf("Tail = %d bytes ending %q; want the last %d bytes of this run only", len(got), got[max(0, len(got)-20):], tailBytes)
	}
}
