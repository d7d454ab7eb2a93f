package hubidempotency

import (
	"github.com/prometheus/client_golang/prometheus"

	"github.com/hubchantier/hubgate/modules/hub"
)

// Results of hub_idempotency_requests_total (a bounded label).
const (
	resultStored      = "stored"      // first request, answer kept
	resultNotStored   = "not_stored"  // first request, answer not kept (5xx, 409, 429, too large, cookie)
	resultReplayed    = "replayed"    // a retry answered with the kept answer
	resultInFlight    = "in_flight"   // 409: the first is still running
	resultMismatch    = "mismatch"    // 422: same key, another request
	resultInvalid     = "invalid"     // 400 on the key's syntax, 413 on the body
	resultMissing     = "missing"     // 400: a required key is missing
	resultNoStore     = "no_store"    // key on a no_store route: ignored
	resultAnonymous   = "anonymous"   // key from an anonymous caller: ignored
	resultUnavailable = "unavailable" // the store failed (503, or run under fail_open)
)

var results = []string{resultStored, resultNotStored, resultReplayed, resultInFlight, resultMismatch,
	resultInvalid, resultMissing, resultNoStore, resultAnonymous, resultUnavailable}

// requestsMetric counts requests that carried (or lacked) a key, by result.
type requestsMetric struct{ *prometheus.CounterVec }

func (m requestsMetric) inc(result string) {
	if m.CounterVec != nil {
		m.WithLabelValues(result).Inc()
	}
}

func getMetrics() requestsMetric {
	return requestsMetric{hub.NewCounterVec(prometheus.CounterOpts{
		Name: "hub_idempotency_requests_total",
		Help: "Requests of hub_idempotency's methods that carried an Idempotency-Key (or lacked a required one), by result.",
	}, []string{"result"}, results...)}
}
