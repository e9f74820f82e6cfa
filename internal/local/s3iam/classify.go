package s3iam

import (
	"net/http"
	"net/url"
	"strings"
)

// This file maps each S3 request to the IAM actions it needs, following the Service
// Authorization Reference ("Actions defined by Amazon S3") and each API's
// "Permissions" section. Resource ARNs: bucket arn:aws:s3:::B, object arn:aws:s3:::B/KEY.
//
//	request                                  operation                 actions
//	GET    /                                 ListBuckets               s3:ListAllMyBuckets on "*"
//	GET    /B[?list-type=2]                  ListObjects(V2)           s3:ListBucket on B (s3:prefix, s3:delimiter, s3:max-keys)
//	GET    /B?location                       GetBucketLocation         s3:GetBucketLocation on B
//	GET    /B?uploads                        ListMultipartUploads      s3:ListBucketMultipartUploads on B
//	HEAD   /B                                HeadBucket                s3:ListBucket on B
//	PUT    /B                                CreateBucket              s3:CreateBucket on B
//	POST   /B?delete                         DeleteObjects             s3:DeleteObject (+Version) on each key, separately
//	GET    /B/K                              GetObject                 s3:GetObject (s3:GetObjectVersion with versionId); kms:Decrypt if it exists
//	HEAD   /B/K                              HeadObject                s3:GetObject (s3:GetObjectVersion with versionId)
//	PUT    /B/K                              PutObject                 s3:PutObject (+Tagging/Acl/Retention/LegalHold headers), kms:GenerateDataKey
//	PUT    /B/K  x-amz-copy-source           CopyObject                source s3:GetObject (+Version), kms:Decrypt; dest as PutObject
//	POST   /B/K?uploads                      CreateMultipartUpload     as PutObject
//	PUT    /B/K?partNumber&uploadId          UploadPart                s3:PutObject
//	PUT    ... + x-amz-copy-source           UploadPartCopy            source s3:GetObject (+Version), kms:Decrypt; s3:PutObject
//	POST   /B/K?uploadId                     CompleteMultipartUpload   s3:PutObject, kms:Decrypt on the bucket key
//	DELETE /B/K?uploadId                     AbortMultipartUpload      s3:AbortMultipartUpload
//	GET    /B/K?uploadId                     ListParts                 s3:ListMultipartUploadParts
//	DELETE /B/K                              DeleteObject              s3:DeleteObject (+ s3:DeleteObjectVersion with versionId)
//
// Anything else (another subresource, another method) is 501 NotImplemented.

type opKind uint8

const (
	kindPlain opKind = iota
	// kindGetObject: the missing-key rule applies to a 404, and kms:Decrypt on the
	// bucket key to a 2xx.
	kindGetObject
	// kindHeadObject: the missing-key rule applies to a 404.
	kindHeadObject
	// kindDeleteObjects: authorized per key from the body.
	kindDeleteObjects
)

type check struct {
	action   string
	resource string
	context  map[string][]string
}

// op is one classified request: its name, what it touches and the checks to pass
// before forwarding it. It lives on the handler's stack.
type op struct {
	name   string
	kind   opKind
	bucket string
	key    string
	// decryptKey is the KMS key a GetObject must be allowed to kms:Decrypt when the
	// object exists.
	decryptKey string
	checks     [8]check
	n          int
}

func (o *op) add(action, resource string, ctx map[string][]string) {
	o.checks[o.n] = check{action: action, resource: resource, context: ctx}
	o.n++
}

// kmsViaS3 is the condition context of the KMS calls S3 makes on a caller's behalf.
// Shared by all requests: Authorizers must not modify it.
var kmsViaS3 = map[string][]string{"kms:ViaService": {"s3.us-east-1.amazonaws.com"}}

type param struct {
	key   string
	value string
}

// parseQuery splits a raw query into decoded key/value pairs, appending to buf (pass
// a stack array's slice so that ordinary requests do not allocate).
func parseQuery(raw string, buf []param) ([]param, bool) {
	for raw != "" {
		var pair string
		pair, raw, _ = strings.Cut(raw, "&")
		if pair == "" {
			continue
		}
		k, v, _ := strings.Cut(pair, "=")
		var ok bool
		if k, ok = unescape(k); !ok {
			return nil, false
		}
		if v, ok = unescape(v); !ok {
			return nil, false
		}
		buf = append(buf, param{k, v})
	}
	return buf, true
}

