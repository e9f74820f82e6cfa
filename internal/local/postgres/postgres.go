// Package postgres starts a private PostgreSQL server on a loopback port, for tests
// and for the offline pipeline: the stand-in of the Redshift warehouse.
package postgres

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/url"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/snaplake/snaplake/internal/local/proc"
)

// User is the superuser initdb creates; every local connection is trusted.
const User = "postgres"

// osUser is the account the server runs as when this process is root: PostgreSQL
// refuses to run as root, and Debian's postgresql package creates this user.
const osUser = "postgres"

// startTimeout bounds the wait for a fresh server to accept connections.
const startTimeout = 60 * time.Second

// binDirsGlob is where Debian's postgresql packages put their programs (not on PATH).
const binDirsGlob = "/usr/lib/postgresql/*/bin"

// MissingBinaryError reports that a PostgreSQL program is not installed.
type MissingBinaryError struct {
	Name string
}

func (e *MissingBinaryError) Error() string {
	return fmt.Sprintf("%s not found in PATH or %s: `make deps` installs PostgreSQL (apt-get install -y postgresql)", e.Name, binDirsGlob)
}

// MissingOSUserError reports that this process is root and there is no postgres
// account to run the server as.
type MissingOSUserError struct {
	Err error
}

func (e *MissingOSUserError) Error() string {
	return fmt.Sprintf("running as root, PostgreSQL must run as the %q OS user, which cannot be found (%v): `make deps` installs PostgreSQL and creates it", osUser, e.Err)
}

func (e *MissingOSUserError) Unwrap() error { return e.Err }

// UnreachableDirError reports that the server's directory sits under a directory
// the postgres OS user may not enter (only directories under the temporary
// directory are opened up automatically).
type UnreachableDirError struct {
	Dir     string // the server's directory
	Blocker string // the ancestor without search permission
}

func (e *UnreachableDirError) Error() string {
	return fmt.Sprintf("the %s OS user cannot reach %s: %s is not searchable by it; choose another directory or `chmod o+x %s`",
		osUser, e.Dir, e.Blocker, e.Blocker)
}

// PortInUseError reports that the chosen loopback port was taken.
type PortInUseError struct {
	Port int
}

func (e *PortInUseError) Error() string {
	return fmt.Sprintf("port 127.0.0.1:%d is already in use", e.Port)
}

// DatadirInUseError reports that another postgres holds the data directory,
// typically one left running by an earlier run that did not stop it.
type DatadirInUseError struct {
	Datadir string
	PID     int // 0 when unknown
}

func (e *DatadirInUseError) Error() string {
	who, kill := "another postgres", ""
	if e.PID > 0 {
		who, kill = fmt.Sprintf("postgres pid %d", e.PID), fmt.Sprintf(" (or `kill %d`)", e.PID)
	}
	return fmt.Sprintf("data directory %s is locked by %s, probably left running by an earlier run: "+
		"stop it with `pg_ctl stop -D %s -m fast`%s, or use another directory", e.Datadir, who, e.Datadir, kill)
}

// StartError reports that postgres exited or never became ready; Log holds the
// tail of its log.
type StartError struct {
	Datadir string
	Log     string
	Err     error
}

func (e *StartError) Error() string {
	return fmt.Sprintf("start postgres on %s: %v\n--- postgres log (tail) ---\n%s", e.Datadir, e.Err, e.Log)
}

func (e *StartError) Unwrap() error { return e.Err }

// Server is a running postgres owned by this process.
type Server struct {
	Dir       string // holds data/, the log and (when the path is short enough) the socket
	SocketDir string
	Port      int

	datadir   string
	logPath   string
	bin       binaries
	cred      *syscall.Credential // nil: run as this process's user
	ownSocket bool                // SocketDir is a private directory outside Dir, removed by Stop
	log       *slog.Logger
	proc      *proc.Process

	stopOnce sync.Once
	stopErr  error
}

type binaries struct{ initdb, postgres, pgCtl string }

