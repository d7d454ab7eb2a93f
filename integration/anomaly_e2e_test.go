package integration

import (
	"fmt"
	"net/url"
	"os"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/hubchantier/hubgate/integration/harness"
)

// anomalyActors creates an admin (JWT) and a key owner, and returns the
// admin's token and one API key (id and secret) with the read scope.
func anomalyActors(s *rlStack) (adminJWT, keyID, key string) {
	s.t.Helper()
	s.createUser("admin@example.com", "admin")
	s.createUser("erp@example.com", "conducteur")
	adminJWT = s.login("admin@example.com", "correct-horse-battery")
	keyID, key = s.createKey(s.login("erp@example.com", "correct-horse-battery"), map[string]any{"name": "erp", "scopes": []string{"read"}})
	return adminJWT, keyID, key
}

// scanPaths sends n GETs for chantiers that do not exist, with key, through gw.
func scanPaths(s *rlStack, gw *harness.Gateway, key string, from, n int) []response {
	s.t.Helper()
	out := make([]response, n)
	for i := range out {
		out[i] = s.do("GET", gw.URL+fmt.Sprintf("/api/v1/chantiers/%d", 900000+from+i), nil, bearer(key)...)
	}
	return out
}

// anomalyEvents lists the admin's view of keyID's scan events.
func anomalyEvents(s *rlStack, gw *harness.Gateway, adminJWT, keyID string) []any {
	s.t.Helper()
	q := url.Values{"rule": {"scan"}, "principal_kind": {"api_key"}, "principal_id": {keyID}}
	r := s.do("GET", gw.URL+"/api/v1/admin/anomalies?"+q.Encode(), nil, bearer(adminJWT)...)
	if r.status != 200 {
		s.t.Fatalf("admin anomalies: %d %s", r.status, r.body)
	}
	data, _ := r.json(s.t)["data"].([]any)
	return data
}

// TestAnomalyScanDetected: with the default Caddyfile, a key getting 404 on
// 30 distinct paths yields one scan event, visible to admins through the
// gateway, and hub_anomalies_total{rule="scan"} on the metrics listener.
// Nothing is blocked by default.
func TestAnomalyScanDetected(t *testing.T) {
	s := newRLStack(t, false)
	gw := s.gateway()
	adminJWT, keyID, key := anomalyActors(s)

	for i, r := range scanPaths(s, gw, key, 0, 30) {
		if r.status != 404 {
			t.Fatalf("scan request %d: %d %s (nothing is blocked by default)", i, r.status, r.body)
		}
	}
	var events []any
	eventually(t, 15*time.Second, "scan event stored upstream", func() bool {
		events = anomalyEvents(s, gw, adminJWT, keyID)
		return len(events) > 0
	})
	time.Sleep(200 * time.Millisecond) // a second event would be a cooldown bug
	if events = anomalyEvents(s, gw, adminJWT, keyID); len(events) != 1 {
		t.Fatalf("%d events, want 1 (cooldown): %v", len(events), events)
	}
	ev := events[0].(map[string]any)
	details, _ := ev["details"].(map[string]any)
	if ev["rule"] != "scan" || ev["principal_kind"] != "api_key" || ev["principal_id"] != keyID ||
		details["distinct_404_paths"] != float64(20) || ev["event_id"] == "" || ev["gateway_id"] == "" {
		t.Fatalf("event %v", ev)
	}
	if strings.Contains(fmt.Sprint(ev), "900") {
		t.Fatalf("event holds a raw path: %v", ev)
	}
	// Only admins read them.
	if r := s.do("GET", gw.URL+"/api/v1/admin/anomalies", nil, bearer(key)...); r.status != 403 {
		t.Fatalf("key owner reading anomalies: %d", r.status)
	}
	m := s.do("GET", gw.MetricsURL, nil)
	if !strings.Contains(string(m.body), `hub_anomalies_total{rule="scan"} 1`) {
		t.Fatalf("metrics lack hub_anomalies_total{rule=\"scan\"} 1:\n%s", anomalyLines(string(m.body)))
	}
}

