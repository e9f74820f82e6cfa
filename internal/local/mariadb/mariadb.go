// Package mariadb starts a private MariaDB server on a loopback port, for tests
// and for the offline pipeline: the stand-in of the RDS MySQL instance.
package mariadb

import (
	"context"
	"crypto/sha256"
	"database/sql"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/go-sql-driver/mysql"

	"github.com/snaplake/snaplake/internal/local/proc"
)

// SQLMode is set server-wide. It leaves out STRICT_*, NO_ZERO_DATE and
// NO_ZERO_IN_DATE so that tables can hold '0000-00-00' dates, as many
// long-lived production MySQL databases do and as the exporter must handle.
const SQLMode = "ERROR_FOR_DIVISION_BY_ZERO,NO_ENGINE_SUBSTITUTION"

// startTimeout bounds the wait for a fresh server to accept connections.
const startTimeout = 60 * time.Second

// MissingBinaryError reports that a MariaDB program is not installed.
type MissingBinaryError struct {
	Name string
}

func (e *MissingBinaryError) Error() string {
	return fmt.Sprintf("%s not found in PATH, /usr/sbin or /usr/bin: install MariaDB with `apt-get install -y mariadb-server`", e.Name)
}

// PortInUseError reports that the chosen loopback port was taken.
type PortInUseError struct {
	Port int
}

func (e *PortInUseError) Error() string {
	return fmt.Sprintf("port 127.0.0.1:%d is already in use", e.Port)
}

// DatadirInUseError reports that another mariadbd holds the data directory,
// typically one left running by an earlier run that did not stop it.
type DatadirInUseError struct {
	Datadir string
	PID     int // 0 when unknown
	Socket  string
}

func (e *DatadirInUseError) Error() string {
	who, kill := "another mariadbd", ""
	if e.PID > 0 {
		who, kill = fmt.Sprintf("mariadbd pid %d", e.PID), fmt.Sprintf(" (or `kill %d`)", e.PID)
	}
	return fmt.Sprintf("datadir %s is locked by %s, probably left running by an earlier run: "+
		"stop it with `mariadb-admin --no-defaults -S %s -uroot shutdown`%s, or use another directory",
		e.Datadir, who, e.Socket, kill)
}

// StartError reports that mariadbd exited or never became ready; Log holds
// the tail of its error log.
type StartError struct {
	Datadir string
	Log     string
	Err     error
}

func (e *StartError) Error() string {
	return fmt.Sprintf("start mariadbd on %s: %v\n--- mariadbd log (tail) ---\n%s", e.Datadir, e.Err, e.Log)
}

func (e *StartError) Unwrap() error { return e.Err }

// Server is a running mariadbd owned by this process.
type Server struct {
	Dir    string // holds data/, the error log and the pid file
	Socket string
	Port   int

	datadir string
	logPath string
	admin   string
	log     *slog.Logger
	proc    *proc.Process

	stopOnce sync.Once
	stopErr  error
}

// Start starts mariadbd with its data in dir/data, creating the system tables
// on first use and reusing them afterwards.
func Start(ctx context.Context, dir string, log *slog.Logger) (*Server, error) {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	mariadbd, err := lookBinary("mariadbd")
	if err != nil {
		return nil, err
	}
	admin, err := lookBinary("mariadb-admin")
	if err != nil {
		return nil, err
	}
	dir, err = filepath.Abs(dir)
	if err != nil {
		return nil, fmt.Errorf("resolve MariaDB directory %s: %w", dir, err)
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, fmt.Errorf("create MariaDB directory %s: %w", dir, err)
	}
	s := &Server{
		Dir:     dir,
		Socket:  socketPath(dir),
		datadir: filepath.Join(dir, "data"),
		logPath: filepath.Join(dir, "mariadbd.err"),
		admin:   admin,
		log:     log.With("datadir", filepath.Join(dir, "data")),
	}
	if err := s.checkNotRunning(); err != nil {
		return nil, err
	}
	if err := s.install(ctx); err != nil {
		return nil, err
	}
	// A port checked free can still be taken before mariadbd binds it.
	err = proc.RetryPort(4, func(port int, err error) bool {
		var inUse *PortInUseError
		if errors.As(err, &inUse) {
			s.log.Warn("mariadb port taken, retrying", "port", port)
			return true
		}
		return false
	}, func(port int) error {
		s.Port = port
		return s.start(ctx, mariadbd)
	})
	if err != nil {
		return nil, err
	}
	return s, nil
}

