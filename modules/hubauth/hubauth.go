// Package hubauth is the hub_auth HTTP handler: it authenticates every
// request (API key, user JWT or OAuth2 access token), enforces scopes per
// route and the key's IP allowlist, strips client-sent identity headers and
// passes the verified identity on: to the other handlers (hub.IdentityOf)
// and, as the signed assertion {hub.assertion} that the proxy's header_up
// sends, to the upstream.
package hubauth

import (
	"errors"
	"fmt"
	"net/http"
	"net/netip"
	"path"
	"strings"
	"time"

	"github.com/caddyserver/caddy/v2"
	"github.com/caddyserver/caddy/v2/modules/caddyhttp"
	"go.uber.org/zap"

	"github.com/hubchantier/hubgate/internal/apikey"
	"github.com/hubchantier/hubgate/internal/assertion"
	"github.com/hubchantier/hubgate/modules/hub"
)

func init() {
	caddy.RegisterModule(Handler{})
}

// DefaultResourcePrefixes are the path prefixes under which scopes are
// derived from the resource name (v2 is served from v1 by hub_version and
// keeps the resource names).
var DefaultResourcePrefixes = []string{"/api/v1/", "/api/v2/"}

// Handler authenticates requests. Rules are tried in order; a request no
// rule matches needs an authenticated caller, and under ResourcePrefix the
// scope derived from its resource and method.
type Handler struct {
	// Rules are the access rules, first match wins (see Rule).
	Rules []*Rule `json:"rules,omitempty"`
	// ResourcePrefixes are where scopes are derived from the first path
	// segment: GET /api/v1/widgets needs read, widgets:read or
	// widgets:*; writes need write, widgets:write or widgets:*;
	// /api/v1/admin/* needs admin. Default ["/api/v1/", "/api/v2/"];
	// ["off"] disables derivation.
	ResourcePrefixes []string `json:"resource_prefixes,omitempty"`
	// Realm is the realm of WWW-Authenticate challenges. Default "hubgate".
	Realm string `json:"realm,omitempty"`
	// FailedAuth limits failed authentications (unknown, expired, revoked
	// or malformed keys and tokens) per client network (IPv4 address, IPv6
	// prefix of the hub app's ipv6_prefix bits): "N/unit" rates, counted
	// in the shared store. Past the limit, every credential from that
	// network is refused with 429 and Retry-After, before it costs an
	// introspection, until a unit comes back. Default ["20/minute"];
	// ["off"] disables it.
	FailedAuth []string `json:"failed_auth,omitempty"`

	app      *hub.App
	resolver credentialResolver
	secret   []byte
	signer   *assertion.Signer // of secret (Provision); nil: assertion.Sign
	log      *zap.Logger
	now      func() time.Time
	metrics  *hub.Metrics
	failures *failures // nil: failed authentications are not limited
	ipv6Bits int       // IPv6 grouping of client networks
}

// credentialResolver is what the handler needs from the hub app's resolver;
// tests may supply their own.
type credentialResolver interface {
	APIKeyFor(r *http.Request, key string) (*hub.Identity, error)
	JWTFor(r *http.Request, token string) (*hub.Identity, error)
}

// CaddyModule returns the Caddy module information.
func (Handler) CaddyModule() caddy.ModuleInfo {
	return caddy.ModuleInfo{
		ID:  "http.handlers.hub_auth",
		New: func() caddy.Module { return new(Handler) },
	}
}

