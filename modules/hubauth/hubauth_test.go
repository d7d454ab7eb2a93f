package hubauth

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/caddyserver/caddy/v2"
	"github.com/caddyserver/caddy/v2/modules/caddyhttp"
	"go.uber.org/zap"

	"github.com/hubchantier/hubgate/internal/assertion"
	"github.com/hubchantier/hubgate/internal/problem"
	"github.com/hubchantier/hubgate/modules/hub"
)

var testSecret = bytes.Repeat([]byte("s"), 32)

const (
	testKey = "hbc_abcdef012345_AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA"
	testJWT = "eyJhbGciOiJFUzI1NiJ9.eyJzdWIiOiJ1In0.c2ln"
)

// fakeResolver records which method the handler asked and answers with a
// fixed identity or error.
type fakeResolver struct {
	ident *hub.Identity
	err   error

	calls    int
	kind     string // "api_key" or "jwt"
	cred     string
	gotReqOK bool
}

func (f *fakeResolver) APIKeyFor(r *http.Request, key string) (*hub.Identity, error) {
	return f.answer(r, "api_key", key)
}

func (f *fakeResolver) JWTFor(r *http.Request, token string) (*hub.Identity, error) {
	return f.answer(r, "jwt", token)
}

func (f *fakeResolver) answer(r *http.Request, kind, cred string) (*hub.Identity, error) {
	f.calls++
	f.kind, f.cred, f.gotReqOK = kind, cred, r != nil
	if f.err != nil {
		return nil, f.err
	}
	if f.ident == nil {
		return nil, errors.New("fakeResolver: no identity configured")
	}
	return f.ident, nil
}

func keyIdentity(scopes ...string) *hub.Identity {
	return &hub.Identity{
		Subject: "user-1",
		Role:    "conducteur",
		Method:  assertion.MethodAPIKey,
		KeyID:   "abcdef012345",
		Scopes:  scopes,
	}
}

// testRules mirror the shipped Caddyfile, plus a rule with explicit scopes.
func testRules() []*Rule {
	return []*Rule{
		{Route: hub.Route{Methods: []string{"POST"}, Path: "/api/auth/login"}, Public: true},
		{Route: hub.Route{Path: "/oauth/*"}, Public: true},
		{Route: hub.Route{Methods: []string{"GET"}, Path: "/healthz"}, Public: true},
		{Route: hub.Route{Methods: []string{"GET"}, Path: "/api/v1/reports"}, Scopes: []string{"reports:read"}},
		{Route: hub.Route{Path: "/api/auth/*"}},
	}
}

func newTestHandler(t *testing.T, res credentialResolver) *Handler {
	t.Helper()
	h := &Handler{
		Rules:            testRules(),
		ResourcePrefixes: DefaultResourcePrefixes,
		Realm:            "hubgate",
		resolver:         res,
		secret:           testSecret,
		log:              zap.NewNop(),
		now:              time.Now,
	}
	for _, r := range h.Rules {
		if err := r.compile(); err != nil {
			t.Fatalf("compile %s: %v", r.Path, err)
		}
	}
	return h
}

// result is what one ServeHTTP call produced.
type result struct {
	rec     *httptest.ResponseRecorder
	err     error
	next    *http.Request // the request next saw; nil if next was not called
	repl    *caddy.Replacer
	problem map[string]any
}

// serve runs the handler on a request prepared like Caddy's server does,
// with clientIP as the client_ip variable.
func serve(t *testing.T, h *Handler, method, target string, hdr http.Header, clientIP string) result {
	t.Helper()
	w := httptest.NewRecorder()
	r := httptest.NewRequest(method, target, nil)
	for k, v := range hdr {
		r.Header[k] = v
	}
	repl := caddy.NewReplacer()
	r = caddyhttp.PrepareRequest(r, repl, w, nil)
	caddyhttp.SetVar(r.Context(), caddyhttp.ClientIPVarKey, clientIP)

	res := result{rec: w, repl: repl}
	next := caddyhttp.HandlerFunc(func(w http.ResponseWriter, r *http.Request) error {
		res.next = r
		w.WriteHeader(http.StatusNoContent)
		return nil
	})
	res.err = h.ServeHTTP(w, r, next)
	if ct := w.Header().Get("Content-Type"); ct == problem.ContentType && method != http.MethodHead {
		if err := json.Unmarshal(w.Body.Bytes(), &res.problem); err != nil {
			t.Fatalf("problem body %q: %v", w.Body.String(), err)
		}
	}
	return res
}

