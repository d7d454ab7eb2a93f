package hubauth

import (
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/caddyserver/caddy/v2"
	"github.com/caddyserver/caddy/v2/modules/caddyhttp"

	"github.com/hubchantier/hubgate/internal/headget"
)

// BenchmarkWarmPath is hub_auth's warm path (the identity cached) up to the
// request leaving for the upstream: for HEAD, an inner body transformer
// turns it into a GET, as hub_etag does.
func BenchmarkWarmPath(b *testing.B) {
	for _, method := range []string{http.MethodGet, http.MethodHead} {
		b.Run(method, func(b *testing.B) {
			h := newTestHandler(&testing.T{}, &fakeResolver{ident: keyIdentity("read")})
			next := caddyhttp.HandlerFunc(func(w http.ResponseWriter, r *http.Request) error {
				if r.Method == http.MethodHead {
					r2 := r.WithContext(r.Context())
					r2.Header = r.Header.Clone()
					if !headget.AsGet(r2, h.secret, h.now()) {
						b.Fatal("not re-signed")
					}
					r = r2
				}
				if r.Header.Get("X-Hub-Identity") == "" {
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
