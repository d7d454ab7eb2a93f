package hubratelimit

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strconv"
	"testing"
	"time"

	"github.com/caddyserver/caddy/v2"
	"github.com/caddyserver/caddy/v2/modules/caddyhttp"
	"go.uber.org/zap"

	"github.com/hubchantier/hubgate/internal/testutil"
	"github.com/hubchantier/hubgate/modules/hub"
)

// clock is the shared injectable clock: tests move time instead of sleeping.
type clock = testutil.Clock

func newClock() *clock { return testutil.NewClock(testutil.Start) }

// newHandler compiles h on a fresh memory limiter driven by c.
func newHandler(t *testing.T, h *Handler, c *clock) *Handler {
	t.Helper()
	h.now = c.Now
	h.log = zap.NewNop()
	if err := h.compile(); err != nil {
		t.Fatalf("compile: %v", err)
	}
	h.metrics = hub.GetMetrics()
	h.setLimiter(hub.NewLocalLimiter(c.Now))
	return h
}

func keyID(id string) *hub.Identity {
	return &hub.Identity{Subject: "7", Method: "api_key", KeyID: id}
}

var anonymous = &hub.Identity{Method: "anonymous"}

// result is one answer of the handler.
type result struct {
	status int
	header http.Header
	body   []byte
	next   bool
}

func (r result) problem(t *testing.T) map[string]any {
	t.Helper()
	var m map[string]any
	if err := json.Unmarshal(r.body, &m); err != nil {
		t.Fatalf("body is not JSON: %v: %s", err, r.body)
	}
	return m
}

func serve(t *testing.T, h *Handler, method, path string, id *hub.Identity, ip string) result {
	t.Helper()
	w := httptest.NewRecorder()
	r := httptest.NewRequest(method, path, nil)
	r = caddyhttp.PrepareRequest(r, caddy.NewReplacer(), w, nil)
	if id != nil {
		hub.SetIdentity(r, id)
	}
	caddyhttp.SetVar(r.Context(), caddyhttp.ClientIPVarKey, ip)
	called := false
	next := caddyhttp.HandlerFunc(func(w http.ResponseWriter, r *http.Request) error {
		called = true
		w.WriteHeader(http.StatusOK)
		return nil
	})
	if err := h.ServeHTTP(w, r, next); err != nil {
		t.Fatalf("ServeHTTP: %v", err)
	}
	return result{status: w.Code, header: w.Header(), body: w.Body.Bytes(), next: called}
}

func TestDefaultPerPrincipal(t *testing.T) {
	c := newClock()
	h := newHandler(t, &Handler{Default: []string{"3/hour"}}, c)
	now := c.Now().Unix()
	wants := []struct {
		remaining, t int64
	}{{2, 1200}, {1, 2400}, {0, 3600}}
	for i, want := range wants {
		r := serve(t, h, "GET", "/api/v1/chantiers", keyID("a"), "10.0.0.1")
		if r.status != 200 || !r.next {
			t.Fatalf("request %d: status %d, next %v", i+1, r.status, r.next)
		}
		checkHeader(t, r, fieldPolicy, `"per-key";q=3;w=3600`)
		checkHeader(t, r, fieldRateLimit, `"per-key";r=`+itoa(want.remaining)+`;t=`+itoa(want.t))
		checkHeader(t, r, fieldLimit, "3")
		checkHeader(t, r, fieldRemaining, itoa(want.remaining))
		// Reset is a Unix time, rounded up from now+t (now has 0.25 s).
		checkHeader(t, r, fieldReset, itoa(now+want.t+1))
		if r.header.Get("Retry-After") != "" {
			t.Fatal("Retry-After on an admitted request")
		}
	}
	r := serve(t, h, "GET", "/api/v1/chantiers", keyID("a"), "10.0.0.1")
	if r.status != 429 || r.next {
		t.Fatalf("4th request: status %d, next %v", r.status, r.next)
	}
	checkHeader(t, r, "Retry-After", "1200")
	checkHeader(t, r, "Content-Type", "application/problem+json")
	checkHeader(t, r, fieldRateLimit, `"per-key";r=0;t=3600`)
	checkHeader(t, r, fieldRemaining, "0")
	p := r.problem(t)
	if p["type"] != "urn:hubchantier:problem:rate-limited" || p["status"] != float64(429) || p["policy"] != "per-key" || p["retry_after"] != float64(1200) {
		t.Fatalf("problem = %v", p)
	}
	// Another key, or the same user with another key, is counted apart.
	if r := serve(t, h, "GET", "/api/v1/chantiers", keyID("b"), "10.0.0.1"); r.status != 200 {
		t.Fatalf("other key: %d", r.status)
	}
	// The quota comes back at Retry-After, not before.
	c.Add(1200*time.Second - time.Millisecond)
	if r := serve(t, h, "GET", "/api/v1/chantiers", keyID("a"), "10.0.0.1"); r.status != 429 {
		t.Fatalf("before Retry-After: %d", r.status)
	}
	c.Add(time.Millisecond)
	if r := serve(t, h, "GET", "/api/v1/chantiers", keyID("a"), "10.0.0.1"); r.status != 200 {
		t.Fatalf("at Retry-After: %d", r.status)
	}
}

