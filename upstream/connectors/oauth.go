package connectors

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"net/http"
	"strconv"
	"strings"
	"time"

	"golang.org/x/oauth2"

	"github.com/hubchantier/hubgate/internal/problem"
	"github.com/hubchantier/hubgate/upstream/authz"
	"github.com/hubchantier/hubgate/upstream/db"
	"github.com/hubchantier/hubgate/upstream/httpx"
)

// OAuth describes a vendor that authorizes through OAuth2: Hub Chantier
// is then an OAuth2 client acting for the customer (docs/connectors.md,
// "Connecting with OAuth2"). The connector's configuration holds the
// tokens (access_token, refresh_token: secrets) and token_expiry.
type OAuth struct {
	// AuthURL and TokenURL are the vendor's endpoints (overridable per
	// deployment by OAuthClient, for stand-ins).
	AuthURL, TokenURL string
	// Scopes requested (none: the app's configured permissions).
	Scopes []string
	// AuthParams are extra authorization parameters (Dropbox:
	// token_access_type=offline, for a refresh token).
	AuthParams map[string]string
	// Revoke revokes accessToken at the vendor (nil: the vendor has no
	// revocation endpoint). base is the client's API base URL override
	// ("" for the vendor's).
	Revoke func(ctx context.Context, c *http.Client, apiBase, accessToken string) error
}

// OAuthClient is Hub Chantier's registration at one vendor
// (Dropbox: HUB_DROPBOX_CLIENT_ID, HUB_DROPBOX_CLIENT_SECRET, and for
// stand-ins HUB_DROPBOX_AUTH_URL, HUB_DROPBOX_TOKEN_URL, HUB_DROPBOX_API_URL).
type OAuthClient struct {
	// ClientID and ClientSecret are the app's credentials at the vendor.
	ClientID, ClientSecret string
	// AuthURL, TokenURL override the vendor's endpoints ("" keeps them).
	AuthURL, TokenURL string
	// APIURL overrides the vendor's API base URL ("" keeps it); stored in
	// each new connector's configuration as api_url.
	APIURL string
}

// Configuration fields every OAuth2 connector holds.
const (
	FieldAccessToken  = "access_token"
	FieldRefreshToken = "refresh_token"
	FieldTokenExpiry  = "token_expiry"
)

// stateTTL bounds an authorization started and not finished.
const stateTTL = 10 * time.Minute

// connectCookie binds an authorization to the browser that started it.
const connectCookie = "hub_connect"

const integrationsPrefix = "/api/v1/integrations/"

func (s *Service) registerOAuth(mux *http.ServeMux) {
	mux.HandleFunc("GET "+integrationsPrefix+"{provider}/connect", s.admin(authz.Create, s.handleConnect))
	// The callback is reached by the browser redirected by the vendor:
	// public at the gateway; the state and the binding cookie
	// authenticate it.
	mux.HandleFunc("GET "+integrationsPrefix+"{provider}/callback", s.handleCallback)
}

// oauthConfig is the golang.org/x/oauth2 configuration of provider.
func (s *Service) oauthConfig(provider string) (*oauth2.Config, Type, OAuthClient, error) {
	t, ok := s.reg.Get(provider)
	if !ok || t.OAuth == nil {
		return nil, t, OAuthClient{}, errNotFound
	}
	c, ok := s.opt.OAuthClients[provider]
	if !ok || c.ClientID == "" || s.opt.PublicURL == "" || s.keys == nil {
		return nil, t, c, errOAuthUnconfigured
	}
	ep := oauth2.Endpoint{AuthURL: t.OAuth.AuthURL, TokenURL: t.OAuth.TokenURL, AuthStyle: oauth2.AuthStyleInParams}
	if c.AuthURL != "" {
		ep.AuthURL = c.AuthURL
	}
	if c.TokenURL != "" {
		ep.TokenURL = c.TokenURL
	}
	return &oauth2.Config{ClientID: c.ClientID, ClientSecret: c.ClientSecret, Endpoint: ep, Scopes: t.OAuth.Scopes,
		RedirectURL: strings.TrimRight(s.opt.PublicURL, "/") + integrationsPrefix + provider + "/callback"}, t, c, nil
}

