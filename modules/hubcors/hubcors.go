// Package hubcors is the hub_cors handler: a strict CORS policy for
// browser clients (allowed origins listed, none by default; credentials
// only for them; preflights answered at the gateway) and the security
// headers every answer carries. See docs/cors.md.
package hubcors

import (
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/caddyserver/caddy/v2"
	"github.com/caddyserver/caddy/v2/modules/caddyhttp"

	"github.com/hubchantier/hubgate/internal/problem"
	"github.com/hubchantier/hubgate/modules/hub"
)

func init() {
	caddy.RegisterModule(Handler{})
}

// Defaults.
var (
	// DefaultMethods are the methods a preflight may ask for.
	DefaultMethods = []string{"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE"}
	// DefaultHeaders are the request headers a preflight may ask for
	// (beyond the CORS-safelisted ones).
	DefaultHeaders = []string{"Authorization", "Content-Type", "X-API-Key", "If-Match", "If-None-Match",
		"If-Modified-Since", "If-Unmodified-Since", "Idempotency-Key", "X-Request-Id", "Prefer", "Accept-Language"}
	// DefaultExpose are the response headers a page's script may read:
	// those the API's clients act on.
	DefaultExpose = []string{"ETag", "Location", "Retry-After", "RateLimit", "RateLimit-Policy",
		"X-RateLimit-Limit", "X-RateLimit-Remaining", "X-RateLimit-Reset", "Deprecation", "Sunset", "Link",
		"Cache-Status", "X-Request-Id", "Idempotent-Replayed", "WWW-Authenticate"}
)

// Default values.
const (
	DefaultMaxAge         = 10 * time.Minute
	DefaultReferrerPolicy = "no-referrer"
	DefaultHSTS           = "max-age=31536000; includeSubDomains"
)

// Handler is the hub_cors middleware.
type Handler struct {
	// Origins are the allowed origins, exactly as browsers send them
	// (scheme://host[:port], no path). None (the default) means no CORS
	// header at all: browsers then refuse every cross-origin read, and
	// preflights get 403. "*" is refused: a wildcard would hand the
	// API to every page on the web.
	Origins []string `json:"origins,omitempty"`
	// Credentials sends Access-Control-Allow-Credentials: true to the
	// listed origins (cookies, Authorization from the browser). Never to
	// an origin not listed.
	Credentials bool `json:"credentials,omitempty"`
	// Methods a preflight may ask for. Default GET HEAD POST PUT PATCH DELETE.
	Methods []string `json:"methods,omitempty"`
	// Headers a preflight may ask for (case-insensitive). Default:
	// Authorization, Content-Type, X-API-Key, the conditional headers,
	// Idempotency-Key, X-Request-Id, Prefer, Accept-Language.
	Headers []string `json:"headers,omitempty"`
	// Expose are the response headers scripts may read
	// (Access-Control-Expose-Headers). Default: ETag, Location,
	// Retry-After, the RateLimit and X-RateLimit ones, Deprecation,
	// Sunset, Link, Cache-Status, X-Request-Id, Idempotent-Replayed,
	// WWW-Authenticate.
	Expose []string `json:"expose,omitempty"`
	// MaxAge is how long a browser may cache a preflight's answer
	// (Access-Control-Max-Age). Default 10m (browsers cap it: Chrome 2h).
	MaxAge caddy.Duration `json:"max_age,omitempty"`
	// ReferrerPolicy is the Referrer-Policy sent when the answer has none.
	// Default no-referrer; "off" sends none.
	ReferrerPolicy string `json:"referrer_policy,omitempty"`
	// HSTS is the Strict-Transport-Security value sent on answers over
	// TLS (never over plain HTTP, RFC 6797 §7.2). Default
	// "max-age=31536000; includeSubDomains"; "off" sends none.
	HSTS string `json:"hsts,omitempty"`

	origins      map[string]bool
	methods      map[string]bool
	headers      map[string]bool
	allowMethods string
	allowHeaders string
	expose       string
}

// CaddyModule returns the Caddy module information.
func (Handler) CaddyModule() caddy.ModuleInfo {
	return caddy.ModuleInfo{
		ID:  "http.handlers.hub_cors",
		New: func() caddy.Module { return new(Handler) },
	}
}

