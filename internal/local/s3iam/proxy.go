package s3iam

import (
	"encoding/xml"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/aws/smithy-go"

	"github.com/snaplake/snaplake/internal/local/iam"
	"github.com/snaplake/snaplake/internal/local/s3server"
)

// s3Error is an error response the proxy writes itself.
type s3Error struct {
	status  int
	code    string
	message string
	// extra is more XML inside <Error>, already escaped.
	extra string
}

// ServeHTTP authenticates, classifies and authorizes one S3 request, then forwards it.
func (p *Proxy) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	principal, presigned, e := p.authenticate(r)
	if e != nil {
		p.writeError(w, r, e)
		return
	}
	var o op
	if e := p.classify(r, &o); e != nil {
		if e.status == http.StatusNotImplemented {
			p.log.Warn("s3iam: unmapped S3 request", slog.String("principal", principal), slog.String("method", r.Method),
				slog.String("path", r.URL.Path), slog.String("query", r.URL.RawQuery))
		}
		p.writeError(w, r, e)
		return
	}
	for i := 0; i < o.n; i++ {
		c := &o.checks[i]
		if e := p.authorize(principal, &o, c.action, c.resource, c.context); e != nil {
			p.writeError(w, r, e)
			return
		}
	}
	if o.kind == kindDeleteObjects {
		p.deleteObjects(w, r, principal, &o, presigned)
		return
	}
	resp, ok := p.forward(w, r, presigned, nil, 0)
	if !ok {
		return
	}
	defer resp.Body.Close()
	if o.kind == kindGetObject || o.kind == kindHeadObject {
		if resp.StatusCode == http.StatusNotFound {
			// The missing-key rule (GetObject "Permissions"): without s3:ListBucket on the
			// bucket S3 answers 403, not 404, so a caller cannot probe for keys. S3 checks
			// ListBucket with no s3:prefix in the request context, so a policy whose only
			// ListBucket statement is conditioned on s3:prefix still gets 403 here.
			if e := p.probe(principal, &o, "s3:ListBucket", p.bucketARN(o.bucket)); e != nil {
				p.writeError(w, r, e)
				return
			}
		} else if o.decryptKey != "" && resp.StatusCode/100 == 2 {
			if e := p.authorize(principal, &o, "kms:Decrypt", o.decryptKey, kmsViaS3); e != nil {
				p.writeError(w, r, e)
				return
			}
		}
	}
	if p.wantsEvent(&o) {
		p.relayAndEmit(w, r, resp, &o)
		return
	}
	p.relay(w, r, resp, &o)
}

// forward sends the authorized request (with body, when not nil) to the backend,
// re-signed; ok is false when it failed and the client has its answer already.
func (p *Proxy) forward(w http.ResponseWriter, r *http.Request, presigned bool, body io.Reader, n int64) (*http.Response, bool) {
	out, e := p.outbound(r, presigned, body, n)
	if e != nil {
		p.writeError(w, r, e)
		return nil, false
	}
	resp, err := p.transport.RoundTrip(out)
	if err != nil {
		p.backendFailed(w, r, err)
		return nil, false
	}
	return resp, true
}

// authenticate returns the principal the request's SigV4 credential names.
func (p *Proxy) authenticate(r *http.Request) (principal string, presigned bool, e *s3Error) {
	var akid string
	if h := r.Header.Get("Authorization"); h != "" {
		i := strings.Index(h, "Credential=")
		if !strings.HasPrefix(h, "AWS4-HMAC-SHA256 ") || i < 0 {
			return "", false, &s3Error{status: http.StatusForbidden, code: "AccessDenied",
				message: "s3iam accepts only AWS Signature Version 4 (AWS4-HMAC-SHA256) requests"}
		}
		var ok bool
		if akid, ok = principalFromCredential(h[i+len("Credential="):]); !ok {
			return "", false, &s3Error{status: http.StatusBadRequest, code: "AuthorizationHeaderMalformed",
				message: "The authorization header is malformed; the Credential is mal-formed."}
		}
	} else if strings.Contains(r.URL.RawQuery, "X-Amz-Credential=") {
		q := r.URL.Query()
		var ok bool
		if akid, ok = principalFromCredential(q.Get("X-Amz-Credential")); !ok || q.Get("X-Amz-Algorithm") != "AWS4-HMAC-SHA256" {
			return "", false, &s3Error{status: http.StatusBadRequest, code: "AuthorizationQueryParametersError",
				message: "Error parsing the X-Amz-Credential parameter; the Credential is mal-formed."}
		}
		signed, err := time.Parse("20060102T150405Z", q.Get("X-Amz-Date"))
		expires, err2 := strconv.Atoi(q.Get("X-Amz-Expires"))
		if err != nil || err2 != nil {
			return "", false, &s3Error{status: http.StatusBadRequest, code: "AuthorizationQueryParametersError",
				message: "X-Amz-Date and X-Amz-Expires must be present and valid."}
		}
		if time.Now().After(signed.Add(time.Duration(expires) * time.Second)) {
			return "", false, &s3Error{status: http.StatusForbidden, code: "AccessDenied", message: "Request has expired"}
		}
		presigned = true
	} else {
		// Anonymous: only a bucket policy could allow it, and the offline run has none.
		return "", false, &s3Error{status: http.StatusForbidden, code: "AccessDenied", message: "Access Denied"}
	}
	if !p.known(akid) {
		return "", false, &s3Error{status: http.StatusForbidden, code: "InvalidAccessKeyId",
			message: "The AWS Access Key Id you provided does not exist in our records.",
			extra:   "<AWSAccessKeyId>" + xmlEscape(akid) + "</AWSAccessKeyId>"}
	}
	return akid, presigned, nil
}

