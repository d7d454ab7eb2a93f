package integration

import (
	"bufio"
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"

	"github.com/hubchantier/hubgate/integration/harness"
)

// The deployment kit (deploy/, docs/deployment.md) cannot run here (no
// systemd as PID 1, no container runtime): these tests check its files with
// parsers instead — the systemd units with systemd-analyze and an INI
// parser, the Dockerfile's stages, and deploy/compose.yaml
// (deploy_compose_test.go).

// unitFile is a parsed systemd unit: section → key → values in order.
type unitFile map[string]map[string][]string

// parseUnit reads a systemd unit file as INI: [Section] headers, Key=Value
// lines, # and ; comments, backslash continuations.
func parseUnit(t *testing.T, path string) unitFile {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	u := unitFile{}
	section := ""
	var pending string
	sc := bufio.NewScanner(bytes.NewReader(b))
	for n := 1; sc.Scan(); n++ {
		line := strings.TrimSpace(sc.Text())
		if pending != "" {
			line, pending = pending+" "+line, ""
		}
		if line == "" || line[0] == '#' || line[0] == ';' {
			continue
		}
		if strings.HasSuffix(line, `\`) {
			pending = strings.TrimSuffix(line, `\`)
			continue
		}
		if line[0] == '[' && line[len(line)-1] == ']' {
			section = line[1 : len(line)-1]
			if u[section] == nil {
				u[section] = map[string][]string{}
			}
			continue
		}
		k, v, ok := strings.Cut(line, "=")
		if !ok || section == "" {
			t.Fatalf("%s:%d: not a Key=Value line in a section: %q", path, n, line)
		}
		k = strings.TrimSpace(k)
		u[section][k] = append(u[section][k], strings.TrimSpace(v))
	}
	return u
}

// last is the effective value of a single-valued key ("" when absent).
func (u unitFile) last(section, key string) string {
	v := u[section][key]
	if len(v) == 0 {
		return ""
	}
	return v[len(v)-1]
}

var unitNames = []string{"hubgate", "hubchantier"}

func unitPath(name string) string {
	return filepath.Join(harness.RepoRoot(), "deploy", "systemd", name+".service")
}

// TestSystemdUnitsHardening checks the hardening and lifecycle settings of
// deploy/systemd/*.service with an INI parser, so it runs everywhere
// (TestSystemdAnalyze adds systemd's own checks where systemd-analyze exists).
func TestSystemdUnitsHardening(t *testing.T) {
	for _, name := range unitNames {
		t.Run(name, func(t *testing.T) {
			u := parseUnit(t, unitPath(name))
			s := "Service"
			want := map[string]string{
				"DynamicUser":      "yes",
				"ProtectSystem":    "strict",
				"ProtectHome":      "yes",
				"PrivateTmp":       "yes",
				"PrivateDevices":   "yes",
				"NoNewPrivileges":  "yes",
				"RestrictSUIDSGID": "yes",
				"StateDirectory":   name,
				"Restart":          "on-failure",
				"KillSignal":       "SIGTERM",
				"UMask":            "0077",
			}
			if name == "hubgate" {
				// Only what binding :80/:443 needs.
				want["CapabilityBoundingSet"] = "CAP_NET_BIND_SERVICE"
				want["AmbientCapabilities"] = "CAP_NET_BIND_SERVICE"
				want["Type"] = "notify"
			} else {
				want["CapabilityBoundingSet"] = ""
				want["AmbientCapabilities"] = ""
			}
			for k, v := range want {
				if _, ok := u[s][k]; !ok {
					t.Errorf("[Service] %s missing (want %q)", k, v)
				} else if got := u.last(s, k); got != v {
					t.Errorf("[Service] %s=%s, want %q", k, got, v)
				}
			}
			if d, err := strconv.Atoi(strings.TrimSuffix(u.last(s, "TimeoutStopSec"), "s")); err != nil || d < 20 || d > 120 {
				t.Errorf("TimeoutStopSec=%q: want a bounded graceful stop of 20–120 s", u.last(s, "TimeoutStopSec"))
			}
			if !strings.HasPrefix(u.last(s, "ExecStart"), "/usr/local/bin/"+name+" ") {
				t.Errorf("ExecStart=%q, want /usr/local/bin/%s …", u.last(s, "ExecStart"), name)
			}
			files := u[s]["EnvironmentFile"]
			if len(files) == 0 {
				t.Error("no EnvironmentFile: secrets must come from a root-only file")
			}
			for _, f := range files {
				ex := filepath.Join(harness.RepoRoot(), "deploy", "systemd", strings.TrimSuffix(filepath.Base(strings.TrimPrefix(f, "-")), ".env")+".env.example")
				if _, err := os.Stat(ex); err != nil {
					t.Errorf("EnvironmentFile %s has no example %s", f, ex)
				}
			}
			env := strings.Join(u[s]["Environment"], " ")
			if regexp.MustCompile(`(?i)(SECRET|PASSWORD)=`).MatchString(env) {
				t.Errorf("a secret in Environment= (%s): secrets belong in the EnvironmentFile", env)
			}
			if name == "hubgate" {
				// The journal and Caddy's own files in the state directory.
				for _, kv := range []string{"HUB_AUDIT_DIR=%S/hubgate/", "XDG_DATA_HOME=%S/hubgate", "XDG_CONFIG_HOME=%S/hubgate/"} {
					if !strings.Contains(env, kv) {
						t.Errorf("Environment= lacks %s…", kv)
					}
				}
				// A reload with the unit's own environment and config file.
				reload := u.last(s, "ExecReload")
				if !strings.HasPrefix(reload, "/usr/local/bin/hubgate reload --config /etc/hubgate/Caddyfile --adapter caddyfile") ||
					!strings.Contains(u.last(s, "ExecStart"), "--config /etc/hubgate/Caddyfile --adapter caddyfile") {
					t.Errorf("ExecReload=%q must reload the ExecStart's config file", reload)
				}
			} else if !strings.Contains(strings.Join(u[s]["ExecStartPre"], " "), "/usr/local/bin/hubchantier migrate") {
				t.Error("ExecStartPre does not run hubchantier migrate")
			}
		})
	}
	// The example env files hold no secret value.
	examples, _ := filepath.Glob(filepath.Join(harness.RepoRoot(), "deploy", "systemd", "*.env.example"))
	for _, ex := range examples {
		checkEnvExampleEmptySecrets(t, ex)
	}
}

// checkEnvExampleEmptySecrets fails when an env example gives a value to a
// variable named like a secret.
func checkEnvExampleEmptySecrets(t *testing.T, path string) {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	for _, line := range strings.Split(string(b), "\n") {
		k, v, ok := strings.Cut(strings.TrimSpace(line), "=")
		if !ok || strings.HasPrefix(k, "#") {
			continue
		}
		if regexp.MustCompile(`(?i)SECRET|PASSWORD`).MatchString(k) && v != "" {
			t.Errorf("%s: %s has a value; an example must leave secrets empty", path, k)
		}
		if m := regexp.MustCompile(`://[^/@\s:]*:([^@\s]+)@`).FindStringSubmatch(v); m != nil && m[1] != "PASSWORD" {
			t.Errorf("%s: %s embeds a password in a URL; use the placeholder PASSWORD", path, k)
		}
	}
}

