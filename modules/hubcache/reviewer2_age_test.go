package hubcache

import (
	"fmt"
	"testing"
	"time"
)

// TestUpstreamAgeCountedOnce checks that the Age an upstream cache sent is
// counted once against freshness (RFC 9111 §4.2.3): max-age=100 with Age 60
// leaves 40 s of freshness, not 100-2*60.
func TestUpstreamAgeCountedOnce(t *testing.T) {
	for name, mk := range stores(t) {
		t.Run(name, func(t *testing.T) {
			clk := &clock{t: t0}
			h := newTestHandler(t, mk(t), clk, nil)
			up := newUpstream(`{"v":1}`)
			up.header.Set("Cache-Control", "max-age=100")
			up.header.Set("Age", "60")
			alice := ident("1", "k1", "read")
			key := buildKey(request("GET", "/api/v1/chantiers", alice), "", false).hash

			w := call(t, h, up, "GET", "/api/v1/chantiers", alice)
			if got, want := cacheStatus(w), fmt.Sprintf(`hubgate; fwd=miss; fwd-status=200; stored; ttl=40; key="%s"`, key); got != want {
				t.Fatalf("miss: Cache-Status %q, want %q", got, want)
			}
			if w.Header().Get("Age") != "60" {
				t.Fatalf("miss: Age %q, want 60", w.Header().Get("Age"))
			}
			clk.add(10 * time.Second)
			w = call(t, h, up, "GET", "/api/v1/chantiers", alice)
			if got, want := cacheStatus(w), fmt.Sprintf(`hubgate; hit; ttl=30; key="%s"`, key); got != want {
				t.Fatalf("after 10 s: Cache-Status %q, want %q", got, want)
			}
			if w.Header().Get("Age") != "70" {
				t.Fatalf("hit: Age %q, want 70", w.Header().Get("Age"))
			}
			if n := up.hits.Load(); n != 1 {
				t.Fatalf("upstream hits = %d, want 1", n)
			}
		})
	}
}
