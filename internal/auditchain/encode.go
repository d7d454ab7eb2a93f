package auditchain

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"math"
	"net/netip"
	"strconv"
	"time"

	"github.com/hubchantier/hubgate/internal/jsonenc"
)

// AppendSealed links r after prev (it sets PrevHash and Hash, as Seal
// does) and appends r's JSON to dst: the same bytes as json.Marshal(r),
// and a Hash equal to Sum(prev, r.Canonical()), but encoded once, by
// hand, into one buffer. The journal pays this on every request
// (issue 12); Canonical and json.Marshal stay the reference, which
// FuzzAppendSealed compares byte for byte.
//
// The canonical form and the record's JSON share every member up to
// latency_ms and from user_agent to request_body_hash, so those are
// encoded once: the canonical form is built first (after prev and the
// newline the hash covers, so one SHA-256 over a contiguous slice
// suffices), then the record reuses its pieces and is moved to the
// front.
//
// r must be normalized (Normalize; the journal does it first): the
// record's timestamp is written in UTC, as the canonical form has it.
func (r *Record) AppendSealed(dst []byte, prev string) ([]byte, error) {
	if r.Timestamp.Location() != time.UTC {
		return dst, fmt.Errorf("audit record %s: timestamp not normalized to UTC", r.EventID)
	}
	if r.Timestamp.Year() < 0 || r.Timestamp.Year() > 9999 {
		return dst, fmt.Errorf("canonical audit record %s: timestamp year outside [0,9999]", r.EventID)
	}
	if math.IsNaN(r.LatencyMS) || math.IsInf(r.LatencyMS, 0) {
		return dst, fmt.Errorf("canonical audit record %s: latency is not a finite number", r.EventID)
	}
	var changes []byte // compacted and HTML-escaped, as json.Marshal writes a RawMessage
	if len(r.Changes) > 0 {
		c, err := json.Marshal(r.Changes)
		if err != nil {
			return dst, fmt.Errorf("canonical audit record %s: %w", r.EventID, err)
		}
		changes = c
	}
	var gql []byte // likewise
	if len(r.GraphQL) > 0 {
		g, err := json.Marshal(r.GraphQL)
		if err != nil {
			return dst, fmt.Errorf("canonical audit record %s: %w", r.EventID, err)
		}
		gql = g
	}
	s0 := len(dst)
	dst = append(dst, prev...)
	dst = append(dst, '\n')
	c0 := len(dst)
	dst = r.appendHead(dst)
	h1 := len(dst)
	dst = append(dst, `,"ip_prefix":"`...)
	dst = appendAnonymizedIP(dst, r.IPAddress)
	dst = append(dst, '"')
	m0 := len(dst)
	dst = append(dst, `,"user_agent":`...)
	dst = jsonenc.AppendString(dst, r.UserAgent)
	dst = append(dst, `,"request_body_hash":`...)
	dst = jsonenc.AppendString(dst, r.RequestBodyHash)
	m1 := len(dst)
	// The canonical form omits a null report (Canonical), the record
	// keeps whatever was reported.
	if len(r.Changes) > 0 && string(r.Changes) != "null" {
		dst = append(dst, `,"changes":`...)
		dst = append(dst, changes...)
	}
	if len(r.GraphQL) > 0 && string(r.GraphQL) != "null" {
		dst = append(dst, `,"graphql":`...)
		dst = append(dst, gql...)
	}
	dst = append(dst, '}')
	sum := sha256.Sum256(dst[s0:])

	r0 := len(dst)
	dst = append(dst, dst[c0:h1]...)
	dst = append(dst, `,"ip_address":`...)
	dst = jsonenc.AppendString(dst, r.IPAddress)
	dst = append(dst, dst[m0:m1]...)
	if len(r.Changes) > 0 {
		dst = append(dst, `,"changes":`...)
		dst = append(dst, changes...)
	}
	if len(r.GraphQL) > 0 {
		dst = append(dst, `,"graphql":`...)
		dst = append(dst, gql...)
	}
	dst = append(dst, `,"prev_hash":`...)
	dst = jsonenc.AppendString(dst, prev)
	dst = append(dst, `,"hash":"`...)
	hs := len(dst)
	dst = hex.AppendEncode(dst, sum[:])
	hash := string(dst[hs:])
	dst = append(dst, `"}`...)
	n := copy(dst[s0:], dst[r0:])
	r.PrevHash, r.Hash = prev, hash
	return dst[:s0+n], nil
}

