package oauth

import (
	"context"
	"crypto/sha256"
	"crypto/subtle"
	"database/sql"
	"encoding/base64"
	"errors"
	"fmt"
	"net/http"
	"strings"

	"github.com/hubchantier/hubgate/upstream/auth"
	"github.com/hubchantier/hubgate/upstream/db"
)

// Cookies of the authorization pages. Both are HttpOnly, SameSite=Lax (a
// cross-site POST carries neither), scoped to /oauth and Secure when the
// page was served over https.
const (
	sessionCookie = "hub_oauth_session"
	csrfCookie    = "hub_oauth_csrf"
)

func isHTTPS(r *http.Request) bool {
	return r.TLS != nil || strings.EqualFold(r.Header.Get("X-Forwarded-Proto"), "https")
}

func setCookie(w http.ResponseWriter, r *http.Request, name, value string, maxAge int) {
	http.SetCookie(w, &http.Cookie{Name: name, Value: value, Path: "/oauth", MaxAge: maxAge,
		HttpOnly: true, SameSite: http.SameSiteLaxMode, Secure: isHTTPS(r)})
}

// loginCSRF returns the double-submit token of the login form, setting the
// cookie when the browser has none. The login form has no session to bind
// a token to; SameSite=Lax plus the double submit stop login CSRF.
func loginCSRF(w http.ResponseWriter, r *http.Request) string {
	if c, err := r.Cookie(csrfCookie); err == nil && len(c.Value) == 43 {
		return c.Value
	}
	t := randomToken()
	setCookie(w, r, csrfCookie, t, 3600)
	return t
}

// checkLoginCSRF compares the form token with the cookie in constant time.
func checkLoginCSRF(r *http.Request, form string) bool {
	c, err := r.Cookie(csrfCookie)
	return err == nil && len(c.Value) == 43 && subtle.ConstantTimeCompare([]byte(c.Value), []byte(form)) == 1
}

// consentCSRF derives the consent form's token from the session secret:
// only a page that can read the cookie (the server) can compute it.
func consentCSRF(session string) string {
	sum := sha256.Sum256([]byte("hub-oauth-consent-csrf." + session))
	return base64.RawURLEncoding.EncodeToString(sum[:])
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
	setCookie(w, r, sessionCookie, tok, int(SessionTTL.Seconds()))
	return nil
}

// session returns the signed-in user and the raw session token, or
// ErrNotFound when there is no live session.
func (s *Server) session(ctx context.Context, r *http.Request) (auth.User, string, error) {
	c, err := r.Cookie(sessionCookie)
	if err != nil || len(c.Value) != 43 {
		return auth.User{}, "", ErrNotFound
	}
	var userID, expires int64
	err = s.db.QueryRow(ctx, `SELECT user_id, expires_at FROM oauth_sessions WHERE id_hash = ?`, hashToken(c.Value)).Scan(&userID, &expires)
	if errors.Is(err, sql.ErrNoRows) {
		return auth.User{}, "", ErrNotFound
	}
	if err != nil {
		return auth.User{}, "", fmt.Errorf("load session: %w", err)
	}
	if !s.now().Before(db.FromMicros(expires)) {
		return auth.User{}, "", ErrNotFound
	}
	u, err := s.auth.UserByID(ctx, userID)
	if errors.Is(err, auth.ErrNotFound) {
		return auth.User{}, "", ErrNotFound
	}
	return u, c.Value, err
}
