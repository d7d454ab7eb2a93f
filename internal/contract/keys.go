package contract

import "time"

// IntrospectRequest is the body of POST /internal/introspect.
type IntrospectRequest struct {
	// KeyID is the id part of an API key ("hbc_<id>_<secret>").
	KeyID string `json:"key_id"`
}

// Introspection is the answer of POST /internal/introspect for a known
// key. It holds hashes of the key's valid secrets, never a secret.
type Introspection struct {
	// Active is true when Status is active.
	Active bool `json:"active"`
	// ID is the key id.
	ID string `json:"id"`
	// UserID is the owner's id in decimal.
	UserID string `json:"user_id"`
	// Role is the owner's current role.
	Role string `json:"role"`
	// Scopes are the key's scopes.
	Scopes []string `json:"scopes"`
	// Status is active, revoked or expired.
	Status string `json:"status"`
	// ExpiresAt ends the key's validity.
	ExpiresAt time.Time `json:"expires_at"`
	// Secrets are the accepted secrets: the current one, and the previous
	// one during a rotation's grace period. Empty unless active.
	Secrets []KeySecret `json:"secrets"`
	// IPWhitelist lists allowed client IPs and CIDRs; empty: any.
	IPWhitelist []string `json:"ip_whitelist"`
	// RateLimit is the per-key limit ("100/hour"), "" for the default.
	RateLimit string `json:"rate_limit"`
}

// KeySecret is one accepted secret of a key: its apikey.Hash and until when.
type KeySecret struct {
	// Hash is apikey.Hash of the secret (lowercase hex SHA-256).
	Hash string `json:"hash"`
	// ExpiresAt is when this secret stops being accepted.
	ExpiresAt time.Time `json:"expires_at"`
}

// MaxUsageKeys bounds one POST /internal/usage report.
const MaxUsageKeys = 10000

// UsageReport is the body of POST /internal/usage: when each API key was
// last used at the gateway.
type UsageReport struct {
	// Keys maps a key id to its last use, an RFC 3339 time (fractional
	// seconds allowed). At most MaxUsageKeys entries.
	Keys map[string]string `json:"keys"`
}
