package hubcache

import (
	"crypto/sha256"
	"encoding/hex"
	"net/http"
	"net/url"
	"path"
	"sort"
	"strings"

	"github.com/hubchantier/hubgate/modules/hub"
)

// excludedParams are query parameters left out of the cache key: field
// selection (hub_fields) is applied to the full representation after the
// cache, so ?fields=a and ?fields=b share one entry.
var excludedParams = map[string]bool{"fields": true}

// normalizeQuery returns the query in a canonical form: parameters sorted by
// name, the values of one name kept in their order (?sort=a&sort=b differs
// from ?sort=b&sort=a), excluded parameters dropped. ok is false for a query
// that does not parse; such requests are not cached, since the upstream
// might read them differently from us.
func normalizeQuery(raw string) (string, bool) {
	if raw == "" {
		return "", true
	}
	v, err := url.ParseQuery(raw)
	if err != nil {
		return "", false
	}
	for k := range excludedParams {
		delete(v, k)
	}
	return v.Encode(), true // Encode sorts by key
}

// partitionOf describes who is asking, for the cache key: the subject, the
// role, the authentication method, the key id or OAuth2 client id and the
// sorted scopes. It is on purpose finer than hub.PrincipalOf (which counts
// callers for limits): two keys of one user with different scopes, or one
// user before and after a role change, see different things and must not
// share entries. Every anonymous caller shares one partition.
func partitionOf(id *hub.Identity) string {
	if id.Anonymous() || id.Subject == "" {
		return anonymousPartition
	}
	scopes := append([]string(nil), id.Scopes...)
	sort.Strings(scopes)
	var b strings.Builder
	for _, s := range []string{id.Subject, id.Role, id.Method, id.KeyID, id.ClientID} {
		b.WriteString(escapeField(s))
		b.WriteByte('\x1f')
	}
	for _, s := range scopes {
		b.WriteString(escapeField(s))
		b.WriteByte(' ')
	}
	return b.String()
}

// escapeField keeps separator bytes out of key fields, so that no two
// different field lists produce the same key material.
func escapeField(s string) string {
	if !strings.ContainsAny(s, "\x1e\x1f \\") {
		return s
	}
	r := strings.NewReplacer(`\`, `\\`, "\x1e", `\x1e`, "\x1f", `\x1f`, " ", `\s`)
	return r.Replace(s)
}

// anonymousPartition is the cache partition of callers without a subject.
const anonymousPartition = "anonymous"

// requestKey is what a request is cached under, before Vary.
type requestKey struct {
	// material is the primary key material (never stored: it may hold ids).
	material string
	// hash is hex SHA-256 of material: the only form that reaches the store.
	hash string
	// tags are the hashed tags every entry of this request carries.
	tags []string
}

// buildKey computes the primary key of a GET/HEAD request: method (HEAD is
// answered from GET entries), host, path, normalized query and, unless the
// route is shared, the principal.
func buildKey(r *http.Request, query string, shared bool) requestKey {
	var b strings.Builder
	b.WriteString("GET\x1e")
	b.WriteString(strings.ToLower(r.Host))
	b.WriteByte('\x1e')
	b.WriteString(r.URL.EscapedPath())
	b.WriteByte('\x1e')
	b.WriteString(query)
	b.WriteByte('\x1e')
	id := hub.IdentityOf(r)
	if shared {
		b.WriteString("*shared*")
	} else {
		b.WriteString(partitionOf(id))
	}
	k := requestKey{material: b.String()}
	k.hash = hashHex(k.material)
	k.tags = requestTags(r.URL.Path, k.hash, id, shared)
	return k
}

// varyKey extends a primary key with the request's values of the headers
// the stored response varies on (RFC 9111 §4.1).
func varyKey(primary requestKey, names []string, h http.Header) requestKey {
	var b strings.Builder
	b.WriteString(primary.material)
	for _, n := range names {
		b.WriteString("\x1e")
		b.WriteString(n)
		b.WriteByte('=')
		// Several field lines are one list (RFC 9110 §5.3), normalised.
		b.WriteString(escapeField(normalizeVary(n, h.Values(n))))
	}
	k := requestKey{material: b.String(), tags: primary.tags}
	k.hash = hashHex(k.material)
	return k
}

// Tags name what an entry depends on. Each tag has a generation in the
// store; an entry records the generations of its tags when it is filled and
// is valid only while they are unchanged, so invalidating a tag is one
// write whatever the number of entries. Tags are hashed: no path, id or
// user id appears in a store key.
const (
	tagExact     = "x:" // the resource at exactly this path (item or collection)
	tagPrefix    = "p:" // anything under this path (purge by prefix)
	tagPrincipal = "u:" // everything cached for this subject (erasure)
	tagKey       = "k:" // one primary key (purge by key)
	tagCustom    = "t:" // a Cache-Tag / Surrogate-Key from the upstream
)

// requestTags lists the tags of a request: its exact path, every path
// prefix at a segment boundary, its primary key and the subject.
func requestTags(p string, keyHash string, id *hub.Identity, shared bool) []string {
	p = cleanPath(p)
	tags := []string{hashTag(tagKey + keyHash), hashTag(tagExact + p)}
	for _, pre := range prefixes(p) {
		tags = append(tags, hashTag(tagPrefix+pre))
	}
	if !shared && id != nil && id.Subject != "" {
		tags = append(tags, hashTag(tagPrincipal+id.Subject))
	}
	return tags
}

// prefixes returns /a, /a/b, /a/b/c for /a/b/c.
func prefixes(p string) []string {
	var out []string
	for i := 1; i < len(p); i++ {
		if p[i] == '/' {
			out = append(out, p[:i])
		}
	}
	if p != "/" {
		out = append(out, p)
	}
	return out
}

// cleanPath is the path without a trailing slash ("/" stays "/").
func cleanPath(p string) string {
	if p == "" {
		return "/"
	}
	c := path.Clean(p)
	if c == "." {
		return "/"
	}
	return c
}

// hashTag is the store name of a tag's generation.
func hashTag(tag string) string {
	sum := sha256.Sum256([]byte(tag))
	return hex.EncodeToString(sum[:16])
}

func hashHex(s string) string {
	sum := sha256.Sum256([]byte(s))
	return hex.EncodeToString(sum[:])
}
