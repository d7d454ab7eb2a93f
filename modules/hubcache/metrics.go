package hubcache

import (
	"github.com/prometheus/client_golang/prometheus"

	"github.com/hubchantier/hubgate/modules/hub"
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

// cacheM are hub_cache's collectors (hub.NewCounterVec & co.: one per
// process, so they survive reloads; registered into each config's registry
// in Provision).
var cacheM = &collectors{
	requests: hub.NewCounterVec(prometheus.CounterOpts{
		Name: "hub_cache_requests_total",
		Help: "Cacheable requests seen by hub_cache, by result (hit, collapsed, miss, stale, bypass).",
	}, []string{"result"}, resultHit, resultCollapsed, resultMiss, resultStale, resultBypass),
	evictions: hub.NewCounter(prometheus.CounterOpts{
		Name: "hub_cache_evictions_total",
		Help: "Entries evicted from the in-process L1 cache to stay within its bounds.",
	}),
	storeErrors: hub.NewCounterVec(prometheus.CounterOpts{
		Name: "hub_cache_store_errors_total",
		Help: "Cache store operations that failed (the request went on uncached), by operation.",
	}, []string{"op"}, "lookup", "store", "invalidate"),
	invalidated: hub.NewCounter(prometheus.CounterOpts{
		Name: "hub_cache_invalidations_total",
		Help: "Tag generations bumped by writes and purges.",
	}),
}

// cacheMetrics returns hub_cache's collectors.
func cacheMetrics() *collectors { return cacheM }

func (c *collectors) list() []prometheus.Collector {
	return []prometheus.Collector{c.requests, c.evictions, c.storeErrors, c.invalidated}
}
