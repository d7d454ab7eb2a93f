// Package chain is the contract between the gateway's audit journal
// (modules/hubaudit) and the upstream's audit store (upstream/audit): the
// audit record, its canonical form, the hash chain over it, IP
// anonymization and the redaction of sensitive fields. Both sides must
// compute hashes byte for byte alike, so this package is the only place
// that knows how; it depends on the standard library only, so the gateway
// binary pulls in nothing of the upstream.
package chain

import (
	"crypto/rand"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"time"
)

// Record is one audit event: one request through the gateway. JSON names
// follow the API team's schema; the gateway adds gateway_id, seq, path,
// auth_method and the chain members.
type Record struct {
	// EventID identifies the event (a UUIDv7: sortable by time); the store
	// ignores a second record with the same id, so shipping is idempotent.
	EventID string `json:"event_id"`
	// GatewayID names the gateway instance whose chain holds the record.
	GatewayID string `json:"gateway_id"`
	// Seq numbers the records of one gateway's chain from 1, without gaps.
	Seq int64 `json:"seq"`
	// RequestID is the X-Request-Id of the response.
	RequestID string `json:"request_id"`
	// Timestamp is when the request arrived, UTC, microsecond precision.
	Timestamp time.Time `json:"timestamp"`
	// UserID is the authenticated user's id, "" when anonymous.
	UserID string `json:"user_id"`
	// APIKeyID is the API key id when the caller used one.
	APIKeyID string `json:"api_key_id"`
	// OAuthClientID is the OAuth2 client id when the caller used a token of one.
	OAuthClientID string `json:"oauth_client_id"`
	// AuthMethod is api_key, jwt, oauth2, anonymous, or "" when the request
	// was refused before authentication.
	AuthMethod string `json:"auth_method"`
	// Action is a bounded name such as create_chantier or login.
	Action string `json:"action"`
	// ResourceType is the singular resource name (chantier), or "".
	ResourceType string `json:"resource_type"`
	// ResourceID is the id named in the path (or Location of a 201), or "".
	ResourceID string `json:"resource_id"`
	// HTTPMethod is the request method.
	HTTPMethod string `json:"http_method"`
	// Endpoint is the route template (/api/v1/chantiers/{id}).
	Endpoint string `json:"endpoint"`
	// Path is the request path as the client sent it (no query string).
	Path string `json:"path"`
	// StatusCode is the status sent to the client.
	StatusCode int `json:"status_code"`
	// LatencyMS is the time from the request's arrival to the response
	// header, in milliseconds (microsecond resolution); body streaming
	// time is not included.
	LatencyMS float64 `json:"latency_ms"`
	// IPAddress is the client IP (Caddy's client_ip). Once older than the
	// anonymization delay it is replaced by AnonymizeIP of itself.
	IPAddress string `json:"ip_address"`
	// UserAgent is the User-Agent header, at most MaxUserAgent bytes.
	UserAgent string `json:"user_agent"`
	// RequestBodyHash is the lowercase hex SHA-256 of the request body, ""
	// when there was none or it was not read to the end.
	RequestBodyHash string `json:"request_body_hash"`
	// Changes is {"before": …, "after": …} for writes, as reported by the
	// upstream, sensitive members redacted; null otherwise.
	Changes json.RawMessage `json:"changes,omitempty"`
	// PrevHash is the Hash of the previous record of the chain ("" for the
	// first record of a gateway).
	PrevHash string `json:"prev_hash"`
	// Hash is Sum(PrevHash, record): see Canonical.
	Hash string `json:"hash"`
}

// MaxUserAgent bounds the stored user agent, in bytes.
const MaxUserAgent = 512

// canonical is Record without the chain members, in a fixed member order.
type canonical struct {
	EventID         string          `json:"event_id"`
	GatewayID       string          `json:"gateway_id"`
	Seq             int64           `json:"seq"`
	RequestID       string          `json:"request_id"`
	Timestamp       string          `json:"timestamp"`
	UserID          string          `json:"user_id"`
	APIKeyID        string          `json:"api_key_id"`
	OAuthClientID   string          `json:"oauth_client_id"`
	AuthMethod      string          `json:"auth_method"`
	Action          string          `json:"action"`
	ResourceType    string          `json:"resource_type"`
	ResourceID      string          `json:"resource_id"`
	HTTPMethod      string          `json:"http_method"`
	Endpoint        string          `json:"endpoint"`
	Path            string          `json:"path"`
	StatusCode      int             `json:"status_code"`
	LatencyMS       float64         `json:"latency_ms"`
	IPPrefix        string          `json:"ip_prefix"`
	UserAgent       string          `json:"user_agent"`
	RequestBodyHash string          `json:"request_body_hash"`
	Changes         json.RawMessage `json:"changes,omitempty"`
}

