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
			return next.ServeHTTP(w, r)
		}
		return h.serveRead(w, r, next, rt)
	case http.MethodPost, http.MethodPut, http.MethodPatch, http.MethodDelete:
		return h.serveWrite(w, r, next)
	default:
		return next.ServeHTTP(w, r)
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
	if r.Header.Get("Range") != "" || r.Header.Get("Upgrade") != "" {
		return h.bypass(w, r, next, "bypass", "range-or-upgrade")
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
	var stale *entry
	if e != nil {
		switch {
		case !e.valid(gens):
			// Invalidated by a write or a purge: never served, not even stale.
			h.g.l1.remove(key)
		case e.fresh(now) && !rp.revalidate && (rp.maxAge < 0 || e.age(now) <= rp.maxAge):
			h.hit(resultHit)
			writeEntry(w, r, e, now, h.status("hit", pk.hash, e, now))
			return nil
		case e.usableStale(now):
			stale = e
		}
	}
	if rp.onlyIfCached {
		// RFC 9111 §5.2.1.7: no stored response, so 504.
		cacheMetrics().requests.WithLabelValues(resultBypass).Inc()
		w.Header().Set("Cache-Status", cacheName+"; fwd=miss; detail=only-if-cached")
		problem.Write(w, r, problem.New(http.StatusGatewayTimeout, "not-cached", "Not cached",
			"only-if-cached was requested and no fresh stored response exists"))
		return nil
	}
	fwd := "miss"
	if rp.revalidate {
		fwd = "request"
	}
	if r.Method == http.MethodHead {
		// A HEAD answer has no body to store; HEAD is served from GET
		// entries when one exists.
		return h.fetch(w, r, next, rt, pk, gens, stale, fwd, false)
	}
	if rp.revalidate {
		// The client asked for a fresh answer: joining a fill that began
		// before it asked could hand it an older one.
		return h.fetch(w, r, next, rt, pk, gens, stale, fwd, true)
	}
	f, leader := h.g.join(pk.hash)
	if !leader {
		return h.wait(w, r, next, rt, pk, f, gens, stale)
	}
	var landed *entry
	var landedKey string
	defer func() { h.g.land(pk.hash, f, landed, landedKey) }()
	rec, err := h.forward(w, r, next, pk, stale, fwd)
	if rec == nil {
		return err
	}
	landed, landedKey = h.finish(w, r, rt, pk, gens, rec, fwd)
	return nil
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
		writeEntry(w, r, e, now, h.status("fwd=miss; collapsed", pk.hash, e, now))
		return nil
	}
	return h.fetch(w, r, next, rt, pk, nil, stale, "miss", false)
}

// fetch forwards and answers, storing the response when store is true.
func (h *Handler) fetch(w http.ResponseWriter, r *http.Request, next caddyhttp.Handler, rt *Route, pk requestKey, gens map[string]string, stale *entry, fwd string, store bool) error {
	rec, err := h.forward(w, r, next, pk, stale, fwd)
	if rec == nil {
		return err
	}
	if !store {
		cacheMetrics().requests.WithLabelValues(resultMiss).Inc()
		writeRecorded(w, rec, fmt.Sprintf("%s; fwd=%s; fwd-status=%d", cacheName, fwd, rec.status))
		return nil
	}
	h.finish(w, r, rt, pk, gens, rec, fwd)
	return nil
}

// forward sends the request upstream through a recorder. It returns nil
// when the answer is complete already: passed through, replaced by a stale
// entry, or an error for Caddy's error handling.
func (h *Handler) forward(w http.ResponseWriter, r *http.Request, next caddyhttp.Handler, pk requestKey, stale *entry, fwd string) (*recorder, error) {
	bufferStatus := func(s int) bool {
		return (s == http.StatusOK && r.Method == http.MethodGet) || (stale != nil && s >= 500)
	}
	onCommit := func(hdr http.Header, reason string) {
		cacheMetrics().requests.WithLabelValues(resultMiss).Inc()
		hdr.Set("Cache-Status", fmt.Sprintf("%s; fwd=%s; detail=%s", cacheName, fwd, reason))
	}
	rec := newRecorder(w, h.MaxBodySize, bufferStatus, onCommit)
	err := next.ServeHTTP(rec, r)
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
			writeEntry(w, r, stale, now, h.status(fmt.Sprintf("fwd=stale; fwd-status=%d", code), pk.hash, stale, now))
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

// finish stores a complete buffered response when RFC 9111 allows it and
// answers the client. It returns the stored entry and its key.
func (h *Handler) finish(w http.ResponseWriter, r *http.Request, rt *Route, pk requestKey, gens map[string]string, rec *recorder, fwd string) (*entry, string) {
	cacheMetrics().requests.WithLabelValues(resultMiss).Inc()
	now := h.now()
	pol := decideStore(rec.status, rec.header, time.Duration(rt.TTL), time.Duration(h.MaxStale), now)
	if !pol.store || r.Method != http.MethodGet || gens == nil {
		status := fmt.Sprintf("%s; fwd=%s; fwd-status=%d", cacheName, fwd, rec.status)
		if pol.reason != "" && rec.status == http.StatusOK {
			status += "; detail=" + pol.reason
		}
		writeRecorded(w, rec, status)
		return nil, ""
	}
	e := &entry{
		status: rec.status, header: storableHeader(rec.header), body: append([]byte(nil), rec.buf.Bytes()...),
		stored: now.Add(-upstreamAge(rec.header)), ttl: pol.ttl, stale: pol.stale, vary: pol.vary,
	}
	ctx, cancel := context.WithTimeout(context.WithoutCancel(r.Context()), time.Duration(h.StoreTimeout))
	defer cancel()
	key, err := h.g.store(ctx, pk, r.Header, e, gens, customTags(rec.header))
	if err != nil {
		h.g.failed("store", err)
		writeRecorded(w, rec, fmt.Sprintf("%s; fwd=%s; fwd-status=%d; detail=store-unavailable", cacheName, fwd, rec.status))
		return nil, ""
	}
	writeEntry(w, r, e, now, h.status(fmt.Sprintf("fwd=%s; fwd-status=%d; stored", fwd, rec.status), pk.hash, e, now))
	return e, key
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

// upstreamAge is the Age the upstream sent (RFC 9111 §5.1).
func upstreamAge(h http.Header) time.Duration {
	n, err := strconv.ParseInt(h.Get("Age"), 10, 64)
	if err != nil || n < 0 {
		return 0
	}
	return time.Duration(n) * time.Second
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

// writeEntry answers from an entry: its status and header, a computed Age
// (RFC 9111 §5.1) and Cache-Status; HEAD gets no body.
func writeEntry(w http.ResponseWriter, r *http.Request, e *entry, now time.Time, cacheStatus string) {
	hdr := w.Header()
	copyResponseHeader(hdr, e.header)
	hdr.Set("Age", strconv.FormatInt(int64(e.age(now)/time.Second), 10))
	hdr.Set("Cache-Status", cacheStatus)
	hdr.Set("Content-Length", strconv.Itoa(len(e.body)))
	w.WriteHeader(e.status)
	if r.Method != http.MethodHead {
		_, _ = w.Write(e.body)
	}
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
