package auth

import (
	"context"
	"crypto/ed25519"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"strconv"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"

	"github.com/hubchantier/hubgate/upstream/db"
	"github.com/hubchantier/hubgate/upstream/db/dbtest"
)

// jwksKeys fetches the JWKS over HTTP and decodes it by hand, as a verifier
// that knows nothing of this package would.
func jwksKeys(t *testing.T, e *env) map[string]ed25519.PublicKey {
	t.Helper()
	r := e.call("GET", "/.well-known/jwks.json", nil, nil)
	expect(t, r, 200)
	if cc := r.Header.Get("Cache-Control"); cc != "public, max-age=60" {
		t.Errorf("Cache-Control %q", cc)
	}
	var set struct {
		Keys []map[string]string `json:"keys"`
	}
	r.json(t, &set)
	out := map[string]ed25519.PublicKey{}
	for _, k := range set.Keys {
		if k["kty"] != "OKP" || k["crv"] != "Ed25519" || k["alg"] != "EdDSA" || k["use"] != "sig" || k["kid"] == "" {
			t.Fatalf("bad JWK %v", k)
		}
		x, err := base64.RawURLEncoding.DecodeString(k["x"])
		if err != nil || len(x) != ed25519.PublicKeySize {
			t.Fatalf("bad x in %v", k)
		}
		out[k["kid"]] = ed25519.PublicKey(x)
	}
	return out
}

func login(t *testing.T, e *env, email, password string) resp {
	t.Helper()
	return e.call("POST", "/api/auth/login", map[string]string{"email": email, "password": password}, nil)
}

// verify checks tok against keys and returns its kid and claims.
func verify(t *testing.T, e *env, tok string, keys map[string]ed25519.PublicKey) (string, jwt.MapClaims) {
	t.Helper()
	var kid string
	claims := jwt.MapClaims{}
	_, err := jwt.ParseWithClaims(tok, claims, func(tk *jwt.Token) (any, error) {
		kid, _ = tk.Header["kid"].(string)
		k, ok := keys[kid]
		if !ok {
			return nil, fmt.Errorf("unknown kid %q", kid)
		}
		return k, nil
	}, jwt.WithValidMethods([]string{"EdDSA"}), jwt.WithIssuer("hubchantier"), jwt.WithAudience("hub-api"),
		jwt.WithExpirationRequired(), jwt.WithIssuedAt(), jwt.WithTimeFunc(e.clock.Now))
	if err != nil {
		t.Fatalf("token does not verify: %v", err)
	}
	return kid, claims
}

func TestLogin(t *testing.T) {
	dbtest.Each(t, func(t *testing.T, d *db.DB) {
		e := newEnv(t, d)
		tests := []struct {
			role  string
			scope string
		}{
			{RoleAdmin, "read write admin"},
			{RoleConducteur, "read write"},
			{RoleOuvrier, "read pointages:write signalements:write"},
		}
		keys := jwksKeys(t, e)
		for _, tc := range tests {
			t.Run(tc.role, func(t *testing.T) {
				u := e.users[tc.role]
				r := login(t, e, " "+u.Email+" ", "password-"+tc.role)
				expect(t, r, 200)
				if r.Header.Get("Cache-Control") != "no-store" {
					t.Error("token response must not be cached")
				}
				var tok Token
				r.json(t, &tok)
				if tok.TokenType != "Bearer" || tok.ExpiresIn != 3600 {
					t.Fatalf("token %+v", tok)
				}
				_, c := verify(t, e, tok.AccessToken, keys)
				want := map[string]any{"sub": strconv.FormatInt(u.ID, 10), "role": tc.role, "scope": tc.scope,
					"email": u.Email, "aud": "hub-api", "iss": "hubchantier"}
				for k, v := range want {
					if c[k] != v {
						t.Errorf("claim %s = %v, want %v", k, c[k], v)
					}
				}
				if c["exp"].(float64)-c["iat"].(float64) != 3600 || c["nbf"] != c["iat"] || c["jti"] == "" {
					t.Errorf("times/jti: %v", c)
				}
			})
		}
	})
}

