package console

import (
	"context"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/hubchantier/hubgate/upstream/auth"
)

// Provider kinds: how the verified email is read after the code exchange.
const (
	// KindOIDC reads the OpenID Connect UserInfo endpoint: email and
	// email_verified (Google).
	KindOIDC = "oidc"
	// KindGitHub reads GitHub's "list email addresses for the
	// authenticated user": the primary address, when verified.
	KindGitHub = "github"
)

// Provider is an external identity provider offered on the sign-in page.
type Provider struct {
	// Name is the path segment (/console/login/<name>): "google", "github".
	Name string
	// Label is the button's provider name: "Google", "GitHub".
	Label string
	// Kind is KindOIDC or KindGitHub.
	Kind string
	// ClientID and ClientSecret are the client registered with the
	// provider; the secret is sent to the token endpoint only.
	ClientID, ClientSecret string
	// AuthURL, TokenURL and UserURL are the authorization, token and
	// UserInfo (OIDC) or email-list (GitHub) endpoints.
	AuthURL, TokenURL, UserURL string
	// Scopes are requested at authorization.
	Scopes []string
}

// Google returns the Google provider (OpenID Connect; endpoints of
// https://accounts.google.com/.well-known/openid-configuration).
func Google(clientID, clientSecret string) Provider {
	return Provider{Name: "google", Label: "Google", Kind: KindOIDC, ClientID: clientID, ClientSecret: clientSecret,
		AuthURL:  "https://accounts.google.com/o/oauth2/v2/auth",
		TokenURL: "https://oauth2.googleapis.com/token",
		UserURL:  "https://openidconnect.googleapis.com/v1/userinfo",
		Scopes:   []string{"openid", "email"}}
}

// GitHub returns the GitHub provider (OAuth2 web application flow; the
// verified email from GET /user/emails).
func GitHub(clientID, clientSecret string) Provider {
	return Provider{Name: "github", Label: "GitHub", Kind: KindGitHub, ClientID: clientID, ClientSecret: clientSecret,
		AuthURL:  "https://github.com/login/oauth/authorize",
		TokenURL: "https://github.com/login/oauth/access_token",
		UserURL:  "https://api.github.com/user/emails",
		Scopes:   []string{"user:email"}}
}

// provider returns the configured provider named name.
func (c *Console) provider(name string) (Provider, bool) {
	for _, p := range c.d.Providers {
		if p.Name == name {
			return p, true
		}
	}
	return Provider{}, false
}

// callbackURL is the provider's redirect_uri: under HUB_PUBLIC_URL when
// set, else the request's own host.
func (c *Console) callbackURL(r *http.Request, p Provider) string {
	base := strings.TrimRight(c.d.PublicURL, "/")
	if base == "" {
		scheme := "http"
		if r.TLS != nil {
			scheme = "https"
		}
		base = scheme + "://" + r.Host
	}
	return base + Prefix + "login/" + p.Name + "/callback"
}

// externalStart is GET /console/login/{provider}: a redirect to the
// provider's authorization endpoint (code flow, PKCE S256, state bound to
// this browser).
func (c *Console) externalStart(w http.ResponseWriter, r *http.Request) {
	p, ok := c.provider(r.PathValue("provider"))
	if !ok {
		c.message(&req{w: w, r: r}, http.StatusNotFound, "Not found", "This sign-in method is not configured.")
		return
	}
	state, verifier := c.d.OAuth.BeginExternal(w, r, p.Name)
	sum := sha256.Sum256([]byte(verifier))
	q := url.Values{
		"response_type":         {"code"},
		"client_id":             {p.ClientID},
		"redirect_uri":          {c.callbackURL(r, p)},
		"scope":                 {strings.Join(p.Scopes, " ")},
		"state":                 {state},
		"code_challenge":        {base64.RawURLEncoding.EncodeToString(sum[:])},
		"code_challenge_method": {"S256"},
	}
	setPageHeaders(w.Header())
	http.Redirect(w, r, p.AuthURL+"?"+q.Encode(), http.StatusSeeOther)
}

// errExternal is a refusal of the provider's answer, shown to the user.
type errExternal string

func (e errExternal) Error() string { return string(e) }

