package hubbatch

import (
	"github.com/prometheus/client_golang/prometheus"

	"github.com/hubchantier/hubgate/modules/hub"
)

// metrics of hub_batch; labels are bounded (a fixed set of words, status
// classes).
type metrics struct {
	// batches counts batch calls by result: accepted, invalid, nested.
	batches *prometheus.CounterVec
	// operations counts operations by status class (2xx … 5xx).
	operations *prometheus.CounterVec
}

func collectors() metrics {
	return metrics{
		batches: hub.NewCounterVec(prometheus.CounterOpts{
			Name: "hub_batch_requests_total",
			Help: "Batch calls answered by hub_batch, by result (accepted, invalid, nested).",
		}, []string{"result"}, "accepted", "invalid", "nested"),
		operations: hub.NewCounterVec(prometheus.CounterOpts{
			Name: "hub_batch_operations_total",
			Help: "Operations of batches, by the status class of their result.",
		}, []string{"class"}, "2xx", "3xx", "4xx", "5xx"),
	}
}
