// Package s3iam is an authorizing S3 proxy for the offline run: it sits in front of a
// local S3 server (internal/local/s3server) and makes every request pass the IAM policy
// of the principal that sent it, as S3 would in AWS.
//
// Each principal (a Lambda function's role, a service role) gets credentials whose
// access key id IS the principal's name (Client, Env, Credentials). The proxy reads the
// principal from the request's SigV4 credential (the Authorization header, or a
// presigned URL's X-Amz-Credential), works out every IAM action the S3 operation needs
// (see classify.go for the table), asks the Authorizer about each, and only then
// forwards the request to the backend, re-signed with the backend's own credentials.
//
// What S3 does and the proxy reproduces:
//   - a denial is HTTP 403 AccessDenied with the Authorizer's message;
//   - GetObject/HeadObject of a missing key is 403 unless the principal may
//     s3:ListBucket the bucket (the "missing-key rule");
//   - DeleteObjects is authorized per key; denied keys come back as per-key errors;
//   - a bucket whose default encryption is a KMS key needs kms:Decrypt to read and
//     kms:GenerateDataKey to write;
//   - an S3 operation the proxy does not know is 501 NotImplemented, never allowed.
//
// The proxy does not verify the client's signature (the access key id names the
// principal; every principal shares the fixed Secret). It supports path-style
// addressing only, which is what Client and Env configure.
//
// Not reproduced:
//   - per-object encryption is not tracked: a read checks kms:Decrypt on the bucket's
//     default key even for an object written with AES256 or another key, and
//     CompleteMultipartUpload checks the bucket key, not the one CreateMultipartUpload
//     named; aws:kms without a key id in a bucket without a key (the AWS managed key
//     aws/s3) is not checked; a key id or alias that is not an ARN is passed as given;
//   - only the condition keys s3:prefix, s3:delimiter, s3:max-keys (ListBucket) and
//     kms:ViaService (KMS) are set; no global keys (aws:SecureTransport, ...);
//   - bucket policies, key policies and anonymous access; s3:GetObjectTagging for
//     copying a tagged source;
//   - aws-chunked bodies with signed chunks (STREAMING-AWS4-HMAC-SHA256-PAYLOAD) cannot
//     be re-signed: 501. Unsigned chunks with a trailing checksum pass through. The SDK
//     sends neither over plain HTTP.
//   - a denied HEAD has no body, so the SDK reports code "Forbidden", as with S3.
package s3iam

import (
	"context"
	"encoding/base64"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	v4 "github.com/aws/aws-sdk-go-v2/aws/signer/v4"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/s3"

	"github.com/snaplake/snaplake/internal/local/iam"
	"github.com/snaplake/snaplake/internal/local/s3server"
)

// Authorizer decides one request; it returns nil when allowed, else an error that
// implements smithy.APIError (ErrorCode "AccessDenied", ErrorMessage in AWS's words).
//
// The proxy calls it concurrently. The Context maps it passes may be shared between
// calls: an Authorizer must not modify them.
type Authorizer interface {
	Authorize(principal string, req iam.Request) error
}

// Bucket describes one bucket's configuration that matters for authorization.
type Bucket struct {
	// KMSKeyArn is the bucket's default SSE-KMS key. When set, every object is taken
	// to be encrypted with it: reading an object needs kms:Decrypt on it and writing
	// one needs kms:GenerateDataKey on it. Empty means SSE-S3 (no KMS checks).
	KMSKeyArn string
	// EventBridge is the bucket's EventBridge notifications switch: when on, each
	// object it creates sends "Object Created" to the sink (SendEventsTo; events.go).
	EventBridge bool
}

// Config configures a Proxy.
type Config struct {
	// Backend is the S3 server that authorized requests go to.
	Backend *s3server.Server
	// Auth decides every IAM action a request needs.
	Auth Authorizer
	// Buckets holds each bucket's default encryption; a bucket that is absent has no
	// KMS key. Start copies the map.
	Buckets map[string]Bucket
	// Partition is the ARN partition of the S3 and KMS resources; default "aws".
	Partition string
	// Log receives denials and forwarding failures; default: discarded.
	Log *slog.Logger
	// Account and Region are the buckets' owner and Region, as their events name
	// them.
	Account, Region string
}

// Secret is the secret access key of every principal's credentials. The proxy does not
// check signatures, so its value does not matter; it is fixed so that child processes
// and clients agree.
const Secret = "snaplake-s3iam-secret"

