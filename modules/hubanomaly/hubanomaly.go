// Package hubanomaly is the hub_anomaly HTTP handler: per-principal anomaly
// detection over sliding windows (a high 4xx ratio, a traffic spike against
// the principal's own baseline, scanning for paths, frequent user-agent
// changes). Each detection is reported to the upstream's anomalies store,
// counted in hub_anomalies_total{rule}, logged, optionally sent to a signed
// webhook, and may block the principal for a while at every instance
// sharing the store.
package hubanomaly

import (
	"encoding/json"
	"fmt"
	"hash/maphash"
	"net/http"
	"os"
	"time"

	"github.com/caddyserver/caddy/v2"
	"github.com/caddyserver/caddy/v2/modules/caddyhttp"
	"go.uber.org/zap"

	"github.com/hubchantier/hubgate/modules/hub"
)

func init() {
	caddy.RegisterModule(Handler{})
}

// statePool keeps the detection windows across config reloads, keyed by
// the rule configuration: a reload that keeps the rules keeps an hour of
// history (and the spike baselines) instead of starting over.
var statePool = caddy.NewUsagePool()

// Handler watches the final status of the handlers it wraps, per principal.
// It sits after hub_auth and hub_rate_limit: requests those refuse (401,
// 429) never reach it (docs/anomalies.md).
type Handler struct {
	// ErrorRate fires when more than ratio of a principal's requests in
	// the window were answered 4xx, once the window holds min_requests.
	ErrorRate *ErrorRateRule `json:"error_rate,omitempty"`
	// Spike fires when a principal's requests in the current minute exceed
	// factor × its baseline (EWMA of its past minutes) + floor.
	Spike *SpikeRule `json:"spike,omitempty"`
	// Scan fires when a principal got 404 on distinct different paths
	// within the window.
	Scan *DistinctRule `json:"scan,omitempty"`
	// UserAgents fires when a principal used distinct different
	// User-Agent values within the window.
	UserAgents *DistinctRule `json:"user_agents,omitempty"`
	// Cooldown is the least time between two events of the same rule for
	// the same principal. Default 10m.
	Cooldown caddy.Duration `json:"cooldown,omitempty"`
	// MaxPrincipals bounds the principals whose windows are kept in
	// memory, for authenticated callers and, separately, for anonymous
	// client IPs; the least recently seen is forgotten first. Default 10000.
	MaxPrincipals int `json:"max_principals,omitempty"`
	// BlockCache is how long this instance trusts a "not blocked" answer of
	// the store before asking again (one GET per principal per interval):
	// a block decided by another instance applies here at most this late.
	// Default 1s.
	BlockCache caddy.Duration `json:"block_cache,omitempty"`
	// GatewayID names this instance in the events. Default the host name.
	GatewayID string `json:"gateway_id,omitempty"`
	// Webhook, when set, receives every event as a signed JSON POST.
	Webhook *Webhook `json:"webhook,omitempty"`
	// QueueSize bounds the events waiting for delivery (per sink); beyond
	// it events are dropped with a metric and a warning. Default 1024.
	QueueSize int `json:"queue_size,omitempty"`

	th       *thresholds
	poolKey  string
	pool     *pool
	store    hub.Store
	ipv6Bits int // IPv6 grouping of anonymous principals (hub app's ipv6_prefix)
	sinks    []*sink
	blocking bool
	seed     maphash.Seed
	now      func() time.Time
	log      *zap.Logger
	routes   *hub.Routes // the hub app's vocabulary, for the endpoint detail
	metrics  *metrics
}

// Action is what happens to a principal when its rule fires, besides the
// event.
type Action struct {
	// Block refuses the principal's requests for this long. Default 0: no block.
	Block caddy.Duration `json:"block,omitempty"`
	// BlockStatus is the status of refused requests: 429 or 403. Default 429.
	BlockStatus int `json:"block_status,omitempty"`
}

// ErrorRateRule configures the 4xx-ratio rule.
type ErrorRateRule struct {
	// Ratio is the share of 4xx answers above which the rule fires. Default 0.5.
	Ratio float64 `json:"ratio,omitempty"`
	// Window is the sliding window. Default 1h.
	Window caddy.Duration `json:"window,omitempty"`
	// MinRequests is the least number of requests in the window before the
	// ratio means anything. Default 50.
	MinRequests int `json:"min_requests,omitempty"`
	// Off disables the rule.
	Off bool `json:"off,omitempty"`
	Action
}

