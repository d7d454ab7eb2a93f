package hubcache

import (
	"sync"

	"github.com/prometheus/client_golang/prometheus"
)

// Results of a cacheable request, the values of the result label.
const (
	resultHit       = "hit"       // answered from a fresh entry
	resultCollapsed = "collapsed" // answered from a fill another request made
	resultMiss      = "miss"      // forwarded; stored if storable
	resultStale     = "stale"     // upstream failed, a stale entry answered
	resultBypass    = "bypass"    // not looked up (request directives, store down, Range…)
)

type collectors struct {
	requests    *prometheus.CounterVec
	evictions   prometheus.Counter
	storeErrors *prometheus.CounterVec
	invalidated prometheus.Counter
}

var (
	metricsOnce sync.Once
	metricsVal  *collectors
)

// cacheMetrics returns the process-wide collectors (created once, so they
// survive reloads; registered into each config's registry in Provision).
func cacheMetrics() *collectors {
	metricsOnce.Do(func() {
		metricsVal = &collectors{
			requests: prometheus.NewCounterVec(prometheus.CounterOpts{
				Name: "hub_cache_requests_total",
				Help: "Cacheable requests seen by hub_cache, by result (hit, collapsed, miss, stale, bypass).",
			}, []string{"result"}),
			evictions: prometheus.NewCounter(prometheus.CounterOpts{
				Name: "hub_cache_evictions_total",
				Help: "Entries evicted from the in-process L1 cache to stay within its bounds.",
			}),
			storeErrors: prometheus.NewCounterVec(prometheus.CounterOpts{
				Name: "hub_cache_store_errors_total",
				Help: "Cache store operations that failed (the request went on uncached), by operation.",
			}, []string{"op"}),
			invalidated: prometheus.NewCounter(prometheus.CounterOpts{
				Name: "hub_cache_invalidations_total",
				Help: "Tag generations bumped by writes and purges.",
			}),
		}
		for _, r := range []string{resultHit, resultCollapsed, resultMiss, resultStale, resultBypass} {
			metricsVal.requests.WithLabelValues(r)
		}
		for _, op := range []string{"lookup", "store", "invalidate"} {
			metricsVal.storeErrors.WithLabelValues(op)
		}
	})
	return metricsVal
}

func (c *collectors) list() []prometheus.Collector {
	return []prometheus.Collector{c.requests, c.evictions, c.storeErrors, c.invalidated}
}
