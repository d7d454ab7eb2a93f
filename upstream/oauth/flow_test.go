package oauth

import (
	"context"
	"net/http"
	"net/url"
	"strings"
	"testing"

	"github.com/hubchantier/hubgate/upstream/db"
	"github.com/hubchantier/hubgate/upstream/db/dbtest"
)

// TestAuthorizationCodeFlow walks the public client's PKCE flow and the
// confidential client's, on SQLite and PostgreSQL: pages and their headers,
// code, tokens, refresh rotation, introspection.
func TestAuthorizationCodeFlow(t *testing.T) {
	dbtest.Each(t, func(t *testing.T, d *db.DB) {
		e := newEnv(t, d)
		b := browser(t)
		verifier, challenge := pkce("abc")
		params := map[string]string{"response_type": "code", "client_id": e.public.ID, "redirect_uri": "http://127.0.0.1:53124/cb",
			"scope": "chantiers:read", "state": "s-1", "code_challenge": challenge, "code_challenge_method": "S256"}

		// Login page: security headers and a CSRF cookie.
		r := e.get(b, authorizeURL(params))
		for h, want := range map[string]string{"X-Frame-Options": "DENY", "Referrer-Policy": "no-referrer", "Cache-Control": "no-store"} {
			if r.header.Get(h) != want {
				t.Fatalf("%s = %q, want %q", h, r.header.Get(h), want)
			}
		}
		if csp := r.header.Get("Content-Security-Policy"); !strings.Contains(csp, "frame-ancestors 'none'") {
			t.Fatalf("CSP %q", csp)
		}
		if sc := strings.Join(r.header.Values("Set-Cookie"), ";"); !strings.Contains(sc, "HttpOnly") || !strings.Contains(sc, "SameSite=Lax") {
			t.Fatalf("cookie attributes: %s", sc)
		}
		form := url.Values{"csrf_token": {csrfOf(t, r.body)}, "email": {e.user.Email}, "password": {"wrong-password"}}
		for k, v := range params {
			form.Set(k, v)
		}
		if r = e.postForm(b, "/oauth/login", form); r.status != http.StatusUnauthorized || !strings.Contains(r.body, "Invalid email or password") {
			t.Fatalf("bad password: %d %s", r.status, r.body)
		}
		form.Set("password", testPassword)
		r = e.postForm(b, "/oauth/login", form)
		if r.status != http.StatusSeeOther || !strings.HasPrefix(r.header.Get("Location"), "/oauth/authorize?") {
			t.Fatalf("login: %d %v", r.status, r.header)
		}
		r = e.get(b, r.header.Get("Location"))
		if r.status != 200 || !strings.Contains(r.body, "chantiers:read") || !strings.Contains(r.body, "Calendar") {
			t.Fatalf("consent page: %d %s", r.status, r.body)
		}
		form.Del("password")
		form.Set("action", "approve")
		// The login CSRF token is not the consent one.
		if r2 := e.postForm(b, "/oauth/authorize", form); r2.status != http.StatusForbidden || r2.header.Get("Location") != "" {
			t.Fatalf("consent with a wrong CSRF token: %d %v", r2.status, r2.header)
		}
		form.Set("csrf_token", csrfOf(t, r.body))
		r = e.postForm(b, "/oauth/authorize", form)
		loc, _ := url.Parse(r.header.Get("Location"))
		if r.status != http.StatusSeeOther || loc == nil || loc.Host != "127.0.0.1:53124" || loc.Query().Get("state") != "s-1" ||
			loc.Query().Get("iss") != "https://api.example.com" || loc.Query().Get("code") == "" {
			t.Fatalf("approve: %d %q", r.status, r.header.Get("Location"))
		}

		// Exchange: the public client authenticates by client_id only.
		tr, m := e.token(url.Values{"grant_type": {"authorization_code"}, "code": {loc.Query().Get("code")},
			"redirect_uri": {params["redirect_uri"]}, "client_id": {e.public.ID}, "code_verifier": {verifier}}, false)
		if tr.status != 200 || m["token_type"] != "Bearer" || m["scope"] != "chantiers:read" || m["expires_in"] != float64(3600) {
			t.Fatalf("exchange: %d %v", tr.status, m)
		}
		access, refresh := m["access_token"].(string), m["refresh_token"].(string)
		claims, err := e.a.VerifyOAuthToken(context.Background(), access)
		if err != nil || claims.ClientID != e.public.ID || claims.Scope != "chantiers:read" || claims.Role != "conducteur" {
			t.Fatalf("access token claims %+v, %v", claims, err)
		}

		// Refresh rotates; the new access token works, the old refresh
		// token is spent.
		tr, m = e.token(url.Values{"grant_type": {"refresh_token"}, "refresh_token": {refresh}, "client_id": {e.public.ID}}, false)
		if tr.status != 200 || m["refresh_token"] == refresh || m["refresh_token"] == "" {
			t.Fatalf("refresh: %d %v", tr.status, m)
		}

		// The confidential client with Basic and with client_secret_post.
		code := e.confCode("chantiers:read chantiers:write", "")
		tr, m = e.token(url.Values{"grant_type": {"authorization_code"}, "code": {code}, "redirect_uri": {confRedirect}}, true)
		if tr.status != 200 || m["scope"] != "chantiers:read chantiers:write" {
			t.Fatalf("confidential exchange (basic): %d %v", tr.status, m)
		}
		confAccess := m["access_token"].(string)
		code = e.confCode("pointages:read", "")
		tr, m = e.token(url.Values{"grant_type": {"authorization_code"}, "code": {code}, "redirect_uri": {confRedirect},
			"client_id": {e.conf.ID}, "client_secret": {e.conf.ClientSecret}}, false)
		if tr.status != 200 {
			t.Fatalf("confidential exchange (post): %d %v", tr.status, m)
		}

		// Introspection: own token active, the public client's token
		// inactive for this caller, garbage inactive.
		for _, c := range []struct {
			tok    string
			active bool
		}{{confAccess, true}, {access, false}, {"garbage", false}, {m["refresh_token"].(string), true}} {
			_, im := e.call("/oauth/introspect", url.Values{"token": {c.tok}}, true)
			if im["active"] != c.active {
				t.Fatalf("introspect: %v, want active=%v", im, c.active)
			}
		}
	})
}
