// Package proc supervises the local servers the offline environment runs as child
// processes (MariaDB, PostgreSQL, versitygw): each on a free loopback port, in its
// own process group, waited for until it answers, and never outliving this process.
package proc

import (
	"bytes"
	"context"
	"fmt"
	"log/slog"
	"net"
	"os/exec"
	"strings"
	"sync"
	"syscall"
	"time"
)

// probeEvery is how often a starting process is asked whether it is ready.
const probeEvery = 25 * time.Millisecond

// killWait bounds the wait for a killed process group to be reaped.
const killWait = 10 * time.Second

// outputLimit caps the captured output kept for error messages.
const outputLimit = 64 << 10

// ExitError reports that the process exited before it answered; Output holds what
// it wrote to stdout and stderr when Start captured them.
type ExitError struct {
	Name   string
	Err    error // from exec.Cmd.Wait
	Output string
}

func (e *ExitError) Error() string {
	return fmt.Sprintf("%s exited before answering (%v): %s", e.Name, e.Err, strings.TrimSpace(e.Output))
}

func (e *ExitError) Unwrap() error { return e.Err }

// NotReadyError reports that the process was still running but had not answered
// within the start timeout; Start killed it.
type NotReadyError struct {
	Name   string
	After  time.Duration
	Output string
}

func (e *NotReadyError) Error() string {
	return fmt.Sprintf("%s did not answer within %s: %s", e.Name, e.After, strings.TrimSpace(e.Output))
}

// StopTimeoutError reports that the process did not exit after its shutdown
// request before the deadline; Stop killed it.
type StopTimeoutError struct {
	Name string
	PID  int
}

func (e *StopTimeoutError) Error() string {
	return fmt.Sprintf("stop %s pid %d: did not exit after shutdown, killed it", e.Name, e.PID)
}

// Options says how to tell that a started process is ready.
type Options struct {
	// Name names the process in errors and logs, e.g. "mariadbd on port 3306".
	Name string
	// Ready returns nil once the process answers; it is called every 25ms.
	Ready func(ctx context.Context) error
	// Timeout bounds the wait for Ready.
	Timeout time.Duration
	// Log receives the start, stop and failed-shutdown lines; nil discards them.
	Log *slog.Logger
}

// Process is a child process started by Start, running in its own process group.
type Process struct {
	name    string
	cmd     *exec.Cmd
	output  *limitedBuffer // nil when the caller routed the output itself
	log     *slog.Logger
	exited  chan struct{} // closed when the process has exited
	waitErr error
}

// Start starts cmd in a process group of its own (so that Kill reaches its children
// and a test's Ctrl-C does not race the shutdown) that the kernel kills when this
// process dies (on Linux), and waits until opts.Ready answers. When cmd has neither
// Stdout nor Stderr set, both are captured for the errors. A process that exits
// first is reported as an *ExitError; one that does not answer within opts.Timeout
// as a *NotReadyError. On any error the process group is killed.
func Start(ctx context.Context, cmd *exec.Cmd, opts Options) (*Process, error) {
	if opts.Log == nil {
		opts.Log = slog.New(slog.DiscardHandler)
	}
	p := &Process{name: opts.Name, cmd: cmd, log: opts.Log, exited: make(chan struct{})}
	if cmd.Stdout == nil && cmd.Stderr == nil {
		p.output = &limitedBuffer{}
		cmd.Stdout = p.output
		cmd.Stderr = p.output
	}
	if cmd.SysProcAttr == nil {
		cmd.SysProcAttr = &syscall.SysProcAttr{}
	}
	ownGroup(cmd.SysProcAttr)
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("run %s: %w", cmd.Path, err)
	}
	go func() {
		p.waitErr = cmd.Wait()
		close(p.exited)
	}()
	p.log.Info("process starting", "process", p.name, "pid", p.PID())

	deadline := time.NewTimer(opts.Timeout)
	defer deadline.Stop()
	tick := time.NewTicker(probeEvery)
	defer tick.Stop()
	for {
		select {
		case <-p.exited:
			return nil, &ExitError{Name: p.name, Err: p.waitErr, Output: p.Output()}
		case <-ctx.Done():
			p.Kill()
			return nil, fmt.Errorf("wait for %s: %w", p.name, ctx.Err())
		case <-deadline.C:
			p.Kill()
			return nil, &NotReadyError{Name: p.name, After: opts.Timeout, Output: p.Output()}
		case <-tick.C:
			if opts.Ready(ctx) == nil {
				return p, nil
			}
		}
	}
}

// PID is the process id, which is also its process group id.
func (p *Process) PID() int { return p.cmd.Process.Pid }

// Exited is closed once the process has exited.
func (p *Process) Exited() <-chan struct{} { return p.exited }

// Output returns what the process wrote so far, when Start captured it.
func (p *Process) Output() string {
	if p.output == nil {
		return ""
	}
	return p.output.String()
}

// Kill kills the whole process group and waits (at most 10s) for the process to
// be reaped. It is safe to call more than once.
func (p *Process) Kill() {
	// Negative pid: the whole process group started for this process only.
	_ = syscall.Kill(-p.cmd.Process.Pid, syscall.SIGKILL)
	select {
	case <-p.exited:
	case <-time.After(killWait):
	}
}

// Stop asks the process to shut down with shutdown and waits for it to exit until
// ctx ends. When shutdown fails the group is killed at once (and Stop returns nil:
// the process is gone either way); when ctx ends first it is killed and Stop
// returns a *StopTimeoutError. A process that already exited is left alone.
func (p *Process) Stop(ctx context.Context, shutdown func(ctx context.Context) error) error {
	select {
	case <-p.exited:
		return nil
	default:
	}
	if err := shutdown(ctx); err != nil {
		p.log.Warn("shutdown failed, killing the process group", "process", p.name, "pid", p.PID(), "err", err)
		p.Kill()
		return nil
	}
	select {
	case <-p.exited:
		p.log.Info("process stopped", "process", p.name, "pid", p.PID())
		return nil
	case <-ctx.Done():
		p.Kill()
		return &StopTimeoutError{Name: p.name, PID: p.PID()}
	}
}

// FreePort returns a loopback TCP port that was free a moment ago. Another
// process can still take it before the server binds it: see RetryPort.
func FreePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, fmt.Errorf("find a free loopback port: %w", err)
	}
	port := l.Addr().(*net.TCPAddr).Port
	if err := l.Close(); err != nil {
		return 0, fmt.Errorf("release probe port %d: %w", port, err)
	}
	return port, nil
}

// RetryPort calls start with a free loopback port, and again with another one
// while retry says the error is worth it (the port was taken between FreePort and
// the server binding it), at most attempts times in all. It returns start's last
// error.
func RetryPort(attempts int, retry func(port int, err error) bool, start func(port int) error) error {
	var err error
	for attempt := 1; ; attempt++ {
		port, perr := FreePort()
		if perr != nil {
			return perr
		}
		err = start(port)
		if err == nil || attempt >= attempts || !retry(port, err) {
			return err
		}
	}
}

// limitedBuffer collects a process's output for error messages, safely for the
// goroutines exec starts to copy it, keeping the first 64 KB.
type limitedBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *limitedBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.buf.Len() > outputLimit {
		return len(p), nil
	}
	return b.buf.Write(p)
}

func (b *limitedBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}