var errOAuthUnconfigured = errors.New("this integration is not configured on this server")

func randomToken() string {
	b := make([]byte, 32)
	_, _ = rand.Read(b)
	return base64.RawURLEncoding.EncodeToString(b)
}

func hashHex(s string) string {
	h := sha256.Sum256([]byte(s))
	return hex.EncodeToString(h[:])
}

// handleConnect starts the authorization code flow with PKCE: a state
// bound to the authenticated user and to this browser (a cookie), then a
// redirect to the vendor (or {"authorize_url": …} for Accept:
// application/json, for pages that call the API with a token).
func (s *Service) handleConnect(w http.ResponseWriter, r *http.Request) {
	provider := r.PathValue("provider")
	conf, _, _, err := s.oauthConfig(provider)
	if err != nil {
		s.writeOAuthError(w, r, err)
		return
	}
	user, _ := strconv.ParseInt(httpx.Identity(r).Subject, 10, 64)
	if user == 0 {
		httpx.Problem(w, r, problem.New(http.StatusForbidden, "forbidden", "Forbidden", "connecting an integration needs a user"))
		return
	}
	// Reconnecting an existing connector (after a refresh failure) keeps
	// its id, settings and history.
	reconnect := r.URL.Query().Get("connector")
	if reconnect != "" {
		c, err := s.get(r.Context(), reconnect)
		if err != nil || c.Type != provider {
			httpx.NotFound(w, r, "connector "+strconv.Quote(reconnect))
			return
		}
	}
	state, browser, verifier := randomToken(), randomToken(), oauth2.GenerateVerifier()
	sh := hashHex(state)
	venc, err := s.keys.Seal("oauth-state:"+sh, []byte(verifier))
	if err != nil {
		httpx.Internal(w, r, err)
		return
	}
	now := s.opt.Now()
	ctx := r.Context()
	if _, err := s.db.Exec(ctx, `DELETE FROM connector_oauth_states WHERE expires_at < ?`, db.Micros(now)); err != nil {
		httpx.Internal(w, r, err)
		return
	}
	if _, err := s.db.Exec(ctx, `INSERT INTO connector_oauth_states (state_hash, provider, user_id, connector_id, verifier_enc, browser_hash, created_at, expires_at)
		VALUES (?, ?, ?, ?, ?, ?, ?, ?)`, sh, provider, user, reconnect, venc, hashHex(browser), db.Micros(now), db.Micros(now.Add(stateTTL))); err != nil {
		httpx.Internal(w, r, err)
		return
	}
	opts := []oauth2.AuthCodeOption{oauth2.S256ChallengeOption(verifier)}
	t, _ := s.reg.Get(provider)
	for k, v := range t.OAuth.AuthParams {
		opts = append(opts, oauth2.SetAuthURLParam(k, v))
	}
	authURL := conf.AuthCodeURL(state, opts...)
	http.SetCookie(w, &http.Cookie{Name: connectCookie, Value: browser, Path: integrationsPrefix + provider + "/",
		MaxAge: int(stateTTL / time.Second), HttpOnly: true, Secure: strings.HasPrefix(s.opt.PublicURL, "https://"),
		// Lax: the vendor's redirect back is a cross-site top-level GET.
		SameSite: http.SameSiteLaxMode})
	w.Header().Set("Cache-Control", "no-store")
	if strings.Contains(r.Header.Get("Accept"), "application/json") {
		httpx.WriteJSON(w, http.StatusOK, map[string]any{"authorize_url": authURL, "expires_in": int(stateTTL / time.Second)})
		return
	}
	http.Redirect(w, r, authURL, http.StatusFound)
}

