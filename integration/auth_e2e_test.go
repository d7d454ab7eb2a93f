package integration

import (
	"encoding/json"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/hubchantier/hubgate/integration/harness"
	"github.com/hubchantier/hubgate/internal/assertion"
)

// TestWalkingSkeleton walks the main path on every storage × store pair:
// user → login → key → list chantiers with the key → revoke → refused
// within a second; rotation grace; IP allowlist; scope 403; tampered cursor.
func TestWalkingSkeleton(t *testing.T) {
	for _, b := range backends {
		t.Run(b.name, func(t *testing.T) {
			s := newStack(t, b)
			s.createUser("alice@example.com", "conducteur")
			s.cli("seed")
			jwt := s.login("alice@example.com", "correct-horse-battery")

			// The JWT itself works at the gateway.
			r := s.gwDo("GET", "/api/v1/chantiers?limit=2", nil, bearer(jwt)...)
			if r.status != 200 {
				t.Fatalf("list with JWT: %d %s", r.status, r.body)
			}

			id, key := s.createKey(jwt, map[string]any{"name": "erp", "scopes": []string{"read", "write"}})

			// Both header forms are accepted.
			for _, h := range [][]string{bearer(key), {"X-API-Key", key}} {
				r := s.gwDo("GET", "/api/v1/chantiers?limit=2", nil, h...)
				if r.status != 200 {
					t.Fatalf("list with key (%s): %d %s", h[0], r.status, r.body)
				}
				m := r.json(t)
				if data, ok := m["data"].([]any); !ok || len(data) != 2 {
					t.Fatalf("want 2 chantiers, got %s", r.body)
				}
				if rid := r.header.Get("X-Request-Id"); rid == "" {
					t.Fatal("no X-Request-Id on response")
				}
			}

			// Keyset pagination through the gateway; a tampered cursor is 400.
			r = s.gwDo("GET", "/api/v1/chantiers?cursor=&limit=3", nil, bearer(key)...)
			if r.status != 200 {
				t.Fatalf("cursor page: %d %s", r.status, r.body)
			}
			pag, _ := r.json(t)["pagination"].(map[string]any)
			next, _ := pag["next_cursor"].(string)
			if next == "" {
				t.Fatalf("no next_cursor in %s", r.body)
			}
			if r2 := s.gwDo("GET", "/api/v1/chantiers?limit=3&cursor="+next, nil, bearer(key)...); r2.status != 200 {
				t.Fatalf("next page: %d %s", r2.status, r2.body)
			}
			tampered := []byte(next)
			tampered[len(tampered)/2] ^= 1
			if tampered[len(tampered)/2] == '+' || tampered[len(tampered)/2] == '/' || tampered[len(tampered)/2] == '&' {
				tampered[len(tampered)/2] = 'A'
			}
			r = s.gwDo("GET", "/api/v1/chantiers?limit=3&cursor="+string(tampered), nil, bearer(key)...)
			if r.status != 400 || !strings.HasPrefix(r.header.Get("Content-Type"), "application/problem+json") {
				t.Fatalf("tampered cursor: want 400 problem, got %d %s %s", r.status, r.header.Get("Content-Type"), r.body)
			}

			// Rotation: the new secret works, and the old one keeps working (grace).
			r = s.gwDo("POST", "/api/auth/api-keys/"+id+"/rotate", nil, bearer(jwt)...)
			if r.status != 200 {
				t.Fatalf("rotate: %d %s", r.status, r.body)
			}
			newKey, _ := r.json(t)["key"].(string)
			if newKey == "" || newKey == key || !strings.HasPrefix(newKey, "hbc_"+id+"_") {
				t.Fatalf("rotate: bad new key in %s", r.body)
			}
			for _, k := range []string{newKey, key} {
				if r := s.gwDo("GET", "/api/v1/chantiers?limit=1", nil, bearer(k)...); r.status != 200 {
					t.Fatalf("after rotation, key %s…: %d %s", k[:20], r.status, r.body)
				}
			}

			// Revocation: refused at the gateway within a second.
			r = s.gwDo("DELETE", "/api/auth/api-keys/"+id, nil, bearer(jwt)...)
			if r.status != 204 {
				t.Fatalf("revoke: %d %s", r.status, r.body)
			}
			took := eventually(t, time.Second, "revoked key refused", func() bool {
				return s.gwDo("GET", "/api/v1/chantiers?limit=1", nil, bearer(newKey)...).status == 401
			})
			t.Logf("revoked key refused after %s", took)
			r = s.gwDo("GET", "/api/v1/chantiers?limit=1", nil, bearer(key)...)
			if r.status != 401 || !strings.Contains(r.header.Get("WWW-Authenticate"), `error="invalid_token"`) {
				t.Fatalf("old secret after revocation: %d %q %s", r.status, r.header.Get("WWW-Authenticate"), r.body)
			}

			// Scope: a read-only key cannot write.
			_, roKey := s.createKey(jwt, map[string]any{"name": "ro", "scopes": []string{"chantiers:read"}})
			if r := s.gwDo("GET", "/api/v1/chantiers?limit=1", nil, bearer(roKey)...); r.status != 200 {
				t.Fatalf("read with chantiers:read: %d %s", r.status, r.body)
			}
			r = s.gwDo("POST", "/api/v1/chantiers", map[string]any{"nom": "Nouveau"}, bearer(roKey)...)
			if r.status != 403 || !strings.Contains(r.header.Get("WWW-Authenticate"), "insufficient_scope") {
				t.Fatalf("write with read key: want 403 insufficient_scope, got %d %q %s", r.status, r.header.Get("WWW-Authenticate"), r.body)
			}
			if r := s.gwDo("GET", "/api/v1/pointages?limit=1", nil, bearer(roKey)...); r.status != 403 {
				t.Fatalf("other resource with chantiers:read: want 403, got %d", r.status)
			}

			// IP allowlist: loopback allowed, another network denied.
			_, okKey := s.createKey(jwt, map[string]any{"name": "lo", "scopes": []string{"read"}, "ip_whitelist": []string{"127.0.0.0/8", "::1"}})
			if r := s.gwDo("GET", "/api/v1/chantiers?limit=1", nil, bearer(okKey)...); r.status != 200 {
				t.Fatalf("allowlisted IP: %d %s", r.status, r.body)
			}
			_, denyKey := s.createKey(jwt, map[string]any{"name": "lan", "scopes": []string{"read"}, "ip_whitelist": []string{"10.0.0.0/8", "2001:db8::/32"}})
			r = s.gwDo("GET", "/api/v1/chantiers?limit=1", nil, bearer(denyKey)...)
			if r.status != 403 || r.json(t)["type"] != "urn:hubchantier:problem:ip-not-allowed" {
				t.Fatalf("non-allowlisted IP: want 403 ip-not-allowed, got %d %s", r.status, r.body)
			}
		})
	}
}

