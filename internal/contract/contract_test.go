package contract

import (
	"encoding/json"
	"testing"
	"time"
)

// TestWireNames pins the JSON of each body: a renamed field or tag breaks
// every gateway or upstream of another version, so it must show here.
func TestWireNames(t *testing.T) {
	at := time.Date(2026, 5, 1, 12, 0, 0, 0, time.UTC)
	for _, tt := range []struct {
		name string
		v    any
		want string
	}{
		{"introspect request", IntrospectRequest{KeyID: "k1"}, `{"key_id":"k1"}`},
		{"introspection", Introspection{Active: true, ID: "k1", UserID: "7", Role: "admin", Scopes: []string{"read"},
			Status: "active", ExpiresAt: at, Secrets: []KeySecret{{Hash: "ab", ExpiresAt: at}}, IPWhitelist: []string{"10.0.0.0/8"}, RateLimit: "5/minute"},
			`{"active":true,"id":"k1","user_id":"7","role":"admin","scopes":["read"],"status":"active","expires_at":"2026-05-01T12:00:00Z",` +
				`"secrets":[{"hash":"ab","expires_at":"2026-05-01T12:00:00Z"}],"ip_whitelist":["10.0.0.0/8"],"rate_limit":"5/minute"}`},
		{"revocation page", RevocationPage{Events: []RevocationEvent{{Seq: 3, Kind: RevokedUser, ID: "7", At: at}}, LastSeq: 3},
			`{"events":[{"seq":3,"kind":"user","id":"7","at":"2026-05-01T12:00:00Z"}],"last_seq":3}`},
		{"usage report", UsageReport{Keys: map[string]string{"k1": "2026-05-01T12:00:00Z"}}, `{"keys":{"k1":"2026-05-01T12:00:00Z"}}`},
		{"anomaly event", AnomalyEvent[map[string]any]{EventID: "e1", DetectedAt: at, Rule: AnomalyScan, PrincipalKind: "ip",
			PrincipalID: "192.0.2.1", Details: map[string]any{"threshold": 20}, GatewayID: "gw"},
			`{"event_id":"e1","detected_at":"2026-05-01T12:00:00Z","rule":"scan","principal_kind":"ip","principal_id":"192.0.2.1",` +
				`"details":{"threshold":20},"gateway_id":"gw"}`},
		{"anomaly event, raw details", AnomalyEvent[json.RawMessage]{EventID: "e1", DetectedAt: at, Rule: AnomalySpike,
			PrincipalKind: "user", PrincipalID: "7", Details: json.RawMessage(`{"n":1}`)},
			`{"event_id":"e1","detected_at":"2026-05-01T12:00:00Z","rule":"spike","principal_kind":"user","principal_id":"7",` +
				`"details":{"n":1},"gateway_id":""}`},
		{"jwks", JWKS{Keys: []JWK{{Kty: "OKP", Crv: "Ed25519", X: "xx", Kid: "k", Alg: "EdDSA", Use: "sig"}}},
			`{"keys":[{"kty":"OKP","crv":"Ed25519","x":"xx","kid":"k","alg":"EdDSA","use":"sig"}]}`},
		{"audit batch without checkpoint", AuditBatch{}, `{"records":null}`},
	} {
		b, err := json.Marshal(tt.v)
		if err != nil || string(b) != tt.want {
			t.Errorf("%s: %s %v\nwant %s", tt.name, b, err, tt.want)
		}
	}
}

// TestValidGatewayAuthorization: only "Bearer <secret>" passes, and an
// empty secret accepts nothing.
func TestValidGatewayAuthorization(t *testing.T) {
	secret := []byte("0123456789abcdef0123456789abcdef")
	for _, tt := range []struct {
		header string
		secret []byte
		want   bool
	}{
		{GatewayAuthorization(string(secret)), secret, true},
		{"Bearer " + string(secret) + "x", secret, false},
		{"bearer " + string(secret), secret, false},
		{string(secret), secret, false},
		{"", secret, false},
		{"Bearer ", nil, false},
		{"Bearer ", []byte{}, false},
	} {
		if got := ValidGatewayAuthorization(tt.header, tt.secret); got != tt.want {
			t.Errorf("ValidGatewayAuthorization(%q, %q) = %v, want %v", tt.header, tt.secret, got, tt.want)
		}
	}
}