func header(kv ...string) http.Header {
	h := http.Header{}
	for i := 0; i+1 < len(kv); i += 2 {
		h.Add(kv[i], kv[i+1])
	}
	return h
}

// TestRejections covers every refusal: status, challenge, problem type, and
// that next never runs.
func TestRejections(t *testing.T) {
	invalid := func(desc string) string {
		return `Bearer realm="hubgate", error="invalid_token", error_description="` + desc + `"`
	}
	tests := []struct {
		name          string
		method        string
		path          string
		hdr           http.Header
		clientIP      string
		ident         *hub.Identity
		resErr        error
		wantStatus    int
		wantChallenge string // exact WWW-Authenticate; "" means absent
		wantType      string
		wantCalls     int
		wantRetry     string
	}{
		{
			name: "no credentials", method: "GET", path: "/api/v1/chantiers",
			wantStatus: 401, wantChallenge: `Bearer realm="hubgate"`, wantType: "unauthenticated",
		},
		{
			name: "no credentials on an authenticated rule", method: "GET", path: "/api/auth/keys",
			wantStatus: 401, wantChallenge: `Bearer realm="hubgate"`, wantType: "unauthenticated",
		},
		{
			name: "public rule for another method", method: "GET", path: "/api/auth/login",
			wantStatus: 401, wantChallenge: `Bearer realm="hubgate"`, wantType: "unauthenticated",
		},
		{
			name: "other auth scheme counts as none", method: "GET", path: "/api/v1/chantiers",
			hdr:        header("Authorization", "Basic dXNlcjpwYXNz"),
			wantStatus: 401, wantChallenge: `Bearer realm="hubgate"`, wantType: "unauthenticated",
		},
		{
			name: "blank X-API-Key counts as none", method: "GET", path: "/api/v1/chantiers",
			hdr:        header("X-API-Key", "   "),
			wantStatus: 401, wantChallenge: `Bearer realm="hubgate"`, wantType: "unauthenticated",
		},
		{
			name: "Authorization and X-API-Key", method: "GET", path: "/api/v1/chantiers",
			hdr:        header("Authorization", "Bearer "+testKey, "X-API-Key", testKey),
			wantStatus: 400, wantType: "invalid-request",
			wantChallenge: `Bearer realm="hubgate", error="invalid_request", error_description="use one authentication method"`,
		},
		{
			name: "Basic and X-API-Key", method: "GET", path: "/api/v1/chantiers",
			hdr:        header("Authorization", "Basic eDp5", "X-API-Key", testKey),
			wantStatus: 400, wantType: "invalid-request",
			wantChallenge: `Bearer realm="hubgate", error="invalid_request", error_description="use one authentication method"`,
		},
		{
			name: "empty bearer token", method: "GET", path: "/api/v1/chantiers",
			hdr:        header("Authorization", "Bearer    "),
			wantStatus: 401, wantType: "invalid-token", wantChallenge: invalid("the credential is malformed"),
		},
		{
			name: "unknown key", method: "GET", path: "/api/v1/chantiers",
			hdr: header("Authorization", "Bearer "+testKey), resErr: hub.ErrUnknown, wantCalls: 1,
			wantStatus: 401, wantType: "invalid-token", wantChallenge: invalid("the credential is not valid"),
		},
		{
			name: "expired key", method: "GET", path: "/api/v1/chantiers",
			hdr: header("X-API-Key", testKey), resErr: hub.ErrExpired, wantCalls: 1,
			wantStatus: 401, wantType: "invalid-token", wantChallenge: invalid("the credential has expired"),
		},
		{
			name: "revoked token", method: "GET", path: "/api/v1/chantiers",
			hdr: header("Authorization", "Bearer "+testJWT), resErr: hub.ErrRevoked, wantCalls: 1,
			wantStatus: 401, wantType: "invalid-token", wantChallenge: invalid("the credential has been revoked"),
		},
		{
			name: "wrapped revocation", method: "GET", path: "/api/v1/chantiers",
			hdr: header("Authorization", "Bearer "+testJWT), resErr: fmt.Errorf("jwt: %w", hub.ErrRevoked), wantCalls: 1,
			wantStatus: 401, wantType: "invalid-token", wantChallenge: invalid("the credential has been revoked"),
		},
		{
			name: "malformed key", method: "GET", path: "/api/v1/chantiers",
			hdr: header("Authorization", "Bearer hbc_short"), resErr: hub.ErrMalformed, wantCalls: 1,
			wantStatus: 401, wantType: "invalid-token", wantChallenge: invalid("the credential is malformed"),
		},
		{
			name: "unexpected resolver error", method: "GET", path: "/api/v1/chantiers",
			hdr: header("Authorization", "Bearer "+testJWT), resErr: errors.New("boom"), wantCalls: 1,
			wantStatus: 401, wantType: "invalid-token", wantChallenge: invalid("the credential is not valid"),
		},
		{
			name: "resolver unavailable", method: "GET", path: "/api/v1/chantiers",
			hdr: header("Authorization", "Bearer "+testKey), resErr: fmt.Errorf("introspect: %w", hub.ErrUnavailable), wantCalls: 1,
			wantStatus: 503, wantType: "upstream-unavailable", wantRetry: "5",
		},
		{
			name: "read scope missing", method: "GET", path: "/api/v1/chantiers",
			hdr: header("X-API-Key", testKey), ident: keyIdentity("taches:read"), wantCalls: 1,
			wantStatus: 403, wantType: "insufficient-scope",
			wantChallenge: `Bearer realm="hubgate", error="insufficient_scope", scope="read chantiers:read chantiers:*"`,
		},
		{
			name: "write scope missing", method: "POST", path: "/api/v1/chantiers",
			hdr: header("X-API-Key", testKey), ident: keyIdentity("read", "chantiers:read"), wantCalls: 1,
			wantStatus: 403, wantType: "insufficient-scope",
			wantChallenge: `Bearer realm="hubgate", error="insufficient_scope", scope="write chantiers:write chantiers:*"`,
		},
		{
			name: "admin scope missing", method: "GET", path: "/api/v1/admin/users",
			hdr: header("X-API-Key", testKey), ident: keyIdentity("read", "write", "admin:*"), wantCalls: 1,
			wantStatus: 403, wantType: "insufficient-scope",
			wantChallenge: `Bearer realm="hubgate", error="insufficient_scope", scope="admin"`,
		},
		{
			name: "rule scopes replace derived scopes", method: "GET", path: "/api/v1/reports",
			hdr: header("X-API-Key", testKey), ident: keyIdentity("read", "reports:write"), wantCalls: 1,
			wantStatus: 403, wantType: "insufficient-scope",
			wantChallenge: `Bearer realm="hubgate", error="insufficient_scope", scope="reports:read"`,
		},
		{
			name: "identity without scopes", method: "DELETE", path: "/api/v1/chantiers/1",
			hdr: header("Authorization", "Bearer "+testJWT), ident: &hub.Identity{Subject: "u", Method: assertion.MethodJWT}, wantCalls: 1,
			wantStatus: 403, wantType: "insufficient-scope",
			wantChallenge: `Bearer realm="hubgate", error="insufficient_scope", scope="write chantiers:write chantiers:*"`,
		},
		{
			name: "IP not in allowlist", method: "GET", path: "/api/v1/chantiers", clientIP: "192.0.2.7",
			hdr: header("X-API-Key", testKey), ident: withIPs(keyIdentity("read"), "10.0.0.0/8", "2001:db8::/32"), wantCalls: 1,
			wantStatus: 403, wantType: "ip-not-allowed",
		},
		{
			name: "IPv6 not in allowlist", method: "GET", path: "/api/v1/chantiers", clientIP: "2001:db9::1",
			hdr: header("X-API-Key", testKey), ident: withIPs(keyIdentity("read"), "10.0.0.0/8", "2001:db8::/32"), wantCalls: 1,
			wantStatus: 403, wantType: "ip-not-allowed",
		},
		{
			name: "unknown client IP with an allowlist", method: "GET", path: "/api/v1/chantiers", clientIP: "",
			hdr: header("X-API-Key", testKey), ident: withIPs(keyIdentity("read"), "0.0.0.0/0"), wantCalls: 1,
			wantStatus: 403, wantType: "ip-not-allowed",
		},
		{
			// The allowlist is checked before scopes: a stolen key used
			// from elsewhere learns nothing about what it may do.
			name: "IP check precedes scope check", method: "POST", path: "/api/v1/chantiers", clientIP: "192.0.2.7",
			hdr: header("X-API-Key", testKey), ident: withIPs(keyIdentity("read"), "10.0.0.0/8"), wantCalls: 1,
			wantStatus: 403, wantType: "ip-not-allowed",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			fr := &fakeResolver{ident: tt.ident, err: tt.resErr}
			h := newTestHandler(t, fr)
			ip := tt.clientIP
			if ip == "" && !strings.Contains(tt.name, "unknown client IP") {
				ip = "127.0.0.1"
			}
			res := serve(t, h, tt.method, tt.path, tt.hdr, ip)

			if res.err != nil {
				t.Fatalf("ServeHTTP returned %v; rejections are written, not returned", res.err)
			}
			if res.next != nil {
				t.Fatal("next was called on a rejected request")
			}
			if fr.calls != tt.wantCalls {
				t.Fatalf("resolver called %d times, want %d", fr.calls, tt.wantCalls)
			}
			if res.rec.Code != tt.wantStatus {
				t.Fatalf("status = %d, want %d (body %s)", res.rec.Code, tt.wantStatus, res.rec.Body)
			}
			if got := res.rec.Header().Get("WWW-Authenticate"); got != tt.wantChallenge {
				t.Errorf("WWW-Authenticate = %q, want %q", got, tt.wantChallenge)
			}
			if got := res.rec.Header().Get("Retry-After"); got != tt.wantRetry {
				t.Errorf("Retry-After = %q, want %q", got, tt.wantRetry)
			}
			if got := res.rec.Header().Get("Content-Type"); got != problem.ContentType {
				t.Fatalf("Content-Type = %q, want %q", got, problem.ContentType)
			}
			if got := res.problem["type"]; got != problem.TypePrefix+tt.wantType {
				t.Errorf("problem type = %v, want %s", got, problem.TypePrefix+tt.wantType)
			}
			if got := res.problem["status"]; got != float64(tt.wantStatus) {
				t.Errorf("problem status = %v, want %d", got, tt.wantStatus)
			}
			if got := res.problem["instance"]; got != tt.path {
				t.Errorf("problem instance = %v, want %s", got, tt.path)
			}
			if tt.wantType == "insufficient-scope" {
				if _, ok := res.problem["required_scopes"].([]any); !ok {
					t.Errorf("problem lacks required_scopes: %v", res.problem)
				}
			}
			if id := res.rec.Header().Get(hub.RequestIDHeader); !hub.ValidRequestID(id) {
				t.Errorf("response X-Request-Id = %q, want a valid id", id)
			}
			// Nothing secret goes into the answer.
			body := res.rec.Body.String()
			for _, secret := range []string{testKey, testJWT} {
				if strings.Contains(body, secret) || strings.Contains(res.rec.Header().Get("WWW-Authenticate"), secret) {
					t.Errorf("response echoes the credential: %s", body)
				}
			}
		})
	}
}

