package s3server

import (
	"bytes"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httputil"
	"net/url"
	"strings"
	"time"
)

// versitygw's posix backend keeps keys as files in directories, and deleting the last
// key under a prefix removes the emptied directories. A PutObject of another key under
// that prefix at the same moment has created the directory, then finds it gone when it
// links its file, and versitygw answers 409 ExistingObjectIsDirectory. S3 has no
// directories and never gives that answer for a key that is not a prefix of another,
// so the posix front below retries such a write a few times: the stand-in answers as
// S3 does (two Federator subscribers releasing and taking leases side by side hit it).

// posixRaceRetries bounds the retries of one write; the race lasts microseconds.
const posixRaceRetries = 8

// posixFront is a loopback reverse proxy in front of versitygw that retries the
// object writes the posix race fails.
type posixFront struct {
	url string
	srv *http.Server
}

func startPosixFront(backend string) (*posixFront, error) {
	u, err := url.Parse(backend)
	if err != nil {
		return nil, fmt.Errorf("parse versitygw endpoint %q: %w", backend, err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, fmt.Errorf("listen for the versitygw front: %w", err)
	}
	transport := &http.Transport{Proxy: nil, MaxIdleConns: 512, MaxIdleConnsPerHost: 512, IdleConnTimeout: 30 * time.Second}
	rp := &httputil.ReverseProxy{
		Rewrite: func(r *httputil.ProxyRequest) {
			r.SetURL(u)
			r.Out.Host = r.In.Host // the client signed its own Host
		},
		Transport: retryPosixRace{next: transport},
	}
	f := &posixFront{url: "http://" + ln.Addr().String(), srv: &http.Server{Handler: rp, ReadHeaderTimeout: 10 * time.Second}}
	go f.srv.Serve(ln)
	return f, nil
}

func (f *posixFront) close() { _ = f.srv.Close() }

// retryPosixRace sends a PUT (PutObject, UploadPart, CopyObject) again while versitygw
// answers 409 ExistingObjectIsDirectory for a key that does not end in "/". The request
// is signed once by the client and sent unchanged, so its signature stays valid.
type retryPosixRace struct{ next http.RoundTripper }

func (t retryPosixRace) RoundTrip(r *http.Request) (*http.Response, error) {
	if r.Method != http.MethodPut || strings.HasSuffix(r.URL.Path, "/") || strings.Count(strings.Trim(r.URL.Path, "/"), "/") < 1 {
		return t.next.RoundTrip(r)
	}
	var body []byte
	if r.Body != nil {
		b, err := io.ReadAll(r.Body)
		_ = r.Body.Close()
		if err != nil {
			return nil, err
		}
		body = b
	}
	for attempt := 0; ; attempt++ {
		out := r.Clone(r.Context())
		if r.Body != nil {
			out.Body = io.NopCloser(bytes.NewReader(body))
		}
		resp, err := t.next.RoundTrip(out)
		if err != nil || resp.StatusCode != http.StatusConflict || attempt == posixRaceRetries {
			return resp, err
		}
		msg, rerr := io.ReadAll(resp.Body)
		_ = resp.Body.Close()
		if rerr != nil || !bytes.Contains(msg, []byte("<Code>ExistingObjectIsDirectory</Code>")) {
			resp.Body = io.NopCloser(bytes.NewReader(msg))
			return resp, rerr
		}
		time.Sleep(time.Duration(attempt+1) * 2 * time.Millisecond)
	}
}
