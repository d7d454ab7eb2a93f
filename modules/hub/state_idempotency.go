package hub

import "net/http"

// SetIdempotentReplay records that the request is answered with the stored
// response of an earlier request carrying the same Idempotency-Key
// (hub_idempotency does, before it writes the replay's header); originalID
// is that earlier request's id. hub_audit records it as the record's
// idempotent_replay_of.
func SetIdempotentReplay(r *http.Request, originalID string) {
	if s := stateOf(r, true); s != nil {
		if originalID == "" {
			originalID = "unknown"
		}
		s.replayOf = originalID
	}
}

// IdempotentReplayOf returns the request id SetIdempotentReplay recorded:
// non-empty when the request's answer is a replay.
func IdempotentReplayOf(r *http.Request) string {
	if s := stateOf(r, false); s != nil {
		return s.replayOf
	}
	return ""
}
