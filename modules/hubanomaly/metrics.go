package hubanomaly

import (
	"github.com/prometheus/client_golang/prometheus"

	"github.com/hubchantier/hubgate/modules/hub"
)

// metrics are created once per process and registered into each config's
// registry, so they survive reloads. Labels are bounded: rule is one of
// four names, sink is upstream or webhook.
type metrics struct {
	anomalies *prometheus.CounterVec
	blocked   *prometheus.CounterVec
	dropped   *prometheus.CounterVec
}

// anomalyMetrics are hub_anomaly's collectors (hub.NewCounterVec: one per
// process). Every series exists from the start, so rate() and alerts see 0.
var anomalyMetrics = &metrics{
	anomalies: hub.NewCounterVec(prometheus.CounterOpts{
		Name: "hub_anomalies_total",
		Help: "Anomalies detected by hub_anomaly, by rule.",
	}, []string{"rule"}, ruleNames[:]...),
	blocked: hub.NewCounterVec(prometheus.CounterOpts{
		Name: "hub_anomaly_blocked_requests_total",
		Help: "Requests refused because their principal is blocked after an anomaly, by rule.",
	}, []string{"rule"}, ruleNames[:]...),
	dropped: hub.NewCounterVec(prometheus.CounterOpts{
		Name: "hub_anomaly_events_dropped_total",
		Help: "Anomaly events not delivered (queue full or retries exhausted), by sink.",
	}, []string{"sink"}, sinkUpstream, sinkWebhook),
}

func getMetrics() *metrics { return anomalyMetrics }

func (m *metrics) collectors() []prometheus.Collector {
	return []prometheus.Collector{m.anomalies, m.blocked, m.dropped}
}
