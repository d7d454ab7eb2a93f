// Package hubfields is the hub_fields HTTP handler: sparse fieldsets
// (?fields=id,nom,responsable.nom) on single objects and list envelopes,
// restricted to per-entity whitelists so that columns outside them can never
// be selected.
//
// The selection is parsed and validated when the request arrives (a bad
// field is a 400 before the upstream is asked) and applied to the 200 JSON
// answer in one streaming pass (internal/jsonx). Under a translated version
// prefix (/api/v2/ by default) the names are v2 names: hub_fields only
// publishes the plan in the hub.fields variable and hub_version, which knows
// the v2 mapping, validates it and applies it in its own renaming pass, so
// the body is scanned once.
package hubfields

import (
	"fmt"
	"net/http"
	"net/url"
	"strings"

	"github.com/caddyserver/caddy/v2"
	"github.com/caddyserver/caddy/v2/modules/caddyhttp"
	"github.com/prometheus/client_golang/prometheus"
	"go.uber.org/zap"

	"github.com/hubchantier/hubgate/internal/jsonx"
	"github.com/hubchantier/hubgate/modules/hub"
)

func init() {
	caddy.RegisterModule(Handler{})
}

// Default limits.
const (
	DefaultMaxBody = 4 << 20
)

// DefaultDeferPrefixes are the path prefixes whose field names belong to a
// translated version (hub_version validates and applies them).
var DefaultDeferPrefixes = []string{"/api/v2/"}

// Handler selects fields of JSON answers under /api/<version>/<entity>.
type Handler struct {
	// Entities maps an entity (the first path segment after
	// /api/<version>/, e.g. "widgets") to its whitelist: dotted member
	// names that may be selected ("responsable.nom"); a name allows
	// everything below it. Entities not listed refuse ?fields= with 400.
	Entities map[string][]string `json:"entities,omitempty"`
	// Objects lists entities whose collection path answers one object, not
	// a list envelope (stats). Default none.
	Objects []string `json:"objects,omitempty"`
	// MaxFields is the largest number of names in one ?fields=. Default 50.
	MaxFields int `json:"max_fields,omitempty"`
	// MaxLevels is the deepest dotted name (segments). Default 5.
	MaxLevels int `json:"max_levels,omitempty"`
	// MaxBody is the largest body, in bytes, that is buffered and
	// filtered; larger answers pass through whole. Default 4 MiB.
	MaxBody int `json:"max_body,omitempty"`
	// DeferPrefixes are path prefixes where names are those of a translated
	// version and hub_version does the work. Default ["/api/v2/"];
	// ["off"] disables deferral.
	DeferPrefixes []string `json:"defer_prefixes,omitempty"`

	allowed map[string]*jsonx.Node
	objects map[string]bool
	routes  *hub.Routes
	log     *zap.Logger
}

// CaddyModule returns the Caddy module information.
func (Handler) CaddyModule() caddy.ModuleInfo {
	return caddy.ModuleInfo{
		ID:  "http.handlers.hub_fields",
		New: func() caddy.Module { return new(Handler) },
	}
}

// Provision compiles the whitelists and registers the metrics.
func (h *Handler) Provision(ctx caddy.Context) error {
	h.log = ctx.Logger()
	h.routes = hub.RoutesOf(ctx)
	if err := h.compile(); err != nil {
		return err
	}
	return hub.RegisterCollectors(ctx.GetMetricsRegistry(), outcomes)
}

// compile sets defaults and builds the whitelist trees.
func (h *Handler) compile() error {
	if h.MaxFields <= 0 {
		h.MaxFields = jsonx.MaxFields
	}
	if h.MaxLevels <= 0 {
		h.MaxLevels = jsonx.MaxLevels
	}
	if h.MaxBody <= 0 {
		h.MaxBody = DefaultMaxBody
	}
	if len(h.DeferPrefixes) == 0 {
		h.DeferPrefixes = DefaultDeferPrefixes
	} else if len(h.DeferPrefixes) == 1 && h.DeferPrefixes[0] == "off" {
		h.DeferPrefixes = nil
	}
	h.allowed = make(map[string]*jsonx.Node, len(h.Entities))
	for entity, names := range h.Entities {
		wl, err := jsonx.Whitelist(names)
		if err != nil {
			return fmt.Errorf("entity %s: %w", entity, err)
		}
		h.allowed[entity] = wl
	}
	h.objects = make(map[string]bool, len(h.Objects))
	for _, o := range h.Objects {
		h.objects[o] = true
	}
	return nil
}

// Validate checks the limits.
func (h *Handler) Validate() error {
	if h.MaxFields > 1000 || h.MaxLevels > 32 {
		return fmt.Errorf("max_fields (%d) must be ≤ 1000 and max_levels (%d) ≤ 32", h.MaxFields, h.MaxLevels)
	}
	return nil
}

