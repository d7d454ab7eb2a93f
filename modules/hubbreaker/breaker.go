// Package hubbreaker is the hub circuit breaker for Caddy's reverse_proxy
// (http.reverse_proxy.circuit_breakers.hub), built on sony/gobreaker. It
// also provides the hub_reverse_proxy Caddyfile directive (reverse_proxy
// plus a circuit_breaker subdirective, which stock Caddy's Caddyfile lacks)
// and the hub_breaker_error handler that answers a refused request with 503,
// Retry-After and a problem+json body.
package hubbreaker

import (
	"encoding/json"
	"fmt"
	"regexp"
	"sync"
	"time"

	"github.com/caddyserver/caddy/v2"
	"github.com/caddyserver/caddy/v2/modules/caddyhttp/reverseproxy"

	"github.com/hubchantier/hubgate/modules/hub"
)

func init() {
	caddy.RegisterModule(Breaker{})
}

// Defaults.
const (
	DefaultName                = "upstream"
	DefaultConsecutiveFailures = 5
	DefaultFailureRatio        = 0.5
	DefaultMinRequests         = 20
	DefaultWindow              = 30 * time.Second
	DefaultOpenTimeout         = 10 * time.Second
	DefaultHalfOpenRequests    = 1
)

// Breaker is a circuit breaker for one reverse_proxy handler (Caddy gives
// every upstream of the handler the same breaker). It trips on
// ConsecutiveFailures failed responses in a row, or when at least
// MinRequests responses in the rolling Window are failures in a proportion
// of FailureRatio or more. A failure is a 5xx answer (or one slower than
// FailureLatency, when set). While open, the upstream counts as unavailable
// and reverse_proxy answers 503 at once without contacting it; after
// OpenTimeout, HalfOpenRequests probe requests go through, and as many
// successes in a row close it again (one failure re-opens it).
//
// Transport errors (refused dials, response header timeouts) never reach a
// circuit breaker in Caddy: reverse_proxy only reports responses. Pair the
// breaker with passive health checks (fail_duration, max_fails) to cover
// them; see docs/circuit-breaker.md.
type Breaker struct {
	// Name identifies the upstream in logs and in the
	// hub_circuit_breaker_state{upstream} metric, and is what
	// hub_breaker_error refers to. Use one name per upstream. Default
	// "upstream"; letters, digits, '.', '_' and '-', at most 64.
	Name string `json:"name,omitempty"`
	// ConsecutiveFailures opens the breaker after this many failed
	// responses in a row. Default 5.
	ConsecutiveFailures int `json:"consecutive_failures,omitempty"`
	// FailureRatio opens the breaker when at least this fraction (0 < r ≤ 1)
	// of the responses in the window failed. Default 0.5.
	FailureRatio float64 `json:"failure_ratio,omitempty"`
	// MinRequests is how many responses the window must hold before
	// FailureRatio is applied. Default 20.
	MinRequests int `json:"min_requests,omitempty"`
	// Window is the length of the rolling window the ratio is computed
	// over; it slides by a tenth of its length. Default 30s.
	Window caddy.Duration `json:"window,omitempty"`
	// OpenTimeout is how long the breaker stays open before letting a
	// probe through. Default 10s.
	OpenTimeout caddy.Duration `json:"open_timeout,omitempty"`
	// HalfOpenRequests is how many probes are let through when half-open,
	// and how many successes in a row close the breaker. Default 1.
	HalfOpenRequests int `json:"half_open_requests,omitempty"`
	// ProbeTimeout is how long a half-open probe may stay unanswered before
	// another one is let through (a probe that hits a dial error or a
	// transport timeout never reports back). Default OpenTimeout.
	ProbeTimeout caddy.Duration `json:"probe_timeout,omitempty"`
	// FailureLatency, when set, also counts a response whose headers took
	// at least this long as a failure. Default 0 (off).
	FailureLatency caddy.Duration `json:"failure_latency,omitempty"`

	core *core
	key  string
}

// CaddyModule returns the Caddy module information.
func (Breaker) CaddyModule() caddy.ModuleInfo {
	return caddy.ModuleInfo{
		ID:  "http.reverse_proxy.circuit_breakers.hub",
		New: func() caddy.Module { return new(Breaker) },
	}
}

var validName = regexp.MustCompile(`^[A-Za-z0-9._-]{1,64}$`)

// setDefaults fills zero fields.
func (b *Breaker) setDefaults() {
	if b.Name == "" {
		b.Name = DefaultName
	}
	if b.ConsecutiveFailures == 0 {
		b.ConsecutiveFailures = DefaultConsecutiveFailures
	}
	if b.FailureRatio == 0 {
		b.FailureRatio = DefaultFailureRatio
	}
	if b.MinRequests == 0 {
		b.MinRequests = DefaultMinRequests
	}
	if b.Window == 0 {
		b.Window = caddy.Duration(DefaultWindow)
	}
	if b.OpenTimeout == 0 {
		b.OpenTimeout = caddy.Duration(DefaultOpenTimeout)
	}
	if b.HalfOpenRequests == 0 {
		b.HalfOpenRequests = DefaultHalfOpenRequests
	}
	if b.ProbeTimeout == 0 {
		b.ProbeTimeout = b.OpenTimeout
	}
}

