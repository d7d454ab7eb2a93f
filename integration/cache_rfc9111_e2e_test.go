package integration

import (
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/hubchantier/hubgate/integration/harness"
)

// rfcE2ECaddyfile is the hubgate binary as an RFC 9111 shared cache: the
// hub app (for its store), hub_cache in origin mode, reverse_proxy to a Go
// origin on loopback.
const rfcE2ECaddyfile = `{
	admin {$HUB_ADMIN_LISTEN}
	hub {
		upstream http://{$HUB_UPSTREAM}
		secret {env.HUB_GATEWAY_SECRET}
		store redis {$HUB_REDIS_URL:} {
			prefix {$HUB_REDIS_PREFIX:hub:}
		}
	}
}
http://{$HUB_LISTEN} {
	handle /healthz {
		respond 200
	}
	handle {
		hub_cache {
			route /* origin shared
		}
		reverse_proxy {$HUB_ORIGIN}
	}
}
`

// rfcE2EOrigin answers by path with the headers under test and counts
// requests; If-None-Match is kept per path.
type rfcE2EOrigin struct {
	mu    sync.Mutex
	count map[string]int
	inm   map[string]string
	gate  chan struct{}
}

func (o *rfcE2EOrigin) hits(p string) int {
	o.mu.Lock()
	defer o.mu.Unlock()
	return o.count[p]
}

func (o *rfcE2EOrigin) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	o.mu.Lock()
	key := r.URL.Path
	if r.Method != http.MethodGet {
		key = r.Method + " " + key
	}
	o.count[key]++
	n := o.count[key]
	o.inm[key] = r.Header.Get("If-None-Match")
	o.mu.Unlock()
	h := w.Header()
	switch r.URL.Path {
	case "/reval":
		h.Set("Cache-Control", "max-age=0")
		h.Set("ETag", `"r1"`)
		h.Set("X-Gen", fmt.Sprint(n))
		if r.Header.Get("If-None-Match") == `"r1"` {
			w.WriteHeader(http.StatusNotModified)
			return
		}
	case "/auth":
		h.Set("Cache-Control", "max-age=300")
	case "/public":
		h.Set("Cache-Control", "max-age=300")
		h.Set("ETag", `"p1"`)
		h.Set("Surrogate-Control", "max-age=600")
	case "/swr":
		h.Set("Cache-Control", "max-age=60, stale-while-revalidate=600")
		if n == 1 {
			h.Set("Age", "61")
		} else {
			<-o.gate
		}
	default:
		w.WriteHeader(http.StatusNotFound)
		return
	}
	if r.Method == http.MethodGet {
		fmt.Fprintf(w, "v%d", n)
	}
}

