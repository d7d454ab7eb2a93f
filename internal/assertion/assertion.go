// Package assertion is the signed identity assertion that the gateway sends
// to the upstream with every request it forwards.
//
// The gateway strips anything a client sent in the header and writes
// base64url(JSON claims) "." base64url(HMAC-SHA256(secret, "hub-assertion-v1." + payload)).
// The upstream verifies it with the shared secret (HUB_GATEWAY_SECRET) and
// refuses /api/* requests that lack a valid one, so a client that reaches
// the upstream directly cannot claim an identity.
package assertion

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"
)

// Header is the request header that carries the assertion.
const Header = "X-Hub-Identity"

// Lifetime is how long an assertion is valid after it was issued. It only
// has to cover the hop from gateway to upstream.
const Lifetime = 30 * time.Second

// Authentication methods.
const (
	MethodAnonymous = "anonymous"
	MethodAPIKey    = "api_key"
	MethodJWT       = "jwt"
	MethodOAuth2    = "oauth2"
)

const domain = "hub-assertion-v1."

// Claims is the verified identity of a request.
type Claims struct {
	// Subject is the user id ("" when anonymous).
	Subject string `json:"sub,omitempty"`
	// Role is the user's role: admin, conducteur or ouvrier.
	Role string `json:"role,omitempty"`
	// Method is how the caller authenticated (Method* constants).
	Method string `json:"amr"`
	// KeyID is the API key id when Method is api_key.
	KeyID string `json:"kid,omitempty"`
	// ClientID is the OAuth2 client when Method is oauth2.
	ClientID string `json:"cid,omitempty"`
	// Scopes are the granted scopes.
	Scopes []string `json:"scp,omitempty"`
	// RequestID is the X-Request-Id of the request.
	RequestID string `json:"rid,omitempty"`
	// HTTPMethod binds the assertion to the request method.
	HTTPMethod string `json:"mth"`
	// IssuedAt and Expires are Unix seconds.
	IssuedAt int64 `json:"iat"`
	Expires  int64 `json:"exp"`
}

// Anonymous reports whether the claims carry no user.
func (c *Claims) Anonymous() bool { return c.Subject == "" }

// HasScope reports whether the claims grant scope s exactly.
func (c *Claims) HasScope(s string) bool {
	for _, have := range c.Scopes {
		if have == s {
			return true
		}
	}
	return false
}

// Errors returned by Verify.
var (
	ErrMissing   = errors.New("identity assertion missing")
	ErrMalformed = errors.New("identity assertion malformed")
	ErrSignature = errors.New("identity assertion signature invalid")
	ErrExpired   = errors.New("identity assertion expired")
	ErrBinding   = errors.New("identity assertion issued for another request")
)

// Sign fills IssuedAt/Expires from now and returns the header value. It
// refuses claims without HTTPMethod: an assertion must be bound to the
// method of the request it travels with.
func Sign(secret []byte, c Claims, now time.Time) (string, error) {
	if len(secret) == 0 {
		return "", errors.New("assertion: empty secret")
	}
	if c.HTTPMethod == "" {
		return "", errors.New("assertion: empty HTTP method")
	}
	c.IssuedAt = now.Unix()
	c.Expires = now.Add(Lifetime).Unix()
	body, err := json.Marshal(c)
	if err != nil {
		return "", fmt.Errorf("assertion: %w", err)
	}
	payload := base64.RawURLEncoding.EncodeToString(body)
	return payload + "." + base64.RawURLEncoding.EncodeToString(mac(secret, payload)), nil
}

// Verify checks the signature, the validity window and the method binding
// (an assertion without a method is refused with ErrBinding).
func Verify(secret []byte, token, httpMethod string, now time.Time) (*Claims, error) {
	return VerifyAny([][]byte{secret}, token, httpMethod, now)
}

// VerifyAny is Verify with several accepted secrets: the current one and,
// during a rollover of HUB_GATEWAY_SECRET, the one being phased in or out
// (docs/deployment.md, "Rotating the shared secret"). Empty secrets accept
// nothing.
func VerifyAny(secrets [][]byte, token, httpMethod string, now time.Time) (*Claims, error) {
	if token == "" {
		return nil, ErrMissing
	}
	payload, sig, ok := strings.Cut(token, ".")
	if !ok || len(token) > 8192 {
		return nil, ErrMalformed
	}
	gotMAC, err := base64.RawURLEncoding.DecodeString(sig)
	if err != nil {
		return nil, ErrMalformed
	}
	signed := false
	for _, secret := range secrets {
		if len(secret) > 0 && hmac.Equal(gotMAC, mac(secret, payload)) {
			signed = true
		}
	}
	if !signed {
		return nil, ErrSignature
	}
	body, err := base64.RawURLEncoding.DecodeString(payload)
	if err != nil {
		return nil, ErrMalformed
	}
	var c Claims
	if err := json.Unmarshal(body, &c); err != nil {
		return nil, ErrMalformed
	}
	n := now.Unix()
	// One second of skew between hosts is tolerated on issue time.
	if n > c.Expires || c.IssuedAt > n+1 {
		return nil, ErrExpired
	}
	// An empty method binds to nothing: such an assertion is refused even
	// for a request whose method reads as empty.
	if c.HTTPMethod == "" || c.HTTPMethod != httpMethod {
		return nil, ErrBinding
	}
	return &c, nil
}

func mac(secret []byte, payload string) []byte {
	h := hmac.New(sha256.New, secret)
	h.Write([]byte(domain))
	h.Write([]byte(payload))
	return h.Sum(nil)
}
