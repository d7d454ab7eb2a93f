package auth

import (
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"encoding/base64"
	"errors"
	"fmt"
	"net/http"
	"strconv"

	"github.com/golang-jwt/jwt/v5"

	"github.com/hubchantier/hubgate/internal/contract"
	"github.com/hubchantier/hubgate/internal/problem"
	"github.com/hubchantier/hubgate/upstream/httpx"
)

// RoleScopes maps a role to the scopes its access tokens carry, in the
// space-separated form of the RFC 9068 "scope" claim.
var RoleScopes = map[string]string{
	RoleAdmin:      "read write admin",
	RoleConducteur: "read write",
	RoleOuvrier:    "read pointages:write signalements:write",
}

// Token is an issued access token, as returned by POST /api/auth/login
// (RFC 6749 §5.1 names).
type Token struct {
	// AccessToken is the signed JWT, TokenType "Bearer", ExpiresIn seconds.
	AccessToken string `json:"access_token"`
	TokenType   string `json:"token_type"`
	ExpiresIn   int64  `json:"expires_in"`
}

// IssueToken signs an access token for u with the current signing key.
func (s *Service) IssueToken(ctx context.Context, u User) (Token, error) {
	_, key, err := s.keys.snapshot(ctx)
	if err != nil {
		return Token{}, fmt.Errorf("issue token: %w", err)
	}
	jti := make([]byte, 16)
	if _, err := rand.Read(jti); err != nil {
		return Token{}, fmt.Errorf("issue token: %w", err)
	}
	now, err := s.issueTime(ctx, u.ID) // after any credential cut of u
	if err != nil {
		return Token{}, fmt.Errorf("issue token: %w", err)
	}
	claims := jwt.MapClaims{
		"iss":   s.o.Issuer,
		"aud":   s.o.Audience, // a single string, not an array (RFC 7519 §4.1.3 allows both)
		"sub":   strconv.FormatInt(u.ID, 10),
		"role":  u.Role,
		"scope": RoleScopes[u.Role],
		"email": u.Email,
		"iat":   now.Unix(),
		"nbf":   now.Unix(),
		"exp":   now.Add(s.o.TokenTTL).Unix(),
		"jti":   base64.RawURLEncoding.EncodeToString(jti),
	}
	t := jwt.NewWithClaims(jwt.SigningMethodEdDSA, claims)
	t.Header["kid"] = key.kid
	t.Header["typ"] = "at+jwt" // RFC 9068 §2.1
	signed, err := t.SignedString(key.priv)
	if err != nil {
		return Token{}, fmt.Errorf("sign token: %w", err)
	}
	return Token{AccessToken: signed, TokenType: "Bearer", ExpiresIn: int64(s.o.TokenTTL.Seconds())}, nil
}

// loginRequest is the body of POST /api/auth/login.
type loginRequest struct {
	Email    string `json:"email"`
	Password string `json:"password"`
}

func (s *Service) handleLogin(w http.ResponseWriter, r *http.Request) {
	var req loginRequest
	if !httpx.DecodeJSON(w, r, &req) {
		return
	}
	if req.Email == "" {
		httpx.BadRequest(w, r, "email", "email is required")
		return
	}
	if req.Password == "" {
		httpx.BadRequest(w, r, "password", "password is required")
		return
	}
	u, err := s.Login(r.Context(), r, req.Email, req.Password)
	s.ReportLoginAccount(r.Context(), w, req.Email, u.ID, err) // for hub_audit
	var te *ThrottledError
	if errors.As(err, &te) {
		// Per (account, client network): the real user elsewhere still
		// signs in (login_throttle.go).
		w.Header().Set("Retry-After", strconv.Itoa(te.Seconds()))
		httpx.Problem(w, r, problem.New(http.StatusTooManyRequests, "login-throttled", "Too Many Requests",
			"too many failed sign-ins for this account from your network; retry later").With("retry_after", te.Seconds()))
		return
	}
	if errors.Is(err, ErrBadCredentials) {
		// One answer for unknown email and wrong password alike.
		httpx.Problem(w, r, problem.New(http.StatusUnauthorized, "invalid-credentials", "Unauthorized", "invalid email or password"))
		return
	}
	if err != nil {
		httpx.Internal(w, r, err)
		return
	}
	tok, err := s.IssueToken(r.Context(), u)
	if err != nil {
		httpx.Internal(w, r, err)
		return
	}
	// RFC 6749 §5.1: token responses must not be cached.
	w.Header().Set("Cache-Control", "no-store")
	w.Header().Set("Pragma", "no-cache")
	httpx.WriteJSON(w, http.StatusOK, tok)
}

// JWKS returns the public keys that verify tokens still in circulation.
func (s *Service) JWKS(ctx context.Context) (contract.JWKS, error) {
	keys, err := s.publishedKeys(ctx)
	if err != nil {
		return contract.JWKS{}, err
	}
	out := contract.JWKS{Keys: make([]contract.JWK, 0, len(keys))}
	for _, k := range keys {
		pub := k.priv.Public().(ed25519.PublicKey)
		out.Keys = append(out.Keys, contract.JWK{
			Kty: "OKP", Crv: "Ed25519", X: base64.RawURLEncoding.EncodeToString(pub),
			Kid: k.kid, Alg: "EdDSA", Use: "sig",
		})
	}
	return out, nil
}

func (s *Service) handleJWKS(w http.ResponseWriter, r *http.Request) {
	set, err := s.JWKS(r.Context())
	if err != nil {
		httpx.Internal(w, r, err)
		return
	}
	// A new key signs as soon as it is created, so verifiers must refetch on
	// an unknown kid anyway; a short max-age keeps that cheap.
	w.Header().Set("Cache-Control", "public, max-age=60")
	httpx.WriteJSON(w, http.StatusOK, set)
}
