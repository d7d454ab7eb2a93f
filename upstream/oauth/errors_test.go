package oauth

import (
	"net/http"
	"net/url"
	"strings"
	"testing"

	"github.com/hubchantier/hubgate/upstream/db"
	"github.com/hubchantier/hubgate/upstream/db/dbtest"
)

// TestAuthorizeErrors: a wrong client or redirect URI is an HTML page
// (never a redirect); anything else is redirected with the RFC error code.
func TestAuthorizeErrors(t *testing.T) {
	dbtest.Each(t, func(t *testing.T, d *db.DB) {
		e := newEnv(t, d)
		_, challenge := pkce("xyz")
		base := func(over map[string]string) map[string]string {
			p := map[string]string{"response_type": "code", "client_id": e.public.ID, "redirect_uri": publicRedirect,
				"scope": "chantiers:read", "state": "st", "code_challenge": challenge, "code_challenge_method": "S256"}
			for k, v := range over {
				if v == "" {
					delete(p, k)
				} else {
					p[k] = v
				}
			}
			return p
		}
		cases := []struct {
			name      string
			params    map[string]string
			wantPage  bool   // an HTML error page, no redirect
			wantError string // the error= of the redirect
		}{
			{"unknown client", base(map[string]string{"client_id": "hcc_nope"}), true, ""},
			{"missing client", base(map[string]string{"client_id": ""}), true, ""},
			{"unregistered redirect_uri", base(map[string]string{"redirect_uri": "https://evil.example/cb"}), true, ""},
			{"redirect_uri with another path", base(map[string]string{"redirect_uri": "http://127.0.0.1/cb2"}), true, ""},
			{"redirect_uri on another loopback host", base(map[string]string{"redirect_uri": "http://localhost/cb"}), true, ""},
			{"plain PKCE method", base(map[string]string{"code_challenge_method": "plain"}), false, "invalid_request"},
			{"PKCE method missing (plain)", base(map[string]string{"code_challenge_method": ""}), false, "invalid_request"},
			{"public client without PKCE", base(map[string]string{"code_challenge": "", "code_challenge_method": ""}), false, "invalid_request"},
			{"scope beyond the client", base(map[string]string{"scope": "chantiers:read chantiers:write"}), false, "invalid_scope"},
			{"unknown scope", base(map[string]string{"scope": "everything"}), false, "invalid_scope"},
			{"implicit grant", base(map[string]string{"response_type": "token"}), false, "unsupported_response_type"},
			{"no response_type", base(map[string]string{"response_type": ""}), false, "invalid_request"},
		}
		for _, c := range cases {
			t.Run(c.name, func(t *testing.T) {
				r := e.get(browser(t), authorizeURL(c.params))
				if c.wantPage {
					if r.status != http.StatusBadRequest || r.header.Get("Location") != "" || !strings.HasPrefix(r.header.Get("Content-Type"), "text/html") {
						t.Fatalf("want a 400 HTML page, got %d %v", r.status, r.header)
					}
					return
				}
				loc, err := url.Parse(r.header.Get("Location"))
				if r.status != http.StatusSeeOther || err != nil {
					t.Fatalf("want 303, got %d %v", r.status, r.header)
				}
				if got := loc.Query().Get("error"); got != c.wantError || loc.Query().Get("state") != "st" {
					t.Fatalf("redirect %s: want error=%s and the state", loc, c.wantError)
				}
			})
		}

		// Denying on the consent page sends access_denied and no code.
		t.Run("deny answers access_denied", func(t *testing.T) {
			u := e.approveWith(base(nil), "deny")
			if u.Query().Get("error") != "access_denied" || u.Query().Get("code") != "" {
				t.Fatalf("deny: %s", u)
			}
		})
	})
}

// approveWith is approve with the consent action given.
func (e *env) approveWith(params map[string]string, action string) *url.URL {
	e.t.Helper()
	b := browser(e.t)
	r := e.get(b, authorizeURL(params))
	form := url.Values{"csrf_token": {csrfOf(e.t, r.body)}, "email": {e.user.Email}, "password": {testPassword}}
	for k, v := range params {
		form.Set(k, v)
	}
	r = e.get(b, e.postForm(b, "/oauth/login", form).header.Get("Location"))
	form.Set("csrf_token", csrfOf(e.t, r.body))
	form.Set("action", action)
	r = e.postForm(b, "/oauth/authorize", form)
	u, _ := url.Parse(r.header.Get("Location"))
	return u
}

// TestLoginCSRF: a login post without the nonce cookie its token is bound to
// is refused.
func TestLoginCSRF(t *testing.T) {
	e := newEnv(t, dbtest.SQLite(t))
	form := url.Values{"csrf_token": {strings.Repeat("A", 43)}, "email": {e.user.Email}, "password": {testPassword},
		"client_id": {e.conf.ID}, "redirect_uri": {confRedirect}, "response_type": {"code"}}
	r := e.postForm(browser(t), "/oauth/login", form)
	if r.status != http.StatusForbidden || strings.Contains(strings.Join(r.header.Values("Set-Cookie"), ""), sessionCookie) {
		t.Fatalf("login CSRF: %d %v", r.status, r.header)
	}
}

