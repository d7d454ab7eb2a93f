package integration

import (
	"bytes"
	"fmt"
	"io"
	"log"
	"net"
	"net/http"
	"net/http/httputil"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/hubchantier/hubgate/integration/harness"
)

// countingProxy sits between the gateways and the upstream: it counts the
// GETs per path and can slow one path down (to widen a coalescing window).
type countingProxy struct {
	srv   *http.Server
	addr  string
	mu    sync.Mutex
	gets  map[string]int
	delay map[string]time.Duration
}

func newCountingProxy(t *testing.T, upstream string) *countingProxy {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	p := &countingProxy{addr: l.Addr().String(), gets: map[string]int{}, delay: map[string]time.Duration{}}
	rp := httputil.NewSingleHostReverseProxy(&url.URL{Scheme: "http", Host: upstream})
	// Canceled long polls (the revocation feed at shutdown) are not news.
	rp.ErrorLog = log.New(io.Discard, "", 0)
	p.srv = &http.Server{ReadHeaderTimeout: 10 * time.Second, Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		p.mu.Lock()
		if r.Method == http.MethodGet {
			p.gets[r.URL.Path]++
		}
		d := p.delay[r.URL.Path]
		p.mu.Unlock()
		if d > 0 {
			time.Sleep(d)
		}
		rp.ServeHTTP(w, r)
	})}
	go func() { _ = p.srv.Serve(l) }()
	t.Cleanup(func() { _ = p.srv.Close() })
	return p
}

func (p *countingProxy) count(path string) int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.gets[path]
}

func (p *countingProxy) slow(path string, d time.Duration) {
	p.mu.Lock()
	p.delay[path] = d
	p.mu.Unlock()
}

// cacheStack is an upstream behind a counting proxy and gateways running
// the repository's Caddyfile (edited by the test), with a Redis key
// prefix of their own.
type cacheStack struct {
	*stack
	proxy    *countingProxy
	dir      string
	config   string
	redisURL string
	// redisPrefix is the key prefix every gateway of the stack shares.
	redisPrefix string
	alice       []string // an admin's API key (read, write)
	bob         []string // another user's API key (read, write)
}

