package oauth

import (
	"context"
	"net/http"

	"github.com/hubchantier/hubgate/upstream/auth"
)

// The browser session machinery of the authorization pages, offered to the
// service's other pages (the developer console, upstream/console): one
// session table, one cookie, one CSRF scheme for every page of the
// service. A user signed in to the console is signed in to the consent page
// and the reverse; signing out of one signs out of both.

// csrfSession is the purpose of the CSRF tokens of signed-in forms other
// than the consent page.
const csrfSession = "session"

// ErrNoSession is returned by Session when the browser has no live session.
var ErrNoSession = ErrNotFound

// Session returns the user signed in on r's browser and the raw session
// token, or ErrNoSession. A session ends at its expiry (SessionTTL after
// sign-in), at sign-out, and when the user is deactivated or their role
// changes (the same cut that ends their access tokens).
func (s *Server) Session(ctx context.Context, r *http.Request) (auth.User, string, error) {
	return s.session(ctx, r)
}

// SignIn checks email and password with the same per-account throttle as
// POST /api/auth/login (auth.Service.Login), reports the account to
// hub_audit, and on success opens a session (its cookie set on w). Errors:
// auth.ErrBadCredentials, *auth.ThrottledError, or an internal error.
func (s *Server) SignIn(w http.ResponseWriter, r *http.Request, email, password string) (auth.User, error) {
	u, err := s.auth.Login(r.Context(), r, email, password)
	s.auth.ReportLoginAccount(r.Context(), w, email, u.ID, err)
	if err != nil {
		return auth.User{}, err
	}
	if err := s.createSession(r.Context(), w, r, u.ID); err != nil {
		return auth.User{}, err
	}
	return u, nil
}

// SignOut deletes the browser's session (if any) and clears its cookie.
func (s *Server) SignOut(w http.ResponseWriter, r *http.Request) error {
	tok := s.cookie(r, sessionCookie)
	s.setCookie(w, r, sessionCookie, "", -1)
	if tok == "" {
		return nil
	}
	_, err := s.db.Exec(r.Context(), `DELETE FROM oauth_sessions WHERE id_hash = ?`, hashToken(tok))
	return err
}

// SignInCSRF returns the CSRF token of a sign-in form, bound to the
// browser's nonce cookie (set on w); CheckSignInCSRF verifies it.
func (s *Server) SignInCSRF(w http.ResponseWriter, r *http.Request) string {
	return s.loginCSRF(w, r)
}

// CheckSignInCSRF verifies a sign-in form's token against r's nonce cookie.
func (s *Server) CheckSignInCSRF(r *http.Request, token string) bool {
	return s.checkLoginCSRF(r, token)
}

// SessionCSRF returns the CSRF token of a signed-in form, bound to session
// (the raw token Session returned) and valid as long as a session.
func (s *Server) SessionCSRF(session string) string {
	return s.csrfToken(csrfSession, session, s.now().Add(SessionTTL))
}

// CheckSessionCSRF verifies a token made by SessionCSRF for session, in
// constant time.
func (s *Server) CheckSessionCSRF(session, token string) bool {
	return s.checkCSRF(csrfSession, session, token)
}
