package oauth

import (
	"context"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"io"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"
	"net/url"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"golang.org/x/crypto/bcrypt"

	"github.com/hubchantier/hubgate/internal/assertion"
	"github.com/hubchantier/hubgate/internal/testutil"
	"github.com/hubchantier/hubgate/upstream/auth"
	"github.com/hubchantier/hubgate/upstream/db"
	"github.com/hubchantier/hubgate/upstream/httpx"
)

var testSecret = []byte("0123456789abcdef0123456789abcdef")

// clock is a settable test clock shared by the auth and oauth services.
type clock = testutil.Clock

const testPassword = "correct-horse-battery"

// env is the OAuth2 server on a loopback test server, with a conducteur
// user and two clients: a confidential one and a public (PKCE) one.
type env struct {
	t      *testing.T
	d      *db.DB
	a      *auth.Service
	s      *Server
	clock  *clock
	srv    *httptest.Server
	user   auth.User
	conf   CreatedClient
	public CreatedClient
}

const (
	confRedirect   = "https://erp.example.com/callback"
	publicRedirect = "http://127.0.0.1/cb"
)

func newEnv(t *testing.T, d *db.DB) *env {
	t.Helper()
	return newEnvWith(t, d, "", "https://api.example.com")
}

// newEnvWith is newEnv with the JWT issuer (HUB_JWT_ISSUER, "" for the
// default) and public URL (HUB_PUBLIC_URL) given.
func newEnvWith(t *testing.T, d *db.DB, issuer, publicURL string) *env {
	t.Helper()
	ctx := context.Background()
	c := testutil.NewClock(time.Now().UTC().Truncate(time.Second))
	a, err := auth.New(ctx, d, auth.Options{GatewaySecret: testSecret, Now: c.Now, BcryptCost: bcrypt.MinCost, Issuer: issuer})
	if err != nil {
		t.Fatal(err)
	}
	s := New(d, a, Options{Now: c.Now, PublicURL: publicURL})
	mux := http.NewServeMux()
	s.Register(mux)
	e := &env{t: t, d: d, a: a, s: s, clock: c}
	e.srv = httptest.NewServer(httpx.RequireAssertion(testSecret, c.Now, mux))
	t.Cleanup(e.srv.Close)
	if e.user, err = a.CreateUser(ctx, "alice@example.com", testPassword, "Alice", auth.RoleConducteur); err != nil {
		t.Fatal(err)
	}
	if e.conf, err = s.CreateClient(ctx, CreateClientRequest{Name: "ERP", RedirectURIs: []string{confRedirect},
		Scopes: []string{"chantiers:read", "chantiers:write", "pointages:read"}}); err != nil {
		t.Fatal(err)
	}
	if e.public, err = s.CreateClient(ctx, CreateClientRequest{Name: "Calendar", RedirectURIs: []string{publicRedirect},
		Scopes: []string{"chantiers:read", "planning:read"}, Public: true}); err != nil {
		t.Fatal(err)
	}
	return e
}

