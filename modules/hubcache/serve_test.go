package hubcache

import (
	"fmt"
	"net/http"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/caddyserver/caddy/v2/modules/caddyhttp"

	"github.com/hubchantier/hubgate/internal/testutil"
	"github.com/hubchantier/hubgate/modules/hub"
)

var t0 = time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)

// TestHitAfterMiss checks the exact Cache-Status and Age of a miss that is
// stored and of the hits that follow, on every store.
func TestHitAfterMiss(t *testing.T) {
	for name, mk := range stores(t) {
		t.Run(name, func(t *testing.T) {
			clk := testutil.NewClock(t0)
			h := newTestHandler(t, mk(t), clk, nil)
			up := newUpstream(`{"data":[1]}`)
			up.header.Set("ETag", `"up-1"`)
			alice := ident("1", "k1", "read")

			w := call(t, h, up, "GET", "/api/v1/chantiers?page=1", alice)
			key := buildKey(request("GET", "/api/v1/chantiers?page=1", alice), "page=1", false).hash
			if got, want := cacheStatus(w), fmt.Sprintf(`hubgate; fwd=miss; fwd-status=200; stored; ttl=300; key="%s"`, key); got != want {
				t.Fatalf("miss: Cache-Status %q, want %q", got, want)
			}
			if w.Header().Get("Age") != "0" || w.Body.String() != `{"data":[1]}` || w.Header().Get("ETag") != `"up-1"` {
				t.Fatalf("miss: Age %q ETag %q body %q", w.Header().Get("Age"), w.Header().Get("ETag"), w.Body)
			}
			clk.Add(7 * time.Second)
			w = call(t, h, up, "GET", "/api/v1/chantiers?page=1&fields=id", alice)
			if got, want := cacheStatus(w), fmt.Sprintf(`hubgate; hit; ttl=293; key="%s"`, key); got != want {
				t.Fatalf("hit: Cache-Status %q, want %q", got, want)
			}
			if w.Code != 200 || w.Header().Get("Age") != "7" || w.Body.String() != `{"data":[1]}` ||
				w.Header().Get("ETag") != `"up-1"` || w.Header().Get("Content-Length") != "12" {
				t.Fatalf("hit: %d Age %q ETag %q CL %q body %q", w.Code, w.Header().Get("Age"), w.Header().Get("ETag"), w.Header().Get("Content-Length"), w.Body)
			}
			if n := up.hits.Load(); n != 1 {
				t.Fatalf("upstream hits = %d, want 1", n)
			}
		})
	}
}

// TestPrincipalIsolation proves that two principals (other owner, other
// scopes, other key) never see each other's entries, and that a shared
// route has one entry for all.
func TestPrincipalIsolation(t *testing.T) {
	for name, mk := range stores(t) {
		t.Run(name, func(t *testing.T) {
			h := newTestHandler(t, mk(t), testutil.NewClock(t0), func(h *Handler) {
				h.Routes = []*Route{
					{Path: "/api/v1/shared", TTL: 60e9, Shared: true},
					{Path: "/api/v1/{resource}", TTL: 60e9},
				}
			})
			var hits int
			var mu sync.Mutex
			next := caddyhttp.HandlerFunc(func(w http.ResponseWriter, r *http.Request) error {
				mu.Lock()
				hits++
				mu.Unlock()
				id := hub.IdentityOf(r)
				owner := "anonymous"
				if id != nil {
					owner = id.Subject + "/" + id.KeyID + "/" + strings.Join(id.Scopes, "+")
				}
				w.Header().Set("Content-Type", "application/json")
				_, _ = fmt.Fprintf(w, `{"owner":%q}`, owner)
				return nil
			})
			principals := []*hub.Identity{
				ident("1", "k1", "read"), ident("2", "k1", "read"), ident("1", "k1", "read", "write"),
				ident("1", "k2", "read"), nil,
			}
			for round := range 2 {
				for _, id := range principals {
					w := call(t, h, next, "GET", "/api/v1/chantiers", id)
					want := "anonymous"
					if id != nil {
						want = id.Subject + "/" + id.KeyID + "/" + strings.Join(id.Scopes, "+")
					}
					if got := w.Body.String(); got != fmt.Sprintf(`{"owner":%q}`, want) {
						t.Fatalf("round %d: %v got %s", round, id, got)
					}
					if round == 1 {
						wantStatusPrefix(t, w, "hubgate; hit")
					}
				}
			}
			if hits != len(principals) {
				t.Fatalf("upstream hits = %d, want %d", hits, len(principals))
			}
			call(t, h, next, "GET", "/api/v1/shared", principals[0])
			w := call(t, h, next, "GET", "/api/v1/shared", principals[1])
			wantStatusPrefix(t, w, "hubgate; hit")
		})
	}
}

