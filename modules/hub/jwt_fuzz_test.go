package hub

import (
	"context"
	"crypto/ed25519"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"
)

// FuzzJWT feeds arbitrary bearer tokens to the verifier: it must never
// panic, and nothing but a token signed by the known key verifies.
func FuzzJWT(f *testing.F) {
	pub, priv, err := ed25519.GenerateKey(nil)
	if err != nil {
		f.Fatal(err)
	}
	r := NewResolver(ResolverConfig{
		Upstream: "http://127.0.0.1:1", Issuer: DefaultIssuer, Audience: DefaultAudience,
		KeyCacheTTL: time.Minute, NegativeCacheTTL: time.Minute, JWKSMinRefresh: time.Hour,
	}, nil)
	r.jwks["k1"] = jwkEntry{key: pub}
	r.jwksAt = time.Now() // no refresh: the fuzzer must not reach the network

	sign := func(claims jwt.MapClaims) string {
		t := jwt.NewWithClaims(jwt.SigningMethodEdDSA, claims)
		t.Header["kid"] = "k1"
		s, err := t.SignedString(priv)
		if err != nil {
			f.Fatal(err)
		}
		return s
	}
	now := time.Now()
	valid := sign(jwt.MapClaims{"iss": DefaultIssuer, "aud": DefaultAudience, "sub": "7", "exp": now.Add(time.Hour).Unix(), "iat": now.Unix(), "scope": "read"})
	if _, err := r.JWT(context.Background(), valid); err != nil {
		f.Fatalf("valid token refused: %v", err)
	}
	f.Add(valid)
	f.Add(sign(jwt.MapClaims{"iss": "other", "aud": DefaultAudience, "sub": "7", "exp": now.Add(time.Hour).Unix()}))
	f.Add(sign(jwt.MapClaims{"iss": DefaultIssuer, "aud": DefaultAudience, "sub": "7", "exp": now.Add(-time.Hour).Unix()}))
	// Signed but not strict: a time claim as a string, a crit header.
	f.Add(sign(jwt.MapClaims{"iss": DefaultIssuer, "aud": DefaultAudience, "sub": "7", "exp": "9999999999"}))
	f.Add(sign(jwt.MapClaims{"iss": DefaultIssuer, "aud": DefaultAudience, "sub": "7", "exp": now.Add(time.Hour).Unix(), "nbf": "0"}))
	critTok := jwt.NewWithClaims(jwt.SigningMethodEdDSA, jwt.MapClaims{"iss": DefaultIssuer, "aud": DefaultAudience, "sub": "7", "exp": now.Add(time.Hour).Unix()})
	critTok.Header["kid"], critTok.Header["crit"] = "k1", []string{"b64"}
	crit, err := critTok.SignedString(priv)
	if err != nil {
		f.Fatal(err)
	}
	f.Add(crit)
	f.Add("eyJhbGciOiJub25lIiwia2lkIjoiazEifQ.eyJzdWIiOiI3In0.")
	f.Add("a.b.c")
	f.Add("")

	f.Fuzz(func(t *testing.T, tok string) {
		id, err := r.JWT(context.Background(), tok)
		if err == nil && tok != valid {
			// Any other accepted token must carry a signature by priv over
			// its own header and claims: re-verify independently.
			parsed, perr := jwt.Parse(tok, func(*jwt.Token) (any, error) { return pub, nil }, jwt.WithValidMethods([]string{"EdDSA"}))
			if perr != nil || !parsed.Valid {
				t.Fatalf("accepted a token the reference parser refuses: %q (%v)", tok, perr)
			}
		}
		if err == nil && id.Subject == "" {
			t.Fatal("accepted a token without subject")
		}
		if err == nil {
			// Strictness: no crit header, numeric time claims only.
			var mc jwt.MapClaims
			parsed, _, perr := jwt.NewParser().ParseUnverified(tok, &mc)
			if perr != nil {
				t.Fatalf("accepted a token that does not parse: %v", perr)
			}
			if _, ok := parsed.Header["crit"]; ok {
				t.Fatalf("accepted a token with a crit header: %q", tok)
			}
			for _, c := range []string{"exp", "nbf", "iat"} {
				if v, ok := mc[c]; ok && v != nil {
					if _, num := v.(float64); !num {
						t.Fatalf("accepted a token whose %s is %T: %q", c, v, tok)
					}
				}
			}
		}
	})
}
