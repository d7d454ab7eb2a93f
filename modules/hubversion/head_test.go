package hubversion

import (
	"net/http"
	"net/http/httptest"
	"strconv"
	"testing"

	"github.com/caddyserver/caddy/v2"
	"github.com/caddyserver/caddy/v2/modules/caddyhttp"

	"github.com/hubchantier/hubgate/internal/testutil"
	"github.com/hubchantier/hubgate/modules/hub"
)

// honestUpstream answers like the real one (testutil.HonestUpstream) and
// records the method it saw and the method the identity assertion is
// signed for at the proxy boundary ({hub.assertion}).
func honestUpstream(status int, body string, hdr map[string]string, method, signed *string) caddyhttp.Handler {
	return testutil.HonestUpstream(status, body, hdr, func(r *http.Request) {
		*method, *signed = r.Method, hub.UpstreamMethod(r)
	})
}

// TestHeadLikeGet: without hub_etag in front, a v2 HEAD carries the headers
// of the translated GET (RFC 9110 §9.3.2) and no body.
func TestHeadLikeGet(t *testing.T) {
	const obj = `{"id":1,"nom":"A","date_debut":"2026-01-01"}`
	tests := []struct {
		name   string
		target string
		status int
		body   string
		hdr    map[string]string
	}{
		{"object", "/api/v2/chantiers/1", 200, obj, nil},
		{"problem", "/api/v2/chantiers/9", 404, `{"type":"x","status":404,"errors":[{"field":"date_debut"}]}`,
			map[string]string{"Content-Type": "application/problem+json"}},
		{"created with Location", "/api/v2/chantiers", 201, obj, map[string]string{"Location": "/api/v1/chantiers/1"}},
		{"openapi", "/api/v2/openapi.json", 200, `{"openapi":"3.1.0","paths":{}}`, nil},
		{"non-JSON", "/api/v2/chantiers/1", 200, "a,b", map[string]string{"Content-Type": "text/csv"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			serve := func(method string) (*httptest.ResponseRecorder, string, string) {
				h := newHandler(t)
				req := caddyhttp.PrepareRequest(httptest.NewRequest(method, tt.target, nil), caddy.NewReplacer(), nil, nil)
				var sawMethod, signedFor string
				rec := httptest.NewRecorder()
				if err := h.ServeHTTP(rec, req, honestUpstream(tt.status, tt.body, tt.hdr, &sawMethod, &signedFor)); err != nil {
					t.Fatal(err)
				}
				return rec, sawMethod, signedFor
			}
			get, _, _ := serve(http.MethodGet)
			head, sawMethod, signedFor := serve(http.MethodHead)
			if head.Body.Len() != 0 {
				t.Fatalf("HEAD body %q", head.Body)
			}
			if head.Code != get.Code {
				t.Fatalf("HEAD %d, GET %d", head.Code, get.Code)
			}
			if sawMethod != http.MethodGet {
				t.Fatalf("upstream saw %s", sawMethod)
			}
			if signedFor != http.MethodGet {
				t.Fatalf("assertion signed for %s, not GET", signedFor)
			}
			if cl := get.Header().Get("Content-Length"); cl != strconv.Itoa(get.Body.Len()) {
				t.Fatalf("GET Content-Length %q for %d bytes", cl, get.Body.Len())
			}
			for _, k := range []string{"Content-Length", "ETag", "Content-Type", "Location"} {
				if g, h := get.Header().Get(k), head.Header().Get(k); g != h {
					t.Errorf("%s: HEAD %q, GET %q", k, h, g)
				}
			}
		})
	}
}