// Provision applies the defaults and checks the origins.
func (h *Handler) Provision(caddy.Context) error { return h.compile() }

func (h *Handler) compile() error {
	h.origins = make(map[string]bool, len(h.Origins))
	for _, o := range h.Origins {
		if err := checkOrigin(o); err != nil {
			return fmt.Errorf("hub_cors: origin %q: %w", o, err)
		}
		h.origins[strings.ToLower(o)] = true
	}
	if len(h.Methods) == 0 {
		h.Methods = DefaultMethods
	}
	if len(h.Headers) == 0 {
		h.Headers = DefaultHeaders
	}
	if len(h.Expose) == 0 {
		h.Expose = DefaultExpose
	}
	if h.MaxAge <= 0 {
		h.MaxAge = caddy.Duration(DefaultMaxAge)
	}
	if h.ReferrerPolicy == "" {
		h.ReferrerPolicy = DefaultReferrerPolicy
	}
	if h.HSTS == "" {
		h.HSTS = DefaultHSTS
	}
	h.methods = make(map[string]bool)
	for i, m := range h.Methods {
		h.Methods[i] = strings.ToUpper(m)
		h.methods[h.Methods[i]] = true
	}
	h.headers = make(map[string]bool)
	for _, k := range h.Headers {
		h.headers[strings.ToLower(k)] = true
	}
	h.allowMethods = strings.Join(h.Methods, ", ")
	h.allowHeaders = strings.Join(h.Headers, ", ")
	h.expose = strings.Join(h.Expose, ", ")
	return nil
}

// checkOrigin accepts a serialized origin (RFC 6454 §6.2): http or https,
// a host, an optional port, nothing else.
func checkOrigin(o string) error {
	if o == "*" || o == "null" {
		return fmt.Errorf("list each allowed origin (scheme://host[:port]); %q is never allowed", o)
	}
	u, err := url.Parse(o)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" ||
		u.Path != "" || u.RawQuery != "" || u.Fragment != "" || u.User != nil || strings.HasSuffix(o, "/") {
		return fmt.Errorf("not an origin: scheme://host[:port], without path or trailing slash")
	}
	return nil
}

// ServeHTTP implements caddyhttp.MiddlewareHandler.
func (h *Handler) ServeHTTP(w http.ResponseWriter, r *http.Request, next caddyhttp.Handler) error {
	origin := r.Header.Get("Origin")
	allowed := origin != "" && h.origins[strings.ToLower(origin)]
	hdr := w.Header()
	if len(h.origins) > 0 {
		addVary(hdr, "Origin")
	}
	if r.Method == http.MethodOptions && origin != "" && r.Header.Get("Access-Control-Request-Method") != "" {
		return h.preflight(w, r, origin, allowed)
	}
	if allowed {
		hdr.Set("Access-Control-Allow-Origin", origin)
		if h.Credentials {
			hdr.Set("Access-Control-Allow-Credentials", "true")
		}
		hdr.Set("Access-Control-Expose-Headers", h.expose)
	}
	sw := &securityWriter{ResponseWriterWrapper: caddyhttp.ResponseWriterWrapper{ResponseWriter: w}, h: h, tls: r.TLS != nil}
	err := next.ServeHTTP(sw, r)
	if !sw.wrote {
		// Nothing written: net/http sends the header after this returns,
		// or handle_errors answers (on the same header map).
		h.secure(hdr, r.TLS != nil)
	}
	return err
}