// Provision compiles the rules and fetches the hub app.
func (h *Handler) Provision(ctx caddy.Context) error {
	h.log = ctx.Logger()
	h.now = time.Now
	if h.Realm == "" {
		h.Realm = "hubgate"
	}
	if len(h.ResourcePrefixes) == 0 {
		h.ResourcePrefixes = DefaultResourcePrefixes
	}
	if len(h.ResourcePrefixes) == 1 && h.ResourcePrefixes[0] == "off" {
		h.ResourcePrefixes = nil
	}
	h.metrics = hub.GetMetrics()
	for i, r := range h.Rules {
		if err := r.compile(); err != nil {
			return fmt.Errorf("rule %d: %w", i, err)
		}
	}
	appIface, err := ctx.App("hub")
	if err != nil {
		return fmt.Errorf("hub_auth needs the hub app: %w", err)
	}
	h.app = appIface.(*hub.App)
	h.resolver = resolverAdapter{h.app.Resolver()}
	h.secret = h.app.SharedSecret()
	h.signer = assertion.NewSigner(h.secret)
	h.ipv6Bits = h.app.IPv6PrefixBits()
	lim, _ := h.app.Store().(hub.Limiter)
	if err := h.compileFailures(lim); err != nil {
		return fmt.Errorf("hub_auth: %w (with the %s store)", err, h.app.Store().Kind())
	}
	return nil
}

// Validate checks the rules.
func (h *Handler) Validate() error {
	for i, r := range h.Rules {
		if r.Public && len(r.Scopes) > 0 {
			return fmt.Errorf("rule %d (%s): a public rule cannot require scopes", i, r.Path)
		}
	}
	return nil
}

// ServeHTTP authenticates, authorizes and forwards.
func (h *Handler) ServeHTTP(w http.ResponseWriter, r *http.Request, next caddyhttp.Handler) error {
	hub.EnsureRequestID(w, r)
	stripIdentityHeaders(r.Header)
	if !canonicalPath(r.URL.Path) {
		// Rules and scopes are decided on the path as written; a path with
		// empty, "." or ".." segments could be read differently upstream.
		return h.reject(w, r, errBadPath)
	}

	rule := h.match(r)
	if rule != nil && rule.Public {
		if err := h.forward(r, &hub.Identity{Method: assertion.MethodAnonymous}); err != nil {
			return err
		}
		return next.ServeHTTP(w, r)
	}

	if b := hub.BatchOf(r); b != nil && b.Identity != nil {
		// An operation of a batch (hub_batch): the batch call was
		// authenticated a moment ago and its credentials are gone; the
		// operation gets that identity, and its own route's IP allowlist
		// and scopes are checked below as for a single request.
		return h.authorize(w, r, next, rule, b.Identity)
	}
	cred, kind, problemErr := credential(r)
	if problemErr != nil {
		return h.reject(w, r, problemErr)
	}
	if cred == "" {
		return h.reject(w, r, errNoCredentials)
	}
	var network string
	if h.failures != nil {
		network = hub.ClientNetwork(r, h.ipv6Bits)
		if err := h.failures.check(network, h.now()); err != nil {
			return h.reject(w, r, err)
		}
	}
	var ident *hub.Identity
	var err error
	if kind == kindAPIKey {
		ident, err = h.resolver.APIKeyFor(r, cred)
	} else {
		ident, err = h.resolver.JWTFor(r, cred)
	}
	if err != nil {
		if h.failures != nil && countsAsFailure(r, err) {
			if terr := h.failures.record(r.Context(), network, h.now()); terr != nil {
				return h.reject(w, r, terr)
			}
		}
		return h.reject(w, r, err)
	}
	return h.authorize(w, r, next, rule, ident)
}

// authorize checks the verified identity's IP allowlist and the route's
// scopes, then forwards the request without its credentials.
func (h *Handler) authorize(w http.ResponseWriter, r *http.Request, next caddyhttp.Handler, rule *Rule, ident *hub.Identity) error {
	if len(ident.IPAllow) > 0 {
		ip, ok := clientIP(r)
		if !ok || !ident.AllowsIP(ip) {
			return h.reject(w, r, errIPNotAllowed)
		}
	}
	if !h.scopesGranted(rule, r, ident.Scopes) {
		return h.reject(w, r, &scopeError{need: h.requiredScopes(rule, r)})
	}
	// Credentials stop here: the upstream gets the assertion instead, and
	// never sees (or logs) a key or token.
	r.Header.Del("Authorization")
	r.Header.Del("X-Api-Key")
	if err := h.forward(r, ident); err != nil {
		return err
	}
	return next.ServeHTTP(w, r)
}

