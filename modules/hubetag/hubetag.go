// Package hubetag is the hub_etag HTTP handler: strong ETags computed on
// the exact bytes sent to the client, If-None-Match → 304 and If-Match →
// 412 on GET/HEAD, and If-Match / If-None-Match on PUT, PATCH and DELETE
// translated into the upstream's row versions, so that the upstream's
// atomic compare-and-write decides (of two concurrent writes with the same
// If-Match, exactly one succeeds).
package hubetag

import (
	"fmt"
	"net/http"

	"github.com/caddyserver/caddy/v2"
	"github.com/caddyserver/caddy/v2/modules/caddyhttp"
	"github.com/prometheus/client_golang/prometheus"
	"go.uber.org/zap"

	"github.com/hubchantier/hubgate/internal/problem"
	"github.com/hubchantier/hubgate/modules/hub"
)

func init() {
	caddy.RegisterModule(Handler{})
}

// DefaultMaxSize is the largest body hashed when the default applies: 1 MiB.
const DefaultMaxSize = 1 << 20

// DefaultCacheControl is sent on tagged GET/HEAD answers that carry no
// Cache-Control: any cache may keep the representation for its own user
// only, and must revalidate it (If-None-Match) before each use.
const DefaultCacheControl = "private, no-cache"

// Handler tags responses and applies conditional requests.
type Handler struct {
	// MaxSize is the largest response body, in bytes, held in memory to
	// compute its ETag. Larger bodies (by Content-Length, or counted while
	// reading) are sent untouched, without a computed tag. Default 1 MiB.
	MaxSize int64 `json:"max_size,omitempty"`
	// CacheControl is set on tagged 200 answers to GET and HEAD that have
	// no Cache-Control, and so on their 304s. Default "private, no-cache";
	// "off" sets none.
	CacheControl string `json:"cache_control,omitempty"`

	cacheControl string
	log          *zap.Logger
	responses    *prometheus.CounterVec
}

// CaddyModule returns the Caddy module information.
func (Handler) CaddyModule() caddy.ModuleInfo {
	return caddy.ModuleInfo{
		ID:  "http.handlers.hub_etag",
		New: func() caddy.Module { return new(Handler) },
	}
}

// Provision sets defaults and registers the metrics.
func (h *Handler) Provision(ctx caddy.Context) error {
	h.log = ctx.Logger()
	if h.MaxSize == 0 {
		h.MaxSize = DefaultMaxSize
	}
	switch h.CacheControl {
	case "":
		h.cacheControl = DefaultCacheControl
	case "off":
		h.cacheControl = ""
	default:
		h.cacheControl = h.CacheControl
	}
	h.responses = collectors()
	if err := hub.RegisterCollectors(ctx.GetMetricsRegistry(), h.responses); err != nil {
		return fmt.Errorf("hub_etag metrics: %w", err)
	}
	return nil
}

// Validate checks the limits.
func (h *Handler) Validate() error {
	if h.MaxSize < 0 {
		return fmt.Errorf("max_size must not be negative, got %d", h.MaxSize)
	}
	return nil
}

// ServeHTTP tags the response and applies the request's preconditions.
func (h *Handler) ServeHTTP(w http.ResponseWriter, r *http.Request, next caddyhttp.Handler) error {
	ew := &writer{
		ResponseWriterWrapper: &caddyhttp.ResponseWriterWrapper{ResponseWriter: w},
		h:                     h,
		req:                   r,
		maxSize:               h.MaxSize,
	}
	inner := r
	switch r.Method {
	case http.MethodGet, http.MethodHead:
		ew.read = true
		inner = withHeader(r)
		ew.cond = takeConditionals(inner.Header)
		if r.Method == http.MethodHead {
			// Every inner handler builds exactly what a GET gets and the
			// tag is computed on the same bytes: HEAD answers like GET
			// without a body (RFC 9110 §9.3.2). The upstream is asked GET
			// too; the assertion is signed for it at the proxy boundary.
			ew.head = true
			hub.ForwardAsGet(inner)
		}
	case http.MethodPut, http.MethodPatch, http.MethodDelete:
		if hasWriteConditions(r.Header) {
			inner = withHeader(r)
			translateWriteConditions(inner.Header)
		}
	}
	if err := next.ServeHTTP(ew, inner); err != nil {
		ew.discard()
		return err
	}
	if ew.mode == undecided {
		// The inner handlers wrote nothing: an empty 200.
		ew.WriteHeader(http.StatusOK)
	}
	return ew.finish()
}

// withHeader returns a shallow copy of r with its own header map, so that
// the changes made for the inner handlers are not seen by outer ones (the
// audit log records the request as the client sent it).
func withHeader(r *http.Request) *http.Request {
	r2 := r.WithContext(r.Context())
	r2.Header = r.Header.Clone()
	return r2
}

// hasWriteConditions reports whether a write carries If-Match or
// If-None-Match.
func hasWriteConditions(hdr http.Header) bool {
	return len(hdr.Values("If-Match")) > 0 || len(hdr.Values("If-None-Match")) > 0
}

// translateWriteConditions rewrites If-Match and If-None-Match of a write
// in the upstream's terms (see forwardIfMatch, forwardIfNoneMatch). The
// gateway never answers 412 to a write itself: the upstream knows whether
// the row exists (404 wins over 412, RFC 9110 §13.2.1) and compares the
// version atomically with the write.
func translateWriteConditions(hdr http.Header) {
	if im := parseTagList(hdr.Values("If-Match")); im.present {
		hdr.Set("If-Match", forwardIfMatch(im))
	}
	if inm := parseTagList(hdr.Values("If-None-Match")); inm.present {
		if v := forwardIfNoneMatch(inm); v != "" {
			hdr.Set("If-None-Match", v)
		} else {
			hdr.Del("If-None-Match")
		}
	}
}

// writePreconditionFailed answers a GET or HEAD whose If-Match failed.
func writePreconditionFailed(w http.ResponseWriter, r *http.Request) {
	problem.Write(w, r, problem.New(http.StatusPreconditionFailed, "precondition-failed", "Precondition Failed",
		"the current representation does not match If-Match; fetch it again"))
}

// Interface guards.
var (
	_ caddy.Provisioner           = (*Handler)(nil)
	_ caddy.Validator             = (*Handler)(nil)
	_ caddyhttp.MiddlewareHandler = (*Handler)(nil)
)