func unescape(s string) (string, bool) {
	if !strings.ContainsAny(s, "%+") {
		return s, true
	}
	u, err := url.QueryUnescape(s)
	return u, err == nil
}

// ignoredParam reports query parameters that never select an operation: the SDK's
// x-id, and SigV4 presigning parameters and hoisted x-amz-* headers.
func ignoredParam(k string) bool {
	return k == "x-id" || len(k) > 6 && strings.EqualFold(k[:6], "x-amz-")
}

func lookup(ps []param, key string) (string, bool) {
	for _, p := range ps {
		if p.key == key {
			return p.value, true
		}
	}
	return "", false
}

func has(ps []param, key string) bool {
	_, ok := lookup(ps, key)
	return ok
}

// only reports whether every parameter that selects an operation is one of allowed.
func only(ps []param, allowed []string) bool {
next:
	for _, p := range ps {
		if ignoredParam(p.key) {
			continue
		}
		for _, a := range allowed {
			if p.key == a {
				continue next
			}
		}
		return false
	}
	return true
}

var (
	noParams              []string
	listBucketsParams     = []string{"max-buckets", "continuation-token", "prefix", "bucket-region"}
	listObjectsParams     = []string{"list-type", "prefix", "delimiter", "max-keys", "continuation-token", "start-after", "fetch-owner", "encoding-type", "marker"}
	listUploadsParams     = []string{"uploads", "delimiter", "encoding-type", "key-marker", "max-uploads", "prefix", "upload-id-marker"}
	locationParams        = []string{"location"}
	deleteParams          = []string{"delete"}
	getObjectParams       = []string{"versionId", "partNumber", "response-cache-control", "response-content-disposition", "response-content-encoding", "response-content-language", "response-content-type", "response-expires"}
	listPartsParams       = []string{"uploadId", "max-parts", "part-number-marker", "encoding-type"}
	uploadPartParams      = []string{"partNumber", "uploadId"}
	uploadsParams         = []string{"uploads"}
	uploadIDParams        = []string{"uploadId"}
	versionIDParams       = []string{"versionId"}
	deleteObjectParamsSet = versionIDParams
)

// classify fills o with the operation r performs and the checks it needs. It returns
// an error for requests the proxy does not map (501) or cannot parse (400).
func (p *Proxy) classify(r *http.Request, o *op) *s3Error {
	path := r.URL.Path
	if !strings.HasPrefix(path, "/") {
		return p.unmapped(r, "")
	}
	bucket, key, _ := strings.Cut(path[1:], "/")
	o.bucket, o.key = bucket, key
	var buf [12]param
	ps, ok := parseQuery(r.URL.RawQuery, buf[:0])
	if !ok {
		return &s3Error{status: http.StatusBadRequest, code: "InvalidArgument", message: "Malformed query string"}
	}
	if sha := r.Header.Get("X-Amz-Content-Sha256"); strings.HasPrefix(sha, "STREAMING-AWS4-") {
		return p.unmapped(r, "s3iam cannot re-sign an aws-chunked body with signed chunks (x-amz-content-sha256: "+sha+
			"); send UNSIGNED-PAYLOAD or STREAMING-UNSIGNED-PAYLOAD-TRAILER")
	}
	switch {
	case bucket == "":
		if r.Method == http.MethodGet && only(ps, listBucketsParams) {
			o.name = "ListBuckets"
			o.add("s3:ListAllMyBuckets", "*", nil)
			return nil
		}
	case key == "":
		if p.classifyBucket(r, ps, o) {
			return nil
		}
	default:
		e, ok := p.classifyObject(r, ps, o)
		if e != nil {
			return e
		}
		if ok {
			return nil
		}
	}
	return p.unmapped(r, "")
}

