package events

import (
	"context"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/hubchantier/hubgate/upstream/db"
)

// Backlog counts the outbox's work left: events not yet fanned out to
// their subscribers, and deliveries still pending (first attempt or a
// retry due later).
func Backlog(ctx context.Context, d *db.DB) (undispatched, pending int64, err error) {
	if err = d.QueryRow(ctx, `SELECT COUNT(*) FROM events WHERE dispatched_at IS NULL`).Scan(&undispatched); err != nil {
		return 0, 0, err
	}
	err = d.QueryRow(ctx, `SELECT COUNT(*) FROM event_deliveries WHERE status = 'pending'`).Scan(&pending)
	return undispatched, pending, err
}

// BacklogCollector exports Backlog at each scrape as
// hubchantier_outbox_events_undispatched and
// hubchantier_outbox_deliveries_pending (docs/upstream.md, "Metrics").
// A scrape that cannot count (the database is down) exports nothing.
func BacklogCollector(d *db.DB) prometheus.Collector { return &backlogCollector{d: d} }

type backlogCollector struct{ d *db.DB }

var (
	undispatchedDesc = prometheus.NewDesc("hubchantier_outbox_events_undispatched",
		"Domain events written but not yet fanned out to their subscribers.", nil, nil)
	pendingDesc = prometheus.NewDesc("hubchantier_outbox_deliveries_pending",
		"Deliveries (webhooks, connectors) not yet acknowledged and not given up: first attempts and retries.", nil, nil)
)

func (c *backlogCollector) Describe(ch chan<- *prometheus.Desc) {
	ch <- undispatchedDesc
	ch <- pendingDesc
}

func (c *backlogCollector) Collect(ch chan<- prometheus.Metric) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	u, p, err := Backlog(ctx, c.d)
	if err != nil {
		return
	}
	ch <- prometheus.MustNewConstMetric(undispatchedDesc, prometheus.GaugeValue, float64(u))
	ch <- prometheus.MustNewConstMetric(pendingDesc, prometheus.GaugeValue, float64(p))
}
