// Package hubcache is the hub_cache HTTP handler: a response cache for GET
// (and HEAD) in Redis or in memory, partitioned per principal, invalidated
// by writes at any gateway instance, with request coalescing, stale answers
// when the upstream fails, RFC 9211 Cache-Status and an admin purge API.
// It is an RFC 9111 shared cache (conditional revalidation, request
// directives, RFC 5861, ranges, Vary), with route modes saying where
// freshness comes from: the origin, a default TTL, or an override TTL.
//
// It sits after hub_auth (a hit never skips authorization) and right before
// reverse_proxy, so it stores the upstream's full v1 representation; field
// selection, v2 renaming and ETags are applied on top by the handlers
// around it. See docs/cache.md.
package hubcache

import (
	"fmt"
	"time"

	"github.com/caddyserver/caddy/v2"
	"github.com/caddyserver/caddy/v2/modules/caddyhttp"
	"go.uber.org/zap"

	"github.com/hubchantier/hubgate/modules/hub"
)

func init() {
	caddy.RegisterModule(Handler{})
}

// Defaults.
const (
	DefaultMaxStale     = 10 * time.Minute
	DefaultMaxBodySize  = 1 << 20
	DefaultL1Entries    = 10000
	DefaultL1Bytes      = 64 << 20
	DefaultStoreTimeout = 500 * time.Millisecond
)

// DefaultRoutes apply when no route is configured: lists and items 5 min,
// nothing under /api/v1/admin. An upstream's own aggregates get their
// routes in the Caddyfile (the default Caddyfile lists Hub Chantier's).
var DefaultRoutes = []*Route{
	{Path: "/api/v1/admin/*", Off: true},
	{Path: "/api/v1/{resource}", TTL: caddy.Duration(5 * time.Minute)},
	{Path: "/api/v1/{resource}/{id}", TTL: caddy.Duration(5 * time.Minute)},
}

// DefaultRelated applies when no invalidate rule is configured: none, a
// write invalidates only its item and collection. Aggregates that other
// writes change (a report counting every resource) are the upstream's
// vocabulary, configured with `invalidate` (docs/cache.md).
var DefaultRelated []*Related

// Handler caches upstream responses. Only paths matched by a Route are
// cached; successful writes anywhere invalidate what they change.
type Handler struct {
	// Routes say which GET paths are cached and for how long; the first
	// matching route wins. Default DefaultRoutes.
	Routes []*Route `json:"routes,omitempty"`
	// Related lists extra paths a successful write invalidates besides the
	// written item and its collection. Default DefaultRelated.
	Related []*Related `json:"related,omitempty"`
	// MaxStale is how long after expiry an entry may still answer when the
	// upstream fails (5xx, timeout, breaker open). Default 10m; negative
	// disables stale answers.
	MaxStale caddy.Duration `json:"max_stale,omitempty"`
	// MaxBodySize is the largest body stored, in bytes; larger responses
	// stream through uncached. Default 1 MiB.
	MaxBodySize int64 `json:"max_body_size,omitempty"`
	// L1Entries bounds the in-process cache by entry count. Default 10000;
	// negative disables it (with the memory store that disables caching).
	L1Entries int `json:"l1_entries,omitempty"`
	// L1Bytes bounds the in-process cache by size, in bytes. Default 64 MiB.
	L1Bytes int64 `json:"l1_bytes,omitempty"`
	// StoreTimeout bounds each store operation; past it the request goes on
	// uncached. Default 500ms.
	StoreTimeout caddy.Duration `json:"store_timeout,omitempty"`
	// RangesOff sends Range requests to the upstream instead of answering
	// a single byte range of a stored 200 with a 206. Set it when handlers
	// that rewrite bodies (hub_fields, hub_version) run on top of the
	// cache: a range of the stored bytes is not a range of what they send.
	RangesOff bool `json:"ranges_off,omitempty"`

	g       *engine
	poolKey string
	log     *zap.Logger
	now     func() time.Time
	metrics *hub.Metrics
}

// Route is a cached path pattern.
type Route struct {
	// Path is a pattern (hub.Route's path, internal/pathpattern):
	// /api/v1/widgets, /api/v1/{resource}/{id}, /x/*. Routes name no
	// method: only GET is cached (HEAD is answered from it).
	Path string `json:"path"`
	// Mode says where freshness comes from: "default" (TTL for 200s that
	// carry no explicit freshness; the origin's explicit freshness wins,
	// capped by MaxTTL), "origin" (only the origin's explicit freshness
	// and RFC 9111 heuristics; TTL unused) or "override" (TTL for every
	// stored 200; the origin's explicit freshness may only shorten it).
	// Empty means "default".
	Mode string `json:"mode,omitempty"`
	// TTL is the route's freshness lifetime, as Mode says.
	TTL caddy.Duration `json:"ttl,omitempty"`
	// MaxTTL caps the origin's explicit freshness in default mode (0: only
	// the 24 h bound of every entry).
	MaxTTL caddy.Duration `json:"max_ttl,omitempty"`
	// Off excludes the path from caching.
	Off bool `json:"off,omitempty"`
	// Shared caches one copy for every caller instead of one per
	// principal. Only for data that is the same for everyone.
	Shared bool `json:"shared,omitempty"`

	match hub.Route
}

// Related names paths invalidated by writes under Path.
type Related struct {
	// Path is the pattern of the written paths (hub.Route's path,
	// internal/pathpattern); every write method counts.
	Path string `json:"path"`
	// Invalidate are the exact paths whose entries a write makes invalid.
	Invalidate []string `json:"invalidate"`

	match hub.Route
}