// browser is an http.Client with a cookie jar that does not follow
// redirects, so each 303 can be checked.
func browser(t *testing.T) *http.Client {
	jar, err := cookiejar.New(nil)
	if err != nil {
		t.Fatal(err)
	}
	return &http.Client{Jar: jar, Timeout: 10 * time.Second,
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
}

type answer struct {
	status int
	header http.Header
	body   string
}

func do(t *testing.T, c *http.Client, req *http.Request) answer {
	t.Helper()
	resp, err := c.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return answer{resp.StatusCode, resp.Header, string(b)}
}

func (e *env) get(c *http.Client, path string) answer {
	req, _ := http.NewRequest("GET", e.srv.URL+path, nil)
	return do(e.t, c, req)
}

func (e *env) postForm(c *http.Client, path string, form url.Values, hdr ...string) answer {
	req, _ := http.NewRequest("POST", e.srv.URL+path, strings.NewReader(form.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	for i := 0; i+1 < len(hdr); i += 2 {
		req.Header.Set(hdr[i], hdr[i+1])
	}
	return do(e.t, c, req)
}

var csrfRe = regexp.MustCompile(`name="csrf_token" value="([^"]+)"`)

func csrfOf(t *testing.T, page string) string {
	t.Helper()
	m := csrfRe.FindStringSubmatch(page)
	if m == nil {
		t.Fatalf("no csrf_token in page:\n%s", page)
	}
	return m[1]
}

// pkce returns a verifier and its S256 challenge.
func pkce(seed string) (verifier, challenge string) {
	verifier = strings.Repeat(seed, 43/len(seed)+1)[:43] + "-verifier"
	sum := sha256.Sum256([]byte(verifier))
	return verifier, base64.RawURLEncoding.EncodeToString(sum[:])
}

// authorizeURL builds /oauth/authorize with the given parameters.
func authorizeURL(params map[string]string) string {
	v := url.Values{}
	for k, val := range params {
		v.Set(k, val)
	}
	return "/oauth/authorize?" + v.Encode()
}

// approve drives login and consent in a fresh browser and returns the
// Location of the final 303 (the client's redirect URI with code or error).
func (e *env) approve(params map[string]string) *url.URL {
	e.t.Helper()
	b := browser(e.t)
	r := e.get(b, authorizeURL(params))
	if r.status != 200 || !strings.Contains(r.body, `action="/oauth/login"`) {
		e.t.Fatalf("authorize: want login page, got %d %s", r.status, r.body)
	}
	form := url.Values{"csrf_token": {csrfOf(e.t, r.body)}, "email": {e.user.Email}, "password": {testPassword}}
	for k, v := range params {
		form.Set(k, v)
	}
	r = e.postForm(b, "/oauth/login", form)
	if r.status != http.StatusSeeOther {
		e.t.Fatalf("login: want 303, got %d %s", r.status, r.body)
	}
	r = e.get(b, r.header.Get("Location"))
	if r.status != 200 || !strings.Contains(r.body, `value="approve"`) {
		e.t.Fatalf("want consent page, got %d %s", r.status, r.body)
	}
	form.Set("csrf_token", csrfOf(e.t, r.body))
	form.Set("action", "approve")
	form.Del("email")
	form.Del("password")
	r = e.postForm(b, "/oauth/authorize", form)
	if r.status != http.StatusSeeOther {
		e.t.Fatalf("consent: want 303, got %d %s", r.status, r.body)
	}
	u, err := url.Parse(r.header.Get("Location"))
	if err != nil {
		e.t.Fatal(err)
	}
	return u
}

// publicCode runs the whole authorization for the public client with PKCE and
// returns the code and its verifier.
func (e *env) publicCode(scope string) (code, verifier string) {
	e.t.Helper()
	verifier, challenge := pkce("pub")
	u := e.approve(map[string]string{"response_type": "code", "client_id": e.public.ID, "redirect_uri": publicRedirect,
		"scope": scope, "state": "xyz", "code_challenge": challenge, "code_challenge_method": "S256"})
	code = u.Query().Get("code")
	if code == "" {
		e.t.Fatalf("no code in %s", u)
	}
	return code, verifier
}

// confCode authorizes the confidential client (optionally with PKCE).
func (e *env) confCode(scope, challenge string) string {
	e.t.Helper()
	p := map[string]string{"response_type": "code", "client_id": e.conf.ID, "redirect_uri": confRedirect, "scope": scope}
	if challenge != "" {
		p["code_challenge"], p["code_challenge_method"] = challenge, "S256"
	}
	u := e.approve(p)
	code := u.Query().Get("code")
	if code == "" {
		e.t.Fatalf("no code in %s", u)
	}
	return code
}

// token posts to /oauth/token; basic authenticates the confidential client
// with HTTP Basic.
func (e *env) token(form url.Values, basic bool) (answer, map[string]any) {
	e.t.Helper()
	return e.call("/oauth/token", form, basic)
}

// call posts a form to one of the JSON endpoints (token, introspect).
func (e *env) call(path string, form url.Values, basic bool) (answer, map[string]any) {
	e.t.Helper()
	var hdr []string
	if basic {
		req, _ := http.NewRequest("GET", "/", nil)
		req.SetBasicAuth(e.conf.ID, e.conf.ClientSecret)
		hdr = []string{"Authorization", req.Header.Get("Authorization")}
	}
	r := e.postForm(http.DefaultClient, path, form, hdr...)
	var m map[string]any
	if err := json.Unmarshal([]byte(r.body), &m); err != nil {
		e.t.Fatalf("%s: status %d, body not JSON: %s", path, r.status, r.body)
	}
	if cc := r.header.Get("Cache-Control"); cc != "no-store" {
		e.t.Fatalf("%s: Cache-Control %q", path, cc)
	}
	return r, m
}

// events returns the revocation events of a kind published so far.
func (e *env) events(kind string) []string {
	e.t.Helper()
	evs, _, err := e.a.Events(context.Background(), 0)
	if err != nil {
		e.t.Fatal(err)
	}
	var out []string
	for _, ev := range evs {
		if ev.Kind == kind {
			out = append(out, ev.ID)
		}
	}
	return out
}

// jtiOf verifies an access token and returns its jti.
func (e *env) jtiOf(tok string) string {
	e.t.Helper()
	c, err := e.a.VerifyOAuthToken(context.Background(), tok)
	if err != nil {
		e.t.Fatalf("access token does not verify: %v", err)
	}
	return c.ID
}

// asUser signs the gateway assertion for a request made by the user with
// the given method (jwt, oauth2…).
func (e *env) asUser(req *http.Request, method string, scopes ...string) {
	a, err := assertion.Sign(testSecret, assertion.Claims{Subject: strconv.FormatInt(e.user.ID, 10), Role: e.user.Role,
		Method: method, Scopes: scopes, HTTPMethod: req.Method}, e.clock.Now())
	if err != nil {
		e.t.Fatal(err)
	}
	req.Header.Set(assertion.Header, a)
}
