package console_test

import (
	"context"
	"net/http"
	"net/url"
	"strings"
	"testing"

	"github.com/hubchantier/hubgate/integration/standins/oidc"
	"github.com/hubchantier/hubgate/upstream/auth"
	"github.com/hubchantier/hubgate/upstream/console"
	"github.com/hubchantier/hubgate/upstream/db"
	"github.com/hubchantier/hubgate/upstream/db/dbtest"
	"github.com/hubchantier/hubgate/upstream/server"
)

// externalEnv is the service with Google and GitHub sign-in pointed at
// the loopback stand-in.
func externalEnv(t *testing.T, d *db.DB) (*env, *oidc.Server) {
	idp := oidc.New()
	t.Cleanup(idp.Close)
	g := console.Google(idp.ClientID, idp.ClientSecret)
	g.AuthURL, g.TokenURL, g.UserURL = idp.URL+"/google/auth", idp.URL+"/google/token", idp.URL+"/google/userinfo"
	gh := console.GitHub(idp.ClientID, idp.ClientSecret)
	gh.AuthURL, gh.TokenURL, gh.UserURL = idp.URL+"/github/login/oauth/authorize", idp.URL+"/github/login/oauth/access_token", idp.URL+"/github/user/emails"
	e := newEnv(t, d, func(c *server.Config) { c.ConsoleProviders = []console.Provider{g, gh} })
	return e, idp
}

// get does an absolute GET with b's cookies, not following redirects.
func (b *browser) get(raw string) page {
	b.e.t.Helper()
	u, _ := url.Parse(raw)
	if !u.IsAbs() {
		return b.do("GET", raw, nil)
	}
	resp, err := b.c.Get(raw)
	if err != nil {
		b.e.t.Fatal(err)
	}
	resp.Body.Close()
	return page{resp.StatusCode, resp.Header, ""}
}

// startExternal starts provider's sign-in on b and returns the provider's
// answer: the redirect back to the console's callback.
func (b *browser) startExternal(provider string) string {
	t := b.e.t
	t.Helper()
	p := b.do("GET", "/console/login/"+provider, nil)
	loc, _ := url.Parse(p.header.Get("Location"))
	if p.status != http.StatusSeeOther || loc == nil || loc.Query().Get("code_challenge_method") != "S256" ||
		loc.Query().Get("state") == "" || loc.Query().Get("redirect_uri") != b.e.srv.URL+"/console/login/"+provider+"/callback" {
		t.Fatalf("start %s: %d %s", provider, p.status, p.header.Get("Location"))
	}
	back := b.get(loc.String())
	if back.status != http.StatusFound {
		t.Fatalf("the provider refused the authorization request: %d", back.status)
	}
	return back.header.Get("Location")
}

// signedInAs returns the email the console shows b signed in as ("" if none).
func (b *browser) signedInAs() string {
	p := b.do("GET", "/console/", nil)
	_, rest, ok := strings.Cut(p.body, "Signed in as ")
	if !ok {
		return ""
	}
	return strings.Fields(rest)[0]
}

