package integration

import (
	"context"
	"crypto/ed25519"
	"encoding/base64"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"
	"golang.org/x/oauth2"

	"github.com/hubchantier/hubgate/upstream/db"
)

// oauthClient is what `hubchantier oauth-client create --json` prints.
type oauthClient struct {
	ID     string `json:"client_id"`
	Secret string `json:"client_secret"`
}

func (s *stack) createOAuthClient(args ...string) oauthClient {
	s.t.Helper()
	out := s.cli(append([]string{"oauth-client", "create", "--json"}, args...)...)
	var c oauthClient
	if err := json.Unmarshal([]byte(out), &c); err != nil || c.ID == "" {
		s.t.Fatalf("oauth-client create: %v: %s", err, out)
	}
	return c
}

var csrfField = regexp.MustCompile(`name="csrf_token" value="([^"]+)"`)

// hiddenFields returns the form fields of an HTML page (hidden inputs).
var hiddenField = regexp.MustCompile(`<input type="hidden" name="([^"]+)" value="([^"]*)">`)

func formOf(t *testing.T, page string) url.Values {
	t.Helper()
	v := url.Values{}
	for _, m := range hiddenField.FindAllStringSubmatch(page, -1) {
		// html/template escapes attribute values; the ones used here
		// (ids, URLs, base64url) only need &amp; undone.
		v.Set(m[1], strings.ReplaceAll(m[2], "&amp;", "&"))
	}
	if v.Get("csrf_token") == "" {
		t.Fatalf("no csrf_token in page:\n%s", page)
	}
	return v
}

