// Package hubratelimit is the hub_rate_limit HTTP handler: exact rate limits
// per principal (hub.PrincipalOf: API key; OAuth2 client and user; user;
// client network when anonymous), per user across all of a user's keys and
// tokens, per OAuth2 client, and per endpoint, shared by every gateway instance through the hub store
// (one atomic Redis script per decision), with the RateLimit-Policy and
// RateLimit fields of draft-ietf-httpapi-ratelimit-headers, the classic
// X-RateLimit-* fields, and Retry-After on 429.
package hubratelimit

import (
	"errors"
	"fmt"
	"net/http"
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
	DefaultRate          = "1000/hour"
	DefaultWarnInterval  = time.Minute
	DefaultRetryInterval = time.Second
)

// Handler limits request rates. Every request counts against the default
// policy of its principal (unless Default is ["off"]) and against every
// rule that matches it; it is admitted only if all of them admit it, the
// strictest deciding, and a refused request consumes nothing.
type Handler struct {
	// Default is the policy every request counts against, per principal:
	// "N/unit" rates, the first the main quota and the others bursts.
	// Default ["1000/hour"]; ["off"] disables it. An API key's own
	// rate_limit (set by an admin upstream) replaces it for that key.
	Default []string `json:"default,omitempty"`
	// PerUser is an optional quota of each user across all of the user's
	// API keys, login tokens and OAuth2 tokens, so that a user with ten
	// keys cannot take ten times the default: "N/unit" rates, the first
	// the main quota and the others bursts. Default none. It applies on
	// top of the default (and of a key's own rate_limit); anonymous
	// requests are not counted.
	PerUser []string `json:"per_user,omitempty"`
	// PerClient is an optional aggregate quota of each OAuth2 client
	// across all of its users (each user of a client otherwise has a
	// default bucket of their own). Default none; requests without an
	// OAuth2 token are not counted.
	PerClient []string `json:"per_client,omitempty"`
	// Rules are per-endpoint limits; every matching rule applies.
	Rules []*Rule `json:"rules,omitempty"`
	// FailClosed refuses requests with 503 while the shared store (Redis)
	// is unreachable. Default false (fail open): a local in-memory limiter
	// takes over, so limits hold per instance until the store is back.
	FailClosed bool `json:"fail_closed,omitempty"`
	// WarnInterval is the least time between two warnings about an
	// unreachable store. Default 1m.
	WarnInterval caddy.Duration `json:"warn_interval,omitempty"`
	// RetryInterval is how long the store is left alone after an error
	// before it is tried again (also the Retry-After of fail_closed 503s).
	// Default 1s.
	RetryInterval caddy.Duration `json:"retry_interval,omitempty"`

	defaultPolicy *policy
	userPolicy    *policy
	clientPolicy  *policy
	ipv6Bits      int // IPv6 grouping of per-IP counts (hub app's ipv6_prefix)
	guard         *guard
	now           func() time.Time
	log           *zap.Logger
	routes        *hub.Routes // the hub app's vocabulary, for log labels
	metrics       *hub.Metrics
}

// CaddyModule returns the Caddy module information.
func (Handler) CaddyModule() caddy.ModuleInfo {
	return caddy.ModuleInfo{
		ID:  "http.handlers.hub_rate_limit",
		New: func() caddy.Module { return new(Handler) },
	}
}

// Provision compiles the policies and takes the limiter of the hub store.
// Nothing here touches the network.
func (h *Handler) Provision(ctx caddy.Context) error {
	h.log = ctx.Logger()
	if err := h.compile(); err != nil {
		return err
	}
	m := getMetrics()
	h.metrics = hub.GetMetrics()
	if err := hub.RegisterCollectors(ctx.GetMetricsRegistry(), append(h.metrics.Collectors(), m.collectors()...)...); err != nil {
		return fmt.Errorf("registering metrics: %w", err)
	}
	appIface, err := ctx.App("hub")
	if err != nil {
		return fmt.Errorf("hub_rate_limit needs the hub app: %w", err)
	}
	app := appIface.(*hub.App)
	h.ipv6Bits = app.IPv6PrefixBits()
	h.routes = app.Routes
	store := app.Store()
	lim, ok := store.(hub.Limiter)
	if !ok {
		return fmt.Errorf("hub_rate_limit: the %s store cannot rate limit", store.Kind())
	}
	h.setLimiter(lim)
	return nil
}

// compile sets defaults and compiles the policies (Provision and tests).
func (h *Handler) compile() error {
	if h.now == nil {
		h.now = time.Now
	}
	if h.log == nil {
		h.log = zap.NewNop()
	}
	if h.WarnInterval <= 0 {
		h.WarnInterval = caddy.Duration(DefaultWarnInterval)
	}
	if h.RetryInterval <= 0 {
		h.RetryInterval = caddy.Duration(DefaultRetryInterval)
	}
	if len(h.Default) == 0 {
		h.Default = []string{DefaultRate}
	}
	h.defaultPolicy = nil
	if !(len(h.Default) == 1 && h.Default[0] == "off") {
		p, err := newPolicy(DefaultPolicyName, h.Default)
		if err != nil {
			return fmt.Errorf("default: %w", err)
		}
		h.defaultPolicy = &p
	}
	var err error
	if h.userPolicy, err = optionalPolicy(PerUserPolicyName, h.PerUser); err != nil {
		return fmt.Errorf("per_user: %w", err)
	}
	if h.clientPolicy, err = optionalPolicy(PerClientPolicyName, h.PerClient); err != nil {
		return fmt.Errorf("per_client: %w", err)
	}
	names := map[string]bool{}
	for i, r := range h.Rules {
		if err := r.compile(); err != nil {
			return fmt.Errorf("rule %d: %w", i, err)
		}
		if names[r.Name] {
			return fmt.Errorf("rule %d: duplicate rule name %q", i, r.Name)
		}
		names[r.Name] = true
	}
	return nil
}