// SpikeRule configures the traffic-spike rule.
type SpikeRule struct {
	// Factor multiplies the baseline (requests per minute). Default 5.
	Factor float64 `json:"factor,omitempty"`
	// Floor is added to factor × baseline, in requests per minute, so that
	// quiet principals may burst a little. Default 60.
	Floor int `json:"floor,omitempty"`
	// Warmup is how long a principal is observed before the rule can fire.
	// Default 30m.
	Warmup caddy.Duration `json:"warmup,omitempty"`
	// HalfLife is the age at which a minute's weight in the baseline has
	// halved. Default 30m.
	HalfLife caddy.Duration `json:"half_life,omitempty"`
	// Off disables the rule.
	Off bool `json:"off,omitempty"`
	Action
}

// DistinctRule configures the scan and user-agent rules: distinct values
// (404 paths, User-Agent strings) within a sliding window.
type DistinctRule struct {
	// Distinct is the number of distinct values at which the rule fires
	// (1–1000). Defaults: scan 20, user_agents 10.
	Distinct int `json:"distinct,omitempty"`
	// Window is the sliding window. Defaults: scan 10m, user_agents 1h.
	Window caddy.Duration `json:"window,omitempty"`
	// Off disables the rule.
	Off bool `json:"off,omitempty"`
	Action
}

// Defaults.
const (
	DefaultCooldown      = 10 * time.Minute
	DefaultMaxPrincipals = 10000
	DefaultBlockCache    = time.Second
	DefaultQueueSize     = 1024
	maxDistinct          = 1000
)

// CaddyModule returns the Caddy module information.
func (Handler) CaddyModule() caddy.ModuleInfo {
	return caddy.ModuleInfo{
		ID:  "http.handlers.hub_anomaly",
		New: func() caddy.Module { return new(Handler) },
	}
}

// pool is the pooled detection state.
type pool struct {
	keyed, anonymous *principals
}

// Destruct implements caddy.Destructor.
func (*pool) Destruct() error { return nil }

// Provision sets defaults, takes the hub store and the pooled windows, and
// starts the delivery workers. Nothing here touches the network.
func (h *Handler) Provision(ctx caddy.Context) error {
	h.log = ctx.Logger()
	h.metrics = getMetrics()
	if err := hub.RegisterCollectors(ctx.GetMetricsRegistry(), h.metrics.collectors()...); err != nil {
		return fmt.Errorf("registering metrics: %w", err)
	}
	if err := h.compile(); err != nil {
		return err
	}
	appIface, err := ctx.App("hub")
	if err != nil {
		return fmt.Errorf("hub_anomaly needs the hub app: %w", err)
	}
	app := appIface.(*hub.App)
	h.store = app.Store()
	h.ipv6Bits = app.IPv6PrefixBits()
	h.routes = app.Routes
	v, _, err := statePool.LoadOrNew(h.poolKey, func() (caddy.Destructor, error) {
		return &pool{keyed: newPrincipals(h.MaxPrincipals), anonymous: newPrincipals(h.MaxPrincipals)}, nil
	})
	if err != nil {
		return err
	}
	h.pool = v.(*pool)
	h.sinks = append(h.sinks, newUpstreamSink(app.Internal(), h.QueueSize, h.log, h.metrics))
	if h.Webhook != nil {
		wh, err := newWebhookSink(h.Webhook, h.QueueSize, h.log, h.metrics)
		if err != nil {
			return err
		}
		if wh != nil {
			h.sinks = append(h.sinks, wh)
		}
	}
	for _, s := range h.sinks {
		s.start()
	}
	return nil
}