// TestRejections checks the answers to bad or missing credentials, forged
// identity headers and direct upstream access.
func TestRejections(t *testing.T) {
	s := newStack(t, backends[0])
	s.createUser("bob@example.com", "ouvrier")

	cases := []struct {
		name       string
		headers    []string
		wantStatus int
		wantAuth   string
	}{
		{"none", nil, 401, `Bearer realm="hubgate"`},
		{"garbage key", bearer("hbc_garbage"), 401, `error="invalid_token"`},
		{"unknown key", bearer("hbc_aaaaaaaaaaaa_" + strings.Repeat("A", 43)), 401, `error="invalid_token"`},
		{"garbage jwt", bearer("a.b.c"), 401, `error="invalid_token"`},
		{"both headers", []string{"Authorization", "Bearer x", "X-API-Key", "y"}, 400, `error="invalid_request"`},
		{"forged identity", []string{assertion.Header, "eyJzdWIiOiIxIn0.AAAA"}, 401, `Bearer realm="hubgate"`},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			r := s.gwDo("GET", "/api/v1/chantiers", nil, c.headers...)
			if r.status != c.wantStatus {
				t.Fatalf("status %d, want %d: %s", r.status, c.wantStatus, r.body)
			}
			if !strings.Contains(r.header.Get("WWW-Authenticate"), c.wantAuth) {
				t.Fatalf("WWW-Authenticate %q lacks %q", r.header.Get("WWW-Authenticate"), c.wantAuth)
			}
			var p map[string]any
			if err := json.Unmarshal(r.body, &p); err != nil || !strings.HasPrefix(r.header.Get("Content-Type"), "application/problem+json") || p["status"] != float64(c.wantStatus) {
				t.Fatalf("not a problem document: %s %s", r.header.Get("Content-Type"), r.body)
			}
		})
	}

	t.Run("wrong password and unknown email answer alike", func(t *testing.T) {
		a := s.gwDo("POST", "/api/auth/login", map[string]string{"email": "bob@example.com", "password": "wrong-password"})
		b := s.gwDo("POST", "/api/auth/login", map[string]string{"email": "nobody@example.com", "password": "wrong-password"})
		if a.status != 401 || b.status != 401 {
			t.Fatalf("statuses %d %d", a.status, b.status)
		}
		pa, pb := a.json(t), b.json(t)
		delete(pa, "instance")
		delete(pb, "instance")
		ja, _ := json.Marshal(pa)
		jb, _ := json.Marshal(pb)
		if string(ja) != string(jb) {
			t.Fatalf("answers differ:\n%s\n%s", ja, jb)
		}
	})

	t.Run("upstream refuses direct and forged requests", func(t *testing.T) {
		direct := "http://" + s.up.Addr + "/api/v1/chantiers"
		if r := s.do("GET", direct, nil); r.status != 401 {
			t.Fatalf("direct without assertion: %d", r.status)
		}
		forged, _ := assertion.Sign([]byte("not-the-shared-secret-but-long-enough!!"), assertion.Claims{Subject: "1", Role: "admin", Method: "jwt", HTTPMethod: "GET"}, time.Now())
		if r := s.do("GET", direct, nil, assertion.Header, forged, "X-Hub-User", "1"); r.status != 401 {
			t.Fatalf("direct with forged assertion: %d", r.status)
		}
	})

	t.Run("internal endpoints are not routed", func(t *testing.T) {
		r := s.gwDo("POST", "/internal/introspect", map[string]string{"key_id": "x"}, "Authorization", "Bearer "+s.secret)
		if r.status != 404 {
			t.Fatalf("/internal through the gateway: %d %s", r.status, r.body)
		}
	})

	t.Run("request id is the gateway's", func(t *testing.T) {
		// Issue 10: never the client's (kept apart, see TestAuditHardeningE2E).
		r := s.gwDo("GET", "/api/v1/chantiers", nil, "X-Request-Id", "trace-123")
		if got := r.header.Get("X-Request-Id"); got == "" || got == "trace-123" {
			t.Fatalf("X-Request-Id %q", got)
		}
		r = s.gwDo("GET", "/api/v1/chantiers", nil, "X-Request-Id", "bad id\twith spaces")
		if got := r.header.Get("X-Request-Id"); got == "" || strings.Contains(got, " ") {
			t.Fatalf("X-Request-Id %q", got)
		}
	})

	t.Run("key creation needs a user token", func(t *testing.T) {
		jwt := s.login("bob@example.com", "correct-horse-battery")
		_, key := s.createKey(jwt, map[string]any{"name": "k", "scopes": []string{"read"}})
		r := s.gwDo("POST", "/api/auth/api-keys", map[string]any{"name": "k2", "scopes": []string{"read"}}, bearer(key)...)
		if r.status != 403 {
			t.Fatalf("key creating a key: %d %s", r.status, r.body)
		}
		// An ouvrier cannot mint a broader key than their role allows.
		r = s.gwDo("POST", "/api/auth/api-keys", map[string]any{"name": "w", "scopes": []string{"write"}}, bearer(jwt)...)
		if r.status != 400 && r.status != 403 {
			t.Fatalf("scope escalation: %d %s", r.status, r.body)
		}
	})
}

