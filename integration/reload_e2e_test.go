package integration

import (
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"
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

	done := make(chan loadReport, 1)
	go func() { done <- openLoad(gw.URL+"/api/v1/chantiers?limit=2", loadKey, rate, duration) }()
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
	t.Logf("%s: %d requests at %.0f/s around the reload, %d failed, p50 %s max %s; reload command %s, new rule in force %s after it started",
		map[bool]string{false: "memory", true: "redis"}[redis], lo.requests, rate, len(lo.failures), lo.p50, lo.max,
		reloaded.Round(time.Millisecond), inForce.Round(time.Millisecond))
	if len(lo.failures) != 0 {
		t.Fatalf("%d of %d requests failed across the reload (reload at +%s), e.g. %v",
			len(lo.failures), lo.requests, (duration / 3).Round(time.Millisecond), lo.failures[:min(5, len(lo.failures))])
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

// loadReport is what openLoad saw.
type loadReport struct {
	requests int
	failures []string // "+offset: status or error" of each failed request
	p50, max time.Duration
}

// openLoad sends GETs with key to url at a constant rate for d, open loop
// (each request starts on schedule whatever the earlier ones do), and
// reports every failure (transport error or non-2xx) with when it was sent.
func openLoad(url, key string, rate float64, d time.Duration) loadReport {
	client := &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{MaxIdleConnsPerHost: 64}}
	interval := time.Duration(float64(time.Second) / rate)
	n := int(d / interval)
	var mu sync.Mutex
	var rep loadReport
	lat := make([]time.Duration, 0, n)
	var wg sync.WaitGroup
	start := time.Now()
	for i := range n {
		at := start.Add(time.Duration(i) * interval)
		time.Sleep(time.Until(at))
		wg.Add(1)
		go func() {
			defer wg.Done()
			req, _ := http.NewRequest("GET", url, nil)
			req.Header.Set("Authorization", "Bearer "+key)
			resp, err := client.Do(req)
			fail := ""
			if err != nil {
				fail = err.Error()
			} else {
				body, _ := io.ReadAll(resp.Body)
				resp.Body.Close()
				if resp.StatusCode/100 != 2 {
					fail = fmt.Sprintf("%d %.200s", resp.StatusCode, body)
				}
			}
			took := time.Since(at)
			mu.Lock()
			defer mu.Unlock()
			rep.requests++
			lat = append(lat, took)
			if fail != "" {
				rep.failures = append(rep.failures, fmt.Sprintf("+%s: %s", at.Sub(start).Round(time.Millisecond), fail))
			}
		}()
	}
	wg.Wait()
	slices.Sort(lat)
	if len(lat) > 0 {
		rep.p50, rep.max = lat[len(lat)/2], lat[len(lat)-1]
	}
	return rep
}
