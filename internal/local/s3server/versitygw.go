package s3server

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"time"
)

// VersityGWInstall is how to get the gateway binary when it is missing.
const VersityGWInstall = "go install github.com/versity/versitygw/cmd/versitygw@v1.8.0"

// ErrVersityGWNotFound means no versitygw binary was found on PATH or in $(go env GOPATH)/bin.
var ErrVersityGWNotFound = errors.New("versitygw binary not found on PATH or in $(go env GOPATH)/bin; install it with: " + VersityGWInstall)

// FindVersityGW returns the path of the versitygw binary: PATH first, then the
// GOPATH bin directory where `go install` puts it.
func FindVersityGW() (string, error) {
	if p, err := exec.LookPath("versitygw"); err == nil {
		return p, nil
	}
	var gopaths []string
	if out, err := exec.Command("go", "env", "GOPATH").Output(); err == nil {
		gopaths = append(gopaths, filepath.SplitList(strings.TrimSpace(string(out)))...)
	}
	if env := os.Getenv("GOPATH"); env != "" {
		gopaths = append(gopaths, filepath.SplitList(env)...)
	}
	if home, err := os.UserHomeDir(); err == nil {
		gopaths = append(gopaths, filepath.Join(home, "go"))
	}
	for _, gp := range gopaths {
		p := filepath.Join(gp, "bin", "versitygw")
		if st, err := os.Stat(p); err == nil && !st.IsDir() && st.Mode()&0o111 != 0 {
			return p, nil
		}
	}
	return "", ErrVersityGWNotFound
}

// StartVersityGW runs versitygw's posix backend on dir (created if missing) on a free
// loopback port and waits until it answers. Buckets are directories of dir and each
// object is the plain file dir/<bucket>/<key> (Server.ObjectPath). The gateway runs in
// its own process group, is killed by Stop, and on Linux also when this process dies.
func StartVersityGW(ctx context.Context, dir string, log *slog.Logger) (*Server, error) {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	bin, err := FindVersityGW()
	if err != nil {
		return nil, err
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, fmt.Errorf("create versitygw root %s: %w", dir, err)
	}
	abs, err := filepath.Abs(dir)
	if err != nil {
		return nil, fmt.Errorf("resolve versitygw root %s: %w", dir, err)
	}
	var lastErr error
	// A port found free can be taken before the gateway binds it: try a few.
	for attempt := 0; attempt < 3; attempt++ {
		s, err := startVersityGW(ctx, bin, abs, log)
		if err == nil {
			return s, nil
		}
		lastErr = err
		if ctx.Err() != nil {
			break
		}
	}
	return nil, lastErr
}

func startVersityGW(ctx context.Context, bin, dir string, log *slog.Logger) (*Server, error) {
	port, err := freePort()
	if err != nil {
		return nil, err
	}
	addr := fmt.Sprintf("127.0.0.1:%d", port)
	s := &Server{
		Endpoint:  "http://" + addr,
		AccessKey: "snaplake",
		Secret:    "snaplake-local-secret",
		Dir:       dir,
	}
	cmd := exec.Command(bin, "--access", s.AccessKey, "--secret", s.Secret, "--port", addr, "posix", dir)
	var out lockedBuffer
	cmd.Stdout = &out
	cmd.Stderr = &out
	cmd.SysProcAttr = procAttr()
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("start versitygw %s: %w", bin, err)
	}
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()
	var once sync.Once
	kill := func() {
		once.Do(func() {
			_ = syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
			<-exited
			log.Info("versitygw stopped", slog.String("endpoint", s.Endpoint), slog.String("dir", dir))
		})
	}
	s.stop = kill

	deadline := time.Now().Add(20 * time.Second)
	client := &http.Client{Timeout: time.Second}
	for {
		resp, err := client.Get(s.Endpoint + "/")
		if err == nil {
			resp.Body.Close()
			front, err := startPosixFront(s.Endpoint)
			if err != nil {
				kill()
				return nil, err
			}
			gateway := s.Endpoint
			s.Endpoint = front.url
			s.stop = func() { front.close(); kill() }
			log.Info("versitygw ready", slog.String("endpoint", s.Endpoint), slog.String("gateway", gateway), slog.String("dir", dir), slog.Int("pid", cmd.Process.Pid))
			return s, nil
		}
		select {
		case err := <-exited:
			exited <- err
			kill()
			return nil, fmt.Errorf("versitygw on %s exited before answering (%v): %s", addr, err, strings.TrimSpace(out.String()))
		case <-ctx.Done():
			kill()
			return nil, fmt.Errorf("wait for versitygw on %s: %w", addr, ctx.Err())
		case <-time.After(25 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			kill()
			return nil, fmt.Errorf("versitygw on %s did not answer within 20s: %s", addr, strings.TrimSpace(out.String()))
		}
	}
}

func freePort() (int, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, fmt.Errorf("find a free loopback port: %w", err)
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port, nil
}

// lockedBuffer collects the gateway's output for error messages.
type lockedBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *lockedBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.buf.Len() > 64<<10 {
		return len(p), nil
	}
	return b.buf.Write(p)
}

func (b *lockedBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}
