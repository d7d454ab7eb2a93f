package auditchain

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"errors"
	"net/netip"
	"strings"
)

// AnonymizeIP returns the network of addr that the retention job keeps:
// the /24 of an IPv4 address, the /48 of an IPv6 one ("203.0.113.0/24",
// "2001:db8:1::/48"). A value that already is such a prefix is returned as
// it is, so anonymizing twice changes nothing; anything unparsable becomes "".
func AnonymizeIP(addr string) string {
	if addr == "" {
		return ""
	}
	if p, err := netip.ParsePrefix(addr); err == nil {
		if (p.Addr().Is4() && p.Bits() == 24) || (p.Addr().Is6() && p.Bits() == 48) {
			return p.Masked().String()
		}
		return ""
	}
	a, err := netip.ParseAddr(addr)
	if err != nil {
		return ""
	}
	a = a.Unmap().WithZone("")
	bits := 48
	if a.Is4() {
		bits = 24
	}
	p, _ := a.Prefix(bits)
	return p.String()
}

// sensitiveWords are the parts of a member name that mark its value as a
// secret: such values are replaced by Redacted wherever they appear.
var sensitiveWords = []string{"password", "passwd", "secret", "token", "key", "authorization", "cookie", "credential", "hash", "signature"}

// Redacted replaces the value of a sensitive member.
const Redacted = "[REDACTED]"

// Sensitive reports whether a JSON member named name may hold a secret
// (password, client_secret, api_key, access_token, password_hash…). The
// match is on words, case-insensitive: "keyword" is sensitive too, which
// errs on the side of hiding.
func Sensitive(name string) bool {
	n := strings.ToLower(name)
	for _, w := range sensitiveWords {
		if strings.Contains(n, w) {
			return true
		}
	}
	return false
}

// Redact returns v with the value of every sensitive member, at any depth,
// replaced by Redacted.
func Redact(v any) any {
	switch t := v.(type) {
	case map[string]any:
		out := make(map[string]any, len(t))
		for k, x := range t {
			if Sensitive(k) {
				out[k] = Redacted
			} else {
				out[k] = Redact(x)
			}
		}
		return out
	case []any:
		out := make([]any, len(t))
		for i, x := range t {
			out[i] = Redact(x)
		}
		return out
	}
	return v
}

// ChangesHeader is the response header in which the upstream reports the
// before and after states of a write; the gateway's hub_audit records it
// and removes it from the response.
const ChangesHeader = "X-Hub-Changes"

// MaxChanges bounds the JSON of one changes report, in bytes. A larger
// report is replaced by {"truncated": true, "fields": […]} naming the
// changed members only.
const MaxChanges = 6 << 10

// ErrBadChanges is a changes header that is not base64url JSON of an object.
var ErrBadChanges = errors.New("malformed changes header")

// EncodeChanges builds the header value for a write whose row went from
// before to after (nil for a creation or a deletion): base64url (no
// padding) of compact JSON {"before": {...}, "after": {...}}, where for
// updates only the members that differ are kept. Sensitive members are
// redacted before anything leaves the upstream.
func EncodeChanges(before, after map[string]any) string {
	b, a := before, after
	if before != nil && after != nil {
		b, a = map[string]any{}, map[string]any{}
		for k, v := range after {
			old, ok := before[k]
			if !ok || !sameJSON(old, v) {
				b[k], a[k] = old, v
			}
		}
		for k, v := range before {
			if _, ok := after[k]; !ok {
				b[k] = v
			}
		}
	}
	doc, _ := json.Marshal(map[string]any{"before": Redact(nilIfEmpty(b)), "after": Redact(nilIfEmpty(a))})
	if len(doc) > MaxChanges {
		fields := make([]string, 0, len(a)+len(b))
		for k := range a {
			fields = append(fields, k)
		}
		for k := range b {
			if _, ok := a[k]; !ok {
				fields = append(fields, k)
			}
		}
		doc, _ = json.Marshal(map[string]any{"truncated": true, "fields": fields})
		if len(doc) > MaxChanges {
			doc = []byte(`{"truncated":true}`)
		}
	}
	return base64.RawURLEncoding.EncodeToString(doc)
}

func nilIfEmpty(m map[string]any) any {
	if m == nil {
		return nil
	}
	return m
}

func sameJSON(a, b any) bool {
	x, err1 := json.Marshal(a)
	y, err2 := json.Marshal(b)
	return err1 == nil && err2 == nil && bytes.Equal(x, y)
}

// DecodeChanges reads a header built by EncodeChanges and returns compact
// JSON with sensitive members redacted (again: the gateway trusts no
// upstream to have done it). Reports over MaxChanges are refused.
func DecodeChanges(h string) (json.RawMessage, error) {
	if h == "" {
		return nil, nil
	}
	if base64.RawURLEncoding.DecodedLen(len(h)) > MaxChanges {
		return nil, ErrBadChanges
	}
	raw, err := base64.RawURLEncoding.DecodeString(strings.TrimRight(h, "="))
	if err != nil {
		return nil, ErrBadChanges
	}
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.UseNumber() // keep numbers exactly as sent
	var v map[string]any
	if err := dec.Decode(&v); err != nil || dec.More() {
		return nil, ErrBadChanges
	}
	out, err := json.Marshal(Redact(v))
	if err != nil {
		return nil, ErrBadChanges
	}
	return out, nil
}
