package hub

import (
	"context"
	"crypto/ed25519"
	"errors"
	"strconv"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"
)

// strictFixture is a resolver that trusts one local signing key (kid k1)
// and never reaches the network, with a signer for arbitrary headers and
// claims.
func strictFixture(t testing.TB) (*Resolver, func(header map[string]any, claims jwt.MapClaims) string) {
	pub, priv, err := ed25519.GenerateKey(nil)
	if err != nil {
		t.Fatal(err)
	}
	r := NewResolver(ResolverConfig{
		Upstream: "http://127.0.0.1:1", Issuer: DefaultIssuer, Audience: DefaultAudience,
		KeyCacheTTL: time.Minute, NegativeCacheTTL: time.Minute, JWKSMinRefresh: time.Hour,
	}, nil)
	r.jwks["k1"] = jwkEntry{key: pub}
	r.jwksAt = time.Now()
	sign := func(header map[string]any, claims jwt.MapClaims) string {
		tok := jwt.NewWithClaims(jwt.SigningMethodEdDSA, claims)
		tok.Header["kid"] = "k1"
		for k, v := range header {
			tok.Header[k] = v
		}
		s, err := tok.SignedString(priv)
		if err != nil {
			t.Fatal(err)
		}
		return s
	}
	return r, sign
}

// TestJWTStrictness: a correctly signed token is still refused as
// malformed when it carries a critical header parameter hubgate does not
// implement (RFC 7515 §4.1.11), or a time claim that is not a JSON number
// (RFC 7519 §2 NumericDate; golang-jwt alone accepts "9999999999").
func TestJWTStrictness(t *testing.T) {
	r, sign := strictFixture(t)
	now := time.Now()
	claims := func(over map[string]any) jwt.MapClaims {
		c := jwt.MapClaims{"iss": DefaultIssuer, "aud": DefaultAudience, "sub": "7",
			"exp": now.Add(time.Hour).Unix(), "iat": now.Unix(), "nbf": now.Add(-time.Minute).Unix()}
		for k, v := range over {
			c[k] = v
		}
		return c
	}
	if _, err := r.JWT(context.Background(), sign(nil, claims(nil))); err != nil {
		t.Fatalf("valid token refused: %v", err)
	}
	far := strconv.FormatInt(now.Add(100*365*24*time.Hour).Unix(), 10)
	for _, c := range []struct {
		name   string
		header map[string]any
		claims jwt.MapClaims
	}{
		{"crit with an unknown extension", map[string]any{"crit": []string{"x-hub-unknown"}, "x-hub-unknown": true}, claims(nil)},
		{"crit naming b64 (RFC 7797, not implemented)", map[string]any{"crit": []string{"b64"}, "b64": false}, claims(nil)},
		{"empty crit", map[string]any{"crit": []string{}}, claims(nil)},
		{"crit that is not a list", map[string]any{"crit": "exp"}, claims(nil)},
		{"exp as a string", nil, claims(map[string]any{"exp": far})},
		{"exp as a string, expired", nil, claims(map[string]any{"exp": "1"})},
		{"nbf as a string", nil, claims(map[string]any{"nbf": strconv.FormatInt(now.Unix(), 10)})},
		{"iat as a string", nil, claims(map[string]any{"iat": strconv.FormatInt(now.Unix(), 10)})},
		{"exp as a boolean", nil, claims(map[string]any{"exp": true})},
		{"exp as an object", nil, claims(map[string]any{"exp": map[string]any{"n": 1}})},
	} {
		t.Run(c.name, func(t *testing.T) {
			_, err := r.JWT(context.Background(), sign(c.header, c.claims))
			if !errors.Is(err, ErrMalformed) {
				t.Fatalf("err = %v, want ErrMalformed", err)
			}
		})
	}
	// Absent or null optional time claims, and a fractional exp, stay
	// acceptable; a missing exp does not.
	for name, c := range map[string]jwt.MapClaims{
		"null nbf": claims(map[string]any{"nbf": nil}),
		"null iat": claims(map[string]any{"iat": nil}),
		"fraction": claims(map[string]any{"exp": float64(now.Add(time.Hour).Unix()) + 0.5}),
	} {
		if _, err := r.JWT(context.Background(), sign(nil, c)); err != nil {
			t.Errorf("%s: refused: %v", name, err)
		}
	}
	noNbf := claims(nil)
	delete(noNbf, "nbf")
	delete(noNbf, "iat")
	if _, err := r.JWT(context.Background(), sign(nil, noNbf)); err != nil {
		t.Errorf("no nbf nor iat: refused: %v", err)
	}
	noExp := claims(nil)
	delete(noExp, "exp")
	if _, err := r.JWT(context.Background(), sign(nil, noExp)); err == nil {
		t.Error("a token without exp was accepted")
	}
}
