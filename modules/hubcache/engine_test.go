package hubcache

import (
	"context"
	"errors"
	"sync/atomic"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"

	"github.com/hubchantier/hubgate/internal/testutil"
)

// TestRedisDownBypass points the cache at a closed loopback port: reads
// and writes go to the upstream with no error, Cache-Status says why,
// and the store error metric counts.
func TestRedisDownBypass(t *testing.T) {
	clk := testutil.NewClock(t0)
	h := newTestHandler(t, redisStore(t, "redis://"+closedPort(t)+"/0"), clk, nil)
	up := newUpstream(`{"ok":true}`)
	before := counterValue(cacheMetrics().storeErrors.WithLabelValues("lookup"))
	for i := range 3 {
		w := call(t, h, up, "GET", "/api/v1/chantiers", ident("1", "k1"))
		if w.Code != 200 || w.Body.String() != `{"ok":true}` || cacheStatus(w) != "hubgate; fwd=bypass; detail=store-unavailable" {
			t.Fatalf("GET %d: %d %q %s", i, w.Code, cacheStatus(w), w.Body)
		}
		clk.Add(400 * time.Millisecond)
	}
	if w := call(t, h, up, "PATCH", "/api/v1/chantiers/1", ident("1", "k1")); w.Code != 200 {
		t.Fatalf("PATCH: %d", w.Code)
	}
	if up.hits.Load() != 4 {
		t.Fatalf("upstream hits = %d, want 4", up.hits.Load())
	}
	if after := counterValue(cacheMetrics().storeErrors.WithLabelValues("lookup")); after <= before {
		t.Fatal("store errors not counted")
	}
}

// flaky is a backend that fails while down is set.
type flaky struct {
	backend
	down  atomic.Bool
	calls atomic.Int32
}

var errDown = errors.New("connection refused")

func (f *flaky) lookup(ctx context.Context, key string, tags []string) ([]byte, map[string]string, error) {
	f.calls.Add(1)
	if f.down.Load() {
		return nil, nil, errDown
	}
	return f.backend.lookup(ctx, key, tags)
}

func (f *flaky) gens(ctx context.Context, tags []string) (map[string]string, error) {
	f.calls.Add(1)
	if f.down.Load() {
		return nil, errDown
	}
	return f.backend.gens(ctx, tags)
}

func (f *flaky) put(ctx context.Context, key string, blob []byte, ttl time.Duration) error {
	f.calls.Add(1)
	if f.down.Load() {
		return errDown
	}
	return f.backend.put(ctx, key, blob, ttl)
}

func (f *flaky) bump(ctx context.Context, tags []string) error {
	f.calls.Add(1)
	if f.down.Load() {
		return errDown
	}
	return f.backend.bump(ctx, tags)
}

// TestStoreRecovers: during an outage the store is left alone (one try
// per second), writes are remembered, and when it answers again they are
// replayed before anything is served from the cache.
func TestStoreRecovers(t *testing.T) {
	for name, mk := range stores(t) {
		t.Run(name, func(t *testing.T) {
			clk := testutil.NewClock(t0)
			h := newTestHandler(t, mk(t), clk, nil)
			f := &flaky{backend: h.g.b}
			h.g.b = f
			up := newUpstream(`{"v":1}`)
			call(t, h, up, "GET", "/api/v1/chantiers/1", nil)
			wantStatusPrefix(t, call(t, h, up, "GET", "/api/v1/chantiers/1", nil), "hubgate; hit")

			f.down.Store(true)
			wantStatusPrefix(t, call(t, h, up, "GET", "/api/v1/chantiers/1", nil), "hubgate; fwd=bypass; detail=store-unavailable")
			up.set(func(u *upstream) { u.body = `{"v":2}` })
			call(t, h, up, "PATCH", "/api/v1/chantiers/1", nil) // invalidation fails: kept for later
			calls := f.calls.Load()
			clk.Add(500 * time.Millisecond)
			w := call(t, h, up, "GET", "/api/v1/chantiers/1", nil)
			wantStatusPrefix(t, w, "hubgate; fwd=bypass; detail=store-unavailable")
			if f.calls.Load() != calls {
				t.Fatal("the store was tried again within the retry interval")
			}

			f.down.Store(false)
			clk.Add(time.Second)
			w = call(t, h, up, "GET", "/api/v1/chantiers/1", nil)
			wantStatusPrefix(t, w, "hubgate; fwd=miss; fwd-status=200; stored")
			if w.Body.String() != `{"v":2}` {
				t.Fatalf("after recovery: %s (the write during the outage was lost)", w.Body)
			}
			wantStatusPrefix(t, call(t, h, up, "GET", "/api/v1/chantiers/1", nil), "hubgate; hit")
		})
	}
}

// TestL1Bounds evicts the least recently used entries beyond the bounds.
func TestL1Bounds(t *testing.T) {
	evicted := 0
	c := newL1(2, 1<<20, func() { evicted++ })
	e := &entry{body: []byte("x")}
	c.add("a", e)
	c.add("b", e)
	c.get("a")
	c.add("c", e)
	if c.get("b") != nil || c.get("a") == nil || c.get("c") == nil || evicted != 1 {
		t.Fatalf("LRU: b kept or a/c lost, evicted %d", evicted)
	}
	small := newL1(100, 600, nil)
	small.add("big", &entry{body: make([]byte, 1000)})
	small.add("a", e)
	small.add("b", e)
	small.add("c", e)
	if n, b := small.len(); n != 2 || b > 600 {
		t.Fatalf("byte bound: %d entries, %d bytes", n, b)
	}
}

// counterValue reads a counter.
func counterValue(c prometheus.Counter) float64 {
	var m dto.Metric
	if err := c.Write(&m); err != nil {
		return -1
	}
	return m.GetCounter().GetValue()
}
