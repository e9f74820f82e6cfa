package s3iam

import (
	"bytes"
	"crypto/md5"
	"crypto/sha1"
	"crypto/sha256"
	"encoding/base64"
	"encoding/binary"
	"encoding/hex"
	"encoding/xml"
	"errors"
	"hash/crc32"
	"hash/crc64"
	"io"
	"log/slog"
	"net/http"
	"strconv"
	"strings"
)

// maxDeleteBody bounds the DeleteObjects request body the proxy reads: 1000 keys of
// up to 1024 bytes, XML-escaped, with version ids.
const maxDeleteBody = 8 << 20

// maxDeleteResult bounds the DeleteObjects response the proxy reads to merge errors.
const maxDeleteResult = 16 << 20

// deleteKey is one <Object> of a DeleteObjects request body.
type deleteKey struct {
	key     string
	version string
	// start and end delimit the <Object> element in the body.
	start, end int64
	denied     bool
}

// deleteObjects authorizes DeleteObjects per key, as S3 does: a denied key does not
// fail the request but comes back as an AccessDenied <Error> in the 200 DeleteResult,
// and the others are deleted. Denied keys are cut out of the body forwarded to the
// backend, and their errors merged into its answer.
func (p *Proxy) deleteObjects(w http.ResponseWriter, r *http.Request, principal string, o *op, presigned bool) {
	h := r.Header
	if strings.Contains(h.Get("Content-Encoding"), "aws-chunked") || strings.HasPrefix(h.Get("X-Amz-Content-Sha256"), "STREAMING-") {
		p.writeError(w, r, p.unmapped(r, "s3iam does not decode an aws-chunked DeleteObjects body"))
		return
	}
	if r.ContentLength > maxDeleteBody {
		p.writeError(w, r, &s3Error{status: http.StatusBadRequest, code: "MaxMessageLengthExceeded", message: "Your request was too big."})
		return
	}
	body, err := io.ReadAll(io.LimitReader(r.Body, maxDeleteBody+1))
	if err != nil {
		if r.Context().Err() == nil {
			p.writeError(w, r, &s3Error{status: http.StatusBadRequest, code: "IncompleteBody", message: "read request body: " + err.Error()})
		}
		return
	}
	if len(body) > maxDeleteBody {
		p.writeError(w, r, &s3Error{status: http.StatusBadRequest, code: "MaxMessageLengthExceeded", message: "Your request was too big."})
		return
	}
	keys, err := parseDeleteBody(body)
	denied := 0
	if err == nil {
		for i := range keys {
			k := &keys[i]
			arn := p.objectARN(o.bucket, k.key)
			e := p.authorize(principal, o, "s3:DeleteObject", arn, nil)
			if e == nil && k.version != "" {
				e = p.authorize(principal, o, "s3:DeleteObjectVersion", arn, nil)
			}
			if e != nil {
				k.denied = true
				denied++
			}
		}
	}
	// A body that does not parse, or has no keys, goes to the backend as it is, which
	// answers MalformedXML as S3 would.
	if denied > 0 && denied == len(keys) {
		p.writeDeleteResult(w, keys)
		return
	}
	if denied > 0 {
		body = cutDenied(body, keys)
		if e := fixBodyHeaders(h, body); e != nil {
			p.writeError(w, r, e)
			return
		}
	}
	// The proxy may have to edit the response: ask for it uncompressed.
	delete(h, "Accept-Encoding")
	resp, ok := p.forward(w, r, presigned, bytes.NewReader(body), int64(len(body)))
	if !ok {
		return
	}
	defer resp.Body.Close()
	if denied == 0 || resp.StatusCode != http.StatusOK {
		p.relay(w, r, resp, o)
		return
	}
	result, err := io.ReadAll(io.LimitReader(resp.Body, maxDeleteResult))
	if err != nil {
		p.backendFailed(w, r, err)
		return
	}
	merged, ok := mergeDeleteErrors(result, keys)
	if !ok {
		p.log.Warn("s3iam: DeleteObjects result has no </DeleteResult>; per-key AccessDenied errors dropped",
			slog.String("bucket", o.bucket), slog.Int("denied", denied))
		merged = result
	}
	dst := w.Header()
	for k, vv := range resp.Header {
		if isHop(k) || k == "Content-Length" {
			continue
		}
		dst[k] = vv
	}
	dst.Set("Content-Length", strconv.Itoa(len(merged)))
	w.WriteHeader(resp.StatusCode)
	w.Write(merged)
}

// parseDeleteBody lists the <Object> elements of a <Delete> body with their byte ranges.
func parseDeleteBody(body []byte) ([]deleteKey, error) {
	d := xml.NewDecoder(bytes.NewReader(body))
	var keys []deleteKey
	depth := 0
	for {
		off := d.InputOffset()
		tok, err := d.Token()
		if err == io.EOF {
			break
		}
		if err != nil {
			return nil, err
		}
		switch t := tok.(type) {
		case xml.StartElement:
			if depth == 0 && t.Name.Local != "Delete" {
				return nil, errors.New("root element is not <Delete>")
			}
			if depth == 1 && t.Name.Local == "Object" {
				var obj struct {
					Key       string `xml:"Key"`
					VersionID string `xml:"VersionId"`
				}
				if err := d.DecodeElement(&obj, &t); err != nil {
					return nil, err
				}
				keys = append(keys, deleteKey{key: obj.Key, version: obj.VersionID, start: off, end: d.InputOffset()})
				continue
			}
			depth++
		case xml.EndElement:
			depth--
		}
	}
	if len(keys) == 0 {
		return nil, errors.New("no <Object> in <Delete>")
	}
	return keys, nil
}