// socketPath keeps the socket under dir unless that path exceeds the 107-byte
// limit of a Unix socket address (long t.TempDir names do).
func socketPath(dir string) string {
	p := filepath.Join(dir, "mariadbd.sock")
	if len(p) < 100 {
		return p
	}
	sum := sha256.Sum256([]byte(dir))
	return filepath.Join(os.TempDir(), "snaplake-mariadb-"+hex.EncodeToString(sum[:6])+".sock")
}

func lookBinary(name string) (string, error) {
	if p, err := exec.LookPath(name); err == nil {
		return p, nil
	}
	for _, d := range []string{"/usr/sbin", "/usr/bin", "/usr/local/bin", "/usr/local/sbin"} {
		p := filepath.Join(d, name)
		if st, err := os.Stat(p); err == nil && st.Mode()&0o111 != 0 {
			return p, nil
		}
	}
	return "", &MissingBinaryError{Name: name}
}

// checkNotRunning refuses a datadir whose pid file names a live process:
// starting a second server on it would only fail later on the InnoDB lock.
func (s *Server) checkNotRunning() error {
	b, err := os.ReadFile(s.pidPath())
	if err != nil {
		return nil
	}
	pid, err := strconv.Atoi(strings.TrimSpace(string(b)))
	if err != nil || pid <= 0 {
		return nil
	}
	if syscall.Kill(pid, 0) == nil || errors.Is(syscall.Kill(pid, 0), syscall.EPERM) {
		if comm, err := os.ReadFile(fmt.Sprintf("/proc/%d/comm", pid)); err == nil && strings.HasPrefix(string(comm), "mariadbd") {
			return &DatadirInUseError{Datadir: s.datadir, PID: pid, Socket: s.Socket}
		}
	}
	return nil
}

func (s *Server) pidPath() string { return filepath.Join(s.Dir, "mariadbd.pid") }

// tmpdir is private to the server: bootstraps running at once in a shared
// /tmp have been seen to lose each other's temporary tables.
func (s *Server) tmpdir() string { return filepath.Join(s.Dir, "tmp") }

func (s *Server) install(ctx context.Context) error {
	if _, err := os.Stat(filepath.Join(s.datadir, "mysql")); err == nil {
		s.log.Info("reusing mariadb datadir")
		return nil
	}
	installDB, err := lookBinary("mariadb-install-db")
	if err != nil {
		return err
	}
	if err := os.MkdirAll(s.tmpdir(), 0o755); err != nil {
		return fmt.Errorf("create mariadb tmpdir: %w", err)
	}
	start := time.Now()
	cmd := exec.CommandContext(ctx, installDB,
		"--no-defaults",
		"--datadir="+s.datadir,
		"--tmpdir="+s.tmpdir(),
		"--user="+currentUser(),
		"--auth-root-authentication-method=normal",
		"--skip-test-db",
	)
	out, err := cmd.CombinedOutput()
	if err != nil {
		// A half-written datadir would be "reused" next time and fail obscurely.
		_ = os.RemoveAll(s.datadir)
		return fmt.Errorf("initialise mariadb datadir %s with mariadb-install-db: %w\n%s", s.datadir, err, proc.Tail(out, 4000))
	}
	s.log.Info("mariadb datadir initialised", "took", time.Since(start).Round(time.Millisecond))
	return nil
}

func currentUser() string {
	if u := os.Getenv("USER"); u != "" {
		return u
	}
	if os.Getuid() == 0 {
		return "root"
	}
	return strconv.Itoa(os.Getuid())
}

