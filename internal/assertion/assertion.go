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
	"hash"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/hubchantier/hubgate/internal/jsonenc"
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
// method of the request it travels with. A Signer does the same for many
// requests under one secret, cheaper.
func Sign(secret []byte, c Claims, now time.Time) (string, error) {
	if len(secret) == 0 {
		return "", errors.New("assertion: empty secret")
	}
	return NewSigner(secret).Sign(&c, now)
}

// Signer signs assertions under one secret. The gateway signs one per
// forwarded request (issue 12), so it keeps the keyed HMAC states (a
// reset, not a new key schedule) and its buffers for reuse, and encodes
// the claims by hand: the same JSON as encoding/json, written straight
// into the buffer, one allocation per token. Safe for concurrent use.
type Signer struct {
	secret []byte
	pool   sync.Pool // *signState
}

type signState struct {
	mac hash.Hash
	buf []byte
}

// NewSigner returns a Signer for secret (which must not be empty).
func NewSigner(secret []byte) *Signer {
	s := &Signer{secret: append([]byte(nil), secret...)}
	s.pool.New = func() any { return &signState{mac: hmac.New(sha256.New, s.secret)} }
	return s
}

// Sign returns the header value of c issued at now (it sets c.IssuedAt
// and c.Expires).
func (s *Signer) Sign(c *Claims, now time.Time) (string, error) {
	if len(s.secret) == 0 {
		return "", errors.New("assertion: empty secret")
	}
	if c.HTTPMethod == "" {
		return "", errors.New("assertion: empty HTTP method")
	}
	c.IssuedAt = now.Unix()
	c.Expires = now.Add(Lifetime).Unix()
	st := s.pool.Get().(*signState)
	defer s.pool.Put(st)
	body := c.appendJSON(st.buf[:0])
	// payload = base64url(body), after body in the same buffer.
	p0 := len(body)
	out := base64.RawURLEncoding.AppendEncode(body, body)
	payload := out[p0:]
	st.mac.Reset()
	st.mac.Write([]byte(domain))
	st.mac.Write(payload)
	var sum [sha256.Size]byte
	out = append(out, '.')
	out = base64.RawURLEncoding.AppendEncode(out, st.mac.Sum(sum[:0]))
	token := string(out[p0:])
	if cap(out) <= 8192 {
		st.buf = out[:0]
	}
	return token, nil
}

// appendJSON appends c as json.Marshal(c) writes it.
func (c *Claims) appendJSON(dst []byte) []byte {
	dst = append(dst, '{')
	if c.Subject != "" {
		dst = append(dst, `"sub":`...)
		dst = jsonenc.AppendString(dst, c.Subject)
		dst = append(dst, ',')
	}
	if c.Role != "" {
		dst = append(dst, `"role":`...)
		dst = jsonenc.AppendString(dst, c.Role)
		dst = append(dst, ',')
	}
	dst = append(dst, `"amr":`...)
	dst = jsonenc.AppendString(dst, c.Method)
	if c.KeyID != "" {
		dst = append(dst, `,"kid":`...)
		dst = jsonenc.AppendString(dst, c.KeyID)
	}
	if c.ClientID != "" {
		dst = append(dst, `,"cid":`...)
		dst = jsonenc.AppendString(dst, c.ClientID)
	}
	if len(c.Scopes) > 0 {
		dst = append(dst, `,"scp":[`...)
		for i, sc := range c.Scopes {
			if i > 0 {
				dst = append(dst, ',')
			}
			dst = jsonenc.AppendString(dst, sc)
		}
		dst = append(dst, ']')
	}
	if c.RequestID != "" {
		dst = append(dst, `,"rid":`...)
		dst = jsonenc.AppendString(dst, c.RequestID)
	}
	dst = append(dst, `,"mth":`...)
	dst = jsonenc.AppendString(dst, c.HTTPMethod)
	dst = append(dst, `,"iat":`...)
	dst = strconv.AppendInt(dst, c.IssuedAt, 10)
	dst = append(dst, `,"exp":`...)
	dst = strconv.AppendInt(dst, c.Expires, 10)
	return append(dst, '}')
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
