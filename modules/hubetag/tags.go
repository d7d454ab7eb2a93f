package hubetag

import (
	"crypto/sha256"
	"encoding/base64"
	"strconv"
	"strings"
)

// entityTag is one entity-tag of RFC 9110 §8.8.3: an opaque quoted string,
// weak when prefixed with W/.
type entityTag struct {
	weak   bool
	opaque string // between the quotes
}

// String writes the tag back in its wire form.
func (t entityTag) String() string {
	if t.weak {
		return `W/"` + t.opaque + `"`
	}
	return `"` + t.opaque + `"`
}

// maxTags bounds how many tags of one header are looked at: a client gains
// nothing from a longer list, and the bound keeps the work per request small.
const maxTags = 64

// tagList is a parsed If-Match or If-None-Match field.
type tagList struct {
	present bool // the field was sent
	any     bool // "*"
	tags    []entityTag
}

// parseTagList reads the field lines of If-Match or If-None-Match:
// "*" or a comma-separated list of entity-tags (RFC 9110 §13.1.1). The
// opaque part may itself hold commas, so the list is scanned rather than
// split. Invalid members are skipped: they can match no tag of ours, which
// is what RFC 9110 asks of an unknown tag (Go's net/http reads them the same
// way).
func parseTagList(values []string) tagList {
	l := tagList{present: len(values) > 0}
	for _, v := range values {
		for v != "" && len(l.tags) < maxTags {
			v = strings.TrimLeft(v, " \t,")
			if v == "" {
				break
			}
			if v[0] == '*' {
				if rest := strings.TrimLeft(v[1:], " \t"); rest == "" || rest[0] == ',' {
					l.any = true
					v = rest
					continue
				}
			}
			t, rest, ok := scanTag(v)
			if ok {
				l.tags = append(l.tags, t)
			} else {
				// Skip to the next comma outside any quoted string.
				rest = skipMember(v)
			}
			v = rest
		}
	}
	return l
}

// scanTag reads one entity-tag at the start of s and requires it to be
// followed by the end of s, whitespace or a comma.
func scanTag(s string) (entityTag, string, bool) {
	var t entityTag
	if strings.HasPrefix(s, "W/") {
		t.weak = true
		s = s[2:]
	}
	if len(s) < 2 || s[0] != '"' {
		return t, s, false
	}
	for i := 1; i < len(s); i++ {
		c := s[i]
		switch {
		case c == '"':
			t.opaque = s[1:i]
			rest := strings.TrimLeft(s[i+1:], " \t")
			if rest != "" && rest[0] != ',' {
				return t, s, false
			}
			return t, rest, true
		// etagc = %x21 / %x23-7E / obs-text
		case c == 0x21 || (c >= 0x23 && c != 0x7F):
		default:
			return t, s, false
		}
	}
	return t, s, false
}

// skipMember returns s after its first comma that is outside quotes.
func skipMember(s string) string {
	quoted := false
	for i := 0; i < len(s); i++ {
		switch s[i] {
		case '"':
			quoted = !quoted
		case ',':
			if !quoted {
				return s[i+1:]
			}
		}
	}
	return ""
}

// hashLen is the length of the hash part of our tags: base64url of the
// first 12 bytes of SHA-256 (96 bits: a collision between two
// representations of one resource is out of reach).
const hashLen = 16

// computeTag returns the strong entity-tag of body as sent. When the
// upstream's tag of the untransformed representation names a row version
// ("v3"), the tag carries it ("v3.<hash>"), so a write can be made
// conditional on that version whichever representation the client saw.
func computeTag(upstream string, body []byte) string {
	sum := sha256.Sum256(body)
	var b [hashLen]byte
	base64.RawURLEncoding.Encode(b[:], sum[:12])
	if v, ok := upstreamVersion(upstream); ok {
		return `"v` + strconv.FormatInt(v, 10) + "." + string(b[:]) + `"`
	}
	return `"` + string(b[:]) + `"`
}

// upstreamVersion reads the upstream's strong tag "v<N>".
func upstreamVersion(tag string) (int64, bool) {
	t, rest, ok := scanTag(tag)
	if !ok || rest != "" || t.weak {
		return 0, false
	}
	return parseVersion(t.opaque)
}

