package hubauth

import (
	"errors"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/caddyserver/caddy/v2"
	"github.com/caddyserver/caddy/v2/modules/caddyhttp"

	"github.com/hubchantier/hubgate/internal/assertion"
	"github.com/hubchantier/hubgate/modules/hub"
)

// TestAssertionAtProxyBoundary: hub_auth signs nothing itself; the
// assertion is made when the proxy evaluates {hub.assertion}, once, for
// the method the upstream is asked — GET for a HEAD an inner body
// transformer turned into a GET, with no signing in between.
func TestAssertionAtProxyBoundary(t *testing.T) {
	tests := []struct {
		name     string
		method   string
		asGet    bool   // an inner handler sends the HEAD upstream as a GET
		wantBind string // the method the assertion verifies for
	}{
		{"GET", http.MethodGet, false, http.MethodGet},
		{"HEAD sent as HEAD", http.MethodHead, false, http.MethodHead},
		{"HEAD sent as GET", http.MethodHead, true, http.MethodGet},
		{"DELETE", http.MethodDelete, false, http.MethodDelete},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := newTestHandler(t, &fakeResolver{ident: keyIdentity("read", "write")})
			w := httptest.NewRecorder()
			r := httptest.NewRequest(tt.method, "/api/v1/chantiers/1", nil)
			r.Header.Set("X-API-Key", testKey)
			r.Header.Set(assertion.Header, "forged")
			r = caddyhttp.PrepareRequest(r, caddy.NewReplacer(), w, nil)
			caddyhttp.SetVar(r.Context(), caddyhttp.ClientIPVarKey, "127.0.0.1")
			var sent []string
			next := caddyhttp.HandlerFunc(func(w http.ResponseWriter, r *http.Request) error {
				if v := r.Header.Values(assertion.Header); len(v) != 0 {
					t.Fatalf("an assertion before the proxy: %q", v)
				}
				if tt.asGet {
					r2 := r.WithContext(r.Context())
					r2.Header = r.Header.Clone()
					hub.ForwardAsGet(r2)
					r = r2
				}
				// Twice, as a proxy retry would: each attempt is signed.
				for range 2 {
					out := r.Clone(r.Context())
					proxyBoundary(out)
					sent = append(sent, out.Header.Get(assertion.Header))
				}
				return nil
			})
			if err := h.ServeHTTP(w, r, next); err != nil {
				t.Fatal(err)
			}
			for _, tok := range sent {
				c, err := assertion.Verify(testSecret, tok, tt.wantBind, time.Now())
				if err != nil {
					t.Fatalf("assertion for %s: %v", tt.wantBind, err)
				}
				if c.Subject != "user-1" || c.KeyID != "abcdef012345" || c.RequestID != w.Header().Get(hub.RequestIDHeader) {
					t.Fatalf("claims %+v", c)
				}
				other := http.MethodPost
				if _, err := assertion.Verify(testSecret, tok, other, time.Now()); !errors.Is(err, assertion.ErrBinding) {
					t.Fatalf("assertion verified for %s: %v", other, err)
				}
				if tt.asGet {
					if _, err := assertion.Verify(testSecret, tok, http.MethodHead, time.Now()); !errors.Is(err, assertion.ErrBinding) {
						t.Fatalf("a HEAD sent as GET carries a HEAD assertion: %v", err)
					}
				}
			}
		})
	}
}

// TestNoAssertionWithoutHubAuth: a request hub_auth never saw has no
// {hub.assertion}: the placeholder stays unknown (never an empty
// identity), and the upstream refuses what is not a valid assertion.
func TestNoAssertionWithoutHubAuth(t *testing.T) {
	repl := caddy.NewReplacer()
	r := caddyhttp.PrepareRequest(httptest.NewRequest(http.MethodGet, "/api/v1/chantiers", nil), repl, httptest.NewRecorder(), nil)
	if v, ok := repl.Get(hub.AssertionPlaceholder); ok {
		t.Fatalf("{%s} = %v without hub_auth", hub.AssertionPlaceholder, v)
	}
	proxyBoundary(r)
	if _, err := assertion.Verify(testSecret, r.Header.Get(assertion.Header), http.MethodGet, time.Now()); err == nil {
		t.Fatal("an assertion verifies without hub_auth")
	}
}
