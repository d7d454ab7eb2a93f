package integration

import (
	"bytes"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	_ "github.com/caddyserver/caddy/v2/modules/standard"
	"github.com/prometheus/client_golang/prometheus"
	"gopkg.in/yaml.v3"

	_ "github.com/hubchantier/hubgate"
	"github.com/hubchantier/hubgate/integration/harness"
	"github.com/hubchantier/hubgate/internal/testutil"
	"github.com/hubchantier/hubgate/modules/hub"
)

// notBuiltYet lists metrics that alert rules or dashboards may name although
// no module exports them yet. Each entry names its module; remove it when
// the module lands. Nothing else may be listed here.
var notBuiltYet = map[string]string{}

// prometheusSynthetic are series Prometheus itself adds to every target.
var prometheusSynthetic = map[string]bool{"up": true, "scrape_duration_seconds": true, "scrape_samples_scraped": true}

// TestMetricsE2E drives a real gateway (default Caddyfile) and checks its
// /metrics: the hub series, the allowlisted listener, promtool's lint,
// bounded series under 1,000 distinct ids, and that every metric the shipped
// dashboards and alert rules name is exported.
func TestMetricsE2E(t *testing.T) {
	s := metricsStack(t)
	s.createUser("metrics@example.com", "admin")
	jwt := s.login("metrics@example.com", "correct-horse-battery")
	_, key := s.createKey(jwt, map[string]any{"name": "metrics", "scopes": []string{"read", "write"}})

	// Some traffic of every kind.
	for range 3 {
		if r := s.gwDo("GET", "/api/v1/chantiers?limit=2", nil, bearer(key)...); r.status != 200 {
			t.Fatalf("list: %d %s", r.status, r.body)
		}
	}
	s.gwDo("GET", "/api/v1/chantiers", nil)                                  // 401 missing
	s.gwDo("GET", "/api/v1/chantiers", nil, bearer("hbc_notarealkey_xx")...) // 401 invalid
	s.gwDo("GET", "/internal/revocations", nil)                              // 404
	s.gwDo("GET", "/healthz", nil)

	m := scrape(t, s.gw.MetricsURL)
	for _, want := range []string{
		`api_requests_total{endpoint="/api/v1/chantiers",method="GET",status="200"} 3`,
		`api_requests_total{endpoint="/api/v1/chantiers",method="GET",status="401"} 2`,
		`api_requests_total{endpoint="other",method="GET",status="404"} 1`,
		`api_request_duration_seconds_bucket{endpoint="/api/v1/chantiers",method="GET",le="+Inf"}`,
		`hub_auth_failures_total{reason="missing"} 1`,
		`hub_circuit_breaker_state{upstream="upstream"} 0`,
		"active_api_keys 1",
		"api_cache_hits_total",
	} {
		if !strings.Contains(m, want) {
			t.Errorf("/metrics lacks %s", want)
		}
	}
	if t.Failed() {
		t.Fatalf("hub series:\n%s", grepLines(m, "api_")+"\n"+grepLines(m, "hub_"))
	}

	t.Run("not on the public listener", func(t *testing.T) {
		for _, h := range [][]string{nil, bearer(key)} {
			r := s.gwDo("GET", "/metrics", nil, h...)
			if r.status == 200 || bytes.Contains(r.body, []byte("# TYPE")) || bytes.Contains(r.body, []byte("api_requests_total")) {
				t.Fatalf("GET /metrics on the API port: %d %.200s", r.status, r.body)
			}
		}
	})

	t.Run("promtool check metrics", func(t *testing.T) {
		promtool := needPromtool(t)
		cmd := exec.Command(promtool, "check", "metrics")
		cmd.Stdin = strings.NewReader(m)
		out, err := cmd.CombinedOutput()
		if err != nil {
			t.Fatalf("promtool check metrics: %v\n%s", err, out)
		}
	})

	t.Run("1000 distinct ids keep api_requests_total flat", func(t *testing.T) {
		paths := func(id string) []string {
			return []string{"/api/v1/chantiers/" + id, "/api/v1/pointages/" + id, "/api/v1/documents/" + id + "/x",
				"/api/v1/" + id, "/" + id, "/api/auth/api-keys/" + id}
		}
		methods := []string{"GET", "DELETE", "BREW" + randomID()[:4]}
		send := func(n int) {
			var wg sync.WaitGroup
			work := make(chan int)
			for range 8 {
				wg.Add(1)
				go func() {
					defer wg.Done()
					c := &http.Client{Timeout: 15 * time.Second}
					for i := range work {
						id := randomID()
						ps := paths(id)
						method := methods[i%len(methods)]
						if method != "GET" && method != "DELETE" {
							method = "BREW" + id[:4] // a new method every time
						}
						req, _ := http.NewRequest(method, s.gw.URL+ps[i%len(ps)], nil)
						req.Header.Set("Authorization", "Bearer "+key)
						if resp, err := c.Do(req); err == nil {
							resp.Body.Close()
						}
					}
				}()
			}
			for i := range n {
				work <- i
			}
			close(work)
			wg.Wait()
		}
		send(90) // every path × method combination, several times
		before := seriesOf(scrape(t, s.gw.MetricsURL), "api_requests_total")
		send(1000)
		after := seriesOf(scrape(t, s.gw.MetricsURL), "api_requests_total")
		if len(after) != len(before) {
			var added []string
			for k := range after {
				if !before[k] {
					added = append(added, k)
				}
			}
			sort.Strings(added)
			t.Fatalf("api_requests_total went from %d to %d series; new: %v", len(before), len(after), added)
		}
		if len(after) > 100 {
			t.Fatalf("%d series for a handful of endpoints", len(after))
		}
	})

	t.Run("dashboards and rules name exported metrics", func(t *testing.T) {
		exported := exportedNames(scrape(t, s.gw.MetricsURL))
		used := configMetricNames(t)
		if len(used) < 10 {
			t.Fatalf("found only %d metric names in configs/: the parser is broken", len(used))
		}
		for name, where := range used {
			switch {
			case exported[name], prometheusSynthetic[name]:
			case notBuiltYet[name] != "":
				t.Logf("%s (%s) is allowed: %s", name, where, notBuiltYet[name])
			default:
				t.Errorf("%s names %s, which the gateway does not export", where, name)
			}
		}
		for name := range notBuiltYet {
			if exported[name] {
				t.Errorf("%s is exported now: remove it from notBuiltYet", name)
			}
		}
	})
}

