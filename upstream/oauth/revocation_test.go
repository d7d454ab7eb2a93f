package oauth

import (
	"context"
	"encoding/json"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/hubchantier/hubgate/internal/assertion"
	"github.com/hubchantier/hubgate/upstream/auth"
	"github.com/hubchantier/hubgate/upstream/db"
	"github.com/hubchantier/hubgate/upstream/db/dbtest"
)

func (e *env) exchangePublic(code, verifier string) (access, refresh string) {
	e.t.Helper()
	r, m := e.token(url.Values{"grant_type": {"authorization_code"}, "code": {code}, "redirect_uri": {publicRedirect},
		"client_id": {e.public.ID}, "code_verifier": {verifier}}, false)
	if r.status != 200 {
		e.t.Fatalf("exchange: %d %v", r.status, m)
	}
	return m["access_token"].(string), m["refresh_token"].(string)
}

func (e *env) refreshPublic(rt, scope string) (answer, map[string]any) {
	e.t.Helper()
	v := url.Values{"grant_type": {"refresh_token"}, "refresh_token": {rt}, "client_id": {e.public.ID}}
	if scope != "" {
		v.Set("scope", scope)
	}
	return e.token(v, false)
}

func (e *env) active(tok string) bool {
	e.t.Helper()
	// The public client cannot introspect; check the database state the
	// way introspection does, through the confidential path's SQL.
	res, err := e.s.introspect(httptestRequest(), Client{ID: e.public.ID}, tok)
	if err != nil {
		e.t.Fatal(err)
	}
	return res.Active
}

func httptestRequest() *http.Request {
	r, _ := http.NewRequestWithContext(context.Background(), "POST", "/", nil)
	return r
}

// TestCodeReuseRevokesTokens: RFC 6749 §4.1.2, a second redemption fails
// and revokes the access token of the first (a "token" event for its jti).
func TestCodeReuseRevokesTokens(t *testing.T) {
	dbtest.Each(t, func(t *testing.T, d *db.DB) {
		e := newEnv(t, d)
		code, verifier := e.publicCode("chantiers:read")
		access, refresh := e.exchangePublic(code, verifier)
		r, m := e.token(url.Values{"grant_type": {"authorization_code"}, "code": {code}, "redirect_uri": {publicRedirect},
			"client_id": {e.public.ID}, "code_verifier": {verifier}}, false)
		if r.status != 400 || m["error"] != "invalid_grant" {
			t.Fatalf("reused code: %d %v", r.status, m)
		}
		if !slices.Contains(e.events(auth.KindToken), e.jtiOf(access)) {
			t.Fatalf("no token revocation event for the first access token: %v", e.events(auth.KindToken))
		}
		if e.active(access) || e.active(refresh) {
			t.Fatal("tokens of a reused code still active")
		}
		if r, m := e.refreshPublic(refresh, ""); r.status != 400 || m["error"] != "invalid_grant" {
			t.Fatalf("refresh of a revoked grant: %d %v", r.status, m)
		}
	})
}

// TestCodeExpiry: a code is good for 10 minutes (injected clock).
func TestCodeExpiry(t *testing.T) {
	dbtest.Each(t, func(t *testing.T, d *db.DB) {
		e := newEnv(t, d)
		code, verifier := e.publicCode("chantiers:read")
		e.clock.Add(CodeTTL)
		r, m := e.token(url.Values{"grant_type": {"authorization_code"}, "code": {code}, "redirect_uri": {publicRedirect},
			"client_id": {e.public.ID}, "code_verifier": {verifier}}, false)
		if r.status != 400 || m["error"] != "invalid_grant" {
			t.Fatalf("expired code: %d %v", r.status, m)
		}
		code, verifier = e.publicCode("chantiers:read")
		e.clock.Add(CodeTTL - time.Second)
		e.exchangePublic(code, verifier)
	})
}