// TestNotStored lists the responses that must never be stored.
func TestNotStored(t *testing.T) {
	tests := []struct {
		name   string
		set    func(u *upstream)
		detail string
	}{
		{"set-cookie", func(u *upstream) { u.header.Set("Set-Cookie", "sid=1") }, "hubgate; fwd=miss; fwd-status=200; detail=set-cookie"},
		{"no-store", func(u *upstream) { u.header.Set("Cache-Control", "no-store") }, "hubgate; fwd=miss; fwd-status=200; detail=no-store"},
		{"private", func(u *upstream) { u.header.Set("Cache-Control", "private") }, "hubgate; fwd=miss; fwd-status=200; detail=private"},
		{"max-age=0", func(u *upstream) { u.header.Set("Cache-Control", "max-age=0") }, "hubgate; fwd=miss; fwd-status=200; detail=expired"},
		{"vary star", func(u *upstream) { u.header.Set("Vary", "*") }, "hubgate; fwd=miss; fwd-status=200; detail=vary"},
		{"too large streamed", func(u *upstream) { u.body = strings.Repeat("x", 2000) }, "hubgate; fwd=miss; detail=too-large"},
		{"too large declared", func(u *upstream) {
			u.body = strings.Repeat("x", 2000)
			u.header.Set("Content-Length", "2000")
		}, "hubgate; fwd=miss; detail=too-large"},
		{"404 without freshness", func(u *upstream) { u.status = 404 }, "hubgate; fwd=miss; fwd-status=404; detail=no-freshness"},
		{"500", func(u *upstream) { u.status = 500 }, "hubgate; fwd=miss; detail=uncacheable"},
		{"event stream", func(u *upstream) { u.header.Set("Content-Type", "text/event-stream") }, "hubgate; fwd=miss; detail=stream"},
	}
	for name, mk := range stores(t) {
		t.Run(name, func(t *testing.T) {
			for _, tt := range tests {
				t.Run(tt.name, func(t *testing.T) {
					h := newTestHandler(t, mk(t), testutil.NewClock(t0), func(h *Handler) { h.MaxBodySize = 1000 })
					up := newUpstream(`{"a":1}`)
					up.set(tt.set)
					for i := range 2 {
						w := call(t, h, up, "GET", "/api/v1/chantiers", ident("1", "k1"))
						if got := cacheStatus(w); got != tt.detail {
							t.Fatalf("GET %d: Cache-Status %q, want %q", i, got, tt.detail)
						}
						if w.Body.String() != up.body {
							t.Fatalf("GET %d: body of %d bytes, want %d", i, w.Body.Len(), len(up.body))
						}
						if w.Header().Get("Set-Cookie") == "" && tt.name == "set-cookie" {
							t.Fatal("Set-Cookie of the miss was lost")
						}
					}
					if n := up.hits.Load(); n != 2 {
						t.Fatalf("upstream hits = %d, want 2 (nothing stored)", n)
					}
				})
			}
		})
	}
}

// TestHeadFromGet: HEAD is answered from a GET entry without a body, and
// a HEAD miss stores nothing.
func TestHeadFromGet(t *testing.T) {
	for name, mk := range stores(t) {
		t.Run(name, func(t *testing.T) {
			h := newTestHandler(t, mk(t), testutil.NewClock(t0), nil)
			up := newUpstream(`{"id":1}`)
			w := call(t, h, up, "HEAD", "/api/v1/chantiers/1", nil)
			wantStatusPrefix(t, w, "hubgate; fwd=miss")
			w = call(t, h, up, "HEAD", "/api/v1/chantiers/1", nil)
			wantStatusPrefix(t, w, "hubgate; fwd=miss")
			call(t, h, up, "GET", "/api/v1/chantiers/1", nil)
			w = call(t, h, up, "HEAD", "/api/v1/chantiers/1", nil)
			wantStatusPrefix(t, w, "hubgate; hit")
			if w.Body.Len() != 0 || w.Header().Get("Content-Length") != "8" || w.Code != 200 {
				t.Fatalf("HEAD hit: %d, CL %q, body %q", w.Code, w.Header().Get("Content-Length"), w.Body)
			}
			if n := up.hits.Load(); n != 3 {
				t.Fatalf("upstream hits = %d, want 3", n)
			}
		})
	}
}

