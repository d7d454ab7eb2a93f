package hubcors

import (
	"crypto/tls"
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/caddyserver/caddy/v2/modules/caddyhttp"
)

func newHandler(t *testing.T, h *Handler) *Handler {
	t.Helper()
	if err := h.compile(); err != nil {
		t.Fatal(err)
	}
	return h
}

type next struct {
	calls  atomic.Int64
	header map[string]string
	status int
	err    error
}

func (n *next) ServeHTTP(w http.ResponseWriter, r *http.Request) error {
	n.calls.Add(1)
	if n.err != nil {
		return n.err
	}
	for k, v := range n.header {
		w.Header().Set(k, v)
	}
	if n.status != 0 {
		w.WriteHeader(n.status)
	}
	_, _ = w.Write([]byte("{}"))
	return nil
}

func serve(t *testing.T, h *Handler, n caddyhttp.Handler, r *http.Request) *httptest.ResponseRecorder {
	t.Helper()
	w := httptest.NewRecorder()
	if err := h.ServeHTTP(w, r, n); err != nil && !errors.Is(err, errBoom) {
		t.Fatal(err)
	}
	return w
}

var errBoom = errors.New("boom")

func preflight(origin, method, headers string) *http.Request {
	r := httptest.NewRequest(http.MethodOptions, "/api/v1/things", nil)
	r.Header.Set("Origin", origin)
	r.Header.Set("Access-Control-Request-Method", method)
	if headers != "" {
		r.Header.Set("Access-Control-Request-Headers", headers)
	}
	return r
}

func TestPreflight(t *testing.T) {
	h := newHandler(t, &Handler{Origins: []string{"https://app.example"}, Credentials: true})
	n := &next{}
	w := serve(t, h, n, preflight("https://app.example", "PATCH", "Authorization, Idempotency-Key, content-type"))
	if w.Code != 204 || w.Header().Get("Access-Control-Allow-Origin") != "https://app.example" ||
		w.Header().Get("Access-Control-Allow-Credentials") != "true" || w.Header().Get("Access-Control-Max-Age") != "600" ||
		!strings.Contains(w.Header().Get("Access-Control-Allow-Methods"), "PATCH") ||
		!strings.Contains(w.Header().Get("Access-Control-Allow-Headers"), "Idempotency-Key") {
		t.Fatalf("listed origin: %d %v", w.Code, w.Header())
	}
	for name, r := range map[string]*http.Request{
		"unlisted origin": preflight("https://evil.example", "GET", ""),
		"method":          preflight("https://app.example", "PROPFIND", ""),
		"header":          preflight("https://app.example", "GET", "X-Hub-Identity"),
	} {
		w := serve(t, h, n, r)
		if w.Code != 403 || w.Header().Get("Access-Control-Allow-Origin") != "" ||
			w.Header().Get("Access-Control-Allow-Credentials") != "" ||
			w.Header().Get("Content-Type") != "application/problem+json" ||
			!strings.Contains(w.Body.String(), "cors-preflight-refused") {
			t.Fatalf("%s: %d %v %s", name, w.Code, w.Header(), w.Body)
		}
		if !strings.Contains(strings.Join(w.Header().Values("Vary"), ","), "Origin") || w.Header().Get("X-Content-Type-Options") != "nosniff" {
			t.Fatalf("%s: Vary/security headers missing: %v", name, w.Header())
		}
	}
	if n.calls.Load() != 0 {
		t.Fatal("a preflight went past the gateway's CORS handler")
	}
}

func TestActualRequests(t *testing.T) {
	h := newHandler(t, &Handler{Origins: []string{"https://app.example"}})
	r := httptest.NewRequest(http.MethodGet, "/api/v1/things", nil)
	r.Header.Set("Origin", "https://app.example")
	w := serve(t, h, &next{header: map[string]string{"Vary": "Accept-Encoding"}}, r)
	if w.Header().Get("Access-Control-Allow-Origin") != "https://app.example" || w.Header().Get("Access-Control-Allow-Credentials") != "" ||
		!strings.Contains(w.Header().Get("Access-Control-Expose-Headers"), "RateLimit") {
		t.Fatalf("listed: %v", w.Header())
	}
	if v := strings.Join(w.Header().Values("Vary"), ","); !strings.Contains(v, "Origin") {
		t.Fatalf("Vary %q lost Origin after the upstream replaced it", v)
	}
	r.Header.Set("Origin", "https://evil.example")
	w = serve(t, h, &next{}, r)
	if w.Code != 200 || w.Header().Get("Access-Control-Allow-Origin") != "" || w.Header().Get("Access-Control-Expose-Headers") != "" || w.Header().Get("Vary") != "Origin" {
		t.Fatalf("unlisted: %v", w.Header())
	}
	// No origins configured: no CORS header at all, Vary untouched, and
	// a preflight is refused at the gateway.
	none := newHandler(t, &Handler{})
	r.Header.Set("Origin", "https://app.example")
	w = serve(t, none, &next{}, r)
	for k := range w.Header() {
		if strings.HasPrefix(k, "Access-Control-") || k == "Vary" {
			t.Fatalf("no origins, yet %s: %v", k, w.Header())
		}
	}
	if w = serve(t, none, &next{}, preflight("https://app.example", "GET", "")); w.Code != 403 {
		t.Fatalf("no origins, preflight: %d", w.Code)
	}
}

func TestSecurityHeaders(t *testing.T) {
	h := newHandler(t, &Handler{})
	r := httptest.NewRequest(http.MethodGet, "/x", nil)
	for name, n := range map[string]*next{
		"200":             {},
		"304":             {status: 304},
		"401":             {status: 401},
		"error (later)":   {err: errBoom},
		"nothing written": nil,
	} {
		var nh caddyhttp.Handler = caddyhttp.HandlerFunc(func(http.ResponseWriter, *http.Request) error { return nil })
		if n != nil {
			nh = n
		}
		w := serve(t, h, nh, r)
		if w.Header().Get("X-Content-Type-Options") != "nosniff" || w.Header().Get("Referrer-Policy") != "no-referrer" ||
			w.Header().Get("Strict-Transport-Security") != "" {
			t.Fatalf("%s: %v", name, w.Header())
		}
	}
	// The upstream's stricter choice is kept.
	w := serve(t, h, &next{header: map[string]string{"Referrer-Policy": "same-origin", "X-Content-Type-Options": "nosniff"}}, r)
	if got := w.Header().Values("Referrer-Policy"); len(got) != 1 || got[0] != "same-origin" || len(w.Header().Values("X-Content-Type-Options")) != 1 {
		t.Fatalf("upstream's headers clobbered: %v", w.Header())
	}
	// HSTS over TLS only.
	rt := httptest.NewRequest(http.MethodGet, "https://gw.example/x", nil)
	rt.TLS = &tls.ConnectionState{}
	if w := serve(t, h, &next{}, rt); w.Header().Get("Strict-Transport-Security") != DefaultHSTS {
		t.Fatalf("TLS: %v", w.Header())
	}
}

func TestOrigins(t *testing.T) {
	for _, o := range []string{"https://app.example", "http://localhost:5173", "https://[::1]:8443"} {
		if err := checkOrigin(o); err != nil {
			t.Errorf("%s: %v", o, err)
		}
	}
	for _, o := range []string{"*", "null", "app.example", "https://app.example/", "https://app.example/x", "ftp://a.example", "https://u@a.example"} {
		if err := checkOrigin(o); err == nil {
			t.Errorf("%s accepted", o)
		}
	}
}
