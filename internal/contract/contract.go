// Package contract is the wire contract between hubgate (the gateway,
// modules/) and hubchantier (the upstream, upstream/): the paths of the
// upstream's internal API, the shared-secret header that guards it, and
// every JSON body the two exchange there — the API key introspection record
// (POST /internal/introspect), the revocation feed (GET
// /internal/revocations), the usage report (POST /internal/usage), the
// audit batch (POST /internal/audit), the anomaly event (POST
// /internal/anomalies) and the JWKS the gateway verifies tokens with (GET
// /.well-known/jwks.json).
//
// The other halves of the contract are packages of their own, because they
// carry logic both sides must run alike: internal/assertion (the signed
// identity assertion the gateway sends with every proxied request),
// internal/auditchain (the audit record, its hash chain and signed
// checkpoint) and internal/apikey (the API key format and hash).
//
// Both sides import these packages and nothing of each other: no package
// under modules/ imports upstream/, none under upstream/ imports modules/
// (boundary_test.go at the repository root checks it). The package depends
// on the standard library and internal/ only.
package contract

import (
	"crypto/sha256"
	"crypto/subtle"
	"strings"
)

// Paths of the upstream's internal API. Only gateways call them, with the
// shared secret (Authorization); the public gateway never routes /internal.
const (
	// PathIntrospect answers an API key id with an Introspection (200) or
	// {"active": false} (404). Body: IntrospectRequest.
	PathIntrospect = "/internal/introspect"
	// PathRevocations is the revocation feed: GET ?since=<seq>&wait=<s>
	// answers a RevocationPage, long-polling up to wait seconds.
	PathRevocations = "/internal/revocations"
	// PathUsage takes a UsageReport and answers 204.
	PathUsage = "/internal/usage"
	// PathAudit takes an AuditBatch; idempotent by event id.
	PathAudit = "/internal/audit"
	// PathAnomalies takes one AnomalyEvent; idempotent by event id (201
	// when new, 200 when already stored).
	PathAnomalies = "/internal/anomalies"
	// PathJWKS is the public key set (JWKS) that verifies the upstream's
	// tokens. It is public, not guarded by the shared secret.
	PathJWKS = "/.well-known/jwks.json"
)

// GatewayAuthorization is the Authorization header value a gateway sends
// on internal calls: "Bearer " and the shared secret (HUB_GATEWAY_SECRET).
func GatewayAuthorization(secret string) string { return "Bearer " + secret }

// ValidGatewayAuthorization reports whether header (an Authorization
// value) carries one of secrets (the current HUB_GATEWAY_SECRET and,
// during a rollover, the accepted other one). Both sides are hashed before
// the constant-time comparison, so not even the secret's length leaks; an
// empty secret accepts nothing. Every secret is compared, whichever matches.
func ValidGatewayAuthorization(header string, secrets ...[]byte) bool {
	tok, ok := strings.CutPrefix(header, "Bearer ")
	got := sha256.Sum256([]byte(tok))
	valid := 0
	for _, secret := range secrets {
		want := sha256.Sum256(secret)
		if len(secret) > 0 {
			valid |= subtle.ConstantTimeCompare(got[:], want[:])
		}
	}
	return ok && valid == 1
}
