package httpx

import (
	"net/http"
	"strings"
	"time"

	"github.com/hubchantier/hubgate/internal/assertion"
	"github.com/hubchantier/hubgate/internal/contract"
	"github.com/hubchantier/hubgate/internal/problem"
)

// GraphQLPath is the GraphQL endpoint (upstream/graphql), guarded like
// /api/*: the gateway proxies its public /graphql there unchanged.
const GraphQLPath = "/graphql"

// RequireAssertion guards /api/* and /graphql: a request must carry a valid gateway
// assertion (anonymous ones included, for login), else 401. Other paths
// (JWKS, OAuth2, /internal with its own auth, health) pass unchanged.
func RequireAssertion(secret []byte, now func() time.Time, next http.Handler) http.Handler {
	return RequireAssertionAny([][]byte{secret}, now, next)
}

// RequireAssertionAny is RequireAssertion accepting assertions signed with
// any of secrets (the current one and, during a rollover, the accepted one).
func RequireAssertionAny(secrets [][]byte, now func() time.Time, next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if !strings.HasPrefix(r.URL.Path, "/api/") && r.URL.Path != GraphQLPath {
			next.ServeHTTP(w, r)
			return
		}
		c, err := assertion.VerifyAny(secrets, r.Header.Get(assertion.Header), r.Method, now())
		if err != nil {
			w.Header().Set("WWW-Authenticate", `Bearer realm="hubchantier"`)
			Problem(w, r, problem.New(http.StatusUnauthorized, "gateway-assertion", "Unauthorized",
				"requests must come through the gateway: "+err.Error()))
			return
		}
		if c.RequestID != "" && r.Header.Get("X-Request-Id") == "" {
			r.Header.Set("X-Request-Id", c.RequestID)
		}
		next.ServeHTTP(w, r.WithContext(WithIdentity(r.Context(), c)))
	})
}

// GatewayOnly guards a gateway-only endpoint (/internal/*): the caller
// must send "Authorization: Bearer <secret>" with one of secrets (the
// current HUB_GATEWAY_SECRET and, during a rollover, the accepted one),
// compared in constant time on hashes (contract.ValidGatewayAuthorization);
// anything else is a 401 gateway-secret problem. Answers are never cached.
func GatewayOnly(secrets [][]byte, h http.HandlerFunc) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if !contract.ValidGatewayAuthorization(r.Header.Get("Authorization"), secrets...) {
			w.Header().Set("WWW-Authenticate", `Bearer realm="hubchantier-internal"`)
			Problem(w, r, problem.New(http.StatusUnauthorized, "gateway-secret", "Unauthorized",
				"internal endpoints need Authorization: Bearer <HUB_GATEWAY_SECRET>"))
			return
		}
		w.Header().Set("Cache-Control", "no-store")
		h(w, r)
	})
}
