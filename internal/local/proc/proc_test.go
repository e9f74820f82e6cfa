package proc

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

// The test binary doubles as the supervised process: with PROC_HELPER set it
// plays a small server instead of running the tests.
func TestMain(m *testing.M) {
	switch os.Getenv("PROC_HELPER") {
	case "":
		os.Exit(m.Run())
	case "serve":
		serve()
	case "fail":
		fmt.Fprintln(os.Stderr, "helper: cannot open its data directory")
		os.Exit(3)
	case "ignore-term":
		signal.Ignore(syscall.SIGTERM)
		// Ready only now: a SIGTERM before signal.Ignore would end the process.
		if f := os.Getenv("PROC_READY_FILE"); f != "" {
			_ = os.WriteFile(f, nil, 0o644)
		}
		time.Sleep(time.Minute)
	}
	os.Exit(0)
}

// serve starts a grandchild (to show that Kill reaches the whole group), writes
// its pid to PROC_CHILD_PID, listens on PROC_PORT and exits on SIGTERM.
func serve() {
	child := exec.Command("sleep", "300")
	if err := child.Start(); err != nil {
		os.Exit(10)
	}
	if err := os.WriteFile(os.Getenv("PROC_CHILD_PID"), []byte(strconv.Itoa(child.Process.Pid)), 0o644); err != nil {
		os.Exit(11)
	}
	l, err := net.Listen("tcp", "127.0.0.1:"+os.Getenv("PROC_PORT"))
	if err != nil {
		os.Exit(12)
	}
	defer l.Close()
	term := make(chan os.Signal, 1)
	signal.Notify(term, syscall.SIGTERM)
	<-term
	_ = child.Process.Kill()
}

func helper(t *testing.T, mode string, env ...string) *exec.Cmd {
	t.Helper()
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(exe)
	cmd.Env = append(os.Environ(), append([]string{"PROC_HELPER=" + mode}, env...)...)
	return cmd
}

func dial(port int) func(context.Context) error {
	return func(ctx context.Context) error {
		var d net.Dialer
		c, err := d.DialContext(ctx, "tcp", net.JoinHostPort("127.0.0.1", strconv.Itoa(port)))
		if err != nil {
			return err
		}
		return c.Close()
	}
}

// startServe starts the serving helper and waits until it accepts connections.
func startServe(t *testing.T) (*Process, string) {
	t.Helper()
	port, err := FreePort()
	if err != nil {
		t.Fatal(err)
	}
	pidFile := t.TempDir() + "/child.pid"
	cmd := helper(t, "serve", "PROC_PORT="+strconv.Itoa(port), "PROC_CHILD_PID="+pidFile)
	p, err := Start(context.Background(), cmd, Options{Name: "helper", Ready: dial(port), Timeout: 20 * time.Second})
	if err != nil {
		t.Fatalf("start helper: %v", err)
	}
	t.Cleanup(p.Kill)
	if err := dial(port)(context.Background()); err != nil {
		t.Fatalf("helper reported ready but does not answer: %v", err)
	}
	return p, pidFile
}

// gone reports whether pid has exited (a zombie counts: it runs nothing).
func gone(pid int) bool {
	deadline := time.Now().Add(5 * time.Second)
	for time.Now().Before(deadline) {
		if err := syscall.Kill(pid, 0); errors.Is(err, syscall.ESRCH) {
			return true
		}
		if b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid)); err == nil {
			if f := strings.Fields(string(b)); len(f) > 2 && f[2] == "Z" {
				return true
			}
		}
		time.Sleep(20 * time.Millisecond)
	}
	return false
}

func TestStartWaitsUntilReadyAndKillReachesTheGroup(t *testing.T) {
	p, pidFile := startServe(t)
	b, err := os.ReadFile(pidFile)
	if err != nil {
		t.Fatalf("the helper wrote no grandchild pid: %v", err)
	}
	child, _ := strconv.Atoi(string(b))
	p.Kill()
	select {
	case <-p.Exited():
	default:
		t.Fatal("Kill returned before the process exited")
	}
	if !gone(child) {
		t.Fatalf("grandchild %d survived Kill of the process group", child)
	}
	p.Kill() // a second Kill is harmless
}

func TestStopRunsShutdownAndWaitsForExit(t *testing.T) {
	p, _ := startServe(t)
	err := p.Stop(context.Background(), func(context.Context) error {
		return syscall.Kill(p.PID(), syscall.SIGTERM)
	})
	if err != nil {
		t.Fatalf("Stop: %v", err)
	}
	select {
	case <-p.Exited():
	default:
		t.Fatal("Stop returned before the process exited")
	}
	called := false
	if err := p.Stop(context.Background(), func(context.Context) error { called = true; return nil }); err != nil || called {
		t.Fatalf("Stop of an exited process: err %v, shutdown called %v; want nil, false", err, called)
	}
}