// TestRefreshRotationAndReuse: every refresh rotates; replaying a spent
// refresh token revokes the family, the latest access token included; a
// refresh never widens the scope.
func TestRefreshRotationAndReuse(t *testing.T) {
	dbtest.Each(t, func(t *testing.T, d *db.DB) {
		e := newEnv(t, d)
		code, verifier := e.publicCode("chantiers:read planning:read")
		_, rt1 := e.exchangePublic(code, verifier)

		r, m := e.refreshPublic(rt1, "chantiers:read chantiers:write")
		if r.status != 400 || m["error"] != "invalid_scope" {
			t.Fatalf("scope escalation at refresh: %d %v", r.status, m)
		}
		// A refused escalation does not spend the token; a narrower scope is fine.
		r, m = e.refreshPublic(rt1, "planning:read")
		if r.status != 200 || m["scope"] != "planning:read" {
			t.Fatalf("narrower refresh: %d %v", r.status, m)
		}
		rt2 := m["refresh_token"].(string)
		r, m = e.refreshPublic(rt2, "")
		if r.status != 200 || m["scope"] != "chantiers:read planning:read" {
			t.Fatalf("refresh keeps the grant's scope: %d %v", r.status, m)
		}
		latest, rt3 := m["access_token"].(string), m["refresh_token"].(string)
		if !e.active(latest) || !e.active(rt3) {
			t.Fatal("fresh tokens inactive")
		}

		r, m = e.refreshPublic(rt1, "")
		if r.status != 400 || m["error"] != "invalid_grant" {
			t.Fatalf("reused refresh token: %d %v", r.status, m)
		}
		if !slices.Contains(e.events(auth.KindToken), e.jtiOf(latest)) {
			t.Fatal("the family's latest access token was not published as revoked")
		}
		if e.active(latest) || e.active(rt3) {
			t.Fatal("family still active after a reuse")
		}
		if r, m := e.refreshPublic(rt3, ""); r.status != 400 || m["error"] != "invalid_grant" {
			t.Fatalf("latest refresh token after family revocation: %d %v", r.status, m)
		}
	})
}

// TestRevokeEndpoint: RFC 7009 for access and refresh tokens; 200 for
// unknown tokens and for tokens of other clients (which stay valid).
func TestRevokeEndpoint(t *testing.T) {
	dbtest.Each(t, func(t *testing.T, d *db.DB) {
		e := newEnv(t, d)
		code, verifier := e.publicCode("chantiers:read")
		access, refresh := e.exchangePublic(code, verifier)
		revoke := func(tok string, basic bool, extra ...string) int {
			v := url.Values{"token": {tok}}
			if !basic {
				v.Set("client_id", e.public.ID)
			}
			var hdr []string
			if basic {
				req, _ := http.NewRequest("GET", "/", nil)
				req.SetBasicAuth(e.conf.ID, e.conf.ClientSecret)
				hdr = []string{"Authorization", req.Header.Get("Authorization")}
			}
			return e.postForm(http.DefaultClient, "/oauth/revoke", v, append(hdr, extra...)...).status
		}
		if s := revoke("garbage", false); s != 200 {
			t.Fatalf("unknown token: %d", s)
		}
		if s := revoke(access, true); s != 200 || !e.active(access) {
			t.Fatalf("another client's token: %d, active=%v", s, e.active(access))
		}
		if s := revoke(access, false); s != 200 || e.active(access) || !e.active(refresh) {
			t.Fatalf("revoke access token: %d", s)
		}
		if !slices.Contains(e.events(auth.KindToken), e.jtiOf(access)) {
			t.Fatal("no event for a revoked access token")
		}
		if s := revoke(refresh, false); s != 200 || e.active(refresh) {
			t.Fatalf("revoke refresh token: %d", s)
		}
	})
}

// TestIntrospectNeedsConfidentialClient: RFC 7662 §2.1.
func TestIntrospectNeedsConfidentialClient(t *testing.T) {
	e := newEnv(t, dbtest.SQLite(t))
	r, m := e.call("/oauth/introspect", url.Values{"token": {"x"}, "client_id": {e.public.ID}}, false)
	if r.status != 401 || m["error"] != "invalid_client" {
		t.Fatalf("public client introspecting: %d %v", r.status, m)
	}
}