func TestLoginFailuresAreIdentical(t *testing.T) {
	dbtest.Each(t, func(t *testing.T, d *db.DB) {
		e := newEnv(t, d)
		wrongPassword := login(t, e, "admin@example.test", "not-the-password")
		unknownEmail := login(t, e, "nobody@example.test", "password-admin")
		expect(t, wrongPassword, 401)
		expect(t, unknownEmail, 401)
		if string(wrongPassword.Body) != string(unknownEmail.Body) {
			t.Errorf("answers differ:\n%s\n%s", wrongPassword.Body, unknownEmail.Body)
		}
		tests := []struct {
			name  string
			body  any
			field string
		}{
			{"no email", map[string]string{"password": "x"}, "email"},
			{"no password", map[string]string{"email": "a@b.c"}, "password"},
			{"unknown field", `{"email":"a@b.c","password":"x","extra":1}`, ""},
		}
		for _, tc := range tests {
			r := e.call("POST", "/api/auth/login", tc.body, nil)
			expect(t, r, 400)
			var p struct {
				Errors []map[string]string `json:"errors"`
			}
			r.json(t, &p)
			if tc.field != "" && (len(p.Errors) != 1 || p.Errors[0]["field"] != tc.field) {
				t.Errorf("%s: %s", tc.name, r.Body)
			}
		}
	})
}

func TestSigningKeyRotation(t *testing.T) {
	dbtest.Each(t, func(t *testing.T, d *db.DB) {
		e := newEnv(t, d)
		ctx := context.Background()
		// A second instance on the same database, as in a scaled-out deployment.
		other, err := New(ctx, d, Options{Now: e.clock.Now, BcryptCost: 4})
		if err != nil {
			t.Fatal(err)
		}
		var before Token
		r := login(t, e, "admin@example.test", "password-admin")
		expect(t, r, 200)
		r.json(t, &before)
		oldKid, _ := verify(t, e, before.AccessToken, jwksKeys(t, e))

		if err := e.s.RotateSigningKey(ctx); err != nil {
			t.Fatal(err)
		}
		keys := jwksKeys(t, e)
		if len(keys) != 2 {
			t.Fatalf("JWKS holds %d keys, want old and new", len(keys))
		}
		var after Token
		r = login(t, e, "admin@example.test", "password-admin")
		r.json(t, &after)
		newKid, _ := verify(t, e, after.AccessToken, keys)
		if newKid == oldKid {
			t.Fatal("new tokens still use the old kid")
		}
		verify(t, e, before.AccessToken, keys) // old tokens still verify

		// The other instance picks the rotation up once its cache is stale.
		other.keys.mu.Lock()
		other.keys.loaded = time.Time{}
		other.keys.mu.Unlock()
		tok, err := other.IssueToken(ctx, e.users[RoleAdmin])
		if err != nil {
			t.Fatal(err)
		}
		if kid, _ := verify(t, e, tok.AccessToken, keys); kid != newKid {
			t.Errorf("other instance signs with %s, want %s", kid, newKid)
		}

		// Once every token of the old key has expired, it leaves the JWKS.
		e.clock.Add(time.Hour + 4*time.Minute)
		if _, ok := jwksKeys(t, e)[oldKid]; !ok {
			t.Error("old kid dropped too early")
		}
		e.clock.Add(2 * time.Minute)
		keys = jwksKeys(t, e)
		if _, ok := keys[oldKid]; ok || len(keys) != 1 {
			t.Errorf("JWKS still holds the old kid: %v", keys)
		}
	})
}

func TestJWKSIsValidJSON(t *testing.T) {
	e := newEnv(t, dbtest.SQLite(t))
	r := e.call("GET", "/.well-known/jwks.json", nil, nil)
	var raw map[string]json.RawMessage
	r.json(t, &raw)
	if _, ok := raw["keys"]; !ok || len(raw) != 1 {
		t.Errorf("JWKS %s", r.Body)
	}
}
