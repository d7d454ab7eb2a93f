package contract

import "time"

// Revocation event kinds.
const (
	// RevokedAPIKey: a key was revoked or rotated (ID: key id).
	RevokedAPIKey = "api_key"
	// RevokedUser: a user was deleted, deactivated or changed role (ID:
	// user id); the event's At is the cut: the user's tokens issued at or
	// before it are dead, and cached keys of the user are dropped.
	RevokedUser = "user"
	// RevokedToken: an access token was revoked (ID: jti).
	RevokedToken = "token"
	// RevokedClient: an OAuth2 client was revoked (ID: client id).
	RevokedClient = "client"
)

// MaxRevocationWait is the longest long-poll GET /internal/revocations
// accepts (its wait parameter, in seconds).
const MaxRevocationWait = 30 * time.Second

// RevocationEvent is one entry of the revocation feed.
type RevocationEvent struct {
	// Seq orders events; a gateway resumes with since=<last seq seen>.
	Seq int64 `json:"seq"`
	// Kind is api_key, user, token or client (the Revoked* constants).
	// A gateway that meets another kind must drop every cached key.
	Kind string `json:"kind"`
	// ID is the key id, user id, jti or client id.
	ID string `json:"id"`
	// At is when the event was published.
	At time.Time `json:"at"`
}

// RevocationPage is the answer of GET /internal/revocations?since=N.
type RevocationPage struct {
	// Events are the events with seq > since, oldest first (at most 1000).
	Events []RevocationEvent `json:"events"`
	// LastSeq is the seq to resume from. Below since, it tells the feed
	// was reset (a new database): the gateway flushes its caches.
	LastSeq int64 `json:"last_seq"`
}