// TestVary keys entries by the request headers the response varies on.
func TestVary(t *testing.T) {
	for name, mk := range stores(t) {
		t.Run(name, func(t *testing.T) {
			h := newTestHandler(t, mk(t), testutil.NewClock(t0), nil)
			next := caddyhttp.HandlerFunc(func(w http.ResponseWriter, r *http.Request) error {
				w.Header().Set("Vary", "Accept-Language")
				_, _ = fmt.Fprintf(w, `{"lang":%q}`, r.Header.Get("Accept-Language"))
				return nil
			})
			steps := []struct{ lang, status, body string }{
				{"fr", "hubgate; fwd=miss", `{"lang":"fr"}`},
				{"en", "hubgate; fwd=miss", `{"lang":"en"}`},
				{"fr", "hubgate; hit", `{"lang":"fr"}`},
				{"en", "hubgate; hit", `{"lang":"en"}`},
				{"", "hubgate; fwd=miss", `{"lang":""}`},
			}
			for i, s := range steps {
				var hdr []string
				if s.lang != "" {
					hdr = []string{"Accept-Language", s.lang}
				}
				w := call(t, h, next, "GET", "/api/v1/chantiers", nil, hdr...)
				wantStatusPrefix(t, w, s.status)
				if w.Body.String() != s.body {
					t.Fatalf("step %d: body %s, want %s", i, w.Body, s.body)
				}
			}
		})
	}
}

// TestTTL checks route TTLs and their capping by the upstream's max-age,
// with an injected clock.
func TestTTL(t *testing.T) {
	tests := []struct {
		name     string
		path, cc string
		fresh    time.Duration
	}{
		{"route default list", "/api/v1/chantiers", "", 5 * time.Minute},
		{"stats", "/api/v1/stats", "", time.Minute},
		{"planning", "/api/v1/planning", "", 2 * time.Minute},
		{"max-age caps", "/api/v1/stats", "max-age=20", 20 * time.Second},
		{"s-maxage caps", "/api/v1/chantiers", "max-age=5, s-maxage=30", 30 * time.Second},
		// Default mode: the origin's explicit freshness wins over the
		// route TTL (override mode keeps the TTL as a cap: TestDecideStore).
		{"max-age above route", "/api/v1/stats", "max-age=600", 10 * time.Minute},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			clk := testutil.NewClock(t0)
			h := newTestHandler(t, storesMemory(t), clk, nil)
			up := newUpstream(`{}`)
			if tt.cc != "" {
				up.header.Set("Cache-Control", tt.cc)
			}
			call(t, h, up, "GET", tt.path, nil)
			clk.Add(tt.fresh - time.Second)
			wantStatusPrefix(t, call(t, h, up, "GET", tt.path, nil), "hubgate; hit; ttl=1;")
			clk.Add(time.Second)
			wantStatusPrefix(t, call(t, h, up, "GET", tt.path, nil), "hubgate; fwd=miss")
		})
	}
}

func storesMemory(t *testing.T) hub.Store { return stores(t)["memory"](t) }

// TestRequestDirectives: no-cache revalidates (and refreshes the entry),
// no-store bypasses, only-if-cached answers 504 on a miss.
func TestRequestDirectives(t *testing.T) {
	for name, mk := range stores(t) {
		t.Run(name, func(t *testing.T) {
			h := newTestHandler(t, mk(t), testutil.NewClock(t0), nil)
			up := newUpstream(`{"v":1}`)
			w := call(t, h, up, "GET", "/api/v1/x", nil, "Cache-Control", "only-if-cached")
			if w.Code != 504 || cacheStatus(w) != "hubgate; fwd=miss; detail=only-if-cached" {
				t.Fatalf("only-if-cached miss: %d %q", w.Code, cacheStatus(w))
			}
			call(t, h, up, "GET", "/api/v1/x", nil)
			up.set(func(u *upstream) { u.body = `{"v":2}` })
			w = call(t, h, up, "GET", "/api/v1/x", nil, "Cache-Control", "no-cache")
			wantStatusPrefix(t, w, "hubgate; fwd=request; fwd-status=200; stored")
			if w.Body.String() != `{"v":2}` {
				t.Fatalf("no-cache: %s", w.Body)
			}
			w = call(t, h, up, "GET", "/api/v1/x", nil)
			wantStatusPrefix(t, w, "hubgate; hit")
			if w.Body.String() != `{"v":2}` {
				t.Fatalf("after revalidation: %s", w.Body)
			}
			w = call(t, h, up, "GET", "/api/v1/x", nil, "Cache-Control", "no-store")
			if cacheStatus(w) != "hubgate; fwd=request" {
				t.Fatalf("no-store: %q", cacheStatus(w))
			}
			w = call(t, h, up, "GET", "/api/v1/x", nil, "Cache-Control", "only-if-cached")
			wantStatusPrefix(t, w, "hubgate; hit")
			if n := up.hits.Load(); n != 3 {
				t.Fatalf("upstream hits = %d, want 3", n)
			}
		})
	}
}