// optionalPolicy compiles a policy that is off when it has no rates.
func optionalPolicy(name string, rates []string) (*policy, error) {
	if len(rates) == 0 {
		return nil, nil
	}
	p, err := newPolicy(name, rates)
	if err != nil {
		return nil, err
	}
	return &p, nil
}

// setLimiter wires the shared limiter behind the fail-open/closed guard.
func (h *Handler) setLimiter(lim hub.Limiter) {
	h.guard = &guard{
		primary:    lim,
		fallback:   hub.FallbackLimiter(),
		failClosed: h.FailClosed,
		retry:      time.Duration(h.RetryInterval),
		warnEvery:  time.Duration(h.WarnInterval),
		now:        h.now,
		log:        h.log,
		metrics:    getMetrics(),
	}
}

// Validate checks the configuration (compile already refused bad values).
func (h *Handler) Validate() error {
	if h.defaultPolicy == nil && h.userPolicy == nil && h.clientPolicy == nil && len(h.Rules) == 0 {
		return errors.New("hub_rate_limit: default is off and there are no rules nor per_user/per_client quotas: nothing to limit")
	}
	return nil
}

// ServeHTTP decides the request and sets the rate limit fields.
func (h *Handler) ServeHTTP(w http.ResponseWriter, r *http.Request, next caddyhttp.Handler) error {
	applied := h.windows(r)
	if len(applied) == 0 {
		return next.ServeHTTP(w, r)
	}
	ws := make([]hub.Window, len(applied))
	for i, a := range applied {
		ws[i] = a.store
	}
	d, fellBack, err := h.guard.allow(r.Context(), ws)
	if errors.Is(err, errUnavailable) {
		return h.unavailable(w, r)
	}
	if err != nil {
		return caddyhttp.Error(http.StatusInternalServerError, fmt.Errorf("rate limit: %w", err))
	}
	if fellBack {
		h.log.Debug("rate limit decided locally (store unreachable)")
	}
	setFields(w.Header(), applied, d, h.now())
	if !d.Allowed {
		return h.reject(w, r, applied, d)
	}
	return next.ServeHTTP(w, r)
}

// applied is one window that applies to this request.
type applied struct {
	window
	store hub.Window
}

// windows lists the windows of the default policy (or the key's own rate),
// of the per_user and per_client quotas and of every matching rule, with
// their partitions. Who counts as one caller is hub.PrincipalOf's rule,
// shared with hub_anomaly.
func (h *Handler) windows(r *http.Request) []applied {
	id := hub.IdentityOf(r)
	var principal, network string
	partition := func(per string) string {
		switch per {
		case PerIP:
			if network == "" {
				network = hub.NetworkPrincipal(r, h.ipv6Bits).Key
			}
			return network
		case PerUser:
			return id.UserKey()
		case PerClient:
			return id.ClientKey()
		}
		if principal == "" {
			principal = hub.PrincipalOf(r, h.ipv6Bits).Key
		}
		return principal
	}
	var out []applied
	// A request costs hub.CostOf units of every window: 1, or a GraphQL
	// operation's cost as hub_graphql priced it (docs/graphql.md).
	cost := hub.CostOf(r)
	add := func(partition string, ws []window) {
		if partition == "" {
			return // a per user/client count for a request without one
		}
		for _, w := range ws {
			out = append(out, applied{window: w, store: hub.Window{Key: storeKey(partition, w), Limit: w.rate.Limit, Period: w.rate.Period, Cost: cost}})
		}
	}
	if h.defaultPolicy != nil {
		ws := h.defaultPolicy.windows
		if id != nil && id.RateLimit != "" {
			if own, err := ParseRate(id.RateLimit); err == nil {
				ws = []window{newWindow(DefaultPolicyName, 0, own)}
			} else {
				h.log.Debug("ignoring the key's unreadable rate_limit", zap.String("key_id", id.KeyID), zap.Error(err))
			}
		}
		add(partition(PerPrincipal), ws)
	}
	if h.userPolicy != nil {
		add(partition(PerUser), h.userPolicy.windows)
	}
	if h.clientPolicy != nil {
		add(partition(PerClient), h.clientPolicy.windows)
	}
	for _, rule := range h.Rules {
		if rule.matches(r.Method, r.URL.Path) {
			add(partition(rule.Per), rule.policy.windows)
		}
	}
	return out
}

// Interface guards.
var (
	_ caddy.Provisioner           = (*Handler)(nil)
	_ caddy.Validator             = (*Handler)(nil)
	_ caddyhttp.MiddlewareHandler = (*Handler)(nil)
)
