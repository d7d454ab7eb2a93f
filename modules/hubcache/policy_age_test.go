package hubcache

import (
	"fmt"
	"net/http"
	"testing"
	"time"

	"github.com/hubchantier/hubgate/internal/testutil"
)

// TestUpstreamAgeCountedOnce checks that the Age an upstream cache sent is
// counted once against freshness (RFC 9111 §4.2.3): max-age=100 with Age 60
// leaves 40 s of freshness, not 100-2*60.
func TestUpstreamAgeCountedOnce(t *testing.T) {
	for name, mk := range stores(t) {
		t.Run(name, func(t *testing.T) {
			clk := testutil.NewClock(t0)
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
			clk.Add(10 * time.Second)
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

// TestDecideStoreAge checks that decideStore keeps the freshness lifetime
// (Age is counted by the entry's stored time) and refuses a response that
// arrives already stale.
func TestDecideStoreAge(t *testing.T) {
	for _, tt := range []struct {
		name      string
		cc, age   string
		wantStore bool
		wantTTL   time.Duration
	}{
		{"age below max-age", "max-age=100", "60", true, 100 * time.Second},
		{"age equals max-age", "max-age=100", "100", false, 0},
		{"age above route ttl", "", "400", false, 0},
		{"age below route ttl", "", "100", true, 300 * time.Second},
	} {
		t.Run(tt.name, func(t *testing.T) {
			h := http.Header{"Age": {tt.age}}
			if tt.cc != "" {
				h.Set("Cache-Control", tt.cc)
			}
			p := decideStore(storeInput{status: 200, header: h, mode: ModeOverride, routeTTL: 300 * time.Second, maxStale: time.Minute, now: t0})
			if p.store != tt.wantStore || p.ttl != tt.wantTTL {
				t.Fatalf("store=%v ttl=%s (reason %q), want store=%v ttl=%s", p.store, p.ttl, p.reason, tt.wantStore, tt.wantTTL)
			}
		})
	}
}
