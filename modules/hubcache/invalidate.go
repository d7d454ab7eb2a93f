package hubcache

import (
	"context"
	"net/http"
	"net/url"
	"path"
	"strings"
	"time"

	"github.com/caddyserver/caddy/v2/modules/caddyhttp"
	"go.uber.org/zap"
)

// serveWrite forwards a request of an unsafe method (RFC 9110 §9.2.1: any
// method but GET, HEAD, OPTIONS and TRACE) and, when its answer is not an
// error (RFC 9111 §4.4: 2xx or 3xx), invalidates what it changed before
// the client sees the answer: once a client holds it, no gateway instance
// serves the old representation.
func (h *Handler) serveWrite(w http.ResponseWriter, r *http.Request, next caddyhttp.Handler) error {
	ww := &writeObserver{ResponseWriter: w, onHeader: func(status int, hdr http.Header) {
		if status < 200 || status >= 400 {
			return
		}
		tags := h.writeTags(r.URL.Path, hdr)
		for _, p := range sameHostTargets(r, hdr) {
			tags = append(tags, hashTag(tagExact+cleanPath(p)))
		}
		ctx, cancel := context.WithTimeout(context.WithoutCancel(r.Context()), time.Duration(h.StoreTimeout))
		defer cancel()
		if err := h.g.invalidate(ctx, tags); err != nil {
			// Remembered and replayed when the store is back; until then
			// the store is not read, so nothing stale is served from it.
			h.log.Warn("cache invalidation deferred: store unreachable", zap.Int("tags", len(tags)))
			return
		}
		cacheMetrics().invalidated.Add(float64(len(tags)))
	}}
	return next.ServeHTTP(ww, r)
}

// writeTags lists the tags a successful write at p invalidates: the item
// (or collection) itself, its collection, the related aggregates and the
// tags the upstream named in Cache-Tag / Surrogate-Key.
func (h *Handler) writeTags(p string, hdr http.Header) []string {
	p = cleanPath(p)
	tags := []string{hashTag(tagExact + p)}
	if dir := path.Dir(p); dir != p {
		tags = append(tags, hashTag(tagExact+dir))
	}
	for _, rel := range h.Related {
		if rel.match.MatchPath(p) {
			for _, q := range rel.Invalidate {
				tags = append(tags, hashTag(tagExact+cleanPath(q)))
			}
		}
	}
	return append(tags, customTags(hdr)...)
}

// sameHostTargets returns the paths of the Location and Content-Location
// of a write's answer that are on the request's host (RFC 9111 §4.4: a
// cache must not invalidate other hosts' URIs on their behalf).
func sameHostTargets(r *http.Request, hdr http.Header) []string {
	var out []string
	for _, name := range []string{"Location", "Content-Location"} {
		v := hdr.Get(name)
		if v == "" {
			continue
		}
		u, err := url.Parse(v)
		if err != nil {
			continue
		}
		if u.Host != "" && !strings.EqualFold(u.Host, r.Host) {
			continue
		}
		if u.Path == "" {
			continue
		}
		if !strings.HasPrefix(u.Path, "/") {
			u.Path = path.Join(path.Dir(r.URL.Path), u.Path)
		}
		out = append(out, u.Path)
	}
	return out
}

// writeObserver calls onHeader once, just before the response header of a
// write goes out, and keeps Cache-Tag / Surrogate-Key from the client.
type writeObserver struct {
	http.ResponseWriter
	onHeader func(status int, hdr http.Header)
	done     bool
}

func (o *writeObserver) WriteHeader(status int) {
	if status >= 200 && !o.done {
		o.done = true
		o.onHeader(status, o.Header())
		stripCacheFields(o.Header())
	}
	o.ResponseWriter.WriteHeader(status)
}

func (o *writeObserver) Write(p []byte) (int, error) {
	if !o.done {
		o.WriteHeader(http.StatusOK)
	}
	return o.ResponseWriter.Write(p)
}

// Unwrap lets http.ResponseController reach the client's writer (flush).
func (o *writeObserver) Unwrap() http.ResponseWriter { return o.ResponseWriter }

// tagStripper keeps Cache-Tag / Surrogate-Key from clients on responses
// that bypass the cache.
type tagStripper struct {
	http.ResponseWriter
	done bool
}

func (t *tagStripper) WriteHeader(status int) {
	if !t.done && status >= 200 {
		t.done = true
		stripCacheFields(t.Header())
	}
	t.ResponseWriter.WriteHeader(status)
}

func (t *tagStripper) Write(p []byte) (int, error) {
	if !t.done {
		t.WriteHeader(http.StatusOK)
	}
	return t.ResponseWriter.Write(p)
}

// Unwrap lets http.ResponseController reach the client's writer.
func (t *tagStripper) Unwrap() http.ResponseWriter { return t.ResponseWriter }

// stripCacheFields removes the fields meant for this cache only (Cache-Tag,
// Surrogate-Key, Surrogate-Control) from a client's answer.
func stripCacheFields(h http.Header) {
	h.Del("Cache-Tag")
	h.Del("Surrogate-Key")
	h.Del("Surrogate-Control")
}