// TestCacheRFC9111E2E runs the hubgate binary as a shared cache in front
// of an origin that sends its own caching headers, on memory and Redis:
// conditional revalidation and 304 refresh, the client's conditionals,
// Authorization (§3.5), invalidation by an unknown unsafe method (§4.4),
// Surrogate-Control, and stale-while-revalidate's background refresh in the
// real server.
func TestCacheRFC9111E2E(t *testing.T) {
	if testing.Short() {
		t.Skip("end-to-end test skipped in -short mode")
	}
	for _, redis := range []bool{false, true} {
		name := map[bool]string{false: "memory", true: "redis"}[redis]
		t.Run(name, func(t *testing.T) {
			redisURL := ""
			if redis {
				if redisURL = os.Getenv("HUB_TEST_REDIS_URL"); redisURL == "" {
					t.Skip("Redis end-to-end tests skipped: set HUB_TEST_REDIS_URL to run them")
				}
			}
			o := &rfcE2EOrigin{count: map[string]int{}, inm: map[string]string{}, gate: make(chan struct{})}
			srv := httptest.NewServer(o)
			t.Cleanup(srv.Close)
			dir := t.TempDir()
			cfg := filepath.Join(dir, "Caddyfile")
			if err := os.WriteFile(cfg, []byte(rfcE2ECaddyfile), 0o600); err != nil {
				t.Fatal(err)
			}
			opts := harness.GatewayOptions{Upstream: closedAddr(t), Secret: harness.NewSecret(), Dir: dir, Caddyfile: cfg,
				RedisURL: redisURL, ExtraEnv: []string{"HUB_ORIGIN=" + strings.TrimPrefix(srv.URL, "http://")}}
			if redis {
				opts.RedisPrefix = harness.RedisPrefix(t, redisURL, "cacherfc")
			}
			gw, err := harness.StartGateway(opts)
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() {
				close(o.gate)
				gw.Stop()
				if t.Failed() {
					t.Logf("gateway log tail:\n%s", gw.Tail(3000))
				}
			})
			client := &http.Client{Timeout: 15 * time.Second}
			do := func(method, path string, hdr ...string) (int, http.Header, string) {
				t.Helper()
				req, _ := http.NewRequest(method, gw.URL+path, nil)
				for i := 0; i+1 < len(hdr); i += 2 {
					req.Header.Set(hdr[i], hdr[i+1])
				}
				resp, err := client.Do(req)
				if err != nil {
					t.Fatal(err)
				}
				defer resp.Body.Close()
				b, _ := io.ReadAll(resp.Body)
				return resp.StatusCode, resp.Header, string(b)
			}
			want := func(what string, status int, h http.Header, body string, wantStatus int, wantBody, cs string) {
				t.Helper()
				if status != wantStatus || (wantBody != "" && body != wantBody) || !strings.Contains(h.Get("Cache-Status"), cs) {
					t.Fatalf("%s: %d %q Cache-Status %q, want %d %q containing %q", what, status, body, h.Get("Cache-Status"), wantStatus, wantBody, cs)
				}
			}

			// §4.3: stored stale with a validator, revalidated, refreshed by the 304.
			s, h, b := do("GET", "/reval")
			want("fill", s, h, b, 200, "v1", "stored")
			s, h, b = do("GET", "/reval")
			want("revalidation", s, h, b, 200, "v1", "fwd-status=304")
			if h.Get("X-Gen") != "2" || o.inm["/reval"] != `"r1"` {
				t.Fatalf("revalidation: X-Gen %q, origin If-None-Match %q", h.Get("X-Gen"), o.inm["/reval"])
			}
			// The client's conditional: 304 from the (just refreshed) entry.
			s, h, _ = do("GET", "/public", "If-None-Match", `"p1"`)
			want("conditional miss", s, h, "", 304, "", "stored")
			s, h, _ = do("GET", "/public", "If-None-Match", `"p1"`)
			want("conditional hit", s, h, "", 304, "", "hit")
			// Surrogate-Control's max-age=600 wins over max-age=300, and is removed.
			var ttl int
			if cs := h.Get("Cache-Status"); h.Get("Surrogate-Control") != "" || strings.Index(cs, "ttl=") < 0 {
				t.Fatalf("Surrogate-Control: %v", h)
			} else if _, err := fmt.Sscanf(cs[strings.Index(cs, "ttl=")+4:], "%d", &ttl); err != nil || ttl <= 300 {
				t.Fatalf("Surrogate-Control max-age not honoured: %q", cs)
			}
			// §3.5: an authorized request's answer is not stored for others.
			s, h, b = do("GET", "/auth", "Authorization", "Bearer x")
			want("authorized", s, h, b, 200, "v1", "detail=authorization")
			s, h, b = do("GET", "/auth")
			want("anonymous", s, h, b, 200, "v2", "stored")
			s, h, b = do("GET", "/auth")
			want("anonymous hit", s, h, b, 200, "v2", "hit")
			// §4.4: an unknown unsafe method invalidates.
			do("FROB", "/auth")
			s, h, b = do("GET", "/auth")
			want("after FROB", s, h, b, 200, "v3", "fwd=miss")
			// RFC 5861: stale now, one refresh in the background.
			do("GET", "/swr")
			for range 3 {
				s, h, b = do("GET", "/swr")
				want("stale", s, h, b, 200, "v1", "stale-while-revalidate")
			}
			deadline := time.Now().Add(30 * time.Second)
			for o.hits("/swr") < 2 {
				if time.Now().After(deadline) {
					t.Fatal("no background refresh reached the origin")
				}
				time.Sleep(5 * time.Millisecond)
			}
			o.gate <- struct{}{} // let the one refresh through
			for {
				if _, _, b = do("GET", "/swr"); b == "v2" {
					break
				}
				if time.Now().After(deadline) {
					t.Fatal("the refreshed entry never answered")
				}
				time.Sleep(5 * time.Millisecond)
			}
			if n := o.hits("/swr"); n != 2 {
				t.Fatalf("origin saw %d requests for /swr, want 2 (one background refresh)", n)
			}
		})
	}
}

// closedAddr is a loopback address nothing listens on (the hub app's
// upstream: nothing here authenticates).
func closedAddr(t *testing.T) string {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	a := l.Addr().String()
	l.Close()
	return a
}