// TestSystemdAnalyze runs `systemd-analyze verify` (unknown keys, bad
// values, missing units; any output fails) and `systemd-analyze security
// --offline=yes` (overall exposure at most 2.0, "OK") on the units. The
// ExecStart binaries are replaced by stubs in a temporary directory, since
// verify checks that they exist. Skipped with a notice without
// systemd-analyze, except in CI (CI=true), where it fails.
func TestSystemdAnalyze(t *testing.T) {
	sa, err := exec.LookPath("systemd-analyze")
	if err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatal("systemd-analyze not found and CI=true: .ci/run installs it (Debian package systemd)")
		}
		t.Skip("NOTICE: systemd-analyze not found; install the Debian package systemd to run this check")
	}
	dir := t.TempDir()
	stubs := filepath.Join(dir, "bin")
	if err := os.MkdirAll(stubs, 0o755); err != nil {
		t.Fatal(err)
	}
	var units []string
	for _, name := range unitNames {
		if err := os.WriteFile(filepath.Join(stubs, name), []byte("#!/bin/sh\nexit 0\n"), 0o755); err != nil {
			t.Fatal(err)
		}
		b, err := os.ReadFile(unitPath(name))
		if err != nil {
			t.Fatal(err)
		}
		b = bytes.ReplaceAll(b, []byte("/usr/local/bin/"), []byte(stubs+"/"))
		p := filepath.Join(dir, name+".service")
		if err := os.WriteFile(p, b, 0o644); err != nil {
			t.Fatal(err)
		}
		units = append(units, p)
	}
	out, err := exec.Command(sa, append([]string{"verify"}, units...)...).CombinedOutput()
	if err != nil || len(bytes.TrimSpace(out)) > 0 {
		t.Errorf("systemd-analyze verify: %v\n%s", err, out)
	}
	for _, p := range units {
		out, err := exec.Command(sa, "security", "--offline=yes", "--no-pager", p).CombinedOutput()
		if err != nil {
			t.Errorf("systemd-analyze security %s: %v\n%s", filepath.Base(p), err, out)
			continue
		}
		m := regexp.MustCompile(`Overall exposure level for \S+: ([0-9.]+)`).FindSubmatch(out)
		if m == nil {
			t.Errorf("systemd-analyze security %s: no overall exposure in\n%s", filepath.Base(p), out)
			continue
		}
		if x, _ := strconv.ParseFloat(string(m[1]), 64); x > 2.0 {
			t.Errorf("%s: exposure %s, want ≤ 2.0:\n%s", filepath.Base(p), m[1], out)
		} else {
			t.Logf("%s: systemd exposure %s", filepath.Base(p), m[1])
		}
	}
}