// TestAnomalyBlock: with `scan … block 3s 403` in the Caddyfile, the
// scanning key is refused with the anomaly-blocked problem, other keys are
// not, and the key is served again once the block expires. With Redis, a
// second gateway sharing it refuses the key too (it sees the block within
// block_cache, 1 s).
func TestAnomalyBlock(t *testing.T) {
	for _, redis := range []bool{false, true} {
		t.Run(map[bool]string{false: "memory", true: "redis"}[redis], func(t *testing.T) {
			if redis && os.Getenv("HUB_TEST_REDIS_URL") == "" {
				t.Skip("Redis end-to-end tests skipped: set HUB_TEST_REDIS_URL to run them")
			}
			s := newRLStack(t, redis)
			src, err := os.ReadFile(s.config)
			if err != nil {
				t.Fatal(err)
			}
			const scanLine = "scan 20 window 10m"
			if !strings.Contains(string(src), scanLine) {
				t.Fatalf("the default Caddyfile has no %q line", scanLine)
			}
			cfg := strings.Replace(string(src), scanLine, scanLine+" block 3s 403", 1)
			if err := os.WriteFile(s.config, []byte(cfg), 0o600); err != nil {
				t.Fatal(err)
			}
			gws := []*harness.Gateway{s.gateway()}
			if redis {
				gws = append(gws, s.gateway())
			}
			adminJWT, keyID, key := anomalyActors(s)
			_, otherKey := s.createKey(s.login("erp@example.com", "correct-horse-battery"), map[string]any{"name": "other", "scopes": []string{"read"}})
			for _, gw := range gws {
				if r := s.do("GET", gw.URL+"/api/v1/chantiers", nil, bearer(key)...); r.status != 200 {
					t.Fatalf("before: %d %s", r.status, r.body)
				}
			}

			rs := scanPaths(s, gws[0], key, 0, 21)
			for i, r := range rs[:20] {
				if r.status != 404 {
					t.Fatalf("scan request %d: %d", i, r.status)
				}
			}
			checkBlocked(t, rs[20])
			if r := s.do("GET", gws[0].URL+"/api/v1/chantiers", nil, bearer(key)...); r.status != 403 {
				t.Fatalf("blocked key on a valid path: %d", r.status)
			}
			for _, gw := range gws {
				if r := s.do("GET", gw.URL+"/api/v1/chantiers", nil, bearer(otherKey)...); r.status != 200 {
					t.Fatalf("another key: %d %s", r.status, r.body)
				}
			}
			if redis {
				eventually(t, 5*time.Second, "block seen by the second gateway", func() bool {
					r := s.do("GET", gws[1].URL+"/api/v1/chantiers", nil, bearer(key)...)
					if r.status == 403 {
						checkBlocked(t, r)
					}
					return r.status == 403
				})
			}
			for i, gw := range gws {
				eventually(t, 15*time.Second, fmt.Sprintf("key released at gateway %d", i), func() bool {
					return s.do("GET", gw.URL+"/api/v1/chantiers", nil, bearer(key)...).status == 200
				})
			}
			eventually(t, 15*time.Second, "blocking event stored upstream", func() bool {
				evs := anomalyEvents(s, gws[0], adminJWT, keyID)
				if len(evs) == 0 {
					return false
				}
				d, _ := evs[0].(map[string]any)["details"].(map[string]any)
				return d["action"] == "block" && d["block_status"] == float64(403)
			})
		})
	}
}

// checkBlocked checks a 403 anomaly-blocked answer.
func checkBlocked(t *testing.T, r response) {
	t.Helper()
	if r.status != 403 {
		t.Fatalf("status %d, want 403: %s", r.status, r.body)
	}
	if ct := r.header.Get("Content-Type"); !strings.HasPrefix(ct, "application/problem+json") {
		t.Fatalf("Content-Type %q", ct)
	}
	p := r.json(t)
	if p["type"] != "urn:hubchantier:problem:anomaly-blocked" || p["rule"] != "scan" {
		t.Fatalf("problem %s", r.body)
	}
	if retry, err := strconv.Atoi(r.header.Get("Retry-After")); err != nil || retry < 1 || retry > 3 {
		t.Fatalf("Retry-After %q, want 1..3", r.header.Get("Retry-After"))
	}
}

// anomalyLines returns the hub_anomal* lines of a metrics page.
func anomalyLines(s string) string {
	var out []string
	for _, l := range strings.Split(s, "\n") {
		if strings.Contains(l, "hub_anomal") {
			out = append(out, l)
		}
	}
	return strings.Join(out, "\n")
}
