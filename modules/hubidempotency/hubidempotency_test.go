package hubidempotency

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/caddyserver/caddy/v2"
	"github.com/caddyserver/caddy/v2/modules/caddyhttp"

	"github.com/hubchantier/hubgate/internal/testutil/hubtest"
	"github.com/hubchantier/hubgate/modules/hub"
)

func newHandler(t *testing.T, h *Handler, s hub.Store) *Handler {
	t.Helper()
	if err := h.compile(); err != nil {
		t.Fatal(err)
	}
	h.store = s
	h.log = caddy.Log()
	h.fpKey = fingerprintKey([]byte("test secret"))
	return h
}

// upstream is a next handler that creates a numbered resource per call.
type upstream struct {
	calls  atomic.Int64
	status int           // 0: 201
	gate   chan struct{} // when set, each call waits on it
}

func (u *upstream) ServeHTTP(w http.ResponseWriter, r *http.Request) error {
	n := u.calls.Add(1)
	if u.gate != nil {
		<-u.gate
	}
	body, _ := io.ReadAll(r.Body)
	st := u.status
	if st == 0 {
		st = http.StatusCreated
	}
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("ETag", fmt.Sprintf(`"v%d"`, n))
	w.Header().Set("Location", fmt.Sprintf("/api/v1/things/%d", n))
	w.Header().Set("X-Hub-Changes", "secret-diff")
	w.WriteHeader(st)
	_, _ = fmt.Fprintf(w, `{"id":%d,"echo":%q}`, n, body)
	return nil
}

type call struct {
	method, path, body, key string
	keyID                   string // "" = anonymous
	atomicTx                string // an operation of an atomic batch
}

type result struct {
	code     int
	header   http.Header
	body     string
	replayOf string
}

func (c call) do(t *testing.T, h *Handler, next caddyhttp.Handler) result {
	t.Helper()
	if c.method == "" {
		c.method = http.MethodPost
	}
	if c.path == "" {
		c.path = "/api/v1/things"
	}
	w := httptest.NewRecorder()
	raw := httptest.NewRequest(c.method, c.path, strings.NewReader(c.body))
	raw.Header.Set("Content-Type", "application/json")
	if c.key != "" {
		raw.Header.Set(HeaderName, c.key)
	}
	if c.atomicTx != "" {
		raw = raw.WithContext(hub.WithBatch(raw.Context(), &hub.BatchLink{RequestID: "batch", Tx: c.atomicTx}))
	}
	r := caddyhttp.PrepareRequest(raw, caddy.NewReplacer(), w, nil)
	if c.keyID != "" {
		hub.SetIdentity(r, &hub.Identity{Subject: "7", KeyID: c.keyID, Method: "api_key"})
	}
	w.Header().Set("X-Outer", "set-by-outer") // an outer handler's header
	if err := h.ServeHTTP(w, r, next); err != nil {
		t.Fatalf("ServeHTTP: %v", err)
	}
	return result{w.Code, w.Header(), w.Body.String(), hub.IdempotentReplayOf(r)}
}

func problemType(t *testing.T, res result) string {
	t.Helper()
	if ct := res.header.Get("Content-Type"); ct != "application/problem+json" {
		t.Fatalf("Content-Type %q, body %s", ct, res.body)
	}
	var p struct{ Type string }
	if err := json.Unmarshal([]byte(res.body), &p); err != nil {
		t.Fatal(err)
	}
	return strings.TrimPrefix(p.Type, "urn:hubchantier:problem:")
}