// TestCoalescing: 100 concurrent misses for one key make one upstream
// request; the others wait for it and share its answer.
func TestCoalescing(t *testing.T) {
	for name, mk := range stores(t) {
		t.Run(name, func(t *testing.T) {
			h := newTestHandler(t, mk(t), testutil.NewClock(t0), nil)
			up := newUpstream(`{"data":"slow"}`)
			gate := make(chan struct{})
			up.set(func(u *upstream) { u.gate = gate })
			const n = 100
			results := make(chan string, n)
			var wg sync.WaitGroup
			for range n {
				wg.Go(func() {
					w := call(t, h, up, "GET", "/api/v1/chantiers?limit=5", ident("1", "k1", "read"))
					results <- fmt.Sprintf("%d %s %s", w.Code, w.Body, cacheStatus(w))
				})
			}
			// Release the upstream only once every other request waits on
			// the fill (no sleeping: poll the flight's waiter count).
			key := buildKey(request("GET", "/api/v1/chantiers?limit=5", ident("1", "k1", "read")), "limit=5", false).hash
			waitFor(t, "the requests to all join one fill", func() bool {
				h.g.flightMu.Lock()
				f := h.g.flights[key]
				h.g.flightMu.Unlock()
				return f != nil && f.waiters.Load() == n-1
			})
			close(gate)
			wg.Wait()
			close(results)
			collapsed := 0
			for r := range results {
				if !strings.HasPrefix(r, `200 {"data":"slow"} hubgate;`) {
					t.Fatalf("answer %q", r)
				}
				if strings.Contains(r, "collapsed") {
					collapsed++
				}
			}
			if hits := up.hits.Load(); hits != 1 || collapsed != n-1 {
				t.Fatalf("upstream hits = %d (want 1), collapsed = %d (want %d)", hits, collapsed, n-1)
			}
		})
	}
}

// TestCoalescedFillOlderThanWrite: a request that saw a write's effect
// does not take a fill that began before the write.
func TestCoalescedFillOlderThanWrite(t *testing.T) {
	h := newTestHandler(t, storesMemory(t), testutil.NewClock(t0), nil)
	up := newUpstream(`{"v":"old"}`)
	gate := make(chan struct{})
	up.set(func(u *upstream) { u.gate = gate })
	done := make(chan string)
	go func() { done <- call(t, h, up, "GET", "/api/v1/chantiers/1", nil).Body.String() }()
	waitFor(t, "the first GET to reach the upstream", func() bool { return up.hits.Load() > 0 })
	up.set(func(u *upstream) { u.gate = nil })
	wantStatusPrefix(t, call(t, h, up, "PATCH", "/api/v1/chantiers/1", nil), "") // invalidates
	up.set(func(u *upstream) { u.body = `{"v":"new"}` })
	second := make(chan string)
	go func() { second <- call(t, h, up, "GET", "/api/v1/chantiers/1", nil).Body.String() }()
	// The second GET joins the fill, then must refuse its old answer.
	key := buildKey(request("GET", "/api/v1/chantiers/1", nil), "", false).hash
	waitFor(t, "the second GET to join the first one's fill", func() bool {
		h.g.flightMu.Lock()
		f := h.g.flights[key]
		h.g.flightMu.Unlock()
		return f != nil && f.waiters.Load() == 1
	})
	close(gate)
	if got := <-done; got != `{"v":"old"}` {
		t.Fatalf("first GET: %s", got)
	}
	if got := <-second; got != `{"v":"new"}` {
		t.Fatalf("GET after the write got %s", got)
	}
}

var cacheStatusRE = regexp.MustCompile(`^hubgate; (hit|fwd=(miss|stale|request|bypass))(; [a-z-]+(=("[^"]*"|[A-Za-z0-9-]+))?)*$`)

// TestCacheStatusSyntax checks every Cache-Status this package builds
// against the RFC 9211 structured-field shape (a token item with params).
func TestCacheStatusSyntax(t *testing.T) {
	for _, s := range []string{
		h0().status("hit", strings.Repeat("a", 64), &entry{ttl: time.Minute, stored: t0}, t0),
		h0().status("fwd=miss; collapsed", strings.Repeat("a", 64), &entry{ttl: time.Minute, stored: t0}, t0.Add(2*time.Minute)),
		"hubgate; fwd=bypass; detail=store-unavailable",
		"hubgate; fwd=miss; fwd-status=200; detail=set-cookie",
	} {
		if !cacheStatusRE.MatchString(s) {
			t.Errorf("Cache-Status %q is not a valid RFC 9211 member", s)
		}
	}
}

func h0() *Handler { return &Handler{} }
