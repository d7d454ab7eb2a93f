package hub

import (
	"testing"
	"time"
)

// TestLimiterCost: a request of cost n consumes n units of every window,
// on every backend; one that does not fit is refused and consumes nothing.
func TestLimiterCost(t *testing.T) {
	for backend, newEnv := range limiterBackends() {
		t.Run(backend, func(t *testing.T) {
			env := newEnv(t)
			w := Window{Key: "cost:" + t.Name(), Limit: 10, Period: time.Hour, Cost: 4}
			d := mustAllow(t, env.store, w)
			if !d.Allowed || d.Windows[0].Remaining != 6 {
				t.Fatalf("first cost-4 request: allowed=%v remaining=%d, want true 6", d.Allowed, d.Windows[0].Remaining)
			}
			d = mustAllow(t, env.store, w)
			if !d.Allowed || d.Windows[0].Remaining != 2 {
				t.Fatalf("second cost-4 request: allowed=%v remaining=%d, want true 2", d.Allowed, d.Windows[0].Remaining)
			}
			d = mustAllow(t, env.store, w)
			if d.Allowed || d.Windows[0].Remaining != 2 || d.RetryAfter() <= 0 {
				t.Fatalf("third cost-4 request: allowed=%v remaining=%d retry=%s, want refused, 2 left, a wait", d.Allowed, d.Windows[0].Remaining, d.RetryAfter())
			}
			// The units a refused request did not take are still there.
			w.Cost = 2
			if d = mustAllow(t, env.store, w); !d.Allowed || d.Windows[0].Remaining != 0 {
				t.Fatalf("cost-2 request: allowed=%v remaining=%d, want true 0", d.Allowed, d.Windows[0].Remaining)
			}
			// Cost 0 is 1.
			w2 := Window{Key: "cost0:" + t.Name(), Limit: 3, Period: time.Hour}
			if d = mustAllow(t, env.store, w2); d.Windows[0].Remaining != 2 {
				t.Fatalf("cost 0: remaining %d, want 2", d.Windows[0].Remaining)
			}
		})
	}
}
