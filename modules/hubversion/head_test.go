package hubversion

import (
	"net/http"
	"net/http/httptest"
	"strconv"
	"testing"
	"time"

	"github.com/caddyserver/caddy/v2"
	"github.com/caddyserver/caddy/v2/modules/caddyhttp"

	"github.com/hubchantier/hubgate/internal/assertion"
	"github.com/hubchantier/hubgate/internal/testutil"
)

// honestUpstream answers like the real one (testutil.HonestUpstream).
var honestUpstream = testutil.HonestUpstream

// TestHeadLikeGet: without hub_etag in front, a v2 HEAD carries the headers
// of the translated GET (RFC 9110 §9.3.2) and no body.
func TestHeadLikeGet(t *testing.T) {
	secret := []byte("0123456789abcdef0123456789abcdef")
	now := time.Unix(1_800_000_000, 0)
	headToken, err := assertion.Sign(secret, assertion.Claims{Subject: "1", Method: assertion.MethodJWT, HTTPMethod: http.MethodHead}, now)
	if err != nil {
		t.Fatal(err)
	}
	const obj = `{"id":1,"nom":"A","date_debut":"2026-01-01"}`
	tests := []struct {
		name      string
		target    string
		status    int
		body      string
		hdr       map[string]string
		token     string
		secret    []byte
		converted bool // the HEAD went inward as GET
	}{
		{"object, anonymous", "/api/v2/chantiers/1", 200, obj, nil, "", nil, true},
		{"object, assertion re-signed", "/api/v2/chantiers/1", 200, obj, nil, headToken, secret, true},
		{"problem", "/api/v2/chantiers/9", 404, `{"type":"x","status":404,"errors":[{"field":"date_debut"}]}`,
			map[string]string{"Content-Type": "application/problem+json"}, "", nil, true},
		{"created with Location", "/api/v2/chantiers", 201, obj, map[string]string{"Location": "/api/v1/chantiers/1"}, "", nil, true},
		{"openapi", "/api/v2/openapi.json", 200, `{"openapi":"3.1.0","paths":{}}`, nil, "", nil, true},
		{"non-JSON", "/api/v2/chantiers/1", 200, "a,b", map[string]string{"Content-Type": "text/csv"}, "", nil, true},
		{"assertion without secret: length unknown", "/api/v2/chantiers/1", 200, obj, nil, headToken, nil, false},
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
				if err := h.ServeHTTP(rec, req, honestUpstream(tt.status, tt.body, tt.hdr, &sawMethod, &sawToken)); err != nil {
					t.Fatal(err)
				}
				return rec, sawMethod, sawToken
			}
			get, _, _ := serve(http.MethodGet)
			head, sawMethod, sawToken := serve(http.MethodHead)
			if head.Body.Len() != 0 {
				t.Fatalf("HEAD body %q", head.Body)
			}
			if head.Code != get.Code {
				t.Fatalf("HEAD %d, GET %d", head.Code, get.Code)
			}
			if !tt.converted {
				if sawMethod != http.MethodHead || head.Header().Get("Content-Length") != "" || head.Header().Get("ETag") != "" {
					t.Fatalf("fallback: upstream saw %s, Content-Length %q, ETag %q", sawMethod, head.Header().Get("Content-Length"), head.Header().Get("ETag"))
				}
				return
			}
			if sawMethod != http.MethodGet {
				t.Fatalf("upstream saw %s", sawMethod)
			}
			if tt.token != "" {
				if _, err := assertion.Verify(secret, sawToken, http.MethodGet, now); err != nil {
					t.Fatalf("assertion not bound to GET: %v", err)
				}
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