// compile sets defaults and derives the runtime thresholds (Provision and
// tests).
func (h *Handler) compile() error {
	if h.now == nil {
		h.now = time.Now
	}
	if h.log == nil {
		h.log = zap.NewNop()
	}
	if h.metrics == nil {
		h.metrics = getMetrics()
	}
	h.seed = maphash.MakeSeed()
	if h.Cooldown <= 0 {
		h.Cooldown = caddy.Duration(DefaultCooldown)
	}
	if h.MaxPrincipals <= 0 {
		h.MaxPrincipals = DefaultMaxPrincipals
	}
	if h.BlockCache <= 0 {
		h.BlockCache = caddy.Duration(DefaultBlockCache)
	}
	if h.QueueSize <= 0 {
		h.QueueSize = DefaultQueueSize
	}
	if h.GatewayID == "" {
		h.GatewayID, _ = os.Hostname()
	}
	h.GatewayID = caddy.NewReplacer().ReplaceKnown(h.GatewayID, "")
	if h.ErrorRate == nil {
		h.ErrorRate = &ErrorRateRule{}
	}
	if h.Spike == nil {
		h.Spike = &SpikeRule{}
	}
	if h.Scan == nil {
		h.Scan = &DistinctRule{}
	}
	if h.UserAgents == nil {
		h.UserAgents = &DistinctRule{}
	}
	setDefaults(h.ErrorRate, h.Spike, h.Scan, h.UserAgents)
	if err := h.validateRules(); err != nil {
		return err
	}
	th := &thresholds{cooldown: time.Duration(h.Cooldown)}
	if !h.ErrorRate.Off {
		th.errorRate = h.ErrorRate
	}
	if !h.Spike.Off {
		th.spike = h.Spike
		// The weight of a minute halves every HalfLife minutes: (1-α)^m = ½.
		th.alpha = 1 - pow2(-1/(time.Duration(h.Spike.HalfLife).Minutes()))
	}
	if !h.Scan.Off {
		th.scan = h.Scan
	}
	if !h.UserAgents.Off {
		th.userAgents = h.UserAgents
	}
	h.th = th
	h.blocking = false
	for _, a := range h.actions() {
		if a != nil && a.Block > 0 {
			h.blocking = true
		}
	}
	key, _ := json.Marshal([]any{h.ErrorRate, h.Spike, h.Scan, h.UserAgents, h.Cooldown, h.MaxPrincipals})
	h.poolKey = string(key)
	return nil
}

// actions returns the actions of the active rules, indexed like ruleNames.
func (h *Handler) actions() [numRules]*Action {
	var a [numRules]*Action
	if h.th.errorRate != nil {
		a[idxErrorRate] = &h.ErrorRate.Action
	}
	if h.th.spike != nil {
		a[idxSpike] = &h.Spike.Action
	}
	if h.th.scan != nil {
		a[idxScan] = &h.Scan.Action
	}
	if h.th.userAgents != nil {
		a[idxUserAgents] = &h.UserAgents.Action
	}
	return a
}

// Validate is done by compile, which refuses bad values in Provision.
func (h *Handler) Validate() error { return nil }

// Cleanup stops the delivery workers (they finish their queues in the
// background, with bounded retries) and releases the pooled windows.
func (h *Handler) Cleanup() error {
	for _, s := range h.sinks {
		s.close()
	}
	if h.pool != nil {
		if _, err := statePool.Delete(h.poolKey); err != nil {
			return err
		}
	}
	return nil
}

// ServeHTTP refuses blocked principals, then observes the outcome of the
// rest of the chain.
func (h *Handler) ServeHTTP(w http.ResponseWriter, r *http.Request, next caddyhttp.Handler) error {
	p := hub.PrincipalOf(r, h.ipv6Bits)
	table := h.pool.keyed
	if p.Kind == hub.PrincipalIP {
		table = h.pool.anonymous
	}
	if h.blocking {
		if b, ok := h.blocked(r.Context(), table, p); ok {
			return h.refuse(w, r, p, b)
		}
	}
	// The status recorder of an outer hub_metrics when there is one, else
	// our own: the final status is learnt in one place.
	st := hub.TrackStatus(w, r)
	err := next.ServeHTTP(st.Writer(), r)
	status := st.Final(err)
	o := observation{at: h.now(), status: status, ua: maphash.String(h.seed, r.UserAgent())}
	if status == http.StatusNotFound {
		o.path = maphash.String(h.seed, r.URL.Path)
	}
	var ds []detection
	table.with(p.Key, func(st *state) { ds = st.observe(h.th, o) })
	for _, d := range ds {
		h.detected(r, table, p, d, o.at)
	}
	return err
}

// Interface guards.
var (
	_ caddy.Provisioner           = (*Handler)(nil)
	_ caddy.Validator             = (*Handler)(nil)
	_ caddy.CleanerUpper          = (*Handler)(nil)
	_ caddyhttp.MiddlewareHandler = (*Handler)(nil)
)
