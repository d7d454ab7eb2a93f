package oauth

import (
	"database/sql"
	"errors"
	"net/http"
	"strconv"
	"strings"

	"github.com/hubchantier/hubgate/internal/problem"
	"github.com/hubchantier/hubgate/upstream/auth"
	"github.com/hubchantier/hubgate/upstream/db"
	"github.com/hubchantier/hubgate/upstream/httpx"
)

// handleRevoke is RFC 7009. It answers 200 whether or not the token was
// valid (§2.2), so it tells nothing about tokens to a caller that does not
// own them. A refresh token revokes its whole grant, access tokens included
// (§2.1); an access token revokes its jti at every gateway.
func (s *Server) handleRevoke(w http.ResponseWriter, r *http.Request) {
	form, err := parseForm(w, r)
	if err != nil {
		s.writeTokenError(w, r, err)
		return
	}
	c, err := s.authenticateClient(r, form)
	if err != nil {
		s.writeTokenError(w, r, err)
		return
	}
	tok := form.Get("token")
	if tok == "" {
		s.writeTokenError(w, r, errRequest("token is required"))
		return
	}
	ctx := r.Context()
	if claims, err := s.auth.VerifyOAuthToken(ctx, tok); err == nil {
		if claims.ClientID == c.ID {
			if err := s.revokeJTI(ctx, claims.ID, s.now()); err != nil {
				s.writeTokenError(w, r, err)
				return
			}
		}
	} else {
		var grantID, clientID string
		err := s.db.QueryRow(ctx, `SELECT g.id, g.client_id FROM oauth_refresh_tokens r JOIN oauth_grants g ON g.id = r.grant_id WHERE r.token_hash = ?`,
			hashToken(tok)).Scan(&grantID, &clientID)
		switch {
		case err == nil && clientID == c.ID:
			if err := s.revokeGrant(ctx, grantID); err != nil {
				s.writeTokenError(w, r, err)
				return
			}
		case err != nil && !errors.Is(err, sql.ErrNoRows):
			s.writeTokenError(w, r, err)
			return
		}
	}
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(http.StatusOK)
}

// introspection is the RFC 7662 §2.2 answer.
type introspection struct {
	Active    bool   `json:"active"`
	Scope     string `json:"scope,omitempty"`
	ClientID  string `json:"client_id,omitempty"`
	Sub       string `json:"sub,omitempty"`
	TokenType string `json:"token_type,omitempty"`
	Exp       int64  `json:"exp,omitempty"`
	Iat       int64  `json:"iat,omitempty"`
	Iss       string `json:"iss,omitempty"`
	Aud       string `json:"aud,omitempty"`
	Jti       string `json:"jti,omitempty"`
}

// handleIntrospect is RFC 7662. The caller must be a confidential client,
// and it only learns about its own tokens: anything else, like anything
// expired, revoked or unknown, is {"active":false} (§2.2).
func (s *Server) handleIntrospect(w http.ResponseWriter, r *http.Request) {
	form, err := parseForm(w, r)
	if err != nil {
		s.writeTokenError(w, r, err)
		return
	}
	c, err := s.authenticateClient(r, form)
	if err == nil && c.Public {
		err = &tokenError{Code: "invalid_client", Desc: "introspection is for confidential clients"}
	}
	if err != nil {
		s.writeTokenError(w, r, err)
		return
	}
	tok := form.Get("token")
	if tok == "" {
		s.writeTokenError(w, r, errRequest("token is required"))
		return
	}
	res, err := s.introspect(r, c, tok)
	if err != nil {
		s.writeTokenError(w, r, err)
		return
	}
	writeTokenJSON(w, http.StatusOK, res)
}

