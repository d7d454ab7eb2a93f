package hubcache

import (
	"net/http"
	"sort"
	"strings"
	"time"
)

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
