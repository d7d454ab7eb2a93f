package integration

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/caddyserver/caddy/v2"

	"github.com/hubchantier/hubgate/integration/harness"
	"github.com/hubchantier/hubgate/modules/hub"
)

// clusterPrefix is the store prefix of the cluster tests' gateways.
const clusterPrefix = "hub:"

// startCluster starts a 3 masters + 3 replicas Redis Cluster on loopback,
// each node in its own temporary directory, killed when the test ends; it
// skips the test when this machine cannot run one.
func startCluster(t *testing.T) *harness.RedisCluster {
	t.Helper()
	if testing.Short() {
		t.Skip("end-to-end test skipped in -short mode")
	}
	dirs := make([]string, 6)
	for i := range dirs {
		dirs[i] = t.TempDir()
	}
	rc, err := harness.StartRedisCluster(dirs)
	if harness.IsSkip(err) {
		t.Skipf("Redis Cluster end-to-end tests skipped: %v", err)
	}
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if t.Failed() {
			for _, n := range rc.Nodes {
				t.Logf("%s log tail:\n%s", n.Name, n.Tail(1500))
			}
		}
		rc.Stop()
	})
	return rc
}

// newClusterStack is an upstream (seeded) for gateways running the shipped
// Caddyfile on the Redis Cluster: `cluster` added to the store block, and
// the scan rule blocking for 3 s.
func newClusterStack(t *testing.T, rc *harness.RedisCluster) *rlStack {
	t.Helper()
	s := &rlStack{dir: t.TempDir(), redisURL: rc.URL(), redisPrefix: clusterPrefix}
	src, err := os.ReadFile(filepath.Join(harness.RepoRoot(), "Caddyfile"))
	if err != nil {
		t.Fatal(err)
	}
	cfg := string(src)
	for _, r := range [][2]string{
		{"prefix {$HUB_REDIS_PREFIX:hub:}", "cluster\n\t\t\tprefix {$HUB_REDIS_PREFIX:hub:}"},
		{"scan 20 window 10m", "scan 20 window 10m block 3s 403"},
	} {
		if !strings.Contains(cfg, r[0]) {
			t.Fatalf("the shipped Caddyfile has no %q", r[0])
		}
		cfg = strings.Replace(cfg, r[0], r[1], 1)
	}
	s.config = filepath.Join(s.dir, "Caddyfile")
	if err := os.WriteFile(s.config, []byte(cfg), 0o600); err != nil {
		t.Fatal(err)
	}
	opts := harness.UpstreamOptions{Secret: harness.NewSecret(), Dir: s.dir}
	up, err := harness.StartUpstream(opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		up.Stop()
		if t.Failed() {
			t.Logf("upstream log tail:\n%s", up.Tail(3000))
		}
	})
	s.stack = &stack{t: t, up: up, secret: opts.Secret, client: &http.Client{Timeout: 15 * time.Second}}
	return s
}

// limitedKey makes, as admin, an API key of user with its own rate limit.
func limitedKey(s *rlStack, adminJWT, userID, rate string) (id, key string) {
	s.t.Helper()
	r := s.gwDo("POST", "/api/v1/admin/api-keys", map[string]any{
		"user_id": userID, "name": "limited", "scopes": []string{"read"}, "rate_limit": rate,
	}, bearer(adminJWT)...)
	if r.status != 201 {
		s.t.Fatalf("admin create key: %d %s", r.status, r.body)
	}
	m := r.json(s.t)
	id, _ = m["id"].(string)
	key, _ = m["key"].(string)
	return id, key
}

// burst sends n GETs with key at once through each gateway and counts the
// answers by status.
func burst(s *rlStack, gws []*harness.Gateway, key string, n int) map[int]int {
	s.t.Helper()
	var mu sync.Mutex
	counts := map[int]int{}
	var wg sync.WaitGroup
	for _, gw := range gws {
		for range n {
			wg.Add(1)
			go func(url string) {
				defer wg.Done()
				req, _ := http.NewRequest("GET", url+"/api/v1/chantiers?limit=1", nil)
				req.Header.Set("Authorization", "Bearer "+key)
				resp, err := s.client.Do(req)
				mu.Lock()
				defer mu.Unlock()
				if err != nil {
					counts[-1]++
					return
				}
				_, _ = io.Copy(io.Discard, resp.Body)
				resp.Body.Close()
				counts[resp.StatusCode]++
			}(gw.URL)
		}
	}
	wg.Wait()
	return counts
}