// Start starts postgres with its data in dir/data, running initdb on first use and
// reusing the cluster afterwards. When this process is root the server runs as the
// postgres OS user: dir is handed to it, and directories above dir under the
// temporary directory (t.TempDir's are mode 0700) are made searchable by it.
func Start(ctx context.Context, dir string, log *slog.Logger) (*Server, error) {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	bin, err := findBinaries()
	if err != nil {
		return nil, err
	}
	dir, err = filepath.Abs(dir)
	if err != nil {
		return nil, fmt.Errorf("resolve PostgreSQL directory %s: %w", dir, err)
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, fmt.Errorf("create PostgreSQL directory %s: %w", dir, err)
	}
	s := &Server{
		Dir:     dir,
		datadir: filepath.Join(dir, "data"),
		logPath: filepath.Join(dir, "postgres.log"),
		bin:     bin,
		log:     log.With("datadir", filepath.Join(dir, "data")),
	}
	s.SocketDir, s.ownSocket = socketDir(dir)
	if os.Geteuid() == 0 {
		if s.cred, err = postgresCredential(); err != nil {
			return nil, err
		}
		if err := s.handOver(); err != nil {
			return nil, err
		}
	} else if s.ownSocket {
		if err := os.MkdirAll(s.SocketDir, 0o700); err != nil {
			return nil, fmt.Errorf("create postgres socket directory %s: %w", s.SocketDir, err)
		}
	}
	if err := s.checkNotRunning(); err != nil {
		return nil, err
	}
	if err := s.initdb(ctx); err != nil {
		return nil, err
	}
	// A port checked free can still be taken before postgres binds it.
	err = proc.RetryPort(4, func(port int, err error) bool {
		var inUse *PortInUseError
		if errors.As(err, &inUse) {
			s.log.Warn("postgres port taken, retrying", "port", port)
			return true
		}
		return false
	}, func(port int) error {
		s.Port = port
		return s.start(ctx)
	})
	if err != nil {
		s.removeSocketDir()
		return nil, err
	}
	return s, nil
}

// findBinaries looks for initdb on PATH, then in the newest /usr/lib/postgresql/*/bin,
// and takes pg_ctl and postgres from the same directory so that versions never mix.
func findBinaries() (binaries, error) {
	initdb, err := lookBinary("initdb")
	if err != nil {
		return binaries{}, err
	}
	dir := filepath.Dir(initdb)
	if real, err := filepath.EvalSymlinks(initdb); err == nil {
		dir = filepath.Dir(real)
	}
	b := binaries{initdb: initdb}
	for name, p := range map[string]*string{"postgres": &b.postgres, "pg_ctl": &b.pgCtl} {
		if candidate := filepath.Join(dir, name); isExecutable(candidate) {
			*p = candidate
			continue
		}
		if *p, err = lookBinary(name); err != nil {
			return binaries{}, err
		}
	}
	return b, nil
}

func lookBinary(name string) (string, error) {
	if p, err := exec.LookPath(name); err == nil {
		return p, nil
	}
	for _, d := range versionedBinDirs() {
		if p := filepath.Join(d, name); isExecutable(p) {
			return p, nil
		}
	}
	return "", &MissingBinaryError{Name: name}
}

// versionedBinDirs lists /usr/lib/postgresql/*/bin, newest major version first.
func versionedBinDirs() []string {
	dirs, _ := filepath.Glob(binDirsGlob)
	version := func(d string) float64 {
		v, _ := strconv.ParseFloat(filepath.Base(filepath.Dir(d)), 64)
		return v
	}
	slices.SortFunc(dirs, func(a, b string) int {
		switch va, vb := version(a), version(b); {
		case va > vb:
			return -1
		case va < vb:
			return 1
		}
		return strings.Compare(a, b)
	})
	return dirs
}

func isExecutable(p string) bool {
	st, err := os.Stat(p)
	return err == nil && st.Mode().IsRegular() && st.Mode()&0o111 != 0
}