func itoa(n int64) string { return strconv.FormatInt(n, 10) }

func checkHeader(t *testing.T, r result, name, want string) {
	t.Helper()
	if got := r.header.Get(name); got != want {
		t.Fatalf("%s = %q, want %q", name, got, want)
	}
}

func TestRetryAfterRoundsUp(t *testing.T) {
	c := newClock()
	h := newHandler(t, &Handler{Default: []string{"7/minute"}}, c) // one back every 8.571429 s
	id := keyID("round")
	for i := 0; i < 7; i++ {
		serve(t, h, "GET", "/x", id, "10.0.0.1")
	}
	steps := []struct {
		advance time.Duration
		status  int
		retry   string
	}{
		{0, 429, "9"},
		{8 * time.Second, 429, "1"},
		{571428 * time.Microsecond, 429, "1"},
		{time.Microsecond, 200, ""},
	}
	for i, s := range steps {
		c.Add(s.advance)
		r := serve(t, h, "GET", "/x", id, "10.0.0.1")
		if r.status != s.status || r.header.Get("Retry-After") != s.retry {
			t.Fatalf("step %d: %d Retry-After %q, want %d %q", i, r.status, r.header.Get("Retry-After"), s.status, s.retry)
		}
	}
}

func TestKeyOwnRateLimit(t *testing.T) {
	tests := []struct {
		name       string
		rateLimit  string
		wantPolicy string
		admitted   int
	}{
		{"own limit replaces the default", "2/minute", `"per-key";q=2;w=60`, 2},
		{"unreadable own limit keeps the default", "2/fortnight", `"per-key";q=4;w=3600`, 4},
		{"no own limit", "", `"per-key";q=4;w=3600`, 4},
	}
	for i, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := newHandler(t, &Handler{Default: []string{"4/hour"}}, newClock())
			id := &hub.Identity{Method: "api_key", KeyID: "own" + itoa(int64(i)), RateLimit: tt.rateLimit}
			n := 0
			for ; n < 10; n++ {
				r := serve(t, h, "GET", "/x", id, "10.0.0.1")
				if n == 0 {
					checkHeader(t, r, fieldPolicy, tt.wantPolicy)
				}
				if r.status == 429 {
					break
				}
			}
			if n != tt.admitted {
				t.Fatalf("%d admitted, want %d", n, tt.admitted)
			}
		})
	}
}