// match returns the first rule matching the request, or nil.
func (h *Handler) match(r *http.Request) *Rule {
	for _, rule := range h.Rules {
		if rule.Match(r.Method, r.URL.Path) {
			return rule
		}
	}
	return nil
}

func (h *Handler) requiredScopes(rule *Rule, r *http.Request) []string {
	if rule != nil {
		return rule.Scopes
	}
	for _, prefix := range h.ResourcePrefixes {
		if need, ok := derivedScopes(prefix, r.Method, r.URL.Path); ok {
			return need
		}
	}
	return nil
}

// forward records the identity for the handlers after hub_auth
// (hub.SetIdentity), exposes it as placeholders for logs, and provides
// {hub.assertion}, which the proxy's header_up evaluates: the assertion is
// signed there, once, for the method actually sent (hub.ProvideAssertion).
// Without a secret no assertion could be signed: nothing is forwarded.
func (h *Handler) forward(r *http.Request, id *hub.Identity) error {
	if len(h.secret) == 0 {
		return caddyhttp.Error(http.StatusInternalServerError, errNoSecret)
	}
	hub.SetIdentity(r, id)
	hub.ProvideAssertion(r, h)
	if repl, ok := r.Context().Value(caddy.ReplacerCtxKey).(*caddy.Replacer); ok {
		// One provider, read when a log or header asks, instead of seven
		// values set on every request (issue 12).
		repl.Map(func(key string) (any, bool) {
			if key == "hub.batch.tx" { // the upstream transaction of an atomic batch
				if b := hub.BatchOf(r); b != nil {
					return b.Tx, true
				}
				return "", true
			}
			return identityPlaceholder(id, key)
		})
	}
	return nil
}

// identityPlaceholder is the value of {hub.auth.*} for id.
func identityPlaceholder(id *hub.Identity, key string) (any, bool) {
	name, ok := strings.CutPrefix(key, "hub.auth.")
	if !ok {
		return nil, false
	}
	switch name {
	case "subject":
		return id.Subject, true
	case "key_id":
		return id.KeyID, true
	case "client_id":
		return id.ClientID, true
	case "method":
		return id.Method, true
	case "role":
		return id.Role, true
	case "scopes":
		return strings.Join(id.Scopes, " "), true
	}
	return nil, false
}

var errNoSecret = errors.New("hub_auth: no gateway secret to sign identity assertions")

// SignAssertion signs the assertion of id (hub.AssertionSigner). A signing
// failure (it cannot happen with a provisioned secret) gives an empty
// assertion, which the upstream refuses: never fail open.
func (h *Handler) SignAssertion(id *hub.Identity, rid, httpMethod string) string {
	signer := h.signer
	if signer == nil {
		signer = assertion.NewSigner(h.secret)
	}
	token, err := signer.Sign(&assertion.Claims{
		Subject:    id.Subject,
		Role:       id.Role,
		Method:     id.Method,
		KeyID:      id.KeyID,
		ClientID:   id.ClientID,
		Scopes:     id.Scopes,
		RequestID:  rid,
		HTTPMethod: httpMethod,
	}, h.now())
	if err != nil {
		h.log.Error("signing the identity assertion", zap.String("request_id", rid), zap.Error(err))
		return ""
	}
	return token
}

// canonicalPath reports whether p is absolute and has no empty, "." or ".."
// segment (a trailing slash is allowed).
func canonicalPath(p string) bool {
	if !strings.HasPrefix(p, "/") {
		return false
	}
	c := path.Clean(p)
	return p == c || p == c+"/"
}

// stripIdentityHeaders removes every X-Hub-* header a client sent: only the
// gateway speaks for identity.
func stripIdentityHeaders(hdr http.Header) {
	for k := range hdr {
		if len(k) >= 6 && strings.EqualFold(k[:6], "X-Hub-") {
			delete(hdr, k)
		}
	}
}

