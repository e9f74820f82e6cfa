package postgres

import (
	"context"
	"errors"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/snaplake/snaplake/internal/local/testenv"
)

func TestStartCreateDatabasesConnectStop(t *testing.T) {
	testenv.NeedsServers(t)
	ctx := context.Background()
	dir := t.TempDir()
	s, err := Start(ctx, dir, slog.Default())
	if err != nil {
		t.Fatalf("start: %v", err)
	}
	t.Cleanup(func() { _ = s.Stop() })

	for _, name := range []string{"source", "target-db"} {
		if err := s.CreateDatabase(name); err != nil {
			t.Fatal(err)
		}
	}
	for _, name := range []string{"source", "target-db"} {
		conn, err := s.Connect(ctx, name)
		if err != nil {
			t.Fatal(err)
		}
		var db, encoding, tz, fsync string
		if err := conn.QueryRow(ctx, "SELECT current_database(), current_setting('server_encoding'), current_setting('TimeZone'), current_setting('fsync')").
			Scan(&db, &encoding, &tz, &fsync); err != nil {
			t.Fatal(err)
		}
		conn.Close(ctx)
		if db != name || encoding != "UTF8" || tz != "UTC" || fsync != "off" {
			t.Errorf("database %s: got current_database=%q encoding=%q TimeZone=%q fsync=%q, want %q UTF8 UTC off", name, db, encoding, tz, fsync, name)
		}
	}
	if err := s.CreateDatabase("source"); err == nil || !strings.Contains(err.Error(), "source") {
		t.Errorf("creating database source twice: got %v, want an error naming it", err)
	}
	if !strings.HasPrefix(s.DSN("source"), "postgres://postgres@127.0.0.1:"+strconv.Itoa(s.Port)+"/source") {
		t.Errorf("DSN(source) = %q", s.DSN("source"))
	}

	// A second server on the same data directory must be refused with a clear error.
	_, err = Start(ctx, dir, slog.Default())
	var inUse *DatadirInUseError
	if !errors.As(err, &inUse) || inUse.PID != s.proc.PID() {
		t.Fatalf("second start on same dir: got %v, want DatadirInUseError naming pid %d", err, s.proc.PID())
	}

	if err := s.Stop(); err != nil {
		t.Fatalf("stop: %v", err)
	}
	if err := s.Stop(); err != nil {
		t.Fatalf("second stop: %v", err)
	}
	if c, err := net.Dial("tcp", net.JoinHostPort("127.0.0.1", strconv.Itoa(s.Port))); err == nil {
		c.Close()
		t.Fatalf("port %d still accepts connections after Stop", s.Port)
	}
	if _, err := os.Stat(filepath.Join(s.datadir, "postmaster.pid")); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("postmaster.pid left after Stop: %v", err)
	}
	if s.ownSocket {
		if _, err := os.Stat(s.SocketDir); !errors.Is(err, os.ErrNotExist) {
			t.Errorf("socket directory %s left after Stop: %v", s.SocketDir, err)
		}
	}

	// Restart reuses the cluster: the databases survive.
	s2, err := Start(ctx, dir, slog.Default())
	if err != nil {
		t.Fatalf("restart: %v", err)
	}
	t.Cleanup(func() { _ = s2.Stop() })
	conn, err := s2.Connect(ctx, "target-db")
	if err != nil {
		t.Fatalf("database created before the restart: %v", err)
	}
	conn.Close(ctx)
}

func TestLongDirectoryKeepsTheSocketShort(t *testing.T) {
	testenv.NeedsServers(t)
	dir := filepath.Join(t.TempDir(), strings.Repeat("d", 90))
	s, err := Start(context.Background(), dir, nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = s.Stop() })
	if !s.ownSocket || len(filepath.Join(s.SocketDir, ".s.PGSQL."+strconv.Itoa(s.Port))) >= 100 {
		t.Fatalf("socket directory %q for %s", s.SocketDir, dir)
	}
	if _, err := os.Stat(filepath.Join(s.SocketDir, ".s.PGSQL."+strconv.Itoa(s.Port))); err != nil {
		t.Fatalf("no socket: %v", err)
	}
	if err := s.Stop(); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(s.SocketDir); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("socket directory %s left after Stop: %v", s.SocketDir, err)
	}
}

func TestRootRefusesToOpenDirectoriesOutsideTheTemporaryDirectory(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("only root hands the directory to the postgres OS user")
	}
	base := t.TempDir()
	t.Setenv("TMPDIR", filepath.Join(base, "tmp"))
	private := filepath.Join(base, "private")
	if err := os.Mkdir(private, 0o700); err != nil {
		t.Fatal(err)
	}
	_, err := Start(context.Background(), filepath.Join(private, "pg"), nil)
	var unreachable *UnreachableDirError
	if !errors.As(err, &unreachable) || unreachable.Blocker != private {
		t.Fatalf("got %v, want UnreachableDirError naming %s", err, private)
	}
	if st, err := os.Stat(private); err != nil || st.Mode().Perm() != 0o700 {
		t.Fatalf("%s changed: %v %v", private, st.Mode(), err)
	}
}

func TestStartErrors(t *testing.T) {
	testenv.NeedsServers(t)
	tests := []struct {
		name  string
		setup func(t *testing.T, dir string)
		check func(t *testing.T, err error)
	}{
		{
			name: "stale postmaster.pid of a dead process is ignored",
			setup: func(t *testing.T, dir string) {
				s, err := Start(context.Background(), dir, nil)
				if err != nil {
					t.Fatal(err)
				}
				if err := s.Stop(); err != nil {
					t.Fatal(err)
				}
				pidFile := filepath.Join(dir, "data", "postmaster.pid")
				if err := os.WriteFile(pidFile, []byte("999999999\n"+filepath.Join(dir, "data")+"\n"), 0o600); err != nil {
					t.Fatal(err)
				}
				if s.cred != nil {
					if err := os.Chown(pidFile, int(s.cred.Uid), int(s.cred.Gid)); err != nil {
						t.Fatal(err)
					}
				}
			},
			check: func(t *testing.T, err error) {
				if err != nil {
					t.Fatalf("start with stale postmaster.pid: %v", err)
				}
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := t.TempDir()
			tt.setup(t, dir)
			s, err := Start(context.Background(), dir, nil)
			if s != nil {
				t.Cleanup(func() { _ = s.Stop() })
			}
			tt.check(t, err)
		})
	}
}

func TestLookBinary(t *testing.T) {
	tests := []struct {
		name    string
		missing bool
	}{
		{"initdb", false},
		{"pg_ctl", false},
		{"postgres", false},
		{"initdb-not-installed", true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := lookBinary(tt.name)
			var missing *MissingBinaryError
			if got := errors.As(err, &missing); got != tt.missing {
				t.Fatalf("lookBinary(%q) = %v, want missing=%v", tt.name, err, tt.missing)
			}
			if tt.missing && !strings.Contains(err.Error(), "make deps") {
				t.Fatalf("error does not say how to install: %v", err)
			}
		})
	}
}

func TestFindBinariesFromOneDirectory(t *testing.T) {
	b, err := findBinaries()
	if err != nil {
		t.Fatal(err)
	}
	if filepath.Dir(b.postgres) != filepath.Dir(b.pgCtl) {
		t.Errorf("postgres %s and pg_ctl %s come from different directories", b.postgres, b.pgCtl)
	}
}
