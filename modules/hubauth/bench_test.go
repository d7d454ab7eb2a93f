package hubauth

import (
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/caddyserver/caddy/v2"
	"github.com/caddyserver/caddy/v2/modules/caddyhttp"
	"github.com/caddyserver/caddy/v2/modules/caddyhttp/headers"

	"github.com/hubchantier/hubgate/internal/assertion"
	"github.com/hubchantier/hubgate/modules/hub"
)

// BenchmarkWarmPath is hub_auth's warm path (the identity cached) up to the
// request leaving for the upstream, where header_up evaluates
// {hub.assertion}: for HEAD, an inner body transformer turns it into a GET
// first, as hub_etag does.
func BenchmarkWarmPath(b *testing.B) {
	proxyOps := headers.HeaderOps{Set: http.Header{
		"Accept-Encoding": {"identity"},
		assertion.Header:  {"{" + hub.AssertionPlaceholder + "}"},
	}}
	for _, method := range []string{http.MethodGet, http.MethodHead} {
		b.Run(method, func(b *testing.B) {
			h := newTestHandler(&testing.T{}, &fakeResolver{ident: keyIdentity("read")})
			next := caddyhttp.HandlerFunc(func(w http.ResponseWriter, r *http.Request) error {
				if r.Method == http.MethodHead {
					r2 := r.WithContext(r.Context())
					r2.Header = r.Header.Clone()
					hub.ForwardAsGet(r2)
					r = r2
				}
				// The proxy's header_up, as in the default Caddyfile, on its
				// own copy of the request.
				out := r.Clone(r.Context())
				proxyOps.ApplyToRequest(out)
				if out.Header.Get(assertion.Header) == "" {
					b.Fatal("no assertion")
				}
				return nil
			})
			b.ReportAllocs()
			for b.Loop() {
				w := httptest.NewRecorder()
				r := httptest.NewRequest(method, "/api/v1/chantiers", nil)
				r.Header.Set("X-API-Key", testKey)
				r = caddyhttp.PrepareRequest(r, caddy.NewReplacer(), w, nil)
				caddyhttp.SetVar(r.Context(), caddyhttp.ClientIPVarKey, "127.0.0.1")
				if err := h.ServeHTTP(w, r, next); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
