// Package oidc is a stand-in for Google's and GitHub's sign-in used by
// tests, on loopback. It follows their public documentation:
//
//   - Google, OpenID Connect
//     (https://developers.google.com/identity/openid-connect/openid-connect,
//     "Authenticating the user"): GET /google/auth with response_type=code,
//     client_id, redirect_uri, scope containing "openid email", state and
//     (RFC 7636) code_challenge with code_challenge_method=S256 redirects to
//     redirect_uri?code=…&state=…; POST /google/token
//     (grant_type=authorization_code, code, client_id, client_secret,
//     redirect_uri, code_verifier) answers {"access_token", "id_token",
//     "token_type": "Bearer", "expires_in"} or 400 {"error":
//     "invalid_grant"} / 401 {"error": "invalid_client"}; GET
//     /google/userinfo with the access token as a Bearer answers {"sub",
//     "email", "email_verified"} (the UserInfo endpoint of the discovery
//     document).
//   - GitHub, OAuth apps web application flow
//     (https://docs.github.com/en/apps/oauth-apps/building-oauth-apps/authorizing-oauth-apps):
//     GET /github/login/oauth/authorize (client_id, redirect_uri, scope,
//     state, code_challenge, code_challenge_method=S256) redirects with code
//     and state; POST /github/login/oauth/access_token (client_id,
//     client_secret, code, redirect_uri, code_verifier) answers, with
//     Accept: application/json, 200 {"access_token", "scope", "token_type":
//     "bearer"} or 200 {"error": "bad_verification_code"} (GitHub reports
//     errors with status 200); GET /github/user/emails
//     (https://docs.github.com/en/rest/users/emails, "List email addresses
//     for the authenticated user") answers [{"email", "primary",
//     "verified", "visibility"}].
//
// The "user" who consents is set by the test (SetGoogleUser,
// SetGitHubEmails); consent is automatic. Codes are single use.
package oidc

import (
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
)

// Email is one address of a GitHub account.
type Email struct {
	Email      string  `json:"email"`
	Primary    bool    `json:"primary"`
	Verified   bool    `json:"verified"`
	Visibility *string `json:"visibility"`
}

// Server is a running stand-in for both providers.
type Server struct {
	*httptest.Server
	// ClientID and ClientSecret are the one registered client, at both.
	ClientID, ClientSecret string

	mu           sync.Mutex
	googleEmail  string
	googleVerif  bool
	githubEmails []Email
	codes        map[string]grant  // code → grant
	tokens       map[string]string // access token → provider
	// Exchanges counts successful code exchanges.
	exchanges int
}

type grant struct {
	provider, redirectURI, challenge string
}

// New starts the stand-in.
func New() *Server {
	s := &Server{ClientID: "standin-client", ClientSecret: random(), codes: map[string]grant{}, tokens: map[string]string{}}
	mux := http.NewServeMux()
	mux.HandleFunc("GET /google/auth", func(w http.ResponseWriter, r *http.Request) { s.authorize(w, r, "google") })
	mux.HandleFunc("POST /google/token", func(w http.ResponseWriter, r *http.Request) { s.token(w, r, "google") })
	mux.HandleFunc("GET /google/userinfo", s.userinfo)
	mux.HandleFunc("GET /github/login/oauth/authorize", func(w http.ResponseWriter, r *http.Request) { s.authorize(w, r, "github") })
	mux.HandleFunc("POST /github/login/oauth/access_token", func(w http.ResponseWriter, r *http.Request) { s.token(w, r, "github") })
	mux.HandleFunc("GET /github/user/emails", s.emails)
	s.Server = httptest.NewServer(mux)
	return s
}

// SetGoogleUser sets the Google account that consents next.
func (s *Server) SetGoogleUser(email string, verified bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.googleEmail, s.googleVerif = email, verified
}

// SetGitHubEmails sets the addresses of the GitHub account that consents.
func (s *Server) SetGitHubEmails(e ...Email) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.githubEmails = e
}

// Exchanges returns how many codes were exchanged for a token.
func (s *Server) Exchanges() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.exchanges
}

func random() string {
	b := make([]byte, 24)
	_, _ = rand.Read(b)
	return base64.RawURLEncoding.EncodeToString(b)
}