func (s *Server) introspect(r *http.Request, c Client, tok string) (introspection, error) {
	ctx := r.Context()
	inactive := introspection{Active: false}
	now := db.Micros(s.now())
	if claims, err := s.auth.VerifyOAuthToken(ctx, tok); err == nil {
		if claims.ClientID != c.ID {
			return inactive, nil
		}
		var n int
		err := s.db.QueryRow(ctx, `SELECT COUNT(*) FROM oauth_access_tokens a JOIN oauth_grants g ON g.id = a.grant_id
			JOIN oauth_clients c ON c.id = g.client_id
			WHERE a.jti = ? AND a.revoked_at IS NULL AND g.revoked_at IS NULL AND c.revoked_at IS NULL`, claims.ID).Scan(&n)
		if err != nil || n == 0 {
			return inactive, err
		}
		return introspection{Active: true, Scope: claims.Scope, ClientID: claims.ClientID, Sub: claims.Subject,
			TokenType: "Bearer", Exp: claims.Expires.Unix(), Iat: claims.IssuedAt.Unix(),
			Iss: s.auth.Issuer(), Aud: s.auth.Audience(), Jti: claims.ID}, nil
	}
	var clientID, scopes string
	var userID, created, expires int64
	err := s.db.QueryRow(ctx, `SELECT g.client_id, g.user_id, g.scopes, r.created_at, r.expires_at FROM oauth_refresh_tokens r
		JOIN oauth_grants g ON g.id = r.grant_id JOIN oauth_clients c ON c.id = g.client_id
		WHERE r.token_hash = ? AND r.used_at IS NULL AND r.expires_at > ? AND g.revoked_at IS NULL AND c.revoked_at IS NULL`,
		hashToken(tok), now).Scan(&clientID, &userID, &scopes, &created, &expires)
	if errors.Is(err, sql.ErrNoRows) || (err == nil && clientID != c.ID) {
		return inactive, nil
	}
	if err != nil {
		return inactive, err
	}
	return introspection{Active: true, Scope: scopes, ClientID: clientID, Sub: strconv.FormatInt(userID, 10),
		TokenType: "refresh_token", Exp: db.FromMicros(expires).Unix(), Iat: db.FromMicros(created).Unix(), Iss: s.auth.Issuer()}, nil
}

// issuer is the RFC 8414 issuer identifier, from configuration only. RFC
// 9068 §4 wants it to equal the iss of the access tokens, so when the JWT
// issuer (HUB_JWT_ISSUER) is a URL it is the answer; otherwise the public
// URL (HUB_PUBLIC_URL) is (and validators must be told the token iss
// separately: docs/oauth2.md). "" when neither is configured.
func (s *Server) issuer() string {
	if iss := s.auth.Issuer(); strings.HasPrefix(iss, "https://") || strings.HasPrefix(iss, "http://") {
		return strings.TrimRight(iss, "/")
	}
	return s.o.PublicURL
}

// baseURL is where clients reach the endpoints: the configured public URL,
// else the issuer when it is a URL, else "". It never comes from the
// request (Host, X-Forwarded-Host): an answer cached for max-age must not
// carry endpoints an attacker chose.
func (s *Server) baseURL() string {
	if s.o.PublicURL != "" {
		return s.o.PublicURL
	}
	return s.issuer()
}

// handleMetadata is RFC 8414 §3.
// Without a configured URL there is no truthful answer: 404 problem+json
// (the operator sees the startup warning) rather than URLs built from the
// request's Host.
func (s *Server) handleMetadata(w http.ResponseWriter, r *http.Request) {
	base := s.baseURL()
	if base == "" {
		w.Header().Set("Cache-Control", "no-store")
		httpx.Problem(w, r, problem.New(http.StatusNotFound, "oauth-metadata-unconfigured", "Not Found",
			"OAuth2 metadata is not published: the service has no configured public URL (HUB_PUBLIC_URL)"))
		return
	}
	scopes := []string{"read", "write", "admin"}
	for _, res := range auth.Resources {
		scopes = append(scopes, res+":read", res+":write", res+":*")
	}
	authMethods := []string{"client_secret_basic", "client_secret_post", "none"}
	w.Header().Set("Cache-Control", "public, max-age=300")
	httpx.WriteJSON(w, http.StatusOK, map[string]any{
		"issuer":                                         s.issuer(),
		"authorization_endpoint":                         base + "/oauth/authorize",
		"token_endpoint":                                 base + "/oauth/token",
		"revocation_endpoint":                            base + "/oauth/revoke",
		"introspection_endpoint":                         base + "/oauth/introspect",
		"jwks_uri":                                       base + "/.well-known/jwks.json",
		"response_types_supported":                       []string{"code"},
		"response_modes_supported":                       []string{"query"},
		"grant_types_supported":                          []string{"authorization_code", "refresh_token"},
		"token_endpoint_auth_methods_supported":          authMethods,
		"revocation_endpoint_auth_methods_supported":     authMethods,
		"introspection_endpoint_auth_methods_supported":  []string{"client_secret_basic", "client_secret_post"},
		"code_challenge_methods_supported":               []string{"S256"},
		"scopes_supported":                               scopes,
		"authorization_response_iss_parameter_supported": true,
	})
}
