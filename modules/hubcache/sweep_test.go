package hubcache

import (
	"fmt"
	"net/http"
	"reflect"
	"testing"
	"time"

	"go.uber.org/zap"

	"github.com/hubchantier/hubgate/internal/testutil"
)

// TestL1SweepDropsDeadEntries: entries past their lifetime plus max_stale
// leave the L1 on the timed sweep, even when nothing is added to push them
// out, while entries still able to answer stale stay; the index map is
// rebuilt once the sweep emptied most of it.
func TestL1SweepDropsDeadEntries(t *testing.T) {
	clk := testutil.NewClock(t0)
	g := newEngine(&storeBackend{s: storesMemory(t)}, 100000, 1<<30, zap.NewNop())
	g.now = clk.Now
	ticks := make(chan time.Time)
	g.startSweeping(ticks)
	t.Cleanup(func() { _ = g.Destruct() })
	const n = 2000
	for i := range n {
		g.l1.add(fmt.Sprint("dead", i), &entry{status: 200, header: http.Header{}, body: []byte("x"),
			stored: t0, ttl: time.Minute, stale: 10 * time.Minute})
	}
	g.l1.add("stale", &entry{status: 200, header: http.Header{}, stored: t0, ttl: time.Minute, stale: time.Hour})
	g.l1.add("fresh", &entry{status: 200, header: http.Header{}, stored: t0.Add(11 * time.Minute), ttl: time.Minute})
	id := reflect.ValueOf(g.l1.items).Pointer()

	clk.Add(11 * time.Minute) // past ttl + max_stale of the "dead" ones
	ticks <- time.Time{}
	ticks <- time.Time{} // returns once the first sweep is over
	if items, _ := g.l1.len(); items != 2 || g.l1.get("stale") == nil || g.l1.get("fresh") == nil {
		t.Fatalf("%d entries after the sweep, want the stale-usable and the fresh one", items)
	}
	g.l1.mu.Lock()
	rebuilt := reflect.ValueOf(g.l1.items).Pointer() != id
	g.l1.mu.Unlock()
	if !rebuilt {
		t.Fatal("the L1 index was not rebuilt after the sweep emptied it")
	}
	if _, bytes := g.l1.len(); bytes <= 0 || bytes > 1024 {
		t.Fatalf("byte count %d after the sweep", bytes)
	}
}

// TestL1SweepAfterServing: an entry the handler stored is swept once past
// its lifetime, with the handler's own max_stale.
func TestL1SweepAfterServing(t *testing.T) {
	clk := testutil.NewClock(t0)
	h := newTestHandler(t, storesMemory(t), clk, nil)
	up := newUpstream(`{"data":[]}`)
	call(t, h, up, "GET", "/api/v1/chantiers", ident("1", "k1", "read"))
	if n, _ := h.g.l1.len(); n == 0 {
		t.Fatal("nothing cached")
	}
	clk.Add(5*time.Minute + time.Duration(h.MaxStale) - time.Second)
	h.g.sweep()
	if n, _ := h.g.l1.len(); n == 0 {
		t.Fatal("an entry still usable stale was swept")
	}
	clk.Add(2 * time.Second)
	h.g.sweep()
	if n, _ := h.g.l1.len(); n != 0 {
		t.Fatalf("%d entries left past ttl + max_stale", n)
	}
}
