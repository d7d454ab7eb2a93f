package integration

import (
	"net/http"
	"strings"
	"testing"
)

// preflight sends a browser's CORS preflight through the gateway.
func (s *stack) preflight(path, origin, method, headers string) response {
	s.t.Helper()
	h := []string{"Origin", origin, "Access-Control-Request-Method", method}
	if headers != "" {
		h = append(h, "Access-Control-Request-Headers", headers)
	}
	return s.gwDo(http.MethodOptions, path, nil, h...)
}

// wantSecurityHeaders fails unless r carries the security headers once.
func wantSecurityHeaders(t *testing.T, what string, r response) {
	t.Helper()
	if v := r.header.Values("X-Content-Type-Options"); len(v) != 1 || v[0] != "nosniff" {
		t.Errorf("%s (%d): X-Content-Type-Options %q", what, r.status, v)
	}
	if v := r.header.Values("Referrer-Policy"); len(v) != 1 || v[0] != "no-referrer" {
		t.Errorf("%s (%d): Referrer-Policy %q", what, r.status, v)
	}
	if v := r.header.Get("Strict-Transport-Security"); v != "" {
		t.Errorf("%s (%d): HSTS over plain HTTP: %q", what, r.status, v)
	}
}

func varyHas(r response, name string) bool {
	for _, v := range r.header.Values("Vary") {
		for _, f := range strings.Split(v, ",") {
			if strings.EqualFold(strings.TrimSpace(f), name) {
				return true
			}
		}
	}
	return false
}

// TestCORSE2E: the shipped Caddyfile with HUB_CORS_ORIGINS: preflights
// from a listed origin answered at the gateway (no 401, no rate limit),
// refused from another, credentials and Vary: Origin, and the security
// headers on a 401, a 404, a 304 and a 200 — the upstream's own kept.
func TestCORSE2E(t *testing.T) {
	const app = "https://app.example"
	s, auth := batchStack(t, backends[0], "HUB_CORS_ORIGINS="+app+" http://localhost:5173", "HUB_CORS_CREDENTIALS=on")

	r := s.preflight("/api/v1/chantiers", app, "POST", "Authorization, Content-Type, Idempotency-Key")
	if r.status != 204 || r.header.Get("Access-Control-Allow-Origin") != app ||
		r.header.Get("Access-Control-Allow-Credentials") != "true" || r.header.Get("Access-Control-Max-Age") != "600" ||
		!strings.Contains(r.header.Get("Access-Control-Allow-Headers"), "Idempotency-Key") || !varyHas(r, "Origin") {
		t.Fatalf("preflight from a listed origin: %d %v %s", r.status, r.header, r.body)
	}
	if r.header.Get("WWW-Authenticate") != "" || r.header.Get("RateLimit") != "" || r.header.Get("X-RateLimit-Limit") != "" {
		t.Fatalf("the preflight met hub_auth or hub_rate_limit: %v", r.header)
	}
	wantSecurityHeaders(t, "preflight", r)
	for name, r := range map[string]response{
		"unlisted origin": s.preflight("/api/v1/chantiers", "https://evil.example", "GET", ""),
		"unlisted method": s.preflight("/api/v1/chantiers", app, "TRACE", ""),
		"identity header": s.preflight("/api/v1/chantiers", app, "GET", "X-Hub-Identity"),
	} {
		wantProblem(t, name, r, 403, "cors-preflight-refused")
		if r.header.Get("Access-Control-Allow-Origin") != "" || r.header.Get("Access-Control-Allow-Credentials") != "" {
			t.Fatalf("%s: CORS headers on a refused preflight: %v", name, r.header)
		}
	}

	// A 401 from a listed origin: readable by the page, security headers.
	r = s.gwDo("GET", "/api/v1/chantiers", nil, "Origin", app)
	if r.status != 401 || r.header.Get("Access-Control-Allow-Origin") != app || r.header.Get("Access-Control-Allow-Credentials") != "true" ||
		!strings.Contains(r.header.Get("Access-Control-Expose-Headers"), "RateLimit") || !varyHas(r, "Origin") {
		t.Fatalf("401 from a listed origin: %d %v", r.status, r.header)
	}
	wantSecurityHeaders(t, "401", r)

	// 200 and 304 from a listed origin; the same from an unlisted one has
	// no CORS header but still Vary: Origin.
	const one = "/api/v1/chantiers/1"
	ok := s.gwDo("GET", one, nil, with(auth, "Origin", app)...)
	if ok.status != 200 || ok.header.Get("Access-Control-Allow-Origin") != app || !varyHas(ok, "Origin") {
		t.Fatalf("200: %d %v", ok.status, ok.header)
	}
	wantSecurityHeaders(t, "200", ok)
	nm := s.gwDo("GET", one, nil, with(auth, "Origin", app, "If-None-Match", ok.header.Get("ETag"))...)
	if nm.status != 304 || nm.header.Get("Access-Control-Allow-Origin") != app || !varyHas(nm, "Origin") {
		t.Fatalf("304: %d %v", nm.status, nm.header)
	}
	wantSecurityHeaders(t, "304", nm)
	other := s.gwDo("GET", one, nil, with(auth, "Origin", "https://evil.example")...)
	if other.status != 200 || other.header.Get("Access-Control-Allow-Origin") != "" || other.header.Get("Access-Control-Allow-Credentials") != "" || !varyHas(other, "Origin") {
		t.Fatalf("unlisted origin: %d %v", other.status, other.header)
	}

	// 404s: the upstream's and the gateway's own (/internal/*).
	for _, p := range []string{"/api/v1/chantiers/999999", "/internal/introspect"} {
		nf := s.gwDo("GET", p, nil, auth...)
		if nf.status != 404 {
			t.Fatalf("%s: %d", p, nf.status)
		}
		wantSecurityHeaders(t, p, nf)
	}

	// The upstream's own security headers (the OAuth pages' CSP and
	// Referrer-Policy) are kept, not doubled.
	page := s.gwDo("GET", "/oauth/authorize", nil)
	if page.header.Get("Content-Security-Policy") == "" {
		t.Logf("no CSP on /oauth/authorize (%d): upstream kept-headers check skipped", page.status)
	} else {
		wantSecurityHeaders(t, "/oauth/authorize", page)
	}
}

// TestCORSDefaultE2E: without HUB_CORS_ORIGINS no CORS header is sent at
// all, preflights are refused at the gateway, security headers are there.
func TestCORSDefaultE2E(t *testing.T) {
	s := newStack(t, backends[0])
	r := s.gwDo("GET", "/healthz", nil, "Origin", "https://app.example")
	for k := range r.header {
		if strings.HasPrefix(k, "Access-Control-") {
			t.Fatalf("default config sent %s: %v", k, r.header)
		}
	}
	if varyHas(r, "Origin") {
		t.Fatalf("Vary: Origin without any origin listed: %v", r.header)
	}
	wantSecurityHeaders(t, "healthz", r)
	wantProblem(t, "preflight, no origins", s.preflight("/api/v1/chantiers", "https://app.example", "GET", ""), 403, "cors-preflight-refused")
}