// parseVersion reads "v<N>" with N a positive integer without leading zeros.
func parseVersion(s string) (int64, bool) {
	if len(s) < 2 || s[0] != 'v' || s[1] == '0' {
		return 0, false
	}
	n, err := strconv.ParseInt(s[1:], 10, 64)
	if err != nil || n < 1 || s[1] == '+' {
		return 0, false
	}
	return n, true
}

// tagVersion returns the row version an opaque tag names: "v3" (the
// upstream's own tag) or "v3.<hash>" (ours), each possibly followed by a
// content-coding suffix "-gzip" that Caddy's encode appends to strong tags
// (RFC 9110 §8.8.3.3). encode removes that suffix from If-None-Match only,
// so it is removed here for If-Match.
func tagVersion(opaque string) (int64, bool) {
	head, hash, dotted := strings.Cut(opaque, ".")
	if !dotted {
		head, _, _ = strings.Cut(head, "-")
		return parseVersion(head)
	}
	if len(hash) < hashLen || !isBase64URL(hash[:hashLen]) {
		return 0, false
	}
	if suffix := hash[hashLen:]; suffix != "" && !isCoding(suffix) {
		return 0, false
	}
	return parseVersion(head)
}

// isCoding reports whether s is "-<token>", the suffix encode appends.
func isCoding(s string) bool {
	if len(s) < 2 || s[0] != '-' {
		return false
	}
	for _, c := range []byte(s[1:]) {
		if !(c >= 'a' && c <= 'z' || c >= '0' && c <= '9') {
			return false
		}
	}
	return true
}

func isBase64URL(s string) bool {
	for _, c := range []byte(s) {
		if !(c >= 'A' && c <= 'Z' || c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == '-' || c == '_') {
			return false
		}
	}
	return true
}

// weakMatch is the weak comparison of RFC 9110 §8.8.3.2: the opaque parts
// are equal, W/ ignored. If-None-Match uses it.
func (l tagList) weakMatch(current entityTag) bool {
	if l.any {
		return true
	}
	for _, t := range l.tags {
		if t.opaque == current.opaque {
			return true
		}
	}
	return false
}

// stateMatch is If-Match's comparison: strong (RFC 9110 §13.1.1), so a weak
// tag on either side never matches, and by resource state. A tag that
// names a row version matches a current tag naming the same version,
// whichever representation (v1, v2, ?fields=) each was taken from: the
// version is what the upstream compares atomically on a write, and a
// lost-update check is about the state, not about the bytes one client
// saw. Other tags must be equal byte for byte.
func (l tagList) stateMatch(current entityTag) bool {
	if l.any {
		return true
	}
	if current.weak {
		return false
	}
	cv, versioned := tagVersion(current.opaque)
	for _, t := range l.tags {
		if t.weak {
			continue
		}
		if t.opaque == current.opaque {
			return true
		}
		if v, ok := tagVersion(t.opaque); ok && versioned && v == cv {
			return true
		}
	}
	return false
}

// forwardIfMatch is the If-Match to send upstream for a write: each tag
// naming a row version becomes the upstream's own "v<N>", so the upstream's
// atomic compare-and-write decides (of two concurrent writers with the same
// tag, exactly one wins). When no tag names a version, "v0" is sent, which
// matches no row: the upstream then answers 404 for a missing row and 412
// for an existing one, so a precondition never hides a 404 (RFC 9110
// §13.2.1) and costs no extra round trip.
func forwardIfMatch(l tagList) string {
	if l.any {
		return "*"
	}
	out := versionTags(l, false)
	if out == "" {
		return `"v0"`
	}
	return out
}

// forwardIfNoneMatch is the If-None-Match to send upstream for a write
// (weak comparison: W/ tags count). Tags naming no version can match no
// state of the row, so they are dropped; "" means the field can be removed
// (its condition is true whatever the row's version).
func forwardIfNoneMatch(l tagList) string {
	if l.any {
		return "*"
	}
	return versionTags(l, true)
}

// versionTags lists the distinct versions named by l as upstream tags.
func versionTags(l tagList, weakToo bool) string {
	var b strings.Builder
	seen := make(map[int64]bool, len(l.tags))
	for _, t := range l.tags {
		if t.weak && !weakToo {
			continue
		}
		v, ok := tagVersion(t.opaque)
		if !ok || seen[v] {
			continue
		}
		seen[v] = true
		if b.Len() > 0 {
			b.WriteString(", ")
		}
		b.WriteString(`"v` + strconv.FormatInt(v, 10) + `"`)
	}
	return b.String()
}
