package hub

import (
	"net/http"

	"github.com/caddyserver/caddy/v2/modules/caddyhttp"

	"github.com/hubchantier/hubgate/internal/jsonx"
)

// stateVar is the one caddyhttp variable the hub handlers use: it holds
// the request's *state. Everything they pass to one another goes through
// the typed accessors of this package (SetIdentity/IdentityOf, the request
// ids, RouteOf, KeepUpstreamETag/UpstreamETag, SetFieldsPlan/FieldsPlanOf,
// ForwardAsGet/UpstreamMethod, TrackStatus), never through a variable of
// its own.
const stateVar = "hub.state"

// state is what the hub handlers learn about one request. It is created by
// the first accessor that writes (the outermost hub handler, usually
// hub_metrics or hub_audit) in Caddy's per-request variables, which are
// shared by every handler of the request whatever request copy it holds.
// Handlers of one request run one after the other, in one goroutine.
type state struct {
	identity        *Identity
	requestID       string
	clientRequestID string
	// upstreamMethod is the method the upstream is asked ("" means the
	// request's own): a HEAD goes upstream as a GET when a body
	// transformer needs the GET's headers (ForwardAsGet).
	upstreamMethod string
	upstreamETag   string
	fields         *jsonx.Plan
	routePath      string // the path routeTmpl was computed for
	routeTmpl      string
	status         caddyhttp.ResponseRecorder
	// signer and req make {hub.assertion} (ProvideAssertion): req is the
	// request hub_auth saw, whose method is asked upstream unless
	// upstreamMethod says otherwise.
	signer AssertionSigner
	req    *http.Request
	// cost and graphql are set by hub_graphql (state_cost.go).
	cost    int64
	graphql *GraphQLOperation
	// replayOf is the request id of the response hub_idempotency replayed
	// (SetIdempotentReplay), "" when the answer is the request's own.
	replayOf string
}

// stateOf returns the request's state, creating it when create is true.
// It is nil outside Caddy (a request without caddyhttp variables, as in
// some unit tests): then setters do nothing and getters return zeros, as
// caddyhttp.SetVar and GetVar did.
func stateOf(r *http.Request, create bool) *state {
	vars, _ := r.Context().Value(caddyhttp.VarsCtxKey).(map[string]any)
	if vars == nil {
		return nil
	}
	if s, ok := vars[stateVar].(*state); ok {
		return s
	}
	if !create {
		return nil
	}
	s := new(state)
	vars[stateVar] = s
	return s
}

// SetIdentity records the verified caller of the request (hub_auth does,
// anonymous callers included) for the policies that run after it and for
// the assertion signed at the proxy boundary.
func SetIdentity(r *http.Request, id *Identity) {
	if s := stateOf(r, true); s != nil {
		s.identity = id
	}
}

// IdentityOf returns the identity hub_auth recorded for the request, or
// nil when hub_auth has not run (yet).
func IdentityOf(r *http.Request) *Identity {
	if s := stateOf(r, false); s != nil {
		return s.identity
	}
	return nil
}

// KeepUpstreamETag records the upstream's ETag of a body a handler
// rewrote (the body-transformer contract: the rewritten body cannot carry
// it, hub_etag still ties its own tag to it). The first one kept wins.
func KeepUpstreamETag(r *http.Request, etag string) {
	if s := stateOf(r, true); s != nil && s.upstreamETag == "" {
		s.upstreamETag = etag
	}
}

// UpstreamETag returns the ETag kept by KeepUpstreamETag, or "".
func UpstreamETag(r *http.Request) string {
	if s := stateOf(r, false); s != nil {
		return s.upstreamETag
	}
	return ""
}

// SetFieldsPlan publishes the ?fields= selection of the request (hub_fields
// does; hub_version applies it on v2 in its own pass).
func SetFieldsPlan(r *http.Request, p *jsonx.Plan) {
	if s := stateOf(r, true); s != nil {
		s.fields = p
	}
}

// FieldsPlanOf returns the selection SetFieldsPlan published, or nil.
func FieldsPlanOf(r *http.Request) *jsonx.Plan {
	if s := stateOf(r, false); s != nil {
		return s.fields
	}
	return nil
}
