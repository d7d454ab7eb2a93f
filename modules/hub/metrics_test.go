package hub

import (
	"testing"

	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"
)

// TestCollectorHelpersMemoiseByName: every module asks for its collectors
// by name and gets the one process-wide instance (values survive reloads,
// no sync.Once per module); zeros export their series at once; a name
// reused with another type is a programming error and panics.
func TestCollectorHelpersMemoiseByName(t *testing.T) {
	opts := prometheus.CounterOpts{Name: "hub_test_memo_total", Help: "test"}
	a := NewCounterVec(opts, []string{"kind"}, "x", "y")
	b := NewCounterVec(opts, []string{"kind"})
	if a != b {
		t.Fatal("two vectors for one name")
	}
	a.WithLabelValues("x").Inc()
	var m dto.Metric
	if err := b.WithLabelValues("x").Write(&m); err != nil || m.GetCounter().GetValue() != 1 {
		t.Fatalf("value not shared: %v %v", m.GetCounter().GetValue(), err)
	}
	reg := prometheus.NewRegistry()
	if err := RegisterCollectors(reg, a, b); err != nil {
		t.Fatal(err)
	}
	fams, err := reg.Gather()
	if err != nil || len(fams) != 1 || len(fams[0].GetMetric()) != 2 {
		t.Fatalf("gathered %v (%v): want the x and y series", fams, err)
	}
	if NewCounter(prometheus.CounterOpts{Namespace: "hub", Name: "test_memo_c"}) !=
		NewCounter(prometheus.CounterOpts{Name: "hub_test_memo_c"}) {
		t.Fatal("fully qualified names differ")
	}
	defer func() {
		if recover() == nil {
			t.Fatal("a counter name reused for a gauge did not panic")
		}
	}()
	NewGauge(prometheus.GaugeOpts{Name: "hub_test_memo_total"})
}
