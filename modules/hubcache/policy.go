package hubcache

import (
	"net/http"
	"sort"
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

// Mode says where a route's freshness comes from.
const (
	// ModeDefault: the route TTL is the freshness of 200s that carry no
	// explicit freshness; the origin's explicit freshness wins (capped by
	// max_ttl).
	ModeDefault = "default"
	// ModeOrigin: only the origin's explicit freshness and RFC 9111
	// §4.2.2 heuristics.
	ModeOrigin = "origin"
	// ModeOverride: the route TTL is the freshness of every stored 200;
	// the origin's explicit freshness may only shorten it (hub_cache's
	// behaviour before modes existed).
	ModeOverride = "override"
)

// understood are the final statuses this cache may store (RFC 9111 §3):
// 206 is not (ranges are answered from full 200s), 304 refreshes.
var understood = map[int]bool{
	200: true, 203: true, 204: true, 300: true, 301: true, 302: true, 307: true, 308: true,
	404: true, 405: true, 410: true, 414: true, 451: true, 501: true,
}

// heuristic are the statuses "heuristically cacheable" (RFC 9110 §15.1)
// minus 206.
var heuristic = map[int]bool{
	200: true, 203: true, 204: true, 300: true, 301: true, 308: true,
	404: true, 405: true, 410: true, 414: true, 501: true,
}

// maxHeuristic bounds a Last-Modified heuristic (§4.2.2).
const maxHeuristic = 24 * time.Hour

// storeInput is what decideStore looks at.
type storeInput struct {
	status   int
	header   http.Header
	mode     string        // ModeDefault, ModeOrigin or ModeOverride
	routeTTL time.Duration // the route's TTL (0 in origin mode)
	maxTTL   time.Duration // cap of explicit freshness in default mode (0: none)
	maxStale time.Duration // configured stale-if-error window
	shared   bool          // shared route: Surrogate-Control applies
	// auth: the request carried Authorization and its entry is not keyed
	// by a verified caller (a shared route, or no identity): §3.5 applies.
	auth bool
	now  time.Time
}

// storePolicy is the decision on one upstream response.
type storePolicy struct {
	// store is false when the response must not be kept.
	store bool
	// reason says why not (a Cache-Status detail, bounded).
	reason string
	// ttl is how long the entry is fresh (0: every use is validated).
	ttl time.Duration
	// stale is how long after ttl it may still answer when the upstream fails.
	stale time.Duration
	// swr is how long after ttl it may answer while it is refreshed in
	// the background (RFC 5861 §3).
	swr time.Duration
	// mustRevalidate forbids stale answers a request's max-stale asks for.
	mustRevalidate bool
	// strip are fields a qualified no-cache or private keeps out of the
	// stored response.
	strip []string
	// vary are the lowercased, sorted header names the response varies on.
	vary []string
}

func noStore(reason string) storePolicy { return storePolicy{reason: reason} }

// decideStore applies RFC 9111 §3 and §4.2 (and RFC 5861) to the answer to
// a GET, within the route's mode.
func decideStore(in storeInput) storePolicy {
	h := in.header
	if !understood[in.status] {
		return noStore("status")
	}
	if len(h.Values("Set-Cookie")) > 0 {
		// A cookie is for one client; replaying it to others (or again to
		// the same one) is never right.
		return noStore("set-cookie")
	}
	cc := parseCacheControl(h)
	var sc directives
	if in.shared {
		// Surrogate-Control is addressed to gateway caches (Varnish,
		// Fastly read it): it wins over Cache-Control here.
		sc = parseDirectives(h.Values("Surrogate-Control"), cacheName)
	}
	p := storePolicy{store: true, stale: in.maxStale}
	switch {
	case cc.has("no-store") || sc.has("no-store"):
		return noStore("no-store")
	case cc.has("private"):
		// §5.2.2.7: a shared cache must not store it. Entries here are
		// partitioned per principal, but one principal (an API key) may be
		// used by many clients and shared routes have no partition, so the
		// gateway stays a shared cache and honours private (docs/cache.md).
		// private="X" only keeps X out of the stored response.
		names := cc.fieldNames("private")
		if names == nil {
			return noStore("private")
		}
		p.strip = append(p.strip, names...)
	}
	// §3.5: where entries are shared, the answer to an authorized request
	// is for that caller unless the origin says otherwise.
	if in.auth && !cc.has("public") && !cc.has("s-maxage") && !cc.has("must-revalidate") {
		return noStore("authorization")
	}
	vary, ok := varyNames(h)
	if !ok {
		return noStore("vary")
	}
	p.vary = vary
	hasValidator := h.Get("ETag") != "" || h.Get("Last-Modified") != ""

	explicit, hasExplicit := explicitFreshness(cc, sc, h, in.now)
	switch {
	case hasExplicit && in.mode == ModeOverride:
		p.ttl = min(explicit, in.routeTTL)
	case hasExplicit:
		p.ttl = explicit
		if in.mode == ModeDefault && in.maxTTL > 0 {
			p.ttl = min(p.ttl, in.maxTTL)
		}
	case in.status == http.StatusOK && in.mode != ModeOrigin:
		p.ttl = in.routeTTL
	case heuristic[in.status] || cc.has("public"):
		p.ttl = heuristicFreshness(h, in.now)
		if p.ttl == 0 && !hasValidator {
			return noStore("no-freshness")
		}
		if in.mode == ModeOverride {
			p.ttl = min(p.ttl, in.routeTTL)
		} else if in.mode == ModeDefault && in.maxTTL > 0 {
			p.ttl = min(p.ttl, in.maxTTL)
		}
	default:
		return noStore("no-freshness")
	}
	p.ttl = max(0, min(p.ttl, maxLifetime))

	if cc.has("must-revalidate") || cc.has("proxy-revalidate") || cc.has("s-maxage") {
		// §5.2.2.2, §5.2.2.8, §5.2.2.10: never served stale.
		p.stale, p.mustRevalidate = 0, true
	} else {
		if v, _, ok := cc.seconds("stale-if-error"); ok {
			p.stale = min(p.stale, v) // RFC 5861 §4, within max_stale
		}
		if v, _, ok := cc.seconds("stale-while-revalidate"); ok {
			p.swr = min(v, maxLifetime) // RFC 5861 §3
		}
	}
	if cc.has("no-cache") {
		names := cc.fieldNames("no-cache")
		if names == nil {
			// §5.2.2.4: storable, but every use is validated first.
			if !hasValidator {
				return noStore("no-cache")
			}
			p.ttl, p.stale, p.swr, p.mustRevalidate = 0, 0, 0, true
		} else {
			// no-cache="X": reusable without X (§5.2.2.4).
			p.strip = append(p.strip, names...)
		}
	}
	// §5.1: an invalid Age makes the response stale; a valid one counts
	// against freshness once (the entry's stored time is set back by it).
	age, agePresent, ageValid := parseAge(h)
	if agePresent && !ageValid {
		p.ttl = 0
	}
	if (p.ttl == 0 || age >= p.ttl) && !hasValidator && p.swr == 0 {
		return noStore("expired")
	}
	return p
}

// explicitFreshness is the freshness lifetime the origin states (§4.2.1):
// Surrogate-Control max-age (shared routes), s-maxage, max-age, then
// Expires − Date. An invalid value (negative, decimal, quoted, repeated
// with different values) is explicit and zero: the response is stale.
func explicitFreshness(cc, sc directives, h http.Header, now time.Time) (time.Duration, bool) {
	for _, d := range []struct {
		dirs directives
		name string
	}{{sc, "max-age"}, {cc, "s-maxage"}, {cc, "max-age"}} {
		if v, present, ok := d.dirs.seconds(d.name); present {
			if !ok {
				return 0, true
			}
			return v, true
		}
	}
	exps := h.Values("Expires")
	if len(exps) == 0 {
		return 0, false
	}
	// §5.3: an invalid Expires (or several) means "already expired".
	t, err := http.ParseTime(exps[0])
	if err != nil || len(exps) > 1 {
		return 0, true
	}
	base := now
	if d, err := http.ParseTime(h.Get("Date")); err == nil {
		base = d
	}
	return max(0, t.Sub(base)), true
}

// heuristicFreshness is 10% of the time since Last-Modified (§4.2.2),
// at most a day; 0 without Last-Modified.
func heuristicFreshness(h http.Header, now time.Time) time.Duration {
	lm, err := http.ParseTime(h.Get("Last-Modified"))
	if err != nil {
		return 0
	}
	base := now
	if d, err := http.ParseTime(h.Get("Date")); err == nil {
		base = d
	}
	if !lm.Before(base) {
		return 0
	}
	return min(base.Sub(lm)/10, maxHeuristic)
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
	// revalidate: do not answer from the cache without validating with
	// the origin first (§5.2.1.4, max-age=0, Pragma: no-cache).
	revalidate bool
	// onlyIfCached: answer 504 rather than forward (§5.2.1.7).
	onlyIfCached bool
	// maxAge, when ≥ 0, is the oldest acceptable entry (§5.2.1.1).
	maxAge time.Duration
	// maxStale, when ≥ 0, is how stale an acceptable entry may be
	// (§5.2.1.2); staleAny: max-stale without a value.
	maxStale time.Duration
	staleAny bool
	// minFresh is how long an entry must stay fresh (§5.2.1.3).
	minFresh time.Duration
}

func parseRequestPolicy(h http.Header) requestPolicy {
	p := requestPolicy{maxAge: -1, maxStale: -1}
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
	// An invalid request argument is ignored (the request asks nothing).
	if v, _, ok := cc.seconds("max-age"); ok {
		p.maxAge = v
		if v == 0 {
			p.revalidate = true
		}
	}
	if v, present, ok := cc.seconds("max-stale"); ok {
		p.maxStale = v
	} else if present && cc["max-stale"] == "" {
		p.staleAny = true
	}
	if v, _, ok := cc.seconds("min-fresh"); ok {
		p.minFresh = v
	}
	return p
}

// accepts reports whether an entry satisfies the request without
// contacting the origin (§4.2, §5.2.1): fresh enough for max-age and
// min-fresh, or stale within max-stale when the origin allows stale use.
func (p requestPolicy) accepts(e *entry, now time.Time) bool {
	if p.revalidate {
		return false
	}
	age := e.age(now)
	if p.maxAge >= 0 && age > p.maxAge {
		return false
	}
	left := e.ttl - age
	if left > 0 {
		return left >= p.minFresh
	}
	if e.mustRevalidate {
		return false // §4.2.4: never stale without validation
	}
	return p.staleAny || (p.maxStale >= 0 && -left <= p.maxStale)
}