func TestReplayIsByteIdentical(t *testing.T) {
	for name, mk := range hubtest.Stores(t, "hubidem") {
		t.Run(name, func(t *testing.T) {
			h := newHandler(t, &Handler{}, mk(t))
			up := &upstream{}
			c := call{body: `{"nom":"Lot A"}`, key: `"k-1"`, keyID: "key1"}
			first := c.do(t, h, up)
			if first.code != 201 || first.header.Get(ReplayedHeader) != "" || first.replayOf != "" {
				t.Fatalf("first: %d %v replayOf=%q", first.code, first.header, first.replayOf)
			}
			for i := 0; i < 2; i++ {
				again := c.do(t, h, up)
				if again.code != 201 || again.body != first.body {
					t.Fatalf("replay %d: %d %q, want 201 %q", i, again.code, again.body, first.body)
				}
				for _, k := range []string{"ETag", "Location", "Content-Type"} {
					if again.header.Get(k) != first.header.Get(k) {
						t.Errorf("replay %s = %q, first %q", k, again.header.Get(k), first.header.Get(k))
					}
				}
				if again.header.Get(ReplayedHeader) != "true" {
					t.Errorf("replay without %s", ReplayedHeader)
				}
				if again.header.Get("X-Hub-Changes") != "" {
					t.Error("the upstream's change report was replayed (a replay changes nothing)")
				}
				if again.replayOf == "" || again.replayOf != first.header.Get("X-Request-Id") {
					t.Errorf("replayOf %q, first request id %q", again.replayOf, first.header.Get("X-Request-Id"))
				}
			}
			if n := up.calls.Load(); n != 1 {
				t.Fatalf("upstream ran %d times, want 1", n)
			}
		})
	}
}

func TestDifferentRequestSameKey422(t *testing.T) {
	for name, mk := range hubtest.Stores(t, "hubidem") {
		t.Run(name, func(t *testing.T) {
			h := newHandler(t, &Handler{}, mk(t))
			up := &upstream{}
			call{body: `{"nom":"A"}`, key: `"k"`, keyID: "key1"}.do(t, h, up)
			for _, other := range []call{
				{body: `{"nom":"B"}`, key: `"k"`, keyID: "key1"},
				{body: `{"nom":"A"}`, key: `"k"`, keyID: "key1", path: "/api/v1/others"},
				{body: `{"nom":"A"}`, key: `"k"`, keyID: "key1", path: "/api/v1/things?x=1"},
				{body: `{"nom":"A"}`, key: `"k"`, keyID: "key1", method: http.MethodPatch},
			} {
				res := other.do(t, h, up)
				if res.code != 422 || problemType(t, res) != "idempotency-key-reused" {
					t.Fatalf("%+v: %d %s", other, res.code, res.body)
				}
			}
			if up.calls.Load() != 1 {
				t.Fatalf("upstream ran %d times", up.calls.Load())
			}
		})
	}
}

func TestConcurrentRetryGets409(t *testing.T) {
	for name, mk := range hubtest.Stores(t, "hubidem") {
		t.Run(name, func(t *testing.T) {
			h := newHandler(t, &Handler{}, mk(t))
			up := &upstream{gate: make(chan struct{})}
			c := call{body: `{}`, key: `"slow"`, keyID: "key1"}
			var first result
			var wg sync.WaitGroup
			wg.Add(1)
			go func() { defer wg.Done(); first = c.do(t, h, up) }()
			deadline := time.Now().Add(10 * time.Second)
			for up.calls.Load() == 0 && time.Now().Before(deadline) {
				time.Sleep(time.Millisecond)
			}
			const retries = 8
			codes := make(chan result, retries)
			for i := 0; i < retries; i++ {
				go func() { codes <- c.do(t, h, up) }()
			}
			for i := 0; i < retries; i++ {
				res := <-codes
				if res.code != 409 || problemType(t, res) != "idempotency-key-in-use" || res.header.Get("Retry-After") == "" {
					t.Fatalf("concurrent retry: %d %v %s", res.code, res.header, res.body)
				}
			}
			close(up.gate)
			wg.Wait()
			if first.code != 201 {
				t.Fatalf("first: %d", first.code)
			}
			if after := c.do(t, h, up); after.code != 201 || after.body != first.body {
				t.Fatalf("after: %d %s", after.code, after.body)
			}
			if up.calls.Load() != 1 {
				t.Fatalf("upstream ran %d times", up.calls.Load())
			}
		})
	}
}

