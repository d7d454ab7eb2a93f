package hub

import (
	"context"
	"crypto/ed25519"
	"encoding/base64"
	"errors"
	"net/http"
	"strings"
	"time"

	"github.com/golang-jwt/jwt/v5"
	"go.uber.org/zap"
)

// jwkEntry is one verification key from the upstream's JWKS.
type jwkEntry struct {
	key ed25519.PublicKey
}

type jwkSet struct {
	Keys []struct {
		Kty string `json:"kty"`
		Crv string `json:"crv"`
		X   string `json:"x"`
		Kid string `json:"kid"`
		Alg string `json:"alg"`
		Use string `json:"use"`
	} `json:"keys"`
}

// tokenClaims are the claims hubgate reads from a user or OAuth2 JWT.
type tokenClaims struct {
	jwt.RegisteredClaims
	Role     string `json:"role"`
	Scope    string `json:"scope"`
	ClientID string `json:"client_id"`
}

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
		kid, _ := t.Header["kid"].(string)
		if kid == "" {
			return nil, errors.New("token has no kid")
		}
		return r.verificationKey(ctx, kid)
	})
	switch {
	case errors.Is(err, ErrUnavailable):
		return nil, ErrUnavailable
	case errors.Is(err, jwt.ErrTokenExpired):
		return nil, ErrExpired
	case errors.Is(err, jwt.ErrTokenMalformed):
		return nil, ErrMalformed
	case err != nil:
		return nil, ErrUnknown
	}
	if claims.Subject == "" {
		return nil, ErrUnknown
	}
	if r.tokenRevoked(claims.ID, claims.Subject, claims.ClientID, claims.IssuedAt) {
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
		id.Expires = claims.ExpiresAt.Time
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
		var set jwkSet
		status, err := r.client.do(cctx, http.MethodGet, "/.well-known/jwks.json", nil, &set)
		if err != nil || status != http.StatusOK {
			r.log.Warn("jwks fetch failed", zap.Int("status", status), zap.Error(err))
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
