// Package events is the upstream's transactional outbox and its
// dispatcher (docs/events.md).
//
// A change that emits a domain event appends the event with Append inside
// the transaction that makes the change, so the event is committed if and
// only if the change is. The Dispatcher then fans each event out to the
// subscribers of every registered Target (webhook endpoints; connectors
// later) as one delivery row per subscriber, in one transaction, and sends
// due deliveries, at least once, with retries and backoff. Several upstream
// instances may run dispatchers on one PostgreSQL database (rows are
// claimed with FOR UPDATE SKIP LOCKED and leases); on SQLite the database
// has one writer at a time, which serialises claims.
package events

import (
	"crypto/rand"
	"encoding/base32"
	"encoding/binary"
	"strconv"
	"strings"
	"time"

	"github.com/hubchantier/hubgate/internal/assertion"
)

// SchemaVersion is the version of the envelope and of every data schema
// documented in docs/events.md. A breaking change to either bumps it.
const SchemaVersion = 1

// Event types. docs/events.md documents each one's data; TestDocumentedSchema
// keeps the two in step.
const (
	ChantierCreated    = "chantier.created"
	ChantierUpdated    = "chantier.updated"
	ChantierDeleted    = "chantier.deleted"
	SignalementCreated = "signalement.created"
	PointageCreated    = "pointage.created"
	PointageValidated  = "pointage.validated"
	AffectationCreated = "affectation.created"
	AffectationUpdated = "affectation.updated"
	AffectationDeleted = "affectation.deleted"
	DocumentCreated    = "document.created"
	APIKeyRotated      = "api_key.rotated"
	APIKeyRevoked      = "api_key.revoked"
	WebhookDisabled    = "webhook.disabled"
	// APIKeyExpiring: a key without auto_rotate expires within 14 days
	// (emitted by the daily rotation job, upstream/auth.RotateDue).
	APIKeyExpiring = "api_key.expiring"
	// ConnectorError: a connector stopped working until someone acts (an
	// OAuth2 refresh token refused: reconnect), scoped to its owner.
	ConnectorError = "connector.error"
)

// Types lists every event type a subscriber may ask for.
var Types = []string{
	ChantierCreated, ChantierUpdated, ChantierDeleted, SignalementCreated,
	PointageCreated, PointageValidated, AffectationCreated, AffectationUpdated,
	AffectationDeleted, DocumentCreated, APIKeyRotated, APIKeyExpiring, APIKeyRevoked,
	WebhookDisabled, ConnectorError,
}

// Event is the envelope every subscriber receives, as JSON.
type Event struct {
	// ID is unique per event ("evt_" + 26 base32 characters, time-ordered);
	// it is the webhook-id header, the key receivers deduplicate on.
	ID string `json:"id"`
	// Type is one of the Types.
	Type string `json:"type"`
	// SchemaVersion is SchemaVersion when the event was written.
	SchemaVersion int `json:"schema_version"`
	// Timestamp is when the change was committed (RFC 3339, UTC, µs).
	Timestamp time.Time `json:"timestamp"`
	// Actor is who made the change.
	Actor Actor `json:"actor"`
	// Resource names the row changed.
	Resource Resource `json:"resource"`
	// Data is the type's payload (docs/events.md): the resource's v1
	// representation after the change, or its id for a deletion; any
	// value that encodes to a JSON object.
	Data any `json:"data"`
	// owner scopes the event to one user's subscriptions (0: none).
	owner int64
}

// Actor is who caused an event.
type Actor struct {
	// Type is "user" (a request of a user, whatever the credential) or
	// "system" (the CLI, the dispatcher, a scheduled job).
	Type string `json:"type"`
	// UserID is the user's id ("" for system).
	UserID string `json:"user_id,omitempty"`
	// Via is how the user authenticated: jwt (a login or OAuth2 token) or api_key.
	Via string `json:"via,omitempty"`
	// APIKeyID is the key's public id when Via is api_key.
	APIKeyID string `json:"api_key_id,omitempty"`
	// ClientID is the OAuth2 client of an OAuth2 access token.
	ClientID string `json:"client_id,omitempty"`
}

// Resource names what an event is about.
type Resource struct {
	// Type is the resource collection: chantiers, pointages, api_keys…
	Type string `json:"type"`
	// ID is the row's id, as a string (API key and webhook ids are strings).
	ID string `json:"id"`
}

// System is the actor of changes made outside any request.
var System = Actor{Type: "system"}

// ActorOf is the actor of a request verified by the gateway's assertion;
// System when there is none or it is anonymous.
func ActorOf(c *assertion.Claims) Actor {
	if c == nil || c.Anonymous() {
		return System
	}
	a := Actor{Type: "user", UserID: c.Subject, Via: c.Method}
	if c.KeyID != "" {
		a.APIKeyID = c.KeyID
	}
	if c.ClientID != "" {
		a.ClientID = c.ClientID
	}
	return a
}

// New returns an event of type typ dated now, with a fresh id.
func New(typ string, now time.Time, actor Actor, res Resource, data any) Event {
	if data == nil {
		data = map[string]any{}
	}
	return Event{ID: NewID(now), Type: typ, SchemaVersion: SchemaVersion, Timestamp: now.UTC().Truncate(time.Microsecond),
		Actor: actor, Resource: res, Data: data}
}

// ForOwner scopes the event to the subscriptions of user id: only that
// user's webhooks receive it (events about one user's credentials or
// endpoints).
func (e Event) ForOwner(id int64) Event {
	e.owner = id
	return e
}

// IntID formats a row id for Resource.ID.
func IntID(id int64) string { return strconv.FormatInt(id, 10) }

var idEncoding = base32.NewEncoding("0123456789abcdefghjkmnpqrstvwxyz").WithPadding(base32.NoPadding)

// NewID returns "evt_" and 26 characters: 48 bits of milliseconds then 80
// random bits (a ULID in lower-case Crockford base32), so ids sort by time.
func NewID(now time.Time) string {
	var b [16]byte
	binary.BigEndian.PutUint64(b[:8], uint64(now.UnixMilli())<<16)
	if _, err := rand.Read(b[6:]); err != nil {
		panic("events: no randomness: " + err.Error())
	}
	return "evt_" + strings.ToLower(idEncoding.EncodeToString(b[:]))
}