func (p *Proxy) classifyBucket(r *http.Request, ps []param, o *op) bool {
	arn := p.bucketARN(o.bucket)
	switch r.Method {
	case http.MethodGet:
		switch {
		case has(ps, "location"):
			if !only(ps, locationParams) {
				return false
			}
			o.name = "GetBucketLocation"
			o.add("s3:GetBucketLocation", arn, nil)
		case has(ps, "uploads"):
			if !only(ps, listUploadsParams) {
				return false
			}
			o.name = "ListMultipartUploads"
			o.add("s3:ListBucketMultipartUploads", arn, nil)
		default:
			if !only(ps, listObjectsParams) {
				return false
			}
			o.name = "ListObjects"
			if v, _ := lookup(ps, "list-type"); v == "2" {
				o.name = "ListObjectsV2"
			}
			// Condition keys are present only when the request has the parameter:
			// s3:prefix is "" for ?prefix= and absent without it.
			var ctx map[string][]string
			for _, c := range [...][2]string{{"prefix", "s3:prefix"}, {"delimiter", "s3:delimiter"}, {"max-keys", "s3:max-keys"}} {
				if v, ok := lookup(ps, c[0]); ok {
					if ctx == nil {
						ctx = make(map[string][]string, 3)
					}
					ctx[c[1]] = []string{v}
				}
			}
			o.add("s3:ListBucket", arn, ctx)
		}
	case http.MethodHead:
		if !only(ps, noParams) {
			return false
		}
		o.name = "HeadBucket"
		o.add("s3:ListBucket", arn, nil)
	case http.MethodPut:
		if !only(ps, noParams) {
			return false
		}
		o.name = "CreateBucket"
		o.add("s3:CreateBucket", arn, nil)
	case http.MethodPost:
		if !has(ps, "delete") || !only(ps, deleteParams) {
			return false
		}
		o.name = "DeleteObjects"
		o.kind = kindDeleteObjects
	default:
		return false
	}
	return true
}

func (p *Proxy) classifyObject(r *http.Request, ps []param, o *op) (*s3Error, bool) {
	arn := p.objectARN(o.bucket, o.key)
	h := r.Header
	switch r.Method {
	case http.MethodGet, http.MethodHead:
		if r.Method == http.MethodGet && has(ps, "uploadId") {
			if !only(ps, listPartsParams) {
				return nil, false
			}
			o.name = "ListParts"
			o.add("s3:ListMultipartUploadParts", arn, nil)
			return nil, true
		}
		if !only(ps, getObjectParams) {
			return nil, false
		}
		o.name, o.kind = "GetObject", kindGetObject
		if r.Method == http.MethodHead {
			// There is no s3:HeadObject action, and HEAD returns no data: no kms:Decrypt.
			o.name, o.kind = "HeadObject", kindHeadObject
		} else {
			o.decryptKey = p.bucketKey(o.bucket)
		}
		// "If you include a versionId ... you must have the s3:GetObjectVersion
		// permission ... The s3:GetObject permission is not required in this scenario."
		if has(ps, "versionId") {
			o.add("s3:GetObjectVersion", arn, nil)
		} else {
			o.add("s3:GetObject", arn, nil)
		}
		return nil, true
	case http.MethodPut:
		copySource := h.Get("X-Amz-Copy-Source")
		if has(ps, "uploadId") || has(ps, "partNumber") {
			if !has(ps, "uploadId") || !has(ps, "partNumber") || !only(ps, uploadPartParams) {
				return nil, false
			}
			o.name = "UploadPart"
			if copySource != "" {
				o.name = "UploadPartCopy"
				if e := p.addCopySource(r, o, copySource); e != nil {
					return e, false
				}
			}
			o.add("s3:PutObject", arn, nil)
			return nil, true
		}
		if !only(ps, noParams) {
			return nil, false
		}
		o.name = "PutObject"
		if copySource != "" {
			o.name = "CopyObject"
			if e := p.addCopySource(r, o, copySource); e != nil {
				return e, false
			}
		}
		p.addWrite(h, o, arn)
		return nil, true
	case http.MethodPost:
		switch {
		case has(ps, "uploads"):
			if !only(ps, uploadsParams) {
				return nil, false
			}
			o.name = "CreateMultipartUpload"
			p.addWrite(h, o, arn)
		case has(ps, "uploadId"):
			if !only(ps, uploadIDParams) {
				return nil, false
			}
			o.name = "CompleteMultipartUpload"
			o.add("s3:PutObject", arn, nil)
			// "Amazon S3 must decrypt and read data from the encrypted file parts before
			// it completes the multipart upload." The proxy does not remember which key
			// CreateMultipartUpload named: it checks the bucket's default key.
			if k := p.bucketKey(o.bucket); k != "" {
				o.add("kms:Decrypt", k, kmsViaS3)
			}
		default:
			return nil, false
		}
		return nil, true
	case http.MethodDelete:
		if has(ps, "uploadId") {
			if !only(ps, uploadIDParams) {
				return nil, false
			}
			o.name = "AbortMultipartUpload"
			o.add("s3:AbortMultipartUpload", arn, nil)
			return nil, true
		}
		if !only(ps, deleteObjectParamsSet) {
			return nil, false
		}
		o.name = "DeleteObject"
		o.add("s3:DeleteObject", arn, nil)
		if has(ps, "versionId") {
			o.add("s3:DeleteObjectVersion", arn, nil)
		}
		return nil, true
	}
	return nil, false
}

