// Package hub is the hub Caddy app: the state every hubgate handler shares
// and that must survive config reloads — the store (memory or Redis), the
// identity resolver (API-key introspection cache, JWKS cache, revocation
// feed), the upstream's internal URL and the gateway↔upstream secret, and
// the one client of the upstream's internal API (App.Internal).
//
// Handlers fetch it in Provision with ctx.App("hub").
package hub

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"net/url"
	"strings"
	"time"

	"github.com/caddyserver/caddy/v2"
	"go.uber.org/zap"
)

func init() {
	caddy.RegisterModule(App{})
}

// resolverPool shares resolvers (and their caches and feed) across reloads.
var resolverPool = caddy.NewUsagePool()

// Defaults.
const (
	DefaultUpstream         = "http://127.0.0.1:9000"
	DefaultIssuer           = "hubchantier"
	DefaultAudience         = "hub-api"
	DefaultKeyCacheTTL      = 5 * time.Minute
	DefaultNegativeCacheTTL = 30 * time.Second
	DefaultRevocationWait   = 25 * time.Second
	DefaultJWKSMinRefresh   = 5 * time.Second
	DefaultUsageInterval    = 10 * time.Second
	// MinSecretLen is the shortest accepted shared secret, in bytes.
	MinSecretLen = 32
)

// App is the hub app, configured in the Caddyfile's global options:
//
//	{
//	    hub {
//	        upstream   <url>
//	        secret     <shared secret>
//	        store      memory | redis <url>
//	        issuer     <jwt iss>
//	        audience   <jwt aud>
//	        key_cache_ttl      <duration>
//	        negative_cache_ttl <duration>
//	        revocation_wait    <duration>
//	        jwks_min_refresh   <duration>
//	        usage_interval     <duration>
//	        ipv6_prefix        <bits>
//	        routes             <file.json> | { ... }
//	    }
//	}
type App struct {
	// Upstream is the base URL of the Hub Chantier service for internal
	// calls (introspection, revocation feed, JWKS). Default http://127.0.0.1:9000.
	Upstream string `json:"upstream,omitempty"`
	// Secret is HUB_GATEWAY_SECRET, shared with the upstream: it signs the
	// identity assertions and authenticates internal calls. At least 32
	// bytes; placeholders such as {env.HUB_GATEWAY_SECRET} are expanded.
	Secret string `json:"secret,omitempty"`
	// AcceptSecret is a second shared secret accepted, never used to sign:
	// during a rollover of HUB_GATEWAY_SECRET, the upstream's other secret,
	// so what the upstream seals for the gateway (the account a login
	// named) still opens (docs/deployment.md, "Rotating the shared
	// secret"). Placeholders are expanded; empty: none; else ≥ 32 bytes.
	AcceptSecret string `json:"accept_secret,omitempty"`
	// StoreRaw configures the shared store (module namespace hub.stores);
	// default memory.
	StoreRaw json.RawMessage `json:"store,omitempty" caddy:"namespace=hub.stores inline_key=backend"`
	// Issuer is the expected iss of JWTs. Default "hubchantier".
	Issuer string `json:"issuer,omitempty"`
	// AllowIssuerChange lets a reload change Issuer. Without it a config
	// whose issuer differs from the running one's is refused: every token
	// already issued would get 401. Default false.
	AllowIssuerChange bool `json:"allow_issuer_change,omitempty"`
	// Audience is the expected aud of JWTs. Default "hub-api".
	Audience string `json:"audience,omitempty"`
	// KeyCacheTTL is how long a verified API key is trusted without asking
	// the upstream again; revocations evict earlier. Default 5m.
	KeyCacheTTL caddy.Duration `json:"key_cache_ttl,omitempty"`
	// NegativeCacheTTL is how long an unknown key id is remembered. Default 30s.
	NegativeCacheTTL caddy.Duration `json:"negative_cache_ttl,omitempty"`
	// RevocationWait is the long-poll duration of the revocation feed. Default 25s.
	RevocationWait caddy.Duration `json:"revocation_wait,omitempty"`
	// JWKSMinRefresh is the least time between two JWKS fetches caused by an
	// unknown kid. Default 5s.
	JWKSMinRefresh caddy.Duration `json:"jwks_min_refresh,omitempty"`
	// UsageInterval is how often last-used times of API keys are reported to
	// the upstream. Default 10s.
	UsageInterval caddy.Duration `json:"usage_interval,omitempty"`
	// IPv6Prefix is how many leading bits of an IPv6 client address per-IP
	// limits count by (hub_rate_limit's per ip rules and anonymous
	// principal, hub_auth's failed_auth limit, hub_anomaly's anonymous
	// principal): 1 to 128, default 64. IPv4 clients always count by
	// their whole address.
	IPv6Prefix int `json:"ipv6_prefix,omitempty"`
	// Routes is the upstream's URL vocabulary (resources, words, exact
	// paths): route templates of metric and audit labels and the audit's
	// action names come from it. Default: DefaultRoutes, which knows no
	// resource (every API path is <prefix>/<version>/other).
	Routes *Routes `json:"routes,omitempty"`
	// RoutesFile is a JSON file holding Routes (such as
	// configs/hub-routes.json), read at provisioning; exclusive with Routes.
	RoutesFile string `json:"routes_file,omitempty"`

	store       Store
	storeModule any
	resolver    *Resolver
	resolverKey string
	secret      []byte
	accept      []byte
	startHooks  []func() error
	health      map[string]HealthCheck
	log         *zap.Logger
}

