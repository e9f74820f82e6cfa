package s3iam

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"

	"github.com/snaplake/snaplake/events"
)

// A bucket with EventBridge enabled sends every event to the account's default bus:
// "Amazon S3 can send events to Amazon EventBridge whenever certain events happen in
// your bucket" and, once enabled, all of them (S3 UG, "Using EventBridge"; types in
// the EventBridge events reference for S3). The proxy sends "Object Created" for the
// writes that create an object (PutObject, CopyObject, CompleteMultipartUpload), after
// the backend has done them, with the detail S3 fills in (S3 UG, "EventBridge event
// message structure"): the bucket, the key, the object's size and ETag, a sequencer,
// the request id, the requester (the account), the caller's address and the reason.
// Delivery is asynchronous, as EventBridge's is: the sink's targets run on their own.
//
// Not reproduced: the other event types (Object Deleted, tags, ACLs, restores), and
// "POST Object" (browser form uploads, which the proxy does not classify).

// EventSink receives each event the proxy emits (an EventBridge bus's PutEvents).
type EventSink func(ctx context.Context, event []byte)

// SendEventsTo makes the proxy emit the events of the buckets with EventBridge
// enabled to sink; nil stops them.
func (p *Proxy) SendEventsTo(sink EventSink) {
	if sink == nil {
		p.events.Store(nil)
		return
	}
	p.events.Store(&sink)
}

// createdReason is the "reason" of an Object Created event for the operations that
// create an object.
var createdReason = map[string]string{
	"PutObject":               "PutObject",
	"CopyObject":              "CopyObject",
	"CompleteMultipartUpload": "CompleteMultipartUpload",
}

// wantsEvent says the request's success sends an event.
func (p *Proxy) wantsEvent(o *op) bool {
	_, creates := createdReason[o.name]
	return creates && p.buckets[o.bucket].EventBridge && p.events.Load() != nil
}

// relayAndEmit relays the backend's answer, then emits Object Created when the
// operation succeeded. CopyObject and CompleteMultipartUpload can fail inside a 200
// (their body is an <Error>): the body is read first to tell.
func (p *Proxy) relayAndEmit(w http.ResponseWriter, r *http.Request, resp *http.Response, o *op) {
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		p.backendFailed(w, r, err)
		return
	}
	resp.Body = io.NopCloser(bytes.NewReader(body))
	p.relay(w, r, resp, o)
	if resp.StatusCode/100 != 2 || bytes.Contains(body, []byte("<Error>")) {
		return
	}
	p.emitCreated(r, o)
}

func (p *Proxy) emitCreated(r *http.Request, o *op) {
	sink := p.events.Load()
	if sink == nil {
		return
	}
	ctx := context.WithoutCancel(r.Context())
	// The object's size and ETag as stored: asked of the backend, as S3 knows them.
	head, err := p.backendClient().HeadObject(ctx, &s3.HeadObjectInput{Bucket: aws.String(o.bucket), Key: aws.String(o.key)})
	if err != nil {
		p.log.Warn("s3iam: the created object's HEAD for its event failed; no event", slog.String("bucket", o.bucket), slog.String("key", o.key), slog.Any("error", err))
		return
	}
	ip, _, _ := net.SplitHostPort(r.RemoteAddr)
	now := time.Now()
	reqID, _ := p.requestID()
	d := events.S3ObjectCreatedDetail{
		Bucket: events.S3Bucket{Name: o.bucket},
		Object: events.S3Object{
			Key: o.key, Size: aws.ToInt64(head.ContentLength), ETag: strings.Trim(aws.ToString(head.ETag), `"`),
			// A sequencer orders one key's events: a time in hex, as long as S3's.
			Sequencer: fmt.Sprintf("%018X", now.UnixNano()),
		},
		RequestID: reqID, Requester: p.account, SourceIPAddress: ip, Reason: createdReason[o.name],
	}
	ev, err := json.Marshal(events.NewS3ObjectCreatedEvent(eventID(), p.account, p.region, now, d))
	if err != nil {
		p.log.Warn("s3iam: encode an event", slog.Any("error", err))
		return
	}
	(*sink)(ctx, ev)
}

// backendClient reaches the backend directly, with its own credentials.
func (p *Proxy) backendClient() *s3.Client { return p.backend }

// eventID is a random UUID (version 4), as EventBridge's event ids are.
func eventID() string {
	b := make([]byte, 16)
	_, _ = rand.Read(b)
	b[6] = b[6]&0x0f | 0x40
	b[8] = b[8]&0x3f | 0x80
	h := hex.EncodeToString(b)
	return h[0:8] + "-" + h[8:12] + "-" + h[12:16] + "-" + h[16:20] + "-" + h[20:]
}