func withIPs(id *hub.Identity, prefixes ...string) *hub.Identity {
	for _, p := range prefixes {
		id.IPAllow = append(id.IPAllow, netip.MustParsePrefix(p))
	}
	return id
}

// TestCredentialRouting checks which resolver method sees which credential.
func TestCredentialRouting(t *testing.T) {
	tests := []struct {
		name     string
		hdr      http.Header
		wantKind string
		wantCred string
	}{
		{"bearer API key", header("Authorization", "Bearer "+testKey), "api_key", testKey},
		{"lower-case scheme", header("Authorization", "bearer "+testKey), "api_key", testKey},
		{"upper-case scheme", header("Authorization", "BEARER "+testKey), "api_key", testKey},
		{"padded bearer API key", header("Authorization", "Bearer   "+testKey+"  "), "api_key", testKey},
		{"malformed key with prefix", header("Authorization", "Bearer hbc_x"), "api_key", "hbc_x"},
		{"X-API-Key", header("X-API-Key", testKey), "api_key", testKey},
		{"padded X-API-Key", header("X-API-Key", "  "+testKey+" "), "api_key", testKey},
		{"X-API-Key without prefix", header("X-API-Key", "opaque"), "api_key", "opaque"},
		{"bearer JWT", header("Authorization", "Bearer "+testJWT), "jwt", testJWT},
		{"bearer opaque token", header("Authorization", "Bearer at_123"), "jwt", "at_123"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			fr := &fakeResolver{ident: keyIdentity("read")}
			res := serve(t, newTestHandler(t, fr), "GET", "/api/v1/chantiers", tt.hdr, "127.0.0.1")
			if res.err != nil || res.next == nil {
				t.Fatalf("request not passed on: err %v, status %d, body %s", res.err, res.rec.Code, res.rec.Body)
			}
			if fr.calls != 1 || fr.kind != tt.wantKind || fr.cred != tt.wantCred || !fr.gotReqOK {
				t.Fatalf("resolver saw %d call(s), kind %q, cred %q; want 1, %q, %q", fr.calls, fr.kind, fr.cred, tt.wantKind, tt.wantCred)
			}
		})
	}
}

