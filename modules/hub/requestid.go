package hub

import (
	"crypto/rand"
	"encoding/hex"
	"net/http"

	"github.com/caddyserver/caddy/v2"
	"github.com/caddyserver/caddy/v2/modules/caddyhttp"
)

// RequestIDHeader carries the request id to the upstream and the client.
const RequestIDHeader = "X-Request-Id"

// RequestIDVar is the caddyhttp variable (and {hub.request_id} placeholder)
// holding the request id.
const RequestIDVar = "hub.request_id"

// EnsureRequestID gives the request an id — the client's when well formed,
// else a new random one — and sets it on the request (forwarded upstream),
// on the response and as {hub.request_id}. Calling it twice is harmless.
func EnsureRequestID(w http.ResponseWriter, r *http.Request) string {
	if id, ok := caddyhttp.GetVar(r.Context(), RequestIDVar).(string); ok && id != "" {
		return id
	}
	id := r.Header.Get(RequestIDHeader)
	if !ValidRequestID(id) {
		id = newRequestID()
	}
	r.Header.Set(RequestIDHeader, id)
	w.Header().Set(RequestIDHeader, id)
	caddyhttp.SetVar(r.Context(), RequestIDVar, id)
	if repl, ok := r.Context().Value(caddy.ReplacerCtxKey).(*caddy.Replacer); ok {
		repl.Set(RequestIDVar, id)
	}
	return id
}

// ValidRequestID accepts 1–128 characters of [A-Za-z0-9._:-]: enough for
// UUIDs and tracing ids, nothing that could inject into logs or headers.
func ValidRequestID(id string) bool {
	if len(id) == 0 || len(id) > 128 {
		return false
	}
	for i := 0; i < len(id); i++ {
		c := id[i]
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '.' || c == '_' || c == ':' || c == '-') {
			return false
		}
	}
	return true
}

func newRequestID() string {
	var b [16]byte
	_, _ = rand.Read(b[:])
	return hex.EncodeToString(b[:])
}
