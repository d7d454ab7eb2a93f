package hubcache

import (
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/caddyserver/caddy/v2"
	"github.com/caddyserver/caddy/v2/modules/caddyhttp"
	"go.uber.org/zap"

	"github.com/hubchantier/hubgate/internal/testutil"
	"github.com/hubchantier/hubgate/internal/testutil/hubtest"
	"github.com/hubchantier/hubgate/modules/hub"
)

// clock is the shared injectable clock.
type clock = testutil.Clock

// hubChantierRoutes are the hub_cache routes of the default Caddyfile:
// Hub Chantier's aggregates (stats, planning) with their own TTLs.
func hubChantierRoutes() []*Route {
	return []*Route{
		{Path: "/api/v1/admin/*", Off: true},
		{Path: "/api/v1/stats", TTL: caddy.Duration(60 * time.Second)},
		{Path: "/api/v1/planning", TTL: caddy.Duration(120 * time.Second)},
		{Path: "/api/v1/{resource}", TTL: caddy.Duration(5 * time.Minute)},
		{Path: "/api/v1/{resource}/{id}", TTL: caddy.Duration(5 * time.Minute)},
	}
}

// hubChantierRelated is the default Caddyfile's invalidate rule: any write
// under /api/v1 changes the aggregates.
func hubChantierRelated() []*Related {
	return []*Related{{Path: "/api/v1/*", Invalidate: []string{"/api/v1/stats", "/api/v1/planning"}}}
}

// newTestHandler builds a provisioned handler on s without a Caddy context.
func newTestHandler(t *testing.T, s hub.Store, clk *clock, configure func(*Handler)) *Handler {
	t.Helper()
	h := &Handler{Routes: hubChantierRoutes(), Related: hubChantierRelated()}
	if configure != nil {
		configure(h)
	}
	if err := h.setDefaults(); err != nil {
		t.Fatal(err)
	}
	if err := h.Validate(); err != nil {
		t.Fatal(err)
	}
	h.log, h.now, h.metrics = zap.NewNop(), clk.Now, hub.GetMetrics()
	// Pooled like in Provision, so the admin purge reaches it.
	g, key, err := engineFor(s, h.L1Entries, h.L1Bytes, zap.NewNop())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _, _ = enginePool.Delete(key) })
	h.g, h.poolKey = g, key
	h.g.now = clk.Now
	return h
}

// upstream is a counting next handler with a programmable answer.
type upstream struct {
	hits   atomic.Int32
	mu     sync.Mutex
	status int
	header http.Header
	body   string
	err    error
	gate   chan struct{} // when set, each call waits for it to close
}

func newUpstream(body string) *upstream {
	return &upstream{status: 200, header: http.Header{"Content-Type": {"application/json"}}, body: body}
}

func (u *upstream) set(f func(u *upstream)) { u.mu.Lock(); f(u); u.mu.Unlock() }

func (u *upstream) ServeHTTP(w http.ResponseWriter, r *http.Request) error {
	u.hits.Add(1)
	u.mu.Lock()
	status, hdr, body, err, gate := u.status, u.header.Clone(), u.body, u.err, u.gate
	u.mu.Unlock()
	if gate != nil {
		<-gate
	}
	if err != nil {
		return err
	}
	for k, v := range hdr {
		w.Header()[k] = v
	}
	w.WriteHeader(status)
	if r.Method != http.MethodHead {
		_, _ = io.WriteString(w, body)
	}
	return nil
}

// ident builds an identity.
func ident(subject, keyID string, scopes ...string) *hub.Identity {
	return &hub.Identity{Subject: subject, Role: "conducteur", Method: "api_key", KeyID: keyID, Scopes: scopes}
}

// call sends one request through h to next.
func call(t *testing.T, h *Handler, next caddyhttp.Handler, method, target string, id *hub.Identity, headers ...string) *httptest.ResponseRecorder {
	t.Helper()
	w := httptest.NewRecorder()
	if err := h.ServeHTTP(w, request(method, target, id, headers...), next); err != nil {
		w.Code = -1
		w.Header().Set("X-Test-Error", err.Error())
	}
	return w
}

func request(method, target string, id *hub.Identity, headers ...string) *http.Request {
	r := httptest.NewRequest(method, target, nil)
	r = caddyhttp.PrepareRequest(r, caddy.NewReplacer(), nil, nil)
	if id != nil {
		hub.SetIdentity(r, id)
	}
	for i := 0; i+1 < len(headers); i += 2 {
		r.Header.Add(headers[i], headers[i+1])
	}
	return r
}

func cacheStatus(w *httptest.ResponseRecorder) string { return w.Header().Get("Cache-Status") }

func wantStatusPrefix(t *testing.T, w *httptest.ResponseRecorder, prefix string) {
	t.Helper()
	if got := cacheStatus(w); !strings.HasPrefix(got, prefix) {
		t.Fatalf("Cache-Status = %q, want prefix %q (status %d, err %q)", got, prefix, w.Code, w.Header().Get("X-Test-Error"))
	}
}

// closedPort returns a loopback port nothing listens on.
func closedPort(t *testing.T) string {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	l.Close()
	return addr
}

// waitFor polls cond until it holds, failing the test with what was
// awaited after a generous deadline (never a bound on the machine's speed:
// it only stops a broken test from spinning forever).
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after 30s waiting for %s", what)
		}
		time.Sleep(time.Millisecond)
	}
}

// The store fixtures are internal/testutil/hubtest's.
func stores(t *testing.T) map[string]func(t *testing.T) hub.Store {
	return hubtest.Stores(t, "hubcache")
}

func redisStore(t *testing.T, url string) hub.Store { return hubtest.RedisStore(t, url, "hubcache") }

var randHex = hubtest.RandHex