func TestAnonymousPerIP(t *testing.T) {
	h := newHandler(t, &Handler{
		Default: []string{"100/hour"},
		Rules:   []*Rule{{Name: "login", Methods: []string{"POST"}, Path: "/api/auth/login", Rates: []string{"5/minute"}, Per: PerIP}},
	}, newClock())
	for i := 0; i < 5; i++ {
		r := serve(t, h, "POST", "/api/auth/login", anonymous, "192.0.2.1")
		if r.status != 200 {
			t.Fatalf("login %d: %d", i+1, r.status)
		}
		if i == 0 {
			checkHeader(t, r, fieldPolicy, `"per-key";q=100;w=3600, "login";q=5;w=60`)
			checkHeader(t, r, fieldRateLimit, `"per-key";r=99;t=36, "login";r=4;t=12`)
			checkHeader(t, r, fieldLimit, "5")
			checkHeader(t, r, fieldRemaining, "4")
		}
	}
	r := serve(t, h, "POST", "/api/auth/login", anonymous, "192.0.2.1")
	if r.status != 429 || r.header.Get("Retry-After") != "12" || r.problem(t)["policy"] != "login" {
		t.Fatalf("6th login: %d Retry-After %q %s", r.status, r.header.Get("Retry-After"), r.body)
	}
	// Another address logs in; an authenticated user from the first one is
	// not affected by the login rule (other path), and GET of login is not
	// counted by it.
	if r := serve(t, h, "POST", "/api/auth/login", anonymous, "192.0.2.2"); r.status != 200 {
		t.Fatalf("other IP: %d", r.status)
	}
	if r := serve(t, h, "GET", "/api/v1/chantiers", keyID("u"), "192.0.2.1"); r.status != 200 {
		t.Fatalf("key from the same IP: %d", r.status)
	}
	if r := serve(t, h, "GET", "/api/auth/login", anonymous, "192.0.2.1"); r.status != 200 || r.header.Get(fieldPolicy) != `"per-key";q=100;w=3600` {
		t.Fatalf("GET login: %d %q", r.status, r.header.Get(fieldPolicy))
	}
}

func TestStrictestDecidesAndRefusalsAreFree(t *testing.T) {
	h := newHandler(t, &Handler{
		Default: []string{"10/hour"},
		Rules: []*Rule{{Name: "chantiers-create", Methods: []string{"POST"}, Path: "/api/v1/chantiers",
			Rates: []string{"100/day", "2/minute"}}},
	}, newClock())
	id := keyID("strict")
	for i := 0; i < 2; i++ {
		if r := serve(t, h, "POST", "/api/v1/chantiers", id, "10.0.0.1"); r.status != 200 {
			t.Fatalf("create %d: %d", i+1, r.status)
		}
	}
	for i := 0; i < 5; i++ {
		r := serve(t, h, "POST", "/api/v1/chantiers", id, "10.0.0.1")
		if r.status != 429 || r.problem(t)["policy"] != "chantiers-create-burst" || r.header.Get("Retry-After") != "30" {
			t.Fatalf("burst refusal: %d %q %s", r.status, r.header.Get("Retry-After"), r.body)
		}
		checkHeader(t, r, fieldLimit, "2")
	}
	// The five refusals took nothing from the default or the daily quota.
	r := serve(t, h, "GET", "/api/v1/chantiers", id, "10.0.0.1")
	checkHeader(t, r, fieldRateLimit, `"per-key";r=7;t=1080`)
	r = serve(t, h, "POST", "/api/v1/chantiers/1", id, "10.0.0.1") // another path: default only
	checkHeader(t, r, fieldPolicy, `"per-key";q=10;w=3600`)
}

func TestRuleMatching(t *testing.T) {
	h := newHandler(t, &Handler{
		Default: []string{"off"},
		Rules: []*Rule{
			{Name: "stats", Methods: []string{"GET"}, Path: "/api/v1/stats", Rates: []string{"1000/hour"}},
			{Name: "docs", Path: "/api/v1/documents/{id}", Rates: []string{"50/hour"}},
			{Name: "oauth", Methods: []string{"POST", "PUT"}, Path: "/oauth/*", Rates: []string{"30/minute"}, Per: PerIP},
		},
	}, newClock())
	tests := []struct {
		method, path, wantPolicy string
	}{
		{"GET", "/api/v1/stats", `"stats";q=1000;w=3600`},
		{"HEAD", "/api/v1/stats", `"stats";q=1000;w=3600`},
		{"POST", "/api/v1/stats", ``},
		{"DELETE", "/api/v1/documents/9", `"docs";q=50;w=3600`},
		{"GET", "/api/v1/documents", ``},
		{"POST", "/oauth/token", `"oauth";q=30;w=60`},
		{"GET", "/oauth/token", ``},
	}
	for _, tt := range tests {
		r := serve(t, h, tt.method, tt.path, keyID("m"), "10.0.0.1")
		if r.status != 200 || !r.next || r.header.Get(fieldPolicy) != tt.wantPolicy {
			t.Errorf("%s %s: %d policy %q, want %q", tt.method, tt.path, r.status, r.header.Get(fieldPolicy), tt.wantPolicy)
		}
		if tt.wantPolicy == "" && (r.header.Get(fieldRateLimit) != "" || r.header.Get(fieldLimit) != "") {
			t.Errorf("%s %s: rate limit fields on an unlimited request", tt.method, tt.path)
		}
	}
}

