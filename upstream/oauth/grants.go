package oauth

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"database/sql"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/hubchantier/hubgate/upstream/auth"
	"github.com/hubchantier/hubgate/upstream/db"
)

// tokenResponse is the successful answer of the token endpoint (RFC 6749 §5.1).
type tokenResponse struct {
	AccessToken  string `json:"access_token"`
	TokenType    string `json:"token_type"`
	ExpiresIn    int64  `json:"expires_in"`
	RefreshToken string `json:"refresh_token,omitempty"`
	Scope        string `json:"scope"`
}

// issueCode stores a new grant (not yet usable) and a code for it. The
// grant exists from the start so that a replayed code, even one replayed
// while the first redemption is still running, has something to revoke.
func (s *Server) issueCode(ctx context.Context, clientID string, userID int64, redirectURI string, scopes []string, challenge string) (string, error) {
	gid := make([]byte, 12)
	if _, err := rand.Read(gid); err != nil {
		return "", err
	}
	grantID := hex.EncodeToString(gid)
	code := randomToken()
	now := s.now()
	tx, err := s.db.BeginTx(ctx, nil)
	if err != nil {
		return "", fmt.Errorf("issue code: %w", err)
	}
	defer tx.Rollback()
	if _, err := tx.ExecContext(ctx, s.db.Rebind(`INSERT INTO oauth_grants (id, client_id, user_id, scopes, created_at) VALUES (?, ?, ?, ?, ?)`),
		grantID, clientID, userID, strings.Join(scopes, " "), db.Micros(now)); err != nil {
		return "", fmt.Errorf("insert grant: %w", err)
	}
	if _, err := tx.ExecContext(ctx, s.db.Rebind(`INSERT INTO oauth_codes (code_hash, client_id, user_id, redirect_uri, scopes, challenge, grant_id, created_at, expires_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)`),
		hashToken(code), clientID, userID, redirectURI, strings.Join(scopes, " "), challenge, grantID, db.Micros(now), db.Micros(now.Add(CodeTTL))); err != nil {
		return "", fmt.Errorf("insert code: %w", err)
	}
	if err := tx.Commit(); err != nil {
		return "", fmt.Errorf("issue code: %w", err)
	}
	return code, nil
}

// redeemCode runs the checks of RFC 6749 §4.1.3 and RFC 7636 §4.6 and, when
// they pass, issues the first access and refresh tokens of the grant.
func (s *Server) redeemCode(ctx context.Context, c Client, code, redirectURI, verifier string) (tokenResponse, error) {
	var clientID, storedRedirect, scopes, challenge, grantID string
	var userID, expires int64
	var used *int64
	err := s.db.QueryRow(ctx, `SELECT client_id, user_id, redirect_uri, scopes, challenge, grant_id, expires_at, used_at FROM oauth_codes WHERE code_hash = ?`,
		hashToken(code)).Scan(&clientID, &userID, &storedRedirect, &scopes, &challenge, &grantID, &expires, &used)
	if errors.Is(err, sql.ErrNoRows) {
		return tokenResponse{}, errGrant("the authorization code is invalid")
	}
	if err != nil {
		return tokenResponse{}, fmt.Errorf("load code: %w", err)
	}
	// A code presented by another client tells nothing about its legitimate
	// holder: refuse without consuming it.
	if clientID != c.ID {
		return tokenResponse{}, errGrant("the authorization code was issued to another client")
	}
	now := s.now()
	res, err := s.db.Exec(ctx, `UPDATE oauth_codes SET used_at = ? WHERE code_hash = ? AND used_at IS NULL`, db.Micros(now), hashToken(code))
	if err != nil {
		return tokenResponse{}, fmt.Errorf("consume code: %w", err)
	}
	if n, _ := res.RowsAffected(); n == 0 {
		// RFC 6749 §4.1.2 / RFC 9700 §4.5: a replayed code revokes every
		// token issued from it.
		s.log.Warn("authorization code reused: grant revoked", "client_id", c.ID, "grant", grantID)
		if err := s.revokeGrant(ctx, grantID); err != nil {
			return tokenResponse{}, err
		}
		return tokenResponse{}, errGrant("the authorization code was already used; the tokens issued from it are revoked")
	}
	switch {
	case !now.Before(db.FromMicros(expires)):
		return tokenResponse{}, errGrant("the authorization code has expired")
	case redirectURI != storedRedirect:
		return tokenResponse{}, errGrant("redirect_uri does not match the authorization request")
	case challenge == "" && verifier != "":
		// RFC 9700 §2.1.1: a verifier without a challenge is a downgrade attempt.
		return tokenResponse{}, errGrant("code_verifier sent but the authorization request had no code_challenge")
	case challenge != "" && verifier == "":
		return tokenResponse{}, errGrant("code_verifier is required: the authorization request had a code_challenge")
	case challenge != "" && !verifierMatches(verifier, challenge):
		return tokenResponse{}, errGrant("code_verifier does not match the code_challenge")
	}
	u, err := s.auth.UserByID(ctx, userID)
	if errors.Is(err, auth.ErrNotFound) {
		return tokenResponse{}, errGrant("the user no longer exists")
	}
	if err != nil {
		return tokenResponse{}, err
	}
	granted := strings.Fields(scopes)
	return s.issueTokens(ctx, grantID, c, u, granted, granted)
}