// TestUpstreamDown: with nothing cached, auth answers 503 + Retry-After,
// never lets the request through.
func TestUpstreamDown(t *testing.T) {
	s := newStack(t, backends[0])
	s.up.Stop()
	r := s.gwDo("GET", "/api/v1/chantiers", nil, bearer("hbc_aaaaaaaaaaaa_"+strings.Repeat("B", 43))...)
	if r.status != http.StatusServiceUnavailable || r.header.Get("Retry-After") == "" {
		t.Fatalf("want 503 with Retry-After, got %d %v %s", r.status, r.header, r.body)
	}
}

// TestRevocationAcrossInstances: a key revoked through gateway A is refused
// by gateway B (its own caches, same upstream) within a second.
func TestRevocationAcrossInstances(t *testing.T) {
	s := newStack(t, backends[0])
	s.createUser("carol@example.com", "conducteur")
	jwt := s.login("carol@example.com", "correct-horse-battery")
	id, key := s.createKey(jwt, map[string]any{"name": "k", "scopes": []string{"read"}})

	b, err := harness.StartGateway(harness.GatewayOptions{Upstream: s.up.Addr, Secret: s.secret, Dir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(b.Stop)
	// Warm both instances' caches.
	for _, base := range []string{s.gw.URL, b.URL} {
		if r := s.do("GET", base+"/api/v1/chantiers?limit=1", nil, bearer(key)...); r.status != 200 {
			t.Fatalf("warm-up through %s: %d %s", base, r.status, r.body)
		}
	}
	if r := s.gwDo("DELETE", "/api/auth/api-keys/"+id, nil, bearer(jwt)...); r.status != 204 {
		t.Fatalf("revoke: %d %s", r.status, r.body)
	}
	took := eventually(t, time.Second, "revoked key refused by the other instance", func() bool {
		return s.do("GET", b.URL+"/api/v1/chantiers?limit=1", nil, bearer(key)...).status == 401
	})
	t.Logf("instance B refused the revoked key after %s", took)
}
