package s3server

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"github.com/snaplake/snaplake/internal/local/proc"
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
	var s *Server
	// A port found free can be taken before the gateway binds it: try a few.
	err = proc.RetryPort(3, func(int, error) bool { return ctx.Err() == nil }, func(port int) error {
		var err error
		s, err = startVersityGW(ctx, bin, abs, port, log)
		return err
	})
	if err != nil {
		return nil, err
	}
	return s, nil
}

func startVersityGW(ctx context.Context, bin, dir string, port int, log *slog.Logger) (*Server, error) {
	addr := fmt.Sprintf("127.0.0.1:%d", port)
	s := &Server{
		Endpoint:  "http://" + addr,
		AccessKey: "snaplake",
		Secret:    "snaplake-local-secret",
		Dir:       dir,
	}
	client := &http.Client{Timeout: time.Second}
	answers := func(ctx context.Context) error {
		req, err := http.NewRequestWithContext(ctx, http.MethodGet, s.Endpoint+"/", nil)
		if err != nil {
			return err
		}
		resp, err := client.Do(req)
		if err != nil {
			return err
		}
		return resp.Body.Close()
	}
	p, err := proc.Start(ctx, exec.Command(bin, "--access", s.AccessKey, "--secret", s.Secret, "--port", addr, "posix", dir), proc.Options{
		Name:    "versitygw on " + addr,
		Ready:   answers,
		Timeout: 20 * time.Second,
		Log:     log,
	})
	if err != nil {
		return nil, err
	}
	var once sync.Once
	kill := func() {
		once.Do(func() {
			p.Kill()
			log.Info("versitygw stopped", slog.String("endpoint", s.Endpoint), slog.String("dir", dir))
		})
	}
	front, err := startPosixFront(s.Endpoint)
	if err != nil {
		kill()
		return nil, err
	}
	gateway := s.Endpoint
	s.Endpoint = front.url
	s.stop = func() { front.close(); kill() }
	log.Info("versitygw ready", slog.String("endpoint", s.Endpoint), slog.String("gateway", gateway), slog.String("dir", dir), slog.Int("pid", p.PID()))
	return s, nil
}