// verifierMatches checks RFC 7636 §4.1 syntax and §4.6 S256.
func verifierMatches(verifier, challenge string) bool {
	if !validPKCEValue(verifier) {
		return false
	}
	sum := sha256.Sum256([]byte(verifier))
	want := base64.RawURLEncoding.EncodeToString(sum[:])
	return subtle.ConstantTimeCompare([]byte(want), []byte(challenge)) == 1
}

// validPKCEValue: 43 to 128 characters of [A-Za-z0-9-._~] (RFC 7636 §4.1).
func validPKCEValue(v string) bool {
	if len(v) < 43 || len(v) > 128 {
		return false
	}
	for i := 0; i < len(v); i++ {
		c := v[i]
		if !(c >= 'A' && c <= 'Z' || c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == '-' || c == '.' || c == '_' || c == '~') {
			return false
		}
	}
	return true
}

// refresh implements RFC 6749 §6 with rotation: the presented refresh token
// is consumed and a new one issued; presenting a consumed one again revokes
// the grant (RFC 9700 §4.14.2). requested may narrow, never widen, the scope.
func (s *Server) refresh(ctx context.Context, c Client, token string, requested []string) (tokenResponse, error) {
	var grantID, clientID, scopes string
	var userID, expires int64
	var used, revoked *int64
	err := s.db.QueryRow(ctx, `SELECT r.grant_id, g.client_id, g.user_id, g.scopes, r.expires_at, r.used_at, g.revoked_at
		FROM oauth_refresh_tokens r JOIN oauth_grants g ON g.id = r.grant_id WHERE r.token_hash = ?`,
		hashToken(token)).Scan(&grantID, &clientID, &userID, &scopes, &expires, &used, &revoked)
	if errors.Is(err, sql.ErrNoRows) {
		return tokenResponse{}, errGrant("the refresh token is invalid")
	}
	if err != nil {
		return tokenResponse{}, fmt.Errorf("load refresh token: %w", err)
	}
	if clientID != c.ID {
		return tokenResponse{}, errGrant("the refresh token was issued to another client")
	}
	if revoked != nil {
		return tokenResponse{}, errGrant("the refresh token is revoked")
	}
	reuse := func() (tokenResponse, error) {
		s.log.Warn("refresh token reused: grant revoked", "client_id", c.ID, "grant", grantID)
		if err := s.revokeGrant(ctx, grantID); err != nil {
			return tokenResponse{}, err
		}
		return tokenResponse{}, errGrant("the refresh token was already used; the grant is revoked")
	}
	if used != nil {
		return reuse()
	}
	now := s.now()
	if !now.Before(db.FromMicros(expires)) {
		return tokenResponse{}, errGrant("the refresh token has expired")
	}
	granted := strings.Fields(scopes)
	access := granted
	if len(requested) > 0 {
		for _, sc := range requested {
			if !contains(granted, sc) {
				return tokenResponse{}, &tokenError{Code: "invalid_scope", Desc: "scope " + sc + " was not granted to this refresh token"}
			}
		}
		access = requested
	}
	res, err := s.db.Exec(ctx, `UPDATE oauth_refresh_tokens SET used_at = ? WHERE token_hash = ? AND used_at IS NULL`, db.Micros(now), hashToken(token))
	if err != nil {
		return tokenResponse{}, fmt.Errorf("consume refresh token: %w", err)
	}
	if n, _ := res.RowsAffected(); n == 0 {
		return reuse() // a concurrent refresh with the same token won
	}
	u, err := s.auth.UserByID(ctx, userID)
	if errors.Is(err, auth.ErrNotFound) {
		return tokenResponse{}, errGrant("the user no longer exists")
	}
	if err != nil {
		return tokenResponse{}, err
	}
	return s.issueTokens(ctx, grantID, c, u, granted, access)
}

func contains(list []string, v string) bool {
	for _, x := range list {
		if x == v {
			return true
		}
	}
	return false
}