// CaddyModule returns the Caddy module information.
func (App) CaddyModule() caddy.ModuleInfo {
	return caddy.ModuleInfo{
		ID:  "hub",
		New: func() caddy.Module { return new(App) },
	}
}

// Provision sets defaults, loads the store and takes the pooled resolver.
// Nothing here touches the network.
func (a *App) Provision(ctx caddy.Context) error {
	a.log = ctx.Logger()
	if err := RegisterCollectors(ctx.GetMetricsRegistry(), GetMetrics().Collectors()...); err != nil {
		return fmt.Errorf("registering metrics: %w", err)
	}
	if err := RegisterCollectors(ctx.GetMetricsRegistry(), internalCalls); err != nil {
		return fmt.Errorf("registering metrics: %w", err)
	}
	repl := caddy.NewReplacer()
	a.Upstream = strings.TrimRight(repl.ReplaceKnown(a.Upstream, ""), "/")
	if a.Upstream == "" {
		a.Upstream = DefaultUpstream
	}
	if !strings.Contains(a.Upstream, "://") {
		a.Upstream = "http://" + a.Upstream
	}
	a.secret = []byte(repl.ReplaceKnown(a.Secret, ""))
	a.accept = []byte(repl.ReplaceKnown(a.AcceptSecret, ""))
	if a.Issuer == "" {
		a.Issuer = DefaultIssuer
	}
	if a.Audience == "" {
		a.Audience = DefaultAudience
	}
	if err := checkIssuerChange(a.Issuer, a.AllowIssuerChange); err != nil {
		return err
	}
	setDefault(&a.KeyCacheTTL, DefaultKeyCacheTTL)
	setDefault(&a.NegativeCacheTTL, DefaultNegativeCacheTTL)
	setDefault(&a.RevocationWait, DefaultRevocationWait)
	setDefault(&a.JWKSMinRefresh, DefaultJWKSMinRefresh)
	setDefault(&a.UsageInterval, DefaultUsageInterval)

	if a.IPv6Prefix == 0 {
		a.IPv6Prefix = DefaultIPv6Prefix
	}

	if err := a.provisionRoutes(); err != nil {
		return err
	}

	if a.StoreRaw == nil {
		a.StoreRaw = json.RawMessage(`{"backend":"memory"}`)
	}
	mod, err := ctx.LoadModule(a, "StoreRaw")
	if err != nil {
		return fmt.Errorf("loading store: %w", err)
	}
	sm, ok := mod.(StoreModule)
	if !ok {
		return fmt.Errorf("module %T is not a hub store", mod)
	}
	a.storeModule, a.store = mod, sm.Store()

	cfg := ResolverConfig{
		Upstream:         a.Upstream,
		Secret:           string(a.secret),
		Issuer:           a.Issuer,
		Audience:         a.Audience,
		KeyCacheTTL:      time.Duration(a.KeyCacheTTL),
		NegativeCacheTTL: time.Duration(a.NegativeCacheTTL),
		RevocationWait:   time.Duration(a.RevocationWait),
		JWKSMinRefresh:   time.Duration(a.JWKSMinRefresh),
		UsageInterval:    time.Duration(a.UsageInterval),
	}
	a.resolverKey = resolverKey(cfg)
	v, _, err := resolverPool.LoadOrNew(a.resolverKey, func() (caddy.Destructor, error) {
		return NewResolver(cfg, a.log.Named("identity")), nil
	})
	if err != nil {
		return err
	}
	a.resolver = v.(*Resolver)
	return nil
}

// resolverKey identifies a resolver by its whole config; the secret enters
// only as a hash.
func resolverKey(c ResolverConfig) string {
	sum := sha256.Sum256([]byte(c.Secret))
	c.Secret = hex.EncodeToString(sum[:])
	b, _ := json.Marshal(c)
	return string(b)
}

