package hubcache

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/caddyserver/caddy/v2/modules/caddyhttp"

	"github.com/hubchantier/hubgate/internal/problem"
	"github.com/hubchantier/hubgate/modules/hub"
)

// cacheName is this cache's name in Cache-Status (RFC 9211 §2).
const cacheName = "hubgate"

// ServeHTTP answers reads from the cache and invalidates on writes.
func (h *Handler) ServeHTTP(w http.ResponseWriter, r *http.Request, next caddyhttp.Handler) error {
	switch r.Method {
	case http.MethodGet, http.MethodHead:
		rt := h.route(r.URL.Path)
		if rt == nil || rt.Off {
			return next.ServeHTTP(&tagStripper{ResponseWriter: w}, r)
		}
		return h.serveRead(w, r, next, rt)
	case http.MethodOptions, http.MethodTrace:
		// Safe methods (RFC 9110 §9.2.1) that this cache does not store.
		return next.ServeHTTP(&tagStripper{ResponseWriter: w}, r)
	default:
		// RFC 9111 §4.4: every unsafe method invalidates, known or not.
		return h.serveWrite(w, r, next)
	}
}

// bypass forwards a cacheable request without using the cache.
func (h *Handler) bypass(w http.ResponseWriter, r *http.Request, next caddyhttp.Handler, fwd, detail string) error {
	cacheMetrics().requests.WithLabelValues(resultBypass).Inc()
	status := cacheName + "; fwd=" + fwd
	if detail != "" {
		status += "; detail=" + detail
	}
	w.Header().Set("Cache-Status", status)
	return next.ServeHTTP(&tagStripper{ResponseWriter: w}, r)
}

// serveRead handles a GET or HEAD on a cached route.
func (h *Handler) serveRead(w http.ResponseWriter, r *http.Request, next caddyhttp.Handler, rt *Route) error {
	switch {
	case r.Header.Get("Upgrade") != "":
		return h.bypass(w, r, next, "bypass", "upgrade")
	case !h.ranges() && r.Header.Get("Range") != "":
		return h.bypass(w, r, next, "bypass", "range")
	case hasPreconditions(r.Header):
		// If-Match / If-Unmodified-Since are the origin's to evaluate.
		return h.bypass(w, r, next, "bypass", "precondition")
	}
	if b := hub.BatchOf(r); b != nil && b.Tx != "" {
		// A read inside an atomic batch sees the batch's uncommitted
		// writes, which a rollback may undo: never looked up nor stored.
		return h.bypass(w, r, next, "bypass", "uncommitted")
	}
	query, ok := normalizeQuery(r.URL.RawQuery)
	if !ok {
		return h.bypass(w, r, next, "bypass", "bad-query")
	}
	rp := parseRequestPolicy(r.Header)
	if rp.noStore {
		return h.bypass(w, r, next, "request", "")
	}
	ctx, cancel := context.WithTimeout(r.Context(), time.Duration(h.StoreTimeout))
	defer cancel()
	if !h.g.available() || !h.g.succeeded(ctx) {
		return h.bypass(w, r, next, "bypass", "store-unavailable")
	}
	pk := buildKey(r, query, rt.Shared)
	e, key, gens, err := h.g.find(ctx, pk, r.Header)
	if err != nil {
		h.g.failed("lookup", err)
		return h.bypass(w, r, next, "bypass", "store-unavailable")
	}
	now := h.now()
	var stale, cand *entry
	if e != nil && !e.valid(gens) {
		// Invalidated by a write or a purge: never served, not even stale.
		h.g.l1.remove(key)
		e = nil
	}
	if e != nil {
		switch {
		case rp.accepts(e, now):
			h.hit(resultHit)
			writeEntry(w, r, e, now, h.status("hit", pk.hash, e, now), h.ranges())
			return nil
		case !rp.revalidate && rp.maxAge < 0 && rp.minFresh == 0 && !e.mustRevalidate && e.inSWR(now):
			// RFC 5861 §3: answer stale now, refresh once in the background.
			h.hit(resultStale)
			writeEntry(w, r, e, now, h.status("hit; detail=stale-while-revalidate", pk.hash, e, now), h.ranges())
			h.refreshInBackground(r, next, rt, pk, gens, e)
			return nil
		}
		if e.usableStale(now) {
			stale = e
		}
		if e.validator() {
			cand = e
		}
	}
	if rp.onlyIfCached {
		// RFC 9111 §5.2.1.7: no stored response fits, so 504.
		cacheMetrics().requests.WithLabelValues(resultBypass).Inc()
		w.Header().Set("Cache-Status", cacheName+"; fwd=miss; detail=only-if-cached")
		hub.WriteProblem(w, r, problem.New(http.StatusGatewayTimeout, "not-cached", "Not cached",
			"only-if-cached was requested and no suitable stored response exists"))
		return nil
	}
	fwd := "miss"
	switch {
	case rp.revalidate:
		fwd = "request"
	case cand != nil:
		fwd = "stale" // RFC 9211 §2.2: a stale response, validated now
	}
	if r.Method == http.MethodHead {
		// A HEAD answer has no body to store; HEAD is served from GET
		// entries when one exists.
		return h.fetch(w, r, next, rt, pk, gens, stale, fwd)
	}
	if rp.revalidate {
		// The client asked for a validated answer: joining a fill that
		// began before it asked could hand it an older one.
		_, _, err := h.fill(w, r, next, rt, pk, gens, stale, cand, fwd)
		return err
	}
	f, leader := h.g.join(pk.hash)
	if !leader {
		return h.wait(w, r, next, rt, pk, f, gens, stale)
	}
	var landed *entry
	var landedKey string
	defer func() { h.g.land(pk.hash, f, landed, landedKey) }()
	landed, landedKey, err = h.fill(w, r, next, rt, pk, gens, stale, cand, fwd)
	return err
}

