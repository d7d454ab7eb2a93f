package hubcache

// The conformance tests (rfc*_test.go) run hub_cache inside a real Caddy
// instance (the Caddyfile adapter, the hub app with a memory or Redis
// store, reverse_proxy) in front of a real origin on loopback that sends
// the headers under test. They speak HTTP only.

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/caddyserver/caddy/v2"
	"github.com/caddyserver/caddy/v2/caddyconfig"
	_ "github.com/caddyserver/caddy/v2/modules/standard"
	"github.com/redis/go-redis/v9"
)

// rfcCacheBlock is the hub_cache block of every conformance run: one route
// per mode, shared (the RFC's shared cache) unless under /p/.
const rfcCacheBlock = `hub_cache {
			route /o/* origin shared
			route /d/* 60s shared
			route /m/* 60s max_ttl 120s shared
			route /v/* 60s override shared
			route /p/* origin
			route /nr/* origin shared
			invalidate /w/* /o/agg
			max_stale 10m
		}`

// origin is the loopback origin: each path has a handler, and every
// request is counted and its header kept.
type origin struct {
	srv      *httptest.Server
	mu       sync.Mutex
	handlers map[string]func(w http.ResponseWriter, r *http.Request, n int)
	count    map[string]int
	last     map[string]http.Header
}

func newOrigin(t *testing.T) *origin {
	o := &origin{handlers: map[string]func(http.ResponseWriter, *http.Request, int){}, count: map[string]int{}, last: map[string]http.Header{}}
	o.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		o.mu.Lock()
		k := r.URL.Path
		if r.Method != http.MethodGet && r.Method != http.MethodHead {
			k = r.Method + " " + k
		}
		o.count[k]++
		n := o.count[k]
		o.last[k] = r.Header.Clone()
		hf := o.handlers[r.URL.Path]
		o.mu.Unlock()
		if hf == nil {
			w.Header().Set("Cache-Control", "no-store")
			w.WriteHeader(http.StatusNotFound)
			return
		}
		hf(w, r, n)
	}))
	t.Cleanup(o.srv.Close)
	return o
}

// handle sets the handler of path.
func (o *origin) handle(path string, f func(w http.ResponseWriter, r *http.Request, n int)) {
	o.mu.Lock()
	o.handlers[path] = f
	o.mu.Unlock()
}

// hits returns how many GET/HEAD requests for path the origin received
// (key "METHOD path" for the others).
func (o *origin) hits(key string) int {
	o.mu.Lock()
	defer o.mu.Unlock()
	return o.count[key]
}

// lastHeader is the header of the last request for key.
func (o *origin) lastHeader(key string) http.Header {
	o.mu.Lock()
	defer o.mu.Unlock()
	return o.last[key]
}

// rfcGateway is a Caddy instance running hub_cache before reverse_proxy.
type rfcGateway struct {
	t      *testing.T
	url    string
	origin *origin
	client *http.Client
}

// caddyMu serialises Caddy instances: caddy.Load replaces the process's
// running config.
var caddyMu sync.Mutex

// startRFCGateway loads a config (Caddyfile adapter) with the store named
// (memory or a Redis URL with a unique prefix) and the test cache block.
func startRFCGateway(t *testing.T, store string, o *origin) *rfcGateway {
	t.Helper()
	caddyMu.Lock()
	t.Cleanup(caddyMu.Unlock)
	port := freePort(t)
	storeLine := "store memory rfc-" + randHex()
	if store != "memory" {
		prefix := "test:hubcache:rfc:" + randHex() + ":"
		storeLine = fmt.Sprintf("store redis %s {\n\t\t\tprefix %s\n\t\t}", store, prefix)
		t.Cleanup(func() { cleanRedis(t, store, prefix) })
	}
	cfg := fmt.Sprintf(`{
	admin off
	persist_config off
	hub {
		upstream http://%s
		secret %s
		%s
	}
}

http://127.0.0.1:%d {
	route {
		%s
		reverse_proxy %s
	}
}
`, closedPort(t), strings.Repeat("s", 40), storeLine, port, rfcCacheBlock, strings.TrimPrefix(o.srv.URL, "http://"))
	adapter := caddyconfig.GetAdapter("caddyfile")
	js, warns, err := adapter.Adapt([]byte(cfg), map[string]any{"filename": "Caddyfile"})
	if err != nil {
		t.Fatalf("adapting: %v\n%s", err, cfg)
	}
	for _, w := range warns {
		t.Logf("adapt warning: %s", w.Message)
	}
	// Keep the log quiet: only errors.
	var m map[string]any
	if err := json.Unmarshal(js, &m); err != nil {
		t.Fatal(err)
	}
	m["logging"] = map[string]any{"logs": map[string]any{"default": map[string]any{"level": "ERROR"}}}
	js, _ = json.Marshal(m)
	if err := caddy.Load(js, true); err != nil {
		t.Fatalf("loading: %v", err)
	}
	t.Cleanup(func() { _ = caddy.Stop() })
	g := &rfcGateway{t: t, url: fmt.Sprintf("http://127.0.0.1:%d", port), origin: o, client: &http.Client{Timeout: 30 * time.Second,
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}}
	return g
}