// TestAllowed covers requests that reach next and what next sees.
func TestAllowed(t *testing.T) {
	tests := []struct {
		name      string
		method    string
		path      string
		hdr       http.Header
		clientIP  string
		ident     *hub.Identity
		wantCalls int
		wantAnon  bool
	}{
		{name: "global read", method: "GET", path: "/api/v1/chantiers", hdr: header("X-API-Key", testKey), ident: keyIdentity("read"), wantCalls: 1},
		{name: "HEAD with read", method: "HEAD", path: "/api/v1/chantiers/3", hdr: header("X-API-Key", testKey), ident: keyIdentity("chantiers:read"), wantCalls: 1},
		{name: "wildcard GET", method: "GET", path: "/api/v1/chantiers/3", hdr: header("X-API-Key", testKey), ident: keyIdentity("chantiers:*"), wantCalls: 1},
		{name: "wildcard POST", method: "POST", path: "/api/v1/chantiers", hdr: header("X-API-Key", testKey), ident: keyIdentity("chantiers:*"), wantCalls: 1},
		{name: "wildcard DELETE", method: "DELETE", path: "/api/v1/chantiers/3", hdr: header("Authorization", "Bearer "+testKey), ident: keyIdentity("chantiers:*"), wantCalls: 1},
		{name: "resource write", method: "PATCH", path: "/api/v1/chantiers/3", hdr: header("X-API-Key", testKey), ident: keyIdentity("chantiers:write"), wantCalls: 1},
		{name: "admin", method: "GET", path: "/api/v1/admin/users", hdr: header("Authorization", "Bearer "+testJWT), ident: &hub.Identity{Subject: "boss", Role: "admin", Method: assertion.MethodJWT, Scopes: []string{"admin"}}, wantCalls: 1},
		{name: "rule scope", method: "GET", path: "/api/v1/reports", hdr: header("X-API-Key", testKey), ident: keyIdentity("reports:read"), wantCalls: 1},
		{name: "rule scope via wildcard", method: "GET", path: "/api/v1/reports", hdr: header("X-API-Key", testKey), ident: keyIdentity("reports:*"), wantCalls: 1},
		{name: "authenticated rule needs no scope", method: "POST", path: "/api/auth/keys", hdr: header("Authorization", "Bearer "+testJWT), ident: &hub.Identity{Subject: "u", Method: assertion.MethodJWT}, wantCalls: 1},
		{name: "outside the resource prefix", method: "GET", path: "/other", hdr: header("X-API-Key", testKey), ident: keyIdentity(), wantCalls: 1},
		{name: "oauth2 client", method: "GET", path: "/api/v1/taches", hdr: header("Authorization", "Bearer "+testJWT), ident: &hub.Identity{Subject: "u", Method: assertion.MethodOAuth2, ClientID: "app-1", Scopes: []string{"taches:read"}}, wantCalls: 1},
		{name: "IPv4 in allowlist", method: "GET", path: "/api/v1/chantiers", clientIP: "10.1.2.3", hdr: header("X-API-Key", testKey), ident: withIPs(keyIdentity("read"), "10.0.0.0/8"), wantCalls: 1},
		{name: "IPv6 in allowlist", method: "GET", path: "/api/v1/chantiers", clientIP: "2001:db8::42", hdr: header("X-API-Key", testKey), ident: withIPs(keyIdentity("read"), "10.0.0.0/8", "2001:db8::/32"), wantCalls: 1},
		{name: "v4-mapped client in v4 allowlist", method: "GET", path: "/api/v1/chantiers", clientIP: "::ffff:10.1.2.3", hdr: header("X-API-Key", testKey), ident: withIPs(keyIdentity("read"), "10.0.0.0/8"), wantCalls: 1},
		{name: "single address allowlist", method: "GET", path: "/api/v1/chantiers", clientIP: "203.0.113.5", hdr: header("X-API-Key", testKey), ident: withIPs(keyIdentity("read"), "203.0.113.5/32"), wantCalls: 1},
		{name: "public without credentials", method: "POST", path: "/api/auth/login", wantAnon: true},
		{name: "public wildcard any method", method: "PUT", path: "/oauth/token", wantAnon: true},
		{name: "public GET covers HEAD", method: "HEAD", path: "/healthz", wantAnon: true},
		// A stale or bad token must not lock a user out of the login route.
		{name: "public ignores credentials", method: "POST", path: "/api/auth/login", hdr: header("Authorization", "Bearer garbage"), wantAnon: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			fr := &fakeResolver{ident: tt.ident}
			ip := tt.clientIP
			if ip == "" {
				ip = "127.0.0.1"
			}
			res := serve(t, newTestHandler(t, fr), tt.method, tt.path, tt.hdr, ip)
			if res.err != nil {
				t.Fatalf("ServeHTTP: %v", res.err)
			}
			if res.next == nil {
				t.Fatalf("next not called: status %d, WWW-Authenticate %q, body %s",
					res.rec.Code, res.rec.Header().Get("WWW-Authenticate"), res.rec.Body)
			}
			if res.rec.Code != http.StatusNoContent {
				t.Fatalf("status = %d, want next's 204", res.rec.Code)
			}
			if fr.calls != tt.wantCalls {
				t.Fatalf("resolver called %d times, want %d", fr.calls, tt.wantCalls)
			}
			want := tt.ident
			if tt.wantAnon {
				want = &hub.Identity{Method: assertion.MethodAnonymous}
			}
			checkForwarded(t, res, tt.method, want)
			if !tt.wantAnon {
				for _, h := range []string{"Authorization", "X-Api-Key"} {
					if v := res.next.Header.Values(h); len(v) != 0 {
						t.Errorf("%s forwarded upstream: %q", h, v)
					}
				}
			}
		})
	}
}

