package hubidempotency

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"hash"
	"net/http"
	"strings"
)

// HeaderName is the request header of draft-ietf-httpapi-idempotency-key-header.
const HeaderName = "Idempotency-Key"

// ReplayedHeader marks a response that is the stored answer to an earlier
// request with the same key (the name Stripe and others use).
const ReplayedHeader = "Idempotent-Replayed"

// DefaultMaxKeyLength bounds a key, in bytes of its unquoted value.
const DefaultMaxKeyLength = 255

// Key syntax errors, for messages and tests.
var (
	errNotString  = errors.New(`the value must be an RFC 8941 sf-string: a quoted string such as "8e03978e-40d5-43e8-bc93-6894a57f9324"`)
	errEmpty      = errors.New("the key is empty")
	errUnquoted   = errors.New("the quoted string is not closed")
	errEscape     = errors.New(`only \" and \\ may be escaped in an sf-string`)
	errChar       = errors.New("an sf-string holds printable ASCII only (0x20-0x7E)")
	errTrailing   = errors.New("nothing may follow the quoted key (no parameters, no list)")
	errRepeated   = errors.New("the header is sent more than once")
	errTooLongFmt = "the key is longer than %d bytes"
)

// ParseKey reads the Idempotency-Key field value: an RFC 8941 Item whose
// bare item is an sf-string (§3.3.3), parsed per §4.2.5, surrounding spaces
// allowed (§4.2), parameters refused (the draft defines none, and a key
// that means two things is worse than a 400). It returns the unescaped key,
// 1 to maxLen bytes.
func ParseKey(v string, maxLen int) (string, error) {
	v = strings.Trim(v, " \t")
	if len(v) == 0 || v[0] != '"' {
		return "", errNotString
	}
	var b strings.Builder
	i := 1
	for {
		if i >= len(v) {
			return "", errUnquoted
		}
		c := v[i]
		i++
		switch {
		case c == '\\':
			if i >= len(v) {
				return "", errUnquoted
			}
			n := v[i]
			i++
			if n != '"' && n != '\\' {
				return "", errEscape
			}
			b.WriteByte(n)
		case c == '"':
			if i != len(v) {
				return "", errTrailing
			}
			k := b.String()
			if k == "" {
				return "", errEmpty
			}
			if len(k) > maxLen {
				return "", fmt.Errorf(errTooLongFmt, maxLen)
			}
			return k, nil
		case c < 0x20 || c > 0x7e:
			return "", errChar
		default:
			b.WriteByte(c)
		}
		if b.Len() > maxLen {
			return "", fmt.Errorf(errTooLongFmt, maxLen)
		}
	}
}

// keyOf returns the request's key: present false when it sent none, an
// error when it sent one that is not well-formed (or several).
func keyOf(h http.Header, maxLen int) (key string, present bool, err error) {
	vs := h.Values(HeaderName)
	switch len(vs) {
	case 0:
		return "", false, nil
	case 1:
	default:
		return "", true, errRepeated
	}
	k, err := ParseKey(vs[0], maxLen)
	return k, true, err
}

// fingerprintHeaders are the request headers that change what a request
// asks, beyond its method, target and body: the media type of the body and
// the preconditions (a PATCH with If-Match "v2" is not a retry of the one
// with If-Match "v1" that got 412).
var fingerprintHeaders = []string{"Content-Type", "If-Match", "If-None-Match", "If-Unmodified-Since"}

// fingerprint identifies what a request asks, so that a key reused for
// another request is told apart from a retry: HMAC-SHA256 (keyed by
// fingerprintKey) over the method, the path and the raw query as the
// client sent them, the fingerprintHeaders and the body's bytes, each
// length-prefixed. Other headers are not part of it (a retry may carry a
// new X-Request-Id, date or tracing header). Keyed, because the store
// keeps it next to the answer and a plain hash of a small body (a password
// change) is reversed by guessing.
func fingerprint(key []byte, method, path, rawQuery string, hdr http.Header, body []byte) string {
	h := hmac.New(sha256.New, key)
	for _, part := range []string{method, path, rawQuery} {
		writePart(h, []byte(part))
	}
	for _, name := range fingerprintHeaders {
		writePart(h, []byte(strings.Join(hdr.Values(name), "\n")))
	}
	writePart(h, body)
	return hex.EncodeToString(h.Sum(nil))
}

func writePart(h hash.Hash, b []byte) {
	var n [8]byte
	binary.BigEndian.PutUint64(n[:], uint64(len(b)))
	h.Write(n[:])
	h.Write(b)
}

// fingerprintKey derives the fingerprint's HMAC key from the gateway
// secret, which every gateway sharing a store has.
func fingerprintKey(secret []byte) []byte {
	m := hmac.New(sha256.New, secret)
	m.Write([]byte("hubgate idempotency fingerprint v1"))
	return m.Sum(nil)
}
