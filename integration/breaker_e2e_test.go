package integration

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/hubchantier/hubgate/integration/harness"
)

// breakerCaddyfile is a gateway with only the breaker (and hub_metrics) in
// front of a test upstream: 3 failures in a row open it for 3 s.
// The hub app is there for its route vocabulary only (the endpoint label);
// its internal calls go to a closed loopback port, never to the test
// upstream, whose hits are counted.
const breakerCaddyfile = `{
	admin {$HUB_ADMIN_LISTEN}
	hub {
		upstream http://127.0.0.1:1
		secret {env.HUB_GATEWAY_SECRET}
		routes configs/hub-routes.json
	}
}
http://{$HUB_LISTEN} {
	hub_metrics
	hub_reverse_proxy {$HUB_UPSTREAM} {
		circuit_breaker hub {
			name e2e
			consecutive_failures 3
			open_timeout 3s
		}
	}
	handle_errors {
		hub_breaker_error e2e
		respond "other error" {err.status_code}
	}
}
http://{$HUB_METRICS_LISTEN} {
	metrics /metrics
}
`

// flakyUpstream answers /healthz with 200 and everything else with 500
// while failing is set; hits counts the non-health requests it saw.
type flakyUpstream struct {
	failing atomic.Bool
	hits    atomic.Int64
}

func (f *flakyUpstream) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if r.URL.Path == "/healthz" {
		w.WriteHeader(200)
		return
	}
	f.hits.Add(1)
	if f.failing.Load() {
		http.Error(w, "upstream broken", 500)
		return
	}
	w.Header().Set("Content-Type", "application/json")
	_, _ = w.Write([]byte(`{"ok":true}`))
}

// TestBreakerE2E: a failing upstream trips the breaker; while open the
// gateway answers 503 + Retry-After without touching the upstream; after
// open_timeout a probe goes through and, the upstream healed, traffic flows.
func TestBreakerE2E(t *testing.T) {
	if testing.Short() {
		t.Skip("end-to-end test skipped in -short mode")
	}
	up := &flakyUpstream{}
	srv := httptest.NewServer(up) // loopback
	defer srv.Close()
	dir := t.TempDir()
	cfg := filepath.Join(dir, "Caddyfile")
	if err := os.WriteFile(cfg, []byte(breakerCaddyfile), 0o600); err != nil {
		t.Fatal(err)
	}
	gw, err := harness.StartGateway(harness.GatewayOptions{
		Upstream: strings.TrimPrefix(srv.URL, "http://"), Secret: harness.NewSecret(), Dir: dir, Caddyfile: cfg,
	})
	if err != nil {
		t.Fatal(err)
	}
	defer func() {
		gw.Stop()
		if t.Failed() {
			t.Logf("gateway log tail:\n%s", gw.Tail(4000))
		}
	}()
	client := &http.Client{Timeout: 15 * time.Second}
	get := func() (*http.Response, []byte) {
		t.Helper()
		resp, err := client.Get(gw.URL + "/api/v1/chantiers")
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		var b strings.Builder
		buf := make([]byte, 4096)
		for {
			n, err := resp.Body.Read(buf)
			b.Write(buf[:n])
			if err != nil {
				break
			}
		}
		return resp, []byte(b.String())
	}
	const openTimeout = 3 * time.Second

	up.failing.Store(true)
	var lastFailureSent time.Time
	for i := range 3 {
		lastFailureSent = time.Now()
		if resp, body := get(); resp.StatusCode != 500 {
			t.Fatalf("failure %d: status %d %s, want the upstream's 500", i, resp.StatusCode, body)
		}
	}
	hits := up.hits.Load()
	for i := range 20 {
		sent := time.Now()
		resp, body := get()
		if resp.StatusCode != 503 {
			// Only legitimate once open_timeout has passed: a probe.
			if sent.Sub(lastFailureSent) < openTimeout {
				t.Fatalf("request %d while open: status %d %s", i, resp.StatusCode, body)
			}
			t.Logf("machine slow: open_timeout passed during the check, stopping at request %d", i)
			break
		}
		ra, err := strconv.Atoi(resp.Header.Get("Retry-After"))
		if err != nil || ra < 1 || ra > 3 {
			t.Fatalf("Retry-After %q, want 1..3 (seconds to the probe)", resp.Header.Get("Retry-After"))
		}
		var p map[string]any
		if resp.Header.Get("Content-Type") != "application/problem+json" || json.Unmarshal(body, &p) != nil ||
			p["type"] != "urn:hubchantier:problem:upstream-unavailable" || p["status"] != float64(503) {
			t.Fatalf("503 answer: %s %s", resp.Header.Get("Content-Type"), body)
		}
		if got := up.hits.Load(); got != hits {
			t.Fatalf("the upstream was hit while the breaker was open (%d → %d)", hits, got)
		}
	}
	if m := scrape(t, gw.MetricsURL); !strings.Contains(m, `hub_circuit_breaker_state{upstream="e2e"} 2`) &&
		time.Since(lastFailureSent) < openTimeout {
		t.Fatalf("metrics do not show the breaker open:\n%s", grepLines(m, "hub_circuit_breaker_state"))
	}

	// Heal the upstream: after open_timeout, a probe succeeds and closes it.
	up.failing.Store(false)
	eventually(t, 30*time.Second, "traffic flows again", func() bool {
		resp, _ := get()
		return resp.StatusCode == 200
	})
	for i := range 5 {
		if resp, body := get(); resp.StatusCode != 200 {
			t.Fatalf("after recovery, request %d: %d %s", i, resp.StatusCode, body)
		}
	}
	m := scrape(t, gw.MetricsURL)
	if !strings.Contains(m, `hub_circuit_breaker_state{upstream="e2e"} 0`) {
		t.Fatalf("metrics do not show the breaker closed:\n%s", grepLines(m, "hub_circuit_breaker_state"))
	}
	if !strings.Contains(m, `api_requests_total{endpoint="/api/v1/chantiers",method="GET",status="503"}`) {
		t.Fatalf("hub_metrics did not count the 503s:\n%s", grepLines(m, "api_requests_total"))
	}
	for _, want := range []string{`"from":"closed","to":"open"`, `"from":"open","to":"half-open"`, `"from":"half-open","to":"closed"`} {
		if !strings.Contains(gw.Tail(1<<20), want) {
			t.Errorf("gateway log lacks the transition %s", want)
		}
	}
}

// scrape GETs a metrics URL and returns the text.
func scrape(t *testing.T, url string) string {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var b strings.Builder
	buf := make([]byte, 32<<10)
	for {
		n, err := resp.Body.Read(buf)
		b.Write(buf[:n])
		if err != nil {
			break
		}
	}
	if resp.StatusCode != 200 {
		t.Fatalf("scrape %s: %d %s", url, resp.StatusCode, b.String())
	}
	return b.String()
}

// grepLines returns the lines of s containing sub.
func grepLines(s, sub string) string {
	var out []string
	for _, l := range strings.Split(s, "\n") {
		if strings.Contains(l, sub) {
			out = append(out, l)
		}
	}
	return strings.Join(out, "\n")
}