// metricsStack is newStack (sqlite + memory) with a rate limit high enough
// for the load of these tests.
func metricsStack(t *testing.T) *stack {
	t.Helper()
	if testing.Short() {
		t.Skip("end-to-end test skipped in -short mode")
	}
	dir := t.TempDir()
	secret := harness.NewSecret()
	up, err := harness.StartUpstream(harness.UpstreamOptions{Secret: secret, Dir: dir})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(up.Stop)
	gw, err := harness.StartGateway(harness.GatewayOptions{Upstream: up.Addr, Secret: secret, Dir: dir,
		ExtraEnv: []string{"HUB_RATE_LIMIT=1000000/hour"}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		gw.Stop()
		if t.Failed() {
			t.Logf("gateway log tail:\n%s", gw.Tail(3000))
		}
	})
	return &stack{t: t, up: up, gw: gw, secret: secret, client: &http.Client{Timeout: 15 * time.Second}}
}

func randomID() string {
	b := make([]byte, 8)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}

// seriesOf returns the label sets of metric name in an exposition.
func seriesOf(text, name string) map[string]bool {
	out := map[string]bool{}
	for _, l := range strings.Split(text, "\n") {
		if strings.HasPrefix(l, name+"{") {
			out[l[:strings.LastIndexByte(l, '}')+1]] = true
		}
	}
	return out
}

// exportedNames is every metric name of a scrape, plus every name the hub
// collectors describe (a vector with no series yet is absent from a scrape),
// histogram suffixes included.
func exportedNames(text string) map[string]bool {
	names := map[string]bool{}
	for _, l := range strings.Split(text, "\n") {
		if strings.HasPrefix(l, "# TYPE ") || strings.HasPrefix(l, "# HELP ") {
			continue
		}
		if m := metricNameRe.FindString(l); m != "" && !strings.HasPrefix(l, "#") {
			names[m] = true
		}
	}
	descs := make(chan *prometheus.Desc, 64)
	go func() {
		for _, c := range hub.GetMetrics().Collectors() {
			c.Describe(descs)
		}
		close(descs)
	}()
	fq := regexp.MustCompile(`fqName: "([^"]+)"`)
	for d := range descs {
		if m := fq.FindStringSubmatch(d.String()); m != nil {
			for _, suffix := range []string{"", "_bucket", "_sum", "_count"} {
				names[m[1]+suffix] = true
			}
		}
	}
	return names
}

var metricNameRe = regexp.MustCompile(`^[a-zA-Z_:][a-zA-Z0-9_:]*`)

