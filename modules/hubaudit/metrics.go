package hubaudit

import (
	"github.com/prometheus/client_golang/prometheus"

	"github.com/hubchantier/hubgate/modules/hub"
)

// metrics are hub_audit's collectors, created once per process so their
// values survive config reloads (see hub.RegisterCollectors).
type metrics struct {
	records    *prometheus.CounterVec
	journaled  prometheus.Counter // records{result="journaled"}, looked up once: it counts every request
	shipErrors prometheus.Counter
	backlog    prometheus.GaugeFunc
	diskBytes  prometheus.GaugeFunc
	headSeq    prometheus.GaugeFunc
}

// Results of hub_audit_records_total.
const (
	resultJournaled = "journaled"
	resultDropped   = "dropped"
	resultRefused   = "refused"
)

// auditM are hub_audit's collectors (hub.NewCounterVec & co.: one per
// process); the gauges read the journals open in the process.
var auditM = &metrics{
	records: hub.NewCounterVec(prometheus.CounterOpts{
		Name: "hub_audit_records_total",
		Help: "Audit records by result: journaled (durable before the response), dropped (journal full or failing, request served), refused (journal full, sensitive request answered 503).",
	}, []string{"result"}, resultJournaled, resultDropped, resultRefused),
	shipErrors: hub.NewCounter(prometheus.CounterOpts{
		Name: "hub_audit_ship_errors_total",
		Help: "Failed attempts to ship a batch of audit records to the audit store (each is retried).",
	}),
	backlog: hub.NewGaugeFunc(prometheus.GaugeOpts{
		Name: "hub_audit_backlog_records",
		Help: "Audit records journaled by this gateway and not yet accepted by the audit store.",
	}, func() float64 { return float64(sumJournals((*Journal).Backlog)) }),
	diskBytes: hub.NewGaugeFunc(prometheus.GaugeOpts{
		Name: "hub_audit_journal_bytes",
		Help: "Size of the audit journal segments on disk (bounded by max_journal_size).",
	}, func() float64 { return float64(sumJournals((*Journal).DiskBytes)) }),
	headSeq: hub.NewGaugeFunc(prometheus.GaugeOpts{
		Name: "hub_audit_chain_head_seq",
		Help: "Seq of the newest record of this gateway's audit chain: an anchor outside the audit store (hubchantier audit verify --expect <gateway_id>:<seq>).",
	}, func() float64 { return float64(sumJournals((*Journal).HeadSeq)) }),
}

func init() { auditM.journaled = auditM.records.WithLabelValues(resultJournaled) }

func getMetrics() *metrics { return auditM }

func (m *metrics) collectors() []prometheus.Collector {
	return []prometheus.Collector{m.records, m.shipErrors, m.backlog, m.diskBytes, m.headSeq}
}

// sumJournals adds f over the journals open in this process.
func sumJournals(f func(*Journal) int64) int64 {
	var n int64
	journalPool.Range(func(_, v any) bool {
		if s, ok := v.(*pooled); ok {
			n += f(s.journal)
		}
		return true
	})
	return n
}
