package headget

import (
	"context"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/caddyserver/caddy/v2/modules/caddyhttp"

	"github.com/hubchantier/hubgate/internal/assertion"
	"github.com/hubchantier/hubgate/internal/jsonx"
)

var (
	secret = []byte("0123456789abcdef0123456789abcdef")
	now    = time.Unix(1_800_000_000, 0)
)

func sign(t *testing.T, key []byte, method string) string {
	t.Helper()
	tok, err := assertion.Sign(key, assertion.Claims{Subject: "7", Role: "admin", Method: assertion.MethodAPIKey, HTTPMethod: method}, now)
	if err != nil {
		t.Fatal(err)
	}
	return tok
}

func TestInward(t *testing.T) {
	tests := []struct {
		name   string
		token  string // X-Hub-Identity sent, "" none
		secret []byte
		ok     bool
	}{
		{"anonymous, no assertion", "", nil, true},
		{"assertion re-signed for GET", sign(t, secret, http.MethodHead), secret, true},
		{"assertion but no secret", sign(t, secret, http.MethodHead), nil, false},
		{"assertion of another secret", sign(t, []byte("another-secret-another-secret-xx"), http.MethodHead), secret, false},
		{"assertion bound to GET already", sign(t, secret, http.MethodGet), secret, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := httptest.NewRequest(http.MethodHead, "/api/v2/chantiers/1", nil)
			if tt.token != "" {
				r.Header.Set(assertion.Header, tt.token)
			}
			g, ok := Inward(r, tt.secret, now)
			if ok != tt.ok {
				t.Fatalf("ok = %v, want %v", ok, tt.ok)
			}
			if r.Method != http.MethodHead || r.Header.Get(assertion.Header) != tt.token {
				t.Fatalf("the client's request was changed: %s %q", r.Method, r.Header.Get(assertion.Header))
			}
			if !ok {
				if g != r {
					t.Fatal("a refused HEAD must go inward unchanged")
				}
				return
			}
			if g.Method != http.MethodGet {
				t.Fatalf("inner method %s", g.Method)
			}
			if tt.token == "" {
				if g.Header.Get(assertion.Header) != "" {
					t.Fatal("an assertion appeared")
				}
				return
			}
			c, err := assertion.Verify(secret, g.Header.Get(assertion.Header), http.MethodGet, now)
			if err != nil || c.Subject != "7" || c.Role != "admin" || c.Method != assertion.MethodAPIKey {
				t.Fatalf("re-signed assertion: %+v, %v", c, err)
			}
		})
	}
}

type readerOnly struct{ *strings.Reader }

func TestDropBody(t *testing.T) {
	rec := httptest.NewRecorder()
	w := DropBody(rec)
	w.Header().Set("Content-Length", "11")
	w.WriteHeader(http.StatusOK)
	if n, err := w.Write([]byte("hello world")); n != 11 || err != nil {
		t.Fatalf("Write: %d %v", n, err)
	}
	if n, err := w.(bodyless).ReadFrom(readerOnly{strings.NewReader("more bytes")}); n != 10 || err != nil {
		t.Fatalf("ReadFrom: %d %v", n, err)
	}
	if rec.Code != http.StatusOK || rec.Header().Get("Content-Length") != "11" || rec.Body.Len() != 0 {
		t.Fatalf("got %d %v %q", rec.Code, rec.Header(), rec.Body.String())
	}
}

func TestUnknown(t *testing.T) {
	tests := []struct {
		name    string
		etag    string // the upstream's
		prior   string // hub.upstream_etag already set
		wantVar string
	}{
		{"tag moves to the variable", `"v1"`, "", `"v1"`},
		{"an earlier tag wins", `"v1"`, `"v0"`, `"v0"`},
		{"no tag", "", "", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := httptest.NewRequest(http.MethodHead, "/", nil)
			r = r.WithContext(context.WithValue(r.Context(), caddyhttp.VarsCtxKey, map[string]any{}))
			if tt.prior != "" {
				caddyhttp.SetVar(r.Context(), jsonx.UpstreamETagVar, tt.prior)
			}
			hdr := http.Header{"Content-Length": {"99"}, "Accept-Ranges": {"bytes"}, "Content-Type": {"application/json"}}
			if tt.etag != "" {
				hdr.Set("ETag", tt.etag)
			}
			Unknown(r, hdr)
			for _, k := range []string{"Content-Length", "ETag", "Accept-Ranges"} {
				if hdr.Get(k) != "" {
					t.Errorf("%s kept", k)
				}
			}
			if hdr.Get("Content-Type") != "application/json" {
				t.Error("Content-Type lost")
			}
			if v, _ := caddyhttp.GetVar(r.Context(), jsonx.UpstreamETagVar).(string); v != tt.wantVar {
				t.Errorf("%s = %q, want %q", jsonx.UpstreamETagVar, v, tt.wantVar)
			}
		})
	}
}
