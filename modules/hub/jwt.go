package hub

import (
	"context"
	"crypto/ed25519"
	"encoding/base64"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"time"

	"github.com/golang-jwt/jwt/v5"
	"github.com/hubchantier/hubgate/internal/contract"
	"go.uber.org/zap"
)

// jwkEntry is one verification key from the upstream's JWKS.
type jwkEntry struct {
	key ed25519.PublicKey
}

// tokenClaims are the claims hubgate reads from a user or OAuth2 JWT. The
// registered ones are spelled out (not jwt.RegisteredClaims) so that the
// time claims are strict numericDates.
type tokenClaims struct {
	Issuer    string           `json:"iss"`
	Subject   string           `json:"sub"`
	Audience  jwt.ClaimStrings `json:"aud"`
	ExpiresAt *numericDate     `json:"exp"`
	NotBefore *numericDate     `json:"nbf"`
	IssuedAt  *numericDate     `json:"iat"`
	ID        string           `json:"jti"`
	Role      string           `json:"role"`
	Scope     string           `json:"scope"`
	ClientID  string           `json:"client_id"`
}

// GetExpirationTime implements jwt.Claims.
func (c *tokenClaims) GetExpirationTime() (*jwt.NumericDate, error) { return c.ExpiresAt.get(), nil }

// GetIssuedAt implements jwt.Claims.
func (c *tokenClaims) GetIssuedAt() (*jwt.NumericDate, error) { return c.IssuedAt.get(), nil }

// GetNotBefore implements jwt.Claims.
func (c *tokenClaims) GetNotBefore() (*jwt.NumericDate, error) { return c.NotBefore.get(), nil }

// GetIssuer implements jwt.Claims.
func (c *tokenClaims) GetIssuer() (string, error) { return c.Issuer, nil }

// GetSubject implements jwt.Claims.
func (c *tokenClaims) GetSubject() (string, error) { return c.Subject, nil }

// GetAudience implements jwt.Claims.
func (c *tokenClaims) GetAudience() (jwt.ClaimStrings, error) { return c.Audience, nil }

// numericDate is an exp, nbf or iat claim: a JSON number of seconds (RFC
// 7519 §2 NumericDate). golang-jwt alone also takes a string of digits
// ("exp":"9999999999"), which another verifier may read differently or
// not at all; such a token is refused as malformed.
type numericDate struct{ jwt.NumericDate }

// errNotNumericDate makes the claims' decoding fail (jwt.ErrTokenMalformed).
var errNotNumericDate = errors.New("time claim is not a JSON number")

// UnmarshalJSON accepts a JSON number only (null leaves the pointer nil
// before this is called).
func (d *numericDate) UnmarshalJSON(b []byte) error {
	if len(b) == 0 || (b[0] != '-' && (b[0] < '0' || b[0] > '9')) {
		return errNotNumericDate
	}
	return d.NumericDate.UnmarshalJSON(b)
}

// get returns the date, nil when the claim is absent.
func (d *numericDate) get() *jwt.NumericDate {
	if d == nil {
		return nil
	}
	return &d.NumericDate
}

// errCrit refuses any "crit" header: hubgate implements no JWS extension,
// and a recipient must reject a token whose critical extensions it does
// not understand (RFC 7515 §4.1.11). It wraps ErrMalformed, whose metric
// reason it takes.
var errCrit = fmt.Errorf("%w: unsupported critical header parameter", ErrMalformed)

// maxTokenLen bounds the work spent on a bearer token before any parsing.
const maxTokenLen = 8192

