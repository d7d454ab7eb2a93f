package hub

import (
	"errors"
	"sync"

	"github.com/prometheus/client_golang/prometheus"
)

// Metrics are the gateway's Prometheus collectors. They are created once per
// process and registered into each config's registry (ctx.GetMetricsRegistry),
// so their values survive config reloads. Every label is bounded: endpoints
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

var (
	metricsOnce sync.Once
	metrics     *Metrics
)

// GetMetrics returns the process-wide collectors, creating them on first use.
func GetMetrics() *Metrics {
	metricsOnce.Do(func() {
		metrics = &Metrics{
			RequestsTotal: prometheus.NewCounterVec(prometheus.CounterOpts{
				Name: "api_requests_total",
				Help: "API requests handled by the gateway, by method, route template and status code.",
			}, []string{"method", "endpoint", "status"}),
			RequestDuration: prometheus.NewHistogramVec(prometheus.HistogramOpts{
				Name:    "api_request_duration_seconds",
				Help:    "Time from request to response at the gateway, by method and route template.",
				Buckets: []float64{.001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10},
			}, []string{"method", "endpoint"}),
			CacheHits: prometheus.NewCounter(prometheus.CounterOpts{
				Name: "api_cache_hits_total",
				Help: "Responses served from the gateway cache.",
			}),
			RateLimitExceeded: prometheus.NewCounterVec(prometheus.CounterOpts{
				Name: "api_rate_limit_exceeded_total",
				Help: "Requests refused with 429 by the rate limiter, by rule.",
			}, []string{"rule"}),
			ActiveAPIKeys: prometheus.NewGauge(prometheus.GaugeOpts{
				Name: "active_api_keys",
				Help: "Distinct API keys verified by this gateway in the last hour.",
			}),
			AuthFailures: prometheus.NewCounterVec(prometheus.CounterOpts{
				Name: "hub_auth_failures_total",
				Help: "Requests refused by hub_auth, by reason.",
			}, []string{"reason"}),
			BreakerState: prometheus.NewGaugeVec(prometheus.GaugeOpts{
				Name: "hub_circuit_breaker_state",
				Help: "Circuit breaker state per upstream: 0 closed, 1 half-open, 2 open.",
			}, []string{"upstream"}),
		}
	})
	return metrics
}

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
