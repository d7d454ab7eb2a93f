package hubanomaly

import (
	"sync"

	"github.com/prometheus/client_golang/prometheus"
)

// metrics are created once per process and registered into each config's
// registry, so they survive reloads. Labels are bounded: rule is one of
// four names, sink is upstream or webhook.
type metrics struct {
	anomalies *prometheus.CounterVec
	blocked   *prometheus.CounterVec
	dropped   *prometheus.CounterVec
}

var (
	metricsOnce sync.Once
	metricsVal  *metrics
)

func getMetrics() *metrics {
	metricsOnce.Do(func() {
		metricsVal = &metrics{
			anomalies: prometheus.NewCounterVec(prometheus.CounterOpts{
				Name: "hub_anomalies_total",
				Help: "Anomalies detected by hub_anomaly, by rule.",
			}, []string{"rule"}),
			blocked: prometheus.NewCounterVec(prometheus.CounterOpts{
				Name: "hub_anomaly_blocked_requests_total",
				Help: "Requests refused because their principal is blocked after an anomaly, by rule.",
			}, []string{"rule"}),
			dropped: prometheus.NewCounterVec(prometheus.CounterOpts{
				Name: "hub_anomaly_events_dropped_total",
				Help: "Anomaly events not delivered (queue full or retries exhausted), by sink.",
			}, []string{"sink"}),
		}
		for _, r := range ruleNames {
			// Every series exists from the start, so rate() and alerts see 0.
			metricsVal.anomalies.WithLabelValues(r)
			metricsVal.blocked.WithLabelValues(r)
		}
		metricsVal.dropped.WithLabelValues(sinkUpstream)
		metricsVal.dropped.WithLabelValues(sinkWebhook)
	})
	return metricsVal
}

func (m *metrics) collectors() []prometheus.Collector {
	return []prometheus.Collector{m.anomalies, m.blocked, m.dropped}
}
