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
	"unicode/utf8"
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
	dst = appendString(dst, r.UserAgent)
	dst = append(dst, `,"request_body_hash":`...)
	dst = appendString(dst, r.RequestBodyHash)
	m1 := len(dst)
	// The canonical form omits a null report (Canonical), the record
	// keeps whatever was reported.
	if len(r.Changes) > 0 && string(r.Changes) != "null" {
		dst = append(dst, `,"changes":`...)
		dst = append(dst, changes...)
	}
	dst = append(dst, '}')
	sum := sha256.Sum256(dst[s0:])

	r0 := len(dst)
	dst = append(dst, dst[c0:h1]...)
	dst = append(dst, `,"ip_address":`...)
	dst = appendString(dst, r.IPAddress)
	dst = append(dst, dst[m0:m1]...)
	if len(r.Changes) > 0 {
		dst = append(dst, `,"changes":`...)
		dst = append(dst, changes...)
	}
	dst = append(dst, `,"prev_hash":`...)
	dst = appendString(dst, prev)
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
	dst = appendString(dst, r.EventID)
	dst = append(dst, `,"gateway_id":`...)
	dst = appendString(dst, r.GatewayID)
	dst = append(dst, `,"seq":`...)
	dst = strconv.AppendInt(dst, r.Seq, 10)
	dst = append(dst, `,"request_id":`...)
	dst = appendString(dst, r.RequestID)
	if r.ClientRequestID != "" {
		dst = append(dst, `,"client_request_id":`...)
		dst = appendString(dst, r.ClientRequestID)
	}
	dst = append(dst, `,"timestamp":"`...)
	dst = r.Timestamp.UTC().AppendFormat(dst, time.RFC3339Nano)
	dst = append(dst, `","user_id":`...)
	dst = appendString(dst, r.UserID)
	dst = append(dst, `,"api_key_id":`...)
	dst = appendString(dst, r.APIKeyID)
	dst = append(dst, `,"oauth_client_id":`...)
	dst = appendString(dst, r.OAuthClientID)
	dst = append(dst, `,"auth_method":`...)
	dst = appendString(dst, r.AuthMethod)
	if r.AttemptedUserID != "" {
		dst = append(dst, `,"attempted_user_id":`...)
		dst = appendString(dst, r.AttemptedUserID)
	}
	dst = append(dst, `,"action":`...)
	dst = appendString(dst, r.Action)
	dst = append(dst, `,"resource_type":`...)
	dst = appendString(dst, r.ResourceType)
	dst = append(dst, `,"resource_id":`...)
	dst = appendString(dst, r.ResourceID)
	dst = append(dst, `,"http_method":`...)
	dst = appendString(dst, r.HTTPMethod)
	dst = append(dst, `,"endpoint":`...)
	dst = appendString(dst, r.Endpoint)
	dst = append(dst, `,"path":`...)
	dst = appendString(dst, r.Path)
	dst = append(dst, `,"status_code":`...)
	dst = strconv.AppendInt(dst, int64(r.StatusCode), 10)
	dst = append(dst, `,"latency_ms":`...)
	return appendFloat(dst, r.LatencyMS)
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

// appendFloat appends f as encoding/json does (floatEncoder, 64 bits).
func appendFloat(dst []byte, f float64) []byte {
	abs := math.Abs(f)
	format := byte('f')
	if abs != 0 && (abs < 1e-6 || abs >= 1e21) {
		format = 'e'
	}
	dst = strconv.AppendFloat(dst, f, format, -1, 64)
	if format == 'e' {
		// clean up e-09 to e-9, as encoding/json does
		n := len(dst)
		if n >= 4 && dst[n-4] == 'e' && dst[n-3] == '-' && dst[n-2] == '0' {
			dst[n-2] = dst[n-1]
			dst = dst[:n-1]
		}
	}
	return dst
}

const hexDigits = "0123456789abcdef"

// appendString appends s as a JSON string exactly as encoding/json does
// with HTML escaping on (its default): <, > and & as \u00XX, the short
// escapes \b \f \n \r \t, other control bytes as \u00XX, invalid UTF-8 as
// \ufffd, U+2028 and U+2029 escaped.
func appendString(dst []byte, s string) []byte {
	dst = append(dst, '"')
	start := 0
	for i := 0; i < len(s); {
		if b := s[i]; b < utf8.RuneSelf {
			if b >= 0x20 && b != '"' && b != '\\' && b != '<' && b != '>' && b != '&' {
				i++
				continue
			}
			dst = append(dst, s[start:i]...)
			switch b {
			case '\\', '"':
				dst = append(dst, '\\', b)
			case '\b':
				dst = append(dst, '\\', 'b')
			case '\f':
				dst = append(dst, '\\', 'f')
			case '\n':
				dst = append(dst, '\\', 'n')
			case '\r':
				dst = append(dst, '\\', 'r')
			case '\t':
				dst = append(dst, '\\', 't')
			default:
				dst = append(dst, '\\', 'u', '0', '0', hexDigits[b>>4], hexDigits[b&0xF])
			}
			i++
			start = i
			continue
		}
		c, size := utf8.DecodeRuneInString(s[i:])
		if c == utf8.RuneError && size == 1 {
			dst = append(dst, s[start:i]...)
			dst = append(dst, `\ufffd`...)
			i += size
			start = i
			continue
		}
		if c == '\u2028' || c == '\u2029' {
			dst = append(dst, s[start:i]...)
			dst = append(dst, '\\', 'u', '2', '0', '2', hexDigits[c&0xF])
			i += size
			start = i
			continue
		}
		i += size
	}
	dst = append(dst, s[start:]...)
	return append(dst, '"')
}
