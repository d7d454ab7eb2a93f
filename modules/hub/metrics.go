package hub

import (
	"errors"
	"sync"

	"github.com/prometheus/client_golang/prometheus"
)

// Metrics are the gateway's shared Prometheus collectors (each module's own
// are in its metrics.go, made with the same helpers below). They are created
// once per process and registered into each config's registry
// (ctx.GetMetricsRegistry), so their values survive config reloads. Every label is bounded: endpoints
// are route templates (Routes.Template), never raw paths or ids.
type Metrics struct {
	// RequestsTotal counts finished requests: api_requests_total{method,endpoint,status}.
	RequestsTotal *prometheus.CounterVec
	// RequestDuration observes latencies: api_request_duration_seconds{method,endpoint}.
	RequestDuration *prometheus.HistogramVec
	// CacheHits counts responses served from hub_cache: api_cache_hits_total.
	CacheHits prometheus.Counter
	// RateLimitExceeded counts 429s from hub_rate_limit: api_rate_limit_exceeded_total{rule}.
	RateLimitExceeded *prometheus.CounterVec
	// ActiveAPIKeys is the number of distinct API keys seen recently: active_api_keys.
	ActiveAPIKeys prometheus.Gauge
	// AuthFailures counts refused credentials: hub_auth_failures_total{reason}.
	AuthFailures *prometheus.CounterVec
	// BreakerState is 0 closed, 1 half-open, 2 open: hub_circuit_breaker_state{upstream}.
	BreakerState *prometheus.GaugeVec
}

// metrics are the shared collectors, created once per process.
var metrics = &Metrics{
	RequestsTotal: NewCounterVec(prometheus.CounterOpts{
		Name: "api_requests_total",
		Help: "API requests handled by the gateway, by method, route template and status code.",
	}, []string{"method", "endpoint", "status"}),
	RequestDuration: NewHistogramVec(prometheus.HistogramOpts{
		Name: "api_request_duration_seconds",
		Help: "Time from request to response at the gateway, by method and route template.",
		// Sub-millisecond buckets: most gateway answers (cache hits,
		// 304s, refusals) take well under a millisecond, and a p50
		// interpolated inside a 0–1 ms bucket says nothing.
		Buckets: []float64{.0001, .00025, .0005, .001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10},
	}, []string{"method", "endpoint"}),
	CacheHits: NewCounter(prometheus.CounterOpts{
		Name: "api_cache_hits_total",
		Help: "Responses served from the gateway cache.",
	}),
	RateLimitExceeded: NewCounterVec(prometheus.CounterOpts{
		Name: "api_rate_limit_exceeded_total",
		Help: "Requests refused with 429 by the rate limiter, by rule.",
	}, []string{"rule"}),
	ActiveAPIKeys: NewGauge(prometheus.GaugeOpts{
		Name: "active_api_keys",
		Help: "Distinct API keys verified by this gateway in the last hour.",
	}),
	AuthFailures: NewCounterVec(prometheus.CounterOpts{
		Name: "hub_auth_failures_total",
		Help: "Requests refused by hub_auth, by reason.",
	}, []string{"reason"}),
	BreakerState: NewGaugeVec(prometheus.GaugeOpts{
		Name: "hub_circuit_breaker_state",
		Help: "Circuit breaker state per upstream: 0 closed, 1 half-open, 2 open.",
	}, []string{"upstream"}),
}

// GetMetrics returns the process-wide shared collectors.
func GetMetrics() *Metrics { return metrics }

// Collectors lists every collector, for registration.
func (m *Metrics) Collectors() []prometheus.Collector {
	return []prometheus.Collector{m.RequestsTotal, m.RequestDuration, m.CacheHits, m.RateLimitExceeded, m.ActiveAPIKeys, m.AuthFailures, m.BreakerState}
}

// RegisterCollectors registers cs into reg, ignoring collectors already
// registered there (several handlers of one config register the same ones).
func RegisterCollectors(reg prometheus.Registerer, cs ...prometheus.Collector) error {
	if reg == nil {
		return nil
	}
	for _, c := range cs {
		if err := reg.Register(c); err != nil {
			var are prometheus.AlreadyRegisteredError
			if !errors.As(err, &are) {
				return err
			}
		}
	}
	return nil
}

// The helpers below are the one way a module makes its collectors: each
// returns the process-wide collector of that fully qualified name, creating
// it on first use, so a module declares its collectors in package variables
// (no sync.Once of its own) and registers them into each config's registry
// with RegisterCollectors in Provision. Values survive config reloads.
// Asking for a name already made with another type panics: two modules
// cannot silently share a metric name.

var (
	collectorsMu sync.Mutex
	collectors   = map[string]prometheus.Collector{}
)

// memo returns the collector named name, made by mk the first time.
func memo[T prometheus.Collector](name string, mk func() T) T {
	collectorsMu.Lock()
	defer collectorsMu.Unlock()
	if c, ok := collectors[name]; ok {
		return c.(T)
	}
	c := mk()
	collectors[name] = c
	return c
}

// NewCounterVec returns the process-wide counter vector of opts. For a
// one-label vector, each value of zeros gets its series at once, so rate()
// and alerts see 0 rather than nothing before the first event.
func NewCounterVec(opts prometheus.CounterOpts, labels []string, zeros ...string) *prometheus.CounterVec {
	v := memo(fqName(opts.Namespace, opts.Subsystem, opts.Name), func() *prometheus.CounterVec { return prometheus.NewCounterVec(opts, labels) })
	for _, z := range zeros {
		v.WithLabelValues(z)
	}
	return v
}

// NewCounter returns the process-wide counter of opts.
func NewCounter(opts prometheus.CounterOpts) prometheus.Counter {
	return memo(fqName(opts.Namespace, opts.Subsystem, opts.Name), func() prometheus.Counter { return prometheus.NewCounter(opts) })
}

// NewGauge returns the process-wide gauge of opts.
func NewGauge(opts prometheus.GaugeOpts) prometheus.Gauge {
	return memo(fqName(opts.Namespace, opts.Subsystem, opts.Name), func() prometheus.Gauge { return prometheus.NewGauge(opts) })
}

// NewGaugeVec returns the process-wide gauge vector of opts.
func NewGaugeVec(opts prometheus.GaugeOpts, labels []string) *prometheus.GaugeVec {
	return memo(fqName(opts.Namespace, opts.Subsystem, opts.Name), func() *prometheus.GaugeVec { return prometheus.NewGaugeVec(opts, labels) })
}

// NewGaugeFunc returns the process-wide gauge of opts whose value is f's
// (the f of the first call: it must read process-wide state).
func NewGaugeFunc(opts prometheus.GaugeOpts, f func() float64) prometheus.GaugeFunc {
	return memo(fqName(opts.Namespace, opts.Subsystem, opts.Name), func() prometheus.GaugeFunc { return prometheus.NewGaugeFunc(opts, f) })
}

// NewHistogramVec returns the process-wide histogram vector of opts.
func NewHistogramVec(opts prometheus.HistogramOpts, labels []string) *prometheus.HistogramVec {
	return memo(fqName(opts.Namespace, opts.Subsystem, opts.Name), func() *prometheus.HistogramVec { return prometheus.NewHistogramVec(opts, labels) })
}

// fqName is a collector's fully qualified name, its key in memo.
var fqName = prometheus.BuildFQName