// socketDir keeps the socket (DIR/.s.PGSQL.PORT) under dir unless that path would
// exceed the 107-byte limit of a Unix socket address (long t.TempDir names do); then
// it is a private directory under the temporary directory, named after dir.
func socketDir(dir string) (string, bool) {
	if len(dir)+len("/.s.PGSQL.65535.lock") < 100 {
		return dir, false
	}
	sum := sha256.Sum256([]byte(dir))
	return filepath.Join(os.TempDir(), "snaplake-pg-"+hex.EncodeToString(sum[:6])), true
}

func postgresCredential() (*syscall.Credential, error) {
	u, err := user.Lookup(osUser)
	if err != nil {
		return nil, &MissingOSUserError{Err: err}
	}
	uid, err := strconv.ParseUint(u.Uid, 10, 32)
	if err != nil {
		return nil, &MissingOSUserError{Err: fmt.Errorf("uid %q: %w", u.Uid, err)}
	}
	gid, err := strconv.ParseUint(u.Gid, 10, 32)
	if err != nil {
		return nil, &MissingOSUserError{Err: fmt.Errorf("gid %q: %w", u.Gid, err)}
	}
	// Groups empty: drop root's supplementary groups.
	return &syscall.Credential{Uid: uint32(uid), Gid: uint32(gid), Groups: []uint32{}}, nil
}

// handOver gives the postgres OS user what it needs when this process is root: the
// server directory, the data directory and the socket directory as its own, and a
// path to them. Running the programs as that user directly (rather than through
// runuser) keeps postgres a child of this process, so Pdeathsig still applies.
func (s *Server) handOver() error {
	uid, gid := int(s.cred.Uid), int(s.cred.Gid)
	if err := s.openPath(s.Dir); err != nil {
		return err
	}
	if err := os.MkdirAll(s.datadir, 0o700); err != nil {
		return fmt.Errorf("create postgres data directory %s: %w", s.datadir, err)
	}
	dirs := []string{s.Dir, s.datadir}
	if s.ownSocket {
		if err := os.MkdirAll(s.SocketDir, 0o700); err != nil {
			return fmt.Errorf("create postgres socket directory %s: %w", s.SocketDir, err)
		}
		dirs = append(dirs, s.SocketDir)
	}
	for _, d := range dirs {
		if err := os.Chown(d, uid, gid); err != nil {
			return fmt.Errorf("give %s to the %s OS user: %w", d, osUser, err)
		}
	}
	// A reused cluster may have been created by another uid (a non-root run).
	return filepath.WalkDir(s.datadir, func(p string, _ os.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if err := os.Lchown(p, uid, gid); err != nil {
			return fmt.Errorf("give %s to the %s OS user: %w", p, osUser, err)
		}
		return nil
	})
}

// openPath makes every directory above dir searchable by the postgres OS user. It
// adds o+x itself only below the temporary directory (t.TempDir and os.MkdirTemp
// create mode 0700 directories there); elsewhere (a home directory) it refuses.
func (s *Server) openPath(dir string) error {
	tmp, err := filepath.Abs(os.TempDir())
	if err != nil {
		return fmt.Errorf("resolve the temporary directory: %w", err)
	}
	for p := filepath.Dir(dir); ; p = filepath.Dir(p) {
		st, err := os.Stat(p)
		if err != nil {
			return fmt.Errorf("check %s is reachable by the %s OS user: %w", dir, osUser, err)
		}
		if !s.searchable(st) {
			if p == tmp || !strings.HasPrefix(p, tmp+string(filepath.Separator)) {
				return &UnreachableDirError{Dir: dir, Blocker: p}
			}
			if err := os.Chmod(p, st.Mode().Perm()|0o001); err != nil {
				return fmt.Errorf("let the %s OS user reach %s: %w", osUser, dir, err)
			}
			s.log.Info("made directory searchable for postgres", "dir", p)
		}
		if p == filepath.Dir(p) {
			return nil
		}
	}
}