func freePort(t *testing.T) int {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

// rfcResponse is a response read whole.
type rfcResponse struct {
	status int
	header http.Header
	body   string
}

func (r rfcResponse) cacheStatus() string { return r.header.Get("Cache-Status") }

// do sends a request; headers are name/value pairs.
func (g *rfcGateway) do(method, path string, headers ...string) rfcResponse {
	g.t.Helper()
	req, err := http.NewRequestWithContext(context.Background(), method, g.url+path, nil)
	if err != nil {
		g.t.Fatal(err)
	}
	for i := 0; i+1 < len(headers); i += 2 {
		req.Header.Add(headers[i], headers[i+1])
	}
	resp, err := g.client.Do(req)
	if err != nil {
		g.t.Fatalf("%s %s: %v", method, path, err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return rfcResponse{status: resp.StatusCode, header: resp.Header, body: string(b)}
}

// get is do("GET").
func (g *rfcGateway) get(path string, headers ...string) rfcResponse {
	g.t.Helper()
	return g.do(http.MethodGet, path, headers...)
}

// want checks a response: status, body (when not ""), and Cache-Status
// containing each of cs.
func (g *rfcGateway) want(what string, r rfcResponse, status int, body string, cs ...string) {
	g.t.Helper()
	if r.status != status || (body != "" && r.body != body) {
		g.t.Fatalf("%s: %d %q (Cache-Status %q), want %d %q", what, r.status, r.body, r.cacheStatus(), status, body)
	}
	for _, c := range cs {
		if !strings.Contains(r.cacheStatus(), c) {
			g.t.Fatalf("%s: Cache-Status %q, want it to contain %q", what, r.cacheStatus(), c)
		}
	}
}

// wantHits checks the origin's request count for key.
func (g *rfcGateway) wantHits(what, key string, n int) {
	g.t.Helper()
	if got := g.origin.hits(key); got != n {
		g.t.Fatalf("%s: origin saw %d requests for %s, want %d", what, got, key, n)
	}
}

// rfcCase is one row of a conformance table: path is unique to the row,
// serve is the origin's handler there (n counts its requests), run the
// exchange and its checks.
type rfcCase struct {
	name  string
	path  string
	serve func(w http.ResponseWriter, r *http.Request, n int)
	run   func(g *rfcGateway, path string)
}

// runRFC runs a table on every backend: one gateway per backend, each row
// on its own path.
func runRFC(t *testing.T, cases []rfcCase) {
	backends := []string{"memory"}
	if url := os.Getenv("HUB_TEST_REDIS_URL"); url != "" {
		backends = append(backends, url)
	} else {
		t.Log("Redis variants skipped: set HUB_TEST_REDIS_URL to run them")
	}
	for _, b := range backends {
		name := "memory"
		if b != "memory" {
			name = "redis"
		}
		t.Run(name, func(t *testing.T) {
			o := newOrigin(t)
			for _, c := range cases {
				o.handle(c.path, c.serve)
			}
			g := startRFCGateway(t, b, o)
			for _, c := range cases {
				t.Run(c.name, func(t *testing.T) {
					gg := *g
					gg.t = t
					c.run(&gg, c.path)
				})
			}
		})
	}
}

// body writes a 200 with a body and header pairs.
func body(s string, headers ...string) func(w http.ResponseWriter, r *http.Request, n int) {
	return func(w http.ResponseWriter, r *http.Request, n int) {
		for i := 0; i+1 < len(headers); i += 2 {
			w.Header().Add(headers[i], headers[i+1])
		}
		_, _ = io.WriteString(w, s)
	}
}

// versioned answers "v<n>" with header pairs, so a test sees which origin
// response it got.
func versioned(headers ...string) func(w http.ResponseWriter, r *http.Request, n int) {
	return func(w http.ResponseWriter, r *http.Request, n int) {
		for i := 0; i+1 < len(headers); i += 2 {
			w.Header().Add(headers[i], headers[i+1])
		}
		_, _ = fmt.Fprintf(w, "v%d", n)
	}
}

// cleanRedis deletes the keys under prefix.
func cleanRedis(t *testing.T, url, prefix string) {
	opts, err := redis.ParseURL(url)
	if err != nil {
		t.Logf("cleaning %s*: %v", prefix, err)
		return
	}
	c := redis.NewClient(opts)
	defer c.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	keys, err := c.Keys(ctx, prefix+"*").Result()
	if err == nil && len(keys) > 0 {
		err = c.Unlink(ctx, keys...).Err()
	}
	if err != nil {
		t.Logf("cleaning %s*: %v", prefix, err)
	}
}

// wantTTL checks the ttl parameter of Cache-Status, within 2 s (the test
// may cross a second).
func (g *rfcGateway) wantTTL(what string, r rfcResponse, ttl int) {
	g.t.Helper()
	cs := r.cacheStatus()
	i := strings.Index(cs, "ttl=")
	if i < 0 {
		g.t.Fatalf("%s: Cache-Status %q has no ttl, want %d", what, cs, ttl)
	}
	var got int
	if _, err := fmt.Sscanf(cs[i+4:], "%d", &got); err != nil || got > ttl || got < ttl-2 {
		g.t.Fatalf("%s: Cache-Status %q, want ttl=%d", what, cs, ttl)
	}
}

// waitUntil polls cond (a generous deadline only stops a broken test).
func (g *rfcGateway) waitUntil(what string, cond func() bool) {
	g.t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			g.t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// twice GETs path twice and checks how many requests reached the origin.
func (g *rfcGateway) twice(path string, originHits int, headers ...string) (rfcResponse, rfcResponse) {
	g.t.Helper()
	a := g.get(path, headers...)
	b := g.get(path, headers...)
	g.wantHits("after two GETs", path, originHits)
	return a, b
}

// httpDate formats t for a header.
func httpDate(t time.Time) string { return t.UTC().Format(http.TimeFormat) }