// checkForwarded verifies the assertion next received, the request id and
// the placeholders against the identity.
func checkForwarded(t *testing.T, res result, method string, want *hub.Identity) {
	t.Helper()
	r := res.next
	tokens := r.Header.Values(assertion.Header)
	if len(tokens) != 1 {
		t.Fatalf("next saw %d %s headers, want 1", len(tokens), assertion.Header)
	}
	c, err := assertion.Verify(testSecret, tokens[0], method, time.Now())
	if err != nil {
		t.Fatalf("assertion does not verify: %v", err)
	}
	if c.Subject != want.Subject || c.Role != want.Role || c.Method != want.Method ||
		c.KeyID != want.KeyID || c.ClientID != want.ClientID || !reflect.DeepEqual(c.Scopes, want.Scopes) {
		t.Fatalf("claims = %+v, want identity %+v", c, want)
	}
	if c.HTTPMethod != method {
		t.Fatalf("assertion bound to %q, want %q", c.HTTPMethod, method)
	}
	other := http.MethodDelete
	if method == other {
		other = http.MethodGet
	}
	if _, err := assertion.Verify(testSecret, tokens[0], other, time.Now()); !errors.Is(err, assertion.ErrBinding) {
		t.Fatalf("assertion verified for %s: %v", other, err)
	}
	rid := res.rec.Header().Get(hub.RequestIDHeader)
	if !hub.ValidRequestID(rid) || c.RequestID != rid || r.Header.Get(hub.RequestIDHeader) != rid {
		t.Fatalf("request ids: response %q, assertion %q, upstream %q", rid, c.RequestID, r.Header.Get(hub.RequestIDHeader))
	}
	if got, _ := res.repl.GetString("hub.auth.method"); got != want.Method {
		t.Errorf("{hub.auth.method} = %q, want %q", got, want.Method)
	}
	if got, _ := res.repl.GetString("hub.auth.subject"); got != want.Subject {
		t.Errorf("{hub.auth.subject} = %q, want %q", got, want.Subject)
	}
	if got, _ := res.repl.GetString("hub.auth.key_id"); got != want.KeyID {
		t.Errorf("{hub.auth.key_id} = %q, want %q", got, want.KeyID)
	}
	if got, _ := res.repl.GetString("hub.auth.scopes"); got != strings.Join(want.Scopes, " ") {
		t.Errorf("{hub.auth.scopes} = %q, want %q", got, strings.Join(want.Scopes, " "))
	}
	id, ok := caddyhttp.GetVar(r.Context(), hub.IdentityVar).(*hub.Identity)
	if !ok || id.Subject != want.Subject || id.Method != want.Method {
		t.Errorf("var %s = %+v, want %+v", hub.IdentityVar, id, want)
	}
}