// clientIP returns Caddy's client_ip, which honours trusted_proxies.
func clientIP(r *http.Request) (netip.Addr, bool) {
	s, _ := caddyhttp.GetVar(r.Context(), caddyhttp.ClientIPVarKey).(string)
	a, err := netip.ParseAddr(s)
	if err != nil {
		return netip.Addr{}, false
	}
	return a.Unmap().WithZone(""), true
}

// scopesGranted reports whether have satisfies the scopes the request
// needs (requiredScopes), without building them: this runs on every
// request (issue 12), the list is built only for a refusal's message.
func (h *Handler) scopesGranted(rule *Rule, r *http.Request, have []string) bool {
	if rule != nil {
		return len(rule.Scopes) == 0 || grantsAny(have, rule.Scopes)
	}
	for _, prefix := range h.ResourcePrefixes {
		if need, ok := derivedNeed(prefix, r.Method, r.URL.Path); ok {
			for _, n := range need {
				if n.a != "" && grantsPair(have, n.a, n.b) {
					return true
				}
			}
			return false
		}
	}
	return true
}

// grantsPair is grantsAny(have, []string{a + b}) without the concatenation.
func grantsPair(have []string, a, b string) bool {
	for _, h := range have {
		if len(h) == len(a)+len(b) && h[:len(a)] == a && h[len(a):] == b {
			return true
		}
		if p, ok := strings.CutSuffix(h, "*"); ok && strings.HasSuffix(p, ":") && hasPrefixPair(a, b, p) {
			return true
		}
	}
	return false
}

// hasPrefixPair reports whether a + b starts with p.
func hasPrefixPair(a, b, p string) bool {
	if len(p) <= len(a) {
		return strings.HasPrefix(a, p)
	}
	return p[:len(a)] == a && strings.HasPrefix(b, p[len(a):])
}

// grantsAny reports whether one of have satisfies one of need. A scope
// "x:*" grants "x:read" and "x:write".
func grantsAny(have, need []string) bool {
	for _, n := range need {
		for _, h := range have {
			if h == n || (strings.HasSuffix(h, ":*") && strings.HasPrefix(n, h[:len(h)-1])) {
				return true
			}
		}
	}
	return false
}

// resolverAdapter binds the hub resolver to request contexts.
type resolverAdapter struct{ r *hub.Resolver }

func (a resolverAdapter) APIKeyFor(r *http.Request, key string) (*hub.Identity, error) {
	return a.r.APIKey(r.Context(), key)
}

func (a resolverAdapter) JWTFor(r *http.Request, token string) (*hub.Identity, error) {
	return a.r.JWT(r.Context(), token)
}

const (
	kindAPIKey = iota + 1
	kindBearer
)

// credential extracts the one credential of the request: Authorization:
// Bearer (an API key or a JWT) or X-API-Key. RFC 6750 §3.1: more than one
// method is an invalid_request.
func credential(r *http.Request) (string, int, error) {
	authz := r.Header.Get("Authorization")
	xkey := r.Header.Get("X-Api-Key")
	if authz != "" && xkey != "" {
		return "", 0, errTwoCredentials
	}
	if xkey != "" {
		return strings.TrimSpace(xkey), kindAPIKey, nil
	}
	if authz == "" {
		return "", 0, nil
	}
	scheme, token, ok := strings.Cut(authz, " ")
	if !ok || !strings.EqualFold(scheme, "Bearer") {
		return "", 0, nil // not our scheme: as if no credentials
	}
	token = strings.TrimSpace(token)
	if token == "" {
		return "", 0, hub.ErrMalformed
	}
	if apikey.LooksLikeKey(token) {
		return token, kindAPIKey, nil
	}
	return token, kindBearer, nil
}

// Interface guards.
var (
	_ caddy.Provisioner           = (*Handler)(nil)
	_ caddy.Validator             = (*Handler)(nil)
	_ caddyhttp.MiddlewareHandler = (*Handler)(nil)
	_ hub.AssertionSigner         = (*Handler)(nil)
)