// appendHead appends the members shared by the canonical form and the
// record, from the opening brace to latency_ms.
func (r *Record) appendHead(dst []byte) []byte {
	dst = append(dst, `{"event_id":`...)
	dst = jsonenc.AppendString(dst, r.EventID)
	dst = append(dst, `,"gateway_id":`...)
	dst = jsonenc.AppendString(dst, r.GatewayID)
	dst = append(dst, `,"seq":`...)
	dst = strconv.AppendInt(dst, r.Seq, 10)
	dst = append(dst, `,"request_id":`...)
	dst = jsonenc.AppendString(dst, r.RequestID)
	if r.ClientRequestID != "" {
		dst = append(dst, `,"client_request_id":`...)
		dst = jsonenc.AppendString(dst, r.ClientRequestID)
	}
	if r.BatchRequestID != "" {
		dst = append(dst, `,"batch_request_id":`...)
		dst = jsonenc.AppendString(dst, r.BatchRequestID)
	}
	if r.IdempotentReplayOf != "" {
		dst = append(dst, `,"idempotent_replay_of":`...)
		dst = jsonenc.AppendString(dst, r.IdempotentReplayOf)
	}
	dst = append(dst, `,"timestamp":"`...)
	dst = r.Timestamp.UTC().AppendFormat(dst, time.RFC3339Nano)
	dst = append(dst, `","user_id":`...)
	dst = jsonenc.AppendString(dst, r.UserID)
	dst = append(dst, `,"api_key_id":`...)
	dst = jsonenc.AppendString(dst, r.APIKeyID)
	dst = append(dst, `,"oauth_client_id":`...)
	dst = jsonenc.AppendString(dst, r.OAuthClientID)
	dst = append(dst, `,"auth_method":`...)
	dst = jsonenc.AppendString(dst, r.AuthMethod)
	if r.AttemptedUserID != "" {
		dst = append(dst, `,"attempted_user_id":`...)
		dst = jsonenc.AppendString(dst, r.AttemptedUserID)
	}
	dst = append(dst, `,"action":`...)
	dst = jsonenc.AppendString(dst, r.Action)
	dst = append(dst, `,"resource_type":`...)
	dst = jsonenc.AppendString(dst, r.ResourceType)
	dst = append(dst, `,"resource_id":`...)
	dst = jsonenc.AppendString(dst, r.ResourceID)
	dst = append(dst, `,"http_method":`...)
	dst = jsonenc.AppendString(dst, r.HTTPMethod)
	dst = append(dst, `,"endpoint":`...)
	dst = jsonenc.AppendString(dst, r.Endpoint)
	dst = append(dst, `,"path":`...)
	dst = jsonenc.AppendString(dst, r.Path)
	dst = append(dst, `,"status_code":`...)
	dst = strconv.AppendInt(dst, int64(r.StatusCode), 10)
	dst = append(dst, `,"latency_ms":`...)
	return jsonenc.AppendFloat(dst, r.LatencyMS)
}

// appendAnonymizedIP appends AnonymizeIP(addr) without allocating in the
// usual case (a plain address); its characters need no JSON escaping.
func appendAnonymizedIP(dst []byte, addr string) []byte {
	if addr == "" {
		return dst
	}
	a, err := netip.ParseAddr(addr)
	if err != nil {
		return append(dst, AnonymizeIP(addr)...) // a prefix, or unparsable
	}
	a = a.Unmap().WithZone("")
	bits := 48
	if a.Is4() {
		bits = 24
	}
	p, _ := a.Prefix(bits)
	return p.AppendTo(dst)
}