// A holder that died (its gateway killed) leaves an in-flight entry that
// expires with lock_ttl: retries get 409 until then, and then run.
func TestDeadHolderExpires(t *testing.T) {
	for name, mk := range hubtest.Stores(t, "hubidem") {
		t.Run(name, func(t *testing.T) {
			s := mk(t)
			h := newHandler(t, &Handler{}, s)
			up := &upstream{}
			c := call{body: `{}`, key: `"orphan"`, keyID: "key1"}
			fp := fingerprint(h.fpKey, http.MethodPost, "/api/v1/things", "", http.Header{"Content-Type": {"application/json"}}, []byte(`{}`))
			p, _ := (&hub.Identity{Subject: "7", KeyID: "key1", Method: "api_key"}).Principal()
			dead := &entry{State: stateInFlight, FP: fp, RequestID: "dead"}
			if err := s.Set(context.Background(), storeKey(p, "orphan"), dead.encode(), time.Second); err != nil {
				t.Fatal(err)
			}
			if res := c.do(t, h, up); res.code != 409 {
				t.Fatalf("while the dead holder's lock lives: %d", res.code)
			}
			deadline := time.Now().Add(30 * time.Second)
			for {
				res := c.do(t, h, up)
				if res.code == 201 {
					break
				}
				if res.code != 409 || time.Now().After(deadline) {
					t.Fatalf("after lock_ttl: %d %s", res.code, res.body)
				}
				time.Sleep(50 * time.Millisecond)
			}
		})
	}
}

func TestNotKeptAnswersRunAgain(t *testing.T) {
	for name, mk := range hubtest.Stores(t, "hubidem") {
		t.Run(name, func(t *testing.T) {
			h := newHandler(t, &Handler{}, mk(t))
			for _, st := range []int{500, 503, 409, 429} {
				up := &upstream{status: st}
				c := call{body: `{}`, key: fmt.Sprintf(`"s%d"`, st), keyID: "key1"}
				c.do(t, h, up)
				up.status = 201
				if res := c.do(t, h, up); res.code != 201 || res.header.Get(ReplayedHeader) != "" {
					t.Fatalf("after a %d: %d %v", st, res.code, res.header)
				}
			}
			// A 4xx verdict on the request itself is kept.
			up := &upstream{status: 400}
			c := call{body: `{}`, key: `"s400"`, keyID: "key1"}
			c.do(t, h, up)
			up.status = 201
			if res := c.do(t, h, up); res.code != 400 || res.header.Get(ReplayedHeader) != "true" {
				t.Fatalf("400 not replayed: %d", res.code)
			}
		})
	}
}

func TestKeysArePerPrincipal(t *testing.T) {
	for name, mk := range hubtest.Stores(t, "hubidem") {
		t.Run(name, func(t *testing.T) {
			h := newHandler(t, &Handler{}, mk(t))
			up := &upstream{}
			a := call{body: `{}`, key: `"shared"`, keyID: "key1"}.do(t, h, up)
			b := call{body: `{}`, key: `"shared"`, keyID: "key2"}.do(t, h, up)
			if a.code != 201 || b.code != 201 || a.body == b.body || b.header.Get(ReplayedHeader) != "" {
				t.Fatalf("another principal's key was replayed: %s / %s", a.body, b.body)
			}
		})
	}
}

func TestRefusalsAndBypasses(t *testing.T) {
	req, _ := hub.ParseRoute("POST", "/api/v1/things")
	mint, _ := hub.ParseRoute("POST", "/api/auth/api-keys")
	h := newHandler(t, &Handler{Require: []hub.Route{req}, NoStore: []hub.Route{mint}}, hubtest.Stores(t, "hubidem")["memory"](t))
	up := &upstream{}

	res := call{body: `{}`, keyID: "key1"}.do(t, h, up)
	if res.code != 400 || problemType(t, res) != "idempotency-key-missing" {
		t.Fatalf("missing: %d %s", res.code, res.body)
	}
	for _, bad := range []string{`k-1`, `"k"; a=1`, `"` + strings.Repeat("x", 256) + `"`} {
		res = call{body: `{}`, key: bad, keyID: "key1"}.do(t, h, up)
		if res.code != 400 || problemType(t, res) != "idempotency-key-invalid" {
			t.Fatalf("key %q: %d %s", bad, res.code, res.body)
		}
	}
	if up.calls.Load() != 0 {
		t.Fatal("a refused request reached the upstream")
	}
	// Other routes need no key; GET is not concerned.
	if res = (call{body: `{}`, path: "/api/v1/others", keyID: "key1"}).do(t, h, up); res.code != 201 {
		t.Fatalf("no key elsewhere: %d", res.code)
	}
	if res = (call{method: http.MethodGet, key: `bad`, keyID: "key1"}).do(t, h, up); res.code != 201 {
		t.Fatalf("GET with a key: %d", res.code)
	}
	// no_store: runs each time, nothing replayed.
	m := call{path: "/api/auth/api-keys", body: `{}`, key: `"mint"`, keyID: "key1"}
	first, second := m.do(t, h, up), m.do(t, h, up)
	if first.body == second.body || second.header.Get(ReplayedHeader) != "" {
		t.Fatal("a no_store answer was replayed")
	}
	// Anonymous callers: the key is not honoured.
	anon := call{path: "/api/v1/others", body: `{}`, key: `"anon"`}
	if a, b := anon.do(t, h, up), anon.do(t, h, up); a.body == b.body {
		t.Fatal("an anonymous caller's answer was replayed")
	}
}

