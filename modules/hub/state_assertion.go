package hub

import (
	"net/http"

	"github.com/caddyserver/caddy/v2"
)

// AssertionPlaceholder is {hub.assertion}: the signed identity assertion
// of the request, for the proxy where the request leaves the gateway:
//
//	reverse_proxy <upstream> {
//	    header_up X-Hub-Identity {hub.assertion}
//	}
//
// It is evaluated when the proxy applies header_up, so the assertion is
// signed once per request (once per attempt when the proxy retries), where
// the request leaves the gateway, and bound to the method the upstream is
// actually asked (UpstreamMethod: GET for a HEAD a body transformer turned
// into a GET). It is unknown on a request hub_auth did not see. Never log
// it: it is a bearer credential for its 30 s.
const AssertionPlaceholder = "hub.assertion"

// AssertionSigner makes the assertion of an identity (hub_auth is one: it
// holds the gateway secret and its clock).
type AssertionSigner interface {
	// SignAssertion returns the assertion of id for the request id and the
	// HTTP method the upstream is asked, or "" when it cannot be made
	// (which the upstream refuses: never fail open).
	SignAssertion(id *Identity, requestID, httpMethod string) string
}

// ProvideAssertion registers {hub.assertion} for r: evaluated, it signs
// with s the identity (IdentityOf), request id (RequestID) and upstream
// method (UpstreamMethod) the request has at that time. It costs nothing
// until evaluated, and nothing is allocated but the request state.
func ProvideAssertion(r *http.Request, s AssertionSigner) {
	st := stateOf(r, true)
	repl, ok := r.Context().Value(caddy.ReplacerCtxKey).(*caddy.Replacer)
	if st == nil || !ok {
		return
	}
	st.signer, st.req = s, r
	repl.Set(AssertionPlaceholder, (*lazyAssertion)(st))
}

// lazyAssertion is the request state as the value of {hub.assertion}: the
// replacer turns a fmt.Stringer into its String() when it is evaluated.
type lazyAssertion state

// String signs the assertion now.
func (a *lazyAssertion) String() string {
	return a.signer.SignAssertion(a.identity, a.requestID, UpstreamMethod(a.req))
}