// pending is a claimed authorization.
type pending struct {
	user        int64
	connectorID string
	verifier    string
}

// claimState consumes the authorization of state (single use, even when
// refused: a state seen without its cookie may have leaked) and accepts
// it when the browser presents the cookie it was bound to.
func (s *Service) claimState(ctx context.Context, provider, state, browser string) (pending, error) {
	var p pending
	if state == "" {
		return p, errBadState
	}
	sh := hashHex(state)
	var venc, bh, prov string
	var expires int64
	err := s.db.QueryRow(ctx, `SELECT provider, user_id, connector_id, verifier_enc, browser_hash, expires_at FROM connector_oauth_states WHERE state_hash = ?`, sh).
		Scan(&prov, &p.user, &p.connectorID, &venc, &bh, &expires)
	if err != nil {
		return p, errBadState
	}
	res, err := s.db.Exec(ctx, `DELETE FROM connector_oauth_states WHERE state_hash = ?`, sh)
	if err != nil {
		return p, err
	}
	if n, _ := res.RowsAffected(); n != 1 {
		return p, errBadState // used meanwhile
	}
	if prov != provider || expires < db.Micros(s.opt.Now()) || subtle.ConstantTimeCompare([]byte(bh), []byte(hashHex(browser))) != 1 {
		return p, errBadState
	}
	v, err := s.keys.Open("oauth-state:"+sh, venc)
	if err != nil {
		return p, err
	}
	p.verifier = string(v)
	return p, nil
}

var errBadState = errors.New("the authorization is unknown, expired, already used or was started in another browser; start again")

// handleCallback finishes the flow: the state is checked, the code
// exchanged (with the PKCE verifier) and the tokens stored, sealed, in a
// new connector (or the one being reconnected) owned by the user who
// started the flow.
func (s *Service) handleCallback(w http.ResponseWriter, r *http.Request) {
	provider := r.PathValue("provider")
	conf, t, client, err := s.oauthConfig(provider)
	if err != nil {
		s.writeOAuthError(w, r, err)
		return
	}
	w.Header().Set("Cache-Control", "no-store")
	q := r.URL.Query()
	var browser string
	if c, err := r.Cookie(connectCookie); err == nil {
		browser = c.Value
	}
	// The cookie has done its work, whatever the outcome.
	http.SetCookie(w, &http.Cookie{Name: connectCookie, Value: "", Path: integrationsPrefix + provider + "/", MaxAge: -1, HttpOnly: true,
		Secure: strings.HasPrefix(s.opt.PublicURL, "https://"), SameSite: http.SameSiteLaxMode})
	p, err := s.claimState(r.Context(), provider, q.Get("state"), browser)
	if err != nil {
		if errors.Is(err, errBadState) {
			httpx.Problem(w, r, problem.New(http.StatusBadRequest, "oauth-state", "Bad Request", err.Error()))
		} else {
			httpx.Internal(w, r, err)
		}
		return
	}
	if e := q.Get("error"); e != "" {
		// The customer declined, or the vendor refused: its code only.
		httpx.Problem(w, r, problem.New(http.StatusBadRequest, "oauth-denied", "Bad Request",
			"the vendor did not authorize the connection: "+printable(e, 64)))
		return
	}
	ctx := context.WithValue(r.Context(), oauth2.HTTPClient, s.opt.HTTP)
	tok, err := conf.Exchange(ctx, q.Get("code"), oauth2.VerifierOption(p.verifier))
	if err != nil {
		httpx.Problem(w, r, problem.New(http.StatusBadGateway, "oauth-exchange", "Bad Gateway",
			"the vendor refused the authorization code: "+tokenErrorCode(err)))
		return
	}
	now := s.opt.Now()
	var before *View
	var rec record
	if p.connectorID != "" {
		old, err := s.get(r.Context(), p.connectorID)
		if err != nil {
			s.writeError(w, r, err)
			return
		}
		cfg, err := s.config(old)
		if err != nil {
			s.writeError(w, r, err)
			return
		}
		bv := s.view(old)
		before = &bv
		setTokens(cfg, tok)
		cfg["connected_by"], cfg["connected_at"] = p.user, now.UTC().Format(time.RFC3339)
		rec, err = s.update(r.Context(), old, old.Name, old.Enabled, cfg)
		if err == nil {
			_, err = s.db.Exec(r.Context(), `UPDATE connectors SET sync_status = 'never', error_message = '' WHERE id = ? AND sync_status = 'error'`, rec.ID)
			if err == nil {
				rec, err = s.get(r.Context(), rec.ID)
			}
		}
		if err != nil {
			s.writeError(w, r, err)
			return
		}
	} else {
		cfg := map[string]any{"connected_by": p.user, "connected_at": now.UTC().Format(time.RFC3339)}
		if client.APIURL != "" {
			cfg["api_url"] = client.APIURL
		}
		setTokens(cfg, tok)
		if err := t.Validate(cfg, s.env()); err != nil {
			httpx.BadRequest(w, r, "config", err.Error())
			return
		}
		rec, err = s.create(r.Context(), p.user, t.Name, t.Name, true, cfg)
		if err != nil {
			s.writeError(w, r, err)
			return
		}
	}
	after := s.view(rec)
	// Who connected what: the audit header names the connector, the user
	// (connected_by) and that the tokens changed, never their values.
	changes(w, before, &after, FieldAccessToken, FieldRefreshToken)
	w.Header().Set("Location", "/api/v1/admin/connectors/"+rec.ID)
	status := http.StatusCreated
	if before != nil {
		status = http.StatusOK
	}
	httpx.WriteJSON(w, status, after)
}

