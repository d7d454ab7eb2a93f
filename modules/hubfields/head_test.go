package hubfields

import (
	"net/http"
	"net/http/httptest"
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

// TestHeadLikeGet: without hub_etag in front, a HEAD with ?fields= carries
// the headers of the filtered GET (RFC 9110 §9.3.2) and no body.
func TestHeadLikeGet(t *testing.T) {
	tests := []struct {
		name     string
		target   string
		status   int
		body     string
		upstream string // method the upstream must see
		filtered bool   // the GET body is the selection
	}{
		{"object", "/api/v1/chantiers/1?fields=id,nom", 200, object, "GET", true},
		{"list", "/api/v1/chantiers?fields=nom", 200, list, "GET", true},
		{"404 untouched", "/api/v1/chantiers/9?fields=id", 404, `{"title":"nope"}`, "GET", false},
		{"no fields: not ours", "/api/v1/chantiers/1", 200, object, "HEAD", false},
		{"v2 deferred to hub_version", "/api/v2/chantiers/1?fields=id", 200, object, "HEAD", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			serve := func(method string) (*httptest.ResponseRecorder, string, string) {
				h := newHandler(t)
				req := caddyhttp.PrepareRequest(httptest.NewRequest(method, tt.target, nil), caddy.NewReplacer(), nil, nil)
				var sawMethod, signedFor string
				rec := httptest.NewRecorder()
				if err := h.ServeHTTP(rec, req, honestUpstream(tt.status, tt.body, nil, &sawMethod, &signedFor)); err != nil {
					t.Fatal(err)
				}
				return rec, sawMethod, signedFor
			}
			get, _, _ := serve(http.MethodGet)
			head, sawMethod, signedFor := serve(http.MethodHead)
			if sawMethod != tt.upstream {
				t.Fatalf("upstream saw %s, want %s", sawMethod, tt.upstream)
			}
			if head.Body.Len() != 0 || head.Code != get.Code {
				t.Fatalf("HEAD %d %q, GET %d", head.Code, head.Body, get.Code)
			}
			if tt.filtered != (get.Body.String() != tt.body) {
				t.Fatalf("GET body %s", get.Body)
			}
			if signedFor != sawMethod {
				t.Fatalf("assertion signed for %s, upstream asked %s", signedFor, sawMethod)
			}
			for _, k := range []string{"Content-Length", "ETag", "Content-Type"} {
				if g, h := get.Header().Get(k), head.Header().Get(k); g != h {
					t.Errorf("%s: HEAD %q, GET %q", k, h, g)
				}
			}
		})
	}
}
