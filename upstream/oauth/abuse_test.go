package oauth

import (
	"crypto/sha256"
	"encoding/base64"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/hubchantier/hubgate/internal/assertion"
	"github.com/hubchantier/hubgate/upstream/db/dbtest"
)

// viaGateway makes req look forwarded by the gateway for a client at ip:
// a valid identity assertion (anonymous, as hub_auth sends on public
// routes) and the X-Forwarded-For that Caddy's reverse_proxy writes.
func (e *env) viaGateway(req *http.Request, ip string) {
	a, err := assertion.Sign(testSecret, assertion.Claims{Method: assertion.MethodAnonymous, HTTPMethod: req.Method}, e.clock.Now())
	if err != nil {
		e.t.Fatal(err)
	}
	req.Header.Set(assertion.Header, a)
	req.Header.Set("X-Forwarded-For", ip)
}

// postFrom posts form to path as a client at ip (through the gateway when
// gateway is set, else directly with only a forged X-Forwarded-For).
func (e *env) postFrom(c *http.Client, ip string, gateway bool, path string, form url.Values, hdr ...string) answer {
	e.t.Helper()
	req, _ := http.NewRequest("POST", e.srv.URL+path, strings.NewReader(form.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	if gateway {
		e.viaGateway(req, ip)
	} else {
		req.Header.Set("X-Forwarded-For", ip)
	}
	for i := 0; i+1 < len(hdr); i += 2 {
		req.Header.Set(hdr[i], hdr[i+1])
	}
	return do(e.t, c, req)
}

// TestClientThrottlePerIP (finding #6): an attacker who knows a
// confidential client's public client_id and sends ten bad secrets is
// throttled, but the client, with its secret and from its own address, is
// not — neither when the attacker comes through the gateway nor when it
// reaches the upstream directly claiming the client's address in a forged
// X-Forwarded-For.
func TestClientThrottlePerIP(t *testing.T) {
	e := newEnv(t, dbtest.SQLite(t))
	const attacker, legit = "203.0.113.7", "198.51.100.20"
	form := func(secret string) url.Values {
		return url.Values{"grant_type": {"refresh_token"}, "refresh_token": {"x"}, "client_id": {e.conf.ID}, "client_secret": {secret}}
	}
	for i := 0; i < DefaultMaxClientFailures; i++ {
		if r := e.postFrom(http.DefaultClient, attacker, true, "/oauth/token", form("wrong")); r.status != 401 {
			t.Fatalf("attacker failure %d: %d %s", i, r.status, r.body)
		}
	}
	r := e.postFrom(http.DefaultClient, attacker, true, "/oauth/token", form("wrong"))
	if r.status != http.StatusTooManyRequests || r.header.Get("Retry-After") == "" || r.header.Get("Content-Type") != "application/json" {
		t.Fatalf("attacker after %d failures: %d %v %s", DefaultMaxClientFailures, r.status, r.header, r.body)
	}
	// The legitimate client from its own address authenticates (invalid_grant:
	// the refresh token is bogus, but the client got past authentication).
	if r := e.postFrom(http.DefaultClient, legit, true, "/oauth/token", form(e.conf.ClientSecret)); r.status != 400 || !strings.Contains(r.body, "invalid_grant") {
		t.Fatalf("legitimate client refused because of the attacker: %d %s", r.status, r.body)
	}

	// Direct to the upstream, a forged X-Forwarded-For is not believed: the
	// failures count against the connection's address, not the client's.
	e2 := newEnv(t, dbtest.SQLite(t))
	form2 := func(secret string) url.Values {
		return url.Values{"grant_type": {"refresh_token"}, "refresh_token": {"x"}, "client_id": {e2.conf.ID}, "client_secret": {secret}}
	}
	for i := 0; i <= DefaultMaxClientFailures; i++ {
		e2.postFrom(http.DefaultClient, legit, false, "/oauth/token", form2("wrong"))
	}
	if r := e2.postFrom(http.DefaultClient, legit, true, "/oauth/token", form2(e2.conf.ClientSecret)); r.status != 400 || !strings.Contains(r.body, "invalid_grant") {
		t.Fatalf("spoofed X-Forwarded-For locked the client out: %d %s", r.status, r.body)
	}
}

// loginForm fetches the sign-in page in b and returns its filled form.
func (e *env) loginForm(b *http.Client, email, password string) url.Values {
	e.t.Helper()
	_, challenge := pkce("thr")
	params := map[string]string{"response_type": "code", "client_id": e.public.ID, "redirect_uri": publicRedirect,
		"scope": "chantiers:read", "state": "s", "code_challenge": challenge, "code_challenge_method": "S256"}
	r := e.get(b, authorizeURL(params))
	form := url.Values{"csrf_token": {csrfOf(e.t, r.body)}, "email": {email}, "password": {password}}
	for k, v := range params {
		form.Set(k, v)
	}
	return form
}

// TestOAuthLoginThrottle (finding #3): the sign-in form of the
// authorization page slows down guessing per (account, client network):
// after 5 bad passwords from one address, that address gets 429 with
// Retry-After even with the right password, while the real user from
// another address signs in; an IPv6 attacker cannot escape by changing
// addresses inside its /64; the window ends.
func TestOAuthLoginThrottle(t *testing.T) {
	e := newEnv(t, dbtest.SQLite(t))
	attacker := browser(t)
	form := e.loginForm(attacker, e.user.Email, "wrong-password")
	for i := 0; i < 5; i++ {
		ip := "2001:db8:1:2::" + strconv.Itoa(i+1) // one /64, five addresses
		if r := e.postFrom(attacker, ip, true, "/oauth/login", form); r.status != http.StatusUnauthorized {
			t.Fatalf("bad password %d: %d", i, r.status)
		}
	}
	form.Set("password", testPassword)
	r := e.postFrom(attacker, "2001:db8:1:2::99", true, "/oauth/login", form)
	ra, _ := strconv.Atoi(r.header.Get("Retry-After"))
	if r.status != http.StatusTooManyRequests || ra < 1 || ra > 15*60 || !strings.Contains(r.body, "Too many failed sign-ins") {
		t.Fatalf("6th attempt from the same /64: %d Retry-After %q", r.status, r.header.Get("Retry-After"))
	}
	if strings.Contains(strings.Join(r.header.Values("Set-Cookie"), ";"), sessionCookie+"=") {
		t.Fatal("a throttled attempt opened a session")
	}
	user := browser(t)
	if r := e.postFrom(user, "198.51.100.20", true, "/oauth/login", e.loginForm(user, e.user.Email, testPassword)); r.status != http.StatusSeeOther {
		t.Fatalf("the real user from another network: %d %s", r.status, r.body)
	}
	e.clock.Add(15 * time.Minute)
	if r := e.postFrom(attacker, "2001:db8:1:2::99", true, "/oauth/login", e.loginForm(attacker, e.user.Email, testPassword)); r.status != http.StatusSeeOther {
		t.Fatalf("after the window: %d", r.status)
	}
}

// TestLoginCSRFForgedPair (finding #3): the sign-in form's token is an
// HMAC under a server key, so an attacker who plants a cookie of its
// choosing and posts the matching value (double submit) is refused, as is
// a real token replayed with another browser's cookie, or after it expired.
func TestLoginCSRFForgedPair(t *testing.T) {
	e := newEnv(t, dbtest.SQLite(t))
	forged := strings.Repeat("A", 43)
	form := e.loginForm(browser(t), e.user.Email, testPassword)
	form.Set("csrf_token", forged)
	var cookies []string
	for _, n := range []string{"hub_oauth_csrf", loginCookie, hostPrefix + loginCookie} {
		cookies = append(cookies, n+"="+forged)
	}
	r := e.postForm(http.DefaultClient, "/oauth/login", form, "Cookie", strings.Join(cookies, "; "))
	if r.status != http.StatusForbidden || strings.Contains(strings.Join(r.header.Values("Set-Cookie"), ""), sessionCookie) {
		t.Fatalf("forged cookie + matching form value: %d", r.status)
	}

	// A genuine token with another browser's nonce cookie.
	victim, attacker := browser(t), browser(t)
	form = e.loginForm(attacker, e.user.Email, testPassword)
	e.loginForm(victim, e.user.Email, testPassword) // the victim has its own nonce
	if r := e.postForm(victim, "/oauth/login", form); r.status != http.StatusForbidden {
		t.Fatalf("token of another browser: %d", r.status)
	}
	// The genuine pair works, until it expires.
	if r := e.postForm(attacker, "/oauth/login", form); r.status != http.StatusSeeOther {
		t.Fatalf("genuine pair: %d %s", r.status, r.body)
	}
	b := browser(t)
	form = e.loginForm(b, e.user.Email, testPassword)
	e.clock.Add(2 * time.Hour) // the jar keeps the cookie: it expires on the real clock
	if r := e.postForm(b, "/oauth/login", form); r.status != http.StatusForbidden {
		t.Fatalf("expired token: %d", r.status)
	}
}

func mustURL(s string) *url.URL {
	u, err := url.Parse(s)
	if err != nil {
		panic(err)
	}
	return u
}

// TestConsentCSRFNeedsServerKey: the consent token is not computable from
// the session cookie alone (it used to be its SHA-256).
func TestConsentCSRFNeedsServerKey(t *testing.T) {
	e := newEnv(t, dbtest.SQLite(t))
	b := browser(t)
	form := e.loginForm(b, e.user.Email, testPassword)
	r := e.postForm(b, "/oauth/login", form)
	if r.status != http.StatusSeeOther {
		t.Fatalf("login: %d", r.status)
	}
	var session string
	for _, c := range b.Jar.Cookies(mustURL(e.srv.URL + "/oauth/authorize")) {
		if strings.HasSuffix(c.Name, sessionCookie) {
			session = c.Value
		}
	}
	if session == "" {
		t.Fatal("no session cookie")
	}
	sum := sha256.Sum256([]byte("hub-oauth-consent-csrf." + session))
	form.Del("email")
	form.Del("password")
	form.Set("action", "approve")
	form.Set("csrf_token", base64.RawURLEncoding.EncodeToString(sum[:]))
	if r := e.postForm(b, "/oauth/authorize", form); r.status != http.StatusForbidden || r.header.Get("Location") != "" {
		t.Fatalf("consent token derived without the server key: %d %v", r.status, r.header)
	}
}

// TestCookieAttributes: over TLS (an https public URL, or the gateway
// saying so in a signed request) the cookies are __Host-, Secure, Path=/;
// on plain http they have the bare name and no Secure; an
// X-Forwarded-Proto a client sends straight to the upstream changes
// nothing. Always HttpOnly and SameSite=Lax.
func TestCookieAttributes(t *testing.T) {
	d := dbtest.SQLite(t)
	setCookie := func(e *env, hdr ...string) string {
		_, challenge := pkce("ck")
		req, _ := http.NewRequest("GET", e.srv.URL+authorizeURL(map[string]string{"response_type": "code", "client_id": e.public.ID,
			"redirect_uri": publicRedirect, "code_challenge": challenge, "code_challenge_method": "S256"}), nil)
		for i := 0; i+1 < len(hdr); i += 2 {
			req.Header.Set(hdr[i], hdr[i+1])
		}
		if len(hdr) > 0 && hdr[0] == "gateway" {
			req.Header.Del("gateway")
			e.viaGateway(req, "198.51.100.1")
			req.Header.Set("X-Forwarded-Proto", "https")
		}
		r := do(t, http.DefaultClient, req)
		sc := r.header.Get("Set-Cookie")
		for _, want := range []string{"HttpOnly", "SameSite=Lax", "Path=/;"} {
			if !strings.Contains(sc+";", want) {
				t.Fatalf("Set-Cookie %q lacks %s", sc, want)
			}
		}
		return sc
	}
	secure := func(sc string) bool {
		return strings.HasPrefix(sc, hostPrefix+loginCookie+"=") && strings.Contains(sc, "; Secure")
	}
	if sc := setCookie(newEnvWith(t, d, "", "https://api.example.com")); !secure(sc) {
		t.Fatalf("https public URL: %s", sc)
	}
	plain := newEnvWith(t, dbtest.SQLite(t), "", "http://localhost:8080")
	if sc := setCookie(plain); secure(sc) || !strings.HasPrefix(sc, loginCookie+"=") {
		t.Fatalf("plain http: %s", sc)
	}
	if sc := setCookie(plain, "X-Forwarded-Proto", "https"); secure(sc) {
		t.Fatalf("a client-sent X-Forwarded-Proto was believed: %s", sc)
	}
	if sc := setCookie(plain, "gateway", "1"); !secure(sc) {
		t.Fatalf("the gateway's X-Forwarded-Proto https: %s", sc)
	}
}
