package integration

import (
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"sort"
	"strings"
	"testing"

	"gopkg.in/yaml.v3"

	"github.com/hubchantier/hubgate/integration/harness"
)

// composeService is the part of a compose service these checks read.
type composeService struct {
	Image   string            `yaml:"image"`
	Build   *composeBuild     `yaml:"build"`
	Command []string          `yaml:"command"`
	Env     map[string]string `yaml:"environment"`
	Volumes []string          `yaml:"volumes"`
}

type composeBuild struct {
	Context    string `yaml:"context"`
	Dockerfile string `yaml:"dockerfile"`
	Target     string `yaml:"target"`
}

// interpolation is a whole value taken from the environment: ${VAR},
// ${VAR:?message} (required) — never a default, which would be a literal.
var interpolation = regexp.MustCompile(`^\$\{([A-Z0-9_]+)(:\?[^}]*)?\}$`)

// TestComposeFile checks deploy/compose.yaml with a YAML parser (containers
// cannot run here): the services, two gateways sharing one Redis, one
// upstream, one secret and one issuer but each its own state volume (its
// audit journal); every bind-mounted file exists in the repository and every
// shipped dashboard and the alert rules are mounted; no secret is written
// in the file (each comes from deploy/.env, listed empty in env.example,
// git-ignored); Prometheus scrapes both gateways (promtool check config).
func TestComposeFile(t *testing.T) {
	root := harness.RepoRoot()
	deploy := filepath.Join(root, "deploy")
	b, err := os.ReadFile(filepath.Join(deploy, "compose.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	var doc struct {
		Services map[string]composeService `yaml:"services"`
		Volumes  map[string]any            `yaml:"volumes"`
	}
	if err := yaml.Unmarshal(b, &doc); err != nil {
		t.Fatalf("compose.yaml: %v", err)
	}
	svc := doc.Services
	for _, name := range []string{"gateway1", "gateway2", "hubchantier", "migrate", "redis", "postgres", "prometheus", "grafana"} {
		if _, ok := svc[name]; !ok {
			t.Errorf("no service %s", name)
		}
	}
	if t.Failed() {
		t.FailNow()
	}

	// Builds: the Dockerfile's targets.
	for name, s := range svc {
		if s.Build == nil {
			continue
		}
		if _, err := os.Stat(filepath.Join(deploy, s.Build.Context, s.Build.Dockerfile)); err != nil {
			t.Errorf("%s builds from a missing Dockerfile: %v", name, err)
		}
	}
	g1, g2, up := svc["gateway1"], svc["gateway2"], svc["hubchantier"]
	for name, target := range map[string]string{"gateway1": "hubgate", "gateway2": "hubgate", "migrate": "hubchantier", "hubchantier": "hubchantier"} {
		if b := svc[name].Build; b == nil || b.Target != target {
			t.Errorf("%s must build the Dockerfile's target %s", name, target)
		}
	}
	if up.Image != svc["migrate"].Image || g1.Image != g2.Image {
		t.Errorf("the gateways share one image, hubchantier and migrate another")
	}

	// Both gateways: one Redis, one upstream, one secret, one issuer.
	for _, k := range []string{"HUB_REDIS_URL", "HUB_UPSTREAM", "HUB_GATEWAY_SECRET", "HUB_JWT_ISSUER"} {
		if g1.Env[k] == "" || g1.Env[k] != g2.Env[k] {
			t.Errorf("%s: gateway1 %q, gateway2 %q: both gateways need the same non-empty value", k, g1.Env[k], g2.Env[k])
		}
	}
	if u, err := url.Parse(regexp.MustCompile(`\$\{[^}]*\}`).ReplaceAllString(g1.Env["HUB_REDIS_URL"], "PASSWORD")); err != nil || u.Hostname() != "redis" {
		t.Errorf("HUB_REDIS_URL %q does not point at the redis service", g1.Env["HUB_REDIS_URL"])
	}
	if host, port, _ := strings.Cut(g1.Env["HUB_UPSTREAM"], ":"); host != "hubchantier" || ":"+port != up.Env["HUB_ADDR"] {
		t.Errorf("HUB_UPSTREAM %q is not the hubchantier service's HUB_ADDR %q", g1.Env["HUB_UPSTREAM"], up.Env["HUB_ADDR"])
	}
	if g1.Env["HUB_GATEWAY_SECRET"] != up.Env["HUB_GATEWAY_SECRET"] || g1.Env["HUB_JWT_ISSUER"] != up.Env["HUB_JWT_ISSUER"] {
		t.Errorf("the gateways and hubchantier must share HUB_GATEWAY_SECRET and HUB_JWT_ISSUER")
	}
	if !strings.HasPrefix(up.Env["HUB_DB"], "postgres://") || !strings.Contains(up.Env["HUB_DB"], "@postgres:5432/") {
		t.Errorf("hubchantier's HUB_DB %q is not the postgres service", up.Env["HUB_DB"])
	}
	// Each gateway its own state volume: audit journals are per process.
	state := map[string]string{}
	for _, name := range []string{"gateway1", "gateway2"} {
		for _, v := range svc[name].Volumes {
			if src, dst, _ := strings.Cut(v, ":"); strings.HasPrefix(dst, "/var/lib/hubgate") {
				if other, dup := state[src]; dup {
					t.Errorf("%s and %s share the state volume %s (one audit journal per gateway)", other, name, src)
				}
				state[src] = name
				if _, ok := doc.Volumes[src]; !ok {
					t.Errorf("%s: volume %s is not declared", name, src)
				}
			}
		}
	}
	if len(state) != 2 {
		t.Errorf("each gateway needs a volume at /var/lib/hubgate, got %v", state)
	}

	// Bind mounts exist; the dashboards and the alert rules are mounted.
	mounted := map[string]string{} // repository path → container path
	for name, s := range svc {
		for _, v := range s.Volumes {
			src, rest, _ := strings.Cut(v, ":")
			if !strings.HasPrefix(src, ".") && !strings.HasPrefix(src, "/") {
				continue // a named volume
			}
			p := filepath.Clean(filepath.Join(deploy, src))
			rel, err := filepath.Rel(root, p)
			if err != nil || strings.HasPrefix(rel, "..") {
				t.Errorf("%s mounts %s, outside the repository", name, src)
				continue
			}
			if _, err := os.Stat(p); err != nil {
				t.Errorf("%s mounts %s, which does not exist", name, src)
			}
			dst, _, _ := strings.Cut(rest, ":")
			mounted[filepath.ToSlash(rel)] = dst
		}
	}
	dashboards, _ := filepath.Glob(filepath.Join(root, "configs", "grafana", "*.json"))
	if len(dashboards) == 0 {
		t.Fatal("no dashboards in configs/grafana")
	}
	for _, d := range dashboards {
		rel, _ := filepath.Rel(root, d)
		if mounted[filepath.ToSlash(rel)] == "" && mounted["configs/grafana"] == "" {
			t.Errorf("dashboard %s is not mounted into grafana", rel)
		}
	}
	for _, f := range []string{"deploy/grafana/provisioning/datasources/prometheus.yaml", "deploy/grafana/provisioning/dashboards/hubgate.yaml"} {
		if !strings.HasPrefix(mounted[f], "/etc/grafana/provisioning/") {
			t.Errorf("%s is not mounted under /etc/grafana/provisioning", f)
		}
	}
	var provider struct {
		Providers []struct {
			Options struct {
				Path string `yaml:"path"`
			} `yaml:"options"`
		} `yaml:"providers"`
	}
	if pb, err := os.ReadFile(filepath.Join(deploy, "grafana/provisioning/dashboards/hubgate.yaml")); err != nil || yaml.Unmarshal(pb, &provider) != nil ||
		len(provider.Providers) != 1 || provider.Providers[0].Options.Path != mounted["configs/grafana"] {
		t.Errorf("the dashboard provider's path is not where configs/grafana is mounted (%q)", mounted["configs/grafana"])
	}
	if filepath.Dir(mounted["configs/alerts.yml"]) != filepath.Dir(mounted["deploy/prometheus/prometheus.yml"]) || mounted["configs/alerts.yml"] == "" {
		t.Errorf("configs/alerts.yml must be mounted beside prometheus.yml (its rule_files names alerts.yml)")
	}

	checkComposeSecrets(t, b, deploy)
	checkComposePrometheus(t, root, deploy)
}

// checkComposeSecrets fails on a secret written in compose.yaml: every
// environment value named like a secret, every URL password and every
// --requirepass argument must be a ${VAR} (no default) listed empty in
// deploy/env.example; deploy/.env must be git-ignored.
func checkComposeSecrets(t *testing.T, compose []byte, deploy string) {
	t.Helper()
	var raw struct {
		Services map[string]composeService `yaml:"services"`
	}
	if err := yaml.Unmarshal(compose, &raw); err != nil {
		t.Fatal(err)
	}
	secretName := regexp.MustCompile(`(?i)SECRET|PASSWORD|PASSWD|TOKEN|AUTH$`)
	urlPassword := regexp.MustCompile(`://[^/@\s]*?:(.+)@`)
	used := map[string]bool{}
	check := func(where, v string) {
		m := interpolation.FindStringSubmatch(v)
		if m == nil {
			t.Errorf("%s: %q is written in compose.yaml; take it from deploy/.env as ${VAR:?…}", where, v)
			return
		}
		used[m[1]] = true
	}
	for name, s := range raw.Services {
		keys := make([]string, 0, len(s.Env))
		for k := range s.Env {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		for _, k := range keys {
			v := s.Env[k]
			if secretName.MatchString(k) {
				check(name+" "+k, v)
			}
			if m := urlPassword.FindStringSubmatch(v); m != nil {
				check(name+" "+k+" (URL password)", m[1])
			}
		}
		for i, a := range s.Command {
			if a == "--requirepass" && i+1 < len(s.Command) {
				check(name+" --requirepass", s.Command[i+1])
			}
		}
	}
	if len(used) < 3 {
		t.Errorf("only %d secrets found (%v): the check is not reading the file", len(used), used)
	}
	example := filepath.Join(deploy, "env.example")
	eb, err := os.ReadFile(example)
	if err != nil {
		t.Fatal(err)
	}
	for v := range used {
		if !regexp.MustCompile(`(?m)^` + v + `=$`).Match(eb) {
			t.Errorf("deploy/env.example does not list %s= (empty)", v)
		}
	}
	checkEnvExampleEmptySecrets(t, example)
	if gi, err := os.ReadFile(filepath.Join(deploy, ".gitignore")); err != nil || !regexp.MustCompile(`(?m)^/?\.env$`).Match(gi) {
		t.Errorf("deploy/.gitignore must ignore .env (the secrets)")
	}
}

// checkComposePrometheus checks that the compose Prometheus scrapes both
// gateways and, with promtool, that its config and the shipped rules load.
func checkComposePrometheus(t *testing.T, root, deploy string) {
	t.Helper()
	pb, err := os.ReadFile(filepath.Join(deploy, "prometheus", "prometheus.yml"))
	if err != nil {
		t.Fatal(err)
	}
	var cfg struct {
		RuleFiles     []string `yaml:"rule_files"`
		ScrapeConfigs []struct {
			JobName       string `yaml:"job_name"`
			StaticConfigs []struct {
				Targets []string `yaml:"targets"`
			} `yaml:"static_configs"`
		} `yaml:"scrape_configs"`
	}
	if err := yaml.Unmarshal(pb, &cfg); err != nil {
		t.Fatal(err)
	}
	targets := map[string]bool{}
	for _, sc := range cfg.ScrapeConfigs {
		if sc.JobName != "hubgate" {
			continue
		}
		for _, st := range sc.StaticConfigs {
			for _, tg := range st.Targets {
				targets[tg] = true
			}
		}
	}
	if !targets["gateway1:9180"] || !targets["gateway2:9180"] {
		t.Errorf("job hubgate scrapes %v, want gateway1:9180 and gateway2:9180", targets)
	}
	if len(cfg.RuleFiles) != 1 || cfg.RuleFiles[0] != "alerts.yml" {
		t.Errorf("rule_files %v, want [alerts.yml] (configs/alerts.yml mounted beside it)", cfg.RuleFiles)
	}
	if _, err := exec.LookPath("promtool"); err != nil && os.Getenv("CI") != "true" {
		t.Log("NOTICE: promtool not found; the compose Prometheus config was not loaded")
		return
	}
	promtool := needPromtool(t)
	dir := t.TempDir()
	ab, err := os.ReadFile(filepath.Join(root, "configs", "alerts.yml"))
	if err != nil {
		t.Fatal(err)
	}
	for name, data := range map[string][]byte{"prometheus.yml": pb, "alerts.yml": ab} {
		if err := os.WriteFile(filepath.Join(dir, name), data, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	if out, err := exec.Command(promtool, "check", "config", filepath.Join(dir, "prometheus.yml")).CombinedOutput(); err != nil {
		t.Errorf("promtool check config (compose): %v\n%s", err, out)
	}
}