// setTokens writes tok into cfg; a refresh that returns no new refresh
// token keeps the stored one.
func setTokens(cfg map[string]any, tok *oauth2.Token) {
	cfg[FieldAccessToken] = tok.AccessToken
	if tok.RefreshToken != "" {
		cfg[FieldRefreshToken] = tok.RefreshToken
	}
	if !tok.Expiry.IsZero() {
		cfg[FieldTokenExpiry] = tok.Expiry.UTC().Format(time.RFC3339)
	} else {
		delete(cfg, FieldTokenExpiry)
	}
}

// tokenErrorCode is the OAuth2 error code of a token endpoint's refusal
// (never the body, which might echo a credential).
func tokenErrorCode(err error) string {
	var re *oauth2.RetrieveError
	if errors.As(err, &re) {
		code := re.ErrorCode
		if code == "" {
			code = "HTTP " + strconv.Itoa(re.Response.StatusCode)
		}
		return printable(code, 64)
	}
	return "the token endpoint could not be reached"
}

// printable keeps at most n characters of s from [A-Za-z0-9 _.:/-].
func printable(s string, n int) string {
	var b strings.Builder
	for _, r := range s {
		if b.Len() >= n {
			break
		}
		if r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || strings.ContainsRune(" _.:/-", r) {
			b.WriteRune(r)
		}
	}
	return b.String()
}

func (s *Service) writeOAuthError(w http.ResponseWriter, r *http.Request, err error) {
	switch {
	case errors.Is(err, errNotFound):
		httpx.NotFound(w, r, "integration "+strconv.Quote(r.PathValue("provider")))
	case errors.Is(err, errOAuthUnconfigured):
		w.Header().Set("Retry-After", "3600")
		httpx.Problem(w, r, problem.New(http.StatusServiceUnavailable, "integration-unconfigured", "Service Unavailable",
			"this integration is not configured on this server (client credentials, HUB_PUBLIC_URL or HUB_CONNECTOR_KEYS)"))
	default:
		httpx.Internal(w, r, err)
	}
}