// Proxy is a running authorizing S3 proxy.
type Proxy struct {
	auth      Authorizer
	buckets   map[string]Bucket
	partition string
	log       *slog.Logger

	backendScheme string
	backendHost   string
	backendCreds  aws.Credentials
	signer        *v4.Signer
	transport     *http.Transport

	url string
	ln  net.Listener
	srv *http.Server
	// clientTransport serves every client Client returns.
	clientTransport *http.Transport
	httpClient      *http.Client

	// principals is the set of access key ids handed out, copied on write.
	principals atomic.Pointer[map[string]struct{}]
	regMu      sync.Mutex

	reqSeq   atomic.Uint64
	stopOnce sync.Once

	// events receives the buckets' events (SendEventsTo); backend is a client of the
	// backend itself, which the events' details are read from.
	events          atomic.Pointer[EventSink]
	backend         *s3.Client
	account, region string
}

// Start starts a proxy on a free loopback port in front of cfg.Backend.
func Start(cfg Config) (*Proxy, error) {
	if cfg.Backend == nil {
		return nil, errors.New("s3iam: Config.Backend is nil")
	}
	if cfg.Auth == nil {
		return nil, errors.New("s3iam: Config.Auth is nil")
	}
	u, err := url.Parse(cfg.Backend.Endpoint)
	if err != nil || u.Host == "" || (u.Scheme != "http" && u.Scheme != "https") {
		return nil, fmt.Errorf("s3iam: backend endpoint %q is not an http(s) URL", cfg.Backend.Endpoint)
	}
	p := &Proxy{
		auth:          cfg.Auth,
		buckets:       make(map[string]Bucket, len(cfg.Buckets)),
		partition:     cfg.Partition,
		log:           cfg.Log,
		backendScheme: u.Scheme,
		backendHost:   u.Host,
		backendCreds: aws.Credentials{
			AccessKeyID:     cfg.Backend.AccessKey,
			SecretAccessKey: cfg.Backend.Secret,
			Source:          "s3iam",
		},
		// S3 does not escape the URI path a second time for the canonical request.
		signer: v4.NewSigner(func(o *v4.SignerOptions) { o.DisableURIPathEscaping = true }),
		transport: &http.Transport{
			Proxy:               nil,
			DialContext:         (&net.Dialer{Timeout: 10 * time.Second, KeepAlive: 30 * time.Second}).DialContext,
			MaxIdleConns:        1024,
			MaxIdleConnsPerHost: 1024,
			IdleConnTimeout:     90 * time.Second,
			// Pass bodies through exactly as the backend sends them.
			DisableCompression: true,
			WriteBufferSize:    64 << 10,
			ReadBufferSize:     64 << 10,
		},
		clientTransport: &http.Transport{
			Proxy:               nil,
			DialContext:         (&net.Dialer{Timeout: 10 * time.Second, KeepAlive: 30 * time.Second}).DialContext,
			MaxIdleConns:        256,
			MaxIdleConnsPerHost: 256,
			IdleConnTimeout:     30 * time.Second,
		},
	}
	p.httpClient = &http.Client{Transport: p.clientTransport}
	p.backend = cfg.Backend.Client()
	p.account, p.region = cfg.Account, cfg.Region
	for name, b := range cfg.Buckets {
		p.buckets[name] = b
	}
	if p.partition == "" {
		p.partition = "aws"
	}
	if p.log == nil {
		p.log = slog.New(slog.DiscardHandler)
	}
	empty := map[string]struct{}{}
	p.principals.Store(&empty)

	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, fmt.Errorf("s3iam: listen: %w", err)
	}
	p.ln = ln
	p.url = "http://" + ln.Addr().String()
	p.srv = &http.Server{
		Handler:           p,
		ReadHeaderTimeout: 10 * time.Second,
		IdleTimeout:       90 * time.Second,
		ErrorLog:          slog.NewLogLogger(p.log.Handler(), slog.LevelWarn),
	}
	go p.srv.Serve(ln)
	p.log.Info("s3iam proxy ready", slog.String("url", p.url), slog.String("backend", cfg.Backend.Endpoint))
	return p, nil
}

// URL is the proxy's base URL (http://127.0.0.1:PORT), the S3 endpoint of its clients.
func (p *Proxy) URL() string { return p.url }

