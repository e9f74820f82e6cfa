package s3server

import (
	"fmt"
	"net"
	"net/http"
	"net/http/httputil"
	"net/url"
	"sync/atomic"
	"time"
)

// LatencyProxy forwards every request to a target after a fixed delay, to make a local
// server behave like a distant one (S3 in a region answers in ~20 ms, not 0.3 ms).
type LatencyProxy struct {
	// URL is the proxy's base URL; use it as the S3 endpoint.
	URL   string
	Delay time.Duration

	requests atomic.Int64
	srv      *http.Server
	ln       net.Listener
}

// NewLatencyProxy starts a proxy on a loopback port in front of target (a base URL).
// The Host header is kept, so SigV4 signatures stay valid for the target.
func NewLatencyProxy(target string, delay time.Duration) (*LatencyProxy, error) {
	u, err := url.Parse(target)
	if err != nil {
		return nil, fmt.Errorf("parse proxy target %q: %w", target, err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, fmt.Errorf("listen for latency proxy: %w", err)
	}
	p := &LatencyProxy{URL: "http://" + ln.Addr().String(), Delay: delay, ln: ln}
	transport := &http.Transport{
		Proxy:               nil,
		MaxIdleConns:        512,
		MaxIdleConnsPerHost: 512,
		IdleConnTimeout:     30 * time.Second,
	}
	rp := &httputil.ReverseProxy{
		Rewrite: func(r *httputil.ProxyRequest) {
			r.SetURL(u)
			r.Out.Host = r.In.Host
		},
		Transport: transport,
	}
	p.srv = &http.Server{
		Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			p.requests.Add(1)
			select {
			case <-time.After(p.Delay):
			case <-r.Context().Done():
				return
			}
			rp.ServeHTTP(w, r)
		}),
		ReadHeaderTimeout: 10 * time.Second,
	}
	go p.srv.Serve(ln)
	return p, nil
}

// Requests reports how many requests the proxy has received.
func (p *LatencyProxy) Requests() int64 { return p.requests.Load() }

// Close stops the proxy.
func (p *LatencyProxy) Close() error { return p.srv.Close() }
