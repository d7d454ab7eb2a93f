package hubcache

import (
	"context"
	"fmt"
	"net/http"
	"time"

	"github.com/caddyserver/caddy/v2"
	"github.com/caddyserver/caddy/v2/modules/caddyhttp"
	"go.uber.org/zap"

	"github.com/hubchantier/hubgate/modules/hub"
)

// notModifiedKeep are the stored fields a 304 never replaces (RFC 9111
// §3.2: they describe the stored content, not the validation).
var notModifiedKeep = map[string]bool{"Content-Length": true, "Content-Encoding": true, "Content-Range": true, "Transfer-Encoding": true}

// refresh handles the origin's 304 to a conditional revalidation (RFC
// 9111 §4.3.3, §4.3.4): the stored header is updated with the 304's
// fields, the freshness computed again from the result, the entry stored
// again and the client answered from it. It returns the stored entry and
// its key (nil when the refreshed response may no longer be stored).
func (h *Handler) refresh(w http.ResponseWriter, r *http.Request, rt *Route, pk requestKey, gens map[string]string, cand *entry, rec *recorder, fwd string) (*entry, string) {
	cacheMetrics().requests.WithLabelValues(resultMiss).Inc()
	now := h.now()
	merged := cand.header.Clone()
	for k, v := range rec.header {
		if !notModifiedKeep[k] {
			merged[k] = append([]string(nil), v...)
		}
	}
	pol := h.policyFor(r, rt, cand.status, merged, now)
	e := newEntry(cand.status, merged, cand.body, pol, now)
	outcome := fmt.Sprintf("fwd=%s; fwd-status=304", fwd)
	if !pol.store || gens == nil {
		// Served once as validated, not kept: the next request asks again.
		h.g.l1.remove(pk.hash)
		writeEntry(w, r, e, now, h.status(outcome+"; detail="+pol.reason, pk.hash, e, now), h.ranges())
		return nil, ""
	}
	key, err := h.save(r, pk, gens, e, merged)
	if err != nil {
		writeEntry(w, r, e, now, h.status(outcome+"; detail=store-unavailable", pk.hash, e, now), h.ranges())
		return nil, ""
	}
	writeEntry(w, r, e, now, h.status(outcome+"; stored", pk.hash, e, now), h.ranges())
	return e, key
}

// refreshTimeout bounds a background refresh.
const refreshTimeout = 30 * time.Second

// refreshInBackground refreshes a stale entry served under
// stale-while-revalidate (RFC 5861 §3): one request per key at a time at
// this instance (a fill already under way for the key is enough),
// conditional when the entry has a validator.
func (h *Handler) refreshInBackground(r *http.Request, next caddyhttp.Handler, rt *Route, pk requestKey, gens map[string]string, e *entry) {
	f, leader := h.g.joinRefresh(pk.hash, e.stored)
	if !leader {
		return
	}
	bg := detach(r)
	var cand *entry
	if e.validator() {
		cand = e
	}
	go func() {
		var landed *entry
		var landedKey string
		defer func() { h.g.land(pk.hash, f, landed, landedKey) }()
		ctx, cancel := context.WithTimeout(bg.Context(), refreshTimeout)
		defer cancel()
		var err error
		landed, landedKey, err = h.fill(newDiscard(), bg.WithContext(ctx), next, rt, pk, gens, nil, cand, "stale")
		if err != nil {
			h.log.Debug("background refresh failed", zap.Error(err))
		}
	}()
}

// detach copies r for a request that outlives it: no body, no
// cancellation, a replacer and variables of its own (the original's are
// read by outer handlers once the response is written). The hub state
// (identity) is shared read-only, and {hub.assertion} is signed now.
func detach(r *http.Request) *http.Request {
	oldRepl, _ := r.Context().Value(caddy.ReplacerCtxKey).(*caddy.Replacer)
	oldVars, _ := r.Context().Value(caddyhttp.VarsCtxKey).(map[string]any)
	srv, _ := r.Context().Value(caddyhttp.ServerCtxKey).(*caddyhttp.Server)
	bg := r.Clone(context.WithoutCancel(r.Context()))
	bg.Body, bg.ContentLength, bg.GetBody = http.NoBody, 0, nil
	repl := caddy.NewReplacer()
	bg = caddyhttp.PrepareRequest(bg, repl, newDiscard(), srv)
	if vars, ok := bg.Context().Value(caddyhttp.VarsCtxKey).(map[string]any); ok {
		for k, v := range oldVars {
			if _, set := vars[k]; !set {
				vars[k] = v
			}
		}
	}
	if oldRepl != nil {
		if v, ok := oldRepl.Get(hub.AssertionPlaceholder); ok {
			repl.Set(hub.AssertionPlaceholder, fmt.Sprint(v))
		}
	}
	return bg
}

// discard is the response writer of a background refresh.
type discard struct{ h http.Header }

func newDiscard() *discard                     { return &discard{h: http.Header{}} }
func (d *discard) Header() http.Header         { return d.h }
func (d *discard) WriteHeader(int)             {}
func (d *discard) Write(p []byte) (int, error) { return len(p), nil }
