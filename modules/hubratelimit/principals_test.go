package hubratelimit

import (
	"encoding/json"
	"regexp"
	"testing"

	"github.com/caddyserver/caddy/v2/caddyconfig/caddyfile"

	"github.com/hubchantier/hubgate/modules/hub"
)

// fromCaddyfile adapts a hub_rate_limit block and compiles it on c.
func fromCaddyfile(t *testing.T, block string, c *clock) *Handler {
	t.Helper()
	var h Handler
	if err := h.UnmarshalCaddyfile(caddyfile.NewTestDispenser(block)); err != nil {
		t.Fatalf("UnmarshalCaddyfile: %v", err)
	}
	return newHandler(t, &h, c)
}

// Every endpoint that checks a password shares one bucket per client IP
// (issue 10, #3): three tries on each of two endpoints, and the sixth is
// refused whichever endpoint it goes to.
func TestRuleSharedAcrossEndpoints(t *testing.T) {
	h := fromCaddyfile(t, `hub_rate_limit {
		rule login POST /api/auth/login POST /oauth/login 5/minute per ip
	}`, newClock())
	for i := 0; i < 3; i++ {
		if r := serve(t, h, "POST", "/api/auth/login", anonymous, "192.0.2.1"); r.status != 200 {
			t.Fatalf("api login %d: %d", i+1, r.status)
		}
		if r := serve(t, h, "POST", "/oauth/login", anonymous, "192.0.2.1"); r.status != 200 && i < 2 {
			t.Fatalf("oauth login %d: %d", i+1, r.status)
		} else if i == 2 && (r.status != 429 || r.problem(t)["policy"] != "login") {
			t.Fatalf("6th attempt: %d %s", r.status, r.body)
		}
	}
	if r := serve(t, h, "POST", "/api/auth/login", anonymous, "192.0.2.1"); r.status != 429 {
		t.Fatalf("7th attempt on the other endpoint: %d", r.status)
	}
	if r := serve(t, h, "GET", "/oauth/login", anonymous, "192.0.2.1"); r.status != 200 {
		t.Fatalf("GET is not in the rule: %d", r.status)
	}
}

// Each user of an OAuth client has a bucket of their own (#7); the
// client's aggregate is a separate, optional per_client limit.
func TestOAuthUsersOwnBuckets(t *testing.T) {
	h := fromCaddyfile(t, `hub_rate_limit {
		default 2/hour
		per_client 5/hour
	}`, newClock())
	user := func(sub string) *hub.Identity {
		return &hub.Identity{Subject: sub, Method: "oauth2", ClientID: "erp"}
	}
	for _, sub := range []string{"1", "2"} {
		for i := 0; i < 2; i++ {
			if r := serve(t, h, "GET", "/api/v1/chantiers", user(sub), "10.0.0.1"); r.status != 200 {
				t.Fatalf("user %s request %d: %d %s", sub, i+1, r.status, r.body)
			}
		}
		if r := serve(t, h, "GET", "/api/v1/chantiers", user(sub), "10.0.0.1"); r.status != 429 || r.problem(t)["policy"] != DefaultPolicyName {
			t.Fatalf("user %s third request: %d %s", sub, r.status, r.body)
		}
	}
	if r := serve(t, h, "GET", "/api/v1/chantiers", user("3"), "10.0.0.1"); r.status != 200 {
		t.Fatalf("user 3: %d", r.status)
	}
	r := serve(t, h, "GET", "/api/v1/chantiers", user("4"), "10.0.0.1")
	if r.status != 429 || r.problem(t)["policy"] != PerClientPolicyName {
		t.Fatalf("6th request of the client: %d %s", r.status, r.body)
	}
	// An API key of the same user is not the client's.
	if r := serve(t, h, "GET", "/api/v1/chantiers", keyID("k"), "10.0.0.1"); r.status != 200 || r.header.Get(fieldPolicy) != `"per-key";q=2;w=3600` {
		t.Fatalf("api key: %d %q", r.status, r.header.Get(fieldPolicy))
	}
}