// cutDenied returns body without the <Object> elements of the denied keys.
func cutDenied(body []byte, keys []deleteKey) []byte {
	out := make([]byte, 0, len(body))
	var from int64
	for _, k := range keys {
		if !k.denied {
			continue
		}
		out = append(out, body[from:k.start]...)
		from = k.end
	}
	return append(out, body[from:]...)
}

// crc64NVME is the CRC-64/NVME table (reflected polynomial of 0xAD93D23594C93659).
var crc64NVME = crc64.MakeTable(0x9a6c9329ac4bc9b5)

func crc64Sum(b []byte) uint64 { return crc64.Checksum(b, crc64NVME) }

// fixBodyHeaders makes the headers that describe the body describe the new body:
// Content-MD5, x-amz-checksum-* (the SDK sends a CRC32 by default) and
// x-amz-content-sha256. S3 requires Content-MD5 or a checksum on DeleteObjects.
func fixBodyHeaders(h http.Header, body []byte) *s3Error {
	checksums := 0
	for k := range h {
		if !strings.HasPrefix(k, "X-Amz-Checksum-") || k == "X-Amz-Checksum-Type" {
			continue
		}
		var sum []byte
		switch k {
		case "X-Amz-Checksum-Crc32":
			sum = binary.BigEndian.AppendUint32(nil, crc32.ChecksumIEEE(body))
		case "X-Amz-Checksum-Crc32c":
			sum = binary.BigEndian.AppendUint32(nil, crc32.Checksum(body, crc32.MakeTable(crc32.Castagnoli)))
		case "X-Amz-Checksum-Crc64nvme":
			sum = binary.BigEndian.AppendUint64(nil, crc64Sum(body))
		case "X-Amz-Checksum-Sha1":
			s := sha1.Sum(body)
			sum = s[:]
		case "X-Amz-Checksum-Sha256":
			s := sha256.Sum256(body)
			sum = s[:]
		default:
			delete(h, k)
			delete(h, "X-Amz-Sdk-Checksum-Algorithm")
			continue
		}
		h.Set(k, base64.StdEncoding.EncodeToString(sum))
		checksums++
	}
	if len(h["Content-Md5"]) > 0 || checksums == 0 {
		s := md5.Sum(body)
		h.Set("Content-Md5", base64.StdEncoding.EncodeToString(s[:]))
	}
	switch sha := h.Get("X-Amz-Content-Sha256"); {
	case sha == "" || sha == "UNSIGNED-PAYLOAD":
	case len(sha) == 64:
		s := sha256.Sum256(body)
		h.Set("X-Amz-Content-Sha256", hex.EncodeToString(s[:]))
	default:
		return &s3Error{status: http.StatusNotImplemented, code: "NotImplemented",
			message: "s3iam cannot rewrite a DeleteObjects body sent with x-amz-content-sha256: " + sha}
	}
	delete(h, "Content-Length")
	return nil
}

func deleteErrors(b *bytes.Buffer, keys []deleteKey) {
	for _, k := range keys {
		if !k.denied {
			continue
		}
		b.WriteString("<Error><Key>")
		xml.EscapeText(b, []byte(k.key))
		b.WriteString("</Key>")
		if k.version != "" {
			b.WriteString("<VersionId>")
			xml.EscapeText(b, []byte(k.version))
			b.WriteString("</VersionId>")
		}
		b.WriteString("<Code>AccessDenied</Code><Message>Access Denied</Message></Error>")
	}
}

// mergeDeleteErrors inserts the denied keys' <Error> entries at the end of the
// backend's <DeleteResult>.
func mergeDeleteErrors(result []byte, keys []deleteKey) ([]byte, bool) {
	var b bytes.Buffer
	if i := bytes.LastIndex(result, []byte("</DeleteResult>")); i >= 0 {
		b.Grow(len(result) + 128*len(keys))
		b.Write(result[:i])
		deleteErrors(&b, keys)
		b.Write(result[i:])
		return b.Bytes(), true
	}
	// An empty result may be written as <DeleteResult .../>.
	start := bytes.Index(result, []byte("<DeleteResult"))
	if start < 0 {
		return nil, false
	}
	end := bytes.IndexByte(result[start:], '>')
	if end < 1 || result[start+end-1] != '/' {
		return nil, false
	}
	end += start
	b.Write(result[:end-1])
	b.WriteByte('>')
	deleteErrors(&b, keys)
	b.WriteString("</DeleteResult>")
	b.Write(result[end+1:])
	return b.Bytes(), true
}

// writeDeleteResult answers a DeleteObjects whose every key was denied, without
// asking the backend.
func (p *Proxy) writeDeleteResult(w http.ResponseWriter, keys []deleteKey) {
	var b bytes.Buffer
	b.WriteString(`<?xml version="1.0" encoding="UTF-8"?>` + "\n" + `<DeleteResult xmlns="http://s3.amazonaws.com/doc/2006-03-01/">`)
	deleteErrors(&b, keys)
	b.WriteString("</DeleteResult>")
	id, host := p.requestID()
	h := w.Header()
	h.Set("Content-Type", "application/xml")
	h.Set("X-Amz-Request-Id", id)
	h.Set("X-Amz-Id-2", host)
	h.Set("Content-Length", strconv.Itoa(b.Len()))
	w.WriteHeader(http.StatusOK)
	w.Write(b.Bytes())
}
