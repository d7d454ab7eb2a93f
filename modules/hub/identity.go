package hub

import (
	"errors"
	"net/netip"
	"time"

	"github.com/hubchantier/hubgate/internal/assertion"
)

// Identity is a verified caller, as hub_auth passes it on (SetIdentity,
// IdentityOf): an anonymous caller on a public route has Method
// assertion.MethodAnonymous and nothing else.
type Identity struct {
	// Subject is the user id.
	Subject string
	// Role is the user's role (admin, conducteur, ouvrier).
	Role string
	// Method is how the caller authenticated: one of the assertion.Method*
	// constants (internal/assertion).
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

// Anonymous reports whether id stands for no caller: nil, or the
// anonymous identity of a public route.
func (id *Identity) Anonymous() bool {
	return id == nil || id.Method == assertion.MethodAnonymous
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