func TestParseRate(t *testing.T) {
	tests := []struct {
		in      string
		want    Rate
		wantErr bool
	}{
		{"100/hour", Rate{Limit: 100, Period: time.Hour}, false},
		{"5/minute", Rate{Limit: 5, Period: time.Minute}, false},
		{"1/day", Rate{Limit: 1, Period: 24 * time.Hour}, false},
		{"1000000/second", Rate{Limit: 1000000, Period: time.Second}, false},
		{"1000001/second", Rate{}, true},
		{"0/hour", Rate{}, true},
		{"-1/hour", Rate{}, true},
		{"5/fortnight", Rate{}, true},
		{"5/Hour", Rate{}, true},
		{"5", Rate{}, true},
		{"/hour", Rate{}, true},
		{"1.5/hour", Rate{}, true},
		{"", Rate{}, true},
	}
	for _, tt := range tests {
		got, err := ParseRate(tt.in)
		if (err != nil) != tt.wantErr || got != tt.want {
			t.Errorf("ParseRate(%q) = %v, %v; want %v, err %v", tt.in, got, err, tt.want, tt.wantErr)
		}
		if err == nil && got.String() != tt.in {
			t.Errorf("Rate.String() = %q, want %q", got.String(), tt.in)
		}
	}
}

// FuzzParseRate: the rate comes from the upstream's key record; whatever it
// holds must neither panic nor yield a window the limiter refuses.
func FuzzParseRate(f *testing.F) {
	for _, s := range []string{"100/hour", "0/day", "1000000/second", "x/y", "9999999999999999999/day"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		r, err := ParseRate(s)
		if err != nil {
			return
		}
		if r.Limit < 1 || r.Limit > r.Period.Microseconds() {
			t.Fatalf("ParseRate(%q) = %+v", s, r)
		}
	})
}

func TestCompileErrors(t *testing.T) {
	tests := []struct {
		name string
		h    Handler
	}{
		{"bad default", Handler{Default: []string{"5/week"}}},
		{"reserved name", Handler{Rules: []*Rule{{Name: "per-key", Path: "/x", Rates: []string{"1/hour"}}}}},
		{"duplicate name", Handler{Rules: []*Rule{{Name: "a", Path: "/x", Rates: []string{"1/hour"}}, {Name: "a", Path: "/y", Rates: []string{"1/hour"}}}}},
		{"bad method", Handler{Rules: []*Rule{{Name: "a", Methods: []string{"G3T"}, Path: "/x", Rates: []string{"1/hour"}}}}},
		{"bad path", Handler{Rules: []*Rule{{Name: "a", Path: "x", Rates: []string{"1/hour"}}}}},
		{"no rates", Handler{Rules: []*Rule{{Name: "a", Path: "/x"}}}},
		{"bad per", Handler{Rules: []*Rule{{Name: "a", Path: "/x", Rates: []string{"1/hour"}, Per: "team"}}}},
		{"same period twice", Handler{Rules: []*Rule{{Name: "a", Path: "/x", Rates: []string{"1/hour", "2/hour"}}}}},
		{"bad name", Handler{Rules: []*Rule{{Name: "A b", Path: "/x", Rates: []string{"1/hour"}}}}},
	}
	for _, tt := range tests {
		if err := tt.h.compile(); err == nil {
			t.Errorf("%s: compiled", tt.name)
		}
	}
	h := Handler{Default: []string{"off"}}
	if err := h.compile(); err != nil {
		t.Fatal(err)
	}
	if err := h.Validate(); err == nil {
		t.Error("Validate accepted default off without rules")
	}
}