func (s *Server) searchable(st os.FileInfo) bool {
	perm := st.Mode().Perm()
	if sys, ok := st.Sys().(*syscall.Stat_t); ok {
		switch {
		case sys.Uid == s.cred.Uid:
			return perm&0o100 != 0
		case sys.Gid == s.cred.Gid:
			return perm&0o010 != 0
		}
	}
	return perm&0o001 != 0
}

// command prepares a PostgreSQL program to run as the server's user, in dir (initdb
// fails when it cannot read its working directory, such as root's home).
func (s *Server) command(ctx context.Context, path string, args ...string) *exec.Cmd {
	cmd := exec.CommandContext(ctx, path, args...)
	cmd.Dir = s.Dir
	cmd.Env = append(os.Environ(), "LC_ALL=C", "PGTZ=UTC")
	cmd.SysProcAttr = &syscall.SysProcAttr{Credential: s.cred}
	return cmd
}

// checkNotRunning refuses a data directory whose postmaster.pid names a live
// postgres, with the pid to stop, before postgres fails on its lock file.
func (s *Server) checkNotRunning() error {
	if pid := postmasterPID(s.datadir); pid > 0 && alive(pid) {
		if comm, err := os.ReadFile(fmt.Sprintf("/proc/%d/comm", pid)); err == nil && strings.HasPrefix(string(comm), "postgres") {
			return &DatadirInUseError{Datadir: s.datadir, PID: pid}
		}
	}
	return nil
}

func postmasterPID(datadir string) int {
	b, err := os.ReadFile(filepath.Join(datadir, "postmaster.pid"))
	if err != nil {
		return 0
	}
	first, _, _ := strings.Cut(string(b), "\n")
	pid, err := strconv.Atoi(strings.TrimSpace(first))
	if err != nil {
		return 0
	}
	return pid
}

func alive(pid int) bool {
	err := syscall.Kill(pid, 0)
	return err == nil || errors.Is(err, syscall.EPERM)
}

func (s *Server) initdb(ctx context.Context) error {
	if _, err := os.Stat(filepath.Join(s.datadir, "PG_VERSION")); err == nil {
		s.log.Info("reusing postgres data directory")
		return nil
	}
	start := time.Now()
	out, err := s.command(ctx, s.bin.initdb,
		"-D", s.datadir,
		"-U", User,
		"--auth=trust",
		"--encoding=UTF8",
		"--locale=C",
		"--no-sync",
	).CombinedOutput()
	if err != nil {
		// A half-written cluster would be "reused" next time and fail obscurely.
		_ = os.RemoveAll(s.datadir)
		return fmt.Errorf("initialise postgres data directory %s with initdb: %w\n%s", s.datadir, err, proc.Tail(out, 4000))
	}
	s.log.Info("postgres data directory initialised", "took", time.Since(start).Round(time.Millisecond))
	return nil
}

func (s *Server) start(ctx context.Context) error {
	logFile, err := os.OpenFile(s.logPath, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return fmt.Errorf("open postgres log %s: %w", s.logPath, err)
	}
	defer logFile.Close() // the child has its own copy
	logStart := proc.MarkLog(s.logPath)
	// postgres itself rather than `pg_ctl start`, which would detach it: as a child in
	// its own process group it can be killed with its backends, and Pdeathsig stops it
	// when a crashed or killed parent cannot.
	cmd := s.command(context.Background(), s.bin.postgres,
		"-D", s.datadir,
		"-p", strconv.Itoa(s.Port),
		"-k", s.SocketDir,
		"-c", "listen_addresses=127.0.0.1",
		// Tests and the demo value speed over durability of their throwaway data.
		"-c", "fsync=off",
		"-c", "synchronous_commit=off",
		"-c", "full_page_writes=off",
		"-c", "max_connections=50",
		"-c", "shared_buffers=32MB",
		"-c", "TimeZone=UTC",
		"-c", "log_timezone=UTC",
	)
	cmd.Stdout = logFile
	cmd.Stderr = logFile
	ready := time.Now()
	p, err := proc.Start(ctx, cmd, proc.Options{
		Name:    fmt.Sprintf("postgres on port %d", s.Port),
		Ready:   s.ping,
		Timeout: startTimeout,
		Log:     s.log,
	})
	var exited *proc.ExitError
	var slow *proc.NotReadyError
	switch {
	case errors.As(err, &exited):
		return s.classifyExit(logStart, exited.Err)
	case errors.As(err, &slow):
		return &StartError{Datadir: s.datadir, Log: logStart.Tail(), Err: fmt.Errorf("not accepting connections after %s", startTimeout)}
	case err != nil:
		return err
	}
	s.proc = p
	s.log.Info("postgres ready", "pid", p.PID(), "port", s.Port, "took", time.Since(ready).Round(time.Millisecond))
	return nil
}