// preflight answers an OPTIONS with Access-Control-Request-Method at the
// gateway: it never reaches hub_auth (browsers send no credentials with
// it) nor counts against a rate limit.
func (h *Handler) preflight(w http.ResponseWriter, r *http.Request, origin string, allowed bool) error {
	hdr := w.Header()
	addVary(hdr, "Access-Control-Request-Method")
	addVary(hdr, "Access-Control-Request-Headers")
	h.secure(hdr, r.TLS != nil)
	method := r.Header.Get("Access-Control-Request-Method")
	var refusal string
	switch {
	case !allowed:
		refusal = fmt.Sprintf("origin %s is not allowed to call this API from a browser", origin)
	case !h.methods[method]:
		refusal = fmt.Sprintf("method %s is not allowed from a browser (allowed: %s)", method, h.allowMethods)
	default:
		for _, name := range requestedHeaders(r) {
			if !h.headers[name] {
				refusal = fmt.Sprintf("request header %s is not allowed from a browser (allowed: %s)", name, h.allowHeaders)
				break
			}
		}
	}
	if refusal != "" {
		hub.WriteProblem(w, r, problem.New(http.StatusForbidden, "cors-preflight-refused", "CORS Preflight Refused", refusal))
		return nil
	}
	hdr.Set("Access-Control-Allow-Origin", origin)
	if h.Credentials {
		hdr.Set("Access-Control-Allow-Credentials", "true")
	}
	hdr.Set("Access-Control-Allow-Methods", h.allowMethods)
	hdr.Set("Access-Control-Allow-Headers", h.allowHeaders)
	hdr.Set("Access-Control-Max-Age", strconv.Itoa(int(time.Duration(h.MaxAge).Seconds())))
	hdr.Set("Cache-Control", "no-store") // shared caches would mix origins up
	w.WriteHeader(http.StatusNoContent)
	return nil
}

// requestedHeaders lists Access-Control-Request-Headers, lower-cased.
func requestedHeaders(r *http.Request) []string {
	var out []string
	for _, v := range r.Header.Values("Access-Control-Request-Headers") {
		for _, name := range strings.Split(v, ",") {
			if name = strings.ToLower(strings.TrimSpace(name)); name != "" {
				out = append(out, name)
			}
		}
	}
	return out
}

// addVary adds name to Vary unless it is there (or Vary is *).
func addVary(hdr http.Header, name string) {
	for _, v := range hdr.Values("Vary") {
		for _, f := range strings.Split(v, ",") {
			if f = strings.TrimSpace(f); f == "*" || strings.EqualFold(f, name) {
				return
			}
		}
	}
	hdr.Add("Vary", name)
}

// secure sets the security headers the answer lacks: a header the
// upstream (or an inner handler) set is kept as it is, being the one that
// knows its content (the console's own policy, say).
func (h *Handler) secure(hdr http.Header, tls bool) {
	if hdr.Get("X-Content-Type-Options") == "" {
		hdr.Set("X-Content-Type-Options", "nosniff")
	}
	if h.ReferrerPolicy != "off" && hdr.Get("Referrer-Policy") == "" {
		hdr.Set("Referrer-Policy", h.ReferrerPolicy)
	}
	if tls && h.HSTS != "off" && hdr.Get("Strict-Transport-Security") == "" {
		hdr.Set("Strict-Transport-Security", h.HSTS)
	}
}

// securityWriter adds the security headers when the answer's header is
// written, after the inner handlers and the upstream set theirs.
type securityWriter struct {
	caddyhttp.ResponseWriterWrapper // by value: one allocation per request
	h                               *Handler
	tls                             bool
	wrote                           bool
}

func (sw *securityWriter) WriteHeader(code int) {
	if !sw.wrote && code >= 200 {
		sw.wrote = true
		sw.h.secure(sw.Header(), sw.tls)
		// Vary: Origin must survive an upstream that replaced Vary.
		if len(sw.h.origins) > 0 {
			addVary(sw.Header(), "Origin")
		}
	}
	sw.ResponseWriterWrapper.WriteHeader(code)
}

func (sw *securityWriter) Write(b []byte) (int, error) {
	if !sw.wrote {
		sw.WriteHeader(http.StatusOK)
	}
	return sw.ResponseWriterWrapper.Write(b)
}

// ReadFrom writes the header first: the wrapper's ReadFrom would hand the
// body to the underlying writer without this one's WriteHeader.
func (sw *securityWriter) ReadFrom(r io.Reader) (int64, error) {
	if !sw.wrote {
		sw.WriteHeader(http.StatusOK)
	}
	return sw.ResponseWriterWrapper.ReadFrom(r)
}

// Interface guards.
var (
	_ caddy.Provisioner           = (*Handler)(nil)
	_ caddyhttp.MiddlewareHandler = (*Handler)(nil)
)