// addWrite adds the checks of a request that creates an object (PutObject, CopyObject,
// CreateMultipartUpload): s3:PutObject, the actions its tagging, ACL and object-lock
// headers need, and kms:GenerateDataKey on the key the object will be encrypted with.
func (p *Proxy) addWrite(h http.Header, o *op, arn string) {
	o.add("s3:PutObject", arn, nil)
	if len(h["X-Amz-Tagging"]) > 0 {
		o.add("s3:PutObjectTagging", arn, nil)
	}
	if len(h["X-Amz-Acl"]) > 0 || len(h["X-Amz-Grant-Read"]) > 0 || len(h["X-Amz-Grant-Read-Acp"]) > 0 ||
		len(h["X-Amz-Grant-Write-Acp"]) > 0 || len(h["X-Amz-Grant-Full-Control"]) > 0 {
		o.add("s3:PutObjectAcl", arn, nil)
	}
	if len(h["X-Amz-Object-Lock-Mode"]) > 0 || len(h["X-Amz-Object-Lock-Retain-Until-Date"]) > 0 {
		o.add("s3:PutObjectRetention", arn, nil)
	}
	if len(h["X-Amz-Object-Lock-Legal-Hold"]) > 0 {
		o.add("s3:PutObjectLegalHold", arn, nil)
	}
	if k := p.writeKey(h, o.bucket); k != "" {
		o.add("kms:GenerateDataKey", k, kmsViaS3)
	}
}

// writeKey is the KMS key a new object is encrypted with: the one the request names
// when it asks for aws:kms, else the bucket's default key. An explicit AES256 request
// overrides the bucket default (no KMS), as in S3. A request for aws:kms without a key
// id in a bucket without a KMS key would use the AWS managed key aws/s3: not checked.
func (p *Proxy) writeKey(h http.Header, bucket string) string {
	sse := h.Get("X-Amz-Server-Side-Encryption")
	switch {
	case strings.HasPrefix(sse, "aws:kms"):
		if k := h.Get("X-Amz-Server-Side-Encryption-Aws-Kms-Key-Id"); k != "" {
			return k
		}
		return p.bucketKey(bucket)
	case sse != "":
		return ""
	default:
		return p.bucketKey(bucket)
	}
}

// addCopySource adds the checks on the source of CopyObject and UploadPartCopy.
func (p *Proxy) addCopySource(r *http.Request, o *op, v string) *s3Error {
	bucket, key, version, ok := parseCopySource(v)
	if !ok {
		return &s3Error{status: http.StatusBadRequest, code: "InvalidArgument", message: "Invalid copy source object key: " + v}
	}
	if strings.HasPrefix(bucket, "arn:") {
		return p.unmapped(r, "s3iam does not map access point or Outposts copy sources ("+v+")")
	}
	arn := p.objectARN(bucket, key)
	o.add("s3:GetObject", arn, nil)
	if version != "" {
		o.add("s3:GetObjectVersion", arn, nil)
	}
	if k := p.bucketKey(bucket); k != "" {
		o.add("kms:Decrypt", k, kmsViaS3)
	}
	return nil
}

// parseCopySource parses x-amz-copy-source: URL-encoded "bucket/key", possibly with a
// leading "/" and a "?versionId=..." suffix.
func parseCopySource(v string) (bucket, key, version string, ok bool) {
	src := v
	if i := strings.Index(src, "?versionId="); i >= 0 {
		version, src = src[i+len("?versionId="):], src[:i]
		var err error
		if version, err = url.QueryUnescape(version); err != nil {
			return "", "", "", false
		}
	}
	dec, err := url.PathUnescape(src)
	if err != nil {
		return "", "", "", false
	}
	dec = strings.TrimPrefix(dec, "/")
	bucket, key, ok = strings.Cut(dec, "/")
	return bucket, key, version, ok && bucket != "" && key != ""
}

func (p *Proxy) unmapped(r *http.Request, why string) *s3Error {
	msg := "s3iam has no IAM mapping for " + r.Method + " " + r.URL.Path
	if r.URL.RawQuery != "" {
		msg += "?" + r.URL.RawQuery
	}
	if why != "" {
		msg += ": " + why
	} else {
		msg += ": map this S3 operation in internal/local/s3iam before using it"
	}
	return &s3Error{status: http.StatusNotImplemented, code: "NotImplemented", message: msg}
}
