package console_test

import (
	"context"
	"io"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"
	"net/url"
	"regexp"
	"strconv"
	"strings"
	"testing"

	"golang.org/x/crypto/bcrypt"

	"github.com/hubchantier/hubgate/internal/auditchain"
	"github.com/hubchantier/hubgate/upstream/auth"
	"github.com/hubchantier/hubgate/upstream/db"
	"github.com/hubchantier/hubgate/upstream/db/dbtest"
	"github.com/hubchantier/hubgate/upstream/server"
)

var secret = []byte("0123456789abcdef0123456789abcdef")

const password = "correct-horse-battery"

// env is the whole upstream service on a loopback server, with an admin
// and a conducteur.
type env struct {
	t     *testing.T
	srv   *httptest.Server
	a     *auth.Service
	admin auth.User
	user  auth.User
}

func newEnv(t *testing.T, d *db.DB, opts ...func(*server.Config)) *env {
	t.Helper()
	cfg := server.Config{GatewaySecret: secret, BcryptCost: bcrypt.MinCost}
	for _, o := range opts {
		o(&cfg)
	}
	// The service's background work (the event dispatcher, when an option
	// starts it) ends with the test.
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)
	h, a, err := server.New(ctx, cfg, d)
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(h)
	t.Cleanup(srv.Close)
	e := &env{t: t, srv: srv, a: a}
	if e.admin, err = a.CreateUser(context.Background(), "admin@example.com", password, "Admin", auth.RoleAdmin); err != nil {
		t.Fatal(err)
	}
	if e.user, err = a.CreateUser(context.Background(), "dev@example.com", password, "Dev", auth.RoleConducteur); err != nil {
		t.Fatal(err)
	}
	return e
}

// browser is a cookie-keeping client that does not follow redirects.
type browser struct {
	e *env
	c *http.Client
}

func (e *env) browser() *browser {
	jar, _ := cookiejar.New(nil)
	return &browser{e: e, c: &http.Client{Jar: jar, CheckRedirect: func(*http.Request, []*http.Request) error {
		return http.ErrUseLastResponse
	}}}
}

type page struct {
	status int
	header http.Header
	body   string
}