// Credentials returns the static credentials that identify principal to the proxy
// (access key id = principal, secret = Secret) and makes the proxy accept them. Use it
// to build a client or presigner of your own; Client and Env call it.
//
// principal must be non-empty and must not contain "/aws4_request".
func (p *Proxy) Credentials(principal string) aws.Credentials {
	p.register(principal)
	return aws.Credentials{AccessKeyID: principal, SecretAccessKey: Secret, Source: "s3iam"}
}

// Client returns an S3 client acting as principal: path-style addressing, region
// us-east-1, access key id = principal, secret = Secret, and an HTTP connection pool
// shared by all of the proxy's clients that is large enough for 64+ parallel requests.
func (p *Proxy) Client(principal string, optFns ...func(*s3.Options)) *s3.Client {
	c := p.Credentials(principal)
	cfg := aws.Config{
		Region:       s3server.Region,
		Credentials:  credentials.NewStaticCredentialsProvider(c.AccessKeyID, c.SecretAccessKey, ""),
		BaseEndpoint: aws.String(p.url),
		HTTPClient:   p.httpClient,
	}
	return s3.NewFromConfig(cfg, append([]func(*s3.Options){func(o *s3.Options) {
		o.UsePathStyle = true
	}}, optFns...)...)
}

// Env returns the environment that makes an SDK-based child process (a Lambda
// bootstrap, snaplake) talk to S3 through the proxy as principal, through
// internal/aws/awsconfig: AWS_ENDPOINT_URL_S3, AWS_ACCESS_KEY_ID=principal,
// AWS_SECRET_ACCESS_KEY, AWS_REGION.
func (p *Proxy) Env(principal string) []string {
	c := p.Credentials(principal)
	return []string{
		"AWS_ENDPOINT_URL_S3=" + p.url,
		"AWS_ACCESS_KEY_ID=" + c.AccessKeyID,
		"AWS_SECRET_ACCESS_KEY=" + c.SecretAccessKey,
		"AWS_REGION=" + s3server.Region,
	}
}

// Stop shuts the proxy down (not the backend). It is safe to call more than once.
func (p *Proxy) Stop() {
	p.stopOnce.Do(func() {
		// The server waits up to 5 s for connections that never sent a request, which
		// a client pool opens when it dials while waiting: close ours first.
		p.clientTransport.CloseIdleConnections()
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		defer cancel()
		if err := p.srv.Shutdown(ctx); err != nil {
			p.srv.Close()
		}
		p.transport.CloseIdleConnections()
		p.log.Info("s3iam proxy stopped", slog.String("url", p.url))
	})
}

func (p *Proxy) register(principal string) {
	if _, ok := (*p.principals.Load())[principal]; ok {
		return
	}
	p.regMu.Lock()
	defer p.regMu.Unlock()
	old := *p.principals.Load()
	next := make(map[string]struct{}, len(old)+1)
	for k := range old {
		next[k] = struct{}{}
	}
	next[principal] = struct{}{}
	p.principals.Store(&next)
}

func (p *Proxy) known(akid string) bool {
	_, ok := (*p.principals.Load())[akid]
	return ok
}

// requestID returns an S3-looking request id and host id for a response the proxy
// writes itself.
func (p *Proxy) requestID() (string, string) {
	id := fmt.Sprintf("%016X", p.reqSeq.Add(1)|0x5331_4100_0000_0000)
	return id, base64.StdEncoding.EncodeToString([]byte("s3iam/" + id))
}

// bucketARN and objectARN build S3 resource ARNs.
func (p *Proxy) bucketARN(bucket string) string {
	return "arn:" + p.partition + ":s3:::" + bucket
}

func (p *Proxy) objectARN(bucket, key string) string {
	return "arn:" + p.partition + ":s3:::" + bucket + "/" + key
}

func (p *Proxy) bucketKey(bucket string) string {
	return p.buckets[bucket].KMSKeyArn
}

// principalFromCredential extracts the access key id from a SigV4 credential,
// "<AKID>/<date>/<region>/<service>/aws4_request", possibly followed by the rest of an
// Authorization header. The access key id may itself contain "/" or "," (role ARNs).
func principalFromCredential(cred string) (string, bool) {
	end := strings.Index(cred, "/aws4_request")
	if end < 0 {
		return "", false
	}
	scope := cred[:end]
	for i := 0; i < 3; i++ {
		j := strings.LastIndexByte(scope, '/')
		if j < 0 {
			return "", false
		}
		scope = scope[:j]
	}
	return scope, scope != ""
}