// configMetricNames returns metric name → where it is used, for every
// PromQL expression of configs/alerts.yml and configs/grafana/*.json.
func configMetricNames(t *testing.T) map[string]string {
	t.Helper()
	root := harness.RepoRoot()
	used := map[string]string{}
	b, err := os.ReadFile(filepath.Join(root, "configs", "alerts.yml"))
	if err != nil {
		t.Fatal(err)
	}
	var rules struct {
		Groups []struct {
			Rules []struct {
				Alert, Record, Expr string
			}
		}
	}
	if err := yaml.Unmarshal(b, &rules); err != nil {
		t.Fatal(err)
	}
	// Series made by recording rules are not the gateway's to export.
	recorded := map[string]bool{}
	for _, g := range rules.Groups {
		for _, r := range g.Rules {
			if r.Record != "" {
				recorded[r.Record] = true
			}
		}
	}
	for _, g := range rules.Groups {
		for _, r := range g.Rules {
			for _, n := range promqlMetricNames(r.Expr) {
				if !recorded[n] {
					used[n] = "alerts.yml " + r.Alert + r.Record
				}
			}
		}
	}
	for _, d := range loadDashboards(t) {
		for _, p := range d.Panels {
			for _, tg := range p.Targets {
				for _, n := range promqlMetricNames(tg.Expr) {
					used[n] = fmt.Sprintf("%s panel %q", d.File, p.Title)
				}
			}
		}
	}
	return used
}

var (
	promqlStrings  = regexp.MustCompile(`"(?:[^"\\]|\\.)*"`)
	promqlMatchers = regexp.MustCompile(`\{[^}]*\}`)
	promqlRanges   = regexp.MustCompile(`\[[^\]]*\]`)
	promqlGrouping = regexp.MustCompile(`\b(?:by|without|on|ignoring|group_left|group_right)\s*\([^)]*\)`)
	promqlNumbers  = regexp.MustCompile(`\b\d[\w.]*`)
	promqlIdent    = regexp.MustCompile(`[a-zA-Z_:][a-zA-Z0-9_:]*\s*\(?`)
	promqlKeywords = map[string]bool{"and": true, "or": true, "unless": true, "offset": true, "bool": true,
		"inf": true, "nan": true, "by": true, "without": true, "on": true, "ignoring": true,
		"group_left": true, "group_right": true}
)

// promqlMetricNames extracts the metric names of a PromQL expression: the
// identifiers left once strings, label matchers, ranges, grouping
// clauses and numbers are removed, minus function calls and keywords.
func promqlMetricNames(expr string) []string {
	e := promqlStrings.ReplaceAllString(expr, `""`)
	e = promqlMatchers.ReplaceAllString(e, " ")
	e = promqlRanges.ReplaceAllString(e, " ")
	e = promqlGrouping.ReplaceAllString(e, " ")
	e = promqlNumbers.ReplaceAllString(e, " ") // 0.95, 1d
	var out []string
	for _, id := range promqlIdent.FindAllString(e, -1) {
		if strings.HasSuffix(id, "(") {
			continue // a function
		}
		id = strings.TrimSpace(id)
		if promqlKeywords[strings.ToLower(id)] {
			continue
		}
		out = append(out, id)
	}
	return out
}

func TestPromQLMetricNames(t *testing.T) {
	tests := []struct {
		expr string
		want []string
	}{
		{`sum by (endpoint) (rate(api_requests_total{status=~"5..",x="a{b}"}[5m]))`, []string{"api_requests_total"}},
		{`histogram_quantile(0.95, sum by (le) (rate(api_request_duration_seconds_bucket[5m])))`, []string{"api_request_duration_seconds_bucket"}},
		{"a_total / on(instance) group_left b_total > 0.5 and c unless d offset 1d", []string{"a_total", "b_total", "c", "d"}},
		{`max by (instance, upstream) (hub_circuit_breaker_state) == 2`, []string{"hub_circuit_breaker_state"}},
		{`up{job="hubgate"} == 0`, []string{"up"}},
	}
	for _, tt := range tests {
		if got := promqlMetricNames(tt.expr); strings.Join(got, ",") != strings.Join(tt.want, ",") {
			t.Errorf("%s: got %v, want %v", tt.expr, got, tt.want)
		}
	}
}

// needPromtool returns promtool's path; without it the test is skipped
// with a notice, except in CI (CI=true), where it fails.
func needPromtool(t *testing.T) string {
	t.Helper()
	p, err := exec.LookPath("promtool")
	if err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatal("promtool not found and CI=true: .ci/run installs it (Debian package prometheus)")
		}
		t.Skip("NOTICE: promtool not found; install the Debian package prometheus to run this check")
	}
	return p
}

// TestMonitoringConfigs runs promtool on the shipped Prometheus config and
// alert rules, and the rules' unit tests.
func TestMonitoringConfigs(t *testing.T) {
	promtool := needPromtool(t)
	dir := filepath.Join(harness.RepoRoot(), "configs")
	for _, args := range [][]string{
		{"check", "config", "prometheus.yml"},
		{"check", "rules", "alerts.yml"},
		// The alert rules' unit tests (configs/alerts_test.yml): a
		// flapping breaker pages, a short 5xx burst does not, a dead
		// upstream does.
		{"test", "rules", "alerts_test.yml"},
	} {
		cmd := exec.Command(promtool, args...)
		cmd.Dir = dir
		if out, err := cmd.CombinedOutput(); err != nil {
			t.Errorf("promtool %s: %v\n%s", strings.Join(args, " "), err, out)
		}
	}
}