func setDefault(d *caddy.Duration, v time.Duration) {
	if *d <= 0 {
		*d = caddy.Duration(v)
	}
}

// Validate checks the configuration.
func (a *App) Validate() error {
	if len(a.secret) < MinSecretLen {
		return errors.New("hub: secret must be at least 32 bytes (set HUB_GATEWAY_SECRET)")
	}
	if len(a.accept) > 0 && len(a.accept) < MinSecretLen {
		return errors.New("hub: accept_secret must be at least 32 bytes when set (HUB_GATEWAY_SECRET_ACCEPT)")
	}
	if a.IPv6Prefix < 1 || a.IPv6Prefix > 128 {
		return fmt.Errorf("hub: ipv6_prefix %d: want 1 to 128 bits", a.IPv6Prefix)
	}
	u, err := url.Parse(a.Upstream)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return fmt.Errorf("hub: upstream %q is not an http(s) URL", a.Upstream)
	}
	return nil
}

// Start begins the resolver's background work (revocation feed, usage
// reports, timed cache sweep), the memory store's timed sweep, and checks
// the store. Both are pooled: they stop when the last config lets go.
func (a *App) Start() error {
	for _, hook := range a.startHooks {
		if err := hook(); err != nil {
			return err
		}
	}
	issuer := a.Issuer
	runningIssuer.Store(&issuer)
	a.resolver.Start()
	if ms, ok := a.store.(*memStore); ok {
		ms.startSweeping(nil)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	if err := a.store.Ping(ctx); err != nil {
		// Not fatal: each policy has its own fail-open/closed behaviour
		// and the client reconnects by itself.
		a.log.Warn("store unreachable at start", zap.String("store", a.store.Kind()), zap.Error(err))
	}
	return nil
}

// Stop does nothing: pooled state lives on for the next config.
func (a *App) Stop() error { return nil }

// Cleanup releases this config's references to pooled state.
func (a *App) Cleanup() error {
	if a.resolver != nil {
		if _, err := resolverPool.Delete(a.resolverKey); err != nil {
			return err
		}
	}
	return nil
}

// Store returns the shared store.
func (a *App) Store() Store { return a.store }

// Resolver returns the identity resolver.
func (a *App) Resolver() *Resolver { return a.resolver }

// provisionRoutes loads and checks the route vocabulary.
func (a *App) provisionRoutes() error {
	if a.RoutesFile != "" {
		if a.Routes != nil {
			return errors.New("hub: routes and routes_file are exclusive")
		}
		rt, err := LoadRoutes(a.RoutesFile)
		if err != nil {
			return err
		}
		a.Routes = rt
	}
	if a.Routes == nil {
		a.Routes = new(Routes)
	}
	return a.Routes.Provision()
}

// RoutesOf returns the route vocabulary of the config's hub app, or
// DefaultRoutes when the config has none (hub_metrics alone).
func RoutesOf(ctx caddy.Context) *Routes {
	if app, err := ctx.AppIfConfigured("hub"); err == nil {
		if a, ok := app.(*App); ok && a.Routes != nil {
			return a.Routes
		}
	}
	return DefaultRoutes()
}

// Internal returns the one client of the upstream's internal API
// (introspection, revocation feed, usage, audit and anomaly ingest). It
// belongs to the pooled resolver, so it outlives this config as long as
// the next one keeps the same upstream and secret.
func (a *App) Internal() *InternalClient { return a.resolver.client }

// IPv6PrefixBits is the IPv6 grouping of per-IP limits (ClientNetwork).
func (a *App) IPv6PrefixBits() int { return a.IPv6Prefix }

// SharedSecret returns the gateway↔upstream secret.
func (a *App) SharedSecret() []byte { return a.secret }

// OnStart registers fn to run when this config starts (App.Start), never
// in `caddy validate` or `caddy adapt`, which provision without starting:
// the place for work with lasting side effects, such as taking a journal's
// lock. An error fails the config's start (a reload keeps the running
// config). Call it from Provision.
func (a *App) OnStart(fn func() error) { a.startHooks = append(a.startHooks, fn) }

// AcceptedSecrets are the secrets what the upstream signs or seals may be
// under: SharedSecret and, during a rollover, AcceptSecret.
func (a *App) AcceptedSecrets() [][]byte {
	if len(a.accept) == 0 {
		return [][]byte{a.secret}
	}
	return [][]byte{a.secret, a.accept}
}

// Interface guards.
var (
	_ caddy.App          = (*App)(nil)
	_ caddy.Provisioner  = (*App)(nil)
	_ caddy.Validator    = (*App)(nil)
	_ caddy.CleanerUpper = (*App)(nil)
)