func TestStopKillsWhenShutdownFails(t *testing.T) {
	p, _ := startServe(t)
	if err := p.Stop(context.Background(), func(context.Context) error { return errors.New("no admin tool") }); err != nil {
		t.Fatalf("Stop: %v", err)
	}
	select {
	case <-p.Exited():
	default:
		t.Fatal("the process still runs after a failed shutdown")
	}
}

func TestStopKillsAfterTheDeadline(t *testing.T) {
	ready := filepath.Join(t.TempDir(), "ready")
	cmd := helper(t, "ignore-term", "PROC_READY_FILE="+ready)
	p, err := Start(context.Background(), cmd, Options{Name: "stubborn", Ready: func(context.Context) error {
		_, err := os.Stat(ready) // it ignores SIGTERM from then on
		return err
	}, Timeout: 10 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(p.Kill)
	ctx, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
	defer cancel()
	err = p.Stop(ctx, func(context.Context) error { return syscall.Kill(p.PID(), syscall.SIGTERM) })
	var timeout *StopTimeoutError
	if !errors.As(err, &timeout) || timeout.PID != p.PID() {
		t.Fatalf("Stop: %v; want a *StopTimeoutError for pid %d", err, p.PID())
	}
	select {
	case <-p.Exited():
	default:
		t.Fatal("the process still runs after the stop deadline")
	}
}

func TestStartReportsAnEarlyExitWithItsOutput(t *testing.T) {
	_, err := Start(context.Background(), helper(t, "fail"), Options{Name: "helper", Ready: func(context.Context) error { return errors.New("not yet") }, Timeout: 20 * time.Second})
	var exited *ExitError
	if !errors.As(err, &exited) {
		t.Fatalf("Start: %v; want an *ExitError", err)
	}
	if !strings.Contains(exited.Output, "cannot open its data directory") {
		t.Errorf("Output = %q; want the helper's stderr", exited.Output)
	}
	var code *exec.ExitError
	if !errors.As(err, &code) || code.ExitCode() != 3 {
		t.Errorf("Err = %v; want exit status 3", exited.Err)
	}
}

func TestStartKillsAProcessThatNeverAnswers(t *testing.T) {
	cmd := exec.Command("sleep", "300")
	_, err := Start(context.Background(), cmd, Options{Name: "sleep", Ready: func(context.Context) error { return errors.New("not yet") }, Timeout: 200 * time.Millisecond})
	var slow *NotReadyError
	if !errors.As(err, &slow) || slow.After != 200*time.Millisecond {
		t.Fatalf("Start: %v; want a *NotReadyError after 200ms", err)
	}
	if cmd.ProcessState == nil {
		t.Fatal("the process that never answered was not killed and reaped")
	}
}

func TestStartStopsWaitingWhenTheContextEnds(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
	defer cancel()
	cmd := exec.Command("sleep", "300")
	_, err := Start(ctx, cmd, Options{Name: "sleep", Ready: func(context.Context) error { return errors.New("not yet") }, Timeout: time.Minute})
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("Start: %v; want context.DeadlineExceeded", err)
	}
	if cmd.ProcessState == nil {
		t.Fatal("the process was not killed and reaped when the context ended")
	}
}

func TestStartReportsAMissingProgram(t *testing.T) {
	_, err := Start(context.Background(), exec.Command("/nonexistent/server"), Options{Name: "x", Ready: func(context.Context) error { return nil }, Timeout: time.Second})
	if !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("Start: %v; want os.ErrNotExist", err)
	}
}

func TestRetryPort(t *testing.T) {
	taken := errors.New("port taken")
	tests := []struct {
		name     string
		attempts int
		fails    int // how many starts fail with taken
		retry    bool
		calls    int
		wantErr  error
	}{
		{"first port free", 4, 0, true, 1, nil},
		{"taken twice then free", 4, 2, true, 3, nil},
		{"always taken", 4, 10, true, 4, taken},
		{"not worth retrying", 4, 10, false, 1, taken},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			calls := 0
			err := RetryPort(tt.attempts, func(int, error) bool { return tt.retry }, func(port int) error {
				if port <= 0 {
					t.Fatalf("start got port %d", port)
				}
				calls++
				if calls <= tt.fails {
					return taken
				}
				return nil
			})
			if !errors.Is(err, tt.wantErr) || calls != tt.calls {
				t.Fatalf("RetryPort: err %v after %d calls; want %v after %d", err, calls, tt.wantErr, tt.calls)
			}
		})
	}
}
