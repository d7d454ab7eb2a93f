package integration

import (
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/hubchantier/hubgate/integration/harness"
)

// TestSecretRollover: HUB_GATEWAY_SECRET changes without downtime. The
// upstream signs with A and accepts B (HUB_GATEWAY_SECRET_ACCEPT); a
// gateway still on A and one already on B (accepting A) both serve keys
// and JWTs, both ship their audit records and signed checkpoints (and
// `audit verify` holds), and the login of the gateway on B is still
// attributed to the account the upstream sealed with A. A gateway on a
// secret neither side accepts serves nothing.
func TestSecretRollover(t *testing.T) {
	if testing.Short() {
		t.Skip("end-to-end test skipped in -short mode")
	}
	a, b, c := harness.NewSecret(), harness.NewSecret(), harness.NewSecret()
	dir := t.TempDir()
	up, err := harness.StartUpstream(harness.UpstreamOptions{Secret: a, Dir: dir, ExtraEnv: []string{"HUB_GATEWAY_SECRET_ACCEPT=" + b}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		up.Stop()
		if t.Failed() {
			t.Logf("upstream log tail:\n%s", up.Tail(3000))
		}
	})
	gateway := func(secret string, env ...string) *harness.Gateway {
		t.Helper()
		gw, err := harness.StartGateway(harness.GatewayOptions{Upstream: up.Addr, Secret: secret, Dir: t.TempDir(), ExtraEnv: env})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() {
			gw.Stop()
			if t.Failed() {
				t.Logf("gateway log tail:\n%s", gw.Tail(3000))
			}
		})
		return gw
	}
	gwA := gateway(a)
	gwB := gateway(b, "HUB_GATEWAY_SECRET_ACCEPT="+a)
	gwC := gateway(c)
	s := &stack{t: t, up: up, gw: gwA, secret: a, client: &http.Client{Timeout: 15 * time.Second}}
	s.createUser("admin@example.com", "admin")
	adminJWT := s.login("admin@example.com", "correct-horse-battery")
	_, key := s.createKey(adminJWT, map[string]any{"name": "rollover", "scopes": []string{"read", "write", "admin"}})

	via := func(gw *harness.Gateway, method, path string, body any, headers ...string) response {
		t.Helper()
		return s.do(method, gw.URL+path, body, headers...)
	}
	for name, gw := range map[string]*harness.Gateway{"A": gwA, "B": gwB} {
		if r := via(gw, "GET", "/api/v1/chantiers", nil, bearer(key)...); r.status != 200 {
			t.Fatalf("gateway %s, API key: %d %s", name, r.status, r.body)
		}
		if r := via(gw, "GET", "/api/v1/chantiers", nil, bearer(adminJWT)...); r.status != 200 {
			t.Fatalf("gateway %s, JWT: %d %s", name, r.status, r.body)
		}
	}
	if r := via(gwC, "GET", "/api/v1/chantiers", nil, bearer(key)...); r.status == 200 {
		t.Fatalf("a gateway on an unaccepted secret was served: %d %s", r.status, r.body)
	}

	// A login through B: the upstream seals the account with A, B opens it.
	login := via(gwB, "POST", "/api/auth/login", map[string]string{"email": "admin@example.com", "password": "correct-horse-battery"})
	rid := login.header.Get("X-Request-Id")
	if login.status != 200 || rid == "" {
		t.Fatalf("login through B: %d %s (request id %q)", login.status, login.body, rid)
	}
	var recs []map[string]any
	deadline := time.Now().Add(30 * time.Second)
	for len(recs) == 0 && time.Now().Before(deadline) {
		time.Sleep(200 * time.Millisecond)
		recs = s.auditRecords(bearer(key), rid)
	}
	if len(recs) != 1 {
		t.Fatalf("the login through gateway B was not shipped: %v", recs)
	}
	if uid, _ := recs[0]["attempted_user_id"].(string); uid == "" {
		t.Errorf("login through B not attributed to its account: %v", recs[0])
	}
	if out := s.cli("audit", "verify"); !strings.Contains(out, "ok: every chain holds") {
		t.Fatalf("audit verify during the rollover: %s", out)
	}
}