// wait answers a miss that arrived while another request for the same key
// was being fetched: from that fill if it was stored and matches, else by
// forwarding on its own. gens are the generations this request read: a
// fill that began before a write this request has seen the end of (the
// write's 2xx) carries older generations and is not used.
func (h *Handler) wait(w http.ResponseWriter, r *http.Request, next caddyhttp.Handler, rt *Route, pk requestKey, f *flight, gens map[string]string, stale *entry) error {
	f.waiters.Add(1)
	select {
	case <-f.done:
	case <-r.Context().Done():
		return r.Context().Err()
	}
	if e := f.e; e != nil && e.validFor(pk.tags, gens) && (len(e.vary) == 0 || varyKey(pk, e.vary, r.Header).hash == f.key) {
		now := h.now()
		h.hit(resultCollapsed)
		writeEntry(w, r, e, now, h.status("fwd=miss; collapsed", pk.hash, e, now), h.ranges())
		return nil
	}
	return h.fetch(w, r, next, rt, pk, nil, stale, "miss")
}

// fetch forwards the request as sent and answers, storing nothing.
func (h *Handler) fetch(w http.ResponseWriter, r *http.Request, next caddyhttp.Handler, rt *Route, pk requestKey, gens map[string]string, stale *entry, fwd string) error {
	rec, err := h.forward(w, r, r, next, pk, stale, false, fwd)
	if rec == nil {
		return err
	}
	cacheMetrics().requests.WithLabelValues(resultMiss).Inc()
	writeRecorded(w, rec, fmt.Sprintf("%s; fwd=%s; fwd-status=%d", cacheName, fwd, rec.status))
	return nil
}