// TestDockerfile checks deploy/Dockerfile's stages: a Go build stage at
// go.mod's Go version producing static (CGO_ENABLED=0), -trimpath binaries,
// and runtime stages hubgate and hubchantier on a minimal base, as a
// non-root user, whose COPY sources exist.
func TestDockerfile(t *testing.T) {
	root := harness.RepoRoot()
	b, err := os.ReadFile(filepath.Join(root, "deploy", "Dockerfile"))
	if err != nil {
		t.Fatal(err)
	}
	src := strings.ReplaceAll(string(b), "\\\n", " ")
	gomod, err := os.ReadFile(filepath.Join(root, "go.mod"))
	if err != nil {
		t.Fatal(err)
	}
	goVersion := regexp.MustCompile(`(?m)^go (\S+)$`).FindSubmatch(gomod)
	if goVersion == nil || !strings.Contains(src, "ARG GO_VERSION="+string(goVersion[1])) {
		t.Errorf("Dockerfile's GO_VERSION is not go.mod's go line")
	}
	type stage struct{ base, name, user string }
	var stages []*stage
	for _, line := range strings.Split(src, "\n") {
		f := strings.Fields(line)
		if len(f) == 0 || strings.HasPrefix(f[0], "#") {
			continue
		}
		switch strings.ToUpper(f[0]) {
		case "FROM":
			st := &stage{base: f[1]}
			if len(f) >= 4 && strings.EqualFold(f[2], "AS") {
				st.name = f[3]
			}
			stages = append(stages, st)
		case "USER":
			stages[len(stages)-1].user = f[1]
		case "COPY":
			if strings.Contains(line, "--from=") {
				continue
			}
			args := f[1:]
			for len(args) > 0 && strings.HasPrefix(args[0], "--") {
				args = args[1:]
			}
			for _, s := range args[:len(args)-1] {
				if _, err := os.Stat(filepath.Join(root, s)); err != nil {
					t.Errorf("COPY source %s does not exist in the repository", s)
				}
			}
		}
	}
	byName := map[string]*stage{}
	for _, s := range stages {
		byName[s.name] = s
	}
	if b := byName["build"]; b == nil || !strings.HasPrefix(b.base, "golang:") {
		t.Errorf("no golang build stage named build")
	}
	if !strings.Contains(src, "CGO_ENABLED=0") || strings.Contains(src, "CGO_ENABLED=1") || strings.Count(src, "-trimpath") < 2 {
		t.Errorf("the build must be static (CGO_ENABLED=0) and -trimpath for both binaries")
	}
	for _, name := range unitNames {
		s := byName[name]
		if s == nil {
			t.Errorf("no runtime stage %s", name)
			continue
		}
		if !strings.HasPrefix(s.base, "gcr.io/distroless/static") && s.base != "scratch" {
			t.Errorf("stage %s runs on %s, want distroless/static or scratch", name, s.base)
		}
		if s.user == "" || s.user == "root" || strings.HasPrefix(s.user, "0") {
			t.Errorf("stage %s runs as %q, want a non-root user", name, s.user)
		}
		if !regexp.MustCompile(`-o /out/` + name + ` ./cmd/` + name).MatchString(src) {
			t.Errorf("no go build of ./cmd/%s", name)
		}
	}
}

// TestReadmeGoVersion keeps the README's Go requirement equal to go.mod's
// go line (the toolchain the module needs).
func TestReadmeGoVersion(t *testing.T) {
	root := harness.RepoRoot()
	gomod, err := os.ReadFile(filepath.Join(root, "go.mod"))
	if err != nil {
		t.Fatal(err)
	}
	m := regexp.MustCompile(`(?m)^go (\S+)$`).FindSubmatch(gomod)
	if m == nil {
		t.Fatal("go.mod has no go line")
	}
	readme, err := os.ReadFile(filepath.Join(root, "README.md"))
	if err != nil {
		t.Fatal(err)
	}
	got := regexp.MustCompile(`Go ≥ (\S+)`).FindSubmatch(readme)
	if got == nil || string(got[1]) != string(m[1]) {
		t.Errorf("README requires Go ≥ %s, go.mod's go line is %s", got[1:], m[1])
	}
}
