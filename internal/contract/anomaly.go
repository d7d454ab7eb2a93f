package contract

import "time"

// Anomaly rule names: the rule of an AnomalyEvent. The upstream refuses
// any other, so the column (and any dashboard over it) stays a small set.
const (
	AnomalyErrorRate  = "error_rate"
	AnomalySpike      = "spike"
	AnomalyScan       = "scan"
	AnomalyUserAgents = "user_agents"
)

// AnomalyRules lists the rule names, in the gateway's order.
var AnomalyRules = [...]string{AnomalyErrorRate, AnomalySpike, AnomalyScan, AnomalyUserAgents}

// AnomalyPrincipalKinds lists the principal kinds an AnomalyEvent may
// name (the kinds of hub.PrincipalOf).
var AnomalyPrincipalKinds = [...]string{"api_key", "oauth_client", "user", "ip"}

// AnomalyEvent is one detection as the gateway sends it to POST
// /internal/anomalies (and to its webhook) and as admins read it. D is the
// type of Details: the gateway builds them as a map[string]any, the
// upstream keeps the JSON object as it came (json.RawMessage).
type AnomalyEvent[D any] struct {
	// EventID is chosen by the gateway (a UUID); it makes ingest idempotent.
	EventID string `json:"event_id"`
	// DetectedAt is when the gateway decided.
	DetectedAt time.Time `json:"detected_at"`
	// Rule is one of AnomalyRules.
	Rule string `json:"rule"`
	// PrincipalKind is one of AnomalyPrincipalKinds.
	PrincipalKind string `json:"principal_kind"`
	// PrincipalID is the key id, client id, user id or client IP.
	PrincipalID string `json:"principal_id"`
	// Details holds the rule's figures (counts, thresholds, window, action):
	// a JSON object of at most 8 KiB.
	Details D `json:"details"`
	// GatewayID names the gateway instance that detected it.
	GatewayID string `json:"gateway_id"`
}
