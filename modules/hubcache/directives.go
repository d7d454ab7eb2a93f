package hubcache

import (
	"net/http"
	"strings"
	"time"
)

// directives is a parsed Cache-Control (or Surrogate-Control) field (RFC
// 9111 §5.2). Names are lowercased; a directive without argument maps to
// "". Arguments are kept as sent (quotes included): delta-seconds must not
// be quoted (§1.2.2), field-name lists are (§5.2.2.4).
type directives map[string]string

// conflicting marks a directive sent twice with different arguments
// (max-age=10, max-age=20): RFC 9111 §4.2.1 lets a cache treat the
// response as stale, which is what seconds does with it.
const conflicting = "\x00conflicting"

// parseCacheControl parses every Cache-Control field line of h. Unknown
// directives are kept (and ignored by the callers); a malformed part is
// skipped, as §5.2 asks of caches.
func parseCacheControl(h http.Header) directives {
	return parseDirectives(h.Values("Cache-Control"), "")
}

// parseDirectives parses directive lists. With target set (Surrogate-Control),
// a directive addressed to another surrogate (max-age=60;edge1) is dropped
// and one addressed to target keeps its name without the suffix.
func parseDirectives(lines []string, target string) directives {
	if len(lines) == 0 {
		return nil
	}
	d := directives{}
	for _, line := range lines {
		for _, part := range splitList(line) {
			if target != "" {
				var to string
				if i := strings.LastIndexByte(part, ';'); i >= 0 && !strings.Contains(part[i:], `"`) {
					part, to = part[:i], strings.TrimSpace(part[i+1:])
				}
				if to != "" && !strings.EqualFold(to, target) {
					continue
				}
			}
			name, arg, _ := strings.Cut(part, "=")
			name = strings.ToLower(strings.TrimSpace(name))
			if name == "" {
				continue
			}
			arg = strings.TrimSpace(arg)
			if old, ok := d[name]; ok && old != arg {
				arg = conflicting
			}
			d[name] = arg
		}
	}
	return d
}

// splitList splits a comma-separated field value, keeping commas inside
// quoted strings (no-cache="a, b").
func splitList(s string) []string {
	var out []string
	quoted, start := false, 0
	for i := 0; i < len(s); i++ {
		switch s[i] {
		case '"':
			quoted = !quoted
		case ',':
			if !quoted {
				out = append(out, strings.TrimSpace(s[start:i]))
				start = i + 1
			}
		}
	}
	return append(out, strings.TrimSpace(s[start:]))
}

func (d directives) has(name string) bool {
	_, ok := d[name]
	return ok
}

// maxDelta is the largest delta-seconds kept (RFC 9111 §1.2.2: larger
// values mean "a very long time").
const maxDelta = 1 << 31

// seconds reads a delta-seconds argument (RFC 9111 §1.2.2). present is
// false when the directive is absent; valid is false when its argument is
// not a bare non-negative integer (negative, decimal, quoted, missing or
// conflicting), which callers read as "stale" (§4.2.1).
func (d directives) seconds(name string) (v time.Duration, present, valid bool) {
	s, ok := d[name]
	if !ok {
		return 0, false, false
	}
	n, ok := parseDelta(s)
	if !ok {
		return 0, true, false
	}
	return time.Duration(n) * time.Second, true, true
}

// parseDelta parses 1*DIGIT, capped at maxDelta.
func parseDelta(s string) (int64, bool) {
	if s == "" || len(s) > 20 {
		return 0, false
	}
	var n int64
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c < '0' || c > '9' {
			return 0, false
		}
		if n < maxDelta {
			n = n*10 + int64(c-'0')
		}
	}
	return min(n, maxDelta), true
}

// fieldNames returns the field names a qualified no-cache or private
// lists (no-cache="Set-Cookie, X-Foo"), canonicalised; nil for the bare
// directive.
func (d directives) fieldNames(name string) []string {
	s := d[name]
	if s == "" || s == conflicting {
		return nil
	}
	s = strings.Trim(s, `"`)
	var out []string
	for _, f := range strings.Split(s, ",") {
		if f = strings.TrimSpace(f); f != "" {
			out = append(out, http.CanonicalHeaderKey(f))
		}
	}
	return out
}

// parseAge reads the Age field (RFC 9111 §5.1): the first member of the
// combined field lines. ok is false when it is absent; valid is false when
// that member is not a bare non-negative integer (negative, decimal, text,
// empty): such a response is treated as stale.
func parseAge(h http.Header) (age time.Duration, present, valid bool) {
	lines := h.Values("Age")
	if len(lines) == 0 {
		return 0, false, false
	}
	first, _, _ := strings.Cut(lines[0], ",")
	n, ok := parseDelta(strings.TrimSpace(first))
	if !ok {
		return 0, true, false
	}
	return time.Duration(n) * time.Second, true, true
}
