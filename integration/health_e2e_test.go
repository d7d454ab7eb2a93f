package integration

import (
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/hubchantier/hubgate/integration/harness"
)

// TestGatewayHealth: /healthz/gateway is the gateway's own health (store
// and audit journal), public and without details; the metrics listener's
// /healthz gives each failing check's reason. A gateway whose shared store
// is down answers 503 unhealthy on both.
func TestGatewayHealth(t *testing.T) {
	s := newStack(t, backends[1]) // Redis store
	get := func(url string) response { return s.do("GET", url, nil) }
	r := get(s.gw.URL + "/healthz/gateway")
	m := r.json(t)
	if r.status != 200 || m["status"] != "ok" || !strings.Contains(string(r.body), `"journal":"ok"`) || !strings.Contains(string(r.body), `"store":"ok"`) {
		t.Fatalf("healthy gateway: %d %s", r.status, r.body)
	}
	if r := get(strings.TrimSuffix(s.gw.MetricsURL, "/metrics") + "/healthz"); r.status != 200 {
		t.Fatalf("metrics listener /healthz: %d %s", r.status, r.body)
	}

	// The same upstream, a gateway whose Redis is unreachable.
	bad, err := harness.StartGateway(harness.GatewayOptions{Upstream: s.up.Addr, Secret: s.secret, Dir: t.TempDir(),
		RedisURL: "redis://127.0.0.1:1/0"})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(bad.Stop)
	client := &http.Client{Timeout: 15 * time.Second}
	s.client = client
	r = get(bad.URL + "/healthz/gateway")
	p := reprProblem(t, r, 503, "unhealthy")
	checks, _ := p["checks"].(map[string]any)
	if checks["store"] != "failing" || checks["journal"] != "ok" {
		t.Fatalf("public health of a gateway without its store: %s", r.body)
	}
	r = get(strings.TrimSuffix(bad.MetricsURL, "/metrics") + "/healthz")
	p = reprProblem(t, r, 503, "unhealthy")
	if st, _ := p["checks"].(map[string]any)["store"].(string); st == "failing" || st == "ok" || st == "" {
		t.Fatalf("the metrics listener does not say why: %s", r.body)
	}
}