func (b *browser) do(method, path string, form url.Values) page {
	b.e.t.Helper()
	var body io.Reader
	if form != nil {
		body = strings.NewReader(form.Encode())
	}
	req, _ := http.NewRequest(method, b.e.srv.URL+path, body)
	if form != nil {
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	}
	resp, err := b.c.Do(req)
	if err != nil {
		b.e.t.Fatal(err)
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(resp.Body)
	return page{resp.StatusCode, resp.Header, string(raw)}
}

var csrfRE = regexp.MustCompile(`name="csrf_token" value="([^"]+)"`)

func csrf(t *testing.T, p page) string {
	t.Helper()
	m := csrfRE.FindStringSubmatch(p.body)
	if m == nil {
		t.Fatalf("no CSRF token in the page (%d): %.300s", p.status, p.body)
	}
	return m[1]
}

// signIn signs b in as email and returns the page it lands on.
func (b *browser) signIn(email, pw string) page {
	b.e.t.Helper()
	login := b.do("GET", "/console/login", nil)
	return b.do("POST", "/console/login", url.Values{"csrf_token": {csrf(b.e.t, login)}, "email": {email}, "password": {pw},
		"next": {"/console/api-keys"}})
}

// TestPageSecurityHeaders: every page has a CSP without inline script or
// style and with frame-ancestors 'none'; the session cookie is HttpOnly
// and SameSite=Lax, and is not Secure on plain http.
func TestPageSecurityHeaders(t *testing.T) {
	e := newEnv(t, dbtest.SQLite(t))
	b := e.browser()
	p := b.do("GET", "/console/login", nil)
	csp := p.header.Get("Content-Security-Policy")
	if p.status != 200 || !strings.Contains(csp, "frame-ancestors 'none'") || !strings.Contains(csp, "script-src 'self'") ||
		strings.Contains(csp, "unsafe") {
		t.Fatalf("login page: %d CSP %q", p.status, csp)
	}
	if strings.Contains(p.body, "<script>") || strings.Contains(p.body, "style=") || strings.Contains(p.body, "<style") {
		t.Fatal("inline script or style on the page")
	}
	for _, l := range []string{`<label for="email">Email</label>`, `<label for="password">Password</label>`, `>Sign in</button>`} {
		if !strings.Contains(p.body, l) {
			t.Errorf("login page lacks %s", l)
		}
	}
	got := b.signIn(e.user.Email, password)
	if got.status != http.StatusSeeOther || got.header.Get("Location") != "/console/api-keys" {
		t.Fatalf("sign-in: %d %s", got.status, got.header.Get("Location"))
	}
	var sc string
	for _, c := range got.header.Values("Set-Cookie") {
		if strings.HasPrefix(c, "hub_oauth_session=") {
			sc = c
		}
	}
	if !strings.Contains(sc, "HttpOnly") || !strings.Contains(sc, "SameSite=Lax") || strings.Contains(sc, "Secure") {
		t.Fatalf("session cookie: %q", sc)
	}
	if got := e.browser().do("GET", "/console/api-keys", nil); got.status != http.StatusSeeOther ||
		!strings.HasPrefix(got.header.Get("Location"), "/console/login") {
		t.Fatalf("signed out: %d %s", got.status, got.header.Get("Location"))
	}
	if got := b.do("GET", "/api-keys", nil); got.header.Get("Location") != "/console/api-keys" {
		t.Fatalf("/api-keys redirects to %q", got.header.Get("Location"))
	}
}

var keyRE = regexp.MustCompile(`value="(hbc_[A-Za-z0-9_-]+)"`)

// TestKeyLifecycle: create (the secret on that answer only), list, rotate,
// revoke; every form needs its CSRF token.
func TestKeyLifecycle(t *testing.T) {
	dbtest.Each(t, func(t *testing.T, d *db.DB) {
		e := newEnv(t, d)
		b := e.browser()
		b.signIn(e.user.Email, password)
		list := b.do("GET", "/console/api-keys", nil)
		tok := csrf(t, list)
		form := url.Values{"name": {"erp"}, "scopes": {"read", "chantiers:write"}, "expires_in_days": {"30"}}
		if got := b.do("POST", "/console/api-keys", form); got.status != http.StatusForbidden {
			t.Fatalf("create without CSRF: %d", got.status)
		}
		form.Set("csrf_token", "1"+tok)
		if got := b.do("POST", "/console/api-keys", form); got.status != http.StatusForbidden {
			t.Fatalf("create with a forged CSRF: %d", got.status)
		}
		if keys, _ := e.a.ListAPIKeys(context.Background(), e.user.ID); len(keys) != 0 {
			t.Fatalf("keys created without a valid CSRF token: %v", keys)
		}
		form.Set("csrf_token", tok)
		created := b.do("POST", "/console/api-keys", form)
		m := keyRE.FindStringSubmatch(created.body)
		if created.status != http.StatusCreated || m == nil || !strings.Contains(created.body, "will not be shown again") ||
			!strings.Contains(created.body, ">Copy</button>") || created.header.Get("Cache-Control") != "no-store" {
			t.Fatalf("create: %d %.400s", created.status, created.body)
		}
		keys, _ := e.a.ListAPIKeys(context.Background(), e.user.ID)
		if len(keys) != 1 || keys[0].Name != "erp" || len(keys[0].Scopes) != 2 {
			t.Fatalf("stored keys: %+v", keys)
		}
		list = b.do("GET", "/console/api-keys", nil)
		if strings.Contains(list.body, m[1]) || !strings.Contains(list.body, ">Active</span>") {
			t.Fatalf("the list shows the secret again or no status: %.600s", list.body)
		}
		id := keys[0].ID
		rot := b.do("POST", "/console/api-keys/"+id+"/rotate", url.Values{"csrf_token": {tok}})
		m2 := keyRE.FindStringSubmatch(rot.body)
		if rot.status != 200 || m2 == nil || m2[1] == m[1] {
			t.Fatalf("rotate: %d", rot.status)
		}
		confirm := b.do("GET", "/console/api-keys/"+id+"/revoke", nil)
		if !strings.Contains(confirm.body, `>Revoke</button>`) {
			t.Fatalf("confirmation page: %.300s", confirm.body)
		}
		// Another user can neither see nor revoke the key.
		other := e.browser()
		other.signIn(e.admin.Email, password)
		otok := csrf(t, other.do("GET", "/console/api-keys", nil))
		if got := other.do("POST", "/console/api-keys/"+id+"/revoke", url.Values{"csrf_token": {otok}}); got.status != http.StatusNotFound {
			t.Fatalf("revoke by another user: %d", got.status)
		}
		// A CSRF token is bound to its session: the admin's is no good for the user.
		if got := b.do("POST", "/console/api-keys/"+id+"/revoke", url.Values{"csrf_token": {otok}}); got.status != http.StatusForbidden {
			t.Fatalf("revoke with another session's token: %d", got.status)
		}
		rev := b.do("POST", "/console/api-keys/"+id+"/revoke", url.Values{"csrf_token": {tok}})
		if rev.status != http.StatusSeeOther {
			t.Fatalf("revoke: %d", rev.status)
		}
		list = b.do("GET", "/console/api-keys?done=revoked", nil)
		if !strings.Contains(list.body, ">Revoked</span>") || !strings.Contains(list.body, "was revoked") {
			t.Fatalf("after revoke: %.800s", list.body)
		}
	})
}

// TestSessionCutWithCredentials: an administrator's role change or
// deactivation of a user ends the user's console session at once.
func TestSessionCutWithCredentials(t *testing.T) {
	e := newEnv(t, dbtest.SQLite(t))
	b := e.browser()
	b.signIn(e.user.Email, password)
	if got := b.do("GET", "/console/api-keys", nil); got.status != 200 {
		t.Fatalf("signed in: %d", got.status)
	}
	adm := e.browser()
	adm.signIn(e.admin.Email, password)
	users := adm.do("GET", "/console/admin/users", nil)
	if users.status != 200 || !strings.Contains(users.body, e.user.Email) {
		t.Fatalf("users page: %d", users.status)
	}
	if got := b.do("GET", "/console/admin/users", nil); got.status != http.StatusForbidden {
		t.Fatalf("admin page for a conducteur: %d", got.status)
	}
	got := adm.do("POST", "/console/admin/users/"+strconv.FormatInt(e.user.ID, 10),
		url.Values{"csrf_token": {csrf(t, users)}, "role": {auth.RoleOuvrier}, "active": {"on"}})
	if got.status != http.StatusSeeOther {
		t.Fatalf("role change: %d %.300s", got.status, got.body)
	}
	if u, _ := e.a.UserByID(context.Background(), e.user.ID); u.Role != auth.RoleOuvrier {
		t.Fatalf("role now %q", u.Role)
	}
	if got := b.do("GET", "/console/api-keys", nil); got.status != http.StatusSeeOther {
		t.Fatalf("the session survived the role change: %d", got.status)
	}
	// Signing in again works, and signing out ends that session.
	b.signIn(e.user.Email, password)
	keys := b.do("GET", "/console/api-keys", nil)
	if keys.status != 200 {
		t.Fatalf("after signing in again: %d", keys.status)
	}
	b.do("POST", "/console/logout", url.Values{"csrf_token": {csrf(t, keys)}})
	if got := b.do("GET", "/console/api-keys", nil); got.status != http.StatusSeeOther {
		t.Fatalf("after sign-out: %d", got.status)
	}
}

// TestAuditAttribution: every signed-in page reports the acting user to
// hub_audit in the sealed account header.
func TestAuditAttribution(t *testing.T) {
	e := newEnv(t, dbtest.SQLite(t))
	b := e.browser()
	b.signIn(e.user.Email, password)
	p := b.do("GET", "/console/usage", nil)
	id, err := auditchain.OpenAccount(secret, p.header.Get(auditchain.AccountHeader))
	if p.status != 200 || err != nil || id != strconv.FormatInt(e.user.ID, 10) {
		t.Fatalf("usage page: %d, account %q %v", p.status, id, err)
	}
	if got := e.browser().do("GET", "/console/docs", nil); got.header.Get(auditchain.AccountHeader) != "" {
		t.Fatal("an anonymous page reports an account")
	}
}

// TestLoginThrottled: the console's sign-in shares the API's per-account
// throttle: after the failures allowed, even the right password is 429.
func TestLoginThrottled(t *testing.T) {
	e := newEnv(t, dbtest.SQLite(t))
	b := e.browser()
	for i := 0; i < auth.DefaultLoginMaxFailures; i++ {
		if got := b.signIn(e.user.Email, "wrong-password"); got.status != http.StatusUnauthorized {
			t.Fatalf("attempt %d: %d", i, got.status)
		}
	}
	got := b.signIn(e.user.Email, password)
	if got.status != http.StatusTooManyRequests || got.header.Get("Retry-After") == "" {
		t.Fatalf("after the limit: %d Retry-After %q", got.status, got.header.Get("Retry-After"))
	}
}

// TestAuditViewerFilters: the viewer filters by API key and refuses a
// tampered cursor with a message, not a 500.
func TestAuditViewerFilters(t *testing.T) {
	e := newEnv(t, dbtest.SQLite(t))
	adm := e.browser()
	adm.signIn(e.admin.Email, password)
	if got := adm.do("GET", "/console/admin/audit?api_key_id=abc&from=2026-01-01&to=2026-01-31", nil); got.status != 200 ||
		!strings.Contains(got.body, "No record matches") || !strings.Contains(got.body, `value="abc"`) {
		t.Fatalf("filtered: %d %.300s", got.status, got.body)
	}
	if got := adm.do("GET", "/console/admin/audit?cursor=forged", nil); got.status != http.StatusBadRequest {
		t.Fatalf("forged cursor: %d", got.status)
	}
	if got := adm.do("GET", "/console/admin/audit?status_code=42", nil); got.status != http.StatusBadRequest {
		t.Fatalf("bad status filter: %d", got.status)
	}
}

// TestSecureCookieOverHTTPS: with an https public URL the session cookie is
// Secure and carries the __Host- prefix.
func TestSecureCookieOverHTTPS(t *testing.T) {
	d := dbtest.SQLite(t)
	h, a, err := server.New(context.Background(), server.Config{GatewaySecret: secret, BcryptCost: bcrypt.MinCost,
		PublicURL: "https://api.example.com"}, d)
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(h)
	t.Cleanup(srv.Close)
	if _, err := a.CreateUser(context.Background(), "dev@example.com", password, "Dev", auth.RoleConducteur); err != nil {
		t.Fatal(err)
	}
	e := &env{t: t, srv: srv, a: a}
	b := e.browser()
	login := b.do("GET", "/console/login", nil)
	// The jar does not send Secure cookies over http: hand the nonce over.
	var nonce string
	for _, c := range login.header.Values("Set-Cookie") {
		if strings.HasPrefix(c, "__Host-hub_oauth_login=") {
			nonce = strings.SplitN(strings.TrimPrefix(c, "__Host-hub_oauth_login="), ";", 2)[0]
		}
	}
	req, _ := http.NewRequest("POST", srv.URL+"/console/login", strings.NewReader(url.Values{"csrf_token": {csrf(t, login)},
		"email": {"dev@example.com"}, "password": {password}}.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.AddCookie(&http.Cookie{Name: "__Host-hub_oauth_login", Value: nonce})
	resp, err := http.DefaultTransport.RoundTrip(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	var sc string
	for _, c := range resp.Header.Values("Set-Cookie") {
		if strings.HasPrefix(c, "__Host-hub_oauth_session=") {
			sc = c
		}
	}
	if resp.StatusCode != http.StatusSeeOther || !strings.Contains(sc, "Secure") || !strings.Contains(sc, "HttpOnly") ||
		!strings.Contains(sc, "SameSite=Lax") || !strings.Contains(sc, "Path=/") {
		t.Fatalf("sign-in over https: %d, session cookie %q", resp.StatusCode, sc)
	}
}

// TestSessionCutOnDeactivation: an administrator unticks "active": the
// user's console session ends and they cannot sign in again.
func TestSessionCutOnDeactivation(t *testing.T) {
	e := newEnv(t, dbtest.SQLite(t))
	b := e.browser()
	b.signIn(e.user.Email, password)
	adm := e.browser()
	adm.signIn(e.admin.Email, password)
	users := adm.do("GET", "/console/admin/users", nil)
	got := adm.do("POST", "/console/admin/users/"+strconv.FormatInt(e.user.ID, 10),
		url.Values{"csrf_token": {csrf(t, users)}, "role": {e.user.Role}})
	if got.status != http.StatusSeeOther {
		t.Fatalf("deactivate: %d %.300s", got.status, got.body)
	}
	if got := b.do("GET", "/console/api-keys", nil); got.status != http.StatusSeeOther {
		t.Fatalf("the session survived the deactivation: %d", got.status)
	}
	if got := b.signIn(e.user.Email, password); got.status != http.StatusUnauthorized {
		t.Fatalf("a deactivated user signs in: %d", got.status)
	}
	// An administrator cannot deactivate themself here.
	if got := adm.do("POST", "/console/admin/users/"+strconv.FormatInt(e.admin.ID, 10),
		url.Values{"csrf_token": {csrf(t, users)}, "role": {auth.RoleAdmin}}); got.status != http.StatusConflict {
		t.Fatalf("self-deactivation: %d", got.status)
	}
}
