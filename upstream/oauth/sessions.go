package oauth

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"database/sql"
	"encoding/base64"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/hubchantier/hubgate/upstream/auth"
	"github.com/hubchantier/hubgate/upstream/db"
)

// Cookies of the authorization pages: HttpOnly, SameSite=Lax (a cross-site
// POST carries neither), Path=/. Over TLS (the public URL is https, the
// request came over TLS, or the gateway says it did) they are Secure and
// carry the __Host- prefix, so no subdomain and no plain-http page can
// plant or overwrite them; on plain http (local development) browsers
// refuse both, so the bare names are used.
const (
	sessionCookie = "hub_oauth_session"
	loginCookie   = "hub_oauth_login"
	hostPrefix    = "__Host-"
)

// CSRF token lifetimes: the sign-in form is valid as long as its nonce
// cookie, the consent form as long as a session.
const (
	loginCSRFTTL = time.Hour
	csrfLogin    = "login"
	csrfConsent  = "consent"
)

// secure reports whether the pages are served over TLS. X-Forwarded-Proto
// is believed only on a request the gateway signed (auth.FromGateway).
func (s *Server) secure(r *http.Request) bool {
	return r.TLS != nil || strings.HasPrefix(s.o.PublicURL, "https://") ||
		(strings.EqualFold(r.Header.Get("X-Forwarded-Proto"), "https") && s.auth.FromGateway(r))
}

// cookieName is name with the __Host- prefix when served over TLS.
func (s *Server) cookieName(r *http.Request, name string) string {
	if s.secure(r) {
		return hostPrefix + name
	}
	return name
}

func (s *Server) setCookie(w http.ResponseWriter, r *http.Request, name, value string, maxAge int) {
	http.SetCookie(w, &http.Cookie{Name: s.cookieName(r, name), Value: value, Path: "/", MaxAge: maxAge,
		HttpOnly: true, SameSite: http.SameSiteLaxMode, Secure: s.secure(r)})
}

// cookie returns the value of one of the pages' cookies (43 characters,
// as randomToken makes them), or "".
func (s *Server) cookie(r *http.Request, name string) string {
	c, err := r.Cookie(s.cookieName(r, name))
	if err != nil || len(c.Value) != 43 {
		return ""
	}
	return c.Value
}

// csrfToken is the CSRF token of a form: its expiry and
// HMAC(server key, purpose ‖ binding ‖ expiry), binding being the
// browser's nonce (sign-in) or session (consent) cookie. Only the server
// can make one, and a token is good for one purpose, one browser and a
// limited time: an attacker cannot choose a cookie and a matching value.
func (s *Server) csrfToken(purpose, binding string, exp time.Time) string {
	e := strconv.FormatInt(exp.Unix(), 10)
	return e + "." + base64.RawURLEncoding.EncodeToString(s.csrfMAC(purpose, binding, e))
}

func (s *Server) csrfMAC(purpose, binding, exp string) []byte {
	m := hmac.New(sha256.New, s.o.CSRFKey)
	m.Write([]byte("hub-oauth-csrf-v1\x00" + purpose + "\x00" + binding + "\x00" + exp))
	return m.Sum(nil)
}

// checkCSRF verifies a token made by csrfToken, in constant time.
func (s *Server) checkCSRF(purpose, binding, token string) bool {
	if binding == "" {
		return false
	}
	e, mac, ok := strings.Cut(token, ".")
	if !ok || len(e) > 12 {
		return false
	}
	exp, err := strconv.ParseInt(e, 10, 64)
	if err != nil || !s.now().Before(time.Unix(exp, 0)) {
		return false
	}
	got, err := base64.RawURLEncoding.DecodeString(mac)
	return err == nil && hmac.Equal(got, s.csrfMAC(purpose, binding, e))
}

// loginCSRF returns the token of the sign-in form, (re)setting the nonce
// cookie it is bound to: a new one when the browser has none, else the same
// value with a fresh lifetime (so several tabs keep working).
func (s *Server) loginCSRF(w http.ResponseWriter, r *http.Request) string {
	nonce := s.cookie(r, loginCookie)
	if nonce == "" {
		nonce = randomToken()
	}
	s.setCookie(w, r, loginCookie, nonce, int(loginCSRFTTL.Seconds()))
	return s.csrfToken(csrfLogin, nonce, s.now().Add(loginCSRFTTL))
}

// checkLoginCSRF verifies the sign-in form's token against the nonce cookie.
func (s *Server) checkLoginCSRF(r *http.Request, form string) bool {
	return s.checkCSRF(csrfLogin, s.cookie(r, loginCookie), form)
}

// consentCSRF is the consent form's token, bound to the session.
func (s *Server) consentCSRF(session string) string {
	return s.csrfToken(csrfConsent, session, s.now().Add(SessionTTL))
}

// createSession stores a new login session (hashed) and sets its cookie.
func (s *Server) createSession(ctx context.Context, w http.ResponseWriter, r *http.Request, userID int64) error {
	now := s.now()
	// Opportunistic cleanup keeps the table small without a janitor.
	if _, err := s.db.Exec(ctx, `DELETE FROM oauth_sessions WHERE expires_at < ?`, db.Micros(now)); err != nil {
		return fmt.Errorf("purge sessions: %w", err)
	}
	tok := randomToken()
	if _, err := s.db.Exec(ctx, `INSERT INTO oauth_sessions (id_hash, user_id, created_at, expires_at) VALUES (?, ?, ?, ?)`,
		hashToken(tok), userID, db.Micros(now), db.Micros(now.Add(SessionTTL))); err != nil {
		return fmt.Errorf("create session: %w", err)
	}
	s.setCookie(w, r, sessionCookie, tok, int(SessionTTL.Seconds()))
	return nil
}

// session returns the signed-in user and the raw session token, or
// ErrNotFound when there is no live session.
func (s *Server) session(ctx context.Context, r *http.Request) (auth.User, string, error) {
	tok := s.cookie(r, sessionCookie)
	if tok == "" {
		return auth.User{}, "", ErrNotFound
	}
	var userID, expires, created, cut int64
	var active bool
	err := s.db.QueryRow(ctx, `SELECT s.user_id, s.expires_at, s.created_at, u.tokens_valid_after, u.active
		FROM oauth_sessions s JOIN users u ON u.id = s.user_id WHERE s.id_hash = ?`, hashToken(tok)).Scan(&userID, &expires, &created, &cut, &active)
	if errors.Is(err, sql.ErrNoRows) {
		return auth.User{}, "", ErrNotFound
	}
	if err != nil {
		return auth.User{}, "", fmt.Errorf("load session: %w", err)
	}
	// A session dies with the user's tokens: a role change or a
	// deactivation (auth's cutCredentials moves tokens_valid_after) ends
	// every session opened until then, like the user's access tokens.
	if !s.now().Before(db.FromMicros(expires)) || !active || created <= cut {
		return auth.User{}, "", ErrNotFound
	}
	u, err := s.auth.UserByID(ctx, userID)
	if errors.Is(err, auth.ErrNotFound) {
		return auth.User{}, "", ErrNotFound
	}
	return u, tok, err
}