// newCacheStack starts the upstream (seeded) and the proxy; replace holds
// old/new pairs applied to the Caddyfile.
func newCacheStack(t *testing.T, redis bool, replace ...string) *cacheStack {
	t.Helper()
	if testing.Short() {
		t.Skip("end-to-end test skipped in -short mode")
	}
	s := &cacheStack{dir: t.TempDir()}
	if redis {
		s.redisURL = os.Getenv("HUB_TEST_REDIS_URL")
		if s.redisURL == "" {
			t.Skip("Redis end-to-end tests skipped: set HUB_TEST_REDIS_URL to run them")
		}
	}
	src, err := os.ReadFile(filepath.Join(harness.RepoRoot(), "Caddyfile"))
	if err != nil {
		t.Fatal(err)
	}
	if redis {
		s.redisPrefix = harness.RedisPrefix(t, s.redisURL, "cachee2e")
	}
	cfg := string(src)
	for i := 0; i+1 < len(replace); i += 2 {
		if !strings.Contains(cfg, replace[i]) {
			t.Fatalf("the default Caddyfile has no %q", replace[i])
		}
		cfg = strings.Replace(cfg, replace[i], replace[i+1], 1)
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
	s.proxy = newCountingProxy(t, up.Addr)
	s.stack = &stack{t: t, up: up, secret: opts.Secret, client: &http.Client{Timeout: 15 * time.Second}}
	s.gateway()
	s.createUser("alice@example.com", "admin")
	s.createUser("bob@example.com", "admin")
	s.cli("seed")
	_, ka := s.createKey(s.login("alice@example.com", "correct-horse-battery"), map[string]any{"name": "a", "scopes": []string{"read", "write"}})
	_, kb := s.createKey(s.login("bob@example.com", "correct-horse-battery"), map[string]any{"name": "b", "scopes": []string{"read", "write"}})
	s.alice, s.bob = bearer(ka), bearer(kb)
	return s
}

// gateway starts one more gateway (the first becomes s.gw).
func (s *cacheStack) gateway() *harness.Gateway {
	s.t.Helper()
	gw, err := harness.StartGateway(harness.GatewayOptions{Upstream: s.proxy.addr, Secret: s.secret, RedisURL: s.redisURL,
		RedisPrefix: s.redisPrefix, Dir: s.dir, Caddyfile: s.config})
	if err != nil {
		s.t.Fatal(err)
	}
	s.t.Cleanup(func() {
		gw.Stop()
		if s.t.Failed() {
			s.t.Logf("gateway log tail:\n%s", gw.Tail(3000))
		}
	})
	if s.gw == nil {
		s.gw = gw
	}
	return gw
}

// get sends a GET (or HEAD) to gw with a fixed Host, as a load balancer
// in front of several instances would.
func (s *cacheStack) get(gw *harness.Gateway, method, path string, auth []string, headers ...string) response {
	s.t.Helper()
	req, err := http.NewRequest(method, gw.URL+path, nil)
	if err != nil {
		s.t.Fatal(err)
	}
	req.Host = "api.hub.test"
	h := append(append([]string{}, auth...), headers...)
	for i := 0; i+1 < len(h); i += 2 {
		req.Header.Set(h[i], h[i+1])
	}
	resp, err := s.client.Do(req)
	if err != nil {
		s.t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return response{status: resp.StatusCode, header: resp.Header, body: b}
}

// write sends a JSON write through gw with the fixed Host.
func (s *cacheStack) write(gw *harness.Gateway, method, path, body string, auth []string) response {
	s.t.Helper()
	req, err := http.NewRequest(method, gw.URL+path, strings.NewReader(body))
	if err != nil {
		s.t.Fatal(err)
	}
	req.Host = "api.hub.test"
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set(auth[0], auth[1])
	resp, err := s.client.Do(req)
	if err != nil {
		s.t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	if resp.StatusCode/100 != 2 {
		s.t.Fatalf("%s %s: %d %s", method, path, resp.StatusCode, b)
	}
	return response{status: resp.StatusCode, header: resp.Header, body: b}
}

// wantCache fails unless r is a 200 whose Cache-Status starts with prefix.
func wantCache(t *testing.T, what string, r response, prefix string) {
	t.Helper()
	if r.status != 200 || !strings.HasPrefix(r.header.Get("Cache-Status"), prefix) {
		t.Fatalf("%s: %d Cache-Status %q, want prefix %q: %.300s", what, r.status, r.header.Get("Cache-Status"), prefix, r.body)
	}
}

// TestCacheE2E walks the cache through the real binaries, memory and
// Redis: miss then hit (HEAD and ?fields included), per-principal
// isolation, invalidation of item, list and stats by writes, admin purge.
func TestCacheE2E(t *testing.T) {
	for _, redis := range []bool{false, true} {
		t.Run(map[bool]string{false: "memory", true: "redis"}[redis], func(t *testing.T) {
			s := newCacheStack(t, redis)
			gw := s.gw
			const list = "/api/v1/chantiers?limit=5"

			first := s.get(gw, "GET", list, s.alice)
			wantCache(t, "first GET", first, "hubgate; fwd=miss; fwd-status=200; stored")
			hit := s.get(gw, "GET", list, s.alice)
			wantCache(t, "second GET", hit, "hubgate; hit")
			if !bytes.Equal(hit.body, first.body) || hit.header.Get("ETag") != first.header.Get("ETag") || hit.header.Get("Age") == "" {
				t.Fatalf("hit differs from the miss: ETag %q/%q Age %q", first.header.Get("ETag"), hit.header.Get("ETag"), hit.header.Get("Age"))
			}
			if n := s.proxy.count("/api/v1/chantiers"); n != 1 {
				t.Fatalf("upstream saw %d list GETs, want 1", n)
			}
			wantCache(t, "HEAD", s.get(gw, "HEAD", list, s.alice), "hubgate; hit")
			sel := s.get(gw, "GET", list+"&fields=id", s.alice)
			wantCache(t, "?fields", sel, "hubgate; hit")
			if len(sel.body) >= len(first.body) || !bytes.Contains(sel.body, []byte(`"id"`)) || bytes.Contains(sel.body, []byte(`"nom"`)) {
				t.Fatalf("?fields on a hit not applied: %.200s", sel.body)
			}
			if v2 := s.get(gw, "GET", "/api/v2/chantiers?limit=5", s.alice); v2.status != 200 || bytes.Equal(v2.body, first.body) {
				t.Fatalf("/api/v2 on a v1 entry: %d (want a renamed body)", v2.status)
			}

			// Another principal never sees alice's entry.
			b1 := s.get(gw, "GET", list, s.bob)
			wantCache(t, "bob's first GET", b1, "hubgate; fwd=miss")
			wantCache(t, "bob's second GET", s.get(gw, "GET", list, s.bob), "hubgate; hit")
			if n := s.proxy.count("/api/v1/chantiers"); n != 2 {
				t.Fatalf("upstream saw %d list GETs, want 2", n)
			}

			// A write invalidates the item, its list and the stats.
			item := s.get(gw, "GET", "/api/v1/chantiers/1", s.alice)
			wantCache(t, "item", item, "hubgate; fwd=miss")
			stats := s.get(gw, "GET", "/api/v1/stats", s.alice)
			wantCache(t, "stats", stats, "hubgate; fwd=miss")
			wantCache(t, "stats again", s.get(gw, "GET", "/api/v1/stats", s.alice), "hubgate; hit")
			s.write(gw, "PATCH", "/api/v1/chantiers/1", `{"client":"Cache SA"}`, s.alice)
			item2 := s.get(gw, "GET", "/api/v1/chantiers/1", s.alice)
			wantCache(t, "item after PATCH", item2, "hubgate; fwd=miss")
			if !bytes.Contains(item2.body, []byte("Cache SA")) {
				t.Fatalf("item after PATCH: %s", item2.body)
			}
			wantCache(t, "list after PATCH", s.get(gw, "GET", list, s.bob), "hubgate; fwd=miss")
			s.get(gw, "GET", "/api/v1/stats", s.alice)
			s.write(gw, "POST", "/api/v1/chantiers", `{"nom":"Nouveau chantier"}`, s.bob)
			stats2 := s.get(gw, "GET", "/api/v1/stats", s.alice)
			wantCache(t, "stats after POST", stats2, "hubgate; fwd=miss")
			if bytes.Equal(stats2.body, stats.body) {
				t.Fatalf("stats unchanged after a POST: %s", stats2.body)
			}

			// Purge by path prefix through the admin API.
			wantCache(t, "pointages", s.get(gw, "GET", "/api/v1/pointages", s.alice), "hubgate; fwd=miss")
			wantCache(t, "pointages again", s.get(gw, "GET", "/api/v1/pointages", s.alice), "hubgate; hit")
			resp, err := http.Post("http://"+gw.AdminAddr+"/hub/cache/purge", "application/json", strings.NewReader(`{"path_prefix":"/api/v1/pointages"}`))
			if err != nil {
				t.Fatal(err)
			}
			pb, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			if resp.StatusCode != 200 {
				t.Fatalf("purge: %d %s", resp.StatusCode, pb)
			}
			wantCache(t, "pointages after purge", s.get(gw, "GET", "/api/v1/pointages", s.alice), "hubgate; fwd=miss")
			// A bad purge is a problem+json 400.
			resp, err = http.Post("http://"+gw.AdminAddr+"/hub/cache/purge", "application/json", strings.NewReader(`{"key":"nope"}`))
			if err != nil {
				t.Fatal(err)
			}
			resp.Body.Close()
			if resp.StatusCode != 400 || !strings.HasPrefix(resp.Header.Get("Content-Type"), "application/problem+json") {
				t.Fatalf("bad purge: %d %s", resp.StatusCode, resp.Header.Get("Content-Type"))
			}

			// The hits are counted (bounded labels only).
			mr, err := http.Get(gw.MetricsURL)
			if err != nil {
				t.Fatal(err)
			}
			metrics, _ := io.ReadAll(mr.Body)
			mr.Body.Close()
			for _, want := range []string{"\napi_cache_hits_total ", `hub_cache_requests_total{result="hit"} `, `hub_cache_requests_total{result="miss"} `, "hub_cache_evictions_total "} {
				if !bytes.Contains(metrics, []byte(want)) {
					t.Fatalf("metrics lack %q", want)
				}
			}
			if bytes.Contains(metrics, []byte("\napi_cache_hits_total 0\n")) {
				t.Fatal("api_cache_hits_total is 0 after hits")
			}
		})
	}
}

// TestCacheE2ECoalescing: 100 concurrent GETs of one cold key make one
// upstream request (the upstream is slowed so that they overlap).
func TestCacheE2ECoalescing(t *testing.T) {
	for _, redis := range []bool{false, true} {
		t.Run(map[bool]string{false: "memory", true: "redis"}[redis], func(t *testing.T) {
			s := newCacheStack(t, redis)
			s.get(s.gw, "GET", "/api/v1/chantiers/1", s.alice) // warm the credential cache
			s.proxy.slow("/api/v1/planning", 500*time.Millisecond)
			const n = 100
			tr := &http.Transport{MaxIdleConnsPerHost: n}
			defer tr.CloseIdleConnections()
			client := &http.Client{Transport: tr, Timeout: 30 * time.Second}
			var wg sync.WaitGroup
			var bad atomic.Int32
			bodies := make([][]byte, n)
			for i := range n {
				wg.Go(func() {
					req, _ := http.NewRequest("GET", s.gw.URL+"/api/v1/planning", nil)
					req.Header.Set(s.alice[0], s.alice[1])
					resp, err := client.Do(req)
					if err != nil {
						bad.Add(1)
						return
					}
					bodies[i], _ = io.ReadAll(resp.Body)
					resp.Body.Close()
					if resp.StatusCode != 200 {
						bad.Add(1)
					}
				})
			}
			wg.Wait()
			if bad.Load() != 0 {
				t.Fatalf("%d of %d requests failed", bad.Load(), n)
			}
			for i := range bodies {
				if !bytes.Equal(bodies[i], bodies[0]) {
					t.Fatalf("answer %d differs", i)
				}
			}
			if got := s.proxy.count("/api/v1/planning"); got != 1 {
				t.Fatalf("upstream saw %d GETs of the planning, want 1", got)
			}
		})
	}
}

// TestCacheE2ETwoInstances: two gateways on one Redis; entries are shared,
// and after a 2xx write through A, a GET through B sees the new version.
func TestCacheE2ETwoInstances(t *testing.T) {
	s := newCacheStack(t, true)
	a, b := s.gw, s.gateway()
	const item = "/api/v1/chantiers/2"
	wantCache(t, "A fills", s.get(a, "GET", item, s.alice), "hubgate; fwd=miss")
	wantCache(t, "B hits A's entry", s.get(b, "GET", item, s.alice), "hubgate; hit")
	stats := s.get(b, "GET", "/api/v1/stats", s.alice)
	for i := range 20 {
		want := fmt.Sprintf("Client %d", i)
		// B holds the item (L1 and Redis) before every write.
		s.get(b, "GET", item, s.alice)
		s.write(a, "PATCH", item, `{"client":"`+want+`"}`, s.alice)
		got := s.get(b, "GET", item, s.alice)
		if got.status != 200 || !bytes.Contains(got.body, []byte(want)) {
			t.Fatalf("write %d via A, GET via B: %d %q: %s", i, got.status, got.header.Get("Cache-Status"), got.body)
		}
	}
	s.write(a, "POST", "/api/v1/chantiers", `{"nom":"Par A"}`, s.alice)
	stats2 := s.get(b, "GET", "/api/v1/stats", s.alice)
	wantCache(t, "stats via B after POST via A", stats2, "hubgate; fwd=miss")
	if bytes.Equal(stats.body, stats2.body) {
		t.Fatal("stats via B unchanged after a POST via A")
	}
}

// TestCacheE2EStale: with the upstream stopped, an expired entry is served
// stale (within max_stale) instead of an error.
func TestCacheE2EStale(t *testing.T) {
	for _, redis := range []bool{false, true} {
		t.Run(map[bool]string{false: "memory", true: "redis"}[redis], func(t *testing.T) {
			s := newCacheStack(t, redis, "route /api/v1/{resource}/{id} 5m", "route /api/v1/{resource}/{id} 1s")
			const item = "/api/v1/chantiers/3"
			fresh := s.get(s.gw, "GET", item, s.alice)
			wantCache(t, "fill", fresh, "hubgate; fwd=miss; fwd-status=200; stored; ttl=1;")
			s.up.Stop()
			_ = s.proxy.srv.Close()
			time.Sleep(1100 * time.Millisecond) // let the 1 s entry expire
			stale := s.get(s.gw, "GET", item, s.alice)
			wantCache(t, "upstream stopped", stale, "hubgate; fwd=stale; fwd-status=502")
			if !bytes.Equal(stale.body, fresh.body) || stale.header.Get("Age") == "0" {
				t.Fatalf("stale answer: Age %q body %.200s", stale.header.Get("Age"), stale.body)
			}
		})
	}
}