// TestStripsClientIdentityHeaders: a client cannot speak for identity, on
// public and authenticated routes alike.
func TestStripsClientIdentityHeaders(t *testing.T) {
	forged, err := assertion.Sign([]byte("attacker-secret-attacker-secret!"), assertion.Claims{
		Subject: "admin", Role: "admin", Method: assertion.MethodJWT, Scopes: []string{"admin"}, HTTPMethod: "GET",
	}, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name string
		path string
		hdr  http.Header
		want *hub.Identity
	}{
		{"authenticated route", "/api/v1/chantiers", header("X-API-Key", testKey), keyIdentity("read")},
		{"public route", "/healthz", nil, &hub.Identity{Method: assertion.MethodAnonymous}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			hdr := tt.hdr.Clone()
			if hdr == nil {
				hdr = http.Header{}
			}
			hdr.Add("X-Hub-Identity", forged)
			hdr.Add("X-Hub-Identity", "second")
			hdr.Set("X-Hub-Anything", "1")
			hdr["x-hub-raw-lowercase"] = []string{"1"} // not canonicalized
			hdr.Set("X-Hubble", "kept")                // not an X-Hub- header
			fr := &fakeResolver{ident: keyIdentity("read")}
			res := serve(t, newTestHandler(t, fr), "GET", tt.path, hdr, "127.0.0.1")
			if res.next == nil {
				t.Fatalf("next not called: %d %s", res.rec.Code, res.rec.Body)
			}
			for k := range res.next.Header {
				if strings.HasPrefix(strings.ToLower(k), "x-hub-") && k != assertion.Header {
					t.Errorf("client header %s reached next", k)
				}
			}
			if res.next.Header.Get("X-Hubble") != "kept" {
				t.Error("X-Hubble was stripped")
			}
			if got := res.next.Header.Values(assertion.Header); len(got) != 1 || got[0] == forged {
				t.Fatalf("%s = %q, want one gateway-made assertion", assertion.Header, got)
			}
			checkForwarded(t, res, "GET", tt.want)
		})
	}
}

