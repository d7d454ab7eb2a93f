package hub

import (
	"crypto/sha256"
	"encoding/hex"
	"net/http"
	"strings"
)

// PrincipalKind says what a Principal is. The values are those of the
// upstream's anomaly events (principal_kind).
type PrincipalKind string

// Principal kinds, in the order of precedence of PrincipalOf.
const (
	// PrincipalAPIKey is an API key (its id).
	PrincipalAPIKey PrincipalKind = "api_key"
	// PrincipalOAuth is an OAuth2 client acting for one user: each user of
	// a client is a principal of its own (issue 10, #7); the client's
	// aggregate is a separate, optional limit.
	PrincipalOAuth PrincipalKind = "oauth_client"
	// PrincipalUser is a user signed in with a JWT of the login endpoint.
	PrincipalUser PrincipalKind = "user"
	// PrincipalIP is an anonymous caller: its client network (ClientNetwork).
	PrincipalIP PrincipalKind = "ip"
)

// Principal is who a request is attributed to by the policies that count
// per caller (hub_rate_limit, hub_anomaly). There is one precedence rule,
// written here only: the API key, else the OAuth2 client and user, else the
// user, else the client network.
type Principal struct {
	// Kind is what the principal is.
	Kind PrincipalKind
	// ID is the key id, "<client id>/<user id>" for PrincipalOAuth, the
	// user id, or the client network ("192.0.2.7", "2001:db8:1:2::/64").
	ID string
	// Key is the principal as a store key part: "k:<id>", "c:<client>:u:<user>",
	// "u:<id>" or "ip:<network>", with braces and overlong ids hashed
	// (SafeKeyPart). Distinct principals have distinct keys.
	Key string
}

// PrincipalOf returns the principal of a request: that of the identity
// hub_auth verified, or the client network when anonymous. v6Bits is the
// IPv6 grouping (App.IPv6Prefix; 0 means DefaultIPv6Prefix).
func PrincipalOf(r *http.Request, v6Bits int) Principal {
	if p, ok := IdentityOf(r).Principal(); ok {
		return p
	}
	return NetworkPrincipal(r, v6Bits)
}

// NetworkPrincipal is the principal of the request's client network
// (ClientNetwork), whoever the caller is: what per-IP limits count by.
func NetworkPrincipal(r *http.Request, v6Bits int) Principal {
	n := ClientNetwork(r, v6Bits)
	return Principal{Kind: PrincipalIP, ID: n, Key: "ip:" + SafeKeyPart(n)}
}

// Principal returns the principal of an authenticated identity; ok is false
// for a nil or anonymous identity (the caller's network then stands for it).
func (id *Identity) Principal() (p Principal, ok bool) {
	if id.Anonymous() {
		return Principal{}, false
	}
	switch {
	case id.KeyID != "":
		return Principal{PrincipalAPIKey, id.KeyID, "k:" + SafeKeyPart(id.KeyID)}, true
	case id.ClientID != "":
		// A ':' in the client id is hashed away, so that no (client, user)
		// pair can spell another pair's key.
		client := id.ClientID
		if strings.Contains(client, ":") {
			client = hashPart(client)
		}
		return Principal{PrincipalOAuth, id.ClientID + "/" + id.Subject,
			"c:" + SafeKeyPart(client) + ":u:" + SafeKeyPart(id.Subject)}, true
	case id.Subject != "":
		return Principal{PrincipalUser, id.Subject, "u:" + SafeKeyPart(id.Subject)}, true
	}
	return Principal{}, false
}

// UserKey is the store key part of the identity's user ("u:<id>"), shared
// by all of the user's keys and tokens; "" when there is no user.
func (id *Identity) UserKey() string {
	if id.Anonymous() || id.Subject == "" {
		return ""
	}
	return "u:" + SafeKeyPart(id.Subject)
}

// ClientKey is the store key part of the identity's OAuth2 client
// ("c:<id>"), shared by all users of the client; "" without a client.
func (id *Identity) ClientKey() string {
	if id.Anonymous() || id.ClientID == "" {
		return ""
	}
	return "c:" + SafeKeyPart(id.ClientID)
}

// SafeKeyPart keeps braces, which delimit Redis Cluster hash tags, and
// overlong values out of store keys (ids come from the upstream, but a key
// is no place to trust them): such a value is replaced by a hash.
func SafeKeyPart(s string) string {
	if !strings.ContainsAny(s, "{}") && len(s) <= 128 {
		return s
	}
	return hashPart(s)
}

func hashPart(s string) string {
	sum := sha256.Sum256([]byte(s))
	return "h" + hex.EncodeToString(sum[:16])
}
