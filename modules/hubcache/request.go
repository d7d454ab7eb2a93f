package hubcache

import (
	"net/http"
	"strings"
	"time"
)

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
