package integration

import (
	"io"
	"net/http"
	"os"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/hubchantier/hubgate/integration/harness"
)

// TestUpstreamMetrics: with HUB_METRICS_ADDR the upstream serves its own
// Prometheus metrics: requests by route pattern (a request through the
// gateway shows up under its pattern, a direct one without an assertion as
// rejected), and the database pool. Every metric docs/upstream.md names
// is exported.
func TestUpstreamMetrics(t *testing.T) {
	if testing.Short() {
		t.Skip("end-to-end test skipped in -short mode")
	}
	port, err := harness.FreePort()
	if err != nil {
		t.Fatal(err)
	}
	maddr := "127.0.0.1:" + strconv.Itoa(port)
	secret := harness.NewSecret()
	up, err := harness.StartUpstream(harness.UpstreamOptions{Secret: secret, Dir: t.TempDir(), ExtraEnv: []string{"HUB_METRICS_ADDR=" + maddr}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(up.Stop)
	gw, err := harness.StartGateway(harness.GatewayOptions{Upstream: up.Addr, Secret: secret, Dir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(gw.Stop)
	s := &stack{t: t, up: up, gw: gw, secret: secret, client: &http.Client{Timeout: 15 * time.Second}}
	s.createUser("admin@example.com", "admin")
	s.cli("seed")
	jwt := s.login("admin@example.com", "correct-horse-battery")
	if r := s.gwDo("GET", "/api/v1/chantiers/1", nil, bearer(jwt)...); r.status != 200 {
		t.Fatalf("GET through the gateway: %d %s", r.status, r.body)
	}
	if r := s.do("GET", "http://"+up.Addr+"/api/v1/chantiers/1", nil); r.status != 401 {
		t.Fatalf("direct GET without an assertion: %d", r.status)
	}
	resp, err := http.Get("http://" + maddr + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	text := string(body)
	for _, want := range []string{
		`hubchantier_http_requests_total{method="GET",route="GET /api/v1/chantiers/{id}",status="200"} 1`,
		`hubchantier_http_requests_total{method="GET",route="rejected",status="401"} 1`,
		`go_sql_max_open_connections{db_name="hubchantier"}`,
		`hubchantier_outbox_events_undispatched `,
		`hubchantier_outbox_deliveries_pending `,
	} {
		if !strings.Contains(text, want) {
			t.Errorf("metrics lack %s", want)
		}
	}
	doc, err := os.ReadFile(harness.RepoRoot() + "/docs/upstream.md")
	if err != nil {
		t.Fatal(err)
	}
	_, section, _ := strings.Cut(string(doc), "## Metrics")
	section, _, _ = strings.Cut(section, "\n## ")
	for _, m := range regexp.MustCompile("`((?:hubchantier|go_sql)_[a-z_]+)`").FindAllStringSubmatch(section, -1) {
		if !regexp.MustCompile(`(?m)^` + m[1] + `(_bucket|_count)?[{ ]`).MatchString(text) {
			t.Errorf("docs/upstream.md names %s, not exported", m[1])
		}
	}
}