// JWT verifies a bearer JWT (signature by a JWKS key, iss, aud, exp, nbf)
// and returns its identity.
func (r *Resolver) JWT(ctx context.Context, token string) (*Identity, error) {
	if len(token) > maxTokenLen || strings.Count(token, ".") != 2 {
		return nil, ErrMalformed
	}
	var claims tokenClaims
	parser := jwt.NewParser(
		jwt.WithValidMethods([]string{"EdDSA"}),
		jwt.WithIssuer(r.cfg.Issuer),
		jwt.WithAudience(r.cfg.Audience),
		jwt.WithExpirationRequired(),
		jwt.WithIssuedAt(),
		jwt.WithLeeway(5*time.Second),
		jwt.WithTimeFunc(r.now),
	)
	_, err := parser.ParseWithClaims(token, &claims, func(t *jwt.Token) (any, error) {
		if _, ok := t.Header["crit"]; ok {
			return nil, errCrit
		}
		kid, _ := t.Header["kid"].(string)
		if kid == "" {
			return nil, errors.New("token has no kid")
		}
		return r.verificationKey(ctx, kid)
	})
	switch {
	case errors.Is(err, ErrUnavailable):
		return nil, ErrUnavailable
	case errors.Is(err, ErrMalformed), errors.Is(err, jwt.ErrTokenMalformed):
		// Before expiry: a malformed exp must not read as "expired".
		return nil, ErrMalformed
	case errors.Is(err, jwt.ErrTokenExpired):
		return nil, ErrExpired
	case err != nil:
		return nil, ErrUnknown
	}
	if claims.Subject == "" {
		return nil, ErrUnknown
	}
	if r.tokenRevoked(claims.ID, claims.Subject, claims.ClientID, claims.IssuedAt.get()) {
		return nil, ErrRevoked
	}
	id := &Identity{
		Subject:  claims.Subject,
		Role:     claims.Role,
		Method:   "jwt",
		ClientID: claims.ClientID,
		Scopes:   strings.Fields(claims.Scope),
	}
	if claims.ClientID != "" {
		id.Method = "oauth2"
	}
	if claims.ExpiresAt != nil {
		id.Expires = claims.ExpiresAt.get().Time
	}
	return id, nil
}

// tokenRevoked consults the revocation feed's state: a revoked jti (an
// OAuth2 token revoked alone or with its grant), a user whose credentials
// were all cut after the token was issued, or an OAuth2 client revoked
// after it was issued. A token without iat counts as issued before any cut.
func (r *Resolver) tokenRevoked(jti, sub, clientID string, iat *jwt.NumericDate) bool {
	r.mu.RLock()
	defer r.mu.RUnlock()
	if jti != "" {
		if _, ok := r.revokedJTI[jti]; ok {
			return true
		}
	}
	if cut, ok := r.userCut[sub]; ok && (iat == nil || !iat.Time.After(cut)) {
		return true
	}
	if clientID != "" {
		if cut, ok := r.clientCut[clientID]; ok && (iat == nil || !iat.Time.After(cut)) {
			return true
		}
	}
	return false
}

// verificationKey returns the key for kid, refreshing the JWKS when kid is
// unknown, at most once per JWKSMinRefresh (so garbage kids cannot make the
// gateway hammer the upstream).
func (r *Resolver) verificationKey(ctx context.Context, kid string) (ed25519.PublicKey, error) {
	r.mu.RLock()
	k, ok := r.jwks[kid]
	last := r.jwksAt
	r.mu.RUnlock()
	if ok {
		return k.key, nil
	}
	if r.now().Sub(last) < r.cfg.JWKSMinRefresh {
		return nil, errors.New("unknown kid")
	}
	if err := r.refreshJWKS(ctx); err != nil {
		return nil, err
	}
	r.mu.RLock()
	k, ok = r.jwks[kid]
	r.mu.RUnlock()
	if !ok {
		return nil, errors.New("unknown kid")
	}
	return k.key, nil
}

// refreshJWKS fetches the key set (coalesced) and replaces the cached one.
func (r *Resolver) refreshJWKS(ctx context.Context) error {
	_, err, _ := r.group.Do("jwks", func() (any, error) {
		r.mu.Lock()
		r.jwksAt = r.now()
		r.mu.Unlock()
		cctx, cancel := withTimeout(ctx, 5*time.Second)
		defer cancel()
		var set contract.JWKS
		resp, err := r.client.Do(cctx, InternalCall{Method: http.MethodGet, Path: contract.PathJWKS, Out: &set, Idempotent: true})
		if err != nil || resp.Status != http.StatusOK {
			r.log.Warn("jwks fetch failed", zap.Int("status", resp.Status), zap.Error(err))
			return nil, ErrUnavailable
		}
		keys := make(map[string]jwkEntry, len(set.Keys))
		for _, k := range set.Keys {
			if k.Kty != "OKP" || k.Crv != "Ed25519" || k.Kid == "" || (k.Use != "" && k.Use != "sig") {
				continue
			}
			x, err := base64.RawURLEncoding.DecodeString(k.X)
			if err != nil || len(x) != ed25519.PublicKeySize {
				continue
			}
			keys[k.Kid] = jwkEntry{key: ed25519.PublicKey(x)}
		}
		r.mu.Lock()
		r.jwks = keys
		r.mu.Unlock()
		return nil, nil
	})
	return err
}
