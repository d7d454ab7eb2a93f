package hubidempotency

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"net/http"
	"strings"

	"github.com/hubchantier/hubgate/modules/hub"
)

// Store key namespace (under the hub store's own prefix).
const keyNS = "idem:"

// Entry states. One store key holds both the lock and the answer: SetNX of
// an in-flight entry takes the lock, Set of the done entry replaces it, and
// Delete releases it when the answer is not kept. There is never a moment
// where the answer is stored and the lock still held, or the reverse.
const (
	stateInFlight = "inflight"
	stateDone     = "done"
)

// entry is what the store keeps under one (principal, key).
type entry struct {
	// State is stateInFlight or stateDone.
	State string `json:"s"`
	// FP is the request's fingerprint (fingerprint).
	FP string `json:"f"`
	// RequestID is the gateway's X-Request-Id of the first request.
	RequestID string `json:"r,omitempty"`
	// Status, Header and Body are the stored answer (done entries).
	Status int         `json:"c,omitempty"`
	Header http.Header `json:"h,omitempty"`
	Body   []byte      `json:"b,omitempty"`
}

func (e *entry) encode() []byte {
	b, _ := json.Marshal(e) // a struct of strings, ints, a header map and bytes
	return b
}

func decodeEntry(b []byte) (*entry, error) {
	var e entry
	if err := json.Unmarshal(b, &e); err != nil {
		return nil, err
	}
	return &e, nil
}

// storeKey is where the entry of (principal, key) lives. The key is hashed:
// it is the client's text, so its length and bytes stay out of store keys,
// and two principals never share an entry.
func storeKey(p hub.Principal, key string) string {
	sum := sha256.Sum256([]byte(key))
	return keyNS + p.Key + ":" + hex.EncodeToString(sum[:16])
}

// replayable reports whether a final status is kept for replay. The draft
// leaves it to the resource; the rule here: an answer is kept when a retry
// of the same request would deserve the same answer — 2xx and 4xx — except
// the statuses that say "not now" rather than "no": 408 Request Timeout,
// 409 Conflict (a concurrent change, or our own in-flight refusal), 423
// Locked, 425 Too Early and 429 Too Many Requests. 5xx answers are never
// kept, so a retry after an upstream failure runs again; 1xx and 3xx are
// not final answers to a write worth keeping.
func replayable(status int) bool {
	switch status {
	case http.StatusRequestTimeout, http.StatusConflict, http.StatusLocked, http.StatusTooEarly, http.StatusTooManyRequests:
		return false
	}
	return status >= 200 && status < 300 || status >= 400 && status < 500
}

// notKept are response headers never stored with an answer: framing and
// hop-by-hop headers, those that belong to each request (its id, its rate
// limit state, its date), the gateway's internal X-Hub-* (the upstream's
// change report, which would make a replay look like a second write) and
// cookies (an answer that sets one is not stored at all).
func notKept(name string) bool {
	switch name {
	case "Connection", "Keep-Alive", "Transfer-Encoding", "Te", "Trailer", "Upgrade",
		"Proxy-Connection", "Proxy-Authenticate", "Content-Length", "Date", "Server", "Alt-Svc",
		"X-Request-Id", "Retry-After", "Set-Cookie", ReplayedHeader:
		return true
	}
	return strings.HasPrefix(name, "X-Hub-") || strings.HasPrefix(name, "Ratelimit") ||
		strings.HasPrefix(name, "X-Ratelimit-")
}