func TestTooLargeAnswerNotKept(t *testing.T) {
	h := newHandler(t, &Handler{MaxSize: 10}, hubtest.Stores(t, "hubidem")["memory"](t))
	up := &upstream{}
	c := call{body: `{"long enough":true}`, key: `"big"`, keyID: "key1"}
	a, b := c.do(t, h, up), c.do(t, h, up)
	if a.code != 201 || b.code != 201 || a.body == b.body {
		t.Fatalf("a body over max_size was kept: %s / %s", a.body, b.body)
	}
}

// unreachable is a store that always fails.
type unreachable struct{ hub.Store }

func (unreachable) SetNX(context.Context, string, []byte, time.Duration) (bool, error) {
	return false, fmt.Errorf("connection refused")
}

func TestStoreDown(t *testing.T) {
	up := &upstream{}
	c := call{body: `{}`, key: `"k"`, keyID: "key1"}
	res := c.do(t, newHandler(t, &Handler{}, unreachable{}), up)
	if res.code != 503 || problemType(t, res) != "idempotency-unavailable" || up.calls.Load() != 0 {
		t.Fatalf("closed: %d %s", res.code, res.body)
	}
	if res = c.do(t, newHandler(t, &Handler{FailOpen: true}, unreachable{}), up); res.code != 201 {
		t.Fatalf("fail_open: %d", res.code)
	}
}

// An operation of an atomic batch answers before the commit: its key is
// refused rather than its answer kept; a non-atomic operation's is kept.
func TestAtomicBatchOperation(t *testing.T) {
	h := newHandler(t, &Handler{}, hubtest.Stores(t, "hubidem")["memory"](t))
	up := &upstream{}
	res := call{body: `{}`, key: `"op"`, keyID: "key1", atomicTx: "tx1"}.do(t, h, up)
	if res.code != 400 || problemType(t, res) != "idempotency-key-invalid" || up.calls.Load() != 0 {
		t.Fatalf("atomic operation: %d %s", res.code, res.body)
	}
}

// A request whose handler panics (reverse_proxy's ErrAbortHandler on a
// broken upstream body) releases its key at once: the retry runs.
func TestPanicReleasesKey(t *testing.T) {
	h := newHandler(t, &Handler{}, hubtest.Stores(t, "hubidem")["memory"](t))
	c := call{body: `{}`, key: `"boom"`, keyID: "key1"}
	func() {
		defer func() {
			if v := recover(); v != http.ErrAbortHandler {
				t.Fatalf("recovered %v", v)
			}
		}()
		c.do(t, h, caddyhttp.HandlerFunc(func(http.ResponseWriter, *http.Request) error { panic(http.ErrAbortHandler) }))
	}()
	if res := c.do(t, h, &upstream{}); res.code != 201 {
		t.Fatalf("retry after a panic: %d %s", res.code, res.body)
	}
}

// The store fixtures are internal/testutil/hubtest's.
func redisStore(t *testing.T, url string) hub.Store { return hubtest.RedisStore(t, url, "hubidem") }

var randHex = hubtest.RandHex