// hostDo sends a request through gw with the Host a load balancer in front
// of several instances would send (the cache key includes the host).
func hostDo(s *rlStack, gw *harness.Gateway, method, path, body string, auth []string) response {
	s.t.Helper()
	var rd io.Reader
	if body != "" {
		rd = strings.NewReader(body)
	}
	req, err := http.NewRequest(method, gw.URL+path, rd)
	if err != nil {
		s.t.Fatal(err)
	}
	req.Host = "api.hub.test"
	if body != "" {
		req.Header.Set("Content-Type", "application/json")
	}
	req.Header.Set(auth[0], auth[1])
	resp, err := s.client.Do(req)
	if err != nil {
		s.t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return response{status: resp.StatusCode, header: resp.Header, body: b}
}

// metricSum sums every sample of the metric name on gw's metrics page.
func metricSum(s *rlStack, gw *harness.Gateway, name string) float64 {
	s.t.Helper()
	r := s.do("GET", gw.MetricsURL, nil)
	var sum float64
	sc := bufio.NewScanner(bytes.NewReader(r.body))
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for sc.Scan() {
		l := sc.Text()
		if !strings.HasPrefix(l, name+" ") && !strings.HasPrefix(l, name+"{") {
			continue
		}
		f := strings.Fields(l)
		v, err := strconv.ParseFloat(f[len(f)-1], 64)
		if err == nil {
			sum += v
		}
	}
	return sum
}

// TestRedisClusterE2E runs two gateways (real binaries, one upstream) on a
// real 3+3 Redis Cluster: rate limits exact across them, cache coherence,
// revocation and anomaly blocks across instances; then the master holding
// a limited key's counter is killed: requests keep succeeding (fail_open)
// and, once its replica is promoted, the limit is exact again.
func TestRedisClusterE2E(t *testing.T) {
	rc := startCluster(t)
	s := newClusterStack(t, rc)
	a, b := s.gateway(), s.gateway()
	gws := []*harness.Gateway{a, b}
	s.createUser("admin@example.com", "admin")
	erpID := s.userID("erp@example.com", "conducteur")
	s.cli("seed")
	adminJWT := s.login("admin@example.com", "correct-horse-battery")
	erpJWT := s.login("erp@example.com", "correct-horse-battery")
	_, adminKey := s.createKey(adminJWT, map[string]any{"name": "admin", "scopes": []string{"read", "write"}})
	admin := bearer(adminKey)

	t.Run("rate limit exact across gateways", func(t *testing.T) {
		const limit = 25
		_, key := limitedKey(s, adminJWT, erpID, strconv.Itoa(limit)+"/day")
		counts := burst(s, gws, key, limit) // 2N concurrent for a limit of N
		if counts[200] != limit || counts[429] != limit {
			t.Fatalf("answers %v, want exactly %d×200 and %d×429", counts, limit, limit)
		}
		for _, gw := range gws {
			checkRateLimited(t, s.do("GET", gw.URL+"/api/v1/chantiers?limit=1", nil, bearer(key)...), "per-key", limit, 86400, 86400/limit)
		}
	})

	t.Run("cache coherent across gateways", func(t *testing.T) {
		const item = "/api/v1/chantiers/2"
		wantCache(t, "A fills", hostDo(s, a, "GET", item, "", admin), "hubgate; fwd=miss")
		wantCache(t, "B hits A's entry", hostDo(s, b, "GET", item, "", admin), "hubgate; hit")
		for i := range 5 {
			want := fmt.Sprintf("Cluster client %d", i)
			wantCache(t, "B holds the item", hostDo(s, b, "GET", item, "", admin), "hubgate; hit")
			if w := hostDo(s, a, "PATCH", item, `{"client":"`+want+`"}`, admin); w.status != 200 {
				t.Fatalf("PATCH via A: %d %s", w.status, w.body)
			}
			got := hostDo(s, b, "GET", item, "", admin)
			if got.status != 200 || !bytes.Contains(got.body, []byte(want)) {
				t.Fatalf("write %d via A, GET via B: %d %q: %s", i, got.status, got.header.Get("Cache-Status"), got.body)
			}
		}
	})

	t.Run("revocation across gateways", func(t *testing.T) {
		id, key := s.createKey(erpJWT, map[string]any{"name": "to-revoke", "scopes": []string{"read"}})
		for _, gw := range gws {
			if r := s.do("GET", gw.URL+"/api/v1/chantiers?limit=1", nil, bearer(key)...); r.status != 200 {
				t.Fatalf("warm-up via %s: %d %s", gw.URL, r.status, r.body)
			}
		}
		if r := s.do("DELETE", a.URL+"/api/auth/api-keys/"+id, nil, bearer(erpJWT)...); r.status != 204 {
			t.Fatalf("revoke via A: %d %s", r.status, r.body)
		}
		took := eventually(t, 5*time.Second, "revoked key refused by B", func() bool {
			return s.do("GET", b.URL+"/api/v1/chantiers?limit=1", nil, bearer(key)...).status == 401
		})
		t.Logf("B refused the key revoked via A after %s", took)
	})

	t.Run("anomaly block across gateways", func(t *testing.T) {
		_, key := s.createKey(erpJWT, map[string]any{"name": "scanner", "scopes": []string{"read"}})
		rs := scanPaths(s, a, key, 0, 21)
		for i, r := range rs[:20] {
			if r.status != 404 {
				t.Fatalf("scan request %d: %d", i, r.status)
			}
		}
		checkBlocked(t, rs[20])
		eventually(t, 3*time.Second, "block seen by B", func() bool {
			r := s.do("GET", b.URL+"/api/v1/chantiers", nil, bearer(key)...)
			if r.status == 403 {
				checkBlocked(t, r)
			}
			return r.status == 403
		})
		if r := s.do("GET", b.URL+"/api/v1/chantiers", nil, admin...); r.status != 200 {
			t.Fatalf("another key via B: %d %s", r.status, r.body)
		}
	})

	t.Run("master killed", func(t *testing.T) {
		const limit = 60
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		defer cancel()
		id, key := limitedKey(s, adminJWT, erpID, strconv.Itoa(limit)+"/day")
		if r := s.do("GET", a.URL+"/api/v1/chantiers?limit=1", nil, bearer(key)...); r.status != 200 {
			t.Fatalf("first request: %d %s", r.status, r.body)
		}
		// The key's counter, as docs/ratelimit.md names it.
		counter := clusterPrefix + "rl:{k:" + id + "}:per-key:86400"
		cc := rc.Client()
		defer cc.Close()
		if n, err := cc.Exists(ctx, counter).Result(); err != nil || n != 1 {
			t.Fatalf("counter %s: exists=%d err=%v", counter, n, err)
		}
		master, err := rc.MasterOf(ctx, counter)
		if err != nil {
			t.Fatal(err)
		}
		t.Logf("killing master %s (holds %s)", master.Addr, counter)
		defer func() {
			if t.Failed() {
				for _, gw := range gws {
					b, _ := os.ReadFile(gw.Log)
					for _, l := range strings.Split(string(b), "\n") {
						if strings.Contains(l, "rate_limit") || strings.Contains(l, "store") {
							t.Logf("%s: %.400s", gw.Name, l)
						}
					}
				}
			}
		}()
		master.Kill()
		killed := time.Now()

		// While the cluster fails over: every request succeeds.
		failed := 0
		for i := range 40 {
			gw := gws[i%2]
			auth := admin
			if i%4 < 2 {
				auth = bearer(key)
			}
			if r := s.do("GET", gw.URL+"/api/v1/chantiers?limit=1", nil, auth...); r.status != 200 {
				failed++
				t.Errorf("request %d during failover via %s: %d %s", i, gw.URL, r.status, r.body)
			}
		}
		outage := time.Since(killed)
		// The outage was seen: some decisions were made locally.
		if f := metricSum(s, a, "hub_rate_limit_fallback_total") + metricSum(s, b, "hub_rate_limit_fallback_total"); f == 0 {
			t.Fatal("no rate-limit decision fell back during the outage: the kill was not seen")
		}
		if _, err := rc.WaitHealthy(ctx); err != nil {
			t.Fatal(err)
		}
		promoted, err := rc.MasterOf(ctx, counter)
		if err != nil {
			t.Fatal(err)
		}
		t.Logf("40 requests in %s after the kill, %d failed; replica %s serves the slot, cluster healthy %s after the kill",
			outage.Round(time.Millisecond), failed, promoted.Addr, time.Since(killed).Round(time.Millisecond))

		// Both gateways decide in Redis again: a request adds nothing to
		// hub_rate_limit_fallback_total.
		var remaining int
		eventually(t, 30*time.Second, "both gateways decide in Redis again", func() bool {
			// Paced: each probe also takes a unit of the key.
			time.Sleep(200 * time.Millisecond)
			ok := true
			for _, gw := range gws {
				before := metricSum(s, gw, "hub_rate_limit_fallback_total")
				r := s.do("GET", gw.URL+"/api/v1/chantiers?limit=1", nil, bearer(key)...)
				if r.status != 200 {
					t.Fatalf("probe via %s: %d %s", gw.URL, r.status, r.body)
				}
				after := metricSum(s, gw, "hub_rate_limit_fallback_total")
				if after != before {
					ok = false
				}
				remaining, _ = strconv.Atoi(r.header.Get("X-RateLimit-Remaining"))
				t.Logf("probe via %s: fallback %v→%v remaining %d", gw.URL, before, after, remaining)
			}
			return ok
		})
		// The key's count lives on the promoted replica: the requests
		// before the kill and those decided in Redis since are in it
		// (those decided locally during the outage are not).
		if remaining < 10 || remaining > limit-3 {
			t.Fatalf("X-RateLimit-Remaining %d after promotion, want the key's Redis count (10..%d)", remaining, limit-3)
		}
		counts := burst(s, gws, key, remaining)
		if counts[200] != remaining || counts[429] != remaining {
			t.Fatalf("after promotion: answers %v, want exactly %d×200 and %d×429", counts, remaining, remaining)
		}
		// The cache is coherent again too: a write through A reaches B.
		const item = "/api/v1/chantiers/3"
		for i := range 3 {
			want := fmt.Sprintf("After failover %d", i)
			hostDo(s, b, "GET", item, "", admin)
			if w := hostDo(s, a, "PATCH", item, `{"client":"`+want+`"}`, admin); w.status != 200 {
				t.Fatalf("PATCH via A after failover: %d %s", w.status, w.body)
			}
			if got := hostDo(s, b, "GET", item, "", admin); got.status != 200 || !bytes.Contains(got.body, []byte(want)) {
				t.Fatalf("write via A after failover, GET via B: %d %q: %s", got.status, got.header.Get("Cache-Status"), got.body)
			}
		}
	})
}

// TestRedisClusterBracedPrefix: the rate limiter on a real Redis Cluster
// with store prefixes holding braces. The windows of one partition
// ("rl:{k:x}:…") share a slot only while the prefix leaves their hash tag
// alone; a prefix such as "{}" makes Redis hash each whole key, and "{gw}:"
// puts every key in the slot of "gw". Either way a decision must not fail
// with CROSSSLOT, and the stricter window must still refuse.
func TestRedisClusterBracedPrefix(t *testing.T) {
	rc := startCluster(t)
	ctx := context.Background()
	for _, prefix := range []string{"hub:", "{}", "e2e{}:", "{gw}:", "gw{"} {
		t.Run(prefix, func(t *testing.T) {
			st := &hub.RedisStore{URL: rc.URL(), Cluster: true, Prefix: prefix}
			if err := st.Provision(caddy.Context{}); err != nil {
				t.Fatal(err)
			}
			defer st.Cleanup()
			lim, ok := st.Store().(hub.Limiter)
			if !ok {
				t.Fatal("the Redis store is no hub.Limiter")
			}
			part := fmt.Sprintf("k:%d", time.Now().UnixNano())
			ws := []hub.Window{
				{Key: "rl:{" + part + "}:default:3600", Limit: 100, Period: time.Hour},
				{Key: "rl:{" + part + "}:default-burst:60", Limit: 2, Period: time.Minute},
				{Key: "rl:{ip:127.0.0.1" + part + "}:login:60", Limit: 50, Period: time.Minute},
			}
			for i, want := range []bool{true, true, false} {
				d, err := lim.Allow(ctx, ws)
				if err != nil {
					t.Fatalf("decision %d: %v", i+1, err)
				}
				if d.Allowed != want {
					t.Fatalf("decision %d: allowed=%v, want %v (%+v)", i+1, d.Allowed, want, d.Windows)
				}
			}
			// The refusal consumed nothing: 98 of the hour are left.
			d, err := lim.Allow(ctx, ws[:1])
			if err != nil || !d.Allowed || d.Windows[0].Remaining != 97 {
				t.Fatalf("hour window after the refusal: %+v, %v; want admitted with 97 left", d, err)
			}
		})
	}
}