// Provision sets defaults and takes the pooled breaker state for this name
// and these settings, so that a reload with the same settings keeps it.
func (b *Breaker) Provision(ctx caddy.Context) error {
	b.setDefaults()
	if err := b.Validate(); err != nil {
		return err
	}
	m := hub.GetMetrics()
	if err := hub.RegisterCollectors(ctx.GetMetricsRegistry(), m.BreakerState); err != nil {
		return fmt.Errorf("registering metrics: %w", err)
	}
	s := b.settings()
	key, _ := json.Marshal(b) // exported fields only: name + settings
	b.key = string(key)
	val, _, err := pool.LoadOrNew(b.key, func() (caddy.Destructor, error) {
		return newCore(s, m.BreakerState.WithLabelValues(s.name), ctx.Logger()), nil
	})
	if err != nil {
		return err
	}
	b.core = val.(*core)
	b.core.log.Store(ctx.Logger())
	register(b.Name, b.core)
	return nil
}

// Validate checks the values.
func (b *Breaker) Validate() error {
	switch {
	case !validName.MatchString(b.Name):
		return fmt.Errorf("circuit breaker name %q: use 1-64 letters, digits, '.', '_' or '-'", b.Name)
	case b.ConsecutiveFailures < 1:
		return fmt.Errorf("consecutive_failures %d: must be at least 1", b.ConsecutiveFailures)
	case b.FailureRatio <= 0 || b.FailureRatio > 1:
		return fmt.Errorf("failure_ratio %g: must be in (0, 1]", b.FailureRatio)
	case b.MinRequests < 1:
		return fmt.Errorf("min_requests %d: must be at least 1", b.MinRequests)
	case time.Duration(b.Window) < windowBuckets*time.Millisecond:
		return fmt.Errorf("window %s: must be at least 10ms", time.Duration(b.Window))
	case b.OpenTimeout <= 0:
		return fmt.Errorf("open_timeout %s: must be positive", time.Duration(b.OpenTimeout))
	case b.HalfOpenRequests < 1 || b.HalfOpenRequests > 1000:
		return fmt.Errorf("half_open_requests %d: must be between 1 and 1000", b.HalfOpenRequests)
	case b.ProbeTimeout <= 0:
		return fmt.Errorf("probe_timeout %s: must be positive", time.Duration(b.ProbeTimeout))
	case b.FailureLatency < 0:
		return fmt.Errorf("failure_latency %s: must not be negative", time.Duration(b.FailureLatency))
	}
	return nil
}

func (b *Breaker) settings() settings {
	return settings{
		name:                b.Name,
		consecutiveFailures: uint32(b.ConsecutiveFailures),
		failureRatio:        b.FailureRatio,
		minRequests:         uint32(b.MinRequests),
		window:              time.Duration(b.Window),
		openTimeout:         time.Duration(b.OpenTimeout),
		halfOpenRequests:    uint32(b.HalfOpenRequests),
		probeTimeout:        time.Duration(b.ProbeTimeout),
		failureLatency:      time.Duration(b.FailureLatency),
	}
}

// Cleanup lets go of the pooled state; the last user destroys it.
func (b *Breaker) Cleanup() error {
	if b.core == nil {
		return nil
	}
	deleted, err := pool.Delete(b.key)
	if deleted {
		unregister(b.Name, b.core)
	}
	return err
}

// OK reports whether the upstream may receive a request (Caddy calls it
// while selecting an upstream).
func (b *Breaker) OK() bool { return b.core.OK() }

// RecordMetric records one upstream response.
func (b *Breaker) RecordMetric(statusCode int, latency time.Duration) {
	b.core.RecordMetric(statusCode, latency)
}

// pool keeps breaker state across config reloads, by name and settings.
var pool = caddy.NewUsagePool()

// registry maps a breaker name to its current state, for hub_breaker_error.
var (
	registryMu sync.RWMutex
	registry   = map[string]*core{}
)

func register(name string, c *core) {
	registryMu.Lock()
	registry[name] = c
	registryMu.Unlock()
}

func unregister(name string, c *core) {
	registryMu.Lock()
	if registry[name] == c {
		// The breaker left the config: its series goes with it.
		delete(registry, name)
		hub.GetMetrics().BreakerState.DeleteLabelValues(name)
	}
	registryMu.Unlock()
}

// lookup returns the breaker state registered under name, or nil.
func lookup(name string) *core {
	registryMu.RLock()
	defer registryMu.RUnlock()
	return registry[name]
}

// Interface guards.
var (
	_ reverseproxy.CircuitBreaker = (*Breaker)(nil)
	_ caddy.Provisioner           = (*Breaker)(nil)
	_ caddy.Validator             = (*Breaker)(nil)
	_ caddy.CleanerUpper          = (*Breaker)(nil)
)