// authorizeInBrowser plays the user: opens authURL through the gateway,
// signs in, approves, and returns the redirect the browser would follow.
func (s *stack) authorizeInBrowser(authURL, email, password string) *url.URL {
	s.t.Helper()
	jar, _ := cookiejar.New(nil)
	b := &http.Client{Jar: jar, Timeout: 15 * time.Second,
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	get := func(u string) (int, http.Header, string) {
		resp, err := b.Get(u)
		if err != nil {
			s.t.Fatal(err)
		}
		defer resp.Body.Close()
		body, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, resp.Header, string(body)
	}
	post := func(path string, form url.Values) (int, http.Header, string) {
		resp, err := b.PostForm(s.gw.URL+path, form)
		if err != nil {
			s.t.Fatal(err)
		}
		defer resp.Body.Close()
		body, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, resp.Header, string(body)
	}
	st, h, page := get(authURL)
	if st != 200 || !strings.Contains(page, `action="/oauth/login"`) {
		s.t.Fatalf("authorize: want the login page, got %d %s", st, page)
	}
	if !strings.Contains(h.Get("Content-Security-Policy"), "frame-ancestors 'none'") || h.Get("X-Frame-Options") != "DENY" || h.Get("Referrer-Policy") != "no-referrer" {
		s.t.Fatalf("login page security headers: %v", h)
	}
	form := formOf(s.t, page)
	form.Set("email", email)
	form.Set("password", password)
	st, h, page = post("/oauth/login", form)
	if st != http.StatusSeeOther {
		s.t.Fatalf("login: %d %s", st, page)
	}
	st, _, page = get(s.gw.URL + h.Get("Location"))
	if st != 200 || !strings.Contains(page, `value="approve"`) {
		s.t.Fatalf("want the consent page, got %d %s", st, page)
	}
	form = formOf(s.t, page)
	form.Set("action", "approve")
	st, h, page = post("/oauth/authorize", form)
	if st != http.StatusSeeOther {
		s.t.Fatalf("consent: %d %s", st, page)
	}
	u, err := url.Parse(h.Get("Location"))
	if err != nil {
		s.t.Fatal(err)
	}
	return u
}

// oauthErrorCode returns the RFC 6749 error of an x/oauth2 failure.
func oauthErrorCode(err error) string {
	var re *oauth2.RetrieveError
	if errors.As(err, &re) {
		return re.ErrorCode
	}
	return ""
}

// tokenForm posts a raw form to /oauth/token through the gateway.
func (s *stack) tokenForm(form url.Values, basicID, basicSecret string) (int, http.Header, map[string]any) {
	s.t.Helper()
	req, _ := http.NewRequest("POST", s.gw.URL+"/oauth/token", strings.NewReader(form.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	if basicID != "" {
		req.SetBasicAuth(basicID, basicSecret)
	}
	resp, err := s.client.Do(req)
	if err != nil {
		s.t.Fatal(err)
	}
	defer resp.Body.Close()
	var m map[string]any
	body, _ := io.ReadAll(resp.Body)
	if err := json.Unmarshal(body, &m); err != nil {
		s.t.Fatalf("token endpoint answered %d non-JSON: %s", resp.StatusCode, body)
	}
	return resp.StatusCode, resp.Header, m
}

// refusedWithin polls the gateway with tok until it answers 401.
func (s *stack) refusedWithin(tok, what string) {
	s.t.Helper()
	took := eventually(s.t, time.Second, what, func() bool {
		return s.gwDo("GET", "/api/v1/chantiers?limit=1", nil, bearer(tok)...).status == http.StatusUnauthorized
	})
	s.t.Logf("%s: refused after %s", what, took)
}

// TestOAuth2EndToEnd: a partner app with golang.org/x/oauth2 against the
// real binaries (SQLite + memory store, and PostgreSQL + Redis when set),
// then every refusal with its RFC error code.
func TestOAuth2EndToEnd(t *testing.T) {
	for _, b := range []backend{backends[0], backends[3]} {
		t.Run(b.name, func(t *testing.T) { oauthEndToEnd(t, b) })
	}
}

func oauthEndToEnd(t *testing.T, b backend) {
	// An https public URL: the pages' cookies are __Host- and Secure (Go's
	// cookie jar, like browsers, sends Secure cookies to loopback over http).
	t.Setenv("HUB_PUBLIC_URL", "https://hub.example.test")
	s := newStack(t, b)
	s.createUser("alice@example.com", "conducteur")
	s.cli("seed")
	const pw = "correct-horse-battery"
	pub := s.createOAuthClient("--name", "Calendar sync", "--redirect-uri", "http://127.0.0.1/cb",
		"--scopes", "chantiers:read,chantiers:write", "--public")
	if pub.Secret != "" {
		t.Fatal("a public client got a secret")
	}
	conf := s.createOAuthClient("--name", "ERP", "--redirect-uri", "https://erp.example.com/cb", "--scopes", "chantiers:read")
	if conf.Secret == "" {
		t.Fatal("a confidential client got no secret")
	}

	ctx := context.WithValue(context.Background(), oauth2.HTTPClient, &http.Client{Timeout: 15 * time.Second})
	cfg := &oauth2.Config{
		ClientID:    pub.ID,
		Endpoint:    oauth2.Endpoint{AuthURL: s.gw.URL + "/oauth/authorize", TokenURL: s.gw.URL + "/oauth/token", AuthStyle: oauth2.AuthStyleInParams},
		RedirectURL: "http://127.0.0.1:43117/cb", // any loopback port (RFC 8252 §7.3)
		Scopes:      []string{"chantiers:read"},
	}
	// authorize returns a code and its verifier for cfg.
	authorize := func(cfg *oauth2.Config) (string, string) {
		t.Helper()
		verifier := oauth2.GenerateVerifier()
		loc := s.authorizeInBrowser(cfg.AuthCodeURL("st-42", oauth2.S256ChallengeOption(verifier)), "alice@example.com", pw)
		if loc.Host != "127.0.0.1:43117" && loc.Host != "erp.example.com" || loc.Query().Get("state") != "st-42" || loc.Query().Get("code") == "" {
			t.Fatalf("redirect %s", loc)
		}
		return loc.Query().Get("code"), verifier
	}

	code, verifier := authorize(cfg)
	tok, err := cfg.Exchange(ctx, code, oauth2.VerifierOption(verifier))
	if err != nil {
		t.Fatalf("exchange: %v", err)
	}
	if tok.RefreshToken == "" || tok.Extra("scope") != "chantiers:read" {
		t.Fatalf("token %+v scope=%v", tok, tok.Extra("scope"))
	}

	// Scopes at the gateway: read allowed, write 403.
	if r := s.gwDo("GET", "/api/v1/chantiers?limit=2", nil, bearer(tok.AccessToken)...); r.status != 200 {
		t.Fatalf("GET with the access token: %d %s", r.status, r.body)
	}
	r := s.gwDo("POST", "/api/v1/chantiers", map[string]any{"nom": "Nouveau"}, bearer(tok.AccessToken)...)
	if r.status != 403 || !strings.Contains(r.header.Get("WWW-Authenticate"), "insufficient_scope") {
		t.Fatalf("POST with chantiers:read: want 403, got %d %s", r.status, r.body)
	}
	// An app cannot manage the user's keys or apps.
	if r := s.gwDo("GET", "/api/auth/apps", nil, bearer(tok.AccessToken)...); r.status != 403 {
		t.Fatalf("apps with an OAuth2 token: %d", r.status)
	}

	// TokenSource refreshes an expired token; the refresh token rotates.
	stale := &oauth2.Token{AccessToken: tok.AccessToken, RefreshToken: tok.RefreshToken, Expiry: time.Now().Add(-time.Minute)}
	fresh, err := cfg.TokenSource(ctx, stale).Token()
	if err != nil {
		t.Fatalf("refresh: %v", err)
	}
	if fresh.RefreshToken == "" || fresh.RefreshToken == tok.RefreshToken || fresh.AccessToken == tok.AccessToken {
		t.Fatal("the refresh token did not rotate")
	}
	if r := s.gwDo("GET", "/api/v1/chantiers?limit=1", nil, bearer(fresh.AccessToken)...); r.status != 200 {
		t.Fatalf("refreshed token: %d", r.status)
	}

	// Scope escalation at refresh.
	st, _, m := s.tokenForm(url.Values{"grant_type": {"refresh_token"}, "refresh_token": {fresh.RefreshToken}, "client_id": {pub.ID},
		"scope": {"chantiers:read chantiers:write"}}, "", "")
	if st != 400 || m["error"] != "invalid_scope" {
		t.Fatalf("scope escalation at refresh: %d %v", st, m)
	}
	// Replaying the spent refresh token revokes the family: the latest
	// access token is refused at the gateway within a second.
	_, err = cfg.TokenSource(ctx, stale).Token()
	if oauthErrorCode(err) != "invalid_grant" {
		t.Fatalf("reused refresh token: %v", err)
	}
	s.refusedWithin(fresh.AccessToken, "latest access token of a replayed refresh family")

	// A replayed code fails and revokes the tokens issued from it.
	code, verifier = authorize(cfg)
	tok2, err := cfg.Exchange(ctx, code, oauth2.VerifierOption(verifier))
	if err != nil {
		t.Fatal(err)
	}
	if r := s.gwDo("GET", "/api/v1/chantiers?limit=1", nil, bearer(tok2.AccessToken)...); r.status != 200 {
		t.Fatalf("token of a fresh code: %d", r.status)
	}
	if _, err := cfg.Exchange(ctx, code, oauth2.VerifierOption(verifier)); oauthErrorCode(err) != "invalid_grant" {
		t.Fatalf("reused code: %v", err)
	}
	s.refusedWithin(tok2.AccessToken, "access token of a replayed code")

	t.Run("refusals", func(t *testing.T) {
		code, verifier := authorize(cfg)
		exch := func(extra ...oauth2.AuthCodeOption) string {
			_, err := cfg.Exchange(ctx, code, extra...)
			return oauthErrorCode(err)
		}
		other := *cfg
		other.RedirectURL = "http://127.0.0.1:43117/elsewhere"
		if _, err := other.Exchange(ctx, code, oauth2.VerifierOption(verifier)); oauthErrorCode(err) != "invalid_grant" {
			t.Fatalf("wrong redirect_uri: %v", err)
		}
		code, _ = authorize(cfg)
		if got := exch(oauth2.VerifierOption(oauth2.GenerateVerifier())); got != "invalid_grant" {
			t.Fatalf("wrong verifier: %q", got)
		}
		code, _ = authorize(cfg)
		if got := exch(); got != "invalid_grant" {
			t.Fatalf("missing verifier: %q", got)
		}

		// Errors at the authorization endpoint, after the redirect URI is
		// validated, come back on it.
		authErr := func(q url.Values) string {
			resp, err := (&http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }, Timeout: 15 * time.Second}).
				Get(s.gw.URL + "/oauth/authorize?" + q.Encode())
			if err != nil {
				t.Fatal(err)
			}
			resp.Body.Close()
			if resp.StatusCode != http.StatusSeeOther {
				return "status " + resp.Status
			}
			loc, _ := url.Parse(resp.Header.Get("Location"))
			return loc.Query().Get("error")
		}
		q := url.Values{"response_type": {"code"}, "client_id": {pub.ID}, "redirect_uri": {cfg.RedirectURL}, "scope": {"chantiers:read"},
			"code_challenge": {oauth2.S256ChallengeFromVerifier(oauth2.GenerateVerifier())}, "code_challenge_method": {"plain"}}
		if got := authErr(q); got != "invalid_request" {
			t.Fatalf("plain PKCE method: %q", got)
		}
		q.Set("code_challenge_method", "S256")
		q.Set("scope", "chantiers:read pointages:write")
		if got := authErr(q); got != "invalid_scope" {
			t.Fatalf("scope escalation at authorize: %q", got)
		}
		// Unknown client: an HTML page, never a redirect.
		q.Set("client_id", "hcc_0000000000000000")
		resp, err := http.Get(s.gw.URL + "/oauth/authorize?" + q.Encode())
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != 400 || !strings.HasPrefix(resp.Header.Get("Content-Type"), "text/html") {
			t.Fatalf("unknown client at authorize: %d %s", resp.StatusCode, resp.Header.Get("Content-Type"))
		}
		if st, _, m := s.tokenForm(url.Values{"grant_type": {"authorization_code"}, "code": {"x"}, "redirect_uri": {cfg.RedirectURL},
			"client_id": {"hcc_0000000000000000"}}, "", ""); st != 401 || m["error"] != "invalid_client" {
			t.Fatalf("unknown client at token: %d %v", st, m)
		}
		st, h, m := s.tokenForm(url.Values{"grant_type": {"authorization_code"}, "code": {"x"}, "redirect_uri": {"https://erp.example.com/cb"}},
			conf.ID, "not-the-secret")
		if st != 401 || m["error"] != "invalid_client" || !strings.HasPrefix(h.Get("WWW-Authenticate"), "Basic") {
			t.Fatalf("bad client secret: %d %v %v", st, m, h)
		}
	})

	t.Run("token for another audience", func(t *testing.T) {
		// Sign with the upstream's own current key, so only aud differs.
		dsn := ""
		for _, e := range s.up.Env {
			if v, ok := strings.CutPrefix(e, "HUB_DB="); ok {
				dsn = v
			}
		}
		kid, priv := currentSigningKey(t, dsn)
		forge := func(aud string) string {
			now := time.Now()
			tk := jwt.NewWithClaims(jwt.SigningMethodEdDSA, jwt.MapClaims{
				"iss": "hubchantier", "aud": aud, "sub": "1", "client_id": pub.ID, "scope": "chantiers:read",
				"iat": now.Unix(), "nbf": now.Unix(), "exp": now.Add(time.Hour).Unix(), "jti": "forged-" + aud,
			})
			tk.Header["kid"] = kid
			signed, err := tk.SignedString(priv)
			if err != nil {
				t.Fatal(err)
			}
			return signed
		}
		if r := s.gwDo("GET", "/api/v1/chantiers?limit=1", nil, bearer(forge("hub-api"))...); r.status != 200 {
			t.Fatalf("control (right audience): %d %s", r.status, r.body)
		}
		if r := s.gwDo("GET", "/api/v1/chantiers?limit=1", nil, bearer(forge("other-api"))...); r.status != 401 {
			t.Fatalf("another audience: %d %s", r.status, r.body)
		}
	})

	t.Run("client revoked by admin", func(t *testing.T) {
		confCfg := &oauth2.Config{ClientID: conf.ID, ClientSecret: conf.Secret, RedirectURL: "https://erp.example.com/cb",
			Endpoint: oauth2.Endpoint{AuthURL: cfg.Endpoint.AuthURL, TokenURL: cfg.Endpoint.TokenURL, AuthStyle: oauth2.AuthStyleInHeader},
			Scopes:   []string{"chantiers:read"}}
		code, verifier := authorize(confCfg)
		ct, err := confCfg.Exchange(ctx, code, oauth2.VerifierOption(verifier))
		if err != nil {
			t.Fatal(err)
		}
		if r := s.gwDo("GET", "/api/v1/chantiers?limit=1", nil, bearer(ct.AccessToken)...); r.status != 200 {
			t.Fatalf("confidential client token: %d", r.status)
		}
		s.createUser("admin@example.com", "admin")
		admin := s.login("admin@example.com", pw)
		if r := s.gwDo("GET", "/api/v1/admin/oauth-clients", nil, bearer(admin)...); r.status != 200 || !strings.Contains(string(r.body), conf.ID) {
			t.Fatalf("list clients: %d %s", r.status, r.body)
		}
		if r := s.gwDo("DELETE", "/api/v1/admin/oauth-clients/"+conf.ID, nil, bearer(admin)...); r.status != 204 {
			t.Fatalf("revoke client: %d %s", r.status, r.body)
		}
		s.refusedWithin(ct.AccessToken, "token of a revoked client")
		if _, err := confCfg.TokenSource(ctx, &oauth2.Token{RefreshToken: ct.RefreshToken}).Token(); oauthErrorCode(err) != "invalid_client" {
			t.Fatalf("refresh by a revoked client: %v", err)
		}
	})

	t.Run("user revokes the app", func(t *testing.T) {
		code, verifier := authorize(cfg)
		at, err := cfg.Exchange(ctx, code, oauth2.VerifierOption(verifier))
		if err != nil {
			t.Fatal(err)
		}
		user := s.login("alice@example.com", pw)
		r := s.gwDo("GET", "/api/auth/apps", nil, bearer(user)...)
		if r.status != 200 || !strings.Contains(string(r.body), pub.ID) {
			t.Fatalf("apps: %d %s", r.status, r.body)
		}
		if r := s.gwDo("DELETE", "/api/auth/apps/"+pub.ID, nil, bearer(user)...); r.status != 204 {
			t.Fatalf("revoke app: %d %s", r.status, r.body)
		}
		s.refusedWithin(at.AccessToken, "token of an app the user revoked")
	})

	t.Run("metadata", func(t *testing.T) {
		r := s.gwDo("GET", "/.well-known/oauth-authorization-server", nil)
		m := r.json(t)
		if r.status != 200 || m["token_endpoint"] != "https://hub.example.test/oauth/token" || m["issuer"] != "https://hub.example.test" {
			t.Fatalf("metadata: %d %s", r.status, r.body)
		}
		if ms, _ := m["code_challenge_methods_supported"].([]any); len(ms) != 1 || ms[0] != "S256" {
			t.Fatalf("code_challenge_methods_supported %v", m["code_challenge_methods_supported"])
		}
	})
}

// currentSigningKey reads the active Ed25519 key from the upstream's SQLite
// database, to forge tokens that differ from real ones in one claim only.
func currentSigningKey(t *testing.T, path string) (string, ed25519.PrivateKey) {
	t.Helper()
	d, err := db.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer d.Close()
	var kid, seed string
	if err := d.QueryRow(context.Background(), `SELECT kid, private_key FROM signing_keys WHERE retired_at IS NULL ORDER BY created_at DESC LIMIT 1`).Scan(&kid, &seed); err != nil {
		t.Fatal(err)
	}
	raw, err := base64.StdEncoding.DecodeString(seed)
	if err != nil {
		t.Fatal(err)
	}
	return kid, ed25519.NewKeyFromSeed(raw)
}
