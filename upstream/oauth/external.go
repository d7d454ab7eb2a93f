package oauth

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"net/http"
	"strings"
	"time"

	"github.com/hubchantier/hubgate/upstream/auth"
)

// Sign-in through an external identity provider (OpenID Connect or
// OAuth2; the developer console's "Sign in with Google / GitHub"). The
// flow's state and PKCE verifier are derived, by HMAC under the server's
// CSRF key, from a random flow id kept in an HttpOnly, SameSite=Lax cookie
// of the browser that started the flow: nothing is stored server-side, and
// a callback carrying a state made for another browser (login CSRF, a
// stolen authorization response) is refused.

// externalCookie holds the flow id of an external sign-in.
const externalCookie = "hub_external_flow"

// ExternalFlowTTL bounds an external sign-in, from its start to its
// callback.
const ExternalFlowTTL = 10 * time.Minute

// BeginExternal starts an external sign-in with provider on r's browser:
// it sets the flow cookie on w and returns the OAuth2 state and the PKCE
// code verifier (43 characters, RFC 7636) to send.
func (s *Server) BeginExternal(w http.ResponseWriter, r *http.Request, provider string) (state, verifier string) {
	flow := randomToken()
	s.setCookie(w, r, externalCookie, flow, int(ExternalFlowTTL.Seconds()))
	return s.externalMAC("state", provider, flow), s.externalMAC("pkce", provider, flow)
}

// EndExternal checks, in constant time, that state is the one
// BeginExternal gave r's browser for provider, clears the flow cookie
// (one callback per flow) and returns the PKCE verifier. ok is false
// without a flow cookie or for another state.
func (s *Server) EndExternal(w http.ResponseWriter, r *http.Request, provider, state string) (verifier string, ok bool) {
	flow := s.cookie(r, externalCookie)
	if flow == "" {
		return "", false
	}
	s.setCookie(w, r, externalCookie, "", -1)
	if !hmac.Equal([]byte(state), []byte(s.externalMAC("state", provider, flow))) {
		return "", false
	}
	return s.externalMAC("pkce", provider, flow), true
}

func (s *Server) externalMAC(purpose, provider, flow string) string {
	m := hmac.New(sha256.New, s.o.CSRFKey)
	m.Write([]byte("hub-external-v1\x00" + purpose + "\x00" + provider + "\x00" + flow))
	return base64.RawURLEncoding.EncodeToString(m.Sum(nil))
}

// SignInExternal opens a session for the active user whose email is
// email, which the provider has said is verified (the caller checks that).
// Accounts are linked by email only, never created: ErrBadCredentials
// when no active user has it. The account is reported to hub_audit like a
// password sign-in.
func (s *Server) SignInExternal(w http.ResponseWriter, r *http.Request, email string) (auth.User, error) {
	email = strings.ToLower(strings.TrimSpace(email))
	if !strings.Contains(email, "@") { // UserByEmailOrID would read digits as an id
		return auth.User{}, auth.ErrBadCredentials
	}
	u, err := s.auth.UserByEmailOrID(r.Context(), email)
	if errors.Is(err, auth.ErrNotFound) || (err == nil && !u.Active) {
		err = auth.ErrBadCredentials
	}
	if err != nil {
		return auth.User{}, err
	}
	s.auth.ReportLoginAccount(r.Context(), w, email, u.ID, nil)
	if err := s.createSession(r.Context(), w, r, u.ID); err != nil {
		return auth.User{}, err
	}
	return u, nil
}