// A user's keys and tokens share the per_user quota (#12).
func TestPerUserAcrossKeys(t *testing.T) {
	h := fromCaddyfile(t, `hub_rate_limit {
		default 100/hour
		per_user 3/hour
	}`, newClock())
	ids := []*hub.Identity{
		keyID("a"), keyID("b"),
		{Subject: "7", Method: "jwt"},
		keyID("c"),
	}
	for i, id := range ids {
		r := serve(t, h, "GET", "/api/v1/chantiers", id, "10.0.0.1")
		if i < 3 && r.status != 200 {
			t.Fatalf("request %d: %d", i+1, r.status)
		}
		if i == 3 && (r.status != 429 || r.problem(t)["policy"] != PerUserPolicyName) {
			t.Fatalf("4th request of user 7: %d %s", r.status, r.body)
		}
	}
	if r := serve(t, h, "GET", "/api/v1/chantiers", &hub.Identity{Subject: "8", Method: "api_key", KeyID: "z"}, "10.0.0.1"); r.status != 200 {
		t.Fatalf("another user: %d", r.status)
	}
	if r := serve(t, h, "GET", "/api/v1/chantiers", anonymous, "10.0.0.1"); r.status != 200 || r.header.Get(fieldPolicy) != `"per-key";q=100;w=3600` {
		t.Fatalf("anonymous: %d %q", r.status, r.header.Get(fieldPolicy))
	}
}

// IPv6 clients count by their /64 (#10), in per ip rules and as anonymous
// principals.
func TestIPv6GroupedByPrefix(t *testing.T) {
	h := fromCaddyfile(t, `hub_rate_limit {
		default 4/hour
		rule login POST /api/auth/login 2/minute per ip
	}`, newClock())
	for _, path := range []string{"/api/auth/login", "/api/v1/chantiers"} {
		for i, ip := range []string{"2001:db8:1:2::1", "2001:db8:1:2:ffff::2"} {
			if r := serve(t, h, "POST", path, anonymous, ip); r.status != 200 {
				t.Fatalf("%s from %s (%d): %d", path, ip, i+1, r.status)
			}
		}
		if r := serve(t, h, "POST", path, anonymous, "2001:db8:1:2:abcd::3"); r.status != 429 {
			t.Fatalf("%s: third address of one /64: %d", path, r.status)
		}
		if r := serve(t, h, "POST", path, anonymous, "2001:db8:1:3::1"); r.status != 200 {
			t.Fatalf("%s: another /64: %d", path, r.status)
		}
	}
	h.ipv6Bits = 128
	if r := serve(t, h, "POST", "/api/v1/chantiers", anonymous, "2001:db8:1:2::9"); r.status != 200 {
		t.Fatalf("/128 grouping: %d", r.status)
	}
}

// On OAuth endpoints the 429 is an RFC 6749 §5.2 error (issue 10, OAuth
// endpoints speak OAuth).
func TestOAuthEndpoint429(t *testing.T) {
	h := fromCaddyfile(t, `hub_rate_limit {
		rule oauth-token POST /oauth/token 1/minute per ip
	}`, newClock())
	serve(t, h, "POST", "/oauth/token", anonymous, "192.0.2.1")
	r := serve(t, h, "POST", "/oauth/token", anonymous, "192.0.2.1")
	var body struct {
		Error       string `json:"error"`
		Description string `json:"error_description"`
	}
	if err := json.Unmarshal(r.body, &body); err != nil || r.status != 429 || body.Error != "temporarily_unavailable" ||
		r.header.Get("Content-Type") != "application/json;charset=UTF-8" || r.header.Get("Retry-After") != "60" {
		t.Fatalf("429 on /oauth/token: %d %q %q %s", r.status, r.header.Get("Content-Type"), r.header.Get("Retry-After"), r.body)
	}
	if !oauthDescriptionChars.MatchString(body.Description) {
		t.Fatalf("error_description %q outside RFC 6749's character set", body.Description)
	}
}

// oauthDescriptionChars is RFC 6749 §5.2's error_description character set.
var oauthDescriptionChars = regexp.MustCompile(`^[\x20\x21\x23-\x5B\x5D-\x7E]+$`)
