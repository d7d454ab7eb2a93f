// Package hubversion is the hub_version HTTP handler: it serves /api/v2/*
// from the v1 upstream and marks v1 as deprecated.
//
// On v2 the request path is rewritten to v1, query parameter names (and the
// names inside fields= and sort=) and JSON request bodies are renamed
// v2→v1; JSON answers are renamed v1→v2 (every member name camelCased,
// plus the explicit renames of the mapping file, nested objects and arrays
// included), problem bodies get their errors[].field names mapped, and
// Location headers point to v2. When hub_fields published a selection
// (hub.fields), hub_version validates it in v2 names and applies it in the
// same pass as the renaming: a body is scanned once.
//
// On v1 the body is never touched; Deprecation (RFC 9745), Sunset
// (RFC 8594) and Link (RFC 8288) headers are added.
package hubversion

import (
	"fmt"
	"maps"
	"net/http"
	"strconv"
	"strings"
	"time"

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

// Defaults.
const (
	DefaultV1Prefix       = "/api/v1/"
	DefaultV2Prefix       = "/api/v2/"
	DefaultOpenAPISource  = "/api/openapi.json"
	DefaultMaxBody        = 8 << 20
	DefaultMaxRequestBody = 1 << 20
)

// Handler translates v2 to v1 and back.
type Handler struct {
	// Mapping is the path of the v2 mapping file (JSON, see
	// configs/v2-mapping.json), read at provision (so on every reload);
	// relative paths are relative to the working directory. Default none:
	// names are only camelCased.
	Mapping string `json:"mapping,omitempty"`
	// Renames are explicit v1 → v2 renames added to (and overriding) those
	// of the mapping file.
	Renames map[string]string `json:"renames,omitempty"`
	// V1Prefix is the path prefix of v1, which gets the deprecation
	// headers. Default "/api/v1/".
	V1Prefix string `json:"v1_prefix,omitempty"`
	// V2Prefix is the path prefix served from v1. Default "/api/v2/".
	V2Prefix string `json:"v2_prefix,omitempty"`
	// Deprecated is when v1 was (or will be) deprecated, RFC 3339 or
	// YYYY-MM-DD (UTC), sent as "Deprecation: @<unix seconds>" (RFC 9745
	// §2.1). Default none: no Deprecation header.
	Deprecated string `json:"deprecated,omitempty"`
	// Sunset is when v1 stops answering, RFC 3339 or YYYY-MM-DD (UTC),
	// sent as an HTTP-date in Sunset (RFC 8594 §3). Default none.
	Sunset string `json:"sunset,omitempty"`
	// DeprecationLink is a URL explaining the deprecation, sent as
	// Link rel="deprecation" (RFC 9745 §3). Default none.
	DeprecationLink string `json:"deprecation_link,omitempty"`
	// SunsetLink is a URL about the sunset policy, sent as Link
	// rel="sunset" (RFC 8594 §6). Default none.
	SunsetLink string `json:"sunset_link,omitempty"`
	// OpenAPISource is the upstream path of the v1 OpenAPI document from
	// which <v2_prefix>openapi.json is derived. Default "/api/openapi.json".
	OpenAPISource string `json:"openapi_source,omitempty"`
	// MaxBody is the largest v2 answer, in bytes, that is translated; a
	// larger one is refused with 502 rather than sent with v1 names.
	// Default 8 MiB.
	MaxBody int `json:"max_body,omitempty"`
	// MaxRequestBody is the largest v2 JSON request body, in bytes.
	// Default 1 MiB.
	MaxRequestBody int `json:"max_request_body,omitempty"`

	mapping    *jsonx.Mapping
	deprecated string // header values, precomputed
	sunset     string
	links      string // rel="deprecation" / rel="sunset" links
	log        *zap.Logger
}

// CaddyModule returns the Caddy module information.
func (Handler) CaddyModule() caddy.ModuleInfo {
	return caddy.ModuleInfo{
		ID:  "http.handlers.hub_version",
		New: func() caddy.Module { return new(Handler) },
	}
}

// Provision reads the mapping and precomputes the v1 headers.
func (h *Handler) Provision(ctx caddy.Context) error {
	h.log = ctx.Logger()
	if err := h.setup(); err != nil {
		return err
	}
	return hub.RegisterCollectors(ctx.GetMetricsRegistry(), translations)
}

func (h *Handler) setup() error {
	if h.V1Prefix == "" {
		h.V1Prefix = DefaultV1Prefix
	}
	if h.V2Prefix == "" {
		h.V2Prefix = DefaultV2Prefix
	}
	if h.OpenAPISource == "" {
		h.OpenAPISource = DefaultOpenAPISource
	}
	if h.MaxBody <= 0 {
		h.MaxBody = DefaultMaxBody
	}
	if h.MaxRequestBody <= 0 {
		h.MaxRequestBody = DefaultMaxRequestBody
	}
	renames := map[string]string{}
	if h.Mapping != "" {
		_, fromFile, err := jsonx.LoadMapping(h.Mapping)
		if err != nil {
			return err
		}
		maps.Copy(renames, fromFile)
	}
	maps.Copy(renames, h.Renames)
	m, err := jsonx.NewMapping(renames)
	if err != nil {
		return err
	}
	h.mapping = m
	if h.Deprecated != "" {
		t, err := parseDate(h.Deprecated)
		if err != nil {
			return fmt.Errorf("deprecated: %w", err)
		}
		h.deprecated = "@" + strconv.FormatInt(t.Unix(), 10)
	}
	if h.Sunset != "" {
		t, err := parseDate(h.Sunset)
		if err != nil {
			return fmt.Errorf("sunset: %w", err)
		}
		h.sunset = t.UTC().Format(http.TimeFormat)
	}
	var links []string
	if h.DeprecationLink != "" {
		links = append(links, "<"+h.DeprecationLink+`>; rel="deprecation"; type="text/html"`)
	}
	if h.SunsetLink != "" {
		links = append(links, "<"+h.SunsetLink+`>; rel="sunset"; type="text/html"`)
	}
	h.links = strings.Join(links, ", ")
	return nil
}

// Validate checks the prefixes and links.
func (h *Handler) Validate() error {
	for _, p := range []string{h.V1Prefix, h.V2Prefix} {
		if !strings.HasPrefix(p, "/") || !strings.HasSuffix(p, "/") {
			return fmt.Errorf("prefix %q must start and end with /", p)
		}
	}
	if h.V1Prefix == h.V2Prefix {
		return fmt.Errorf("v1_prefix and v2_prefix are both %q", h.V1Prefix)
	}
	for _, l := range []string{h.DeprecationLink, h.SunsetLink} {
		if strings.ContainsAny(l, "<>\" \r\n") {
			return fmt.Errorf("link %q must be a plain URL", l)
		}
	}
	return nil
}

// parseDate reads RFC 3339 or a bare YYYY-MM-DD (midnight UTC).
func parseDate(s string) (time.Time, error) {
	if t, err := time.Parse(time.RFC3339, s); err == nil {
		return t, nil
	}
	t, err := time.Parse(time.DateOnly, s)
	if err != nil {
		return time.Time{}, fmt.Errorf("%q is neither RFC 3339 nor YYYY-MM-DD", s)
	}
	return t, nil
}

// ServeHTTP dispatches on the version prefix.
func (h *Handler) ServeHTTP(w http.ResponseWriter, r *http.Request, next caddyhttp.Handler) error {
	p := r.URL.Path
	switch {
	case strings.HasPrefix(p, h.V1Prefix):
		h.deprecationHeaders(w.Header(), p)
		return next.ServeHTTP(w, r)
	case p == h.V2Prefix+"openapi.json":
		w, r = h.headAsGet(w, r)
		return h.serveOpenAPI(w, r, next)
	case strings.HasPrefix(p, h.V2Prefix):
		w, r = h.headAsGet(w, r)
		return h.serveV2(w, r, next)
	}
	return next.ServeHTTP(w, r)
}

// headAsGet sends a HEAD inward as a GET and drops the body of the answer,
// so that the HEAD gets the headers of the translated GET, Content-Length
// included (RFC 9110 §9.3.2). hub_etag, when it is outer, has already done
// so; without it this keeps v2 right.
func (h *Handler) headAsGet(w http.ResponseWriter, r *http.Request) (http.ResponseWriter, *http.Request) {
	if r.Method != http.MethodHead {
		return w, r
	}
	return hub.HeadAsGet(w, r)
}

// deprecationHeaders marks a v1 answer: set before the upstream answers so
// they are on every v1 response, errors included. The body stays
// byte-identical to the upstream's.
func (h *Handler) deprecationHeaders(hdr http.Header, path string) {
	if h.deprecated != "" {
		hdr.Set("Deprecation", h.deprecated)
	}
	if h.sunset != "" {
		hdr.Set("Sunset", h.sunset)
	}
	// The successor of a v1 resource is the same resource under v2
	// (RFC 5829 successor-version), a reference relative to the request.
	hdr.Add("Link", "<"+h.V2Prefix+strings.TrimPrefix(path, h.V1Prefix)+`>; rel="successor-version"`)
	if h.links != "" {
		hdr.Add("Link", h.links)
	}
}

// translations is hub_version_translations_total{kind}: request_body,
// response (renamed answers), selected (renamed and field-selected),
// problem, openapi, passthrough, invalid_request, too_large. One per
// process (hub.NewCounterVec).
var translations = hub.NewCounterVec(prometheus.CounterOpts{
	Name: "hub_version_translations_total",
	Help: "v2 translations done by hub_version, by kind.",
}, []string{"kind"})

func count(kind string) { translations.WithLabelValues(kind).Inc() }

// Interface guards.
var (
	_ caddy.Provisioner           = (*Handler)(nil)
	_ caddy.Validator             = (*Handler)(nil)
	_ caddyhttp.MiddlewareHandler = (*Handler)(nil)
)