func TestRequestID(t *testing.T) {
	tests := []struct {
		name     string
		clientID string
		path     string
		hdr      http.Header
		keep     bool
	}{
		// The id is always the gateway's (issue 10); hub.ClientRequestID keeps the client's.
		{"valid client id replaced", "trace-0f8fad5b.1", "/api/v1/chantiers", header("X-API-Key", testKey), false},
		{"valid client id replaced on rejection", "trace-2", "/api/v1/chantiers", nil, false},
		{"invalid client id replaced", "a b", "/api/v1/chantiers", header("X-API-Key", testKey), false},
		{"long client id replaced", strings.Repeat("x", 200), "/api/v1/chantiers", header("X-API-Key", testKey), false},
		{"missing id generated", "", "/healthz", nil, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			hdr := tt.hdr.Clone()
			if hdr == nil {
				hdr = http.Header{}
			}
			if tt.clientID != "" {
				hdr.Set(hub.RequestIDHeader, tt.clientID)
			}
			res := serve(t, newTestHandler(t, &fakeResolver{ident: keyIdentity("read")}), "GET", tt.path, hdr, "127.0.0.1")
			got := res.rec.Header().Get(hub.RequestIDHeader)
			if !hub.ValidRequestID(got) {
				t.Fatalf("response X-Request-Id = %q, not valid", got)
			}
			if tt.keep != (got == tt.clientID) {
				t.Fatalf("response X-Request-Id = %q, client sent %q, keep = %v", got, tt.clientID, tt.keep)
			}
			if res.next != nil && res.next.Header.Get(hub.RequestIDHeader) != got {
				t.Fatalf("upstream X-Request-Id = %q, response %q", res.next.Header.Get(hub.RequestIDHeader), got)
			}
		})
	}
}