func (s *Server) start(ctx context.Context, mariadbd string) error {
	logStart := proc.MarkLog(s.logPath)
	if err := os.MkdirAll(s.tmpdir(), 0o755); err != nil {
		return fmt.Errorf("create mariadb tmpdir: %w", err)
	}
	args := []string{
		"--no-defaults",
		"--datadir=" + s.datadir,
		"--socket=" + s.Socket,
		"--port=" + strconv.Itoa(s.Port),
		"--bind-address=127.0.0.1",
		"--user=" + currentUser(),
		"--pid-file=" + s.pidPath(),
		"--tmpdir=" + s.tmpdir(),
		"--log-error=" + s.logPath,
		"--skip-log-bin",
		"--innodb-buffer-pool-size=64M",
		// Tests and the demo value speed over durability of their throwaway data.
		"--innodb-flush-log-at-trx-commit=0",
		"--innodb-doublewrite=0",
		"--sql-mode=" + SQLMode,
		"--character-set-server=utf8mb4",
		"--collation-server=utf8mb4_general_ci",
		"--max-allowed-packet=256M",
		"--skip-name-resolve",
	}
	ready := time.Now()
	p, err := proc.Start(ctx, exec.Command(mariadbd, args...), proc.Options{
		Name:    fmt.Sprintf("mariadbd on port %d", s.Port),
		Ready:   s.ping,
		Timeout: startTimeout,
		Log:     s.log,
	})
	var exited *proc.ExitError
	var slow *proc.NotReadyError
	switch {
	case errors.As(err, &exited):
		return s.classifyExit(logStart, exited.Output, exited.Err)
	case errors.As(err, &slow):
		return &StartError{Datadir: s.datadir, Log: logStart.Tail(), Err: fmt.Errorf("not accepting connections after %s", startTimeout)}
	case err != nil:
		return err
	}
	s.proc = p
	s.log.Info("mariadbd ready", "pid", p.PID(), "port", s.Port, "took", time.Since(ready).Round(time.Millisecond))
	return nil
}

func (s *Server) ping(ctx context.Context) error {
	db, err := sql.Open("mysql", s.DSN(""))
	if err != nil {
		return err
	}
	defer db.Close()
	pctx, cancel := context.WithTimeout(ctx, time.Second)
	defer cancel()
	return db.PingContext(pctx)
}

func (s *Server) classifyExit(logStart proc.LogMark, output string, waitErr error) error {
	logText := logStart.Tail()
	if output != "" {
		logText += "\n" + output
	}
	switch {
	case strings.Contains(logText, "Address already in use") || strings.Contains(logText, "Do you already have another server running on port"):
		return &PortInUseError{Port: s.Port}
	case strings.Contains(logText, "Unable to lock") || strings.Contains(logText, "is already running") ||
		strings.Contains(logText, "Another process with pid"):
		return &DatadirInUseError{Datadir: s.datadir, PID: pidOnSocketOwner(s.pidPath()), Socket: s.Socket}
	}
	return &StartError{Datadir: s.datadir, Log: logText, Err: fmt.Errorf("mariadbd exited: %v", waitErr)}
}

func pidOnSocketOwner(pidFile string) int {
	b, err := os.ReadFile(pidFile)
	if err != nil {
		return 0
	}
	pid, _ := strconv.Atoi(strings.TrimSpace(string(b)))
	return pid
}

// DSN returns a go-sql-driver DSN for database (empty for none) over TCP.
func (s *Server) DSN(database string) string {
	cfg := mysql.NewConfig()
	cfg.User = "root"
	cfg.Net = "tcp"
	cfg.Addr = net.JoinHostPort("127.0.0.1", strconv.Itoa(s.Port))
	cfg.DBName = database
	cfg.ParseTime = false
	cfg.MultiStatements = false
	cfg.InterpolateParams = true
	cfg.AllowNativePasswords = true
	return cfg.FormatDSN()
}

// DB opens and pings a connection pool to database (empty for none).
func (s *Server) DB(database string) (*sql.DB, error) {
	db, err := sql.Open("mysql", s.DSN(database))
	if err != nil {
		return nil, fmt.Errorf("open mariadb database %q on port %d: %w", database, s.Port, err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := db.PingContext(ctx); err != nil {
		db.Close()
		return nil, fmt.Errorf("connect to mariadb database %q on port %d: %w", database, s.Port, err)
	}
	return db, nil
}

// Stop shuts mariadbd down cleanly, killing it if it does not exit in time.
// It is safe to call more than once.
func (s *Server) Stop() error {
	s.stopOnce.Do(func() { s.stopErr = s.stop() })
	return s.stopErr
}

func (s *Server) stop() error {
	if s.proc == nil {
		return nil
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	return s.proc.Stop(ctx, func(ctx context.Context) error {
		out, err := exec.CommandContext(ctx, s.admin, "--no-defaults", "-S", s.Socket, "-uroot", "shutdown").CombinedOutput()
		if err != nil {
			return fmt.Errorf("mariadb-admin shutdown: %w: %s", err, strings.TrimSpace(string(out)))
		}
		return nil
	})
}