func (s *Server) ping(ctx context.Context) error {
	pctx, cancel := context.WithTimeout(ctx, time.Second)
	defer cancel()
	conn, err := pgx.Connect(pctx, s.DSN("postgres"))
	if err != nil {
		return err
	}
	return conn.Close(pctx)
}

var otherPostmaster = regexp.MustCompile(`another postmaster \(PID (\d+)\)`)

func (s *Server) classifyExit(logStart proc.LogMark, waitErr error) error {
	logText := logStart.Tail()
	switch {
	case strings.Contains(logText, "Address already in use"):
		return &PortInUseError{Port: s.Port}
	case strings.Contains(logText, `lock file "postmaster.pid" already exists`):
		pid := 0
		if m := otherPostmaster.FindStringSubmatch(logText); m != nil {
			pid, _ = strconv.Atoi(m[1])
		}
		return &DatadirInUseError{Datadir: s.datadir, PID: pid}
	}
	return &StartError{Datadir: s.datadir, Log: logText, Err: fmt.Errorf("postgres exited: %v", waitErr)}
}

// DSN returns a postgres:// URL for database as the superuser over TCP (trust
// authentication, no TLS). An empty database means "postgres".
func (s *Server) DSN(database string) string {
	if database == "" {
		database = "postgres"
	}
	u := url.URL{
		Scheme:   "postgres",
		User:     url.User(User),
		Host:     net.JoinHostPort("127.0.0.1", strconv.Itoa(s.Port)),
		Path:     "/" + database,
		RawQuery: "sslmode=disable",
	}
	return u.String()
}

// Connect opens a connection to database (empty for "postgres").
func (s *Server) Connect(ctx context.Context, database string) (*pgx.Conn, error) {
	conn, err := pgx.Connect(ctx, s.DSN(database))
	if err != nil {
		return nil, fmt.Errorf("connect to postgres database %q on port %d: %w", database, s.Port, err)
	}
	return conn, nil
}

// CreateDatabase creates database name (UTF8, owned by the superuser).
func (s *Server) CreateDatabase(name string) error {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	conn, err := s.Connect(ctx, "postgres")
	if err != nil {
		return err
	}
	defer conn.Close(context.Background())
	if _, err := conn.Exec(ctx, "CREATE DATABASE "+pgx.Identifier{name}.Sanitize()); err != nil {
		return fmt.Errorf("create postgres database %q on port %d: %w", name, s.Port, err)
	}
	return nil
}

// Stop shuts postgres down (pg_ctl stop -m fast), killing it if it does not exit in
// time, and removes the socket directory it made outside Dir. It is safe to call
// more than once.
func (s *Server) Stop() error {
	s.stopOnce.Do(func() {
		s.stopErr = s.stop()
		s.removeSocketDir()
	})
	return s.stopErr
}

func (s *Server) stop() error {
	if s.proc == nil {
		return nil
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	return s.proc.Stop(ctx, func(ctx context.Context) error {
		out, err := s.command(ctx, s.bin.pgCtl, "stop", "-D", s.datadir, "-m", "fast", "-w", "-t", "25").CombinedOutput()
		if err != nil {
			return fmt.Errorf("pg_ctl stop: %w: %s", err, strings.TrimSpace(string(out)))
		}
		return nil
	})
}

func (s *Server) removeSocketDir() {
	if s.ownSocket {
		_ = os.RemoveAll(s.SocketDir)
	}
}