// TestExternalSignIn: Sign in with Google (OpenID Connect) and GitHub
// (OAuth2) against the loopback stand-in: code flow with PKCE S256, state
// bound to the browser that started it, accounts linked by verified email
// only, never created.
func TestExternalSignIn(t *testing.T) {
	dbtest.Each(t, func(t *testing.T, d *db.DB) {
		e, idp := externalEnv(t, d)
		login := e.browser().do("GET", "/console/login", nil)
		for _, l := range []string{`href="/console/login/google">Sign in with Google</a>`, `href="/console/login/github">Sign in with GitHub</a>`} {
			if !strings.Contains(login.body, l) {
				t.Errorf("the sign-in page lacks %s", l)
			}
		}

		// Google, verified email of an existing account: signed in.
		idp.SetGoogleUser("Dev@Example.com", true)
		b := e.browser()
		cb := b.startExternal("google")
		p := b.get(cb)
		if p.status != http.StatusSeeOther || p.header.Get("Location") != "/console/api-keys" {
			t.Fatalf("google callback: %d %s", p.status, p.header.Get("Location"))
		}
		if who := b.signedInAs(); who != e.user.Email {
			t.Fatalf("signed in as %q", who)
		}
		// The callback is single use: replayed, the flow cookie is gone.
		if p := b.do("GET", strings.TrimPrefix(cb, e.srv.URL), nil); p.status != http.StatusForbidden {
			t.Fatalf("replayed callback: %d", p.status)
		}

		// Another browser cannot complete a flow it did not start (login
		// CSRF): refused before the code is exchanged.
		n := idp.Exchanges()
		cb = e.browser().startExternal("google")
		other := e.browser()
		if p := other.do("GET", strings.TrimPrefix(cb, e.srv.URL), nil); p.status != http.StatusForbidden ||
			!strings.Contains(p.body, "was not started in this browser") {
			t.Fatalf("callback in another browser: %d %.300s", p.status, p.body)
		}
		if idp.Exchanges() != n || other.signedInAs() != "" {
			t.Fatal("a foreign callback exchanged its code or signed in")
		}
		// A forged state in the right browser is refused too.
		b2 := e.browser()
		cb = b2.startExternal("google")
		u, _ := url.Parse(cb)
		qs := u.Query()
		qs.Set("state", "forged"+qs.Get("state")[6:])
		u.RawQuery = qs.Encode()
		if p := b2.do("GET", u.RequestURI(), nil); p.status != http.StatusForbidden || b2.signedInAs() != "" {
			t.Fatalf("forged state: %d", p.status)
		}

		// Unverified email: refused. Unknown email: refused, no account made.
		for _, c := range []struct {
			email    string
			verified bool
			status   int
			msg      string
		}{
			{e.user.Email, false, http.StatusUnauthorized, "your email address is not verified"},
			{"stranger@example.com", true, http.StatusForbidden, "No active account has the verified email"},
		} {
			idp.SetGoogleUser(c.email, c.verified)
			b := e.browser()
			p := b.do("GET", strings.TrimPrefix(b.startExternal("google"), e.srv.URL), nil)
			if p.status != c.status || !strings.Contains(p.body, c.msg) || b.signedInAs() != "" {
				t.Fatalf("google %s verified=%v: %d %.500s", c.email, c.verified, p.status, p.body)
			}
		}
		if _, err := e.a.UserByEmailOrID(context.Background(), "stranger@example.com"); err != auth.ErrNotFound {
			t.Fatalf("an account was created for the stranger: %v", err)
		}

		// A deactivated account cannot sign in this way either.
		if _, err := e.a.CreateUser(context.Background(), "gone@example.com", password, "Gone", auth.RoleConducteur); err != nil {
			t.Fatal(err)
		}
		gone, _ := e.a.UserByEmailOrID(context.Background(), "gone@example.com")
		off := false
		if _, err := e.a.UpdateUser(context.Background(), gone.ID, auth.UserPatch{Active: &off}); err != nil {
			t.Fatal(err)
		}
		idp.SetGoogleUser("gone@example.com", true)
		gb := e.browser()
		if p := gb.do("GET", strings.TrimPrefix(gb.startExternal("google"), e.srv.URL), nil); p.status != http.StatusForbidden || gb.signedInAs() != "" {
			t.Fatalf("deactivated account: %d", p.status)
		}

		// GitHub: the primary address, when verified.
		idp.SetGitHubEmails(oidc.Email{Email: "someone@else.example", Verified: true},
			oidc.Email{Email: e.admin.Email, Primary: true, Verified: true})
		hb := e.browser()
		if p := hb.do("GET", strings.TrimPrefix(hb.startExternal("github"), e.srv.URL), nil); p.status != http.StatusSeeOther {
			t.Fatalf("github callback: %d %.300s", p.status, p.body)
		}
		if who := hb.signedInAs(); who != e.admin.Email {
			t.Fatalf("github: signed in as %q", who)
		}
		idp.SetGitHubEmails(oidc.Email{Email: e.admin.Email, Primary: true, Verified: false})
		hb = e.browser()
		if p := hb.do("GET", strings.TrimPrefix(hb.startExternal("github"), e.srv.URL), nil); p.status != http.StatusUnauthorized ||
			!strings.Contains(p.body, "primary email address is not verified") || hb.signedInAs() != "" {
			t.Fatalf("github unverified primary: %d %.300s", p.status, p.body)
		}

		// Unconfigured provider: 404.
		if p := e.browser().do("GET", "/console/login/facebook", nil); p.status != http.StatusNotFound {
			t.Fatalf("unknown provider: %d", p.status)
		}
	})
}