// authorize asks the Authorizer and turns a denial into the error response S3 sends.
func (p *Proxy) authorize(principal string, o *op, action, resource string, ctx map[string][]string) *s3Error {
	return p.denied(principal, o, action, resource, p.auth.Authorize(principal, iam.Request{Action: action, Resource: resource, Context: ctx}))
}

// decider is an Authorizer that can also decide without recording a call.
type decider interface {
	Decide(principal string, req iam.Request) error
}

// probe is a check S3 makes on its own while answering a call (the missing-key
// rule): it is decided like any request but, with an Authorizer that records calls,
// not recorded as one of the caller's.
func (p *Proxy) probe(principal string, o *op, action, resource string) *s3Error {
	req := iam.Request{Action: action, Resource: resource}
	if d, ok := p.auth.(decider); ok {
		return p.denied(principal, o, action, resource, d.Decide(principal, req))
	}
	return p.authorize(principal, o, action, resource, nil)
}

// denied turns an authorization error into S3's AccessDenied answer (nil when allowed).
func (p *Proxy) denied(principal string, o *op, action, resource string, err error) *s3Error {
	if err == nil {
		return nil
	}
	e := &s3Error{status: http.StatusForbidden, code: "AccessDenied", message: err.Error()}
	var apiErr smithy.APIError
	if errors.As(err, &apiErr) {
		if c := apiErr.ErrorCode(); c != "" {
			e.code = c
		}
		e.message = apiErr.ErrorMessage()
	}
	p.log.Info("s3iam: denied", slog.String("principal", principal), slog.String("operation", o.name),
		slog.String("action", action), slog.String("resource", resource), slog.String("message", e.message))
	return e
}

// hopHeaders are the hop-by-hop headers a proxy must not forward (RFC 9110 7.6.1).
var hopHeaders = [...]string{
	"Connection", "Proxy-Connection", "Keep-Alive", "Proxy-Authenticate", "Proxy-Authorization",
	"Te", "Trailer", "Transfer-Encoding", "Upgrade",
}

// presignParams are the query parameters of a presigned URL's own signature.
var presignParams = [...]string{
	"X-Amz-Algorithm", "X-Amz-Credential", "X-Amz-Date", "X-Amz-Expires",
	"X-Amz-SignedHeaders", "X-Amz-Signature", "X-Amz-Security-Token",
}

var unsignedPayload = []string{"UNSIGNED-PAYLOAD"}

// outbound turns the client's request into the backend's: same method, path, query,
// headers and body, minus hop-by-hop and SSE headers, re-signed with the backend's
// credentials. A non-nil body replaces the client's (the caller fixes the headers that
// describe it). It reuses r's header map.
func (p *Proxy) outbound(r *http.Request, presigned bool, body io.Reader, length int64) (*http.Request, *s3Error) {
	out := r.WithContext(r.Context()) // a shallow copy
	u := &url.URL{Scheme: p.backendScheme, Host: p.backendHost, Path: r.URL.Path, RawPath: r.URL.RawPath, RawQuery: r.URL.RawQuery}
	if presigned {
		u.RawQuery = stripPresign(r.URL.RawQuery)
	}
	out.URL = u
	out.Host = ""
	out.RequestURI = ""
	out.Close = false
	out.TransferEncoding = nil
	out.Trailer = nil
	out.Proto, out.ProtoMajor, out.ProtoMinor = "HTTP/1.1", 1, 1
	if body != nil {
		out.Body, out.ContentLength = io.NopCloser(body), length
	}
	if out.ContentLength == 0 {
		out.Body = nil // else the transport would send an empty chunked body
	}
	h := out.Header
	if c := h["Connection"]; len(c) > 0 {
		for _, v := range c {
			for _, f := range strings.Split(v, ",") {
				if f = strings.TrimSpace(f); f != "" {
					delete(h, http.CanonicalHeaderKey(f))
				}
			}
		}
	}
	for _, k := range hopHeaders {
		delete(h, k)
	}
	delete(h, "Authorization")
	delete(h, "X-Amz-Date")
	delete(h, "X-Amz-Security-Token")
	// The transport would wait for the backend's 100 Continue; the client has
	// already been told to send the body (by the server, when the proxy reads it).
	delete(h, "Expect")
	// The local backends implement no KMS: drop the encryption request, which the
	// proxy has already authorized.
	for k := range h {
		if len(k) >= len("X-Amz-Server-Side-Encryption") && k[:len("X-Amz-Server-Side-Encryption")] == "X-Amz-Server-Side-Encryption" {
			delete(h, k)
		}
	}
	payload := h.Get("X-Amz-Content-Sha256")
	if payload == "" || presigned {
		payload = "UNSIGNED-PAYLOAD"
		h["X-Amz-Content-Sha256"] = unsignedPayload
	}
	if err := p.signer.SignHTTP(r.Context(), p.backendCreds, out, payload, "s3", s3server.Region, time.Now()); err != nil {
		return nil, &s3Error{status: http.StatusInternalServerError, code: "InternalError", message: "s3iam: re-sign request: " + err.Error()}
	}
	return out, nil
}