// CaddyModule returns the Caddy module information.
func (Handler) CaddyModule() caddy.ModuleInfo {
	return caddy.ModuleInfo{
		ID:  "http.handlers.hub_cache",
		New: func() caddy.Module { return new(Handler) },
	}
}

// Provision sets defaults, compiles patterns and takes the pooled engine
// of the hub app's store. Nothing here touches the network.
func (h *Handler) Provision(ctx caddy.Context) error {
	h.log = ctx.Logger()
	h.now = time.Now
	h.metrics = hub.GetMetrics()
	if err := hub.RegisterCollectors(ctx.GetMetricsRegistry(), cacheMetrics().list()...); err != nil {
		return fmt.Errorf("registering metrics: %w", err)
	}
	if err := hub.RegisterCollectors(ctx.GetMetricsRegistry(), h.metrics.CacheHits); err != nil {
		return fmt.Errorf("registering metrics: %w", err)
	}
	if err := h.setDefaults(); err != nil {
		return err
	}
	appIface, err := ctx.App("hub")
	if err != nil {
		return fmt.Errorf("hub_cache needs the hub app: %w", err)
	}
	g, key, err := engineFor(appIface.(*hub.App).Store(), h.L1Entries, h.L1Bytes, h.log)
	if err != nil {
		return err
	}
	h.g, h.poolKey = g, key
	g.startSweeping(nil)
	return nil
}

// setDefaults fills in defaults and compiles the patterns.
func (h *Handler) setDefaults() error {
	if len(h.Routes) == 0 {
		for _, r := range DefaultRoutes {
			c := *r
			h.Routes = append(h.Routes, &c)
		}
	}
	if len(h.Related) == 0 {
		for _, r := range DefaultRelated {
			c := *r
			h.Related = append(h.Related, &c)
		}
	}
	if h.MaxStale == 0 {
		h.MaxStale = caddy.Duration(DefaultMaxStale)
	}
	if h.MaxStale < 0 {
		h.MaxStale = 0
	}
	if h.MaxBodySize <= 0 {
		h.MaxBodySize = DefaultMaxBodySize
	}
	if h.L1Entries == 0 {
		h.L1Entries = DefaultL1Entries
	}
	if h.L1Bytes <= 0 {
		h.L1Bytes = DefaultL1Bytes
	}
	if h.StoreTimeout <= 0 {
		h.StoreTimeout = caddy.Duration(DefaultStoreTimeout)
	}
	for _, r := range h.Routes {
		r.match = hub.Route{Path: r.Path}
		if err := r.match.Compile(); err != nil {
			return fmt.Errorf("route: %w", err)
		}
	}
	for _, r := range h.Related {
		r.match = hub.Route{Path: r.Path}
		if err := r.match.Compile(); err != nil {
			return fmt.Errorf("related: %w", err)
		}
	}
	return nil
}

// Validate checks values.
func (h *Handler) Validate() error {
	for _, r := range h.Routes {
		switch r.Mode {
		case "", ModeDefault, ModeOverride:
			if !r.Off && r.TTL <= 0 {
				return fmt.Errorf("route %s: ttl must be positive (or the route off)", r.Path)
			}
		case ModeOrigin:
			if r.TTL != 0 {
				return fmt.Errorf("route %s: origin mode takes no ttl", r.Path)
			}
		default:
			return fmt.Errorf("route %s: unknown mode %q (default, origin or override)", r.Path, r.Mode)
		}
		if r.MaxTTL < 0 || (r.MaxTTL > 0 && r.Mode != "" && r.Mode != ModeDefault) {
			return fmt.Errorf("route %s: max_ttl is for the default mode only, and positive", r.Path)
		}
		if r.MaxTTL > 0 && r.MaxTTL < r.TTL {
			return fmt.Errorf("route %s: max_ttl must not be below the ttl", r.Path)
		}
		if time.Duration(r.MaxTTL) > maxLifetime {
			return fmt.Errorf("route %s: max_ttl must not exceed %s", r.Path, maxLifetime)
		}
		if time.Duration(r.TTL)+time.Duration(h.MaxStale) > maxLifetime {
			return fmt.Errorf("route %s: ttl + max_stale must not exceed %s", r.Path, maxLifetime)
		}
	}
	for _, r := range h.Related {
		if len(r.Invalidate) == 0 {
			return fmt.Errorf("related %s: no path to invalidate", r.Path)
		}
	}
	return nil
}

// Cleanup releases this config's reference to the pooled engine.
func (h *Handler) Cleanup() error {
	if h.g == nil {
		return nil
	}
	_, err := enginePool.Delete(h.poolKey)
	return err
}

// mode returns the route's mode, "default" when unset.
func (r *Route) mode() string {
	if r.Mode == "" {
		return ModeDefault
	}
	return r.Mode
}

// ranges reports whether single byte ranges are answered from the cache.
func (h *Handler) ranges() bool { return !h.RangesOff }

// route returns the first route matching path, or nil.
func (h *Handler) route(path string) *Route {
	for _, r := range h.Routes {
		if r.match.MatchPath(path) {
			return r
		}
	}
	return nil
}

// Interface guards.
var (
	_ caddy.Provisioner           = (*Handler)(nil)
	_ caddy.Validator             = (*Handler)(nil)
	_ caddy.CleanerUpper          = (*Handler)(nil)
	_ caddyhttp.MiddlewareHandler = (*Handler)(nil)
)
