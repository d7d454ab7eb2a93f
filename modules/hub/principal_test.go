package hub

import (
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/caddyserver/caddy/v2"
	"github.com/caddyserver/caddy/v2/modules/caddyhttp"
)

// requestFrom is a request prepared as Caddy does, with client_ip set and
// the identity hub_auth would have left.
func requestFrom(ip string, id *Identity) *http.Request {
	r := httptest.NewRequest(http.MethodGet, "/api/v1/chantiers", nil)
	r = caddyhttp.PrepareRequest(r, caddy.NewReplacer(), httptest.NewRecorder(), nil)
	caddyhttp.SetVar(r.Context(), caddyhttp.ClientIPVarKey, ip)
	if id != nil {
		SetIdentity(r, id)
	}
	return r
}

func TestPrincipalOf(t *testing.T) {
	tests := []struct {
		name string
		id   *Identity
		ip   string
		want Principal
	}{
		{"api key wins", &Identity{Method: "api_key", KeyID: "abc", Subject: "7"}, "192.0.2.1",
			Principal{PrincipalAPIKey, "abc", "k:abc"}},
		{"oauth token is client and user", &Identity{Method: "oauth2", ClientID: "app", Subject: "7"}, "192.0.2.1",
			Principal{PrincipalOAuth, "app/7", "c:app:u:7"}},
		{"user jwt", &Identity{Method: "jwt", Subject: "7"}, "192.0.2.1",
			Principal{PrincipalUser, "7", "u:7"}},
		{"anonymous ipv4", &Identity{Method: "anonymous"}, "192.0.2.1",
			Principal{PrincipalIP, "192.0.2.1", "ip:192.0.2.1"}},
		{"no identity, mapped ipv4", nil, "::ffff:192.0.2.1",
			Principal{PrincipalIP, "192.0.2.1", "ip:192.0.2.1"}},
		{"anonymous ipv6 grouped by /64", nil, "2001:db8:1:2:aaaa:bbbb:cccc:dddd",
			Principal{PrincipalIP, "2001:db8:1:2::/64", "ip:2001:db8:1:2::/64"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := PrincipalOf(requestFrom(tt.ip, tt.id), 0); got != tt.want {
				t.Fatalf("PrincipalOf = %+v, want %+v", got, tt.want)
			}
		})
	}
}

// Two users of one OAuth client are two principals (issue 10, #7), and no
// client id with a ':' can spell another (client, user) pair's key.
func TestPrincipalOAuthUsersApart(t *testing.T) {
	a, _ := (&Identity{Method: "oauth2", ClientID: "app", Subject: "1"}).Principal()
	b, _ := (&Identity{Method: "oauth2", ClientID: "app", Subject: "2"}).Principal()
	if a.Key == b.Key {
		t.Fatalf("two users of one client share %q", a.Key)
	}
	c, _ := (&Identity{Method: "oauth2", ClientID: "x:u:1", Subject: "2"}).Principal()
	d, _ := (&Identity{Method: "oauth2", ClientID: "x", Subject: "1:u:2"}).Principal()
	if c.Key == d.Key {
		t.Fatalf("colliding keys %q", c.Key)
	}
	if k := (&Identity{Method: "oauth2", ClientID: "app", Subject: "1"}).ClientKey(); k != "c:app" {
		t.Fatalf("ClientKey %q", k)
	}
	if k := (&Identity{Method: "api_key", KeyID: "k1", Subject: "1"}).UserKey(); k != "u:1" {
		t.Fatalf("UserKey %q", k)
	}
	if k := (&Identity{Method: "anonymous"}).UserKey(); k != "" {
		t.Fatalf("anonymous UserKey %q", k)
	}
}

func TestClientNetwork(t *testing.T) {
	tests := []struct {
		ip   string
		bits int
		want string
	}{
		{"192.0.2.7", 64, "192.0.2.7"},
		{"::ffff:192.0.2.7", 48, "192.0.2.7"},
		{"2001:db8:1:2:3:4:5:6", 0, "2001:db8:1:2::/64"},
		{"2001:db8:1:2:3:4:5:6", 48, "2001:db8:1::/48"},
		{"2001:db8:1:2:3:4:5:6", 128, "2001:db8:1:2:3:4:5:6/128"},
		{"fe80::1%eth0", 64, "fe80::/64"},
		{"not-an-ip", 64, "not-an-ip"},
	}
	for _, tt := range tests {
		if got := ClientNetwork(requestFrom(tt.ip, nil), tt.bits); got != tt.want {
			t.Errorf("ClientNetwork(%s, /%d) = %q, want %q", tt.ip, tt.bits, got, tt.want)
		}
	}
}

func TestSafeKeyPart(t *testing.T) {
	if SafeKeyPart("abc") != "abc" {
		t.Fatal("plain id changed")
	}
	for _, s := range []string{"a{b}", strings.Repeat("x", 129)} {
		if got := SafeKeyPart(s); strings.ContainsAny(got, "{}") || len(got) != 33 {
			t.Errorf("SafeKeyPart(%q) = %q", s, got)
		}
	}
}