// externalCallback is GET /console/login/{provider}/callback: the state is
// checked against the browser's flow, the code exchanged with the PKCE
// verifier, the verified email read, and the existing active account with
// that email signed in.
func (c *Console) externalCallback(w http.ResponseWriter, r *http.Request) {
	q := &req{w: w, r: r}
	p, ok := c.provider(r.PathValue("provider"))
	if !ok {
		c.message(q, http.StatusNotFound, "Not found", "This sign-in method is not configured.")
		return
	}
	refuse := func(status int, msg string) {
		c.render(q, status, "login.html", view{Title: "Sign in", Nav: "login", Error: msg,
			Data: signInData{Next: safeNext(""), LoginCSRF: c.d.OAuth.SignInCSRF(w, r), Providers: c.d.Providers}})
	}
	v := r.URL.Query()
	verifier, ok := c.d.OAuth.EndExternal(w, r, p.Name, v.Get("state"))
	if !ok {
		refuse(http.StatusForbidden, "The sign-in with "+p.Label+" expired or was not started in this browser. Try again.")
		return
	}
	if v.Get("error") != "" || v.Get("code") == "" {
		refuse(http.StatusUnauthorized, "The sign-in with "+p.Label+" was cancelled or refused.")
		return
	}
	email, err := c.verifiedEmail(r.Context(), p, v.Get("code"), c.callbackURL(r, p), verifier)
	var ee errExternal
	if errors.As(err, &ee) {
		refuse(http.StatusUnauthorized, p.Label+": "+ee.Error())
		return
	}
	if err != nil {
		c.log.Warn("external sign-in", "provider", p.Name, "error", err.Error())
		refuse(http.StatusBadGateway, "Could not reach "+p.Label+". Try again later.")
		return
	}
	if _, err := c.d.OAuth.SignInExternal(w, r, email); errors.Is(err, auth.ErrBadCredentials) {
		refuse(http.StatusForbidden, "No active account has the verified email of your "+p.Label+" account. Accounts are linked by email; ask an administrator.")
		return
	} else if err != nil {
		c.fail(w, r, err)
		return
	}
	http.Redirect(w, r, safeNext(""), http.StatusSeeOther)
}

// externalClient calls providers: bounded, no redirects followed.
var externalClient = &http.Client{Timeout: 10 * time.Second,
	CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}

// verifiedEmail exchanges code and returns the account's verified email.
func (c *Console) verifiedEmail(ctx context.Context, p Provider, code, redirectURI, verifier string) (string, error) {
	form := url.Values{"grant_type": {"authorization_code"}, "code": {code}, "redirect_uri": {redirectURI},
		"client_id": {p.ClientID}, "client_secret": {p.ClientSecret}, "code_verifier": {verifier}}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, p.TokenURL, strings.NewReader(form.Encode()))
	if err != nil {
		return "", err
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("Accept", "application/json") // GitHub answers form-encoded otherwise
	var tok struct {
		AccessToken string `json:"access_token"`
		Error       string `json:"error"`
	}
	status, err := getJSON(req, &tok)
	if err != nil {
		return "", err
	}
	if tok.Error != "" || status != http.StatusOK || tok.AccessToken == "" {
		// Never the code, the secret or the provider's text in the message.
		return "", errExternal("the authorization could not be completed.")
	}
	req, err = http.NewRequestWithContext(ctx, http.MethodGet, p.UserURL, nil)
	if err != nil {
		return "", err
	}
	req.Header.Set("Authorization", "Bearer "+tok.AccessToken)
	switch p.Kind {
	case KindGitHub:
		req.Header.Set("Accept", "application/vnd.github+json")
		var emails []struct {
			Email    string `json:"email"`
			Primary  bool   `json:"primary"`
			Verified bool   `json:"verified"`
		}
		if status, err := getJSON(req, &emails); err != nil || status != http.StatusOK {
			return "", fmt.Errorf("github emails: status %d: %v", status, err)
		}
		for _, e := range emails {
			if e.Primary && e.Verified && e.Email != "" {
				return e.Email, nil
			}
		}
		return "", errExternal("your primary email address is not verified.")
	default:
		req.Header.Set("Accept", "application/json")
		var info struct {
			Email         string `json:"email"`
			EmailVerified any    `json:"email_verified"`
		}
		if status, err := getJSON(req, &info); err != nil || status != http.StatusOK {
			return "", fmt.Errorf("userinfo: status %d: %v", status, err)
		}
		// email_verified is a boolean; some providers send "true".
		if info.Email == "" || (info.EmailVerified != true && info.EmailVerified != "true") {
			return "", errExternal("your email address is not verified.")
		}
		return info.Email, nil
	}
}

// getJSON does req and decodes a JSON answer of at most 64 KiB into v.
func getJSON(req *http.Request, v any) (int, error) {
	resp, err := externalClient.Do(req)
	if err != nil {
		return 0, err
	}
	defer resp.Body.Close()
	if err := json.NewDecoder(io.LimitReader(resp.Body, 64<<10)).Decode(v); err != nil {
		return resp.StatusCode, fmt.Errorf("decode %s: %w", req.URL.Host, err)
	}
	return resp.StatusCode, nil
}