func (s *Server) authorize(w http.ResponseWriter, r *http.Request, provider string) {
	q := r.URL.Query()
	redirect, err := url.Parse(q.Get("redirect_uri"))
	if q.Get("client_id") != s.ClientID || err != nil || !redirect.IsAbs() {
		http.Error(w, "invalid client or redirect_uri", http.StatusBadRequest)
		return
	}
	if provider == "google" && (q.Get("response_type") != "code" || !strings.Contains(" "+q.Get("scope")+" ", " openid ")) {
		http.Error(w, "invalid_request", http.StatusBadRequest)
		return
	}
	if q.Get("code_challenge_method") != "S256" || len(q.Get("code_challenge")) != 43 {
		http.Error(w, "invalid_request: PKCE S256 required", http.StatusBadRequest)
		return
	}
	code := random()
	s.mu.Lock()
	s.codes[code] = grant{provider: provider, redirectURI: q.Get("redirect_uri"), challenge: q.Get("code_challenge")}
	s.mu.Unlock()
	back := redirect.Query()
	back.Set("code", code)
	back.Set("state", q.Get("state"))
	redirect.RawQuery = back.Encode()
	http.Redirect(w, r, redirect.String(), http.StatusFound)
}

func (s *Server) token(w http.ResponseWriter, r *http.Request, provider string) {
	w.Header().Set("Content-Type", "application/json")
	if err := r.ParseForm(); err != nil {
		w.WriteHeader(http.StatusBadRequest)
		_, _ = w.Write([]byte(`{"error":"invalid_request"}`))
		return
	}
	f := r.PostForm
	fail := func(status int, code string) {
		if provider == "github" {
			status = http.StatusOK // GitHub reports errors in a 200
		}
		w.WriteHeader(status)
		_ = json.NewEncoder(w).Encode(map[string]string{"error": code})
	}
	if f.Get("client_id") != s.ClientID || subtle.ConstantTimeCompare([]byte(f.Get("client_secret")), []byte(s.ClientSecret)) != 1 {
		fail(http.StatusUnauthorized, "invalid_client")
		return
	}
	s.mu.Lock()
	g, ok := s.codes[f.Get("code")]
	delete(s.codes, f.Get("code")) // single use
	s.mu.Unlock()
	sum := sha256.Sum256([]byte(f.Get("code_verifier")))
	if !ok || g.provider != provider || g.redirectURI != f.Get("redirect_uri") ||
		base64.RawURLEncoding.EncodeToString(sum[:]) != g.challenge {
		if provider == "github" {
			fail(0, "bad_verification_code")
		} else {
			fail(http.StatusBadRequest, "invalid_grant")
		}
		return
	}
	tok := random()
	s.mu.Lock()
	s.tokens[tok] = provider
	s.exchanges++
	s.mu.Unlock()
	if provider == "github" {
		_ = json.NewEncoder(w).Encode(map[string]string{"access_token": tok, "scope": "user:email", "token_type": "bearer"})
		return
	}
	_ = json.NewEncoder(w).Encode(map[string]any{"access_token": tok, "token_type": "Bearer", "expires_in": 3599,
		"id_token": "unused.by.the.console", "scope": "openid email"})
}

func (s *Server) bearer(r *http.Request, provider string) bool {
	tok, ok := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer ")
	s.mu.Lock()
	defer s.mu.Unlock()
	return ok && s.tokens[tok] == provider
}

func (s *Server) userinfo(w http.ResponseWriter, r *http.Request) {
	if !s.bearer(r, "google") {
		w.Header().Set("WWW-Authenticate", `Bearer error="invalid_token"`)
		w.WriteHeader(http.StatusUnauthorized)
		return
	}
	s.mu.Lock()
	info := map[string]any{"sub": "1029384756", "email": s.googleEmail, "email_verified": s.googleVerif}
	s.mu.Unlock()
	w.Header().Set("Content-Type", "application/json")
	_ = json.NewEncoder(w).Encode(info)
}

func (s *Server) emails(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Content-Type", "application/json")
	if !s.bearer(r, "github") {
		w.WriteHeader(http.StatusUnauthorized)
		_, _ = w.Write([]byte(`{"message":"Requires authentication","documentation_url":"https://docs.github.com/rest"}`))
		return
	}
	s.mu.Lock()
	list := append([]Email{}, s.githubEmails...)
	s.mu.Unlock()
	_ = json.NewEncoder(w).Encode(list)
}