// fill forwards a GET to fill (or, with cand, conditionally revalidate)
// the entry, stores what RFC 9111 allows and answers the client from it.
// The client's own validators and Range are not forwarded: the cache asks
// for the full response and answers those from what it holds.
func (h *Handler) fill(w http.ResponseWriter, r *http.Request, next caddyhttp.Handler, rt *Route, pk requestKey, gens map[string]string, stale, cand *entry, fwd string) (*entry, string, error) {
	out := r.Clone(r.Context())
	for _, k := range clientValidators {
		out.Header.Del(k)
	}
	if cand != nil {
		// §4.3.1: the stored validators, strong or weak.
		if et := cand.header.Get("ETag"); et != "" {
			out.Header.Set("If-None-Match", et)
		}
		if lm := cand.header.Get("Last-Modified"); lm != "" {
			out.Header.Set("If-Modified-Since", lm)
		}
	}
	rec, err := h.forward(w, r, out, next, pk, stale, cand != nil, fwd)
	if rec == nil {
		return nil, "", err
	}
	if rec.status == http.StatusNotModified && cand != nil {
		e, key := h.refresh(w, r, rt, pk, gens, cand, rec, fwd)
		return e, key, nil
	}
	e, key := h.finish(w, r, rt, pk, gens, rec, fwd)
	return e, key, nil
}

// forward sends out (the client's request r, or the cache's version of
// it) upstream through a recorder. It returns nil when the answer is
// complete already: passed through, replaced by a stale entry, or an error
// for Caddy's error handling.
func (h *Handler) forward(w http.ResponseWriter, r, out *http.Request, next caddyhttp.Handler, pk requestKey, stale *entry, revalidating bool, fwd string) (*recorder, error) {
	bufferStatus := func(s int) bool {
		return (out.Method == http.MethodGet && understood[s]) ||
			(revalidating && s == http.StatusNotModified) || (stale != nil && s >= 500)
	}
	onCommit := func(hdr http.Header, reason string) {
		cacheMetrics().requests.WithLabelValues(resultMiss).Inc()
		hdr.Set("Cache-Status", fmt.Sprintf("%s; fwd=%s; detail=%s", cacheName, fwd, reason))
	}
	rec := newRecorder(w, h.MaxBodySize, bufferStatus, onCommit)
	err := next.ServeHTTP(rec, out)
	if rec.passthrough {
		return nil, err
	}
	if err != nil || rec.status >= 500 {
		code := rec.status
		if err != nil {
			code = http.StatusBadGateway
			var he caddyhttp.HandlerError
			if errors.As(err, &he) && he.StatusCode != 0 {
				code = he.StatusCode
			}
		}
		// RFC 9111 §4.2.4 / RFC 5861 §4: an upstream failure may be
		// answered with a stale response the cache still holds.
		if code >= 500 && stale != nil {
			now := h.now()
			h.hit(resultStale)
			writeEntry(w, r, stale, now, h.status(fmt.Sprintf("fwd=stale; fwd-status=%d", code), pk.hash, stale, now), h.ranges())
			return nil, nil
		}
		if err != nil {
			cacheMetrics().requests.WithLabelValues(resultMiss).Inc()
			w.Header().Set("Cache-Status", fmt.Sprintf("%s; fwd=%s; fwd-status=%d", cacheName, fwd, code))
			return nil, err
		}
	}
	if !rec.wrote {
		rec.status = http.StatusOK
	}
	return rec, nil
}

// policyFor decides on a response for rt.
func (h *Handler) policyFor(r *http.Request, rt *Route, status int, hdr http.Header, now time.Time) storePolicy {
	// §3.5 applies wherever the key does not tell callers apart: shared
	// routes, and callers no hub_auth identified (one anonymous partition).
	auth := r.Header.Get("Authorization") != "" && (rt.Shared || partitionOf(hub.IdentityOf(r)) == anonymousPartition)
	return decideStore(storeInput{
		status: status, header: hdr, mode: rt.mode(), routeTTL: time.Duration(rt.TTL), maxTTL: time.Duration(rt.MaxTTL),
		maxStale: time.Duration(h.MaxStale), shared: rt.Shared, auth: auth, now: now,
	})
}

// newEntry builds the entry a policy allows.
func newEntry(status int, hdr http.Header, body []byte, pol storePolicy, now time.Time) *entry {
	stored := storableHeader(hdr)
	for _, k := range pol.strip {
		stored.Del(k)
	}
	age, _, _ := parseAge(hdr)
	e := &entry{
		status: status, header: stored, body: body, stored: now.Add(-age),
		ttl: pol.ttl, stale: pol.stale, swr: pol.swr, mustRevalidate: pol.mustRevalidate, vary: pol.vary,
	}
	if e.validator() {
		e.keep = revalidateKeep
	}
	return e
}