// TestClientFailureThrottle: after 10 failed authentications in a minute
// from one network a client_id answers 429 with Retry-After to that network,
// even to the right secret, until the window ends (TestClientThrottlePerIP:
// other networks are unaffected).
func TestClientFailureThrottle(t *testing.T) {
	e := newEnv(t, dbtest.SQLite(t))
	form := func(secret string) url.Values {
		return url.Values{"grant_type": {"refresh_token"}, "refresh_token": {"x"}, "client_id": {e.conf.ID}, "client_secret": {secret}}
	}
	for i := 0; i < DefaultMaxClientFailures; i++ {
		if r, _ := e.token(form("wrong"), false); r.status != 401 {
			t.Fatalf("failure %d: %d", i, r.status)
		}
	}
	r, m := e.token(form(e.conf.ClientSecret), false)
	if r.status != http.StatusTooManyRequests || r.header.Get("Retry-After") == "" || m["error"] != "invalid_client" {
		t.Fatalf("throttled: %d %v %v", r.status, r.header, m)
	}
	if ra, _ := strconv.Atoi(r.header.Get("Retry-After")); ra < 1 || ra > 60 {
		t.Fatalf("Retry-After %q", r.header.Get("Retry-After"))
	}
	e.clock.Add(DefaultFailureWindow)
	if r, m := e.token(form(e.conf.ClientSecret), false); r.status != 400 || m["error"] != "invalid_grant" {
		t.Fatalf("after the window, a good secret authenticates: %d %v", r.status, m)
	}
}

// TestAppsAndClientRevocation: a user lists and revokes an app; an admin
// revokes a client, which publishes a "client" event and stops its grants.
func TestAppsAndClientRevocation(t *testing.T) {
	dbtest.Each(t, func(t *testing.T, d *db.DB) {
		e := newEnv(t, d)
		code, verifier := e.publicCode("chantiers:read")
		access, _ := e.exchangePublic(code, verifier)

		call := func(method, path, amr string, scopes ...string) answer {
			req, _ := http.NewRequest(method, e.srv.URL+path, nil)
			e.asUser(req, amr, scopes...)
			return do(t, http.DefaultClient, req)
		}
		r := call("GET", "/api/auth/apps", assertion.MethodJWT)
		var list struct{ Data []App }
		if err := json.Unmarshal([]byte(r.body), &list); err != nil || r.status != 200 || len(list.Data) != 1 || list.Data[0].ClientID != e.public.ID {
			t.Fatalf("apps: %d %s", r.status, r.body)
		}
		if r := call("GET", "/api/auth/apps", assertion.MethodOAuth2, "read"); r.status != 403 {
			t.Fatalf("an OAuth2 token listing apps: %d", r.status)
		}
		if r := call("DELETE", "/api/auth/apps/"+e.public.ID, assertion.MethodJWT); r.status != 204 {
			t.Fatalf("revoke app: %d %s", r.status, r.body)
		}
		if e.active(access) || !slices.Contains(e.events(auth.KindToken), e.jtiOf(access)) {
			t.Fatal("app revocation left the access token alive")
		}
		if r := call("DELETE", "/api/auth/apps/"+e.public.ID, assertion.MethodJWT); r.status != 404 {
			t.Fatalf("revoke app twice: %d", r.status)
		}

		// Admin API: the conducteur is refused, then act as admin.
		if r := call("GET", "/api/v1/admin/oauth-clients", assertion.MethodJWT); r.status != 403 {
			t.Fatalf("non-admin listing clients: %d", r.status)
		}
		e.user.Role = auth.RoleAdmin // the assertion carries the role
		r = call("GET", "/api/v1/admin/oauth-clients", assertion.MethodJWT)
		if r.status != 200 || !json.Valid([]byte(r.body)) || strings.Contains(r.body, e.conf.ClientSecret) {
			t.Fatalf("list clients: %d %s", r.status, r.body)
		}
		if r := call("DELETE", "/api/v1/admin/oauth-clients/"+e.conf.ID, assertion.MethodJWT); r.status != 204 {
			t.Fatalf("revoke client: %d %s", r.status, r.body)
		}
		if !slices.Contains(e.events(auth.KindClient), e.conf.ID) {
			t.Fatal("no client revocation event")
		}
		r2, m := e.token(url.Values{"grant_type": {"refresh_token"}, "refresh_token": {"x"}}, true)
		if r2.status != 401 || m["error"] != "invalid_client" {
			t.Fatalf("revoked client at the token endpoint: %d %v", r2.status, m)
		}
		if r := call("DELETE", "/api/v1/admin/oauth-clients/hcc_nope", assertion.MethodJWT); r.status != 404 {
			t.Fatalf("revoke unknown client: %d", r.status)
		}
	})
}
