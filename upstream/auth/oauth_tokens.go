package auth

import (
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"encoding/base64"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/golang-jwt/jwt/v5"
)

// OAuthClaims are the claims of an OAuth2 access token (RFC 9068 §2.2),
// besides iss, aud, iat, nbf, exp and jti which the Service fills in.
type OAuthClaims struct {
	// Subject is the user id in decimal.
	Subject string `json:"sub"`
	// Role is the user's role, so the upstream applies the same rules as
	// for the user's own session.
	Role string `json:"role,omitempty"`
	// ClientID is the OAuth2 client the token was issued to; the gateway
	// reads its presence as "method oauth2".
	ClientID string `json:"client_id"`
	// Scope is the space-separated granted scope.
	Scope string `json:"scope"`
	// ID is the jti; IssuedAt and Expires bound the validity.
	ID       string    `json:"jti"`
	IssuedAt time.Time `json:"-"`
	Expires  time.Time `json:"-"`
}

// IssueOAuthToken signs an OAuth2 access token valid for ttl with the same
// keys (and the same iss and aud) as login tokens, so the gateway verifies
// both against one JWKS. It returns the JWT and the claims as issued.
func (s *Service) IssueOAuthToken(ctx context.Context, c OAuthClaims, ttl time.Duration) (string, OAuthClaims, error) {
	_, key, err := s.keys.snapshot(ctx)
	if err != nil {
		return "", c, fmt.Errorf("issue oauth token: %w", err)
	}
	raw := make([]byte, 16)
	if _, err := rand.Read(raw); err != nil {
		return "", c, fmt.Errorf("issue oauth token: %w", err)
	}
	uid, err := strconv.ParseInt(c.Subject, 10, 64)
	if err != nil {
		return "", c, fmt.Errorf("issue oauth token: subject %q is not a user id", c.Subject)
	}
	now, err := s.issueTime(ctx, uid) // after any credential cut of the user
	if err != nil {
		return "", c, fmt.Errorf("issue oauth token: %w", err)
	}
	c.ID = base64.RawURLEncoding.EncodeToString(raw)
	c.IssuedAt, c.Expires = now, now.Add(ttl)
	claims := jwt.MapClaims{
		"iss": s.o.Issuer, "aud": s.o.Audience, "sub": c.Subject,
		"client_id": c.ClientID, "scope": c.Scope,
		"iat": now.Unix(), "nbf": now.Unix(), "exp": c.Expires.Unix(), "jti": c.ID,
	}
	if c.Role != "" {
		claims["role"] = c.Role
	}
	t := jwt.NewWithClaims(jwt.SigningMethodEdDSA, claims)
	t.Header["kid"] = key.kid
	t.Header["typ"] = "at+jwt" // RFC 9068 §2.1
	signed, err := t.SignedString(key.priv)
	if err != nil {
		return "", c, fmt.Errorf("sign oauth token: %w", err)
	}
	return signed, c, nil
}

// ErrInvalidToken is returned by VerifyOAuthToken for any token that is not
// a valid, unexpired OAuth2 access token of this service.
var ErrInvalidToken = errors.New("invalid access token")

// VerifyOAuthToken checks an OAuth2 access token's signature (against the
// published keys), iss, aud, exp and nbf, and returns its claims. Whether it
// was revoked is the caller's business (the oauth package keeps jtis).
func (s *Service) VerifyOAuthToken(ctx context.Context, token string) (OAuthClaims, error) {
	if len(token) > 8192 || strings.Count(token, ".") != 2 {
		return OAuthClaims{}, ErrInvalidToken
	}
	keys, err := s.publishedKeys(ctx)
	if err != nil {
		return OAuthClaims{}, err
	}
	var mc jwt.MapClaims
	p := jwt.NewParser(jwt.WithValidMethods([]string{"EdDSA"}), jwt.WithIssuer(s.o.Issuer),
		jwt.WithAudience(s.o.Audience), jwt.WithExpirationRequired(), jwt.WithTimeFunc(s.now))
	_, err = p.ParseWithClaims(token, &mc, func(t *jwt.Token) (any, error) {
		kid, _ := t.Header["kid"].(string)
		for _, k := range keys {
			if k.kid == kid {
				return k.priv.Public().(ed25519.PublicKey), nil
			}
		}
		return nil, errors.New("unknown kid")
	})
	if err != nil {
		return OAuthClaims{}, ErrInvalidToken
	}
	str := func(k string) string { v, _ := mc[k].(string); return v }
	c := OAuthClaims{Subject: str("sub"), Role: str("role"), ClientID: str("client_id"), Scope: str("scope"), ID: str("jti")}
	if c.ClientID == "" || c.ID == "" || c.Subject == "" {
		return OAuthClaims{}, ErrInvalidToken // a login token, not an OAuth2 one
	}
	if iat, err := mc.GetIssuedAt(); err == nil && iat != nil {
		c.IssuedAt = iat.Time
	}
	if exp, err := mc.GetExpirationTime(); err == nil && exp != nil {
		c.Expires = exp.Time
	}
	return c, nil
}

// Issuer and Audience return the iss and aud this Service signs tokens with.
func (s *Service) Issuer() string   { return s.o.Issuer }
func (s *Service) Audience() string { return s.o.Audience }