// Canonical returns the bytes the hash covers: the record's JSON in a fixed
// member order, without prev_hash and hash, and with the client IP replaced
// by its anonymized prefix. The prefix (not the full address) is hashed so
// that the retention job may anonymize stored IPs — the only change ever
// made to a stored record — without breaking the chain; Verify still checks
// that a stored address lies in the hashed prefix.
func (r *Record) Canonical() ([]byte, error) {
	c := canonical{
		EventID: r.EventID, GatewayID: r.GatewayID, Seq: r.Seq, RequestID: r.RequestID,
		Timestamp: r.Timestamp.UTC().Format(time.RFC3339Nano),
		UserID:    r.UserID, APIKeyID: r.APIKeyID, OAuthClientID: r.OAuthClientID, AuthMethod: r.AuthMethod,
		Action: r.Action, ResourceType: r.ResourceType, ResourceID: r.ResourceID,
		HTTPMethod: r.HTTPMethod, Endpoint: r.Endpoint, Path: r.Path,
		StatusCode: r.StatusCode, LatencyMS: r.LatencyMS, IPPrefix: AnonymizeIP(r.IPAddress),
		UserAgent: r.UserAgent, RequestBodyHash: r.RequestBodyHash, Changes: r.Changes,
	}
	if len(c.Changes) == 0 || string(c.Changes) == "null" {
		c.Changes = nil
	}
	b, err := json.Marshal(c)
	if err != nil {
		return nil, fmt.Errorf("canonical audit record %s: %w", r.EventID, err)
	}
	return b, nil
}

// Sum is the hash of a record following prev: lowercase hex of
// SHA-256(prev ‖ "\n" ‖ canonical).
func Sum(prev string, canonical []byte) string {
	h := sha256.New()
	h.Write([]byte(prev))
	h.Write([]byte{'\n'})
	h.Write(canonical)
	return hex.EncodeToString(h.Sum(nil))
}

// Seal links r after prev: it sets PrevHash and Hash.
func (r *Record) Seal(prev string) error {
	c, err := r.Canonical()
	if err != nil {
		return err
	}
	r.PrevHash, r.Hash = prev, Sum(prev, c)
	return nil
}

// Check reports whether r.Hash matches its content and PrevHash.
func (r *Record) Check() bool {
	c, err := r.Canonical()
	return err == nil && Sum(r.PrevHash, c) == r.Hash
}

// Normalize truncates the timestamp to microseconds in UTC (what the store
// keeps) and bounds the user agent, so the hash computed at the gateway is
// the one the store recomputes.
func (r *Record) Normalize() {
	r.Timestamp = r.Timestamp.UTC().Truncate(time.Microsecond)
	r.LatencyMS = float64(int64(r.LatencyMS*1000+0.5)) / 1000
	if len(r.UserAgent) > MaxUserAgent {
		r.UserAgent = truncateUTF8(r.UserAgent, MaxUserAgent)
	}
}

// truncateUTF8 cuts s to at most n bytes without splitting a rune.
func truncateUTF8(s string, n int) string {
	for n > 0 && n < len(s) && s[n]&0xC0 == 0x80 {
		n--
	}
	return s[:n]
}

// NewEventID returns a UUIDv7 (RFC 9562 §5.7): 48 bits of Unix
// milliseconds, then random bits, so ids sort by time.
func NewEventID(now time.Time) string {
	var b [16]byte
	_, _ = rand.Read(b[6:])
	binary.BigEndian.PutUint64(b[:8], uint64(now.UnixMilli())<<16|uint64(b[6])<<8|uint64(b[7]))
	b[6] = 0x70 | b[6]&0x0F // version 7
	b[8] = 0x80 | b[8]&0x3F // variant 10
	h := hex.EncodeToString(b[:])
	return h[:8] + "-" + h[8:12] + "-" + h[12:16] + "-" + h[16:20] + "-" + h[20:]
}
