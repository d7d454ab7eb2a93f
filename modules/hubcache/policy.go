package hubcache

import (
	"net/http"
	"sort"
	"strconv"
	"strings"
	"time"
)

// directives is a parsed Cache-Control field (RFC 9111 §5.2). Names are
// lowercased; a directive without argument maps to "".
type directives map[string]string

// parseCacheControl parses every Cache-Control field line of h. Unknown
// directives are kept (and ignored by the callers); a quoted argument is
// unquoted; a malformed part is skipped, as §5.2 asks of caches.
func parseCacheControl(h http.Header) directives {
	lines := h.Values("Cache-Control")
	if len(lines) == 0 {
		return nil
	}
	d := directives{}
	for _, line := range lines {
		for _, part := range splitList(line) {
			name, arg, _ := strings.Cut(part, "=")
			name = strings.ToLower(strings.TrimSpace(name))
			if name == "" {
				continue
			}
			arg = strings.TrimSpace(arg)
			if len(arg) >= 2 && arg[0] == '"' && arg[len(arg)-1] == '"' {
				arg = arg[1 : len(arg)-1]
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

// seconds returns a delta-seconds argument (RFC 9111 §1.2.2); ok is false
// when the directive is absent or its argument invalid.
func (d directives) seconds(name string) (time.Duration, bool) {
	v, ok := d[name]
	if !ok {
		return 0, false
	}
	n, err := strconv.ParseInt(v, 10, 64)
	if err != nil || n < 0 {
		return 0, false
	}
	const maxDelta = 1 << 31 // §1.2.2: larger values mean "a very long time"
	if n > maxDelta {
		n = maxDelta
	}
	return time.Duration(n) * time.Second, true
}

// storePolicy is the decision on one upstream response.
type storePolicy struct {
	// store is false when the response must not be kept.
	store bool
	// reason says why not (a Cache-Status detail, bounded).
	reason string
	// ttl is how long the entry is fresh.
	ttl time.Duration
	// stale is how long after ttl it may still answer when the upstream fails.
	stale time.Duration
	// vary are the lowercased, sorted header names the response varies on.
	vary []string
}

// decideStore applies RFC 9111 to a 200 response to GET: routeTTL is the
// configured freshness, maxStale the configured stale-if-error window,
// bodyLen the size of the body (-1 when it overflowed the limit).
func decideStore(status int, h http.Header, routeTTL, maxStale time.Duration, now time.Time) storePolicy {
	if status != http.StatusOK {
		return storePolicy{reason: "status"}
	}
	if len(h.Values("Set-Cookie")) > 0 {
		// A cookie is for one client; replaying it to others (or again to
		// the same one) is never right.
		return storePolicy{reason: "set-cookie"}
	}
	cc := parseCacheControl(h)
	switch {
	case cc.has("no-store"):
		return storePolicy{reason: "no-store"}
	case cc.has("private"):
		// §5.2.2.7: a shared cache must not store it. Entries here are
		// partitioned per principal, but one principal (an API key) may be
		// used by many clients and shared routes have no partition, so the
		// gateway stays a shared cache and honours private (docs/cache.md).
		return storePolicy{reason: "private"}
	case cc.has("no-cache"):
		// §5.2.2.4: storable, but every use needs validation; without
		// conditional revalidation that is the same as not storing.
		return storePolicy{reason: "no-cache"}
	}
	vary, ok := varyNames(h)
	if !ok {
		return storePolicy{reason: "vary"}
	}
	p := storePolicy{store: true, ttl: routeTTL, stale: maxStale, vary: vary}
	// §5.2.2.10: s-maxage overrides max-age and Expires for a shared cache.
	if v, ok := cc.seconds("s-maxage"); ok {
		p.ttl = min(p.ttl, v)
		p.stale = 0 // s-maxage carries proxy-revalidate
	} else if v, ok := cc.seconds("max-age"); ok {
		p.ttl = min(p.ttl, v)
	} else if exp := h.Get("Expires"); exp != "" {
		// §5.3: an invalid Expires means "already expired".
		t, err := http.ParseTime(exp)
		if err != nil {
			return storePolicy{reason: "expires"}
		}
		base := now
		if d, err := http.ParseTime(h.Get("Date")); err == nil {
			base = d
		}
		p.ttl = min(p.ttl, t.Sub(base))
	}
	// §4.2.3: time already spent in caches upstream counts against
	// freshness. ttl is the freshness lifetime: the entry's stored time is
	// set back by Age (upstreamAge), so Age is counted there, once; it is
	// only used here to refuse a response that arrives already stale.
	expired := p.ttl <= 0
	if age, err := strconv.ParseInt(h.Get("Age"), 10, 64); err == nil && age > 0 {
		expired = expired || time.Duration(age)*time.Second >= p.ttl
	}
	if cc.has("must-revalidate") || cc.has("proxy-revalidate") {
		p.stale = 0 // §5.2.2.2: never served stale
	} else if v, ok := cc.seconds("stale-if-error"); ok {
		p.stale = min(p.stale, v) // RFC 5861 §4
	}
	if expired {
		return storePolicy{reason: "expired"}
	}
	return p
}

// varyNames returns the lowercased, sorted field names of Vary; ok is false
// for "Vary: *", which no cache can match (RFC 9111 §4.1).
func varyNames(h http.Header) ([]string, bool) {
	var names []string
	for _, line := range h.Values("Vary") {
		for _, n := range strings.Split(line, ",") {
			n = strings.ToLower(strings.TrimSpace(n))
			switch n {
			case "":
			case "*":
				return nil, false
			default:
				names = append(names, n)
			}
		}
	}
	sort.Strings(names)
	return compactStrings(names), true
}

func compactStrings(s []string) []string {
	out := s[:0]
	for i, v := range s {
		if i == 0 || v != s[i-1] {
			out = append(out, v)
		}
	}
	return out
}

// requestPolicy is what the request's own Cache-Control asks (§5.2.1).
type requestPolicy struct {
	// noStore: neither use nor store (§5.2.1.5).
	noStore bool
	// revalidate: do not answer from the cache, fetch and store (§5.2.1.4).
	revalidate bool
	// onlyIfCached: answer 504 rather than forward (§5.2.1.7).
	onlyIfCached bool
	// maxAge, when ≥ 0, is the oldest acceptable entry (§5.2.1.1).
	maxAge time.Duration
}

func parseRequestPolicy(h http.Header) requestPolicy {
	p := requestPolicy{maxAge: -1}
	cc := parseCacheControl(h)
	if cc == nil {
		// RFC 9111 §5.4: Pragma: no-cache only when Cache-Control is absent.
		for _, v := range h.Values("Pragma") {
			if strings.Contains(strings.ToLower(v), "no-cache") {
				p.revalidate = true
			}
		}
		return p
	}
	p.noStore = cc.has("no-store")
	p.revalidate = cc.has("no-cache")
	p.onlyIfCached = cc.has("only-if-cached")
	if v, ok := cc.seconds("max-age"); ok {
		p.maxAge = v
		if v == 0 {
			p.revalidate = true
		}
	}
	return p
}
