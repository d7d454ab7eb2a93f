package integration

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/hubchantier/hubgate/integration/harness"
)

// TestReloadUnderLoad changes the policy of a running gateway with
// `hubgate reload` (a new rate-limit rule, a new cache route) while a
// constant open-loop load runs through it: no request fails, a key's
// rate-limit count and a cached answer survive the reload, and the new
// rule and route are in force right after it (the time is logged; the
// only bound is a generous one). Memory store and Redis.
func TestReloadUnderLoad(t *testing.T) {
	for _, redis := range []bool{false, true} {
		t.Run(map[bool]string{false: "memory", true: "redis"}[redis], func(t *testing.T) {
			if redis && os.Getenv("HUB_TEST_REDIS_URL") == "" {
				t.Skip("Redis end-to-end tests skipped: set HUB_TEST_REDIS_URL to run them")
			}
			testReloadUnderLoad(t, redis)
		})
	}
}

func testReloadUnderLoad(t *testing.T, redis bool) {
	const (
		rate     = 200.0 // requests per second
		duration = 4 * time.Second
		planning = "/api/v1/planning"
		item     = "/api/v1/chantiers/1"
	)
	s := newRLStack(t, redis)
	src, err := os.ReadFile(s.config)
	if err != nil {
		t.Fatal(err)
	}
	shipped := string(src)
	const route, rule = "route /api/v1/planning 120s", "rule oauth-token POST /oauth/token 30/minute per ip"
	for _, l := range []string{route, rule} {
		if !strings.Contains(shipped, l) {
			t.Fatalf("the shipped Caddyfile has no %q", l)
		}
	}
	// Before: planning is not cached and has no rule of its own. After:
	// the shipped cache route, and a rule of 3 a minute per principal.
	before := strings.Replace(shipped, route, "route /api/v1/planning off", 1)
	after := strings.Replace(shipped, rule, rule+"\n\t\t\trule planning GET /api/v1/planning 3/minute", 1)
	if err := os.WriteFile(s.config, []byte(before), 0o600); err != nil {
		t.Fatal(err)
	}
	next := filepath.Join(s.dir, "Caddyfile.next")
	if err := os.WriteFile(next, []byte(after), 0o600); err != nil {
		t.Fatal(err)
	}
	gw := s.gateway()
	s.createUser("admin@example.com", "admin")
	erpID := s.userID("erp@example.com", "conducteur")
	s.cli("seed")
	adminJWT := s.login("admin@example.com", "correct-horse-battery")
	_, loadKey := s.createKey(adminJWT, map[string]any{"name": "load", "scopes": []string{"read", "write"}})
	_, limited := limitedKey(s, adminJWT, erpID, "10/hour")
	_, probe := s.createKey(s.login("erp@example.com", "correct-horse-battery"), map[string]any{"name": "probe", "scopes": []string{"read"}})
	get := func(path, key string) response { return s.do("GET", gw.URL+path, nil, bearer(key)...) }

	// State the reload must keep: a cached answer and a key's count.
	wantCache(t, "item fills", get(item, loadKey), "hubgate; fwd=miss")
	wantCache(t, "item hit", get(item, loadKey), "hubgate; hit")
	for i := range 4 {
		if r := get("/api/v1/chantiers?limit=1", limited); r.status != 200 {
			t.Fatalf("limited key request %d: %d %s", i+1, r.status, r.body)
		}
	}
	// The old policy: planning neither cached nor limited by a rule.
	for range 2 {
		r := get(planning, probe)
		if r.status != 200 || strings.HasPrefix(r.header.Get("Cache-Status"), "hubgate; hit") || strings.Contains(r.header.Get("RateLimit-Policy"), `"planning"`) {
			t.Fatalf("planning before the reload: %d Cache-Status %q RateLimit-Policy %q", r.status, r.header.Get("Cache-Status"), r.header.Get("RateLimit-Policy"))
		}
	}

	type loadOut struct {
		res harness.LoadResult
		err error
	}
	done := make(chan loadOut, 1)
	go func() {
		res, err := harness.LoadRate(gw.URL+"/api/v1/chantiers?limit=2", func() map[string]string {
			return map[string]string{"Authorization": "Bearer " + loadKey}
		}, rate, duration)
		done <- loadOut{res, err}
	}()
	// The reload lands in the middle of the load.
	time.Sleep(duration / 3)
	start := time.Now()
	if err := gw.Reload(next); err != nil {
		t.Fatal(err)
	}
	reloaded := time.Since(start)
	var first response
	inForce := eventually(t, 10*time.Second, "the new planning rule in force", func() bool {
		first = get(planning, probe)
		return strings.Contains(first.header.Get("RateLimit-Policy"), `"planning";q=3;w=60`)
	})
	inForce += reloaded
	lo := <-done
	if lo.err != nil {
		t.Fatal(lo.err)
	}
	t.Logf("%s: %d requests at %.0f/s around the reload, %d failed, p50 %s p99 %s; reload command %s, new rule in force %s after it started",
		map[bool]string{false: "memory", true: "redis"}[redis], lo.res.Requests, rate, lo.res.Errors, lo.res.P50, lo.res.P99,
		reloaded.Round(time.Millisecond), inForce.Round(time.Millisecond))
	if lo.res.Errors != 0 {
		t.Fatalf("%d of %d requests failed across the reload", lo.res.Errors, lo.res.Requests)
	}
	if gw.Exited() {
		t.Fatal("the gateway exited")
	}

	// Kept: the cached answer and the key's count (4 of 10 used).
	wantCache(t, "item after the reload", get(item, loadKey), "hubgate; hit")
	if r := get("/api/v1/chantiers?limit=1", limited); r.status != 200 || r.header.Get("X-RateLimit-Remaining") != "5" {
		t.Fatalf("limited key after the reload: %d X-RateLimit-Remaining %q, want 5", r.status, r.header.Get("X-RateLimit-Remaining"))
	}
	// New: planning cached, and the rule refuses the probe key's 4th.
	wantCache(t, "planning fills", get(planning, loadKey), "hubgate; fwd=miss")
	wantCache(t, "planning hit", get(planning, loadKey), "hubgate; hit")
	var r response
	for i := 0; i < 4; i++ {
		if r = get(planning, probe); r.status == 429 {
			break
		}
	}
	checkRateLimited(t, r, "planning", 3, 60, 20)
}
