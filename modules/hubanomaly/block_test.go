package hubanomaly

import (
	"errors"
	"fmt"
	"os"
	"strconv"
	"testing"
	"time"

	"github.com/caddyserver/caddy/v2"

	"github.com/hubchantier/hubgate/modules/hub"
)

// scan makes key get 404 on n distinct paths.
func scan(t *testing.T, h *Handler, key string, n int) {
	t.Helper()
	for i := 0; i < n; i++ {
		serve(t, h, req{id: keyID(key), path: fmt.Sprintf("/api/v1/chantiers/%d", 5000+i), status: 404})
	}
}

func TestBlockThenRelease(t *testing.T) {
	for _, status := range []int{429, 403} {
		t.Run(strconv.Itoa(status), func(t *testing.T) {
			c := newClock()
			h := newHandler(t, &Handler{Scan: &DistinctRule{Distinct: 5, Action: Action{Block: caddy.Duration(2 * time.Minute), BlockStatus: status}}}, c, newFakeStore(c.Now))
			serve(t, h, req{id: keyID("other")})
			scan(t, h, "bad", 5)
			evs := events(h)
			if len(evs) != 1 || evs[0].Details["action"] != "block" || evs[0].Details["block_status"] != status {
				t.Fatalf("events %+v", evs)
			}
			r := serve(t, h, req{id: keyID("bad")})
			if r.status != status || r.next {
				t.Fatalf("blocked request: status %d next %v, want %d without next", r.status, r.next, status)
			}
			if got := r.header.Get("Retry-After"); got != "120" {
				t.Errorf("Retry-After %q, want 120", got)
			}
			p := r.problem(t)
			if p["type"] != "urn:hubchantier:problem:anomaly-blocked" || p["rule"] != "scan" || p["status"] != float64(status) {
				t.Errorf("problem %v", p)
			}
			if ct := r.header.Get("Content-Type"); ct != "application/problem+json" {
				t.Errorf("Content-Type %q", ct)
			}
			// Other principals are untouched.
			if r := serve(t, h, req{id: keyID("other")}); r.status != 200 || !r.next {
				t.Fatalf("other key: %d", r.status)
			}
			c.Add(90 * time.Second)
			if r := serve(t, h, req{id: keyID("bad")}); r.status != status || r.header.Get("Retry-After") != "30" {
				t.Fatalf("after 90 s: %d Retry-After %q", r.status, r.header.Get("Retry-After"))
			}
			c.Add(31 * time.Second)
			if r := serve(t, h, req{id: keyID("bad")}); r.status != 200 || !r.next {
				t.Fatalf("after the block: %d", r.status)
			}
		})
	}
}

// TestBlockAcrossInstances: a block decided by one instance applies at
// another sharing the store, at most block_cache later, and the warm path
// asks the store at most once per principal per block_cache.
func TestBlockAcrossInstances(t *testing.T) {
	stores := map[string]func(t *testing.T, c *clock) hub.Store{
		"fake": func(t *testing.T, c *clock) hub.Store { return newFakeStore(c.Now) },
		"redis": func(t *testing.T, c *clock) hub.Store {
			url := os.Getenv("HUB_TEST_REDIS_URL")
			if url == "" {
				t.Skip("Redis test skipped: set HUB_TEST_REDIS_URL to run it")
			}
			rs := &hub.RedisStore{URL: url, Prefix: fmt.Sprintf("anomalytest:%d:", time.Now().UnixNano())}
			if err := rs.Provision(caddy.Context{}); err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { _ = rs.Cleanup() })
			return rs.Store()
		},
	}
	for name, mk := range stores {
		t.Run(name, func(t *testing.T) {
			c := newClock()
			store := mk(t, c)
			cfg := func() *Handler {
				return &Handler{BlockCache: caddy.Duration(time.Second), Scan: &DistinctRule{Distinct: 5, Action: Action{Block: caddy.Duration(time.Minute)}}}
			}
			a := newHandler(t, cfg(), c, store)
			b := newHandler(t, cfg(), c, store)
			if r := serve(t, b, req{id: keyID("bad")}); r.status != 200 {
				t.Fatalf("b before: %d", r.status)
			}
			scan(t, a, "bad", 5)
			if r := serve(t, a, req{id: keyID("bad")}); r.status != 429 {
				t.Fatalf("a after the scan: %d", r.status)
			}
			// b trusts its "not blocked" for block_cache, then asks again.
			if r := serve(t, b, req{id: keyID("bad")}); r.status != 200 {
				t.Fatalf("b within block_cache: %d", r.status)
			}
			c.Add(time.Second)
			if r := serve(t, b, req{id: keyID("bad")}); r.status != 429 {
				t.Fatalf("b after block_cache: %d", r.status)
			}
			c.Add(time.Minute)
			for _, h := range []*Handler{a, b} {
				if r := serve(t, h, req{id: keyID("bad")}); r.status != 200 {
					t.Fatalf("after the block: %d", r.status)
				}
			}
		})
	}
}

func TestBlockWarmPathCost(t *testing.T) {
	c := newClock()
	s := newFakeStore(c.Now)
	h := newHandler(t, &Handler{BlockCache: caddy.Duration(time.Second), Scan: &DistinctRule{Action: Action{Block: caddy.Duration(time.Minute)}}}, c, s)
	for i := 0; i < 100; i++ {
		serve(t, h, req{id: keyID("k")})
		c.Add(100 * time.Millisecond)
	}
	// 10 s of traffic, one GET per second at most.
	if n := s.getCount(); n < 1 || n > 11 {
		t.Fatalf("%d store GETs for 100 requests over 10 s, want at most 11", n)
	}
	// Without any block action the store is never asked.
	s2 := newFakeStore(c.Now)
	h2 := newHandler(t, &Handler{}, c, s2)
	serve(t, h2, req{id: keyID("k")})
	if n := s2.getCount(); n != 0 {
		t.Fatalf("%d GETs without block actions", n)
	}
}

func TestBlockStoreDown(t *testing.T) {
	c := newClock()
	s := newFakeStore(c.Now)
	h := newHandler(t, &Handler{Scan: &DistinctRule{Distinct: 5, Action: Action{Block: caddy.Duration(time.Minute), BlockStatus: 403}}}, c, s)
	s.err = errors.New("connection refused")
	// Fail open for everyone, but a block this instance decided holds.
	if r := serve(t, h, req{id: keyID("good")}); r.status != 200 {
		t.Fatalf("store down: %d", r.status)
	}
	scan(t, h, "bad", 5)
	if r := serve(t, h, req{id: keyID("bad")}); r.status != 403 {
		t.Fatalf("local block with the store down: %d", r.status)
	}
}