// TestSignFailure: without a secret nothing is forwarded.
func TestSignFailure(t *testing.T) {
	for _, tt := range []struct {
		name string
		path string
		hdr  http.Header
	}{
		{"public", "/healthz", nil},
		{"authenticated", "/api/v1/chantiers", header("X-API-Key", testKey)},
	} {
		t.Run(tt.name, func(t *testing.T) {
			h := newTestHandler(t, &fakeResolver{ident: keyIdentity("read")})
			h.secret = nil
			res := serve(t, h, "GET", tt.path, tt.hdr, "127.0.0.1")
			if res.next != nil {
				t.Fatal("next called without a signed assertion")
			}
			var he caddyhttp.HandlerError
			if !errors.As(res.err, &he) || he.StatusCode != http.StatusInternalServerError {
				t.Fatalf("ServeHTTP error = %v, want a 500 HandlerError", res.err)
			}
		})
	}
}

// TestResourcePrefixDisabled: with no prefix, authentication alone suffices.
func TestResourcePrefixDisabled(t *testing.T) {
	h := newTestHandler(t, &fakeResolver{ident: keyIdentity()})
	h.ResourcePrefixes = nil
	res := serve(t, h, "DELETE", "/api/v1/chantiers/1", header("X-API-Key", testKey), "127.0.0.1")
	if res.next == nil {
		t.Fatalf("next not called: %d %s", res.rec.Code, res.rec.Body)
	}
}

// TestRealm: the configured realm is quoted into every challenge.
func TestRealm(t *testing.T) {
	h := newTestHandler(t, &fakeResolver{})
	h.Realm = "Hub Chantier"
	res := serve(t, h, "GET", "/api/v1/chantiers", nil, "127.0.0.1")
	if got, want := res.rec.Header().Get("WWW-Authenticate"), `Bearer realm="Hub Chantier"`; got != want {
		t.Fatalf("WWW-Authenticate = %q, want %q", got, want)
	}
}

// TestHeadRejection: a refused HEAD carries headers but no body.
func TestHeadRejection(t *testing.T) {
	res := serve(t, newTestHandler(t, &fakeResolver{}), "HEAD", "/api/v1/chantiers", nil, "127.0.0.1")
	if res.rec.Code != http.StatusUnauthorized || res.rec.Body.Len() != 0 || res.next != nil {
		t.Fatalf("HEAD: status %d, body %q, next called %v", res.rec.Code, res.rec.Body, res.next != nil)
	}
}

func TestCanonicalPath(t *testing.T) {
	for p, want := range map[string]bool{
		"/":                      true,
		"/api/v1/chantiers":      true,
		"/api/v1/chantiers/":     true,
		"/api/v1//admin/users":   false,
		"/oauth/../api/v1/users": false,
		"/api/./v1":              false,
		"/api/v1/..":             false,
		"api/v1":                 false,
		"":                       false,
	} {
		if got := canonicalPath(p); got != want {
			t.Errorf("canonicalPath(%q) = %v, want %v", p, got, want)
		}
	}
}
