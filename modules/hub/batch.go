package hub

import (
	"context"
	"net/http"
)

// BatchLink ties one operation of a batch (hub_batch) to the batch call
// that carries it. hub_batch runs each operation as a sub-request through
// the same Caddy server, so every policy applies to it as to a single
// request; the link tells those policies what the sub-request is part of.
//
// It travels in the sub-request's context, not in the request state: the
// server gives every sub-request fresh caddyhttp variables (the state is
// per request), while context values of the batch call stay visible.
// Clients cannot set it: it is no header.
type BatchLink struct {
	// RequestID is the batch call's own request id (its X-Request-Id and
	// the request_id of its audit record); hub_audit writes it into each
	// operation's record as batch_request_id.
	RequestID string
	// Index is the operation's position in the batch, from 0.
	Index int
	// Identity is the identity hub_auth verified for the batch call.
	// hub_auth gives it to the operation instead of reading credentials
	// again (the batch call's Authorization was removed before hub_batch
	// ran); the operation's own scopes and IP allowlist are still checked.
	Identity *Identity
	// Tx names the upstream transaction of an atomic batch, "" otherwise.
	// hub_auth publishes it as {hub.batch.tx} for the proxy's header_up.
	Tx string
}

type batchKey struct{}

// WithBatch returns ctx carrying the batch link l.
func WithBatch(ctx context.Context, l *BatchLink) context.Context {
	return context.WithValue(ctx, batchKey{}, l)
}

// BatchOf returns the batch link of a sub-request, or nil when the request
// is not an operation of a batch.
func BatchOf(r *http.Request) *BatchLink {
	l, _ := r.Context().Value(batchKey{}).(*BatchLink)
	return l
}