// TestTokenErrors: every refusal of the token endpoint with its RFC 6749
// §5.2 / RFC 7636 §4.6 code and status.
func TestTokenErrors(t *testing.T) {
	dbtest.Each(t, func(t *testing.T, d *db.DB) {
		e := newEnv(t, d)
		pub := func(code, verifier, redirect string) url.Values {
			v := url.Values{"grant_type": {"authorization_code"}, "code": {code}, "redirect_uri": {redirect}, "client_id": {e.public.ID}}
			if verifier != "" {
				v.Set("code_verifier", verifier)
			}
			return v
		}
		type tc struct {
			name       string
			form       func() url.Values
			basic      bool
			wantStatus int
			wantError  string
		}
		cases := []tc{
			{"wrong redirect_uri", func() url.Values { c, v := e.publicCode("chantiers:read"); return pub(c, v, "http://127.0.0.1/other") }, false, 400, "invalid_grant"},
			{"wrong verifier", func() url.Values {
				c, _ := e.publicCode("chantiers:read")
				other, _ := pkce("zzz")
				return pub(c, other, publicRedirect)
			}, false, 400, "invalid_grant"},
			{"missing verifier", func() url.Values { c, _ := e.publicCode("chantiers:read"); return pub(c, "", publicRedirect) }, false, 400, "invalid_grant"},
			{"verifier without challenge (downgrade)", func() url.Values {
				c := e.confCode("chantiers:read", "")
				v, _ := pkce("dg")
				return url.Values{"grant_type": {"authorization_code"}, "code": {c}, "redirect_uri": {confRedirect}, "code_verifier": {v}}
			}, true, 400, "invalid_grant"},
			{"code of another client", func() url.Values {
				c := e.confCode("chantiers:read", "")
				return pub(c, "", confRedirect)
			}, false, 400, "invalid_grant"},
			{"unknown code", func() url.Values { return pub("nope", "", publicRedirect) }, false, 400, "invalid_grant"},
			{"unknown client", func() url.Values {
				v := pub("x", "", publicRedirect)
				v.Set("client_id", "hcc_unknown")
				return v
			}, false, 401, "invalid_client"},
			{"no client", func() url.Values {
				v := pub("x", "", publicRedirect)
				v.Del("client_id")
				return v
			}, false, 401, "invalid_client"},
			{"bad client secret", func() url.Values {
				return url.Values{"grant_type": {"authorization_code"}, "code": {"x"}, "redirect_uri": {confRedirect},
					"client_id": {e.conf.ID}, "client_secret": {"wrong"}}
			}, false, 401, "invalid_client"},
			{"confidential client without secret", func() url.Values {
				return url.Values{"grant_type": {"authorization_code"}, "code": {"x"}, "redirect_uri": {confRedirect}, "client_id": {e.conf.ID}}
			}, false, 401, "invalid_client"},
			{"public client sending a secret", func() url.Values {
				v := pub("x", "", publicRedirect)
				v.Set("client_secret", "s")
				return v
			}, false, 401, "invalid_client"},
			{"unsupported grant", func() url.Values { return url.Values{"grant_type": {"password"}, "client_id": {e.public.ID}} }, false, 400, "unsupported_grant_type"},
			{"no grant_type", func() url.Values { return url.Values{"client_id": {e.public.ID}} }, false, 400, "invalid_request"},
			{"no code", func() url.Values { return url.Values{"grant_type": {"authorization_code"}, "client_id": {e.public.ID}} }, false, 400, "invalid_request"},
			{"repeated parameter", func() url.Values {
				v := pub("x", "", publicRedirect)
				v.Add("code", "y")
				return v
			}, false, 400, "invalid_request"},
		}
		for _, c := range cases {
			t.Run(c.name, func(t *testing.T) {
				r, m := e.token(c.form(), c.basic)
				if r.status != c.wantStatus || m["error"] != c.wantError || r.header.Get("Content-Type") != "application/json" {
					t.Fatalf("got %d %v (%s), want %d %s", r.status, m, r.header.Get("Content-Type"), c.wantStatus, c.wantError)
				}
			})
		}

		t.Run("bad Basic secret names the scheme", func(t *testing.T) {
			saved := e.conf.ClientSecret
			e.conf.ClientSecret = "wrong"
			defer func() { e.conf.ClientSecret = saved }()
			r, m := e.token(url.Values{"grant_type": {"refresh_token"}, "refresh_token": {"x"}}, true)
			if r.status != 401 || m["error"] != "invalid_client" || !strings.HasPrefix(r.header.Get("WWW-Authenticate"), "Basic") {
				t.Fatalf("%d %v %v", r.status, m, r.header)
			}
		})
	})
}