// stripPresign removes the presigned URL's signature parameters, keeping the rest of
// the query as the client encoded it.
func stripPresign(raw string) string {
	var b strings.Builder
	b.Grow(len(raw))
	for raw != "" {
		var pair string
		pair, raw, _ = strings.Cut(raw, "&")
		k, _, _ := strings.Cut(pair, "=")
		drop := false
		for _, pp := range presignParams {
			if k == pp {
				drop = true
				break
			}
		}
		if drop || pair == "" {
			continue
		}
		if b.Len() > 0 {
			b.WriteByte('&')
		}
		b.WriteString(pair)
	}
	return b.String()
}

// relay copies the backend's response to the client unchanged, except for the
// hop-by-hop headers and, for reads from a bucket with a KMS key, the SSE headers S3
// would send.
func (p *Proxy) relay(w http.ResponseWriter, r *http.Request, resp *http.Response, o *op) {
	dst := w.Header()
	for k, vv := range resp.Header {
		if isHop(k) {
			continue
		}
		dst[k] = vv
	}
	if (o.kind == kindGetObject || o.kind == kindHeadObject) && resp.StatusCode/100 == 2 {
		if k := p.bucketKey(o.bucket); k != "" {
			dst["X-Amz-Server-Side-Encryption"] = sseKMS
			dst["X-Amz-Server-Side-Encryption-Aws-Kms-Key-Id"] = []string{k}
		}
	}
	w.WriteHeader(resp.StatusCode)
	if r.Method == http.MethodHead {
		return
	}
	if _, err := io.Copy(w, resp.Body); err != nil && r.Context().Err() == nil {
		p.log.Warn("s3iam: copy response body", slog.String("operation", o.name), slog.String("path", r.URL.Path), slog.Any("error", err))
	}
}

var sseKMS = []string{"aws:kms"}

func isHop(k string) bool {
	for _, h := range hopHeaders {
		if k == h {
			return true
		}
	}
	return false
}

func (p *Proxy) backendFailed(w http.ResponseWriter, r *http.Request, err error) {
	if r.Context().Err() != nil {
		return // the client went away
	}
	p.log.Warn("s3iam: backend request failed", slog.String("method", r.Method), slog.String("path", r.URL.Path), slog.Any("error", err))
	p.writeError(w, r, &s3Error{status: http.StatusBadGateway, code: "InternalError", message: "s3iam: backend: " + err.Error()})
}

// writeError answers as S3 does: the status, an XML <Error> body (none for HEAD),
// request ids.
func (p *Proxy) writeError(w http.ResponseWriter, r *http.Request, e *s3Error) {
	id, host := p.requestID()
	h := w.Header()
	h.Set("Content-Type", "application/xml")
	h.Set("X-Amz-Request-Id", id)
	h.Set("X-Amz-Id-2", host)
	if r.Method == http.MethodHead {
		w.WriteHeader(e.status)
		return
	}
	body := `<?xml version="1.0" encoding="UTF-8"?>` + "\n<Error><Code>" + xmlEscape(e.code) + "</Code><Message>" +
		xmlEscape(e.message) + "</Message>" + e.extra + "<RequestId>" + id + "</RequestId><HostId>" + host + "</HostId></Error>"
	h.Set("Content-Length", strconv.Itoa(len(body)))
	w.WriteHeader(e.status)
	io.WriteString(w, body)
}

func xmlEscape(s string) string {
	var b strings.Builder
	_ = xml.EscapeText(&b, []byte(s))
	return b.String()
}