// ServeHTTP validates the selection, strips it from the forwarded query
// and filters the answer.
func (h *Handler) ServeHTTP(w http.ResponseWriter, r *http.Request, next caddyhttp.Handler) error {
	raw, ok := fieldsParam(r.URL.RawQuery)
	if !ok {
		return next.ServeHTTP(w, r)
	}
	entity, collection, ok := h.resource(r.URL.Path)
	if !ok {
		// Not a resource the vocabulary knows: the upstream answers
		// (an unknown path is its 404, whatever ?fields= says).
		return next.ServeHTTP(w, r)
	}
	// The selection is the gateway's: the upstream (and the cache key)
	// never see it, so a cached full body serves every selection.
	r.URL.RawQuery, _ = jsonx.StripQueryParam(r.URL.RawQuery, "fields")
	r.RequestURI = r.URL.RequestURI()
	plan := &jsonx.Plan{
		Raw: raw, Entity: entity, Envelope: collection && !h.objects[entity],
		Allowed: h.allowed[entity], MaxFields: h.MaxFields, MaxLevels: h.MaxLevels,
	}
	hub.SetFieldsPlan(r, plan)
	if h.deferred(r.URL.Path) {
		count("deferred")
		return next.ServeHTTP(w, r)
	}
	if err := plan.Compile(nil); err != nil {
		count("rejected")
		return jsonx.WriteFieldsProblem(w, r, plan, err, nil)
	}

	if r.Method == http.MethodHead {
		// A HEAD answers with the headers of the filtered GET, its
		// Content-Length included (RFC 9110 §9.3.2): it goes inward as a
		// GET and the body is dropped. hub_etag, when outer, did it already.
		w, r = hub.HeadAsGet(w, r)
	}
	rec := jsonx.NewRecorder(w, h.MaxBody, func(status int, hdr http.Header) bool {
		// Only a 200 is the representation the selection describes;
		// errors, 201s and others keep their whole body.
		return status == http.StatusOK && !plan.Claimed && jsonx.Transformable(status, hdr, h.MaxBody)
	})
	rec.KeepETag = hub.KeepUpstreamETag
	err := next.ServeHTTP(rec, r)
	if !rec.Buffered() {
		if err == nil {
			count("passthrough")
		}
		return err
	}
	if err != nil {
		return err
	}
	buf := jsonx.GetSlice()
	out, terr := jsonx.Apply(*buf, rec.Body(), &jsonx.Options{Select: plan.Selected, Envelope: plan.Envelope})
	if terr != nil {
		h.log.Debug("answer not filtered: not valid JSON", zap.String("path", r.URL.Path), zap.Error(terr))
		count("passthrough")
		jsonx.PutSlice(buf, out)
		return rec.Passthrough()
	}
	count("selected")
	err = rec.Finish(r, out)
	jsonx.PutSlice(buf, out)
	return err
}

// deferred reports whether path is under a translated version.
func (h *Handler) deferred(path string) bool {
	for _, p := range h.DeferPrefixes {
		if strings.HasPrefix(path, p) {
			return true
		}
	}
	return false
}

// fieldsParam returns the ?fields= value (several are joined with commas).
// The raw query is scanned by hand: url.ParseQuery drops pairs it cannot
// decode, which would let a malformed selection reach the upstream unseen.
func fieldsParam(rawQuery string) (string, bool) {
	if rawQuery == "" || (!strings.Contains(rawQuery, "fields") && !strings.Contains(rawQuery, "%")) {
		return "", false // the common case costs no query parse
	}
	var vals []string
	for pair := range strings.SplitSeq(rawQuery, "&") {
		k, v, _ := strings.Cut(pair, "=")
		if k != "fields" {
			if dk, err := url.QueryUnescape(k); err != nil || dk != "fields" {
				continue
			}
		}
		dv, err := url.QueryUnescape(v)
		if err != nil {
			dv = v // invalid escapes: ParseFields refuses the '%'
		}
		vals = append(vals, dv)
	}
	if vals == nil {
		return "", false
	}
	return strings.Join(vals, ","), true
}

// resource names the entity a path addresses: the hub app's route
// vocabulary decides (nested collections, groups such as admin,
// namespaces such as auth); a path it does not know is still an entity
// when this handler has a whitelist for it (configs without a
// vocabulary).
func (h *Handler) resource(p string) (entity string, collection, ok bool) {
	if h.routes != nil {
		if e, c, _, known := h.routes.Resource(p); known {
			return e, c, true
		}
	}
	entity, collection, ok = resourcePath(p)
	return entity, collection, ok && h.allowed[entity] != nil
}

// resourcePath splits /api/<version>/<entity>[/<id>...]: collection is true
// when the path names the entity itself.
func resourcePath(p string) (entity string, collection, ok bool) {
	rest, found := strings.CutPrefix(p, "/api/")
	if !found {
		return "", false, false
	}
	version, rest, found := strings.Cut(rest, "/")
	if !found || len(version) < 2 || version[0] != 'v' {
		return "", false, false
	}
	rest = strings.TrimSuffix(rest, "/")
	entity, tail, more := strings.Cut(rest, "/")
	if entity == "" {
		return "", false, false
	}
	return entity, !more || tail == "", true
}

// outcomes is hub_fields_requests_total{outcome}: selected, rejected,
// passthrough (not a filterable 200 JSON answer, or over max_body),
// deferred (handed to hub_version). One per process (hub.NewCounterVec).
var outcomes = hub.NewCounterVec(prometheus.CounterOpts{
	Name: "hub_fields_requests_total",
	Help: "Requests with a ?fields= selection, by outcome.",
}, []string{"outcome"})

func count(outcome string) { outcomes.WithLabelValues(outcome).Inc() }

// Interface guards.
var (
	_ caddy.Provisioner           = (*Handler)(nil)
	_ caddy.Validator             = (*Handler)(nil)
	_ caddyhttp.MiddlewareHandler = (*Handler)(nil)
)