// grantableFor keeps the scopes the user's current role still allows: a
// demoted user's apps lose what the user lost.
func grantableFor(role string, scopes []string) []string {
	out := make([]string, 0, len(scopes))
	for _, sc := range scopes {
		if auth.Grantable(role, sc) {
			out = append(out, sc)
		}
	}
	return out
}

// issueTokens signs an access token and stores a new refresh token for the
// grant. After storing the jti it re-reads the grant: if a concurrent
// replay revoked it meanwhile, the tokens are never handed out (and the
// revoker, which lists jtis after revoking, has published this one).
func (s *Server) issueTokens(ctx context.Context, grantID string, c Client, u auth.User, granted, access []string) (tokenResponse, error) {
	if !u.Active {
		return tokenResponse{}, errGrant("the user is deactivated")
	}
	access = grantableFor(u.Role, access)
	if len(access) == 0 {
		return tokenResponse{}, &tokenError{Code: "invalid_scope", Desc: "the user's role no longer allows any of the granted scopes"}
	}
	scope := strings.Join(access, " ")
	jwt, claims, err := s.auth.IssueOAuthToken(ctx, auth.OAuthClaims{
		Subject: strconv.FormatInt(u.ID, 10), Role: u.Role, ClientID: c.ID, Scope: scope,
	}, AccessTokenTTL)
	if err != nil {
		return tokenResponse{}, err
	}
	now := s.now()
	if _, err := s.db.Exec(ctx, `INSERT INTO oauth_access_tokens (jti, grant_id, expires_at) VALUES (?, ?, ?)`,
		claims.ID, grantID, db.Micros(claims.Expires)); err != nil {
		return tokenResponse{}, fmt.Errorf("store access token: %w", err)
	}
	refresh := randomToken()
	if _, err := s.db.Exec(ctx, `INSERT INTO oauth_refresh_tokens (token_hash, grant_id, created_at, expires_at) VALUES (?, ?, ?, ?)`,
		hashToken(refresh), grantID, db.Micros(now), db.Micros(now.Add(RefreshTokenTTL))); err != nil {
		return tokenResponse{}, fmt.Errorf("store refresh token: %w", err)
	}
	var revoked *int64
	if err := s.db.QueryRow(ctx, `SELECT revoked_at FROM oauth_grants WHERE id = ?`, grantID).Scan(&revoked); err != nil {
		return tokenResponse{}, fmt.Errorf("check grant: %w", err)
	}
	if revoked != nil {
		return tokenResponse{}, errGrant("the grant was revoked")
	}
	return tokenResponse{AccessToken: jwt, TokenType: "Bearer", ExpiresIn: int64(AccessTokenTTL / time.Second),
		RefreshToken: refresh, Scope: scope}, nil
}

// revokeGrant revokes a grant, its refresh tokens (through the grant) and
// its live access tokens: a "token" revocation event per jti reaches every
// gateway within a second.
func (s *Server) revokeGrant(ctx context.Context, grantID string) error {
	now := s.now()
	if _, err := s.db.Exec(ctx, `UPDATE oauth_grants SET revoked_at = ? WHERE id = ? AND revoked_at IS NULL`, db.Micros(now), grantID); err != nil {
		return fmt.Errorf("revoke grant: %w", err)
	}
	// Listed after the grant is marked: a token stored concurrently is
	// either seen here or sees the revoked grant (issueTokens).
	rows, err := s.db.Query(ctx, `SELECT jti FROM oauth_access_tokens WHERE grant_id = ? AND revoked_at IS NULL AND expires_at > ?`, grantID, db.Micros(now))
	if err != nil {
		return fmt.Errorf("list grant tokens: %w", err)
	}
	var jtis []string
	for rows.Next() {
		var j string
		if err := rows.Scan(&j); err != nil {
			rows.Close()
			return fmt.Errorf("list grant tokens: %w", err)
		}
		jtis = append(jtis, j)
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return fmt.Errorf("list grant tokens: %w", err)
	}
	for _, j := range jtis {
		if err := s.revokeJTI(ctx, j, now); err != nil {
			return err
		}
	}
	return nil
}

// revokeJTI marks one access token revoked and tells the gateways.
func (s *Server) revokeJTI(ctx context.Context, jti string, now time.Time) error {
	if _, err := s.db.Exec(ctx, `UPDATE oauth_access_tokens SET revoked_at = ? WHERE jti = ? AND revoked_at IS NULL`, db.Micros(now), jti); err != nil {
		return fmt.Errorf("revoke access token: %w", err)
	}
	return s.publish(ctx, auth.KindToken, jti)
}
