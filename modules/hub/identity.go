package hub

import (
	"errors"
	"net/netip"
	"time"
)

// IdentityVar is the caddyhttp variable holding the *Identity of the request,
// set by hub_auth for the policies that run after it (nil when anonymous:
// the Identity then has Method "anonymous").
const IdentityVar = "hub.identity"

// Identity is a verified caller, as hub_auth passes it on.
type Identity struct {
	// Subject is the user id.
	Subject string
	// Role is the user's role (admin, conducteur, ouvrier).
	Role string
	// Method is api_key, jwt or oauth2 (see internal/assertion).
	Method string
	// KeyID is the API key id when Method is api_key.
	KeyID string
	// ClientID is the OAuth2 client id when Method is oauth2.
	ClientID string
	// Scopes are the granted scopes.
	Scopes []string
	// IPAllow, when not empty, lists the only client networks allowed.
	IPAllow []netip.Prefix
	// RateLimit is the key's own limit ("100/hour"), empty for the default.
	RateLimit string
	// Expires is when the credential stops being valid.
	Expires time.Time
}

// AllowsIP reports whether ip may use this identity.
func (id *Identity) AllowsIP(ip netip.Addr) bool {
	if len(id.IPAllow) == 0 {
		return true
	}
	ip = ip.Unmap()
	for _, p := range id.IPAllow {
		if p.Contains(ip) {
			return true
		}
	}
	return false
}

// Reasons a credential is refused. hub_auth maps them to RFC 6750 answers
// and they label the auth failure metric, so the set is small and fixed.
var (
	// ErrMalformed: the credential has not the syntax of a key or JWT.
	ErrMalformed = errors.New("malformed credential")
	// ErrUnknown: no such key, or the secret or signature does not match.
	ErrUnknown = errors.New("invalid credential")
	// ErrExpired: the key or token has expired.
	ErrExpired = errors.New("credential expired")
	// ErrRevoked: the key or token was revoked.
	ErrRevoked = errors.New("credential revoked")
	// ErrUnavailable: the upstream could not be asked and nothing is cached.
	ErrUnavailable = errors.New("identity provider unavailable")
)