// TestMetricsListenerAdapt checks, on the adapted default Caddyfile, that
// /metrics is served only by the metrics listener, behind a remote_ip
// allowlist (loopback by default, HUB_METRICS_ALLOW otherwise), and that the
// public listener has no metrics handler. A non-loopback client cannot be
// simulated on loopback, so this is checked on the config.
func TestMetricsListenerAdapt(t *testing.T) {
	tests := []struct {
		allow string
		want  []any
	}{
		{"", []any{"127.0.0.1/8", "::1"}},
		{"10.0.0.0/8 192.0.2.7", []any{"10.0.0.0/8", "192.0.2.7"}},
	}
	for _, tt := range tests {
		if tt.allow != "" {
			t.Setenv("HUB_METRICS_ALLOW", tt.allow)
		}
		t.Setenv("HUB_LISTEN", ":18080")
		t.Setenv("HUB_METRICS_LISTEN", ":19180")
		out := testutil.AdaptDefaultCaddyfile(t)
		var cfg struct {
			Apps struct {
				HTTP struct {
					Servers map[string]struct {
						Listen []string
						Routes []json.RawMessage
					}
				}
			}
		}
		if err := json.Unmarshal(out, &cfg); err != nil {
			t.Fatal(err)
		}
		found := false
		for name, srv := range cfg.Apps.HTTP.Servers {
			routes, _ := json.Marshal(srv.Routes)
			hasMetrics := bytes.Contains(routes, []byte(`"handler":"metrics"`))
			switch strings.Join(srv.Listen, ",") {
			case ":18080":
				if hasMetrics {
					t.Fatalf("server %s (public listener) serves metrics", name)
				}
			case ":19180":
				found = true
				var r []struct {
					Match  []map[string]json.RawMessage
					Handle []map[string]any
				}
				_ = json.Unmarshal(routes, &r)
				if len(r) == 0 || !bytes.Contains(routes, []byte(`"handler":"metrics"`)) {
					t.Fatalf("metrics listener: no metrics route: %s", routes)
				}
				var ok bool
				for _, route := range r {
					if !strings.Contains(fmt.Sprint(route.Handle), "metrics") {
						continue
					}
					for _, m := range route.Match {
						var ip struct{ Ranges []any }
						if raw, has := m["remote_ip"]; has && json.Unmarshal(raw, &ip) == nil &&
							fmt.Sprint(ip.Ranges) == fmt.Sprint(tt.want) {
							ok = true
						}
					}
				}
				if !ok {
					t.Fatalf("HUB_METRICS_ALLOW=%q: the metrics route is not guarded by remote_ip %v: %s", tt.allow, tt.want, routes)
				}
			}
		}
		if !found {
			t.Fatal("no server on the metrics listener")
		}
	}
}

// TestDashboardsFilterOnJob: every series a dashboard queries is filtered
// on the $job variable, so that on a shared Prometheus another service's
// api_requests_total or active_api_keys never mixes in.
func TestDashboardsFilterOnJob(t *testing.T) {
	for _, d := range loadDashboards(t) {
		hasJob := false
		for _, v := range d.Templating.List {
			hasJob = hasJob || v.Name == "job"
		}
		if !hasJob {
			t.Errorf("%s: no job variable", d.File)
		}
		for _, p := range d.Panels {
			for _, tg := range p.Targets {
				names := len(promqlMetricNames(tg.Expr))
				if n := strings.Count(tg.Expr, `job=~"$job"`); n != names {
					t.Errorf("%s panel %q: %d series, %d filtered on $job: %s", d.File, p.Title, names, n, tg.Expr)
				}
			}
		}
	}
}

// dashboard is what the tests read of a shipped Grafana dashboard.
type dashboard struct {
	File       string
	Templating struct{ List []struct{ Name string } }
	Panels     []struct {
		Title   string
		Targets []struct{ Expr string }
	}
}

// loadDashboards parses configs/grafana/*.json (at least the 3 shipped).
func loadDashboards(t *testing.T) []dashboard {
	t.Helper()
	files, _ := filepath.Glob(filepath.Join(harness.RepoRoot(), "configs", "grafana", "*.json"))
	if len(files) < 3 {
		t.Fatalf("want the 3 dashboards, found %v", files)
	}
	var out []dashboard
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		var d dashboard
		if err := json.Unmarshal(b, &d); err != nil {
			t.Fatalf("%s: %v", f, err)
		}
		d.File = filepath.Base(f)
		out = append(out, d)
	}
	return out
}