// revalidateKeep is how long past its freshness an entry with a validator
// is kept for conditional revalidation (within the 24 h lifetime bound).
const revalidateKeep = 10 * time.Minute

// finish stores a complete buffered response when RFC 9111 allows it and
// answers the client. It returns the stored entry and its key.
func (h *Handler) finish(w http.ResponseWriter, r *http.Request, rt *Route, pk requestKey, gens map[string]string, rec *recorder, fwd string) (*entry, string) {
	cacheMetrics().requests.WithLabelValues(resultMiss).Inc()
	now := h.now()
	pol := h.policyFor(r, rt, rec.status, rec.header, now)
	if !pol.store || r.Method != http.MethodGet || gens == nil {
		status := fmt.Sprintf("%s; fwd=%s; fwd-status=%d", cacheName, fwd, rec.status)
		if pol.reason != "" {
			status += "; detail=" + pol.reason
		}
		writeRecorded(w, rec, status)
		return nil, ""
	}
	e := newEntry(rec.status, rec.header, append([]byte(nil), rec.buf.Bytes()...), pol, now)
	key, err := h.save(r, pk, gens, e, rec.header)
	if err != nil {
		writeRecorded(w, rec, fmt.Sprintf("%s; fwd=%s; fwd-status=%d; detail=store-unavailable", cacheName, fwd, rec.status))
		return nil, ""
	}
	writeEntry(w, r, e, now, h.status(fmt.Sprintf("fwd=%s; fwd-status=%d; stored", fwd, rec.status), pk.hash, e, now), h.ranges())
	return e, key
}

// save stores e under pk, bounded by store_timeout.
func (h *Handler) save(r *http.Request, pk requestKey, gens map[string]string, e *entry, upstream http.Header) (string, error) {
	ctx, cancel := context.WithTimeout(context.WithoutCancel(r.Context()), time.Duration(h.StoreTimeout))
	defer cancel()
	key, err := h.g.store(ctx, pk, r.Header, e, gens, customTags(upstream))
	if err != nil {
		h.g.failed("store", err)
	}
	return key, err
}

// hit counts an answer from the cache.
func (h *Handler) hit(result string) {
	cacheMetrics().requests.WithLabelValues(result).Inc()
	h.metrics.CacheHits.Inc()
}

// status builds a Cache-Status value (RFC 9211 §2): the outcome, the
// remaining freshness (ttl, negative once stale) and the key hash, which
// the purge API accepts.
func (h *Handler) status(outcome, keyHash string, e *entry, now time.Time) string {
	ttl := int64((e.ttl - e.age(now)) / time.Second)
	return fmt.Sprintf(`%s; %s; ttl=%d; key="%s"`, cacheName, outcome, ttl, keyHash)
}

// customTags reads the tags the upstream names in Cache-Tag and
// Surrogate-Key (comma- or space-separated), hashed.
func customTags(h http.Header) []string {
	var out []string
	seen := map[string]bool{}
	for _, name := range []string{"Cache-Tag", "Surrogate-Key"} {
		for _, line := range h.Values(name) {
			for _, t := range strings.FieldsFunc(line, func(r rune) bool { return r == ',' || r == ' ' || r == '\t' }) {
				if !seen[t] && len(out) < 64 {
					seen[t] = true
					out = append(out, hashTag(tagCustom+t))
				}
			}
		}
	}
	return out
}

// writeRecorded answers with a buffered upstream response.
func writeRecorded(w http.ResponseWriter, rec *recorder, cacheStatus string) {
	hdr := w.Header()
	copyResponseHeader(hdr, rec.header)
	if hdr.Get("Age") == "" {
		hdr.Set("Age", "0")
	}
	hdr.Set("Cache-Status", cacheStatus)
	hdr.Set("Content-Length", strconv.Itoa(rec.buf.Len()))
	w.WriteHeader(rec.status)
	_, _ = w.Write(rec.buf.Bytes())
}
