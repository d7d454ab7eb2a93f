package hubfields

import (
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/caddyserver/caddy/v2"
	"github.com/caddyserver/caddy/v2/modules/caddyhttp"

	"github.com/hubchantier/hubgate/internal/assertion"
	"github.com/hubchantier/hubgate/internal/testutil"
)

// honestUpstream answers like the real one (testutil.HonestUpstream).
var honestUpstream = testutil.HonestUpstream

// TestHeadLikeGet: without hub_etag in front, a HEAD with ?fields= carries
// the headers of the filtered GET (RFC 9110 §9.3.2) and no body.
func TestHeadLikeGet(t *testing.T) {
	secret := []byte("0123456789abcdef0123456789abcdef")
	now := time.Unix(1_800_000_000, 0)
	headToken, err := assertion.Sign(secret, assertion.Claims{Subject: "1", Method: assertion.MethodJWT, HTTPMethod: http.MethodHead}, now)
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name      string
		target    string
		status    int
		body      string
		token     string
		secret    []byte
		upstream  string // method the upstream must see
		filtered  bool   // the GET body is the selection
		unknownCL bool   // fallback: no Content-Length on the HEAD
	}{
		{"object, anonymous", "/api/v1/chantiers/1?fields=id,nom", 200, object, "", nil, "GET", true, false},
		{"list, assertion re-signed", "/api/v1/chantiers?fields=nom", 200, list, headToken, secret, "GET", true, false},
		{"404 untouched", "/api/v1/chantiers/9?fields=id", 404, `{"title":"nope"}`, "", nil, "GET", false, false},
		{"assertion without secret: length unknown", "/api/v1/chantiers/1?fields=id", 200, object, headToken, nil, "HEAD", true, true},
		{"no fields: not ours", "/api/v1/chantiers/1", 200, object, "", nil, "HEAD", false, false},
		{"v2 deferred to hub_version", "/api/v2/chantiers/1?fields=id", 200, object, "", nil, "HEAD", false, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			serve := func(method string) (*httptest.ResponseRecorder, string, string) {
				h := newHandler(t)
				h.secret, h.now = tt.secret, func() time.Time { return now }
				req := caddyhttp.PrepareRequest(httptest.NewRequest(method, tt.target, nil), caddy.NewReplacer(), nil, nil)
				if tt.token != "" {
					req.Header.Set(assertion.Header, tt.token)
				}
				var sawMethod, sawToken string
				rec := httptest.NewRecorder()
				if err := h.ServeHTTP(rec, req, honestUpstream(tt.status, tt.body, nil, &sawMethod, &sawToken)); err != nil {
					t.Fatal(err)
				}
				return rec, sawMethod, sawToken
			}
			get, _, _ := serve(http.MethodGet)
			head, sawMethod, sawToken := serve(http.MethodHead)
			if sawMethod != tt.upstream {
				t.Fatalf("upstream saw %s, want %s", sawMethod, tt.upstream)
			}
			if head.Body.Len() != 0 || head.Code != get.Code {
				t.Fatalf("HEAD %d %q, GET %d", head.Code, head.Body, get.Code)
			}
			if tt.filtered != (get.Body.String() != tt.body) {
				t.Fatalf("GET body %s", get.Body)
			}
			if tt.token != "" && sawMethod == http.MethodGet {
				if _, err := assertion.Verify(secret, sawToken, http.MethodGet, now); err != nil {
					t.Fatalf("assertion not bound to GET: %v", err)
				}
			}
			if tt.unknownCL {
				if head.Header().Get("Content-Length") != "" || head.Header().Get("ETag") != "" {
					t.Fatalf("fallback: Content-Length %q, ETag %q", head.Header().Get("Content-Length"), head.Header().Get("ETag"))
				}
				return
			}
			for _, k := range []string{"Content-Length", "ETag", "Content-Type"} {
				if g, h := get.Header().Get(k), head.Header().Get(k); g != h {
					t.Errorf("%s: HEAD %q, GET %q", k, h, g)
				}
			}
		})
	}
}
